//! The server's single-valued settings, each declared once: its field,
//! type, 2.3.9 default, parser, and its directive (name, deprecated names,
//! scope, syntax, usage). `server_scalars!` turns the list into the
//! `ServerConfig` fields, their getters, their merge, and the directive
//! table's rows. Settings with structure (lists, paths, per-command
//! options, wrappers and the authorizer roles) are written out by hand in
//! `server.rs`, `dir.rs` and `directives.rs`.

use super::defaults as default;
use super::directives::{Apply, Args::*, Directive, Scope::*};
use super::values;
use std::time::Duration;

macro_rules! server_scalars {
    ($(
        $(#[$doc:meta])*
        $field:ident: $ty:ty = $default:expr, $parse:path,
        $name:literal [$($alias:literal),*] $scope:ident $args:ident $syntax:literal $usage:literal;
    )*) => {
        /// The single-valued server settings. `None`: not set here (the
        /// getter of the same name gives the default).
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct Scalars {
            $( $(#[$doc])* pub $field: Option<$ty>, )*
        }

        impl Scalars {
            $(
                $(#[$doc])*
                pub fn $field(&self) -> $ty {
                    self.$field.unwrap_or($default)
                }
            )*

            /// Each setting `over` leaves unset comes from `base`.
            pub fn merge(base: &Scalars, over: &Scalars) -> Scalars {
                Scalars { $( $field: over.$field.or(base.$field), )* }
            }
        }

        impl super::server::ServerConfig {
            $(
                $(#[$doc])*
                pub fn $field(&self) -> $ty {
                    self.scalars.$field()
                }
            )*
        }

        /// Their rows of the directive table.
        pub(super) const SCALAR_ROWS: &[Directive] = &[$(
            Directive {
                name: $name,
                aliases: &[$($alias),*],
                scope: $scope,
                args: $args,
                syntax: $syntax,
                usage: $usage,
                apply: Apply::Server(|cfg, written, words| {
                    cfg.scalars.$field = Some($parse(written, &words[0])?);
                    Ok(())
                }),
            },
        )*];
    };
}

#[rustfmt::skip]
server_scalars! {
    // Whole server.
    idle_scan_interval: Duration = default::IDLE_SCAN_INTERVAL, values::seconds,
        c"FcgidIdleScanInterval" [c"IdleScanInterval"] GlobalOnly One "seconds"
        c"how often to look for idle or too old processes to stop (default 120)";
    busy_scan_interval: Duration = default::BUSY_SCAN_INTERVAL, values::seconds,
        c"FcgidBusyScanInterval" [c"BusyScanInterval"] GlobalOnly One "seconds"
        c"how often to look for processes busy past FcgidBusyTimeout (default 120)";
    error_scan_interval: Duration = default::ERROR_SCAN_INTERVAL, values::seconds,
        c"FcgidErrorScanInterval" [c"ErrorScanInterval"] GlobalOnly One "seconds"
        c"how often processes due to stop are signalled, TERM then KILL (default 3)";
    zombie_scan_interval: Duration = default::ZOMBIE_SCAN_INTERVAL, values::seconds,
        c"FcgidZombieScanInterval" [c"ZombieScanInterval"] GlobalOnly One "seconds"
        c"how often to collect processes that have exited (default 3)";
    max_processes: u32 = default::MAX_PROCESSES, values::count,
        c"FcgidMaxProcesses" [c"MaxProcessCount"] GlobalOnly One "count"
        c"most FastCGI processes the whole server may run (default 1000)";
    spawn_score: u32 = default::SPAWN_SCORE, values::count,
        c"FcgidSpawnScore" [c"SpawnScore"] GlobalOnly One "score"
        c"spawn-throttle points added when a process starts (default 1)";
    termination_score: u32 = default::TERMINATION_SCORE, values::count,
        c"FcgidTerminationScore" [c"TerminationScore"] GlobalOnly One "score"
        c"spawn-throttle points added when a process ends (default 2)";
    time_score: u32 = default::TIME_SCORE, values::count,
        c"FcgidTimeScore" [c"TimeScore"] GlobalOnly One "score"
        c"spawn-throttle points taken off each second (default 1)";
    spawn_score_up_limit: u32 = default::SPAWN_SCORE_UP_LIMIT, values::count,
        c"FcgidSpawnScoreUpLimit" [c"SpawnScoreUpLimit"] GlobalOnly One "score"
        c"no new process for a class whose points reach this (default 10)";
    fix_pathinfo: bool = false, values::number_or_flag,
        c"FcgidFixPathinfo" [c"PHP_Fix_Pathinfo_Enable"] GlobalOnly One "0|1"
        c"1 sets SCRIPT_NAME as PHP's cgi.fix_pathinfo=1 expects (default 0)";
    /// Accepted for Windows configs; has no effect on Unix.
    win32_prevent_orphans: bool = false, values::flag,
        c"FcgidWin32PreventOrphans" [] GlobalOnly Flag "On|Off"
        c"Windows only; accepted and ignored on Unix";

    // Main server or virtual host.
    /// Ours, not in C (which always waits about 64 s): how long a request
    /// waits for a free process before it gets a 503.
    wait_timeout: Duration = default::WAIT_TIMEOUT, values::seconds,
        c"FcgidProcessWaitTimeout" [] Server One "seconds"
        c"longest wait for a free process before answering 503 (default 64)";
    /// 0 disables the idle check.
    idle_timeout: Duration = default::IDLE_TIMEOUT, values::seconds,
        c"FcgidIdleTimeout" [c"IdleTimeout"] Server One "seconds"
        c"stop a process idle this long; 0 never (default 300)";
    busy_timeout: Duration = default::BUSY_TIMEOUT, values::seconds,
        c"FcgidBusyTimeout" [c"BusyTimeout"] Server One "seconds"
        c"kill a process still on one request after this long (default 300)";
    /// 0 disables the lifetime check.
    process_lifetime: Duration = default::PROCESS_LIFETIME, values::seconds,
        c"FcgidProcessLifeTime" [c"ProcessLifeTime"] Server One "seconds"
        c"stop an idle process older than this; 0 never (default 3600)";
    connect_timeout: Duration = default::CONNECT_TIMEOUT, values::seconds,
        c"FcgidConnectTimeout" [c"IPCConnectTimeout"] Server One "seconds"
        c"longest wait to connect to a process (default 3)";
    io_timeout: Duration = default::IO_TIMEOUT, values::positive_seconds,
        c"FcgidIOTimeout" [c"IPCCommTimeout"] Server One "seconds"
        c"longest wait for each read from or write to a process, at least 1 (default 40)";
    max_processes_per_class: u32 = default::MAX_PROCESSES_PER_CLASS, values::count,
        c"FcgidMaxProcessesPerClass" [c"DefaultMaxClassProcessCount"] Server One "count"
        c"most processes of one application class (default 100)";
    min_processes_per_class: u32 = default::MIN_PROCESSES_PER_CLASS, values::count,
        c"FcgidMinProcessesPerClass" [c"DefaultMinClassProcessCount"] Server One "count"
        c"idle processes of a class are not stopped below this count (default 3)";
    /// 0 means unlimited.
    max_requests_per_process: u32 = default::MAX_REQUESTS_PER_PROCESS, values::request_limit,
        c"FcgidMaxRequestsPerProcess" [c"MaxRequestsPerProcess"] Server One "count"
        c"retire a process after this many requests; 0 no limit (default 0)";
    max_request_in_mem: u64 = default::MAX_REQUEST_IN_MEM, values::int_bytes,
        c"FcgidMaxRequestInMem" [c"MaxRequestInMem"] Server One "bytes"
        c"request body bytes kept in memory, the rest goes to a temp file (default 65536)";
    max_request_len: u64 = default::MAX_REQUEST_LEN, values::off_bytes,
        c"FcgidMaxRequestLen" [c"MaxRequestLen"] Server One "bytes"
        c"refuse request bodies longer than this (default 131072)";
    /// Ours, not in C: a request that spends longer than this in mod_fcgid
    /// (waiting for a process plus the app's time) gets one warn line;
    /// zero is off.
    slow_request_log: Duration = Duration::ZERO, values::off_or_time,
        c"FcgidSlowRequestLog" [] Server One "Off|seconds|NNNms"
        c"log one warn line for each request slower than this (wait plus app); Off by default";
    output_buffer_size: usize = default::OUTPUT_BUFFER_SIZE, values::buffer_bytes,
        c"FcgidOutputBufferSize" [c"OutputBufferSize"] Server One "bytes"
        c"response bytes gathered from the application before passing them on (default 65536)";
}
