//! One FastCGI request on a connection to an app process: socket IO only.
//! What the bytes mean is `fcgi::client`'s business (the exchange cgi-fcgi
//! drives too); this file moves them, with timeouts, and keeps count of
//! what the kernel took (the retry rule's evidence, see `retry`).
//!
//! The answer is read into bucket-allocator memory (`ffi::answer_buf`) and
//! its STDOUT stays there: the body goes to httpd as buckets over the very
//! bytes the socket gave, and only header lines are copied (into httpd's
//! scanner).

use super::body::Body;
use super::env::Pair;
use crate::fcgi::client::{ExchangeError, LineSplitter, Piece, RequestWriter, ResponseParser};
use crate::fcgi::{self, Role};
use crate::ffi::answer_buf::{BucketAlloc, Chunk, ReadBuf};
use crate::pm::kept_conns::AppStream;
use crate::sys;
use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

const REQUEST_ID: u16 = fcgi::client::REQUEST_ID;

/// Request bytes are written in batches of about this size: a small request
/// goes out in one write, a large body does not sit whole in a second buffer.
const WRITE_BATCH: usize = 64 * 1024;

/// Size of each buffer the answer is read into. A read takes whatever
/// room is left; records may straddle reads and buffers.
const READ_BUF: usize = 64 * 1024;
/// A buffer with less room than this is left to its chunks and a new one
/// taken, so that reads stay large.
const MIN_ROOM: usize = 4 * 1024;

thread_local! {
    /// Where a request's head is encoded, kept for the thread's next request.
    static HEAD_BUF: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// A head buffer grown past this (a huge environment) is not kept.
const KEPT_HEAD_BUF: usize = 64 * 1024;

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
    /// None once handed back with the process (`take_reusable`).
    stream: Option<UnixStream>,
    /// The app was asked to keep the connection (FCGI_KEEP_CONN).
    keep: bool,
    /// It is a connection kept from an earlier request (the manager has a
    /// copy: it must be ended, not just closed, if it is not handed back).
    reused: bool,
    /// Bytes came after END_REQUEST: not a connection to send on again.
    trailing: bool,
    answer: ResponseParser,
    alloc: BucketAlloc,
    /// The buffer being read into, and how much of it was parsed.
    buf: Option<ReadBuf>,
    parsed: usize,
    /// STDOUT received and not taken yet, and its length.
    stdout: VecDeque<Chunk>,
    stdout_len: usize,
    stderr: LineSplitter,
    ended: bool,
    log_stderr: &'l dyn Fn(&str),
    io_timeout: Duration,
    /// The longest one read waits for the app (the IO timeout, or less
    /// while the rest of an abandoned answer is discarded).
    read_wait: Duration,
    /// Request bytes the kernel has accepted so far.
    sent: u64,
    /// Has any byte of an answer arrived?
    answered: bool,
    /// Did the whole request go out, STDIN's end record included? An app
    /// that answers before reading the body leaves the rest unsent, and
    /// itself inside a record: the connection carries no next request.
    request_sent: bool,
}

impl<'l> AppConn<'l> {
    /// A connection to the app at `socket`: `kept` if this child kept one
    /// and the app has not closed it since, else a new one. With `keep`,
    /// the app is asked to keep it open after the request.
    #[allow(clippy::too_many_arguments)]
    pub fn connect(
        socket: &Path,
        kept: Option<UnixStream>,
        keep: bool,
        connect_timeout: Duration,
        io_timeout: Duration,
        alloc: BucketAlloc,
        log_stderr: &'l dyn Fn(&str),
    ) -> Result<Self, AppError> {
        // A kept connection with something to read has been closed by the
        // app (or it sent what nobody asked for): ended, not used.
        let kept = kept.filter(|k| {
            let open = !sys::peer_hung_up(k);
            if !open {
                let _ = k.shutdown(std::net::Shutdown::Both);
            }
            open
        });
        let reused = kept.is_some();
        let stream = match kept {
            Some(k) => k,
            None => sys::connect_unix(socket, connect_timeout).map_err(AppError::Connect)?,
        };
        Ok(AppConn {
            stream: Some(stream),
            keep,
            reused,
            trailing: false,
            answer: ResponseParser::new(REQUEST_ID),
            alloc,
            buf: None,
            parsed: 0,
            stdout: VecDeque::new(),
            stdout_len: 0,
            stderr: LineSplitter::new(),
            ended: false,
            log_stderr,
            io_timeout,
            read_wait: io_timeout,
            sent: 0,
            answered: false,
            request_sent: false,
        })
    }

    /// Sends BEGIN_REQUEST, the environment as PARAMS and the body as STDIN,
    /// reading whatever the app answers meanwhile: an app that echoes as it
    /// reads would otherwise fill our socket while we fill its. The body is
    /// written from where it is, between record headers (vectored writes):
    /// a request held in memory goes out in one sendmsg, nothing copied.
    pub fn send_request(
        &mut self,
        role: Role,
        params: &[Pair],
        body: &mut Body,
    ) -> Result<(), AppError> {
        let request = if self.keep {
            RequestWriter::keeping(REQUEST_ID, role)
        } else {
            RequestWriter::new(REQUEST_ID, role)
        };
        // The head, then STDIN's end record, in this thread's reused buffer.
        let mut buf = HEAD_BUF.take();
        buf.clear();
        request.head(&mut buf, params.iter().map(|(k, v)| (&**k, &**v)));
        let head_len = buf.len();
        request.stdin_end(&mut buf);
        let (head, end) = buf.split_at(head_len);
        let sent = match body.in_memory() {
            Some(mem) => self.send_framed(request, head, mem, end),
            None => self.send_spooled(request, head, body, end),
        };
        if buf.capacity() <= KEPT_HEAD_BUF {
            HEAD_BUF.set(buf);
        }
        sent
    }

    /// A spooled body: read back in pieces, each sent as it was read.
    fn send_spooled(
        &mut self,
        request: RequestWriter,
        head: &[u8],
        body: &mut Body,
        end: &[u8],
    ) -> Result<(), AppError> {
        let mut first = head;
        let mut failure = None;
        body.for_each_chunk(WRITE_BATCH, |piece| {
            let before = std::mem::take(&mut first);
            self.send_framed(request, before, piece, &[]).map_err(|e| {
                failure = Some(e);
                io::Error::other("write failed")
            })
        })
        .map_err(|e| failure.take().unwrap_or(AppError::Io(e)))?;
        self.send_framed(request, first, &[], end)
    }

    /// Writes `before`, `data` as STDIN records, then `after`: one sendmsg
    /// per two records (128 KiB) when the socket takes them, the iovecs on
    /// the stack.
    fn send_framed(
        &mut self,
        request: RequestWriter,
        before: &[u8],
        data: &[u8],
        after: &[u8],
    ) -> Result<(), AppError> {
        const RECORDS: usize = 2;
        let mut records = data.chunks(fcgi::MAX_CONTENT_LEN).peekable();
        let mut first = Some(before);
        loop {
            let mut frames = [([0u8; fcgi::HEADER_LEN], &[][..]); RECORDS];
            let mut batch = [&[][..]; RECORDS];
            let mut n = 0;
            while n < RECORDS {
                let Some(record) = records.next() else { break };
                frames[n] = request.stdin_frame(record.len());
                batch[n] = record;
                n += 1;
            }
            let last = records.peek().is_none();
            let mut iov = [IoSlice::new(&[]); 2 + 3 * RECORDS];
            iov[0] = IoSlice::new(first.take().unwrap_or_default());
            for k in 0..n {
                iov[1 + 3 * k] = IoSlice::new(&frames[k].0);
                iov[2 + 3 * k] = IoSlice::new(batch[k]);
                iov[3 + 3 * k] = IoSlice::new(frames[k].1);
            }
            if last {
                iov[1 + 3 * n] = IoSlice::new(after);
            }
            let all = self.write_while_reading(&mut iov[..2 + 3 * n])?;
            if last {
                self.request_sent = all;
                return Ok(());
            }
            if self.ended {
                return Ok(());
            }
        }
    }

    fn send_error(&self, error: io::Error) -> AppError {
        AppError::Send {
            error,
            sent: self.sent,
        }
    }

    /// Writes `bufs` without waiting on the socket, reading whenever it is
    /// full. Stops early, without error, once the app has ended the request:
    /// it answered without wanting the rest. True if all of it went.
    fn write_while_reading(&mut self, bufs: &mut [IoSlice<'_>]) -> Result<bool, AppError> {
        let fd = self.sock().as_raw_fd();
        let mut bufs = bufs;
        IoSlice::advance_slices(&mut bufs, 0);
        while !bufs.is_empty() && !self.ended {
            match sys::send_vectored_nowait(self.sock(), bufs) {
                Ok(n) => {
                    self.sent += n as u64;
                    IoSlice::advance_slices(&mut bufs, n);
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
        Ok(bufs.is_empty())
    }

    /// One non-blocking read into the exchange.
    fn read_some(&mut self) -> Result<(), AppError> {
        match self.read(READ_BUF, false) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(AppError::Io(e)),
            Ok(0) => Err(self.closed()),
            Ok(_) => self.take_events().map(|_| ()),
        }
    }

    /// One read from the socket into the answer's buffer (a new one when
    /// it is nearly full), at most `max` bytes; 0 at the end. With `wait`
    /// false it never waits (WouldBlock when there is nothing); with `wait`
    /// it waits up to `read_wait` (then fails as a timed-out read would,
    /// EAGAIN). It waits in poll, not in a blocked recv: see
    /// [`sys::wait_readable`]. Until the first byte of the answer the app
    /// is still working, so it waits before trying.
    fn read(&mut self, max: usize, wait: bool) -> io::Result<usize> {
        let mut ready = wait && !self.answered;
        loop {
            if ready {
                let fd = self.sock().as_raw_fd();
                if !sys::wait_readable(fd, self.read_wait)? {
                    return Err(io::Error::from_raw_os_error(libc::EAGAIN));
                }
            }
            match self.read_now_into(max) {
                Err(e) if wait && e.kind() == io::ErrorKind::WouldBlock => ready = true,
                other => return other,
            }
        }
    }

    /// One recv that does not wait, into the answer's buffer.
    fn read_now_into(&mut self, max: usize) -> io::Result<usize> {
        if self.buf.as_ref().is_none_or(|b| b.room() < MIN_ROOM) {
            // Bytes parsed already live on in their chunks.
            self.buf = Some(ReadBuf::new(self.alloc, READ_BUF));
            self.parsed = 0;
        }
        let stream = self
            .stream
            .as_ref()
            .expect("read before the connection is handed back");
        let buf = self.buf.as_mut().expect("set above");
        let n = buf.read_from(stream, max)?;
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

    /// Parses what was read; true if it held STDOUT, STDERR or the end.
    fn take_events(&mut self) -> Result<bool, AppError> {
        let log = self.log_stderr;
        let Some(buf) = self.buf.as_ref() else {
            return Ok(false);
        };
        let mut any = false;
        while self.parsed < buf.filled().len() {
            let input = &buf.filled()[self.parsed..];
            let (used, piece) = self.answer.parse(input).map_err(AppError::Exchange)?;
            self.parsed += used;
            any |= piece.is_some();
            match piece {
                None => {}
                Some(Piece::Stdout(data)) => {
                    self.stdout_len += data.len();
                    self.stdout.push_back(buf.chunk(data));
                }
                Some(Piece::Stderr(data)) => {
                    self.stderr.push(data, |l| log(&String::from_utf8_lossy(l)));
                }
                Some(Piece::End(_)) => {
                    self.stderr.finish(|l| log(&String::from_utf8_lossy(l)));
                    self.ended = true;
                    self.trailing = self.parsed < buf.filled().len();
                    // Whatever follows END_REQUEST is not ours to read.
                    self.parsed = buf.filled().len();
                }
            }
        }
        Ok(any)
    }

    fn sock(&self) -> &UnixStream {
        self.stream
            .as_ref()
            .expect("used before the connection is handed back")
    }

    /// Is this a connection kept from an earlier request?
    pub fn reused(&self) -> bool {
        self.reused
    }

    /// The connection, to hand back with the process, if it can carry the
    /// next request: the app was asked to keep it, had all of this request
    /// and ended it cleanly, with nothing after its END_REQUEST. One it
    /// was asked to keep that cannot is ended now: the app would go on
    /// reading it while its process is lent to the next request.
    pub fn take_reusable(&mut self) -> Option<AppStream> {
        if !(self.keep && self.finished() && !self.trailing && self.request_sent) {
            if let (true, Some(s)) = (self.keep, &self.stream) {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
            return None;
        }
        let stream = self.stream.take()?;
        Some(AppStream {
            stream,
            reused: self.reused,
        })
    }

    /// Has any byte of an answer arrived (for the retry rule)?
    pub fn answered(&self) -> bool {
        self.answered
    }

    /// Waits for the app's first answer (or the end of the request).
    pub fn await_answer(&mut self) -> Result<(), AppError> {
        if self.stdout.is_empty() && !self.ended {
            self.fill()?;
        }
        Ok(())
    }

    /// True once END_REQUEST has arrived and all STDOUT was taken.
    pub fn finished(&self) -> bool {
        self.ended && self.stdout.is_empty()
    }

    /// Reads (blocking, up to the IO timeout per read) until there is at
    /// least one event, or the request has ended.
    fn fill(&mut self) -> Result<(), AppError> {
        self.fill_with(READ_BUF)
    }

    /// `fill`, reading at most `max` bytes at a time.
    fn fill_with(&mut self, max: usize) -> Result<(), AppError> {
        loop {
            if self.take_events()? || self.ended {
                return Ok(());
            }
            if self.read(max, true).map_err(AppError::Io)? == 0 {
                return Err(self.closed());
            }
        }
    }

    /// Reads what the app has sent, if anything, without waiting: true if
    /// any byte came (or the request has ended), false if the app is quiet.
    pub fn read_now(&mut self, max: usize) -> Result<bool, AppError> {
        if self.ended {
            return Ok(true);
        }
        match self.read(max, false) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(AppError::Io(e)),
            Ok(0) => {
                self.take_events()?;
                Err(self.closed())
            }
            Ok(_) => self.take_events().map(|_| true),
        }
    }

    /// Takes `n` bytes of pending STDOUT (which holds them) as one line.
    /// Takes the next `n` pending STDOUT bytes, copying into `out` as many
    /// of them as it holds.
    fn take_stdout_into(&mut self, n: usize, out: &mut [MaybeUninit<u8>]) -> usize {
        let mut taken = 0;
        while taken < n {
            let front = self.stdout.front_mut().expect("n bytes are pending");
            let take = (n - taken).min(front.len());
            let room = out.len().saturating_sub(taken).min(take);
            for (dst, &src) in out[taken..taken + room].iter_mut().zip(front.bytes()) {
                dst.write(src);
            }
            front.consume(take);
            if front.is_empty() {
                self.stdout.pop_front();
            }
            taken += take;
        }
        self.stdout_len -= n;
        n.min(out.len())
    }

    /// Where the next line of pending STDOUT ends: after its newline, or
    /// after `max` bytes, whichever comes first; None if neither is there.
    fn line_end(&self, max: usize) -> Option<usize> {
        let mut seen = 0;
        for chunk in &self.stdout {
            let part = &chunk.bytes()[..chunk.len().min(max - seen)];
            if let Some(nl) = part.iter().position(|&c| c == b'\n') {
                return Some(seen + nl + 1);
            }
            seen += part.len();
            if seen == max {
                return Some(max);
            }
        }
        None
    }

    /// The next STDOUT line (with its newline), at most `out.len()` bytes,
    /// copied into `out`: how many bytes it has, None at the end of STDOUT.
    /// For httpd's CGI header scanner, straight into its buffer.
    pub fn next_line(&mut self, out: &mut [MaybeUninit<u8>]) -> Result<Option<usize>, AppError> {
        let max = out.len().max(1);
        loop {
            let cut = match self.line_end(max) {
                Some(n) => Some(n),
                None if self.ended && self.stdout_len > 0 => Some(self.stdout_len),
                None => None,
            };
            if let Some(n) = cut {
                return Ok(Some(self.take_stdout_into(n, out)));
            }
            if self.ended {
                return Ok(None);
            }
            // Keep the partial line, read more.
            self.fill()?;
        }
    }

    /// The STDOUT received so far, reading (at most `max` bytes at a time)
    /// if there is none; nothing once the request has ended.
    pub fn next_body(&mut self, max: usize) -> Result<StdoutChunks<'_>, AppError> {
        while self.stdout.is_empty() && !self.ended {
            self.fill_with(max)?;
        }
        self.stdout_len = 0;
        Ok(self.stdout.drain(..))
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
            self.read_wait = wait;
            match self.next_body(READ_BUF) {
                Ok(chunks) => discarded += chunks.map(|c| c.len()).sum::<usize>(),
                Err(_) => return false,
            }
        }
        true
    }

    /// Reads and discards the rest of the response, so the process ends the
    /// request cleanly and can serve another.
    pub fn drain(&mut self) -> Result<(), AppError> {
        while !self.finished() {
            self.next_body(READ_BUF)?;
        }
        Ok(())
    }
}

impl Drop for AppConn<'_> {
    /// A kept connection not handed back is ended: the manager's copy
    /// would otherwise keep it open, the app reading it forever.
    fn drop(&mut self) {
        if let (Some(s), true) = (&self.stream, self.reused) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// STDOUT chunks, in order, as `next_body` hands them out.
pub type StdoutChunks<'a> = std::collections::vec_deque::Drain<'a, Chunk>;
