//! The fcgid-script request path against a real httpd: spawning, reuse,
//! CGI environment, body, headers, errors.

mod common;
use common::{Httpd, Mpm};

const HELLO: &str = "Hello world!<br>\r\nRequest number";

fn hello_is_reused_under(mpm: Mpm) {
    let httpd = Httpd::new("hello", mpm, &["hello"], "").start();
    for n in 0..3 {
        let r = httpd.get("/hello.fcgi");
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), format!("{HELLO} {n}."), "response {n}");
        assert_eq!(r.header("Content-Type"), Some("text/html"));
    }
    assert_eq!(httpd.app_pids().len(), 1, "one process served all three");
    httpd.stop();
    assert!(httpd.app_pids().is_empty(), "no app process outlives httpd");
}

#[test]
fn hello_is_served_by_one_reused_process_under_event() {
    hello_is_reused_under(Mpm::Event);
}

#[test]
fn hello_is_served_by_one_reused_process_under_prefork() {
    hello_is_reused_under(Mpm::Prefork);
}

#[test]
fn hello_is_served_by_one_reused_process_under_worker() {
    hello_is_reused_under(Mpm::Worker);
}

#[test]
fn bad_targets_get_404_or_403_and_a_log_line() {
    let extra = "<Location /adir>\n SetHandler fcgid-script\n</Location>\n\
                 <Directory {WWW}/noexec>\n Options -ExecCGI\n</Directory>\n";
    let httpd = Httpd::new("bad-targets", Mpm::Event, &[], "");
    let www = httpd.www();
    std::fs::create_dir_all(www.join("adir")).unwrap();
    std::fs::create_dir_all(www.join("noexec")).unwrap();
    common::build_app("hello", &www.join("noexec"));
    let conf = std::fs::read_to_string(&httpd.conf).unwrap()
        + &extra.replace("{WWW}", &www.to_string_lossy());
    std::fs::write(&httpd.conf, conf).unwrap();
    let httpd = httpd.start();

    assert_eq!(httpd.get("/missing.fcgi").status, 404);
    httpd.wait_for_log("missing-script line", |l| {
        l.contains("script not found or unable to stat") && l.contains("missing.fcgi")
    });

    assert_eq!(httpd.get("/adir").status, 403);
    httpd.wait_for_log("directory line", |l| {
        l.contains("attempt to invoke directory as script") && l.contains("adir")
    });

    assert_eq!(httpd.get("/noexec/hello.fcgi").status, 403);
    httpd.wait_for_log("ExecCGI line", |l| {
        l.contains("Options ExecCGI is off") && l.contains("noexec/hello.fcgi")
    });
    assert!(
        httpd.app_pids().is_empty(),
        "nothing was spawned for refused requests"
    );
}

#[test]
fn environment_and_body_reach_the_app() {
    let httpd = Httpd::new("env", Mpm::Event, &["echo"], "").start();

    let r = httpd.request(
        "/echo.fcgi/extra/path?a=1&b=2",
        &["-H", "Proxy: http://evil.example:8080", "-H", "X-Test: yes"],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.field("REQUEST_METHOD").as_deref(), Some("GET"));
    assert_eq!(r.field("QUERY_STRING").as_deref(), Some("a=1&b=2"));
    assert_eq!(r.field("SCRIPT_NAME").as_deref(), Some("/echo.fcgi"));
    assert_eq!(r.field("PATH_INFO").as_deref(), Some("/extra/path"));
    assert_eq!(
        r.field("SCRIPT_FILENAME"),
        Some(format!("{}/echo.fcgi", httpd.www().display()))
    );
    assert_eq!(r.field("HTTP_X_TEST").as_deref(), Some("yes"));
    assert_eq!(
        r.field("HTTP_PROXY"),
        None,
        "httpoxy: the Proxy header must not become HTTP_PROXY"
    );

    let r = httpd.request("/echo.fcgi", &["--data-binary", "hello body"]);
    assert_eq!(r.field("REQUEST_METHOD").as_deref(), Some("POST"));
    assert_eq!(r.field("CONTENT_LENGTH").as_deref(), Some("10"));
    assert_eq!(r.field("body").as_deref(), Some("hello body"));

    // A chunked body arrives whole, with its real length.
    let r = httpd.request(
        "/echo.fcgi",
        &[
            "-H",
            "Transfer-Encoding: chunked",
            "--data-binary",
            "chunked payload",
        ],
    );
    assert_eq!(r.field("CONTENT_LENGTH").as_deref(), Some("15"));
    assert_eq!(r.field("body").as_deref(), Some("chunked payload"));

    // A body larger than one FastCGI record (64 KiB) arrives intact.
    let big: String = (0..100_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let file = httpd.root.join("big.txt");
    std::fs::write(&file, &big).unwrap();
    let r = httpd.request(
        "/echo.fcgi",
        &["--data-binary", &format!("@{}", file.display())],
    );
    assert_eq!(r.field("CONTENT_LENGTH").as_deref(), Some("100000"));
    assert_eq!(r.field("body").as_deref(), Some(big.as_str()));

    // STDERR lines go to the error log, tied to the request.
    assert_eq!(
        httpd
            .get("/echo.fcgi?stderr=something-went-sideways")
            .status,
        200
    );
    httpd.wait_for_log("the app's stderr line", |l| {
        l.lines().any(|line| {
            line.contains("[fcgid:warn]")
                && line.contains("something-went-sideways")
                && line.contains("[client 127.0.0.1")
        })
    });
}

#[test]
fn response_headers_follow_the_cgi_rules() {
    let httpd = Httpd::new("headers", Mpm::Event, &["echo", "hello"], "").start();

    let r = httpd.get("/echo.fcgi?status=404");
    assert_eq!(r.status, 404, "Status: header sets the status");

    // Location with a local path and no Status: internal GET redirect.
    let r = httpd.request("/echo.fcgi?location=/hello.fcgi", &["--data-binary", "x"]);
    assert_eq!(r.status, 200);
    assert!(
        r.text().starts_with(HELLO),
        "internal redirect serves the target: {:?}",
        r.text()
    );

    // Location with a full URL: a 302 to it.
    let r = httpd.get("/echo.fcgi?location=http://example.com/elsewhere");
    assert_eq!(r.status, 302);
    assert_eq!(r.header("Location"), Some("http://example.com/elsewhere"));

    // HEAD: the headers, no body; the process is still usable afterwards.
    let r = httpd.request("/echo.fcgi", &["-I"]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("text/plain"));
    assert!(r.body.is_empty());
    let r = httpd.get("/echo.fcgi");
    assert_eq!(r.status, 200);
    assert!(r.field("pid").is_some());
}

#[test]
fn a_crashed_app_is_replaced_for_the_next_request() {
    let httpd = Httpd::new("crash", Mpm::Event, &["echo"], "").start();
    let first: i32 = httpd.get("/echo.fcgi?pid").text().parse().unwrap();
    let r = httpd.get("/echo.fcgi?exit");
    assert!(
        r.status >= 500,
        "a request whose app dies gets a 5xx, got {}",
        r.status
    );
    let second: i32 = httpd.get("/echo.fcgi?pid").text().parse().unwrap();
    assert_ne!(first, second, "a fresh process serves the next request");
    assert!(
        !common::pid_alive(first) || httpd.app_pids().len() == 1,
        "the dead one was reaped"
    );
}

#[test]
fn a_program_that_cannot_run_gets_a_5xx_at_once_and_the_cause_logged() {
    use std::os::unix::fs::PermissionsExt;
    let httpd = Httpd::new("noexec-file", Mpm::Event, &["hello"], "");
    let script = httpd.www().join("hello.fcgi");
    // Executable by its owner (root) only: the server's user cannot run it.
    let owner_only = httpd.www().join("owner.fcgi");
    std::fs::copy(&script, &owner_only).unwrap();
    std::fs::set_permissions(&owner_only, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    let httpd = httpd.start();
    // Well before the default 64 s wait for a process: the failure is known
    // at once. Without any execute permission it is refused before a spawn,
    // with C's status (its app dies at exec).
    let r = httpd.request("/hello.fcgi", &["--max-time", "15"]);
    assert_eq!(r.status, 500);
    httpd.wait_for_log("the cause", |l| {
        l.lines().any(|line| {
            line.contains("[client 127.0.0.1") && line.contains("hello.fcgi is not executable")
        })
    });
    // Its exec fails: as C, 500 (not the 503 of a busy class), with one
    // line naming the launcher's cause, tied to the request.
    let r = httpd.request("/owner.fcgi", &["--max-time", "15"]);
    assert_eq!(r.status, 500);
    let names_cause =
        |line: &str| line.contains("cannot start") && line.contains("Permission denied");
    httpd.wait_for_log("the launcher's cause", |l| {
        l.lines()
            .any(|line| line.contains("[client 127.0.0.1") && names_cause(line))
    });
    let log = httpd.error_log();
    assert_eq!(log.lines().filter(|l| names_cause(l)).count(), 1, "{log}");
    assert!(httpd.app_pids().is_empty());
}

#[test]
fn flushed_output_reaches_the_client_before_the_app_finishes() {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let httpd = Httpd::new("stream", Mpm::Event, &["stream"], "").start();
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", httpd.port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        conn,
        "GET /stream.fcgi?pause_ms=3000 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let start = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("data: first") {
        let n = conn.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "connection closed before the first part: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    let first_after = start.elapsed();
    assert!(!String::from_utf8_lossy(&seen).contains("data: second"));
    // The app pauses 3 s after flushing: the first part must not wait for it.
    assert!(
        first_after < Duration::from_millis(2500),
        "first part took {first_after:?}"
    );
    conn.read_to_end(&mut seen).unwrap();
    assert!(String::from_utf8_lossy(&seen).contains("data: second"));
}

#[test]
fn a_stalled_app_is_cut_off_after_fcgidiotimeout_with_a_log_line() {
    let httpd = Httpd::new("iotimeout", Mpm::Event, &["echo"], "FcgidIOTimeout 1\n").start();
    let r = httpd.get("/echo.fcgi?sleep_ms=4000");
    assert!(
        r.status >= 500,
        "a stalled app gives a 5xx, got {}",
        r.status
    );
    httpd.wait_for_log("the timeout", |l| {
        l.contains("did not answer within FcgidIOTimeout")
    });
    // The stalled process is stopped; the next request gets a working one.
    assert_eq!(httpd.get("/echo.fcgi").status, 200);
}

#[test]
fn a_body_over_fcgidmaxrequestlen_gets_413_and_a_log_line() {
    let httpd = Httpd::new("maxlen", Mpm::Event, &["echo"], "FcgidMaxRequestLen 1000\n").start();
    let body = "x".repeat(1001);
    let r = httpd.request("/echo.fcgi", &["--data-binary", &body]);
    assert_eq!(r.status, 413);
    httpd.wait_for_log("the limit", |l| {
        l.contains("larger than FcgidMaxRequestLen (1000 bytes)")
    });
    let r = httpd.request("/echo.fcgi", &["--data-binary", &"y".repeat(1000)]);
    assert_eq!(r.status, 200, "a body at the limit is fine");
    assert!(httpd.app_pids().len() <= 1);
}

#[test]
fn bodies_over_fcgidmaxrequestinmem_are_spooled_and_arrive_whole() {
    let httpd = Httpd::new(
        "spool",
        Mpm::Event,
        &["echo"],
        "FcgidMaxRequestInMem 1024\nFcgidMaxRequestLen 2000000\n",
    )
    .start();
    let big: String = (0..600_000)
        .map(|i| char::from(b'A' + (i % 23) as u8))
        .collect();
    let file = httpd.root.join("spooled.txt");
    std::fs::write(&file, &big).unwrap();
    let r = httpd.request(
        "/echo.fcgi",
        &[
            "-H",
            "Transfer-Encoding: chunked",
            "--data-binary",
            &format!("@{}", file.display()),
        ],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.field("CONTENT_LENGTH").as_deref(), Some("600000"));
    assert_eq!(r.field("body").map(|b| b.len()), Some(600_000));
    assert_eq!(r.field("body").as_deref(), Some(big.as_str()));
}

/// The answer goes to httpd as buckets over the bytes read from the app,
/// passed on every FcgidOutputBufferSize bytes: however small that is, a
/// large answer (many records, many read buffers) arrives whole and in order.
#[test]
fn a_large_answer_arrives_whole_in_small_pieces() {
    let httpd = Httpd::new(
        "pieces",
        Mpm::Prefork,
        &["echo"],
        "FcgidOutputBufferSize 1000\nFcgidMaxRequestInMem 400000\nFcgidMaxRequestLen 2000000\n",
    )
    .start();
    let big: String = (0..300_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let file = httpd.root.join("pieces.txt");
    std::fs::write(&file, &big).unwrap();
    let r = httpd.request(
        "/echo.fcgi",
        &["--data-binary", &format!("@{}", file.display())],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.field("body").as_deref(), Some(big.as_str()));
}

#[test]
fn an_environment_over_64_kib_is_split_across_params_records() {
    // httpd allows such a header only when told to; the app must get it whole.
    let httpd = Httpd::new(
        "bigparams",
        Mpm::Event,
        &["echo"],
        "LimitRequestFieldSize 200000\n",
    )
    .start();
    let value = "v".repeat(80_000);
    let r = httpd.request("/echo.fcgi", &["-H", &format!("X-Test: {value}")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.field("HTTP_X_TEST").map(|v| v.len()), Some(80_000));
}

#[test]
fn a_large_body_in_memory_does_not_deadlock_an_app_that_echoes_as_it_reads() {
    // echo.fcgi writes the body back through libfcgi's buffered stdout while
    // reading it: sending 2 MiB without reading its answer would leave both
    // sides blocked on full sockets until FcgidIOTimeout.
    let conf = "FcgidMaxRequestInMem 4194304\nFcgidMaxRequestLen 4194304\nFcgidIOTimeout 15\n";
    let httpd = Httpd::new("echo-2mib", Mpm::Event, &["echo"], conf).start();
    let body: String = (0..2 << 20)
        .map(|i: u32| char::from(b'a' + (i % 26) as u8))
        .collect();
    let file = httpd.root.join("two-mib.txt");
    std::fs::write(&file, &body).unwrap();
    let started = std::time::Instant::now();
    let r = httpd.request(
        "/echo.fcgi",
        &["--data-binary", &format!("@{}", file.display())],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.field("CONTENT_LENGTH").as_deref(), Some("2097152"));
    assert!(
        r.field("body").as_deref() == Some(body.as_str()),
        "the body came back whole"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}
