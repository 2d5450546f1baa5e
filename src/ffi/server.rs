//! Server-level httpd services: the main server and its config, the
//! version banner, ServerRoot-relative paths, and the listeners.

use super::bindings as b;
use super::pool::Pool;
use crate::config::ServerConfig;
use std::path::PathBuf;

/// The main server during post_config (or any server_rec httpd hands us),
/// borrowed for as long as httpd keeps it (pconf).
#[derive(Clone, Copy)]
pub struct Server<'a>(&'a b::server_rec);

impl<'a> Server<'a> {
    /// # Safety
    /// `s` must be a live server_rec that outlives 'a.
    pub(super) unsafe fn from_raw(s: *const b::server_rec) -> Option<Server<'a>> {
        // SAFETY: the caller's contract.
        unsafe { s.as_ref() }.map(Server)
    }

    /// Its merged config, shared (read by every request thread later).
    pub fn config(self) -> &'a ServerConfig {
        super::directives::server_config(self.0)
    }

    /// The pool of httpd's process, which outlives every configuration generation.
    pub fn process_pool(self) -> Pool {
        // SAFETY: s->process is set for every server and its pool lives until exit.
        unsafe { Pool::from_raw((*self.0.process).pool) }
    }
}

/// Closes httpd's listening sockets in a process forked from the parent
/// that serves no HTTP (the manager), as mod_cgid's daemon does: else a
/// manager outliving a killed parent keeps the port.
pub fn close_listeners() {
    // SAFETY: ap_close_listeners closes this process's copies of the
    // listener descriptors; nothing here uses them.
    unsafe { b::ap_close_listeners() };
}

/// Adds `component` (e.g. "mod_fcgid/0.1.0") to the Server banner.
pub fn add_version_component(pool: Pool, component: &str) {
    // SAFETY: the string is copied into the pool, which httpd keeps it in.
    unsafe { b::ap_add_version_component(pool.as_ptr(), pool.strdup(component)) };
}

/// `path` made absolute against ServerRoot (as httpd does for its own paths).
pub fn root_relative(pool: Pool, path: &str) -> PathBuf {
    let c = std::ffi::CString::new(path).unwrap_or_default();
    // SAFETY: ap_server_root_relative returns a NUL-terminated pool string, or null.
    let p = unsafe { b::ap_server_root_relative(pool.as_ptr(), c.as_ptr()) };
    if p.is_null() {
        return PathBuf::from(path);
    }
    // SAFETY: non-null, NUL-terminated, alive as long as `pool`.
    PathBuf::from(
        unsafe { std::ffi::CStr::from_ptr(p) }
            .to_string_lossy()
            .into_owned(),
    )
}
