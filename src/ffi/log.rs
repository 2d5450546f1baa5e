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

/// Where a log line belongs: a server, or a request (which adds the client).
#[derive(Clone, Copy)]
enum Target {
    Server(*const b::server_rec),
    Request(*const b::request_rec),
}

fn emit(level: Level, status: b::apr_status_t, target: Target, msg: &str) {
    let text = c_message(msg);
    let (file, line, index, lvl) = (c"mod_fcgid".as_ptr(), 0, module_index(), level as c_int);
    // SAFETY: the format is a literal "%s" with one NUL-terminated argument; the
    // server_rec or request_rec is live for the hook that logs (a null server
    // means the main server).
    unsafe {
        match target {
            Target::Server(s) => b::ap_log_error_(
                file,
                line,
                index,
                lvl,
                status,
                s,
                c"%s".as_ptr(),
                text.as_ptr(),
            ),
            Target::Request(r) => b::ap_log_rerror_(
                file,
                line,
                index,
                lvl,
                status,
                r,
                c"%s".as_ptr(),
                text.as_ptr(),
            ),
        }
    }
}

/// Logs against the main server.
pub fn main_server(level: Level, msg: &str) {
    // SAFETY: ap_server_conf is set by httpd before any module hook runs and
    // only read afterwards.
    let s = unsafe { *std::ptr::addr_of!(b::ap_server_conf) };
    emit(level, 0, Target::Server(s), msg);
}

/// A request's error-log target, valid as long as the request ('a).
#[derive(Clone, Copy)]
pub struct RequestLog<'a> {
    r: *const b::request_rec,
    _request: std::marker::PhantomData<&'a b::request_rec>,
}

impl RequestLog<'_> {
    /// # Safety
    /// `r` must be a request_rec that lives as long as the handle's lifetime.
    pub(super) unsafe fn new(r: *const b::request_rec) -> Self {
        RequestLog {
            r,
            _request: std::marker::PhantomData,
        }
    }

    pub fn log(self, level: Level, msg: &str) {
        emit(level, 0, Target::Request(self.r), msg);
    }
}
