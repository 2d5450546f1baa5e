//! Server-level httpd services: hook registration, the version banner,
//! ServerRoot-relative paths and the long-lived process pool.

use super::bindings as b;
use super::pool::Pool;
use std::os::raw::c_int;
use std::path::PathBuf;

pub type PostConfigHook = unsafe extern "C" fn(
    *mut b::apr_pool_t,
    *mut b::apr_pool_t,
    *mut b::apr_pool_t,
    *mut b::server_rec,
) -> c_int;
pub type HandlerHook = unsafe extern "C" fn(*mut b::request_rec) -> c_int;

/// The request hooks of the authorizer roles.
pub struct AuthHooks {
    pub check_user_id: HandlerHook,
    pub auth_checker: HandlerHook,
    pub access_checker: HandlerHook,
}

/// Registers our hooks; called from the module's register_hooks.
pub fn register_hooks(post_config: PostConfigHook, handler: HandlerHook, auth: AuthHooks) {
    let middle = b::APR_HOOK_MIDDLE as c_int;
    // SAFETY: hook registration during module load, with functions that live
    // as long as the module.
    unsafe {
        b::ap_hook_post_config(
            Some(post_config),
            std::ptr::null(),
            std::ptr::null(),
            middle,
        );
        b::ap_hook_handler(Some(handler), std::ptr::null(), std::ptr::null(), middle);
        b::ap_hook_check_user_id(
            Some(auth.check_user_id),
            std::ptr::null(),
            std::ptr::null(),
            middle,
        );
        b::ap_hook_auth_checker(
            Some(auth.auth_checker),
            std::ptr::null(),
            std::ptr::null(),
            middle,
        );
        b::ap_hook_access_checker(
            Some(auth.access_checker),
            std::ptr::null(),
            std::ptr::null(),
            middle,
        );
    }
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

/// The pool of httpd's process, which outlives every configuration generation.
pub fn process_pool(s: &b::server_rec) -> Pool {
    // SAFETY: s->process is set for every server and its pool lives until exit.
    unsafe { Pool::from_raw((*s.process).pool) }
}
