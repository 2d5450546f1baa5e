//! Memory an app's answer is read into, taken from the connection's bucket
//! allocator, so that STDOUT in it goes to httpd as heap buckets pointing
//! at it: no copy between the socket and the client.
//!
//! Ownership: the memory belongs to APR from the start. A heap bucket over
//! all of it (`ReadBuf::whole`, never in a brigade) is our reference;
//! each [`Chunk`] is a copy of that bucket narrowed to its bytes (APR
//! counts the references). APR frees the memory (`apr_bucket_free`) when
//! the last bucket over it is destroyed, wherever that happens: httpd may
//! keep buckets past our request to write them later. Rust never frees it.
//!
//! The bytes a chunk covers are never written again: reads only fill the
//! part after them, and APR writes into a heap bucket's spare room only
//! when no other bucket shares its memory (`apr_brigade_write` checks the
//! reference count).

use super::bindings as b;
use std::io;
use std::os::fd::AsRawFd;
use std::ptr::NonNull;

/// The allocator of a request's connection, for [`ReadBuf::new`].
#[derive(Clone, Copy)]
pub struct BucketAlloc(pub(super) *mut b::apr_bucket_alloc_t);

/// A buffer of bucket-allocator memory, filled from the front by reads.
pub struct ReadBuf {
    alloc: *mut b::apr_bucket_alloc_t,
    whole: NonNull<b::apr_bucket>,
    base: *mut u8,
    cap: usize,
    filled: usize,
}

impl ReadBuf {
    pub fn new(alloc: BucketAlloc, cap: usize) -> ReadBuf {
        // SAFETY: the allocator is the live connection's. With a free
        // function, apr_bucket_heap_create takes the memory as it is (no
        // copy) and frees it with apr_bucket_free after its last bucket.
        unsafe {
            let base = b::apr_bucket_alloc(cap, alloc.0).cast::<u8>();
            assert!(!base.is_null(), "apr_bucket_alloc failed"); // APR aborts first
            let whole =
                b::apr_bucket_heap_create(base.cast(), cap, Some(b::apr_bucket_free), alloc.0);
            ReadBuf {
                alloc: alloc.0,
                whole: NonNull::new(whole).expect("apr_bucket_heap_create failed"),
                base,
                cap,
                filled: 0,
            }
        }
    }

    /// Bytes not filled yet.
    pub fn room(&self) -> usize {
        self.cap - self.filled
    }

    /// The bytes read so far.
    pub fn filled(&self) -> &[u8] {
        // SAFETY: the first `filled` bytes were written by read(2); the
        // memory lives while `whole` does, and is not written again.
        unsafe { std::slice::from_raw_parts(self.base, self.filled) }
    }

    /// One recv that does not wait (WouldBlock when nothing is there) of at
    /// most `max` bytes into the room; 0 at the end of the stream.
    pub fn read_from(&mut self, fd: &impl AsRawFd, max: usize) -> io::Result<usize> {
        let len = max.min(self.room());
        loop {
            // SAFETY: the kernel writes at most `len` bytes after the filled
            // part, inside the allocation.
            let n = unsafe {
                libc::recv(
                    fd.as_raw_fd(),
                    self.base.add(self.filled).cast::<libc::c_void>(),
                    len,
                    libc::MSG_DONTWAIT,
                )
            };
            if n >= 0 {
                self.filled += n as usize;
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// A bucket over `bytes`, which must lie in `filled()`.
    pub fn chunk(&self, bytes: &[u8]) -> Chunk {
        let offset = (bytes.as_ptr() as usize).wrapping_sub(self.base as usize);
        assert!(
            offset <= self.filled && bytes.len() <= self.filled - offset,
            "a chunk outside the buffer"
        );
        let mut copy = std::ptr::null_mut();
        // SAFETY: `whole` is a live heap bucket; its copy shares the memory
        // (one more reference) and is narrowed to bytes inside it.
        unsafe {
            b::fcgid_shim_bucket_copy(self.whole.as_ptr(), &raw mut copy);
            (*copy).start = offset as b::apr_off_t;
            (*copy).length = bytes.len();
        }
        Chunk {
            bucket: NonNull::new(copy).expect("apr_bucket_copy failed"),
            ptr: bytes.as_ptr(),
            len: bytes.len(),
        }
    }

    /// The allocator it came from, for the next buffer.
    pub fn alloc(&self) -> BucketAlloc {
        BucketAlloc(self.alloc)
    }
}

impl Drop for ReadBuf {
    fn drop(&mut self) {
        // SAFETY: `whole` is ours and in no brigade; destroying it drops our
        // reference (APR frees the memory if no chunk is left).
        unsafe { b::fcgid_shim_bucket_destroy(self.whole.as_ptr()) };
    }
}

/// Some bytes of a [`ReadBuf`], as a heap bucket of our own (in no brigade)
/// until [`Chunk::into_bucket`] hands it to one.
pub struct Chunk {
    bucket: NonNull<b::apr_bucket>,
    ptr: *const u8,
    len: usize,
}

impl Chunk {
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the bucket keeps the memory alive; these bytes are filled
        // and never written again (module docs).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Drops the first `n` bytes.
    pub fn consume(&mut self, n: usize) {
        assert!(n <= self.len, "consumed more than the chunk holds");
        // SAFETY: the bucket is ours; it is narrowed within its bytes.
        unsafe {
            let bucket = self.bucket.as_ptr();
            (*bucket).start += n as b::apr_off_t;
            (*bucket).length -= n;
            self.ptr = self.ptr.add(n);
        }
        self.len -= n;
    }

    /// The bucket, for a brigade to own.
    pub(super) fn into_bucket(self) -> *mut b::apr_bucket {
        let bucket = self.bucket.as_ptr();
        std::mem::forget(self);
        bucket
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        // SAFETY: the bucket is ours and in no brigade.
        unsafe { b::fcgid_shim_bucket_destroy(self.bucket.as_ptr()) };
    }
}
