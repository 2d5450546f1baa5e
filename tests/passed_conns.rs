//! Connections passed on with a grant. When requests wait for a class's
//! processes, each goes through the manager: a request ends, its process
//! is lent to the next waiter at once, and the connection the request
//! ended on (the app asked to keep it) goes along, so the app serves the
//! next request without accepting a new one. What users rely on: every
//! queued request is answered once, by the app it was sent to; apps that
//! close their connections anyway keep working, for every method; and a
//! connection nobody took is ended, so the app accepts again.

mod common;
use common::{parse_response, Httpd, Mpm, Response};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Threads sending at once, to a class of one process: most wait.
const CLIENTS: usize = 8;
const EACH: usize = 12;

/// One request over a new HTTP/1.0 connection, read to its end; a hang
/// fails the test.
fn send(httpd: &Httpd, method: &str, path: &str, body: &[u8]) -> Response {
    let mut s = TcpStream::connect(("127.0.0.1", httpd.port)).expect("connect to httpd");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.0\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("{method} {path}: no whole answer: {e}"));
    parse_response(&raw)
}

/// `CLIENTS` threads, each sending `EACH` requests made by `request(i)`.
fn load(request: impl Fn(usize) -> Response + Sync) -> Vec<Response> {
    std::thread::scope(|s| {
        let request = &request;
        let threads: Vec<_> = (0..CLIENTS)
            .map(|_| s.spawn(move || (0..EACH).map(request).collect::<Vec<_>>()))
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().expect("a client failed"))
            .collect()
    })
}

/// conninfo's `name=` field, from an answer that must be a 200.
fn field(res: &Response, name: &str) -> u64 {
    assert_eq!(res.status, 200, "{}", res.text());
    res.text()
        .split(' ')
        .find_map(|w| w.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name}= in {:?}", res.text()))
}

/// The error log has no line at warn level or worse.
fn assert_no_complaints(httpd: &Httpd) {
    let log = httpd.error_log();
    let complaints: Vec<&str> = log.lines().filter(|l| common::warn_or_worse(l)).collect();
    assert!(complaints.is_empty(), "{log}");
}

/// Each of the load's requests reached the app once: its counts, in any
/// order, are 1, 2, … without a gap or a repeat.
fn assert_each_once(mut counts: Vec<u64>) {
    counts.sort_unstable();
    assert_eq!(counts, (1..=(CLIENTS * EACH) as u64).collect::<Vec<_>>());
}

#[test]
fn queued_requests_go_on_the_connection_the_request_before_ended_on() {
    // Prefork: the waiter is always another process than the one whose
    // request ended, so the connection crosses from child to child.
    let conf = "FcgidMaxProcessesPerClass 1\nStartServers 10\nMinSpareServers 10\n";
    let httpd = Httpd::new("passed-conns", Mpm::Prefork, &["conninfo"], conf).start();
    // Each takes the app 10 ms: requests always wait, however slow the
    // clients, so every request but the first is lent a process at once.
    let answers = load(|_| send(&httpd, "GET", "/conninfo.fcgi?sleep_ms=10", b""));
    let pids: BTreeSet<u64> = answers.iter().map(|r| field(r, "pid")).collect();
    assert_eq!(pids.len(), 1, "one process served all: {pids:?}");
    assert_each_once(answers.iter().map(|r| field(r, "n")).collect());
    // A new connection per request, without passing: one per request.
    // With it, one for all, but for a connection ended when a request came
    // back while the next had not reached the manager yet.
    let conns: BTreeSet<u64> = answers.iter().map(|r| field(r, "conn")).collect();
    assert!(
        conns.len() * 4 <= answers.len(),
        "{} connections for {} requests",
        conns.len(),
        answers.len()
    );
    // Nothing waits now: a connection passed on to nobody was ended, else
    // the app would still be reading it and these would hang.
    for _ in 0..3 {
        let n = field(&send(&httpd, "GET", "/conninfo.fcgi", b""), "n");
        assert!(n > (CLIENTS * EACH) as u64);
    }
    assert_no_complaints(&httpd);
    httpd.stop();
}

#[test]
fn an_app_that_closes_its_connections_answers_every_queued_request() {
    // closeeach closes after each answer, whatever it was asked: the
    // connection passed on may be closing. A GET sent on one that closes
    // is sent again; any other method never uses a passed connection.
    let httpd = Httpd::new(
        "passed-closeeach",
        Mpm::Event,
        &["closeeach"],
        // 5 ms an answer: requests wait. Its connections close 3 ms after
        // the answer: passed on at once, they look open.
        "FcgidMaxProcessesPerClass 1\nFcgidInitialEnv SLEEP_MS 5\nFcgidInitialEnv CLOSE_AFTER_MS 3\n",
    )
    .start();
    let answers = load(|i| {
        if i.is_multiple_of(2) {
            send(&httpd, "GET", "/closeeach.fcgi", b"")
        } else {
            send(&httpd, "POST", "/closeeach.fcgi", &[b'x'; 3000])
        }
    });
    let counts: Vec<u64> = answers
        .iter()
        .map(|r| {
            assert_eq!(r.status, 200, "{}", r.text());
            r.text()
                .strip_prefix("closed-each ")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("not closeeach's answer: {:?}", r.text()))
        })
        .collect();
    // Every request reached the app once, and the one process answered
    // all: a GET sent on a connection the app was closing went again on a
    // new one, to the same process (stopping it would be for nothing).
    assert_each_once(counts);
    assert_eq!(httpd.app_pids().len(), 1);
    assert_eq!(answers.len(), CLIENTS * EACH);
    // A connection the app closed is no fault: nothing to warn of.
    assert_no_complaints(&httpd);
    httpd.stop();
}

#[test]
fn a_connection_left_inside_a_body_the_app_did_not_read_is_not_passed_on() {
    // earlyanswer answers when the PARAMS end and keeps the connection:
    // a long POST's body is cut off mid-record when the answer comes, so
    // the app is left inside a record. Sent on it, a waiting GET would be
    // read as the rest of that record and never answered.
    let httpd = Httpd::new(
        "passed-early",
        Mpm::Event,
        &["earlyanswer"],
        "FcgidMaxProcessesPerClass 1\nFcgidIOTimeout 5\nFcgidMaxRequestLen 10000000\n",
    )
    .start();
    let answers = load(|i| {
        if i.is_multiple_of(3) {
            send(&httpd, "POST", "/earlyanswer.fcgi", &vec![b'x'; 2_000_000])
        } else {
            send(&httpd, "GET", "/earlyanswer.fcgi", b"")
        }
    });
    // The POSTs are left aside: the app ends them while their body is
    // still being sent (an error, or a 200, by how far the sending got).
    for (i, r) in answers.iter().enumerate() {
        if !(i % EACH).is_multiple_of(3) {
            assert_eq!(r.status, 200, "GET {i}: {}", r.text());
            assert!(r.text().starts_with("early n="), "{}", r.text());
        }
    }
    let log = httpd.error_log();
    assert!(!log.contains("did not answer within"), "{log}");
    httpd.stop();
}
