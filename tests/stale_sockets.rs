//! FcgidIPCDir after a crash: an httpd killed with its manager (SIGKILL,
//! the OOM killer, a power cut of a container) leaves its apps' sockets
//! behind. The next start removes them and serves as usual.

mod common;
use common::{Httpd, Mpm};
use std::path::Path;

/// The app sockets ("PID-N.sock") in the IPC directory.
fn app_sockets(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "pm.sock" && n.ends_with(".sock"))
        .collect();
    names.sort();
    names
}

#[test]
fn stale_app_sockets_of_a_killed_manager_are_removed_at_start() {
    let httpd = Httpd::new("stale-sockets", Mpm::Event, &["hello", "echo"], "").start();
    let ipc = httpd.root.join("logs/fcgidsock");
    assert_eq!(httpd.get("/hello.fcgi").status, 200);
    assert_eq!(httpd.get("/echo.fcgi").status, 200);
    let manager = httpd.pm_number("manager") as i32;
    let stale = app_sockets(&ipc);
    assert_eq!(stale.len(), 2, "one socket per app: {stale:?}");
    assert!(stale.iter().all(|n| n.starts_with(&format!("{manager}-"))));

    // Everything killed at once: nobody is left to clean up.
    let all = httpd.processes();
    for (pid, _) in &all {
        common::kill9(*pid);
    }
    common::eventually(20, "every process gone", || {
        all.iter()
            .all(|(p, _)| !common::pid_alive(*p) || common::is_zombie(*p))
    });
    assert_eq!(app_sockets(&ipc), stale, "the crash left them");

    // Its pid file goes too (a killed parent may linger as a zombie here,
    // which `apache2 -k start` takes for a running httpd).
    std::fs::remove_file(httpd.root.join("logs/httpd.pid")).unwrap();
    let httpd = httpd.start();
    assert_eq!(httpd.get("/hello.fcgi").status, 200);
    let now = app_sockets(&ipc);
    assert!(
        stale.iter().all(|s| !now.contains(s)),
        "stale {stale:?}, now {now:?}"
    );
    let new_manager = httpd.pm_number("manager") as i32;
    assert!(
        now.iter()
            .all(|n| n.starts_with(&format!("{new_manager}-"))),
        "{now:?}"
    );
    httpd.wait_for_log("the cleanup", |l| {
        l.contains("removed 2 app sockets left in")
    });
}
