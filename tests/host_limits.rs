//! Limits a big shared host hits (issue 12): systemd's soft descriptor
//! limit of 1024 with more requests waiting in the manager than that, and a
//! burst of first requests to 1000 new classes.

mod common;
use common::{build_app, Httpd, Mpm};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// `n` copies of app `name` in www/ as siteNNNN.fcgi: copies, not links,
/// since a class is identified by the executable's inode.
fn copies(www: &Path, name: &str, n: usize) -> Vec<String> {
    let built = build_app(name, www);
    let names: Vec<String> = (0..n).map(|i| format!("site{i:04}.fcgi")).collect();
    for copy in &names {
        std::fs::copy(&built, www.join(copy)).unwrap();
    }
    std::fs::remove_file(built).unwrap();
    names
}

/// One GET over a fresh connection; the status code, or 0 if the answer
/// was not HTTP.
fn raw_get(port: u16, path: &str) -> u16 {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    s.set_read_timeout(Some(Duration::from_secs(700))).unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return 0;
    }
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let head = String::from_utf8_lossy(&answer[..answer.len().min(64)]).into_owned();
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// GETs every path, `clients` at a time; the paths not answered 200.
fn get_all(port: u16, paths: &[String], clients: usize) -> Vec<(String, u16)> {
    let next = AtomicUsize::new(0);
    let failed = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..clients {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(path) = paths.get(i) else { break };
                let status = raw_get(port, path);
                if status != 200 {
                    failed.lock().unwrap().push((path.clone(), status));
                }
            });
        }
    });
    failed.into_inner().unwrap()
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// The soft and hard "Max open files" of a process.
fn nofile(pid: i32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    (words[3].parse().unwrap(), words[4].parse().unwrap())
}

fn open_fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// The hard limit the test gives httpd: the manager needs more than the
/// soft 1024, and within 10% of this it says so.
const HARD: u64 = 1216;
/// Requests waiting at once for the one process of one class. Each waits
/// on a connection of its own to the manager (a request that finds an idle
/// process claims it from the shared table and needs none), so that many
/// descriptors are the manager's at once.
const WAITING: usize = 1110;

#[test]
fn a_soft_limit_of_1024_descriptors_is_raised_and_the_manager_serves_past_it() {
    // Enough threads for every request at once (18 x 64 = 1152), all
    // started at once; each child needs far fewer than 1024 descriptors.
    let httpd = Httpd::new(
        "nofile",
        Mpm::Event,
        &[],
        "ServerLimit 18\nStartServers 18\nThreadsPerChild 64\nMaxRequestWorkers 1152\n\
         MinSpareThreads 64\nMaxSpareThreads 1152\nListenBacklog 2048\n\
         FcgidMaxProcessesPerClass 1\nFcgidProcessWaitTimeout 600\n",
    );
    build_app("echo", &httpd.www());
    // systemd's default for a service: soft 1024 (its hard limit is higher).
    let out = Command::new("prlimit")
        .arg(format!("--nofile=1024:{HARD}"))
        .arg(common::APACHE)
        .arg("-f")
        .arg(&httpd.conf)
        .args(["-k", "start"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    httpd.wait_until_listening();
    common::eventually(10, "httpd's pid file", || httpd.parent_pid().is_some());
    let parent = httpd.parent_pid().unwrap();
    assert_eq!(
        nofile(parent),
        (1024, HARD),
        "httpd runs under the soft 1024"
    );
    let manager = httpd.pm_number("manager") as i32;
    assert_eq!(nofile(manager), (HARD, HARD), "the manager raised its own");
    httpd.wait_for_log("the raise", |log| {
        log.contains(&format!(
            "process manager raised its descriptor limit from 1024 to {HARD}"
        ))
    });

    // The class's one process is held by a request that sleeps; every other
    // request waits in the manager's queue until that app is stopped.
    let port = httpd.port;
    let held = std::thread::spawn(move || raw_get(port, "/echo.fcgi?sleep_ms=300000"));
    common::eventually(60, "the holding request's app", || {
        httpd.app_pids().len() == 1
    });
    let holder = httpd.app_pids()[0];
    let paths: Vec<String> = (0..WAITING)
        .map(|i| format!("/echo.fcgi?pid&n={i}"))
        .collect();
    let (failed, most) = std::thread::scope(|s| {
        let waiters = s.spawn(|| get_all(port, &paths, WAITING));
        // More descriptors than the soft limit allowed, at once, and enough
        // (90 % of the raised limit) for the warning: only then is the
        // class freed (freed at 1025, the queue could drain before 1095).
        let mut most = 0;
        common::eventually(240, "the manager near its raised limit", || {
            most = most.max(open_fds(manager));
            most > 1024 && httpd.error_log().contains("file descriptors in use")
        });
        // Free the class: its next process serves the queue.
        common::kill9(holder);
        (waiters.join().unwrap(), most)
    });
    assert!(
        failed.is_empty(),
        "{} of {WAITING} not served, e.g. {:?}; log tail:\n{}",
        failed.len(),
        &failed[..failed.len().min(5)],
        tail(&httpd.error_log())
    );
    assert!(most > 1024, "the manager held {most} descriptors at most");
    eprintln!("the manager held {most} descriptors at most");
    // The request whose app was killed gets an answer too (an error).
    assert_ne!(held.join().unwrap(), 0);
    // Serving goes on.
    assert_eq!(raw_get(httpd.port, "/echo.fcgi?pid"), 200);

    let log = httpd.error_log();
    let near: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("file descriptors in use"))
        .collect();
    assert_eq!(
        near.len(),
        1,
        "one line near the limit:\n{}",
        near.join("\n")
    );
    assert!(
        near[0].contains(&format!(" of its {HARD} file descriptors in use")),
        "{}",
        near[0]
    );
    assert!(
        !log.contains("cannot accept a connection"),
        "{}",
        tail(&log)
    );
    // The apps start with the soft limit httpd had, not the manager's.
    let app = httpd.app_pids()[0];
    assert_eq!(nofile(app).0, 1024);
}

#[test]
fn a_burst_of_first_requests_to_1000_new_classes_gets_no_503() {
    const N: usize = 1000;
    /// First requests in flight at once: a burst, and bounded.
    const AT_ONCE: usize = 64;
    // Exactly room for them all, and the default minimum of 3 per class,
    // so nothing can be evicted: every class must get its own first process.
    // Threads for all the burst at once (3 x 32); each waits only for its
    // own spawn, and a loaded machine may take long over a thousand.
    let httpd = Httpd::new(
        "burst",
        Mpm::Worker,
        &[],
        "StartServers 3\nThreadsPerChild 32\nMaxRequestWorkers 96\nMinSpareThreads 96\n\
         FcgidMaxProcesses 1000\nFcgidProcessWaitTimeout 600\n",
    );
    let names = copies(&httpd.www(), "hello", N);
    let httpd = httpd.start();
    let paths: Vec<String> = names.iter().map(|n| format!("/{n}")).collect();
    let failed = get_all(httpd.port, &paths, AT_ONCE);
    assert!(
        failed.is_empty(),
        "{} of {N} not served, e.g. {:?}; log tail:\n{}",
        failed.len(),
        &failed[..failed.len().min(5)],
        tail(&httpd.error_log())
    );
    let rep = httpd.pm_report();
    assert_eq!(rep.classes.len(), N);
    assert_eq!(rep.process_count(), N, "one process per class");
    assert!(
        rep.classes.iter().all(|c| c.refusals.is_empty()),
        "no request was refused a process"
    );
}
