//! The pools as OpenMetrics text (`?format=openmetrics`), the format
//! Prometheus scrapes: metric families with HELP and TYPE, labels
//! `class="<key>"` (and `pid="<pid>"` per process), counters ending in
//! `_total`, the wait as a histogram (`_bucket`, `_sum`, `_count`), and
//! `# EOF` last.

use super::{class_usage, phase_word, seconds};
use crate::pm::policy::ExitReason;
use crate::pm::report::{ClassReport, Phase, ProcessReport, Refusal, StatusReport};
use std::fmt::Write;

/// The Content-Type of this format.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A label value: backslash, double quote and newline escaped.
pub fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, unit: Option<&str>, help: &str) {
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
        if let Some(u) = unit {
            let _ = writeln!(self.0, "# UNIT {name} {u}");
        }
        let _ = writeln!(self.0, "# HELP {name} {help}");
    }
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            let words: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", label(v)))
                .collect();
            let _ = write!(self.0, "{{{}}}", words.join(","));
        }
        let _ = writeln!(self.0, " {value}");
    }
    /// One sample per class.
    fn per_class(&mut self, rep: &StatusReport, name: &str, f: impl Fn(&ClassReport) -> String) {
        for c in &rep.classes {
            self.sample(name, &[("class", &c.key)], f(c));
        }
    }
    /// One sample per process that has a pid (a process still starting
    /// has none yet; it shows in fcgid_processes{state="starting"}).
    fn per_process(
        &mut self,
        rep: &StatusReport,
        name: &str,
        f: impl Fn(&ProcessReport) -> Option<String>,
    ) {
        for c in &rep.classes {
            for p in c.processes.iter().filter(|p| p.pid > 0) {
                if let Some(v) = f(p) {
                    let pid = p.pid.to_string();
                    self.sample(name, &[("class", &c.key), ("pid", &pid)], v);
                }
            }
        }
    }
}

/// The whole report, ending in `# EOF`; the per-process families only
/// with `full` (a summary's size does not grow with the processes).
pub fn render(rep: &StatusReport, full: bool) -> String {
    let mut o = Out(String::new());
    if let Some(up) = rep.manager_uptime {
        o.family(
            "fcgid_manager_uptime_seconds",
            "gauge",
            Some("seconds"),
            "How long the process manager has run.",
        );
        o.sample("fcgid_manager_uptime_seconds", &[], seconds(up));
    }
    o.family(
        "fcgid_class",
        "info",
        None,
        "A process class: its key and its command line.",
    );
    for c in &rep.classes {
        o.sample(
            "fcgid_class_info",
            &[("class", &c.key), ("command", &c.command_line)],
            1,
        );
    }
    o.family(
        "fcgid_processes",
        "gauge",
        None,
        "Processes of the class, by state.",
    );
    for c in &rep.classes {
        for (state, n) in [
            ("starting", c.starting()),
            ("idle", c.idle()),
            ("busy", c.busy()),
            ("stopping", c.stopping()),
        ] {
            o.sample("fcgid_processes", &[("class", &c.key), ("state", state)], n);
        }
    }
    o.family(
        "fcgid_waiting_requests",
        "gauge",
        None,
        "Requests waiting for a process of the class now.",
    );
    o.per_class(rep, "fcgid_waiting_requests", |c| c.waiting.to_string());
    o.family(
        "fcgid_oldest_wait_seconds",
        "gauge",
        Some("seconds"),
        "How long the longest-waiting request of the class has waited (0: none waits).",
    );
    o.per_class(rep, "fcgid_oldest_wait_seconds", |c| {
        seconds(c.queue.iter().max().copied().unwrap_or_default())
    });
    o.family(
        "fcgid_spawns",
        "counter",
        None,
        "Processes started for the class.",
    );
    o.per_class(rep, "fcgid_spawns_total", |c| c.spawns.to_string());
    o.family(
        "fcgid_requests",
        "counter",
        None,
        "Requests the class's processes served.",
    );
    o.per_class(rep, "fcgid_requests_total", |c| c.requests.to_string());
    o.family(
        "fcgid_spawn_score",
        "gauge",
        None,
        "The class's spawn score (no spawn at or over FcgidSpawnScoreUpLimit).",
    );
    o.per_class(rep, "fcgid_spawn_score", |c| c.spawn_score.to_string());
    o.family(
        "fcgid_failed_starts",
        "gauge",
        None,
        "Processes in a row that died right after starting.",
    );
    o.per_class(rep, "fcgid_failed_starts", |c| c.failed_starts.to_string());
    o.family(
        "fcgid_exits",
        "counter",
        None,
        "Processes of the class that ended, by reason.",
    );
    for c in &rep.classes {
        for r in ExitReason::ALL {
            let n = c.exits.iter().find(|(x, _)| *x == r).map_or(0, |(_, n)| *n);
            o.sample(
                "fcgid_exits_total",
                &[("class", &c.key), ("reason", r.name())],
                n,
            );
        }
    }
    o.family(
        "fcgid_refusals",
        "counter",
        None,
        "Requests of the class that got no process, by reason.",
    );
    for c in &rep.classes {
        for r in Refusal::ALL {
            let n = c
                .refusals
                .iter()
                .find(|(x, _)| *x == r)
                .map_or(0, |(_, n)| *n);
            o.sample(
                "fcgid_refusals_total",
                &[("class", &c.key), ("reason", r.name())],
                n,
            );
        }
    }
    o.family(
        "fcgid_wait_seconds",
        "histogram",
        Some("seconds"),
        "How long requests that got a process waited for it.",
    );
    for c in &rep.classes {
        for (le, n) in c.wait.cumulative() {
            let le = le.map_or_else(|| "+Inf".to_string(), |b| format!("{b:?}"));
            o.sample(
                "fcgid_wait_seconds_bucket",
                &[("class", &c.key), ("le", &le)],
                n,
            );
        }
        o.sample(
            "fcgid_wait_seconds_count",
            &[("class", &c.key)],
            c.wait.count,
        );
        o.sample(
            "fcgid_wait_seconds_sum",
            &[("class", &c.key)],
            seconds(c.wait.sum),
        );
    }
    class_usage_families(&mut o, rep);
    if full {
        per_process_families(&mut o, rep);
    }
    o.0.push_str("# EOF\n");
    o.0
}

/// What each class's processes use together, for classes where it could
/// be read. Gauges: a process that exits takes its share along.
fn class_usage_families(o: &mut Out, rep: &StatusReport) {
    o.family(
        "fcgid_class_resident_memory_bytes",
        "gauge",
        Some("bytes"),
        "Resident memory of the class's processes, summed.",
    );
    for c in &rep.classes {
        if let Some(u) = class_usage(c) {
            let name = "fcgid_class_resident_memory_bytes";
            o.sample(name, &[("class", &c.key)], u.rss_bytes);
        }
    }
    o.family(
        "fcgid_class_cpu_seconds",
        "gauge",
        Some("seconds"),
        "CPU time (user and system) of the class's live processes, summed.",
    );
    for c in &rep.classes {
        if let Some(u) = class_usage(c) {
            o.sample(
                "fcgid_class_cpu_seconds",
                &[("class", &c.key)],
                seconds(u.cpu),
            );
        }
    }
}

fn per_process_families(o: &mut Out, rep: &StatusReport) {
    o.family(
        "fcgid_process_state",
        "stateset",
        None,
        "Each process's state.",
    );
    for c in &rep.classes {
        for p in c.processes.iter().filter(|p| p.pid > 0) {
            let pid = p.pid.to_string();
            for s in ["starting", "idle", "busy", "stopping"] {
                let on = u8::from(phase_word(p.phase) == s);
                o.sample(
                    "fcgid_process_state",
                    &[("class", &c.key), ("pid", &pid), ("fcgid_process_state", s)],
                    on,
                );
            }
        }
    }
    o.family(
        "fcgid_process_stop_reason",
        "info",
        None,
        "Why a stopping process was asked to stop.",
    );
    for c in &rep.classes {
        for p in c.processes.iter().filter(|p| p.pid > 0) {
            if let Phase::Stopping(r) = p.phase {
                let pid = p.pid.to_string();
                o.sample(
                    "fcgid_process_stop_reason_info",
                    &[("class", &c.key), ("pid", &pid), ("reason", r.name())],
                    1,
                );
            }
        }
    }
    o.family(
        "fcgid_process_requests",
        "counter",
        None,
        "Requests the process served.",
    );
    o.per_process(rep, "fcgid_process_requests_total", |p| {
        Some(p.requests.to_string())
    });
    o.family(
        "fcgid_process_uptime_seconds",
        "gauge",
        Some("seconds"),
        "How long the process has run.",
    );
    o.per_process(rep, "fcgid_process_uptime_seconds", |p| {
        Some(seconds(p.age))
    });
    o.family(
        "fcgid_process_idle_seconds",
        "gauge",
        Some("seconds"),
        "Time since the process last finished a request (or started).",
    );
    o.per_process(rep, "fcgid_process_idle_seconds", |p| {
        Some(seconds(p.since_last_request))
    });
    o.family(
        "fcgid_process_current_request_seconds",
        "gauge",
        Some("seconds"),
        "How long the busy process's current request has had it.",
    );
    o.per_process(rep, "fcgid_process_current_request_seconds", |p| {
        p.busy_for.map(seconds)
    });
    // Method and URI as labels of an info metric: a new series per
    // request, so it is only in the ?full form (see the README).
    o.family(
        "fcgid_process_current_request",
        "info",
        None,
        "The request the busy process serves (a URI cut short ends in …).",
    );
    for c in &rep.classes {
        for p in c.processes.iter().filter(|p| p.pid > 0) {
            if let Some(cur) = &p.current {
                let pid = p.pid.to_string();
                let uri = if cur.cut {
                    format!("{}…", cur.uri)
                } else {
                    cur.uri.clone()
                };
                o.sample(
                    "fcgid_process_current_request_info",
                    &[
                        ("class", &c.key),
                        ("pid", &pid),
                        ("method", &cur.method),
                        ("uri", &uri),
                    ],
                    1,
                );
            }
        }
    }
    o.family(
        "fcgid_process_resident_memory_bytes",
        "gauge",
        Some("bytes"),
        "Resident memory of the process.",
    );
    o.per_process(rep, "fcgid_process_resident_memory_bytes", |p| {
        p.usage.map(|u| u.rss_bytes.to_string())
    });
    o.family(
        "fcgid_process_cpu_seconds",
        "counter",
        Some("seconds"),
        "User and system CPU time of the process.",
    );
    o.per_process(rep, "fcgid_process_cpu_seconds_total", |p| {
        p.usage.map(|u| seconds(u.cpu))
    });
}

#[cfg(test)]
mod tests {
    use super::super::sample::{report, starting};
    use super::*;

    #[test]
    fn labels_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn a_uri_never_breaks_a_line_or_a_label() {
        let mut rep = report();
        rep.classes[0].processes[0].current = Some(crate::pm::report::CurrentRequest {
            method: "GET".into(),
            uri: "/a\"}\n# EOF\n\\".into(),
            cut: true,
        });
        let m = render(&rep, true);
        assert_eq!(m.lines().filter(|l| *l == "# EOF").count(), 1, "{m}");
        assert!(m.contains("uri=\"/a\\\"}\\n# EOF\\n\\\\…\"} 1\n"), "{m}");
        assert!(
            m.lines()
                .all(|l| l.starts_with('#') || l.starts_with("fcgid_")),
            "{m}"
        );
    }

    #[test]
    fn families_samples_and_eof() {
        let mut rep = report();
        rep.classes[1].processes.push(starting());
        let m = render(&rep, true);
        assert!(m.ends_with("\n# EOF\n"), "{m}");
        let k = "class=\"8:1|/srv/a.fcgi\"";
        for line in [
            "# TYPE fcgid_spawns counter".to_string(),
            "# HELP fcgid_spawns Processes started for the class.".into(),
            "fcgid_manager_uptime_seconds 3725.000".into(),
            format!("fcgid_spawns_total{{{k}}} 3"),
            format!("fcgid_requests_total{{{k}}} 41"),
            format!("fcgid_processes{{{k},state=\"busy\"}} 1"),
            "fcgid_processes{class=\"8:2|/srv/<b>.fcgi\",state=\"starting\"} 1".into(),
            format!("fcgid_exits_total{{{k},reason=\"idle_timeout\"}} 1"),
            "fcgid_refusals_total{class=\"8:2|/srv/<b>.fcgi\",reason=\"failing\"} 4".into(),
            "fcgid_oldest_wait_seconds{class=\"8:2|/srv/<b>.fcgi\"} 1.500".into(),
            format!("fcgid_wait_seconds_bucket{{{k},le=\"0.001\"}} 1"),
            format!("fcgid_wait_seconds_bucket{{{k},le=\"1.0\"}} 3"),
            format!("fcgid_wait_seconds_bucket{{{k},le=\"+Inf\"}} 3"),
            format!("fcgid_wait_seconds_count{{{k}}} 3"),
            format!("fcgid_wait_seconds_sum{{{k}}} 0.703"),
            format!("fcgid_process_state{{{k},pid=\"100\",fcgid_process_state=\"busy\"}} 1"),
            format!("fcgid_process_state{{{k},pid=\"100\",fcgid_process_state=\"idle\"}} 0"),
            format!("fcgid_process_stop_reason_info{{{k},pid=\"103\",reason=\"busy_timeout\"}} 1"),
            format!("fcgid_process_requests_total{{{k},pid=\"101\"}} 21"),
            format!("fcgid_process_current_request_seconds{{{k},pid=\"100\"}} 2.500"),
            format!(
                "fcgid_process_current_request_info{{{k},pid=\"100\",method=\"GET\",\
                 uri=\"/slow?q=<b>&r=\\\"1\\\"\"}} 1"
            ),
            format!("fcgid_process_resident_memory_bytes{{{k},pid=\"100\"}} 3145728"),
            format!("fcgid_process_cpu_seconds_total{{{k},pid=\"100\"}} 1.250"),
        ] {
            assert!(m.lines().any(|l| l == line), "missing {line:?} in\n{m}");
        }
        assert!(
            !m.contains("pid=\"0\""),
            "a process without a pid has no series"
        );
        assert!(
            !m.contains(
                "fcgid_process_current_request_seconds{class=\"8:1|/srv/a.fcgi\",pid=\"101\"}"
            ),
            "only busy processes have a current request"
        );
    }

    #[test]
    fn the_summary_has_the_class_families_and_no_process_series() {
        let m = render(&report(), false);
        assert!(m.ends_with("\n# EOF\n"), "{m}");
        assert!(m.contains("fcgid_processes{class=\"8:1|/srv/a.fcgi\",state=\"busy\"} 1"));
        assert!(m.contains("fcgid_wait_seconds_count{class=\"8:1|/srv/a.fcgi\"} 3"));
        assert!(!m.contains("fcgid_process_"), "{m}");
        assert!(!m.contains("pid=\""), "{m}");
        // Usage summed per class (3 processes of 3 MiB and 1.25 s); none
        // for a class without a process whose usage is known.
        assert!(
            m.contains("fcgid_class_resident_memory_bytes{class=\"8:1|/srv/a.fcgi\"} 9437184\n")
        );
        assert!(m.contains("fcgid_class_cpu_seconds{class=\"8:1|/srv/a.fcgi\"} 3.750\n"));
        assert!(!m.contains("fcgid_class_cpu_seconds{class=\"8:2"), "{m}");
    }
}
