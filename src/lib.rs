//! mod_fcgid: an Apache httpd 2.4 module that runs FastCGI applications in
//! persistent process pools. This file holds the module record httpd loads
//! and the hooks it calls; each concern lives in its own module.

pub mod bridge;
pub mod ffi;
pub mod pm;
pub mod sys;

// The pure crates, under the names the module's code uses.
pub use fcgid_core::{config, status};
pub use fcgid_protocol as fcgi;

use ffi::bindings as b;
use ffi::guard::guard;
use ffi::log::Level;
use ffi::pool::Pool;
use std::os::raw::c_int;

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
        let auth = ffi::server::AuthHooks {
            check_user_id,
            auth_checker,
            access_checker,
        };
        ffi::server::register_hooks(post_config, handler, auth);
        ffi::status_hook::register();
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
            ffi::server::add_version_component(
                pconf,
                concat!("mod_fcgid/", env!("CARGO_PKG_VERSION")),
            );
            if ffi::process::is_dry_run() {
                return b::OK as c_int;
            }
            let cfg = ffi::directives::server_config(s);
            let ipc_dir = ffi::server::root_relative(pconf, cfg.ipc_dir());
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
            let process_pool = ffi::server::process_pool(s);
            let socket = ipc_dir.join("pm.sock");
            match pm::launch::start(ipc_dir, socket, global, process_pool, pconf) {
                Ok(()) => b::OK as c_int,
                Err(e) => {
                    ffi::log::main_server(Level::Emerg, &e);
                    b::HTTP_INTERNAL_SERVER_ERROR as c_int
                }
            }
        },
    )
}

/// Creates FcgidIPCDir owned by the httpd User, writable by no one else.
/// Only a directory created here is chowned and chmodded: an existing path
/// may be a link planted by the User (its parent is often the User's), and
/// root must not follow it.
fn prepare_ipc_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::io::{Error, ErrorKind};
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "it is a symbolic link; refusing to use it",
            ));
        }
        Ok(m) if !m.is_dir() => {
            return Err(Error::new(ErrorKind::InvalidInput, "it is not a directory"))
        }
        Ok(m) => {
            if m.mode() & 0o022 != 0 {
                return Err(Error::new(
                    ErrorKind::PermissionDenied,
                    "it is writable by others than its owner",
                ));
            }
            return Ok(());
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::DirBuilder::new().mode(0o755).create(dir)?;
    if sys::is_root() {
        let (uid, gid) = ffi::process::httpd_user();
        // lchown: the path was just created by us, but never follow a link.
        std::os::unix::fs::lchown(dir, Some(uid), Some(gid))?;
    }
    Ok(())
}

extern "C" fn handler(r: *mut b::request_rec) -> c_int {
    guard("handler", b::HTTP_INTERNAL_SERVER_ERROR as c_int, || {
        // SAFETY: httpd passes the live request.
        match unsafe { ffi::request::Request::from_raw(r) } {
            Some(mut req) => bridge::handler::handle(&mut req).into_c_int(),
            None => b::DECLINED as c_int,
        }
    })
}

/// Runs an authorizer-role check (`bridge::auth`) behind the panic guard.
fn auth_hook(r: *mut b::request_rec, check: bridge::auth::Check) -> c_int {
    guard("auth hook", b::HTTP_INTERNAL_SERVER_ERROR as c_int, || {
        // SAFETY: httpd passes the live request.
        match unsafe { ffi::request::Request::from_raw(r) } {
            Some(mut req) => bridge::auth::check(&mut req, check).into_c_int(),
            None => b::DECLINED as c_int,
        }
    })
}

extern "C" fn check_user_id(r: *mut b::request_rec) -> c_int {
    auth_hook(r, bridge::auth::Check::Authn)
}

extern "C" fn auth_checker(r: *mut b::request_rec) -> c_int {
    auth_hook(r, bridge::auth::Check::Authz)
}

extern "C" fn access_checker(r: *mut b::request_rec) -> c_int {
    auth_hook(r, bridge::auth::Check::Access)
}
