//! The few system calls std does not wrap, one file per concern. With
//! `ffi`, this is the only place `unsafe` appears: every block is behind a
//! safe function here, with a SAFETY comment.

mod fd;
mod fd_pass;
mod poll;
mod process;
mod shm;
mod signal;
mod socket;

pub use fd::{drain_pipe, read_append, read_retrying};
pub use fd_pass::{peer_hung_up, recv_with_fds, send_with_fd};
pub use poll::{poll_readable, wait_io, wait_readable, Poller};
pub use process::{
    die_with_parent, euid, exit_now, fork_process, getpid, is_alive, is_root, is_running,
    keep_caps_across_setuid, keep_only_kill, nofile_limit, own_process_group, pidfd_open,
    raise_nofile_limit, reap_any, signal_group, spawn_app, uids, AppCommand, Exit,
};
pub use shm::{file_id, map_table_file, monotonic_ns, NewTableFile, SharedWords};
pub use signal::{
    install_manager_signals, signal, signal_with, CHILD_EXITED, DRAIN_REQUESTED, STOP_REQUESTED,
};
pub use socket::{
    bind_unix, check_socket_path, connect_unix, peer_pid, send_vectored_nowait, SUN_PATH_MAX,
};

use std::io;

/// A libc return value as a Result: negative means errno.
fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// The calling thread's errno, for code (a signal handler) that must put it back.
fn errno() -> libc::c_int {
    // SAFETY: __errno_location returns this thread's errno slot, always valid.
    unsafe { *libc::__errno_location() }
}

fn set_errno(value: libc::c_int) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = value }
}
