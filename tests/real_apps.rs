//! The apps our users run: PHP through `FcgidWrapper` (php-cgi) and Perl
//! `CGI::Fast`, served by a real httpd with our module.

mod common;
use common::{Httpd, Mpm};
use std::path::Path;

fn copy_app(httpd: &Httpd, name: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/apps")
        .join(name);
    let dst = httpd.www().join(name);
    std::fs::copy(&src, &dst).unwrap();
    std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn field(text: &str, name: &str) -> Option<String> {
    text.split_whitespace()
        .chain(text.lines())
        .find_map(|w| w.strip_prefix(&format!("{name}=")).map(str::to_string))
}

#[test]
fn php_runs_through_fcgidwrapper_in_a_reused_process() {
    let conf = "<Directory {WWW}>\n  AddHandler fcgid-script .php\n  FcgidWrapper /usr/bin/php-cgi .php\n</Directory>\nFcgidFixPathinfo 1\n";
    let httpd = Httpd::new("php", Mpm::Event, &[], "");
    let text = std::fs::read_to_string(&httpd.conf).unwrap()
        + &conf.replace("{WWW}", &httpd.www().to_string_lossy());
    std::fs::write(&httpd.conf, text).unwrap();
    copy_app(&httpd, "info.php", 0o644);
    let httpd = httpd.start();

    let first = httpd.get("/info.php/extra?x=1");
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(field(&first.text(), "script").as_deref(), Some("/info.php"));
    assert_eq!(field(&first.text(), "path_info").as_deref(), Some("/extra"));
    let pid = field(&first.text(), "pid").expect("pid");

    let post = httpd.request("/info.php", &["--data", "name=fcgid"]);
    assert_eq!(field(&post.text(), "method").as_deref(), Some("POST"));
    assert_eq!(field(&post.text(), "post").as_deref(), Some("fcgid"));
    assert_eq!(
        field(&post.text(), "pid"),
        Some(pid),
        "the same php-cgi process served both"
    );
    assert_eq!(httpd.pm_number("processes"), 1);
}

#[test]
fn perl_cgi_fast_keeps_its_state_between_requests() {
    let httpd = Httpd::new("perl", Mpm::Prefork, &[], "");
    copy_app(&httpd, "counter.pl", 0o755);
    let conf = std::fs::read_to_string(&httpd.conf).unwrap().replace(
        "AddHandler fcgid-script .fcgi",
        "AddHandler fcgid-script .fcgi .pl",
    );
    std::fs::write(&httpd.conf, conf).unwrap();
    let httpd = httpd.start();

    let a = httpd.get("/counter.pl?name=one").text();
    let b = httpd.get("/counter.pl?name=two").text();
    assert!(a.starts_with("perl pid="), "{a}");
    assert_eq!(field(&a, "count").as_deref(), Some("0"));
    assert_eq!(
        field(&b, "count").as_deref(),
        Some("1"),
        "the process kept its counter"
    );
    assert_eq!(field(&b, "name").as_deref(), Some("two"));
    assert_eq!(field(&a, "pid"), field(&b, "pid"));
}
