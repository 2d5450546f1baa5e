//! The shared process table's memory: a file mapped MAP_SHARED by the
//! manager and every httpd child, seen as 64-bit atomic words (the layout
//! and every rule on them live in `fcgid_core::pm::table`).

use fcgid_core::pm::table::Region;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;

/// A mapping of a table file; unmapped when dropped.
pub struct SharedWords {
    ptr: *mut AtomicU64,
    words: usize,
    /// The file's (device, inode): tells whether the path still names it.
    pub file_id: (u64, u64),
}

// SAFETY: the mapping is only ever accessed through atomics, which any
// thread may use at once; the pointer itself is never changed.
unsafe impl Send for SharedWords {}
// SAFETY: as above.
unsafe impl Sync for SharedWords {}

impl Region for SharedWords {
    fn words(&self) -> &[AtomicU64] {
        // SAFETY: `ptr` is a live MAP_SHARED mapping of `words` 8-byte
        // words (page aligned, so aligned for AtomicU64) until drop; other
        // processes change it only through atomic operations, and
        // AtomicU64 has the layout of u64.
        unsafe { std::slice::from_raw_parts(self.ptr, self.words) }
    }
}

impl Drop for SharedWords {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what `map` mapped; no slice of it
        // outlives `self` (they borrow it).
        unsafe { libc::munmap(self.ptr.cast(), self.words * 8) };
    }
}

fn map(file: &File, words: usize) -> io::Result<SharedWords> {
    let meta = file.metadata()?;
    if words == 0 || meta.len() < (words * 8) as u64 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the process table file is too short",
        ));
    }
    // SAFETY: a new shared read-write mapping of an open file of at least
    // that length; the kernel picks the address.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            words * 8,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(SharedWords {
        ptr: ptr.cast(),
        words,
        file_id: (meta.dev(), meta.ino()),
    })
}

/// Maps the table file at `path` whole (a child's view), if it is what a
/// manager makes: a regular file, 0600, owned by `owner` (uid). Anything
/// else someone could have put there is not mapped.
pub fn map_table_file(path: &Path, owner: u32) -> io::Result<SharedWords> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() || meta.mode() & 0o7777 != 0o600 || meta.uid() != owner {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is not a regular file of mode 0600 owned by uid {owner} \
                 (mode {:o}, uid {})",
                path.display(),
                meta.mode() & 0o7777,
                meta.uid()
            ),
        ));
    }
    let words = (meta.len() / 8) as usize;
    map(&file, words)
}

/// The (device, inode) the path names now, if any.
pub fn file_id(path: &Path) -> Option<(u64, u64)> {
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

/// A new table file, not yet in place: map it, lay the table out, then
/// `install` it, so that no child ever maps a half-made one.
pub struct NewTableFile {
    temp: PathBuf,
    path: PathBuf,
}

impl NewTableFile {
    /// Creates it beside `path`, 0600, zeroed, `words` long, owned by
    /// `owner` (when running as root), and maps it.
    pub fn create(
        path: &Path,
        words: usize,
        owner: Option<(u32, u32)>,
    ) -> io::Result<(NewTableFile, SharedWords)> {
        let temp = path.with_file_name(format!(
            "{}.new.{}",
            path.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("fcgid_shm"),
            std::process::id()
        ));
        let _ = std::fs::remove_file(&temp);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&temp)?;
        let made = (|| {
            file.set_len((words * 8) as u64)?;
            if let Some((uid, gid)) = owner {
                std::os::unix::fs::fchown(&file, Some(uid), Some(gid))?;
            }
            map(&file, words)
        })();
        match made {
            Ok(words) => Ok((
                NewTableFile {
                    temp,
                    path: path.to_path_buf(),
                },
                words,
            )),
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                Err(e)
            }
        }
    }

    /// Puts it at its path (replacing an earlier generation's).
    pub fn install(self) -> io::Result<()> {
        std::fs::rename(&self.temp, &self.path).inspect_err(|_| {
            let _ = std::fs::remove_file(&self.temp);
        })
    }
}

/// CLOCK_MONOTONIC in nanoseconds: one clock for every process.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn only_a_private_regular_file_of_the_expected_owner_is_mapped() {
        let dir = std::env::temp_dir().join(format!("fcgid-shm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("table");
        std::fs::write(&path, [0u8; 64]).unwrap();
        let me = crate::sys::euid();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = map_table_file(&path, me).err().expect("0644 is refused");
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(
            map_table_file(&path, me.wrapping_add(1)).is_err(),
            "another owner's"
        );
        assert_eq!(map_table_file(&path, me).unwrap().words, 8);
        let fifo = dir.join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo reads the NUL-terminated path we own.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(map_table_file(&fifo, me).is_err(), "not a regular file");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
