//! suexec: with mod_suexec and `SuexecUserGroup` in a vhost, apps run
//! through httpd's real suexec binary (Debian's apache2-suexec-pristine:
//! programs under /var/www, owned by the target user and group, not
//! writable by others, uid and gid >= 100) as that vhost's user.
//!
//! The setup creates two system users (kept between runs) and, per test,
//! a docroot under /var/www owned by them (removed afterwards).

mod common;
use common::{eventually, Httpd, Mpm, MODULES};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const SUEXEC: &str = "/usr/lib/apache2/suexec";
const SUEXEC_LOG: &str = "/var/log/apache2/suexec.log";
const USERS: [&str; 2] = ["fcgid-site1", "fcgid-site2"];

static SETUP: Mutex<()> = Mutex::new(());

/// (uid, gid) of `name`, if the user exists.
fn ids(name: &str) -> Option<(u32, u32)> {
    let out = |flag: &str| -> Option<u32> {
        let o = Command::new("id").arg(flag).arg(name).output().ok()?;
        if !o.status.success() {
            return None;
        }
        String::from_utf8_lossy(&o.stdout).trim().parse().ok()
    };
    Some((out("-u")?, out("-g")?))
}

/// Creates the test users once (system users with their own group), as
/// suexec needs them: uid and gid at least 100, never root.
fn user(name: &str) -> (u32, u32) {
    let _guard = SETUP.lock().unwrap_or_else(|e| e.into_inner());
    if ids(name).is_none() {
        let status = Command::new("useradd")
            .args(["--system", "--user-group", "--no-create-home"])
            .args(["--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin"])
            .arg(name)
            .status()
            .expect("run useradd");
        // Another test binary may have created it meanwhile.
        assert!(
            status.success() || ids(name).is_some(),
            "useradd {name} failed"
        );
    }
    let (uid, gid) = ids(name).unwrap();
    assert!(
        uid >= 100 && gid >= 100,
        "{name}: uid {uid} gid {gid} below suexec's minimum"
    );
    (uid, gid)
}

fn suexec_present() -> bool {
    std::fs::metadata(SUEXEC).is_ok_and(|m| m.uid() == 0 && m.mode() & 0o4000 != 0)
}

/// Two sites under /var/www, each a directory owned by its user.
struct Sites {
    base: PathBuf,
    users: Vec<(String, u32, u32)>,
    build: PathBuf,
}

impl Sites {
    fn new(tag: &str) -> Sites {
        let base = PathBuf::from(format!("/var/www/fcgid-test-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
        let build = base.join("build");
        std::fs::create_dir_all(&build).unwrap();
        let mut users = Vec::new();
        for name in USERS {
            let (uid, gid) = user(name);
            let dir = base.join(name);
            std::fs::create_dir(&dir).unwrap();
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
            users.push((name.to_string(), uid, gid));
        }
        Sites { base, users, build }
    }

    fn dir(&self, i: usize) -> PathBuf {
        self.base.join(&self.users[i].0)
    }

    /// Copies `src` into site `i`'s directory, owned by `owner` (site `i`'s user
    /// unless told otherwise) with `mode`.
    fn install(&self, i: usize, src: &Path, name: &str, mode: u32, owner: usize) -> PathBuf {
        let dst = self.dir(i).join(name);
        std::fs::copy(src, &dst).unwrap();
        let (_, uid, gid) = &self.users[owner];
        std::os::unix::fs::chown(&dst, Some(*uid), Some(*gid)).unwrap();
        std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(mode)).unwrap();
        dst
    }

    fn app(&self, name: &str) -> PathBuf {
        let out = self.build.join(format!("{name}.fcgi"));
        if !out.exists() {
            common::build_app(name, &self.build);
        }
        out
    }

    /// A php-cgi wrapper script, as control panels write them.
    fn wrapper(&self) -> PathBuf {
        let p = self.build.join("php-wrapper");
        std::fs::write(&p, "#!/bin/sh\nexec /usr/bin/php-cgi\n").unwrap();
        p
    }

    /// Processes running in a directory of these sites.
    fn processes(&self) -> Vec<i32> {
        let mut pids = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if std::fs::read_link(format!("/proc/{pid}/cwd"))
                .is_ok_and(|c| c.starts_with(&self.base))
            {
                pids.push(pid);
            }
        }
        pids
    }
}

impl Drop for Sites {
    fn drop(&mut self) {
        for pid in self.processes() {
            common::kill9(pid);
        }
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// A vhost of site `i`: its user through SuexecUserGroup, `extra` inside.
fn vhost(sites: &Sites, i: usize, port: u16, extra: &str) -> String {
    let dir = sites.dir(i);
    let name = &sites.users[i].0;
    format!(
        "<VirtualHost 127.0.0.1:{port}>\n  ServerName {name}.test\n  DocumentRoot {dir}\n  \
         SuexecUserGroup {name} {name}\n  <Directory {dir}>\n    Options +ExecCGI\n    \
         AddHandler fcgid-script .fcgi\n    Require all granted\n{extra}  </Directory>\n</VirtualHost>\n",
        dir = dir.display()
    )
}

fn server(tag: &str, sites: &Sites, vhost_extra: &[String], global: &str) -> Httpd {
    let httpd = Httpd::new(tag, Mpm::Event, &[], "");
    let port = httpd.port;
    let mut conf = format!("LoadModule suexec_module {MODULES}/mod_suexec.so\n{global}\n");
    for (i, extra) in vhost_extra.iter().enumerate() {
        conf += &vhost(sites, i, port, extra);
    }
    httpd.append_conf(&conf);
    httpd
}

fn get(httpd: &Httpd, site: &str, path: &str) -> common::Response {
    httpd.request(path, &["-H", &format!("Host: {site}.test")])
}

fn field(r: &common::Response, name: &str) -> Option<u32> {
    r.field(name).and_then(|v| v.trim().parse().ok())
}

/// The real, effective and saved uids of `pid`, from /proc/PID/status.
fn proc_uids(pid: u32) -> Vec<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace()
        .skip(1)
        .take(3)
        .map(|v| v.parse().unwrap())
        .collect()
}

macro_rules! need_suexec {
    () => {
        if !suexec_present() {
            panic!("{SUEXEC} missing or not setuid root: install apache2-suexec-pristine (scripts/setup-debian)");
        }
    };
}

#[test]
fn two_vhosts_run_the_same_apps_as_their_own_users() {
    need_suexec!();
    let sites = Sites::new("two");
    let app = sites.app("whoami");
    let wrapper = sites.wrapper();
    let php = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/whoami.php");
    for i in 0..2 {
        sites.install(i, &app, "whoami.fcgi", 0o755, i);
        sites.install(i, &wrapper, "php-wrapper", 0o755, i);
        sites.install(i, &php, "whoami.php", 0o644, i);
    }
    let extra: Vec<String> = (0..2)
        .map(|i| {
            format!(
                "    AddHandler fcgid-script .php\n    FcgidWrapper {}/php-wrapper .php\n",
                sites.dir(i).display()
            )
        })
        .collect();
    let httpd = server(
        "suexec-two",
        &sites,
        &extra,
        "FcgidInitialEnv FCGID_TEST_INITENV set",
    )
    .start();
    assert!(
        httpd.error_log().contains("suEXEC mechanism enabled"),
        "httpd did not enable suexec:\n{}",
        httpd.error_log()
    );

    for kind in ["whoami.fcgi", "whoami.php"] {
        let mut pids = [Vec::new(), Vec::new()];
        for round in 0..3 {
            for (i, (name, uid, _)) in sites.users.iter().enumerate() {
                let r = get(&httpd, name, &format!("/{kind}"));
                assert_eq!(
                    r.status,
                    200,
                    "{kind} round {round} on {name}: {}\n{}",
                    r.text(),
                    httpd.error_log()
                );
                assert_eq!(
                    field(&r, "uid"),
                    Some(*uid),
                    "{kind} on {name} answered by its user: {}",
                    r.text()
                );
                let pid = field(&r, "pid").unwrap();
                // The process itself: every uid is the site's user.
                assert_eq!(proc_uids(pid), vec![*uid; 3], "{kind} pid {pid} on {name}");
                pids[i].push(pid);
            }
        }
        assert!(
            pids[0].iter().all(|p| !pids[1].contains(p)),
            "{kind}: the vhosts share no process: {pids:?}"
        );
        for (i, p) in pids.iter().enumerate() {
            assert!(
                p.iter().all(|x| *x == p[0]),
                "{kind}: one warm process per site {i}: {p:?}"
            );
        }
    }
    // The C app shows what suexec does to the environment: FcgidInitialEnv
    // names outside its list are dropped, and the log says so.
    let r = get(&httpd, USERS[0], "/whoami.fcgi");
    assert_eq!(
        r.field("initenv").as_deref(),
        Some("(unset)"),
        "{}",
        r.text()
    );
    let log = httpd.error_log();
    assert!(log.contains("started through suexec as uid"), "{log}");
    assert!(
        log.contains("FcgidInitialEnv FCGID_TEST_INITENV will not reach it"),
        "{log}"
    );

    // The manager is the httpd User through and through, keeping only CAP_KILL.
    let manager = httpd.pm_number("manager") as u32;
    let www = ids("www-data").unwrap().0;
    assert_eq!(proc_uids(manager), vec![www; 3]);
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{manager}/status"))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .map(|v| v.trim().to_string()),
        Some("0000000000000020".to_string()),
        "CAP_KILL only"
    );
    // ... and can still stop the apps suexec started as other users.
    httpd.stop();
    assert!(
        sites.processes().is_empty(),
        "apps left: {:?}",
        sites.processes()
    );
}

#[test]
fn what_suexec_refuses_is_a_5xx_and_a_log_line_naming_suexec() {
    need_suexec!();
    let sites = Sites::new("refused");
    let app = sites.app("whoami");
    // Writable by its group: suexec refuses (status 118).
    sites.install(0, &app, "writable.fcgi", 0o775, 0);
    // Owned by the other site's user: suexec refuses (status 120).
    sites.install(0, &app, "foreign.fcgi", 0o755, 1);
    sites.install(0, &app, "whoami.fcgi", 0o755, 0);
    let httpd = server("suexec-refused", &sites, &[String::new()], "").start();

    for (script, why, suexec_says) in [
        (
            "writable.fcgi",
            "the program is writable by others",
            "is writable by others",
        ),
        (
            "foreign.fcgi",
            "not owned by the target user and group",
            "mismatch with directory",
        ),
    ] {
        let started = Instant::now();
        let mut statuses = Vec::new();
        for _ in 0..5 {
            statuses.push(get(&httpd, USERS[0], &format!("/{script}")).status);
        }
        assert!(statuses.iter().all(|s| *s >= 500), "{script}: {statuses:?}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{script}: five refusals took {:?}",
            started.elapsed()
        );
        let log = httpd.error_log();
        let line = log
            .lines()
            .find(|l| l.contains(script) && l.contains("through suexec") && l.contains("exited"))
            .unwrap_or_else(|| panic!("no suexec line for {script}:\n{log}"));
        assert!(line.contains(why) && line.contains(SUEXEC_LOG), "{line}");
        // Not a spawn loop: the class is failing after three deaths.
        let spawns = log
            .lines()
            .filter(|l| l.contains(&format!("server {}", sites.dir(0).join(script).display())))
            .count();
        assert!(
            (3..=5).contains(&spawns),
            "{script}: {spawns} spawns for 5 requests:\n{log}"
        );
        let suexec_log = std::fs::read_to_string(SUEXEC_LOG).unwrap_or_default();
        assert!(
            suexec_log.contains(suexec_says),
            "suexec.log lacks {suexec_says:?}"
        );
    }
    // A good program in the same vhost still runs as the site's user.
    let r = get(&httpd, USERS[0], "/whoami.fcgi");
    assert_eq!(field(&r, "uid"), Some(sites.users[0].1), "{}", r.text());
}

#[test]
fn a_control_panel_php_vhost_loads_and_serves() {
    need_suexec!();
    let sites = Sites::new("panel");
    let php = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/whoami.php");
    // The layout ISPConfig-like panels write: a starter script per site.
    sites.install(0, &sites.wrapper(), ".php-fcgi-starter", 0o755, 0);
    sites.install(0, &php, "index.php", 0o644, 0);
    let extra = format!(
        "    AddHandler fcgid-script .php\n    FcgidWrapper {}/.php-fcgi-starter .php\n",
        sites.dir(0).display()
    );
    let httpd = server("suexec-panel", &sites, &[extra], "");
    // Panels put these in the vhost itself.
    let conf = std::fs::read_to_string(&httpd.conf).unwrap().replace(
        "  SuexecUserGroup",
        "  FcgidMaxRequestLen 1073741\n  FcgidIOTimeout 300\n  FcgidIdleTimeout 300\n  SuexecUserGroup",
    );
    std::fs::write(&httpd.conf, conf).unwrap();
    httpd.config_test().expect("configtest");
    let httpd = httpd.start();

    let r = get(&httpd, USERS[0], "/index.php");
    assert_eq!(r.status, 200, "{}\n{}", r.text(), httpd.error_log());
    assert_eq!(field(&r, "uid"), Some(sites.users[0].1));
    let body = sites.build.join("body");
    std::fs::write(&body, "x".repeat(500_000)).unwrap();
    let body_arg = format!("@{}", body.display());
    let post = httpd.request(
        "/index.php",
        &[
            "-H",
            &format!("Host: {}.test", USERS[0]),
            "--data-binary",
            &body_arg,
        ],
    );
    assert_eq!(post.status, 200, "{}", post.text());
    assert_eq!(
        field(&post, "posted"),
        Some(500_000),
        "within the vhost's FcgidMaxRequestLen"
    );
    std::fs::write(&body, "x".repeat(1_100_000)).unwrap();
    let refused = httpd.request(
        "/index.php",
        &[
            "-H",
            &format!("Host: {}.test", USERS[0]),
            "--data-binary",
            &body_arg,
        ],
    );
    assert_eq!(refused.status, 413);
}

#[test]
fn apps_suexec_started_do_not_outlive_a_killed_manager() {
    need_suexec!();
    let sites = Sites::new("orphans");
    sites.install(0, &sites.app("whoami"), "whoami.fcgi", 0o755, 0);
    let httpd = server("suexec-orphans", &sites, &[String::new()], "").start();
    let r = get(&httpd, USERS[0], "/whoami.fcgi");
    let pid = field(&r, "pid").expect("pid") as i32;
    let manager = httpd.pm_number("manager") as i32;
    common::kill9(manager);
    eventually(10, "the old app stopped", || {
        !common::pid_alive(pid) || common::is_zombie(pid)
    });
    // The new manager serves the site again.
    eventually(10, "a new manager", || {
        let r = get(&httpd, USERS[0], "/whoami.fcgi");
        r.status == 200 && field(&r, "pid").is_some_and(|p| p as i32 != pid)
    });
}
