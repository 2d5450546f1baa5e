//! Name-value pairs (spec section 3.4), as carried by PARAMS, GET_VALUES and
//! GET_VALUES_RESULT.
//!
//! Each of the two lengths is one byte if under 128, else four bytes big
//! endian with the top bit set; then come the name and value bytes.

use std::ops::Range;

use super::buf::Buf;
use super::ProtocolError;

/// A decoded (name, value) pair.
pub type Pair = (Vec<u8>, Vec<u8>);

/// Longest name or value the length encoding can express (2^31 - 1).
pub const MAX_PAIR_PART_LEN: usize = 0x7fff_ffff;

fn len_size(len: usize) -> usize {
    if len < 0x80 {
        1
    } else {
        4
    }
}

fn encode_len(dst: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        dst.push(len as u8);
    } else {
        assert!(
            len <= MAX_PAIR_PART_LEN,
            "FastCGI name or value of {len} bytes exceeds {MAX_PAIR_PART_LEN}"
        );
        dst.extend_from_slice(&(len as u32 | 0x8000_0000).to_be_bytes());
    }
}

/// Bytes `encode_pair` writes for this pair.
pub fn encoded_pair_len(name: &[u8], value: &[u8]) -> usize {
    len_size(name.len()) + len_size(value.len()) + name.len() + value.len()
}

/// Appends one pair.
///
/// # Panics
/// If the name or the value is longer than `MAX_PAIR_PART_LEN`.
#[inline]
pub fn encode_pair(dst: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    dst.reserve(encoded_pair_len(name, value));
    if name.len() < 0x80 && value.len() < 0x80 {
        // Nearly every pair: both lengths one byte, written together.
        dst.extend_from_slice(&[name.len() as u8, value.len() as u8]);
        dst.extend_from_slice(name);
        dst.extend_from_slice(value);
        return;
    }
    encode_len(dst, name.len());
    encode_len(dst, value.len());
    dst.extend_from_slice(name);
    dst.extend_from_slice(value);
}

/// The length at the start of `b` and how many bytes it took, or `None` if
/// `b` holds only part of it. A 4-byte form of a small length is accepted.
fn decode_len(b: &[u8]) -> Option<(u32, usize)> {
    let first = *b.first()?;
    if first < 0x80 {
        return Some((first.into(), 1));
    }
    let four: [u8; 4] = b.get(..4)?.try_into().ok()?;
    Some((u32::from_be_bytes(four) & 0x7fff_ffff, 4))
}

/// Where the name and the value of a pair lie; `value.end` is the pair's
/// encoded length.
struct Span {
    name: Range<usize>,
    value: Range<usize>,
}

/// The pair at the start of `b`, or `Ok(None)` if `b` holds only part of it.
/// The limit is checked as soon as both lengths are there.
fn parse_pair(b: &[u8], limit: usize) -> Result<Option<Span>, ProtocolError> {
    let Some((name_len, n)) = decode_len(b) else {
        return Ok(None);
    };
    let Some((value_len, v)) = decode_len(&b[n..]) else {
        return Ok(None);
    };
    let len = u64::from(name_len) + u64::from(value_len);
    // On 32-bit targets a pair may not even fit in memory.
    let end = usize::try_from(len)
        .ok()
        .filter(|&len| len <= limit)
        .and_then(|len| len.checked_add(n + v))
        .ok_or(ProtocolError::PairTooLarge { len, limit })?;
    if b.len() < end {
        return Ok(None);
    }
    let name_end = n + v + name_len as usize;
    Ok(Some(Span {
        name: n + v..name_end,
        value: name_end..end,
    }))
}

/// Decodes a complete body of pairs, such as a GET_VALUES_RESULT record.
pub fn decode_pairs(mut content: &[u8]) -> Result<Vec<Pair>, ProtocolError> {
    let mut pairs = Vec::new();
    while !content.is_empty() {
        let span = parse_pair(content, usize::MAX)?.ok_or(ProtocolError::BadPairs)?;
        pairs.push((
            content[span.name].to_vec(),
            content[span.value.clone()].to_vec(),
        ));
        content = &content[span.value.end..];
    }
    Ok(pairs)
}

/// Incremental pair decoder: feed stream content split at any byte, take
/// whole pairs out.
#[derive(Debug)]
pub struct PairDecoder {
    buf: Buf,
    limit: usize,
}

impl Default for PairDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl PairDecoder {
    /// A decoder with no limit beyond the format's own.
    pub fn new() -> Self {
        Self::with_limit(usize::MAX)
    }

    /// A decoder that rejects any pair whose name and value together exceed
    /// `limit` bytes, as soon as its lengths arrive.
    pub fn with_limit(limit: usize) -> Self {
        PairDecoder {
            buf: Buf::default(),
            limit,
        }
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend(bytes);
    }

    /// The next complete pair, or `Ok(None)` if more bytes are needed.
    pub fn next_pair(&mut self) -> Result<Option<Pair>, ProtocolError> {
        let data = self.buf.data();
        let Some(span) = parse_pair(data, self.limit)? else {
            return Ok(None);
        };
        let pair = (data[span.name].to_vec(), data[span.value.clone()].to_vec());
        self.buf.consume(span.value.end);
        Ok(Some(pair))
    }

    /// Call at the end of the stream: an error if a partial pair remains.
    pub fn finish(&self) -> Result<(), ProtocolError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(ProtocolError::BadPairs)
        }
    }

    /// Bytes buffered that are not yet part of a returned pair.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(name: &[u8], value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_pair(&mut out, name, value);
        out
    }

    #[test]
    fn one_byte_lengths() {
        assert_eq!(encoded(b"ab", b"xyz"), b"\x02\x03abxyz");
        assert_eq!(encoded(b"", b""), [0, 0]);
        let v127 = [b'v'; 127];
        assert_eq!(&encoded(b"n", &v127)[..3], [1, 127, b'n']);
    }

    #[test]
    fn four_byte_lengths() {
        let v128 = [b'v'; 128];
        let out = encoded(b"n", &v128);
        assert_eq!(&out[..6], [1, 0x80, 0, 0, 0x80, b'n']);
        assert_eq!(out.len(), 1 + 4 + 1 + 128);

        let n300 = [b'n'; 300];
        let out = encoded(&n300, b"v");
        assert_eq!(&out[..5], [0x80, 0, 1, 0x2C, 1]);

        let mut out = Vec::new();
        encode_len(&mut out, 0x0102_0304);
        encode_len(&mut out, MAX_PAIR_PART_LEN);
        assert_eq!(out, [0x81, 2, 3, 4, 0xFF, 0xFF, 0xFF, 0xFF]);
    }

    #[test]
    #[should_panic(expected = "exceeds 2147483647")]
    fn length_over_31_bits_panics() {
        encode_len(&mut Vec::new(), MAX_PAIR_PART_LEN + 1);
    }

    #[test]
    fn encoded_len_matches_encoding() {
        for name_len in [0, 1, 127, 128, 300] {
            for value_len in [0, 5, 127, 128, 70_000] {
                let (name, value) = (vec![b'n'; name_len], vec![b'v'; value_len]);
                assert_eq!(
                    encoded_pair_len(&name, &value),
                    encoded(&name, &value).len(),
                    "{name_len}/{value_len}"
                );
            }
        }
    }

    #[test]
    fn decode_len_forms() {
        assert_eq!(decode_len(&[]), None);
        assert_eq!(decode_len(&[0x7F, 9]), Some((127, 1)));
        assert_eq!(decode_len(&[0x80, 0, 0]), None);
        assert_eq!(decode_len(&[0x80, 0, 0, 1]), Some((1, 4)));
        assert_eq!(
            decode_len(&[0xFF, 0xFF, 0xFF, 0xFF]),
            Some((0x7FFF_FFFF, 4))
        );
    }

    #[test]
    fn decode_hand_written_body() {
        // "SERVER_PORT" = "80", then a 4-byte-length value of 128 'x'.
        let mut body = b"\x0b\x02SERVER_PORT80".to_vec();
        body.extend_from_slice(&[1, 0x80, 0, 0, 128, b'X']);
        body.extend_from_slice(&[b'x'; 128]);
        let pairs = decode_pairs(&body).unwrap();
        assert_eq!(
            pairs,
            [
                (b"SERVER_PORT".to_vec(), b"80".to_vec()),
                (b"X".to_vec(), vec![b'x'; 128]),
            ]
        );
        assert_eq!(
            decode_pairs(&body[..body.len() - 1]),
            Err(ProtocolError::BadPairs)
        );
        assert_eq!(decode_pairs(&[]), Ok(vec![]));
        assert_eq!(decode_pairs(&[3]), Err(ProtocolError::BadPairs));
    }

    #[test]
    fn decoder_one_byte_at_a_time() {
        let mut stream = encoded(b"SCRIPT_NAME", b"/x.fcgi");
        stream.extend(encoded(b"EMPTY", b""));
        stream.extend(encoded(&[b'n'; 200], &[b'v'; 1000]));
        let mut dec = PairDecoder::new();
        let mut pairs = Vec::new();
        for byte in &stream {
            dec.feed(std::slice::from_ref(byte));
            while let Some(pair) = dec.next_pair().unwrap() {
                pairs.push(pair);
            }
        }
        dec.finish().unwrap();
        assert_eq!(dec.pending(), 0);
        assert_eq!(
            pairs,
            [
                (b"SCRIPT_NAME".to_vec(), b"/x.fcgi".to_vec()),
                (b"EMPTY".to_vec(), vec![]),
                (vec![b'n'; 200], vec![b'v'; 1000]),
            ]
        );
    }

    #[test]
    fn partial_pair_is_pending_and_fails_finish() {
        let stream = encoded(b"NAME", b"value");
        let mut dec = PairDecoder::new();
        dec.feed(&stream[..stream.len() - 1]);
        assert_eq!(dec.next_pair(), Ok(None));
        assert_eq!(dec.pending(), stream.len() - 1);
        assert_eq!(dec.finish(), Err(ProtocolError::BadPairs));
        dec.feed(&stream[stream.len() - 1..]);
        assert!(dec.next_pair().unwrap().is_some());
        assert_eq!(dec.finish(), Ok(()));
    }

    #[test]
    fn limit_is_checked_before_the_bytes_arrive() {
        let mut dec = PairDecoder::with_limit(10);
        dec.feed(&[5, 6]); // 11 bytes announced, none sent
        assert_eq!(
            dec.next_pair(),
            Err(ProtocolError::PairTooLarge { len: 11, limit: 10 })
        );

        let mut dec = PairDecoder::with_limit(10);
        dec.feed(&encoded(b"abcde", b"fghij"));
        assert_eq!(
            dec.next_pair(),
            Ok(Some((b"abcde".to_vec(), b"fghij".to_vec())))
        );
    }

    #[test]
    fn huge_announced_pair_just_waits() {
        let mut dec = PairDecoder::new();
        dec.feed(&[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, b'a']);
        assert_eq!(dec.next_pair(), Ok(None));
        assert_eq!(dec.finish(), Err(ProtocolError::BadPairs));
    }
}
