//! The exchange driven by readers that behave like real connections: a
//! byte at a time, stalling (nothing for a while, then more), closing early.

use std::io::{self, Read};

use proptest::collection::vec;
use proptest::prelude::*;

use super::*;
use crate::{
    encode_end_request, encode_record, encode_unknown_type, Decoder, EndRequest, PairDecoder,
    ProtocolError, ProtocolStatus, RecordType, Role, MAX_CONTENT_LEN,
};

/// What a scripted connection does on each read.
#[derive(Clone, Debug)]
enum Step {
    Bytes(Vec<u8>),
    /// No data for now (a non-blocking socket's EAGAIN).
    Stall,
}

/// Plays `steps`, each `Bytes` at most `max_read` bytes per read; then the
/// connection ends.
struct Scripted {
    steps: std::collections::VecDeque<Step>,
    max_read: usize,
}

impl Scripted {
    fn new(steps: Vec<Step>, max_read: usize) -> Self {
        Scripted {
            steps: steps.into(),
            max_read,
        }
    }
}

impl Read for Scripted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.steps.front_mut() {
            None => Ok(0),
            Some(Step::Stall) => {
                self.steps.pop_front();
                Err(io::ErrorKind::WouldBlock.into())
            }
            Some(Step::Bytes(bytes)) => {
                let n = bytes.len().min(buf.len()).min(self.max_read);
                buf[..n].copy_from_slice(&bytes[..n]);
                bytes.drain(..n);
                if bytes.is_empty() {
                    self.steps.pop_front();
                }
                Ok(n)
            }
        }
    }
}

/// What a driver saw: stdout, stderr, how it ended, and how many reads
/// stalled with the answer still incomplete.
#[derive(Debug, Default)]
struct Seen {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    end: Option<EndRequest>,
    error: Option<ExchangeError>,
    stalls: usize,
}

/// The IO loop both users have: read, feed, take events; stop at the end.
fn drive(conn: &mut impl Read) -> Seen {
    let mut reader = ResponseReader::new(REQUEST_ID);
    let mut seen = Seen::default();
    let mut buf = [0u8; 4096];
    loop {
        loop {
            match reader.next_event() {
                Ok(Some(Event::Stdout(d))) => seen.stdout.extend(d),
                Ok(Some(Event::Stderr(d))) => seen.stderr.extend(d),
                Ok(Some(Event::End(end))) => {
                    seen.end = Some(end);
                    return seen;
                }
                Ok(None) => break,
                Err(e) => {
                    seen.error = Some(e);
                    return seen;
                }
            }
        }
        match conn.read(&mut buf) {
            Ok(0) => {
                seen.error = reader.close().err();
                return seen;
            }
            Ok(n) => reader.feed(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                assert!(reader.ended().is_none());
                seen.stalls += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
}

fn rec(rtype: RecordType, id: u16, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_record(&mut out, rtype, id, content);
    out
}

fn end(app_status: u32, protocol_status: ProtocolStatus) -> Vec<u8> {
    let mut out = Vec::new();
    let e = EndRequest {
        app_status,
        protocol_status,
    };
    encode_end_request(&mut out, REQUEST_ID, &e);
    out
}

/// A complete answer: headers and body on STDOUT, a line on STDERR, both
/// streams ended, app status 7.
fn answer() -> Vec<u8> {
    let mut w = rec(RecordType::Stdout, 1, b"Content-Type: text/plain\r\n\r\n");
    w.extend(rec(RecordType::Stderr, 1, b"a warning\n"));
    w.extend(rec(
        RecordType::Stdout,
        1,
        &[b'x'; 70_000][..MAX_CONTENT_LEN],
    ));
    w.extend(rec(RecordType::Stdout, 1, b"tail"));
    w.extend(rec(RecordType::Stdout, 1, b""));
    w.extend(rec(RecordType::Stderr, 1, b""));
    w.extend(end(7, ProtocolStatus::RequestComplete));
    w
}

fn answer_stdout() -> Vec<u8> {
    let mut s = b"Content-Type: text/plain\r\n\r\n".to_vec();
    s.extend([b'x'; MAX_CONTENT_LEN]);
    s.extend(b"tail");
    s
}

#[test]
fn a_byte_at_a_time() {
    let seen = drive(&mut Scripted::new(vec![Step::Bytes(answer())], 1));
    assert_eq!(seen.error, None);
    assert_eq!(seen.stdout, answer_stdout());
    assert_eq!(seen.stderr, b"a warning\n");
    assert_eq!(seen.end.map(|e| e.app_status), Some(7));
}

#[test]
fn stalls_inside_headers_and_bodies_change_nothing() {
    let wire = answer();
    // Stall after 3 bytes (inside a header), 12 (inside content), and at a
    // record boundary, then at the end before END_REQUEST.
    let cuts = [3, 12, 40, wire.len() - 16, wire.len() - 1];
    let mut steps = Vec::new();
    let mut from = 0;
    for cut in cuts {
        steps.push(Step::Bytes(wire[from..cut].to_vec()));
        steps.extend([Step::Stall, Step::Stall]);
        from = cut;
    }
    steps.push(Step::Bytes(wire[from..].to_vec()));
    let seen = drive(&mut Scripted::new(steps, 1000));
    assert_eq!(seen.stalls, 2 * cuts.len());
    assert_eq!((seen.error, seen.stdout), (None, answer_stdout()));
    assert_eq!(seen.end.map(|e| e.app_status), Some(7));
}

#[test]
fn a_stall_yields_no_event_until_the_record_is_whole() {
    let mut r = ResponseReader::new(REQUEST_ID);
    let wire = rec(RecordType::Stdout, 1, b"hello");
    r.feed(&wire[..wire.len() - 1]);
    assert_eq!(r.next_event(), Ok(None));
    assert_eq!(r.next_event(), Ok(None), "asking again invents nothing");
    r.feed(&wire[wire.len() - 1..]);
    assert_eq!(r.next_event(), Ok(Some(Event::Stdout(b"hello".to_vec()))));
}

#[test]
fn closing_early_at_every_point() {
    let wire = answer();
    // Where records start: closing there is a clean "closed", elsewhere a
    // record was cut.
    let mut boundaries = vec![0];
    let mut dec = Decoder::new();
    for (i, b) in wire.iter().enumerate() {
        dec.feed(&[*b]);
        if dec.next_record().unwrap().is_some() {
            boundaries.push(i + 1);
        }
    }
    // Every byte of the first records, each boundary and its neighbours,
    // and a sample of the long STDOUT record.
    let near = boundaries
        .iter()
        .flat_map(|&b| [b.saturating_sub(1), b, b + 1, b + 9]);
    let cuts = (0..120).chain(near).chain((0..wire.len()).step_by(4099));
    for cut in cuts.filter(|&c| c <= wire.len()) {
        let seen = drive(&mut Scripted::new(
            vec![Step::Bytes(wire[..cut].to_vec())],
            513,
        ));
        if cut == wire.len() {
            assert_eq!(seen.error, None);
            continue;
        }
        assert!(answer_stdout().starts_with(&seen.stdout), "cut at {cut}");
        assert_eq!(seen.end, None);
        match seen.error {
            Some(ExchangeError::Closed) => assert!(boundaries.contains(&cut), "cut at {cut}"),
            Some(ExchangeError::Protocol(ProtocolError::Truncated { pending })) => {
                assert!(!boundaries.contains(&cut) && pending > 0, "cut at {cut}")
            }
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
}

#[test]
fn records_that_are_not_ours_are_skipped() {
    let mut w = Vec::new();
    encode_unknown_type(&mut w, 42); // management, id 0
    w.extend(rec(RecordType::GetValuesResult, 0, &[1, 1, b'A', b'1']));
    w.extend(rec(RecordType::Stdout, 2, b"another request's")); // foreign id
    w.extend(rec(RecordType::EndRequest, 2, &[0; 8]));
    w.extend(rec(RecordType::Params, 1, b"server-only type"));
    w.extend(rec(RecordType::Unknown(42), 1, b"?"));
    w.extend(rec(RecordType::Stdout, 1, b"ours"));
    w.extend(end(0, ProtocolStatus::RequestComplete));
    let mut r = ResponseReader::new(REQUEST_ID);
    r.feed(&w);
    assert_eq!(r.next_event(), Ok(Some(Event::Stdout(b"ours".to_vec()))));
    assert!(matches!(r.next_event(), Ok(Some(Event::End(_)))));
    assert_eq!(r.skipped(), 6);
    assert_eq!(r.close(), Ok(()));
}

#[test]
fn a_rejected_request_is_an_error_and_stays_one() {
    let mut r = ResponseReader::new(REQUEST_ID);
    r.feed(&end(3, ProtocolStatus::Overloaded));
    let rejected = ExchangeError::Rejected(EndRequest {
        app_status: 3,
        protocol_status: ProtocolStatus::Overloaded,
    });
    assert_eq!(r.next_event(), Err(rejected.clone()));
    assert_eq!(r.next_event(), Err(rejected.clone()));
    assert_eq!(r.close(), Err(rejected));
    assert_eq!(r.ended(), None);
}

#[test]
fn plain_cgi_output_and_bad_end_request_are_protocol_errors() {
    let mut r = ResponseReader::new(REQUEST_ID);
    r.feed(b"Status: 200 OK\r\n\r\n");
    let bad = Err(ExchangeError::Protocol(ProtocolError::BadVersion(b'S')));
    assert_eq!(r.next_event(), bad);
    r.feed(&answer());
    assert_eq!(r.next_event(), bad, "sticky");

    let mut r = ResponseReader::new(REQUEST_ID);
    r.feed(&rec(RecordType::EndRequest, 1, b"short"));
    assert!(matches!(
        r.next_event(),
        Err(ExchangeError::Protocol(ProtocolError::BadBody {
            len: 5,
            ..
        }))
    ));
}

#[test]
fn bytes_after_end_request_are_ignored() {
    let mut r = ResponseReader::new(REQUEST_ID);
    let mut w = end(0, ProtocolStatus::RequestComplete);
    w.extend(b"garbage after the end");
    r.feed(&w);
    assert!(matches!(r.next_event(), Ok(Some(Event::End(_)))));
    r.feed(b"more garbage");
    assert_eq!(r.next_event(), Ok(None));
    assert_eq!(r.close(), Ok(()));
}

#[test]
fn error_messages() {
    assert_eq!(
        ExchangeError::Closed.to_string(),
        "connection closed before END_REQUEST"
    );
    let e = ExchangeError::Rejected(EndRequest {
        app_status: 0,
        protocol_status: ProtocolStatus::UnknownRole,
    });
    assert_eq!(
        e.to_string(),
        "END_REQUEST with protocol status application does not know the role"
    );
}

/// All records of `wire`, checked to be complete.
fn records(wire: &[u8]) -> Vec<crate::Record> {
    let mut dec = Decoder::new();
    dec.feed(wire);
    let mut out = Vec::new();
    while let Some(r) = dec.next_record().unwrap() {
        out.push(r);
    }
    assert_eq!(dec.finish(), Ok(()));
    out
}

#[test]
fn the_request_bytes() {
    let w = RequestWriter::new(REQUEST_ID, Role::Authorizer);
    let big = vec![b'v'; 100_000];
    let mut out = Vec::new();
    w.head(&mut out, [(&b"A"[..], &b"1"[..]), (b"BIG", &big)]);
    w.stdin(&mut out, &[b's'; 70_000]);
    w.stdin(&mut out, b"");
    w.stdin_end(&mut out);
    let recs = records(&out);
    assert_eq!(recs[0].begin_request(), Ok((Role::Authorizer, false)));
    assert!(recs.iter().all(|r| r.request_id == REQUEST_ID));
    let kinds: Vec<(RecordType, usize)> = recs.iter().map(|r| (r.rtype, r.content.len())).collect();
    use RecordType::{BeginRequest, Params, Stdin};
    let params_len = (1 + 1 + 1 + 1) + (1 + 4 + 3 + 100_000);
    assert_eq!(
        kinds,
        [
            (BeginRequest, 8),
            (Params, MAX_CONTENT_LEN),
            (Params, params_len - MAX_CONTENT_LEN),
            (Params, 0),
            (Stdin, MAX_CONTENT_LEN),
            (Stdin, 70_000 - MAX_CONTENT_LEN),
            (Stdin, 0),
        ]
    );
    let mut pairs = PairDecoder::new();
    pairs.feed(&recs[1].content);
    pairs.feed(&recs[2].content);
    assert_eq!(
        pairs.next_pair().unwrap(),
        Some((b"A".to_vec(), b"1".to_vec()))
    );
    assert_eq!(pairs.next_pair().unwrap(), Some((b"BIG".to_vec(), big)));
}

/// A piece of an answer for the property tests.
#[derive(Clone, Debug)]
enum Piece {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    /// A record the policy skips: (type byte, request id).
    Foreign(u8, u16, Vec<u8>),
}

fn piece() -> impl Strategy<Value = Piece> {
    let data = || vec(any::<u8>(), 0..300);
    prop_oneof![
        data().prop_map(Piece::Stdout),
        data().prop_map(Piece::Stderr),
        // Any type but END_REQUEST under another id; or a non-answer type
        // (never STDOUT, STDERR, END_REQUEST) under ours.
        (any::<u8>(), 2u16.., data()).prop_map(|(t, id, d)| Piece::Foreign(t, id, d)),
        (any::<u8>(), data()).prop_filter_map("an answer type", |(t, d)| {
            (![3, 6, 7].contains(&t)).then_some(Piece::Foreign(t, REQUEST_ID, d))
        }),
        (any::<u8>(), data()).prop_map(|(t, d)| Piece::Foreign(t, 0, d)),
    ]
}

fn wire_of(pieces: &[Piece], app_status: u32) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let (mut wire, mut out, mut err) = (Vec::new(), Vec::new(), Vec::new());
    for p in pieces {
        match p {
            Piece::Stdout(d) => {
                wire.extend(rec(RecordType::Stdout, REQUEST_ID, d));
                out.extend(d);
            }
            Piece::Stderr(d) => {
                wire.extend(rec(RecordType::Stderr, REQUEST_ID, d));
                err.extend(d);
            }
            Piece::Foreign(t, id, d) => wire.extend(rec(RecordType::from_u8(*t), *id, d)),
        }
    }
    wire.extend(end(app_status, ProtocolStatus::RequestComplete));
    (wire, out, err)
}

proptest! {
    /// However the answer is cut and stalled, and whatever foreign records
    /// are mixed in, the events are the answer's streams and its status.
    #[test]
    fn any_cut_gives_the_same_events(
        pieces in vec(piece(), 0..20),
        app_status in any::<u32>(),
        cuts in vec(1usize..200, 1..20),
        max_read in 1usize..600,
    ) {
        let (wire, out, err) = wire_of(&pieces, app_status);
        let mut steps = Vec::new();
        let mut rest = &wire[..];
        for size in cuts.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (a, b) = rest.split_at((*size).min(rest.len()));
            steps.push(Step::Bytes(a.to_vec()));
            steps.push(Step::Stall);
            rest = b;
        }
        let seen = drive(&mut Scripted::new(steps, max_read));
        prop_assert_eq!(seen.error, None);
        prop_assert_eq!(seen.stdout, out);
        prop_assert_eq!(seen.stderr, err);
        prop_assert_eq!(seen.end.map(|e| e.app_status), Some(app_status));
    }

    /// An answer cut anywhere before its end is an error, never an end, and
    /// what was passed on is a prefix of the streams.
    #[test]
    fn a_connection_closed_early_is_never_a_complete_answer(
        pieces in vec(piece(), 0..10),
        cut in any::<prop::sample::Index>(),
    ) {
        let (wire, out, err) = wire_of(&pieces, 0);
        let cut = cut.index(wire.len());
        let seen = drive(&mut Scripted::new(vec![Step::Bytes(wire[..cut].to_vec())], 97));
        prop_assert!(seen.end.is_none());
        prop_assert!(seen.error.is_some());
        prop_assert!(out.starts_with(&seen.stdout));
        prop_assert!(err.starts_with(&seen.stderr));
    }
}

/// Bytes appended through `feed_with` (a read straight into the reader's
/// buffer) read exactly as the same bytes given to `feed`; after the end
/// they are dropped, as `feed` drops them.
#[test]
fn feed_with_reads_as_feed() {
    fn events(r: &mut ResponseReader, out: &mut Vec<Event>) {
        while let Some(e) = r.next_event().unwrap() {
            out.push(e);
        }
    }
    let mut wire = answer();
    wire.extend(rec(RecordType::Stdout, 1, b"after the end"));
    let (mut fed, mut with) = (
        ResponseReader::new(REQUEST_ID),
        ResponseReader::new(REQUEST_ID),
    );
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for piece in wire.chunks(5) {
        fed.feed(piece);
        events(&mut fed, &mut a);
        let n = with.feed_with(|buf| {
            buf.extend_from_slice(piece);
            piece.len()
        });
        assert_eq!(n, piece.len());
        events(&mut with, &mut b);
    }
    assert_eq!(a, b);
    assert!(matches!(b.last(), Some(Event::End(_))));
    assert!(with.close().is_ok());
}

/// Header, content and padding sent apart are the bytes `stdin` writes.
#[test]
fn a_stdin_frame_around_the_content_is_the_stdin_record() {
    let w = RequestWriter::new(REQUEST_ID, Role::Responder);
    for len in [1, 7, 8, 9, 4096, MAX_CONTENT_LEN] {
        let data = vec![b'd'; len];
        let (header, padding) = w.stdin_frame(len);
        let framed = [&header[..], &data, padding].concat();
        let mut whole = Vec::new();
        w.stdin(&mut whole, &data);
        assert_eq!(framed, whole, "{len} bytes");
    }
}

#[test]
fn a_keeping_request_asks_the_app_to_keep_the_connection() {
    let mut out = Vec::new();
    RequestWriter::keeping(REQUEST_ID, Role::Responder).head(&mut out, []);
    assert_eq!(
        records(&out)[0].begin_request(),
        Ok((Role::Responder, true))
    );
    out.clear();
    RequestWriter::new(REQUEST_ID, Role::Responder).head(&mut out, []);
    assert_eq!(
        records(&out)[0].begin_request(),
        Ok((Role::Responder, false))
    );
}
