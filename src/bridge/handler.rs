//! The `fcgid-script` handler: checks the request, borrows a process from
//! the manager, runs the FastCGI exchange and streams the response.

use super::app_conn::{AppConn, AppError};
use super::body::{Body, BodyError};
use super::class::Target;
use super::class_cache::class_of;
use super::env;
use super::exchange::{self, Answer, Job};
use super::loan::Loan;
use super::timing;
use crate::fcgi::Role;
use crate::ffi::http_status::{HookResult, HttpStatus};
use crate::ffi::log::Level;
use crate::ffi::request::{FileKind, Request};

pub fn handle(req: &mut Request) -> HookResult {
    if req.handler() != Some("fcgid-script") {
        return HookResult::Declined;
    }
    // Any bytes (a script may be named caf\xe9.fcgi); `filename` is for logs.
    let Some(script) = req.filename_pooled().map(std::path::Path::new) else {
        return HookResult::Declined;
    };
    let filename = script.to_string_lossy();
    // As mod_cgi and C: a ScriptAlias'd directory needs no ExecCGI.
    if !req.allows_exec_cgi() && !req.is_scriptaliased() {
        req.log(
            Level::Err,
            &format!("mod_fcgid: Options ExecCGI is off in this directory: {filename}"),
        );
        return HttpStatus::FORBIDDEN.into();
    }
    if req.rejects_path_info() {
        req.log(
            Level::Info,
            &format!("mod_fcgid: AcceptPathInfo Off and a path after the script: {filename}"),
        );
        return HttpStatus::NOT_FOUND.into();
    }
    let server = req.server_config();
    let dir = req.dir_config();
    let wrapper = dir.wrapper_for(&filename);
    let wrapper_virtual = wrapper.is_some_and(|w| w.is_virtual);
    let file_id = match req.file_kind() {
        FileKind::Regular { device, inode } => Some((device, inode)),
        FileKind::Directory => {
            req.log(
                Level::Err,
                &format!("mod_fcgid: attempt to invoke directory as script: {filename}"),
            );
            return HttpStatus::FORBIDDEN.into();
        }
        FileKind::Missing if !wrapper_virtual => {
            req.log(
                Level::Err,
                &format!("mod_fcgid: script not found or unable to stat: {filename}"),
            );
            return HttpStatus::NOT_FOUND.into();
        }
        _ => None,
    };
    let (uid, gid) = req
        .suexec_identity()
        .unwrap_or_else(crate::ffi::process::httpd_user);
    let target = Target {
        filename: script,
        file_id,
        vhost: req.vhost_id(),
        uid,
        gid,
    };
    let Some(class) = class_of(&target, server, wrapper) else {
        req.log(
            Level::Err,
            &format!("mod_fcgid: {filename} is not a regular file"),
        );
        return HttpStatus::FORBIDDEN.into();
    };
    // A program without any execute permission cannot start: C's app dies
    // at once and the client gets 500; say so here instead of spawning it.
    // The script's mode is in httpd's own stat of it: no second stat on
    // every request (a wrapper is another file).
    let (spec, opts) = &*class;
    let (program, executable) = match wrapper {
        Some(w) => (w.command.path.as_str(), may_execute(&w.command.path)),
        None => (
            &*filename,
            req.file_executable()
                .unwrap_or_else(|| may_execute(&filename)),
        ),
    };
    if !executable {
        req.log(
            Level::Err,
            &format!("mod_fcgid: {program} is not executable (no execute permission)"),
        );
        return HttpStatus::INTERNAL_SERVER_ERROR.into();
    }

    // A declared body over FcgidMaxRequestLen is refused before the client
    // sends it (no 100 Continue).
    if let Some(len) = req
        .declared_length()
        .filter(|&n| n > server.max_request_len())
    {
        req.log(
            Level::Err,
            &format!(
                "mod_fcgid: request body of {len} bytes is larger than FcgidMaxRequestLen ({} bytes)",
                server.max_request_len()
            ),
        );
        return HttpStatus::PAYLOAD_TOO_LARGE.into();
    }
    // A declared body over LimitRequestBody is refused before it is read,
    // with httpd's own status for it (reading would fail it with less).
    let limit = req.limit_req_body();
    if let Some(len) = req.declared_length().filter(|&n| limit > 0 && n > limit) {
        req.log(
            Level::Err,
            &format!(
                "mod_fcgid: request body of {len} bytes is over LimitRequestBody ({limit} bytes)"
            ),
        );
        return HttpStatus::PAYLOAD_TOO_LARGE.into();
    }

    // The whole body is read before a process is taken: a slow client never
    // holds an app process.
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
            return HttpStatus::PAYLOAD_TOO_LARGE.into();
        }
        Err(Some(BodyError::Spool(e))) => {
            req.log(
                Level::Err,
                &format!("mod_fcgid: cannot spool the request body to a temporary file: {e}"),
            );
            return HttpStatus::INTERNAL_SERVER_ERROR.into();
        }
        Err(None) => {
            req.log(
                Level::Info,
                "mod_fcgid: could not read the request body from the client",
            );
            return HttpStatus::BAD_REQUEST.into();
        }
    }

    let mut params = req.cgi_environment();
    // Of the names that go from the request's environment, those it has.
    let not_in_request = env::for_cgi(&mut params);
    let passed = exchange::passed_headers(req);
    env::pass_headers(&mut params, &passed);
    env::set_content_length(&mut params, body.len());
    if server.fix_pathinfo() {
        env::fix_pathinfo(&mut params, req.uri().unwrap_or_default());
    }
    // As C, the request's environment holds what the app gets: an
    // ErrorDocument after the app's answer sees REDIRECT_ copies of it.
    for name in not_in_request {
        req.unset_env(name);
    }
    for (name, value) in env::back_to_request(&params, &passed) {
        req.set_env_bytes(name, value);
    }

    req.set_note(timing::CLASS_NOTE, &spec.key);
    let log_stderr = exchange::stderr_logger(req);
    let job = Job {
        what: &filename,
        spec,
        opts,
        wait: server.wait_timeout(),
        role: Role::Responder,
        params: &params,
        body: &mut body,
    };
    let mut answer = match exchange::start(req, job, &log_stderr) {
        Ok(answer) => answer,
        Err(failed) => {
            timing::note(req, &failed.times);
            timing::log_if_slow(req, &failed.times, server.slow_request_log());
            return failed.status.into();
        }
    };
    let result = match respond(req, &mut answer, server.output_buffer_size()) {
        Ok(result) => result,
        Err(Failure { status, error }) => {
            // The loan is dropped unreturned: the manager stops that process.
            exchange::log_failure(req, &filename, &error);
            status
        }
    };
    timing::note(req, answer.loan.times());
    timing::log_if_slow(req, answer.loan.times(), server.slow_request_log());
    result
}

/// Has `path` an execute bit for anyone? (Which user runs it is the
/// launcher's business; a file nobody may execute never starts.) A file
/// that cannot be read here is left to the launcher to report.
fn may_execute(path: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).map_or(true, |m| m.permissions().mode() & 0o111 != 0)
}

/// Why answering failed after the headers were scanned: what to tell httpd
/// (a status if no header was sent yet), and the cause.
struct Failure {
    status: HookResult,
    error: AppError,
}

impl Failure {
    fn new(status: impl Into<HookResult>, error: AppError) -> Failure {
        Failure {
            status: status.into(),
            error,
        }
    }
}

/// Answers the client from the app's scanned headers: an error or 304 as
/// httpd's own, a local redirect, or the body streamed.
fn respond(
    req: &mut Request,
    answer: &mut Answer,
    buffer_size: usize,
) -> Result<HookResult, Failure> {
    if answer.scanned != HookResult::Ok {
        let scanned = answer.scanned;
        // Still read the app's answer to the end so the process stays usable.
        answer
            .drain_and_give_back()
            .map_err(|e| Failure::new(scanned, e))?;
        if scanned == HookResult::Status(HttpStatus::NOT_MODIFIED) {
            req.set_status(HttpStatus::NOT_MODIFIED.as_c_int());
            return Ok(HookResult::Ok);
        }
        return Ok(scanned);
    }
    if let Some(location) = req.location_out() {
        if HttpStatus::from_c_int(req.status()) == Some(HttpStatus::OK) {
            answer
                .drain_and_give_back()
                .map_err(|e| Failure::new(HttpStatus::INTERNAL_SERVER_ERROR, e))?;
            if location.starts_with('/') {
                req.internal_redirect_as_get(&location);
                return Ok(HookResult::Ok);
            }
            return Ok(HttpStatus::FOUND.into());
        }
    }
    stream_body(req, &mut answer.app, &mut answer.loan, buffer_size)?;
    Ok(HookResult::Ok)
}

/// How much of an answer is read and thrown away after its client hung up,
/// to keep the process; an app still sending past it is stopped. Clients
/// that click away from a page or abort a download are common: stopping
/// the app for each of them costs warm processes for nothing.
const DISCARD_LIMIT: usize = 1 << 20;
/// How long that reading may take at most.
const DISCARD_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// Sends STDOUT to the client as it arrives, as buckets over the bytes the
/// app's socket gave (no copy): passed on to httpd whenever `buffer_size`
/// bytes are waiting, and flushed whenever the app pauses (nothing more to
/// read right now), so that output an app flushes reaches the client at
/// once. A client that goes away ends it (see `client_gone`).
fn stream_body(
    req: &mut Request,
    app: &mut AppConn,
    loan: &mut Loan,
    buffer_size: usize,
) -> Result<(), Failure> {
    let mut out = req.output();
    // Bytes queued since the last pass, and whether any was passed
    // without a flush since the last flush.
    let mut buffered = 0;
    let mut unflushed = false;
    loop {
        let got = match app.next_body(read_limit(buffer_size, buffered)) {
            Ok(chunks) => {
                let before = buffered;
                for chunk in chunks {
                    buffered += chunk.len();
                    out.append(chunk);
                }
                Ok(buffered > before)
            }
            Err(error) => Err(error),
        };
        let got = match got {
            Ok(got) => got,
            Err(error) if out.sent_anything() => {
                // Headers are out: cut the connection so the client sees the
                // answer is incomplete; the request's status stays as sent.
                out.abort(HttpStatus::BAD_GATEWAY.as_c_int());
                return Err(Failure::new(HookResult::Ok, error));
            }
            Err(error) => {
                out.discard();
                return Err(Failure::new(HttpStatus::BAD_GATEWAY, error));
            }
        };
        if app.finished() {
            break;
        }
        if got && buffered >= buffer_size {
            if out.pass_on().is_err() {
                client_gone(req, app, loan);
                return Ok(());
            }
            buffered = 0;
            unflushed = true;
        }
        // More now? Else the app paused: what it sent goes out before we
        // wait for the rest.
        match app.read_now(read_limit(buffer_size, buffered)) {
            Ok(true) => continue,
            Ok(false) => {}
            // Reported by the next read, with the bytes taken before it.
            Err(_) => continue,
        }
        if buffered > 0 || unflushed {
            if out.flush().is_err() {
                client_gone(req, app, loan);
                return Ok(());
            }
            buffered = 0;
            unflushed = false;
        }
    }
    // The last bytes go out with end-of-stream, not a flush of their own.
    loan.give_back(app);
    if out.finish().is_err() {
        req.log(
            Level::Info,
            "mod_fcgid: the client closed the connection before the end of the answer",
        );
    }
    Ok(())
}

/// How much to read at once: what fills the buffer up to `buffer_size`,
/// so the pieces passed to httpd stay about that size, but never so
/// little that reads become tiny.
fn read_limit(buffer_size: usize, buffered: usize) -> usize {
    buffer_size.saturating_sub(buffered).max(4096)
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
        loan.give_back(app);
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
