//! `SetHandler fcgid-status` without mod_status: JSON that parses and
//! names the classes and processes, OpenMetrics that Prometheus's own
//! parser (prometheus_client) accepts, and a page that headless Chromium
//! renders with the right cells, live and at 50 classes and 500
//! processes (screenshots under target/test-artifacts/).

mod common;
use common::{Httpd, Mpm};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's python3, where python3-prometheus-client installs.
const PYTHON: &str = "/usr/bin/python3";

const CONF: &str = "FcgidMaxProcessesPerClass 1\n\
                    <Location /fcgid-status>\n  SetHandler fcgid-status\n</Location>\n";

/// Runs `script` with `input` on stdin; its stdout, or a panic with stderr.
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

/// Requests left running in the background (slow ones, to have busy
/// processes and a queue); killed when dropped.
struct Background(Vec<Child>);

impl Background {
    fn get(&mut self, httpd: &Httpd, path: &str) {
        let child = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "--max-time", "30"])
            .arg(httpd.url(path))
            .spawn()
            .unwrap();
        self.0.push(child);
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The JSON reduced to lines a test can match: per class and per process.
const JSON_FACTS: &str = r#"
import json, sys
d = json.load(sys.stdin)
m = d["manager"]
print("manager", m["pid"] > 0, m["uptime_seconds"] is not None and m["uptime_seconds"] >= 0)
print("totals", d["processes"], d["busy"], d["waiting"])
for c in d["classes"]:
    cmd = c["command_line"].rsplit("/", 1)[-1]
    print("class", cmd, c["requests"], c["counts"]["total"], c["counts"]["busy"], c["waiting"],
          len(c["queue_seconds"]), c["wait"]["count"], c["wait"]["buckets"][-1]["le"],
          c["wait"]["buckets"][-1]["count"], sorted(c["exits"]) == sorted(set(c["exits"])),
          "refusals" in c)
    print("usage", cmd, (c["rss_bytes"] or 0) > 0, c["cpu_seconds"] is not None)
    for p in c["processes"]:
        cur = p["current_request"]
        print("proc", cmd, p["pid"], p["state"], p["requests"],
              (p["rss_bytes"] or 0) > 0, p["cpu_seconds"] is not None,
              "-" if cur is None else cur["seconds"] > 0)
"#;

/// Parses OpenMetrics with prometheus_client and lists what it found.
const OPENMETRICS_FACTS: &str = r#"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(sys.stdin.read()):
    print("family", fam.name, fam.type, len(fam.samples))
    for s in fam.samples:
        labels = ",".join("%s=%s" % kv for kv in sorted(s.labels.items()))
        print("sample", s.name, labels, float(s.value))
"#;

fn has_line(text: &str, want: &str) -> bool {
    text.lines().any(|l| l == want)
}

#[test]
fn json_and_openmetrics_without_mod_status() {
    let httpd = Httpd::new("status-formats", Mpm::Event, &["hello", "echo"], CONF).start();
    for _ in 0..3 {
        assert_eq!(httpd.get("/hello.fcgi").status, 200);
    }
    let hello_pid = httpd.app_pids();
    // One echo request holds the class's only process; a second queues.
    let mut bg = Background(Vec::new());
    bg.get(&httpd, "/echo.fcgi?sleep_ms=6000");
    wait_until("a busy echo process", || {
        httpd
            .get("/fcgid-status?format=json&full")
            .text()
            .contains("\"state\":\"busy\"")
    });
    bg.get(&httpd, "/echo.fcgi?sleep_ms=10");
    wait_until("a waiting request", || {
        httpd
            .get("/fcgid-status?format=json&full")
            .text()
            .contains("\"waiting\":1,")
    });

    let res = httpd.get("/fcgid-status?format=json&full");
    assert_eq!(res.status, 200);
    assert_eq!(res.header("Content-Type"), Some("application/json"));
    let facts = python(JSON_FACTS, &res.body);
    assert!(has_line(&facts, "manager True True"), "{facts}");
    assert!(has_line(&facts, "totals 2 1 1"), "{facts}");
    assert!(
        has_line(&facts, "class hello.fcgi 3 1 0 0 0 3 +Inf 3 True True"),
        "hello: 3 requests, 1 process, 3 waits: {facts}"
    );
    assert!(
        has_line(&facts, "class echo.fcgi 0 1 1 1 1 1 +Inf 1 True True"),
        "echo: busy, one queued: {facts}"
    );
    let hello = facts
        .lines()
        .find(|l| l.starts_with("proc hello.fcgi "))
        .unwrap_or_else(|| panic!("{facts}"));
    let pid: i32 = hello.split(' ').nth(2).unwrap().parse().unwrap();
    assert!(
        hello_pid.contains(&pid),
        "{pid} is a hello app: {hello_pid:?}"
    );
    assert!(hello.ends_with(" idle 3 True True -"), "{hello}");
    let echo = facts
        .lines()
        .find(|l| l.starts_with("proc echo.fcgi "))
        .unwrap();
    assert!(
        echo.ends_with(" busy 0 True True True"),
        "busy with seconds so far: {echo}"
    );

    let res = httpd.get("/fcgid-status?format=openmetrics&full");
    assert_eq!(res.status, 200);
    assert_eq!(
        res.header("Content-Type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let text = res.text();
    assert!(text.ends_with("# EOF\n"), "{text}");
    let found = python(OPENMETRICS_FACTS, &res.body);
    let exits = format!(
        "family fcgid_exits counter {}",
        2 * fcgid_core::pm::policy::ExitReason::ALL.len()
    );
    for fam in [
        "family fcgid_manager_uptime_seconds gauge 1",
        "family fcgid_spawns counter 2",
        "family fcgid_requests counter 2",
        // One sample per class (2) and exit reason.
        exits.as_str(),
        "family fcgid_refusals counter 14",
        "family fcgid_wait_seconds histogram 28",
        "family fcgid_process_state stateset 8",
        "family fcgid_process_cpu_seconds counter 2",
        "family fcgid_process_resident_memory_bytes gauge 2",
        "family fcgid_process_current_request_seconds gauge 1",
    ] {
        assert!(has_line(&found, fam), "missing {fam:?} in\n{found}");
    }
    let www = httpd.www().display().to_string();
    let hello_class = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("fcgid_class_info{class=\"")
                .filter(|rest| rest.contains(&format!("command=\"{www}/hello.fcgi\"")))
                .and_then(|rest| rest.split_once('"'))
                .map(|(k, _)| k.to_string())
        })
        .unwrap_or_else(|| panic!("no hello class in\n{text}"));
    for sample in [
        format!("sample fcgid_requests_total class={hello_class} 3.0"),
        format!("sample fcgid_wait_seconds_count class={hello_class} 3.0"),
        format!("sample fcgid_wait_seconds_bucket class={hello_class},le=+Inf 3.0"),
        format!("sample fcgid_process_requests_total class={hello_class},pid={pid} 3.0"),
        format!(
            "sample fcgid_process_state class={hello_class},fcgid_process_state=idle,pid={pid} 1.0"
        ),
    ] {
        assert!(has_line(&found, &sample), "missing {sample:?} in\n{found}");
    }

    // Without ?full: the per-class summary, no process (JSON and
    // OpenMetrics alike), and still what a parser accepts.
    let summary = httpd.get("/fcgid-status?format=json");
    let facts = python(
        JSON_FACTS
            .replace("c[\"processes\"]", "c.get(\"processes\", [])")
            .as_str(),
        &summary.body,
    );
    assert!(has_line(&facts, "totals 2 1 1"), "{facts}");
    assert!(
        !facts.contains("proc "),
        "no process in the summary: {facts}"
    );
    // But each class's processes' memory and CPU, summed.
    assert!(has_line(&facts, "usage hello.fcgi True True"), "{facts}");
    assert!(
        !summary.text().contains("\"processes\":["),
        "{}",
        summary.text()
    );
    let summary = httpd.get("/fcgid-status?format=openmetrics");
    let found = python(OPENMETRICS_FACTS, &summary.body);
    assert!(
        has_line(&found, "family fcgid_requests counter 2"),
        "{found}"
    );
    assert!(!found.contains("fcgid_process_"), "{found}");
    let rss = format!("sample fcgid_class_resident_memory_bytes class={hello_class} ");
    let rss: f64 = found
        .lines()
        .find_map(|l| l.strip_prefix(&rss))
        .unwrap_or_else(|| panic!("no {rss:?} in\n{found}"))
        .parse()
        .unwrap();
    assert!(rss > 0.0, "{found}");
    let cpu = format!("sample fcgid_class_cpu_seconds class={hello_class} ");
    assert!(found.lines().any(|l| l.starts_with(&cpu)), "{found}");

    // The parser is strict: the same text without its EOF is refused.
    let cut = text.trim_end_matches("# EOF\n");
    let strict = Command::new(PYTHON)
        .arg("-c")
        .arg(OPENMETRICS_FACTS)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(cut.as_bytes())?;
            c.wait()
        })
        .unwrap();
    assert!(
        !strict.success(),
        "prometheus_client must refuse a text without # EOF"
    );

    // Unknown formats and other methods are refused; HTML is the default.
    assert_eq!(httpd.get("/fcgid-status?format=xml").status, 400);
    assert_eq!(httpd.request("/fcgid-status", &["-X", "POST"]).status, 405);
    let page = httpd.get("/fcgid-status");
    assert_eq!(
        page.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.text().contains("<table id=\"fcgid-classes\">"));
    assert_eq!(page.header("Cache-Control"), Some("no-store"));
}

// ------------------------------------------------------------ Chromium

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn chromium(args: &[&str], url: &str) -> Vec<u8> {
    // One profile per run: tests run at once, and chromium locks its profile.
    static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let profile = std::env::temp_dir().join(format!("fcgid-chromium-{}-{run}", std::process::id()));
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stderr(Stdio::null())
        .output()
        .expect("run chromium (Debian's chromium package: scripts/setup-debian)");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(out.status.success(), "chromium {args:?} {url} failed");
    out.stdout
}

/// The page as Chromium built it (its DOM), reduced to table cells:
/// `classes<TAB>cells…` per row of the class table, `proc<TAB>section
/// id<TAB>cells…` per process row, `open<TAB>id` per open section,
/// `queue<TAB>id<TAB>text`.
const DOM_CELLS: &str = r#"
import sys
from html.parser import HTMLParser
class P(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack = []; self.section = None; self.row = None; self.cell = None; self.para = None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "details":
            self.section = a.get("id")
            if "open" in a: print("open\t" + self.section)
        if tag == "table": self.stack.append(a.get("id") or a.get("class"))
        if tag == "tr": self.row = []
        if tag in ("td", "th"): self.cell = ""
        if tag == "p" and "fcgid-queue" in (a.get("class") or ""): self.para = ""
    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.row is not None:
            self.row.append(self.cell.strip()); self.cell = None
        if tag == "tr" and self.row is not None:
            t = self.stack[-1] if self.stack else None
            if t == "fcgid-classes": print("classes\t" + "\t".join(self.row))
            if t == "fcgid-processes": print("proc\t%s\t%s" % (self.section, "\t".join(self.row)))
            self.row = None
        if tag == "table": self.stack.pop()
        if tag == "p" and self.para is not None:
            print("queue\t%s\t%s" % (self.section, self.para.strip())); self.para = None
    def handle_data(self, d):
        if self.cell is not None: self.cell += d
        if self.para is not None: self.para += d
P().feed(sys.stdin.read())
"#;

fn dom_cells(url: &str) -> String {
    let dom = chromium(&["--dump-dom"], url);
    assert!(!dom.is_empty(), "no DOM from {url}");
    python(DOM_CELLS, &dom)
}

fn screenshot(url: &str, name: &str, size: &str) -> PathBuf {
    let path = artifacts().join(name);
    let _ = std::fs::remove_file(&path);
    chromium(
        &[
            &format!("--screenshot={}", path.display()),
            &format!("--window-size={size}"),
        ],
        url,
    );
    let png = std::fs::read(&path).unwrap_or_else(|_| panic!("no screenshot {}", path.display()));
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 2000,
        "{} is no picture",
        path.display()
    );
    path
}

fn rows<'a>(cells: &'a str, kind: &str) -> Vec<Vec<&'a str>> {
    cells
        .lines()
        .filter_map(|l| l.strip_prefix(kind).and_then(|r| r.strip_prefix('\t')))
        .map(|r| r.split('\t').collect())
        .collect()
}

#[test]
fn live_page_in_headless_chromium() {
    let httpd = Httpd::new("status-page-chromium", Mpm::Event, &["hello", "echo"], CONF).start();
    for _ in 0..2 {
        assert_eq!(httpd.get("/hello.fcgi").status, 200);
    }
    let mut bg = Background(Vec::new());
    bg.get(&httpd, "/echo.fcgi?sleep_ms=20000");
    wait_until("a busy echo process", || {
        httpd
            .get("/fcgid-status?format=json&full")
            .text()
            .contains("\"state\":\"busy\"")
    });
    bg.get(&httpd, "/echo.fcgi?sleep_ms=10");
    wait_until("a waiting request", || {
        httpd
            .get("/fcgid-status?format=json&full")
            .text()
            .contains("\"waiting\":1,")
    });

    let url = httpd.url("/fcgid-status?full");
    screenshot(&url, "status-page-live.png", "1400,900");
    let cells = dom_cells(&url);
    let classes = rows(&cells, "classes");
    let header = &classes[0];
    assert_eq!(
        header[..7],
        [
            "Command",
            "Processes",
            "Starting",
            "Idle",
            "Busy",
            "Stopping",
            "Waiting"
        ]
    );
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let www = httpd.www().display().to_string();
    let row = |cmd: &str| {
        classes
            .iter()
            .find(|r| r[0] == format!("{www}/{cmd}"))
            .unwrap_or_else(|| panic!("no row for {cmd}:\n{cells}"))
    };
    let hello = row("hello.fcgi");
    assert_eq!(
        (
            hello[col("Processes")],
            hello[col("Idle")],
            hello[col("Requests")]
        ),
        ("1", "1", "2")
    );
    let echo = row("echo.fcgi");
    assert_eq!(
        (echo[col("Busy")], echo[col("Waiting")]),
        ("1", "1"),
        "{echo:?}"
    );
    assert_ne!(echo[col("Longest wait")], "-");
    // Per class: the process table, with the busy one's current request.
    let procs = rows(&cells, "proc");
    let head = procs
        .iter()
        .find(|r| r[1] == "Pid")
        .unwrap_or_else(|| panic!("{cells}"));
    assert_eq!(
        head[6..11],
        ["Current request", "Method", "URI", "Memory (RSS)", "CPU"]
    );
    let busy = procs
        .iter()
        .find(|r| r[2] == "Working")
        .unwrap_or_else(|| panic!("no Working process:\n{cells}"));
    assert_ne!(busy[6], "-", "seconds so far: {busy:?}");
    assert_eq!(
        (busy[7], busy[8]),
        ("GET", "/echo.fcgi?sleep_ms=20000"),
        "its request: {busy:?}"
    );
    assert!(busy[9].ends_with("iB"), "resident memory: {busy:?}");
    let idle = procs.iter().find(|r| r[2] == "Ready").unwrap();
    assert_eq!(idle[3], "2", "hello served 2: {idle:?}");
    assert!(
        rows(&cells, "queue")
            .iter()
            .any(|r| r[1].starts_with("Waiting queue (1, oldest first): ")),
        "{cells}"
    );
}

/// 50 classes, 500 processes: a report built here, rendered by the same
/// code, loaded from a file.
fn big_report() -> fcgid_core::pm::report::StatusReport {
    use fcgid_core::pm::policy::ExitReason;
    use fcgid_core::pm::report::*;
    let classes = (0..50)
        .map(|c| {
            let mut wait = WaitStats::default();
            for ms in 0..(c as u64 * 3) {
                wait.observe(Duration::from_millis(ms * 37));
            }
            ClassReport {
                key: format!(
                    "2049:{}|/srv/app{c:02}.php|www.example.org:443|www-data",
                    1000 + c
                ),
                command_line: format!("/usr/bin/php-cgi /srv/www/site{c:02}/index.php"),
                executable: "/usr/bin/php-cgi".into(),
                waiting: (c % 7 == 0) as u32 * 2,
                queue: if c % 7 == 0 {
                    vec![Duration::from_millis(1800), Duration::from_millis(300)]
                } else {
                    vec![]
                },
                spawns: 10 + c as u64,
                requests: 1000 * c as u64,
                exits: vec![
                    (ExitReason::IdleTimeout, c as u64),
                    (ExitReason::MaxRequests, 2),
                ],
                refusals: if c % 10 == 3 {
                    vec![(Refusal::ClassFull, 5)]
                } else {
                    vec![]
                },
                wait,
                processes: (0..10)
                    .map(|p| {
                        let busy = p < c % 5;
                        ProcessReport {
                            pid: 20_000 + c * 10 + p,
                            phase: if busy { Phase::Busy } else { Phase::Idle },
                            requests: (p * 13) as u32,
                            age: Duration::from_secs(3600 + p as u64),
                            since_last_request: Duration::from_secs(p as u64),
                            busy_for: busy.then(|| Duration::from_millis(1200)),
                            current: busy.then(|| CurrentRequest {
                                method: "POST".into(),
                                uri: format!("/site{c}/index.php?page={p}&sort=name"),
                                cut: false,
                            }),
                            usage: Some(Usage {
                                rss_bytes: (20 + p as u64) << 20,
                                cpu: Duration::from_millis(4500),
                            }),
                        }
                    })
                    .collect(),
                ..Default::default()
            }
        })
        .collect();
    StatusReport {
        manager_pid: 4242,
        manager_uptime: Some(Duration::from_secs(86_400 * 3)),
        classes,
    }
}

#[test]
fn fifty_classes_and_500_processes_stay_readable_in_chromium() {
    let rep = big_report();
    assert_eq!(rep.process_count(), 500);
    let full = fcgid_core::status::page::Options {
        full: true,
        ..Default::default()
    };
    let html = fcgid_core::status::page::render(&rep, full);
    let file = artifacts().join("status-page-50x500.html");
    std::fs::write(&file, &html).unwrap();
    let url = format!("file://{}", file.display());
    let cells = dom_cells(&url);
    let classes = rows(&cells, "classes");
    assert_eq!(classes.len(), 51, "a header and one row per class");
    assert_eq!(classes[8][0], "/usr/bin/php-cgi /srv/www/site07/index.php");
    assert_eq!(
        (classes[8][1], classes[8][4], classes[8][6]),
        ("10", "2", "2"),
        "{:?}",
        classes[8]
    );
    let procs = rows(&cells, "proc");
    assert_eq!(procs.iter().filter(|r| r[1] != "Pid").count(), 500);
    assert!(
        procs
            .iter()
            .any(|r| r[0] == "class-50" && r[1] == "20499" && r[2] == "Ready"),
        "the last process, in the last section"
    );
    // Too many to show at once: every section starts closed, so the page
    // opens on the summary table.
    assert!(rows(&cells, "open").is_empty(), "{cells}");
    screenshot(&url, "status-page-50x500.png", "1600,1300");
}
