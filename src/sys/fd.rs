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

/// One read appended to `buf`, into its spare capacity (at least `room`
/// bytes are reserved first), retried on EINTR like [`read_retrying`].
/// Nothing is zeroed beforehand: a read per request into a zeroed 16 KiB
/// buffer cost more than the rest of the request's work in the module.
pub fn read_append(fd: &impl AsRawFd, buf: &mut Vec<u8>, room: usize) -> io::Result<usize> {
    buf.reserve(room);
    let spare = buf.spare_capacity_mut();
    let (ptr, len) = (spare.as_mut_ptr(), spare.len());
    loop {
        // SAFETY: the kernel writes at most `len` bytes at `ptr`, into the
        // spare capacity: allocated (MaybeUninit) memory of `buf`.
        let n = unsafe { libc::read(fd.as_raw_fd(), ptr.cast::<libc::c_void>(), len) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let n = n as usize;
        // SAFETY: the first `n` spare bytes were initialized by read(2).
        unsafe { buf.set_len(buf.len() + n) };
        return Ok(n);
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
