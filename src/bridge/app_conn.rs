//! One FastCGI request on a connection to an app process: socket IO only.
//! What the bytes mean is `fcgi::client`'s business (the exchange cgi-fcgi
//! drives too); this file moves them, with timeouts, and keeps count of
//! what the kernel took (the retry rule's evidence, see `retry`).

use super::body::Body;
use super::env::Pair;
use crate::fcgi::client::{Event, ExchangeError, LineSplitter, RequestWriter, ResponseReader};
use crate::fcgi::{self, Role};
use crate::sys;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

const REQUEST_ID: u16 = fcgi::client::REQUEST_ID;

/// Request bytes are written in batches of about this size: a small request
/// goes out in one write, a large body does not sit whole in a second buffer.
const WRITE_BATCH: usize = 64 * 1024;

/// Bytes asked of the kernel per read. Smaller than a record: the exchange
/// reassembles records across reads.
const READ_SIZE: usize = 16 * 1024;

#[derive(Debug)]
pub enum AppError {
    Connect(io::Error),
    /// Writing the request failed; the kernel had taken `sent` bytes of it.
    Send {
        error: io::Error,
        sent: u64,
    },
    /// Reading the answer failed.
    Io(io::Error),
    /// The answer broke off, was not FastCGI, or was a refusal.
    Exchange(ExchangeError),
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppError::Connect(e) => write!(f, "cannot connect to the application: {e}"),
            AppError::Send { error, .. } | AppError::Io(error) if is_timeout(error) => {
                write!(f, "the application did not answer within FcgidIOTimeout")
            }
            AppError::Send { error, sent } => write!(
                f,
                "error sending the request to the application after {sent} bytes: {error}"
            ),
            AppError::Io(e) => write!(f, "error talking to the application: {e}"),
            AppError::Exchange(ExchangeError::Protocol(e)) => {
                write!(f, "the application broke the FastCGI protocol: {e}")
            }
            AppError::Exchange(ExchangeError::Closed) => {
                f.write_str("the application closed the connection before ending the request")
            }
            AppError::Exchange(ExchangeError::Rejected(end)) => write!(
                f,
                "the application refused the request (FastCGI protocol status {:?})",
                end.protocol_status
            ),
        }
    }
}

pub struct AppConn<'l> {
    stream: UnixStream,
    answer: ResponseReader,
    stdout: Vec<u8>,
    stdout_pos: usize,
    stderr: LineSplitter,
    ended: bool,
    log_stderr: &'l dyn Fn(&str),
    io_timeout: Duration,
    /// Request bytes the kernel has accepted so far.
    sent: u64,
    /// Has any byte of an answer arrived?
    answered: bool,
}

impl<'l> AppConn<'l> {
    pub fn connect(
        socket: &Path,
        connect_timeout: Duration,
        io_timeout: Duration,
        log_stderr: &'l dyn Fn(&str),
    ) -> Result<Self, AppError> {
        let stream = sys::connect_unix(socket, connect_timeout).map_err(AppError::Connect)?;
        stream
            .set_read_timeout(Some(io_timeout))
            .map_err(AppError::Io)?;
        Ok(AppConn {
            stream,
            answer: ResponseReader::new(REQUEST_ID),
            stdout: Vec::new(),
            stdout_pos: 0,
            stderr: LineSplitter::new(),
            ended: false,
            log_stderr,
            io_timeout,
            sent: 0,
            answered: false,
        })
    }

    /// Sends BEGIN_REQUEST, the environment as PARAMS and the body as STDIN,
    /// reading whatever the app answers meanwhile: an app that echoes as it
    /// reads would otherwise fill our socket while we fill its.
    pub fn send_request(
        &mut self,
        role: Role,
        params: &[Pair],
        body: &mut Body,
    ) -> Result<(), AppError> {
        let request = RequestWriter::new(REQUEST_ID, role);
        let mut out = Vec::with_capacity(4096);
        request.head(&mut out, params.iter().map(|(k, v)| (&**k, &**v)));
        self.stream
            .set_nonblocking(true)
            .map_err(|e| self.send_error(e))?;
        let sent = self.send_body(request, out, body);
        let blocking = self.stream.set_nonblocking(false);
        sent?;
        blocking.map_err(AppError::Io)
    }

    fn send_body(
        &mut self,
        request: RequestWriter,
        mut out: Vec<u8>,
        body: &mut Body,
    ) -> Result<(), AppError> {
        let mut failure = None;
        body.for_each_chunk(fcgi::MAX_CONTENT_LEN, |piece| {
            request.stdin(&mut out, piece);
            if out.len() >= WRITE_BATCH {
                self.write_while_reading(&out).map_err(|e| {
                    failure = Some(e);
                    io::Error::other("write failed")
                })?;
                out.clear();
            }
            Ok(())
        })
        .map_err(|e| failure.take().unwrap_or(AppError::Io(e)))?;
        request.stdin_end(&mut out);
        self.write_while_reading(&out)
    }

    fn send_error(&self, error: io::Error) -> AppError {
        AppError::Send {
            error,
            sent: self.sent,
        }
    }

    /// Writes `bytes` (the socket is non-blocking), reading whenever it is
    /// full. Stops early, without error, once the app has ended the request:
    /// it answered without wanting the rest.
    fn write_while_reading(&mut self, mut bytes: &[u8]) -> Result<(), AppError> {
        let fd = self.stream.as_raw_fd();
        while !bytes.is_empty() && !self.ended {
            match (&self.stream).write(bytes) {
                Ok(n) => {
                    self.sent += n as u64;
                    bytes = &bytes[n..];
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Take what the app has written, if anything, else wait
                    // until one side can move.
                    let (readable, writable) =
                        sys::wait_io(fd, self.io_timeout).map_err(|e| self.send_error(e))?;
                    if readable {
                        self.read_some()?;
                    } else if !writable {
                        let timeout = io::Error::new(io::ErrorKind::TimedOut, "write timed out");
                        return Err(self.send_error(timeout));
                    }
                }
                Err(e) => return Err(self.send_error(e)),
            }
        }
        Ok(())
    }

    /// One non-blocking read into the exchange.
    fn read_some(&mut self) -> Result<(), AppError> {
        match self.read() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(AppError::Io(e)),
            Ok(0) => Err(self.closed()),
            Ok(_) => self.take_events().map(|_| ()),
        }
    }

    /// One read from the socket, straight into the exchange's buffer; 0 at
    /// the end.
    fn read(&mut self) -> io::Result<usize> {
        let stream = &self.stream;
        let n = self
            .answer
            .feed_with(|buf| sys::read_append(stream, buf, READ_SIZE))?;
        if n > 0 {
            self.answered = true;
        }
        Ok(n)
    }

    /// The connection ended: the exchange says how bad that is.
    fn closed(&mut self) -> AppError {
        let log = self.log_stderr;
        self.stderr.finish(|l| log(&String::from_utf8_lossy(l)));
        match self.answer.close() {
            Err(e) => AppError::Exchange(e),
            Ok(()) => AppError::Exchange(ExchangeError::Closed), // not reached: ended first
        }
    }

    /// Takes the events decoded so far; true if there was any.
    fn take_events(&mut self) -> Result<bool, AppError> {
        let log = self.log_stderr;
        let mut any = false;
        while let Some(event) = self.answer.next_event().map_err(AppError::Exchange)? {
            any = true;
            match event {
                Event::Stdout(data) => {
                    if self.stdout_pos == self.stdout.len() {
                        // All taken: the record's bytes become the pending
                        // STDOUT as they are, not copied.
                        self.stdout = data;
                        self.stdout_pos = 0;
                    } else {
                        self.stdout.extend_from_slice(&data);
                    }
                }
                Event::Stderr(data) => {
                    self.stderr
                        .push(&data, |l| log(&String::from_utf8_lossy(l)));
                }
                Event::End(_) => {
                    self.stderr.finish(|l| log(&String::from_utf8_lossy(l)));
                    self.ended = true;
                }
            }
        }
        Ok(any)
    }

    /// Has any byte of an answer arrived (for the retry rule)?
    pub fn answered(&self) -> bool {
        self.answered
    }

    /// Waits for the app's first answer (or the end of the request).
    pub fn await_answer(&mut self) -> Result<(), AppError> {
        if self.stdout_pos == self.stdout.len() && !self.ended {
            self.fill()?;
        }
        Ok(())
    }

    /// True once END_REQUEST has arrived and all STDOUT was taken.
    pub fn finished(&self) -> bool {
        self.ended && self.stdout_pos == self.stdout.len()
    }

    /// Is more input waiting on the socket right now?
    pub fn input_waiting(&self) -> bool {
        sys::readable_now(self.stream.as_raw_fd())
    }

    /// Reads (blocking, up to the IO timeout per read) until there is at
    /// least one event, or the request has ended.
    fn fill(&mut self) -> Result<(), AppError> {
        loop {
            if self.take_events()? || self.ended {
                return Ok(());
            }
            if self.read().map_err(AppError::Io)? == 0 {
                return Err(self.closed());
            }
        }
    }

    /// The next STDOUT line (with its newline), at most `max` bytes; None at
    /// the end of STDOUT. For httpd's CGI header scanner.
    pub fn next_line(&mut self, max: usize) -> Result<Option<Vec<u8>>, AppError> {
        loop {
            let pending = &self.stdout[self.stdout_pos..];
            let cut = match pending.iter().position(|&c| c == b'\n') {
                Some(nl) => Some((nl + 1).min(max)),
                None if pending.len() >= max => Some(max),
                None if self.ended && !pending.is_empty() => Some(pending.len()),
                None => None,
            };
            if let Some(n) = cut {
                let line = pending[..n].to_vec();
                self.stdout_pos += n;
                return Ok(Some(line));
            }
            if self.ended {
                return Ok(None);
            }
            // Keep the partial line, read more.
            self.fill()?;
        }
    }

    /// The STDOUT bytes available now, reading if none are; empty when the
    /// request has ended.
    pub fn next_body_chunk(&mut self) -> Result<Vec<u8>, AppError> {
        while self.stdout_pos == self.stdout.len() && !self.ended {
            self.fill()?;
        }
        let chunk = if self.stdout_pos == 0 {
            std::mem::take(&mut self.stdout)
        } else {
            let rest = self.stdout[self.stdout_pos..].to_vec();
            self.stdout.clear();
            rest
        };
        self.stdout_pos = 0;
        Ok(chunk)
    }

    /// After the client went away: reads and discards the rest of the
    /// answer, at most `max_bytes` of it and for at most `max_time`. True if
    /// the app ended the request within those bounds, so its process can
    /// serve another; false if it was still sending (or failed).
    pub fn discard_rest(&mut self, max_bytes: usize, max_time: Duration) -> bool {
        let deadline = std::time::Instant::now() + max_time;
        let mut discarded = 0;
        while !self.finished() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if discarded > max_bytes || left.is_zero() {
                return false;
            }
            // Never wait longer than the bound for one read.
            let wait = left.min(self.io_timeout).max(Duration::from_millis(1));
            if self.stream.set_read_timeout(Some(wait)).is_err() {
                return false;
            }
            match self.next_body_chunk() {
                Ok(chunk) => discarded += chunk.len(),
                Err(_) => return false,
            }
        }
        true
    }

    /// Reads and discards the rest of the response, so the process ends the
    /// request cleanly and can serve another.
    pub fn drain(&mut self) -> Result<(), AppError> {
        while !self.finished() {
            self.next_body_chunk()?;
        }
        Ok(())
    }
}
