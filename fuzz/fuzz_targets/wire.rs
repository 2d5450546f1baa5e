//! The process manager's wire protocol (`fcgid_core::pm::wire`): frames
//! from httpd children (Acquire, Release, StatusQuery) and from the manager
//! (Granted, Refused, CannotStart, StatusHead, StatusClass), fed in pieces as a
//! socket delivers them.
//!
//! Split or whole, the same messages and the same first error come out;
//! every decoded message encodes back to exactly the frame it came from,
//! and a frame is taken off the buffer only when it is complete.

#![no_main]

use fcgid_core::pm::wire::{Message, MAX_FRAME};
use fcgid_fuzz::Splits;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((splits, data)) = Splits::of(input) else {
        return;
    };
    let whole = decode_all(std::iter::once((data, usize::MAX)));
    let split = decode_all(splits.chain(std::iter::once((&[][..], usize::MAX))));
    assert_eq!(split.messages, whole.messages);
    assert_eq!(split.error, whole.error);
    // What is left is the same too, unless the error cut the feeding short.
    if whole.error.is_none() {
        assert_eq!(split.left, whole.left);
        assert!(split.left < 4 || split.left < 4 + frame_len(&data[data.len() - split.left..]));
    }
    let mut at = 0;
    for m in &whole.messages {
        let mut frame = Vec::new();
        m.encode(&mut frame);
        assert_eq!(frame, data[at..at + frame.len()], "{m:?} re-encoded");
        at += frame.len();
    }
    if let Some(e) = &whole.error {
        let _ = e.to_string();
    }
});

struct Decoded {
    messages: Vec<Message>,
    error: Option<String>,
    left: usize,
}

/// Feeds pieces into one buffer, taking messages after each, until the
/// first error (the manager closes such a connection).
fn decode_all<'a>(pieces: impl Iterator<Item = (&'a [u8], usize)>) -> Decoded {
    let mut buf = Vec::new();
    let mut messages = Vec::new();
    for (piece, take) in pieces {
        buf.extend_from_slice(piece);
        for _ in 0..take {
            let before = buf.len();
            match Message::decode(&mut buf) {
                Ok(Some(m)) => {
                    assert!(buf.len() < before, "a message took no bytes");
                    messages.push(m);
                }
                Ok(None) => {
                    assert_eq!(buf.len(), before, "need-more consumed bytes");
                    if before >= 4 {
                        let len = frame_len(&buf);
                        assert!((1..=MAX_FRAME).contains(&len) && before < 4 + len);
                    }
                    break;
                }
                Err(e) => {
                    assert_eq!(buf.len(), before, "an error consumed bytes");
                    return Decoded {
                        messages,
                        error: Some(e.to_string()),
                        left: buf.len(),
                    };
                }
            }
        }
    }
    Decoded {
        messages,
        error: None,
        left: buf.len(),
    }
}

fn frame_len(b: &[u8]) -> usize {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
}
