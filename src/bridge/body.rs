//! The request body, read whole before a process is borrowed: in memory up
//! to `FcgidMaxRequestInMem`, spooled to an anonymous temporary file beyond,
//! refused past `FcgidMaxRequestLen`.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};

pub enum BodyError {
    /// Longer than `FcgidMaxRequestLen`.
    TooLarge,
    /// The temporary file could not be written.
    Spool(io::Error),
}

pub struct Body {
    in_mem_limit: usize,
    max_len: u64,
    mem: Vec<u8>,
    spool: Option<File>,
    len: u64,
}

/// A file with no name, removed by the kernel when closed.
fn anonymous_file() -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_TMPFILE)
        .mode(0o600)
        .open(std::env::temp_dir())
}

impl Body {
    pub fn new(in_mem_limit: usize, max_len: u64) -> Body {
        Body {
            in_mem_limit,
            max_len,
            mem: Vec::new(),
            spool: None,
            len: 0,
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn is_spooled(&self) -> bool {
        self.spool.is_some()
    }

    /// Appends bytes read from the client.
    pub fn push(&mut self, data: &[u8]) -> Result<(), BodyError> {
        if self.len + data.len() as u64 > self.max_len {
            return Err(BodyError::TooLarge);
        }
        self.len += data.len() as u64;
        if self.spool.is_none() && self.mem.len() + data.len() <= self.in_mem_limit {
            self.mem.extend_from_slice(data);
            return Ok(());
        }
        if self.spool.is_none() {
            let mut file = anonymous_file().map_err(BodyError::Spool)?;
            file.write_all(&self.mem).map_err(BodyError::Spool)?;
            self.mem = Vec::new();
            self.spool = Some(file);
        }
        self.spool
            .as_mut()
            .unwrap()
            .write_all(data)
            .map_err(BodyError::Spool)
    }

    /// The whole body, when it is held in memory (not spooled).
    pub fn in_memory(&self) -> Option<&[u8]> {
        self.spool.is_none().then_some(&self.mem[..])
    }

    /// Calls `each` with the body in order, in pieces of at most `chunk` bytes.
    pub fn for_each_chunk(
        &mut self,
        chunk: usize,
        mut each: impl FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        match self.spool.as_mut() {
            None => self.mem.chunks(chunk).try_for_each(each),
            Some(file) => {
                file.seek(SeekFrom::Start(0))?;
                // Read into spare capacity: nothing zeroed first.
                let mut buf = Vec::with_capacity(chunk);
                loop {
                    buf.clear();
                    if crate::sys::read_append(file, &mut buf, chunk)? == 0 {
                        return Ok(());
                    }
                    each(&buf)?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(body: &mut Body, chunk: usize) -> Vec<u8> {
        let mut out = Vec::new();
        body.for_each_chunk(chunk, |c| {
            assert!(c.len() <= chunk);
            out.extend_from_slice(c);
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn small_bodies_stay_in_memory() {
        let mut b = Body::new(10, 100);
        assert!(b.push(b"hello").is_ok() && b.push(b"world").is_ok());
        assert!(!b.is_spooled());
        assert_eq!(b.len(), 10);
        assert_eq!(collect(&mut b, 3), b"helloworld");
    }

    #[test]
    fn larger_bodies_are_spooled_and_read_back_whole() {
        let mut b = Body::new(10, 1 << 20);
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        for piece in data.chunks(7000) {
            assert!(b.push(piece).is_ok());
        }
        assert!(b.is_spooled());
        assert_eq!(b.len(), data.len() as u64);
        assert_eq!(collect(&mut b, 65535), data);
        assert_eq!(collect(&mut b, 65535), data, "can be sent twice");
    }

    #[test]
    fn the_limit_is_inclusive_and_refuses_one_byte_more() {
        let mut b = Body::new(4, 8);
        assert!(b.push(b"12345678").is_ok());
        assert!(matches!(b.push(b"9"), Err(BodyError::TooLarge)));
    }
}
