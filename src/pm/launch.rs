//! Starting the process manager from the httpd parent, and bringing it back
//! if it dies, without restarting httpd.

use super::daemon::{self, DaemonSettings};
use super::policy::GlobalLimits;
use crate::ffi::log::{main_server as log, Level};
use crate::ffi::pool::Pool;
use crate::ffi::process;
use crate::sys;
use std::path::PathBuf;
use std::sync::Mutex;

/// What the parent knows about the current manager.
struct Current {
    pid: i32,
    socket: PathBuf,
    ipc_dir: PathBuf,
    global: GlobalLimits,
    /// Pool that outlives restarts (the process pool), for the watch.
    long_pool: Pool,
}

// The Pool handle is only used from the parent's single thread.
struct Slot(Option<Current>);
unsafe impl Send for Slot {}

static CURRENT: Mutex<Slot> = Mutex::new(Slot(None));

/// Forks the manager. Called in the parent on the real configuration pass.
pub fn start(
    ipc_dir: PathBuf,
    socket: PathBuf,
    global: GlobalLimits,
    long_pool: Pool,
    config_pool: Pool,
) -> Result<(), String> {
    let pid = fork_manager(&ipc_dir, &socket, global)?;
    *CURRENT.lock().unwrap() = Slot(Some(Current {
        pid,
        socket,
        ipc_dir,
        global,
        long_pool,
    }));
    process::watch_child(long_pool, pid, on_manager_death);
    // When this configuration ends: on stop, the manager stops every app; on
    // restart, it drains (requests in flight finish) while the next
    // generation's manager takes over the socket.
    let parent = sys::getpid();
    config_pool.on_cleanup(move || {
        // httpd children may run this pool's cleanups when they exit; only
        // the parent speaks for the configuration's end.
        if sys::getpid() != parent {
            return;
        }
        // The manager of this generation may have been replaced after a
        // crash: signal whichever one is current.
        let Some(cur) = CURRENT.lock().unwrap().0.take() else {
            return;
        };
        let exiting = process::is_exiting();
        log(
            Level::Debug,
            &format!(
                "mod_fcgid: telling process manager {} to {}",
                cur.pid,
                if exiting { "stop" } else { "drain" }
            ),
        );
        sys::signal_with(
            cur.pid,
            if exiting {
                libc::SIGTERM
            } else {
                libc::SIGUSR1
            },
        );
    });
    Ok(())
}

/// Where the current manager listens (in children: the one of their generation).
pub fn manager_socket() -> Option<PathBuf> {
    CURRENT.lock().ok()?.0.as_ref().map(|c| c.socket.clone())
}

fn on_manager_death(pid: i32) {
    let mut slot = CURRENT.lock().unwrap();
    let Some(cur) = slot.0.as_mut() else { return };
    if cur.pid != pid || process::is_exiting() {
        return;
    }
    log(
        Level::Err,
        &format!("mod_fcgid: process manager {pid} died; starting a new one"),
    );
    match fork_manager(&cur.ipc_dir, &cur.socket, cur.global) {
        Ok(new_pid) => {
            cur.pid = new_pid;
            process::watch_child(cur.long_pool, new_pid, on_manager_death);
        }
        Err(e) => log(Level::Emerg, &e),
    }
}

fn fork_manager(
    ipc_dir: &std::path::Path,
    socket: &std::path::Path,
    global: GlobalLimits,
) -> Result<i32, String> {
    let settings = DaemonSettings {
        socket: socket.to_path_buf(),
        ipc_dir: ipc_dir.to_path_buf(),
        global,
    };
    // SAFETY: the httpd parent is single-threaded during post_config and in its
    // maintenance callbacks; the child runs only our code and leaves with _exit.
    match unsafe { sys::fork() } {
        Err(e) => Err(format!("mod_fcgid: cannot fork the process manager: {e}")),
        Ok(0) => {
            sys::die_with_parent();
            if !process::become_httpd_user() {
                log(
                    Level::Emerg,
                    "mod_fcgid: process manager cannot switch to the httpd User",
                );
                sys::exit_now(1);
            }
            let code = std::panic::catch_unwind(|| daemon::run(settings)).unwrap_or(1);
            sys::exit_now(code)
        }
        Ok(pid) => Ok(pid),
    }
}
