//! Apps that misbehave: each gets a clear answer, one log line naming the
//! cause, and the next request a working process.

mod common;
use common::{Httpd, Mpm};

fn misbehaving(mode: &str) -> Httpd {
    Httpd::new(
        &format!("misbehave-{mode}"),
        Mpm::Event,
        &["misbehave", "echo"],
        &format!("FcgidInitialEnv MISBEHAVE {mode}\n"),
    )
    .start()
}

#[test]
fn an_app_that_dies_mid_answer_gets_a_502_or_a_visibly_cut_response() {
    let httpd = misbehaving("partial");
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-i",
            "--max-time",
            "20",
            &httpd.url("/misbehave.fcgi"),
        ])
        .output()
        .unwrap();
    let r = common::parse_response(&out.stdout);
    if r.status == 502 {
        // Nothing had reached the client yet: one error page, not two.
        assert_eq!(
            r.text().matches("Bad Gateway").count(),
            2,
            "one page (title + heading): {}",
            r.text()
        );
    } else {
        // The headers were already out: the connection is cut, and the
        // client knows the answer is incomplete (chunked body never ended).
        assert_eq!(r.status, 200);
        assert!(
            !out.status.success(),
            "curl must see an incomplete transfer: {:?}",
            out.status
        );
    }
    httpd.wait_for_log("the cause", |l| {
        l.contains("misbehave.fcgi")
            && l.contains("closed the connection before ending the request")
    });
}

#[test]
fn an_app_that_is_not_fastcgi_is_named_as_such() {
    let httpd = misbehaving("garbage");
    assert!(httpd.get("/misbehave.fcgi").status >= 500);
    httpd.wait_for_log("the cause", |l| l.contains("plain CGI program"));
    assert_eq!(
        httpd.get("/echo.fcgi").status,
        200,
        "other classes are unaffected"
    );
}

#[test]
fn unknown_records_are_skipped_and_the_answer_arrives() {
    let httpd = misbehaving("unknown");
    let r = httpd.get("/misbehave.fcgi");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("after unknown records"), "{}", r.text());
}

#[test]
fn an_overloaded_app_gets_a_5xx_and_a_log_line() {
    let httpd = misbehaving("overloaded");
    assert!(httpd.get("/misbehave.fcgi").status >= 500);
    httpd.wait_for_log("the cause", |l| {
        l.contains("refused the request") && l.contains("Overloaded")
    });
}

#[test]
fn a_reset_after_the_app_read_part_of_the_body_is_not_retried() {
    // The app reads the request's head and first STDIN record, then dies
    // with the rest unread. Sending the POST again could run it twice.
    let httpd = Httpd::new(
        "misbehave-readpart",
        Mpm::Event,
        &["misbehave"],
        "FcgidInitialEnv MISBEHAVE readpart\nFcgidMaxProcessesPerClass 4\n",
    )
    .start();
    let body = "p".repeat(100_000);
    let r = httpd.request("/misbehave.fcgi", &["--data-binary", &body]);
    assert_eq!(r.status, 500);
    httpd.wait_for_log("the cause", |l| {
        l.contains("misbehave.fcgi") && l.contains("may have read part of the request")
    });
    let log = httpd.error_log();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("[fcgid:error]") && l.contains("misbehave.fcgi"))
        .collect();
    assert_eq!(lines.len(), 1, "one log line: {lines:#?}");
    assert!(
        !log.contains("trying another process"),
        "the request went to another process:\n{log}"
    );
}

#[test]
fn apps_that_retire_themselves_never_cost_a_request() {
    // Like php-cgi with PHP_FCGI_MAX_REQUESTS: the app exits after 3
    // requests with connections still queued to it; those requests must go
    // to another process, not fail.
    // The spawn throttle is opened up: every retirement counts against it,
    // and this test is about the requests, not the throttle.
    let conf = "FcgidMaxProcessesPerClass 4\nFcgidTerminationScore 0\nFcgidSpawnScoreUpLimit 1000\nFcgidProcessWaitTimeout 20\n";
    let httpd = Httpd::new("retire", Mpm::Event, &["retire"], conf).start();
    let out = std::process::Command::new("ab")
        .args([
            "-q",
            "-c",
            "8",
            "-n",
            "300",
            "-s",
            "30",
            &httpd.url("/retire.fcgi"),
        ])
        .output()
        .expect("run ab (apache2-utils)");
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
    };
    assert_eq!(
        field("Complete requests:").as_deref(),
        Some("300"),
        "{text}"
    );
    assert_eq!(field("Failed requests:").as_deref(), Some("0"), "{text}");
    assert_eq!(field("Non-2xx responses:"), None, "{text}");
}
