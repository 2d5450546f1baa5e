//! `cgi-fcgi` against libfcgi's own (Debian's /usr/bin/cgi-fcgi): the same
//! apps, environment and input for every form, compared byte for byte,
//! except where ours is the documented improvement (docs/cgi-fcgi.md);
//! there the test shows what the original does and what ours does. Last, a
//! real httpd runs ours as a CGI script under mod_cgid.

mod common;

use std::ffi::OsString;
use std::fmt;
use std::io::Write;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{Httpd, Mpm, Scratch};

const ORIGINAL: &str = "/usr/bin/cgi-fcgi";
/// Ours: $CGI_FCGI, else the workspace's debug build (`cargo build`).
fn our_bridge() -> String {
    std::env::var("CGI_FCGI").unwrap_or_else(|_| {
        let p = concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/cgi-fcgi");
        assert!(
            std::path::Path::new(p).exists(),
            "{p} is missing: run `cargo build` first"
        );
        p.to_string()
    })
}
const HELLO: &str = "Content-type: text/html\r\n\r\nHello world!<br>\r\nRequest number";

/// What a run of a bridge produced.
#[derive(PartialEq, Eq)]
struct Out {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Out {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

impl fmt::Debug for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            self.stdout(),
            self.stderr()
        )
    }
}

/// Runs `bin` with exactly `env` and `stdin`; kills it after 30 s.
fn run_env(bin: &str, args: &[&str], env: &[(OsString, OsString)], stdin: &[u8]) -> Out {
    let mut child = Command::new(bin)
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {bin}: {e}"));
    let pid = child.id();
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    // A bridge may exit without reading all of its input.
    std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    let out = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("{bin} {args:?} did not finish in 30 s");
        }
    };
    Out {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: out.stderr,
    }
}

fn env_of(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
    pairs
        .iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect()
}

/// A fixed CGI/1.1 environment, as a web server would give a script.
fn cgi_env(method: &str, query: &str, body_len: Option<usize>) -> Vec<(OsString, OsString)> {
    let mut env = env_of(&[
        ("GATEWAY_INTERFACE", "CGI/1.1"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("SERVER_SOFTWARE", "test"),
        ("SERVER_NAME", "localhost"),
        ("SERVER_PORT", "80"),
        ("REMOTE_ADDR", "127.0.0.1"),
        ("REQUEST_METHOD", method),
        ("QUERY_STRING", query),
        ("SCRIPT_NAME", "/cgi-bin/app"),
        ("PATH_INFO", "/extra/path"),
    ]);
    if let Some(len) = body_len {
        env.extend(env_of(&[
            ("CONTENT_LENGTH", &len.to_string()),
            ("CONTENT_TYPE", "application/octet-stream"),
        ]));
    }
    env
}

fn get_env() -> Vec<(OsString, OsString)> {
    cgi_env("GET", "", None)
}

/// Runs the original and ours the same way; asserts identical results.
fn same(args: &[&str], env: &[(OsString, OsString)], stdin: &[u8]) -> Out {
    same2(args, args, env, stdin)
}

/// Like `same`, with each bridge's own arguments (its own socket or app).
fn same2(original: &[&str], ours: &[&str], env: &[(OsString, OsString)], stdin: &[u8]) -> Out {
    let theirs = run_env(ORIGINAL, original, env, stdin);
    let mine = run_env(&our_bridge(), ours, env, stdin);
    assert_eq!(
        mine, theirs,
        "ours {ours:?} differs from the original {original:?}"
    );
    mine
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// An app built into the scratch dir, serving on a Unix socket there.
fn serve_unix(scratch: &Scratch, app: &str, sock: &str, env: &[(&str, &str)]) -> PathBuf {
    let exe = scratch.path(&format!("{app}.fcgi"));
    if !exe.exists() {
        common::build_app(app, &scratch.dir);
    }
    let path = scratch.path(sock);
    scratch.serve(&exe, UnixListener::bind(&path).unwrap(), env);
    path
}

/// The exact response ours writes on a failure.
fn error_response(status: &str, text: &str) -> String {
    let body = format!("{status}: {text}\n");
    format!(
        "Status: {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

const BAD_GATEWAY: &str = "502 Bad Gateway";

#[test]
fn usage_errors_match_the_original() {
    let scratch = Scratch::new("usage");
    let bad_file = scratch.path("bad-cmd");
    std::fs::write(&bad_file, "#!/usr/bin/cgi-fcgi -f\n-bind -y\n").unwrap();
    let cases: &[&[&str]] = &[
        &[],
        &["-x"],
        &["-"],
        &["-connect"],
        &["-bind"],
        &["-start", "-connect", "s"],
        &["-connect", "s", "app", "0"],
        &["-connect", "s", "app", "2", "3"],
        &["-connect", "s", "app", "x"],
        &["-f"],
        &["-f", "/nonexistent/cmd"],
        &["-f", s(&bad_file)],
    ];
    for args in cases {
        let out = same(args, &get_env(), b"");
        assert_eq!(out.code, Some(1), "{args:?}");
        assert!(out.stdout.is_empty());
        assert!(
            out.stderr()
                .contains("\nUsage:\n    cgi-fcgi -f <cmdPath> , or\n"),
            "{args:?}: {out:?}"
        );
    }
}

#[test]
fn argument_mistakes_the_original_lets_through_are_usage_errors() {
    let scratch = Scratch::new("args-diff");
    let missing = scratch.path("missing.sock");
    let usage_start = |out: &Out, first_line: &str| {
        assert_eq!(out.code, Some(1), "{out:?}");
        assert!(out.stdout.is_empty());
        assert!(
            out.stderr().starts_with(&format!("{first_line}\nUsage:\n")),
            "{out:?}"
        );
    };

    // -bind with -start: the original tries nothing and exits 0.
    let args = ["-bind", "-start", "-connect", s(&missing)];
    let theirs = run_env(ORIGINAL, &args, &get_env(), b"");
    assert_eq!(theirs.code, Some(0));
    assert_eq!(
        theirs.stderr(),
        format!("Could not connect to {}\n", s(&missing))
    );
    usage_start(
        &run_env(&our_bridge(), &args, &get_env(), b""),
        "-bind and -start cannot be used together",
    );

    // An error before -f: the original prints it and goes on.
    let cmd = scratch.path("cmd");
    std::fs::write(&cmd, format!("-bind -connect {}\n", s(&missing))).unwrap();
    let args = ["-x", "-f", s(&cmd)];
    let theirs = run_env(ORIGINAL, &args, &get_env(), b"");
    assert_eq!(theirs.code, Some(2)); // ENOENT from connecting
    assert!(theirs
        .stderr()
        .starts_with("Unknown option -x\nCould not connect"));
    usage_start(
        &run_env(&our_bridge(), &args, &get_env(), b""),
        "Unknown option -x",
    );

    // A port with junk after it: the original reads "1x" as port 1.
    let args = ["-bind", "-connect", "127.0.0.1:1x"];
    let theirs = run_env(ORIGINAL, &args, &get_env(), b"");
    assert_eq!(theirs.code, Some(111), "{theirs:?}"); // refused on port 1
    usage_start(
        &run_env(&our_bridge(), &args, &get_env(), b""),
        "bad port number in 127.0.0.1:1x: expected 1 to 65535",
    );
}

/// (what, environment, standard input).
type Case = (&'static str, Vec<(OsString, OsString)>, Vec<u8>);

/// Requests whose answers the cgienv app makes deterministic; each is run
/// through both bridges against the same app.
fn request_cases() -> Vec<Case> {
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut odd_env = get_env();
    odd_env.push((
        OsString::from("NOT_UTF8"),
        OsString::from_vec(b"\xff\xfe".to_vec()),
    ));
    odd_env.push((OsString::from("HUGE"), OsString::from("v".repeat(100_000))));
    odd_env.push((OsString::from("EMPTY"), OsString::new()));
    vec![
        ("GET", get_env(), vec![]),
        (
            "stderr and exit status",
            cgi_env("GET", "stderr&exit=5", None),
            vec![],
        ),
        (
            "POST",
            cgi_env("POST", "a=1", Some(11)),
            b"hello=world".to_vec(),
        ),
        (
            "300 KB body echoed",
            cgi_env("PUT", "", Some(big.len())),
            big,
        ),
        ("short body", cgi_env("POST", "", Some(10)), b"abc".to_vec()),
        (
            "no CONTENT_LENGTH",
            cgi_env("POST", "", None),
            b"ignored".to_vec(),
        ),
        ("odd environment", odd_env, vec![]),
    ]
}

fn check_request_cases(original: &[&str], ours: &[&str]) {
    for (what, env, stdin) in request_cases() {
        let out = same2(original, ours, &env, &stdin);
        // Guard against both failing alike.
        let text = out.stdout();
        assert!(
            text.starts_with("Content-Type: text/plain\r\n\r\n"),
            "{what}: {out:?}"
        );
        assert!(text.contains("SCRIPT_NAME=/cgi-bin/app\n"), "{what}");
        match what {
            "stderr and exit status" => {
                assert_eq!(out.code, Some(5));
                assert_eq!(out.stderr(), "a line on stderr\n");
            }
            "POST" => assert!(text.ends_with("body=hello=world\nbody_len=11\n"), "{text}"),
            "300 KB body echoed" => {
                assert!(text.ends_with("\nbody_len=300000\n"), "{what}");
                assert!(out.stdout.len() > 300_000);
            }
            "short body" => assert!(text.ends_with("body=abc\nbody_len=3\n"), "{text}"),
            "no CONTENT_LENGTH" => assert!(text.ends_with("body=\nbody_len=0\n"), "{text}"),
            "odd environment" => {
                assert!(out.stdout.windows(12).any(|w| w == b"NOT_UTF8=\xff\xfe\n"));
                assert!(text.contains(&format!("HUGE={}\n", "v".repeat(100_000))));
                assert!(text.contains("\nEMPTY=\n"));
            }
            _ => assert_eq!(out.code, Some(0)),
        }
        if what != "stderr and exit status" {
            assert_eq!((out.code, out.stderr()), (Some(0), String::new()), "{what}");
        }
    }
}

#[test]
fn bind_on_a_unix_socket_matches_the_original() {
    let scratch = Scratch::new("bind-unix");
    let sock = serve_unix(&scratch, "cgienv", "env.sock", &[]);
    let args = ["-bind", "-connect", s(&sock)];
    check_request_cases(&args, &args);
}

#[test]
fn bind_over_tcp_matches_the_original() {
    let scratch = Scratch::new("bind-tcp");
    let exe = common::build_app("cgienv", &scratch.dir);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    scratch.serve(&exe, listener, &[]);
    let name = format!("127.0.0.1:{port}");
    let args = ["-bind", "-connect", &name];
    check_request_cases(&args, &args);
    // ":port" connects to localhost.
    let name = format!(":{port}");
    let out = same(&["-bind", "-connect", &name], &get_env(), b"");
    assert!(out.stdout().contains("REQUEST_METHOD=GET\n"), "{out:?}");
}

/// For each bridge, its own copy of `app` in its own directory, so their
/// processes can be told apart.
fn apps_per_bridge(scratch: &Scratch, app: &str) -> [PathBuf; 2] {
    ["original", "ours"].map(|who| {
        let dir = scratch.path(who);
        std::fs::create_dir_all(&dir).unwrap();
        common::build_app(app, &dir)
    })
}

/// The `n` processes running `app`; waits a little for them, as the
/// original's children may not have called exec yet when it exits.
fn servers(scratch: &Scratch, app: &Path, n: usize) -> Vec<i32> {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let pids = scratch.processes_running(app);
        if pids.len() == n || std::time::Instant::now() > deadline {
            assert_eq!(
                pids.len(),
                n,
                "{} runs as {:?}",
                app.display(),
                scratch.processes()
            );
            return pids;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// (fd 0 is a socket, what fds 1 and 2 are) of a process.
fn fds(pid: i32) -> (bool, Option<PathBuf>, Option<PathBuf>) {
    let link = |n: u32| std::fs::read_link(format!("/proc/{pid}/fd/{n}")).ok();
    let zero = link(0).is_some_and(|l| l.to_string_lossy().starts_with("socket:"));
    (zero, link(1), link(2))
}

#[test]
fn start_then_bind_matches_the_original() {
    let scratch = Scratch::new("start");
    let apps = apps_per_bridge(&scratch, "hello");
    let socks = [scratch.path("original.sock"), scratch.path("ours.sock")];

    // -start: nothing on stdout or stderr, exit 0, two servers each.
    let out = same2(
        &["-start", "-connect", s(&socks[0]), s(&apps[0]), "2"],
        &["-start", "-connect", s(&socks[1]), s(&apps[1]), "2"],
        &get_env(),
        b"",
    );
    assert_eq!(out.code, Some(0));
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
    let theirs = servers(&scratch, &apps[0], 2);
    let ours = servers(&scratch, &apps[1], 2);

    // Each server has the listening socket as fd 0. The original closes
    // fds 1 and 2; ours gives them /dev/null.
    for pid in theirs {
        assert_eq!(fds(pid), (true, None, None), "original's server {pid}");
    }
    let null = Some(PathBuf::from("/dev/null"));
    for pid in ours {
        assert_eq!(
            fds(pid),
            (true, null.clone(), null.clone()),
            "our server {pid}"
        );
    }

    // -bind to what each started.
    let out = same2(
        &["-bind", "-connect", s(&socks[0])],
        &["-bind", "-connect", s(&socks[1])],
        &get_env(),
        b"",
    );
    assert_eq!(out.stdout(), format!("{HELLO} 0."));
    assert_eq!(out.code, Some(0));
}

#[test]
fn start_over_tcp_then_bind_matches_the_original() {
    let scratch = Scratch::new("start-tcp");
    let apps = apps_per_bridge(&scratch, "hello");
    let names = [0, 1].map(|_| format!("127.0.0.1:{}", common::free_port()));
    let out = same2(
        &["-start", "-connect", &names[0], s(&apps[0])],
        &["-start", "-connect", &names[1], s(&apps[1])],
        &get_env(),
        b"",
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    for n in 0..2 {
        let out = same2(
            &["-bind", "-connect", &names[0]],
            &["-bind", "-connect", &names[1]],
            &get_env(),
            b"",
        );
        assert_eq!(out.stdout(), format!("{HELLO} {n}."));
    }
    servers(&scratch, &apps[1], 1);
}

#[test]
fn connect_starts_the_app_once_and_reuses_it() {
    let scratch = Scratch::new("connect");
    let apps = apps_per_bridge(&scratch, "hello");
    let socks = [scratch.path("original.sock"), scratch.path("ours.sock")];
    let args = |i: usize| ["-connect", s(&socks[i]), s(&apps[i])];
    for n in 0..3 {
        let out = same2(&args(0), &args(1), &get_env(), b"");
        assert_eq!(out.stdout(), format!("{HELLO} {n}."));
        assert_eq!(out.code, Some(0));
    }
    servers(&scratch, &apps[0], 1);
    servers(&scratch, &apps[1], 1);

    // With a server count: that many start on the first request.
    let socks3 = [scratch.path("original3.sock"), scratch.path("ours3.sock")];
    let apps3 = [0, 1].map(|i| {
        let copy = apps[i].with_file_name("hello3.fcgi");
        std::fs::copy(&apps[i], &copy).unwrap();
        copy
    });
    let out = same2(
        &["-connect", s(&socks3[0]), s(&apps3[0]), "3"],
        &["-connect", s(&socks3[1]), s(&apps3[1]), "3"],
        &get_env(),
        b"",
    );
    assert_eq!(out.stdout(), format!("{HELLO} 0."));
    servers(&scratch, &apps3[0], 3);
    servers(&scratch, &apps3[1], 3);
}

#[test]
fn connect_over_tcp_starts_the_app_too() {
    // The original's usage text names only Unix sockets for this form, but
    // it starts a TCP listener just the same; so does ours.
    let scratch = Scratch::new("connect-tcp");
    let apps = apps_per_bridge(&scratch, "hello");
    let names = [0, 1].map(|_| format!("127.0.0.1:{}", common::free_port()));
    for n in 0..2 {
        let out = same2(
            &["-connect", &names[0], s(&apps[0])],
            &["-connect", &names[1], s(&apps[1])],
            &get_env(),
            b"",
        );
        assert_eq!(out.stdout(), format!("{HELLO} {n}."));
    }
    servers(&scratch, &apps[1], 1);
}

#[test]
fn start_failures_keep_the_original_exit_statuses() {
    let scratch = Scratch::new("start-fail");
    let app = common::build_app("hello", &scratch.dir);
    let long = s(&scratch.path(&"x".repeat(120))).to_string();
    let cases = [
        // (name, exit status, the original's line, the start of ours)
        (
            &long[..],
            232,
            "Listening socket's path name is too long.".to_string(),
            format!("Could not listen on {long}: path must be shorter than SUN_LEN"),
        ),
        (
            "nosuchhost.invalid:9",
            1,
            "Cannot resolve host name nosuchhost.invalid -- exiting!".into(),
            "Could not listen on nosuchhost.invalid:9: cannot resolve host name".into(),
        ),
    ];
    for (name, code, their_line, our_line) in cases {
        let args = ["-start", "-connect", name, s(&app)];
        let theirs = run_env(ORIGINAL, &args, &get_env(), b"");
        assert_eq!(theirs.code, Some(code), "{name}: {theirs:?}");
        assert_eq!(theirs.stderr(), format!("{their_line}\n"));
        let ours = run_env(&our_bridge(), &args, &get_env(), b"");
        assert_eq!(ours.code, Some(code), "{name}: {ours:?}");
        assert!(ours.stderr().starts_with(&our_line), "{name}: {ours:?}");
        assert_eq!(ours.stderr().lines().count(), 1);
        // -start serves no request: no response.
        assert!(ours.stdout.is_empty() && theirs.stdout.is_empty());
    }

    // A port in use: the original exits with perror()'s leftover errno.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let name = taken.local_addr().unwrap().to_string();
    let args = ["-start", "-connect", &name, s(&app)];
    let theirs = run_env(ORIGINAL, &args, &get_env(), b"");
    assert_eq!(theirs.stderr(), "bind/listen: Address already in use\n");
    assert_ne!(theirs.code, Some(98), "{theirs:?}");
    let ours = run_env(&our_bridge(), &args, &get_env(), b"");
    assert_eq!(ours.code, Some(98), "{ours:?}");
    let line = format!("Could not listen on {name}: Address already in use");
    assert!(ours.stderr().starts_with(&line), "{ours:?}");
    servers(&scratch, &app, 0);
}

#[test]
fn an_app_that_is_not_executable_matches_the_original() {
    let scratch = Scratch::new("noexec");
    let app = scratch.path("app.fcgi");
    std::fs::write(&app, "not a program").unwrap();
    let out = same2(
        &["-start", "-connect", s(&scratch.path("a.sock")), s(&app)],
        &["-start", "-connect", s(&scratch.path("b.sock")), s(&app)],
        &get_env(),
        b"",
    );
    assert_eq!(out.code, Some(1));
    assert_eq!(out.stderr(), format!("{} is not executable\n", s(&app)));
    // The original has made its socket by then; ours checks first.
    assert!(scratch.path("a.sock").exists());
    assert!(!scratch.path("b.sock").exists());
}

/// Writes an executable script: `#!<bridge> -f` and then `rest`.
fn script(path: &Path, bridge: &str, rest: &str) -> PathBuf {
    std::fs::write(path, format!("#!{bridge} -f\n{rest}")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_path_buf()
}

#[test]
fn command_files_match_the_original() {
    let scratch = Scratch::new("cmdfile");
    let sock = serve_unix(&scratch, "cgienv", "env.sock", &[]);
    let env = cgi_env("POST", "q", Some(4));
    let check = |out: &Out| {
        assert_eq!(out.code, Some(0), "{out:?}");
        assert!(out.stdout().ends_with("body=data\nbody_len=4\n"), "{out:?}");
    };

    // Comments, arguments over several lines; words after the file are
    // ignored (a web server may add some from the query string).
    let file = scratch.path("cmd");
    std::fs::write(
        &file,
        format!(
            "#!/usr/bin/cgi-fcgi -f\n# a comment\n-bind\n-connect {}\n",
            s(&sock)
        ),
    )
    .unwrap();
    check(&same(&["-f", s(&file), "extra", "words"], &env, b"data"));

    // A file naming another file.
    let outer = scratch.path("outer");
    std::fs::write(&outer, format!("-f {}\n", s(&file))).unwrap();
    check(&same(&["-f", s(&outer)], &env, b"data"));

    // Run as a script, the way a web server runs CGI: the kernel passes
    // "-f" and the script's path.
    let rest = format!("-bind -connect {}\n", s(&sock));
    let theirs = script(&scratch.path("theirs.cgi"), ORIGINAL, &rest);
    let ours = script(&scratch.path("ours.cgi"), &our_bridge(), &rest);
    let original = run_env(s(&theirs), &[], &env, b"data");
    check(&original);
    assert_eq!(run_env(s(&ours), &[], &env, b"data"), original);

    // The form that starts the app, from a file.
    let apps = apps_per_bridge(&scratch, "hello");
    let files = [0, 1].map(|i| {
        let f = scratch.path(&format!("start-cmd-{i}"));
        let sock = scratch.path(&format!("hello-{i}.sock"));
        std::fs::write(&f, format!("-connect {} {}\n", s(&sock), s(&apps[i]))).unwrap();
        f
    });
    for n in 0..2 {
        let out = same2(
            &["-f", s(&files[0])],
            &["-f", s(&files[1])],
            &get_env(),
            b"",
        );
        assert_eq!(out.stdout(), format!("{HELLO} {n}."));
    }
}

#[test]
fn command_file_quirks_of_the_original_are_fixed() {
    let scratch = Scratch::new("cmdfile-quirks");
    let sock = serve_unix(&scratch, "cgienv", "env.sock", &[]);
    let sock = s(&sock);
    let many = format!("{}-connect {sock}\n", "-bind ".repeat(20));
    let cases = [
        // (what, file text, the original's exit status and stderr start)
        (
            "no newline at the end",
            format!("-bind -connect {sock}"),
            1,
            "Line to long\n".to_string(),
        ),
        (
            "a tab",
            format!("-bind\t-connect {sock}\n"),
            1,
            "Unknown option -bind\t-connect\n".into(),
        ),
        (
            "CRLF",
            format!("-bind -connect {sock}\r\n"),
            2,
            format!("Could not connect to {sock}\r\n"),
        ),
        (
            "over 15 words",
            many,
            255,
            "To many arguments, 16 is max from a file\n".into(),
        ),
    ];
    for (what, text, code, stderr) in cases {
        let file = scratch.path("cmd");
        std::fs::write(&file, text).unwrap();
        let theirs = run_env(ORIGINAL, &["-f", s(&file)], &get_env(), b"");
        assert_eq!(theirs.code, Some(code), "{what}: {theirs:?}");
        assert!(theirs.stderr().starts_with(&stderr), "{what}: {theirs:?}");
        let ours = run_env(&our_bridge(), &["-f", s(&file)], &get_env(), b"");
        assert_eq!(ours.code, Some(0), "{what}: {ours:?}");
        assert!(
            ours.stdout().contains("REQUEST_METHOD=GET\n"),
            "{what}: {ours:?}"
        );
    }
}

#[test]
fn failing_connects_give_a_502_response() {
    let scratch = Scratch::new("noconnect");
    let missing = scratch.path("missing.sock");
    let stale = scratch.path("stale.sock");
    drop(UnixListener::bind(&stale).unwrap()); // the file stays, nobody listens
    let refused = format!("127.0.0.1:{}", common::free_port());
    let too_long = s(&scratch.path(&"x".repeat(120))).to_string();
    let cases = [
        (s(&missing), 2, "No such file or directory"),
        (s(&stale), 111, "Connection refused"),
        (&refused[..], 111, "Connection refused"),
        (
            "nosuchhost.invalid:80",
            232,
            "unknown host nosuchhost.invalid",
        ),
        (&too_long[..], 232, "path must be shorter than SUN_LEN"),
    ];
    for (name, code, cause) in cases {
        let args = ["-bind", "-connect", name];
        let theirs = run_env(ORIGINAL, &args, &get_env(), b"");
        let ours = run_env(&our_bridge(), &args, &get_env(), b"");
        // The same exit status; the original writes no response.
        assert_eq!(theirs.code, Some(code), "{name}: {theirs:?}");
        assert!(theirs.stdout.is_empty());
        assert_eq!(ours.code, Some(code), "{name}: {ours:?}");
        assert_eq!(
            ours.stdout(),
            error_response(BAD_GATEWAY, "could not connect to the FastCGI application")
        );
        // One line naming the cause.
        let line = ours.stderr();
        assert!(
            line.starts_with(&format!("Could not connect to {name}: ")),
            "{line}"
        );
        assert!(line.contains(cause) && line.ends_with('\n'), "{line}");
        assert_eq!(line.lines().count(), 1, "{line}");
    }
    let theirs = run_env(
        ORIGINAL,
        &["-bind", "-connect", s(&missing)],
        &get_env(),
        b"",
    );
    assert_eq!(
        theirs.stderr(),
        format!("Could not connect to {}\n", s(&missing))
    );
}

#[test]
fn app_failures_give_a_502_response() {
    let scratch = Scratch::new("app-fail");
    // (mode, the original's exit status, and ours: exit status, stdout, stderr start)
    let no_answer = error_response(
        BAD_GATEWAY,
        "the FastCGI application did not complete the request",
    );
    let invalid = error_response(
        BAD_GATEWAY,
        "the FastCGI application sent an invalid response",
    );
    let overloaded = error_response(
        "503 Service Unavailable",
        "the FastCGI application is overloaded",
    );
    let partial = "Content-Type: text/plain\r\n\r\npartial".to_string();
    let cases = [
        (
            "die",
            253,
            253,
            no_answer,
            "closed the connection before ending the request",
        ),
        (
            "garbage",
            254,
            254,
            invalid,
            "sent a bad record: FastCGI record has version 83",
        ),
        (
            "overloaded",
            253,
            253,
            overloaded,
            "refused the request: application overloaded",
        ),
        // Headers already went out: no error response, the same bytes.
        (
            "partial",
            253,
            253,
            partial.clone(),
            "closed the connection before ending the request",
        ),
        // Ours skips management records and unknown types.
        (
            "unknown",
            253,
            0,
            "Content-Type: text/plain\r\n\r\nafter unknown records\n".into(),
            "",
        ),
    ];
    for (mode, their_code, our_code, our_stdout, cause) in cases {
        let sock = serve_unix(
            &scratch,
            "misbehave",
            &format!("{mode}.sock"),
            &[("MISBEHAVE", mode)],
        );
        let args = ["-bind", "-connect", s(&sock)];
        let theirs = run_env(ORIGINAL, &args, &get_env(), b"");
        assert_eq!(theirs.code, Some(their_code), "{mode}: {theirs:?}");
        assert!(theirs.stderr.is_empty(), "{mode}: {theirs:?}");
        let expect_theirs = if mode == "partial" { &partial[..] } else { "" };
        assert_eq!(theirs.stdout(), expect_theirs, "{mode}");

        let ours = run_env(&our_bridge(), &args, &get_env(), b"");
        assert_eq!(ours.code, Some(our_code), "{mode}: {ours:?}");
        assert_eq!(ours.stdout(), our_stdout, "{mode}");
        if cause.is_empty() {
            assert!(ours.stderr.is_empty(), "{mode}: {ours:?}");
        } else {
            let line = ours.stderr();
            let at = format!("FastCGI application at {} {cause}", s(&sock));
            assert!(line.starts_with(&at), "{mode}: {line}");
            assert_eq!(line.lines().count(), 1, "{mode}: {line}");
        }
    }

    // A well-behaved answer from the same app: identical.
    let sock = serve_unix(
        &scratch,
        "misbehave",
        "status.sock",
        &[("MISBEHAVE", "status")],
    );
    let out = same(&["-bind", "-connect", s(&sock)], &get_env(), b"");
    assert_eq!(out.code, Some(7));
    assert_eq!(
        out.stdout(),
        "Content-Type: text/plain\r\n\r\napp status 7\n"
    );
    assert_eq!(out.stderr(), "a line on stderr\n");
}

#[test]
fn only_content_length_bytes_of_input_are_sent() {
    let scratch = Scratch::new("body-len");
    let sock = serve_unix(&scratch, "cgienv", "env.sock", &[]);
    let args = ["-bind", "-connect", s(&sock)];
    let env = cgi_env("POST", "", Some(5));
    // The original sends whatever the read of standard input returned.
    let theirs = run_env(ORIGINAL, &args, &env, b"hello world");
    assert!(
        theirs.stdout().ends_with("body=hello world\nbody_len=11\n"),
        "{theirs:?}"
    );
    let ours = run_env(&our_bridge(), &args, &env, b"hello world");
    assert!(
        ours.stdout().ends_with("body=hello\nbody_len=5\n"),
        "{ours:?}"
    );
}

#[test]
fn concurrent_first_requests_start_the_app_once() {
    let scratch = Scratch::new("concurrent");
    let app = common::build_app("hello", &scratch.dir);
    let sock = scratch.path("hello.sock");
    let runs: Vec<_> = (0..8)
        .map(|_| {
            let (sock, app) = (sock.clone(), app.clone());
            std::thread::spawn(move || {
                run_env(
                    &our_bridge(),
                    &["-connect", s(&sock), s(&app)],
                    &get_env(),
                    b"",
                )
            })
        })
        .collect();
    let mut numbers: Vec<u32> = runs
        .into_iter()
        .map(|r| {
            let out = r.join().unwrap();
            assert_eq!(out.code, Some(0), "{out:?}");
            let text = out.stdout();
            let n = text.strip_prefix(HELLO).and_then(|t| t.strip_suffix('.'));
            n.unwrap_or_else(|| panic!("{text:?}"))
                .trim()
                .parse()
                .unwrap()
        })
        .collect();
    numbers.sort();
    // One server answered all eight, in turn.
    assert_eq!(numbers, (0..8).collect::<Vec<_>>());
    servers(&scratch, &app, 1);
}

/// The configuration that runs CGI scripts from `{root}/cgi-bin` through
/// mod_cgid.
fn cgid_conf(root: &Path) -> String {
    let m = common::MODULES;
    format!(
        "LoadModule alias_module {m}/mod_alias.so\n\
         LoadModule cgid_module {m}/mod_cgid.so\n\
         ScriptSock {root}/logs/cgisock\n\
         ScriptAlias /cgi-bin/ {root}/cgi-bin/\n\
         <Directory {root}/cgi-bin>\n  Require all granted\n</Directory>\n",
        root = root.display()
    )
}

fn uid_of(pid: i32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(1).unwrap().to_string()
}

#[test]
fn httpd_runs_it_as_a_cgi_script_under_mod_cgid() {
    let httpd = Httpd::new("cgi-fcgi", Mpm::Event, &["hello"], "");
    let root = httpd.root.clone();
    httpd.append_conf(&cgid_conf(&root));
    // The bridge, the scripts, and a socket directory www-data may write:
    // the first request starts the app as www-data.
    for (dir, mode) in [("bin", 0o755), ("cgi-bin", 0o755), ("sock", 0o777)] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
        std::fs::set_permissions(root.join(dir), std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let bridge = root.join("bin/cgi-fcgi");
    std::fs::copy(our_bridge(), &bridge).unwrap();
    let app = httpd.www().join("hello.fcgi");
    let sock = root.join("sock/hello.sock");
    script(
        &root.join("cgi-bin/hello"),
        s(&bridge),
        &format!(
            "# started by the first request\n-connect {} {}\n",
            s(&sock),
            s(&app)
        ),
    );
    let missing = root.join("sock/missing.sock");
    script(
        &root.join("cgi-bin/broken"),
        s(&bridge),
        &format!("-bind -connect {}\n", s(&missing)),
    );
    let httpd = httpd.start();

    for n in 0..2 {
        let r = httpd.get("/cgi-bin/hello");
        assert_eq!(r.status, 200, "{}\n{}", r.text(), httpd.error_log());
        assert_eq!(r.text(), format!("Hello world!<br>\r\nRequest number {n}."));
        assert_eq!(r.header("Content-Type"), Some("text/html"));
    }
    // One app, started by the first request, running as www-data.
    let apps = httpd.app_pids();
    assert_eq!(apps.len(), 1, "{:?}", httpd.processes());
    let www_data = Command::new("id")
        .args(["-u", "www-data"])
        .output()
        .unwrap();
    assert_eq!(
        uid_of(apps[0]),
        String::from_utf8_lossy(&www_data.stdout).trim()
    );

    // Nothing listening: a 502 for the client, the cause in the error log.
    let r = httpd.get("/cgi-bin/broken");
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(
        r.text(),
        "502 Bad Gateway: could not connect to the FastCGI application\n"
    );
    httpd.wait_for_log("the bridge's line", |log| {
        log.contains(&format!(
            "Could not connect to {}: No such file or directory",
            s(&missing)
        ))
    });
    // Dropping `httpd` stops it and kills the app, which outlives httpd by
    // design (as with the original).
}
