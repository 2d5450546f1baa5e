//! The differential suite: the same httpd configuration runs twice, once
//! with C mod_fcgid 2.3.9 (Debian's libapache2-mod-fcgid) and once with
//! ours, and both get the same requests, byte for byte. Their answers
//! (status, headers less framing and dates, body, and so the environment
//! the app saw) must be the same, except for the differences listed in
//! `KNOWN`, each an improvement for users (and `PENDING`, our bugs that
//! wait for a fix elsewhere). A listed difference that no longer shows
//! fails the suite too, so the lists stay true.
//!
//! Run alone: `cargo build && cargo test --test differential`.

mod common;

/// The suite's parts, in tests/differential/.
mod differential {
    pub mod c_module;
    pub mod cases;
    pub mod client;
    pub mod normalize;
    pub mod setup;
    pub mod verdict;
}
use differential::{c_module, cases, setup, verdict};

use std::collections::BTreeMap;
use std::time::Instant;
use verdict::{Row, Shows};

/// Every difference between C mod_fcgid and ours that we keep because ours
/// is better for users. docs/differences.md and README.md show this
/// table to users.
pub const KNOWN: &[Row] = &[
    Row {
        name: "oversized-body",
        cases: &[
            "body_131073_oversized",
            "body_1mb_oversized",
            "chunked_200000_oversized",
            "expect_oversized",
            "vhost_max_request_len_over",
        ],
        shows: Shows::Answer("HTTP/1.1 500", "HTTP/1.1 413"),
        c: "a body over `FcgidMaxRequestLen` gets 500 Internal Server Error",
        ours: "413 Request Entity Too Large, at once when Content-Length says so (no `100 Continue`: the client does not upload it)",
        why: "the client learns its upload is too large, not that the server is broken, and need not send it first",
    },
    Row {
        name: "limit-request-body",
        cases: &["limit_request_body_over", "limit_request_body_chunked_over"],
        shows: Shows::Answer("HTTP/1.1 200", "HTTP/1.1 413"),
        c: "a body over `LimitRequestBody` reaches the app cut at the limit (or empty), and the app answers 200",
        ours: "413 Request Entity Too Large; the app is not run",
        why: "an app never acts on a silently truncated upload",
    },
    Row {
        name: "authorizer-headers",
        cases: &[
            "auth_malformed_credentials",
            "auth_no_credentials",
            "auth_ok",
            "auth_ok_post",
            "auth_unknown_user",
            "auth_wrong_password",
            "auth_not_authoritative_ok",
            "access_checker_alone",
        ],
        shows: Shows::Lines(&["Variable-", "X-From-Authorizer:"]),
        c: "the answer headers of each authorizer-role program that passed (`Variable-*` included) are sent to the client, with the final answer or a later 401",
        ours: "they never reach the client; `Variable-*` only become request variables",
        why: "`Variable-*` headers carry whatever the program hands the app (in the suite its whole environment, with the client's credentials)",
    },
    Row {
        name: "basic-challenge",
        cases: &[
            "auth_malformed_credentials",
            "auth_no_credentials",
            "auth_unknown_user",
            "auth_wrong_password",
        ],
        shows: Shows::Lines(&["WWW-Authenticate:"]),
        c: "`FcgidAuthenticator` refuses with a 401 that has no `WWW-Authenticate` (mod_auth_basic, which would add one, must be left out of such a setup)",
        ours: "the 401 carries `WWW-Authenticate: Basic realm=\"…\"` (the `AuthName`)",
        why: "browsers ask the user for a name and password instead of showing an error page",
    },
    Row {
        name: "range",
        cases: &["range_request"],
        shows: Shows::Answer("HTTP/1.1 200", "HTTP/1.1 206"),
        c: "a Range request to an app gets the whole answer (200)",
        ours: "206 with the range when the app's whole answer arrived at once (as mod_cgi does), else 200 with all of it",
        why: "resumed downloads and media players get what they ask for",
    },
    Row {
        name: "exec-failure-race",
        cases: &[
            "script_not_executable",
            "wrapper_not_executable",
            "script_owner_only",
            "script_fifo",
        ],
        shows: Shows::CRace("HTTP/1.1 503"),
        c: "a program that cannot be executed gets 500 when C connects to it before its failed exec ends it; when the exec wins, C starts it again and again for up to about a minute, then answers 503",
        ours: "500 at once, with one log line naming the cause (a file without any execute bit is not even started)",
        why: "the answer comes at once, every time, without a spawn loop",
    },
    Row {
        name: "not-regular-file",
        cases: &["script_fifo"],
        shows: Shows::Answer("HTTP/1.1 500", "HTTP/1.1 403"),
        c: "a script that is a FIFO, socket or device is started as a program, fails, and the client gets 500 (or 503, as for any failed exec: see `exec-failure-race`)",
        ours: "403 Forbidden and a log line naming the file; nothing is started",
        why: "httpd's answer for a script that is not a file (as for a directory), without a failed spawn counted against the class",
    },
    Row {
        name: "app-content-length",
        cases: &["app_content_length"],
        shows: Shows::Answer("X-App: diffenv\n\nCONTE", "body_fnv="),
        c: "an app's `Content-Length` goes to the client as is, also when the body is longer: the client reads a cut answer, and the rest spoils its connection",
        ours: "when the app's whole answer arrived at once, httpd sends the length of the body it sends",
        why: "a wrong length from an app cannot cut answers or desynchronise a keep-alive connection",
    },
    Row {
        name: "stderr-lines",
        cases: &["stderr_64k"],
        shows: Shows::Lines(&["log: stderr: "]),
        c: "an app's STDERR line that spans two FastCGI records (libfcgi sends up to 8 KiB in one) is logged as two pieces",
        ours: "each line is logged whole, as the app wrote it",
        why: "whoever reads or greps the error log sees the app's own lines",
    },
];

/// Differences that are bugs of ours, waiting for a fix outside the files
/// this suite's branch may change (each row says what fixes it). They are
/// tolerated so the suite guards everything else, and, like KNOWN, fail it
/// once they no longer show. None now: a new one needs its fix named.
pub const PENDING: &[Row] = &[];

#[test]
fn same_answers_as_c_mod_fcgid() {
    let started = Instant::now();
    // ap_create_environment passes httpd's TZ on to apps.
    std::env::set_var("TZ", "Europe/Paris");
    let c_so = c_module::path();
    let ours_so = common::module_path();
    let main_cases = cases::all();
    let fix_cases = cases::fix_pathinfo();
    let mut names = std::collections::HashSet::new();
    for case in main_cases.iter().chain(&fix_cases) {
        assert!(names.insert(case.name), "two cases named {}", case.name);
    }
    assert!(names.len() >= 80, "only {} cases", names.len());
    let rows: Vec<(&str, &Row)> = KNOWN
        .iter()
        .map(|r| ("KNOWN", r))
        .chain(PENDING.iter().map(|r| ("PENDING", r)))
        .collect();
    for (table, row) in &rows {
        for case in row.cases {
            assert!(
                names.contains(case),
                "{table} row `{}` names {case}, which is not a case",
                row.name
            );
        }
    }

    // Two pairs: the main configuration, and one with FcgidFixPathinfo 1.
    let fix = "FcgidFixPathinfo 1\n";
    let (c, ours, c_fix, ours_fix) = std::thread::scope(|s| {
        let c = s.spawn(|| setup::Server::start("diff-c", &c_so, ""));
        let ours = s.spawn(|| setup::Server::start("diff-r", &ours_so, ""));
        let c_fix = s.spawn(|| setup::Server::start("diff-cf", &c_so, fix));
        let ours_fix = s.spawn(|| setup::Server::start("diff-rf", &ours_so, fix));
        (
            c.join().unwrap(),
            ours.join().unwrap(),
            c_fix.join().unwrap(),
            ours_fix.join().unwrap(),
        )
    });
    let (c_answers, our_answers) = std::thread::scope(|s| {
        let runs = [
            s.spawn(|| c.run(&main_cases)),
            s.spawn(|| ours.run(&main_cases)),
            s.spawn(|| c_fix.run(&fix_cases)),
            s.spawn(|| ours_fix.run(&fix_cases)),
        ];
        let [a, b, c, d] = runs.map(|t| t.join().unwrap());
        (
            a.into_iter().chain(c).collect::<BTreeMap<_, _>>(),
            b.into_iter().chain(d).collect::<BTreeMap<_, _>>(),
        )
    });
    if let Ok(dir) = std::env::var("DIFFERENTIAL_DUMP") {
        dump(std::path::Path::new(&dir), &c_answers, &our_answers);
    }
    let failures = verdict::check(&c_answers, &our_answers, &rows);
    let same = c_answers
        .iter()
        .filter(|(k, v)| our_answers[*k] == **v)
        .count();
    eprintln!(
        "differential: {} cases, {} answered the same, {} KNOWN and {} PENDING differences, {} failures, {:.1} s",
        names.len(),
        same,
        KNOWN.len(),
        PENDING.len(),
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    if !failures.is_empty() {
        panic!(
            "{} failures over {} cases:\n\n{}",
            failures.len(),
            names.len(),
            failures.join("\n\n")
        );
    }
}

/// With DIFFERENTIAL_DUMP=dir, each normalized answer goes to dir/c/CASE
/// and dir/ours/CASE, to look at with diff(1).
fn dump(dir: &std::path::Path, c: &BTreeMap<&str, String>, ours: &BTreeMap<&str, String>) {
    for (side, answers) in [("c", c), ("ours", ours)] {
        let d = dir.join(side);
        std::fs::create_dir_all(&d).unwrap();
        for (name, text) in answers {
            std::fs::write(d.join(name), text).unwrap();
        }
    }
}

/// The rows of the table of differences in `text` (lines starting "| `"
/// from its header on, up to the next heading).
fn table_rows(text: &str) -> Vec<&str> {
    text.lines()
        .skip_while(|l| !l.starts_with("| difference |"))
        .take_while(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with("| `"))
        .collect()
}

/// docs/differences.md and the README show users every row of `KNOWN`,
/// as it is, and no other (on failure this prints the rows it expects).
#[test]
fn the_documented_table_is_the_known_table() {
    let expected: Vec<String> = KNOWN
        .iter()
        .map(|r| format!("| `{}` | {} | {} | {} |", r.name, r.c, r.ours, r.why))
        .collect();
    for file in ["docs/differences.md", "README.md"] {
        let doc =
            std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
                .expect(file);
        assert!(
            table_rows(&doc) == expected,
            "{file} should have these rows:\n{}",
            expected.join("\n")
        );
    }
}
