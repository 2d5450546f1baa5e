//! FcgidAuthenticator, FcgidAuthorizer and FcgidAccessChecker against a real
//! httpd: a FastCGI app in the AUTHORIZER role decides.

mod common;
use common::{Httpd, Mpm, MODULES};

fn server(name: &str, dir_block: &str) -> Httpd {
    // mod_auth_basic is not loaded: its authn hook would answer first (as
    // with C mod_fcgid, which is not an authn provider either).
    let modules = format!(
        "LoadModule authn_core_module {MODULES}/mod_authn_core.so\nLoadModule authz_user_module {MODULES}/mod_authz_user.so\n"
    );
    let httpd = Httpd::new(name, Mpm::Event, &["auth", "echo"], &modules);
    let www = httpd.www();
    std::fs::create_dir_all(www.join("private")).unwrap();
    common::build_app("echo", &www.join("private"));
    let block = dir_block.replace("{WWW}", &www.to_string_lossy());
    let conf = std::fs::read_to_string(&httpd.conf).unwrap() + &block;
    std::fs::write(&httpd.conf, conf).unwrap();
    httpd.start()
}

#[test]
fn authenticator_checks_basic_credentials_and_sets_variables() {
    let httpd = server(
        "authn",
        "<Directory {WWW}/private>\n  AuthType Basic\n  AuthName test\n  FcgidAuthenticator {WWW}/auth.fcgi\n  Require valid-user\n</Directory>\n",
    );
    let none = httpd.get("/private/echo.fcgi");
    assert_eq!(none.status, 401);
    assert_eq!(
        none.header("WWW-Authenticate"),
        Some("Basic realm=\"test\"")
    );
    httpd.wait_for_log("missing credentials", |l| {
        l.contains("authenticator requires basic HTTP auth credentials")
    });

    let wrong = httpd.request("/private/echo.fcgi", &["-u", "alice:nope"]);
    assert_eq!(wrong.status, 401);
    assert!(
        wrong
            .header("WWW-Authenticate")
            .is_some_and(|v| v.contains("Basic")),
        "the client is asked again"
    );
    httpd.wait_for_log("the failed check", |l| {
        l.contains("Authentication of user alice to access /private/echo.fcgi failed")
    });

    let ok = httpd.request("/private/echo.fcgi", &["-u", "alice:wonderland"]);
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.field("REMOTE_USER").as_deref(), Some("alice"));
    assert_eq!(
        ok.field("AUTH_LEVEL").as_deref(),
        Some("gold"),
        "Variable-AUTH_LEVEL became a request variable"
    );
    assert!(
        ok.header("Variable-AUTH_LEVEL").is_none(),
        "the authenticator's headers do not reach the client"
    );
    assert_eq!(ok.header("Content-Type"), Some("text/plain"));
    httpd.wait_for_log("the authenticator's view", |l| {
        l.contains("auth role=AUTHENTICATOR user=alice pass=1 content_length=unset")
    });
}

#[test]
fn authorizer_and_access_checker_decide_their_part() {
    let httpd = server(
        "authz",
        "<Directory {WWW}/private>\n  AuthType Basic\n  AuthName test\n  FcgidAuthenticator {WWW}/auth.fcgi\n  FcgidAuthorizer {WWW}/auth.fcgi\n  FcgidAccessChecker {WWW}/auth.fcgi\n  Require valid-user\n</Directory>\n",
    );
    assert_eq!(
        httpd
            .request("/private/echo.fcgi", &["-u", "alice:wonderland"])
            .status,
        200
    );
    httpd.wait_for_log("all three roles", |l| {
        ["AUTHENTICATOR", "AUTHORIZER", "ACCESS_CHECKER"]
            .iter()
            .all(|r| l.contains(&format!("auth role={r} ")))
    });
    let denied = httpd.request("/private/echo.fcgi?deny", &["-u", "alice:wonderland"]);
    assert_eq!(denied.status, 401);
    httpd.wait_for_log("the access check failure", |l| {
        l.contains("Access check to access /private/echo.fcgi failed")
    });
}

#[test]
fn a_non_authoritative_authenticator_declines_instead_of_refusing() {
    // With Authoritative Off and no other authentication module, a failed
    // check declines, and httpd itself refuses: no "failed" 401 of ours,
    // but the request is still not served.
    let httpd = server(
        "authn-off",
        "<Directory {WWW}/private>\n  AuthType Basic\n  AuthName test\n  FcgidAuthenticator {WWW}/auth.fcgi\n  FcgidAuthenticatorAuthoritative Off\n  Require valid-user\n</Directory>\n",
    );
    let r = httpd.request("/private/echo.fcgi", &["-u", "alice:nope"]);
    assert_ne!(r.status, 200);
    assert!(
        r.field("REMOTE_USER").is_none(),
        "the app behind it never ran"
    );
    httpd.wait_for_log("the failed check", |l| {
        l.contains("Authentication of user alice to access /private/echo.fcgi failed")
    });
}
