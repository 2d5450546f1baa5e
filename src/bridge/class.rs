//! Which process class serves a request, and how its processes are started.

use crate::config::{DirConfig, ServerConfig};
use crate::pm::wire::{ClassLimits, ClassSpec};
use std::path::Path;
use std::time::Duration;

/// What the handler knows about the request's target.
pub struct Target<'a> {
    pub filename: &'a str,
    /// device and inode of the script, when it exists
    pub file_id: Option<(u64, u64)>,
    pub vhost: String,
    pub uid: u32,
    pub gid: u32,
}

/// A zero timeout means "never" in mod_fcgid's settings.
fn never_if_zero(d: Duration) -> Duration {
    if d.is_zero() {
        Duration::from_secs(u32::MAX as u64)
    } else {
        d
    }
}

/// The class for `target`: its own executable, or the wrapper configured
/// for it. None when there is no wrapper and the file does not exist.
pub fn class_for(target: &Target, server: &ServerConfig, dir: &DirConfig) -> Option<ClassSpec> {
    let wrapper = dir.wrapper_for(target.filename);
    let (argv, exe, file_id) = match wrapper {
        Some(w) => (
            w.command.argv(),
            w.command.path.clone(),
            (w.command.file_id.dev, w.command.file_id.ino),
        ),
        None => (
            vec![target.filename.to_string()],
            target.filename.to_string(),
            target.file_id?,
        ),
    };
    let opts = server.process_options(&exe);
    let cwd = Path::new(target.filename)
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".into());
    let cmdline = argv.join(" ");
    // As in C, all scripts run through one wrapper share its pool: the
    // wrapper learns the script from SCRIPT_FILENAME on each request.
    let key = format!(
        "{}:{}|{}|{}|{}:{}",
        file_id.0, file_id.1, cmdline, target.vhost, target.uid, target.gid
    );
    Some(ClassSpec {
        key,
        argv: argv.into_iter().map(String::into_bytes).collect(),
        cwd: cwd.into_bytes(),
        env: opts
            .initial_env
            .iter()
            .map(|(k, v)| (k.clone().into_bytes(), v.clone().into_bytes()))
            .collect(),
        limits: ClassLimits {
            max_processes: opts.max_processes_per_class,
            min_processes: opts.min_processes_per_class,
            idle_timeout: never_if_zero(opts.idle_timeout),
            lifetime: never_if_zero(opts.process_lifetime),
            busy_timeout: never_if_zero(opts.busy_timeout),
            max_requests: opts.max_requests_per_process,
        },
    })
}
