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

/// The parts of the differential suite this test shares (C mod_fcgid).
mod differential {
    pub mod c_module;
}

/// A server with mod_status and `module` as fcgid_module, whose classes
/// have served: hello 3 requests, echo 1, and stream one still in flight
/// (its connection is returned: dropping it ends the request).
fn status_server(label: &str, module: &std::path::Path) -> (Httpd, std::net::TcpStream) {
    use std::io::Write;
    let conf = format!(
        "LoadModule status_module {MODULES}/mod_status.so\n<Location /server-status>\n  SetHandler server-status\n</Location>\n"
    );
    let httpd = Httpd::new(label, Mpm::Event, &["hello", "echo", "stream"], &conf);
    let root = httpd.root.display().to_string();
    // Debian builds C's defaults under /var/lib/apache2/fcgid.
    httpd.append_conf(&format!(
        "FcgidIPCDir {root}/logs/fcgidsock\nFcgidProcessTableFile {root}/logs/fcgid_shm\n\
         FcgidIOTimeout 3600\n"
    ));
    let ours = format!(
        "LoadModule fcgid_module {}",
        common::module_path().display()
    );
    let text = std::fs::read_to_string(&httpd.conf).unwrap().replace(
        &ours,
        &format!("LoadModule fcgid_module {}", module.display()),
    );
    std::fs::write(&httpd.conf, text).unwrap();
    let httpd = httpd.start();
    for _ in 0..3 {
        assert_eq!(httpd.get("/hello.fcgi").status, 200);
    }
    assert_eq!(httpd.get("/echo.fcgi").status, 200);
    // Busy until the connection goes (C sends nothing of the answer
    // before the app ends it, so the status page tells when the app has it).
    let mut busy = std::net::TcpStream::connect(("127.0.0.1", httpd.port)).unwrap();
    write!(
        busy,
        "GET /stream.fcgi?pause_ms=600000 HTTP/1.1\r\nHost: localhost\r\n\r\n"
    )
    .unwrap();
    common::eventually(60, "stream.fcgi working", || {
        httpd
            .get("/server-status")
            .text()
            .contains("<td>Working</td>")
    });
    (httpd, busy)
}

/// mod_fcgid's part of /server-status (from its heading to the end of the
/// page), with what differs from run to run made constant: the server
/// root, and each process row's pid, active and idle seconds.
fn fcgid_section(page: &str, root: &str) -> String {
    let start = page
        .find("<hr />\n<h1>mod_fcgid status:</h1>")
        .unwrap_or_else(|| panic!("no mod_fcgid section:\n{page}"));
    let end = page.rfind("</body>").unwrap_or(page.len());
    let mut text = page[start..end].replace(root, "ROOT");
    let mut out = String::new();
    while let Some(at) = text.find("<tr><td>") {
        out.push_str(&text[..at]);
        let rest = &text[at..];
        let cells: Vec<&str> = rest.splitn(5, "<td>").collect();
        let numeric = |c: &str| {
            c.strip_suffix("</td>")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        };
        if cells.len() == 5 && cells[1..4].iter().all(|c| numeric(c)) {
            out.push_str("<tr><td>PID</td><td>S</td><td>S</td><td>");
            text = cells[4].to_string();
        } else {
            out.push_str("<tr><td>");
            text = rest["<tr><td>".len()..].to_string();
        }
    }
    out.push_str(&text);
    out
}

/// The HTML section as C users know it: the same heading, total, per class
/// "Process: NAME (PATH)" and table of Pid, Active, Idle, Accesses and
/// State, in the same order, as C mod_fcgid 2.3.9 writes it for the same
/// configuration; ours adds its pools table below it.
#[test]
fn the_html_section_is_c_mod_fcgids_then_ours() {
    let c_so = differential::c_module::path();
    let ours_so = common::module_path();
    let ((c, _c_busy), (ours, _our_busy)) = std::thread::scope(|s| {
        let c = s.spawn(|| status_server("status-c", &c_so));
        let ours = s.spawn(|| status_server("status-r", &ours_so));
        (c.join().unwrap(), ours.join().unwrap())
    });
    let section = |h: &Httpd| {
        let page = h.get("/server-status").text();
        fcgid_section(&page, &h.root.display().to_string())
    };
    let (c_html, our_html) = (section(&c), section(&ours));
    // C's own words, as a check that the comparison has something to compare.
    for part in [
        "Total FastCGI processes: 3\n",
        "<b>Process: echo.fcgi</b>&nbsp;&nbsp;(ROOT/www/echo.fcgi)<br />",
        "<th>Pid</th><th>Active</th><th>Idle</th><th>Accesses</th><th>State</th>",
        "<td>3</td><td>Ready</td></tr>",
        "<td>0</td><td>Working</td></tr>",
    ] {
        assert!(c_html.contains(part), "C's page lacks {part:?}:\n{c_html}");
    }
    let ours_c_part = our_html.get(..c_html.len()).unwrap_or(&our_html);
    assert!(
        ours_c_part == c_html,
        "C's section:\n{c_html}\n\nours:\n{our_html}"
    );
    let additions = &our_html[c_html.len()..];
    assert!(
        additions.starts_with("<h2>mod_fcgid pools</h2>"),
        "ours adds its table below C's: {additions}"
    );
}
