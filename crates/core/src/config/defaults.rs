//! Built-in values of mod_fcgid 2.3.9, used for every setting a
//! configuration leaves unset (and by `FcgidCmdOptions` for every option
//! it does not name).

use std::time::Duration;

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub const IDLE_TIMEOUT: Duration = secs(300);
pub const IDLE_SCAN_INTERVAL: Duration = secs(120);
pub const BUSY_TIMEOUT: Duration = secs(300);
pub const BUSY_SCAN_INTERVAL: Duration = secs(120);
pub const ERROR_SCAN_INTERVAL: Duration = secs(3);
pub const ZOMBIE_SCAN_INTERVAL: Duration = secs(3);
pub const PROCESS_LIFETIME: Duration = secs(3600);
pub const CONNECT_TIMEOUT: Duration = secs(3);
pub const IO_TIMEOUT: Duration = secs(40);

pub const MAX_PROCESSES: u32 = 1000;
pub const MAX_PROCESSES_PER_CLASS: u32 = 100;
pub const MIN_PROCESSES_PER_CLASS: u32 = 3;
/// 0 means no limit.
pub const MAX_REQUESTS_PER_PROCESS: u32 = 0;

pub const SPAWN_SCORE: u32 = 1;
pub const TERMINATION_SCORE: u32 = 2;
pub const TIME_SCORE: u32 = 1;
pub const SPAWN_SCORE_UP_LIMIT: u32 = 10;

pub const MAX_REQUEST_IN_MEM: u64 = 64 * 1024;
pub const MAX_REQUEST_LEN: u64 = 128 * 1024;
pub const OUTPUT_BUFFER_SIZE: usize = 64 * 1024;

/// Relative to ServerRoot; the httpd-facing layer resolves it.
pub const IPC_DIR: &str = "logs/fcgidsock";
/// Relative to ServerRoot; the httpd-facing layer resolves it.
pub const PROCESS_TABLE_FILE: &str = "logs/fcgid_shm";

/// Ours, not a C setting: how long a request waits for a free process
/// before it is answered 503. C's worst case is about 64 one-second
/// sleeps, so the default keeps that bound.
pub const WAIT_TIMEOUT: Duration = secs(64);
