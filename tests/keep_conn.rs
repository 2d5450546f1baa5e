//! Kept connections to the apps (FCGI_KEEP_CONN): an httpd child keeps
//! the connection to the process it used and sends its next request over
//! it. What users rely on: one client's requests reuse one connection; a
//! process held by one httpd child still serves every other child (with
//! one process per class too), also when the holder is killed or httpd
//! restarts gracefully; and apps that close the connection after each
//! answer whatever they were asked keep working.
//!
//! The conninfo app answers `pid=… conn=… n=…`, where conn is the inode of
//! the connection it read the request from: the same inode on two
//! requests means one connection served both.

mod common;
use common::{eventually, kill9, Httpd, Mpm, Response};
use fcgid_core::pm::table::HOLD_OFF_NS;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// How long the client waits for any answer: a hang fails the test.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);

/// Kept HTTP connections stay open this long between requests, so that a
/// prefork child stays with its client while the test looks elsewhere.
const KEEP_ALIVE: &str = "KeepAlive On\nKeepAliveTimeout 60\nMaxKeepAliveRequests 0\n";

/// Several httpd children under prefork, so new connections spread.
const CHILDREN: &str = "StartServers 4\nMinSpareServers 4\nMaxSpareServers 8\n";

/// One HTTP/1.1 connection to httpd that does requests one after another.
struct Client {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    fn open(httpd: &Httpd) -> Client {
        let s = TcpStream::connect(("127.0.0.1", httpd.port)).expect("connect to httpd");
        s.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
        s.set_write_timeout(Some(CLIENT_TIMEOUT)).unwrap();
        Client { s, buf: Vec::new() }
    }

    /// The port of this end: how httpd's side of it is found.
    fn local_port(&self) -> u16 {
        self.s.local_addr().unwrap().port()
    }

    /// A GET over this connection; panics (naming `path`) if the answer
    /// does not come within CLIENT_TIMEOUT or the connection ends first.
    fn get(&mut self, path: &str) -> Response {
        write!(self.s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap_or_else(|e| panic!("sending GET {path}: {e}"));
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            self.fill(path);
        };
        let head = common::parse_response(&self.buf[..head_end]);
        let mut rest = self.buf.split_off(head_end);
        std::mem::swap(&mut rest, &mut self.buf);
        let body = if let Some(len) = head.header("Content-Length") {
            let len: usize = len.parse().unwrap();
            while self.buf.len() < len {
                self.fill(path);
            }
            let more = self.buf.split_off(len);
            std::mem::replace(&mut self.buf, more)
        } else {
            assert_eq!(
                head.header("Transfer-Encoding"),
                Some("chunked"),
                "GET {path}: an answer of unknown length on a kept connection"
            );
            self.chunks(path)
        };
        Response { body, ..head }
    }

    fn chunks(&mut self, path: &str) -> Vec<u8> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = find(&self.buf, b"\r\n") {
                    break i;
                }
                self.fill(path);
            };
            let size_text = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
                .unwrap_or_else(|_| panic!("GET {path}: bad chunk size {size_text:?}"));
            self.buf.drain(..line_end + 2);
            while self.buf.len() < size + 2 {
                self.fill(path);
            }
            body.extend_from_slice(&self.buf[..size]);
            self.buf.drain(..size + 2);
            if size == 0 {
                // No trailers from httpd here: the empty line was the end.
                return body;
            }
        }
    }

    fn fill(&mut self, path: &str) {
        let mut chunk = [0u8; 16384];
        match self.s.read(&mut chunk) {
            Ok(0) => panic!(
                "GET {path}: httpd closed the connection; so far: {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            // A signal to the test process (not an answer, nor its absence).
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("GET {path}: no answer within {CLIENT_TIMEOUT:?}: {e}"),
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One GET over a new connection (closed afterwards).
fn fresh_get(httpd: &Httpd, path: &str) -> Response {
    Client::open(httpd).get(path)
}

/// What the conninfo app said about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Info {
    pid: i32,
    conn: u64,
    n: u64,
}

/// The answer of conninfo.fcgi, which must be a 200.
fn info(res: &Response) -> Info {
    assert_eq!(res.status, 200, "{}", res.text());
    let text = res.text();
    let field = |name: &str| -> u64 {
        text.split(' ')
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name}= in {text:?}"))
    };
    Info {
        pid: field("pid") as i32,
        conn: field("conn"),
        n: field("n"),
    }
}

fn pids(infos: &[Info]) -> BTreeSet<i32> {
    infos.iter().map(|i| i.pid).collect()
}

fn conns(infos: &[Info]) -> BTreeSet<u64> {
    infos.iter().map(|i| i.conn).collect()
}

/// Whether process `pid` has the socket of inode `inode` open.
fn has_socket(pid: i32, inode: u64) -> bool {
    let want = format!("socket:[{inode}]");
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|fds| {
            fds.flatten()
                .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == &*want))
        })
        .unwrap_or(false)
}

/// The httpd child serving `client`: the one with httpd's end of its TCP
/// connection (the row of /proc/net/tcp from httpd's port to the client's).
fn serving_child(httpd: &Httpd, client: &Client) -> i32 {
    let port_of = |addr: &str| {
        addr.rsplit_once(':')
            .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
    };
    let tcp = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let inode = tcp
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| {
            f.len() > 9
                && port_of(f[1]) == Some(httpd.port)
                && port_of(f[2]) == Some(client.local_port())
        })
        .map(|f| f[9].parse::<u64>().unwrap())
        .expect("httpd's end of the client's connection in /proc/net/tcp");
    let children = httpd.httpd_children();
    children
        .iter()
        .copied()
        .find(|c| has_socket(*c, inode))
        .unwrap_or_else(|| panic!("no httpd child of {children:?} has socket {inode}"))
}

#[test]
fn one_client_reuses_one_app_connection() {
    let conf = format!("FcgidMaxProcessesPerClass 1\n{KEEP_ALIVE}");
    let httpd = Httpd::new("keep-one", Mpm::Event, &["conninfo"], &conf).start();
    for _ in 0..10 {
        info(&fresh_get(&httpd, "/conninfo.fcgi"));
    }
    // Those connections' holds go when httpd sees them close; a request
    // that came first found the process held and was queued or stole it,
    // and nothing is held for HOLD_OFF_NS after that (a clean-clone run
    // under load failed so, with 20 connections for the 20 below).
    std::thread::sleep(Duration::from_nanos(HOLD_OFF_NS) + Duration::from_millis(100));
    // One TCP connection, so one httpd child sends all of them.
    let mut client = Client::open(&httpd);
    let seen: Vec<Info> = (0..20)
        .map(|_| info(&client.get("/conninfo.fcgi")))
        .collect();
    assert_eq!(pids(&seen).len(), 1, "one process served: {seen:?}");
    // The first may come over a new connection (through the manager),
    // the rest over the one the child kept. Without reuse: 20 inodes.
    assert!(
        conns(&seen).len() <= 2,
        "{} connections for 20 requests of one client: {seen:?}",
        conns(&seen).len()
    );
    let last = seen[seen.len() - 1];
    assert!(
        has_socket(last.pid, last.conn),
        "the app still has the kept connection open"
    );
    httpd.stop();
}

/// Under mpm_event one child serves many keep-alive clients from many
/// threads, and a thread may take a hold another thread of the same child
/// has just made. It must then use that kept connection: one made anew
/// waits, unaccepted, behind an app still reading the kept one (it hung
/// until FcgidIOTimeout, 6 of 8 clients on a change from 1 to 8 clients).
#[test]
fn threads_of_one_event_child_share_its_holds() {
    let conf = format!(
        "{KEEP_ALIVE}StartServers 1\nServerLimit 1\nThreadsPerChild 32\nMaxRequestWorkers 32\n\
         MinSpareThreads 1\nMaxSpareThreads 32\n"
    );
    let httpd = Httpd::new("keep-threads", Mpm::Event, &["conninfo"], &conf).start();
    let mut first = Client::open(&httpd);
    let mut seen: Vec<Info> = (0..20)
        .map(|_| info(&first.get("/conninfo.fcgi")))
        .collect();
    for _ in 0..3 {
        // Eight clients at once, while the first keeps its connection.
        let burst: Vec<Info> = std::thread::scope(|s| {
            let clients: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        let mut c = Client::open(&httpd);
                        (0..40)
                            .map(|_| info(&c.get("/conninfo.fcgi")))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            clients
                .into_iter()
                .flat_map(|c| c.join().expect("a client got no answer"))
                .collect()
        });
        seen.extend(burst);
        seen.push(info(&first.get("/conninfo.fcgi")));
    }
    // Each request reached an app once: per process, its counts are distinct.
    let mut per_proc: Vec<(i32, u64)> = seen.iter().map(|i| (i.pid, i.n)).collect();
    per_proc.sort();
    per_proc.dedup();
    assert_eq!(
        per_proc.len(),
        seen.len(),
        "a request counted twice: {seen:?}"
    );
    eventually(10, "nothing busy", || httpd.pm_number("busy") == 0);
    httpd.stop();
}

#[test]
fn a_hold_is_broken_for_another_httpd_child() {
    let conf = format!("FcgidMaxProcessesPerClass 1\n{KEEP_ALIVE}{CHILDREN}");
    let httpd = Httpd::new("keep-break", Mpm::Prefork, &["conninfo"], &conf).start();
    let mut seen = Vec::new();
    // Two clients that keep their connections: under prefork each holds
    // its own child, so every turn takes the process from the other child.
    let mut a = Client::open(&httpd);
    seen.push(info(&a.get("/conninfo.fcgi")));
    let mut b = Client::open(&httpd);
    seen.push(info(&b.get("/conninfo.fcgi")));
    assert_ne!(
        serving_child(&httpd, &a),
        serving_child(&httpd, &b),
        "two kept clients are served by two httpd children"
    );
    for _ in 0..5 {
        seen.push(info(&a.get("/conninfo.fcgi")));
        seen.push(info(&b.get("/conninfo.fcgi")));
    }
    // New connections, one after another, land on whichever child accepts.
    for _ in 0..20 {
        seen.push(info(&fresh_get(&httpd, "/conninfo.fcgi")));
    }
    // And several at once, each on a child of its own.
    let parallel: Vec<Info> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    (0..5)
                        .map(|_| info(&fresh_get(&httpd, "/conninfo.fcgi")))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a parallel client failed"))
            .collect()
    });
    seen.extend(parallel);
    assert_eq!(
        pids(&seen).len(),
        1,
        "the class's one process served all, none was added or killed: {seen:?}"
    );
    assert!(
        conns(&seen).len() > 1,
        "the process moved between children over new connections: {seen:?}"
    );
    // Every request reached the app once.
    let mut ns: Vec<u64> = seen.iter().map(|i| i.n).collect();
    ns.sort();
    assert_eq!(ns, (1..=seen.len() as u64).collect::<Vec<_>>());
    eventually(10, "nothing busy", || httpd.pm_number("busy") == 0);
    httpd.stop();
}

#[test]
fn a_killed_holder_frees_its_process() {
    let conf = format!("FcgidMaxProcessesPerClass 1\n{KEEP_ALIVE}{CHILDREN}");
    let httpd = Httpd::new("keep-kill", Mpm::Prefork, &["conninfo"], &conf).start();
    for _ in 0..5 {
        info(&fresh_get(&httpd, "/conninfo.fcgi"));
    }
    // One of those may have found the process still held by the one
    // before (httpd had not seen it close): nothing is held for
    // HOLD_OFF_NS after such a miss (as in the first test of this file).
    std::thread::sleep(Duration::from_nanos(HOLD_OFF_NS) + Duration::from_millis(100));
    // A client whose child keeps the app's connection: its last two
    // requests came over one connection, which the app still reads.
    let mut client = Client::open(&httpd);
    let seen: Vec<Info> = (0..3)
        .map(|_| info(&client.get("/conninfo.fcgi")))
        .collect();
    let held = seen[2];
    assert_eq!(
        seen[1].conn, held.conn,
        "the child kept its connection to the app: {seen:?}"
    );
    assert!(has_socket(held.pid, held.conn));
    let holder = serving_child(&httpd, &client);
    kill9(holder);
    // Nobody else asks: the manager itself ends the hold (it has a copy of
    // the connection), and the app goes back to accepting.
    eventually(
        10,
        "the app's kept connection closed after its holder died",
        || !has_socket(held.pid, held.conn),
    );
    drop(client);
    // Served at once from new connections (other children): the same
    // process or a new one, both are fine.
    for _ in 0..10 {
        info(&fresh_get(&httpd, "/conninfo.fcgi"));
    }
    eventually(10, "nothing busy", || httpd.pm_number("busy") == 0);
    httpd.stop();
}

/// closeeach.fcgi's counter, from an answer that must be a 200.
fn closed_each_count(res: &Response) -> u64 {
    assert_eq!(res.status, 200, "{}", res.text());
    res.text()
        .strip_prefix("closed-each ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not closeeach's answer: {:?}", res.text()))
}

#[test]
fn an_app_that_closes_each_connection_still_serves() {
    let conf = format!("FcgidMaxProcessesPerClass 1\n{KEEP_ALIVE}");
    let httpd = Httpd::new("keep-closeeach", Mpm::Event, &["closeeach"], &conf).start();
    let mut counts = Vec::new();
    let mut client = Client::open(&httpd);
    for _ in 0..30 {
        counts.push(closed_each_count(&client.get("/closeeach.fcgi")));
    }
    drop(client);
    for _ in 0..30 {
        counts.push(closed_each_count(&fresh_get(&httpd, "/closeeach.fcgi")));
    }
    // One process answered each request once, in order: none was lost on
    // a closed connection, none sent twice.
    assert_eq!(counts, (1..=60).collect::<Vec<u64>>());
    assert_eq!(httpd.app_pids().len(), 1);
    // A connection the app closed is no fault: no warning, no error
    // (request lines name the client, not always the app, so any).
    let log = httpd.error_log();
    let complaints: Vec<&str> = log.lines().filter(|l| common::warn_or_worse(l)).collect();
    assert!(complaints.is_empty(), "{complaints:#?}\n{log}");
    httpd.stop();
}

#[test]
fn a_graceful_restart_with_kept_connections_serves_on() {
    let conf = format!("FcgidMaxProcessesPerClass 1\n{KEEP_ALIVE}{CHILDREN}");
    let httpd = Httpd::new("keep-graceful", Mpm::Prefork, &["conninfo"], &conf).start();
    // Three clients on three children, each of which has held the process.
    let mut clients: Vec<Client> = (0..3).map(|_| Client::open(&httpd)).collect();
    let mut seen = Vec::new();
    for c in &mut clients {
        for _ in 0..2 {
            seen.push(info(&c.get("/conninfo.fcgi")));
        }
    }
    let stop = std::sync::atomic::AtomicBool::new(false);
    let during = std::thread::scope(|s| {
        let load = s.spawn(|| {
            let mut answers = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                answers.push(info(&fresh_get(&httpd, "/conninfo.fcgi")));
            }
            answers
        });
        let before = httpd
            .error_log()
            .matches("resuming normal operations")
            .count();
        httpd.control("graceful");
        eventually(15, "the graceful restart", || {
            httpd
                .error_log()
                .matches("resuming normal operations")
                .count()
                > before
        });
        // Some more while the old generation's children leave.
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        load.join()
            .expect("a request failed during the graceful restart")
    });
    assert!(!during.is_empty());
    drop(clients);
    // The new generation, over new connections and over one kept one.
    seen.extend(during);
    for _ in 0..10 {
        seen.push(info(&fresh_get(&httpd, "/conninfo.fcgi")));
    }
    // The load met a busy process (the class has one): no hold is made
    // for HOLD_OFF_NS after that.
    std::thread::sleep(Duration::from_nanos(HOLD_OFF_NS) + Duration::from_millis(100));
    let mut client = Client::open(&httpd);
    let kept: Vec<Info> = (0..10)
        .map(|_| info(&client.get("/conninfo.fcgi")))
        .collect();
    assert!(
        conns(&kept).len() <= 2,
        "the new generation keeps connections too: {kept:?}"
    );
    drop(client);
    seen.extend(kept);
    // Its processes carry on into the new generation (the holds of the
    // old one are let go, not its process stopped).
    assert_eq!(pids(&seen).len(), 1, "{seen:?}");
    eventually(10, "nothing busy", || httpd.pm_number("busy") == 0);
    httpd.stop();
}

/// An app that closes each connection a moment after its answer: the
/// connection kept for the client's next request still looks open when
/// that request goes out on it, then closes under it. The request goes
/// again on a new connection to the same process, which is fine: not to
/// another process, stopping this one for nothing (nor a 500 for a
/// request that was never read).
#[test]
fn a_kept_connection_closed_under_a_request_is_not_the_process_failing() {
    let conf =
        format!("FcgidMaxProcessesPerClass 1\nFcgidInitialEnv CLOSE_AFTER_MS 200\n{KEEP_ALIVE}");
    let httpd = Httpd::new("keep-closes-late", Mpm::Event, &["closeeach"], &conf).start();
    let mut client = Client::open(&httpd);
    let counts: Vec<u64> = (0..10)
        .map(|_| closed_each_count(&client.get("/closeeach.fcgi")))
        .collect();
    assert_eq!(counts, (1..=10).collect::<Vec<u64>>());
    assert_eq!(httpd.app_pids().len(), 1);
    httpd.stop();
}
