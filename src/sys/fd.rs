//! Reads on descriptors: retried on EINTR, or drained without blocking.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

/// One read, retried when a signal interrupts it. httpd's prefork children
/// get SIGUSR1 on a graceful restart, and a read on a socket with a receive
/// timeout is never restarted by the kernel (signal(7)).
pub fn read_retrying(r: &mut impl io::Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Empties a non-blocking pipe (the manager's self-pipe after a wake-up).
pub fn drain_pipe(fd: &OwnedFd) {
    let mut buf = [0u8; 64];
    // SAFETY: reading into a local buffer of that length from a pipe we own.
    while unsafe {
        libc::read(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast::<libc::c_void>(),
            buf.len(),
        )
    } > 0
    {}
}
