//! httpd's view of our configuration: the command table (built at compile
//! time from `config::DIRECTIVES`, one entry per name and alias) and the
//! per-server and per-directory config constructors and mergers.

use super::bindings as b;
use super::pool::Pool;
use crate::config::{self, DirConfig, Directive, Place, Scope, ServerConfig};
use std::ffi::{c_void, CStr};
use std::os::raw::{c_char, c_int};

const DIRECTIVES: &[Directive] = config::TABLE;

const fn entry_count() -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < DIRECTIVES.len() {
        n += 1 + DIRECTIVES[i].aliases.len();
        i += 1;
    }
    n
}

const COMMANDS: usize = entry_count();

const fn command(name: &'static CStr, scope: Scope, usage: &'static CStr) -> b::command_rec {
    let req_override = match scope {
        Scope::GlobalOnly | Scope::Server => b::RSRC_CONF,
        Scope::Dir => b::ACCESS_CONF | b::OR_FILEINFO,
        Scope::ServerAndDir => b::RSRC_CONF | b::ACCESS_CONF | b::OR_FILEINFO,
    };
    b::command_rec {
        name: name.as_ptr(),
        func: b::cmd_func {
            take_argv: Some(set_directive),
        },
        cmd_data: std::ptr::null_mut(),
        req_override: req_override as c_int,
        args_how: b::cmd_how_TAKE_ARGV,
        errmsg: usage.as_ptr(),
    }
}

const fn build_table() -> [b::command_rec; COMMANDS + 1] {
    // SAFETY: command_rec is plain data; all-zero is httpd's table terminator.
    let mut table: [b::command_rec; COMMANDS + 1] = unsafe { std::mem::zeroed() };
    let mut n = 0;
    let mut i = 0;
    while i < DIRECTIVES.len() {
        let d = &DIRECTIVES[i];
        table[n] = command(d.name, d.scope, d.usage);
        n += 1;
        let mut a = 0;
        while a < d.aliases.len() {
            table[n] = command(d.aliases[a], d.scope, d.usage);
            n += 1;
            a += 1;
        }
        i += 1;
    }
    table
}

/// httpd only reads this table.
#[repr(transparent)]
pub struct CommandTable(pub [b::command_rec; COMMANDS + 1]);
// SAFETY: the table is immutable and its pointers are to 'static data.
unsafe impl Sync for CommandTable {}

pub static COMMAND_TABLE: CommandTable = CommandTable(build_table());

/// Where httpd is reading this directive.
fn place(cmd: &mut b::cmd_parms) -> Place {
    // SAFETY: ap_check_cmd_context only reads cmd; a non-null answer means the
    // directive is in the context it names.
    let in_htaccess = !unsafe { b::ap_check_cmd_context(cmd, b::NOT_IN_HTACCESS) }.is_null();
    if in_htaccess {
        Place::Htaccess
    } else if !cmd.path.is_null() {
        Place::Section
    // SAFETY: cmd->server is the live server_rec being configured.
    } else if unsafe { (*cmd.server).is_virtual } != 0 {
        Place::VirtualHost
    } else {
        Place::MainServer
    }
}

extern "C" fn set_directive(
    cmd: *mut b::cmd_parms,
    dir_config: *mut c_void,
    argc: c_int,
    argv: *const *mut c_char,
) -> *const c_char {
    super::guard::guard("directive", c"mod_fcgid: internal error".as_ptr(), || {
        // SAFETY: httpd passes a live cmd_parms whose `cmd` is one of our entries,
        // and argc words in argv.
        let cmd = unsafe { &mut *cmd };
        // SAFETY: the entry's name is one of our static C strings.
        let written = unsafe { CStr::from_ptr((*cmd.cmd).name) }
            .to_string_lossy()
            .into_owned();
        let args: Vec<String> = (0..argc.max(0) as usize)
            .map(|i| {
                // SAFETY: i < argc, and each word is a NUL-terminated string.
                unsafe { CStr::from_ptr(*argv.add(i)) }
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        // SAFETY: cmd->pool lives as long as the configuration.
        let pool = unsafe { Pool::from_raw(cmd.pool) };
        let Some(d) = config::lookup(&written) else {
            return pool.strdup(&format!("{written}: unknown mod_fcgid directive"));
        };
        let result = config::check_place(d, &written, place(cmd)).and_then(|()| {
            if d.is_dir_setting() {
                // SAFETY: for directives allowed in directory context httpd passes
                // our DirConfig (the server's defaults when used outside sections).
                let cfg = unsafe { &mut *dir_config.cast::<DirConfig>() };
                config::apply_dir(d, &written, &args, cfg)
            } else {
                config::apply_server(d, &written, &args, server_config_mut(cmd))
            }
        });
        match result {
            Ok(()) => std::ptr::null(),
            Err(msg) => pool.strdup(&msg),
        }
    })
}

/// Our slot of a module config vector (server or per-directory).
fn our_slot(v: *const b::ap_conf_vector_t) -> *mut c_void {
    // SAFETY: ap_get_module_config only indexes the vector by our module index.
    unsafe { b::ap_get_module_config(v, std::ptr::addr_of!(crate::fcgid_module)) }
}

/// The config of the server a directive is read for. Configuration runs
/// single-threaded and nothing else borrows the config then.
fn server_config_mut(cmd: &mut b::cmd_parms) -> &mut ServerConfig {
    // SAFETY: cmd->server is live while its configuration is read; our slot
    // of its module_config holds the ServerConfig made by create_server_config,
    // borrowed here for no longer than `cmd`.
    unsafe { &mut *our_slot((*cmd.server).module_config).cast::<ServerConfig>() }
}

/// The (merged) config of server `s`, shared: under worker and event many
/// request threads read it at once, so it is never borrowed mutably after
/// configuration.
pub(super) fn server_config(s: &b::server_rec) -> &ServerConfig {
    // SAFETY: our slot holds a ServerConfig in pconf, which outlives `s`'s use.
    unsafe { &*our_slot(s.module_config).cast::<ServerConfig>() }
}

/// The (merged) directory config in a per-dir vector.
pub(super) fn dir_config(per_dir: &b::ap_conf_vector_t) -> &DirConfig {
    // SAFETY: our slot in a per-dir vector holds a DirConfig made by
    // create_dir_config or merge_dir_config, in a pool that outlives `per_dir`.
    unsafe { &*our_slot(per_dir).cast::<DirConfig>() }
}

pub(crate) extern "C" fn create_server_config(
    p: *mut b::apr_pool_t,
    _s: *mut b::server_rec,
) -> *mut c_void {
    super::guard::guard("create_server_config", std::ptr::null_mut(), || {
        // SAFETY: httpd passes its config pool.
        unsafe { Pool::from_raw(p) }
            .keep(ServerConfig::default())
            .cast::<c_void>()
    })
}

pub(crate) extern "C" fn merge_server_config(
    p: *mut b::apr_pool_t,
    base: *mut c_void,
    add: *mut c_void,
) -> *mut c_void {
    super::guard::guard("merge_server_config", std::ptr::null_mut(), || {
        // SAFETY: both were made by create_server_config.
        let (base, add) = unsafe {
            (
                &*(base as *const ServerConfig),
                &*(add as *const ServerConfig),
            )
        };
        // SAFETY: httpd passes the live configuration pool.
        unsafe { Pool::from_raw(p) }
            .keep(ServerConfig::merge(base, add))
            .cast::<c_void>()
    })
}

pub(crate) extern "C" fn create_dir_config(
    p: *mut b::apr_pool_t,
    _dir: *mut c_char,
) -> *mut c_void {
    super::guard::guard("create_dir_config", std::ptr::null_mut(), || {
        // SAFETY: httpd passes a live pool.
        unsafe { Pool::from_raw(p) }
            .keep(DirConfig::default())
            .cast::<c_void>()
    })
}

pub(crate) extern "C" fn merge_dir_config(
    p: *mut b::apr_pool_t,
    base: *mut c_void,
    add: *mut c_void,
) -> *mut c_void {
    super::guard::guard("merge_dir_config", std::ptr::null_mut(), || {
        // SAFETY: both were made by create_dir_config.
        let (base, add) = unsafe { (&*(base as *const DirConfig), &*(add as *const DirConfig)) };
        // SAFETY: httpd passes the live configuration pool.
        unsafe { Pool::from_raw(p) }
            .keep(DirConfig::merge(base, add))
            .cast::<c_void>()
    })
}
