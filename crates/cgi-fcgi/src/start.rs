//! Starting application servers: one listening socket, handed to each copy
//! as its file descriptor 0 (FCGI_LISTENSOCK_FILENO).

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use super::addr::{ConnName, ListenError};
use super::failure::{Failure, EXIT_BAD_NAME};

#[derive(Debug)]
pub enum StartError {
    NotExecutable,
    Listen(ListenError),
    Spawn(io::Error),
}

impl StartError {
    /// Whether the listening address is taken (someone else started first).
    pub fn address_in_use(&self) -> bool {
        matches!(self, StartError::Listen(ListenError::Io(e))
            if e.kind() == io::ErrorKind::AddrInUse)
    }

    pub fn into_failure(self, app: &OsStr, conn_name: &str) -> Failure {
        let app = app.to_string_lossy();
        let (message, code) = match self {
            // The original's message and status.
            StartError::NotExecutable => (format!("{app} is not executable"), 1),
            StartError::Listen(ListenError::Lookup(m)) => {
                (format!("Could not listen on {conn_name}: {m}"), 1)
            }
            StartError::Listen(ListenError::Io(e)) => (
                format!("Could not listen on {conn_name}: {e}"),
                Failure::errno_or(&e, EXIT_BAD_NAME),
            ),
            StartError::Spawn(e) => (format!("Could not start {app}: {e}"), Failure::errno(&e)),
        };
        Failure::new(message, "could not start the FastCGI application", code)
    }
}

/// Listens on `conn` and starts `servers` copies of `app` on the socket.
/// They keep running after we exit; we never wait for them.
pub fn start(conn: &ConnName, app: &OsStr, servers: u32) -> Result<(), StartError> {
    // Checked before the socket is made, so a typo leaves no socket behind.
    if !is_executable(app) {
        return Err(StartError::NotExecutable);
    }
    let listener = conn.listen().map_err(StartError::Listen)?;
    for _ in 0..servers {
        spawn(app, &listener).map_err(StartError::Spawn)?;
    }
    Ok(())
}

/// Starts one copy: `app` with argv[0] = `app`, our environment and working
/// directory, the listener as fd 0 and /dev/null as fds 1 and 2 (the
/// original closes them, so a file the app opens could become its
/// "stdout"). Nothing else is inherited: std opens every descriptor
/// close-on-exec. No shell and no PATH search, as with execl().
fn spawn(app: &OsStr, listener: &OwnedFd) -> io::Result<()> {
    let program = if app.as_bytes().contains(&b'/') {
        Path::new(app).to_path_buf()
    } else {
        Path::new(".").join(app)
    };
    Command::new(program)
        .arg0(app)
        .stdin(Stdio::from(listener.try_clone()?))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    // The child is not waited for: it is meant to outlive us.
    Ok(())
}

/// The original's access(app, X_OK) check, without libc: a file whose
/// mode lets our effective user execute it (root: any execute bit). The
/// owner of /proc/self is the effective uid and gid. Supplementary groups
/// are not consulted.
fn is_executable(app: &OsStr) -> bool {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if app.as_bytes().contains(&0) {
        return false;
    }
    let Ok(meta) = std::fs::metadata(app) else {
        return false;
    };
    let mode = meta.permissions().mode();
    let Ok(me) = std::fs::metadata("/proc/self") else {
        return mode & 0o111 != 0;
    };
    let bits = if me.uid() == 0 {
        0o111
    } else if me.uid() == meta.uid() {
        0o100
    } else if me.gid() == meta.gid() {
        0o010
    } else {
        0o001
    };
    mode & bits != 0
}

/// An exclusive lock on a directory, held until dropped. Taken around the
/// second connect attempt and the start, so that concurrent first requests
/// start the application once instead of each replacing the socket (which
/// would leave the earlier servers running with nobody able to reach them).
pub fn lock_dir(dir: &Path) -> Option<File> {
    let file = File::open(dir).ok()?;
    file.lock().ok()?;
    Some(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executables() {
        assert!(is_executable(OsStr::new("/bin/sh")));
        assert!(!is_executable(OsStr::new("/etc/passwd")));
        assert!(!is_executable(OsStr::new("/nonexistent")));
        assert!(!is_executable(OsStr::from_bytes(b"/bin/s\0h")));
    }

    #[test]
    fn not_executable_fails_before_listening() {
        let dir = std::env::temp_dir().join(format!("cgi-fcgi-start-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("s.sock");
        let conn = ConnName::Unix(sock.clone());
        let e = start(&conn, OsStr::new("/etc/passwd"), 1).unwrap_err();
        assert!(matches!(e, StartError::NotExecutable));
        assert!(!sock.exists());
        let f = e.into_failure(OsStr::new("/etc/passwd"), "s");
        assert_eq!(
            (f.message.as_str(), f.exit_code),
            ("/etc/passwd is not executable", 1)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_server_gets_the_listener_as_fd_0() {
        use std::io::Read;
        use std::os::unix::net::UnixStream;
        let dir = std::env::temp_dir().join(format!("cgi-fcgi-start-fd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("s.sock");
        // A "server" that accepts one connection on fd 0 and writes what it
        // has as fds 0..3, then exits.
        let script = dir.join("server");
        std::fs::write(
            &script,
            "#!/usr/bin/env python3\nimport os, socket\n\
             s = socket.socket(fileno=0)\nc, _ = s.accept()\n\
             kinds = [os.readlink('/proc/self/fd/%d' % n) for n in (1, 2)]\n\
             c.sendall(('%d %s' % (s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN), ' '.join(kinds))).encode())\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        start(&ConnName::Unix(sock.clone()), script.as_os_str(), 1).unwrap();
        let mut c = UnixStream::connect(&sock).unwrap();
        let mut got = String::new();
        c.read_to_string(&mut got).unwrap();
        assert_eq!(got, "1 /dev/null /dev/null");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn lock_dir_excludes_a_second_holder() {
        let dir = std::env::temp_dir().join(format!("cgi-fcgi-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let held = lock_dir(&dir).unwrap();
        let other = File::open(&dir).unwrap();
        assert!(matches!(
            other.try_lock(),
            Err(std::fs::TryLockError::WouldBlock)
        ));
        drop(held);
        other.try_lock().unwrap();
        std::fs::remove_dir(&dir).unwrap();
    }
}
