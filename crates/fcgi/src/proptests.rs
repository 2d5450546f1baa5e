//! Round-trip properties: whatever the writers produce, the decoders give
//! back, however the bytes are cut.

use proptest::collection::vec;
use proptest::prelude::*;

use super::tests::{decode_in_pieces, pairs_from};
use super::*;

/// (type byte, request id, content length, padding length) of every record
/// in `wire`, read straight from the bytes rather than through the decoder.
fn walk(wire: &[u8]) -> Vec<(u8, u16, usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < wire.len() {
        let h = &wire[at..at + HEADER_LEN];
        assert_eq!(h[0], VERSION_1);
        let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
        let pad = usize::from(h[6]);
        out.push((h[1], u16::from_be_bytes([h[2], h[3]]), len, pad));
        at += HEADER_LEN + len + pad;
    }
    assert_eq!(at, wire.len(), "the last record overruns the bytes");
    out
}

/// Every record is padded to a multiple of 8 with less than 8 bytes, and
/// carries at most 65535 bytes.
fn assert_well_formed(wire: &[u8]) {
    for (_, _, len, pad) in walk(wire) {
        assert_eq!((len + pad) % 8, 0);
        assert!(pad < 8);
        assert!(len <= MAX_CONTENT_LEN);
    }
}

/// Bytes of a name or value: mostly short, sometimes past the 1-byte length
/// form, now and then past a whole record.
fn part() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => vec(any::<u8>(), 0..130),
        3 => vec(any::<u8>(), 120..1000),
        1 => (65_000usize..70_000, any::<u8>()).prop_map(|(len, b)| vec![b; len]),
    ]
}

/// Deterministic filler bytes, so long streams are cheap to generate and
/// still shrink by length.
fn filler(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

/// Sizes of the pieces a byte stream is cut into (cycled).
fn splits() -> impl Strategy<Value = Vec<usize>> {
    vec(prop_oneof![1usize..16, 1usize..70_000], 1..6)
}

proptest! {
    #[test]
    fn pairs_round_trip(
        pairs in vec((part(), part()), 0..8),
        request_id in any::<u16>(),
        record_splits in splits(),
        pair_splits in splits(),
    ) {
        let mut wire = Vec::new();
        encode_params(&mut wire, request_id, pairs.iter().map(|(n, v)| (&n[..], &v[..])));
        assert_well_formed(&wire);

        let records = decode_in_pieces(&wire, &record_splits);
        prop_assert!(records.iter().all(|r| r.rtype == RecordType::Params));
        prop_assert!(records.iter().all(|r| r.request_id == request_id));
        let ends = records.iter().filter(|r| r.is_stream_end()).count();
        prop_assert_eq!(ends, 1);
        prop_assert!(records.last().unwrap().is_stream_end());

        let encoded: usize = pairs.iter().map(|(n, v)| encoded_pair_len(n, v)).sum();
        let carried: usize = records.iter().map(|r| r.content.len()).sum();
        prop_assert_eq!(carried, encoded);
        prop_assert!(pairs_from(&records, &pair_splits) == pairs);
    }

    #[test]
    fn stdout_round_trip(
        len in 0usize..300_000,
        seed in any::<u8>(),
        write_splits in splits(),
        read_splits in splits(),
        request_id in any::<u16>(),
    ) {
        let data = filler(len, seed);
        // The application writes its output in arbitrary pieces.
        let mut wire = Vec::new();
        let mut rest = &data[..];
        for &size in write_splits.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (piece, tail) = rest.split_at(size.min(rest.len()));
            rest = tail;
            encode_stream_chunk(&mut wire, RecordType::Stdout, request_id, piece);
        }
        encode_stream_end(&mut wire, RecordType::Stdout, request_id);
        assert_well_formed(&wire);

        let records = decode_in_pieces(&wire, &read_splits);
        let (last, body) = records.split_last().unwrap();
        prop_assert!(last.is_stream_end());
        prop_assert!(body.iter().all(|r| !r.content.is_empty()));
        prop_assert!(records
            .iter()
            .all(|r| r.rtype == RecordType::Stdout && r.request_id == request_id));
        let joined: Vec<u8> = records.iter().flat_map(|r| r.content.clone()).collect();
        prop_assert!(joined == data);
    }

    #[test]
    fn record_padding(len in 0..=MAX_CONTENT_LEN, rtype in any::<u8>(), request_id in any::<u16>()) {
        let mut wire = vec![0xEE; 3];
        encode_record(&mut wire, RecordType::from_u8(rtype), request_id, &filler(len, rtype));
        let wire = &wire[3..];
        prop_assert_eq!(wire.len() % 8, 0);
        prop_assert_eq!(walk(wire), vec![(rtype, request_id, len, wire.len() - 8 - len)]);
        prop_assert!(wire.len() - 8 - len < 8);
        prop_assert!(wire[8 + len..].iter().all(|&b| b == 0), "padding is zeros");
    }

    #[test]
    fn streams_are_cut_at_max_content(len in 0usize..400_000) {
        let mut wire = Vec::new();
        encode_stream_chunk(&mut wire, RecordType::Stdin, 1, &filler(len, 0));
        assert_well_formed(&wire);
        let lens: Vec<usize> = walk(&wire).into_iter().map(|(_, _, len, _)| len).collect();
        // Full records, then one with the rest; nothing when there is nothing.
        let full = len / MAX_CONTENT_LEN;
        prop_assert!(lens[..full].iter().all(|&l| l == MAX_CONTENT_LEN));
        prop_assert_eq!(&lens[full..], if len % MAX_CONTENT_LEN == 0 { &[][..] } else { &[len % MAX_CONTENT_LEN][..] });
    }
}
