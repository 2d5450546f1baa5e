//! Test harness: a real Debian `apache2` on 127.0.0.1 with our module, real
//! FastCGI apps built from tests/apps, and curl as the HTTP client.
#![allow(dead_code)]

use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const APACHE: &str = "/usr/sbin/apache2";
pub const MODULES: &str = "/usr/lib/apache2/modules";

/// The module under test: $FCGID_MODULE, else the debug build.
pub fn module_path() -> PathBuf {
    if let Ok(p) = std::env::var("FCGID_MODULE") {
        return PathBuf::from(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/debug/libmod_fcgid.so");
    assert!(
        p.exists(),
        "{} is missing: run `cargo build` (or `make test`) first",
        p.display()
    );
    p
}

/// Builds tests/apps/NAME.c into DIR/NAME.fcgi (linked with libfcgi).
pub fn build_app(name: &str, dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/apps")
        .join(format!("{name}.c"));
    let out = dir.join(format!("{name}.fcgi"));
    let status = Command::new("cc")
        .args(["-O2", "-Wall", "-o"])
        .arg(&out)
        .arg(&src)
        .arg("-lfcgi")
        .status()
        .expect("run cc");
    assert!(
        status.success(),
        "building {name}.c failed (is libfcgi-dev installed?)"
    );
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mpm {
    Event,
    Prefork,
    Worker,
}

impl Mpm {
    fn load_line(self) -> String {
        let name = match self {
            Mpm::Event => "event",
            Mpm::Prefork => "prefork",
            Mpm::Worker => "worker",
        };
        format!("LoadModule mpm_{name}_module {MODULES}/mod_mpm_{name}.so")
    }
}

static NEXT_ID: AtomicU32 = AtomicU32::new(0);

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Httpd {
    pub root: PathBuf,
    pub port: u16,
    pub conf: PathBuf,
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// `name=value` lines of the echo app.
    pub fn field(&self, name: &str) -> Option<String> {
        self.text()
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")).map(str::to_string))
    }
}

impl Httpd {
    /// A fresh server root with www/ (apps built into it), logs/ and a config:
    /// our module, `mpm`, and `extra` appended.
    pub fn new(name: &str, mpm: Mpm, apps: &[&str], extra: &str) -> Httpd {
        let id = NEXT_ID.fetch_add(1, Ordering::SeqCst);
        let root =
            std::env::temp_dir().join(format!("fcgid-test-{}-{}-{}", name, std::process::id(), id));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("www")).unwrap();
        fs::create_dir_all(root.join("logs")).unwrap();
        // httpd's children run as www-data: they must be able to read the tree.
        for dir in [&root, &root.join("www")] {
            Command::new("chmod").arg("755").arg(dir).status().unwrap();
        }
        for app in apps {
            build_app(app, &root.join("www"));
        }
        let port = free_port();
        let conf = root.join("httpd.conf");
        let text = format!(
            "ServerRoot {root}\nServerName localhost\nListen 127.0.0.1:{port}\nPidFile {root}/logs/httpd.pid\n\
             ErrorLog {root}/logs/error.log\nLogLevel info\n{mpm}\n\
             LoadModule authz_core_module {MODULES}/mod_authz_core.so\n\
             LoadModule mime_module {MODULES}/mod_mime.so\nTypesConfig /etc/mime.types\n\
             LoadModule fcgid_module {module}\nUser www-data\nGroup www-data\n\
             DocumentRoot {root}/www\n<Directory {root}/www>\n  Options +ExecCGI\n  AddHandler fcgid-script .fcgi\n  Require all granted\n</Directory>\n\
             {extra}\n",
            root = root.display(),
            mpm = mpm.load_line(),
            module = module_path().display(),
        );
        fs::write(&conf, text).unwrap();
        Httpd { root, port, conf }
    }

    pub fn www(&self) -> PathBuf {
        self.root.join("www")
    }

    /// Adds configuration after what `new` wrote (before `start`).
    pub fn append_conf(&self, text: &str) {
        let conf = fs::read_to_string(&self.conf).unwrap() + text;
        fs::write(&self.conf, conf).unwrap();
    }

    /// `apache2 -t`: Ok(output) or Err(output).
    pub fn config_test(&self) -> Result<String, String> {
        let out = Command::new(APACHE)
            .arg("-f")
            .arg(&self.conf)
            .arg("-t")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() {
            Ok(text)
        } else {
            Err(text)
        }
    }

    pub fn control(&self, action: &str) {
        let out = Command::new(APACHE)
            .arg("-f")
            .arg(&self.conf)
            .args(["-k", action])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "apache2 -k {action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn start(self) -> Httpd {
        self.control("start");
        self.wait_until_listening();
        self
    }

    /// Waits (10 s at most) until httpd accepts connections on its port.
    pub fn wait_until_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "httpd did not start; log:\n{}",
                self.error_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn parent_pid(&self) -> Option<i32> {
        fs::read_to_string(self.root.join("logs/httpd.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    pub fn error_log(&self) -> String {
        fs::read_to_string(self.root.join("logs/error.log")).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// One request with curl; `args` are extra curl arguments.
    pub fn request(&self, path: &str, args: &[&str]) -> Response {
        let out = Command::new("curl")
            .args(["-s", "-i", "--max-time", "60"])
            .args(args)
            .arg(self.url(path))
            .output()
            .expect("run curl");
        parse_response(&out.stdout)
    }

    pub fn get(&self, path: &str) -> Response {
        self.request(path, &[])
    }

    /// Waits until `pred(error log)` holds.
    pub fn wait_for_log(&self, what: &str, pred: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !pred(&self.error_log()) {
            assert!(
                Instant::now() < deadline,
                "error log never showed {what}:\n{}",
                self.error_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Processes whose command line mentions this server root (apps, and
    /// httpd itself through its -f argument).
    pub fn processes(&self) -> Vec<(i32, String)> {
        processes_matching(&self.root.to_string_lossy())
    }

    /// The app processes of this server (executables under www/).
    pub fn app_pids(&self) -> Vec<i32> {
        let www = self.www().to_string_lossy().into_owned();
        processes_matching(&www)
            .into_iter()
            .filter(|(_, cmd)| cmd.starts_with(&www))
            .map(|(p, _)| p)
            .collect()
    }

    pub fn stop(&self) {
        let parent = self.parent_pid();
        self.control("stop");
        let deadline = Instant::now() + Duration::from_secs(20);
        while parent.is_some_and(pid_alive) || !self.processes().is_empty() {
            if Instant::now() > deadline {
                panic!("processes left after stop: {:?}", self.processes());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Httpd {
    fn drop(&mut self) {
        if self.parent_pid().is_some_and(pid_alive) {
            let _ = Command::new(APACHE)
                .arg("-f")
                .arg(&self.conf)
                .args(["-k", "stop"])
                .output();
            let deadline = Instant::now() + Duration::from_secs(15);
            while self.parent_pid().is_some_and(pid_alive) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        // Never leave processes behind, even when a test failed.
        for (pid, _) in self.processes() {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
    }
}

/// A fresh directory for one test, readable by www-data. Every process
/// whose command line names it (apps built into it, bridges pointed at it)
/// is killed when it is dropped, also when the test fails; then it is
/// removed.
pub struct Scratch {
    pub dir: PathBuf,
    /// Apps started by `serve`, reaped on drop.
    children: std::cell::RefCell<Vec<std::process::Child>>,
}

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let id = NEXT_ID.fetch_add(1, Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("fcgid-test-{}-{}-{}", name, std::process::id(), id));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Command::new("chmod").arg("755").arg(&dir).status().unwrap();
        Scratch {
            dir,
            children: Default::default(),
        }
    }

    /// Starts `app` as a FastCGI server with `listener` as its fd 0 (as
    /// mod_fcgid and `cgi-fcgi -start` do), /dev/null as stdout and stderr,
    /// and exactly `env` as its environment. It runs until `self` drops.
    pub fn serve(
        &self,
        app: &Path,
        listener: impl Into<std::os::fd::OwnedFd>,
        env: &[(&str, &str)],
    ) {
        let child = Command::new(app)
            .env_clear()
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::from(listener.into()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", app.display()));
        self.children.borrow_mut().push(child);
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Live processes whose command line names this directory.
    pub fn processes(&self) -> Vec<(i32, String)> {
        processes_matching(&self.dir.to_string_lossy())
            .into_iter()
            .filter(|(pid, _)| !is_zombie(*pid))
            .collect()
    }

    /// Live processes whose command line is exactly `cmdline`.
    pub fn processes_running(&self, cmdline: &Path) -> Vec<i32> {
        let want = cmdline.to_string_lossy();
        self.processes()
            .into_iter()
            .filter(|(_, cmd)| *cmd == want)
            .map(|(pid, _)| pid)
            .collect()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let pids: Vec<i32> = self.processes().into_iter().map(|(p, _)| p).collect();
        for pid in &pids {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while pids.iter().any(|&p| pid_alive(p) && !is_zombie(p)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        for mut child in self.children.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// An exited process that its parent has not reaped yet.
pub fn is_zombie(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| rest.starts_with('Z')))
        .unwrap_or(false)
}

pub fn pid_alive(pid: i32) -> bool {
    // A zombie still has a /proc entry; count it as gone only when reaped.
    Path::new(&format!("/proc/{pid}")).exists()
}

pub fn processes_matching(needle: &str) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmd: String = String::from_utf8_lossy(&cmd)
            .replace('\0', " ")
            .trim()
            .to_string();
        if cmd.contains(needle) && pid != std::process::id() as i32 {
            out.push((pid, cmd));
        }
    }
    out
}

pub fn parse_response(raw: &[u8]) -> Response {
    // curl -i prints every response of a redirect chain or 100-continue; take the last.
    let mut rest = raw;
    loop {
        let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") else {
            return Response {
                status: 0,
                headers: vec![],
                body: rest.to_vec(),
            };
        };
        let head = String::from_utf8_lossy(&rest[..end]).into_owned();
        let body = &rest[end + 4..];
        let mut lines = head.lines();
        let status: u16 = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if status == 100 {
            rest = body;
            continue;
        }
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        return Response {
            status,
            headers,
            body: body.to_vec(),
        };
    }
}

use fcgid_core::pm::wire;

impl Httpd {
    /// The process manager's report on its pools, asked over its socket.
    pub fn pm_report(&self) -> wire::StatusReport {
        use std::io::{Read, Write};
        let path = self.root.join("logs/fcgidsock/pm.sock");
        // The manager may still be starting (or restarting) right after httpd.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut s = loop {
            match std::os::unix::net::UnixStream::connect(&path) {
                Ok(s) => break s,
                Err(e) if Instant::now() > deadline => panic!("connect {}: {e}", path.display()),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        let mut frame = Vec::new();
        wire::Message::StatusQuery.encode(&mut frame);
        s.write_all(&frame).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut inbox = Vec::new();
        let mut buf = [0u8; 65536];
        let mut gather = fcgid_core::pm::report::Gather::default();
        loop {
            while let Some(msg) = wire::Message::decode(&mut inbox).unwrap() {
                if let Some(report) = gather.push(msg).unwrap() {
                    return report;
                }
            }
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "manager closed the status connection");
            inbox.extend_from_slice(&buf[..n]);
        }
    }

    /// The report as the `?auto` lines show it (for assertions and messages).
    pub fn pm_status(&self) -> String {
        fcgid_core::status::auto_lines(&self.pm_report())
    }

    /// One number of the report: `manager` (its pid), the totals
    /// `processes` and `busy`, or a figure of the first class.
    pub fn pm_number(&self, name: &str) -> u64 {
        let rep = self.pm_report();
        let first = rep.classes.first();
        match name {
            "manager" => rep.manager_pid as u64,
            "processes" => rep.process_count() as u64,
            "busy" => rep.busy_count() as u64,
            "requests" => first.map_or(0, |c| c.requests),
            "failed_starts" => first.map_or(0, |c| c.failed_starts as u64),
            other => panic!("pm_number: no figure {other:?} in {rep:?}"),
        }
    }

    /// The pids of httpd's children (not the parent, not the manager).
    pub fn httpd_children(&self) -> Vec<i32> {
        let parent = self.parent_pid().unwrap();
        let manager = self.pm_number("manager") as i32;
        processes_matching(&self.conf.to_string_lossy())
            .into_iter()
            .map(|(p, _)| p)
            .filter(|p| *p != parent && *p != manager && parent_of(*p) == Some(parent))
            .collect()
    }
}

pub fn parent_of(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    after.split_whitespace().nth(1)?.parse().ok()
}

pub fn kill9(pid: i32) {
    Command::new("kill")
        .arg("-9")
        .arg(pid.to_string())
        .status()
        .unwrap();
}

/// Is this error-log line at warn level or worse?
pub fn warn_or_worse(line: &str) -> bool {
    [":warn]", ":error]", ":crit]", ":alert]", ":emerg]"]
        .iter()
        .any(|level| line.contains(level))
}

/// Polls `cond` every 50 ms for up to `secs` seconds.
pub fn eventually(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One GET with curl; the HTTP status as text ("000" if there was none).
pub fn status_code(url: &str) -> String {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "60",
            url,
        ])
        .output()
        .expect("run curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// httpd run the way a service manager runs it: in the foreground, as our
/// child, so its exit status can be asserted.
pub struct Foreground {
    pub httpd: Httpd,
    child: std::process::Child,
}

impl Httpd {
    /// Starts `apache2 -f CONF -DFOREGROUND` (plus `extra_args`, e.g. `-X`).
    pub fn start_foreground(self, extra_args: &[&str]) -> Foreground {
        use std::os::unix::process::CommandExt;
        // Its own process group, as systemd gives each service: httpd signals
        // its whole group at shutdown, which would include this test.
        let child = Command::new(APACHE)
            .process_group(0)
            .arg("-f")
            .arg(&self.conf)
            .arg("-DFOREGROUND")
            .args(extra_args)
            .spawn()
            .expect("run apache2");
        self.wait_until_listening();
        Foreground { httpd: self, child }
    }
}

impl Foreground {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `sig` to the httpd parent.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// SIGTERM (what `systemctl stop` sends), then waits for the exit.
    pub fn terminate(mut self) -> (std::process::ExitStatus, Httpd) {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, self.httpd);
            }
            assert!(
                Instant::now() < deadline,
                "httpd did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
