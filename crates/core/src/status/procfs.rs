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

/// /proc/PID/stat fields after the command name: (utime, stime,
/// starttime), in clock ticks.
pub fn parse_stat(text: &str) -> Option<(u64, u64, u64)> {
    // The command name (field 2) is in parentheses and may hold spaces or
    // parentheses itself: the fields go on after the last ')'.
    let (_, rest) = text.rsplit_once(')')?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): field n is f[n - 3].
    let num = |n: usize| f.get(n - 3)?.parse::<u64>().ok();
    Some((num(14)?, num(15)?, num(22)?))
}

/// /proc/PID/statm: the resident set, in pages (the second field).
pub fn parse_statm(text: &str) -> Option<u64> {
    text.split_whitespace().nth(1)?.parse().ok()
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
            .map(|(_, _, start)| ticks(start, units));
        rep.manager_uptime = match (boot_age, started) {
            (Some(up), Some(start)) => Some(up.saturating_sub(start)),
            _ => None,
        };
    }
}

/// Every process's usage.
pub fn fill_processes(rep: &mut StatusReport, units: Units, read: impl Fn(&str) -> Option<String>) {
    for p in rep.classes.iter_mut().flat_map(|c| c.processes.iter_mut()) {
        if p.pid <= 0 {
            continue;
        }
        let stat = read(&format!("/proc/{}/stat", p.pid))
            .as_deref()
            .and_then(parse_stat);
        let rss = read(&format!("/proc/{}/statm", p.pid))
            .as_deref()
            .and_then(parse_statm);
        if let (Some((utime, stime, _)), Some(pages)) = (stat, rss) {
            p.usage = Some(Usage {
                rss_bytes: pages.saturating_mul(units.page_size),
                cpu: ticks(utime.saturating_add(stime), units),
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
        assert_eq!(parse_stat(STAT), Some((250, 75, 1000)));
        assert_eq!(parse_stat("12 (x) S 1"), None, "truncated");
        assert_eq!(parse_statm("2000 300 100 1 0 50 0\n"), Some(300));
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
            "/proc/4242/statm" => Some("2000 300 100".into()),
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
