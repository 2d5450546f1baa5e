//! A non-owning handle on an APR pool. Rust values put into a pool are dropped
//! by a pool cleanup, which is how Rust state gets a pool's lifetime.

use super::bindings as b;
use std::ffi::{c_void, CStr, CString};
use std::os::raw::c_char;

#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct Pool(*mut b::apr_pool_t);

extern "C" fn drop_boxed<T>(data: *mut c_void) -> b::apr_status_t {
    super::guard::guard("pool cleanup", 0, || {
        // SAFETY: `data` came from Box::into_raw in `Pool::keep` and this cleanup
        // runs exactly once, when the pool is cleared or destroyed.
        drop(unsafe { Box::from_raw(data.cast::<T>()) });
        0
    })
}

extern "C" fn no_cleanup(_: *mut c_void) -> b::apr_status_t {
    0
}

impl Pool {
    /// # Safety
    /// `p` must be a live APR pool that outlives every use of this handle.
    pub unsafe fn from_raw(p: *mut b::apr_pool_t) -> Pool {
        Pool(p)
    }

    pub fn as_ptr(self) -> *mut b::apr_pool_t {
        self.0
    }

    /// Moves `value` into the pool: it is dropped when the pool is cleared.
    /// The pointer is valid for the pool's lifetime.
    pub fn keep<T: 'static>(self, value: T) -> *mut T {
        let raw = Box::into_raw(Box::new(value));
        // SAFETY: the pool is live (constructor contract); the cleanup owns `raw`.
        unsafe {
            b::apr_pool_cleanup_register(
                self.0,
                raw as *const c_void,
                Some(drop_boxed::<T>),
                Some(no_cleanup),
            );
        }
        raw
    }

    /// Copies `s` into pool memory (NULs replaced), for APIs that keep the pointer.
    pub fn strdup(self, s: &str) -> *const c_char {
        if s.as_bytes().contains(&0) {
            let c = CString::new(s.replace('\0', "")).unwrap_or_default();
            return self.strdup_c(&c);
        }
        // The usual case, straight into the pool: no Rust allocation (two of
        // them were most of a request note's cost).
        // SAFETY: apr_pstrmemdup copies the `s.len()` bytes into the pool
        // and adds the NUL; `s` holds none of its own.
        unsafe { b::apr_pstrmemdup(self.0, s.as_ptr().cast(), s.len()) }
    }

    pub fn strdup_c(self, s: &CStr) -> *const c_char {
        // SAFETY: apr_pstrdup copies the NUL-terminated string into the pool.
        unsafe { b::apr_pstrdup(self.0, s.as_ptr()) }
    }

    /// Runs `f` when the pool is cleared (used for the process manager's lifetime).
    pub fn on_cleanup<F: FnOnce() + 'static>(self, f: F) {
        struct Once<F: FnOnce()>(Option<F>);
        impl<F: FnOnce()> Drop for Once<F> {
            fn drop(&mut self) {
                if let Some(f) = self.0.take() {
                    f();
                }
            }
        }
        self.keep(Once(Some(f)));
    }
}
