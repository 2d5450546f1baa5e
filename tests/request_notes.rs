//! Per-request timings (issue 11): the notes a LogFormat reads with
//! `%{fcgid_wait_us}n` and the others, in a real access log, and the
//! slow-request log line.

mod common;
use common::{Httpd, Mpm};
use std::time::{Duration, Instant};

/// The README's LogFormat, and a CustomLog with it.
const LOG_CONF: &str = "LogFormat \"%h %l %u %t \\\"%r\\\" %>s %b %{fcgid_wait_us}n \
                        %{fcgid_app_us}n %{fcgid_pid}n \\\"%{fcgid_class}n\\\"\" fcgid\n\
                        CustomLog logs/access.log fcgid\n";

fn access_log(httpd: &Httpd) -> String {
    std::fs::read_to_string(httpd.root.join("logs/access.log")).unwrap_or_default()
}

/// The access log's line for `path` (httpd writes it after the answer).
fn line_for(httpd: &Httpd, path: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = access_log(httpd);
        if let Some(l) = log.lines().find(|l| l.contains(&format!("GET {path} "))) {
            return l.to_string();
        }
        assert!(Instant::now() < deadline, "no line for {path} in:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The four fields after `%b`: wait, app, pid and the quoted class.
fn notes(line: &str) -> (String, String, String, String) {
    let (head, class) = line.rsplit_once(" \"").unwrap();
    let class = class.trim_end_matches('"').to_string();
    let words: Vec<&str> = head.rsplitn(4, ' ').collect();
    (
        words[2].to_string(),
        words[1].to_string(),
        words[0].to_string(),
        class,
    )
}

#[test]
fn access_log_has_the_wait_the_app_time_the_pid_and_the_class() {
    let httpd = Httpd::new("notes", Mpm::Event, &["echo"], LOG_CONF).start();
    let res = httpd.get("/echo.fcgi?pid&sleep_ms=120");
    assert_eq!(res.status, 200);
    let app_pid = res.text();
    assert!(app_pid.parse::<i32>().is_ok(), "{app_pid}");
    let (wait, app, pid, class) = notes(&line_for(&httpd, "/echo.fcgi?pid&sleep_ms=120"));
    assert_eq!(pid, app_pid, "the pid the app reports");
    let wait: u64 = wait.parse().expect("wait in µs");
    let app: u64 = app.parse().expect("app time in µs");
    // The app slept 120 ms: its time holds that, the wait does not.
    assert!(app >= 120_000, "app {app} µs");
    let www = httpd.www().display().to_string();
    assert!(class.contains(&format!("|{www}/echo.fcgi|")), "{class}");
    let key = &httpd.pm_report().classes[0].key;
    assert_eq!(&class, key, "the class as the status page names it");

    // The cold request's wait holds the spawn: a number, whatever it is.
    let _: u64 = wait;

    // A second request on the warm process: same pid, and a wait of its
    // own that does not hold the app's sleep, which its app time does.
    let path = "/echo.fcgi?pid&second&sleep_ms=1500";
    let res = httpd.get(path);
    let (wait2, app2, pid2, _) = notes(&line_for(&httpd, path));
    assert_eq!(pid2, res.text());
    assert_eq!(pid2, app_pid, "served warm");
    let wait2: u64 = wait2.parse().expect("wait in µs");
    let app2: u64 = app2.parse().expect("app time in µs");
    assert!(app2 >= 1_500_000, "app {app2} µs");
    assert!(wait2 < 1_500_000, "wait {wait2} µs holds the app's sleep");

    // A request fcgid did not serve has none of them.
    std::fs::write(httpd.www().join("plain.txt"), "plain").unwrap();
    assert_eq!(httpd.get("/plain.txt").status, 200);
    let (w, a, p, c) = notes(&line_for(&httpd, "/plain.txt"));
    assert_eq!(
        (w.as_str(), a.as_str(), p.as_str(), c.as_str()),
        ("-", "-", "-", "-")
    );
}

/// The slow-request lines of the error log for the URI `uri` exactly.
fn slow_lines(httpd: &Httpd, uri: &str) -> Vec<String> {
    let want = format!("mod_fcgid: slow request {uri}: ");
    httpd
        .error_log()
        .lines()
        .filter(|l| l.contains(&want))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_request_over_the_slow_threshold_gets_one_warn_line() {
    let httpd = Httpd::new(
        "slowlog",
        Mpm::Event,
        &["echo"],
        &(LOG_CONF.to_string() + "FcgidSlowRequestLog 1s\n"),
    )
    .start();
    // Warm, under a URI of its own (PATH_INFO): the spawn may be slow on a
    // loaded machine, and its line is not what this counts.
    assert_eq!(httpd.get("/echo.fcgi/warm?pid").status, 200);
    let fast = httpd.get("/echo.fcgi?pid&fast");
    assert_eq!(fast.status, 200);
    let slow = httpd.get("/echo.fcgi?pid&sleep_ms=2500");
    assert_eq!(slow.status, 200);
    let pid = slow.text();
    httpd.wait_for_log("the slow-request line", |log| {
        log.contains("slow request /echo.fcgi: ")
    });
    let lines = slow_lines(&httpd, "/echo.fcgi");
    assert_eq!(lines.len(), 1, "only the slow one:\n{}", httpd.error_log());
    let line = &lines[0];
    assert!(line.contains("[fcgid:warn]"), "{line}");
    let www = httpd.www().display().to_string();
    for want in [
        "slow request /echo.fcgi: ".to_string(),
        "in mod_fcgid (waiting for a process ".to_string(),
        "over FcgidSlowRequestLog 1.000 s".to_string(),
        format!("; pid {pid}, class "),
        format!("|{www}/echo.fcgi|"),
    ] {
        assert!(line.contains(&want), "{want:?} in {line}");
    }
    // The app's time is at least the 2.5 s it slept.
    let app = line.split(", app ").nth(1).unwrap();
    let secs: f64 = app.split(' ').next().unwrap().parse().unwrap();
    assert!(secs >= 2.5, "{line}");
}

#[test]
fn a_503_after_the_wait_has_its_wait_note_and_a_slow_line() {
    let conf = LOG_CONF.to_string()
        + "FcgidMaxProcessesPerClass 1\n\
           FcgidProcessWaitTimeout 1\n\
           FcgidSlowRequestLog 500ms\n";
    let httpd = Httpd::new("refused-notes", Mpm::Event, &["echo"], &conf).start();
    assert_eq!(httpd.get("/echo.fcgi/warm?pid").status, 200);
    // The class's only process is held by a long request...
    let hold = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "--max-time", "60"])
        .arg(httpd.url("/echo.fcgi/hold?sleep_ms=6000"))
        .spawn()
        .expect("run curl");
    common::eventually(20, "the process is busy", || {
        httpd.pm_report().classes.iter().any(|c| {
            c.processes
                .iter()
                .any(|p| p.phase == fcgid_core::pm::report::Phase::Busy)
        })
    });
    // ...so this one waits its second and is refused.
    let res = httpd.get("/echo.fcgi/refused");
    assert_eq!(res.status, 503);
    let (wait, app, pid, class) = notes(&line_for(&httpd, "/echo.fcgi/refused"));
    let wait: u64 = wait.parse().expect("wait in µs");
    // Measured from before asking; the manager refuses at its deadline.
    assert!(wait >= 900_000, "wait {wait} µs, for a 1 s limit");
    assert_eq!(
        (app.as_str(), pid.as_str()),
        ("-", "-"),
        "no process served it"
    );
    assert_eq!(class, httpd.pm_report().classes[0].key);
    httpd.wait_for_log("the refused request's slow line", |log| {
        log.contains("slow request /echo.fcgi/refused: ")
    });
    let lines = slow_lines(&httpd, "/echo.fcgi/refused");
    assert_eq!(lines.len(), 1, "{}", httpd.error_log());
    for want in ["waiting for a process 1.", "app none", "pid none, class "] {
        assert!(lines[0].contains(want), "{want:?} in {}", lines[0]);
    }
    let mut hold = hold;
    let _ = hold.wait();
}
