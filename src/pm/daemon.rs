//! The process manager's event loop: accepts requests for processes from
//! httpd children, spawns and signals app processes, reaps them, and carries
//! out what the `Manager` state machine decides.

use super::policy::GlobalLimits;
use super::state::{Action, ConnId, Manager};
use super::wire::{ClassSpec, Message, Outcome};
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
    settings: DaemonSettings,
    mgr: Manager,
    conns: HashMap<ConnId, Conn>,
    next_conn: ConnId,
    pending: VecDeque<Action>,
    pid: i32,
}

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
    let mut listener = match UnixListener::bind(&settings.socket)
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
    let mut d = Daemon {
        mgr: Manager::new(settings.global),
        settings,
        conns: HashMap::new(),
        next_conn: 1,
        pending: VecDeque::new(),
        pid: sys::getpid(),
    };
    log(
        Level::Info,
        &format!("mod_fcgid: process manager {} started", d.pid),
    );
    let mut draining = false;
    loop {
        if sys::STOP_REQUESTED.load(Ordering::SeqCst) {
            break;
        }
        if sys::DRAIN_REQUESTED.load(Ordering::SeqCst) && !draining {
            // A new generation's manager takes over the socket path; this one
            // lets its lent processes finish their requests, then exits.
            draining = true;
            listener = None;
            log(
                Level::Info,
                &format!("mod_fcgid: process manager {} draining", d.pid),
            );
        }
        if draining && d.conns.is_empty() {
            break;
        }
        let now = Instant::now();
        let timeout = d
            .mgr
            .next_deadline()
            .map(|t| t.saturating_duration_since(now))
            .unwrap_or(Duration::MAX)
            .min(Duration::from_millis(500));
        let mut fds = vec![wake.as_raw_fd()];
        if let Some(l) = &listener {
            fds.push(l.as_raw_fd());
        }
        let ids: Vec<ConnId> = d.conns.keys().copied().collect();
        fds.extend(ids.iter().map(|id| d.conns[id].stream.as_raw_fd()));
        let ready = match sys::poll_readable(&fds, timeout) {
            Ok(r) => r,
            Err(e) => {
                log(
                    Level::Emerg,
                    &format!("mod_fcgid: process manager poll failed: {e}"),
                );
                break;
            }
        };
        if ready[0] {
            sys::drain_pipe(&wake);
        }
        d.reap();
        let first_conn = if let Some(l) = &listener {
            if ready[1] {
                d.accept(l);
            }
            2
        } else {
            1
        };
        for (i, id) in ids.iter().enumerate() {
            if ready[first_conn + i] {
                d.read_conn(*id);
            }
        }
        let acts = d.mgr.tick(Instant::now());
        d.perform(acts);
    }
    d.shutdown();
    log(
        Level::Info,
        &format!("mod_fcgid: process manager {} stopped", d.pid),
    );
    0
}

impl Daemon {
    fn accept(&mut self, listener: &UnixListener) {
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    let _ = stream.set_nonblocking(true);
                    self.conns.insert(
                        self.next_conn,
                        Conn {
                            stream,
                            inbox: Vec::new(),
                        },
                    );
                    self.next_conn += 1;
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
            Message::Acquire { spec, wait } => self.mgr.acquire(id, spec, wait, now),
            Message::Release { proc_id, outcome } => {
                self.mgr
                    .release(id, proc_id, outcome == Outcome::Broken, now)
            }
            Message::StatusQuery => {
                let text = super::status_text(&self.mgr, self.pid);
                self.send(id, &Message::Status { text });
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
        if self.conns.remove(&id).is_some() {
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
        // Frames are small and the peer is waiting for exactly this one, so a
        // full socket buffer means a broken peer.
        let _ = conn.stream.set_nonblocking(false);
        let _ = conn.stream.set_write_timeout(Some(Duration::from_secs(1)));
        let ok = conn.stream.write_all(&frame).is_ok();
        let _ = conn.stream.set_nonblocking(true);
        if !ok {
            self.close(id);
        }
    }

    fn perform(&mut self, acts: Vec<Action>) {
        self.pending.extend(acts);
        while let Some(act) = self.pending.pop_front() {
            match act {
                Action::Spawn { proc, spec } => {
                    let started = self.spawn(proc, &spec);
                    let more = self.mgr.spawned(proc, started, Instant::now());
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
                        let more = self.mgr.conn_closed(conn, Instant::now());
                        self.pending.extend(more);
                    }
                }
                Action::Refuse { conn, reason } => {
                    log(Level::Warn, &format!("mod_fcgid: {reason}"));
                    self.send(conn, &Message::Refused { reason });
                }
                Action::Signal { pid, kill } => sys::signal(pid, kill),
            }
        }
    }

    fn spawn(&mut self, proc: u64, spec: &ClassSpec) -> Option<(i32, Vec<u8>)> {
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
        let result = sys::ExecPlan::new(&spec.argv, &env, &spec.cwd).and_then(|plan| {
            let _ = std::fs::remove_file(&path);
            let listener = UnixListener::bind(&path)?;
            sys::spawn_app(&plan, &listener)
        });
        match result {
            Ok(pid) => {
                log(
                    Level::Info,
                    &format!("mod_fcgid: server {cmd} (pid {pid}) started"),
                );
                Some((pid, path.as_os_str().as_bytes().to_vec()))
            }
            Err(e) => {
                log(Level::Err, &format!("mod_fcgid: cannot spawn {cmd}: {e}"));
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    fn reap(&mut self) {
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
