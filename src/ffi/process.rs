//! httpd's process-level services: its run state, the "other child"
//! registry (so the parent tells us when the manager dies), and the switch
//! to the configured User/Group.

use super::bindings as b;
use super::pool::Pool;
use std::ffi::c_void;
use std::os::raw::c_int;

/// True during the first, dry configuration pass and in `apachectl -t`:
/// nothing may be started then.
pub fn is_dry_run() -> bool {
    // SAFETY: ap_state_query only reads httpd globals.
    unsafe {
        b::ap_state_query(b::AP_SQ_MAIN_STATE as c_int) == b::AP_SQ_MS_CREATE_PRE_CONFIG as c_int
            || b::ap_state_query(b::AP_SQ_RUN_MODE as c_int) != b::AP_SQ_RM_NORMAL as c_int
    }
}

/// True when httpd is shutting down for good (not restarting).
pub fn is_exiting() -> bool {
    // SAFETY: as above.
    unsafe { b::ap_state_query(b::AP_SQ_MAIN_STATE as c_int) == b::AP_SQ_MS_EXITING as c_int }
}

/// The configured User and Group ids.
pub fn httpd_user() -> (u32, u32) {
    // SAFETY: ap_unixd_config is filled during configuration and only read after.
    unsafe {
        let cfg = &*std::ptr::addr_of!(b::ap_unixd_config);
        (cfg.user_id, cfg.group_id)
    }
}

/// Switches the calling process to httpd's User and Group (as httpd's
/// children do). Returns false if that failed.
pub fn become_httpd_user() -> bool {
    // SAFETY: ap_unixd_setup_child changes the process's credentials only.
    unsafe { b::ap_unixd_setup_child() == 0 }
}

struct Watch {
    proc: b::apr_proc_t,
    on_death: fn(i32),
}

extern "C" fn maintenance(reason: c_int, data: *mut c_void, _status: c_int) {
    super::guard::guard("process manager watch", (), || {
        // SAFETY: `data` is the Watch registered below, kept in a pool that
        // outlives the registration.
        let watch = unsafe { &mut *(data as *mut Watch) };
        if reason == b::APR_OC_REASON_DEATH as c_int || reason == b::APR_OC_REASON_LOST as c_int {
            // SAFETY: unregistering the entry whose callback is running is allowed.
            unsafe { b::apr_proc_other_child_unregister(data) };
            (watch.on_death)(watch.proc.pid);
        }
    })
}

/// Asks the httpd parent to call `on_death(pid)` when child `pid` exits.
/// The registration lives in `pool`.
pub fn watch_child(pool: Pool, pid: i32, on_death: fn(i32)) {
    // SAFETY: apr_proc_t is plain data.
    let mut proc: b::apr_proc_t = unsafe { std::mem::zeroed() };
    proc.pid = pid;
    let watch = pool.keep(Watch { proc, on_death });
    // SAFETY: `watch` lives as long as `pool`, which also owns the registration.
    unsafe {
        b::apr_proc_other_child_register(
            &mut (*watch).proc,
            Some(maintenance),
            watch as *mut c_void,
            std::ptr::null_mut(),
            pool.as_ptr(),
        );
    }
}
