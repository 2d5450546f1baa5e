//! Tests across the writers and the decoders.

use super::*;

/// Feeds `wire` to a fresh decoder in pieces whose sizes cycle through
/// `splits`, and collects every record.
pub(super) fn decode_in_pieces(wire: &[u8], splits: &[usize]) -> Vec<Record> {
    let mut dec = Decoder::new();
    let mut records = Vec::new();
    let mut rest = wire;
    for &size in splits.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (piece, tail) = rest.split_at(size.clamp(1, rest.len()));
        rest = tail;
        dec.feed(piece);
        while let Some(r) = dec.next_record().unwrap() {
            records.push(r);
        }
    }
    assert_eq!(dec.finish(), Ok(()));
    records
}

/// Decodes the pairs of a PARAMS stream, feeding the pair decoder the
/// records' content re-cut at `splits`.
pub(super) fn pairs_from(records: &[Record], splits: &[usize]) -> Vec<Pair> {
    let stream: Vec<u8> = records.iter().flat_map(|r| r.content.clone()).collect();
    let mut dec = PairDecoder::new();
    let mut pairs = Vec::new();
    let mut rest = &stream[..];
    for &size in splits.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (piece, tail) = rest.split_at(size.clamp(1, rest.len()));
        rest = tail;
        dec.feed(piece);
        while let Some(p) = dec.next_pair().unwrap() {
            pairs.push(p);
        }
    }
    dec.finish().unwrap();
    pairs
}

#[test]
fn whole_conversation_one_byte_at_a_time() {
    let mut wire = Vec::new();
    encode_begin_request(&mut wire, 1, Role::Responder, true);
    encode_params(&mut wire, 1, [(&b"SCRIPT_NAME"[..], &b"/a"[..])]);
    encode_stream_chunk(&mut wire, RecordType::Stdin, 1, b"body");
    encode_stream_end(&mut wire, RecordType::Stdin, 1);
    encode_stream_chunk(&mut wire, RecordType::Stdout, 1, b"Status: 200\r\n\r\n");
    encode_stream_chunk(&mut wire, RecordType::Stderr, 1, b"warning");
    encode_stream_end(&mut wire, RecordType::Stdout, 1);
    let end = EndRequest {
        app_status: 3,
        protocol_status: ProtocolStatus::RequestComplete,
    };
    encode_end_request(&mut wire, 1, &end);

    let records = decode_in_pieces(&wire, &[1]);
    let kinds: Vec<(RecordType, usize)> =
        records.iter().map(|r| (r.rtype, r.content.len())).collect();
    assert_eq!(
        kinds,
        [
            (RecordType::BeginRequest, 8),
            (RecordType::Params, 15),
            (RecordType::Params, 0),
            (RecordType::Stdin, 4),
            (RecordType::Stdin, 0),
            (RecordType::Stdout, 15),
            (RecordType::Stderr, 7),
            (RecordType::Stdout, 0),
            (RecordType::EndRequest, 8),
        ]
    );
    assert!(records.iter().all(|r| r.request_id == 1));
    assert_eq!(records[0].begin_request(), Ok((Role::Responder, true)));
    assert_eq!(records[6].content, b"warning");
    assert_eq!(records[8].end_request(), Ok(end));
}

#[test]
fn unknown_type_is_returned_and_the_next_record_decodes() {
    for unknown in [0, 12, 200, 255] {
        let mut wire = Vec::new();
        encode_record(&mut wire, RecordType::from_u8(unknown), 1, b"mystery");
        encode_stream_chunk(&mut wire, RecordType::Stdout, 1, b"ok");
        let records = decode_in_pieces(&wire, &[3]);
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].rtype, RecordType::Unknown(unknown));
        assert_eq!(records[0].content, b"mystery");
        assert!(!records[0].is_stream_end());
        assert_eq!(records[1].rtype, RecordType::Stdout);
        assert_eq!(records[1].content, b"ok");
    }
}

#[test]
fn end_request_with_each_protocol_status() {
    let statuses = [
        ProtocolStatus::RequestComplete,
        ProtocolStatus::CantMpxConn,
        ProtocolStatus::Overloaded,
        ProtocolStatus::UnknownRole,
        ProtocolStatus::Other(77),
    ];
    for (i, protocol_status) in statuses.into_iter().enumerate() {
        let end = EndRequest {
            app_status: 0xFFFF_FF00 + i as u32,
            protocol_status,
        };
        let mut wire = Vec::new();
        encode_end_request(&mut wire, 4, &end);
        let records = decode_in_pieces(&wire, &[5]);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].request_id, 4);
        assert_eq!(records[0].end_request(), Ok(end));
    }
}

#[test]
fn stdin_over_64k_reassembles() {
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7) as u8).collect();
    let mut wire = Vec::new();
    encode_stream_chunk(&mut wire, RecordType::Stdin, 2, &data);
    encode_stream_end(&mut wire, RecordType::Stdin, 2);
    let records = decode_in_pieces(&wire, &[4096, 1, 65543]);
    let lens: Vec<usize> = records.iter().map(|r| r.content.len()).collect();
    assert_eq!(lens, [65535, 65535, 65535, 200_000 - 3 * 65535, 0]);
    let joined: Vec<u8> = records.iter().flat_map(|r| r.content.clone()).collect();
    assert!(joined == data);
}

#[test]
fn pair_of_100_kib_across_records_with_any_split() {
    let value: Vec<u8> = (0..100 * 1024u32).map(|i| (i % 253) as u8).collect();
    let pairs_in: [(&[u8], &[u8]); 3] = [
        (b"BEFORE", b"1"),
        (b"HTTP_X_LARGE", &value),
        (b"AFTER", b""),
    ];
    let mut wire = Vec::new();
    encode_params(&mut wire, 1, pairs_in);
    let records = decode_in_pieces(&wire, &[8192]);
    let lens: Vec<usize> = records.iter().map(|r| r.content.len()).collect();
    let total = encoded_pair_len(b"BEFORE", b"1")
        + encoded_pair_len(b"HTTP_X_LARGE", &value)
        + encoded_pair_len(b"AFTER", b"");
    assert_eq!(lens, [65535, total - 65535, 0]);

    let expect: Vec<Pair> = pairs_in
        .iter()
        .map(|(n, v)| (n.to_vec(), v.to_vec()))
        .collect();
    let splits: [&[usize]; 7] = [
        &[1],
        &[2, 3, 5],
        &[7],
        &[4096],
        &[65535],
        &[65536, 1],
        &[usize::MAX],
    ];
    for split in splits {
        assert!(pairs_from(&records, split) == expect, "split {split:?}");
    }
}

#[test]
fn get_values_result_round_trip() {
    let mut wire = Vec::new();
    encode_get_values(&mut wire, [MAX_CONNS, MAX_REQS, MPXS_CONNS]);
    encode_get_values_result(&mut wire, [(MAX_CONNS, &b"10"[..]), (MPXS_CONNS, b"0")]);
    let records = decode_in_pieces(&wire, &[9]);
    assert_eq!(records[0].rtype, RecordType::GetValues);
    assert_eq!(records[0].request_id, NULL_REQUEST_ID);
    let asked: Vec<Vec<u8>> = decode_pairs(&records[0].content)
        .unwrap()
        .into_iter()
        .map(|(name, value)| {
            assert!(value.is_empty());
            name
        })
        .collect();
    assert_eq!(asked, [MAX_CONNS, MAX_REQS, MPXS_CONNS]);
    assert_eq!(records[1].rtype, RecordType::GetValuesResult);
    assert_eq!(
        decode_pairs(&records[1].content).unwrap(),
        [
            (MAX_CONNS.to_vec(), b"10".to_vec()),
            (MPXS_CONNS.to_vec(), b"0".to_vec())
        ]
    );
}

#[test]
fn unknown_type_reply_round_trip() {
    let mut wire = Vec::new();
    encode_unknown_type(&mut wire, 99);
    let records = decode_in_pieces(&wire, &[1]);
    assert_eq!(records[0].request_id, NULL_REQUEST_ID);
    assert_eq!(records[0].unknown_type(), Ok(99));
}
