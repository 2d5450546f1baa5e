//! The authorizer roles (`FcgidAuthenticator`, `FcgidAuthorizer`,
//! `FcgidAccessChecker`): a FastCGI program in the AUTHORIZER role decides
//! from httpd's auth hooks. A 200 without `Location` lets the request pass
//! (its `Variable-NAME:` headers become request variables); anything else
//! fails it, or declines to the next module when not authoritative.

use super::app_conn::AppConn;
use super::body::Body;
use super::class::{class_for_command, Target};
use super::env;
use super::loan::Loan;
use crate::config::Command;
use crate::fcgi::Role;
use crate::ffi::bindings::{DECLINED, HTTP_UNAUTHORIZED, OK};
use crate::ffi::log::Level;
use crate::ffi::request::Request;
use std::os::raw::c_int;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    Authn,
    Authz,
    Access,
}

impl Check {
    fn role(self) -> &'static str {
        match self {
            Check::Authn => "AUTHENTICATOR",
            Check::Authz => "AUTHORIZER",
            Check::Access => "ACCESS_CHECKER",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Check::Authn => "Authentication",
            Check::Authz => "Authorization",
            Check::Access => "Access check",
        }
    }
}

/// What a request's `Variable-NAME: value` answer headers set: NAME=value.
pub fn variables(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(k, _)| k.len() > 9 && k[..9].eq_ignore_ascii_case("variable-"))
        .map(|(k, v)| (k[9..].to_string(), v.clone()))
        .collect()
}

pub fn check(req: &mut Request, check: Check) -> c_int {
    let dir = req.dir_config();
    let (command, authoritative): (Option<&Command>, bool) = match check {
        Check::Authn => (
            dir.authenticator.as_ref(),
            dir.authenticator_authoritative(),
        ),
        Check::Authz => (dir.authorizer.as_ref(), dir.authorizer_authoritative()),
        Check::Access => (
            dir.access_checker.as_ref(),
            dir.access_checker_authoritative(),
        ),
    };
    let Some(command) = command else {
        return DECLINED as c_int;
    };
    let password = match check {
        Check::Authn => match req.basic_auth_password() {
            Ok(pw) => Some(pw),
            Err(status) => {
                req.log(
                    Level::Err,
                    "mod_fcgid: authenticator requires basic HTTP auth credentials",
                );
                return status;
            }
        },
        _ => None,
    };
    let who = match (check, req.user()) {
        (Check::Access, _) | (_, None) => String::new(),
        (_, Some(user)) => format!(" of user {user}"),
    };
    let uri = String::from_utf8_lossy(req.uri().unwrap_or_default()).into_owned();

    let mut params = req.cgi_environment_apart();
    env::drop_httpoxy(&mut params);
    env::for_auth_role(&mut params, check.role(), password.as_deref());
    let before = req.save_response();
    match run(req, command, &params) {
        Ok(()) if req.status() == 200 && req.location_out().is_none() => {
            req.log(
                Level::Debug,
                &format!("mod_fcgid: {}{who} to access {uri} succeeded", check.name()),
            );
            let vars = variables(&req.response_headers());
            // The program's answer is not the response: its headers (the
            // Variable-* ones included) must not reach the client.
            req.restore_response(before);
            for (name, value) in vars {
                req.set_env(&name, &value);
            }
            OK as c_int
        }
        outcome => {
            let why = match outcome {
                Err(status) => format!("error or unexpected condition while running it ({status})"),
                Ok(()) if req.status() == 200 => "internal redirection not allowed".to_string(),
                Ok(()) => format!("it answered status {}", req.status()),
            };
            req.log(
                Level::Err,
                &format!(
                    "mod_fcgid: {}{who} to access {uri} failed: {why}",
                    check.name()
                ),
            );
            if !authoritative {
                return DECLINED as c_int;
            }
            if check != Check::Access {
                req.challenge_basic();
            }
            match outcome {
                Err(status) => status,
                Ok(()) => HTTP_UNAUTHORIZED as c_int,
            }
        }
    }
}

/// Runs the program once in the AUTHORIZER role: no body goes in, its
/// headers are read by httpd's CGI scanner, its body is read and dropped.
fn run(req: &mut Request, command: &Command, params: &[(Vec<u8>, Vec<u8>)]) -> Result<(), c_int> {
    let server = req.server_config();
    let (uid, gid) = crate::ffi::process::httpd_user();
    let target = Target {
        filename: std::path::Path::new(&command.path),
        file_id: None,
        vhost: req.vhost_id(),
        uid,
        gid,
    };
    let (spec, opts) = class_for_command(command, &target, server);
    let mut loan = Loan::borrow(req, spec, server.wait_timeout(), &command.path)?;
    let request_log = req.log_handle();
    let log_stderr = move |line: &str| {
        request_log.log(Level::Warn, &format!("mod_fcgid: stderr: {line}"))
    };
    let fail = |req: &Request, e: super::app_conn::AppError| {
        req.log(Level::Err, &format!("mod_fcgid: {}: {e}", command.path));
        crate::ffi::bindings::HTTP_INTERNAL_SERVER_ERROR as c_int
    };
    let mut app = AppConn::connect(
        loan.socket(),
        opts.connect_timeout,
        opts.io_timeout,
        &log_stderr,
    )
    .map_err(|e| fail(req, e))?;
    app.send_request(Role::Authorizer, params, &mut Body::new(0, 0))
        .map_err(|e| fail(req, e))?;
    let scanned = super::scan_headers(req, &mut app).map_err(|e| fail(req, e))?;
    app.drain().map_err(|e| fail(req, e))?;
    loan.give_back();
    if scanned != OK as c_int {
        return Err(scanned);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_variable_headers_become_variables_without_their_prefix() {
        let headers = vec![
            ("Variable-USER_ROLE".to_string(), "admin".to_string()),
            ("variable-quota".to_string(), "10".to_string()),
            ("Variable-".to_string(), "empty name".to_string()),
            ("X-Other".to_string(), "no".to_string()),
        ];
        assert_eq!(
            variables(&headers),
            vec![
                ("USER_ROLE".to_string(), "admin".to_string()),
                ("quota".to_string(), "10".to_string())
            ]
        );
    }
}
