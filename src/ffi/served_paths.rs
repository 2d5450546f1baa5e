//! What the configuration lets the manager start (see
//! `fcgid_core::pm::allow`): every command our directives name, in every
//! server and section, and the directories whose scripts may run: each
//! server's DocumentRoot and every <Directory> path (a wildcard path, as
//! Debian's `/home/*/public_html`, is kept as a pattern). Read once in the
//! parent after configuration, before the manager is forked.

use super::bindings as b;
use super::directives::{dir_config, server_config};
use crate::config::DirConfig;
use crate::pm::allow::AllowList;
use std::ffi::CStr;

fn add_dir_commands(list: &mut AllowList, dir: &DirConfig) {
    for w in &dir.wrappers {
        list.add_command(w.command.path.as_bytes());
    }
    for c in [&dir.authenticator, &dir.authorizer, &dir.access_checker]
        .into_iter()
        .flatten()
    {
        list.add_command(c.path.as_bytes());
    }
}

/// The core module's slot of a config vector.
///
/// # Safety
/// `v` must be a live config vector of this configuration.
unsafe fn core_slot(v: *mut b::ap_conf_vector_t) -> *mut std::ffi::c_void {
    // SAFETY: the caller's contract; core_module is httpd's own record.
    unsafe { b::ap_get_module_config(v, std::ptr::addr_of!(b::core_module)) }
}

/// The sections of an array of per-dir vectors (sec_dir, sec_url, sec_file).
///
/// # Safety
/// `arr` must be null or a live array of `ap_conf_vector_t *`.
unsafe fn sections(arr: *const b::apr_array_header_t) -> Vec<*mut b::ap_conf_vector_t> {
    if arr.is_null() {
        return Vec::new();
    }
    // SAFETY: the caller's contract: nelts pointers at elts.
    unsafe {
        let a = &*arr;
        let elts = a.elts.cast::<*mut b::ap_conf_vector_t>();
        (0..a.nelts.max(0) as usize).map(|i| *elts.add(i)).collect()
    }
}

/// Adds one section's commands (and its path, for <Directory>), and those of
/// the <Files> sections inside it.
///
/// # Safety
/// `v` must be a live per-dir vector of this configuration.
unsafe fn add_section(list: &mut AllowList, v: *mut b::ap_conf_vector_t, is_dir: bool) {
    // A section without any of our directives has no DirConfig of ours.
    // SAFETY: `v` is live (caller); our slot is null or holds a DirConfig.
    let ours = unsafe { b::ap_get_module_config(v, std::ptr::addr_of!(crate::fcgid_module)) };
    if !ours.is_null() {
        // SAFETY: as above, non-null.
        add_dir_commands(list, dir_config(unsafe { &*v }));
    }
    // SAFETY: the core slot of a section vector holds its core_dir_config.
    let core = unsafe { core_slot(v).cast::<b::core_dir_config>().as_ref() };
    let Some(core) = core else { return };
    if is_dir && core.r.is_null() && !core.d.is_null() {
        // SAFETY: d is a NUL-terminated string in pconf.
        list.add_root(unsafe { CStr::from_ptr(core.d) }.to_bytes());
    }
    // SAFETY: sec_file is null or an array of section vectors.
    for f in unsafe { sections(core.sec_file) } {
        // SAFETY: as above.
        unsafe { add_section(list, f, false) };
    }
}

/// Everything the configuration of every server allows.
pub fn allowed() -> AllowList {
    let mut list = AllowList::default();
    // SAFETY: after configuration, ap_server_conf heads the live list of
    // servers; each server's vectors and core config live in pconf.
    unsafe {
        let mut s = *std::ptr::addr_of!(b::ap_server_conf);
        while !s.is_null() {
            let server = &*s;
            for o in &server_config(server).cmd_options {
                list.add_command(o.command.as_bytes());
            }
            add_dir_commands(&mut list, dir_config(&*server.lookup_defaults));
            let core = &*core_slot(server.module_config).cast::<b::core_server_config>();
            if !core.ap_document_root.is_null() {
                list.add_root(CStr::from_ptr(core.ap_document_root).to_bytes());
            }
            for v in sections(core.sec_dir) {
                add_section(&mut list, v, true);
            }
            for v in sections(core.sec_url) {
                add_section(&mut list, v, false);
            }
            s = server.next;
        }
    }
    list
}
