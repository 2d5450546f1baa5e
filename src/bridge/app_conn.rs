//! One FastCGI request on a connection to an app process: send the request,
//! then read STDOUT (as header lines, then body chunks), STDERR lines and
//! END_REQUEST. Socket IO here, protocol in `crate::fcgi`.

use super::body::Body;
use crate::fcgi::{self, Decoder, EndRequest, ProtocolError, ProtocolStatus, RecordType, Role};
use crate::sys;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

const REQUEST_ID: u16 = 1;

#[derive(Debug)]
pub enum AppError {
    Connect(io::Error),
    Io(io::Error),
    Protocol(ProtocolError),
    /// The app closed the connection before END_REQUEST.
    Truncated,
    /// END_REQUEST with a status other than REQUEST_COMPLETE.
    Rejected(ProtocolStatus),
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppError::Connect(e) => write!(f, "cannot connect to the application: {e}"),
            AppError::Io(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                write!(f, "the application did not answer within FcgidIOTimeout")
            }
            AppError::Io(e) => write!(f, "error talking to the application: {e}"),
            AppError::Protocol(e) => write!(f, "the application broke the FastCGI protocol: {e}"),
            AppError::Truncated => {
                f.write_str("the application closed the connection before ending the request")
            }
            AppError::Rejected(s) => write!(
                f,
                "the application refused the request (FastCGI protocol status {s:?})"
            ),
        }
    }
}

pub struct AppConn<'l> {
    stream: UnixStream,
    decoder: Decoder,
    stdout: Vec<u8>,
    stdout_pos: usize,
    stderr_line: Vec<u8>,
    end: Option<EndRequest>,
    log_stderr: &'l dyn Fn(&str),
    io_timeout: Duration,
    /// Has the app sent anything at all?
    heard_from: bool,
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
        stream
            .set_write_timeout(Some(io_timeout))
            .map_err(AppError::Io)?;
        Ok(AppConn {
            stream,
            decoder: Decoder::new(),
            stdout: Vec::new(),
            stdout_pos: 0,
            stderr_line: Vec::new(),
            end: None,
            log_stderr,
            io_timeout,
            heard_from: false,
        })
    }

    /// Sends BEGIN_REQUEST, the environment as PARAMS and the body as STDIN.
    /// A body in memory goes out with the rest in one write; a spooled one
    /// in record-sized pieces.
    pub fn send_request(
        &mut self,
        role: Role,
        params: &[(Vec<u8>, Vec<u8>)],
        body: &mut Body,
    ) -> Result<(), AppError> {
        let mut out = Vec::with_capacity(4096);
        fcgi::encode_begin_request(&mut out, REQUEST_ID, role, false);
        fcgi::encode_params(
            &mut out,
            REQUEST_ID,
            params.iter().map(|(k, v)| (k.as_slice(), v.as_slice())),
        );
        if !body.is_spooled() {
            // At most FcgidMaxRequestInMem plus the environment: the socket
            // buffer takes it without waiting for the app.
            body.for_each_chunk(fcgi::MAX_CONTENT_LEN, |piece| {
                fcgi::encode_stream_chunk(&mut out, RecordType::Stdin, REQUEST_ID, piece);
                Ok(())
            })
            .map_err(AppError::Io)?;
            fcgi::encode_stream_end(&mut out, RecordType::Stdin, REQUEST_ID);
            return self.stream.write_all(&out).map_err(AppError::Io);
        }
        self.stream.set_nonblocking(true).map_err(AppError::Io)?;
        let sent = self.send_spooled(out, body);
        self.stream.set_nonblocking(false).map_err(AppError::Io)?;
        sent
    }

    fn send_spooled(&mut self, mut out: Vec<u8>, body: &mut Body) -> Result<(), AppError> {
        self.write_while_reading(&out)?;
        let mut failure = None;
        body.for_each_chunk(fcgi::MAX_CONTENT_LEN, |piece| {
            out.clear();
            fcgi::encode_stream_chunk(&mut out, RecordType::Stdin, REQUEST_ID, piece);
            self.write_while_reading(&out).map_err(|e| {
                failure = Some(e);
                io::Error::other("write failed")
            })
        })
        .map_err(|e| failure.take().unwrap_or(AppError::Io(e)))?;
        out.clear();
        fcgi::encode_stream_end(&mut out, RecordType::Stdin, REQUEST_ID);
        self.write_while_reading(&out)
    }

    /// Writes `bytes` to the app, reading (and keeping) whatever it answers
    /// meanwhile: an app that echoes its input as it reads would otherwise
    /// block on a full socket while we block on ours.
    fn write_while_reading(&mut self, mut bytes: &[u8]) -> Result<(), AppError> {
        let fd = self.stream.as_raw_fd();
        while !bytes.is_empty() {
            match (&self.stream).write(bytes) {
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // The socket is full: take what the app has written, if
                    // anything, else wait until one side can move.
                    let (readable, writable) =
                        sys::wait_io(fd, self.io_timeout).map_err(AppError::Io)?;
                    if readable {
                        self.read_some()?;
                    } else if !writable {
                        return Err(AppError::Io(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "write timed out",
                        )));
                    }
                }
                Err(e) => return Err(AppError::Io(e)),
            }
        }
        Ok(())
    }

    /// One read from the socket into the decoder, records decoded.
    fn read_some(&mut self) -> Result<(), AppError> {
        let mut buf = [0u8; 16384];
        let n = match sys::read_retrying(&mut self.stream, &mut buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            other => other.map_err(AppError::Io)?,
        };
        if n == 0 {
            return Err(AppError::Truncated);
        }
        self.heard_from = true;
        self.decoder.feed(&buf[..n]);
        self.decode_available().map(|_| ())
    }

    /// Did `error` happen before the app could have read the request? Then
    /// the process was gone (an app that retires itself after N requests
    /// closes its socket with our connection still queued: reset, never
    /// read) and the request can go to another one. A plain end of file is
    /// not such a case: the app may have read the request and died on it.
    pub fn never_started(&self, error: &AppError) -> bool {
        match error {
            AppError::Connect(_) => true,
            AppError::Io(e) => {
                !self.heard_from
                    && matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
                    )
            }
            _ => false,
        }
    }

    /// Waits for the app's first records (or the end of the request).
    pub fn await_answer(&mut self) -> Result<(), AppError> {
        if self.stdout_pos == self.stdout.len() && self.end.is_none() {
            self.fill()?;
        }
        Ok(())
    }

    /// True once END_REQUEST has arrived and all STDOUT was taken.
    pub fn finished(&self) -> bool {
        self.end.is_some() && self.stdout_pos == self.stdout.len()
    }

    /// Is more input waiting on the socket right now?
    pub fn input_waiting(&self) -> bool {
        sys::readable_now(self.stream.as_raw_fd())
    }

    /// Reads from the socket until at least one record was decoded (or the
    /// request ended).
    fn fill(&mut self) -> Result<(), AppError> {
        // Smaller than a record: the decoder reassembles, and a big zeroed
        // buffer per read costs more than it saves.
        let mut buf = [0u8; 16384];
        loop {
            if self.decode_available()? || self.end.is_some() {
                return Ok(());
            }
            let n = sys::read_retrying(&mut self.stream, &mut buf).map_err(AppError::Io)?;
            if n == 0 {
                return Err(AppError::Truncated);
            }
            self.heard_from = true;
            self.decoder.feed(&buf[..n]);
        }
    }

    /// Decodes buffered records; true if any was decoded.
    fn decode_available(&mut self) -> Result<bool, AppError> {
        let mut any = false;
        while self.end.is_none() {
            let Some(rec) = self.decoder.next_record().map_err(AppError::Protocol)? else {
                break;
            };
            any = true;
            if rec.request_id != REQUEST_ID {
                continue;
            }
            match rec.rtype {
                RecordType::Stdout => {
                    if self.stdout_pos == self.stdout.len() {
                        self.stdout.clear();
                        self.stdout_pos = 0;
                    }
                    self.stdout.extend_from_slice(&rec.content);
                }
                RecordType::Stderr => self.stderr(&rec.content),
                RecordType::EndRequest => {
                    let end = rec.end_request().map_err(AppError::Protocol)?;
                    self.flush_stderr();
                    if end.protocol_status != ProtocolStatus::RequestComplete {
                        return Err(AppError::Rejected(end.protocol_status));
                    }
                    self.end = Some(end);
                }
                // Anything else is not ours to act on; skipped, never misread.
                _ => {}
            }
        }
        Ok(any)
    }

    fn stderr(&mut self, bytes: &[u8]) {
        self.stderr_line.extend_from_slice(bytes);
        while let Some(nl) = self.stderr_line.iter().position(|&c| c == b'\n') {
            let line: Vec<u8> = self.stderr_line.drain(..=nl).collect();
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end_matches(['\r', '\n']);
            if !text.is_empty() {
                (self.log_stderr)(text);
            }
        }
    }

    fn flush_stderr(&mut self) {
        if !self.stderr_line.is_empty() {
            self.stderr_line.push(b'\n');
            self.stderr(&[]);
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
                None if self.end.is_some() && !pending.is_empty() => Some(pending.len()),
                None => None,
            };
            if let Some(n) = cut {
                let line = pending[..n].to_vec();
                self.stdout_pos += n;
                return Ok(Some(line));
            }
            if self.end.is_some() {
                return Ok(None);
            }
            // Keep the partial line, read more.
            self.fill()?;
        }
    }

    /// The STDOUT bytes available now, reading if none are; empty when the
    /// request has ended.
    pub fn next_body_chunk(&mut self) -> Result<Vec<u8>, AppError> {
        while self.stdout_pos == self.stdout.len() && self.end.is_none() {
            self.fill()?;
        }
        let chunk = self.stdout[self.stdout_pos..].to_vec();
        self.stdout_pos = self.stdout.len();
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
