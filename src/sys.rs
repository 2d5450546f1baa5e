//! The few system calls std does not wrap: fork/exec of app processes,
//! signals, poll, and a Unix-socket connect with a timeout. Every unsafe
//! block outside `ffi` lives here, each behind a safe function.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Everything an app process needs, prepared before fork so the child does
/// no allocation between fork and exec.
pub struct ExecPlan {
    argv: Vec<CString>,
    envp: Vec<CString>,
    cwd: CString,
    failure_note: Vec<u8>,
}

fn c_string(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "NUL byte in command, directory or environment",
        )
    })
}

impl ExecPlan {
    pub fn new(argv: &[Vec<u8>], env: &[(Vec<u8>, Vec<u8>)], cwd: &[u8]) -> io::Result<ExecPlan> {
        if argv.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "empty command line",
            ));
        }
        let argv = argv
            .iter()
            .map(|a| c_string(a))
            .collect::<io::Result<Vec<_>>>()?;
        let envp = env
            .iter()
            .map(|(k, v)| {
                let mut kv = k.clone();
                kv.push(b'=');
                kv.extend_from_slice(v);
                c_string(&kv)
            })
            .collect::<io::Result<Vec<_>>>()?;
        let failure_note =
            format!("mod_fcgid: cannot execute {}\n", argv[0].to_string_lossy()).into_bytes();
        Ok(ExecPlan {
            argv,
            envp,
            cwd: c_string(cwd)?,
            failure_note,
        })
    }
}

/// Forks and execs an app with `listener` as its fd 0 (FCGI_LISTENSOCK_FILENO).
/// The app gets SIGTERM if the calling process (the manager) dies. A failed
/// exec (or chdir) is reported as an error, not as a process that dies at once:
/// the child sends its errno through a close-on-exec pipe, which a successful
/// exec closes unread.
pub fn spawn_app(plan: &ExecPlan, listener: &impl AsRawFd) -> io::Result<i32> {
    let mut argv: Vec<*const libc::c_char> = plan.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = plan.envp.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    let fd = listener.as_raw_fd();
    let mut report = [0; 2];
    // SAFETY: pipe2 fills two descriptors, wrapped at once so they cannot leak.
    let (report_read, report_write) = unsafe {
        cvt(libc::pipe2(report.as_mut_ptr(), libc::O_CLOEXEC))?;
        (
            OwnedFd::from_raw_fd(report[0]),
            OwnedFd::from_raw_fd(report[1]),
        )
    };
    // SAFETY: after fork the child calls only async-signal-safe functions on data
    // prepared above, then execs or _exits; the parent just gets the pid.
    let pid = unsafe {
        let pid = cvt(libc::fork())?;
        if pid == 0 {
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&raw mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &raw const none, std::ptr::null_mut());
            // Every disposition back to default: ignored ones survive exec.
            for sig in 1..libc::SIGRTMAX() {
                libc::signal(sig, libc::SIG_DFL);
            }
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            if libc::dup2(fd, 0) >= 0 && libc::chdir(plan.cwd.as_ptr()) >= 0 {
                libc::execve(argv[0], argv.as_ptr(), envp.as_ptr());
            }
            let errno = *libc::__errno_location();
            libc::write(
                report_write.as_raw_fd(),
                (&raw const errno).cast::<libc::c_void>(),
                4,
            );
            libc::write(
                2,
                plan.failure_note.as_ptr().cast::<libc::c_void>(),
                plan.failure_note.len(),
            );
            libc::_exit(127);
        }
        pid
    };
    drop(report_write);
    let mut errno = [0u8; 4];
    let mut got = 0;
    loop {
        // SAFETY: reading into a local buffer from the pipe we own.
        let n = unsafe {
            libc::read(
                report_read.as_raw_fd(),
                errno[got..].as_mut_ptr().cast::<libc::c_void>(),
                4 - got,
            )
        };
        if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        if n <= 0 {
            break;
        }
        got += n as usize;
        if got == 4 {
            break;
        }
    }
    if got == 0 {
        return Ok(pid);
    }
    // The child has exited (or is about to): reap it here, it was never an app.
    // SAFETY: waitpid on our own child, writing only to a local.
    unsafe {
        let mut status = 0;
        libc::waitpid(pid, &raw mut status, 0);
    }
    Err(io::Error::from_raw_os_error(i32::from_ne_bytes(errno)))
}

/// One read, retried when a signal interrupts it. httpd's prefork children
/// get SIGUSR1 on a graceful restart, and a read on a socket with a receive
/// timeout is never restarted by the kernel (signal(7)).
pub fn read_retrying(r: &mut impl std::io::Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Sends SIGTERM (or SIGKILL) to `pid`; a process already gone is not an error.
pub fn signal(pid: i32, kill: bool) {
    if pid > 0 {
        // SAFETY: kill(2) has no memory effects.
        unsafe { libc::kill(pid, if kill { libc::SIGKILL } else { libc::SIGTERM }) };
    }
}

/// Sends signal `sig` to `pid`.
pub fn signal_with(pid: i32, sig: libc::c_int) {
    if pid > 0 {
        // SAFETY: kill(2) has no memory effects.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Reaps one exited child without blocking.
pub fn reap_any() -> Option<i32> {
    let mut status = 0;
    // SAFETY: waitpid writes only to `status`.
    let pid = unsafe { libc::waitpid(-1, &raw mut status, libc::WNOHANG) };
    (pid > 0).then_some(pid)
}

/// Waits up to `timeout` for any of `fds` to be readable (or to hang up).
/// Returns, for each fd, whether it is ready.
pub fn poll_readable(fds: &[RawFd], timeout: Duration) -> io::Result<Vec<bool>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: pfds is a valid array of pollfd of the given length.
    let rc = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![false; fds.len()]);
        }
        return Err(e);
    }
    Ok(pfds.iter().map(|p| p.revents != 0).collect())
}

/// Readiness of many descriptors at once (epoll), so the manager's cost per
/// wake-up does not grow with the number of connected httpd threads.
pub struct Poller {
    epoll: OwnedFd,
    events: Vec<libc::epoll_event>,
}

impl Poller {
    pub fn new() -> io::Result<Poller> {
        // SAFETY: epoll_create1 returns a new descriptor we own at once.
        let fd = unsafe { OwnedFd::from_raw_fd(cvt(libc::epoll_create1(libc::EPOLL_CLOEXEC))?) };
        Ok(Poller {
            epoll: fd,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; 256],
        })
    }

    /// Watches `fd` for input (or hang-up), reported with `token`.
    pub fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: ev is a valid epoll_event; fd is open (the caller owns it).
        cvt(unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &raw mut ev) })
            .map(|_| ())
    }

    /// Stops watching `fd` (call before closing it).
    pub fn remove(&self, fd: RawFd) {
        // SAFETY: a null event is allowed for EPOLL_CTL_DEL.
        unsafe {
            libc::epoll_ctl(
                self.epoll.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut(),
            )
        };
    }

    /// Waits up to `timeout`; returns the tokens of the ready descriptors.
    pub fn wait(&mut self, timeout: Duration) -> io::Result<Vec<u64>> {
        // Rounded up: a deadline 0.4 ms away must not become a busy loop.
        let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
        // SAFETY: the buffer holds events.len() entries for the kernel to fill.
        let n = unsafe {
            libc::epoll_wait(
                self.epoll.as_raw_fd(),
                self.events.as_mut_ptr(),
                self.events.len() as libc::c_int,
                ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(Vec::new())
            } else {
                Err(e)
            };
        }
        Ok(self.events[..n as usize].iter().map(|e| e.u64).collect())
    }
}

/// Waits up to `timeout` for `fd` to become readable or writable; returns
/// (readable, writable), both false on timeout.
pub fn wait_io(fd: RawFd, timeout: Duration) -> io::Result<(bool, bool)> {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN | libc::POLLOUT,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: one valid pollfd.
    let rc = unsafe { libc::poll(&raw mut p, 1, ms) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok((false, true))
        } else {
            Err(e)
        };
    }
    let hup = p.revents & (libc::POLLHUP | libc::POLLERR) != 0;
    Ok((
        p.revents & libc::POLLIN != 0 || hup,
        p.revents & libc::POLLOUT != 0,
    ))
}

/// Is `fd` readable right now (data or hang-up)?
pub fn readable_now(fd: RawFd) -> bool {
    poll_readable(&[fd], Duration::ZERO)
        .map(|r| r[0])
        .unwrap_or(false)
}

/// Connects to a Unix socket, giving up after `timeout` (a full listen
/// backlog makes a plain connect block).
pub fn connect_unix(path: &Path, timeout: Duration) -> io::Result<UnixStream> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    // SAFETY: sockaddr_un is plain data; we bound-check the path before copying.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if bytes.len() >= addr.sun_path.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "socket path too long",
        ));
    }
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    // SAFETY: socket/setsockopt/connect on a descriptor we own, with a correctly
    // sized sockaddr_un; the fd is wrapped in OwnedFd at once so it cannot leak.
    unsafe {
        let fd = OwnedFd::from_raw_fd(cvt(libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
        ))?);
        let tv = libc::timeval {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_usec: timeout.subsec_micros() as libc::suseconds_t,
        };
        cvt(libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDTIMEO,
            (&raw const tv).cast::<libc::c_void>(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        ))?;
        let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
        loop {
            match cvt(libc::connect(
                fd.as_raw_fd(),
                (&raw const addr).cast::<libc::sockaddr>(),
                len,
            )) {
                Ok(_) => break,
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
        Ok(UnixStream::from(fd))
    }
}

/// Signals that reached the manager, recorded by async-signal-safe handlers.
pub static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);
pub static DRAIN_REQUESTED: AtomicBool = AtomicBool::new(false);
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    match sig {
        libc::SIGTERM | libc::SIGINT => STOP_REQUESTED.store(true, Ordering::SeqCst),
        libc::SIGUSR1 => DRAIN_REQUESTED.store(true, Ordering::SeqCst),
        _ => {}
    }
    let fd = WAKE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; a full pipe just drops the byte.
        unsafe { libc::write(fd, b"!".as_ptr().cast::<libc::c_void>(), 1) };
    }
}

/// Installs the manager's signal handlers; returns the read end of a pipe
/// that becomes readable whenever a signal arrives (the self-pipe trick).
/// SIGTERM/SIGINT ask for stop, SIGUSR1 for drain, SIGCHLD wakes the loop.
pub fn install_manager_signals() -> io::Result<OwnedFd> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors we then own; sigaction installs a
    // handler that only touches atomics and write(2).
    unsafe {
        cvt(libc::pipe2(
            fds.as_mut_ptr(),
            libc::O_CLOEXEC | libc::O_NONBLOCK,
        ))?;
        let read = OwnedFd::from_raw_fd(fds[0]);
        WAKE_FD.store(fds[1], Ordering::SeqCst);
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
        Ok(read)
    }
}

/// Empties the self-pipe after a wake-up.
pub fn drain_pipe(fd: &OwnedFd) {
    let mut buf = [0u8; 64];
    // SAFETY: reading into a local buffer from a non-blocking pipe we own.
    while unsafe {
        libc::read(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast::<libc::c_void>(),
            buf.len(),
        )
    } > 0
    {}
}

/// Makes the calling process get SIGTERM when its parent dies.
pub fn die_with_parent() {
    // SAFETY: prctl with PR_SET_PDEATHSIG has no memory effects.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) };
}

/// fork(2). In the child, returns Ok(0).
///
/// # Safety
/// The caller must be single-threaded (true in the httpd parent during
/// post_config) or call only async-signal-safe functions in the child.
pub unsafe fn fork() -> io::Result<i32> {
    // SAFETY: the caller upholds the contract above.
    cvt(unsafe { libc::fork() })
}

/// Leaves the process at once, running no atexit handlers or destructors
/// (those belong to httpd's parent, whose copy we are).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no shared state.
    unsafe { libc::_exit(code) }
}

pub fn getpid() -> i32 {
    // SAFETY: getpid cannot fail.
    unsafe { libc::getpid() }
}

pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Does process `pid` exist (a zombie counts)?
pub fn is_alive(pid: i32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks for the process.
    pid > 0 && unsafe { libc::kill(pid, 0) } == 0
}

