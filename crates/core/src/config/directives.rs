//! The directive table: one row per directive of mod_fcgid 2.3.9, with
//! its deprecated names as aliases.

use super::apply;
use super::dir::DirConfig;
use super::server::ServerConfig;
use super::settings::SCALAR_ROWS;
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

/// How a directive's words change a config: a function of the server's
/// config or of a directory's.
#[derive(Clone, Copy)]
pub enum Apply {
    Server(fn(&mut ServerConfig, &str, &[String]) -> Result<(), String>),
    Dir(fn(&mut DirConfig, &str, &[String]) -> Result<(), String>),
}

impl std::fmt::Debug for Apply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Apply::Server(_) => "Apply::Server",
            Apply::Dir(_) => "Apply::Dir",
        })
    }
}

/// One directive with all the names it answers to.
#[derive(Debug, Clone, Copy)]
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
    pub apply: Apply,
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

/// Shorthand for the hand-written rows.
const fn row(
    name: &'static CStr,
    aliases: &'static [&'static CStr],
    scope: Scope,
    args: Args,
    apply: Apply,
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
        apply,
    }
}

use Args::*;
use Scope::*;

/// Directives with structure; the single-valued ones are in `settings.rs`.
#[rustfmt::skip]
const OTHER_ROWS: &[Directive] = &[
    // Whole server.
    row(c"FcgidIPCDir", &[c"SocketPath"], GlobalOnly, One,
        Apply::Server(apply::ipc_dir), "directory",
        c"directory of the processes' sockets, under ServerRoot if relative (default logs/fcgidsock)"),
    row(c"FcgidProcessTableFile", &[c"SharememPath"], GlobalOnly, One,
        Apply::Server(apply::process_table_file), "file",
        c"file behind the shared process table, under ServerRoot if relative (default logs/fcgid_shm)"),
    // Main server or virtual host.
    row(c"FcgidInitialEnv", &[c"DefaultInitEnv"], Server, OneOrTwo,
        Apply::Server(apply::initial_env), "name [value]",
        c"environment variable for every process started for this server"),
    row(c"FcgidPassHeader", &[c"PassHeader"], Server, One,
        Apply::Server(apply::pass_header), "header",
        c"request header to hand to the application as an environment variable too"),
    row(c"FcgidCmdOptions", &[], Server, OneOrMore,
        Apply::Server(apply::cmd_options), "command option value [option value ...]",
        c"settings for one command: ConnectTimeout IdleTimeout InitialEnv IOTimeout \
         MaxProcesses MaxProcessLifetime MaxRequestsPerProcess MinProcesses"),
    // Directory (FcgidWrapper also server-wide).
    row(c"FcgidWrapper", &[c"FCGIWrapper"], ServerAndDir, OneToThree,
        Apply::Dir(apply::wrapper), "command [.suffix] [virtual]",
        c"run scripts through this program (e.g. php-cgi), for one suffix or all files; \
         virtual: the script file need not exist"),
    row(c"FcgidAuthenticator", &[c"FastCgiAuthenticator"], Dir, One,
        Apply::Dir(apply::authenticator), "command",
        c"FastCGI program that checks user names and passwords"),
    row(c"FcgidAuthenticatorAuthoritative", &[c"FastCgiAuthenticatorAuthoritative"], Dir, Flag,
        Apply::Dir(apply::authenticator_authoritative), "On|Off",
        c"Off passes a failed authentication on to other modules (default On)"),
    row(c"FcgidAuthorizer", &[c"FastCgiAuthorizer"], Dir, One,
        Apply::Dir(apply::authorizer), "command",
        c"FastCGI program that decides what an authenticated user may access"),
    row(c"FcgidAuthorizerAuthoritative", &[c"FastCgiAuthorizerAuthoritative"], Dir, Flag,
        Apply::Dir(apply::authorizer_authoritative), "On|Off",
        c"Off passes a failed authorization on to other modules (default On)"),
    row(c"FcgidAccessChecker", &[c"FastCgiAccessChecker"], Dir, One,
        Apply::Dir(apply::access_checker), "command",
        c"FastCGI program that checks access before authentication"),
    row(c"FcgidAccessCheckerAuthoritative", &[c"FastCgiAccessCheckerAuthoritative"], Dir, Flag,
        Apply::Dir(apply::access_checker_authoritative), "On|Off",
        c"Off passes a failed access check on to other modules (default On)"),
];

const fn concat<const N: usize>(a: &[Directive], b: &[Directive]) -> [Directive; N] {
    let mut out = [a[0]; N];
    let mut i = 0;
    while i < N {
        out[i] = if i < a.len() { a[i] } else { b[i - a.len()] };
        i += 1;
    }
    out
}

/// Every directive: one row each, deprecated names as aliases.
pub const TABLE: &[Directive] =
    &concat::<{ SCALAR_ROWS.len() + OTHER_ROWS.len() }>(SCALAR_ROWS, OTHER_ROWS);

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
    const OURS_ONLY: &[&str] = &["FcgidProcessWaitTimeout", "FcgidSlowRequestLog"];

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
