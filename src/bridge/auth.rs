//! The authorizer roles (`FcgidAuthenticator`, `FcgidAuthorizer`,
//! `FcgidAccessChecker`): a FastCGI program in the AUTHORIZER role decides
//! from httpd's auth hooks. A 200 without `Location` lets the request pass
//! (its `Variable-NAME:` headers become request variables); anything else
//! fails it, or declines to the next module when not authoritative.

use super::body::Body;
use super::class::{class_for_command, Target};
use super::env::{self, Pair};
use super::exchange::{self, Job};
use crate::config::Command;
use crate::fcgi::Role;
use crate::ffi::http_status::{HookResult, HttpStatus};
use crate::ffi::log::Level;
use crate::ffi::request::Request;

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
/// The app chooses the names, so they are matched as bytes: a multi-byte
/// character where the prefix would end is just not a match.
pub fn variables(headers: &[(String, String)]) -> Vec<(String, String)> {
    const PREFIX: &[u8] = b"variable-";
    headers
        .iter()
        .filter_map(|(k, v)| {
            let (head, name) = k.as_bytes().split_at_checked(PREFIX.len())?;
            if !head.eq_ignore_ascii_case(PREFIX) || name.is_empty() {
                return None;
            }
            // The prefix is ASCII, so the name starts on a character boundary.
            Some((String::from_utf8_lossy(name).into_owned(), v.clone()))
        })
        .collect()
}

pub fn check(req: &mut Request, check: Check) -> HookResult {
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
        return HookResult::Declined;
    };
    let password = match check {
        Check::Authn => match req.basic_auth_password() {
            Ok(pw) => Some(pw),
            Err(rc) => {
                req.log(
                    Level::Err,
                    "mod_fcgid: authenticator requires basic HTTP auth credentials",
                );
                return HookResult::from_c_int(rc);
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
    env::for_cgi(&mut params);
    // As C: the roles get FcgidPassHeader's variables too.
    env::pass_headers(&mut params, &exchange::passed_headers(req));
    env::for_auth_role(&mut params, check.role(), password.as_deref());
    let before = req.save_response();
    match run(req, command, &params) {
        Ok(()) if answered_ok(req) && req.location_out().is_none() => {
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
            HookResult::Ok
        }
        outcome => {
            let why = match outcome {
                Err(status) => format!("error or unexpected condition while running it ({status})"),
                Ok(()) if answered_ok(req) => "internal redirection not allowed".to_string(),
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
                return HookResult::Declined;
            }
            if check != Check::Access {
                req.challenge_basic();
            }
            match outcome {
                Err(status) => status.into(),
                Ok(()) => HttpStatus::UNAUTHORIZED.into(),
            }
        }
    }
}

/// Did the program answer 200?
fn answered_ok(req: &Request) -> bool {
    HttpStatus::from_c_int(req.status()) == Some(HttpStatus::OK)
}

/// Runs the program once in the AUTHORIZER role: no body goes in, its
/// headers are read by httpd's CGI scanner, its body is read and dropped.
fn run(req: &mut Request, command: &Command, params: &[Pair]) -> Result<(), HttpStatus> {
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
    let log_stderr = exchange::stderr_logger(req);
    let job = Job {
        what: &command.path,
        spec: &spec,
        opts: &opts,
        wait: server.wait_timeout(),
        role: Role::Authorizer,
        params,
        body: &mut Body::new(0, 0),
    };
    let mut answer = exchange::start(req, job, &log_stderr).map_err(|f| f.status)?;
    if let Err(e) = answer.drain_and_give_back() {
        exchange::log_failure(req, &command.path, &e);
        return Err(HttpStatus::INTERNAL_SERVER_ERROR);
    }
    match answer.scanned {
        HookResult::Ok => Ok(()),
        HookResult::Status(status) => Err(status),
        HookResult::Declined => Err(HttpStatus::INTERNAL_SERVER_ERROR),
    }
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
            ("Variable".to_string(), "too short".to_string()),
        ];
        assert_eq!(
            variables(&headers),
            vec![
                ("USER_ROLE".to_string(), "admin".to_string()),
                ("quota".to_string(), "10".to_string())
            ]
        );
    }

    #[test]
    fn names_with_multi_byte_characters_never_panic() {
        let headers: Vec<(String, String)> = [
            "Variableé",   // byte 9 is inside 'é'
            "Variabl€-X",  // the prefix's bytes are not ASCII
            "Variable-é€", // a non-ASCII name after the prefix is kept
            "Variable€",
            "日本語ヘッダ名",
        ]
        .iter()
        .map(|k| (k.to_string(), "v".to_string()))
        .collect();
        assert_eq!(
            variables(&headers),
            vec![("é€".to_string(), "v".to_string())]
        );
    }
}
