//! FastCGI name-value pairs: `decode_pairs` on a whole body, and
//! `PairDecoder` (with and without a limit) fed the same bytes in pieces.
//!
//! The streaming decoder must yield what the whole-body decoder yields;
//! with a limit it may stop early only with `PairTooLarge` for a pair the
//! whole-body decoder says is too large. Decoded pairs re-encode to bytes
//! that decode to the same pairs, no longer than the input, and the
//! shortest encoding is a fixed point.

#![no_main]

use fcgid_fuzz::Splits;
use fcgid_protocol::{
    decode_pairs, encode_pair, encoded_pair_len, Pair, PairDecoder, ProtocolError,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((splits, data)) = Splits::of(input) else {
        return;
    };
    // The limit comes from the control byte too: 0 to 255 bytes, or none.
    let limit = match input[0] >> 2 {
        63 => usize::MAX,
        n => usize::from(n) * 4,
    };
    let whole = decode_pairs(data);
    if let Err(e) = &whole {
        let _ = e.to_string();
    }

    let (got, pending, err, finish) = stream(splits, PairDecoder::with_limit(limit));
    let (want_prefix, want_end) = prefix_and_end(data);
    if limit == usize::MAX {
        assert_eq!(err, None, "no limit, no error");
        assert_eq!(got, want_prefix);
        assert_eq!(pending, want_end);
        assert_eq!(finish.is_ok(), whole.is_ok());
        match &whole {
            Ok(pairs) => assert_eq!(&got, pairs),
            Err(e) => assert_eq!(*e, ProtocolError::BadPairs),
        }
    } else {
        // A prefix of the unlimited result, each pair within the limit.
        assert!(want_prefix.starts_with(&got));
        for (n, v) in &got {
            assert!(n.len() + v.len() <= limit);
        }
        match err {
            Some(ProtocolError::PairTooLarge { len, limit: l }) => {
                assert_eq!(l, limit);
                assert!(len > limit as u64);
            }
            Some(e) => panic!("unexpected error {e:?}"),
            None => {
                assert_eq!(got, want_prefix);
                assert_eq!(pending, want_end);
            }
        }
    }

    if let Ok(pairs) = whole {
        let mut wire = Vec::new();
        for (n, v) in &pairs {
            let before = wire.len();
            encode_pair(&mut wire, n, v);
            assert_eq!(wire.len() - before, encoded_pair_len(n, v));
        }
        assert!(wire.len() <= data.len());
        assert_eq!(decode_pairs(&wire).as_ref(), Ok(&pairs));
        let mut again = Vec::new();
        for (n, v) in &pairs {
            encode_pair(&mut again, n, v);
        }
        assert_eq!(again, wire);
    }
});

/// Pairs taken while feeding, the bytes left pending, the first error (which
/// stops the run: a caller drops the stream then), and `finish`.
fn stream(
    splits: Splits<'_>,
    mut dec: PairDecoder,
) -> (
    Vec<Pair>,
    usize,
    Option<ProtocolError>,
    Result<(), ProtocolError>,
) {
    let mut got = Vec::new();
    let mut fed = 0;
    // Bytes the pairs taken so far had on the wire, at least and at most
    // (each length is 1 or 4 bytes).
    let (mut least, mut most) = (0, 0);
    // A last empty piece drains what is left.
    for (piece, take) in splits.chain(std::iter::once((&[][..], usize::MAX))) {
        dec.feed(piece);
        fed += piece.len();
        for _ in 0..take {
            match dec.next_pair() {
                Ok(Some(pair)) => {
                    least += 2 + pair.0.len() + pair.1.len();
                    most += 8 + pair.0.len() + pair.1.len();
                    got.push(pair);
                }
                Ok(None) => break,
                Err(e) => return (got, dec.pending(), Some(e), dec.finish()),
            }
        }
        assert!(least + dec.pending() <= fed && fed <= most + dec.pending());
    }
    (got, dec.pending(), None, dec.finish())
}

/// The whole pairs at the start of `data` and how many bytes follow them.
fn prefix_and_end(data: &[u8]) -> (Vec<Pair>, usize) {
    let mut pairs = Vec::new();
    let mut rest = data;
    while let Some((n, a)) = len_at(rest) {
        let Some((v, b)) = len_at(&rest[a..]) else {
            break;
        };
        let end = a + b + n + v;
        if rest.len() < end {
            break;
        }
        pairs.push((
            rest[a + b..a + b + n].to_vec(),
            rest[a + b + n..end].to_vec(),
        ));
        rest = &rest[end..];
    }
    (pairs, rest.len())
}

fn len_at(b: &[u8]) -> Option<(usize, usize)> {
    match *b.first()? {
        short @ 0..=0x7f => Some((usize::from(short), 1)),
        _ => {
            let four: [u8; 4] = b.get(..4)?.try_into().ok()?;
            Some(((u32::from_be_bytes(four) & 0x7fff_ffff) as usize, 4))
        }
    }
}
