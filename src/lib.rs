//! mod_fcgid: an Apache httpd 2.4 module that runs FastCGI applications in
//! persistent process pools. This file holds the module record httpd loads
//! and the hooks it calls; each concern lives in its own module.

pub mod bridge;
pub mod config;
pub mod fcgi;
pub mod ffi;
pub mod pm;
pub mod sys;

use ffi::bindings as b;
use ffi::guard::guard;
use ffi::log::Level;
use ffi::pool::Pool;
use std::os::raw::c_int;
use std::path::PathBuf;

/// The module record httpd finds by name after loading us. httpd writes
/// `module_index`, `next` and `dynamic_load_handle` into it, hence `mut`.
#[no_mangle]
pub static mut fcgid_module: b::module = b::module {
    version: b::MODULE_MAGIC_NUMBER_MAJOR as c_int,
    minor_version: b::MODULE_MAGIC_NUMBER_MINOR as c_int,
    module_index: -1,
    // httpd matches <IfModule mod_fcgid.c> against this name.
    name: c"mod_fcgid.c".as_ptr(),
    dynamic_load_handle: std::ptr::null_mut(),
    next: std::ptr::null_mut(),
    magic: b::MODULE_MAGIC_COOKIE as std::os::raw::c_ulong,
    rewrite_args: None,
    create_dir_config: Some(ffi::directives::create_dir_config),
    merge_dir_config: Some(ffi::directives::merge_dir_config),
    create_server_config: Some(ffi::directives::create_server_config),
    merge_server_config: Some(ffi::directives::merge_server_config),
    cmds: ffi::directives::COMMAND_TABLE.0.as_ptr(),
    register_hooks: Some(register_hooks),
    flags: 0,
};

extern "C" fn register_hooks(_p: *mut b::apr_pool_t) {
    guard("register_hooks", (), || {
        ffi::guard::install_panic_hook();
        // SAFETY: registering hooks with httpd during module load.
        unsafe {
            b::ap_hook_post_config(
                Some(post_config),
                std::ptr::null(),
                std::ptr::null(),
                b::APR_HOOK_MIDDLE as c_int,
            );
            b::ap_hook_handler(
                Some(handler),
                std::ptr::null(),
                std::ptr::null(),
                b::APR_HOOK_MIDDLE as c_int,
            );
        }
    })
}

extern "C" fn post_config(
    pconf: *mut b::apr_pool_t,
    _plog: *mut b::apr_pool_t,
    _ptemp: *mut b::apr_pool_t,
    s: *mut b::server_rec,
) -> c_int {
    guard(
        "post_config",
        b::HTTP_INTERNAL_SERVER_ERROR as c_int,
        || {
            // SAFETY: httpd passes live pools and the main server.
            let (pconf, s) = unsafe { (Pool::from_raw(pconf), &*s) };
            let version = format!("mod_fcgid/{}", env!("CARGO_PKG_VERSION"));
            // SAFETY: the component string is copied into pconf first.
            unsafe { b::ap_add_version_component(pconf.as_ptr(), pconf.strdup(&version)) };
            if ffi::process::is_dry_run() {
                return b::OK as c_int;
            }
            let cfg = ffi::directives::server_config(s);
            let ipc_dir = server_root_relative(pconf, cfg.ipc_dir());
            if let Err(e) = prepare_ipc_dir(&ipc_dir) {
                ffi::log::main_server(
                    Level::Emerg,
                    &format!(
                        "mod_fcgid: cannot prepare FcgidIPCDir {}: {e}",
                        ipc_dir.display()
                    ),
                );
                return b::HTTP_INTERNAL_SERVER_ERROR as c_int;
            }
            let global = pm::policy::GlobalLimits {
                max_processes: cfg.max_processes(),
                spawn_score: cfg.spawn_score(),
                termination_score: cfg.termination_score(),
                time_score: cfg.time_score(),
                spawn_score_up_limit: cfg.spawn_score_up_limit(),
            };
            // SAFETY: the process pool outlives every configuration generation.
            let long_pool = unsafe { Pool::from_raw((*s.process).pool) };
            let socket = ipc_dir.join("pm.sock");
            match pm::launch::start(ipc_dir, socket, global, long_pool, pconf) {
                Ok(()) => b::OK as c_int,
                Err(e) => {
                    ffi::log::main_server(Level::Emerg, &e);
                    b::HTTP_INTERNAL_SERVER_ERROR as c_int
                }
            }
        },
    )
}

fn server_root_relative(pool: Pool, path: &str) -> PathBuf {
    let c = std::ffi::CString::new(path).unwrap_or_default();
    // SAFETY: ap_server_root_relative returns a pool string (or null).
    let p = unsafe { b::ap_server_root_relative(pool.as_ptr(), c.as_ptr()) };
    if p.is_null() {
        return PathBuf::from(path);
    }
    PathBuf::from(
        unsafe { std::ffi::CStr::from_ptr(p) }
            .to_string_lossy()
            .into_owned(),
    )
}

/// Creates FcgidIPCDir owned by the httpd User, writable by no one else.
fn prepare_ipc_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    let (uid, gid) = ffi::process::httpd_user();
    if sys::is_root() {
        std::os::unix::fs::chown(dir, Some(uid), Some(gid))?;
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
}

extern "C" fn handler(r: *mut b::request_rec) -> c_int {
    guard("handler", b::HTTP_INTERNAL_SERVER_ERROR as c_int, || {
        // SAFETY: httpd passes the live request.
        match unsafe { ffi::request::Request::from_raw(r) } {
            Some(mut req) => bridge::handler::handle(&mut req),
            None => b::DECLINED as c_int,
        }
    })
}
