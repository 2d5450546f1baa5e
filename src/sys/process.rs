//! Processes: forking the manager, spawning apps, reaping, identity and
//! the descriptor limit.

use super::cvt;
use std::ffi::OsStr;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// Threads of the calling process (/proc/self/stat, field 20).
fn thread_count() -> io::Result<usize> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    stat.rsplit_once(") ")
        .and_then(|(_, rest)| rest.split_whitespace().nth(17))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unreadable /proc/self/stat"))
}

/// Forks; the child runs `child` and leaves through `_exit` with its code
/// (70, EX_SOFTWARE, if it panics: nothing may unwind into the parent's
/// frames). Refused unless the caller is the process's only thread: fork
/// copies the calling thread alone, and locks held by others would stay
/// held forever in the child.
pub fn fork_process(child: impl FnOnce() -> i32) -> io::Result<i32> {
    let threads = thread_count()?;
    if threads != 1 {
        return Err(io::Error::other(format!(
            "refusing to fork from a process with {threads} threads"
        )));
    }
    // SAFETY: the process is single-threaded (checked above), so the child
    // is a full copy whose state no other thread was changing.
    let pid = cvt(unsafe { libc::fork() })?;
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(70);
        exit_now(code);
    }
    Ok(pid)
}

/// The soft RLIMIT_NOFILE the manager started with, given back to apps.
static ORIGINAL_NOFILE: AtomicU64 = AtomicU64::new(0);

fn rlimit_nofile() -> io::Result<libc::rlimit> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit.
    cvt(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut lim) })?;
    Ok(lim)
}

/// The soft and hard RLIMIT_NOFILE.
pub fn nofile_limit() -> io::Result<(u64, u64)> {
    rlimit_nofile().map(|l| (l.rlim_cur, l.rlim_max))
}

/// Raises the soft RLIMIT_NOFILE to the hard one (apps still start with
/// the old soft limit); returns the new (soft, hard).
pub fn raise_nofile_limit() -> io::Result<(u64, u64)> {
    let mut lim = rlimit_nofile()?;
    ORIGINAL_NOFILE.store(lim.rlim_cur, Ordering::SeqCst);
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: setrlimit reads one rlimit.
    cvt(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const lim) })?;
    Ok((lim.rlim_cur, lim.rlim_max))
}

/// Starts an app: `argv` in `cwd` with exactly `env`, `listener` as its
/// fd 0 (FCGI_LISTENSOCK_FILENO), stdout and stderr the caller's (the
/// error log), every signal at its default, and SIGTERM when the caller
/// dies. An exec or chdir failure is an error carrying its errno.
pub struct AppCommand<'a> {
    pub argv: &'a [Vec<u8>],
    pub env: &'a [(Vec<u8>, Vec<u8>)],
    pub cwd: &'a [u8],
}

/// See `AppCommand`; returns the app's pid.
pub fn spawn_app(app: &AppCommand, listener: OwnedFd) -> io::Result<i32> {
    let Some((program, args)) = app.argv.split_first() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "empty command line",
        ));
    };
    let mut cmd = Command::new(OsStr::from_bytes(program));
    cmd.args(args.iter().map(|a| OsStr::from_bytes(a)))
        .env_clear()
        .envs(
            app.env
                .iter()
                .map(|(k, v)| (OsStr::from_bytes(k), OsStr::from_bytes(v))),
        )
        .current_dir(OsStr::from_bytes(app.cwd))
        // std dup2s this onto fd 0 with close-on-exec cleared, also when
        // the listener already is fd 0 (it duplicates it out of the way first).
        .stdin(Stdio::from(listener));
    let parent = getpid();
    let soft = ORIGINAL_NOFILE.load(Ordering::SeqCst);
    // SAFETY: the closure runs between fork and exec and calls only
    // async-signal-safe functions (sigprocmask, signal, prctl, getppid,
    // getrlimit, setrlimit); it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            super::signal::reset_all();
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            // The manager died before prctl: nobody would stop this app.
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            if soft > 0 {
                let mut lim = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                if libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut lim) == 0 && soft < lim.rlim_cur {
                    lim.rlim_cur = soft;
                    libc::setrlimit(libc::RLIMIT_NOFILE, &raw const lim);
                }
            }
            Ok(())
        })
    };
    // The Child handle is dropped unwaited: the manager reaps every pid
    // with `reap_any` (std reaps a child whose exec failed itself).
    Ok(cmd.spawn()?.id() as i32)
}

/// Reaps one exited child without blocking.
pub fn reap_any() -> Option<i32> {
    let mut status = 0;
    // SAFETY: waitpid writes only to `status`.
    let pid = unsafe { libc::waitpid(-1, &raw mut status, libc::WNOHANG) };
    (pid > 0).then_some(pid)
}

/// Makes the calling process get SIGTERM when its parent dies. Returns
/// false if `parent` is already gone. Call after any change of identity:
/// the kernel clears the setting when the uid or gid changes.
pub fn die_with_parent(parent: i32) -> bool {
    // SAFETY: prctl with PR_SET_PDEATHSIG and getppid have no memory effects.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
        libc::getppid() == parent
    }
}

/// Leaves the process at once, running no atexit handlers or destructors
/// (those belong to httpd's parent, whose copy we are).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no shared state.
    unsafe { libc::_exit(code) }
}

pub fn getpid() -> i32 {
    std::process::id() as i32
}

/// The effective uid.
pub fn euid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

pub fn is_root() -> bool {
    euid() == 0
}

/// Does process `pid` exist (a zombie counts)?
pub fn is_alive(pid: i32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks for the process.
    pid > 0 && unsafe { libc::kill(pid, 0) } == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsRawFd, FromRawFd};
    use std::os::unix::ffi::OsStringExt;
    use std::os::unix::net::UnixListener;
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("fcgid-sys-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn wait_for(path: &std::path::Path) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(s) = std::fs::read_to_string(path) {
                return s;
            }
            assert!(Instant::now() < deadline, "{} never written", path.display());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn sh(script: String, listener: OwnedFd, cwd: &std::path::Path) -> io::Result<i32> {
        let argv = [b"/bin/sh".to_vec(), b"-c".to_vec(), script.into_bytes()];
        let app = AppCommand {
            argv: &argv,
            env: &[(b"PATH".to_vec(), b"/usr/bin:/bin".to_vec())],
            cwd: cwd.as_os_str().as_bytes(),
        };
        spawn_app(&app, listener)
    }

    #[test]
    fn the_app_gets_its_socket_as_fd_0_even_when_it_already_was_fd_0() {
        let dir = scratch("fd0");
        let listener = UnixListener::bind(dir.join("app.sock")).unwrap();
        let inode = std::fs::read_link(format!("/proc/self/fd/{}", listener.as_raw_fd())).unwrap();
        // Put the listener at fd 0 (over the test's stdin), close-on-exec
        // set as every descriptor of the manager is.
        // SAFETY: dup3 onto fd 0, which this test then owns.
        let fd0 = unsafe {
            assert_eq!(libc::dup3(listener.as_raw_fd(), 0, libc::O_CLOEXEC), 0);
            OwnedFd::from_raw_fd(0)
        };
        let out = dir.join("out");
        let script = format!("{{ readlink /proc/self/fd/0; pwd; }} > {0}.tmp && mv {0}.tmp {0}", out.display());
        sh(script, fd0, &dir).unwrap();
        let text = wait_for(&out);
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(inode.to_str().unwrap()), "fd 0 is the listener");
        assert_eq!(lines.next(), Some(dir.to_str().unwrap()), "it runs in its directory");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_exec_failure_is_an_error_with_its_errno() {
        let dir = scratch("noexec");
        let listener: OwnedFd = UnixListener::bind(dir.join("app.sock")).unwrap().into();
        let app = AppCommand {
            argv: &[dir.join("missing").into_os_string().into_vec()],
            env: &[],
            cwd: b"/",
        };
        let e = spawn_app(&app, listener).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn every_signal_up_to_sigrtmax_starts_at_its_default() {
        let dir = scratch("signals");
        // SAFETY: ignoring real-time signals the test process never uses.
        unsafe {
            libc::signal(libc::SIGRTMAX(), libc::SIG_IGN);
            libc::signal(libc::SIGRTMAX() - 1, libc::SIG_IGN);
        }
        let listener: OwnedFd = UnixListener::bind(dir.join("app.sock")).unwrap().into();
        let out = dir.join("status");
        let script = format!("grep -E '^Sig(Ign|Blk)' /proc/self/status > {0}.tmp && mv {0}.tmp {0}", out.display());
        sh(script, listener, &dir).unwrap();
        let text = wait_for(&out);
        for line in text.lines() {
            assert!(line.ends_with("0000000000000000"), "{line}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
