//! Adjustments to the CGI environment httpd built, before it goes to the
//! app as FastCGI PARAMS. Pure functions over byte pairs.

use std::borrow::Cow;

/// One variable. httpd's own are borrowed from the request pool (copying
/// some 25 names and values into their own allocations, and freeing them,
/// was a fifth of a request's work in the module); ours are owned.
pub type Pair<'r> = (Cow<'r, [u8]>, Cow<'r, [u8]>);
pub type Env<'r> = Vec<Pair<'r>>;

fn set(env: &mut Env, name: &[u8], value: Vec<u8>) {
    match env.iter_mut().find(|(k, _)| **k == *name) {
        Some(slot) => slot.1 = value.into(),
        None => env.push((name.to_vec().into(), value.into())),
    }
}

/// Never forward a client's `Proxy:` header as HTTP_PROXY (httpoxy):
/// apps would take it as their outbound proxy.
pub fn drop_httpoxy(env: &mut Env) {
    env.retain(|(k, _)| **k != *b"HTTP_PROXY");
}

/// `FcgidPassHeader`: each named request header under its own name and as
/// `HTTP_<NAME>` (dashes become underscores, upper case).
pub fn pass_headers(env: &mut Env, headers: &[(String, String)]) {
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("proxy") {
            continue;
        }
        set(env, name.as_bytes(), value.as_bytes().to_vec());
        let cgi: String = name
            .chars()
            .map(|c| {
                if c == '-' {
                    '_'
                } else {
                    c.to_ascii_uppercase()
                }
            })
            .collect();
        set(
            env,
            format!("HTTP_{cgi}").as_bytes(),
            value.as_bytes().to_vec(),
        );
    }
}

/// The body was read whole (de-chunked): tell the app its real length.
pub fn set_content_length(env: &mut Env, len: u64, had_header: bool) {
    if len > 0 || had_header {
        set(env, b"CONTENT_LENGTH", len.to_string().into_bytes());
    }
}

/// `FcgidFixPathinfo 1`: SCRIPT_NAME as PHP's `cgi.fix_pathinfo=1` expects,
/// i.e. the URI path without the PATH_INFO tail.
pub fn fix_pathinfo(env: &mut Env, uri: &[u8]) {
    let path_info = env
        .iter()
        .find(|(k, _)| **k == *b"PATH_INFO")
        .map(|(_, v)| v.to_vec())
        .unwrap_or_default();
    let script = if !path_info.is_empty() && uri.ends_with(&path_info) {
        &uri[..uri.len() - path_info.len()]
    } else {
        uri
    };
    set(env, b"SCRIPT_NAME", script.to_vec());
}

/// The environment of an authorizer-role program (DESIGN §5): its role in
/// FCGI_APACHE_ROLE, the Basic password for an authenticator, and none of
/// the variables that describe a body or a script it is not running.
pub fn for_auth_role(env: &mut Env, role: &str, password: Option<&str>) {
    const DROPPED: [&[u8]; 9] = [
        b"CONTENT_LENGTH",
        b"PATH_INFO",
        b"PATH_TRANSLATED",
        b"SCRIPT_NAME",
        b"HTTP_KEEP_ALIVE",
        b"HTTP_TE",
        b"HTTP_TRAILER",
        b"HTTP_TRANSFER_ENCODING",
        b"HTTP_UPGRADE",
    ];
    env.retain(|(k, _)| !DROPPED.contains(&&**k));
    if let Some(pw) = password {
        set(env, b"REMOTE_PASSWD", pw.as_bytes().to_vec());
    }
    set(env, b"FCGI_APACHE_ROLE", role.as_bytes().to_vec());
    // No keep-alive between httpd and the program: it answers and is done.
    set(env, b"HTTP_CONNECTION", b"close".to_vec());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&'static str, &'static str)]) -> Env<'static> {
        pairs
            .iter()
            .map(|(k, v)| (k.as_bytes().into(), v.as_bytes().into()))
            .collect()
    }

    fn get<'a>(e: &'a Env, k: &str) -> Option<&'a [u8]> {
        e.iter()
            .find(|(n, _)| **n == *k.as_bytes())
            .map(|(_, v)| &**v)
    }

    #[test]
    fn httpoxy_header_is_removed_and_never_passed() {
        let mut e = env(&[("HTTP_PROXY", "evil:8080"), ("HTTP_HOST", "x")]);
        drop_httpoxy(&mut e);
        pass_headers(&mut e, &[("Proxy".into(), "evil:8080".into())]);
        assert_eq!(get(&e, "HTTP_PROXY"), None);
        assert_eq!(get(&e, "Proxy"), None);
        assert_eq!(get(&e, "HTTP_HOST"), Some(&b"x"[..]));
    }

    #[test]
    fn passed_header_appears_under_both_names() {
        let mut e = env(&[]);
        pass_headers(
            &mut e,
            &[
                ("Authorization".into(), "Basic abc".into()),
                ("X-Trace-Id".into(), "7".into()),
            ],
        );
        assert_eq!(get(&e, "Authorization"), Some(&b"Basic abc"[..]));
        assert_eq!(get(&e, "HTTP_AUTHORIZATION"), Some(&b"Basic abc"[..]));
        assert_eq!(get(&e, "HTTP_X_TRACE_ID"), Some(&b"7"[..]));
    }

    #[test]
    fn content_length_reflects_the_body_read() {
        let mut e = env(&[]);
        set_content_length(&mut e, 0, false);
        assert_eq!(get(&e, "CONTENT_LENGTH"), None, "no body, no header");
        set_content_length(&mut e, 1234, false);
        assert_eq!(
            get(&e, "CONTENT_LENGTH"),
            Some(&b"1234"[..]),
            "chunked body"
        );
    }

    #[test]
    fn auth_roles_get_their_role_and_no_body_or_script_variables() {
        let mut e = env(&[
            ("CONTENT_LENGTH", "5"),
            ("PATH_INFO", "/x"),
            ("SCRIPT_NAME", "/a"),
            ("HTTP_HOST", "h"),
            ("HTTP_CONNECTION", "keep-alive"),
        ]);
        for_auth_role(&mut e, "AUTHENTICATOR", Some("s3cret"));
        assert_eq!(get(&e, "FCGI_APACHE_ROLE"), Some(&b"AUTHENTICATOR"[..]));
        assert_eq!(get(&e, "REMOTE_PASSWD"), Some(&b"s3cret"[..]));
        assert_eq!(get(&e, "HTTP_CONNECTION"), Some(&b"close"[..]));
        assert_eq!(get(&e, "HTTP_HOST"), Some(&b"h"[..]));
        for gone in ["CONTENT_LENGTH", "PATH_INFO", "SCRIPT_NAME"] {
            assert_eq!(get(&e, gone), None, "{gone}");
        }
        let mut e = env(&[]);
        for_auth_role(&mut e, "AUTHORIZER", None);
        assert_eq!(
            get(&e, "REMOTE_PASSWD"),
            None,
            "only the authenticator gets the password"
        );
    }

    #[test]
    fn fix_pathinfo_strips_path_info_from_script_name() {
        let mut e = env(&[
            ("SCRIPT_NAME", "/app.php/extra/bit"),
            ("PATH_INFO", "/extra/bit"),
        ]);
        fix_pathinfo(&mut e, b"/app.php/extra/bit");
        assert_eq!(get(&e, "SCRIPT_NAME"), Some(&b"/app.php"[..]));
    }
}
