//! The directive table: one row per directive of mod_fcgid 2.3.9, with
//! its deprecated names as aliases.

use std::ffi::CStr;

/// Where a directive may appear. The httpd-facing layer registers
/// `GlobalOnly` and `Server` as `RSRC_CONF`, `Dir` as
/// `ACCESS_CONF | OR_FILEINFO`, `ServerAndDir` as all three; and it
/// rejects `GlobalOnly` inside `<VirtualHost>` (see [`check_place`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Main server config only: the setting is for the whole server.
    GlobalOnly,
    /// Main server config or `<VirtualHost>`.
    Server,
    /// `<Directory>`, `<Location>`, `<Files>`, and .htaccess with
    /// `AllowOverride FileInfo`.
    Dir,
    /// Anywhere `Server` or `Dir` is allowed (only `FcgidWrapper`).
    ServerAndDir,
}

/// Where a directive was found, for [`check_place`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    MainServer,
    VirtualHost,
    /// `<Directory>`, `<Location>` or `<Files>`.
    Section,
    Htaccess,
}

/// How many words a directive takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Args {
    One,
    OneOrTwo,
    OneToThree,
    /// `On` or `Off`.
    Flag,
    OneOrMore,
}

impl Args {
    pub fn accepts(self, n: usize) -> bool {
        match self {
            Args::One | Args::Flag => n == 1,
            Args::OneOrTwo => (1..=2).contains(&n),
            Args::OneToThree => (1..=3).contains(&n),
            Args::OneOrMore => n >= 1,
        }
    }
}

/// The setting a directive changes. Settings of `ServerConfig` come
/// first, then those of `DirConfig`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Setting {
    IdleScanInterval,
    BusyScanInterval,
    ErrorScanInterval,
    ZombieScanInterval,
    MaxProcesses,
    SpawnScore,
    TerminationScore,
    TimeScore,
    SpawnScoreUpLimit,
    IpcDir,
    ProcessTableFile,
    FixPathinfo,
    Win32PreventOrphans,
    IdleTimeout,
    ProcessWaitTimeout,
    BusyTimeout,
    ProcessLifetime,
    ConnectTimeout,
    IoTimeout,
    MaxProcessesPerClass,
    MinProcessesPerClass,
    MaxRequestsPerProcess,
    MaxRequestInMem,
    MaxRequestLen,
    OutputBufferSize,
    InitialEnv,
    PassHeader,
    CmdOptions,
    // DirConfig
    Wrapper,
    Authenticator,
    AuthenticatorAuthoritative,
    Authorizer,
    AuthorizerAuthoritative,
    AccessChecker,
    AccessCheckerAuthoritative,
}

/// One directive with all the names it answers to.
#[derive(Debug)]
pub struct Directive {
    /// The current name. C strings, because httpd's command table is built
    /// from these at compile time (see `ffi::directives`).
    pub name: &'static CStr,
    /// Deprecated names that mean the same.
    pub aliases: &'static [&'static CStr],
    pub scope: Scope,
    pub args: Args,
    /// The arguments' form, e.g. `seconds`; shown after the name.
    pub syntax: &'static str,
    /// One line for httpd's `-L` listing.
    pub usage: &'static CStr,
    pub setting: Setting,
}

impl Directive {
    /// The canonical name.
    pub fn name(&self) -> &'static str {
        self.name.to_str().unwrap_or_default()
    }

    /// The deprecated names, as text.
    pub fn alias_names(&self) -> impl Iterator<Item = &'static str> {
        self.aliases.iter().map(|a| a.to_str().unwrap_or_default())
    }

    /// True if the directive fills `DirConfig` rather than `ServerConfig`.
    pub fn is_dir_setting(&self) -> bool {
        matches!(self.scope, Scope::Dir | Scope::ServerAndDir)
    }

    /// The error for a wrong number of words.
    pub fn arity_error(&self, written_name: &str, got: usize) -> String {
        format!(
            "{written_name}: wrong number of arguments ({got}); expected: {written_name} {}",
            self.syntax
        )
    }
}

/// Every directive.
pub fn directives() -> &'static [Directive] {
    TABLE
}

/// Finds a directive by its name or a deprecated name, any case.
pub fn lookup(name: &str) -> Option<&'static Directive> {
    TABLE.iter().find(|d| {
        d.name().eq_ignore_ascii_case(name) || d.alias_names().any(|a| a.eq_ignore_ascii_case(name))
    })
}

/// Rejects a directive found somewhere its scope does not allow.
pub fn check_place(d: &Directive, written_name: &str, place: Place) -> Result<(), String> {
    let allowed = match d.scope {
        Scope::GlobalOnly => place == Place::MainServer,
        Scope::Server => matches!(place, Place::MainServer | Place::VirtualHost),
        Scope::Dir => matches!(place, Place::Section | Place::Htaccess),
        Scope::ServerAndDir => true,
    };
    if allowed {
        return Ok(());
    }
    Err(match d.scope {
        Scope::GlobalOnly => format!(
            "{written_name} applies to the whole server: put it in the main server config, \
             outside <VirtualHost> and directory sections"
        ),
        Scope::Server => {
            format!("{written_name} is allowed only in the main server config or <VirtualHost>")
        }
        _ => format!(
            "{written_name} is allowed only in <Directory>, <Location>, <Files> or .htaccess"
        ),
    })
}

/// Shorthand for the table rows.
const fn row(
    name: &'static CStr,
    aliases: &'static [&'static CStr],
    scope: Scope,
    args: Args,
    setting: Setting,
    syntax: &'static str,
    usage: &'static CStr,
) -> Directive {
    Directive {
        name,
        aliases,
        scope,
        args,
        syntax,
        usage,
        setting,
    }
}

use Args::*;
use Scope::*;

#[rustfmt::skip]
pub const TABLE: &[Directive] = &[
    // Whole server.
    row(c"FcgidIdleScanInterval", &[c"IdleScanInterval"], GlobalOnly, One,
        Setting::IdleScanInterval, "seconds",
        c"how often to look for idle or too old processes to stop (default 120)"),
    row(c"FcgidBusyScanInterval", &[c"BusyScanInterval"], GlobalOnly, One,
        Setting::BusyScanInterval, "seconds",
        c"how often to look for processes busy past FcgidBusyTimeout (default 120)"),
    row(c"FcgidErrorScanInterval", &[c"ErrorScanInterval"], GlobalOnly, One,
        Setting::ErrorScanInterval, "seconds",
        c"how often processes due to stop are signalled, TERM then KILL (default 3)"),
    row(c"FcgidZombieScanInterval", &[c"ZombieScanInterval"], GlobalOnly, One,
        Setting::ZombieScanInterval, "seconds",
        c"how often to collect processes that have exited (default 3)"),
    row(c"FcgidMaxProcesses", &[c"MaxProcessCount"], GlobalOnly, One,
        Setting::MaxProcesses, "count",
        c"most FastCGI processes the whole server may run (default 1000)"),
    row(c"FcgidSpawnScore", &[c"SpawnScore"], GlobalOnly, One,
        Setting::SpawnScore, "score",
        c"spawn-throttle points added when a process starts (default 1)"),
    row(c"FcgidTerminationScore", &[c"TerminationScore"], GlobalOnly, One,
        Setting::TerminationScore, "score",
        c"spawn-throttle points added when a process ends (default 2)"),
    row(c"FcgidTimeScore", &[c"TimeScore"], GlobalOnly, One,
        Setting::TimeScore, "score",
        c"spawn-throttle points taken off each second (default 1)"),
    row(c"FcgidSpawnScoreUpLimit", &[c"SpawnScoreUpLimit"], GlobalOnly, One,
        Setting::SpawnScoreUpLimit, "score",
        c"no new process for a class whose points reach this (default 10)"),
    row(c"FcgidIPCDir", &[c"SocketPath"], GlobalOnly, One,
        Setting::IpcDir, "directory",
        c"directory of the processes' sockets, under ServerRoot if relative (default logs/fcgidsock)"),
    row(c"FcgidProcessTableFile", &[c"SharememPath"], GlobalOnly, One,
        Setting::ProcessTableFile, "file",
        c"file behind the shared process table, under ServerRoot if relative (default logs/fcgid_shm)"),
    row(c"FcgidFixPathinfo", &[c"PHP_Fix_Pathinfo_Enable"], GlobalOnly, One,
        Setting::FixPathinfo, "0|1",
        c"1 sets SCRIPT_NAME as PHP's cgi.fix_pathinfo=1 expects (default 0)"),
    row(c"FcgidWin32PreventOrphans", &[], GlobalOnly, Flag,
        Setting::Win32PreventOrphans, "On|Off",
        c"Windows only; accepted and ignored on Unix"),
    // Main server or virtual host.
    // Ours, not in C (which always waits about 64 s): see README.
    row(c"FcgidProcessWaitTimeout", &[], Server, One,
        Setting::ProcessWaitTimeout, "seconds",
        c"longest wait for a free process before answering 503 (default 64)"),
    row(c"FcgidIdleTimeout", &[c"IdleTimeout"], Server, One,
        Setting::IdleTimeout, "seconds",
        c"stop a process idle this long; 0 never (default 300)"),
    row(c"FcgidBusyTimeout", &[c"BusyTimeout"], Server, One,
        Setting::BusyTimeout, "seconds",
        c"kill a process still on one request after this long (default 300)"),
    row(c"FcgidProcessLifeTime", &[c"ProcessLifeTime"], Server, One,
        Setting::ProcessLifetime, "seconds",
        c"stop an idle process older than this; 0 never (default 3600)"),
    row(c"FcgidConnectTimeout", &[c"IPCConnectTimeout"], Server, One,
        Setting::ConnectTimeout, "seconds",
        c"longest wait to connect to a process (default 3)"),
    row(c"FcgidIOTimeout", &[c"IPCCommTimeout"], Server, One,
        Setting::IoTimeout, "seconds",
        c"longest wait for each read from or write to a process, at least 1 (default 40)"),
    row(c"FcgidMaxProcessesPerClass", &[c"DefaultMaxClassProcessCount"], Server, One,
        Setting::MaxProcessesPerClass, "count",
        c"most processes of one application class (default 100)"),
    row(c"FcgidMinProcessesPerClass", &[c"DefaultMinClassProcessCount"], Server, One,
        Setting::MinProcessesPerClass, "count",
        c"idle processes of a class are not stopped below this count (default 3)"),
    row(c"FcgidMaxRequestsPerProcess", &[c"MaxRequestsPerProcess"], Server, One,
        Setting::MaxRequestsPerProcess, "count",
        c"retire a process after this many requests; 0 no limit (default 0)"),
    row(c"FcgidMaxRequestInMem", &[c"MaxRequestInMem"], Server, One,
        Setting::MaxRequestInMem, "bytes",
        c"request body bytes kept in memory, the rest goes to a temp file (default 65536)"),
    row(c"FcgidMaxRequestLen", &[c"MaxRequestLen"], Server, One,
        Setting::MaxRequestLen, "bytes",
        c"refuse request bodies longer than this (default 131072)"),
    row(c"FcgidOutputBufferSize", &[c"OutputBufferSize"], Server, One,
        Setting::OutputBufferSize, "bytes",
        c"response bytes gathered from the application before passing them on (default 65536)"),
    row(c"FcgidInitialEnv", &[c"DefaultInitEnv"], Server, OneOrTwo,
        Setting::InitialEnv, "name [value]",
        c"environment variable for every process started for this server"),
    row(c"FcgidPassHeader", &[c"PassHeader"], Server, One,
        Setting::PassHeader, "header",
        c"request header to hand to the application as an environment variable too"),
    row(c"FcgidCmdOptions", &[], Server, OneOrMore,
        Setting::CmdOptions, "command option value [option value ...]",
        c"settings for one command: ConnectTimeout IdleTimeout InitialEnv IOTimeout \
         MaxProcesses MaxProcessLifetime MaxRequestsPerProcess MinProcesses"),
    // Directory (FcgidWrapper also server-wide).
    row(c"FcgidWrapper", &[c"FCGIWrapper"], ServerAndDir, OneToThree,
        Setting::Wrapper, "command [.suffix] [virtual]",
        c"run scripts through this program (e.g. php-cgi), for one suffix or all files; \
         virtual: the script file need not exist"),
    row(c"FcgidAuthenticator", &[c"FastCgiAuthenticator"], Dir, One,
        Setting::Authenticator, "command",
        c"FastCGI program that checks user names and passwords"),
    row(c"FcgidAuthenticatorAuthoritative", &[c"FastCgiAuthenticatorAuthoritative"], Dir, Flag,
        Setting::AuthenticatorAuthoritative, "On|Off",
        c"Off passes a failed authentication on to other modules (default On)"),
    row(c"FcgidAuthorizer", &[c"FastCgiAuthorizer"], Dir, One,
        Setting::Authorizer, "command",
        c"FastCGI program that decides what an authenticated user may access"),
    row(c"FcgidAuthorizerAuthoritative", &[c"FastCgiAuthorizerAuthoritative"], Dir, Flag,
        Setting::AuthorizerAuthoritative, "On|Off",
        c"Off passes a failed authorization on to other modules (default On)"),
    row(c"FcgidAccessChecker", &[c"FastCgiAccessChecker"], Dir, One,
        Setting::AccessChecker, "command",
        c"FastCGI program that checks access before authentication"),
    row(c"FcgidAccessCheckerAuthoritative", &[c"FastCgiAccessCheckerAuthoritative"], Dir, Flag,
        Setting::AccessCheckerAuthoritative, "On|Off",
        c"Off passes a failed access check on to other modules (default On)"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Every name C 2.3.9 registers, with the name it stands for.
    const C_NAMES: &[(&str, &str)] = &[
        ("FcgidAccessChecker", "FcgidAccessChecker"),
        (
            "FcgidAccessCheckerAuthoritative",
            "FcgidAccessCheckerAuthoritative",
        ),
        ("FcgidAuthenticator", "FcgidAuthenticator"),
        (
            "FcgidAuthenticatorAuthoritative",
            "FcgidAuthenticatorAuthoritative",
        ),
        ("FcgidAuthorizer", "FcgidAuthorizer"),
        (
            "FcgidAuthorizerAuthoritative",
            "FcgidAuthorizerAuthoritative",
        ),
        ("FcgidBusyScanInterval", "FcgidBusyScanInterval"),
        ("FcgidBusyTimeout", "FcgidBusyTimeout"),
        ("FcgidCmdOptions", "FcgidCmdOptions"),
        ("FcgidInitialEnv", "FcgidInitialEnv"),
        ("FcgidMaxProcessesPerClass", "FcgidMaxProcessesPerClass"),
        ("FcgidMinProcessesPerClass", "FcgidMinProcessesPerClass"),
        ("FcgidErrorScanInterval", "FcgidErrorScanInterval"),
        ("FcgidIdleScanInterval", "FcgidIdleScanInterval"),
        ("FcgidIdleTimeout", "FcgidIdleTimeout"),
        ("FcgidIOTimeout", "FcgidIOTimeout"),
        ("FcgidConnectTimeout", "FcgidConnectTimeout"),
        ("FcgidMaxProcesses", "FcgidMaxProcesses"),
        ("FcgidMaxRequestInMem", "FcgidMaxRequestInMem"),
        ("FcgidMaxRequestLen", "FcgidMaxRequestLen"),
        ("FcgidMaxRequestsPerProcess", "FcgidMaxRequestsPerProcess"),
        ("FcgidOutputBufferSize", "FcgidOutputBufferSize"),
        ("FcgidPassHeader", "FcgidPassHeader"),
        ("FcgidFixPathinfo", "FcgidFixPathinfo"),
        ("FcgidProcessLifeTime", "FcgidProcessLifeTime"),
        ("FcgidProcessTableFile", "FcgidProcessTableFile"),
        ("FcgidIPCDir", "FcgidIPCDir"),
        ("FcgidSpawnScore", "FcgidSpawnScore"),
        ("FcgidSpawnScoreUpLimit", "FcgidSpawnScoreUpLimit"),
        ("FcgidTerminationScore", "FcgidTerminationScore"),
        ("FcgidTimeScore", "FcgidTimeScore"),
        ("FcgidWrapper", "FcgidWrapper"),
        ("FcgidZombieScanInterval", "FcgidZombieScanInterval"),
        ("FcgidWin32PreventOrphans", "FcgidWin32PreventOrphans"),
        // Deprecated names.
        ("BusyScanInterval", "FcgidBusyScanInterval"),
        ("BusyTimeout", "FcgidBusyTimeout"),
        ("DefaultInitEnv", "FcgidInitialEnv"),
        ("DefaultMaxClassProcessCount", "FcgidMaxProcessesPerClass"),
        ("DefaultMinClassProcessCount", "FcgidMinProcessesPerClass"),
        ("ErrorScanInterval", "FcgidErrorScanInterval"),
        ("FastCgiAccessChecker", "FcgidAccessChecker"),
        (
            "FastCgiAccessCheckerAuthoritative",
            "FcgidAccessCheckerAuthoritative",
        ),
        ("FastCgiAuthenticator", "FcgidAuthenticator"),
        (
            "FastCgiAuthenticatorAuthoritative",
            "FcgidAuthenticatorAuthoritative",
        ),
        ("FastCgiAuthorizer", "FcgidAuthorizer"),
        (
            "FastCgiAuthorizerAuthoritative",
            "FcgidAuthorizerAuthoritative",
        ),
        ("FCGIWrapper", "FcgidWrapper"),
        ("IdleScanInterval", "FcgidIdleScanInterval"),
        ("IdleTimeout", "FcgidIdleTimeout"),
        ("IPCCommTimeout", "FcgidIOTimeout"),
        ("IPCConnectTimeout", "FcgidConnectTimeout"),
        ("MaxProcessCount", "FcgidMaxProcesses"),
        ("MaxRequestInMem", "FcgidMaxRequestInMem"),
        ("MaxRequestLen", "FcgidMaxRequestLen"),
        ("MaxRequestsPerProcess", "FcgidMaxRequestsPerProcess"),
        ("OutputBufferSize", "FcgidOutputBufferSize"),
        ("PassHeader", "FcgidPassHeader"),
        ("PHP_Fix_Pathinfo_Enable", "FcgidFixPathinfo"),
        ("ProcessLifeTime", "FcgidProcessLifeTime"),
        ("SharememPath", "FcgidProcessTableFile"),
        ("SocketPath", "FcgidIPCDir"),
        ("SpawnScore", "FcgidSpawnScore"),
        ("SpawnScoreUpLimit", "FcgidSpawnScoreUpLimit"),
        ("TerminationScore", "FcgidTerminationScore"),
        ("TimeScore", "FcgidTimeScore"),
        ("ZombieScanInterval", "FcgidZombieScanInterval"),
    ];

    #[test]
    fn every_c_name_maps_to_its_directive() {
        for (name, canonical) in C_NAMES {
            let d = lookup(name).unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(d.name(), *canonical, "{name}");
        }
    }

    /// Directives of ours that C does not have.
    const OURS_ONLY: &[&str] = &["FcgidProcessWaitTimeout"];

    #[test]
    fn table_has_exactly_the_c_names_plus_ours() {
        let ours: HashSet<&str> = TABLE
            .iter()
            .flat_map(|d| std::iter::once(d.name()).chain(d.alias_names()))
            .collect();
        let theirs: HashSet<&str> = C_NAMES
            .iter()
            .map(|(n, _)| *n)
            .chain(OURS_ONLY.iter().copied())
            .collect();
        assert_eq!(ours, theirs);
        assert_eq!(TABLE.len(), 34 + OURS_ONLY.len());
    }

    #[test]
    fn no_name_appears_twice() {
        let mut seen = HashSet::new();
        for d in TABLE {
            for n in std::iter::once(d.name()).chain(d.alias_names()) {
                assert!(seen.insert(n.to_ascii_lowercase()), "duplicate {n}");
            }
        }
        let settings: HashSet<Setting> = TABLE.iter().map(|d| d.setting).collect();
        assert_eq!(settings.len(), TABLE.len(), "two rows change one setting");
    }

    #[test]
    fn lookup_ignores_case_and_rejects_unknown() {
        assert_eq!(
            lookup("fcgididletimeout").unwrap().name(),
            "FcgidIdleTimeout"
        );
        assert_eq!(lookup("IDLETIMEOUT").unwrap().name(), "FcgidIdleTimeout");
        assert_eq!(lookup("fcgiwrapper").unwrap().name(), "FcgidWrapper");
        assert!(lookup("FcgidProcessWaitTimeouts").is_none());
        assert!(lookup("Fcgid").is_none());
        assert!(lookup("").is_none());
    }

    #[test]
    fn scopes_follow_c() {
        let global_only = [
            "FcgidBusyScanInterval",
            "FcgidErrorScanInterval",
            "FcgidIdleScanInterval",
            "FcgidZombieScanInterval",
            "FcgidIPCDir",
            "FcgidProcessTableFile",
            "FcgidSpawnScore",
            "FcgidSpawnScoreUpLimit",
            "FcgidTerminationScore",
            "FcgidTimeScore",
            "FcgidMaxProcesses",
            "FcgidFixPathinfo",
            "FcgidWin32PreventOrphans",
        ];
        let dir = [
            "FcgidAccessChecker",
            "FcgidAccessCheckerAuthoritative",
            "FcgidAuthenticator",
            "FcgidAuthenticatorAuthoritative",
            "FcgidAuthorizer",
            "FcgidAuthorizerAuthoritative",
        ];
        for d in TABLE {
            let expected = if global_only.contains(&d.name()) {
                GlobalOnly
            } else if dir.contains(&d.name()) {
                Dir
            } else if d.name() == "FcgidWrapper" {
                ServerAndDir
            } else {
                Server
            };
            assert_eq!(d.scope, expected, "{}", d.name());
        }
    }

    #[test]
    fn check_place_enforces_scope() {
        let max = lookup("MaxProcessCount").unwrap();
        assert!(check_place(max, "MaxProcessCount", Place::MainServer).is_ok());
        let err = check_place(max, "MaxProcessCount", Place::VirtualHost).unwrap_err();
        assert!(err.starts_with("MaxProcessCount "), "{err}");
        assert!(check_place(max, "x", Place::Htaccess).is_err());

        let idle = lookup("FcgidIdleTimeout").unwrap();
        assert!(check_place(idle, "x", Place::VirtualHost).is_ok());
        assert!(check_place(idle, "x", Place::Section).is_err());

        let auth = lookup("FcgidAuthenticator").unwrap();
        assert!(check_place(auth, "x", Place::Htaccess).is_ok());
        assert!(check_place(auth, "x", Place::MainServer).is_err());

        let wrapper = lookup("FcgidWrapper").unwrap();
        for p in [
            Place::MainServer,
            Place::VirtualHost,
            Place::Section,
            Place::Htaccess,
        ] {
            assert!(check_place(wrapper, "x", p).is_ok());
        }
    }

    #[test]
    fn args_counts() {
        assert!(One.accepts(1) && !One.accepts(0) && !One.accepts(2));
        assert!(OneOrTwo.accepts(2) && !OneOrTwo.accepts(3));
        assert!(OneToThree.accepts(3) && !OneToThree.accepts(4) && !OneToThree.accepts(0));
        assert!(OneOrMore.accepts(9) && !OneOrMore.accepts(0));
        assert!(Flag.accepts(1) && !Flag.accepts(2));
    }

    #[test]
    fn rows_have_usage_and_syntax() {
        for d in TABLE {
            assert!(!d.usage.is_empty() && !d.syntax.is_empty(), "{}", d.name());
        }
    }
}
