//! The hooks httpd calls. Each thunk turns httpd's raw arguments into the
//! safe types, runs the module's plain Rust function behind the panic
//! guard, and hands back httpd's status code.

use super::bindings as b;
use super::guard::guard;
use super::log::{main_server, Level};
use super::pool::Pool;
use super::request::Request;
use super::server::Server;
use std::os::raw::c_int;

/// What the module does at each hook (as associated functions, so the
/// thunks are plain `extern "C"` functions httpd can keep pointers to).
pub trait Hooks {
    /// After the configuration is read, in the parent, on each pass. An
    /// error message fails the start (logged at emerg).
    fn post_config(pconf: Pool, server: Server<'_>) -> Result<(), String>;
    /// The content handler.
    fn handler(req: &mut Request<'_>) -> c_int;
    fn check_user_id(req: &mut Request<'_>) -> c_int;
    fn auth_checker(req: &mut Request<'_>) -> c_int;
    fn access_checker(req: &mut Request<'_>) -> c_int;
}

const ERROR: c_int = b::HTTP_INTERNAL_SERVER_ERROR as c_int;

extern "C" fn post_config<H: Hooks>(
    pconf: *mut b::apr_pool_t,
    _plog: *mut b::apr_pool_t,
    _ptemp: *mut b::apr_pool_t,
    s: *mut b::server_rec,
) -> c_int {
    guard("post_config", ERROR, || {
        // SAFETY: httpd passes its live config pool and the main server,
        // which lives in that pool.
        let (pconf, server) = unsafe { (Pool::from_raw(pconf), Server::from_raw(s)) };
        let Some(server) = server else { return ERROR };
        match H::post_config(pconf, server) {
            Ok(()) => b::OK as c_int,
            Err(msg) => {
                main_server(Level::Emerg, &msg);
                ERROR
            }
        }
    })
}

fn request_hook(name: &str, r: *mut b::request_rec, f: fn(&mut Request<'_>) -> c_int) -> c_int {
    guard(name, ERROR, || {
        // SAFETY: httpd passes the live request of the hook that runs, and
        // nothing else wraps it during the call.
        match unsafe { Request::from_raw(r) } {
            Some(mut req) => f(&mut req),
            None => b::DECLINED as c_int,
        }
    })
}

extern "C" fn handler<H: Hooks>(r: *mut b::request_rec) -> c_int {
    request_hook("handler", r, H::handler)
}

extern "C" fn check_user_id<H: Hooks>(r: *mut b::request_rec) -> c_int {
    request_hook("check_user_id", r, H::check_user_id)
}

extern "C" fn auth_checker<H: Hooks>(r: *mut b::request_rec) -> c_int {
    request_hook("auth_checker", r, H::auth_checker)
}

extern "C" fn access_checker<H: Hooks>(r: *mut b::request_rec) -> c_int {
    request_hook("access_checker", r, H::access_checker)
}

/// Registers `H`'s hooks; called from the module's register_hooks.
pub fn register<H: Hooks>() {
    let middle = b::APR_HOOK_MIDDLE as c_int;
    let none = std::ptr::null();
    // SAFETY: hook registration while the module loads, with functions that
    // live as long as the module.
    unsafe {
        b::ap_hook_post_config(Some(post_config::<H>), none, none, middle);
        b::ap_hook_handler(Some(handler::<H>), none, none, middle);
        b::ap_hook_check_user_id(Some(check_user_id::<H>), none, none, middle);
        b::ap_hook_auth_checker(Some(auth_checker::<H>), none, none, middle);
        b::ap_hook_access_checker(Some(access_checker::<H>), none, none, middle);
    }
}
