//! The request each busy process serves, on every status form: a process
//! lent by the manager (the slow path) with a URI too long for the table,
//! and one claimed from the table (the fast path) with a URI full of
//! characters HTML, JSON and OpenMetrics must escape.

mod common;
use common::{eventually, Httpd, Mpm, MODULES};
use fcgid_core::pm::table::{Table, INFO_MAX};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// Debian's python3, where python3-prometheus-client installs.
const PYTHON: &str = "/usr/bin/python3";

/// The slow requests: long enough to be looked at on a slow machine; the
/// test does not wait for them (killed when dropped).
struct InFlight(Vec<Child>);

impl InFlight {
    fn get(&mut self, url: &str) {
        let child = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "--max-time", "60", "--path-as-is"])
            .arg(url)
            .spawn()
            .unwrap();
        self.0.push(child);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn python(script: &str, input: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new(PYTHON)
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run /usr/bin/python3");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python failed: {}\non input:\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(input)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Per busy process of the JSON: pid, then its current request as JSON.
const JSON_CURRENT: &str = r#"
import json, sys
for c in json.load(sys.stdin)["classes"]:
    for p in c["processes"]:
        cur = p["current_request"]
        if cur is not None:
            print(p["pid"], json.dumps([cur["method"], cur["uri"], cur["cut"], cur["seconds"] > 0]))
"#;

/// The current-request samples, as prometheus_client parsed them.
const OPENMETRICS_CURRENT: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        if s.name == "fcgid_process_current_request_info":
            print("info", s.labels["pid"], json.dumps([s.labels["method"], s.labels["uri"]]), s.value)
        if s.name == "fcgid_process_current_request_seconds":
            print("seconds", s.labels["pid"], s.value > 0)
"#;

fn table_snapshot(httpd: &Httpd) -> Table {
    let bytes = std::fs::read(httpd.www().join("../logs/fcgid_shm")).unwrap();
    let words: Vec<AtomicU64> = bytes
        .chunks_exact(8)
        .map(|c| AtomicU64::new(u64::from_ne_bytes(c.try_into().unwrap())))
        .collect();
    Table::open(Arc::new(words)).expect("a process table in the file")
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The JSON facts of the busy process serving `uri`, once it has been
/// busy for more than 0 s; its pid.
fn busy_pid(httpd: &Httpd, uri: &str) -> i32 {
    let mut pid = 0;
    eventually(15, &format!("a busy process serving {uri}"), || {
        let facts = python(
            JSON_CURRENT,
            &httpd.get("/fcgid-status?format=json&full").body,
        );
        let want = serde_like(&["GET", uri]);
        pid = facts
            .lines()
            .find(|l| l.contains(&want) && l.ends_with(" true]"))
            .and_then(|l| l.split(' ').next())
            .map_or(0, |p| p.parse().unwrap());
        pid > 0
    });
    pid
}

/// `json.dumps` of a list of strings (as Python writes it: ASCII only).
fn serde_like(items: &[&str]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|s| {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
                    c => out.push_str(&format!("\\u{:04x}", c as u32)),
                }
            }
            out.push('"');
            out
        })
        .collect();
    format!("[{}", quoted.join(", "))
}

#[test]
fn busy_processes_show_their_request_on_every_status_form() {
    // One child: a class is claimed from the table only by a child that
    // has learnt it, and with several the 30 requests below need not reach
    // the child the slow one lands on (a clean-clone run failed so).
    let conf = format!(
        "FcgidMaxProcessesPerClass 2\n\
         StartServers 1\nServerLimit 1\nThreadsPerChild 25\nMaxRequestWorkers 25\n\
         MinSpareThreads 1\nMaxSpareThreads 25\n\
         <Location /fcgid-status>\n  SetHandler fcgid-status\n</Location>\n\
         LoadModule status_module {MODULES}/mod_status.so\n\
         <Location /server-status>\n  SetHandler server-status\n</Location>\n"
    );
    let httpd = Httpd::new("current-request", Mpm::Event, &["echo"], &conf).start();
    let mut in_flight = InFlight(Vec::new());

    // The first request of the class: nobody knows it in the table yet,
    // so the manager lends the process. Its URI is longer than the table
    // keeps.
    let long = format!("/echo.fcgi?sleep_ms=40000&pad={}", "a".repeat(300));
    in_flight.get(&httpd.url(&long));
    let kept = &long[..INFO_MAX - "GET ".len()];
    let lent_pid = busy_pid(&httpd, kept);
    assert_eq!(
        table_snapshot(&httpd).claimed_count(),
        0,
        "lent by the manager, not claimed from the table"
    );

    // The child learns the class (a second process serves meanwhile),
    // then a slow request claims that one from the table.
    for _ in 0..30 {
        assert_eq!(httpd.get("/echo.fcgi").status, 200);
    }
    let odd = "/echo.fcgi?sleep_ms=40000&q=<b>\"x\"\\&r=\u{e9}";
    in_flight.get(&httpd.url(odd));
    let claimed_pid = busy_pid(&httpd, odd);
    assert_ne!(claimed_pid, lent_pid);
    let table = table_snapshot(&httpd);
    assert_eq!(table.claimed_count(), 1, "claimed from the table");
    let recorded: Vec<Vec<u8>> = (0..table.slots())
        .filter_map(|s| table.request_info(s))
        .map(|i| i.text)
        .collect();
    assert!(
        recorded.contains(&format!("GET {odd}").into_bytes()),
        "{recorded:?}"
    );

    // JSON: method, URI (the long one cut, and said so), seconds so far.
    let facts = python(
        JSON_CURRENT,
        &httpd.get("/fcgid-status?format=json&full").body,
    );
    let line = |pid: i32, rest: &str| format!("{pid} {rest}");
    assert!(
        facts.lines().any(|l| l
            == line(
                lent_pid,
                &format!("{}, true, true]", serde_like(&["GET", kept]))
            )),
        "{facts}"
    );
    assert!(
        facts.lines().any(|l| l
            == line(
                claimed_pid,
                &format!("{}, false, true]", serde_like(&["GET", odd]))
            )),
        "{facts}"
    );

    // OpenMetrics: an info sample per busy process, labels intact after
    // the Prometheus parser unescaped them; seconds as a gauge.
    let res = httpd.get("/fcgid-status?format=openmetrics&full");
    let found = python(OPENMETRICS_CURRENT, &res.body);
    for want in [
        format!("info {claimed_pid} {}] 1", serde_like(&["GET", odd])),
        format!(
            "info {lent_pid} {}] 1",
            serde_like(&["GET", &format!("{kept}\u{2026}")])
        ),
        format!("seconds {claimed_pid} True"),
        format!("seconds {lent_pid} True"),
    ] {
        assert!(found.lines().any(|l| l == want), "no {want:?} in\n{found}");
    }

    // The page (?full): method and URI cells, escaped; the cut one marked.
    let page = httpd.get("/fcgid-status?full").text();
    let cells = |uri: &str| format!("<td>GET</td><td class=\"uri\">{uri}</td>");
    assert!(page.contains(&cells(&html_escape(odd))), "{page}");
    assert!(
        page.contains(&cells(&format!("{}\u{2026}", html_escape(kept)))),
        "{page}"
    );

    // mod_status: C's section unchanged, ours below it lists both.
    let status = httpd.get("/server-status").text();
    let ours = &status[status
        .find("mod_fcgid requests in progress")
        .unwrap_or_else(|| panic!("{status}"))..];
    for (pid, uri) in [
        (claimed_pid, html_escape(odd)),
        (lent_pid, html_escape(kept) + "\u{2026}"),
    ] {
        let row = format!(
            "<tr class=\"request\"><td>echo.fcgi</td><td>{pid}</td><td>GET</td><td>{uri}</td>"
        );
        assert!(ours.contains(&row), "no {row:?} in\n{ours}");
    }
    drop(in_flight);
    httpd.stop();
}
