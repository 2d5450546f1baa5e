//! Processes: forking the manager, spawning apps, reaping, identity and
//! the descriptor limit.

use super::cvt;
use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
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

/// Did this process keep a capability (CAP_KILL) that apps must not get?
static KEPT_CAPS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn effective_or_permitted_kept() -> bool {
    KEPT_CAPS.load(Ordering::SeqCst)
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
/// fd 0 (FCGI_LISTENSOCK_FILENO), stdout and stderr the caller's stderr
/// (the error log), every signal at its default, and SIGTERM when the caller
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
        .stdin(Stdio::from(listener))
        // As C: what an app prints to stdout (outside FastCGI) lands in the
        // error log beside its stderr, not in the manager's /dev/null.
        .stdout(Stdio::from(io::stderr().as_fd().try_clone_to_owned()?));
    let parent = getpid();
    let soft = ORIGINAL_NOFILE.load(Ordering::SeqCst);
    // SAFETY: the closure runs between fork and exec and calls only
    // async-signal-safe functions (sigprocmask, signal, capset, prctl,
    // getppid, getrlimit, setrlimit); it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            super::signal::reset_all();
            // A manager that keeps CAP_KILL (suexec) passes it to no app.
            // Without it, this fails harmlessly (no capabilities to drop).
            if effective_or_permitted_kept() {
                set_caps(0)?;
            }
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

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

/// Reaps one exited child without blocking: its pid and how it ended.
pub fn reap_any() -> Option<(i32, Exit)> {
    let mut status = 0;
    // SAFETY: waitpid writes only to `status`.
    let pid = unsafe { libc::waitpid(-1, &raw mut status, libc::WNOHANG) };
    let how = if libc::WIFEXITED(status) {
        Exit::Code(libc::WEXITSTATUS(status))
    } else {
        Exit::Signal(libc::WTERMSIG(status))
    };
    (pid > 0).then_some((pid, how))
}

/// The kernel's capability sets, version 3 (two 32-bit words each).
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_VERSION_3: u32 = 0x2008_0522;
const CAP_KILL: u32 = 5;

/// Sets the calling thread's effective and permitted capabilities to
/// `mask` (bits of the first word), inheritable to none. Async-signal-safe.
fn set_caps(mask: u32) -> io::Result<()> {
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let data = [
        CapData {
            effective: mask,
            permitted: mask,
            inheritable: 0,
        },
        CapData {
            effective: 0,
            permitted: 0,
            inheritable: 0,
        },
    ];
    // SAFETY: capset reads one header and two data words, all live here.
    let rc =
        unsafe { libc::syscall(libc::SYS_capset, &raw mut header, data.as_ptr()) as libc::c_int };
    cvt(rc).map(drop)
}

/// Before a switch from root to the httpd User: keep the permitted
/// capabilities across the setuid (see `keep_only_kill`).
pub fn keep_caps_across_setuid() -> io::Result<()> {
    // SAFETY: prctl(PR_SET_KEEPCAPS) has no memory effects.
    cvt(unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) }).map(drop)
}

/// After the switch: keep only CAP_KILL (to signal apps that suexec runs
/// as other users), and no other privilege. Every uid of the process is
/// the User's, so nothing can bring root back. Fails unless
/// `keep_caps_across_setuid` came before the switch.
pub fn keep_only_kill() -> io::Result<()> {
    set_caps(1 << CAP_KILL)?;
    KEPT_CAPS.store(true, Ordering::SeqCst);
    // SAFETY: as above.
    cvt(unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) }).map(drop)
}

/// Real, effective and saved uids of the calling process.
pub fn uids() -> (u32, u32, u32) {
    let (mut r, mut e, mut s) = (0, 0, 0);
    // SAFETY: getresuid writes three uids.
    unsafe { libc::getresuid(&raw mut r, &raw mut e, &raw mut s) };
    (r, e, s)
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

/// Makes the calling process the leader of a new process group, which the
/// apps it starts inherit (suexec keeps it): the httpd parent can then
/// stop the apps of a manager that died, even those suexec started as other
/// users, which the kernel does not send the parent-death signal to.
pub fn own_process_group() -> io::Result<()> {
    // SAFETY: setpgid has no memory effects.
    cvt(unsafe { libc::setpgid(0, 0) }).map(drop)
}

/// Sends `sig` to every process left in process group `pgid` (a manager's,
/// see `own_process_group`); true if there was one.
pub fn signal_group(pgid: i32, sig: libc::c_int) -> bool {
    // SAFETY: kill(2) has no memory effects; pgid > 1 is never "all processes".
    pgid > 1 && unsafe { libc::kill(-pgid, sig) } == 0
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
    let found = pid > 0 && unsafe { libc::kill(pid, 0) } == 0;
    // EPERM: it exists, and belongs to someone we may not signal.
    found || (pid > 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

/// Is process `pid` running, not a zombie (a dead process that its parent
/// has not reaped yet, which may be long where PID 1 reaps late)?
pub fn is_running(pid: i32) -> bool {
    if !is_alive(pid) {
        return false;
    }
    // The state follows the command name, which is in parentheses.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
        stat.rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_none_or(|state| state != "Z")
    })
}

/// A descriptor that becomes readable when process `pid` exits
/// (pidfd_open, Linux 5.3 and later).
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new
    // descriptor (close-on-exec), owned at once, or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor just returned to us, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
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
            assert!(
                Instant::now() < deadline,
                "{} never written",
                path.display()
            );
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
        let script = format!(
            "{{ readlink /proc/self/fd/0; pwd; }} > {0}.tmp && mv {0}.tmp {0}",
            out.display()
        );
        sh(script, fd0, &dir).unwrap();
        let text = wait_for(&out);
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some(inode.to_str().unwrap()),
            "fd 0 is the listener"
        );
        assert_eq!(
            lines.next(),
            Some(dir.to_str().unwrap()),
            "it runs in its directory"
        );
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
        let script = format!(
            "grep -E '^Sig(Ign|Blk)' /proc/self/status > {0}.tmp && mv {0}.tmp {0}",
            out.display()
        );
        sh(script, listener, &dir).unwrap();
        let text = wait_for(&out);
        for line in text.lines() {
            assert!(line.ends_with("0000000000000000"), "{line}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
