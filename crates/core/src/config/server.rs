//! Per-server settings: one `ServerConfig` for the main server and one
//! for each `<VirtualHost>`, merged so a vhost inherits what it leaves
//! unset.
//!
//! Global-only settings (see `Scope::GlobalOnly`) can only be set in the
//! main server's config; the httpd-facing layer reads them from there.

use std::time::Duration;

use super::cmd_options::{CmdOptions, ProcessOptions};
use super::defaults as default;

/// Settings from server-context directives. `None` means "not set
/// here"; the getters of the same name apply the 2.3.9 default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerConfig {
    // Global only.
    pub idle_scan_interval: Option<Duration>,
    pub busy_scan_interval: Option<Duration>,
    pub error_scan_interval: Option<Duration>,
    pub zombie_scan_interval: Option<Duration>,
    pub max_processes: Option<u32>,
    pub spawn_score: Option<u32>,
    pub termination_score: Option<u32>,
    pub time_score: Option<u32>,
    pub spawn_score_up_limit: Option<u32>,
    pub ipc_dir: Option<String>,
    pub process_table_file: Option<String>,
    pub fix_pathinfo: Option<bool>,
    /// Accepted for Windows configs; has no effect on Unix.
    pub win32_prevent_orphans: Option<bool>,

    // Main server or virtual host.
    pub idle_timeout: Option<Duration>,
    pub busy_timeout: Option<Duration>,
    pub process_lifetime: Option<Duration>,
    pub connect_timeout: Option<Duration>,
    pub io_timeout: Option<Duration>,
    pub max_processes_per_class: Option<u32>,
    pub min_processes_per_class: Option<u32>,
    pub max_requests_per_process: Option<u32>,
    pub max_request_in_mem: Option<u64>,
    pub max_request_len: Option<u64>,
    pub output_buffer_size: Option<usize>,
    /// `FcgidInitialEnv name [value]`, in first-set order. Names compare
    /// case-insensitively, as in C's table: setting a name again replaces
    /// the value in place.
    pub initial_env: Vec<(String, String)>,
    /// `FcgidPassHeader` names, in order, duplicates kept.
    pub pass_headers: Vec<String>,
    /// `FcgidCmdOptions`, at most one per command path.
    pub cmd_options: Vec<CmdOptions>,

    /// Ours, set by no directive yet: how long a request waits for a
    /// process before it gets a 503.
    pub wait_timeout: Option<Duration>,
}

impl ServerConfig {
    pub fn idle_scan_interval(&self) -> Duration {
        self.idle_scan_interval
            .unwrap_or(default::IDLE_SCAN_INTERVAL)
    }
    pub fn busy_scan_interval(&self) -> Duration {
        self.busy_scan_interval
            .unwrap_or(default::BUSY_SCAN_INTERVAL)
    }
    pub fn error_scan_interval(&self) -> Duration {
        self.error_scan_interval
            .unwrap_or(default::ERROR_SCAN_INTERVAL)
    }
    pub fn zombie_scan_interval(&self) -> Duration {
        self.zombie_scan_interval
            .unwrap_or(default::ZOMBIE_SCAN_INTERVAL)
    }
    pub fn max_processes(&self) -> u32 {
        self.max_processes.unwrap_or(default::MAX_PROCESSES)
    }
    pub fn spawn_score(&self) -> u32 {
        self.spawn_score.unwrap_or(default::SPAWN_SCORE)
    }
    pub fn termination_score(&self) -> u32 {
        self.termination_score.unwrap_or(default::TERMINATION_SCORE)
    }
    pub fn time_score(&self) -> u32 {
        self.time_score.unwrap_or(default::TIME_SCORE)
    }
    pub fn spawn_score_up_limit(&self) -> u32 {
        self.spawn_score_up_limit
            .unwrap_or(default::SPAWN_SCORE_UP_LIMIT)
    }
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
    pub fn fix_pathinfo(&self) -> bool {
        self.fix_pathinfo.unwrap_or(false)
    }

    /// 0 disables the idle check.
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout.unwrap_or(default::IDLE_TIMEOUT)
    }
    pub fn busy_timeout(&self) -> Duration {
        self.busy_timeout.unwrap_or(default::BUSY_TIMEOUT)
    }
    /// 0 disables the lifetime check.
    pub fn process_lifetime(&self) -> Duration {
        self.process_lifetime.unwrap_or(default::PROCESS_LIFETIME)
    }
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout.unwrap_or(default::CONNECT_TIMEOUT)
    }
    pub fn io_timeout(&self) -> Duration {
        self.io_timeout.unwrap_or(default::IO_TIMEOUT)
    }
    pub fn max_processes_per_class(&self) -> u32 {
        self.max_processes_per_class
            .unwrap_or(default::MAX_PROCESSES_PER_CLASS)
    }
    pub fn min_processes_per_class(&self) -> u32 {
        self.min_processes_per_class
            .unwrap_or(default::MIN_PROCESSES_PER_CLASS)
    }
    /// 0 means unlimited.
    pub fn max_requests_per_process(&self) -> u32 {
        self.max_requests_per_process
            .unwrap_or(default::MAX_REQUESTS_PER_PROCESS)
    }
    pub fn max_request_in_mem(&self) -> u64 {
        self.max_request_in_mem
            .unwrap_or(default::MAX_REQUEST_IN_MEM)
    }
    pub fn max_request_len(&self) -> u64 {
        self.max_request_len.unwrap_or(default::MAX_REQUEST_LEN)
    }
    pub fn output_buffer_size(&self) -> usize {
        self.output_buffer_size
            .unwrap_or(default::OUTPUT_BUFFER_SIZE)
    }
    pub fn wait_timeout(&self) -> Duration {
        self.wait_timeout.unwrap_or(default::WAIT_TIMEOUT)
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
            idle_scan_interval: vhost.idle_scan_interval.or(base.idle_scan_interval),
            busy_scan_interval: vhost.busy_scan_interval.or(base.busy_scan_interval),
            error_scan_interval: vhost.error_scan_interval.or(base.error_scan_interval),
            zombie_scan_interval: vhost.zombie_scan_interval.or(base.zombie_scan_interval),
            max_processes: vhost.max_processes.or(base.max_processes),
            spawn_score: vhost.spawn_score.or(base.spawn_score),
            termination_score: vhost.termination_score.or(base.termination_score),
            time_score: vhost.time_score.or(base.time_score),
            spawn_score_up_limit: vhost.spawn_score_up_limit.or(base.spawn_score_up_limit),
            ipc_dir: vhost.ipc_dir.clone().or_else(|| base.ipc_dir.clone()),
            process_table_file: vhost
                .process_table_file
                .clone()
                .or_else(|| base.process_table_file.clone()),
            fix_pathinfo: vhost.fix_pathinfo.or(base.fix_pathinfo),
            win32_prevent_orphans: vhost.win32_prevent_orphans.or(base.win32_prevent_orphans),
            idle_timeout: vhost.idle_timeout.or(base.idle_timeout),
            busy_timeout: vhost.busy_timeout.or(base.busy_timeout),
            process_lifetime: vhost.process_lifetime.or(base.process_lifetime),
            connect_timeout: vhost.connect_timeout.or(base.connect_timeout),
            io_timeout: vhost.io_timeout.or(base.io_timeout),
            max_processes_per_class: vhost
                .max_processes_per_class
                .or(base.max_processes_per_class),
            min_processes_per_class: vhost
                .min_processes_per_class
                .or(base.min_processes_per_class),
            max_requests_per_process: vhost
                .max_requests_per_process
                .or(base.max_requests_per_process),
            max_request_in_mem: vhost.max_request_in_mem.or(base.max_request_in_mem),
            max_request_len: vhost.max_request_len.or(base.max_request_len),
            output_buffer_size: vhost.output_buffer_size.or(base.output_buffer_size),
            initial_env,
            pass_headers,
            cmd_options,
            wait_timeout: vhost.wait_timeout.or(base.wait_timeout),
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
            idle_timeout: Some(Duration::from_secs(7)),
            max_processes: Some(5),
            ipc_dir: Some("/run/fcgid".into()),
            fix_pathinfo: Some(true),
            max_request_len: Some(1 << 40),
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
            idle_timeout: Some(Duration::from_secs(100)),
            io_timeout: Some(Duration::from_secs(90)),
            max_processes: Some(50),
            ..ServerConfig::default()
        };
        let vhost = ServerConfig {
            idle_timeout: Some(Duration::from_secs(20)),
            max_request_len: Some(1000),
            ..ServerConfig::default()
        };
        let m = ServerConfig::merge(&base, &vhost);
        assert_eq!(m.idle_timeout(), Duration::from_secs(20));
        assert_eq!(m.io_timeout(), Duration::from_secs(90));
        assert_eq!(m.max_processes(), 50);
        assert_eq!(m.max_request_len(), 1000);
        // Unset in both: still unset, so the default applies.
        assert_eq!(m.busy_timeout, None);
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
            idle_timeout: Some(Duration::from_secs(11)),
            busy_timeout: Some(Duration::from_secs(22)),
            max_processes_per_class: Some(4),
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
