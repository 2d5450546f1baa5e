//! `cgi-fcgi`: runs a FastCGI application from a CGI-only web server, a
//! compatible replacement for the bridge of the same name in libfcgi 2.4.2
//! (Debian's libfcgi-bin).
//!
//! ```text
//! cgi-fcgi -f <cmdPath>                                   arguments from a file
//! cgi-fcgi -bind -connect <connName>                      run this request
//! cgi-fcgi -start -connect <connName> <appPath> [<n>]     start n servers, exit
//! cgi-fcgi -connect <connName> <appPath> [<n>]            run this request,
//!                                                         starting servers if needed
//! ```
//!
//! `<connName>` is a Unix socket path, or `host:port` for TCP (`:port` is
//! localhost to connect and every address to listen on). A request is sent
//! as the original sends it: BEGIN_REQUEST (responder, request id 1, the
//! connection closed after it), this process's whole environment as PARAMS,
//! `CONTENT_LENGTH` bytes of standard input as STDIN (none without
//! `CONTENT_LENGTH`; a shorter input is sent as it is). STDOUT goes to
//! standard output and STDERR to standard error as they arrive, and the
//! exit status is the app status of END_REQUEST. Started servers get the
//! listening socket as fd 0, argv[0] = `<appPath>`, our environment and
//! working directory, and keep running after we exit. Usage messages, their
//! order and exit status 1 are the original's; so are the exit statuses of
//! failures (see `failure`).
//!
//! Where we differ, on purpose:
//! - Any failure (cannot connect or start, the application closes the
//!   connection early, a protocol error, FCGI_OVERLOADED) writes a CGI
//!   error response to standard output (`Status: 502 Bad Gateway`, or 503
//!   for an overloaded application, `Content-Type: text/plain`, a one-line
//!   body) unless part of the application's response has already been
//!   written, and one line to standard error naming the cause (`-start`
//!   alone serves no request: only the line). The original writes nothing
//!   to standard output, so the web server can only report "premature end
//!   of script headers", and mostly nothing to standard error.
//! - Exactly `CONTENT_LENGTH` bytes of the body are sent; the original may
//!   send more if more is there to read.
//! - Management records and records of unknown types from the application
//!   are skipped; the original fails the request (exit 253).
//! - `-f` files: words are separated by any run of spaces or tabs, a CR
//!   before the newline is ignored, the last line needs no newline, and
//!   there is no limit on words or line length. The original splits at
//!   each single space, rejects a last line without newline ("Line to
//!   long"), and stops at 15 words (exit 255). A file may name another
//!   with `-f`, at most 16 deep, so one that names itself is a usage error;
//!   the original sets no limit.
//! - Errors in arguments before `-f` count; the original prints and then
//!   ignores them.
//! - `-bind` with `-start` is a usage error; the original tries nothing,
//!   prints "Could not connect" and exits 0.
//! - A port must be a plain number from 1 to 65535 ("80x" and "70000" are
//!   refused; the original reads them as 80 and 4464).
//! - Started servers get /dev/null as fds 1 and 2 (the original closes
//!   them) and no other descriptor of ours. An application that is not
//!   executable is refused before the socket is made; one that cannot be
//!   executed is reported (the original's child exits silently).
//! - Without `-bind` or `-start`, servers are started only when nothing
//!   listens (no socket file, or connection refused), not on any other
//!   error, such as a socket we may not use. Concurrent starts on one Unix
//!   socket are serialised with a lock on its directory, and the connect is
//!   retried under the lock, so two first requests start the servers once.
//!   The original lets the second replace the first's socket, leaving
//!   unreachable servers behind. For TCP, a port already taken means
//!   someone else started first: we connect again.
//! - Host names may resolve to IPv6 addresses for connecting, and every
//!   address is tried.

#![forbid(unsafe_code)]

use cgi_fcgi::{addr, args, bridge, failure, start};

use std::ffi::{OsStr, OsString};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;

use addr::{ConnName, Stream};
use args::{Args, Mode};
use failure::{Failure, EXIT_BAD_NAME};

fn main() {
    let argv: Vec<OsString> = std::env::args_os().skip(1).collect();
    let code = match args::parse(&argv) {
        Ok(args) => run(&args),
        Err(e) => usage_error(&e.messages),
    };
    std::process::exit(code);
}

fn usage_error(messages: &[String]) -> i32 {
    let mut err = io::stderr().lock();
    for m in messages {
        let _ = writeln!(err, "{m}");
    }
    let _ = err.write_all(args::USAGE.as_bytes());
    1
}

fn run(args: &Args) -> i32 {
    let conn = match ConnName::parse(&args.conn) {
        Ok(conn) => conn,
        Err(message) => return usage_error(&[message]),
    };
    let name = args.conn.to_string_lossy();
    let app = args.app.as_deref().unwrap_or_default();
    let mut stdout = Tracked::new(io::stdout().lock());
    let result = match args.mode {
        Mode::Start => start::start(&conn, app, args.servers)
            .map(|()| 0)
            .map_err(|e| {
                let mut f = e.into_failure(app, &name);
                f.response = None; // no request to answer
                f
            }),
        Mode::Bind | Mode::StartIfNeeded => connect_or_start(args, &conn, &name).and_then(|s| {
            let env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
            let body_len = content_length(&env);
            // The app status is passed on whole; the system keeps its low byte.
            bridge::run(s, &name, &env, body_len, &mut stdout, &mut io::stderr())
                .map(|status| status as i32)
        }),
    };
    match result {
        Ok(code) => code,
        Err(mut f) => {
            let _ = writeln!(io::stderr(), "{}", f.message);
            if stdout.written {
                f.response = None; // the application's response has begun
            }
            let _ = f.write_response(&mut stdout);
            f.exit_code
        }
    }
}

/// Connects; without `-bind`, starts the servers if nothing listens yet.
fn connect_or_start(args: &Args, conn: &ConnName, name: &str) -> Result<Stream, Failure> {
    let first = match conn.connect() {
        Ok(s) => return Ok(s),
        Err(e) => e,
    };
    if args.mode == Mode::Bind || !first.nobody_listens() {
        return Err(connect_failure(name, &first));
    }
    let app = args.app.as_deref().unwrap_or_default();
    let _lock = conn.unix_dir().and_then(|dir| start::lock_dir(&dir));
    // Someone may have started it while we waited for the lock.
    if let Ok(s) = conn.connect() {
        return Ok(s);
    }
    match start::start(conn, app, args.servers) {
        Ok(()) => {}
        Err(e) if e.address_in_use() => {} // started by someone else
        Err(e) => return Err(e.into_failure(app, name)),
    }
    conn.connect().map_err(|e| connect_failure(name, &e))
}

fn connect_failure(name: &str, e: &addr::ConnectError) -> Failure {
    let code = match e {
        addr::ConnectError::Io(io) => Failure::errno_or(io, EXIT_BAD_NAME),
        addr::ConnectError::Lookup(_) => EXIT_BAD_NAME,
    };
    Failure::new(
        format!("Could not connect to {name}: {e}"),
        "could not connect to the FastCGI application",
        code,
    )
}

/// `CONTENT_LENGTH` read like the original (atoi); missing, zero,
/// negative or garbage means no body.
fn content_length(env: &[(OsString, OsString)]) -> u64 {
    env.iter()
        .find(|(k, _)| k.as_os_str() == OsStr::new("CONTENT_LENGTH"))
        .map_or(0, |(_, v)| {
            u64::try_from(args::leading_number(v.as_bytes())).unwrap_or(0)
        })
}

/// Standard output, remembering whether anything was written to it.
struct Tracked<W> {
    inner: W,
    written: bool,
}

impl<W> Tracked<W> {
    fn new(inner: W) -> Self {
        Tracked {
            inner,
            written: false,
        }
    }
}

impl<W: Write> Write for Tracked<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written |= n > 0;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_reads_like_atoi() {
        let env = |v: &str| vec![(OsString::from("CONTENT_LENGTH"), OsString::from(v))];
        assert_eq!(content_length(&[]), 0);
        assert_eq!(content_length(&env("12")), 12);
        assert_eq!(content_length(&env("12abc")), 12);
        assert_eq!(content_length(&env("-5")), 0);
        assert_eq!(content_length(&env("abc")), 0);
    }

    #[test]
    fn tracked_notices_writes() {
        let mut t = Tracked::new(Vec::new());
        t.write_all(b"").unwrap();
        assert!(!t.written);
        t.write_all(b"x").unwrap();
        assert!(t.written);
    }
}
