//! The client exchange's answer side (`fcgid_protocol::client::ResponseReader`,
//! which the module and cgi-fcgi both drive): the application's bytes fed
//! in pieces chosen by the control byte, events taken as they come. The
//! outcome must not depend on the cuts: the same STDOUT and STDERR bytes,
//! the same end (complete, closed early, rejected or a protocol error), and
//! nothing after an end or an error. `ResponseParser` (the same reader
//! over slices the caller keeps, which the module uses) is given the same
//! cuts and must come to the same outcome, except that when the input ends
//! inside a record it has passed on what came of that record's content
//! (the reader's streams are then a prefix of its).

#![no_main]

use fcgid_fuzz::Splits;
use fcgid_protocol::client::{Event, ExchangeError, Piece, ResponseParser, ResponseReader};
use fcgid_protocol::ProtocolError;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    end: Result<Option<fcgid_protocol::EndRequest>, ExchangeError>,
}

/// Takes every event available now; false once the exchange is over.
fn drain(rr: &mut ResponseReader, out: &mut Outcome) -> bool {
    loop {
        match rr.next_event() {
            Ok(Some(Event::Stdout(b))) => {
                assert!(!b.is_empty(), "an empty STDOUT event");
                out.stdout.extend_from_slice(&b);
            }
            Ok(Some(Event::Stderr(b))) => out.stderr.extend_from_slice(&b),
            Ok(Some(Event::End(e))) => {
                out.end = Ok(Some(e));
                // Nothing comes after the end.
                assert_eq!(rr.next_event(), Ok(None), "an event after END_REQUEST");
                return false;
            }
            Ok(None) => return true,
            Err(e) => {
                // Errors stick.
                assert_eq!(rr.next_event(), Err(e.clone()), "the error changed");
                out.end = Err(e);
                return false;
            }
        }
    }
}

fn run<'a>(pieces: impl Iterator<Item = &'a [u8]>) -> Outcome {
    let mut rr = ResponseReader::new(1);
    let mut out = Outcome {
        stdout: Vec::new(),
        stderr: Vec::new(),
        end: Ok(None),
    };
    let mut open = true;
    for piece in pieces {
        rr.feed(piece);
        if open {
            open = drain(&mut rr, &mut out);
        }
    }
    if open {
        match rr.close() {
            Ok(()) => {
                open = drain(&mut rr, &mut out);
                assert!(!open || out.end.is_ok());
            }
            Err(e) => out.end = Err(e),
        }
    }
    out
}

/// The parser given the same slices: every byte used, pieces never empty.
fn parse<'a>(pieces: impl Iterator<Item = &'a [u8]>) -> Outcome {
    let mut p = ResponseParser::new(1);
    let mut out = Outcome {
        stdout: Vec::new(),
        stderr: Vec::new(),
        end: Ok(None),
    };
    for mut piece in pieces {
        while !piece.is_empty() {
            match p.parse(piece) {
                Ok((used, got)) => {
                    assert!(used <= piece.len());
                    match got {
                        Some(Piece::Stdout(b)) => {
                            assert!(!b.is_empty(), "an empty STDOUT piece");
                            out.stdout.extend_from_slice(b);
                        }
                        Some(Piece::Stderr(b)) => out.stderr.extend_from_slice(b),
                        Some(Piece::End(e)) => {
                            out.end = Ok(Some(e));
                            return out;
                        }
                        None => assert_eq!(used, piece.len(), "stopped early without a piece"),
                    }
                    piece = &piece[used..];
                }
                Err(e) => {
                    out.end = Err(e);
                    return out;
                }
            }
        }
    }
    if let Err(e) = p.close() {
        out.end = Err(e);
    }
    out
}

fuzz_target!(|input: &[u8]| {
    let Some((splits, data)) = Splits::of(input) else {
        return;
    };
    let whole = run(std::iter::once(data));
    let cut = run(splits.map(|(piece, _)| piece));
    let (splits, _) = Splits::of(input).expect("as above");
    let parsed = parse(splits.map(|(piece, _)| piece));
    assert_eq!(parsed.end, whole.end, "the parser and the reader end apart");
    if matches!(
        whole.end,
        Err(ExchangeError::Protocol(ProtocolError::Truncated { .. }))
    ) {
        assert!(parsed.stdout.starts_with(&whole.stdout), "STDOUT lost");
        assert!(parsed.stderr.starts_with(&whole.stderr), "STDERR lost");
    } else {
        assert_eq!(parsed, whole, "the parser and the reader disagree");
    }
    assert_eq!(
        cut, whole,
        "the outcome depends on where the bytes were cut"
    );
    if let Err(e) = &whole.end {
        let _ = e.to_string();
    }
});
