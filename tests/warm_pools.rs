//! Graceful restarts keep warm processes: a class whose command line,
//! environment and directory are unchanged is served by the processes it
//! had; a changed class is replaced; a new module file replaces everything.

mod common;
use common::*;
use std::collections::BTreeSet;

fn pid_of_answer(h: &Httpd) -> i32 {
    let r = h.get("/echo.fcgi?pid");
    assert_eq!(r.status, 200, "{}", h.error_log());
    r.text().trim().parse().unwrap()
}

fn graceful(h: &Httpd) {
    let before = h.error_log().matches("resuming normal operations").count();
    h.control("graceful");
    eventually(15, "the graceful restart", || {
        h.error_log().matches("resuming normal operations").count() > before
    });
}

fn warm(h: &Httpd) -> BTreeSet<i32> {
    (0..5).map(|_| pid_of_answer(h)).collect()
}

#[test]
fn an_unchanged_class_keeps_its_processes_across_a_graceful_restart() {
    keeps_its_processes(Mpm::Event);
}

#[test]
fn an_unchanged_class_keeps_its_processes_across_a_graceful_restart_under_prefork() {
    keeps_its_processes(Mpm::Prefork);
}

fn keeps_its_processes(mpm: Mpm) {
    let h = Httpd::new("warm-keep", mpm, &["echo"], "").start();
    let before = warm(&h);
    let manager = h.pm_number("manager");
    graceful(&h);
    let pid = pid_of_answer(&h);
    assert!(
        before.contains(&pid),
        "answered by {pid}, not by a warm process {before:?}\n{}",
        h.error_log()
    );
    assert_eq!(
        h.pm_number("manager"),
        manager,
        "the same manager carries on"
    );
    assert!(h
        .error_log()
        .contains("and its processes carry on into the new configuration"));
    // And again.
    graceful(&h);
    assert!(before.contains(&pid_of_answer(&h)));
}

#[test]
fn a_class_whose_initial_env_changed_is_replaced_after_a_graceful_restart() {
    let h = Httpd::new(
        "warm-change",
        Mpm::Event,
        &["echo"],
        "FcgidInitialEnv TEST_INITIAL one\n",
    )
    .start();
    let before = warm(&h);
    let conf = std::fs::read_to_string(&h.conf).unwrap();
    std::fs::write(
        &h.conf,
        conf.replace("TEST_INITIAL one", "TEST_INITIAL two"),
    )
    .unwrap();
    graceful(&h);
    // (FcgidInitialEnv is the process's environment, which libfcgi apps
    // do not show per request: the new pid is what tells.)
    let pid = pid_of_answer(&h);
    assert!(
        !before.contains(&pid),
        "a process of the old configuration answered"
    );
    eventually(15, "the old processes stopped", || {
        let alive: BTreeSet<i32> = h.app_pids().into_iter().collect();
        before.is_disjoint(&alive)
    });
    let exits = h.pm_report().classes[0].exits_text();
    assert!(exits.contains("reconfigured="), "{exits}");
}

#[test]
fn a_new_module_file_replaces_the_manager_at_a_graceful_restart() {
    let h = Httpd::new("warm-upgrade", Mpm::Event, &["echo"], "");
    // Load a copy, so the test can "upgrade" it.
    let copy = h.root.join("mod_fcgid.so");
    std::fs::copy(module_path(), &copy).unwrap();
    let conf = std::fs::read_to_string(&h.conf).unwrap();
    let conf = conf.replace(
        &format!("LoadModule fcgid_module {}", module_path().display()),
        &format!("LoadModule fcgid_module {}", copy.display()),
    );
    std::fs::write(&h.conf, conf).unwrap();
    let h = h.start();
    let before = warm(&h);
    let manager = h.pm_number("manager");
    // The upgrade: a new file in place of the old one.
    std::fs::copy(module_path(), h.root.join("new.so")).unwrap();
    std::fs::rename(h.root.join("new.so"), &copy).unwrap();
    graceful(&h);
    eventually(15, "a new manager", || h.pm_number("manager") != manager);
    let pid = pid_of_answer(&h);
    assert!(!before.contains(&pid));
    eventually(15, "the old processes stopped", || {
        let alive: BTreeSet<i32> = h.app_pids().into_iter().collect();
        before.is_disjoint(&alive)
    });
    // The drained manager is reaped as ours, not as a stranger.
    eventually(15, "the old manager gone", || !pid_alive(manager as i32));
    graceful(&h);
    assert!(
        !h.error_log().contains("long lost child"),
        "{}",
        h.error_log()
    );
}
