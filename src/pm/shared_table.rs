//! FcgidProcessTableFile: the file behind the shared process table (see
//! `fcgid_core::pm::table`). Each manager makes a fresh one and closes the
//! one before it, so a child never claims from a stale table; children map
//! it on their first request and again when it is closed or replaced.

use super::socket_path::SocketPath;
use super::table::{self, Table};
use crate::ffi::log::{main_server as log, Level};
use crate::sys;
use std::cell::RefCell;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Class entries per process slot: classes outlive their processes (their
/// statistics do), and a class without an entry is served by the manager.
const CLASSES_PER_SLOT: u32 = 4;

/// Makes the table for a manager of `max_processes`, whose app sockets
/// are `ipc_dir/PID-N.sock` (PID: this process, the manager). Run before
/// the manager drops root: the file belongs to the httpd User, 0600.
pub fn create(path: &Path, ipc_dir: &Path, max_processes: u32) -> Result<Table, String> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|e| format!("its directory {}: {e}", dir.display()))?;
    if !meta.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    // As for FcgidIPCDir: nobody but its owner may replace the file.
    if meta.mode() & 0o022 != 0 && meta.mode() & 0o1000 == 0 {
        return Err(format!(
            "its directory {} is writable by others",
            dir.display()
        ));
    }
    // Whoever maps the previous generation's table claims from it no more
    // (opened only once its directory is known to be safe: root writes it).
    let user = sys::is_root().then(crate::ffi::process::httpd_user);
    let user_uid = user.map_or_else(sys::euid, |(uid, _)| uid);
    if let Ok(old) = sys::map_table_file(path, user_uid) {
        if let Some(t) = Table::open(Arc::new(old)) {
            t.close();
        }
    }
    let slots = max_processes.clamp(1, 1 << 16);
    let classes = (slots * CLASSES_PER_SLOT).clamp(256, 1 << 20);
    let (file, words) = sys::NewTableFile::create(path, table::words_for(slots, classes), user)
        .map_err(|e| e.to_string())?;
    let pid = sys::getpid();
    // Unique enough across managers: when and who.
    let generation = (sys::monotonic_ns() ^ ((pid as u64) << 40)) | 1;
    let t = Table::create(Arc::new(words), slots, classes, generation);
    t.set_manager_pid(pid);
    let prefix = ipc_dir.join(format!("{pid}-"));
    if !t.set_socket_prefix(prefix.as_os_str().as_bytes()) {
        return Err("FcgidIPCDir is too long for the table".into());
    }
    file.install().map_err(|e| e.to_string())?;
    Ok(t)
}

/// A child's mapping of the table.
pub struct Mapped {
    pub table: Table,
    /// The app sockets' common prefix.
    pub prefix: Vec<u8>,
    file_id: (u64, u64),
}

impl Mapped {
    /// Where process `proc_id` listens (digits by hand: formatting
    /// machinery costs more than the rest of a claim).
    pub fn socket(&self, proc_id: u64) -> SocketPath {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut n = proc_id;
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        SocketPath::join(&[&self.prefix, &digits[i..], b".sock"])
    }
}

/// The mapping shared by the child's threads, and when mapping last failed
/// (tried again at most once a second: a manager without a table must
/// not cost an open per request).
struct Shared {
    mapped: Option<Arc<Mapped>>,
    failed_at: Option<Instant>,
}

static SHARED: Mutex<Shared> = Mutex::new(Shared {
    mapped: None,
    failed_at: None,
});

const RETRY: Duration = Duration::from_secs(1);

/// A table file found untrustworthy is logged once per child.
static SAID_UNTRUSTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

thread_local! {
    /// This thread's copy: no lock on the request path.
    static LOCAL: RefCell<Option<Arc<Mapped>>> = const { RefCell::new(None) };
}

/// The table to claim from, mapped on first use; None while there is no
/// usable one (then everything goes through the manager).
pub fn current(path: impl FnOnce() -> Option<PathBuf>) -> Option<Arc<Mapped>> {
    let local = LOCAL.with(|l| l.borrow().clone());
    if let Some(m) = local.filter(|m| !m.table.closed()) {
        return Some(m);
    }
    let m = {
        let mut shared = SHARED.lock().ok()?;
        match shared.mapped.clone().filter(|m| !m.table.closed()) {
            Some(m) => Some(m),
            None if shared.failed_at.is_some_and(|t| t.elapsed() < RETRY) => None,
            None => {
                let m = path().and_then(|p| map(&p));
                shared.failed_at = m.is_none().then(Instant::now);
                shared.mapped = m.clone();
                m
            }
        }
    };
    LOCAL.with(|l| *l.borrow_mut() = m.clone());
    m
}

fn map(path: &Path) -> Option<Arc<Mapped>> {
    let words = match sys::map_table_file(path, sys::euid()) {
        Ok(w) => w,
        Err(e) => {
            // Not the manager's file: everything goes through the manager.
            if e.kind() == std::io::ErrorKind::PermissionDenied
                && !SAID_UNTRUSTED.swap(true, std::sync::atomic::Ordering::Relaxed)
            {
                log(
                    Level::Warn,
                    &format!("mod_fcgid: FcgidProcessTableFile not used: {e}"),
                );
            }
            return None;
        }
    };
    let file_id = words.file_id;
    let table = Table::open(Arc::new(words))?;
    if table.closed() {
        return None;
    }
    Some(Arc::new(Mapped {
        prefix: table.socket_prefix(),
        table,
        file_id,
    }))
}

/// A process claimed from `m` could not be used: if the path names
/// another file now (a new manager), forget this mapping.
pub fn revalidate(path: &Path, m: &Mapped) {
    if sys::file_id(path) == Some(m.file_id) {
        return;
    }
    if let Ok(mut shared) = SHARED.lock() {
        if shared
            .mapped
            .as_ref()
            .is_some_and(|s| s.file_id == m.file_id)
        {
            shared.mapped = None;
            shared.failed_at = None;
        }
    }
    LOCAL.with(|l| *l.borrow_mut() = None);
}
