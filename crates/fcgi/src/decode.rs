//! Byte-fed record decoder: feed what the connection gave, take out whole
//! records. It never blocks and never reads; "need more bytes" is `Ok(None)`.

use super::buf::Buf;
use super::{Header, ProtocolError, Record, HEADER_LEN};

#[derive(Debug)]
enum State {
    /// Waiting for the 8 header bytes.
    Header,
    /// Header read; waiting for content and padding.
    Body(Header),
    /// A bad header was seen; record boundaries are lost for good.
    Failed(ProtocolError),
}

/// Turns a byte stream into records. Unknown record types come out as
/// `RecordType::Unknown(_)` records for the caller to skip.
#[derive(Debug)]
pub struct Decoder {
    buf: Buf,
    state: State,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    pub fn new() -> Self {
        Decoder {
            buf: Buf::default(),
            state: State::Header,
        }
    }

    /// Add bytes read from the connection. After an error they are dropped.
    pub fn feed(&mut self, bytes: &[u8]) {
        if !matches!(self.state, State::Failed(_)) {
            self.buf.extend(bytes);
        }
    }

    /// Lets `f` append bytes read from the connection straight to the
    /// input buffer (no copy); the same as `feed` with them. After an error
    /// they are dropped.
    pub fn feed_with<R>(&mut self, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        let failed = matches!(self.state, State::Failed(_));
        self.buf.append_with(|bytes| {
            let before = bytes.len();
            let r = f(bytes);
            if failed {
                bytes.truncate(before);
            }
            r
        })
    }

    /// Next complete record, or `Ok(None)` if more bytes are needed. After an
    /// error every later call returns the same error.
    pub fn next_record(&mut self) -> Result<Option<Record>, ProtocolError> {
        loop {
            match self.state {
                State::Failed(ref err) => return Err(err.clone()),
                State::Header => {
                    let Some(bytes) = self.buf.data().first_chunk::<HEADER_LEN>() else {
                        return Ok(None);
                    };
                    match Header::parse(bytes) {
                        Ok(header) => {
                            self.buf.consume(HEADER_LEN);
                            self.state = State::Body(header);
                        }
                        Err(err) => self.state = State::Failed(err),
                    }
                }
                State::Body(header) => {
                    let Some(body) = self.buf.data().get(..header.body_len()) else {
                        return Ok(None);
                    };
                    let record = Record {
                        rtype: header.rtype,
                        request_id: header.request_id,
                        content: body[..usize::from(header.content_length)].to_vec(),
                    };
                    self.buf.consume(header.body_len());
                    self.state = State::Header;
                    return Ok(Some(record));
                }
            }
        }
    }

    /// Bytes buffered but not yet part of a complete record (for "truncated"
    /// diagnostics).
    pub fn pending(&self) -> usize {
        match self.state {
            State::Body(_) => HEADER_LEN + self.buf.len(),
            State::Header | State::Failed(_) => self.buf.len(),
        }
    }

    /// Call when the connection has ended: an error if it ended inside a
    /// record, or if the stream was already bad.
    pub fn finish(&self) -> Result<(), ProtocolError> {
        match self.state {
            State::Failed(ref err) => Err(err.clone()),
            _ if self.pending() > 0 => Err(ProtocolError::Truncated {
                pending: self.pending(),
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{encode_record, encode_stream_chunk, RecordType};
    use super::*;

    fn drain(dec: &mut Decoder) -> Vec<Record> {
        let mut out = Vec::new();
        while let Some(r) = dec.next_record().unwrap() {
            out.push(r);
        }
        out
    }

    #[test]
    fn hand_written_records() {
        let bytes = [
            1, 6, 0, 1, 0, 5, 3, 0, b'H', b'e', b'l', b'l', b'o', 0, 0, 0, // STDOUT "Hello"
            1, 6, 0, 1, 0, 0, 0, 0, // STDOUT end
            1, 3, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // END_REQUEST
        ];
        let mut dec = Decoder::new();
        dec.feed(&bytes);
        let records = drain(&mut dec);
        assert_eq!(records.len(), 3);
        assert_eq!(
            records[0],
            Record {
                rtype: RecordType::Stdout,
                request_id: 1,
                content: b"Hello".to_vec()
            }
        );
        assert!(records[1].is_stream_end());
        assert_eq!(records[2].end_request().unwrap().app_status, 0);
        assert_eq!(dec.pending(), 0);
        assert_eq!(dec.finish(), Ok(()));
    }

    #[test]
    fn pending_counts_header_and_partial_body() {
        let mut dec = Decoder::new();
        dec.feed(&[1, 6, 0, 1]);
        assert_eq!(dec.next_record(), Ok(None));
        assert_eq!(dec.pending(), 4);
        dec.feed(&[0, 5, 3, 0, b'H', b'e']);
        assert_eq!(dec.next_record(), Ok(None));
        assert_eq!(dec.pending(), 10);
        assert_eq!(dec.finish(), Err(ProtocolError::Truncated { pending: 10 }));
        // Content is there but the padding is not: still incomplete.
        dec.feed(b"llo\0\0");
        assert_eq!(dec.next_record(), Ok(None));
        dec.feed(b"\0");
        assert_eq!(dec.next_record().unwrap().unwrap().content, b"Hello");
        assert_eq!(dec.pending(), 0);
    }

    #[test]
    fn bad_version_is_sticky() {
        let mut dec = Decoder::new();
        dec.feed(b"Content-Type: text/html\r\n\r\n");
        let err = ProtocolError::BadVersion(b'C');
        assert_eq!(dec.next_record(), Err(err.clone()));
        dec.feed(&[1, 6, 0, 1, 0, 0, 0, 0]);
        assert_eq!(dec.next_record(), Err(err.clone()));
        assert_eq!(dec.finish(), Err(err));
    }

    #[test]
    fn bad_version_after_good_records() {
        let mut dec = Decoder::new();
        dec.feed(&[1, 6, 0, 1, 0, 0, 0, 0, 0, 6, 0, 1, 0, 0, 0, 0]);
        assert!(dec.next_record().unwrap().unwrap().is_stream_end());
        assert_eq!(dec.next_record(), Err(ProtocolError::BadVersion(0)));
    }

    /// Feeds `wire` in pieces of `feed_size`, taking at most `per_feed`
    /// records after each piece, then the rest; returns the content and the
    /// bytes the buffer moved.
    fn decode_stdout(wire: &[u8], feed_size: usize, per_feed: usize) -> (Vec<u8>, usize) {
        let mut dec = Decoder::new();
        let mut got = Vec::new();
        for piece in wire.chunks(feed_size) {
            dec.feed(piece);
            for _ in 0..per_feed {
                match dec.next_record().unwrap() {
                    Some(r) => got.extend_from_slice(&r.content),
                    None => break,
                }
            }
        }
        for r in drain(&mut dec) {
            got.extend_from_slice(&r.content);
        }
        (got, dec.buf.moved)
    }

    #[test]
    fn one_mib_of_stdout_takes_linear_work() {
        let data: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
        let mut wire = Vec::new();
        encode_stream_chunk(&mut wire, RecordType::Stdout, 1, &data);
        const RECORD: usize = HEADER_LEN + 65535 + 1;
        let cases = [
            (wire.len(), usize::MAX),
            (65536, usize::MAX),
            (1000, usize::MAX),
            (7, usize::MAX),
            // Two records per read, one taken: the backlog grows, and
            // compacting on every feed would move it each time (~2.4 MiB).
            (2 * RECORD, 1),
            (RECORD + 1000, 1),
        ];
        for (feed_size, per_feed) in cases {
            let (got, moved) = decode_stdout(&wire, feed_size, per_feed);
            assert!(got == data, "feed size {feed_size}, {per_feed} per feed");
            assert!(
                moved <= wire.len(),
                "feed size {feed_size}, {per_feed} per feed: moved {moved} bytes for {} fed",
                wire.len()
            );
        }
    }

    #[test]
    fn padding_chosen_by_the_peer_is_skipped() {
        let mut dec = Decoder::new();
        let mut wire = vec![1, 6, 0, 1, 0, 1, 20, 0, b'x'];
        wire.extend_from_slice(&[0xAA; 20]);
        encode_record(&mut wire, RecordType::Stderr, 1, b"e");
        dec.feed(&wire);
        let records = drain(&mut dec);
        assert_eq!(records.len(), 2);
        assert_eq!(
            (records[0].rtype, &records[0].content[..]),
            (RecordType::Stdout, &b"x"[..])
        );
        assert_eq!(
            (records[1].rtype, &records[1].content[..]),
            (RecordType::Stderr, &b"e"[..])
        );
        assert_eq!(dec.finish(), Ok(()));
    }
}
