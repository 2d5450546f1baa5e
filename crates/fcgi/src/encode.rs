//! Writers: each appends whole, padded records to a `Vec<u8>`.

use super::{
    begin_request, encode_pair, end_request, record, EndRequest, Header, RecordType, Role,
    HEADER_LEN, MAX_CONTENT_LEN, NULL_REQUEST_ID,
};

/// Appends one record: header, `content`, zero padding to a multiple of 8.
///
/// # Panics
/// If `content` is longer than `MAX_CONTENT_LEN`: the length would not fit
/// the header, and truncating it would corrupt the stream.
pub fn encode_record(dst: &mut Vec<u8>, rtype: RecordType, request_id: u16, content: &[u8]) {
    content_len(content.len()); // panic before writing anything
    let start = open_record(dst);
    dst.extend_from_slice(content);
    close_record(dst, start, rtype, request_id);
}

fn content_len(len: usize) -> u16 {
    u16::try_from(len).unwrap_or_else(|_| {
        panic!("FastCGI record content of {len} bytes exceeds {MAX_CONTENT_LEN}")
    })
}

/// Reserves room for a header; returns where it goes.
fn open_record(dst: &mut Vec<u8>) -> usize {
    let start = dst.len();
    dst.resize(start + HEADER_LEN, 0);
    start
}

/// Writes the header at `start` for the content appended after it, then the
/// padding.
fn close_record(dst: &mut Vec<u8>, start: usize, rtype: RecordType, request_id: u16) {
    let len = content_len(dst.len() - start - HEADER_LEN);
    let header = Header::new(rtype, request_id, len);
    dst[start..start + HEADER_LEN].copy_from_slice(&header.to_bytes());
    dst.resize(dst.len() + usize::from(header.padding_length), 0);
}

pub fn encode_begin_request(dst: &mut Vec<u8>, request_id: u16, role: Role, keep_conn: bool) {
    let body = begin_request::encode_body(role, keep_conn);
    encode_record(dst, RecordType::BeginRequest, request_id, &body);
}

pub fn encode_abort_request(dst: &mut Vec<u8>, request_id: u16) {
    encode_record(dst, RecordType::AbortRequest, request_id, &[]);
}

pub fn encode_end_request(dst: &mut Vec<u8>, request_id: u16, end: &EndRequest) {
    let body = end_request::encode_body(end);
    encode_record(dst, RecordType::EndRequest, request_id, &body);
}

/// The management reply to a record of a type the application does not know.
pub fn encode_unknown_type(dst: &mut Vec<u8>, unknown: u8) {
    let body = record::unknown_type_body(unknown);
    encode_record(dst, RecordType::UnknownType, NULL_REQUEST_ID, &body);
}

/// Splits `data` into records of at most 65535 bytes; does NOT add the empty
/// terminator. Empty `data` writes nothing (an empty record would end the
/// stream).
pub fn encode_stream_chunk(dst: &mut Vec<u8>, rtype: RecordType, request_id: u16, data: &[u8]) {
    for chunk in data.chunks(MAX_CONTENT_LEN) {
        encode_record(dst, rtype, request_id, chunk);
    }
}

/// The empty record that ends a stream.
pub fn encode_stream_end(dst: &mut Vec<u8>, rtype: RecordType, request_id: u16) {
    encode_record(dst, rtype, request_id, &[]);
}

/// Encodes all pairs as one PARAMS byte stream, split into records of at
/// most 65535 bytes (a pair may straddle records), then the empty record
/// that ends the stream.
pub fn encode_params<'a, I>(dst: &mut Vec<u8>, request_id: u16, pairs: I)
where
    I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
{
    // Pairs go straight into `dst` after a header slot; only a stream longer
    // than one record is moved out again to be cut.
    let start = open_record(dst);
    for (name, value) in pairs {
        encode_pair(dst, name, value);
    }
    let len = dst.len() - start - HEADER_LEN;
    if len > MAX_CONTENT_LEN {
        let stream = dst.split_off(start + HEADER_LEN);
        dst.truncate(start);
        encode_stream_chunk(dst, RecordType::Params, request_id, &stream);
    } else if len > 0 {
        close_record(dst, start, RecordType::Params, request_id);
    } else {
        dst.truncate(start);
    }
    encode_stream_end(dst, RecordType::Params, request_id);
}

/// A GET_VALUES management record asking for `names` (e.g. `MAX_CONNS`).
/// Unlike PARAMS it is one record, not a stream.
///
/// # Panics
/// If the names do not fit in one record.
pub fn encode_get_values<'a, I>(dst: &mut Vec<u8>, names: I)
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let pairs = names.into_iter().map(|name| (name, &b""[..]));
    encode_pairs_record(dst, RecordType::GetValues, pairs);
}

/// The GET_VALUES_RESULT reply, one record.
///
/// # Panics
/// If the pairs do not fit in one record.
pub fn encode_get_values_result<'a, I>(dst: &mut Vec<u8>, pairs: I)
where
    I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
{
    encode_pairs_record(dst, RecordType::GetValuesResult, pairs);
}

fn encode_pairs_record<'a, I>(dst: &mut Vec<u8>, rtype: RecordType, pairs: I)
where
    I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
{
    let start = open_record(dst);
    for (name, value) in pairs {
        encode_pair(dst, name, value);
    }
    close_record(dst, start, rtype, NULL_REQUEST_ID);
}

#[cfg(test)]
mod tests {
    use super::super::ProtocolStatus;
    use super::*;

    /// (type, request id, content length, padding length) of the header at
    /// `at`, read straight from the bytes rather than through `Header`.
    fn header_at(bytes: &[u8], at: usize) -> (u8, u16, usize, usize) {
        let h = &bytes[at..at + 8];
        let id = u16::from_be_bytes([h[2], h[3]]);
        let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
        (h[1], id, len, usize::from(h[6]))
    }

    #[test]
    fn begin_request_bytes() {
        let mut out = Vec::new();
        encode_begin_request(&mut out, 1, Role::Responder, true);
        assert_eq!(out, [1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn end_request_bytes() {
        let mut out = Vec::new();
        let end = EndRequest {
            app_status: 2,
            protocol_status: ProtocolStatus::Overloaded,
        };
        encode_end_request(&mut out, 0x0102, &end);
        assert_eq!(out, [1, 3, 1, 2, 0, 8, 0, 0, 0, 0, 0, 2, 2, 0, 0, 0]);
    }

    #[test]
    fn abort_and_unknown_type_bytes() {
        let mut out = Vec::new();
        encode_abort_request(&mut out, 5);
        encode_unknown_type(&mut out, 42);
        assert_eq!(
            out,
            [
                1, 2, 0, 5, 0, 0, 0, 0, // ABORT_REQUEST, empty
                1, 11, 0, 0, 0, 8, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0, // UNKNOWN_TYPE
            ]
        );
    }

    #[test]
    fn record_is_padded_with_zeros() {
        let mut out = vec![0xEE]; // existing bytes are kept
        encode_record(&mut out, RecordType::Stdout, 1, b"Hello");
        assert_eq!(
            out,
            [0xEE, 1, 6, 0, 1, 0, 5, 3, 0, b'H', b'e', b'l', b'l', b'o', 0, 0, 0]
        );
    }

    #[test]
    fn max_content_fits() {
        let mut out = Vec::new();
        encode_record(&mut out, RecordType::Stdin, 1, &[7; MAX_CONTENT_LEN]);
        assert_eq!(header_at(&out, 0), (5, 1, 65535, 1));
        assert_eq!(out.len(), 8 + 65535 + 1);
    }

    #[test]
    #[should_panic(expected = "65536 bytes exceeds 65535")]
    fn oversized_content_panics() {
        encode_record(&mut Vec::new(), RecordType::Stdout, 1, &[0; 65536]);
    }

    #[test]
    fn stream_over_64k_is_split() {
        let data: Vec<u8> = (0..150_000u32).map(|i| i as u8).collect();
        let mut out = Vec::new();
        encode_stream_chunk(&mut out, RecordType::Stdin, 3, &data);
        encode_stream_end(&mut out, RecordType::Stdin, 3);

        let mut at = 0;
        let mut lens = Vec::new();
        let mut joined = Vec::new();
        while at < out.len() {
            let (t, id, len, pad) = header_at(&out, at);
            assert_eq!((t, id), (5, 3));
            joined.extend_from_slice(&out[at + 8..at + 8 + len]);
            lens.push(len);
            at += 8 + len + pad;
        }
        assert_eq!(at, out.len());
        assert_eq!(lens, [65535, 65535, 150_000 - 2 * 65535, 0]);
        assert_eq!(joined, data);
    }

    #[test]
    fn params_bytes() {
        let mut out = Vec::new();
        encode_params(&mut out, 1, [(&b"A"[..], &b"bc"[..]), (b"DE", b"")]);
        assert_eq!(
            out,
            [
                1, 4, 0, 1, 0, 9, 7, 0, // PARAMS, 9 bytes, 7 bytes of padding
                1, 2, b'A', b'b', b'c', 2, 0, b'D', b'E', // the pairs
                0, 0, 0, 0, 0, 0, 0, // padding
                1, 4, 0, 1, 0, 0, 0, 0, // the empty PARAMS record
            ]
        );
    }

    #[test]
    fn no_params_is_just_the_terminator() {
        let mut out = Vec::new();
        encode_params(&mut out, 9, []);
        assert_eq!(out, [1, 4, 0, 9, 0, 0, 0, 0]);
    }

    #[test]
    fn params_over_64k_are_split() {
        let value = vec![b'v'; 70_000];
        let mut out = Vec::new();
        encode_params(&mut out, 2, [(&b"BIG"[..], &value[..])]);
        // 1 + 4 length bytes, 3 name bytes, 70000 value bytes.
        assert_eq!(header_at(&out, 0), (4, 2, 65535, 1));
        let second = 8 + 65535 + 1;
        assert_eq!(header_at(&out, second), (4, 2, 70_008 - 65535, 7));
        let third = second + 8 + 4473 + 7;
        assert_eq!(header_at(&out, third), (4, 2, 0, 0));
        assert_eq!(out.len(), third + 8);
        assert_eq!(&out[8..16], [3, 0x80, 0x01, 0x11, 0x70, b'B', b'I', b'G']);
    }

    #[test]
    fn params_at_the_record_boundary() {
        // One pair with 1 + 4 length bytes and a 1-byte name: the stream is
        // 6 + value bytes long.
        for (stream_len, expect) in [(65535, vec![65535, 0]), (65536, vec![65535, 1, 0])] {
            let value = vec![b'v'; stream_len - 6];
            let mut out = vec![0xEE];
            encode_params(&mut out, 1, [(&b"N"[..], &value[..])]);
            let mut at = 1;
            let mut lens = Vec::new();
            while at < out.len() {
                let (t, _, len, pad) = header_at(&out, at);
                assert_eq!(t, 4);
                lens.push(len);
                at += 8 + len + pad;
            }
            assert_eq!(lens, expect);
            assert_eq!(out[0], 0xEE);
            let [hi, lo] = (value.len() as u16).to_be_bytes();
            assert_eq!(&out[9..15], [1, 0x80, 0, hi, lo, b'N']);
        }
    }

    #[test]
    #[should_panic(expected = "exceeds 65535")]
    fn get_values_too_large_panics() {
        let names = vec![&[b'n'; 1000][..]; 70];
        encode_get_values(&mut Vec::new(), names);
    }

    #[test]
    fn get_values_bytes() {
        let mut out = Vec::new();
        encode_get_values(&mut out, [super::super::MAX_CONNS]);
        let mut expect = vec![1, 9, 0, 0, 0, 16, 0, 0, 14, 0];
        expect.extend_from_slice(b"FCGI_MAX_CONNS");
        assert_eq!(out, expect);

        let mut out = Vec::new();
        encode_get_values_result(&mut out, [(&b"FCGI_MPXS_CONNS"[..], &b"0"[..])]);
        assert_eq!(&out[..8], [1, 10, 0, 0, 0, 18, 6, 0]);
        assert_eq!(&out[8..10], [15, 1]);
        assert_eq!(out.len(), 32);
    }

    #[test]
    fn empty_chunk_writes_nothing() {
        let mut out = Vec::new();
        encode_stream_chunk(&mut out, RecordType::Stdout, 1, b"");
        assert!(out.is_empty());
        encode_stream_end(&mut out, RecordType::Stdout, 1);
        assert_eq!(out, [1, 6, 0, 1, 0, 0, 0, 0]);
    }
}
