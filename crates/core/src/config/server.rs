//! Per-server settings: one `ServerConfig` for the main server and one
//! for each `<VirtualHost>`, merged so a vhost inherits what it leaves
//! unset.
//!
//! Global-only settings (see `Scope::GlobalOnly`) can only be set in the
//! main server's config; the httpd-facing layer reads them from there.

use super::cmd_options::{CmdOptions, ProcessOptions};
use super::defaults as default;
use super::settings::Scalars;

/// Settings from server-context directives. `None` means "not set
/// here"; the getters of the same name apply the 2.3.9 default. The
/// single-valued settings are declared in `settings.rs`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerConfig {
    pub scalars: Scalars,
    // Global only; as written, relative to ServerRoot.
    pub ipc_dir: Option<String>,
    pub process_table_file: Option<String>,
    /// `FcgidInitialEnv name [value]`, in first-set order. Names compare
    /// case-insensitively, as in C's table: setting a name again replaces
    /// the value in place.
    pub initial_env: Vec<(String, String)>,
    /// `FcgidPassHeader` names, in order, duplicates kept.
    pub pass_headers: Vec<String>,
    /// `FcgidCmdOptions`, at most one per command path.
    pub cmd_options: Vec<CmdOptions>,
}

impl ServerConfig {
    /// As written (default `logs/fcgidsock`); relative to ServerRoot.
    pub fn ipc_dir(&self) -> &str {
        self.ipc_dir.as_deref().unwrap_or(default::IPC_DIR)
    }
    /// As written (default `logs/fcgid_shm`); relative to ServerRoot.
    pub fn process_table_file(&self) -> &str {
        self.process_table_file
            .as_deref()
            .unwrap_or(default::PROCESS_TABLE_FILE)
    }
    /// `FcgidCmdOptions` for this executable path, if any (exact match).
    pub fn cmd_options_for(&self, executable: &str) -> Option<&CmdOptions> {
        self.cmd_options.iter().find(|o| o.command == executable)
    }

    /// Settings for processes of `executable` (the wrapper's or script's
    /// path, not the whole command line). With `FcgidCmdOptions` for it,
    /// those replace the server's settings entirely (see `CmdOptions`).
    pub fn process_options(&self, executable: &str) -> ProcessOptions {
        match self.cmd_options_for(executable) {
            Some(o) => ProcessOptions {
                busy_timeout: self.busy_timeout(),
                idle_timeout: o.idle_timeout(),
                io_timeout: o.io_timeout(),
                connect_timeout: o.connect_timeout(),
                max_processes_per_class: o.max_processes(),
                min_processes_per_class: o.min_processes(),
                max_requests_per_process: o.max_requests_per_process(),
                process_lifetime: o.process_lifetime(),
                initial_env: o.initial_env.clone(),
            },
            None => ProcessOptions {
                busy_timeout: self.busy_timeout(),
                idle_timeout: self.idle_timeout(),
                io_timeout: self.io_timeout(),
                connect_timeout: self.connect_timeout(),
                max_processes_per_class: self.max_processes_per_class(),
                min_processes_per_class: self.min_processes_per_class(),
                max_requests_per_process: self.max_requests_per_process(),
                process_lifetime: self.process_lifetime(),
                initial_env: self.initial_env.clone(),
            },
        }
    }

    /// Sets an initial environment variable, replacing the value of an
    /// existing name (compared case-insensitively) in place.
    pub fn set_initial_env(&mut self, name: &str, value: &str) {
        set_env(&mut self.initial_env, name, value);
    }

    /// Records `FcgidCmdOptions`; a later one for the same command wins.
    pub fn set_cmd_options(&mut self, opts: CmdOptions) {
        put_cmd_options(&mut self.cmd_options, opts);
    }

    /// The configuration in effect for a virtual host: each setting the
    /// vhost leaves unset comes from `base` (the main server). As in C:
    /// initial env is base's with the vhost's names set over it; pass
    /// headers are base's followed by the vhost's; command options are
    /// base's with the vhost's replacing those for the same command.
    pub fn merge(base: &ServerConfig, vhost: &ServerConfig) -> ServerConfig {
        let mut initial_env = base.initial_env.clone();
        for (name, value) in &vhost.initial_env {
            set_env(&mut initial_env, name, value);
        }
        let mut pass_headers = base.pass_headers.clone();
        pass_headers.extend(vhost.pass_headers.iter().cloned());
        let mut cmd_options = base.cmd_options.clone();
        for opts in &vhost.cmd_options {
            put_cmd_options(&mut cmd_options, opts.clone());
        }
        ServerConfig {
            scalars: Scalars::merge(&base.scalars, &vhost.scalars),
            ipc_dir: vhost.ipc_dir.clone().or_else(|| base.ipc_dir.clone()),
            process_table_file: vhost
                .process_table_file
                .clone()
                .or_else(|| base.process_table_file.clone()),
            initial_env,
            pass_headers,
            cmd_options,
        }
    }
}

fn put_cmd_options(list: &mut Vec<CmdOptions>, opts: CmdOptions) {
    match list.iter_mut().find(|o| o.command == opts.command) {
        Some(old) => *old = opts,
        None => list.push(opts),
    }
}

/// Table semantics of C's `apr_table_set`: the first spelling of a name
/// keeps its place, the last value wins.
pub(crate) fn set_env(env: &mut Vec<(String, String)>, name: &str, value: &str) {
    match env.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
        Some((_, v)) => *v = value.to_string(),
        None => env.push((name.to_string(), value.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_those_of_2_3_9() {
        let c = ServerConfig::default();
        assert_eq!(c.idle_timeout(), Duration::from_secs(300));
        assert_eq!(c.busy_timeout(), Duration::from_secs(300));
        assert_eq!(c.process_lifetime(), Duration::from_secs(3600));
        assert_eq!(c.connect_timeout(), Duration::from_secs(3));
        assert_eq!(c.io_timeout(), Duration::from_secs(40));
        assert_eq!(c.idle_scan_interval(), Duration::from_secs(120));
        assert_eq!(c.busy_scan_interval(), Duration::from_secs(120));
        assert_eq!(c.error_scan_interval(), Duration::from_secs(3));
        assert_eq!(c.zombie_scan_interval(), Duration::from_secs(3));
        assert_eq!(c.max_processes(), 1000);
        assert_eq!(c.max_processes_per_class(), 100);
        assert_eq!(c.min_processes_per_class(), 3);
        assert_eq!(c.max_requests_per_process(), 0);
        assert_eq!(c.spawn_score(), 1);
        assert_eq!(c.termination_score(), 2);
        assert_eq!(c.time_score(), 1);
        assert_eq!(c.spawn_score_up_limit(), 10);
        assert_eq!(c.max_request_in_mem(), 65536);
        assert_eq!(c.max_request_len(), 131072);
        assert_eq!(c.output_buffer_size(), 65536);
        assert_eq!(c.ipc_dir(), "logs/fcgidsock");
        assert_eq!(c.process_table_file(), "logs/fcgid_shm");
        assert!(!c.fix_pathinfo());
        assert_eq!(c.wait_timeout(), Duration::from_secs(64));
        assert!(c.initial_env.is_empty() && c.pass_headers.is_empty());
    }

    #[test]
    fn getters_return_set_values() {
        let c = ServerConfig {
            scalars: Scalars {
                idle_timeout: Some(Duration::from_secs(7)),
                max_processes: Some(5),
                fix_pathinfo: Some(true),
                max_request_len: Some(1 << 40),
                ..Scalars::default()
            },
            ipc_dir: Some("/run/fcgid".into()),
            ..ServerConfig::default()
        };
        assert_eq!(c.idle_timeout(), Duration::from_secs(7));
        assert_eq!(c.max_processes(), 5);
        assert_eq!(c.ipc_dir(), "/run/fcgid");
        assert!(c.fix_pathinfo());
        assert_eq!(c.max_request_len(), 1 << 40);
    }

    #[test]
    fn merge_vhost_overrides_and_unset_inherits() {
        let base = ServerConfig {
            scalars: Scalars {
                idle_timeout: Some(Duration::from_secs(100)),
                io_timeout: Some(Duration::from_secs(90)),
                max_processes: Some(50),
                ..Scalars::default()
            },
            ..ServerConfig::default()
        };
        let vhost = ServerConfig {
            scalars: Scalars {
                idle_timeout: Some(Duration::from_secs(20)),
                max_request_len: Some(1000),
                ..Scalars::default()
            },
            ..ServerConfig::default()
        };
        let m = ServerConfig::merge(&base, &vhost);
        assert_eq!(m.idle_timeout(), Duration::from_secs(20));
        assert_eq!(m.io_timeout(), Duration::from_secs(90));
        assert_eq!(m.max_processes(), 50);
        assert_eq!(m.max_request_len(), 1000);
        // Unset in both: still unset, so the default applies.
        assert_eq!(m.scalars.busy_timeout, None);
        assert_eq!(m.busy_timeout(), Duration::from_secs(300));
    }

    #[test]
    fn merge_initial_env_sets_vhost_names_over_base() {
        let base = ServerConfig {
            initial_env: env(&[("PHP_FCGI_CHILDREN", "0"), ("A", "base")]),
            ..ServerConfig::default()
        };
        let vhost = ServerConfig {
            initial_env: env(&[("a", "vhost"), ("B", "new")]),
            ..ServerConfig::default()
        };
        let m = ServerConfig::merge(&base, &vhost);
        assert_eq!(
            m.initial_env,
            env(&[("PHP_FCGI_CHILDREN", "0"), ("A", "vhost"), ("B", "new")])
        );
        assert_eq!(
            ServerConfig::merge(&base, &ServerConfig::default()).initial_env,
            base.initial_env
        );
        assert_eq!(
            ServerConfig::merge(&ServerConfig::default(), &vhost).initial_env,
            vhost.initial_env
        );
    }

    #[test]
    fn merge_pass_headers_appends() {
        let base = ServerConfig {
            pass_headers: vec!["Authorization".into()],
            ..ServerConfig::default()
        };
        let vhost = ServerConfig {
            pass_headers: vec!["X-Foo".into(), "Authorization".into()],
            ..ServerConfig::default()
        };
        let m = ServerConfig::merge(&base, &vhost);
        assert_eq!(m.pass_headers, ["Authorization", "X-Foo", "Authorization"]);
    }

    #[test]
    fn merge_cmd_options_vhost_replaces_same_command() {
        let opts = |cmd: &str, idle: u64| CmdOptions {
            idle_timeout: Some(Duration::from_secs(idle)),
            ..CmdOptions::new(cmd)
        };
        let base = ServerConfig {
            cmd_options: vec![opts("/a", 1), opts("/b", 2)],
            ..ServerConfig::default()
        };
        let vhost = ServerConfig {
            cmd_options: vec![opts("/b", 20), opts("/c", 30)],
            ..ServerConfig::default()
        };
        let m = ServerConfig::merge(&base, &vhost);
        let idle = |cmd| m.cmd_options_for(cmd).map(|o| o.idle_timeout());
        assert_eq!(idle("/a"), Some(Duration::from_secs(1)));
        assert_eq!(idle("/b"), Some(Duration::from_secs(20)));
        assert_eq!(idle("/c"), Some(Duration::from_secs(30)));
        assert_eq!(idle("/d"), None);
        assert_eq!(m.cmd_options.len(), 3);
    }

    #[test]
    fn process_options_use_cmd_options_or_server_settings() {
        let mut c = ServerConfig {
            scalars: Scalars {
                idle_timeout: Some(Duration::from_secs(11)),
                busy_timeout: Some(Duration::from_secs(22)),
                max_processes_per_class: Some(4),
                ..Scalars::default()
            },
            initial_env: env(&[("FROM", "server")]),
            ..ServerConfig::default()
        };
        c.set_cmd_options(CmdOptions {
            io_timeout: Some(Duration::from_secs(90)),
            initial_env: env(&[("FROM", "cmd")]),
            ..CmdOptions::new("/usr/bin/php-cgi")
        });

        let plain = c.process_options("/srv/app.fcgi");
        assert_eq!(plain.idle_timeout, Duration::from_secs(11));
        assert_eq!(plain.max_processes_per_class, 4);
        assert_eq!(plain.io_timeout, Duration::from_secs(40));
        assert_eq!(plain.initial_env, env(&[("FROM", "server")]));

        let php = c.process_options("/usr/bin/php-cgi");
        assert_eq!(php.io_timeout, Duration::from_secs(90));
        // Not named by the options: built-in default, not the server's 11 s.
        assert_eq!(php.idle_timeout, Duration::from_secs(300));
        assert_eq!(php.max_processes_per_class, 100);
        assert_eq!(php.initial_env, env(&[("FROM", "cmd")]));
        // No option for it: always the server's.
        assert_eq!(php.busy_timeout, Duration::from_secs(22));
    }

    #[test]
    fn set_initial_env_replaces_in_place_case_insensitively() {
        let mut c = ServerConfig::default();
        c.set_initial_env("Path", "/bin");
        c.set_initial_env("X", "");
        c.set_initial_env("PATH", "/usr/bin");
        assert_eq!(c.initial_env, env(&[("Path", "/usr/bin"), ("X", "")]));
    }
}
