//! FcgidIPCDir: where the manager and the apps listen. Whoever can connect
//! there can have the manager run a command, so it belongs to the httpd
//! User alone (0700, the manager's and apps' sockets 0600).

use crate::sys;
use std::fs::{DirBuilder, File, Permissions};
use std::io::{Error, ErrorKind, Result};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The longest name of a socket in the directory: the manager's is
/// "pm.sock", an app's "PID-N.sock" (a pid has up to 7 digits; N counts
/// spawns, 10 digits are billions of them).
const LONGEST_SOCKET_NAME: &str = "4194304-1000000000.sock";

/// Err (naming the directive) if sockets in `dir` would not fit in a
/// sockaddr_un: the manager would fail to start, again and again.
pub fn check_socket_paths(dir: &Path) -> std::result::Result<(), String> {
    sys::check_socket_path(&dir.join(LONGEST_SOCKET_NAME)).map_err(|_| {
        format!(
            "mod_fcgid: FcgidIPCDir {} is too long ({} bytes): the sockets in it need up to {} \
             more, and a Unix socket path has at most {}",
            dir.display(),
            dir.as_os_str().len(),
            LONGEST_SOCKET_NAME.len() + 1,
            sys::SUN_PATH_MAX
        )
    })
}

/// Who must own the directory: the User when httpd starts as root (the
/// manager switches to it), else whoever runs httpd.
fn owner() -> (u32, u32) {
    if sys::is_root() {
        crate::ffi::process::httpd_user()
    } else {
        (sys::euid(), u32::MAX)
    }
}

/// Creates `dir` 0700 and owned by the User, or checks that an existing one
/// is exactly that. An existing path is never chowned or chmodded: it may
/// be a link planted by the User (its parent is often the User's), and
/// root must not follow it.
pub fn prepare(dir: &Path) -> Result<()> {
    let (uid, gid) = owner();
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => Err(Error::new(
            ErrorKind::InvalidInput,
            "it is a symbolic link; refusing to use it",
        )),
        Ok(m) if !m.is_dir() => Err(Error::new(ErrorKind::InvalidInput, "it is not a directory")),
        Ok(m) if m.uid() != uid => Err(Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "it is owned by uid {}, not by the httpd User (uid {uid}); remove it to have it \
                 made again",
                m.uid()
            ),
        )),
        Ok(m) if m.mode() & 0o077 != 0 => Err(Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "it is open to others than its owner (mode {:04o}); chmod 700 it",
                m.mode() & 0o7777
            ),
        )),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => create(dir, uid, gid),
        Err(e) => Err(e),
    }
}

fn create(dir: &Path, uid: u32, gid: u32) -> Result<()> {
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)?;
    }
    DirBuilder::new().mode(0o700).create(dir)?;
    // Through a descriptor that cannot be a link: the parent may be writable
    // by the User, who could swap the new directory for one.
    let d = File::options()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(dir)?;
    // The umask may have taken bits off.
    d.set_permissions(Permissions::from_mode(0o700))?;
    if sys::is_root() {
        std::os::unix::fs::fchown(&d, Some(uid), Some(gid))?;
    }
    Ok(())
}

/// The manager's pid in an app socket's name ("PID-N.sock"), if it is one.
fn socket_owner(name: &str) -> Option<i32> {
    let (pid, rest) = name.strip_suffix(".sock")?.split_once('-')?;
    (rest.bytes().all(|b| b.is_ascii_digit()) && !rest.is_empty())
        .then(|| pid.parse().ok())
        .flatten()
}

/// Is the manager whose pid named a socket gone? A manager starting (`me`)
/// has no sockets yet, so one under its own pid is a dead manager's that
/// had the same pid: in a container httpd is PID 1 in a fresh pid
/// namespace each time, and so may its manager's pid repeat.
fn manager_gone(pid: i32, me: i32, manager_alive: impl Fn(i32) -> bool) -> bool {
    pid == me || !manager_alive(pid)
}

/// Removes the app sockets in `dir` left by managers that are gone (one
/// killed with its httpd leaves them: nothing else would ever remove them).
/// A socket of a live manager (a graceful restart's draining one) stays.
/// `me` is the starting manager's pid. Returns how many were removed.
pub fn remove_stale_sockets(dir: &Path, me: i32, manager_alive: impl Fn(i32) -> bool) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_socket()))
        .filter(|e| {
            e.file_name()
                .to_str()
                .and_then(socket_owner)
                .is_some_and(|pid| manager_gone(pid, me, &manager_alive))
        })
        .filter(|e| std::fs::remove_file(e.path()).is_ok())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn app_socket_names_give_their_managers_pid() {
        assert_eq!(socket_owner("4242-17.sock"), Some(4242));
        assert_eq!(socket_owner("pm.sock"), None);
        assert_eq!(socket_owner("4242-x.sock"), None);
        assert_eq!(socket_owner("4242-17.socket"), None);
        assert_eq!(socket_owner("a-1.sock"), None);
    }

    #[test]
    fn a_socket_under_the_starting_managers_own_pid_is_a_dead_ones() {
        let alive = |pid: i32| pid == 1 || pid == 200;
        assert!(manager_gone(1, 1, alive), "same pid as a killed manager");
        assert!(!manager_gone(200, 1, alive), "a draining manager's stay");
        assert!(manager_gone(100, 1, alive));
    }

    #[test]
    fn only_sockets_of_gone_managers_are_removed() {
        let dir = std::env::temp_dir().join(format!("fcgid-stale-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let names = ["100-1.sock", "100-2.sock", "200-1.sock", "pm.sock"];
        let _listeners: Vec<UnixListener> = names
            .iter()
            .map(|n| UnixListener::bind(dir.join(n)).unwrap())
            .collect();
        // Not a socket: never touched.
        std::fs::write(dir.join("100-3.sock"), "").unwrap();
        assert_eq!(remove_stale_sockets(&dir, 300, |pid| pid == 200), 2);
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["100-3.sock", "200-1.sock", "pm.sock"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
