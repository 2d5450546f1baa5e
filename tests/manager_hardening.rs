//! The process manager at its edges: httpd's parent killed, the manager at
//! its descriptor limit.

mod common;
use common::{eventually, kill9, pid_alive, Httpd, Mpm};
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::Duration;

/// The pid of the (last started) manager, from its log line.
fn manager_pid(httpd: &Httpd) -> i32 {
    httpd.wait_for_log("the manager's start", |l| l.contains("process manager"));
    let log = httpd.error_log();
    log.lines()
        .rev()
        .find_map(|l| {
            let rest = l.split("mod_fcgid: process manager ").nth(1)?;
            rest.strip_suffix(" started")?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no manager start in:\n{log}"))
}

/// The inode of the socket listening on 127.0.0.1:`port` (/proc/net/tcp).
fn listen_inode(port: u16) -> String {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let want = format!("0100007F:{port:04X}");
    table
        .lines()
        .skip(1)
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[1] == want && f[3] == "0A").then(|| f[9].to_string())
        })
        .unwrap_or_else(|| panic!("nothing listens on port {port}"))
}

fn holds_socket(pid: i32, inode: &str) -> bool {
    let want = format!("socket:[{inode}]");
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|fds| {
            fds.flatten().any(|fd| {
                std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == want.as_str())
            })
        })
        .unwrap_or(false)
}

#[test]
fn the_manager_keeps_no_listen_socket_and_goes_with_a_killed_parent() {
    let httpd = Httpd::new("pm-listeners", Mpm::Event, &["hello"], "").start();
    assert_eq!(httpd.get("/hello.fcgi").status, 200);
    let manager = manager_pid(&httpd);
    let apps = httpd.app_pids();
    assert!(!apps.is_empty());
    let inode = listen_inode(httpd.port);
    assert!(
        !holds_socket(manager, &inode),
        "the manager holds httpd's Listen socket"
    );
    kill9(httpd.parent_pid().unwrap());
    eventually(10, "the manager and its apps exit with the parent", || {
        !pid_alive(manager) && apps.iter().all(|p| !pid_alive(*p))
    });
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn a_manager_out_of_descriptors_waits_without_spinning_then_serves_again() {
    // The whole server under a low hard limit, which the manager inherits
    // (raising its soft limit cannot pass it). prlimit on the manager alone
    // would need CAP_SYS_RESOURCE (it runs as another user).
    let limit = 64;
    let httpd = Httpd::new("pm-emfile", Mpm::Event, &["hello"], "");
    let ok = Command::new("prlimit")
        .arg(format!("--nofile={limit}:{limit}"))
        .arg(common::APACHE)
        .arg("-f")
        .arg(&httpd.conf)
        .args(["-k", "start"])
        .status()
        .unwrap()
        .success();
    assert!(ok, "apache2 -k start under prlimit failed");
    eventually(10, "httpd serves", || {
        httpd.get("/hello.fcgi").status == 200
    });
    let manager = manager_pid(&httpd);
    let sock = httpd.root.join("logs/fcgidsock/pm.sock");
    // More than the manager can accept: the rest wait in the listen backlog.
    let conns: Vec<UnixStream> = (0..2 * limit)
        .map(|_| UnixStream::connect(&sock).unwrap())
        .collect();
    httpd.wait_for_log("the descriptor shortage", |l| {
        l.contains("cannot accept a connection")
    });
    let before = cpu_ticks(manager);
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(manager) - before;
    // A spinning loop burns about 100 ticks a second.
    assert!(used < 30, "the manager used {used} ticks in a second");
    let log = httpd.error_log();
    assert_eq!(
        log.matches("cannot accept a connection").count(),
        1,
        "said once:\n{log}"
    );
    assert!(log.contains(&format!("limit {limit} descriptors")), "{log}");
    drop(conns);
    eventually(10, "a request served again", || {
        httpd.get("/hello.fcgi").status == 200
    });
    httpd.wait_for_log("the recovery", |l| l.contains("accepts connections again"));
}
