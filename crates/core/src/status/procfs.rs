//! What the kernel says about each process (resident memory, CPU time)
//! and how long the manager has run, from Linux's /proc. Parsing only:
//! the caller hands in a reader, so this stays pure and testable.

use crate::pm::report::{StatusReport, Usage};
use std::time::Duration;

/// The clock and page units of /proc's numbers (`sysconf` values).
#[derive(Debug, Clone, Copy)]
pub struct Units {
    /// `_SC_CLK_TCK`: clock ticks per second.
    pub ticks_per_sec: u64,
    /// `_SC_PAGESIZE`, in bytes.
    pub page_size: u64,
}

/// What /proc/PID/stat says of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// User and system CPU time, in clock ticks.
    pub utime: u64,
    pub stime: u64,
    /// When it started, in clock ticks after boot.
    pub starttime: u64,
    /// The resident set, in pages (statm's second field, read in the
    /// same file: one read per process, not two).
    pub rss_pages: u64,
}

/// /proc/PID/stat's fields after the command name.
pub fn parse_stat(text: &str) -> Option<Stat> {
    // The command name (field 2) is in parentheses and may hold spaces or
    // parentheses itself: the fields go on after the last ')'.
    let (_, rest) = text.rsplit_once(')')?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): field n is f[n - 3].
    let num = |n: usize| f.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        utime: num(14)?,
        stime: num(15)?,
        starttime: num(22)?,
        rss_pages: num(24)?,
    })
}

/// /proc/uptime: seconds since boot (the first field).
pub fn parse_uptime(text: &str) -> Option<Duration> {
    let secs: f64 = text.split_whitespace().next()?.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

fn ticks(n: u64, units: Units) -> Duration {
    let per = units.ticks_per_sec.max(1);
    Duration::from_secs(n / per) + Duration::from_nanos((n % per) * 1_000_000_000 / per)
}

/// Fills in every process's usage and the manager's uptime from what
/// `read` returns for a /proc path (None: unreadable, e.g. the process is
/// gone or /proc is mounted with hidepid; the figure stays unknown).
pub fn fill(rep: &mut StatusReport, units: Units, read: impl Fn(&str) -> Option<String>) {
    fill_manager(rep, units, &read);
    fill_processes(rep, units, &read);
}

/// The manager's uptime only (a summary shows no process: two reads,
/// not two per process).
pub fn fill_manager(rep: &mut StatusReport, units: Units, read: impl Fn(&str) -> Option<String>) {
    let boot_age = read("/proc/uptime").as_deref().and_then(parse_uptime);
    if rep.manager_pid > 0 {
        let started = read(&format!("/proc/{}/stat", rep.manager_pid))
            .as_deref()
            .and_then(parse_stat)
            .map(|st| ticks(st.starttime, units));
        rep.manager_uptime = match (boot_age, started) {
            (Some(up), Some(start)) => Some(up.saturating_sub(start)),
            _ => None,
        };
    }
}

/// Every process's usage: one read of /proc/PID/stat each.
pub fn fill_processes(rep: &mut StatusReport, units: Units, read: impl Fn(&str) -> Option<String>) {
    for p in rep.classes.iter_mut().flat_map(|c| c.processes.iter_mut()) {
        if p.pid <= 0 {
            continue;
        }
        let stat = read(&format!("/proc/{}/stat", p.pid));
        if let Some(st) = stat.as_deref().and_then(parse_stat) {
            p.usage = Some(Usage {
                rss_bytes: st.rss_pages.saturating_mul(units.page_size),
                cpu: ticks(st.utime.saturating_add(st.stime), units),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pm::report::{ClassReport, ProcessReport};

    const STAT: &str = "4242 (we (ird) name) S 1 4242 4242 0 -1 4194560 150 0 0 0 \
                        250 75 0 0 20 0 1 0 1000 12345678 300 18446744073709551615";

    #[test]
    fn stat_fields_come_after_the_last_parenthesis() {
        let want = Stat {
            utime: 250,
            stime: 75,
            starttime: 1000,
            rss_pages: 300,
        };
        assert_eq!(parse_stat(STAT), Some(want));
        assert_eq!(parse_stat("12 (x) S 1"), None, "truncated");
        assert_eq!(
            parse_uptime("350.25 1000.00\n"),
            Some(Duration::from_millis(350_250))
        );
    }

    #[test]
    fn fill_reads_usage_and_the_managers_uptime() {
        let mut rep = StatusReport {
            manager_pid: 4242,
            classes: vec![ClassReport {
                processes: vec![
                    ProcessReport {
                        pid: 4242,
                        ..Default::default()
                    },
                    ProcessReport::default(), // starting: no pid
                    ProcessReport {
                        pid: 9,
                        ..Default::default()
                    }, // gone
                ],
                ..Default::default()
            }],
            ..Default::default()
        };
        let units = Units {
            ticks_per_sec: 100,
            page_size: 4096,
        };
        fill(&mut rep, units, |path| match path {
            "/proc/uptime" => Some("350.25 1.0".into()),
            "/proc/4242/stat" => Some(STAT.into()),
            _ => None,
        });
        // Started 1000 ticks (10 s) after boot, 350.25 s ago: up 340.25 s.
        assert_eq!(rep.manager_uptime, Some(Duration::from_millis(340_250)));
        let procs = &rep.classes[0].processes;
        assert_eq!(
            procs[0].usage,
            Some(Usage {
                rss_bytes: 300 * 4096,
                cpu: Duration::from_millis(3250),
            })
        );
        assert_eq!((procs[1].usage, procs[2].usage), (None, None));
    }
}
