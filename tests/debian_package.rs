//! The Debian package (`make deb`, scripts/deb) against the SYSTEM apache2
//! with Debian's stock configuration: install (swapping out C's
//! libapache2-mod-fcgid when apt can fetch it), a php-cgi app served through
//! the stock vhost on 127.0.0.1:80, an upgrade in place with a graceful
//! reload, remove and purge, leaving no file behind. Then apache2 is stopped
//! and /etc/apache2 and /var/lib/apache2 are as they were.
//!
//! Root only (dpkg, port 80): as anyone else it says SKIPPED on stderr. It
//! touches port 80 and the system configuration only, so the private httpd
//! instances of the other tests (their own config, random ports) are not
//! disturbed. It packs the module under test (FCGID_MODULE, else the debug
//! build) and target/debug/cgi-fcgi (DEB_CGI_FCGI), so it builds nothing.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::net::TcpStream;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const PACKAGE: &str = "libapache2-mod-fcgid-rs";
const C_PACKAGE: &str = "libapache2-mod-fcgid";
const MODULE_FILE: &str = "/usr/lib/apache2/modules/mod_fcgid.so";
const ENABLED_LOAD: &str = "/etc/apache2/mods-enabled/fcgid.load";
const ENABLED_CONF: &str = "/etc/apache2/mods-enabled/fcgid.conf";
const CONFFILES: [&str; 2] = [
    "/etc/apache2/mods-available/fcgid.load",
    "/etc/apache2/mods-available/fcgid.conf",
];
const SNIPPET: &str = "/etc/apache2/conf-enabled/zz-fcgid-deb-test.conf";
const IPC_PARENT: &str = "/var/lib/apache2/fcgid";
const URL: &str = "http://127.0.0.1/fcgid-deb-test/app.php";

fn run(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd)
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .unwrap_or_else(|e| panic!("run {cmd}: {e}"))
}

fn must(cmd: &str, args: &[&str]) -> String {
    let o = run(cmd, args);
    assert!(
        o.status.success(),
        "{cmd} {args:?} failed ({}):\n{}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn apt(args: &[&str]) -> String {
    let mut all = vec!["-y", "-q", "-o", "DPkg::Lock::Timeout=120"];
    all.extend_from_slice(args);
    must("apt-get", &all)
}

/// dpkg's status of a package ("install ok installed", "deinstall ok
/// config-files"), or None when dpkg does not know it.
fn status(pkg: &str) -> Option<String> {
    let o = run("dpkg-query", &["-W", "-f=${Status} ${Version}", pkg]);
    let s = String::from_utf8_lossy(&o.stdout).trim().to_string();
    (o.status.success() && !s.starts_with("unknown ok not-installed")).then_some(s)
}

fn port_80_open() -> bool {
    TcpStream::connect_timeout(&"127.0.0.1:80".parse().unwrap(), Duration::from_millis(300)).is_ok()
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(
            Instant::now() < end,
            "timed out after {secs}s waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// GET url: (status, body).
fn get(url: &str) -> (u16, String) {
    let o = run(
        "curl",
        &["-s", "--max-time", "20", "-w", "\n%{http_code}", url],
    );
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let (body, code) = out.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

fn assert_serves(when: &str) -> String {
    let (code, body) = get(URL);
    assert_eq!(
        code,
        200,
        "{when}: {URL} answered {code}: {body}\nerror.log:\n{}",
        error_log_tail()
    );
    assert!(body.starts_with("deb-ok pid="), "{when}: body {body:?}");
    // Ours, not C's: only ours has ?auto lines.
    let (code, status) = get("http://127.0.0.1/server-status?auto");
    assert_eq!(code, 200, "{when}: /server-status: {status}");
    assert!(
        status.contains("FcgidClasses: ") && status.contains("/usr/bin/php-cgi"),
        "{when}: no class of ours in /server-status?auto:\n{status}"
    );
    body
}

fn error_log_tail() -> String {
    let log = fs::read_to_string("/var/log/apache2/error.log").unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Every entry under the roots: kind, mode, owner, link target, contents.
fn snapshot(roots: &[&str], skip: &[&str]) -> BTreeMap<PathBuf, String> {
    fn walk(p: &Path, skip: &[&str], out: &mut BTreeMap<PathBuf, String>) {
        if skip.iter().any(|s| p.starts_with(s)) {
            return;
        }
        let Ok(m) = fs::symlink_metadata(p) else {
            return;
        };
        let mut h = std::collections::hash_map::DefaultHasher::new();
        let kind = if m.file_type().is_symlink() {
            format!("link {}", fs::read_link(p).unwrap().display())
        } else if m.is_dir() {
            "dir".to_string()
        } else {
            fs::read(p).unwrap_or_default().hash(&mut h);
            format!("file {:x}", h.finish())
        };
        out.insert(
            p.to_path_buf(),
            format!("{kind} {:o} {}:{}", m.mode() & 0o7777, m.uid(), m.gid()),
        );
        if m.is_dir() && !m.file_type().is_symlink() {
            for e in fs::read_dir(p).unwrap() {
                walk(&e.unwrap().path(), skip, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    for r in roots {
        walk(Path::new(r), skip, &mut out);
    }
    out
}

const STATE_ROOTS: [&str; 2] = ["/etc/apache2", "/var/lib/apache2"];

/// Puts the machine back however the test ends: apache2 stopped, both
/// packages purged, the snippet and the app gone, and what apache2's tools
/// and the package may have changed under /var/lib/apache2 restored.
struct Restore {
    dir: PathBuf,
    before: BTreeMap<PathBuf, String>,
    /// /var/lib/apache2/fcgid and what was in it before, with modes and owners.
    ipc_before: Vec<(PathBuf, u32, u32, u32)>,
}

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = fs::remove_file(SNIPPET);
        stop_apache2();
        for pkg in [PACKAGE, C_PACKAGE] {
            if status(pkg).is_some() {
                let _ = run("dpkg", &["--purge", pkg]);
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
        // a2enmod/a2dismod -m leave empty state directories behind.
        let now = snapshot(&STATE_ROOTS, &[IPC_PARENT]);
        for (p, what) in now.iter().rev() {
            if what.starts_with("dir") && !self.before.contains_key(p) {
                let _ = fs::remove_dir(p);
            }
        }
        // An IPC dir left by someone's C mod_fcgid before us (not ours: it
        // was there before the install) comes back as it was.
        for (p, mode, uid, gid) in &self.ipc_before {
            let _ = fs::create_dir(p);
            let _ = std::os::unix::fs::chown(p, Some(*uid), Some(*gid));
            let _ = fs::set_permissions(p, fs::Permissions::from_mode(*mode));
        }
    }
}

fn apache2_pid() -> Option<u32> {
    let pid: u32 = fs::read_to_string("/var/run/apache2/apache2.pid")
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
}

fn stop_apache2() {
    if let Some(pid) = apache2_pid() {
        let _ = run("apache2ctl", &["stop"]);
        let gone = || !Path::new(&format!("/proc/{pid}")).exists();
        let end = Instant::now() + Duration::from_secs(15);
        while !gone() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(100));
        }
        if !gone() {
            // apache2ctl stop parses the configuration first; should it not
            // parse, the parent still stops on SIGTERM.
            let _ = run("kill", &["-TERM", &pid.to_string()]);
            let end = Instant::now() + Duration::from_secs(10);
            while !gone() && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn build_deb(out: &Path, version: Option<&str>) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cgi_fcgi = std::env::var("DEB_CGI_FCGI")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target/debug/cgi-fcgi"));
    assert!(
        cgi_fcgi.exists(),
        "{} is missing: run `cargo build --workspace` first",
        cgi_fcgi.display()
    );
    let mut cmd = Command::new(root.join("scripts/deb"));
    cmd.env("DEB_MODULE", common::module_path())
        .env("DEB_CGI_FCGI", &cgi_fcgi)
        .env("DEB_OUTDIR", out);
    if let Some(v) = version {
        cmd.env("DEB_VERSION", v);
    }
    let o = cmd.output().expect("run scripts/deb");
    assert!(
        o.status.success(),
        "scripts/deb failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let deb = PathBuf::from(
        String::from_utf8_lossy(&o.stdout)
            .trim()
            .lines()
            .last()
            .unwrap(),
    );
    assert!(deb.exists(), "scripts/deb printed {}", deb.display());
    deb
}

fn is_root() -> bool {
    String::from_utf8_lossy(&run("id", &["-u"]).stdout).trim() == "0"
}

#[test]
fn deb_installs_serves_php_upgrades_with_graceful_and_purges_clean() {
    if !is_root() {
        // Straight to fd 2, past the test harness's capture, so that the
        // skip shows in every run.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED debian_package: installs a .deb into the system apache2 and uses port 80; \
             run it as root (`sudo cargo test --test debian_package`)"
        );
        return;
    }
    let started = Instant::now();
    assert!(
        apache2_pid().is_none() && !port_80_open(),
        "the system apache2 (or something else) is on port 80: stop it first, this test starts \
         and stops it"
    );
    for pkg in [PACKAGE, C_PACKAGE] {
        assert!(
            status(pkg).is_none(),
            "{pkg} is installed ({:?}): the test installs and purges the package itself; purge \
             it first",
            status(pkg)
        );
    }

    let dir = std::env::temp_dir().join(format!("fcgid-deb-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let www = dir.join("www");
    fs::create_dir_all(&www).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    let mut ipc_before = Vec::new();
    for p in [
        PathBuf::from(IPC_PARENT),
        Path::new(IPC_PARENT).join("sock"),
    ] {
        if let Ok(m) = fs::symlink_metadata(&p) {
            ipc_before.push((p, m.mode() & 0o7777, m.uid(), m.gid()));
        }
    }
    let before = snapshot(&STATE_ROOTS, &[IPC_PARENT]);
    let restore = Restore {
        dir: dir.clone(),
        before: before.clone(),
        ipc_before,
    };

    let debs = dir.join("debs");
    let deb1 = build_deb(&debs, None);
    let version1 = must("dpkg-deb", &["-f", deb1.to_str().unwrap(), "Version"])
        .trim()
        .to_string();
    let version2 = format!("{version1}+upgrade1");
    let deb2 = build_deb(&debs, Some(&version2));
    let info = must("dpkg-deb", &["-f", deb1.to_str().unwrap()]);
    for line in [
        "Provides: libapache2-mod-fcgid",
        "Conflicts: libapache2-mod-fcgid",
        "Replaces: libapache2-mod-fcgid",
    ] {
        assert!(info.contains(line), "control lacks {line:?}:\n{info}");
    }
    assert!(info.contains("apache2-api-20120211"), "Depends:\n{info}");

    // The swap: C's package first, when apt can fetch it, then ours over it.
    let fetched = Command::new("apt-get")
        .args(["download", "-q", C_PACKAGE])
        .current_dir(&debs)
        .output()
        .is_ok_and(|o| o.status.success());
    let c_deb = fetched
        .then(|| {
            fs::read_dir(&debs)
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| {
                    p.file_name()
                        .unwrap()
                        .to_string_lossy()
                        .starts_with("libapache2-mod-fcgid_")
                })
        })
        .flatten();
    let listed = must("dpkg-deb", &["-c", deb1.to_str().unwrap()]);
    let paths_before_install: Vec<(String, bool)> = listed
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .map(|p| {
            let p = p.trim_start_matches('.').trim_end_matches('/');
            let p = if p.is_empty() { "/" } else { p };
            (p.to_string(), Path::new(p).exists())
        })
        .collect();
    match &c_deb {
        Some(c) => {
            must("dpkg", &["-i", c.to_str().unwrap()]);
            assert!(
                Path::new(ENABLED_LOAD).exists(),
                "C's package did not enable fcgid"
            );
        }
        None => {
            let _ = writeln!(
                std::io::stderr(),
                "debian_package: apt-get download {C_PACKAGE} failed; testing a plain install \
                 (no swap from the C module)"
            );
        }
    }
    apt(&["install", deb1.to_str().unwrap()]);
    assert!(
        status(PACKAGE).unwrap().starts_with("install ok installed"),
        "{PACKAGE}: {:?}",
        status(PACKAGE)
    );
    if c_deb.is_some() {
        let c = status(C_PACKAGE).unwrap_or_default();
        assert!(
            !c.starts_with("install ok"),
            "{C_PACKAGE} is still installed: {c}"
        );
    }
    assert!(Path::new(MODULE_FILE).exists());
    for l in [ENABLED_LOAD, ENABLED_CONF] {
        assert!(
            fs::symlink_metadata(l).is_ok(),
            "postinst did not a2enmod fcgid: no {l}"
        );
    }
    let conf = fs::read_to_string(CONFFILES[1]).unwrap();
    assert!(
        conf.contains("FcgidIPCDir /var/lib/apache2/fcgid/sock"),
        "{conf}"
    );
    let owned = must("dpkg", &["-L", PACKAGE]);
    for p in [MODULE_FILE, CONFFILES[0], CONFFILES[1]] {
        assert!(owned.lines().any(|l| l == p), "dpkg -L {PACKAGE} lacks {p}");
    }
    let cgi_fcgi = format!("/usr/lib/{PACKAGE}/cgi-fcgi");
    let usage = run(&cgi_fcgi, &[]);
    assert!(
        String::from_utf8_lossy(&usage.stderr).contains("cgi-fcgi")
            || String::from_utf8_lossy(&usage.stdout).contains("cgi-fcgi"),
        "{cgi_fcgi} did not run"
    );

    // The app, served by the stock vhost through the stock fcgid.conf.
    fs::write(
        www.join("app.php"),
        "<?php echo 'deb-ok pid=', getmypid(), \"\\n\";\n",
    )
    .unwrap();
    fs::set_permissions(&www, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(
        SNIPPET,
        format!(
            "# tests/debian_package.rs (removed when it ends)\n\
             # In <IfModule>: the configuration must still parse once the\n\
             # package is removed (apache2ctl stop and prerm's reload parse it).\n\
             <IfModule mod_fcgid.c>\n\
             Alias /fcgid-deb-test {w}\n\
             <Directory {w}>\n\
             \x20   Options +ExecCGI\n\
             \x20   AddHandler fcgid-script .php\n\
             \x20   FcgidWrapper /usr/bin/php-cgi .php\n\
             \x20   Require all granted\n\
             </Directory>\n\
             </IfModule>\n",
            w = www.display()
        ),
    )
    .unwrap();
    must("apache2ctl", &["configtest"]);
    // With systemd, postinst's apache2_invoke may have started it already.
    if apache2_pid().is_none() {
        must("apache2ctl", &["start"]);
    }
    wait_for("apache2 on port 80", 20, port_80_open);
    let first = assert_serves("after install");
    assert_eq!(
        assert_serves("second request"),
        first,
        "one php-cgi process serves both"
    );

    // Upgrade in place, then a graceful reload (as logrotate does).
    let inode1 = fs::metadata(MODULE_FILE).unwrap().ino();
    apt(&["install", deb2.to_str().unwrap()]);
    let s = status(PACKAGE).unwrap();
    assert!(s.ends_with(&version2), "after the upgrade: {s}");
    assert_ne!(
        fs::metadata(MODULE_FILE).unwrap().ino(),
        inode1,
        "module file not replaced"
    );
    for l in [ENABLED_LOAD, ENABLED_CONF] {
        assert!(
            fs::symlink_metadata(l).is_ok(),
            "the upgrade disabled fcgid: no {l}"
        );
    }
    if apache2_pid().is_none() {
        must("apache2ctl", &["start"]);
    } else {
        must("apache2ctl", &["graceful"]);
    }
    wait_for("apache2 after graceful", 20, port_80_open);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // A graceful restart may answer a few requests from the old
        // generation; a 200 of ours from the new one is what counts.
        let (code, _) = get(URL);
        if code == 200 || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_serves("after the upgrade and graceful");

    // Remove: the module and its enabling go, the conffiles stay.
    let owned: Vec<String> = must("dpkg", &["-L", PACKAGE])
        .lines()
        .map(String::from)
        .collect();
    apt(&["remove", PACKAGE]);
    assert!(
        !Path::new(MODULE_FILE).exists(),
        "{MODULE_FILE} left after remove"
    );
    assert!(
        !Path::new(&cgi_fcgi).exists(),
        "{cgi_fcgi} left after remove"
    );
    for l in [ENABLED_LOAD, ENABLED_CONF] {
        assert!(fs::symlink_metadata(l).is_err(), "{l} left after remove");
    }
    for c in CONFFILES {
        assert!(
            Path::new(c).exists(),
            "remove (not purge) took the conffile {c}"
        );
    }
    // Purge, with apache2 stopped so that nothing of it is left running.
    must("apache2ctl", &["stop"]);
    wait_for("apache2ctl stop", 15, || apache2_pid().is_none());
    apt(&["purge", PACKAGE]);
    if c_deb.is_some() {
        must("dpkg", &["--purge", C_PACKAGE]);
    }
    assert!(
        status(PACKAGE).is_none(),
        "{PACKAGE}: {:?}",
        status(PACKAGE)
    );
    let existed: BTreeMap<&str, bool> = paths_before_install
        .iter()
        .map(|(p, e)| (p.as_str(), *e))
        .collect();
    for p in &owned {
        let p = if p == "/." { "/" } else { p.as_str() };
        let was = existed.get(p).copied().unwrap_or(false);
        assert!(
            was || fs::symlink_metadata(p).is_err(),
            "{p} (from dpkg -L) is left after purge"
        );
    }
    for c in CONFFILES {
        assert!(!Path::new(c).exists(), "{c} left after purge");
    }
    assert!(
        !Path::new(IPC_PARENT).join("sock").join("pm.sock").exists(),
        "the manager's socket is left"
    );

    drop(restore);
    let after = snapshot(&STATE_ROOTS, &[IPC_PARENT]);
    let changed: Vec<String> = before
        .iter()
        .filter(|(p, w)| after.get(*p) != Some(w))
        .map(|(p, w)| format!("{}: was {w}, now {:?}", p.display(), after.get(p)))
        .chain(
            after
                .iter()
                .filter(|(p, _)| !before.contains_key(*p))
                .map(|(p, w)| format!("{}: new {w}", p.display())),
        )
        .collect();
    assert!(
        changed.is_empty(),
        "/etc/apache2 or /var/lib/apache2 not restored:\n{}",
        changed.join("\n")
    );
    let elapsed = started.elapsed();
    let _ = writeln!(std::io::stderr(), "debian_package: done in {elapsed:.1?}");
}
