//! The response side of a FastCGI exchange: the bytes an application sends
//! back (STDOUT, STDERR, END_REQUEST, management records, garbage).
//!
//! Today that is `fcgid_protocol::Decoder` plus the record body decoders.
//! The input is fed in pieces chosen by the control byte (see `Splits`)
//! and checked against a plain whole-buffer reader written here: the same
//! records and the same end (clean, truncated with N bytes pending, or a
//! bad version that sticks). Every record must survive re-encoding, and so
//! must the bodies that decode (END_REQUEST, BEGIN_REQUEST, UNKNOWN_TYPE,
//! GET_VALUES[_RESULT] pairs).
//!
//! To retarget at a client exchange type (bytes in, events out), replace
//! `decode_in_pieces`: it must return what the exchange saw, in order.

#![no_main]

use fcgid_fuzz::Splits;
use fcgid_protocol::{
    decode_pairs, encode_begin_request, encode_end_request, encode_get_values_result,
    encode_record, encode_unknown_type, Decoder, ProtocolError, Record, RecordType, HEADER_LEN,
    MAX_CONTENT_LEN, VERSION_1,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((splits, data)) = Splits::of(input) else {
        return;
    };
    let (want, want_end) = reference(data);
    let got = decode_in_pieces(splits);
    assert_eq!(got.records, want, "records differ from the reference");
    assert_eq!(got.finish, want_end, "end differs from the reference");
    match want_end {
        // Once failed, every call gives the same error.
        Err(ProtocolError::BadVersion(_)) => assert_eq!(got.first_error, want_end.err()),
        _ => {
            assert_eq!(got.first_error, None);
            let pending = match want_end {
                Err(ProtocolError::Truncated { pending }) => pending,
                _ => 0,
            };
            assert_eq!(got.pending, pending);
        }
    }
    for r in &got.records {
        check_record(r);
    }
    if let Err(e) = &got.finish {
        let _ = e.to_string();
    }
});

struct Decoded {
    records: Vec<Record>,
    /// The first error `next_record` returned, if any.
    first_error: Option<ProtocolError>,
    pending: usize,
    finish: Result<(), ProtocolError>,
}

fn decode_in_pieces(splits: Splits<'_>) -> Decoded {
    let mut dec = Decoder::new();
    let mut records = Vec::new();
    let mut first_error = None;
    let mut take_one =
        |dec: &mut Decoder, first_error: &mut Option<ProtocolError>| match dec.next_record() {
            Ok(Some(r)) => {
                assert!(first_error.is_none(), "a record after an error");
                records.push(r);
                true
            }
            Ok(None) => {
                assert!(first_error.is_none(), "need-more after an error");
                false
            }
            Err(e) => {
                match first_error {
                    Some(first) => assert_eq!(*first, e, "the error changed"),
                    None => *first_error = Some(e),
                }
                false
            }
        };
    for (piece, take) in splits {
        dec.feed(piece);
        for _ in 0..take {
            if !take_one(&mut dec, &mut first_error) {
                break;
            }
        }
    }
    while take_one(&mut dec, &mut first_error) {}
    // Asking again after the end changes nothing.
    take_one(&mut dec, &mut first_error);
    Decoded {
        records,
        first_error,
        pending: dec.pending(),
        finish: dec.finish(),
    }
}

/// The records of a whole buffer, read the obvious way, and how it ends.
fn reference(data: &[u8]) -> (Vec<Record>, Result<(), ProtocolError>) {
    let mut records = Vec::new();
    let mut at = 0;
    loop {
        let rest = &data[at..];
        if rest.len() < HEADER_LEN {
            let end = match rest.len() {
                0 => Ok(()),
                pending => Err(ProtocolError::Truncated { pending }),
            };
            return (records, end);
        }
        if rest[0] != VERSION_1 {
            return (records, Err(ProtocolError::BadVersion(rest[0])));
        }
        let content_len = usize::from(u16::from_be_bytes([rest[4], rest[5]]));
        let record_len = HEADER_LEN + content_len + usize::from(rest[6]);
        if rest.len() < record_len {
            let pending = rest.len();
            return (records, Err(ProtocolError::Truncated { pending }));
        }
        records.push(Record {
            rtype: RecordType::from_u8(rest[1]),
            request_id: u16::from_be_bytes([rest[2], rest[3]]),
            content: rest[HEADER_LEN..HEADER_LEN + content_len].to_vec(),
        });
        at += record_len;
    }
}

/// Decodes a buffer that must hold exactly one record.
fn only_record(wire: &[u8]) -> Record {
    assert_eq!(wire.len() % 8, 0, "our records are padded to 8");
    let mut dec = Decoder::new();
    dec.feed(wire);
    let r = dec.next_record().unwrap().expect("a whole record");
    assert_eq!(dec.next_record(), Ok(None));
    assert_eq!(dec.finish(), Ok(()));
    r
}

fn check_record(r: &Record) {
    assert!(r.content.len() <= MAX_CONTENT_LEN);
    assert_eq!(RecordType::from_u8(r.rtype.as_u8()), r.rtype);
    let _ = r.rtype.to_string();

    let mut wire = Vec::new();
    encode_record(&mut wire, r.rtype, r.request_id, &r.content);
    assert_eq!(&only_record(&wire), r, "re-encoded record");

    assert_eq!(
        r.is_stream_end(),
        r.rtype.is_stream() && r.content.is_empty()
    );
    let wrong_type = |res: Result<(), ProtocolError>, expected: RecordType| {
        if r.rtype != expected {
            let want = ProtocolError::WrongType {
                expected,
                found: r.rtype,
            };
            assert_eq!(res, Err(want));
        }
    };
    let bad_body = |e: &ProtocolError| {
        assert_eq!(
            *e,
            ProtocolError::BadBody {
                rtype: r.rtype,
                len: r.content.len()
            }
        );
        assert_ne!(r.content.len(), 8);
    };

    match r.end_request() {
        Ok(end) => {
            assert_eq!(r.content.len(), 8);
            let mut wire = Vec::new();
            encode_end_request(&mut wire, r.request_id, &end);
            let again = only_record(&wire);
            assert_eq!(again.end_request(), Ok(end));
            // Only the reserved bytes may differ.
            assert_eq!(again.content[..5], r.content[..5]);
            let _ = end.protocol_status.to_string();
        }
        Err(e) if r.rtype == RecordType::EndRequest => bad_body(&e),
        Err(e) => wrong_type(Err(e), RecordType::EndRequest),
    }

    match r.begin_request() {
        Ok((role, keep_conn)) => {
            assert_eq!(r.content.len(), 8);
            let mut wire = Vec::new();
            encode_begin_request(&mut wire, r.request_id, role, keep_conn);
            assert_eq!(only_record(&wire).begin_request(), Ok((role, keep_conn)));
        }
        Err(ProtocolError::UnknownRole(role)) => {
            assert_eq!(r.content.len(), 8);
            assert_eq!(role, u16::from_be_bytes([r.content[0], r.content[1]]));
        }
        Err(e) if r.rtype == RecordType::BeginRequest => bad_body(&e),
        Err(e) => wrong_type(Err(e), RecordType::BeginRequest),
    }

    match r.unknown_type() {
        Ok(t) => {
            assert_eq!(r.content.len(), 8);
            assert_eq!(t, r.content[0]);
            let mut wire = Vec::new();
            encode_unknown_type(&mut wire, t);
            assert_eq!(only_record(&wire).unknown_type(), Ok(t));
        }
        Err(e) if r.rtype == RecordType::UnknownType => bad_body(&e),
        Err(e) => wrong_type(Err(e), RecordType::UnknownType),
    }

    if matches!(
        r.rtype,
        RecordType::GetValues | RecordType::GetValuesResult | RecordType::Params
    ) {
        if let Ok(pairs) = decode_pairs(&r.content) {
            // The shortest encoding is never longer, so it fits one record.
            let mut wire = Vec::new();
            let refs = pairs.iter().map(|(n, v)| (&n[..], &v[..]));
            encode_get_values_result(&mut wire, refs);
            let again = only_record(&wire);
            assert!(again.content.len() <= r.content.len());
            assert_eq!(decode_pairs(&again.content), Ok(pairs));
        }
    }
}
