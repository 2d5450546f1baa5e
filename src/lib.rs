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
use ffi::pool::Pool;
use ffi::request::Request;
use ffi::server::Server;
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
        ffi::hooks::register::<Fcgid>();
        ffi::status_hook::register();
        ffi::status_handler::register();
    })
}

/// The module's hooks, in plain Rust over the safe types (`ffi::hooks`
/// holds the thunks httpd calls).
struct Fcgid;

impl ffi::hooks::Hooks for Fcgid {
    fn post_config(pconf: Pool, s: Server<'_>) -> Result<(), String> {
        // Classes built under the configuration read before are not this one's.
        bridge::class_cache::forget_all();
        ffi::server::add_version_component(pconf, concat!("mod_fcgid/", env!("CARGO_PKG_VERSION")));
        let cfg = s.config();
        let ipc_dir = ffi::server::root_relative(pconf, cfg.ipc_dir());
        // On the dry pass too, so that a doomed manager is never forked.
        pm::ipc_dir::check_socket_paths(&ipc_dir)?;
        if ffi::process::is_dry_run() {
            return Ok(());
        }
        pm::ipc_dir::prepare(&ipc_dir).map_err(|e| {
            format!(
                "mod_fcgid: cannot use FcgidIPCDir {}: {e}",
                ipc_dir.display()
            )
        })?;
        let global = pm::policy::GlobalLimits {
            max_processes: cfg.max_processes(),
            spawn_score: cfg.spawn_score(),
            termination_score: cfg.termination_score(),
            time_score: cfg.time_score(),
            spawn_score_up_limit: cfg.spawn_score_up_limit(),
        };
        let socket = ipc_dir.join("pm.sock");
        let table_file = ffi::server::root_relative(pconf, cfg.process_table_file());
        pm::launch::start(ipc_dir, socket, table_file, global, pconf)
    }

    fn handler(req: &mut Request<'_>) -> c_int {
        bridge::handler::handle(req).into_c_int()
    }

    fn check_user_id(req: &mut Request<'_>) -> c_int {
        bridge::auth::check(req, bridge::auth::Check::Authn).into_c_int()
    }

    fn auth_checker(req: &mut Request<'_>) -> c_int {
        bridge::auth::check(req, bridge::auth::Check::Authz).into_c_int()
    }

    fn access_checker(req: &mut Request<'_>) -> c_int {
        bridge::auth::check(req, bridge::auth::Check::Access).into_c_int()
    }
}
