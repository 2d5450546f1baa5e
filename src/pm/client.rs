//! The httpd-child side of the process manager protocol: borrow a process
//! for one request, give it back. A loan lives on the thread's connection
//! to the manager, so a child that dies mid-request cannot leave a process
//! marked busy: the manager sees the connection close and stops the process.

use super::wire::{self, ClassSpec, Message, Outcome};
use crate::sys;
use std::cell::RefCell;
use std::ffi::OsString;
use std::io::{self, ErrorKind, Write};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A process lent to this request.
pub struct Lease {
    stream: UnixStream,
    pm_socket: PathBuf,
    pub proc_id: u64,
    /// The process's pid, as the manager knows it.
    pub pid: i32,
    pub socket: PathBuf,
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

/// Reads one message; `inbox` is scratch (left empty), reused between
/// calls. Bytes go straight into it: no zeroed buffer, no copy.
fn read_message(stream: &mut UnixStream, inbox: &mut Vec<u8>) -> io::Result<Message> {
    inbox.clear();
    loop {
        if let Some(m) = Message::decode(inbox)
            .map_err(|e| io::Error::new(ErrorKind::InvalidData, e.to_string()))?
        {
            return Ok(m);
        }
        let n = sys::read_append(stream, inbox, 4096)?;
        if n == 0 {
            return Err(io::Error::new(
                ErrorKind::UnexpectedEof,
                "the process manager closed the connection",
            ));
        }
    }
}

thread_local! {
    /// This thread's connection to the manager, kept between requests so a
    /// request costs two messages and no connect. It is only here while no
    /// process is borrowed: a lease owns it.
    static IDLE_CONN: RefCell<Option<(PathBuf, UnixStream)>> = const { RefCell::new(None) };
    /// The frame being sent and the answer being read, kept between
    /// requests so a round trip allocates nothing for them.
    static SCRATCH: RefCell<(Vec<u8>, Vec<u8>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// The kept connection, with its path (reused for the lease).
fn take_idle_conn(pm_socket: &Path) -> Option<(PathBuf, UnixStream)> {
    IDLE_CONN.with(|c| match c.borrow_mut().take() {
        Some((path, stream)) if path == pm_socket => Some((path, stream)),
        _ => None,
    })
}

fn keep_idle_conn(pm_socket: PathBuf, stream: UnixStream) {
    IDLE_CONN.with(|c| *c.borrow_mut() = Some((pm_socket, stream)));
}

fn ask(
    stream: &mut UnixStream,
    frame: &[u8],
    inbox: &mut Vec<u8>,
    wait: Duration,
) -> io::Result<Message> {
    stream.write_all(frame)?;
    // The manager answers by `wait`; the margin covers a slow spawn.
    stream.set_read_timeout(Some(wait + Duration::from_secs(10)))?;
    read_message(stream, inbox)
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
) -> io::Result<(UnixStream, Message)> {
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

/// Borrows a process of `spec`'s class, waiting up to `wait` for one.
pub fn acquire(pm_socket: &Path, spec: &ClassSpec, wait: Duration) -> Result<Lease, AcquireError> {
    SCRATCH.with(|scratch| {
        let (frame, inbox) = &mut *scratch.borrow_mut();
        frame.clear();
        wire::encode_acquire(frame, spec, wait);
        acquire_with(pm_socket, frame, inbox, wait)
    })
}

fn acquire_with(
    pm_socket: &Path,
    frame: &[u8],
    inbox: &mut Vec<u8>,
    wait: Duration,
) -> Result<Lease, AcquireError> {
    let kept = take_idle_conn(pm_socket).map(|(path, mut stream)| {
        ask(&mut stream, frame, inbox, wait).map(|answer| (path, stream, answer))
    });
    let (path, stream, answer) = match kept {
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
        } => Ok(Lease {
            stream,
            pm_socket: path,
            proc_id,
            pid,
            socket: PathBuf::from(OsString::from_vec(socket)),
        }),
        Message::Refused { reason } => {
            let _ = stream.set_read_timeout(None);
            keep_idle_conn(path, stream);
            Err(AcquireError::Refused(reason))
        }
        Message::CannotStart { reason } => {
            let _ = stream.set_read_timeout(None);
            keep_idle_conn(path, stream);
            Err(AcquireError::CannotStart(reason))
        }
        other => Err(AcquireError::Unreachable(io::Error::new(
            ErrorKind::InvalidData,
            format!("unexpected answer {other:?}"),
        ))),
    }
}

impl Lease {
    /// Gives the process back. Dropping a lease without this closes the
    /// connection, which the manager takes as Broken.
    pub fn release(mut self, outcome: Outcome) {
        let sent = SCRATCH.with(|scratch| {
            let frame = &mut scratch.borrow_mut().0;
            frame.clear();
            Message::Release {
                proc_id: self.proc_id,
                outcome,
            }
            .encode(frame);
            self.stream.write_all(frame).is_ok()
        });
        if sent && outcome != Outcome::Broken {
            keep_idle_conn(self.pm_socket, self.stream);
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
