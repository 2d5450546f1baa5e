//! The request each busy process serves (method, URI, seconds so far):
//! the cells the HTML pages show, and our section on mod_status's page.
//!
//! The URI comes as the client sent it, made printable by the report
//! (`report::printable`) and cut at `table::INFO_MAX` bytes with the
//! method; a cut one ends in "…" here (JSON says `"cut": true`).

use super::{basename, escape, page::human_duration};
use crate::pm::report::{CurrentRequest, ProcessReport, StatusReport};
use std::fmt::Write;

/// The URI for HTML: escaped, "…" when cut.
pub(crate) fn uri_html(c: &CurrentRequest) -> String {
    let mut s = escape(&c.uri);
    if c.cut {
        s.push('…');
    }
    s
}

/// The method and URI cells of a process row ("-" when unknown).
pub(crate) fn cells(p: &ProcessReport) -> [String; 2] {
    match &p.current {
        Some(c) => [escape(&c.method), uri_html(c)],
        None => ["-".into(), "-".into()],
    }
}

/// Below C's section on /server-status: every request in progress, with
/// its class, pid and seconds so far (C's own table has no room for it).
pub(crate) fn section(rep: &StatusReport, out: &mut String) {
    out.push_str(
        "<h2>mod_fcgid requests in progress</h2>\n<table border=\"0\" class=\"fcgid-current\">\n\
         <tr><th>Command</th><th>Pid</th><th>Method</th><th>URI</th><th>Seconds</th></tr>\n",
    );
    for c in &rep.classes {
        for p in &c.processes {
            let (Some(cur), Some(busy)) = (&p.current, p.busy_for) else {
                continue;
            };
            let _ = writeln!(
                out,
                "<tr class=\"request\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td title=\"{}\">{}</td></tr>",
                escape(basename(&c.executable)),
                p.pid,
                escape(&cur.method),
                uri_html(cur),
                human_duration(busy),
                busy.as_secs(),
            );
        }
    }
    out.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::super::sample::report;
    use super::*;

    #[test]
    fn uris_are_escaped_and_a_cut_one_says_so() {
        let c = CurrentRequest {
            method: "GET".into(),
            uri: "/<script>&\"x\"".into(),
            cut: true,
        };
        assert_eq!(uri_html(&c), "/&lt;script&gt;&amp;&quot;x&quot;…");
    }

    #[test]
    fn the_section_lists_busy_processes_with_a_request() {
        let mut out = String::new();
        section(&report(), &mut out);
        assert!(
            out.contains(
                "<tr class=\"request\"><td>a.fcgi</td><td>100</td><td>GET</td>\
                 <td>/slow?q=&lt;b&gt;&amp;r=&quot;1&quot;</td><td title=\"2.5 s\">2</td></tr>"
            ),
            "{out}"
        );
        assert_eq!(
            out.matches("<tr class=\"request\">").count(),
            1,
            "only the busy one: {out}"
        );
    }
}
