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

/// Is httpd's suexec usable (mod_unixd found its binary setuid root)? Read
/// from `ap_unixd_config`, as C mod_fcgid does.
pub fn suexec_enabled() -> bool {
    // SAFETY: as in httpd_user.
    unsafe { (*std::ptr::addr_of!(b::ap_unixd_config)).suexec_enabled != 0 }
}

/// Why suexec is not usable, as mod_unixd says (empty when it is).
pub fn suexec_disabled_reason() -> String {
    // SAFETY: as in httpd_user; the reason is null or a static string.
    unsafe {
        let p = (*std::ptr::addr_of!(b::ap_unixd_config)).suexec_disabled_reason;
        if p.is_null() {
            String::new()
        } else {
            std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }
}

/// httpd's suexec binary (its compiled-in SUEXEC_BIN; Debian:
/// /usr/lib/apache2/suexec).
pub fn suexec_bin() -> &'static std::ffi::CStr {
    // SAFETY: a NUL-terminated constant array defined in shim.c.
    unsafe { std::ffi::CStr::from_ptr(b::FCGID_SUEXEC_BIN.as_ptr()) }
}

/// Where suexec logs what it refuses (AP_LOG_EXEC; empty if it logs to syslog).
pub fn suexec_log() -> &'static std::ffi::CStr {
    // SAFETY: as in suexec_bin.
    unsafe { std::ffi::CStr::from_ptr(b::FCGID_SUEXEC_LOG.as_ptr()) }
}

/// Switches the calling process to httpd's User and Group (as httpd's
/// children do). Returns false if that failed.
pub fn become_httpd_user() -> bool {
    // SAFETY: ap_unixd_setup_child changes the process's credentials only.
    unsafe { b::ap_unixd_setup_child() == 0 }
}

struct Watch {
    proc: b::apr_proc_t,
    on_death: fn(i32, i32) -> Option<i32>,
    /// The pool the registration lives in, for the replacement's.
    pool: Pool,
}

extern "C" fn maintenance(reason: c_int, data: *mut c_void, status: c_int) {
    super::guard::guard("process manager watch", (), || {
        // SAFETY: `data` is the Watch registered below, kept in the same pool
        // as the registration and dropped after it (cleanups run in reverse).
        let watch = unsafe { &*(data as *const Watch) };
        if reason == b::APR_OC_REASON_DEATH as c_int || reason == b::APR_OC_REASON_LOST as c_int {
            // SAFETY: unregistering the entry whose callback is running is allowed.
            unsafe { b::apr_proc_other_child_unregister(data) };
            if let Some(replacement) = (watch.on_death)(watch.proc.pid, status) {
                watch_child(watch.pool, replacement, watch.on_death);
            }
        }
    })
}

/// Asks the httpd parent to call `on_death(pid, wait_status)` when child
/// `pid` exits. When that returns the pid of a replacement, it is watched
/// the same way.
///
/// `config_pool` must be the generation's pconf: httpd unloads this module
/// when pconf is cleared, and a registration in a longer-lived pool (the
/// process pool) would be called after that, into unmapped code (APR calls
/// it with APR_OC_REASON_UNREGISTER when its pool goes). Each generation
/// registers again for the children it still cares about.
pub fn watch_child(config_pool: Pool, pid: i32, on_death: fn(i32, i32) -> Option<i32>) {
    // SAFETY: apr_proc_t is plain data.
    let mut proc: b::apr_proc_t = unsafe { std::mem::zeroed() };
    proc.pid = pid;
    // Kept before registering: its cleanup then runs after the registration's.
    let watch = config_pool.keep(Watch {
        proc,
        on_death,
        pool: config_pool,
    });
    // SAFETY: `watch` lives as long as `config_pool`, which also owns the
    // registration (removed by the pool's cleanup before `watch` is dropped).
    unsafe {
        b::apr_proc_other_child_register(
            &raw mut (*watch).proc,
            Some(maintenance),
            watch.cast::<c_void>(),
            std::ptr::null_mut(),
            config_pool.as_ptr(),
        );
    }
}

/// The pool of httpd's process, which outlives every generation.
fn process_pool() -> Pool {
    // SAFETY: ap_server_conf and its process are set before any hook runs;
    // the process pool lives until exit.
    unsafe {
        let s = *std::ptr::addr_of!(b::ap_server_conf);
        Pool::from_raw((*(*s).process).pool)
    }
}

/// How many managers of earlier generations can be draining at once.
const MAX_DRAINING: usize = 64;
const CARRIED_KEY: &std::ffi::CStr = c"mod_fcgid:carried-state";

/// The manager a generation hands to the next one at a graceful restart,
/// so that its warm processes keep serving (see `pm::launch`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeptManager {
    /// 0: none.
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
    /// The module file it runs (device, inode, mtime, size): an upgraded
    /// module means new managers.
    pub module: [u64; 4],
    /// Its socket path and whether suexec was enabled, hashed.
    pub socket: u64,
}

/// What outlives a generation. The module's statics start afresh with every
/// generation (httpd reloads the DSO), so this lives in the process pool as
/// plain data: no pointer into the module is kept there.
#[repr(C)]
struct Carried {
    /// Pids of managers of earlier generations that are still draining.
    draining: [i32; MAX_DRAINING],
    kept: KeptManager,
}

fn carried() -> *mut Carried {
    let process_pool = process_pool();
    let mut data: *mut c_void = std::ptr::null_mut();
    // SAFETY: the key is a NUL-terminated string; the pool is live.
    unsafe { b::apr_pool_userdata_get(&raw mut data, CARRIED_KEY.as_ptr(), process_pool.as_ptr()) };
    if data.is_null() {
        // SAFETY: pool memory, zeroed (a valid Carried: all integers), sized
        // for it and aligned by apr_palloc; it lives until exit and is never
        // freed by Rust. apr_pool_userdata_set copies the key.
        unsafe {
            let size = std::mem::size_of::<Carried>();
            data = b::apr_palloc(process_pool.as_ptr(), size);
            std::ptr::write_bytes(data.cast::<u8>(), 0, size);
            // `_set`, not `_setn`: the key is copied into the pool. A key
            // left pointing into this module would be read after httpd
            // unloads it at the next restart.
            b::apr_pool_userdata_set(data, CARRIED_KEY.as_ptr(), None, process_pool.as_ptr());
        }
    }
    data.cast::<Carried>()
}

fn draining_slots() -> *mut [i32; MAX_DRAINING] {
    // SAFETY: `carried` returns our live, exclusively used state.
    unsafe { &raw mut (*carried()).draining }
}

/// The manager the previous generation kept for this one, if any (taken:
/// asking again gives none).
pub fn take_kept_manager() -> Option<KeptManager> {
    // SAFETY: the parent is single-threaded; the state is ours (see above).
    let kept = unsafe { &mut (*carried()).kept };
    let k = std::mem::take(kept);
    (k.pid > 0).then_some(k)
}

/// Hands `kept` to the next generation.
pub fn keep_manager(kept: KeptManager) {
    // SAFETY: as in take_kept_manager.
    unsafe { (*carried()).kept = kept };
}

/// The file this module was loaded from: (device, inode, mtime, size).
pub fn module_file_identity() -> Option<[u64; 4]> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    // SAFETY: Dl_info is plain data; dladdr fills it for an address inside
    // a loaded object (our module record) and only reads the address; the
    // name it points to is copied at once.
    let path = unsafe {
        let mut info: libc::Dl_info = std::mem::zeroed();
        let addr = std::ptr::addr_of!(crate::fcgid_module).cast::<c_void>();
        if libc::dladdr(addr, &raw mut info) == 0 || info.dli_fname.is_null() {
            return None;
        }
        std::ffi::CStr::from_ptr(info.dli_fname).to_owned()
    };
    let meta = std::fs::metadata(std::ffi::OsStr::from_bytes(path.to_bytes())).ok()?;
    Some([meta.dev(), meta.ino(), meta.mtime() as u64, meta.size()])
}

/// Notes that manager `pid` drains (its generation ended). Returns false if
/// the list is full (it is then not watched by later generations).
pub fn add_draining(pid: i32) -> bool {
    // SAFETY: the parent is single-threaded; the array is ours (see above).
    let slots = unsafe { &mut *draining_slots() };
    match slots.iter_mut().find(|p| **p == 0 || **p == pid) {
        Some(slot) => {
            *slot = pid;
            true
        }
        None => false,
    }
}

/// Forgets manager `pid` (it exited).
pub fn remove_draining(pid: i32) {
    // SAFETY: as in add_draining.
    let slots = unsafe { &mut *draining_slots() };
    for slot in slots.iter_mut().filter(|p| **p == pid) {
        *slot = 0;
    }
}

/// The managers of earlier generations still draining.
pub fn draining() -> Vec<i32> {
    // SAFETY: as in add_draining.
    let slots = unsafe { &*draining_slots() };
    slots.iter().copied().filter(|p| *p > 0).collect()
}
