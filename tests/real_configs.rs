//! Configurations that exist in the wild load and serve with this module:
//! Debian's stock fcgid.conf, and one written before mod_fcgid 2.3 that
//! uses only the deprecated directive names. (The control-panel vhost,
//! with suexec, is in tests/suexec.rs.)

mod common;
use common::{Httpd, Mpm, MODULES};
use fcgid_core::pm::policy::ExitReason;
use std::path::PathBuf;

/// Debian's /etc/apache2/mods-available/fcgid.conf, from the C package
/// unpacked beside ours (as the differential suite has it), else the
/// system's. The test setup provides it: missing, the test fails.
fn debian_fcgid_conf() -> PathBuf {
    let unpacked = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/c-mod_fcgid/etc/apache2/mods-available/fcgid.conf");
    let system = PathBuf::from("/etc/apache2/mods-available/fcgid.conf");
    let found = [&unpacked, &system].into_iter().find(|p| p.exists());
    found.cloned().unwrap_or_else(|| {
        panic!(
            "Debian's fcgid.conf is missing at {}: run scripts/setup-debian, which unpacks \
             libapache2-mod-fcgid into target/c-mod_fcgid (or `apt-get download \
             libapache2-mod-fcgid && dpkg-deb -x libapache2-mod-fcgid_*.deb target/c-mod_fcgid`)",
            unpacked.display()
        )
    })
}

#[test]
fn debians_stock_fcgid_conf_loads_and_serves() {
    let stock = debian_fcgid_conf();
    let text = std::fs::read_to_string(&stock).unwrap();
    assert!(text.contains("<IfModule mod_fcgid.c>"), "{text}");
    let httpd = Httpd::new("debian-conf", Mpm::Event, &["hello"], "");
    // Outside the harness's DocumentRoot, whose own AddHandler would serve
    // it: only the stock file's server-wide AddHandler does.
    let dir = httpd.root.join("bare");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(httpd.www().join("hello.fcgi"), dir.join("hello.fcgi")).unwrap();
    httpd.append_conf(&format!(
        "LoadModule alias_module {MODULES}/mod_alias.so
Alias /bare {dir}
         <Directory {dir}>
  Options +ExecCGI
  Require all granted
</Directory>
         Include {stock}
",
        dir = dir.display(),
        stock = stock.display()
    ));
    httpd.config_test().expect("configtest");
    let httpd = httpd.start();
    let r = httpd.get("/bare/hello.fcgi");
    assert_eq!(r.status, 200, "{}\n{}", r.text(), httpd.error_log());
    assert!(r.text().starts_with("Hello world!"), "{}", r.text());
}

/// Every deprecated name (mod_fcgid 2.2's), none of the Fcgid ones.
const OLD_NAMES: &str = "\
SocketPath {ROOT}/logs/oldsock
SharememPath {ROOT}/logs/oldshm
IdleTimeout 600
IdleScanInterval 120
BusyTimeout 300
BusyScanInterval 120
ErrorScanInterval 3
ZombieScanInterval 3
ProcessLifeTime 3600
SpawnScore 1
SpawnScoreUpLimit 10
TerminationScore 2
TimeScore 1
MaxProcessCount 100
DefaultMaxClassProcessCount 10
DefaultMinClassProcessCount 3
OutputBufferSize 65536
IPCConnectTimeout 3
IPCCommTimeout 5
MaxRequestLen 1000
MaxRequestInMem 100
MaxRequestsPerProcess 2
DefaultInitEnv OLD_INIT from-defaultinitenv
PassHeader X-Old-Pass
PHP_Fix_Pathinfo_Enable 0
<Directory {ROOT}/www/wrapped>
  AddHandler fcgid-script .wr
  FCGIWrapper {ROOT}/www/cgienv.fcgi .wr
</Directory>
<Directory {ROOT}/www/checked>
  FastCgiAccessChecker {ROOT}/www/auth.fcgi
  FastCgiAccessCheckerAuthoritative On
</Directory>
";

#[test]
fn a_config_with_only_deprecated_names_loads_and_each_takes_effect() {
    let httpd = Httpd::new(
        "old-names",
        Mpm::Event,
        &["cgienv", "diffenv", "echo", "stream", "auth"],
        "",
    );
    let root = httpd.root.display().to_string();
    for dir in ["wrapped", "checked"] {
        std::fs::create_dir_all(httpd.www().join(dir)).unwrap();
    }
    std::fs::write(httpd.www().join("wrapped/page.wr"), "a page\n").unwrap();
    std::fs::copy(
        httpd.www().join("echo.fcgi"),
        httpd.www().join("checked/echo.fcgi"),
    )
    .unwrap();
    httpd.append_conf(&OLD_NAMES.replace("{ROOT}", &root));
    httpd.config_test().expect("configtest");
    let httpd = httpd.start();

    // SocketPath: the manager listens there.
    let pm_sock = httpd.root.join("logs/oldsock/pm.sock");
    common::eventually(10, "the manager's socket in SocketPath", || {
        pm_sock.exists()
    });
    assert!(!httpd.root.join("logs/fcgidsock").exists());
    // DefaultInitEnv reaches the app's own environment, PassHeader the
    // request's.
    let r = httpd.request("/diffenv.fcgi?initial", &["-H", "X-Old-Pass: passed"]);
    assert_eq!(r.status, 200, "{}\n{}", r.text(), httpd.error_log());
    assert!(
        r.text()
            .lines()
            .any(|l| l == "initial:OLD_INIT=from-defaultinitenv"),
        "{}",
        r.text()
    );
    assert_eq!(r.field("X_Old_Pass").as_deref(), Some("passed"));
    // FCGIWrapper runs the wrapper for the suffix.
    let r = httpd.get("/wrapped/page.wr");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.field("SCRIPT_FILENAME"),
        Some(format!("{root}/www/wrapped/page.wr"))
    );
    // MaxRequestLen: a longer body is refused.
    let big = "x".repeat(2000);
    let r = httpd.request("/cgienv.fcgi", &["--data-binary", &big]);
    assert_eq!(r.status, 413);
    let r = httpd.request("/cgienv.fcgi", &["--data-binary", &big[..900]]);
    assert_eq!(r.status, 200);
    // IPCCommTimeout: an app that stalls is cut off (well before curl's 60 s).
    let r = httpd.get("/stream.fcgi?pause_ms=120000");
    assert!(!r.text().contains("data: second"), "{}", r.text());
    httpd.wait_for_log("the IO timeout", |l| {
        l.contains("did not answer within FcgidIOTimeout")
    });
    // MaxRequestsPerProcess: a process retires after its second request.
    let pid = || httpd.get("/echo.fcgi?pid").text();
    let (first, second, third) = (pid(), pid(), pid());
    assert_eq!(first, second, "one process serves two requests");
    assert_ne!(first, third, "and then retires");
    // FastCgiAccessChecker: the program decides for the directory.
    assert_eq!(httpd.get("/checked/echo.fcgi").status, 200);
    // A refusal is a 401, as with C.
    assert_eq!(httpd.get("/checked/echo.fcgi?deny").status, 401);
}

/// IdleTimeout and DefaultMinClassProcessCount: an idle process above the
/// minimum (0 here) is stopped.
#[test]
fn deprecated_idle_names_stop_idle_processes() {
    let httpd = Httpd::new(
        "old-idle",
        Mpm::Event,
        &["echo"],
        "IdleTimeout 1\nIdleScanInterval 1\nDefaultMinClassProcessCount 0\n",
    )
    .start();
    assert_eq!(httpd.get("/echo.fcgi").status, 200);
    common::eventually(60, "the idle process stopped", || {
        httpd.pm_report().classes.iter().any(|c| {
            c.exits
                .iter()
                .any(|(why, n)| *why == ExitReason::IdleTimeout && *n > 0)
        })
    });
}
