//! Logging through httpd's error log with our module index, so that
//! `LogLevel fcgid:debug` works. Messages always go through a "%s" format.

use super::bindings as b;
use std::ffi::CString;
use std::os::raw::c_int;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Emerg = b::APLOG_EMERG as isize,
    Err = b::APLOG_ERR as isize,
    Warn = b::APLOG_WARNING as isize,
    Notice = b::APLOG_NOTICE as isize,
    Info = b::APLOG_INFO as isize,
    Debug = b::APLOG_DEBUG as isize,
}

pub(crate) fn module_index() -> c_int {
    // SAFETY: httpd writes module_index once, while loading the module, before any
    // hook runs; afterwards it is only read.
    unsafe { (*std::ptr::addr_of!(crate::fcgid_module)).module_index }
}

fn c_message(msg: &str) -> CString {
    CString::new(msg.replace('\0', "\\0")).unwrap_or_default()
}

/// Logs against `s` (null means the main server).
pub(crate) fn server_raw(
    level: Level,
    status: b::apr_status_t,
    s: *const b::server_rec,
    msg: &str,
) {
    let text = c_message(msg);
    // SAFETY: the format is a literal "%s" with one NUL-terminated argument; a null
    // server_rec is accepted by ap_log_error_ (it logs to the main server).
    unsafe {
        b::ap_log_error_(
            c"mod_fcgid".as_ptr(),
            0,
            module_index(),
            level as c_int,
            status,
            s,
            c"%s".as_ptr(),
            text.as_ptr(),
        );
    }
}

/// Logs against the main server.
pub fn main_server(level: Level, msg: &str) {
    // SAFETY: ap_server_conf is set by httpd before any module hook runs and
    // only read afterwards.
    let s = unsafe { *std::ptr::addr_of!(b::ap_server_conf) };
    server_raw(level, 0, s, msg);
}

pub(crate) fn request_raw(
    level: Level,
    status: b::apr_status_t,
    r: *const b::request_rec,
    msg: &str,
) {
    let text = c_message(msg);
    // SAFETY: r is a live request_rec for the duration of the hook that calls us;
    // the format is a literal "%s".
    unsafe {
        b::ap_log_rerror_(
            c"mod_fcgid".as_ptr(),
            0,
            module_index(),
            level as c_int,
            status,
            r,
            c"%s".as_ptr(),
            text.as_ptr(),
        );
    }
}
