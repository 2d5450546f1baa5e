//! The httpd-child side of the process manager protocol: borrow a process
//! for one request, give it back.
//!
//! The fast path: an idle process of the class is claimed from the shared
//! table with one compare-exchange and given back the same way; the
//! manager is not woken. It is asked only when nothing is idle (it spawns
//! or queues, first come first served), when requests wait, when the
//! process must retire, or when the request went wrong. It learns where a
//! class is in the table from the first grant, and watches each child
//! (pidfd): a child killed mid-request leaves nothing marked busy.
//!
//! A process the manager lends itself lives on the connection it was
//! granted on, so a child that dies mid-request closes it and the manager
//! stops the process. Connections are kept in a small per-child pool, not
//! one per thread: the manager holds few descriptors.

use super::kept_conns::{self, end, AppStream};
use super::shared_table::{self, Mapped};
use super::socket_path::SocketPath;
use super::table::{Claim, Released};
use super::wire::{self, ClassSpec, FastRef, Message, Outcome, TableSlot};
use crate::sys;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{self, ErrorKind, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A process lent to this request.
pub struct Lease {
    how: Option<How>,
    /// Given back by `release` (the request is counted), not dropped.
    counted: bool,
    /// A class reference to learn once this lease's connection is kept as
    /// the child's watch connection.
    learn: Option<(String, FastRef)>,
    pm_socket: PathBuf,
    /// Where a granted process's current request is recorded (the table
    /// and the slot), to be cleared when it is given back.
    recorded: Option<(Arc<Mapped>, u32)>,
    pub proc_id: u64,
    /// The process's pid, as the manager knows it.
    pub pid: i32,
    pub socket: SocketPath,
    /// The connection this child kept to the process, to send on again.
    kept: Option<UnixStream>,
    /// `kept` came with the grant, from the request before on another
    /// thread or child: see `take_kept`.
    passed: bool,
    /// Ask the app to keep the connection (FCGI_KEEP_CONN): claimed from
    /// the table, for a client connection that may send more, and the
    /// process has not shown that it closes anyway; or granted, for the
    /// next request the manager lends the process to.
    pub keep: bool,
    /// The client connection the request came on.
    client: i64,
    /// The release made this client connection's first hold.
    first_hold: bool,
}

/// Client connection `id` has closed: what it held is let go.
pub fn client_closed(id: i64) {
    let mapped = shared_table::current(super::launch::table_file);
    kept_conns::client_closed(id, std::process::id(), mapped.as_ref().map(|m| &m.table));
}

/// Sends the manager a copy of `stream`, the connection to `claim`'s
/// process this child is about to hold, on the child's watch connection
/// to the manager of `table` (before the slot is held: the manager must
/// be able to break the hold the moment it sees it). Never waits: a
/// manager not reading now gets no copy, and the connection is not kept.
fn send_copy(table: u64, claim: &Claim, stream: &UnixStream) -> bool {
    let Ok(w) = WATCH.lock() else {
        return false;
    };
    let Some(watch) = w.iter().rev().find(|w| w.table == table) else {
        return false;
    };
    let mut frame = Vec::new();
    Message::Holding {
        table,
        slot: claim.slot,
        epoch: super::table::Word::unpack(claim.word).epoch,
        served: claim.served_before + 1,
    }
    .encode(&mut frame);
    use std::os::fd::AsFd;
    sys::send_with_fd(&watch.stream, &frame, stream.as_fd()).is_ok()
}

enum How {
    /// Lent by the manager on this connection.
    Granted(UnixStream),
    /// Claimed from the table.
    Claimed {
        mapped: Arc<Mapped>,
        claim: Claim,
        class: u32,
        max_requests: u32,
    },
}

#[derive(Debug)]
pub enum AcquireError {
    /// The manager could not be reached or stopped answering.
    Unreachable(io::Error),
    /// The manager answered that no process could be had.
    Refused(String),
    /// The manager answered that the class's program cannot be started.
    CannotStart(String),
}

impl std::fmt::Display for AcquireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AcquireError::Unreachable(e) => write!(f, "the process manager is unreachable: {e}"),
            AcquireError::Refused(r) | AcquireError::CannotStart(r) => f.write_str(r),
        }
    }
}

/// How long to keep retrying while the manager (re)starts.
const MANAGER_RESTART_WAIT: Duration = Duration::from_secs(5);

fn connect(pm_socket: &Path) -> io::Result<UnixStream> {
    let give_up = Instant::now() + MANAGER_RESTART_WAIT;
    loop {
        match sys::connect_unix(pm_socket, Duration::from_secs(2)) {
            Ok(s) => return Ok(s),
            Err(e)
                if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused)
                    && Instant::now() < give_up =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Reads one message, waiting up to `wait` for each read, and the
/// descriptor that came with it if any (a grant's connection); `inbox` is
/// scratch (left empty), reused between calls. The wait is in poll, not in
/// a blocked read, which the manager taking our request would wake for
/// nothing (see [`sys::wait_readable`]).
fn read_message(
    stream: &mut UnixStream,
    inbox: &mut Vec<u8>,
    wait: Duration,
) -> io::Result<(Message, Option<OwnedFd>)> {
    inbox.clear();
    let mut fds = Vec::new();
    // Small: a grant is about a hundred bytes, and this is zeroed per read.
    let mut buf = [0u8; 512];
    loop {
        if let Some(m) = Message::decode(inbox)
            .map_err(|e| io::Error::new(ErrorKind::InvalidData, e.to_string()))?
        {
            return Ok((m, fds.pop()));
        }
        if !sys::wait_readable(stream.as_raw_fd(), wait)? {
            return Err(io::Error::from_raw_os_error(libc::EAGAIN));
        }
        let n = loop {
            match sys::recv_with_fds(stream, &mut buf, &mut fds) {
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                got => break got?.0,
            }
        };
        inbox.extend_from_slice(&buf[..n]);
        if n == 0 {
            return Err(io::Error::new(
                ErrorKind::UnexpectedEof,
                "the process manager closed the connection",
            ));
        }
    }
}

/// The class used last, and every class known, by key.
type KnownClasses = (Option<(String, FastRef)>, HashMap<String, FastRef>);

thread_local! {
    /// The frame being sent and the answer being read, kept between
    /// requests so a round trip allocates nothing for them.
    static SCRATCH: RefCell<(Vec<u8>, Vec<u8>)> = const { RefCell::new((Vec::new(), Vec::new())) };
    /// Where this thread's classes are in the table, and the one it used
    /// last (most requests are for the class of the one before).
    static CLASSES: RefCell<KnownClasses> = RefCell::new((None, HashMap::new()));
}

/// A connection to the manager not in use, and the manager's pid
/// (SO_PEERCRED: after a manager is replaced, the same path names another).
struct IdleConn {
    path: PathBuf,
    manager: Option<i32>,
    stream: UnixStream,
}

/// Connections to the manager not in use, shared by the child's threads.
static IDLE_CONNS: Mutex<Vec<IdleConn>> = Mutex::new(Vec::new());
/// Connections kept beyond that are closed: most requests never need one.
const IDLE_CONNS_KEPT: usize = 4;
/// The connection this child keeps open for its life once it claims from
/// a table: when it closes, that table's manager knows the child is gone,
/// even without pidfds.
struct Watch {
    /// The table's generation.
    table: u64,
    /// Held open; never read. Copies of kept app connections go over it.
    stream: UnixStream,
    /// Its mapping, to tell whether this child still holds claims there.
    mapped: Option<Arc<Mapped>>,
}

/// The current table's watch, last; before it, those of replaced managers'
/// tables this child still holds claims on (closing one would tell that
/// draining manager this live child is dead).
static WATCH: Mutex<Vec<Watch>> = Mutex::new(Vec::new());

fn watching(table: u64) -> bool {
    WATCH
        .lock()
        .is_ok_and(|w| w.last().is_some_and(|w| w.table == table))
}

/// What every thread of the child has learnt of classes, for threads that
/// have not asked yet.
static CHILD_CLASSES: Mutex<Option<HashMap<String, FastRef>>> = Mutex::new(None);

/// A kept connection to `pm_socket`. Those to another manager than the
/// current table's (one replaced, draining) are closed: what it is told
/// about the current table it drops.
fn take_idle_conn(pm_socket: &Path) -> Option<(PathBuf, UnixStream)> {
    let current =
        shared_table::current(super::launch::table_file).and_then(|m| m.table.manager_pid());
    let mut conns = IDLE_CONNS.lock().ok()?;
    if let Some(pid) = current {
        conns.retain(|c| c.path != pm_socket || c.manager.is_none_or(|m| m == pid));
    }
    let i = conns.iter().rposition(|c| c.path == pm_socket)?;
    let c = conns.swap_remove(i);
    Some((c.path, c.stream))
}

fn keep_idle_conn(pm_socket: PathBuf, stream: UnixStream) {
    // Asked before the lock is taken: the child's threads queue on it, and
    // a system call inside made them sleep on it (futex) under load.
    let manager = sys::peer_pid(&stream);
    if let Ok(mut conns) = IDLE_CONNS.lock() {
        if conns.len() < IDLE_CONNS_KEPT {
            conns.push(IdleConn {
                path: pm_socket,
                manager,
                stream,
            });
        }
    }
}

fn class_ref(key: &str) -> Option<FastRef> {
    let known = CLASSES.with(|c| {
        let mut c = c.borrow_mut();
        let (last, all) = &mut *c;
        match last {
            Some((k, f)) if k == key => return Some(*f),
            _ => {}
        }
        let f = *all.get(key)?;
        *last = Some((key.to_string(), f));
        Some(f)
    });
    if known.is_some() {
        return known;
    }
    let f = CHILD_CLASSES.lock().ok()?.as_ref()?.get(key).copied()?;
    remember_class(key, f);
    Some(f)
}

fn remember_class(key: &str, f: FastRef) {
    CLASSES.with(|c| {
        let (last, all) = &mut *c.borrow_mut();
        all.insert(key.to_string(), f);
        *last = Some((key.to_string(), f));
    });
}

/// Keeps `stream` as the watch connection for table `f.table` (unless
/// one is kept already), then learns class `key`.
fn keep_watch(pm_socket: &Path, stream: UnixStream, key: &str, f: FastRef) {
    let Ok(mut w) = WATCH.lock() else {
        return;
    };
    if w.iter().any(|w| w.table == f.table) {
        drop(w);
        keep_idle_conn(pm_socket.to_path_buf(), stream);
    } else {
        // A new manager's table (rare): older watches go once this child
        // holds nothing there.
        retain_needed_watches(&mut w, false);
        let mapped = shared_table::current(super::launch::table_file)
            .filter(|m| m.table.generation() == f.table);
        w.push(Watch {
            table: f.table,
            stream,
            mapped,
        });
        drop(w);
    }
    learn_class(key, f);
}

/// Drops the watches of replaced managers' tables this child no longer
/// holds claims on (the current one, last, stays if `keep_last`).
fn retain_needed_watches(w: &mut Vec<Watch>, keep_last: bool) {
    let me = std::process::id();
    let last = w.len().saturating_sub(1);
    let mut i = 0;
    w.retain(|w| {
        i += 1;
        (keep_last && i - 1 == last)
            || w.mapped
                .as_ref()
                .is_some_and(|m| !m.table.claimed_by(me).is_empty())
    });
}

/// A claim on a closed (replaced) table ended: its manager, draining,
/// may exit once no child watches it any more.
fn drop_old_watches() {
    if let Ok(mut w) = WATCH.lock() {
        if w.len() > 1 {
            retain_needed_watches(&mut w, true);
        }
    }
}

fn learn_class(key: &str, f: FastRef) {
    remember_class(key, f);
    if let Ok(mut all) = CHILD_CLASSES.lock() {
        all.get_or_insert_with(HashMap::new)
            .insert(key.to_string(), f);
    }
}

/// The client connection a request came on: its id, and whether it may
/// carry another request (then a connection to the app may be kept for it).
#[derive(Clone, Copy)]
pub struct Client {
    pub id: i64,
    pub persists: bool,
}

/// Claims an idle process of `spec`'s class from the table, if this
/// child knows the class there and one is idle with nobody waiting, and
/// records `request` in its slot.
pub fn claim(spec: &ClassSpec, request: &[&[u8]], client: Client) -> Option<Lease> {
    let f = class_ref(&spec.key)?;
    let mapped = shared_table::current(super::launch::table_file)?;
    if f.table != mapped.table.generation() {
        return None;
    }
    let pid = std::process::id();
    let claim = mapped
        .table
        .claim(
            f.class,
            f.stamp,
            pid,
            sys::monotonic_ns(),
            spec.limits.max_processes,
            kept_conns::preferred(client.id, f.table, f.class),
        )
        .ok()?;
    mapped.table.set_request_info(claim.slot, request);
    let (kept, keep) = kept_conns::claimed(f.table, &claim);
    let keep = keep && client.persists;
    if claim.taken_from != 0 {
        // Taken only because nothing else was idle: held from now on for
        // this client connection, which settles on it.
        if let Some(pm_socket) = super::launch::manager_socket() {
            let msg = Message::Break {
                table: f.table,
                slot: claim.slot,
                holder: claim.taken_from,
            };
            tell(&pm_socket, &msg);
        }
    }
    Some(Lease {
        kept,
        passed: false,
        keep,
        client: client.id,
        first_hold: false,
        counted: false,
        learn: None,
        recorded: None,
        // Looked up again if it is needed (rarely): no copy per request.
        pm_socket: PathBuf::new(),
        proc_id: claim.proc_id,
        pid: claim.pid,
        socket: mapped.socket(claim.proc_id),
        how: Some(How::Claimed {
            mapped,
            claim,
            class: f.class,
            max_requests: spec.limits.max_requests,
        }),
    })
}

/// Sends a one-way message to the manager (no answer is awaited).
fn tell(pm_socket: &Path, msg: &Message) {
    let mut frame = Vec::new();
    msg.encode(&mut frame);
    if let Some((path, mut stream)) = take_idle_conn(pm_socket) {
        if stream.write_all(&frame).is_ok() {
            keep_idle_conn(path, stream);
            return;
        }
    }
    if let Ok(mut stream) = sys::connect_unix(pm_socket, Duration::from_secs(2)) {
        if stream.write_all(&frame).is_ok() {
            keep_idle_conn(pm_socket.to_path_buf(), stream);
        }
    }
}

fn ask(
    stream: &mut UnixStream,
    frame: &[u8],
    inbox: &mut Vec<u8>,
    wait: Duration,
) -> io::Result<(Message, Option<OwnedFd>)> {
    stream.write_all(frame)?;
    // The manager answers by `wait`; the margin covers a slow spawn.
    read_message(stream, inbox, wait + Duration::from_secs(10))
}

/// The manager went away without answering: closed, or reset by a manager
/// that stopped listening with our connection still in its queue.
fn never_answered(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionReset
            | ErrorKind::UnexpectedEof
            | ErrorKind::BrokenPipe
            | ErrorKind::ConnectionAborted
    )
}

/// Asks on a new connection, again while the manager is being replaced
/// (a graceful restart hands the socket path to the next generation's).
fn ask_fresh(
    pm_socket: &Path,
    frame: &[u8],
    inbox: &mut Vec<u8>,
    wait: Duration,
) -> io::Result<(UnixStream, (Message, Option<OwnedFd>))> {
    let give_up = Instant::now() + MANAGER_RESTART_WAIT;
    loop {
        let mut stream = connect(pm_socket)?;
        match ask(&mut stream, frame, inbox, wait) {
            Ok(answer) => return Ok((stream, answer)),
            Err(e) if never_answered(&e) && Instant::now() < give_up => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => return Err(e),
        }
    }
}

/// Borrows a process of `spec`'s class from the manager, waiting up to
/// `wait` for one (after `claim` found none idle); `request` (its parts
/// joined: "METHOD URI") is what the status page shows it serving.
pub fn acquire(
    pm_socket: &Path,
    spec: &ClassSpec,
    wait: Duration,
    request: &[&[u8]],
) -> Result<Lease, AcquireError> {
    SCRATCH.with(|scratch| {
        let (frame, inbox) = &mut *scratch.borrow_mut();
        frame.clear();
        wire::encode_acquire(frame, spec, wait);
        acquire_with(pm_socket, &spec.key, frame, inbox, wait, request)
    })
}

fn acquire_with(
    pm_socket: &Path,
    key: &str,
    frame: &[u8],
    inbox: &mut Vec<u8>,
    wait: Duration,
    request: &[&[u8]],
) -> Result<Lease, AcquireError> {
    let kept = take_idle_conn(pm_socket).map(|(path, mut stream)| {
        ask(&mut stream, frame, inbox, wait).map(|answer| (path, stream, answer))
    });
    let (path, stream, (answer, conn)) = match kept {
        Some(Ok(asked)) => asked,
        // A kept connection to a manager that has since gone (restart,
        // crash): it never answered, so ask the current one.
        Some(Err(e)) if !never_answered(&e) => return Err(AcquireError::Unreachable(e)),
        _ => ask_fresh(pm_socket, frame, inbox, wait)
            .map(|(stream, answer)| (pm_socket.to_path_buf(), stream, answer))
            .map_err(AcquireError::Unreachable)?,
    };
    match answer {
        Message::Granted {
            proc_id,
            pid,
            socket,
            fast,
            slot,
            with_conn,
        } => {
            // A class is claimed from only once this child keeps its watch
            // connection (this one, when the lease ends well).
            let learn = match fast {
                Some(f) if watching(f.table) => {
                    learn_class(key, f);
                    None
                }
                Some(f) => Some((key.to_string(), f)),
                None => None,
            };
            Ok(Lease {
                // The connection the process's last request ended on, when
                // the manager passed it on with the grant. Every granted
                // request asks the app to keep its connection, so that the
                // next one granted this process (requests waiting) can
                // have it.
                kept: conn.filter(|_| with_conn).map(UnixStream::from),
                passed: with_conn,
                keep: true,
                client: 0,
                first_hold: false,
                counted: false,
                learn,
                recorded: slot.and_then(|s| record(s, request)),
                how: Some(How::Granted(stream)),
                pm_socket: path,
                proc_id,
                pid,
                socket: SocketPath::Owned(PathBuf::from(OsString::from_vec(socket))),
            })
        }
        Message::Refused { reason } => {
            keep_idle_conn(path, stream);
            Err(AcquireError::Refused(reason))
        }
        Message::CannotStart { reason } => {
            keep_idle_conn(path, stream);
            Err(AcquireError::CannotStart(reason))
        }
        other => Err(AcquireError::Unreachable(io::Error::new(
            ErrorKind::InvalidData,
            format!("unexpected answer {other:?}"),
        ))),
    }
}

/// Records `request` in a granted process's slot: it is this child's
/// until given back (the manager cleared it before the grant).
fn record(at: TableSlot, request: &[&[u8]]) -> Option<(Arc<Mapped>, u32)> {
    let mapped = shared_table::current(super::launch::table_file)?;
    if mapped.table.generation() != at.table {
        return None;
    }
    mapped.table.set_request_info(at.slot, request);
    Some((mapped, at.slot))
}

impl Lease {
    /// Gives the process back, with the connection to it if it can serve
    /// the next request (the app ended this one cleanly and was asked to
    /// keep it). Dropping a lease without this gives it back as Broken.
    /// True if the connection is now held for a client connection that
    /// held none before: `client_closed` must be called when it closes.
    pub fn release(mut self, outcome: Outcome, conn: Option<AppStream>) -> bool {
        self.counted = true;
        self.give_back(outcome, conn);
        self.first_hold
    }

    /// The connection this child kept to the process, if any, for a
    /// request that is `safe` to repeat or not (asked only of a passed
    /// connection: most requests need not look). One passed on with the
    /// grant is used for a safe request only: an app that does not keep
    /// connections closes it just after its answer, and passed on that
    /// fast it may look open yet close under the next request. A safe
    /// request is repeated then (see `bridge::retry`); any other is sent on
    /// a new connection, this one ended first so the app accepts that.
    pub fn take_kept(&mut self, safe: impl FnOnce() -> bool) -> Option<UnixStream> {
        let kept = self.kept.take();
        if self.passed && kept.is_some() && !safe() {
            if let Some(k) = kept {
                end(&k);
            }
            return None;
        }
        kept
    }

    /// The kept connection had been closed by the app: it closes what it
    /// is asked to keep, so it is not asked again.
    pub fn app_closes_connections(&mut self) {
        self.keep = false;
        if let Some(How::Claimed { mapped, claim, .. }) = &self.how {
            kept_conns::closes_connections(mapped.table.generation(), claim);
        }
    }

    fn give_back(&mut self, outcome: Outcome, conn: Option<AppStream>) {
        self.clear_record();
        if let Some(k) = self.kept.take() {
            end(&k);
        }
        match self.how.take() {
            None => {}
            Some(How::Claimed { mapped, claim, .. })
                if outcome == Outcome::Broken && !self.counted =>
            {
                if let Some(c) = conn {
                    end(&c.stream);
                }
                let t = &mapped.table;
                if t.hand_back(&claim, outcome, sys::monotonic_ns()) == Released::HandBack {
                    self.hand_back(&mapped, &claim, outcome);
                }
                self.revalidate(&mapped);
            }
            Some(How::Granted(mut stream)) => {
                // The connection goes to the manager with the process, for
                // the grant it may make at once; our copy closes here.
                let conn =
                    conn.filter(|c| outcome == Outcome::Done && !sys::peer_hung_up(&c.stream));
                let sent = SCRATCH.with(|scratch| {
                    let frame = &mut scratch.borrow_mut().0;
                    let release = |frame: &mut Vec<u8>, with_conn| {
                        frame.clear();
                        Message::Release {
                            proc_id: self.proc_id,
                            outcome,
                            with_conn,
                        }
                        .encode(frame);
                    };
                    if let Some(c) = &conn {
                        release(frame, true);
                        match sys::send_with_fd(&stream, frame, c.stream.as_fd()) {
                            Ok(()) => return true,
                            // Part of it went: the stream is out of step.
                            Err(e) if e.kind() == ErrorKind::WriteZero => return false,
                            // Nothing went: without the connection, then.
                            Err(_) => end(&c.stream),
                        }
                    }
                    release(frame, false);
                    stream.write_all(frame).is_ok()
                });
                // Broken: the connection closes with it, as the manager expects.
                if sent && outcome != Outcome::Broken {
                    match self.learn.take() {
                        Some((key, f)) => keep_watch(&self.pm_socket, stream, &key, f),
                        None => keep_idle_conn(std::mem::take(&mut self.pm_socket), stream),
                    }
                }
            }
            Some(How::Claimed {
                mapped,
                claim,
                class,
                max_requests,
            }) => {
                let t = &mapped.table;
                let table = t.generation();
                let bad = outcome != Outcome::Done;
                let now = sys::monotonic_ns();
                // Held only once the manager has its copy of the connection.
                let conn = conn.filter(|c| {
                    // Sending the copy wakes the manager: not for a hold
                    // that `release` would not make.
                    let mut copied = c.reused;
                    let keep = !bad
                        && self.keep
                        && t.may_hold(class, &claim, now)
                        && (c.reused || {
                            copied = true;
                            send_copy(table, &claim, &c.stream)
                        });
                    if !keep && copied {
                        // The manager may have a copy: ended, so the app
                        // accepts the next claimant's connection at once.
                        // Ours alone closes as the filter drops it, also
                        // before the slot is free.
                        end(&c.stream);
                    }
                    keep
                });
                let release = |keep| t.release(&claim, class, max_requests, outcome, keep, now);
                let released = match conn {
                    Some(c) => {
                        let (released, first) = kept_conns::release_holding(
                            self.client,
                            table,
                            class,
                            &claim,
                            c.stream,
                            release,
                        );
                        self.first_hold = first;
                        released
                    }
                    None => release(false),
                };
                match released {
                    Released::Idle | Released::Held | Released::Gone => {}
                    Released::Nudge => {
                        if let Some(pm_socket) = self.manager() {
                            tell(&pm_socket, &Message::Nudge { table, class });
                        }
                    }
                    Released::HandBack => self.hand_back(&mapped, &claim, outcome),
                }
                if bad {
                    self.revalidate(&mapped);
                }
                if t.closed() {
                    drop_old_watches();
                }
            }
        }
    }

    /// A granted process's request has ended: before the manager hears
    /// of it, so it is never cleared under the next holder.
    fn clear_record(&mut self) {
        if let Some((mapped, slot)) = self.recorded.take() {
            mapped.table.set_request_info(slot, &[]);
        }
    }

    /// The manager's socket (a claimed lease keeps none).
    fn manager(&self) -> Option<PathBuf> {
        if self.pm_socket.as_os_str().is_empty() {
            super::launch::manager_socket()
        } else {
            Some(self.pm_socket.clone())
        }
    }

    /// Wakes the manager for a slot Returned in the table (a wake-up only:
    /// lost, the manager's tick finds the slot anyway).
    fn hand_back(&self, mapped: &Mapped, claim: &Claim, outcome: Outcome) {
        let Some(pm_socket) = self.manager() else {
            return;
        };
        tell(
            &pm_socket,
            &Message::HandBack {
                table: mapped.table.generation(),
                slot: claim.slot,
                proc_id: claim.proc_id,
                outcome,
            },
        );
    }

    /// A manager replaced under us (it died): map the new table.
    fn revalidate(&self, mapped: &Mapped) {
        if let Some(path) = super::launch::table_file() {
            shared_table::revalidate(&path, mapped);
        }
    }
}

impl Drop for Lease {
    /// Unreturned: the request was cut or never reached the process. As
    /// a closed connection, it is not counted as served.
    fn drop(&mut self) {
        self.counted = false;
        match &self.how {
            // Closing the connection tells the manager.
            Some(How::Granted(_)) => {
                self.clear_record();
                self.how = None
            }
            _ => self.give_back(Outcome::Broken, None),
        }
    }
}

/// Hands the manager a new configuration's server-wide limits (from the
/// httpd parent, at a graceful restart that keeps the manager).
pub fn reconfigure(
    pm_socket: &Path,
    global: super::policy::GlobalLimits,
    allow: super::allow::AllowList,
) -> io::Result<()> {
    let mut stream = sys::connect_unix(pm_socket, Duration::from_secs(2))?;
    let mut frame = Vec::new();
    Message::Reconfigure { global, allow }.encode(&mut frame);
    stream.write_all(&frame)
}

/// Asks the manager to describe its pools.
pub fn status(pm_socket: &Path) -> io::Result<super::report::StatusReport> {
    let mut stream = sys::connect_unix(pm_socket, Duration::from_secs(2))?;
    let mut frame = Vec::new();
    Message::StatusQuery.encode(&mut frame);
    stream.write_all(&frame)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    read_report(&mut stream)
}

/// Reads the report's frames (a head, then a frame per class) until its
/// last class; the buffer is drained once per read, not once per frame.
fn read_report(stream: &mut UnixStream) -> io::Result<super::report::StatusReport> {
    let invalid = |e: wire::WireError| io::Error::new(ErrorKind::InvalidData, e.to_string());
    let mut gather = super::report::Gather::default();
    let mut inbox = Vec::new();
    loop {
        let mut at = 0;
        while let Some((msg, used)) = Message::decode_at(&inbox[at..]).map_err(invalid)? {
            at += used;
            if let Some(report) = gather.push(msg).map_err(invalid)? {
                return Ok(report);
            }
        }
        inbox.drain(..at);
        if sys::read_append(stream, &mut inbox, 64 * 1024)? == 0 {
            return Err(io::Error::new(
                ErrorKind::UnexpectedEof,
                "the process manager closed the connection",
            ));
        }
    }
}
