//! Signals: the manager's handlers (the self-pipe trick), sending signals,
//! and putting every disposition back to default for a new program.

use super::{cvt, errno, set_errno};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// Signals that reached the manager, recorded by async-signal-safe handlers.
pub static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);
pub static DRAIN_REQUESTED: AtomicBool = AtomicBool::new(false);
/// Set by SIGCHLD: a child may be waiting to be reaped. Lets the manager
/// skip waitpid (which walks every child in the kernel) when none exited.
pub static CHILD_EXITED: AtomicBool = AtomicBool::new(false);
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    // The interrupted code may be about to read errno (after a failed
    // read, say): the write below must not change it under its feet.
    let saved = errno();
    match sig {
        libc::SIGTERM | libc::SIGINT => STOP_REQUESTED.store(true, Ordering::SeqCst),
        libc::SIGUSR1 => DRAIN_REQUESTED.store(true, Ordering::SeqCst),
        libc::SIGCHLD => CHILD_EXITED.store(true, Ordering::SeqCst),
        _ => {}
    }
    let fd = WAKE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; a full pipe just drops the byte.
        unsafe { libc::write(fd, b"!".as_ptr().cast::<libc::c_void>(), 1) };
    }
    set_errno(saved);
}

/// Installs the manager's signal handlers; returns the read end of a pipe
/// that becomes readable whenever a signal arrives (the self-pipe trick).
/// SIGTERM/SIGINT ask for stop, SIGUSR1 for drain, SIGCHLD wakes the loop.
pub fn install_manager_signals() -> io::Result<OwnedFd> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors, owned at once.
    let read = unsafe {
        cvt(libc::pipe2(
            fds.as_mut_ptr(),
            libc::O_CLOEXEC | libc::O_NONBLOCK,
        ))?;
        OwnedFd::from_raw_fd(fds[0])
    };
    // The write end lives as long as the process: the handler may run any time.
    WAKE_FD.store(fds[1], Ordering::SeqCst);
    // SAFETY: sigaction installs a handler that only touches atomics, errno
    // and write(2); the other calls change only dispositions and the mask.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&raw mut sa.sa_mask);
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGUSR1, libc::SIGCHLD] {
            cvt(libc::sigaction(sig, &raw const sa, std::ptr::null_mut()))?;
        }
        for sig in [libc::SIGHUP, libc::SIGPIPE, libc::SIGWINCH, libc::SIGUSR2] {
            libc::signal(sig, libc::SIG_IGN);
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &raw const none, std::ptr::null_mut());
    }
    Ok(read)
}

/// Every disposition back to default and nothing blocked: ignored signals
/// survive exec, and an app must not start deaf to SIGTERM or SIGPIPE.
/// Async-signal-safe (runs between fork and exec).
pub(super) fn reset_all() {
    // SAFETY: sigprocmask and signal(2) change only this process's signal state.
    unsafe {
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &raw const none, std::ptr::null_mut());
        // SIGRTMAX included; SIGKILL and SIGSTOP just fail. The system call
        // itself, as glibc refuses to touch its own two (32 and 33), and an
        // ignored one would reach the app. A zeroed kernel sigaction is
        // SIG_DFL with no flags and an empty mask.
        let dfl = [0u64; 4];
        for sig in 1..=libc::SIGRTMAX() {
            libc::syscall(libc::SYS_rt_sigaction, sig, dfl.as_ptr(), 0usize, 8usize);
        }
    }
}

/// Sends SIGTERM (or SIGKILL) to `pid`; a process already gone is not an error.
pub fn signal(pid: i32, kill: bool) {
    signal_with(pid, if kill { libc::SIGKILL } else { libc::SIGTERM });
}

/// Sends signal `sig` to `pid` (never to a group: pid must be positive).
pub fn signal_with(pid: i32, sig: libc::c_int) {
    if pid > 0 {
        // SAFETY: kill(2) has no memory effects.
        unsafe { libc::kill(pid, sig) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handler_leaves_errno_as_it_found_it() {
        // A descriptor that is not open: the handler's write fails with EBADF.
        WAKE_FD.store(1 << 20, Ordering::SeqCst);
        set_errno(libc::ENOENT);
        on_signal(libc::SIGCHLD);
        let after = errno();
        WAKE_FD.store(-1, Ordering::SeqCst);
        assert_eq!(after, libc::ENOENT);
    }
}
