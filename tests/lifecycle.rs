//! httpd as a service manager runs it: in the foreground, reloaded with
//! graceful restarts, stopped with SIGTERM. The parent must exit with status
//! 0 (a signal death marks a systemd unit failed and stores a core dump),
//! and no app may outlive it.

mod common;
use common::*;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

fn served(h: &Httpd) -> bool {
    let r = h.get("/hello.fcgi");
    r.status == 200 && r.text().contains("Request number")
}

fn assert_clean_exit(status: std::process::ExitStatus, h: &Httpd) {
    assert_eq!(
        status.signal(),
        None,
        "httpd died of signal {:?}; log:\n{}",
        status.signal(),
        h.error_log()
    );
    assert_eq!(status.code(), Some(0), "log:\n{}", h.error_log());
    eventually(10, "no app process after the stop", || {
        h.app_pids().is_empty()
    });
}

fn serve_reload_stop(mpm: Mpm, args: &[&str], reloads: usize) {
    let fg = Httpd::new("lifecycle", mpm, &["hello"], "").start_foreground(args);
    assert!(served(&fg.httpd));
    for _ in 0..reloads {
        let before = fg
            .httpd
            .error_log()
            .matches("resuming normal operations")
            .count();
        fg.signal("USR1");
        eventually(10, "the graceful restart", || {
            fg.httpd
                .error_log()
                .matches("resuming normal operations")
                .count()
                > before
        });
        // The new generation serves (its manager is a fresh one).
        eventually(10, "a request after the graceful restart", || {
            served(&fg.httpd)
        });
    }
    let (status, h) = fg.terminate();
    assert_clean_exit(status, &h);
    assert!(
        !h.error_log().contains("long lost child"),
        "a draining manager was not watched:\n{}",
        h.error_log()
    );
}

#[test]
fn foreground_event_survives_graceful_restarts_and_exits_0_on_sigterm() {
    serve_reload_stop(Mpm::Event, &[], 2);
}

#[test]
fn foreground_prefork_survives_graceful_restarts_and_exits_0_on_sigterm() {
    serve_reload_stop(Mpm::Prefork, &[], 2);
}

#[test]
fn single_process_mode_exits_0_on_sigterm() {
    // -X: one process serves and is the parent; no graceful restart there.
    serve_reload_stop(Mpm::Event, &["-X"], 0);
}

#[test]
fn a_manager_killed_then_replaced_still_gives_a_clean_exit() {
    let fg = Httpd::new("lifecycle-pmkill", Mpm::Event, &["hello"], "").start_foreground(&[]);
    assert!(served(&fg.httpd));
    let pm = fg.httpd.pm_number("manager") as i32;
    kill9(pm);
    eventually(10, "a new manager", || {
        fg.httpd.error_log().contains("starting a new one") && served(&fg.httpd)
    });
    std::thread::sleep(Duration::from_millis(200));
    let (status, h) = fg.terminate();
    assert_clean_exit(status, &h);
}

#[test]
fn a_manager_that_keeps_dying_at_once_is_given_up_with_one_line() {
    let h = Httpd::new("lifecycle-pmloop", Mpm::Event, &["hello"], "").start();
    // Each new manager dies right after its start (here: killed); after
    // five such deaths the parent stops forking them, and says so once.
    for _ in 0..6 {
        let before = h.error_log().matches("starting a new one").count();
        let Ok(pm) = std::panic::catch_unwind(|| h.pm_number("manager")) else {
            break;
        };
        kill9(pm as i32);
        eventually(15, "a new manager, or the parent giving up", || {
            let log = h.error_log();
            log.matches("starting a new one").count() > before
                || log.contains("no new one is started until httpd restarts")
        });
    }
    let log = h.error_log();
    assert_eq!(
        log.matches("so no new one is started until httpd restarts")
            .count(),
        1,
        "{log}"
    );
    assert_eq!(log.matches("starting a new one").count(), 5, "{log}");
    // Requests get a clear answer, not a hang, and httpd itself still runs.
    let r = h.get("/hello.fcgi");
    assert_eq!(r.status, 503, "{log}");
    assert!(h.parent_pid().is_some_and(pid_alive));
}
