//! The httpd-child side of the process manager protocol: borrow a process
//! for one request, give it back. The connection to the manager lives as
//! long as the loan, so a child that dies mid-request cannot leave a process
//! marked busy: the manager sees the connection close.

use super::wire::{ClassSpec, Message, Outcome};
use crate::sys;
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A process lent to this request.
pub struct Lease {
    stream: UnixStream,
    pub proc_id: u64,
    pub socket: PathBuf,
}

#[derive(Debug)]
pub enum AcquireError {
    /// The manager could not be reached or stopped answering.
    Unreachable(io::Error),
    /// The manager answered that no process could be had.
    Refused(String),
}

impl std::fmt::Display for AcquireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AcquireError::Unreachable(e) => write!(f, "the process manager is unreachable: {e}"),
            AcquireError::Refused(r) => f.write_str(r),
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

fn read_message(stream: &mut UnixStream) -> io::Result<Message> {
    let mut inbox = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(m) = Message::decode(&mut inbox)
            .map_err(|e| io::Error::new(ErrorKind::InvalidData, e.to_string()))?
        {
            return Ok(m);
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::new(
                ErrorKind::UnexpectedEof,
                "the process manager closed the connection",
            ));
        }
        inbox.extend_from_slice(&buf[..n]);
    }
}

/// Borrows a process of `spec`'s class, waiting up to `wait` for one.
pub fn acquire(pm_socket: &Path, spec: ClassSpec, wait: Duration) -> Result<Lease, AcquireError> {
    let mut stream = connect(pm_socket).map_err(AcquireError::Unreachable)?;
    let mut frame = Vec::new();
    Message::Acquire { spec, wait }.encode(&mut frame);
    stream
        .write_all(&frame)
        .map_err(AcquireError::Unreachable)?;
    // The manager answers by `wait`; the margin covers a slow spawn.
    let _ = stream.set_read_timeout(Some(wait + Duration::from_secs(10)));
    match read_message(&mut stream).map_err(AcquireError::Unreachable)? {
        Message::Granted { proc_id, socket } => Ok(Lease {
            stream,
            proc_id,
            socket: PathBuf::from(std::ffi::OsStr::from_bytes(&socket)),
        }),
        Message::Refused { reason } => Err(AcquireError::Refused(reason)),
        other => Err(AcquireError::Unreachable(io::Error::new(
            ErrorKind::InvalidData,
            format!("unexpected answer {other:?}"),
        ))),
    }
}

impl Lease {
    /// Gives the process back. Dropping a lease without this counts as Broken.
    pub fn release(mut self, outcome: Outcome) {
        let mut frame = Vec::new();
        Message::Release {
            proc_id: self.proc_id,
            outcome,
        }
        .encode(&mut frame);
        let _ = self.stream.write_all(&frame);
    }
}

/// Asks the manager to describe its pools.
pub fn status(pm_socket: &Path) -> io::Result<String> {
    let mut stream = sys::connect_unix(pm_socket, Duration::from_secs(2))?;
    let mut frame = Vec::new();
    Message::StatusQuery.encode(&mut frame);
    stream.write_all(&frame)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    match read_message(&mut stream)? {
        Message::Status { text } => Ok(text),
        other => Err(io::Error::new(
            ErrorKind::InvalidData,
            format!("unexpected answer {other:?}"),
        )),
    }
}
