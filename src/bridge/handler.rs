//! The `fcgid-script` handler: checks the request, borrows a process from
//! the manager, runs the FastCGI exchange and streams the response.

use super::app_conn::{AppConn, AppError};
use super::body::{Body, BodyError};
use super::class::{class_for, Target};
use super::env;
use super::loan::Loan;
use crate::fcgi::Role;
use crate::ffi::bindings::{
    DECLINED, HTTP_BAD_REQUEST, HTTP_FORBIDDEN, HTTP_INTERNAL_SERVER_ERROR, HTTP_NOT_FOUND,
    HTTP_NOT_MODIFIED, HTTP_REQUEST_ENTITY_TOO_LARGE, HTTP_SERVICE_UNAVAILABLE, OK,
};
use crate::ffi::log::Level;
use crate::ffi::request::{FileKind, Request};
use std::os::raw::c_int;

const HTTP_BAD_GATEWAY: c_int = 502;

pub fn handle(req: &mut Request) -> c_int {
    if req.handler() != Some("fcgid-script") {
        return DECLINED as c_int;
    }
    // Any bytes (a script may be named caf\xe9.fcgi); `filename` is for logs.
    let Some(script) = req.filename().map(std::path::PathBuf::from) else {
        return DECLINED as c_int;
    };
    let filename = script.to_string_lossy().into_owned();
    if !req.allows_exec_cgi() {
        req.log(
            Level::Err,
            &format!("mod_fcgid: Options ExecCGI is off in this directory: {filename}"),
        );
        return HTTP_FORBIDDEN as c_int;
    }
    let server = req.server_config();
    let dir = req.dir_config();
    let wrapper_virtual = dir.wrapper_for(&filename).is_some_and(|w| w.is_virtual);
    let file_id = match req.file_kind() {
        FileKind::Regular { device, inode } => Some((device, inode)),
        FileKind::Directory => {
            req.log(
                Level::Err,
                &format!("mod_fcgid: attempt to invoke directory as script: {filename}"),
            );
            return HTTP_FORBIDDEN as c_int;
        }
        FileKind::Missing if !wrapper_virtual => {
            req.log(
                Level::Err,
                &format!("mod_fcgid: script not found or unable to stat: {filename}"),
            );
            return HTTP_NOT_FOUND as c_int;
        }
        _ => None,
    };
    let (uid, gid) = req.suexec_identity().unwrap_or_else(crate::ffi::process::httpd_user);
    let target = Target {
        filename: &script,
        file_id,
        vhost: req.vhost_id(),
        uid,
        gid,
    };
    let Some((spec, opts)) = class_for(&target, server, dir) else {
        req.log(
            Level::Err,
            &format!("mod_fcgid: {filename} is not a regular file"),
        );
        return HTTP_FORBIDDEN as c_int;
    };

    // The whole body is read before a process is taken: a slow client never
    // holds an app process.
    let had_length = req.header_in(c"Content-Length").is_some();
    let mut body = Body::new(
        server.max_request_in_mem() as usize,
        server.max_request_len(),
    );
    match req.read_body(|piece| body.push(piece)) {
        Ok(()) => {}
        Err(Some(BodyError::TooLarge)) => {
            req.log(
                Level::Err,
                &format!(
                    "mod_fcgid: request body is larger than FcgidMaxRequestLen ({} bytes)",
                    server.max_request_len()
                ),
            );
            return HTTP_REQUEST_ENTITY_TOO_LARGE as c_int;
        }
        Err(Some(BodyError::Spool(e))) => {
            req.log(
                Level::Err,
                &format!("mod_fcgid: cannot spool the request body to a temporary file: {e}"),
            );
            return HTTP_INTERNAL_SERVER_ERROR as c_int;
        }
        Err(None) => {
            req.log(
                Level::Info,
                "mod_fcgid: could not read the request body from the client",
            );
            return HTTP_BAD_REQUEST as c_int;
        }
    }

    let mut params = req.cgi_environment();
    env::drop_httpoxy(&mut params);
    let passed: Vec<(String, String)> = server
        .pass_headers
        .iter()
        .filter_map(|h| {
            let name = std::ffi::CString::new(h.as_str()).ok()?;
            req.header_in(&name).map(|v| (h.clone(), v.to_string()))
        })
        .collect();
    env::pass_headers(&mut params, &passed);
    env::set_content_length(&mut params, body.len(), had_length);
    if server.fix_pathinfo() {
        env::fix_pathinfo(&mut params, req.uri().unwrap_or_default());
    }

    let request_log = req.log_handle();
    let log_stderr = move |line: &str| {
        request_log.log(Level::Warn, &format!("mod_fcgid: stderr: {line}"))
    };
    // A process can be gone by the time we reach it; a request it never saw
    // goes to another one (as C does), a few times at most.
    for attempt in 1..=ATTEMPTS {
        let mut loan = match Loan::borrow(req, spec.clone(), server.wait_timeout(), &filename) {
            Ok(loan) => loan,
            Err(status) => return status,
        };
        match exchange(
            req,
            &mut loan,
            &opts,
            &params,
            &mut body,
            server.output_buffer_size(),
            &log_stderr,
        ) {
            Ok(status) => return status,
            Err(Failure {
                error, retry: true, ..
            }) if attempt < ATTEMPTS => {
                req.log(
                    Level::Info,
                    &format!("mod_fcgid: {filename}: {error}; trying another process"),
                );
            }
            Err(Failure { status, error, .. }) => {
                // The loan is dropped unreturned: the manager stops that process.
                req.log(Level::Err, &format!("mod_fcgid: {filename}: {error}"));
                return status;
            }
        }
    }
    unreachable!("the last attempt returns")
}

const ATTEMPTS: u32 = 10;

/// Why an exchange failed: the status to answer (if no header was sent
/// yet), the cause, and whether the app never saw the request.
struct Failure {
    status: c_int,
    error: AppError,
    retry: bool,
}

/// Runs one request against the app and answers the client.
fn exchange(
    req: &mut Request,
    loan: &mut Loan,
    opts: &crate::config::ProcessOptions,
    params: &[(Vec<u8>, Vec<u8>)],
    body: &mut Body,
    buffer_size: usize,
    log_stderr: &dyn Fn(&str),
) -> Result<c_int, Failure> {
    let fail = |status: u32, app: Option<&AppConn>, error: AppError| {
        let retry = match app {
            Some(app) => app.never_started(&error),
            None => matches!(error, AppError::Connect(_)),
        };
        Failure {
            status: status as c_int,
            error,
            retry,
        }
    };
    let mut app = AppConn::connect(
        loan.socket(),
        opts.connect_timeout,
        opts.io_timeout,
        log_stderr,
    )
    .map_err(|e| fail(HTTP_SERVICE_UNAVAILABLE, None, e))?;
    if let Err(e) = app.send_request(Role::Responder, params, body) {
        return Err(fail(HTTP_INTERNAL_SERVER_ERROR, Some(&app), e));
    }
    // The first answer, before httpd's scanner reads lines: a process that
    // was already gone shows here, and the request can go elsewhere.
    if let Err(e) = app.await_answer() {
        return Err(fail(HTTP_INTERNAL_SERVER_ERROR, Some(&app), e));
    }

    let scanned = super::scan_headers(req, &mut app)
        .map_err(|e| fail(HTTP_INTERNAL_SERVER_ERROR, None, e))?;
    if scanned != OK as c_int {
        // Still read the app's answer to the end so the process stays usable.
        app.drain().map_err(|e| Failure {
            status: scanned,
            error: e,
            retry: false,
        })?;
        loan.give_back();
        if scanned == HTTP_NOT_MODIFIED as c_int {
            req.set_status(scanned);
            return Ok(OK as c_int);
        }
        return Ok(scanned);
    }
    if let Some(location) = req.location_out() {
        if req.status() == 200 {
            app.drain()
                .map_err(|e| fail(HTTP_INTERNAL_SERVER_ERROR, None, e))?;
            loan.give_back();
            if location.starts_with('/') {
                req.internal_redirect_as_get(&location);
                return Ok(OK as c_int);
            }
            return Ok(302);
        }
    }
    stream_body(req, &mut app, loan, buffer_size)?;
    Ok(OK as c_int)
}

/// How much of an answer is read and thrown away after its client hung up,
/// to keep the process; an app still sending past it is stopped. Clients
/// that click away from a page or abort a download are common: stopping
/// the app for each of them costs warm processes for nothing.
const DISCARD_LIMIT: usize = 1 << 20;
/// How long that reading may take at most.
const DISCARD_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// Sends STDOUT to the client as it arrives: flushed whenever the app pauses,
/// or when `buffer_size` bytes are waiting. A client that goes away ends it
/// (see `client_gone`).
fn stream_body(
    req: &mut Request,
    app: &mut AppConn,
    loan: &mut Loan,
    buffer_size: usize,
) -> Result<(), Failure> {
    let mut out = req.output();
    let mut buffered = 0;
    while !app.finished() {
        let chunk = match app.next_body_chunk() {
            Ok(c) => c,
            Err(error) if out.sent_anything() => {
                // Headers are out: cut the connection so the client sees the
                // answer is incomplete; the request's status stays as sent.
                out.abort(HTTP_BAD_GATEWAY);
                return Err(Failure {
                    status: OK as c_int,
                    error,
                    retry: false,
                });
            }
            Err(error) => {
                out.discard();
                return Err(Failure {
                    status: HTTP_BAD_GATEWAY,
                    error,
                    retry: false,
                });
            }
        };
        if app.finished() {
            loan.give_back();
        }
        if chunk.is_empty() {
            continue;
        }
        buffered += chunk.len();
        if out.write(&chunk).is_err() {
            client_gone(req, app, loan);
            return Ok(());
        }
        // The last chunk goes out with end-of-stream below, not a flush of its own.
        if !app.finished() && (buffered >= buffer_size || !app.input_waiting()) {
            if out.flush().is_err() {
                client_gone(req, app, loan);
                return Ok(());
            }
            buffered = 0;
        }
    }
    loan.give_back();
    if out.finish().is_err() {
        req.log(
            Level::Info,
            "mod_fcgid: the client closed the connection before the end of the answer",
        );
    }
    Ok(())
}

/// The client hung up mid-answer: read the rest of the answer (up to a
/// bound) so the process can be given back, else stop it without counting
/// it against the app. One log line says which.
fn client_gone(req: &Request, app: &mut AppConn, loan: &mut Loan) {
    if loan.returned() {
        // The app had already ended the request; only the client's copy is cut.
        req.log(
            Level::Info,
            "mod_fcgid: the client closed the connection before the end of the answer",
        );
    } else if app.discard_rest(DISCARD_LIMIT, DISCARD_TIME) {
        loan.give_back();
        req.log(
            Level::Info,
            "mod_fcgid: the client closed the connection mid-answer; the rest of the answer \
             was read and dropped, and the process kept",
        );
    } else {
        loan.give_up_client_gone();
        req.log(
            Level::Info,
            &format!(
                "mod_fcgid: the client closed the connection mid-answer and the application \
                 was still sending after {} KiB or {} s; its process is stopped",
                DISCARD_LIMIT >> 10,
                DISCARD_TIME.as_secs()
            ),
        );
    }
}
