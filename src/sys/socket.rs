//! Unix sockets: the path limit, a bind with an explicit mode, and a
//! connect with a timeout.

use super::cvt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::Duration;

/// The longest path a Unix socket can have: sun_path less its NUL.
pub const SUN_PATH_MAX: usize = 107;

/// Err unless `path` fits in a sockaddr_un.
pub fn check_socket_path(path: &Path) -> io::Result<()> {
    let len = path.as_os_str().len();
    if len > SUN_PATH_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("socket path of {len} bytes is over the {SUN_PATH_MAX} a Unix socket allows"),
        ));
    }
    Ok(())
}

fn sockaddr(path: &Path) -> io::Result<libc::sockaddr_un> {
    check_socket_path(path)?;
    // SAFETY: sockaddr_un is plain data, all-zero is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (d, s) in addr.sun_path.iter_mut().zip(path.as_os_str().as_bytes()) {
        *d = *s as libc::c_char;
    }
    Ok(addr)
}

/// Binds and listens on `path`, created with exactly `mode` (the umask
/// would otherwise decide who may connect). The umask is process-wide:
/// call from a single-threaded process (the manager) only.
pub fn bind_unix(path: &Path, mode: u32) -> io::Result<UnixListener> {
    // SAFETY: umask(2) only swaps the process's file-mode mask.
    let old = unsafe { libc::umask(!mode & 0o777) };
    let bound = UnixListener::bind(path);
    // SAFETY: as above, putting the previous mask back.
    unsafe { libc::umask(old) };
    bound
}

/// Connects to a Unix socket, giving up after `timeout` (a full listen
/// backlog makes a plain connect block).
pub fn connect_unix(path: &Path, timeout: Duration) -> io::Result<UnixStream> {
    let addr = sockaddr(path)?;
    // SAFETY: socket(2) returns a new descriptor, owned at once.
    let fd = unsafe {
        OwnedFd::from_raw_fd(cvt(libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
        ))?)
    };
    let tv = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: timeout.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: a timeval of the size given, on a descriptor we own.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDTIMEO,
            (&raw const tv).cast::<libc::c_void>(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    })?;
    let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    loop {
        // SAFETY: a correctly sized sockaddr_un, on a descriptor we own.
        let rc = unsafe {
            libc::connect(
                fd.as_raw_fd(),
                (&raw const addr).cast::<libc::sockaddr>(),
                len,
            )
        };
        match cvt(rc) {
            Ok(_) => return Ok(UnixStream::from(fd)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connect timed out (listen backlog full)",
                ))
            }
            Err(e) => return Err(e),
        }
    }
}

/// The pid of the process at the other end of a Unix socket (SO_PEERCRED:
/// the one that connected), if the kernel tells it.
pub fn peer_pid(stream: &UnixStream) -> Option<i32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into the ucred we own.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            std::ptr::addr_of_mut!(cred).cast(),
            &raw mut len,
        )
    };
    (rc == 0 && cred.pid > 0).then_some(cred.pid)
}

/// One sendmsg(2) of `bufs` that does not wait (MSG_DONTWAIT: WouldBlock
/// when the socket is full) and raises no SIGPIPE; the descriptor itself
/// stays blocking, so no fcntl or ioctl is needed around it.
pub fn send_vectored_nowait(fd: &impl AsRawFd, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: a zeroed msghdr is valid (no name, no control data).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // IoSlice is ABI-compatible with iovec; sendmsg only reads them.
    msg.msg_iov = bufs.as_ptr().cast_mut().cast::<libc::iovec>();
    msg.msg_iovlen = bufs.len().min(1024) as _;
    // SAFETY: msg points at `bufs`, alive for the call.
    let n = unsafe {
        libc::sendmsg(
            fd.as_raw_fd(),
            &raw const msg,
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_socket_gets_the_mode_asked_for_whatever_the_umask() {
        let dir = std::env::temp_dir().join(format!("fcgid-sys-bind-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        let _l = bind_unix(&path, 0o600).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(connect_unix(&path, Duration::from_secs(1)).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_path_too_long_for_sun_path_is_refused() {
        let long = Path::new("/").join("x".repeat(SUN_PATH_MAX));
        assert!(check_socket_path(&long).is_err());
        assert!(check_socket_path(&Path::new("/").join("x".repeat(SUN_PATH_MAX - 1))).is_ok());
        let e = connect_unix(&long, Duration::from_secs(1)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}
