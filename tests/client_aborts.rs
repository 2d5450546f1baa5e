//! Clients that hang up mid-answer (users clicking away, aborted
//! downloads), and apps that die at start. Neither may leave a class unable
//! to serve; each gets one log line naming the cause.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Sends a GET and hangs up after the first `keep` bytes of the answer.
fn fetch_and_hang_up(port: u16, path: &str, keep: usize) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut got = 0;
    let mut buf = [0u8; 4096];
    while got < keep {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    // Dropped: the connection closes with most of the answer unread.
}

fn exits_of(h: &Httpd) -> String {
    h.pm_report()
        .classes
        .first()
        .map(|c| c.exits_text())
        .unwrap_or_default()
}

#[test]
fn a_storm_of_aborted_downloads_keeps_the_class_serving() {
    let h = Httpd::new(
        "abort-storm",
        Mpm::Event,
        &["big"],
        // A wedged class would show as a 503 here rather than a long wait.
        "FcgidProcessWaitTimeout 10\nThreadsPerChild 64\nMaxRequestWorkers 128\n",
    )
    .start();
    assert_eq!(h.get("/big.fcgi?kib=1").status, 200);
    for _round in 0..2 {
        let clients: Vec<_> = (0..64)
            .map(|_| {
                let port = h.port;
                std::thread::spawn(move || fetch_and_hang_up(port, "/big.fcgi?kib=256", 8192))
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
    }
    eventually(10, "every process given back", || h.pm_number("busy") == 0);
    let exits = exits_of(&h);
    assert!(
        !exits.contains("broken") && !exits.contains("client_abort"),
        "a client that hangs up on a 256 KiB answer must not cost the process: {exits}\n{}",
        h.pm_status()
    );
    // The class serves at once, and whole answers.
    let r = h.get("/big.fcgi?kib=256");
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 256 * 1024);
    assert!(
        h.error_log()
            .contains("the client closed the connection mid-answer; the rest of the answer was read and dropped"),
        "{}",
        h.error_log()
    );
}

#[test]
fn an_app_still_streaming_after_its_client_left_is_stopped_without_blame() {
    let h = Httpd::new(
        "abort-endless",
        Mpm::Event,
        &["big"],
        "FcgidSpawnScoreUpLimit 3\n",
    )
    .start();
    for _ in 0..3 {
        fetch_and_hang_up(h.port, "/big.fcgi?endless", 8192);
    }
    eventually(10, "three processes stopped for their clients", || {
        exits_of(&h).contains("client_abort=3")
    });
    // Three stops with a termination score of 2 each would hold the class
    // at FcgidSpawnScoreUpLimit 3; stops caused by clients do not count.
    let r = h.get("/big.fcgi?kib=4");
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 4096);
    let log = h.error_log();
    assert!(
        log.contains(
            "the application was still sending after 1024 KiB or 2 s; its process is stopped"
        ),
        "{log}"
    );
}

#[test]
fn an_app_that_dies_at_start_gets_a_503_at_once_and_recovers_when_fixed() {
    let h = Httpd::new("startfail", Mpm::Event, &["startfail"], "");
    let ready = h.root.join("ready");
    h.append_conf(&format!(
        "FcgidInitialEnv READY_FILE {}\nFcgidProcessWaitTimeout 120\n",
        ready.display()
    ));
    let h = h.start();
    let started = Instant::now();
    let r = h.get("/startfail.fcgi");
    let took = started.elapsed();
    assert_eq!(r.status, 503, "{}", h.error_log());
    // Far below the 120 s wait: it did not wait out its deadline. (A bound
    // this loose cannot trip on a slow machine.)
    assert!(took < Duration::from_secs(60), "took {took:?}");
    let log = h.error_log();
    assert!(
        log.contains("times in a row right after starting, before serving a request"),
        "{log}"
    );
    assert!(
        log.contains("is missing, cannot start"),
        "the app's own words: {log}"
    );
    // The backoff is visible to operators.
    let status = h.pm_status();
    assert!(status.contains("FailedStarts: "), "{status}");
    assert!(h.pm_number("failed_starts") >= 3, "{status}");
    // Fixed: the background probe brings the class back without a restart.
    std::fs::write(&ready, "").unwrap();
    eventually(60, "the class serving again", || {
        let r = h.get("/startfail.fcgi");
        r.status == 200 && r.text() == "started\n"
    });
}
