//! When a failed request may go to another process: only when the app
//! provably never read any of it. A request the app may have read could
//! run twice (a POST stored twice), so doubt means no retry.
//!
//! What proves it:
//! - the connection was never made (refused, no socket, connect timeout);
//! - the very first write found the peer gone (reset, broken pipe) before
//!   the kernel took a single byte of the request.
//!
//! What does not: once the kernel has taken bytes, a reset says only that
//! the app closed with some of them unread. Linux resets a Unix stream for
//! a connection the app never accepted and for one it read half of alike,
//! so "nothing answered yet" proves nothing.
//!
//! One exception, deliberate: a request that is safe to repeat (a GET,
//! HEAD, OPTIONS or TRACE without a body, or an authorizer check) and that
//! is reset (or finds the pipe broken) before any answer byte is retried,
//! as browsers and proxies repeat such requests. Without it every request
//! queued to a process that retires itself (php-cgi's
//! PHP_FCGI_MAX_REQUESTS) or dies at start would fail. A POST, PUT, DELETE
//! or any other method is never repeated after the kernel took a byte,
//! with or without a body. Doing better needs proof from the manager that
//! a connection was never accepted.

use super::app_conn::AppError;
use crate::fcgi::client::ExchangeError;
use std::io;

fn peer_gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    )
}

/// What the failed attempt had done, besides its error.
#[derive(Clone, Copy, Debug)]
pub struct Attempt {
    /// The request has a body (STDIN is not empty).
    pub has_body: bool,
    /// Repeating it changes nothing (a safe method, or an authorizer check).
    pub safe: bool,
    /// Some byte of an answer arrived.
    pub answered: bool,
}

/// May the request that failed with `error` be sent to another process?
pub fn may_retry(error: &AppError, attempt: Attempt) -> bool {
    match error {
        AppError::Connect(_) => true,
        AppError::Send { error, sent: 0 } => peer_gone(error),
        // The exception of the module docs.
        AppError::Send { error, .. } | AppError::Io(error) => {
            attempt.safe && !attempt.has_body && !attempt.answered && peer_gone(error)
        }
        AppError::Exchange(_) => false,
    }
}

/// May a request that failed with `error` on a kept connection (one that
/// had carried an earlier request) be sent again to the same process, on
/// a new connection? When it was safe to repeat and the connection ended
/// or was reset before any answer: the app closed it under the request,
/// as apps that do not keep connections do (it may look open for a moment
/// after their last answer). The process is fine and accepts the new one;
/// trying another would stop it for nothing.
pub fn may_resend_on_new_connection(error: &AppError, attempt: Attempt) -> bool {
    let closed = match error {
        AppError::Send { error, .. } | AppError::Io(error) => peer_gone(error),
        AppError::Exchange(ExchangeError::Closed) => true,
        AppError::Connect(_) | AppError::Exchange(_) => false,
    };
    closed && attempt.safe && !attempt.has_body && !attempt.answered
}

/// For the log line of a failure that looks like a vanished process but is
/// not retried: why not.
pub fn why_not_retried(error: &AppError) -> Option<&'static str> {
    match error {
        AppError::Send { error, .. } | AppError::Io(error) if peer_gone(error) => {
            Some("not sent to another process: the application may have read part of the request")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(kind: io::ErrorKind) -> io::Error {
        io::Error::from(kind)
    }

    const POST: Attempt = Attempt {
        has_body: true,
        safe: false,
        answered: false,
    };
    const GET: Attempt = Attempt {
        has_body: false,
        safe: true,
        answered: false,
    };

    #[test]
    fn only_requests_no_app_could_have_read_are_retried() {
        use io::ErrorKind::{BrokenPipe, ConnectionRefused, ConnectionReset, NotFound, TimedOut};
        let send = |kind, sent| AppError::Send {
            error: os(kind),
            sent,
        };
        let cases = [
            (AppError::Connect(os(ConnectionRefused)), true),
            (AppError::Connect(os(NotFound)), true),
            (AppError::Connect(os(TimedOut)), true),
            (send(BrokenPipe, 0), true),
            (send(ConnectionReset, 0), true),
            // The kernel took bytes: the app may have read them.
            (send(BrokenPipe, 1), false),
            (send(ConnectionReset, 70_000), false),
            (send(TimedOut, 0), false),
            // The whole request went out, then the connection broke.
            (AppError::Io(os(ConnectionReset)), false),
            (AppError::Exchange(ExchangeError::Closed), false),
        ];
        for (error, retry) in cases {
            assert_eq!(may_retry(&error, POST), retry, "{error:?}");
        }
    }

    #[test]
    fn a_request_without_a_body_reset_before_any_answer_is_retried() {
        let reset = || AppError::Io(os(io::ErrorKind::ConnectionReset));
        assert!(may_retry(&reset(), GET));
        let pipe = AppError::Send {
            error: os(io::ErrorKind::BrokenPipe),
            sent: 900,
        };
        assert!(may_retry(&pipe, GET));
        let answered = Attempt {
            answered: true,
            ..GET
        };
        assert!(!may_retry(&reset(), answered));
        assert!(!may_retry(&AppError::Exchange(ExchangeError::Closed), GET));
    }

    #[test]
    fn an_unsafe_method_without_a_body_is_not_repeated() {
        // A DELETE, or a POST with an empty body, must not run twice either.
        let delete = Attempt {
            has_body: false,
            safe: false,
            answered: false,
        };
        assert!(!may_retry(
            &AppError::Io(os(io::ErrorKind::ConnectionReset)),
            delete
        ));
        // Never reached at all: any request may go elsewhere.
        assert!(may_retry(
            &AppError::Connect(os(io::ErrorKind::ConnectionRefused)),
            delete
        ));
    }

    #[test]
    fn a_reset_that_is_not_retried_says_why() {
        let e = AppError::Send {
            error: os(io::ErrorKind::ConnectionReset),
            sent: 100,
        };
        assert!(why_not_retried(&e).is_some());
        assert!(why_not_retried(&AppError::Io(os(io::ErrorKind::BrokenPipe))).is_some());
        assert!(why_not_retried(&AppError::Exchange(ExchangeError::Closed)).is_none());
    }

    #[test]
    fn a_kept_connection_closed_under_a_safe_request_is_resent_to_the_same_process() {
        let reset = || AppError::Io(os(io::ErrorKind::ConnectionReset));
        let closed = || AppError::Exchange(ExchangeError::Closed);
        let pipe = AppError::Send {
            error: os(io::ErrorKind::BrokenPipe),
            sent: 900,
        };
        for error in [reset(), closed(), pipe] {
            assert!(may_resend_on_new_connection(&error, GET), "{error:?}");
            assert!(!may_resend_on_new_connection(&error, POST), "{error:?}");
        }
        let answered = Attempt {
            answered: true,
            ..GET
        };
        assert!(!may_resend_on_new_connection(&closed(), answered));
        // A timeout is the app's fault, not a close.
        let timeout = AppError::Io(os(io::ErrorKind::WouldBlock));
        assert!(!may_resend_on_new_connection(&timeout, GET));
    }
}
