//! The answer side without a buffer of its own. The caller keeps the bytes
//! it read (the module reads them into memory that httpd's buckets then
//! point at), and STDOUT and STDERR come out as slices of them, as soon as
//! any content byte is there rather than once the record is whole. Only a
//! split header and END_REQUEST's 8 bytes are held here.
//!
//! The policy and the outcomes are [`ResponseReader`]'s: the same end, the
//! same errors, and the same STDOUT and STDERR bytes, whatever the cuts
//! (the `exchange` fuzz target and the property tests compare the two).
//! One difference, the point of it: when the connection ends inside a
//! record, the part of its content that came has been passed on already,
//! where the reader drops it with the record.
//!
//! [`ResponseReader`]: super::ResponseReader

use super::response::{disposition, Disposition};
use super::ExchangeError;
use crate::end_request::parse_body;
use crate::{EndRequest, Header, ProtocolError, ProtocolStatus, RecordType, HEADER_LEN};

/// What a slice of the answer said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    /// STDOUT content (never empty), part of a record or all of it.
    Stdout(&'a [u8]),
    /// STDERR content (never empty), likewise.
    Stderr(&'a [u8]),
    /// END_REQUEST with REQUEST_COMPLETE: the last piece.
    End(EndRequest),
}

#[derive(Debug)]
enum State {
    /// Collecting a header; `have` of its bytes are in.
    Header {
        bytes: [u8; HEADER_LEN],
        have: usize,
    },
    /// Inside a record's body (content, then padding): `at` bytes of it seen.
    Body {
        header: Header,
        what: Disposition,
        at: usize,
        /// END_REQUEST's content, as it arrives.
        end: [u8; 8],
    },
    Ended(EndRequest),
    Failed(ExchangeError),
}

const NEW_HEADER: State = State::Header {
    bytes: [0; HEADER_LEN],
    have: 0,
};

/// Reads one request's answer from slices the caller owns: give it the
/// bytes not yet used, and it says how many it used and what they held.
#[derive(Debug)]
pub struct ResponseParser {
    request_id: u16,
    state: State,
    skipped: u64,
}

impl ResponseParser {
    pub fn new(request_id: u16) -> Self {
        ResponseParser {
            request_id,
            state: NEW_HEADER,
            skipped: 0,
        }
    }

    /// Uses bytes from the front of `input`: returns how many, and the
    /// piece they held if any. `(n, None)` with `n == input.len()` means
    /// "give me more". Errors are sticky; after the end every byte is
    /// used and ignored.
    pub fn parse<'a>(
        &mut self,
        input: &'a [u8],
    ) -> Result<(usize, Option<Piece<'a>>), ExchangeError> {
        let mut used = 0;
        loop {
            let rest = &input[used..];
            match &mut self.state {
                State::Failed(e) => return Err(e.clone()),
                State::Ended(_) => return Ok((input.len(), None)),
                State::Header { bytes, have } => {
                    let n = rest.len().min(HEADER_LEN - *have);
                    bytes[*have..*have + n].copy_from_slice(&rest[..n]);
                    *have += n;
                    used += n;
                    if *have < HEADER_LEN {
                        return Ok((used, None));
                    }
                    let header =
                        Header::parse(bytes).map_err(|e| self.fail(ExchangeError::Protocol(e)))?;
                    let what = disposition(header.rtype, header.request_id, self.request_id);
                    if what == Disposition::Skip {
                        self.skipped += 1;
                    }
                    self.state = State::Body {
                        header,
                        what,
                        at: 0,
                        end: [0; 8],
                    };
                }
                State::Body {
                    header,
                    what,
                    at,
                    end,
                } => {
                    let content_len = usize::from(header.content_length);
                    if *at < content_len && !rest.is_empty() {
                        let n = rest.len().min(content_len - *at);
                        let content = &rest[..n];
                        match what {
                            Disposition::End if *at < end.len() => {
                                let m = n.min(end.len() - *at);
                                end[*at..*at + m].copy_from_slice(&content[..m]);
                            }
                            _ => {}
                        }
                        *at += n;
                        used += n;
                        let piece = match what {
                            Disposition::Stdout => Piece::Stdout(content),
                            Disposition::Stderr => Piece::Stderr(content),
                            Disposition::End | Disposition::Skip => continue,
                        };
                        if *at == header.body_len() {
                            // No padding: the record is whole already.
                            self.state = NEW_HEADER;
                        }
                        return Ok((used, Some(piece)));
                    }
                    let n = rest.len().min(header.body_len() - *at);
                    *at += n;
                    used += n;
                    if *at < header.body_len() {
                        return Ok((used, None));
                    }
                    // The record is whole.
                    let (what, content_len, end) = (*what, content_len, *end);
                    self.state = NEW_HEADER;
                    if what == Disposition::End {
                        return self.end(content_len, &end).map(|e| (used, Some(e)));
                    }
                }
            }
        }
    }

    fn end<'a>(&mut self, content_len: usize, body: &[u8; 8]) -> Result<Piece<'a>, ExchangeError> {
        let parsed = if content_len == body.len() {
            parse_body(body)
        } else {
            Err(ProtocolError::BadBody {
                rtype: RecordType::EndRequest,
                len: content_len,
            })
        };
        let end = parsed.map_err(|e| self.fail(ExchangeError::Protocol(e)))?;
        if end.protocol_status != ProtocolStatus::RequestComplete {
            return Err(self.fail(ExchangeError::Rejected(end)));
        }
        self.state = State::Ended(end);
        Ok(Piece::End(end))
    }

    fn fail(&mut self, e: ExchangeError) -> ExchangeError {
        self.state = State::Failed(e.clone());
        e
    }

    /// The connection ended. Fine once END_REQUEST was seen; otherwise says
    /// whether it ended inside a record or between records.
    pub fn close(&mut self) -> Result<(), ExchangeError> {
        let e = match &self.state {
            State::Ended(_) => return Ok(()),
            State::Failed(e) => return Err(e.clone()),
            State::Header { have: 0, .. } => ExchangeError::Closed,
            State::Header { have, .. } => truncated(*have),
            State::Body { at, .. } => truncated(HEADER_LEN + at),
        };
        Err(self.fail(e))
    }

    /// END_REQUEST (with REQUEST_COMPLETE) has been seen.
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

fn truncated(pending: usize) -> ExchangeError {
    ExchangeError::Protocol(ProtocolError::Truncated { pending })
}

#[cfg(test)]
mod tests {
    use super::super::{Event, ResponseReader, REQUEST_ID};
    use super::*;
    use crate::{encode_end_request, encode_record};
    use proptest::collection::vec;
    use proptest::prelude::*;

    /// What an answer came to: STDOUT, STDERR and how it ended.
    type Outcome = (Vec<u8>, Vec<u8>, Result<Option<EndRequest>, ExchangeError>);

    /// The reference: `ResponseReader` fed everything at once.
    fn by_reader(wire: &[u8]) -> Outcome {
        let mut r = ResponseReader::new(REQUEST_ID);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        r.feed(wire);
        loop {
            match r.next_event() {
                Ok(Some(Event::Stdout(d))) => out.extend(d),
                Ok(Some(Event::Stderr(d))) => err.extend(d),
                Ok(Some(Event::End(e))) => return (out, err, Ok(Some(e))),
                Ok(None) => return (out, err, r.close().map(|()| None)),
                Err(e) => return (out, err, Err(e)),
            }
        }
    }

    /// The parser given `wire` in slices of the sizes in `cuts` (cycled).
    fn by_parser(wire: &[u8], cuts: &[usize]) -> Outcome {
        let mut p = ResponseParser::new(REQUEST_ID);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut rest = wire;
        for &size in cuts.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (mut slice, after) = rest.split_at(size.min(rest.len()));
            rest = after;
            while !slice.is_empty() {
                match p.parse(slice) {
                    Ok((used, piece)) => {
                        assert!(used <= slice.len() && (used > 0 || piece.is_some()));
                        match piece {
                            Some(Piece::Stdout(d)) => out.extend(d),
                            Some(Piece::Stderr(d)) => err.extend(d),
                            Some(Piece::End(e)) => return (out, err, Ok(Some(e))),
                            None => assert_eq!(used, slice.len(), "stopped without a piece"),
                        }
                        slice = &slice[used..];
                    }
                    Err(e) => {
                        assert_eq!(p.parse(b"more"), Err(e.clone()), "errors stick");
                        return (out, err, Err(e));
                    }
                }
            }
        }
        (out, err, p.close().map(|()| None))
    }

    /// The same end; the same streams, except that a connection ended
    /// inside a record may have passed on part of it (module docs).
    fn alike(parsed: Outcome, read: Outcome) -> Result<(), TestCaseError> {
        prop_assert_eq!(&parsed.2, &read.2);
        if matches!(
            parsed.2,
            Err(ExchangeError::Protocol(ProtocolError::Truncated { .. }))
        ) {
            prop_assert!(parsed.0.starts_with(&read.0) && parsed.1.starts_with(&read.1));
        } else {
            prop_assert_eq!((parsed.0, parsed.1), (read.0, read.1));
        }
        Ok(())
    }

    fn rec(rtype: u8, id: u16, content: &[u8]) -> Vec<u8> {
        let mut w = Vec::new();
        encode_record(&mut w, RecordType::from_u8(rtype), id, content);
        w
    }

    /// Records of every kind, some malformed, then maybe an end and garbage.
    fn answer() -> impl Strategy<Value = Vec<u8>> {
        let record = prop_oneof![
            (vec(any::<u8>(), 0..300)).prop_map(|d| rec(6, REQUEST_ID, &d)),
            (vec(any::<u8>(), 0..50)).prop_map(|d| rec(7, REQUEST_ID, &d)),
            (any::<u8>(), 0u16..4, vec(any::<u8>(), 0..40)).prop_map(|(t, id, d)| rec(t, id, &d)),
            (any::<u32>(), 0u8..5).prop_map(|(app_status, s)| {
                let mut w = Vec::new();
                let protocol_status = ProtocolStatus::from_u8(s);
                let end = EndRequest {
                    app_status,
                    protocol_status,
                };
                encode_end_request(&mut w, REQUEST_ID, &end);
                w
            }),
            vec(any::<u8>(), 0..12),
        ];
        vec(record, 0..12).prop_map(|rs| rs.concat())
    }

    proptest! {
        #[test]
        fn the_parser_reads_as_the_reader(wire in answer(), cuts in vec(1usize..400, 1..8)) {
            alike(by_parser(&wire, &cuts), by_reader(&wire))?;
        }

        #[test]
        fn any_bytes_read_alike(wire in vec(any::<u8>(), 0..200), cuts in vec(1usize..30, 1..8)) {
            alike(by_parser(&wire, &cuts), by_reader(&wire))?;
        }

        /// Whole records cut short: what came of the last one is passed on.
        #[test]
        fn a_cut_record_passes_on_what_came(
            content in vec(any::<u8>(), 1..300),
            cut in any::<prop::sample::Index>(),
        ) {
            let wire = rec(6, REQUEST_ID, &content);
            let at = HEADER_LEN + cut.index(content.len());
            let (out, _, end) = by_parser(&wire[..at], &[7]);
            prop_assert_eq!(&out[..], &content[..at - HEADER_LEN]);
            let truncated = matches!(end, Err(ExchangeError::Protocol(ProtocolError::Truncated { .. })));
            prop_assert!(truncated, "ended with {:?}", end);
        }
    }

    #[test]
    fn stdout_comes_out_before_its_record_is_whole() {
        let wire = rec(6, REQUEST_ID, b"hello");
        let mut p = ResponseParser::new(REQUEST_ID);
        assert_eq!(p.parse(&wire[..11]), Ok((11, Some(Piece::Stdout(b"hel")))));
        assert_eq!(p.parse(&wire[11..]), Ok((2, Some(Piece::Stdout(b"lo")))));
        assert_eq!(p.parse(&wire[13..]), Ok((3, None)), "the padding");
        assert_eq!(p.close(), Err(ExchangeError::Closed));
    }
}
