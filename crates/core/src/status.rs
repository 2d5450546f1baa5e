//! The pools as status, from the manager's typed report.
//!
//! On httpd's status page (mod_status): C mod_fcgid's HTML section (same
//! layout, so what people and scrapers know keeps working), our per-class
//! figures below it, and `Key: value` lines for `?auto` (C has none).
//!
//! Through our own handler (`SetHandler fcgid-status`, no mod_status
//! needed): a page of its own (`page`), JSON (`json`) and OpenMetrics
//! (`openmetrics`). `procfs` adds what the kernel knows of each process.

mod c_order;
pub mod current;
pub mod json;
pub mod openmetrics;
pub mod page;
pub mod procfs;

use crate::pm::policy::ExitReason;
use crate::pm::report::{ClassReport, Phase, ProcessReport, StatusReport, Usage};
use std::fmt::Write;
use std::time::Duration;

/// Seconds with millisecond precision (`1.500`), for machines.
pub(crate) fn seconds(d: Duration) -> String {
    format!("{}.{:03}", d.as_secs(), d.subsec_millis())
}

/// What the class's processes use together (resident memory, CPU time),
/// of those whose usage could be read; None when none could.
pub(crate) fn class_usage(c: &ClassReport) -> Option<Usage> {
    let known: Vec<Usage> = c.processes.iter().filter_map(|p| p.usage).collect();
    (!known.is_empty()).then(|| Usage {
        rss_bytes: known.iter().map(|u| u.rss_bytes).sum(),
        cpu: known.iter().map(|u| u.cpu).sum(),
    })
}

/// Machine words for a process's state (JSON, OpenMetrics).
pub(crate) fn phase_word(phase: Phase) -> &'static str {
    match phase {
        Phase::Starting => "starting",
        Phase::Idle => "idle",
        Phase::Busy => "busy",
        Phase::Stopping(_) => "stopping",
    }
}

/// What the status handler answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Json,
    OpenMetrics,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Html => "text/html; charset=utf-8",
            Format::Json => "application/json",
            Format::OpenMetrics => openmetrics::CONTENT_TYPE,
        }
    }

    /// The report in this format.
    pub fn render(self, rep: &StatusReport, opts: page::Options) -> String {
        match self {
            Format::Html => page::render(rep, opts),
            Format::Json => json::render(rep, opts.full),
            Format::OpenMetrics => openmetrics::render(rep, opts.full),
        }
    }

    /// The body when there is no report, in this format.
    pub fn error(self, msg: &str) -> String {
        match self {
            Format::Html => format!(
                "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
                 <title>mod_fcgid status</title></head><body><h1>mod_fcgid status</h1>\
                 <p>{}</p></body></html>\n",
                escape(msg)
            ),
            Format::Json => format!("{{\"error\":{}}}\n", json::string(msg)),
            // A scrape that fails is the signal; the text is for people.
            Format::OpenMetrics => format!("# {}\n# EOF\n", msg.replace('\n', " ")),
        }
    }
}

/// The status handler's query string: `format=html|json|openmetrics`
/// (default html), `full` (every process, not only the per-class
/// summary: PHP-FPM's word) and `refresh=N` (seconds, for the page).
/// Other keys are ignored; an unknown format is an error naming the
/// ones there are.
pub fn parse_query(args: Option<&str>) -> Result<(Format, page::Options), String> {
    let mut format = Format::Html;
    let mut opts = page::Options::default();
    for pair in args.unwrap_or("").split(['&', ';']) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "format" => {
                format = match v {
                    "" | "html" => Format::Html,
                    "json" => Format::Json,
                    "openmetrics" | "prometheus" => Format::OpenMetrics,
                    other => {
                        return Err(format!(
                            "unknown format {:?}: use html, json or openmetrics",
                            other
                        ))
                    }
                }
            }
            "refresh" => opts.refresh = v.parse().ok().filter(|n| *n > 0),
            "full" => opts.full = true,
            _ => {}
        }
    }
    Ok((format, opts))
}

/// `?auto` lines: totals, then per class (numbered from 1 in key order)
/// `FcgidClass<i><Field>: value`.
pub fn auto_lines(rep: &StatusReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "FcgidProcesses: {}", rep.process_count());
    let _ = writeln!(out, "FcgidBusy: {}", rep.busy_count());
    let _ = writeln!(out, "FcgidClasses: {}", rep.classes.len());
    for (i, c) in rep.classes.iter().enumerate() {
        let n = i + 1;
        let fields: [(&str, String); 11] = [
            ("Command", c.executable.clone()),
            ("Processes", c.processes.len().to_string()),
            ("Busy", c.busy().to_string()),
            ("Idle", c.idle().to_string()),
            ("Waiting", c.waiting.to_string()),
            ("Spawns", c.spawns.to_string()),
            ("Requests", c.requests.to_string()),
            ("SpawnScore", c.spawn_score.to_string()),
            ("FailedStarts", c.failed_starts.to_string()),
            ("Exits", c.exits_text()),
            ("CommandLine", c.command_line.clone()),
        ];
        for (k, v) in fields {
            let _ = writeln!(out, "FcgidClass{n}{k}: {v}");
        }
    }
    out
}

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// C's words for a process's state.
pub(crate) fn state_text(phase: Phase) -> String {
    let why = |r: ExitReason| match r {
        ExitReason::IdleTimeout => "idle timeout",
        ExitReason::LifeTime => "lifetime expired",
        ExitReason::BusyTimeout => "busy timeout",
        ExitReason::MaxRequests => "max requests",
        ExitReason::Broken => "communication error",
        ExitReason::ClientAbort => "client hung up",
        ExitReason::Died => "normal exit",
        ExitReason::Shutdown => "shutting down",
        ExitReason::Reconfigured => "configuration changed",
        ExitReason::Evicted => "evicted for another class",
    };
    match phase {
        Phase::Starting => "Starting".into(),
        Phase::Idle => "Ready".into(),
        Phase::Busy => "Working".into(),
        Phase::Stopping(r) => format!("Exiting({})", why(r)),
    }
}

pub(crate) fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// C mod_fcgid's section: the total, then per class with processes a
/// heading and a table of Pid, Active, Idle, Accesses and State. Classes
/// and rows come in C's order (`c_order`), so a page reads as C's and the
/// same from one refresh to the next.
fn c_section(rep: &StatusReport, out: &mut String) {
    out.push_str("<hr />\n<h1>mod_fcgid status:</h1>\n");
    let _ = writeln!(out, "Total FastCGI processes: {}", rep.process_count());
    let mut with_procs: Vec<&ClassReport> = rep
        .classes
        .iter()
        .filter(|c| !c.processes.is_empty())
        .collect();
    with_procs.sort_by(|a, b| c_order::classes(a, b));
    for c in &with_procs {
        let _ = write!(
            out,
            "<hr />\n<b>Process: {}</b>&nbsp;&nbsp;({})<br />\n\n\n",
            escape(basename(&c.executable)),
            escape(&c.command_line)
        );
        out.push_str(
            "<table border=\"0\"><tr><th>Pid</th><th>Active</th><th>Idle</th>\
             <th>Accesses</th><th>State</th></tr>\n",
        );
        let mut rows: Vec<&ProcessReport> = c.processes.iter().collect();
        rows.sort_by_key(|p| c_order::row(p.phase));
        for p in rows {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                p.pid,
                p.age.as_secs(),
                p.since_last_request.as_secs(),
                p.requests,
                state_text(p.phase)
            );
        }
        out.push_str("</table>\n\n");
    }
    if !with_procs.is_empty() {
        out.push_str(
            "<hr>\n<b>Active</b> and <b>Idle</b> are time active and time since\n\
             last request, in seconds.\n",
        );
    }
}

/// Ours, below C's: every class (also those with no process now) with
/// its figures.
fn pools_section(rep: &StatusReport, out: &mut String) {
    out.push_str("<h2>mod_fcgid pools</h2>\n<table border=\"0\" class=\"fcgid-pools\">\n<tr>");
    for h in [
        "Command",
        "Processes",
        "Busy",
        "Idle",
        "Waiting",
        "Spawns",
        "Requests",
        "Spawn score",
        "Failed starts",
        "Exits",
    ] {
        let _ = write!(out, "<th>{h}</th>");
    }
    out.push_str("</tr>\n");
    for c in &rep.classes {
        let cells = [
            escape(&c.command_line),
            c.processes.len().to_string(),
            c.busy().to_string(),
            c.idle().to_string(),
            c.waiting.to_string(),
            c.spawns.to_string(),
            c.requests.to_string(),
            c.spawn_score.to_string(),
            c.failed_starts.to_string(),
            escape(&c.exits_text()),
        ];
        out.push_str("<tr>");
        for cell in cells {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

/// The HTML section of /server-status.
pub fn html(rep: &StatusReport) -> String {
    let mut out = String::new();
    c_section(rep, &mut out);
    pools_section(rep, &mut out);
    current::section(rep, &mut out);
    out
}

/// A report with what every format shows, for the formats' tests.
#[cfg(test)]
pub(crate) mod sample {
    use super::*;
    use crate::pm::report::{Refusal, Usage, WaitStats};

    /// A process still starting (no pid yet), for class 2.
    pub fn starting() -> ProcessReport {
        ProcessReport {
            usage: None,
            ..proc(0, Phase::Starting, 0)
        }
    }

    pub fn proc(pid: i32, phase: Phase, requests: u32) -> ProcessReport {
        ProcessReport {
            pid,
            phase,
            requests,
            age: Duration::from_secs(90),
            since_last_request: Duration::from_secs(4),
            busy_for: (phase == Phase::Busy).then(|| Duration::from_millis(2500)),
            usage: Some(Usage {
                rss_bytes: 3 << 20,
                cpu: Duration::from_millis(1250),
            }),
            current: (phase == Phase::Busy).then(|| crate::pm::report::CurrentRequest {
                method: "GET".into(),
                uri: "/slow?q=<b>&r=\"1\"".into(),
                cut: false,
            }),
        }
    }

    pub fn report() -> StatusReport {
        let mut wait = WaitStats::default();
        for ms in [0, 3, 700] {
            wait.observe(Duration::from_millis(ms));
        }
        StatusReport {
            manager_pid: 77,
            manager_uptime: Some(Duration::from_secs(3725)),
            classes: vec![
                ClassReport {
                    key: "8:1|/srv/a.fcgi".into(),
                    command_line: "/srv/a.fcgi".into(),
                    executable: "/srv/a.fcgi".into(),
                    spawns: 3,
                    requests: 41,
                    exits: vec![(ExitReason::IdleTimeout, 1)],
                    wait,
                    processes: vec![
                        proc(100, Phase::Busy, 20),
                        proc(101, Phase::Idle, 21),
                        proc(103, Phase::Stopping(ExitReason::BusyTimeout), 0),
                    ],
                    ..Default::default()
                },
                ClassReport {
                    key: "8:2|/srv/<b>.fcgi".into(),
                    command_line: "/usr/bin/php-cgi /srv/<b>.php".into(),
                    executable: "/usr/bin/php-cgi".into(),
                    waiting: 2,
                    spawns: 1,
                    spawn_score: 12,
                    failed_starts: 3,
                    refusals: vec![(Refusal::Failing, 4)],
                    queue: vec![Duration::from_millis(1500), Duration::from_millis(20)],
                    ..Default::default()
                },
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sample::report;
    use super::*;

    #[test]
    fn query_picks_the_format() {
        assert_eq!(parse_query(None).unwrap().0, Format::Html);
        assert_eq!(parse_query(Some("format=json")).unwrap().0, Format::Json);
        let (f, o) = parse_query(Some("refresh=5&format=openmetrics")).unwrap();
        assert_eq!(
            (f, o.refresh, o.full),
            (Format::OpenMetrics, Some(5), false)
        );
        for q in [
            "full",
            "format=json&full",
            "full=1&format=json",
            "full&refresh=2",
        ] {
            assert!(parse_query(Some(q)).unwrap().1.full, "{q}");
        }
        assert!(!parse_query(Some("fully")).unwrap().1.full);
        assert!(parse_query(Some("format=xml"))
            .unwrap_err()
            .contains("\"xml\""));
        assert!(Format::OpenMetrics
            .error("down\nnow")
            .ends_with("# down now\n# EOF\n"));
        assert_eq!(Format::Json.error("a\"b"), "{\"error\":\"a\\\"b\"}\n");
    }

    #[test]
    fn auto_has_totals_and_numbered_class_fields() {
        let auto = auto_lines(&report());
        assert!(
            auto.starts_with("FcgidProcesses: 3\nFcgidBusy: 1\nFcgidClasses: 2\n"),
            "{auto}"
        );
        for line in [
            "FcgidClass1Command: /srv/a.fcgi",
            "FcgidClass1Busy: 1",
            "FcgidClass1Idle: 1",
            "FcgidClass1Requests: 41",
            "FcgidClass1Exits: idle_timeout=1",
            "FcgidClass2Waiting: 2",
            "FcgidClass2Spawns: 1",
            "FcgidClass2SpawnScore: 12",
            "FcgidClass2FailedStarts: 3",
        ] {
            assert!(
                auto.lines().any(|l| l == line),
                "missing {line:?} in\n{auto}"
            );
        }
        assert!(
            !auto.contains("77"),
            "the manager's pid is not a pool figure"
        );
    }

    #[test]
    fn html_orders_classes_and_rows_as_c() {
        let mut rep = report();
        let mut b = rep.classes[0].clone();
        b.executable = "/srv/0-first.fcgi".into();
        b.command_line = "/srv/0-first.fcgi".into();
        b.key = "8:9|/srv/0-first.fcgi".into();
        rep.classes.push(b);
        let html = html(&rep);
        let first = html.find("<b>Process: 0-first.fcgi</b>").unwrap();
        let second = html.find("<b>Process: a.fcgi</b>").unwrap();
        assert!(first < second, "by executable path: {html}");
        let table = &html[second..];
        let at = |w: &str| table.find(w).unwrap();
        assert!(at("<td>Ready</td>") < at("<td>Working</td>"), "{table}");
        assert!(at("<td>Working</td>") < at("<td>Exiting("), "{table}");
    }

    #[test]
    fn html_keeps_c_layout_then_adds_our_pools() {
        let html = html(&report());
        // C's section: total, one heading and table per class with
        // processes, C's state words, the footnote.
        assert!(
            html.starts_with(
                "<hr />\n<h1>mod_fcgid status:</h1>\nTotal FastCGI processes: 3\n\
             <hr />\n<b>Process: a.fcgi</b>&nbsp;&nbsp;(/srv/a.fcgi)<br />\n"
            ),
            "{html}"
        );
        assert!(html.contains(
            "<tr><th>Pid</th><th>Active</th><th>Idle</th><th>Accesses</th><th>State</th></tr>"
        ));
        assert!(
            html.contains("<tr><td>100</td><td>90</td><td>4</td><td>20</td><td>Working</td></tr>")
        );
        assert!(html.contains("<td>Ready</td>"));
        assert!(html.contains("<td>Exiting(busy timeout)</td>"));
        assert_eq!(
            html.matches("<b>Process: ").count(),
            1,
            "no table for a class without processes"
        );
        assert!(html.contains("<b>Active</b> and <b>Idle</b> are time active"));
        // Ours: every class, names escaped.
        let ours = &html[html.find("mod_fcgid pools").unwrap()..];
        assert_eq!(ours.matches("<tr><td>").count(), 2);
        assert!(ours.contains("/usr/bin/php-cgi /srv/&lt;b&gt;.php"));
        assert!(!ours.contains("<b>.php"));
    }
}
