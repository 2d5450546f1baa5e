//! The status page of our own handler (`SetHandler fcgid-status`), for
//! people: a full HTML document that needs no mod_status. A summary line
//! and one table with a row per class (processes by state, the waiting
//! queue, requests, spawns, refusals, waits, exits). With `?full` (PHP-FPM's
//! word), then per class a collapsible section with its processes, its
//! queue and its wait histogram; with many processes the sections start
//! closed, so 50 classes and 500 processes stay a one-screen summary.

use super::{basename, escape, state_text};
use crate::pm::report::{ClassReport, ProcessReport, StatusReport, Usage};
use std::fmt::Write;
use std::time::Duration;

/// Sections start open while the whole page has at most this many processes.
pub const OPEN_UP_TO: usize = 40;

/// Options from the query string.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// `?refresh=N`: reload every N seconds.
    pub refresh: Option<u32>,
    /// `?full`: every process, not only the per-class summary.
    pub full: bool,
}

/// `20 ms`, `2.5 s`, `90 s`, `12 min 5 s`, `3 h 20 min`, `2 d 4 h`.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        if s == 0 && d.subsec_millis() > 0 {
            return format!("{} ms", d.subsec_millis());
        }
        if s < 10 && d.subsec_millis() > 0 {
            return format!("{}.{} s", s, d.subsec_millis() / 100);
        }
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min {} s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{} h {} min", s / 3600, (s % 3600) / 60)
    } else {
        format!("{} d {} h", s / 86_400, (s % 86_400) / 3600)
    }
}

/// `512 KiB`, `12.3 MiB`.
pub fn human_bytes(n: u64) -> String {
    const MIB: u64 = 1 << 20;
    if n < MIB {
        format!("{} KiB", n.div_ceil(1024))
    } else if n < 1024 * MIB {
        format!("{:.1} MiB", n as f64 / MIB as f64)
    } else {
        format!("{:.2} GiB", n as f64 / (1024 * MIB) as f64)
    }
}

const STYLE: &str = "body{font-family:sans-serif;margin:1em 2em;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1em;font-size:14px}\
th,td{border:1px solid #ccc;padding:2px 6px;text-align:right;white-space:nowrap}\
th{background:#eee;white-space:normal;vertical-align:bottom}\
td.cmd,th.cmd{text-align:left;white-space:normal;min-width:22em;max-width:36em;overflow-wrap:anywhere}\
td.words{text-align:left;white-space:normal;min-width:10em}\
td.uri{text-align:left;white-space:normal;min-width:12em;max-width:32em;overflow-wrap:anywhere}\
tr.waiting td{background:#fff3cd}tr.failing td{background:#f8d7da}\
details{margin:.3em 0;border:1px solid #ddd;padding:.2em .6em}\
summary{cursor:pointer}.busy{font-weight:bold}.note{color:#555;font-size:90%}";

fn mean_wait(c: &ClassReport) -> String {
    if c.wait.count == 0 {
        return "-".into();
    }
    human_duration(c.wait.sum / c.wait.count.min(u32::MAX as u64) as u32)
}

fn longest_wait(c: &ClassReport) -> String {
    c.queue
        .iter()
        .max()
        .map_or_else(|| "-".into(), |d| human_duration(*d))
}

fn class_row(out: &mut String, i: usize, c: &ClassReport, full: bool) {
    let class = if c.failed_starts >= crate::pm::state::FAILING_AFTER {
        " class=\"failing\""
    } else if c.waiting > 0 {
        " class=\"waiting\""
    } else {
        ""
    };
    let _ = write!(
        out,
        "<tr{class} data-class=\"{}\"><td class=\"cmd\" title=\"{}\"><a href=\"{}#class-{i}\">{}</a></td>",
        escape(&c.key),
        escape(&c.key),
        if full { "" } else { "?full" },
        escape(&c.command_line)
    );
    let exits = if c.exits.is_empty() {
        "-".into()
    } else {
        escape(&c.exits_text())
    };
    let refused = if c.refusals.is_empty() {
        "0".into()
    } else {
        let words: Vec<String> = c
            .refusals
            .iter()
            .map(|(r, n)| format!("{}={n}", r.name()))
            .collect();
        format!("<span title=\"{}\">{}</span>", words.join(" "), c.refused())
    };
    for cell in [
        c.processes.len().to_string(),
        c.starting().to_string(),
        c.idle().to_string(),
        c.busy().to_string(),
        c.stopping().to_string(),
        c.waiting.to_string(),
        longest_wait(c),
        c.requests.to_string(),
        c.spawns.to_string(),
        refused,
        c.wait.count.to_string(),
        mean_wait(c),
        c.spawn_score.to_string(),
        c.failed_starts.to_string(),
    ] {
        let _ = write!(out, "<td>{cell}</td>");
    }
    let _ = writeln!(out, "<td class=\"words\">{exits}</td></tr>");
}

fn usage_cells(u: Option<Usage>) -> [String; 2] {
    match u {
        Some(u) => [
            human_bytes(u.rss_bytes),
            format!("{}.{:02} s", u.cpu.as_secs(), u.cpu.subsec_millis() / 10),
        ],
        None => ["-".into(), "-".into()],
    }
}

fn process_row(out: &mut String, p: &ProcessReport) {
    let pid = if p.pid > 0 {
        p.pid.to_string()
    } else {
        "-".into()
    };
    let current = p.busy_for.map_or_else(|| "-".into(), human_duration);
    let [method, uri] = super::current::cells(p);
    let [rss, cpu] = usage_cells(p.usage);
    let busy = if p.busy_for.is_some() {
        " class=\"busy\""
    } else {
        ""
    };
    let _ = write!(out, "<tr{busy}>");
    for cell in [
        pid,
        state_text(p.phase),
        p.requests.to_string(),
        human_duration(p.age),
        human_duration(p.since_last_request),
        current,
        method,
    ] {
        let _ = write!(out, "<td>{cell}</td>");
    }
    let _ = write!(
        out,
        "<td class=\"uri\">{uri}</td><td>{rss}</td><td>{cpu}</td>"
    );
    out.push_str("</tr>\n");
}

fn class_section(out: &mut String, i: usize, c: &ClassReport, open: bool) {
    let _ = write!(
        out,
        "<details id=\"class-{i}\" class=\"fcgid-class\" data-class=\"{}\"{}>\n<summary><b>{}</b> \
         {} &mdash; {} processes, {} busy, {} idle, {} waiting</summary>\n",
        escape(&c.key),
        if open { " open" } else { "" },
        escape(basename(&c.executable)),
        escape(&c.command_line),
        c.processes.len(),
        c.busy(),
        c.idle(),
        c.waiting,
    );
    if c.processes.is_empty() {
        out.push_str("<p class=\"note\">No process now.</p>\n");
    } else {
        out.push_str("<table class=\"fcgid-processes\"><thead><tr>");
        for h in [
            "Pid",
            "State",
            "Requests",
            "Uptime",
            "Idle",
            "Current request",
            "Method",
            "URI",
            "Memory (RSS)",
            "CPU",
        ] {
            let _ = write!(out, "<th>{h}</th>");
        }
        out.push_str("</tr></thead><tbody>\n");
        for p in &c.processes {
            process_row(out, p);
        }
        out.push_str("</tbody></table>\n");
    }
    if c.queue.is_empty() {
        out.push_str("<p class=\"fcgid-queue note\">No request waiting.</p>\n");
    } else {
        let waits: Vec<String> = c.queue.iter().map(|d| human_duration(*d)).collect();
        let _ = writeln!(
            out,
            "<p class=\"fcgid-queue\">Waiting queue ({}, oldest first): {}</p>",
            c.queue.len(),
            waits.join(", ")
        );
    }
    if c.wait.count > 0 {
        out.push_str("<table class=\"fcgid-wait\"><tr><th>Waited at most</th>");
        let cum = c.wait.cumulative();
        for (le, _) in &cum {
            let h = le.map_or_else(
                || "longer".to_string(),
                |b| human_duration(Duration::from_secs_f64(b)),
            );
            let _ = write!(out, "<th>{h}</th>");
        }
        out.push_str("</tr><tr><td>Requests</td>");
        for (i, n) in c.wait.buckets.iter().enumerate() {
            let _ = write!(out, "<td data-bucket=\"{i}\">{n}</td>");
        }
        let _ = writeln!(
            out,
            "</tr></table>\n<p class=\"note\">{} requests waited {} in all.</p>",
            c.wait.count,
            human_duration(c.wait.sum)
        );
    }
    out.push_str("</details>\n");
}

/// The whole page.
pub fn render(rep: &StatusReport, opts: Options) -> String {
    let mut out = String::with_capacity(4096 + rep.process_count() * 200);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    if let Some(n) = opts.refresh {
        let _ = writeln!(out, "<meta http-equiv=\"refresh\" content=\"{n}\">");
    }
    let _ = writeln!(
        out,
        "<title>mod_fcgid status</title>\n<style>{STYLE}</style></head><body>"
    );
    out.push_str("<h1>mod_fcgid status</h1>\n");
    let idle: usize = rep.classes.iter().map(ClassReport::idle).sum();
    let up = rep
        .manager_uptime
        .map(|d| format!(", up {}", human_duration(d)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "<p id=\"fcgid-summary\">Process manager {}{up}: {} processes ({} busy, {} idle) in {} classes, \
         {} requests waiting.</p>",
        rep.manager_pid,
        rep.process_count(),
        rep.busy_count(),
        idle,
        rep.classes.len(),
        rep.waiting_count(),
    );
    out.push_str(
        "<p class=\"note\">Also as <a href=\"?format=json\">JSON</a> and \
         <a href=\"?format=openmetrics\">OpenMetrics</a>.</p>\n<h2>Classes</h2>\n",
    );
    out.push_str("<table id=\"fcgid-classes\"><thead><tr><th class=\"cmd\">Command</th>");
    for h in [
        "Processes",
        "Starting",
        "Idle",
        "Busy",
        "Stopping",
        "Waiting",
        "Longest wait",
        "Requests",
        "Spawns",
        "Refused",
        "Waits",
        "Mean wait",
        "Spawn score",
        "Failed starts",
        "Exits",
    ] {
        let _ = write!(out, "<th>{h}</th>");
    }
    out.push_str("</tr></thead><tbody>\n");
    for (i, c) in rep.classes.iter().enumerate() {
        class_row(&mut out, i + 1, c, opts.full);
    }
    out.push_str("</tbody></table>\n");
    if !opts.full {
        out.push_str(
            "<p class=\"note\" id=\"fcgid-full-link\">Each process, its queue and its waits: \
             <a href=\"?full\">the full page</a>.</p>\n",
        );
    } else if !rep.classes.is_empty() {
        out.push_str("<h2>Processes by class</h2>\n");
        let open = rep.process_count() <= OPEN_UP_TO;
        for (i, c) in rep.classes.iter().enumerate() {
            class_section(&mut out, i + 1, c, open);
        }
    }
    out.push_str(
        "<p class=\"note\">Uptime: since the process started. Idle: since it last finished a \
         request. Waits: requests that got a process, and how long they waited for it.</p>\n\
         </body></html>\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::super::sample::report;
    use super::*;

    #[test]
    fn durations_and_sizes_for_people() {
        assert_eq!(human_duration(Duration::from_millis(2500)), "2.5 s");
        assert_eq!(human_duration(Duration::from_millis(20)), "20 ms");
        assert_eq!(human_duration(Duration::ZERO), "0 s");
        assert_eq!(human_duration(Duration::from_secs(90)), "1 min 30 s");
        assert_eq!(human_duration(Duration::from_secs(3725)), "1 h 2 min");
        assert_eq!(human_duration(Duration::from_secs(200_000)), "2 d 7 h");
        assert_eq!(human_bytes(3 << 20), "3.0 MiB");
        assert_eq!(human_bytes(1000), "1 KiB");
    }

    #[test]
    fn page_has_the_summary_row_per_class_and_sections() {
        let page = render(
            &report(),
            Options {
                refresh: Some(5),
                full: true,
            },
        );
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("<meta http-equiv=\"refresh\" content=\"5\">"));
        assert!(page.contains(
            "Process manager 77, up 1 h 2 min: 3 processes (1 busy, 1 idle) in 2 classes, 2 requests waiting."
        ), "{page}");
        assert!(page.contains(
            "<tr data-class=\"8:1|/srv/a.fcgi\"><td class=\"cmd\" title=\"8:1|/srv/a.fcgi\"><a href=\"#class-1\">/srv/a.fcgi</a></td>\
             <td>3</td><td>0</td><td>1</td><td>1</td><td>1</td><td>0</td><td>-</td><td>41</td><td>3</td>"
        ), "{page}");
        assert!(page.contains("<tr class=\"failing\" data-class=\"8:2|/srv/&lt;b&gt;.fcgi\">"));
        assert!(page.contains("<span title=\"failing=4\">4</span>"));
        assert!(
            page.contains("Waiting queue (2, oldest first): 1.5 s, 20 ms"),
            "{page}"
        );
        assert!(page.contains(
            "<tr class=\"busy\"><td>100</td><td>Working</td><td>20</td><td>1 min 30 s</td><td>4 s</td>\
             <td>2.5 s</td><td>GET</td><td class=\"uri\">/slow?q=&lt;b&gt;&amp;r=&quot;1&quot;</td>\
             <td>3.0 MiB</td><td>1.25 s</td></tr>"
        ), "{page}");
        assert!(page.contains("<td>Exiting(busy timeout)</td>"));
        assert_eq!(page.matches("<details ").count(), 2);
        assert_eq!(page.matches(" open>").count(), 2, "few processes: open");
        assert!(!page.contains("<b>.fcgi"), "escaped");
    }

    #[test]
    fn many_processes_start_closed() {
        let mut rep = report();
        let p = rep.classes[0].processes[1].clone();
        rep.classes[0].processes = vec![p; OPEN_UP_TO + 1];
        let full = Options {
            full: true,
            ..Default::default()
        };
        let page = render(&rep, full);
        assert_eq!(page.matches(" open>").count(), 0);
    }

    #[test]
    fn the_summary_has_every_class_and_no_process() {
        let page = render(&report(), Options::default());
        assert_eq!(page.matches("<tr data-class=").count(), 1);
        assert_eq!(page.matches("<tr class=\"failing\" data-class=").count(), 1);
        assert!(
            page.contains("<a href=\"?full#class-1\">/srv/a.fcgi</a>"),
            "{page}"
        );
        assert!(page.contains("<a href=\"?full\">the full page</a>"));
        assert!(!page.contains("<details"), "{page}");
        assert!(!page.contains("fcgid-processes"), "{page}");
    }
}
