//! The pools as JSON (`?format=json`), written by hand: the shape is
//! small and fixed, and the module carries no serializer crate for it.
//!
//! ```text
//! { "manager": {"pid", "uptime_seconds"},
//!   "processes", "busy", "idle", "waiting",
//!   "wait_bucket_bounds_seconds": [...],
//!   "classes": [{ "key", "command_line", "executable",
//!     "counts": {"total", "starting", "idle", "busy", "stopping"},
//!     "waiting", "queue_seconds": [...], "spawns", "requests",
//!     "spawn_score", "failed_starts",
//!     "exits": {reason: n, ...}, "refusals": {reason: n, ...},
//!     "wait": {"count", "sum_seconds", "buckets": [{"le", "count"}, ...]},
//!     "rss_bytes", "cpu_seconds",
//!     "processes": [{ "pid", "state", "stop_reason", "requests",
//!       "uptime_seconds", "idle_seconds", "current_request":
//!         {"seconds", "method", "uri", "cut"},
//!       "rss_bytes", "cpu_seconds" }] }] }
//! ```
//! `processes` (per class) only with `?full`: by default each class is a
//! summary, so the answer stays small with thousands of processes. A
//! class's `rss_bytes` and `cpu_seconds` are its processes' sums.
//! Unknown figures are `null`; every exit and refusal reason is listed,
//! with 0 for those that never happened; buckets are cumulative, as in
//! OpenMetrics, the last with `"le": "+Inf"`.

use super::{class_usage, phase_word, seconds};
use crate::pm::policy::ExitReason;
use crate::pm::report::{ClassReport, Phase, ProcessReport, Refusal, StatusReport, WAIT_BOUNDS_US};
use std::fmt::Write;
use std::time::Duration;

/// A JSON string literal for `s`.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn opt_secs(d: Option<Duration>) -> String {
    d.map_or_else(|| "null".into(), seconds)
}

fn process(p: &ProcessReport) -> String {
    let stop_reason = match p.phase {
        Phase::Stopping(r) => string(r.name()),
        _ => "null".into(),
    };
    // `method` and `uri` are null when the child did not record them.
    let current = p.busy_for.map_or_else(
        || "null".into(),
        |d| {
            let (method, uri, cut) = match &p.current {
                Some(c) => (string(&c.method), string(&c.uri), c.cut),
                None => ("null".into(), "null".into(), false),
            };
            format!(
                "{{\"seconds\":{},\"method\":{method},\"uri\":{uri},\"cut\":{cut}}}",
                seconds(d)
            )
        },
    );
    format!(
        "{{\"pid\":{},\"state\":{},\"stop_reason\":{},\"requests\":{},\"uptime_seconds\":{},\
         \"idle_seconds\":{},\"current_request\":{},\"rss_bytes\":{},\"cpu_seconds\":{}}}",
        p.pid,
        string(phase_word(p.phase)),
        stop_reason,
        p.requests,
        seconds(p.age),
        seconds(p.since_last_request),
        current,
        p.usage
            .map_or_else(|| "null".into(), |u| u.rss_bytes.to_string()),
        opt_secs(p.usage.map(|u| u.cpu)),
    )
}

fn class(c: &ClassReport, full: bool) -> String {
    let count_of = |list: &[(String, u64)]| {
        let fields: Vec<String> = list
            .iter()
            .map(|(k, n)| format!("{}:{n}", string(k)))
            .collect();
        format!("{{{}}}", fields.join(","))
    };
    let exits: Vec<(String, u64)> = ExitReason::ALL
        .iter()
        .map(|r| {
            let n = c.exits.iter().find(|(x, _)| x == r).map_or(0, |(_, n)| *n);
            (r.name().to_string(), n)
        })
        .collect();
    let refusals: Vec<(String, u64)> = Refusal::ALL
        .iter()
        .map(|r| {
            let n = c
                .refusals
                .iter()
                .find(|(x, _)| x == r)
                .map_or(0, |(_, n)| *n);
            (r.name().to_string(), n)
        })
        .collect();
    let buckets: Vec<String> = c
        .wait
        .cumulative()
        .into_iter()
        .map(|(le, n)| {
            let le = le.map_or_else(|| "\"+Inf\"".into(), |b| b.to_string());
            format!("{{\"le\":{le},\"count\":{n}}}")
        })
        .collect();
    let queue: Vec<String> = c.queue.iter().map(|d| seconds(*d)).collect();
    let usage = class_usage(c);
    let procs = if full {
        let list: Vec<String> = c.processes.iter().map(process).collect();
        format!(",\"processes\":[{}]", list.join(","))
    } else {
        String::new()
    };
    format!(
        "{{\"key\":{},\"command_line\":{},\"executable\":{},\
         \"counts\":{{\"total\":{},\"starting\":{},\"idle\":{},\"busy\":{},\"stopping\":{}}},\
         \"waiting\":{},\"queue_seconds\":[{}],\"spawns\":{},\"requests\":{},\"spawn_score\":{},\
         \"failed_starts\":{},\"exits\":{},\"refusals\":{},\
         \"wait\":{{\"count\":{},\"sum_seconds\":{},\"buckets\":[{}]}},\
         \"rss_bytes\":{},\"cpu_seconds\":{}{}}}",
        string(&c.key),
        string(&c.command_line),
        string(&c.executable),
        c.processes.len(),
        c.starting(),
        c.idle(),
        c.busy(),
        c.stopping(),
        c.waiting,
        queue.join(","),
        c.spawns,
        c.requests,
        c.spawn_score,
        c.failed_starts,
        count_of(&exits),
        count_of(&refusals),
        c.wait.count,
        seconds(c.wait.sum),
        buckets.join(","),
        usage.map_or_else(|| "null".into(), |u| u.rss_bytes.to_string()),
        opt_secs(usage.map(|u| u.cpu)),
        procs,
    )
}

/// The whole report as one JSON object (and a newline); with `full`,
/// every process too.
pub fn render(rep: &StatusReport, full: bool) -> String {
    let idle: usize = rep.classes.iter().map(ClassReport::idle).sum();
    let bounds: Vec<String> = WAIT_BOUNDS_US
        .iter()
        .map(|b| (*b as f64 / 1e6).to_string())
        .collect();
    let classes: Vec<String> = rep.classes.iter().map(|c| class(c, full)).collect();
    format!(
        "{{\"manager\":{{\"pid\":{},\"uptime_seconds\":{}}},\"processes\":{},\"busy\":{},\
         \"idle\":{},\"waiting\":{},\"wait_bucket_bounds_seconds\":[{}],\"classes\":[{}]}}\n",
        rep.manager_pid,
        opt_secs(rep.manager_uptime),
        rep.process_count(),
        rep.busy_count(),
        idle,
        rep.waiting_count(),
        bounds.join(","),
        classes.join(","),
    )
}

#[cfg(test)]
mod tests {
    use super::super::sample::{report, starting};
    use super::*;

    #[test]
    fn strings_are_escaped() {
        assert_eq!(string("a\"b\\c\nd\u{1}é"), "\"a\\\"b\\\\c\\nd\\u0001é\"");
    }

    #[test]
    fn the_report_has_every_figure() {
        let mut rep = report();
        rep.classes[1].processes.push(starting());
        let j = render(&rep, true);
        for part in [
            "{\"manager\":{\"pid\":77,\"uptime_seconds\":3725.000},\"processes\":4,\"busy\":1,\"idle\":1,\"waiting\":2,",
            "\"key\":\"8:2|/srv/<b>.fcgi\"",
            "\"counts\":{\"total\":3,\"starting\":0,\"idle\":1,\"busy\":1,\"stopping\":1}",
            "\"exits\":{\"idle_timeout\":1,\"lifetime\":0,",
            "\"refusals\":{\"class_full\":0,\"server_full\":0,\"spawn_score\":0,\"timeout\":0,\"failing\":4,",
            "\"queue_seconds\":[1.500,0.020]",
            "\"wait\":{\"count\":3,\"sum_seconds\":0.703,\"buckets\":[{\"le\":0.001,\"count\":1},{\"le\":0.005,\"count\":2},",
            "{\"le\":\"+Inf\",\"count\":3}]}",
            "{\"pid\":100,\"state\":\"busy\",\"stop_reason\":null,\"requests\":20,\"uptime_seconds\":90.000,\
             \"idle_seconds\":4.000,\"current_request\":{\"seconds\":2.500,\"method\":\"GET\",\
             \"uri\":\"/slow?q=<b>&r=\\\"1\\\"\",\"cut\":false},\"rss_bytes\":3145728,\"cpu_seconds\":1.250}",
            "\"state\":\"stopping\",\"stop_reason\":\"busy_timeout\"",
            "{\"pid\":0,\"state\":\"starting\",\"stop_reason\":null,\"requests\":0,\"uptime_seconds\":90.000,\
             \"idle_seconds\":4.000,\"current_request\":null,\"rss_bytes\":null,\"cpu_seconds\":null}",
        ] {
            assert!(j.contains(part), "missing {part}\nin {j}");
        }
        let opens = j.matches(['{', '[']).count();
        let closes = j.matches(['}', ']']).count();
        assert_eq!(opens, closes);
    }

    #[test]
    fn the_summary_has_the_counts_but_no_process() {
        let j = render(&report(), false);
        assert!(!j.contains("\"processes\":["), "{j}");
        assert!(!j.contains("\"pid\":100"), "{j}");
        // The processes' usage summed per class (3 of 3 MiB and 1.25 s each).
        assert!(
            j.contains("\"rss_bytes\":9437184,\"cpu_seconds\":3.750}"),
            "{j}"
        );
        assert!(
            j.contains("\"rss_bytes\":null,\"cpu_seconds\":null}"),
            "{j}"
        );
        assert!(
            j.contains(
                "\"counts\":{\"total\":3,\"starting\":0,\"idle\":1,\"busy\":1,\"stopping\":1}"
            ),
            "{j}"
        );
        assert!(
            j.contains("\"buckets\":[{\"le\":0.001,\"count\":1},"),
            "{j}"
        );
        assert!(j.ends_with("\"cpu_seconds\":null}]}\n"), "{j}");
        assert_eq!(j.matches(['{', '[']).count(), j.matches(['}', ']']).count());
    }
}
