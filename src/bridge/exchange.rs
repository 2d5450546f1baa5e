//! One request to an app process, as the handler and the three authorizer
//! roles all run it: borrow a process, connect, send, wait for the answer
//! and scan its headers with httpd's CGI scanner. A request that no app can
//! have read goes to another process (the rule is `retry`'s); every other
//! failure gets one log line and a status.

use super::app_conn::{AppConn, AppError};
use super::body::Body;
use super::env::Pair;
use super::loan::Loan;
use super::retry;
use super::timing::Failed;
use crate::config::ProcessOptions;
use crate::fcgi::Role;
use crate::ffi::answer_buf::BucketAlloc;
use crate::ffi::http_status::{HookResult, HttpStatus};
use crate::ffi::log::Level;
use crate::ffi::request::Request;
use crate::pm::wire::ClassSpec;
use std::time::Duration;

/// How many processes one request may be offered to.
const ATTEMPTS: u32 = 10;

/// What to run and where.
pub struct Job<'a> {
    /// The script or program, for log lines.
    pub what: &'a str,
    pub spec: &'a ClassSpec,
    pub opts: &'a ProcessOptions,
    /// How long to wait for a process (FcgidProcessWaitTimeout).
    pub wait: Duration,
    pub role: Role,
    pub params: &'a [Pair<'a>],
    pub body: &'a mut Body,
}

/// An answer whose headers httpd has scanned; the process is still on
/// loan until the rest is read.
pub struct Answer<'l> {
    pub app: AppConn<'l>,
    pub loan: Loan,
    /// The scanner's verdict: Ok, or a status (304, or 500 for a bad header).
    pub scanned: HookResult,
}

impl Answer<'_> {
    /// Reads the rest of the answer and gives the process back.
    pub fn drain_and_give_back(&mut self) -> Result<(), AppError> {
        self.app.drain()?;
        self.loan.give_back(&mut self.app);
        Ok(())
    }
}

/// Runs `job` up to the scanned headers. On failure the cause is logged
/// (once) and the status to answer returned, with the request's times.
pub fn start<'l>(
    req: &mut Request,
    job: Job<'_>,
    log_stderr: &'l dyn Fn(&str),
) -> Result<Answer<'l>, Failed> {
    let Job {
        what,
        spec,
        opts,
        wait,
        role,
        params,
        body,
    } = job;
    for attempt in 1..=ATTEMPTS {
        let mut loan = Loan::borrow(req, spec, wait, what)?;
        let has_body = !body.is_empty();
        let (status, error, answered) = match connect_and_send(
            &mut loan,
            opts,
            req.bucket_alloc(),
            role,
            params,
            body,
            log_stderr,
        ) {
            Ok(mut app) => match scan_headers(req, &mut app) {
                Ok(scanned) => return Ok(Answer { app, loan, scanned }),
                Err(e) => (HttpStatus::INTERNAL_SERVER_ERROR, e, true),
            },
            Err(failure) => failure,
        };
        let tried = retry::Attempt {
            has_body,
            safe: safe_to_repeat(role, params),
            answered,
        };
        // Either way the loan is dropped unreturned: the manager stops that
        // process (gone already, or in an unknown state).
        if retry::may_retry(&error, tried) && attempt < ATTEMPTS {
            req.log(
                Level::Info,
                &format!("mod_fcgid: {what}: {error}; trying another process"),
            );
            continue;
        }
        log_failure(req, what, &error);
        let times = *loan.times();
        return Err(Failed { status, times });
    }
    unreachable!("the last attempt returns")
}

/// Connects to the lent process, sends the request and waits for the
/// first answer (before httpd's scanner reads lines): a process that was
/// already gone shows here. A failure comes with the status it answers
/// and whether any answer had arrived. A kept connection the app closes
/// under a request safe to repeat is no failure: the request goes again,
/// on a new connection to the same process (`retry`).
fn connect_and_send<'l>(
    loan: &mut Loan,
    opts: &ProcessOptions,
    alloc: BucketAlloc,
    role: Role,
    params: &[Pair],
    body: &mut Body,
    log_stderr: &'l dyn Fn(&str),
) -> Result<AppConn<'l>, (HttpStatus, AppError, bool)> {
    // Whether the request is safe to repeat is looked up (a walk of the
    // params) only when it matters: a passed connection, or a failure.
    let has_body = !body.is_empty();
    let safe = || safe_to_repeat(role, params);
    let tried = |answered| retry::Attempt {
        has_body,
        safe: safe(),
        answered,
    };
    let mut kept = loan.take_kept(|| !has_body && safe());
    loop {
        let had_kept = kept.is_some();
        let mut app = AppConn::connect(
            loan.socket(),
            kept.take(),
            loan.keep(),
            opts.connect_timeout,
            opts.io_timeout,
            alloc,
            log_stderr,
        )
        .map_err(|e| (HttpStatus::SERVICE_UNAVAILABLE, e, false))?;
        if had_kept && !app.reused() {
            loan.app_closes_connections();
        }
        let sent = app
            .send_request(role, params, body)
            .and_then(|()| app.await_answer());
        match sent {
            Ok(()) => return Ok(app),
            // Closed by the app under the request: once more, anew.
            Err(e)
                if app.reused()
                    && retry::may_resend_on_new_connection(&e, tried(app.answered())) =>
            {
                loan.app_closes_connections();
            }
            Err(e) => return Err((HttpStatus::INTERNAL_SERVER_ERROR, e, app.answered())),
        }
    }
}

/// The request's headers that FcgidPassHeader names, with their values
/// (bytes, UTF-8 or not).
pub fn passed_headers(req: &Request) -> Vec<(String, Vec<u8>)> {
    req.server_config()
        .pass_headers
        .iter()
        .filter_map(|h| {
            let name = std::ffi::CString::new(h.as_str()).ok()?;
            req.header_in_bytes(&name).map(|v| (h.clone(), v.to_vec()))
        })
        .collect()
}

/// An authorizer check, or a request with a safe method (RFC 9110 9.2.1).
fn safe_to_repeat(role: Role, params: &[Pair]) -> bool {
    if role != Role::Responder {
        return true;
    }
    params
        .iter()
        .find(|(k, _)| **k == *b"REQUEST_METHOD")
        .is_some_and(|(_, m)| matches!(&**m, b"GET" | b"HEAD" | b"OPTIONS" | b"TRACE"))
}

/// Logs the app's STDERR lines at warn level, tied to the request.
pub fn stderr_logger<'a>(req: &Request<'a>) -> impl Fn(&str) + 'a {
    let request_log = req.log_handle();
    move |line: &str| request_log.log(Level::Warn, &format!("mod_fcgid: stderr: {line}"))
}

/// The one log line of a failed exchange.
pub fn log_failure(req: &Request, what: &str, error: &AppError) {
    let why = retry::why_not_retried(error)
        .map(|w| format!(" ({w})"))
        .unwrap_or_default();
    req.log(Level::Err, &format!("mod_fcgid: {what}: {error}{why}"));
}

/// Reads the app's response headers with httpd's CGI scanner. Ok: the
/// scanner's verdict; Err: the app could not be read.
fn scan_headers(req: &mut Request, app: &mut AppConn) -> Result<HookResult, AppError> {
    let mut read_error = None;
    let scanned = req.scan_cgi_headers(&mut |out| match app.next_line(out) {
        Ok(line) => line,
        Err(e) => {
            read_error = Some(e);
            None
        }
    });
    match read_error {
        Some(e) => Err(e),
        None => Ok(HookResult::from_c_int(scanned)),
    }
}
