//! `SetHandler fcgid-status`: the pools as a page of their own, JSON
//! (`?format=json`) or OpenMetrics (`?format=openmetrics`), without
//! mod_status; a per-class summary, or with `?full` every process too.
//! The manager's report, plus what /proc says of each process, rendered
//! by `status`.
//!
//! The handler works on the raw `request_rec` alone (a few fields and
//! calls), so no `Request` borrow aliases it.

use super::bindings as b;
use super::log::{Level, RequestLog};
use super::pool::Pool;
use crate::status::procfs;
use std::ffi::{c_void, CStr};
use std::os::raw::c_int;

/// The handler name to put after `SetHandler`.
pub const HANDLER: &str = "fcgid-status";

/// Registers the handler hook (beside the module's other hooks).
pub fn register() {
    // SAFETY: hook registration while the module loads, with a function
    // that lives as long as the module.
    unsafe {
        b::ap_hook_handler(
            Some(handler),
            std::ptr::null(),
            std::ptr::null(),
            b::APR_HOOK_MIDDLE as c_int,
        );
    }
}

/// sysconf's clock tick and page size (the units of /proc's figures).
fn units() -> procfs::Units {
    // SAFETY: sysconf only reads system constants.
    let (tck, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    procfs::Units {
        ticks_per_sec: if tck > 0 { tck as u64 } else { 100 },
        page_size: if page > 0 { page as u64 } else { 4096 },
    }
}

/// What the handler reads of a request that is ours.
struct Asked {
    get: bool,
    head: bool,
    args: Option<String>,
}

/// What the request asks of the status page, or None when its handler is
/// not ours. httpd calls every handler hook on every request, so for the
/// others (a static file, a script) this compares the handler's bytes in
/// place and allocates nothing.
///
/// # Safety
/// `r` is the live request of the current handler call.
unsafe fn asked(r: *const b::request_rec) -> Option<Asked> {
    // SAFETY: the caller's contract; handler is null or a NUL-terminated
    // string that lives as long as the request, only read here.
    let ours = unsafe {
        let h = (*r).handler;
        !h.is_null() && CStr::from_ptr(h).to_bytes() == HANDLER.as_bytes()
    };
    if !ours {
        return None;
    }
    // SAFETY: the caller's contract; args is null or a request-pool
    // string, copied here.
    unsafe {
        let args = (*r).args;
        Some(Asked {
            get: (*r).method_number == b::M_GET as c_int,
            head: (*r).header_only != 0,
            args: (!args.is_null()).then(|| CStr::from_ptr(args).to_string_lossy().into_owned()),
        })
    }
}

/// Sends `body` with `status`, `content_type` and a no-store Cache-Control.
///
/// # Safety
/// `r` is the live request of the current handler call.
unsafe fn answer(
    r: *mut b::request_rec,
    status: c_int,
    content_type: &str,
    body: &[u8],
    head: bool,
) {
    // SAFETY: the caller's contract; the strings are copied into the
    // request pool (or static), and ap_rwrite copies the body.
    unsafe {
        let pool = Pool::from_raw((*r).pool);
        (*r).status = status;
        b::ap_set_content_type(r, pool.strdup(content_type));
        b::apr_table_setn(
            (*r).headers_out,
            c"Cache-Control".as_ptr(),
            c"no-store".as_ptr(),
        );
        if !head {
            b::ap_rwrite(body.as_ptr().cast::<c_void>(), body.len() as c_int, r);
        }
    }
}

extern "C" fn handler(r: *mut b::request_rec) -> c_int {
    super::guard::guard(
        "fcgid-status handler",
        b::HTTP_INTERNAL_SERVER_ERROR as c_int,
        || {
            if r.is_null() {
                return b::DECLINED as c_int;
            }
            // SAFETY: httpd passes the live request of this hook.
            let Some(asked) = (unsafe { asked(r) }) else {
                return b::DECLINED as c_int;
            };
            if !asked.get {
                // SAFETY: r->allowed is a plain bit mask of the live request.
                unsafe { (*r).allowed |= 1 << b::M_GET };
                return b::HTTP_METHOD_NOT_ALLOWED as c_int;
            }
            let (format, opts) = match crate::status::parse_query(asked.args.as_deref()) {
                Ok(q) => q,
                Err(e) => {
                    // SAFETY: the request outlives this call.
                    unsafe { RequestLog::new(r) }
                        .log(Level::Info, &format!("mod_fcgid: fcgid-status: {e}"));
                    return b::HTTP_BAD_REQUEST as c_int;
                }
            };
            let report =
                match crate::pm::launch::manager_socket().map(|s| crate::pm::client::status(&s)) {
                    Some(Ok(report)) => Ok(report),
                    Some(Err(e)) => Err(format!("the process manager did not answer: {e}")),
                    None => Err("the process manager is not running".to_string()),
                };
            let (status, body) = match report {
                Ok(mut rep) => {
                    let read = |p: &str| std::fs::read_to_string(p).ok();
                    procfs::fill_manager(&mut rep, units(), read);
                    // One read per process (about 0.1 s for 5000 here): for
                    // a page that shows them, and for the per-class sums of
                    // the machine formats, which scrapers keep.
                    if opts.full || format != crate::status::Format::Html {
                        procfs::fill_processes(&mut rep, units(), read);
                    }
                    (b::HTTP_OK as c_int, format.render(&rep, opts))
                }
                Err(e) => (b::HTTP_SERVICE_UNAVAILABLE as c_int, format.error(&e)),
            };
            // SAFETY: r is the live request.
            unsafe {
                answer(
                    r,
                    status,
                    format.content_type(),
                    body.as_bytes(),
                    asked.head,
                )
            };
            b::OK as c_int
        },
    )
}
