//! `FcgidCmdOptions command Option value [Option value ...]`: settings
//! for one executable that replace the server's.
//!
//! As in C, a command with options ignores the server's settings for
//! everything an option can set, including `FcgidInitialEnv`: options it
//! does not name take the built-in default. Only the busy timeout, which
//! has no option, still comes from the server.

use std::time::Duration;

use super::command::file_id;
use super::defaults as default;
use super::server::set_env;
use super::values;

/// Option names as C spells them (matched case-insensitively).
pub const OPTION_NAMES: &[&str] = &[
    "ConnectTimeout",
    "IdleTimeout",
    "InitialEnv",
    "IOTimeout",
    "MaxProcesses",
    "MaxProcessLifetime",
    "MaxRequestsPerProcess",
    "MinProcesses",
];

/// One `FcgidCmdOptions` line. `None` means the option was not given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CmdOptions {
    /// The executable path, compared exactly with a class's executable.
    pub command: String,
    pub connect_timeout: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    pub io_timeout: Option<Duration>,
    /// `MaxProcesses`: the per-class limit.
    pub max_processes: Option<u32>,
    /// `MaxProcessLifetime`.
    pub process_lifetime: Option<Duration>,
    pub max_requests_per_process: Option<u32>,
    /// `MinProcesses`: the per-class minimum.
    pub min_processes: Option<u32>,
    /// `InitialEnv name=value` (or `name`, for an empty value).
    pub initial_env: Vec<(String, String)>,
}

impl CmdOptions {
    /// Options for `command` with nothing set.
    pub fn new(command: &str) -> CmdOptions {
        CmdOptions {
            command: command.to_string(),
            connect_timeout: None,
            idle_timeout: None,
            io_timeout: None,
            max_processes: None,
            process_lifetime: None,
            max_requests_per_process: None,
            min_processes: None,
            initial_env: Vec::new(),
        }
    }

    /// Parses the directive's words: the command, then option/value pairs.
    /// The command must exist.
    pub fn parse(directive: &str, args: &[String]) -> Result<CmdOptions, String> {
        let (command, mut rest) = match args.split_first() {
            Some((c, rest)) if !c.is_empty() => (c, rest),
            _ => return Err(format!("{directive}: a command must be given")),
        };
        file_id(directive, command)?;
        if rest.is_empty() {
            return Err(format!(
                "{directive}: at least one option must follow the command"
            ));
        }
        let mut opts = CmdOptions::new(command);
        while let [option, tail @ ..] = rest {
            let Some((value, tail)) = tail.split_first().filter(|(v, _)| !v.is_empty()) else {
                return Err(format!("{directive}: option {option} needs a value"));
            };
            opts.set(directive, option, value)?;
            rest = tail;
        }
        Ok(opts)
    }

    fn set(&mut self, directive: &str, option: &str, value: &str) -> Result<(), String> {
        let label = format!("{directive} {option}");
        let is = |name: &str| option.eq_ignore_ascii_case(name);
        if is("ConnectTimeout") {
            self.connect_timeout = Some(values::seconds(&label, value)?);
        } else if is("IdleTimeout") {
            self.idle_timeout = Some(values::seconds(&label, value)?);
        } else if is("IOTimeout") {
            // C takes 0 here, which makes every read fail at once.
            self.io_timeout = Some(values::positive_seconds(&label, value)?);
        } else if is("MaxProcesses") {
            self.max_processes = Some(values::count(&label, value)?);
        } else if is("MaxProcessLifetime") {
            self.process_lifetime = Some(values::seconds(&label, value)?);
        } else if is("MaxRequestsPerProcess") {
            self.max_requests_per_process = Some(values::request_limit(&label, value)?);
        } else if is("MinProcesses") {
            self.min_processes = Some(values::count(&label, value)?);
        } else if is("InitialEnv") {
            let (name, val) = value.split_once('=').unwrap_or((value, ""));
            if name.is_empty() {
                return Err(format!("{label}: '{value}' has no variable name"));
            }
            set_env(&mut self.initial_env, name, val);
        } else {
            return Err(format!(
                "{directive}: unknown option '{option}' (expected one of {})",
                OPTION_NAMES.join(", ")
            ));
        }
        Ok(())
    }

    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout.unwrap_or(default::CONNECT_TIMEOUT)
    }
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout.unwrap_or(default::IDLE_TIMEOUT)
    }
    pub fn io_timeout(&self) -> Duration {
        self.io_timeout.unwrap_or(default::IO_TIMEOUT)
    }
    pub fn max_processes(&self) -> u32 {
        self.max_processes
            .unwrap_or(default::MAX_PROCESSES_PER_CLASS)
    }
    pub fn process_lifetime(&self) -> Duration {
        self.process_lifetime.unwrap_or(default::PROCESS_LIFETIME)
    }
    pub fn max_requests_per_process(&self) -> u32 {
        self.max_requests_per_process
            .unwrap_or(default::MAX_REQUESTS_PER_PROCESS)
    }
    pub fn min_processes(&self) -> u32 {
        self.min_processes
            .unwrap_or(default::MIN_PROCESSES_PER_CLASS)
    }
}

/// What the processes of one class run with: `FcgidCmdOptions` for the
/// executable if there are any, else the server's settings.
/// See `ServerConfig::process_options`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessOptions {
    pub busy_timeout: Duration,
    pub idle_timeout: Duration,
    pub io_timeout: Duration,
    pub connect_timeout: Duration,
    pub max_processes_per_class: u32,
    pub min_processes_per_class: u32,
    /// 0 means unlimited.
    pub max_requests_per_process: u32,
    pub process_lifetime: Duration,
    pub initial_env: Vec<(String, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_files::TestDir;

    fn words(s: &[&str]) -> Vec<String> {
        s.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn parses_every_option_case_insensitively() {
        let dir = TestDir::new("cmdopts-all");
        let cmd = dir.file("wrapper");
        let args = words(&[
            &cmd,
            "connecttimeout",
            "5",
            "IdleTimeout",
            "60",
            "IOTIMEOUT",
            "90",
            "MaxProcesses",
            "7",
            "MaxProcessLifeTime",
            "600",
            "MaxRequestsPerProcess",
            "2000",
            "MinProcesses",
            "1",
            "InitialEnv",
            "MAX_REQUESTS=2000",
            "InitialEnv",
            "EMPTY",
            "InitialEnv",
            "EQ=a=b",
        ]);
        let o = CmdOptions::parse("FcgidCmdOptions", &args).unwrap();
        assert_eq!(o.command, cmd);
        assert_eq!(o.connect_timeout(), Duration::from_secs(5));
        assert_eq!(o.idle_timeout(), Duration::from_secs(60));
        assert_eq!(o.io_timeout(), Duration::from_secs(90));
        assert_eq!(o.max_processes(), 7);
        assert_eq!(o.process_lifetime(), Duration::from_secs(600));
        assert_eq!(o.max_requests_per_process(), 2000);
        assert_eq!(o.min_processes(), 1);
        let env: Vec<(&str, &str)> = o
            .initial_env
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            env,
            [("MAX_REQUESTS", "2000"), ("EMPTY", ""), ("EQ", "a=b")]
        );
    }

    #[test]
    fn unnamed_options_take_built_in_defaults() {
        let dir = TestDir::new("cmdopts-defaults");
        let cmd = dir.file("wrapper");
        let o = CmdOptions::parse("FcgidCmdOptions", &words(&[&cmd, "IOTimeout", "90"])).unwrap();
        assert_eq!(o.io_timeout(), Duration::from_secs(90));
        assert_eq!(o.idle_timeout, None);
        assert_eq!(o.idle_timeout(), Duration::from_secs(300));
        assert_eq!(o.connect_timeout(), Duration::from_secs(3));
        assert_eq!(o.max_processes(), 100);
        assert_eq!(o.min_processes(), 3);
        assert_eq!(o.process_lifetime(), Duration::from_secs(3600));
        assert_eq!(o.max_requests_per_process(), 0);
        assert!(o.initial_env.is_empty());
    }

    #[test]
    fn unknown_option_is_rejected_by_name() {
        let dir = TestDir::new("cmdopts-unknown");
        let cmd = dir.file("wrapper");
        let err =
            CmdOptions::parse("FcgidCmdOptions", &words(&[&cmd, "BusyTimeout", "9"])).unwrap_err();
        assert!(
            err.starts_with("FcgidCmdOptions: unknown option 'BusyTimeout'"),
            "{err}"
        );
    }

    #[test]
    fn malformed_lines_are_rejected() {
        let dir = TestDir::new("cmdopts-bad");
        let cmd = dir.file("wrapper");
        let parse = |a: &[&str]| CmdOptions::parse("FcgidCmdOptions", &words(a)).unwrap_err();

        assert!(parse(&[]).contains("a command must be given"));
        assert!(parse(&[&cmd]).contains("at least one option"));
        assert_eq!(
            parse(&[&cmd, "IdleTimeout"]),
            "FcgidCmdOptions: option IdleTimeout needs a value"
        );
        assert_eq!(
            parse(&[&cmd, "IdleTimeout", "soon"]),
            "FcgidCmdOptions IdleTimeout: 'soon' is not a whole number of seconds"
        );
        assert!(parse(&[&cmd, "IOTimeout", "0"]).starts_with("FcgidCmdOptions IOTimeout: "));
        assert!(parse(&[&cmd, "InitialEnv", "=x"]).contains("no variable name"));
        let missing = parse(&["/no/such/wrapper", "IdleTimeout", "1"]);
        assert!(
            missing.starts_with("FcgidCmdOptions: cannot access '/no/such/wrapper'"),
            "{missing}"
        );
    }
}
