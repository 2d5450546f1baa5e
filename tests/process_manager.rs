//! The process manager against a real httpd: limits, reaping, retirement,
//! faults (killed app, killed httpd child, killed manager), graceful
//! restarts and stop.

mod common;
use common::{eventually, kill9, Httpd, Mpm};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn pid_of(httpd: &Httpd, query: &str) -> i32 {
    let r = httpd.get(&format!("/echo.fcgi?pid&{query}"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.text().parse().unwrap()
}

fn class_limit_holds(mpm: Mpm) {
    let httpd = Httpd::new(
        "limit",
        mpm,
        &["echo"],
        "FcgidMaxProcessesPerClass 2\nFcgidProcessWaitTimeout 60\n",
    )
    .start();
    let stop = Arc::new(AtomicBool::new(false));
    let most = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (stop, most, www) = (stop.clone(), most.clone(), httpd.www());
        std::thread::spawn(move || {
            let www = www.to_string_lossy().into_owned();
            while !stop.load(Ordering::SeqCst) {
                let n = common::processes_matching(&www)
                    .into_iter()
                    .filter(|(_, c)| c.starts_with(&www))
                    .count();
                most.fetch_max(n, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let url = httpd.url("/echo.fcgi?sleep_ms=30");
    let clients: Vec<_> = (0..16)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                (0..4)
                    .map(|_| common::status_code(&url))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let codes: Vec<String> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    stop.store(true, Ordering::SeqCst);
    sampler.join().unwrap();
    assert_eq!(codes.len(), 64);
    assert!(
        codes.iter().all(|c| c == "200"),
        "every request answered: {codes:?}"
    );
    assert!(
        most.load(Ordering::SeqCst) <= 2,
        "saw {} app processes, limit 2",
        most.load(Ordering::SeqCst)
    );
    assert_eq!(httpd.pm_number("busy"), 0, "nothing left busy");
    assert_eq!(httpd.pm_number("requests"), 64);
}

#[test]
fn class_limit_holds_under_16_clients_with_event() {
    class_limit_holds(Mpm::Event);
}

#[test]
fn class_limit_holds_under_16_clients_with_prefork() {
    class_limit_holds(Mpm::Prefork);
}

#[test]
fn class_limit_holds_under_16_clients_with_worker() {
    class_limit_holds(Mpm::Worker);
}

#[test]
fn idle_processes_above_the_minimum_are_reaped() {
    let httpd = Httpd::new(
        "idle",
        Mpm::Event,
        &["echo", "hello"],
        "FcgidIdleTimeout 1\nFcgidMinProcessesPerClass 0\n",
    )
    .start();
    let pid = pid_of(&httpd, "");
    assert!(common::pid_alive(pid));
    eventually(10, "idle process stopped", || !common::pid_alive(pid));
    httpd.wait_for_log("nothing", |_| true);
    assert!(
        httpd.pm_status().contains("idle_timeout=1"),
        "{}",
        httpd.pm_status()
    );

    // With a minimum of 1, the last idle process stays.
    let httpd = Httpd::new(
        "idle-min",
        Mpm::Event,
        &["echo"],
        "FcgidIdleTimeout 1\nFcgidMinProcessesPerClass 1\n",
    )
    .start();
    let pid = pid_of(&httpd, "");
    std::thread::sleep(Duration::from_secs(3));
    assert!(common::pid_alive(pid), "the minimum keeps it");
    assert_eq!(pid_of(&httpd, ""), pid);
}

#[test]
fn max_requests_per_process_retires_after_five() {
    let httpd = Httpd::new(
        "maxreq",
        Mpm::Event,
        &["echo"],
        "FcgidMaxRequestsPerProcess 5\n",
    )
    .start();
    let pids: Vec<i32> = (0..10).map(|_| pid_of(&httpd, "")).collect();
    assert!(pids[..5].iter().all(|p| *p == pids[0]), "{pids:?}");
    assert!(pids[5..].iter().all(|p| *p == pids[5]), "{pids:?}");
    assert_ne!(pids[0], pids[5]);
    eventually(5, "retired process exits", || !common::pid_alive(pids[0]));
    eventually(5, "both retirements counted", || {
        httpd.pm_status().contains("max_requests=2")
    });
}

#[test]
fn killed_app_is_replaced_and_nothing_stays_busy() {
    let httpd = Httpd::new("killapp", Mpm::Event, &["echo"], "").start();
    let first = pid_of(&httpd, "");
    kill9(first);
    eventually(5, "manager reaps the killed app", || {
        httpd.pm_number("processes") == 0
    });
    let second = pid_of(&httpd, "");
    assert_ne!(first, second);

    // Killed while busy: the request gets a 5xx, the next one a fresh process.
    let slow = {
        let url = httpd.url("/echo.fcgi?sleep_ms=3000");
        std::thread::spawn(move || common::status_code(&url))
    };
    eventually(5, "request in flight", || httpd.pm_number("busy") == 1);
    kill9(second);
    let code = slow.join().unwrap();
    assert!(code.starts_with('5'), "cut request gets a 5xx, got {code}");
    assert_eq!(httpd.get("/echo.fcgi").status, 200);
    eventually(5, "no busy slot left", || httpd.pm_number("busy") == 0);
}

fn killed_child_leaves_nothing_busy(mpm: Mpm) {
    let httpd = Httpd::new("killchild", mpm, &["echo"], "").start();
    let slow = {
        let url = httpd.url("/echo.fcgi?sleep_ms=4000");
        std::thread::spawn(move || common::status_code(&url))
    };
    eventually(5, "request in flight", || httpd.pm_number("busy") == 1);
    for child in httpd.httpd_children() {
        kill9(child);
    }
    let _ = slow.join();
    eventually(10, "the cut request's process is not left busy", || {
        httpd.pm_number("busy") == 0
    });
    assert_eq!(httpd.get("/echo.fcgi").status, 200);
    assert_eq!(httpd.pm_number("busy"), 0);
}

#[test]
fn killed_httpd_child_mid_request_leaves_nothing_busy_with_event() {
    killed_child_leaves_nothing_busy(Mpm::Event);
}

#[test]
fn killed_httpd_child_mid_request_leaves_nothing_busy_with_prefork() {
    killed_child_leaves_nothing_busy(Mpm::Prefork);
}

#[test]
fn killed_manager_comes_back_without_orphans() {
    let httpd = Httpd::new("killpm", Mpm::Event, &["echo"], "").start();
    let app = pid_of(&httpd, "");
    let manager = httpd.pm_number("manager") as i32;
    let parent = httpd.parent_pid().unwrap();
    kill9(manager);
    eventually(10, "the old manager's app exits", || {
        !common::pid_alive(app)
    });
    eventually(10, "a new manager answers", || {
        std::panic::catch_unwind(|| httpd.pm_number("manager")).is_ok_and(|m| m as i32 != manager)
    });
    let fresh = pid_of(&httpd, "");
    assert_ne!(fresh, app);
    assert_eq!(httpd.parent_pid(), Some(parent), "httpd was not restarted");
    httpd.wait_for_log("the manager's death", |l| {
        l.contains(&format!("process manager {manager} died"))
    });
    httpd.stop();
}

#[test]
fn graceful_restarts_lose_no_request_and_stop_leaves_no_app() {
    let httpd = Httpd::new("graceful", Mpm::Event, &["echo"], "").start();
    let url = httpd.url("/echo.fcgi?sleep_ms=20");
    let done = Arc::new(AtomicBool::new(false));
    // Several clients at once, so requests are queued at the manager's
    // socket at the moment it is handed over.
    let loads: Vec<_> = (0..6)
        .map(|_| {
            let (done, url) = (done.clone(), url.clone());
            std::thread::spawn(move || {
                let mut codes = Vec::new();
                // Bounded: at most 2000 requests each, until the restarts are over.
                while !done.load(Ordering::SeqCst) && codes.len() < 2000 {
                    codes.push(common::status_code(&url));
                }
                codes
            })
        })
        .collect();
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(700));
        httpd.control("graceful");
    }
    std::thread::sleep(Duration::from_millis(700));
    done.store(true, Ordering::SeqCst);
    let codes: Vec<String> = loads.into_iter().flat_map(|l| l.join().unwrap()).collect();
    let failed: Vec<&String> = codes.iter().filter(|c| *c != "200").collect();
    assert!(codes.len() > 20, "the loop ran: {}", codes.len());
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {failed:?}",
        failed.len(),
        codes.len()
    );
    httpd.stop();
    assert!(httpd.app_pids().is_empty());
}

#[test]
fn no_free_process_in_time_gives_503_naming_class_and_limit() {
    let httpd = Httpd::new(
        "wait503",
        Mpm::Event,
        &["echo"],
        "FcgidMaxProcessesPerClass 1\nFcgidProcessWaitTimeout 1\n",
    )
    .start();
    let slow = {
        let url = httpd.url("/echo.fcgi?sleep_ms=3000");
        std::thread::spawn(move || common::status_code(&url))
    };
    eventually(5, "the only process is busy", || {
        httpd.pm_number("busy") == 1
    });
    assert_eq!(httpd.get("/echo.fcgi").status, 503);
    httpd.wait_for_log("the 503's reason", |l| {
        l.contains("echo.fcgi") && l.contains("FcgidMaxProcessesPerClass 1")
    });
    assert_eq!(slow.join().unwrap(), "200");
}

#[test]
fn a_client_that_hangs_up_leaves_nothing_busy() {
    let httpd = Httpd::new("hangup", Mpm::Event, &["echo"], "").start();
    let pid = pid_of(&httpd, "");
    // The client gives up after 0.3 s; the app answers after 1.5 s.
    let r = httpd.request("/echo.fcgi?sleep_ms=1500", &["--max-time", "0.3"]);
    assert_eq!(r.status, 0, "curl gave up");
    eventually(10, "the process is returned", || {
        httpd.pm_number("busy") == 0
    });
    assert_eq!(
        pid_of(&httpd, ""),
        pid,
        "the app finished its answer and serves again"
    );
}

#[test]
fn a_request_in_flight_survives_a_graceful_restart_under_prefork() {
    // Prefork children get SIGUSR1 on a graceful restart while they wait for
    // the app: the wait must simply go on.
    let httpd = Httpd::new("graceful-inflight", Mpm::Prefork, &["echo"], "").start();
    let slow = {
        let url = httpd.url("/echo.fcgi?sleep_ms=2000");
        std::thread::spawn(move || common::status_code(&url))
    };
    eventually(5, "request in flight", || httpd.pm_number("busy") == 1);
    httpd.control("graceful");
    assert_eq!(slow.join().unwrap(), "200");
}
