//! What went wrong, as the web server should see it: one line for its error
//! log (our standard error), a CGI error response (our standard output)
//! unless part of a response has already gone out, and an exit status.
//!
//! Exit statuses are the original's for the same failure, so scripts that
//! look at them see no change: the `errno` of a failed system call, 253 for
//! a protocol error (libfcgi's FCGX_PROTOCOL_ERROR, -3), 254 for a record
//! of another protocol version (FCGX_UNSUPPORTED_VERSION, -2), 232 for a
//! host to connect to that does not resolve or a socket path that is too
//! long (the original's `exit(1000)`), 1 for a host to listen on that does
//! not resolve and for an application that is not executable. (When
//! binding fails, the original exits with whatever `errno` its perror()
//! left, 22 on Debian 12; ours exits with bind's.)

use std::io::{self, Write};

/// libfcgi's FCGX_PROTOCOL_ERROR as an exit status.
pub const EXIT_PROTOCOL: i32 = 253;
/// libfcgi's FCGX_UNSUPPORTED_VERSION as an exit status.
pub const EXIT_VERSION: i32 = 254;
/// The original exits with 1000 (seen as 232) when a host to connect to
/// does not resolve or a socket path is too long.
pub const EXIT_BAD_NAME: i32 = 232;

/// The HTTP status of the CGI error response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpStatus {
    /// The application could not be reached, started, or understood.
    BadGateway,
    /// The application answered FCGI_OVERLOADED.
    Unavailable,
}

impl HttpStatus {
    fn line(self) -> &'static str {
        match self {
            HttpStatus::BadGateway => "502 Bad Gateway",
            HttpStatus::Unavailable => "503 Service Unavailable",
        }
    }
}

#[derive(Debug)]
pub struct Failure {
    /// One line for the error log, naming the cause.
    pub message: String,
    /// `None` when there is no one to answer (standard output failed, or
    /// `-start` alone, which serves no request).
    pub response: Option<HttpStatus>,
    /// What the client is told, in a sentence (no paths: the log has them).
    pub client_text: &'static str,
    pub exit_code: i32,
}

impl Failure {
    pub fn new(message: String, client_text: &'static str, exit_code: i32) -> Failure {
        Failure {
            message,
            response: Some(HttpStatus::BadGateway),
            client_text,
            exit_code,
        }
    }

    /// The exit status for a failed system call: its errno, as the original.
    pub fn errno(e: &io::Error) -> i32 {
        Self::errno_or(e, 1)
    }

    /// Like `errno`, with `fallback` for an error that has none (std checks
    /// some things, such as the length of a socket path, itself).
    pub fn errno_or(e: &io::Error, fallback: i32) -> i32 {
        match e.raw_os_error() {
            Some(n) if n > 0 => n,
            _ => fallback,
        }
    }

    /// Writes the CGI error response, if there is one to write.
    pub fn write_response(&self, out: &mut impl Write) -> io::Result<()> {
        let Some(status) = self.response else {
            return Ok(());
        };
        let body = format!("{}: {}\n", status.line(), self.client_text);
        write!(
            out,
            "Status: {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            status.line(),
            body.len()
        )?;
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_gateway_response() {
        let f = Failure::new("x".into(), "could not reach the application", 111);
        let mut out = Vec::new();
        f.write_response(&mut out).unwrap();
        let body = "502 Bad Gateway: could not reach the application\n";
        let expect = format!(
            "Status: 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        assert_eq!(String::from_utf8(out).unwrap(), expect);
    }

    #[test]
    fn unavailable_and_none() {
        let mut f = Failure::new("x".into(), "overloaded", 253);
        f.response = Some(HttpStatus::Unavailable);
        let mut out = Vec::new();
        f.write_response(&mut out).unwrap();
        assert!(out.starts_with(b"Status: 503 Service Unavailable\r\n"));
        f.response = None;
        let mut out = Vec::new();
        f.write_response(&mut out).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn errno_exit_codes() {
        assert_eq!(Failure::errno(&io::Error::from_raw_os_error(111)), 111);
        assert_eq!(Failure::errno(&io::Error::other("no errno")), 1);
        let long = io::Error::from(io::ErrorKind::InvalidInput);
        assert_eq!(Failure::errno_or(&long, EXIT_BAD_NAME), 232);
    }
}
