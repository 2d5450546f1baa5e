//! The shared-memory fast path against a real httpd: the table file is
//! private, requests that find an idle process leave the manager asleep,
//! and an httpd child killed while it holds a claim from the table leaves
//! nothing busy.

mod common;
use common::{eventually, kill9, Httpd, Mpm};
use fcgid_core::pm::table::Table;
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A copy of the table as it is now (the file is the shared memory).
fn table_snapshot(httpd: &Httpd) -> Table {
    let bytes = std::fs::read(httpd.www().join("../logs/fcgid_shm")).unwrap();
    let words: Vec<AtomicU64> = bytes
        .chunks_exact(8)
        .map(|c| AtomicU64::new(u64::from_ne_bytes(c.try_into().unwrap())))
        .collect();
    Table::open(Arc::new(words)).expect("a process table in the file")
}

/// Enough requests, over new connections, that every httpd child has
/// asked the manager once and knows the class's place in the table.
fn warm(httpd: &Httpd) {
    for _ in 0..30 {
        assert_eq!(httpd.get("/echo.fcgi").status, 200);
    }
}

fn voluntary_switches(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn the_table_file_is_the_users_alone() {
    let httpd = Httpd::new("shmfile", Mpm::Event, &["echo"], "").start();
    assert_eq!(httpd.get("/echo.fcgi").status, 200);
    let meta = std::fs::metadata(httpd.www().join("../logs/fcgid_shm")).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600);
    let www_data = std::process::Command::new("id")
        .args(["-u", "www-data"])
        .output()
        .unwrap();
    let uid: u32 = String::from_utf8_lossy(&www_data.stdout)
        .trim()
        .parse()
        .unwrap();
    assert_eq!(meta.uid(), uid);
    httpd.stop();
}

#[test]
fn requests_that_find_an_idle_process_leave_the_manager_asleep() {
    let httpd = Httpd::new("asleep", Mpm::Event, &["echo"], "").start();
    warm(&httpd);
    let manager = httpd.pm_number("manager") as i32;
    let before = voluntary_switches(manager);
    let started = Instant::now();
    let requests = 300;
    for _ in 0..requests {
        assert_eq!(httpd.get("/echo.fcgi").status, 200);
    }
    let woken = voluntary_switches(manager) - before;
    // The manager wakes for its 100 ms tick whatever happens; a round
    // trip per request would be at least one more wake-up each. Bounded
    // by elapsed time, so a slow machine cannot make this fail.
    let ticks = started.elapsed().as_millis() as u64 / 100;
    assert!(
        woken <= ticks + 20,
        "the manager woke {woken} times for {requests} requests in {ticks} ticks"
    );
    assert_eq!(
        httpd.pm_number("requests"),
        30 + requests,
        "every request is counted"
    );
    httpd.stop();
}

fn killed_claimant_leaves_nothing_busy(mpm: Mpm) {
    let httpd = Httpd::new("killclaim", mpm, &["echo"], "").start();
    warm(&httpd);
    let slow = {
        let url = httpd.url("/echo.fcgi?sleep_ms=4000");
        std::thread::spawn(move || common::status_code(&url))
    };
    eventually(5, "the request holds a claim from the table", || {
        table_snapshot(&httpd).claimed_count() == 1
    });
    assert_eq!(
        httpd.pm_number("busy"),
        1,
        "the status page counts the claim"
    );
    for child in httpd.httpd_children() {
        kill9(child);
    }
    let _ = slow.join();
    eventually(10, "the dead child's claim is freed", || {
        table_snapshot(&httpd).claimed_count() == 0 && httpd.pm_number("busy") == 0
    });
    assert!(
        httpd.pm_status().contains("client_abort"),
        "its process was stopped, not held against the app: {}",
        httpd.pm_status()
    );
    // The class keeps serving (the new children ask the manager first).
    for _ in 0..5 {
        assert_eq!(httpd.get("/echo.fcgi").status, 200);
    }
    eventually(5, "nothing busy", || httpd.pm_number("busy") == 0);
    httpd.stop();
}

#[test]
fn an_httpd_child_killed_holding_a_claim_leaves_nothing_busy_with_event() {
    killed_claimant_leaves_nothing_busy(Mpm::Event);
}

#[test]
fn an_httpd_child_killed_holding_a_claim_leaves_nothing_busy_with_prefork() {
    killed_claimant_leaves_nothing_busy(Mpm::Prefork);
}

#[test]
fn a_request_waiting_at_the_manager_gets_a_process_released_through_the_table() {
    // One process: while a claimed request runs, a second request waits
    // at the manager; the release sees it waiting and hands the process
    // over instead of leaving it idle in the table.
    let httpd = Httpd::new(
        "handover",
        Mpm::Event,
        &["echo"],
        "FcgidMaxProcessesPerClass 1\nFcgidProcessWaitTimeout 60\n",
    )
    .start();
    warm(&httpd);
    let slow = {
        let url = httpd.url("/echo.fcgi?sleep_ms=1500");
        std::thread::spawn(move || common::status_code(&url))
    };
    eventually(5, "the first request holds the process", || {
        httpd.pm_number("busy") == 1
    });
    let waiting_since = Instant::now();
    let second = httpd.get("/echo.fcgi");
    assert_eq!(second.status, 200);
    assert_eq!(slow.join().unwrap(), "200");
    // Served when the first one ended (1.5 s in), not at the 60 s
    // FcgidProcessWaitTimeout: a hand-over lost and caught late still
    // fails, with a bound no slow machine comes near.
    let waited = waiting_since.elapsed();
    assert!(waited < Duration::from_secs(20), "waited {waited:?}");
    assert_eq!(httpd.pm_number("processes"), 1);
    httpd.stop();
}
