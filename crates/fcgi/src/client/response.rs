//! The answer side: bytes from the application in, events out.

use super::ExchangeError;
use crate::{Decoder, EndRequest, ProtocolStatus, Record, RecordType};

/// Something the application said about the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// STDOUT content (never empty: the empty record that ends the stream
    /// is not an event).
    Stdout(Vec<u8>),
    /// STDERR content, as sent (see `LineSplitter` for lines).
    Stderr(Vec<u8>),
    /// END_REQUEST with REQUEST_COMPLETE: the last event.
    End(EndRequest),
}

#[derive(Debug)]
enum State {
    Reading,
    Ended(EndRequest),
    Failed(ExchangeError),
}

/// Reads one request's answer. Feed it what the connection gave, take
/// events until `Ok(None)` ("need more bytes"), and call [`close`] when the
/// connection ends. Errors are sticky; bytes after END_REQUEST are ignored.
///
/// [`close`]: ResponseReader::close
#[derive(Debug)]
pub struct ResponseReader {
    request_id: u16,
    decoder: Decoder,
    state: State,
    skipped: u64,
}

/// What to do with a record (the policy of the module docs, in one place).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Disposition {
    Stdout,
    Stderr,
    End,
    Skip,
}

pub(super) fn disposition(rtype: RecordType, record_id: u16, request_id: u16) -> Disposition {
    if record_id != request_id {
        return Disposition::Skip; // management (id 0) or another request
    }
    match rtype {
        RecordType::Stdout => Disposition::Stdout,
        RecordType::Stderr => Disposition::Stderr,
        RecordType::EndRequest => Disposition::End,
        _ => Disposition::Skip,
    }
}

impl ResponseReader {
    pub fn new(request_id: u16) -> Self {
        ResponseReader {
            request_id,
            decoder: Decoder::new(),
            state: State::Reading,
            skipped: 0,
        }
    }

    /// Adds bytes read from the connection.
    pub fn feed(&mut self, bytes: &[u8]) {
        if matches!(self.state, State::Reading) {
            self.decoder.feed(bytes);
        }
    }

    /// Lets `f` append bytes read from the connection straight to the
    /// reader's buffer: `feed` without the copy. Dropped once the request
    /// has ended or failed, as with `feed`.
    pub fn feed_with<R>(&mut self, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        let reading = matches!(self.state, State::Reading);
        self.decoder.feed_with(|bytes| {
            let before = bytes.len();
            let r = f(bytes);
            if !reading {
                bytes.truncate(before);
            }
            r
        })
    }

    /// The next event, or `Ok(None)` when more bytes are needed (or the
    /// request has ended).
    pub fn next_event(&mut self) -> Result<Option<Event>, ExchangeError> {
        loop {
            match &self.state {
                State::Reading => {}
                State::Ended(_) => return Ok(None),
                State::Failed(e) => return Err(e.clone()),
            }
            let record = match self.decoder.next_record() {
                Ok(Some(record)) => record,
                Ok(None) => return Ok(None),
                Err(e) => return Err(self.fail(ExchangeError::Protocol(e))),
            };
            match disposition(record.rtype, record.request_id, self.request_id) {
                Disposition::Skip => self.skipped += 1,
                // Empty records end a stream: nothing to pass on.
                Disposition::Stdout | Disposition::Stderr if record.content.is_empty() => {}
                Disposition::Stdout => return Ok(Some(Event::Stdout(record.content))),
                Disposition::Stderr => return Ok(Some(Event::Stderr(record.content))),
                Disposition::End => return self.end(&record).map(Some),
            }
        }
    }

    fn end(&mut self, record: &Record) -> Result<Event, ExchangeError> {
        let end = record
            .end_request()
            .map_err(|e| self.fail(ExchangeError::Protocol(e)))?;
        if end.protocol_status != ProtocolStatus::RequestComplete {
            return Err(self.fail(ExchangeError::Rejected(end)));
        }
        self.state = State::Ended(end);
        Ok(Event::End(end))
    }

    fn fail(&mut self, e: ExchangeError) -> ExchangeError {
        self.state = State::Failed(e.clone());
        e
    }

    /// The connection ended. Fine once END_REQUEST was seen; otherwise says
    /// whether it ended inside a record or between records. Events still
    /// buffered should be taken first.
    pub fn close(&mut self) -> Result<(), ExchangeError> {
        match &self.state {
            State::Ended(_) => Ok(()),
            State::Failed(e) => Err(e.clone()),
            State::Reading => {
                let e = match self.decoder.finish() {
                    Err(e) => ExchangeError::Protocol(e),
                    Ok(()) => ExchangeError::Closed,
                };
                Err(self.fail(e))
            }
        }
    }

    /// END_REQUEST (with REQUEST_COMPLETE) has been taken as an event.
    pub fn ended(&self) -> Option<EndRequest> {
        match self.state {
            State::Ended(end) => Some(end),
            _ => None,
        }
    }

    /// How many records were skipped under the policy of the module docs.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }
}
