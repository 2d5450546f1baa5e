//! The pools on httpd's status page (mod_status): an HTML table per class,
//! and `Key: value` lines for `?auto`. Pure: formats the manager's status
//! text (see `pm::status_text`).

/// One class as the manager describes it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ClassStatus {
    pub command: String,
    pub numbers: Vec<(String, String)>,
    pub exits: String,
    /// (pid, state, requests)
    pub processes: Vec<(String, String, String)>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Status {
    pub totals: Vec<(String, String)>,
    pub classes: Vec<ClassStatus>,
}

/// Reads the manager's `key: value` lines.
pub fn parse(text: &str) -> Status {
    let mut st = Status::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(": ") else {
            continue;
        };
        match (key, st.classes.last_mut()) {
            ("class", _) => st.classes.push(ClassStatus::default()),
            ("command", Some(c)) => c.command = value.to_string(),
            ("exits", Some(c)) => c.exits = value.to_string(),
            ("process", Some(c)) => {
                let mut f = value.split_whitespace().map(str::to_string);
                c.processes.push((
                    f.next().unwrap_or_default(),
                    f.next().unwrap_or_default(),
                    f.next().unwrap_or_default(),
                ));
            }
            (k, Some(c)) => c.numbers.push((k.to_string(), value.to_string())),
            (k, None) => st.totals.push((k.to_string(), value.to_string())),
        }
    }
    st
}

/// `spawn_score` -> `SpawnScore`.
fn title_case(key: &str) -> String {
    key.split('_')
        .map(|word| {
            let mut c = word.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// `?auto` lines: `Fcgid<Total>: n`, then per class (numbered from 1)
/// `FcgidClass<i><Field>: value`.
pub fn auto_lines(st: &Status) -> String {
    let mut out = String::new();
    for (k, v) in &st.totals {
        if k != "manager" {
            out.push_str(&format!("Fcgid{}: {v}\n", title_case(k)));
        }
    }
    out.push_str(&format!("FcgidClasses: {}\n", st.classes.len()));
    for (i, c) in st.classes.iter().enumerate() {
        let n = i + 1;
        out.push_str(&format!("FcgidClass{n}Command: {}\n", c.command));
        for (k, v) in &c.numbers {
            out.push_str(&format!("FcgidClass{n}{}: {v}\n", title_case(k)));
        }
        out.push_str(&format!("FcgidClass{n}Exits: {}\n", c.exits));
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The HTML section: totals, then one table per class.
pub fn html(st: &Status) -> String {
    let mut out = String::from("<hr />\n<h1>mod_fcgid status:</h1>\n");
    let totals: Vec<String> = st
        .totals
        .iter()
        .map(|(k, v)| format!("{k}: {}", escape(v)))
        .collect();
    out.push_str(&format!("<p>{}</p>\n", totals.join(", ")));
    for c in &st.classes {
        let numbers: Vec<String> = c
            .numbers
            .iter()
            .map(|(k, v)| format!("{k} {}", escape(v)))
            .collect();
        out.push_str(&format!(
            "<h3>Process class: {}</h3>\n<p>{}; exits: {}</p>\n",
            escape(&c.command),
            numbers.join(", "),
            if c.exits.is_empty() {
                "none".to_string()
            } else {
                escape(&c.exits)
            }
        ));
        out.push_str(
            "<table border=\"0\">\n<tr><th>Pid</th><th>State</th><th>Requests</th></tr>\n",
        );
        for (pid, state, requests) in &c.processes {
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                escape(pid),
                escape(state),
                escape(requests)
            ));
        }
        out.push_str("</table>\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "manager: 77\nprocesses: 3\nbusy: 1\n\
        class: 8:1|/srv/a.fcgi|x:80|33:33\ncommand: /srv/a.fcgi\nprocesses: 2\nbusy: 1\nidle: 1\nwaiting: 0\nspawns: 3\nrequests: 41\nexits: idle_timeout=1\n\
        process: 100 busy 20\nprocess: 101 idle 21\n\
        class: 8:2|/srv/<b>.fcgi|x:80|33:33\ncommand: /srv/<b>.fcgi\nprocesses: 1\nbusy: 0\nidle: 1\nwaiting: 2\nspawns: 1\nrequests: 0\nexits: \nprocess: 102 idle 0\n";

    #[test]
    fn auto_has_totals_and_numbered_class_fields() {
        let auto = auto_lines(&parse(TEXT));
        assert!(
            auto.starts_with("FcgidProcesses: 3\nFcgidBusy: 1\nFcgidClasses: 2\n"),
            "{auto}"
        );
        for line in [
            "FcgidClass1Command: /srv/a.fcgi",
            "FcgidClass1Busy: 1",
            "FcgidClass1Requests: 41",
            "FcgidClass1Exits: idle_timeout=1",
            "FcgidClass2Waiting: 2",
            "FcgidClass2Spawns: 1",
        ] {
            assert!(
                auto.lines().any(|l| l == line),
                "missing {line:?} in\n{auto}"
            );
        }
        assert!(
            !auto.contains("Manager"),
            "the manager's pid is not a pool figure"
        );
    }

    #[test]
    fn html_has_a_table_per_class_and_escapes_names() {
        let html = html(&parse(TEXT));
        assert_eq!(html.matches("<table").count(), 2);
        assert!(html.contains("<tr><td>101</td><td>idle</td><td>21</td></tr>"));
        assert!(html.contains("/srv/&lt;b&gt;.fcgi") && !html.contains("<b>"));
    }
}
