//! cgi-fcgi's command line and `-f` command files.
//!
//! The input (after the control byte, unused here) is split at NUL bytes:
//! the first part is the command line, its words separated by 0x01 bytes
//! (argv words hold any byte but NUL); each further part is a command file,
//! named by its number: `-f 0` reads the part after the command line,
//! `-f 1` the next, and so on. Any other name cannot be opened. Nothing is
//! read from disk.
//!
//! Parsing must not panic or recurse without bound; a parse succeeds with a
//! usable result (a connection name, an app unless -bind, at least one
//! server) or fails with at least one message; it is deterministic; the
//! connection name then parses too; and command-file words are non-empty,
//! blank-free and never a comment.

#![no_main]

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use cgi_fcgi::addr::ConnName;
use cgi_fcgi::args::{self, Mode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((_, data)) = input.split_first() else {
        return;
    };
    let mut parts = data.split(|&b| b == 0);
    let argv: Vec<OsString> = match parts.next() {
        Some(line) if !line.is_empty() => line
            .split(|&b| b == 1)
            .map(|w| OsString::from_vec(w.to_vec()))
            .collect(),
        _ => Vec::new(),
    };
    let files: Vec<&[u8]> = parts.collect();

    for text in &files {
        let words = args::command_file_words(text);
        assert!(words.len() <= text.len().div_ceil(2));
        for w in &words {
            let w = w.as_bytes();
            assert!(!w.is_empty());
            assert!(!w.iter().any(u8::is_ascii_whitespace), "{w:?}");
            let _ = args::leading_number(w);
        }
    }

    let mut opened = 0usize;
    let mut read_file = |name: &OsStr| -> io::Result<Vec<u8>> {
        opened += 1;
        std::str::from_utf8(name.as_bytes())
            .ok()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()) && !n.is_empty())
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|i| files.get(i))
            .map(|text| text.to_vec())
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    };
    let parsed = args::parse_with(&argv, &mut read_file);
    let again = args::parse_with(&argv, &mut read_file);
    assert_eq!(parsed, again, "parsing is deterministic");

    match parsed {
        Ok(a) => {
            assert!(!a.conn.is_empty());
            assert!(a.servers >= 1);
            if a.mode != Mode::Bind {
                assert!(a.app.as_ref().is_some_and(|p| !p.is_empty()));
            }
            match ConnName::parse(&a.conn) {
                Ok(ConnName::Tcp { port, .. }) => assert!(port >= 1),
                Ok(ConnName::Unix(path)) => assert_eq!(path.as_os_str(), a.conn.as_os_str()),
                Err(m) => assert!(!m.is_empty()),
            }
        }
        Err(e) => assert!(!e.messages.is_empty()),
    }
    let _ = args::USAGE;
});
