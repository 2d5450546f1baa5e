//! Adjustments to the CGI environment httpd built, before it goes to the
//! app as FastCGI PARAMS. Pure functions over byte pairs.

use super::decimal::Decimal;
use std::borrow::Cow;

/// One variable. httpd's own are borrowed from the request pool (copying
/// some 25 names and values into their own allocations, and freeing them,
/// was a fifth of a request's work in the module); ours are owned.
pub type Pair<'r> = (Cow<'r, [u8]>, Cow<'r, [u8]>);
pub type Env<'r> = Vec<Pair<'r>>;

/// Sets `name` to `value` (owned: ours, see `back_to_request`). A name
/// given as `&'static [u8]` stays borrowed.
fn set<'r>(env: &mut Env<'r>, name: impl Into<Cow<'r, [u8]>>, value: Vec<u8>) {
    let name = name.into();
    match env.iter_mut().find(|(k, _)| *k == name) {
        Some(slot) => slot.1 = value.into(),
        None => env.push((name, value.into())),
    }
}

/// Hop-by-hop request headers httpd dealt with itself: C mod_fcgid never
/// passes them on (the body arrives de-chunked, the connection is httpd's).
const HOP_BY_HOP: [&[u8]; 5] = [
    b"HTTP_KEEP_ALIVE",
    b"HTTP_TE",
    b"HTTP_TRAILER",
    b"HTTP_TRANSFER_ENCODING",
    b"HTTP_UPGRADE",
];

/// Request headers that are not the app's, in every role, as C has it:
/// - never a client's `Proxy:` header as HTTP_PROXY (httpoxy): apps would
///   take it as their outbound proxy;
/// - no hop-by-hop headers, and HTTP_CONNECTION=close whatever the client
///   sent: the app answers httpd, which keeps or closes the client's
///   connection itself;
/// - httpd's own TZ, first, when nothing set TZ (`ap_create_environment`
///   adds it for a CGI);
/// - and every name as `ap_create_environment` writes it for a CGI (see
///   `env_name`): `SetEnv my-var` reaches the app as `my_var`.
///
/// Returns the names of `NOT_IN_REQUEST` the environment had, as the
/// request's table matches them (without regard to case): most requests
/// have none, and each unset walks the whole table.
pub fn for_cgi(env: &mut Env) -> Vec<&'static [u8]> {
    // One pass over httpd's some 25 variables (every request runs this).
    let mut not_in_request = Vec::new();
    let mut has_connection = false;
    let mut has_tz = false;
    env.retain_mut(|(k, v)| {
        // Only a name starting with h or H can be an HTTP_ one.
        if k.len() > 5 && k[0] | 0x20 == b'h' && k[..5].eq_ignore_ascii_case(b"HTTP_") {
            if let Some(name) = NOT_IN_REQUEST.iter().find(|n| k.eq_ignore_ascii_case(n)) {
                not_in_request.push(*name);
            }
            match &**k {
                b"HTTP_PROXY" => return false,
                name if HOP_BY_HOP.contains(&name) => return false,
                b"HTTP_CONNECTION" if !has_connection => {
                    has_connection = true;
                    *v = b"close".to_vec().into();
                    return true;
                }
                _ => {}
            }
        } else if **k == *b"TZ" {
            has_tz = true;
        }
        // Renamed only where needed: most names stay borrowed from httpd.
        if !is_env_name(k) {
            *k = env_name(k).into();
        }
        true
    });
    if !has_connection {
        env.push((
            Cow::Borrowed(&b"HTTP_CONNECTION"[..]),
            b"close".to_vec().into(),
        ));
    }
    if !has_tz {
        if let Some(tz) = httpd_tz() {
            env.insert(0, (Cow::Borrowed(&b"TZ"[..]), Cow::Borrowed(tz)));
        }
    }
    not_in_request
}

/// httpd's own TZ, read once per process: reading the environment takes
/// std's environment lock, and httpd does not change its TZ while serving.
fn httpd_tz() -> Option<&'static [u8]> {
    static TZ: std::sync::OnceLock<Option<Vec<u8>>> = std::sync::OnceLock::new();
    TZ.get_or_init(|| std::env::var_os("TZ").map(|v| v.into_encoded_bytes()))
        .as_deref()
}

/// The bytes a variable name keeps as they are: ASCII letters, digits, `_`.
const NAME_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'_';
        b += 1;
    }
    t
};

/// Is `name` already as `env_name` would make it? (Every name of every
/// request passes here: eight bytes at a time where it is that long.)
fn is_env_name(name: &[u8]) -> bool {
    if name.first().is_some_and(u8::is_ascii_digit) {
        return false;
    }
    if name.len() < 8 {
        return name.iter().all(|&b| NAME_BYTE[b as usize]);
    }
    let word = |at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&name[at..at + 8]);
        u64::from_le_bytes(w)
    };
    // Whole words, then the last eight bytes (overlapping the words before).
    (0..name.len() / 8).all(|i| word_is_name(word(i * 8))) && word_is_name(word(name.len() - 8))
}

/// Are all eight bytes of `w` ASCII letters, digits or `_`? Byte-wise
/// range tests that cannot carry into the next byte, the high bits
/// excluded first.
fn word_is_name(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    if w & HIGH != 0 {
        return false;
    }
    // For bytes below 0x80: the high bit of each byte says `byte >= lo`
    // (first sum) and `byte > hi` (second sum).
    let within = |x: u64, lo: u8, hi: u8| {
        (x + ONES * u64::from(0x80 - lo)) & !(x + ONES * u64::from(0x7f - hi))
    };
    let letters = within(w | (ONES * 0x20), b'a', b'z');
    let digits = within(w, b'0', b'9');
    // A byte of 0 in `w ^ '_'` is an underscore: its high bit stays clear.
    let underscores = !((w ^ (ONES * u64::from(b'_'))) + ONES * 0x7f);
    (letters | digits | underscores) & HIGH == HIGH
}

/// A variable name as httpd's `ap_create_environment` makes it (and so C
/// mod_fcgid): a leading digit, and every byte that is not an ASCII letter,
/// digit or `_`, become `_`.
fn env_name(name: &[u8]) -> Vec<u8> {
    name.iter()
        .enumerate()
        .map(|(i, &b)| {
            let keep = b.is_ascii_alphanumeric() || b == b'_';
            if keep && !(i == 0 && b.is_ascii_digit()) {
                b
            } else {
                b'_'
            }
        })
        .collect()
}

/// `FcgidPassHeader`: each named request header under its own name, made a
/// variable name as C's `ap_create_environment` does (`X-Trace-Id` is
/// `X_Trace_Id`), and as `HTTP_<NAME>` (upper case). A hop-by-hop header,
/// and Connection, keep only their own name: C removes (or sets to
/// `close`) their HTTP_ form after adding it. Values are bytes: a header
/// need not be UTF-8 (Latin-1 is common), and C passes it as it came.
pub fn pass_headers(env: &mut Env, headers: &[(String, Vec<u8>)]) {
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("proxy") {
            continue;
        }
        let own = env_name(name.as_bytes());
        set(env, own.clone(), value.clone());
        let mut cgi = b"HTTP_".to_vec();
        cgi.extend(own.to_ascii_uppercase());
        if HOP_BY_HOP.contains(&cgi.as_slice()) || cgi == b"HTTP_CONNECTION" {
            continue;
        }
        set(env, cgi, value.clone());
    }
}

/// What the request's own environment (`r->subprocess_env`) must hold once
/// PARAMS are built, as with C, which builds them in that table: an
/// ErrorDocument or a local redirect after the app's answer sees
/// `REDIRECT_` copies of them. These names go (the hop-by-hop variables)...
pub const NOT_IN_REQUEST: &[&[u8]] = &HOP_BY_HOP;

/// ...and these variables of `params` are set: those that are ours (an
/// owned value: set or changed here, not httpd's as it built them), less
/// httpd's TZ, which httpd adds to a child's environment only. The
/// `FcgidPassHeader` headers `passed` go under the name configured
/// (`X-Pass`, as C stores them), not the variable name the app gets
/// (`X_Pass`): users read them as `%{X-Pass}e`, `%{ENV:X-Pass}`,
/// `REDIRECT_X-Pass`.
pub fn back_to_request<'e>(
    params: &'e Env,
    passed: &'e [(String, Vec<u8>)],
) -> impl Iterator<Item = (&'e [u8], &'e [u8])> {
    let passed: Vec<&(String, Vec<u8>)> = passed
        .iter()
        .filter(|(name, _)| !name.eq_ignore_ascii_case("proxy"))
        .collect();
    let app_names: Vec<Vec<u8>> = passed.iter().map(|(n, _)| env_name(n.as_bytes())).collect();
    let ours = params.iter().filter_map(move |(k, v)| match v {
        Cow::Owned(v) if **k != *b"TZ" && !app_names.iter().any(|n| **n == **k) => {
            Some((&**k, v.as_slice()))
        }
        _ => None,
    });
    ours.chain(
        passed
            .into_iter()
            .map(|(n, v)| (n.as_bytes(), v.as_slice())),
    )
}

/// The body was read whole (de-chunked): tell the app its real length,
/// always, as C does: `CONTENT_LENGTH=0` for a request without a body (an
/// app doing `atoi(getenv("CONTENT_LENGTH"))` must not crash), the
/// de-chunked length for a chunked one.
pub fn set_content_length(env: &mut Env, len: u64) {
    set(
        env,
        &b"CONTENT_LENGTH"[..],
        Decimal::new(len).as_bytes().to_vec(),
    );
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
    set(env, &b"SCRIPT_NAME"[..], script.to_vec());
}

/// The environment of an authorizer-role program (DESIGN §5): its role in
/// FCGI_APACHE_ROLE, the Basic password for an authenticator, and none of
/// the variables that describe a body or a script it is not running.
pub fn for_auth_role(env: &mut Env, role: &str, password: Option<&str>) {
    const DROPPED: [&[u8]; 4] = [
        b"CONTENT_LENGTH",
        b"PATH_INFO",
        b"PATH_TRANSLATED",
        b"SCRIPT_NAME",
    ];
    env.retain(|(k, _)| !DROPPED.contains(&&**k) && !HOP_BY_HOP.contains(&&**k));
    if let Some(pw) = password {
        set(env, &b"REMOTE_PASSWD"[..], pw.as_bytes().to_vec());
    }
    set(env, &b"FCGI_APACHE_ROLE"[..], role.as_bytes().to_vec());
    // No keep-alive between httpd and the program: it answers and is done.
    set(env, &b"HTTP_CONNECTION"[..], b"close".to_vec());
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
        for_cgi(&mut e);
        pass_headers(&mut e, &[("Proxy".into(), "evil:8080".into())]);
        assert_eq!(get(&e, "HTTP_PROXY"), None);
        assert_eq!(get(&e, "Proxy"), None);
        assert_eq!(get(&e, "HTTP_HOST"), Some(&b"x"[..]));
    }

    #[test]
    fn hop_by_hop_headers_are_httpds_and_the_connection_is_close() {
        let mut e = env(&[
            ("HTTP_TRANSFER_ENCODING", "chunked"),
            ("HTTP_TE", "trailers"),
            ("HTTP_TRAILER", "X-Sum"),
            ("HTTP_KEEP_ALIVE", "300"),
            ("HTTP_UPGRADE", "websocket"),
            ("HTTP_HOST", "x"),
        ]);
        for_cgi(&mut e);
        for gone in [
            "HTTP_TRANSFER_ENCODING",
            "HTTP_TE",
            "HTTP_TRAILER",
            "HTTP_KEEP_ALIVE",
            "HTTP_UPGRADE",
        ] {
            assert_eq!(get(&e, gone), None, "{gone}");
        }
        assert_eq!(
            get(&e, "HTTP_CONNECTION"),
            Some(&b"close"[..]),
            "set without a header"
        );
        let mut e = env(&[("HTTP_CONNECTION", "keep-alive")]);
        for_cgi(&mut e);
        assert_eq!(get(&e, "HTTP_CONNECTION"), Some(&b"close"[..]));
        pass_headers(
            &mut e,
            &[
                ("Connection".into(), "keep-alive".into()),
                ("TE".into(), "gzip".into()),
            ],
        );
        assert_eq!(
            get(&e, "HTTP_CONNECTION"),
            Some(&b"close"[..]),
            "a passed Connection too"
        );
        assert_eq!(get(&e, "HTTP_TE"), None);
        assert_eq!(get(&e, "TE"), Some(&b"gzip"[..]), "under its own name");
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
        assert_eq!(get(&e, "X_Trace_Id"), Some(&b"7"[..]), "C's spelling");
        assert_eq!(get(&e, "X-Trace-Id"), None);
        assert_eq!(get(&e, "HTTP_X_TRACE_ID"), Some(&b"7"[..]));
    }

    #[test]
    fn a_passed_value_that_is_not_utf8_is_passed_as_is() {
        let mut e = env(&[]);
        pass_headers(&mut e, &[("X-Name".into(), b"\xe9t\xe9".to_vec())]);
        assert_eq!(get(&e, "X_Name"), Some(&b"\xe9t\xe9"[..]));
        assert_eq!(get(&e, "HTTP_X_NAME"), Some(&b"\xe9t\xe9"[..]));
    }

    #[test]
    fn the_request_keeps_what_was_added_to_httpds_environment() {
        let httpd: Vec<(Vec<u8>, Vec<u8>)> = [
            ("HTTP_HOST", "x"),
            ("HTTP_TE", "trailers"),
            ("HTTP_CONNECTION", "keep-alive"),
        ]
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect();
        // Borrowed from httpd's table, as `Request::cgi_environment` gives it.
        let mut e: Env = httpd
            .iter()
            .map(|(k, v)| (Cow::Borrowed(&k[..]), Cow::Borrowed(&v[..])))
            .collect();
        for_cgi(&mut e);
        let passed = [
            ("X-Pass".to_string(), b"1".to_vec()),
            ("Proxy".to_string(), b"evil:8080".to_vec()),
        ];
        pass_headers(&mut e, &passed);
        set_content_length(&mut e, 0);
        assert!(NOT_IN_REQUEST.contains(&&b"HTTP_TE"[..]));
        assert_eq!(get(&e, "X_Pass"), Some(&b"1"[..]), "the app's name");
        let mut set: Vec<(&[u8], &[u8])> = back_to_request(&e, &passed).collect();
        set.sort();
        // The request keeps the passed header under its configured name.
        let want: [(&[u8], &[u8]); 4] = [
            (b"CONTENT_LENGTH", b"0"),
            (b"HTTP_CONNECTION", b"close"),
            (b"HTTP_X_PASS", b"1"),
            (b"X-Pass", b"1"),
        ];
        assert_eq!(set, want, "httpd's own and TZ are not written back");
    }

    #[test]
    fn the_names_to_unset_from_the_request_are_found_without_regard_to_case() {
        let mut e = env(&[
            ("HTTP_TE", "trailers"),
            ("http_upgrade", "x"),
            ("HTTP_HOST", "h"),
        ]);
        assert_eq!(for_cgi(&mut e), [&b"HTTP_TE"[..], &b"HTTP_UPGRADE"[..]]);
        assert_eq!(get(&e, "http_upgrade"), Some(&b"x"[..]), "passed as before");
        let mut e = env(&[("HTTP_HOST", "h")]);
        assert!(for_cgi(&mut e).is_empty());
    }

    #[test]
    fn httpds_tz_is_passed_unless_set() {
        // The test process's TZ stands for httpd's.
        let tz = std::env::var_os("TZ").map(|v| v.into_encoded_bytes());
        let mut e = env(&[]);
        for_cgi(&mut e);
        assert_eq!(get(&e, "TZ"), tz.as_deref());
        let mut e = env(&[("TZ", "Asia/Tokyo")]);
        for_cgi(&mut e);
        assert_eq!(get(&e, "TZ"), Some(&b"Asia/Tokyo"[..]), "SetEnv TZ wins");
    }

    #[test]
    fn names_are_made_as_ap_create_environment_makes_them() {
        let mut e = env(&[
            ("odd-name.x", "1"),
            ("9lives", "2"),
            ("caf\u{e9}", "3"),
            ("HTTP_HOST", "h"),
        ]);
        for_cgi(&mut e);
        assert_eq!(get(&e, "odd_name_x"), Some(&b"1"[..]));
        assert_eq!(get(&e, "_lives"), Some(&b"2"[..]), "a leading digit");
        assert_eq!(
            get(&e, "caf__"),
            Some(&b"3"[..]),
            "each byte of a non-ASCII letter"
        );
        assert_eq!(get(&e, "HTTP_HOST"), Some(&b"h"[..]));
    }

    #[test]
    fn names_checked_eight_bytes_at_a_time_as_byte_by_byte() {
        let bytewise = |n: &[u8]| {
            !n.first().is_some_and(u8::is_ascii_digit) && n.iter().all(|&b| NAME_BYTE[b as usize])
        };
        for b in 0..=255u8 {
            for at in 0..11 {
                let mut name = b"HTTP_ACCEPT".to_vec();
                name[at] = b;
                assert_eq!(is_env_name(&name), bytewise(&name), "{name:?}");
                assert_eq!(is_env_name(&name[..8]), bytewise(&name[..8]));
                assert_eq!(is_env_name(&name[..at + 1]), bytewise(&name[..at + 1]));
            }
        }
    }

    #[test]
    fn content_length_reflects_the_body_read() {
        let mut e = env(&[]);
        set_content_length(&mut e, 0);
        assert_eq!(get(&e, "CONTENT_LENGTH"), Some(&b"0"[..]), "no body");
        set_content_length(&mut e, 1234);
        assert_eq!(
            get(&e, "CONTENT_LENGTH"),
            Some(&b"1234"[..]),
            "chunked body"
        );
        let mut e = env(&[("CONTENT_LENGTH", "99")]);
        set_content_length(&mut e, 0);
        assert_eq!(
            get(&e, "CONTENT_LENGTH"),
            Some(&b"0"[..]),
            "what was read, as C"
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
