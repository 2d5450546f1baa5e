//! The process manager's event loop: accepts requests for processes from
//! httpd children, spawns and signals app processes, reaps them, and carries
//! out what the `Manager` state machine decides.

use super::paired_fds::PairedFds;
use super::policy::GlobalLimits;
use super::refuse_kind::{RefuseKind, SpawnStage};
use super::state::{Action, ConnId, Manager};
use super::table::SlotState;
use super::wire::{ClassSpec, Message, Outcome, TableSlot};
use crate::ffi::log::{main_server as log, Level};
use crate::ffi::process;
use crate::sys;
use std::collections::{HashMap, VecDeque};
use std::io::{ErrorKind, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
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
    /// The programs the configuration lets it start.
    pub allow: super::allow::AllowList,
    /// The shared process table children claim from (None: they cannot;
    /// every request then comes here).
    pub table: Option<super::table::Table>,
}

struct Conn {
    stream: UnixStream,
    inbox: Vec<u8>,
    /// Descriptors received and not yet taken by their message (Holding,
    /// Release).
    fds: PairedFds<OwnedFd>,
    /// Who connected (SO_PEERCRED): the claimant its hand-backs speak for.
    pid: Option<i32>,
}

/// The httpd children that may claim from the table: when one dies, what
/// it had claimed is freed. Two signs of a death, either enough: its pidfd
/// fires, or its last connection here closes (a child that claims keeps
/// one open for its life: the sign where pidfds are missing, as under
/// valgrind or before Linux 5.3).
struct Claimants {
    /// False when the table is not in use: grants then tell nothing of it.
    enabled: bool,
    pidfds: bool,
    watched: HashMap<i32, std::os::fd::OwnedFd>,
    /// Open connections by peer pid.
    conns: HashMap<i32, u32>,
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
    suexec: Suexec,
    claimants: Claimants,
    /// Copies of the connections children keep to apps.
    held: super::held_conns::HeldConns,
    /// The connection that came with the Release being handled, and its
    /// process: it goes with that process's grant if the release makes
    /// one, and is ended when the handling is done otherwise.
    passing: Option<(u64, OwnedFd)>,
}

/// Running apps as other users through httpd's suexec.
struct Suexec {
    /// The httpd User and Group: classes with these ids run directly.
    user: (u32, u32),
    enabled: bool,
    bin: Vec<u8>,
    log: String,
    /// Apps started through suexec and not reaped yet.
    started: HashMap<i32, SuexecStart>,
    /// Classes already told that suexec drops some of their FcgidInitialEnv.
    warned: std::collections::HashSet<String>,
}

struct SuexecStart {
    program: String,
    uid: u32,
    gid: u32,
    at: Instant,
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

/// Poll tokens with this bit are pidfds; the rest of the token is the pid.
const PIDFD_TOKEN: u64 = 1 << 62;

const WAKE_TOKEN: u64 = 0;
const LISTENER_TOKEN: u64 = 1;
/// Connection ids start above the two fixed tokens.
const FIRST_CONN: ConnId = 2;

const TICK: Duration = Duration::from_millis(100);

const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Runs the manager until it is told to stop (or, after a drain request,
/// until no request holds a process). Returns the exit code.
pub fn run(settings: DaemonSettings) -> i32 {
    let mut settings = settings;
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
    let me = sys::getpid();
    let stale = super::ipc_dir::remove_stale_sockets(&settings.ipc_dir, me, sys::is_running);
    if stale > 0 {
        log(
            Level::Info,
            &format!(
                "mod_fcgid: removed {stale} app sockets left in {} by a process manager that is gone",
                settings.ipc_dir.display()
            ),
        );
    }
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
    let table_in_use = settings.table.is_some();
    let mgr = match settings.table.take() {
        Some(table) => {
            let clock = super::table::Clock {
                base: Instant::now(),
                base_ns: sys::monotonic_ns(),
            };
            Manager::with_table(settings.global, table, clock)
        }
        None => Manager::new(settings.global),
    };
    let mut d = Daemon {
        poller,
        mgr,
        settings,
        claimants: Claimants {
            enabled: table_in_use,
            pidfds: true,
            watched: HashMap::new(),
            conns: HashMap::new(),
        },
        conns: HashMap::new(),
        held: Default::default(),
        passing: None,
        next_conn: FIRST_CONN,
        pending: VecDeque::new(),
        pid: sys::getpid(),
        fds: FdBudget {
            limit: raise_fd_limit(),
            paused: false,
            said_out: false,
            said_near: false,
        },
        suexec: Suexec {
            user: process::httpd_user(),
            enabled: process::suexec_enabled(),
            bin: process::suexec_bin().to_bytes().to_vec(),
            log: process::suexec_log().to_string_lossy().into_owned(),
            started: HashMap::new(),
            warned: Default::default(),
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
            // Children claim from the next generation's table now.
            d.mgr.table().close();
            log(
                Level::Info,
                &format!("mod_fcgid: process manager {} draining", d.pid),
            );
        }
        // Processes claimed from the table count as lent too.
        if draining && d.conns.is_empty() && d.mgr.claimed_count() == 0 {
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
                pidfd if pidfd & PIDFD_TOKEN != 0 => d.claimant_gone((pidfd & !PIDFD_TOKEN) as i32),
                conn => d.read_conn(conn, false),
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
/// holds a connection here: systemd's soft 1024 is too few for a big
/// host); says so with the numbers; returns the limit in force.
fn raise_fd_limit() -> u64 {
    let before = sys::nofile_limit().map_or(0, |(soft, _)| soft);
    match sys::raise_nofile_limit() {
        Ok((soft, _)) => {
            if soft > before {
                log(
                    Level::Info,
                    &format!(
                        "mod_fcgid: process manager raised its descriptor limit from {before} \
                         to {soft} (the hard limit); apps start with {before}"
                    ),
                );
            }
            soft
        }
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

impl Suexec {
    /// An app started through suexec exited. One that fails soon after its
    /// start was most likely refused by suexec, which says why only in its
    /// own log: name suexec, the reason its exit status stands for, and
    /// that log.
    fn exited(&self, pid: i32, start: &SuexecStart, how: sys::Exit) {
        let sys::Exit::Code(code) = how else {
            return;
        };
        if code == 0 || start.at.elapsed() > super::state::EARLY_DEATH {
            return;
        }
        let why = suexec_refusal(code).map_or_else(
            || "if suexec refused it".to_string(),
            |w| format!("suexec's status for \"{w}\""),
        );
        let log_file = if self.log.is_empty() {
            "syslog".to_string()
        } else {
            self.log.clone()
        };
        log(
            Level::Err,
            &format!(
                "mod_fcgid: {} (pid {pid}, started through suexec as uid {} gid {}) exited \
                 with status {code} right after starting ({why}); suexec logs why in {log_file}",
                start.program, start.uid, start.gid
            ),
        );
    }
}

/// The command that makes suexec run `argv` as `uid`:`gid`, and the
/// directory to run it in: suexec wants the program as a name relative to
/// its working directory (`suexec UID GID name args…`), run from the
/// program's own directory, as httpd's `ap_os_create_privileged_process`
/// does. None for a program that is not an absolute path.
fn suexec_command(
    bin: &[u8],
    argv: &[Vec<u8>],
    uid: u32,
    gid: u32,
) -> Option<(Vec<Vec<u8>>, Vec<u8>)> {
    let (program, args) = argv.split_first()?;
    let path = Path::new(std::ffi::OsStr::from_bytes(program));
    if !path.is_absolute() {
        return None;
    }
    let dir = path.parent()?.as_os_str().as_bytes().to_vec();
    let name = path.file_name()?.as_bytes().to_vec();
    let mut cmd = vec![
        bin.to_vec(),
        uid.to_string().into_bytes(),
        gid.to_string().into_bytes(),
        name,
    ];
    cmd.extend(args.iter().cloned());
    Some((cmd, dir))
}

/// Does suexec pass variable `name` on to the app? It keeps only names
/// starting with HTTP_ or SSL_ and a fixed list of CGI variables (and sets
/// PATH itself).
fn suexec_passes(name: &[u8]) -> bool {
    const PASSED: &[&str] = &[
        "AUTH_TYPE",
        "CONTENT_LENGTH",
        "CONTENT_TYPE",
        "CONTEXT_DOCUMENT_ROOT",
        "CONTEXT_PREFIX",
        "DATE_GMT",
        "DATE_LOCAL",
        "DOCUMENT_ARGS",
        "DOCUMENT_NAME",
        "DOCUMENT_PATH_INFO",
        "DOCUMENT_ROOT",
        "DOCUMENT_URI",
        "GATEWAY_INTERFACE",
        "HTTPS",
        "LAST_MODIFIED",
        "PATH",
        "PATH_INFO",
        "PATH_TRANSLATED",
        "QUERY_STRING",
        "QUERY_STRING_UNESCAPED",
        "REMOTE_ADDR",
        "REMOTE_HOST",
        "REMOTE_IDENT",
        "REMOTE_PORT",
        "REMOTE_USER",
        "REDIRECT_ERROR_NOTES",
        "REDIRECT_HANDLER",
        "REDIRECT_QUERY_STRING",
        "REDIRECT_REMOTE_USER",
        "REDIRECT_SCRIPT_FILENAME",
        "REDIRECT_STATUS",
        "REDIRECT_URL",
        "REQUEST_METHOD",
        "REQUEST_URI",
        "REQUEST_SCHEME",
        "SCRIPT_FILENAME",
        "SCRIPT_NAME",
        "SCRIPT_URI",
        "SCRIPT_URL",
        "SERVER_ADMIN",
        "SERVER_NAME",
        "SERVER_ADDR",
        "SERVER_PORT",
        "SERVER_PROTOCOL",
        "SERVER_SIGNATURE",
        "SERVER_SOFTWARE",
        "UNIQUE_ID",
        "USER_NAME",
        "TZ",
    ];
    name.starts_with(b"HTTP_")
        || name.starts_with(b"SSL_")
        || PASSED.iter().any(|p| p.as_bytes() == name)
}

/// What httpd 2.4's suexec means by exit status `code` (it logs the
/// details in its own log).
fn suexec_refusal(code: i32) -> Option<&'static str> {
    Some(match code {
        102 | 103 => "the caller is not the user suexec was built for",
        104 => "invalid command",
        105 => "unknown target user",
        106 => "unknown target group",
        107 => "target uid is root or below suexec's minimum",
        108 => "target gid is root or below suexec's minimum",
        109 | 110 => "cannot switch to the target user or group",
        113 | 114 => "the program is not under suexec's document root",
        115 | 117 => "cannot stat the directory or the program",
        116 => "the directory is writable by others",
        118 => "the program is writable by others",
        119 => "the program is setuid or setgid",
        120 => "the directory or the program is not owned by the target user and group",
        121 => "the program is not executable",
        255 => "exec failed",
        _ => return None,
    })
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
                    let pid = sys::peer_pid(&stream);
                    if let Some(pid) = pid {
                        self.watch_claimant(pid);
                    }
                    self.conns.insert(
                        id,
                        Conn {
                            stream,
                            inbox: Vec::new(),
                            fds: PairedFds::default(),
                            pid,
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

    /// Accepted descriptor `fd`: say once when within 10% of the limit, and
    /// when accepting works again after running out. Descriptors are handed
    /// out lowest first, so `fd` tells how many are open only while none
    /// below it was closed; the connections held are counted too, so a
    /// low number reused in the middle of a burst does not re-arm the
    /// warning (it would log again a moment later).
    fn note_fd_use(&mut self, fd: i32) {
        let used = (fd.max(0) as u64 + 1).max(self.conns.len() as u64);
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

    /// Reads and handles what connection `id` has sent: everything queued
    /// if `all`, else up to a short read (epoll is level-triggered and
    /// reports the rest; a read that only meets EAGAIN is a syscall per
    /// message wasted, and under a queue every request brings two).
    ///
    /// What each read brings is handled before the next read. Descriptors
    /// are paired with their message by stream offset (`Conn::fds`): one
    /// the kernel dropped (no room here) is missed by its own message only,
    /// never taken by an earlier one from a later message, also when that
    /// earlier one was cut across two reads.
    fn read_conn(&mut self, id: ConnId, all: bool) {
        let mut buf = [0u8; 8192];
        let mut fds = Vec::new();
        loop {
            let Some(conn) = self.conns.get_mut(&id) else {
                return;
            };
            let got = sys::recv_with_fds(&conn.stream, &mut buf, &mut fds);
            // more: read again now; ended: the peer closed, or the read failed.
            let (more, ended) = match got {
                Ok((0, _)) => (false, true),
                Ok((n, _)) => {
                    conn.fds.read(n, fds.drain(..));
                    conn.inbox.extend_from_slice(&buf[..n]);
                    (all || n == buf.len(), false)
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => (false, false),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => (false, true),
            };
            if !self.handle_inbox(id) || ended {
                self.close(id);
                return;
            }
            if !more {
                return;
            }
        }
    }

    /// Handles every whole message in connection `id`'s inbox; false if
    /// one could not be decoded (the connection is then closed).
    fn handle_inbox(&mut self, id: ConnId) -> bool {
        loop {
            let Some(conn) = self.conns.get_mut(&id) else {
                return true;
            };
            let before = conn.inbox.len();
            match Message::decode(&mut conn.inbox) {
                Ok(Some(msg)) => {
                    conn.fds.decoded(before - conn.inbox.len());
                    self.handle(id, msg)
                }
                Ok(None) => return true,
                Err(e) => {
                    log(
                        Level::Err,
                        &format!("mod_fcgid: process manager: {e}; closing that connection"),
                    );
                    return false;
                }
            }
        }
    }

    fn handle(&mut self, id: ConnId, msg: Message) {
        let now = Instant::now();
        let acts = match msg {
            Message::Acquire { spec, wait } => {
                if let Err(reason) = self.check_allowed(&spec) {
                    log(Level::Err, &format!("mod_fcgid: process manager: {reason}"));
                    self.send(id, &Message::Refused { reason });
                    return;
                }
                // Forget processes that have exited but whose SIGCHLD is not
                // handled yet (apps that retire themselves), so none is lent.
                // The handler ran before this message was read, so its flag
                // tells: no waitpid per request (it walks every child).
                self.reap();
                self.mgr.acquire(id, spec, wait, now)
            }
            Message::Release {
                proc_id,
                outcome,
                with_conn,
            } => {
                // Taken even for an outcome that ends the process, so no
                // descriptor is left for a later message to take.
                let fd = with_conn.then(|| self.take_fd(id)).flatten();
                self.passing = fd
                    .filter(|_| outcome == Outcome::Done)
                    .map(|fd| (proc_id, fd));
                self.mgr.release(id, proc_id, outcome, now)
            }
            // Another manager's table (one that drained): not ours to judge.
            // A wake-up: the slot says what was handed back, and how.
            Message::HandBack { table, proc_id, .. } if table == self.mgr.table().generation() => {
                self.mgr.hand_back(proc_id, now)
            }
            Message::Nudge { table, class } if table == self.mgr.table().generation() => {
                self.mgr.nudge(class, now)
            }
            Message::Holding {
                table,
                slot,
                epoch,
                served,
            } => {
                let fd = self.take_fd(id);
                let holder = self.conns.get(&id).and_then(|c| c.pid);
                // Sent while the slot was its sender's (claimed, or held
                // once released): anything else is a hold already broken.
                let current = table == self.mgr.table().generation()
                    && slot < self.mgr.table().slots()
                    && holder.is_some_and(|h| {
                        let w = self.mgr.table().read(slot).word;
                        w.epoch == epoch
                            && w.pid == h as u32
                            && (w.state.claimed() || w.state == SlotState::Idle)
                    });
                match (fd, holder) {
                    (Some(fd), Some(holder)) if current => {
                        self.held.keep(slot, holder as u32, served, fd)
                    }
                    (Some(fd), _) => super::held_conns::end_unkept(fd),
                    (None, _) => {}
                }
                Vec::new()
            }
            Message::Break {
                table,
                slot,
                holder,
            } if table == self.mgr.table().generation() => {
                self.drop_hold(slot, holder, true);
                Vec::new()
            }
            Message::HandBack { .. } | Message::Nudge { .. } | Message::Break { .. } => Vec::new(),
            Message::Reconfigure { global, allow } => {
                self.settings.allow = allow;
                self.mgr.reconfigure(global, now)
            }
            Message::StatusQuery => {
                let report = self.mgr.report(now, self.pid);
                let mut frames = Vec::new();
                super::report::encode_frames(&mut frames, &report);
                self.send_bytes(id, &frames);
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
        if let Some((_, fd)) = self.passing.take() {
            // Not lent on at once: the app goes back to accepting.
            super::held_conns::end_unkept(fd);
        }
    }

    /// The descriptor that came with the message being handled on `id`, if
    /// it came; those of earlier messages that did not take theirs are
    /// ended on the way.
    fn take_fd(&mut self, id: ConnId) -> Option<OwnedFd> {
        let conn = self.conns.get_mut(&id)?;
        conn.fds.take(super::held_conns::end_unkept)
    }

    fn close(&mut self, id: ConnId) {
        if let Some(conn) = self.conns.remove(&id) {
            self.poller.remove(conn.stream.as_raw_fd());
            let acts = self.mgr.conn_closed(id, Instant::now());
            self.perform(acts);
            if let Some(pid) = conn.pid {
                let left = self.claimants.conns.get_mut(&pid).map(|n| {
                    *n -= 1;
                    *n
                });
                if left == Some(0) {
                    self.claimants.conns.remove(&pid);
                    // A pidfd is the sure sign: a live child may close its
                    // last connection here (its watch moved to a new
                    // manager's table) and still use what it claimed.
                    if !self.claimants.watched.contains_key(&pid) {
                        self.claimant_gone(pid);
                    }
                }
            }
        }
    }

    /// Whoever reaches the socket names the class: start only what the
    /// configuration names (links resolved first).
    fn check_allowed(&self, spec: &ClassSpec) -> Result<(), String> {
        use std::os::unix::ffi::{OsStrExt, OsStringExt};
        let exe = spec.argv.first().map(Vec::as_slice).unwrap_or(b"");
        // The path as named first: resolving links costs a stat per path
        // component, on every request.
        if self.settings.allow.allows(exe) {
            return Ok(());
        }
        let real = std::fs::canonicalize(std::ffi::OsStr::from_bytes(exe))
            .map(|p| p.into_os_string().into_vec())
            .unwrap_or_else(|_| exe.to_vec());
        if self.settings.allow.allows(&real) {
            return Ok(());
        }
        Err(format!(
            "refused to start {}: it is neither a command the configuration names \
             (FcgidWrapper, FcgidCmdOptions, an authorizer) nor a script below a \
             DocumentRoot or <Directory> of this server",
            String::from_utf8_lossy(exe)
        ))
    }

    fn send(&mut self, id: ConnId, msg: &Message) {
        let mut frame = Vec::new();
        msg.encode(&mut frame);
        self.send_bytes(id, &frame);
    }

    /// Sends a grant with the connection to its process. Should nothing
    /// go (the waiter's socket full, never seen), the grant goes without
    /// it, and the connection is ended.
    fn send_with_conn(&mut self, id: ConnId, mut granted: Message, fd: OwnedFd) {
        let Some(conn) = self.conns.get(&id) else {
            return;
        };
        let mut frame = Vec::new();
        granted.encode(&mut frame);
        match sys::send_with_fd(&conn.stream, &frame, fd.as_fd()) {
            Ok(()) => {}
            // A short write or a gone peer, as in `send_bytes`.
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WriteZero | ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
                ) =>
            {
                self.close(id)
            }
            // Nothing went (a full socket, the peer at its descriptor
            // limit): the grant goes without the connection.
            Err(_) => {
                if let Message::Granted { with_conn, .. } = &mut granted {
                    *with_conn = false;
                }
                super::held_conns::end_unkept(fd);
                self.send(id, &granted);
            }
        }
    }

    /// Sends whole frames.
    fn send_bytes(&mut self, id: ConnId, frame: &[u8]) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        // The peer is waiting for exactly this frame. Grants and refusals fit
        // the socket buffer at once; a status report of thousands of classes
        // does not, and is written out blocking, its reader reading, with a
        // bound (a peer that stops reading is broken).
        let sent = match conn.stream.write(frame) {
            Ok(n) if n == frame.len() => Ok(()),
            Ok(n) => write_blocking(&conn.stream, &frame[n..]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => write_blocking(&conn.stream, frame),
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
                Action::Spawn { proc, spec } => match self.spawn(proc, &spec) {
                    Ok(started) => {
                        let more = self.mgr.spawned(proc, Some(started), Instant::now());
                        self.pending.extend(more);
                    }
                    Err((kind, reason)) => {
                        let more = self.mgr.spawn_failed(proc, &reason, kind, Instant::now());
                        // Each request told logs the reason itself, with its client.
                        if !more.iter().any(|a| matches!(a, Action::Refuse { .. })) {
                            log(Level::Err, &format!("mod_fcgid: {reason}"));
                        }
                        self.pending.extend(more);
                    }
                },
                Action::Grant { conn, proc, socket } => {
                    if let Some(c) = self.conns.get(&conn) {
                        // Only a child we know may claim: its death must
                        // free what it claimed.
                        let watched = c.pid.is_some_and(super::table::pid_fits);
                        let fast = (self.claimants.enabled && watched)
                            .then(|| self.mgr.class_of(proc).and_then(|k| self.mgr.fast_ref(k)))
                            .flatten();
                        // The child records its request there; what an
                        // earlier holder left (it died) goes first.
                        let slot = self.mgr.slot_of(proc).map(|slot| {
                            self.mgr.table().set_request_info(slot, &[]);
                            TableSlot {
                                table: self.mgr.table().generation(),
                                slot,
                            }
                        });
                        let passed = self.passing.take_if(|(p, _)| *p == proc);
                        let granted = Message::Granted {
                            proc_id: proc,
                            pid: self.mgr.pid_of(proc),
                            socket,
                            fast,
                            slot,
                            with_conn: passed.is_some(),
                        };
                        match passed {
                            Some((_, fd)) => self.send_with_conn(conn, granted, fd),
                            None => self.send(conn, &granted),
                        }
                    } else {
                        let more = self.mgr.grant_undelivered(conn, proc, Instant::now());
                        self.pending.extend(more);
                    }
                }
                // The request logs the refusal, with its client and URL.
                Action::Refuse { conn, reason, kind } => {
                    let msg = match kind {
                        RefuseKind::Unavailable => Message::Refused { reason },
                        RefuseKind::CannotStart => Message::CannotStart { reason },
                    };
                    self.send(conn, &msg);
                }
                Action::Signal { pid, kill } => sys::signal(pid, kill),
                Action::DropHold { slot, holder, proc } => {
                    self.drop_hold(slot, holder, proc.is_some())
                }
                Action::Warn { message } => log(Level::Warn, &message),
            }
        }
    }

    /// Starts one app process; on failure, the reason (for the log) and
    /// whether the program cannot run at all (500) or may later (503).
    fn spawn(
        &mut self,
        proc: u64,
        spec: &ClassSpec,
    ) -> Result<(i32, Vec<u8>), (RefuseKind, String)> {
        let path = self
            .settings
            .ipc_dir
            .join(format!("{}-{}.sock", self.pid, proc));
        let cmd = String::from_utf8_lossy(spec.argv.first().map(Vec::as_slice).unwrap_or(b""))
            .into_owned();
        let via_suexec = (spec.uid, spec.gid) != self.suexec.user;
        let (argv, cwd) = if via_suexec {
            if !self.suexec.enabled {
                return Err((
                    RefuseKind::CannotStart,
                    format!(
                        "cannot start {cmd} as uid {} gid {}: httpd's suexec is not enabled ({})",
                        spec.uid,
                        spec.gid,
                        process::suexec_disabled_reason()
                    ),
                ));
            }
            match suexec_command(&self.suexec.bin, &spec.argv, spec.uid, spec.gid) {
                Some(c) => c,
                None => {
                    let why = "its command must be an absolute path";
                    let reason = format!("cannot start {cmd} through suexec: {why}");
                    return Err((RefuseKind::CannotStart, reason));
                }
            }
        } else {
            (spec.argv.clone(), spec.cwd.clone())
        };
        let mut env = spec.env.clone();
        if via_suexec && self.suexec.warned.insert(spec.key.clone()) {
            let dropped: Vec<String> = env
                .iter()
                .filter(|(k, _)| !suexec_passes(k))
                .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
                .collect();
            if !dropped.is_empty() {
                log(
                    Level::Warn,
                    &format!(
                        "mod_fcgid: suexec passes only its own list of variables to {cmd}: \
                         FcgidInitialEnv {} will not reach it (set them in a wrapper script)",
                        dropped.join(", ")
                    ),
                );
            }
        }
        if !env.iter().any(|(k, _)| k == b"PATH") {
            let path_env = std::env::var("PATH").unwrap_or_else(|_| DEFAULT_PATH.to_string());
            env.insert(0, (b"PATH".to_vec(), path_env.into_bytes()));
        }
        // As C's apps (httpd's ap_create_environment): httpd's own
        // LD_LIBRARY_PATH and TZ, unless FcgidInitialEnv sets them.
        for name in ["LD_LIBRARY_PATH", "TZ"] {
            if let Some(v) = std::env::var_os(name) {
                if !env.iter().any(|(k, _)| k == name.as_bytes()) {
                    use std::os::unix::ffi::OsStrExt;
                    env.push((name.as_bytes().to_vec(), v.as_bytes().to_vec()));
                }
            }
        }
        let app = sys::AppCommand {
            argv: &argv,
            env: &env,
            cwd: &cwd,
        };
        let _ = std::fs::remove_file(&path);
        // Only the httpd User (the manager's, and the children's) may connect.
        let result = sys::bind_unix(&path, 0o600)
            .map_err(|e| (SpawnStage::Prepare, e))
            .and_then(|l| {
                sys::spawn_app(&app, l.into()).map_err(|e| (SpawnStage::Exec(e.raw_os_error()), e))
            });
        match result {
            Ok(pid) => {
                let how = if via_suexec {
                    self.suexec.started.insert(
                        pid,
                        SuexecStart {
                            program: cmd.clone(),
                            uid: spec.uid,
                            gid: spec.gid,
                            at: Instant::now(),
                        },
                    );
                    format!(" through suexec as uid {} gid {}", spec.uid, spec.gid)
                } else {
                    String::new()
                };
                log(
                    Level::Info,
                    &format!("mod_fcgid: server {cmd} (pid {pid}) started{how}"),
                );
                Ok((pid, path.as_os_str().as_bytes().to_vec()))
            }
            Err((stage, e)) => {
                let _ = std::fs::remove_file(&path);
                let through = if via_suexec {
                    format!(" through {}", String::from_utf8_lossy(&self.suexec.bin))
                } else {
                    String::new()
                };
                Err((
                    RefuseKind::of_spawn(stage),
                    format!("cannot start {cmd}{through}: {e}"),
                ))
            }
        }
    }

    /// Reaps every exited child, if SIGCHLD came since the last time. The
    /// flag is cleared before waitpid: a child exiting meanwhile sets it again.
    fn reap(&mut self) {
        if !sys::CHILD_EXITED.swap(false, Ordering::SeqCst) {
            return;
        }
        while let Some((pid, how)) = sys::reap_any() {
            if let Some(slot) = self.mgr.slot_of_pid(pid) {
                self.held.forget_slot(slot);
            }
            if let Some(start) = self.suexec.started.remove(&pid) {
                self.suexec.exited(pid, &start, how);
            }
            let (socket, acts) = self.mgr.exited(pid, Instant::now());
            if let Some(s) = socket {
                let _ = std::fs::remove_file(Path::new(std::ffi::OsStr::from_bytes(&s)));
            }
            self.perform(acts);
        }
    }

    /// Watches httpd child `pid` (once) so that its death frees what it
    /// claims from the table. Without pidfds (Linux before 5.3) the table
    /// is closed: every request then comes here, as before it existed.
    fn watch_claimant(&mut self, pid: i32) {
        *self.claimants.conns.entry(pid).or_insert(0) += 1;
        if !self.claimants.enabled
            || !self.claimants.pidfds
            || self.claimants.watched.contains_key(&pid)
            || !super::table::pid_fits(pid)
        {
            return;
        }
        let watched = sys::pidfd_open(pid).and_then(|fd| {
            self.poller
                .add(fd.as_raw_fd(), PIDFD_TOKEN | pid as u64)
                .map(|()| fd)
        });
        match watched {
            Ok(fd) => {
                self.claimants.watched.insert(pid, fd);
            }
            // Gone already: nothing it could have claimed.
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
            Err(e) => {
                self.claimants.pidfds = false;
                log(
                    Level::Info,
                    &format!(
                        "mod_fcgid: process manager cannot watch httpd children through \
                         pidfds ({e}); it watches their connections"
                    ),
                );
            }
        }
    }

    /// httpd child `pid` has exited.
    fn claimant_gone(&mut self, pid: i32) {
        // Copies of kept connections it sent before it died may still wait
        // unread: taken now, so that what follows ends them too (read
        // later, one would keep its app reading a connection nobody
        // writes to). Read while it is still watched: its connections'
        // ends do not call this again.
        self.read_from(pid as u32);
        if let Some(fd) = self.claimants.watched.remove(&pid) {
            self.poller.remove(fd.as_raw_fd());
        }
        let acts = self.mgr.claimant_died(pid as u32, Instant::now());
        self.perform(acts);
        self.held.forget_holder(pid as u32);
    }

    /// The manager took `slot` from `holder`: its kept connection is ended.
    /// The holder sends its copy before the slot can be held idle, so it
    /// is here or waits unread on one of the holder's connections. Those
    /// are read first: the copy here may be of a connection the holder
    /// has since replaced (its client connection closed, a new one took
    /// the process), and ending that one would leave the app reading the
    /// live one until the holder lets it go. Only a copy that never came
    /// (this manager at its descriptor limit) leaves the process
    /// unreachable: it is stopped.
    fn drop_hold(&mut self, slot: u32, holder: u32, stop_if_unbroken: bool) {
        if stop_if_unbroken {
            self.read_from(holder);
        }
        if self.held.break_hold(slot, holder) || !stop_if_unbroken {
            return;
        }
        log(
            Level::Warn,
            &format!(
                "mod_fcgid: process manager has no copy of httpd child {holder}'s kept \
                 connection to the process in slot {slot}; stopping that process"
            ),
        );
        let acts = self.mgr.hold_unbroken(slot, Instant::now());
        self.pending.extend(acts);
    }

    /// Reads what httpd child `pid` has sent on any of its connections.
    fn read_from(&mut self, pid: u32) {
        let theirs: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.pid == Some(pid as i32))
            .map(|(id, _)| *id)
            .collect();
        for id in theirs {
            self.read_conn(id, true);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suexec_gets_the_program_by_name_from_its_own_directory() {
        let argv = [b"/var/www/site/php-wrapper".to_vec(), b"-c".to_vec()];
        let (cmd, cwd) = suexec_command(b"/usr/lib/apache2/suexec", &argv, 1001, 1002).unwrap();
        let words: Vec<&[u8]> = cmd.iter().map(Vec::as_slice).collect();
        assert_eq!(
            words,
            [
                &b"/usr/lib/apache2/suexec"[..],
                b"1001",
                b"1002",
                b"php-wrapper",
                b"-c"
            ]
        );
        assert_eq!(cwd, b"/var/www/site".to_vec());
        assert!(suexec_command(b"/s", &[b"relative".to_vec()], 1, 1).is_none());
    }

    #[test]
    fn suexec_passes_cgi_and_http_variables_only() {
        for name in ["HTTP_HOST", "SSL_PROTOCOL", "SCRIPT_FILENAME", "TZ"] {
            assert!(suexec_passes(name.as_bytes()), "{name}");
        }
        for name in ["PHPRC", "PHP_FCGI_MAX_REQUESTS", "LD_PRELOAD", "TZX"] {
            assert!(!suexec_passes(name.as_bytes()), "{name}");
        }
    }
}
