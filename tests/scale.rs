//! A big shared host (issue 12): thousands of classes under one httpd, the
//! status page whole at that size, and FcgidMaxProcesses making room for a
//! new class by stopping the process idle longest.

mod common;
use common::{build_app, Httpd, Mpm, MODULES};
use fcgid_core::pm::wire;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

fn status_conf() -> String {
    format!(
        "LoadModule status_module {MODULES}/mod_status.so\n<Location /server-status>\n  \
         SetHandler server-status\n</Location>\nExtendedStatus On\n\
         <Location /fcgid-status>\n  SetHandler fcgid-status\n</Location>\n"
    )
}

/// Lines of `page` that start with `start` and name `needle`.
fn count_lines(page: &str, start: &str, needle: &str) -> usize {
    page.lines()
        .filter(|l| l.starts_with(start) && l.contains(needle))
        .count()
}

/// `n` copies of the hello app in www/ as siteNNNN.fcgi: copies, not
/// links, since a class is identified by the executable's inode.
fn copy_hello(www: &Path, n: usize) -> Vec<String> {
    let built = build_app("hello", www);
    let names: Vec<String> = (0..n).map(|i| format!("site{i:04}.fcgi")).collect();
    for name in &names {
        std::fs::copy(&built, www.join(name)).unwrap();
    }
    std::fs::remove_file(built).unwrap();
    names
}

/// One GET over a fresh connection (no curl per request: thousands of
/// them); the status code, or 0 if the answer was not HTTP.
fn raw_get(port: u16, path: &str) -> u16 {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return 0;
    }
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let head = String::from_utf8_lossy(&answer[..answer.len().min(64)]).into_owned();
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn two_thousand_classes_are_served_and_all_listed_on_the_status_page() {
    const N: usize = 2000;
    let httpd = Httpd::new(
        "scale",
        Mpm::Event,
        &[],
        &(status_conf()
            + "FcgidMaxProcesses 3000\nFcgidMinProcessesPerClass 0\n\
               FcgidProcessWaitTimeout 60\n"),
    );
    let names = copy_hello(&httpd.www(), N);
    let httpd = httpd.start();

    // One request to each class, 8 at a time.
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let failed = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(name) = names.get(i) else { break };
                let status = raw_get(httpd.port, &format!("/{name}"));
                if status != 200 {
                    failed.lock().unwrap().push((name.clone(), status));
                }
            });
        }
    });
    let pass = started.elapsed();
    let failed = failed.into_inner().unwrap();
    assert!(
        failed.is_empty(),
        "{} of {N} classes not served, e.g. {:?}; log tail:\n{}",
        failed.len(),
        &failed[..failed.len().min(5)],
        tail(&httpd.error_log())
    );

    // ?auto counts them all.
    let t = Instant::now();
    let auto = httpd.get("/server-status?auto");
    let auto_time = t.elapsed();
    assert_eq!(auto.status, 200);
    let auto = auto.text();
    assert!(
        auto.lines().any(|l| l == format!("FcgidClasses: {N}")),
        "{}",
        &auto[..auto.len().min(2000)]
    );
    assert!(auto.lines().any(|l| l == format!("FcgidProcesses: {N}")));
    let commands = auto
        .lines()
        .filter(|l| l.starts_with("FcgidClass") && l.contains("Command: "))
        .count();
    assert_eq!(commands, N, "one Command line per class");

    // The HTML has a row for each class, each named.
    let t = Instant::now();
    let html = httpd.get("/server-status");
    let html_time = t.elapsed();
    assert_eq!(html.status, 200);
    let html = html.text();
    assert!(!html.contains("did not answer"), "{}", tail(&html));
    let www = httpd.www().display().to_string();
    let rows = html
        .lines()
        .filter(|l| l.starts_with("<tr><td>") && l.contains(&format!("{www}/site")))
        .count();
    assert_eq!(rows, N, "class rows in the pools table");
    for name in &names {
        assert!(html.contains(&format!("{www}/{name}")), "{name} missing");
    }

    // Our handler: the summary (the default) and ?full list every class;
    // ?full also every process (one each here).
    let mut sizes = Vec::new();
    let site = format!("{www}/site");
    for (path, rows, sections) in [("/fcgid-status", N, 0), ("/fcgid-status?full", N, N)] {
        let t = Instant::now();
        let res = httpd.get(path);
        sizes.push(format!(
            "{path} {} bytes in {:?}",
            res.body.len(),
            t.elapsed()
        ));
        assert_eq!(res.status, 200, "{path}");
        let page = res.text();
        assert_eq!(
            count_lines(&page, "<tr", "data-class="),
            rows,
            "{path}: class rows"
        );
        assert_eq!(
            count_lines(&page, "<details ", &site),
            sections,
            "{path}: sections"
        );
        for name in &names {
            assert!(
                page.contains(&format!("{www}/{name}")),
                "{path}: {name} missing"
            );
        }
        let procs = page.matches("<td>Ready</td>").count();
        assert_eq!(
            procs,
            if sections > 0 { N } else { 0 },
            "{path}: process rows"
        );
    }
    for (path, pids) in [
        ("/fcgid-status?format=json", 0),
        ("/fcgid-status?format=json&full", N),
        ("/fcgid-status?format=openmetrics", 0),
        ("/fcgid-status?format=openmetrics&full", N),
    ] {
        let t = Instant::now();
        let res = httpd.get(path);
        sizes.push(format!(
            "{path} {} bytes in {:?}",
            res.body.len(),
            t.elapsed()
        ));
        assert_eq!(res.status, 200, "{path}");
        let text = res.text();
        let (classes, procs) = if path.contains("json") {
            (
                text.matches("\"key\":").count(),
                text.matches("\"pid\":").count() - 1,
            )
        } else {
            (
                count_lines(&text, "fcgid_class_info{", &site),
                count_lines(&text, "fcgid_process_requests_total{", &site),
            )
        };
        assert_eq!((classes, procs), (N, pids), "{path}");
    }

    // The manager's answer: a frame per class, whatever the number of
    // classes, so no frame limit can cut it.
    let report = httpd.pm_report();
    assert_eq!(report.classes.len(), N);
    let mut frames = Vec::new();
    fcgid_core::pm::report::encode_frames(&mut frames, &report);
    let (mut at, mut largest) = (0, 0);
    while let Some((_, used)) = wire::Message::decode_at(&frames[at..]).unwrap() {
        (at, largest) = (at + used, largest.max(used));
    }
    assert_eq!(at, frames.len());
    assert!(largest < 4096, "{largest} bytes in one frame");
    let frame = frames;
    eprintln!(
        "scale: {N} classes served in {pass:?}; ?auto {} bytes in {auto_time:?}, \
         HTML {} bytes in {html_time:?}; manager's frames {} bytes; {}",
        auto.len(),
        html.len(),
        frame.len(),
        sizes.join("; ")
    );
}

#[test]
fn a_full_server_stops_the_idle_longest_process_to_serve_a_new_class() {
    let httpd = Httpd::new(
        "evict",
        Mpm::Event,
        &[],
        &(status_conf()
            + "FcgidMaxProcesses 4\nFcgidMinProcessesPerClass 0\n\
               FcgidProcessWaitTimeout 30\n"),
    );
    let names = copy_hello(&httpd.www(), 5);
    let httpd = httpd.start();
    // Four classes, one process each, warmed in order: site0000 idles longest.
    for name in &names[..4] {
        assert_eq!(httpd.get(&format!("/{name}")).status, 200);
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(httpd.pm_number("processes"), 4);

    // The fifth is served at once: no 503, and not after a wait anywhere
    // near FcgidProcessWaitTimeout (idle timeouts are 300 s).
    let t = Instant::now();
    let fifth = httpd.get(&format!("/{}", names[4]));
    let took = t.elapsed();
    assert_eq!(fifth.status, 200, "{}", tail(&httpd.error_log()));
    assert!(took < Duration::from_secs(15), "took {took:?}");

    // The report: site0000's process was evicted, the others untouched,
    // and the server never went past 4.
    let rep = httpd.pm_report();
    let class = |name: &str| {
        rep.classes
            .iter()
            .find(|c| c.executable.ends_with(&format!("/{name}")))
            .unwrap_or_else(|| panic!("no class {name}: {rep:?}"))
    };
    let victim = class(&names[0]);
    assert_eq!(victim.exits_text(), "evicted=1", "{victim:?}");
    assert!(victim.processes.is_empty(), "{victim:?}");
    for name in &names[1..4] {
        let c = class(name);
        assert!(c.exits.is_empty(), "{c:?}");
        assert_eq!(c.processes.len(), 1);
    }
    assert_eq!(class(&names[4]).requests, 1);
    assert!(rep.process_count() <= 4, "{rep:?}");

    // The status page shows it in that class's exits.
    let auto = httpd.get("/server-status?auto").text();
    assert!(
        auto.lines().any(|l| l.contains("Exits: evicted=1")),
        "{auto}"
    );
    let html = httpd.get("/server-status").text();
    let www = httpd.www().display().to_string();
    let row = html
        .lines()
        .find(|l| l.starts_with("<tr><td>") && l.contains(&format!("{www}/{}", names[0])))
        .unwrap_or_else(|| panic!("no row for {}: {html}", names[0]));
    assert!(row.contains("evicted=1"), "{row}");
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
