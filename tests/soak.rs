//! The soak of issue 10: SOAK_REQUESTS (default 200,000) requests from 16
//! keep-alive clients over hello, a POST echo (1 to 8 KiB, echoed back
//! exactly) and a 256 KiB answer (length and content checked), 5% of them
//! hung up mid-answer, with a graceful restart (SIGUSR1 to the parent) every
//! tenth of the run, under mpm_event. Every request that is not aborted on
//! purpose must get a 200 and its exact body. The open fds and the resident
//! memory of the httpd parent, its children and the process manager are
//! measured after the warm-up and at the end, both times with every client
//! connection closed and the server settled, and must come out flat.
//!
//! Ignored in the normal suite: `make soak` (or `scripts/soak`) runs it
//! against the release build. SOAK_REQUESTS=20000 makes a quick run.
//!
//! The client is std only: threads, TcpStream and raw HTTP/1.1. A request
//! whose reused keep-alive connection is closed or reset before any byte of
//! the answer (the race every browser meets when a server closes idle
//! connections, as a graceful restart does) is retried once on a new
//! connection, as browsers do; such retries are counted and printed, and one
//! more than 30 s after a restart counts as a failure.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIENTS: usize = 16;
const BIG: usize = 256 * 1024;
const THREADS_PER_CHILD: usize = 32;
/// MaxRequestWorkers / ThreadsPerChild: the children of one generation.
const MAX_CHILDREN: usize = 2;
const MIB: u64 = 1024;
/// A retry this long after the last restart signal is not the restart's.
const RESTART_WINDOW_MS: u64 = 30_000;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    Hello,
    Echo,
    Big,
    Abort,
}

const KINDS: [Kind; 4] = [Kind::Hello, Kind::Echo, Kind::Big, Kind::Abort];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Hello => "hello",
            Kind::Echo => "echo POST",
            Kind::Big => "256 KiB",
            Kind::Abort => "256 KiB aborted",
        }
    }
    fn idx(self) -> usize {
        self as usize
    }
}

fn splitmix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Request `n`'s kind: 5% aborted downloads, the rest a third each.
fn kind_of(n: u64) -> Kind {
    match splitmix(n) % 100 {
        0..=4 => Kind::Abort,
        5..=36 => Kind::Hello,
        37..=68 => Kind::Echo,
        _ => Kind::Big,
    }
}

/// Request `n`'s POST body: 1 to 8 KiB, different for every request.
fn echo_body(n: u64) -> Vec<u8> {
    const ALPHA: &[u8; 64] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/";
    let h = splitmix(n ^ 0x5eed);
    let len = 1024 + (h % (7 * 1024 + 1)) as usize;
    let mut x = h;
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ALPHA[(x >> 58) as usize]
        })
        .collect()
}

/// How much of a 256 KiB answer an aborting client reads: 2 to 16 KiB.
fn abort_after(n: u64) -> usize {
    2048 + (splitmix(n ^ 0xab07) % (14 * 1024)) as usize
}

/// Why an exchange failed; `retryable` when a reused connection was closed
/// or reset before any byte of the answer arrived.
struct Fail {
    retryable: bool,
    cause: String,
    detail: String,
}

fn fail(cause: &str, detail: String) -> Fail {
    Fail {
        retryable: false,
        cause: cause.to_string(),
        detail,
    }
}

struct Answer {
    status: u16,
    body: Vec<u8>,
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
    pos: usize,
    /// Answers completed on it: 0 means fresh.
    served: u32,
    /// Bytes of the current answer received so far.
    got: usize,
    closed: bool,
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

impl Conn {
    fn open(port: u16) -> io::Result<Conn> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        s.set_write_timeout(Some(Duration::from_secs(60)))?;
        s.set_nodelay(true)?;
        Ok(Conn {
            s,
            buf: Vec::with_capacity(64 * 1024),
            pos: 0,
            served: 0,
            got: 0,
            closed: false,
        })
    }

    /// Reads more bytes into the buffer; an error if the peer closed.
    fn fill(&mut self, what: &str) -> Result<(), Fail> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 256 * 1024 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + 64 * 1024, 0);
        let r = self.s.read(&mut self.buf[old..]);
        self.buf.truncate(old + *r.as_ref().unwrap_or(&0));
        let before_any = self.got == 0 && self.served > 0;
        match r {
            Ok(0) => Err(Fail {
                retryable: before_any,
                cause: format!("connection closed {what}"),
                detail: format!("after {} bytes of the answer", self.got),
            }),
            Ok(n) => {
                self.got += n;
                Ok(())
            }
            Err(e) if is_timeout(&e) => Err(fail(
                &format!("timeout (60 s) {what}"),
                format!("after {} bytes of the answer", self.got),
            )),
            Err(e) => Err(Fail {
                retryable: before_any && is_reset(&e),
                cause: format!("{:?} {what}", e.kind()),
                detail: format!("{e} after {} bytes of the answer", self.got),
            }),
        }
    }

    fn line(&mut self) -> Result<Vec<u8>, Fail> {
        loop {
            if let Some(i) = find(&self.buf[self.pos..], b"\r\n") {
                let l = self.buf[self.pos..self.pos + i].to_vec();
                self.pos += i + 2;
                return Ok(l);
            }
            self.fill("mid-body (chunk framing)")?;
        }
    }

    fn take(&mut self, mut n: usize, out: &mut Vec<u8>) -> Result<(), Fail> {
        while n > 0 {
            if self.pos == self.buf.len() {
                self.fill("mid-body")?;
            }
            let k = n.min(self.buf.len() - self.pos);
            out.extend_from_slice(&self.buf[self.pos..self.pos + k]);
            self.pos += k;
            n -= k;
        }
        Ok(())
    }

    /// Sends `req` and reads the answer; with `abort_after`, hangs up (the
    /// caller drops the connection) once that many bytes of body arrived.
    fn exchange(&mut self, req: &[u8], abort_after: Option<usize>) -> Result<Answer, Fail> {
        self.got = 0;
        if self.pos != self.buf.len() {
            return Err(fail(
                "bytes before the answer",
                format!(
                    "{} unexpected bytes on the connection",
                    self.buf.len() - self.pos
                ),
            ));
        }
        if let Err(e) = self.s.write_all(req) {
            return Err(Fail {
                retryable: self.served > 0 && is_reset(&e),
                cause: format!("{:?} sending the request", e.kind()),
                detail: e.to_string(),
            });
        }
        let head_end = loop {
            if let Some(i) = find(&self.buf[self.pos..], b"\r\n\r\n") {
                break self.pos + i;
            }
            self.fill(if self.got == 0 {
                "before the answer"
            } else {
                "mid-header"
            })?;
        };
        let head = String::from_utf8_lossy(&self.buf[self.pos..head_end]).into_owned();
        self.pos = head_end + 4;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| fail("bad status line", status_line.to_string()))?;
        let (mut chunked, mut length) = (false, None);
        self.closed = !status_line.starts_with("HTTP/1.1");
        for l in lines {
            let Some((k, v)) = l.split_once(':') else {
                continue;
            };
            let v = v.trim();
            if k.eq_ignore_ascii_case("transfer-encoding") {
                chunked = v.eq_ignore_ascii_case("chunked");
            } else if k.eq_ignore_ascii_case("content-length") {
                length = v.parse::<usize>().ok();
            } else if k.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close") {
                self.closed = true;
            }
        }
        if let Some(keep) = abort_after {
            if status == 200 {
                while self.buf.len() - self.pos < keep {
                    self.fill("mid-body")?;
                }
                self.closed = true;
                return Ok(Answer {
                    status,
                    body: Vec::new(),
                });
            }
        }
        let mut body = Vec::with_capacity(length.unwrap_or(0));
        if chunked {
            loop {
                let l = self.line()?;
                let l = String::from_utf8_lossy(&l).into_owned();
                let size = usize::from_str_radix(l.split(';').next().unwrap_or("").trim(), 16)
                    .map_err(|_| fail("bad chunk size", l.clone()))?;
                if size == 0 {
                    // Trailers, up to the empty line.
                    while !self.line()?.is_empty() {}
                    break;
                }
                self.take(size, &mut body)?;
                if !self.line()?.is_empty() {
                    return Err(fail("bad chunk end", String::new()));
                }
            }
        } else if let Some(n) = length {
            self.take(n, &mut body)?;
        } else {
            // Delimited by the end of the connection.
            self.closed = true;
            loop {
                body.extend_from_slice(&self.buf[self.pos..]);
                self.pos = self.buf.len();
                match self.fill("mid-body") {
                    Ok(()) => {}
                    Err(f) if f.cause.starts_with("connection closed") => break,
                    Err(f) => return Err(f),
                }
            }
        }
        self.served += 1;
        Ok(Answer { status, body })
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Request `n`: its bytes, how much of the answer to read when aborting.
fn request_of(n: u64) -> (Kind, Vec<u8>, Option<usize>, Vec<u8>) {
    let kind = kind_of(n);
    let host = "Host: 127.0.0.1\r\nUser-Agent: fcgid-soak\r\n";
    match kind {
        Kind::Hello => (
            kind,
            format!("GET /hello.fcgi?n={n} HTTP/1.1\r\n{host}\r\n").into_bytes(),
            None,
            Vec::new(),
        ),
        Kind::Echo => {
            let body = echo_body(n);
            let mut req = format!(
                "POST /echo.fcgi?n={n} HTTP/1.1\r\n{host}Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            req.extend_from_slice(&body);
            (kind, req, None, body)
        }
        Kind::Big | Kind::Abort => (
            kind,
            format!("GET /big.fcgi?kib=256&n={n} HTTP/1.1\r\n{host}\r\n").into_bytes(),
            (kind == Kind::Abort).then(|| abort_after(n)),
            Vec::new(),
        ),
    }
}

/// What is wrong with the answer to a request of `kind`, if anything.
fn check(kind: Kind, sent: &[u8], a: &Answer) -> Option<(String, String)> {
    if a.status != 200 {
        let text = String::from_utf8_lossy(&a.body[..a.body.len().min(200)]).into_owned();
        return Some((format!("status {}", a.status), text));
    }
    match kind {
        Kind::Hello => {
            let prefix = b"Hello world!<br>\r\nRequest number ";
            let ok = a.body.starts_with(prefix)
                && a.body.ends_with(b".")
                && a.body.len() > prefix.len() + 1
                && a.body[prefix.len()..a.body.len() - 1]
                    .iter()
                    .all(u8::is_ascii_digit);
            (!ok).then(|| {
                (
                    "hello body wrong".to_string(),
                    String::from_utf8_lossy(&a.body[..a.body.len().min(200)]).into_owned(),
                )
            })
        }
        Kind::Echo => {
            let text = String::from_utf8_lossy(&a.body);
            let head_ok = text.contains("REQUEST_METHOD=POST\n")
                && text.contains(&format!("CONTENT_LENGTH={}\n", sent.len()));
            let body_ok =
                a.body.ends_with(sent) && a.body[..a.body.len() - sent.len()].ends_with(b"\nbody=");
            (!(head_ok && body_ok)).then(|| {
                (
                    "echoed body differs".to_string(),
                    format!(
                        "sent {} bytes, got {} bytes: {:?}",
                        sent.len(),
                        a.body.len(),
                        &text[..text.len().min(300)]
                    ),
                )
            })
        }
        Kind::Big => {
            let ok = a.body.len() == BIG && a.body.iter().all(|&b| b == b'x');
            (!ok).then(|| {
                (
                    "256 KiB body wrong".to_string(),
                    format!("{} bytes", a.body.len()),
                )
            })
        }
        Kind::Abort => None,
    }
}

#[derive(Default)]
struct Stats {
    ok: [u64; 4],
    failed: [u64; 4],
    retries: [u64; 4],
    /// Requests never sent: the time budget ran out.
    not_sent: u64,
    retry_causes: BTreeMap<String, u64>,
    causes: BTreeMap<String, u64>,
    failures: Vec<String>,
    /// Milliseconds since the start, of each retry.
    retry_times: Vec<u64>,
    lat_us: [Vec<u32>; 4],
}

impl Stats {
    fn merge(&mut self, o: Stats) {
        for i in 0..4 {
            self.ok[i] += o.ok[i];
            self.failed[i] += o.failed[i];
            self.retries[i] += o.retries[i];
        }
        self.not_sent += o.not_sent;
        for (k, v) in o.retry_causes {
            *self.retry_causes.entry(k).or_default() += v;
        }
        for (k, v) in o.causes {
            *self.causes.entry(k).or_default() += v;
        }
        self.failures.extend(o.failures);
        self.retry_times.extend(o.retry_times);
        for (i, l) in o.lat_us.into_iter().enumerate() {
            self.lat_us[i].extend(l);
        }
    }
    fn failed_total(&self) -> u64 {
        self.failed.iter().sum::<u64>() + self.not_sent
    }
    fn record_failure(&mut self, kind: Kind, n: u64, cause: &str, detail: &str, at_ms: u64) {
        self.failed[kind.idx()] += 1;
        *self
            .causes
            .entry(format!("{}: {cause}", kind.name()))
            .or_default() += 1;
        if self.failures.len() < 40 {
            self.failures.push(format!(
                "request {n} ({}) at {:.1} s: {cause}: {detail}",
                kind.name(),
                at_ms as f64 / 1000.0
            ));
        }
    }
}

/// Shared by the clients and the conductor.
struct Run {
    port: u16,
    /// Requests [first, end) are to be sent.
    end: u64,
    next: AtomicU64,
    done: AtomicU64,
    t0: Instant,
    deadline: Instant,
    /// Milliseconds since t0 of the last restart signal, u64::MAX if none.
    last_restart_ms: AtomicU64,
}

impl Run {
    fn ms(&self) -> u64 {
        self.t0.elapsed().as_millis() as u64
    }
}

fn client(run: &Run) -> Stats {
    let mut st = Stats::default();
    let mut conn: Option<Conn> = None;
    loop {
        if Instant::now() > run.deadline {
            break;
        }
        let n = run.next.fetch_add(1, Ordering::SeqCst);
        if n >= run.end {
            break;
        }
        let (kind, req, abort, sent) = request_of(n);
        let started = Instant::now();
        let mut retried = false;
        let mut stray_retry: Option<String> = None;
        let result = loop {
            let c = match conn.as_mut() {
                Some(c) => c,
                None => match Conn::open(run.port) {
                    Ok(c) => conn.insert(c),
                    Err(e) => break Err(fail(&format!("connect: {:?}", e.kind()), e.to_string())),
                },
            };
            match c.exchange(&req, abort) {
                Ok(a) => break Ok(a),
                Err(f) => {
                    conn = None;
                    if f.retryable && !retried {
                        retried = true;
                        let at = run.ms();
                        st.retries[kind.idx()] += 1;
                        *st.retry_causes.entry(f.cause.clone()).or_default() += 1;
                        st.retry_times.push(at);
                        let last = run.last_restart_ms.load(Ordering::SeqCst);
                        if last == u64::MAX || at.saturating_sub(last) > RESTART_WINDOW_MS {
                            stray_retry = Some(format!("{} ({})", f.cause, f.detail));
                        }
                        continue;
                    }
                    break Err(f);
                }
            }
        };
        let at = run.ms();
        match result {
            Ok(a) => {
                if let Some((cause, detail)) = check(kind, &sent, &a) {
                    st.record_failure(kind, n, &cause, &detail, at);
                } else if let Some(why) = &stray_retry {
                    st.record_failure(kind, n, "retried, but not near a graceful restart", why, at);
                } else {
                    st.ok[kind.idx()] += 1;
                    st.lat_us[kind.idx()].push(started.elapsed().as_micros() as u32);
                }
                if conn.as_ref().is_some_and(|c| c.closed) {
                    conn = None;
                }
            }
            Err(f) => {
                let cause = if retried {
                    format!("{} (on the retry)", f.cause)
                } else {
                    f.cause
                };
                st.record_failure(kind, n, &cause, &f.detail, at);
            }
        }
        run.done.fetch_add(1, Ordering::SeqCst);
    }
    st
}

/// Runs requests [first, end) from CLIENTS threads; `conduct` runs on this
/// thread meanwhile (the restarts).
fn load(
    port: u16,
    first: u64,
    end: u64,
    budget: Duration,
    conduct: impl FnOnce(&Run),
) -> (Stats, Duration) {
    let run = Arc::new(Run {
        port,
        end,
        next: AtomicU64::new(first),
        done: AtomicU64::new(first),
        t0: Instant::now(),
        deadline: Instant::now() + budget,
        last_restart_ms: AtomicU64::new(u64::MAX),
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let run = run.clone();
            std::thread::spawn(move || client(&run))
        })
        .collect();
    conduct(&run);
    let mut st = Stats::default();
    for c in clients {
        st.merge(c.join().expect("a client thread panicked"));
    }
    let took = run.t0.elapsed();
    let missing = end - run.done.load(Ordering::SeqCst).min(end);
    if missing > 0 {
        *st.causes
            .entry(format!("not sent: the time budget of {budget:?} ran out"))
            .or_default() += missing;
        st.not_sent += missing;
    }
    (st, took)
}

#[derive(Clone, Debug, Default)]
struct Usage {
    fds: usize,
    rss_kib: u64,
    /// fd targets by kind (socket, pipe, a file's path, ...).
    targets: BTreeMap<String, usize>,
}

fn usage(pid: i32) -> Option<Usage> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())?;
    let mut u = Usage {
        rss_kib,
        ..Usage::default()
    };
    for e in fs::read_dir(format!("/proc/{pid}/fd")).ok()?.flatten() {
        u.fds += 1;
        let t = fs::read_link(e.path())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "?".into());
        let kind = match t.split_once(':') {
            Some((k, _)) if !t.starts_with('/') => {
                if k == "anon_inode" {
                    t.clone()
                } else {
                    k.to_string()
                }
            }
            _ => t,
        };
        *u.targets.entry(kind).or_default() += 1;
    }
    Some(u)
}

struct Snapshot {
    parent_pid: i32,
    parent: Usage,
    manager_pid: i32,
    manager: Usage,
    children: Vec<(i32, Usage)>,
    apps: usize,
    apps_rss_kib: u64,
}

impl Snapshot {
    /// `drained`: managers of earlier generations (not children).
    fn take(h: &Httpd, drained: &[i32]) -> Snapshot {
        let parent_pid = h.parent_pid().expect("httpd's pid file");
        let manager_pid = h.pm_report().manager_pid;
        let children: Vec<(i32, Usage)> = h
            .httpd_children()
            .into_iter()
            .filter(|p| !drained.contains(p))
            .filter_map(|p| usage(p).map(|u| (p, u)))
            .collect();
        let apps: Vec<Usage> = h.app_pids().into_iter().filter_map(usage).collect();
        Snapshot {
            parent_pid,
            parent: usage(parent_pid).unwrap_or_default(),
            manager_pid,
            manager: usage(manager_pid).unwrap_or_default(),
            apps: apps.len(),
            apps_rss_kib: apps.iter().map(|u| u.rss_kib).sum(),
            children,
        }
    }
    fn child_fds_sum(&self) -> usize {
        self.children.iter().map(|(_, u)| u.fds).sum()
    }
    fn child_fds_max(&self) -> usize {
        self.children.iter().map(|(_, u)| u.fds).max().unwrap_or(0)
    }
    fn child_rss_sum(&self) -> u64 {
        self.children.iter().map(|(_, u)| u.rss_kib).sum()
    }
    fn child_rss_max(&self) -> u64 {
        self.children
            .iter()
            .map(|(_, u)| u.rss_kib)
            .max()
            .unwrap_or(0)
    }
    fn child_fds_avg(&self) -> f64 {
        self.child_fds_sum() as f64 / self.children.len().max(1) as f64
    }
    fn child_rss_avg(&self) -> f64 {
        self.child_rss_sum() as f64 / self.children.len().max(1) as f64
    }
    fn line(&self, label: &str) -> String {
        format!(
            "{label:<10} parent {} fds {} rss {} KiB | manager {} fds {} rss {} KiB | {} children fds sum {} max {} rss sum {} max {} KiB | {} apps rss {} KiB",
            self.parent_pid,
            self.parent.fds,
            self.parent.rss_kib,
            self.manager_pid,
            self.manager.fds,
            self.manager.rss_kib,
            self.children.len(),
            self.child_fds_sum(),
            self.child_fds_max(),
            self.child_rss_sum(),
            self.child_rss_max(),
            self.apps,
            self.apps_rss_kib,
        )
    }
}

/// Waits (bounded) until no client connection is left in the server: every
/// earlier manager has exited, old-generation children are gone, nothing is
/// busy, and the children are stable for 2 s. Err says what did not settle.
fn settle(h: &Httpd, drained: &[i32]) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last: Vec<i32> = Vec::new();
    let mut stable_since = Instant::now();
    loop {
        let alive: Vec<i32> = drained.iter().copied().filter(|&p| pid_alive(p)).collect();
        let mut kids = h.httpd_children();
        kids.retain(|p| !drained.contains(p));
        kids.sort();
        let busy = h.pm_number("busy");
        if kids != last {
            last = kids.clone();
            stable_since = Instant::now();
        }
        let stable = stable_since.elapsed() > Duration::from_secs(2);
        if alive.is_empty() && kids.len() <= MAX_CHILDREN && busy == 0 && stable {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "not settled after 90 s: drained managers still alive {alive:?} (zombies: {:?}), {} children {kids:?} (at most {MAX_CHILDREN} expected), {busy} busy",
                alive.iter().filter(|&&p| is_zombie(p)).collect::<Vec<_>>(),
                kids.len()
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn percentile(v: &mut [u32], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_unstable();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i] as f64 / 1000.0
}

fn target_diff(a: &Usage, b: &Usage) -> String {
    let mut out = String::new();
    let keys: std::collections::BTreeSet<&String> =
        a.targets.keys().chain(b.targets.keys()).collect();
    for k in keys {
        let (x, y) = (
            a.targets.get(k).unwrap_or(&0),
            b.targets.get(k).unwrap_or(&0),
        );
        if x != y {
            let _ = write!(out, " {k}: {x} -> {y};");
        }
    }
    if out.is_empty() {
        " (same fd kinds)".into()
    } else {
        out
    }
}

/// Error-log lines at warn or worse, grouped with numbers masked.
fn log_summary(log: &str) -> Vec<(String, usize)> {
    let mut groups: BTreeMap<String, usize> = BTreeMap::new();
    for l in log.lines() {
        if !common::warn_or_worse(l) {
            continue;
        }
        // Drop the "[time] [module:level] [pid N:tid M] " prefix.
        let mut rest = l;
        for _ in 0..3 {
            if let Some(i) = rest.find("] ") {
                rest = &rest[i + 2..];
            }
        }
        let masked: String = rest
            .chars()
            .map(|c| if c.is_ascii_digit() { '#' } else { c })
            .collect();
        *groups.entry(masked).or_default() += 1;
    }
    let mut v: Vec<(String, usize)> = groups.into_iter().collect();
    v.sort_by_key(|g| std::cmp::Reverse(g.1));
    v
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().replace('_', "").parse().ok())
        .unwrap_or(default)
}

#[test]
#[ignore = "the soak: minutes long; run with `make soak`"]
fn soak_200k_requests_with_graceful_restarts_and_aborts() {
    let total = env_u64("SOAK_REQUESTS", 200_000).max(1000);
    let interval = total / 10;
    let warmup = (total / 10).min(2000);
    // Bounded: a minute plus 15 ms a request (a slow, shared 2-core machine
    // runs several hundred a second).
    let budget = Duration::from_secs(env_u64("SOAK_BUDGET_SECS", 60 + total * 15 / 1000));
    println!(
        "soak: module {}, {total} requests ({warmup} warm-up first), {CLIENTS} keep-alive clients, \
         graceful restart every {interval}, 5% aborted, time budget {budget:?}",
        module_path().display()
    );

    let h = Httpd::new(
        "soak",
        Mpm::Event,
        &["hello", "echo", "big"],
        &format!(
            "StartServers {MAX_CHILDREN}\nServerLimit 16\nThreadsPerChild {THREADS_PER_CHILD}\n\
             MaxRequestWorkers {}\nMinSpareThreads {THREADS_PER_CHILD}\nMaxSpareThreads {}\n\
             MaxConnectionsPerChild 0\nKeepAlive On\nMaxKeepAliveRequests 1000\nKeepAliveTimeout 15\n",
            THREADS_PER_CHILD * MAX_CHILDREN,
            THREADS_PER_CHILD * MAX_CHILDREN,
        ),
    )
    .start();

    // Warm-up: every class has processes, every child thread ran.
    let (warm, _) = load(h.port, 0, warmup, budget, |_| {});
    settle(&h, &[]).unwrap_or_else(|e| panic!("after the warm-up: {e}\n{}", h.error_log()));
    let start = Snapshot::take(&h, &[]);
    println!("{}", start.line("start"));

    // The run, with a graceful restart every `interval` requests.
    let log_before = h.error_log().matches("resuming normal operations").count();
    let mut drained: Vec<i32> = Vec::new();
    let mut gens: Vec<String> = Vec::new();
    let mut restart_errors: Vec<String> = Vec::new();
    let (mut st, took) = load(h.port, warmup, warmup + total, budget, |run| {
        let mut restarts = 0;
        let mut next_at = warmup + interval;
        while run.done.load(Ordering::SeqCst) < run.end && Instant::now() < run.deadline {
            if restarts < 9 && run.done.load(Ordering::SeqCst) >= next_at {
                // This generation, under load, just before it is replaced.
                let s = Snapshot::take(&h, &drained);
                gens.push(s.line(&format!("gen {restarts}")));
                drained.push(s.manager_pid);
                run.last_restart_ms.store(run.ms(), Ordering::SeqCst);
                let ok = std::process::Command::new("kill")
                    .arg("-USR1")
                    .arg(s.parent_pid.to_string())
                    .status()
                    .is_ok_and(|s| s.success());
                restarts += 1;
                next_at += interval;
                let waited = Instant::now();
                loop {
                    let n = h.error_log().matches("resuming normal operations").count();
                    if ok && n >= log_before + restarts {
                        break;
                    }
                    if !ok || waited.elapsed() > Duration::from_secs(60) {
                        restart_errors.push(format!(
                            "graceful restart {restarts} at {} requests did not complete in 60 s",
                            run.done.load(Ordering::SeqCst)
                        ));
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let settled = settle(&h, &drained);
    let end = Snapshot::take(&h, &drained);
    let restarts = drained.len();
    st.merge(warm);

    // The report.
    println!("\nper generation, under load, just before its graceful restart:");
    for g in &gens {
        println!("{g}");
    }
    println!("{}", start.line("start"));
    println!("{}", end.line("end"));
    let first_child = |s: &Snapshot| s.children.first().map(|c| c.1.clone()).unwrap_or_default();
    for (who, a, b) in [
        ("parent", start.parent.clone(), end.parent.clone()),
        ("manager", start.manager.clone(), end.manager.clone()),
        ("a child", first_child(&start), first_child(&end)),
    ] {
        println!(
            "fd kinds, {who}: start {:?}\n{:>width$}end   {:?}\n{:>width$}changed:{}",
            a.targets,
            "",
            b.targets,
            "",
            target_diff(&a, &b),
            width = who.len() + 11
        );
    }
    let mut t = String::new();
    let _ = writeln!(
        t,
        "\n| kind | ok | failed | retried | p50 ms | p99 ms | max ms |"
    );
    let _ = writeln!(t, "|---|---:|---:|---:|---:|---:|---:|");
    for k in KINDS {
        let i = k.idx();
        let mut lat = std::mem::take(&mut st.lat_us[i]);
        let (p50, p99) = (percentile(&mut lat, 0.5), percentile(&mut lat, 0.99));
        let max = lat.last().map_or(0.0, |&m| m as f64 / 1000.0);
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {p50:.1} | {p99:.1} | {max:.1} |",
            k.name(),
            st.ok[i],
            st.failed[i],
            st.retries[i]
        );
    }
    let _ = writeln!(
        t,
        "| all | {} | {} (+ {} not sent) | {} | | | |",
        st.ok.iter().sum::<u64>(),
        st.failed.iter().sum::<u64>(),
        st.not_sent,
        st.retries.iter().sum::<u64>()
    );
    let _ = writeln!(
        t,
        "\n| measure | value |\n|---|---|\n| requests (+ warm-up) | {total} (+ {warmup}) |\n| aborted on purpose | {} |\n| failed | {} |\n| retried (reset before any byte on a reused connection) | {} |\n| graceful restarts | {restarts} |\n| duration of the run | {:.1} s |\n| requests/s | {:.0} |",
        st.ok[Kind::Abort.idx()],
        st.failed_total(),
        st.retries.iter().sum::<u64>(),
        took.as_secs_f64(),
        total as f64 / took.as_secs_f64(),
    );
    let _ = writeln!(
        t,
        "| parent fds / RSS | {} / {} KiB -> {} / {} KiB |",
        start.parent.fds, start.parent.rss_kib, end.parent.fds, end.parent.rss_kib
    );
    let _ = writeln!(
        t,
        "| manager fds / RSS (pid {} -> {}) | {} / {} KiB -> {} / {} KiB |",
        start.manager_pid,
        end.manager_pid,
        start.manager.fds,
        start.manager.rss_kib,
        end.manager.fds,
        end.manager.rss_kib
    );
    let _ = writeln!(
        t,
        "| httpd children | {} -> {} |\n| children fds sum / avg / max | {} / {:.1} / {} -> {} / {:.1} / {} |\n| children RSS sum / avg / max | {} / {:.0} / {} KiB -> {} / {:.0} / {} KiB |",
        start.children.len(),
        end.children.len(),
        start.child_fds_sum(),
        start.child_fds_avg(),
        start.child_fds_max(),
        end.child_fds_sum(),
        end.child_fds_avg(),
        end.child_fds_max(),
        start.child_rss_sum(),
        start.child_rss_avg(),
        start.child_rss_max(),
        end.child_rss_sum(),
        end.child_rss_avg(),
        end.child_rss_max(),
    );
    let _ = writeln!(
        t,
        "| app processes / RSS sum | {} / {} KiB -> {} / {} KiB |",
        start.apps, start.apps_rss_kib, end.apps, end.apps_rss_kib
    );
    println!("{t}");
    if !st.retry_causes.is_empty() {
        let mut times = st.retry_times.clone();
        times.sort_unstable();
        println!(
            "retries by cause: {:?}; at (s): {:?}",
            st.retry_causes,
            times.iter().map(|&m| m / 1000).collect::<Vec<_>>()
        );
    }
    if !st.causes.is_empty() {
        println!("failures by cause:");
        for (c, n) in &st.causes {
            println!("  {n:>7}  {c}");
        }
        for f in &st.failures {
            println!("  {f}");
        }
    }
    let log = h.error_log();
    println!("error log: warn or worse, grouped (digits masked):");
    for (l, n) in log_summary(&log).iter().take(30) {
        println!("  {n:>7}  {l}");
    }
    println!("final manager's report:\n{}", h.pm_status());

    // The verdict.
    let mut problems: Vec<String> = restart_errors;
    if let Err(e) = settled {
        problems.push(e);
    }
    if st.failed_total() > 0 {
        problems.push(format!(
            "{} requests failed: {:?}",
            st.failed_total(),
            st.causes
        ));
    }
    if restarts != 9 {
        problems.push(format!("{restarts} graceful restarts instead of 9"));
    }
    let mib8 = 8 * MIB;
    let flat_rss = |a: u64, b: u64| b as f64 <= a as f64 * 1.5 + mib8 as f64;
    if end.parent.fds > start.parent.fds + 4 {
        problems.push(format!(
            "the httpd parent's fds grew over {restarts} restarts: {} -> {} ({})",
            start.parent.fds,
            end.parent.fds,
            target_diff(&start.parent, &end.parent)
        ));
    }
    if !flat_rss(start.parent.rss_kib, end.parent.rss_kib) {
        problems.push(format!(
            "the httpd parent's RSS grew: {} -> {} KiB",
            start.parent.rss_kib, end.parent.rss_kib
        ));
    }
    if end.manager.fds > start.manager.fds + 16 {
        problems.push(format!(
            "the manager's fds grew: {} -> {} ({})",
            start.manager.fds,
            end.manager.fds,
            target_diff(&start.manager, &end.manager)
        ));
    }
    if !flat_rss(start.manager.rss_kib, end.manager.rss_kib) {
        problems.push(format!(
            "the manager's RSS grew: {} -> {} KiB",
            start.manager.rss_kib, end.manager.rss_kib
        ));
    }
    // Children are replaced at every restart, so compare per child: the
    // average fds and the largest RSS.
    if end.child_fds_avg() > start.child_fds_avg() + 16.0 {
        problems.push(format!(
            "httpd children's fds grew: avg {:.1} -> {:.1}",
            start.child_fds_avg(),
            end.child_fds_avg()
        ));
    }
    if !flat_rss(start.child_rss_max(), end.child_rss_max()) {
        problems.push(format!(
            "httpd children's RSS grew: max {} -> {} KiB",
            start.child_rss_max(),
            end.child_rss_max()
        ));
    }
    // Every app belongs to the last manager: at most one per client and
    // class, plus the class minimum.
    let app_bound = 3 * (CLIENTS + 3);
    if end.apps > app_bound {
        problems.push(format!(
            "{} app processes at the end (at most {app_bound} expected): apps of drained managers left behind?",
            end.apps
        ));
    }
    let zombies: Vec<i32> = h
        .processes()
        .into_iter()
        .map(|(p, _)| p)
        .filter(|&p| is_zombie(p))
        .collect();
    if !zombies.is_empty() {
        problems.push(format!("zombies left: {zombies:?}"));
    }
    if problems.is_empty() {
        println!("soak: passed");
    }
    h.stop();
    assert!(
        problems.is_empty(),
        "soak failed:\n  {}",
        problems.join("\n  ")
    );
}
