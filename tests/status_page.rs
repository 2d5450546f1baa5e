//! The pools on mod_status's page, in HTML and as `?auto` lines.

mod common;
use common::{Httpd, Mpm, MODULES};

#[test]
fn server_status_shows_each_class_in_html_and_auto() {
    let conf = format!(
        "LoadModule status_module {MODULES}/mod_status.so\n<Location /server-status>\n  SetHandler server-status\n</Location>\nExtendedStatus On\n"
    );
    let httpd = Httpd::new("status", Mpm::Event, &["hello", "echo"], &conf).start();
    for _ in 0..3 {
        assert_eq!(httpd.get("/hello.fcgi").status, 200);
    }
    assert_eq!(httpd.get("/echo.fcgi").status, 200);

    let auto = httpd.get("/server-status?auto").text();
    let www = httpd.www().display().to_string();
    assert!(auto.lines().any(|l| l == "FcgidClasses: 2"), "{auto}");
    assert!(auto.lines().any(|l| l == "FcgidProcesses: 2"), "{auto}");
    let class_of = |cmd: &str| {
        auto.lines()
            .find_map(|l| {
                l.strip_suffix(&format!("Command: {www}/{cmd}"))
                    .and_then(|k| k.strip_prefix("FcgidClass"))
                    .map(str::to_string)
            })
            .unwrap_or_else(|| panic!("no class for {cmd}:\n{auto}"))
    };
    let hello = class_of("hello.fcgi");
    for line in [
        format!("FcgidClass{hello}Requests: 3"),
        format!("FcgidClass{hello}Busy: 0"),
        format!("FcgidClass{hello}Idle: 1"),
    ] {
        assert!(
            auto.lines().any(|l| l == line),
            "missing {line:?} in\n{auto}"
        );
    }
    assert!(
        auto.lines()
            .any(|l| l == format!("FcgidClass{}Requests: 1", class_of("echo.fcgi"))),
        "{auto}"
    );

    // C's layout: the total, a heading and a table per class, then ours.
    let html = httpd.get("/server-status").text();
    assert!(
        html.contains("<h1>mod_fcgid status:</h1>\nTotal FastCGI processes: 2\n"),
        "{html}"
    );
    assert!(
        html.contains(&format!(
            "<b>Process: hello.fcgi</b>&nbsp;&nbsp;({www}/hello.fcgi)<br />"
        )),
        "{html}"
    );
    assert_eq!(
        html.matches("<th>Pid</th><th>Active</th><th>Idle</th><th>Accesses</th><th>State</th>")
            .count(),
        2
    );
    assert!(
        html.contains("<td>3</td><td>Ready</td></tr>"),
        "hello served 3 and is ready: {html}"
    );
    assert!(html.contains("<h2>mod_fcgid pools</h2>"), "{html}");
}
