//! An app process's socket path, held inline when it fits in a
//! `sockaddr_un` (it must, to be connected to): a claim builds one on every
//! request, and a heap allocation was a tenth of what a claim cost.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// `sun_path` holds 108 bytes with its NUL.
const INLINE: usize = 107;

pub enum SocketPath {
    Inline {
        len: u8,
        bytes: [u8; INLINE],
    },
    /// Longer than a socket address takes (connecting says so), or as
    /// the manager sent it.
    Owned(PathBuf),
}

impl SocketPath {
    /// The concatenation of `parts`.
    pub fn join(parts: &[&[u8]]) -> SocketPath {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len > INLINE {
            return SocketPath::Owned(PathBuf::from(OsStr::from_bytes(&parts.concat())));
        }
        let mut bytes = [0u8; INLINE];
        let mut at = 0;
        for part in parts {
            bytes[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        SocketPath::Inline {
            len: len as u8,
            bytes,
        }
    }
}

impl std::ops::Deref for SocketPath {
    type Target = Path;

    fn deref(&self) -> &Path {
        match self {
            SocketPath::Inline { len, bytes } => {
                Path::new(OsStr::from_bytes(&bytes[..usize::from(*len)]))
            }
            SocketPath::Owned(p) => p,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_path_is_its_parts_joined() {
        let p = SocketPath::join(&[b"/run/fcgid/", b"42", b".sock"]);
        assert!(matches!(p, SocketPath::Inline { .. }));
        assert_eq!(&*p, Path::new("/run/fcgid/42.sock"));
    }

    #[test]
    fn a_path_too_long_for_a_socket_address_is_kept_whole() {
        let dir = format!("/{}/", "d".repeat(120));
        let p = SocketPath::join(&[dir.as_bytes(), b"7", b".sock"]);
        assert!(matches!(p, SocketPath::Owned(_)));
        assert_eq!(&*p, Path::new(&format!("{dir}7.sock")));
    }

    #[test]
    fn the_longest_inline_path_keeps_every_byte() {
        let name = "x".repeat(INLINE);
        let p = SocketPath::join(&[name.as_bytes()]);
        assert!(matches!(p, SocketPath::Inline { .. }));
        assert_eq!(p.as_os_str().len(), INLINE);
    }
}
