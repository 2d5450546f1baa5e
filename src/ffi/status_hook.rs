//! Our section of mod_status's page. mod_status is optional (it may not be
//! loaded), so we register through APR's optional hooks, by name, as C
//! mod_fcgid does; nothing links against mod_status.

use super::bindings as b;
use super::request::Request;
use std::os::raw::c_int;

/// Registers `status_hook` (called by mod_status for /server-status).
pub fn register() {
    // SAFETY: apr_optional_hook_add keeps the name (a static string) and the
    // function pointer; the signature matches mod_status's status_hook.
    unsafe {
        let hook: unsafe extern "C" fn(*mut b::request_rec, c_int) -> c_int = status_hook;
        b::apr_optional_hook_add(
            c"status_hook".as_ptr(),
            Some(std::mem::transmute::<
                unsafe extern "C" fn(*mut b::request_rec, c_int) -> c_int,
                unsafe extern "C" fn(),
            >(hook)),
            std::ptr::null(),
            std::ptr::null(),
            b::APR_HOOK_MIDDLE as c_int,
        );
    }
}

extern "C" fn status_hook(r: *mut b::request_rec, flags: c_int) -> c_int {
    super::guard::guard("status_hook", b::OK as c_int, || {
        // SAFETY: mod_status passes its live request.
        let Some(mut req) = (unsafe { Request::from_raw(r) }) else {
            return b::OK as c_int;
        };
        let short = flags & b::AP_STATUS_SHORT as c_int != 0;
        let report =
            match crate::pm::launch::manager_socket().map(|s| crate::pm::client::status(&s)) {
                Some(Ok(report)) => Ok(report),
                Some(Err(e)) => Err(format!("the process manager did not answer: {e}")),
                None => Err("the process manager is not running".to_string()),
            };
        let out = match (report, short) {
            (Ok(rep), true) => crate::status::auto_lines(&rep),
            (Ok(rep), false) => crate::status::html(&rep),
            (Err(e), true) => format!("FcgidError: {e}\n"),
            (Err(e), false) => format!("<hr />\n<h1>mod_fcgid status:</h1>\n<p>{e}</p>\n"),
        };
        req.write_raw(out.as_bytes());
        b::OK as c_int
    })
}
