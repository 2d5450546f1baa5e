//! The process manager's event loop: accepts requests for processes from
//! httpd children, spawns and signals app processes, reaps them, and carries
//! out what the `Manager` state machine decides.

use super::policy::GlobalLimits;
use super::state::{Action, ConnId, Manager};
use super::wire::{ClassSpec, Message};
use crate::ffi::log::{main_server as log, Level};
use crate::sys;
use std::collections::{HashMap, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub struct DaemonSettings {
    /// Where httpd children reach the manager.
    pub socket: PathBuf,
    /// Where app sockets are created.
    pub ipc_dir: PathBuf,
    pub global: GlobalLimits,
}

struct Conn {
    stream: UnixStream,
    inbox: Vec<u8>,
}

struct Daemon {
    poller: sys::Poller,
    settings: DaemonSettings,
    mgr: Manager,
    conns: HashMap<ConnId, Conn>,
    next_conn: ConnId,
    pending: VecDeque<Action>,
    pid: i32,
    fds: FdBudget,
}

/// The manager's descriptor limit, and what it has said about it: a
/// manager at the limit logs once, not once per connection attempt.
struct FdBudget {
    limit: u64,
    /// The listener is out of epoll until the next tick (EMFILE or ENFILE):
    /// a level-triggered listener with a connection it cannot accept
    /// would wake the loop again at once, forever.
    paused: bool,
    said_out: bool,
    said_near: bool,
}

const WAKE_TOKEN: u64 = 0;
const LISTENER_TOKEN: u64 = 1;
/// Connection ids start above the two fixed tokens.
const FIRST_CONN: ConnId = 2;

const TICK: Duration = Duration::from_millis(100);

const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Runs the manager until it is told to stop (or, after a drain request,
/// until no request holds a process). Returns the exit code.
pub fn run(settings: DaemonSettings) -> i32 {
    let wake = match sys::install_manager_signals() {
        Ok(fd) => fd,
        Err(e) => {
            log(
                Level::Emerg,
                &format!("mod_fcgid: process manager cannot install signal handlers: {e}"),
            );
            return 1;
        }
    };
    let _ = std::fs::remove_file(&settings.socket);
    // Whoever connects here can have any command run: the httpd User only.
    let mut listener = match sys::bind_unix(&settings.socket, 0o600)
        .and_then(|l| l.set_nonblocking(true).map(|_| l))
    {
        Ok(l) => Some(l),
        Err(e) => {
            log(
                Level::Emerg,
                &format!(
                    "mod_fcgid: process manager cannot listen on {}: {e}",
                    settings.socket.display()
                ),
            );
            return 1;
        }
    };
    let poller = match sys::Poller::new().and_then(|p| {
        p.add(wake.as_raw_fd(), WAKE_TOKEN)?;
        if let Some(l) = &listener {
            p.add(l.as_raw_fd(), LISTENER_TOKEN)?;
        }
        Ok(p)
    }) {
        Ok(p) => p,
        Err(e) => {
            log(
                Level::Emerg,
                &format!("mod_fcgid: process manager cannot watch its sockets: {e}"),
            );
            return 1;
        }
    };
    let mut d = Daemon {
        poller,
        mgr: Manager::new(settings.global),
        settings,
        conns: HashMap::new(),
        next_conn: FIRST_CONN,
        pending: VecDeque::new(),
        pid: sys::getpid(),
        fds: FdBudget {
            limit: raise_fd_limit(),
            paused: false,
            said_out: false,
            said_near: false,
        },
    };
    log(
        Level::Info,
        &format!("mod_fcgid: process manager {} started", d.pid),
    );
    let mut draining = false;
    let mut next_tick = Instant::now();
    loop {
        if sys::STOP_REQUESTED.load(Ordering::SeqCst) {
            break;
        }
        if sys::DRAIN_REQUESTED.load(Ordering::SeqCst) && !draining {
            // A new generation's manager takes over the socket path; this one
            // lets its lent processes finish their requests, then exits.
            draining = true;
            if let Some(l) = listener.take() {
                d.poller.remove(l.as_raw_fd());
            }
            log(
                Level::Info,
                &format!("mod_fcgid: process manager {} draining", d.pid),
            );
        }
        if draining && d.conns.is_empty() {
            break;
        }
        let now = Instant::now();
        let wake_at = d
            .mgr
            .next_deadline()
            .map_or(next_tick, |t| t.min(next_tick));
        let ready = match d.poller.wait(wake_at.saturating_duration_since(now)) {
            Ok(r) => r,
            Err(e) => {
                log(
                    Level::Emerg,
                    &format!("mod_fcgid: process manager wait failed: {e}"),
                );
                break;
            }
        };
        for token in ready {
            match token {
                WAKE_TOKEN => {
                    // A signal: maybe SIGCHLD.
                    sys::drain_pipe(&wake);
                    d.reap();
                }
                LISTENER_TOKEN => {
                    if let Some(l) = &listener {
                        d.accept(l);
                    }
                }
                conn => d.read_conn(conn),
            }
        }
        // Timers (idle, lifetime, busy, stop grace, score) need no finer
        // grain than TICK; a waiter's deadline is honoured exactly.
        let now = Instant::now();
        if now >= next_tick || d.mgr.next_deadline().is_some_and(|t| t <= now) {
            let acts = d.mgr.tick(now);
            d.perform(acts);
            next_tick = now + TICK;
            if let Some(l) = listener.as_ref().filter(|_| d.fds.paused) {
                d.fds.paused = false;
                if let Err(e) = d.poller.add(l.as_raw_fd(), LISTENER_TOKEN) {
                    log(
                        Level::Emerg,
                        &format!("mod_fcgid: process manager cannot watch its socket: {e}"),
                    );
                    break;
                }
            }
        }
    }
    d.shutdown();
    log(
        Level::Info,
        &format!("mod_fcgid: process manager {} stopped", d.pid),
    );
    0
}

/// Writes the rest of a frame with the socket blocking for at most
/// SEND_BOUND, then makes it non-blocking again.
fn write_blocking(stream: &UnixStream, rest: &[u8]) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_write_timeout(Some(SEND_BOUND))?;
    let mut w = stream;
    let result = w.write_all(rest);
    stream.set_nonblocking(true)?;
    result
}

const SEND_BOUND: Duration = Duration::from_secs(5);

/// Raises the soft descriptor limit to the hard one (every httpd thread
/// holds a connection here); returns the limit in force.
fn raise_fd_limit() -> u64 {
    match sys::raise_nofile_limit() {
        Ok((soft, _)) => soft,
        Err(e) => {
            let soft = sys::nofile_limit().map_or(1024, |(soft, _)| soft);
            log(
                Level::Warn,
                &format!(
                    "mod_fcgid: process manager cannot raise its descriptor limit ({soft}): {e}"
                ),
            );
            soft
        }
    }
}

impl Daemon {
    fn accept(&mut self, listener: &UnixListener) {
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    let id = self.next_conn;
                    self.next_conn += 1;
                    let watched = stream
                        .set_nonblocking(true)
                        .and_then(|()| self.poller.add(stream.as_raw_fd(), id));
                    if let Err(e) = watched {
                        log(
                            Level::Err,
                            &format!("mod_fcgid: process manager cannot watch a connection: {e}"),
                        );
                        continue;
                    }
                    self.note_fd_use(stream.as_raw_fd());
                    self.conns.insert(
                        id,
                        Conn {
                            stream,
                            inbox: Vec::new(),
                        },
                    );
                }
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                    self.poller.remove(listener.as_raw_fd());
                    self.fds.paused = true;
                    // Read again: an administrator may have changed it (prlimit).
                    self.fds.limit = sys::nofile_limit().map_or(self.fds.limit, |(soft, _)| soft);
                    if !self.fds.said_out {
                        self.fds.said_out = true;
                        log(
                            Level::Err,
                            &format!(
                                "mod_fcgid: process manager cannot accept a connection: {e} \
                                 ({} connections from httpd, limit {} descriptors); new ones \
                                 wait until some close",
                                self.conns.len(),
                                self.fds.limit
                            ),
                        );
                    }
                    return;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    log(
                        Level::Err,
                        &format!("mod_fcgid: process manager accept failed: {e}"),
                    );
                    return;
                }
            }
        }
    }

    /// Accepted descriptor `fd` (descriptors are handed out lowest first, so
    /// it tells how many are open): say once when within 10% of the limit,
    /// and when accepting works again after running out.
    fn note_fd_use(&mut self, fd: i32) {
        let used = fd.max(0) as u64 + 1;
        self.fds.limit = sys::nofile_limit().map_or(self.fds.limit, |(soft, _)| soft);
        if self.fds.said_out {
            self.fds.said_out = false;
            log(
                Level::Notice,
                &format!(
                    "mod_fcgid: process manager accepts connections again ({used} of {} \
                     descriptors in use)",
                    self.fds.limit
                ),
            );
        }
        if used * 10 >= self.fds.limit * 9 {
            if !self.fds.said_near {
                self.fds.said_near = true;
                log(
                    Level::Warn,
                    &format!(
                        "mod_fcgid: process manager has {used} of its {} file descriptors in use",
                        self.fds.limit
                    ),
                );
            }
        } else if used * 10 < self.fds.limit * 8 {
            self.fds.said_near = false;
        }
    }

    fn read_conn(&mut self, id: ConnId) {
        let mut closed = false;
        let mut buf = [0u8; 8192];
        if let Some(conn) = self.conns.get_mut(&id) {
            loop {
                match conn.stream.read(&mut buf) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(n) => conn.inbox.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(_) => {
                        closed = true;
                        break;
                    }
                }
            }
        }
        loop {
            let Some(conn) = self.conns.get_mut(&id) else {
                return;
            };
            match Message::decode(&mut conn.inbox) {
                Ok(Some(msg)) => self.handle(id, msg),
                Ok(None) => break,
                Err(e) => {
                    log(
                        Level::Err,
                        &format!("mod_fcgid: process manager: {e}; closing that connection"),
                    );
                    closed = true;
                    break;
                }
            }
        }
        if closed {
            self.close(id);
        }
    }

    fn handle(&mut self, id: ConnId, msg: Message) {
        let now = Instant::now();
        let acts = match msg {
            Message::Acquire { spec, wait } => {
                // Forget processes that have exited but whose SIGCHLD is not
                // handled yet (apps that retire themselves), so none is lent.
                // The handler ran before this message was read, so its flag
                // tells: no waitpid per request (it walks every child).
                self.reap();
                self.mgr.acquire(id, spec, wait, now)
            }
            Message::Release { proc_id, outcome } => self.mgr.release(id, proc_id, outcome, now),
            Message::Reconfigure { global, .. } => self.mgr.reconfigure(global, now),
            Message::StatusQuery => {
                let report = self.mgr.report(now, self.pid);
                self.send(id, &Message::Status(report));
                Vec::new()
            }
            other => {
                log(
                    Level::Err,
                    &format!("mod_fcgid: process manager got an unexpected message {other:?}"),
                );
                Vec::new()
            }
        };
        self.perform(acts);
    }

    fn close(&mut self, id: ConnId) {
        if let Some(conn) = self.conns.remove(&id) {
            self.poller.remove(conn.stream.as_raw_fd());
            let acts = self.mgr.conn_closed(id, Instant::now());
            self.perform(acts);
        }
    }

    fn send(&mut self, id: ConnId, msg: &Message) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let mut frame = Vec::new();
        msg.encode(&mut frame);
        // The peer is waiting for exactly this frame. Grants and refusals fit
        // the socket buffer at once; a status report of thousands of classes
        // does not, and is written out blocking, its reader reading, with a
        // bound (a peer that stops reading is broken).
        let sent = match conn.stream.write(&frame) {
            Ok(n) if n == frame.len() => Ok(()),
            Ok(n) => write_blocking(&conn.stream, &frame[n..]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => write_blocking(&conn.stream, &frame),
            Err(e) => Err(e),
        };
        if sent.is_err() {
            self.close(id);
        }
    }

    fn perform(&mut self, acts: Vec<Action>) {
        self.pending.extend(acts);
        while let Some(act) = self.pending.pop_front() {
            match act {
                Action::Spawn { proc, spec } => {
                    let more = match self.spawn(proc, &spec) {
                        Ok(started) => self.mgr.spawned(proc, Some(started), Instant::now()),
                        Err(reason) => self.mgr.spawn_failed(proc, &reason, Instant::now()),
                    };
                    self.pending.extend(more);
                }
                Action::Grant { conn, proc, socket } => {
                    if self.conns.contains_key(&conn) {
                        self.send(
                            conn,
                            &Message::Granted {
                                proc_id: proc,
                                socket,
                            },
                        );
                    } else {
                        let more = self.mgr.grant_undelivered(conn, proc, Instant::now());
                        self.pending.extend(more);
                    }
                }
                // The request logs the refusal, with its client and URL.
                Action::Refuse { conn, reason } => self.send(conn, &Message::Refused { reason }),
                Action::Signal { pid, kill } => sys::signal(pid, kill),
            }
        }
    }

    /// Starts one app process; on failure, the reason (already logged).
    fn spawn(&mut self, proc: u64, spec: &ClassSpec) -> Result<(i32, Vec<u8>), String> {
        let path = self
            .settings
            .ipc_dir
            .join(format!("{}-{}.sock", self.pid, proc));
        let cmd = String::from_utf8_lossy(spec.argv.first().map(Vec::as_slice).unwrap_or(b""))
            .into_owned();
        let mut env = spec.env.clone();
        if !env.iter().any(|(k, _)| k == b"PATH") {
            let path_env = std::env::var("PATH").unwrap_or_else(|_| DEFAULT_PATH.to_string());
            env.insert(0, (b"PATH".to_vec(), path_env.into_bytes()));
        }
        let app = sys::AppCommand {
            argv: &spec.argv,
            env: &env,
            cwd: &spec.cwd,
        };
        let _ = std::fs::remove_file(&path);
        // Only the httpd User (the manager's, and the children's) may connect.
        let result = sys::bind_unix(&path, 0o600).and_then(|l| sys::spawn_app(&app, l.into()));
        match result {
            Ok(pid) => {
                log(
                    Level::Info,
                    &format!("mod_fcgid: server {cmd} (pid {pid}) started"),
                );
                Ok((pid, path.as_os_str().as_bytes().to_vec()))
            }
            Err(e) => {
                let reason = format!("cannot start {cmd}: {e}");
                log(Level::Err, &format!("mod_fcgid: {reason}"));
                let _ = std::fs::remove_file(&path);
                Err(reason)
            }
        }
    }

    /// Reaps every exited child, if SIGCHLD came since the last time. The
    /// flag is cleared before waitpid: a child exiting meanwhile sets it again.
    fn reap(&mut self) {
        if !sys::CHILD_EXITED.swap(false, Ordering::SeqCst) {
            return;
        }
        while let Some(pid) = sys::reap_any() {
            let (socket, acts) = self.mgr.exited(pid, Instant::now());
            if let Some(s) = socket {
                let _ = std::fs::remove_file(Path::new(std::ffi::OsStr::from_bytes(&s)));
            }
            self.perform(acts);
        }
    }

    /// Stops every app: SIGTERM, then SIGKILL after the grace period.
    fn shutdown(&mut self) {
        let acts = self.mgr.shutdown(Instant::now());
        self.perform(acts);
        let deadline = Instant::now() + super::state::STOP_GRACE + Duration::from_secs(2);
        while self.mgr.process_count() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            self.reap();
            let acts = self.mgr.tick(Instant::now());
            self.perform(acts);
        }
        self.conns.clear();
    }
}
