//! Starting the process manager from the httpd parent, and bringing it back
//! if it dies, without restarting httpd.
//!
//! The module is unloaded and loaded again with every configuration
//! generation, so nothing here outlives one: each generation watches its own
//! manager and the draining managers of earlier generations (their pids are
//! kept in the process pool, see `ffi::process::draining`), all through
//! registrations in its pconf. The state here holds no pool: the watch
//! keeps its own, so this needs no unsafe `Send`.
//!
//! A graceful restart keeps the manager, and so every warm process of the
//! classes that did not change, when the module file, the socket path and
//! the httpd User are the same: the new generation adopts it and sends it
//! the new server-wide limits. Classes whose command line, environment or
//! directory changed are replaced by the manager as their first request
//! arrives (see `fcgid_core::pm::state`). Otherwise (an upgrade, a new
//! FcgidIPCDir) the old manager drains and a new one starts.

use super::allow::AllowList;
use super::daemon::{self, DaemonSettings};
use super::policy::GlobalLimits;
use crate::ffi::log::{main_server as log, Level};
use crate::ffi::pool::Pool;
use crate::ffi::process::{self, KeptManager};
use crate::sys;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What the parent knows about the current manager.
struct Current {
    pid: i32,
    started: Instant,
    /// Deaths in a row, each soon after its start.
    quick_deaths: u32,
    socket: PathBuf,
    ipc_dir: PathBuf,
    /// FcgidProcessTableFile.
    table_file: PathBuf,
    global: GlobalLimits,
    /// What the configuration lets the manager start.
    allow: AllowList,
    /// What this generation was started with (module file, socket, User),
    /// taken at start: the module file may be replaced before the restart.
    identity: KeptManager,
}

static CURRENT: Mutex<Option<Current>> = Mutex::new(None);

/// A manager that dies sooner than this after its start counts as a quick death.
const QUICK_DEATH: Duration = Duration::from_secs(10);
/// After this many quick deaths in a row the parent stops starting managers.
const MAX_QUICK_DEATHS: u32 = 5;

/// Forks the manager. Called in the parent on the real configuration pass.
pub fn start(
    ipc_dir: PathBuf,
    socket: PathBuf,
    table_file: PathBuf,
    global: GlobalLimits,
    config_pool: Pool,
) -> Result<(), String> {
    let me = identity(&socket, &table_file);
    let allow = crate::ffi::served_paths::allowed();
    let pid = match process::take_kept_manager() {
        Some(kept)
            if kept
                == KeptManager {
                    pid: kept.pid,
                    ..me
                }
                && sys::is_alive(kept.pid) =>
        {
            match super::client::reconfigure(&socket, global, allow.clone()) {
                Ok(()) => {
                    log(
                        Level::Info,
                        &format!(
                            "mod_fcgid: process manager {} and its processes carry on into \
                             the new configuration",
                            kept.pid
                        ),
                    );
                    kept.pid
                }
                Err(e) => {
                    log(
                        Level::Warn,
                        &format!(
                            "mod_fcgid: process manager {} did not take the new \
                             configuration ({e}); starting a new one",
                            kept.pid
                        ),
                    );
                    drain(kept.pid);
                    fork_manager(&ipc_dir, &socket, &table_file, global, allow.clone())?
                }
            }
        }
        Some(kept) => {
            // Another module file, socket or User (or it is gone): replace it.
            if sys::is_alive(kept.pid) {
                drain(kept.pid);
            }
            fork_manager(&ipc_dir, &socket, &table_file, global, allow.clone())?
        }
        None => fork_manager(&ipc_dir, &socket, &table_file, global, allow.clone())?,
    };
    // After the decision above: a manager it just told to drain is watched too.
    watch_draining(config_pool);
    *CURRENT.lock().unwrap() = Some(Current {
        pid,
        started: Instant::now(),
        quick_deaths: 0,
        socket,
        ipc_dir,
        table_file,
        global,
        allow,
        identity: me,
    });
    process::watch_child(config_pool, pid, on_manager_death);
    // When this configuration ends: on stop, every manager stops its apps; on
    // restart, the next generation keeps this one or lets it drain.
    let parent = sys::getpid();
    config_pool.on_cleanup(move || {
        // httpd children may run this pool's cleanups when they exit; only
        // the parent speaks for the configuration's end.
        if sys::getpid() != parent {
            return;
        }
        // The manager of this generation may have been replaced after a
        // crash: signal whichever one is current.
        let Some(cur) = CURRENT.lock().unwrap().take() else {
            return;
        };
        if process::is_exiting() {
            for pid in process::draining() {
                sys::signal_with(pid, libc::SIGTERM);
                process::remove_draining(pid);
            }
            log(
                Level::Debug,
                &format!("mod_fcgid: telling process manager {} to stop", cur.pid),
            );
            sys::signal_with(cur.pid, libc::SIGTERM);
        } else {
            process::keep_manager(KeptManager {
                pid: cur.pid,
                ..cur.identity
            });
        }
    });
    Ok(())
}

/// What must be the same for a generation to keep the previous one's
/// manager (its pid left 0).
fn identity(socket: &std::path::Path, table_file: &std::path::Path) -> KeptManager {
    use std::hash::{Hash, Hasher};
    let (uid, gid) = process::httpd_user();
    // DefaultHasher::new() has fixed keys: the same path hashes the same in
    // every generation.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    socket.hash(&mut h);
    // Children find the manager's table by this path.
    table_file.hash(&mut h);
    // A manager started without suexec lacks the privilege to stop apps
    // that suexec starts (and the other way round, it has one it needs not).
    process::suexec_enabled().hash(&mut h);
    KeptManager {
        pid: 0,
        uid,
        gid,
        module: process::module_file_identity().unwrap_or_default(),
        socket: h.finish(),
    }
}

/// Tells manager `pid` to drain (requests in flight finish, then it stops
/// its processes and exits), and watches it from later generations.
fn drain(pid: i32) {
    log(
        Level::Debug,
        &format!("mod_fcgid: telling process manager {pid} to drain"),
    );
    sys::signal_with(pid, libc::SIGUSR1);
    if !process::add_draining(pid) {
        log(
            Level::Warn,
            &format!("mod_fcgid: too many process managers draining; {pid} is no longer watched"),
        );
    }
}

/// Watches the managers of earlier generations that still drain, so their
/// exit is reaped as ours (not a "long lost child") and forgotten.
fn watch_draining(config_pool: Pool) {
    for pid in process::draining() {
        if sys::is_alive(pid) {
            process::watch_child(config_pool, pid, on_drained);
        } else {
            process::remove_draining(pid);
        }
    }
}

fn on_drained(pid: i32, _status: i32) -> Option<i32> {
    process::remove_draining(pid);
    log(
        Level::Debug,
        &format!("mod_fcgid: draining process manager {pid} has exited"),
    );
    None
}

/// Where the current manager listens (in children: the one of their generation).
pub fn manager_socket() -> Option<PathBuf> {
    CURRENT.lock().ok()?.as_ref().map(|c| c.socket.clone())
}

/// The current manager's process table file (in children: their generation's).
pub fn table_file() -> Option<PathBuf> {
    CURRENT.lock().ok()?.as_ref().map(|c| c.table_file.clone())
}

/// Starts a new manager when the current one dies; returns its pid (to be
/// watched in turn).
fn on_manager_death(pid: i32, status: i32) -> Option<i32> {
    // Copy what the fork needs and let go of the lock: a child must not
    // start life with a lock held by its parent.
    let (ipc_dir, socket, table_file, global, allow, quick_deaths) = {
        let mut slot = CURRENT.lock().unwrap();
        let cur = slot.as_mut()?;
        if cur.pid != pid || process::is_exiting() {
            return None;
        }
        if cur.started.elapsed() < QUICK_DEATH {
            cur.quick_deaths += 1;
        } else {
            cur.quick_deaths = 1;
        }
        (
            cur.ipc_dir.clone(),
            cur.socket.clone(),
            cur.table_file.clone(),
            cur.global,
            cur.allow.clone(),
            cur.quick_deaths,
        )
    };
    // Apps it left (suexec'd apps get no parent-death signal) are stopped;
    // the new manager starts its own.
    if sys::signal_group(pid, libc::SIGTERM) {
        log(
            Level::Warn,
            &format!("mod_fcgid: told the processes left by process manager {pid} to stop"),
        );
    }
    // httpd hands over the exit code, or the signal that ended it.
    let how = format!("died (exit code or signal {status})");
    if quick_deaths > MAX_QUICK_DEATHS {
        log(
            Level::Emerg,
            &format!(
                "mod_fcgid: process manager {pid} {how}; it died {MAX_QUICK_DEATHS} times within \
                 {}s of starting, so no new one is started until httpd restarts",
                QUICK_DEATH.as_secs()
            ),
        );
        return None;
    }
    log(
        Level::Err,
        &format!("mod_fcgid: process manager {pid} {how}; starting a new one"),
    );
    match fork_manager(&ipc_dir, &socket, &table_file, global, allow) {
        Ok(new_pid) => {
            let mut slot = CURRENT.lock().unwrap();
            let cur = slot.as_mut()?;
            cur.pid = new_pid;
            cur.started = Instant::now();
            Some(new_pid)
        }
        Err(e) => {
            log(Level::Emerg, &e);
            None
        }
    }
}

/// Makes the manager the httpd User, wholly (real, effective and saved
/// ids). With suexec enabled it keeps one privilege, CAP_KILL: suexec runs
/// apps as other users, and the manager must still be able to stop them.
/// (C mod_fcgid keeps root as its real uid instead, and switches back to
/// signal.) suexec itself needs nothing more: it is setuid root and obeys
/// only the httpd User, which the manager's children are.
fn drop_privileges() -> Result<(), String> {
    let keep_kill = process::suexec_enabled() && sys::is_root();
    if keep_kill {
        sys::keep_caps_across_setuid()
            .map_err(|e| format!("cannot keep CAP_KILL for suexec: {e}"))?;
    }
    if !process::become_httpd_user() {
        return Err("cannot switch to the httpd User".into());
    }
    if keep_kill {
        sys::keep_only_kill().map_err(|e| format!("cannot keep CAP_KILL for suexec: {e}"))?;
    }
    let (r, e, saved) = sys::uids();
    if r == 0 || e == 0 || saved == 0 {
        return Err(format!(
            "still has root ids after the switch ({r}, {e}, {saved})"
        ));
    }
    Ok(())
}

fn fork_manager(
    ipc_dir: &std::path::Path,
    socket: &std::path::Path,
    table_file: &std::path::Path,
    global: GlobalLimits,
    allow: AllowList,
) -> Result<i32, String> {
    let mut settings = DaemonSettings {
        socket: socket.to_path_buf(),
        ipc_dir: ipc_dir.to_path_buf(),
        global,
        allow,
        table: None,
    };
    let table_file = table_file.to_path_buf();
    let parent = sys::getpid();
    // The httpd parent is single-threaded in post_config and its maintenance
    // callbacks (fork_process checks); the child leaves through _exit.
    sys::fork_process(move || {
        // httpd's Listen sockets are not ours to keep: a manager that
        // outlived a killed parent would hold the port.
        crate::ffi::server::close_listeners();
        // Its own process group, inherited by its apps: see on_manager_death.
        if let Err(e) = sys::own_process_group() {
            log(
                Level::Warn,
                &format!("mod_fcgid: process manager cannot lead a process group: {e}"),
            );
        }
        // While still root: the file goes where root may write (logs/).
        match super::shared_table::create(&table_file, &settings.ipc_dir, global.max_processes) {
            Ok(t) => settings.table = Some(t),
            Err(e) => log(
                Level::Warn,
                &format!(
                    "mod_fcgid: cannot make FcgidProcessTableFile {} ({e}); every request \
                     goes through the process manager",
                    table_file.display()
                ),
            ),
        }
        if let Err(e) = drop_privileges() {
            log(Level::Emerg, &format!("mod_fcgid: process manager {e}"));
            return 1;
        }
        // After the switch: a change of uid clears the parent-death signal.
        if !sys::die_with_parent(parent) {
            return 1;
        }
        // A panic is logged (with its message) and ends the manager
        // with EX_SOFTWARE; the parent then starts a new one.
        crate::ffi::guard::guard("the process manager", 70, || daemon::run(settings))
    })
    .map_err(|e| format!("mod_fcgid: cannot fork the process manager: {e}"))
}
