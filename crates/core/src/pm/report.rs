//! What the manager says about its pools when asked (the status page's
//! data): a typed report, sent over the wire as fields, never as text to
//! be parsed back.

use super::policy::ExitReason;
use super::wire::{Reader, WireError, Writer};
use std::time::Duration;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusReport {
    pub manager_pid: i32,
    /// Sorted by class key.
    pub classes: Vec<ClassReport>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassReport {
    pub key: String,
    /// The command line (wrapper included), words joined by spaces.
    pub command_line: String,
    /// The executable: the wrapper's or the script's path.
    pub executable: String,
    pub waiting: u32,
    pub spawns: u64,
    pub requests: u64,
    /// No spawn while it is at or over FcgidSpawnScoreUpLimit.
    pub spawn_score: u64,
    /// Processes in a row that died right after starting.
    pub failed_starts: u32,
    pub exits: Vec<(ExitReason, u64)>,
    pub processes: Vec<ProcessReport>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Starting,
    Idle,
    Busy,
    /// Asked to stop, for this reason.
    Stopping(ExitReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessReport {
    pub pid: i32,
    pub phase: Phase,
    pub requests: u32,
    /// Since the process started (C's "Active").
    pub age: Duration,
    /// Since it last finished a request, or started (C's "Idle").
    pub since_last_request: Duration,
}

impl StatusReport {
    pub fn process_count(&self) -> usize {
        self.classes.iter().map(|c| c.processes.len()).sum()
    }
    pub fn busy_count(&self) -> usize {
        self.classes.iter().map(ClassReport::busy).sum()
    }
}

impl ClassReport {
    fn count(&self, f: impl Fn(Phase) -> bool) -> usize {
        self.processes.iter().filter(|p| f(p.phase)).count()
    }
    pub fn busy(&self) -> usize {
        self.count(|p| p == Phase::Busy)
    }
    pub fn idle(&self) -> usize {
        self.count(|p| p == Phase::Idle)
    }
    /// `reason=count` words, as the status page shows them.
    pub fn exits_text(&self) -> String {
        let words: Vec<String> = self
            .exits
            .iter()
            .map(|(r, n)| format!("{}={n}", r.name()))
            .collect();
        words.join(" ")
    }
}

fn put_reason(w: &mut Writer, r: ExitReason) {
    w.u8(ExitReason::ALL.iter().position(|x| *x == r).unwrap_or(0) as u8);
}

fn get_reason(r: &mut Reader) -> Result<ExitReason, WireError> {
    ExitReason::ALL
        .get(r.u8()? as usize)
        .copied()
        .ok_or(WireError("unknown exit reason"))
}

pub(super) fn encode(w: &mut Writer, rep: &StatusReport) {
    w.u32(rep.manager_pid as u32);
    w.u32(rep.classes.len() as u32);
    for c in &rep.classes {
        w.bytes(c.key.as_bytes());
        w.bytes(c.command_line.as_bytes());
        w.bytes(c.executable.as_bytes());
        w.u32(c.waiting);
        w.u64(c.spawns);
        w.u64(c.requests);
        w.u64(c.spawn_score);
        w.u32(c.failed_starts);
        w.u32(c.exits.len() as u32);
        for (r, n) in &c.exits {
            put_reason(w, *r);
            w.u64(*n);
        }
        w.u32(c.processes.len() as u32);
        for p in &c.processes {
            w.u32(p.pid as u32);
            match p.phase {
                Phase::Starting => w.u8(0),
                Phase::Idle => w.u8(1),
                Phase::Busy => w.u8(2),
                Phase::Stopping(r) => {
                    w.u8(3);
                    put_reason(w, r);
                }
            }
            w.u32(p.requests);
            w.millis(p.age);
            w.millis(p.since_last_request);
        }
    }
}

pub(super) fn decode(r: &mut Reader) -> Result<StatusReport, WireError> {
    let manager_pid = r.u32()? as i32;
    let n = r.u32()? as usize;
    let mut classes = Vec::with_capacity(n.min(4096));
    for _ in 0..n {
        let key = r.string()?;
        let command_line = r.string()?;
        let executable = r.string()?;
        let waiting = r.u32()?;
        let spawns = r.u64()?;
        let requests = r.u64()?;
        let spawn_score = r.u64()?;
        let failed_starts = r.u32()?;
        let ne = r.u32()? as usize;
        let mut exits = Vec::with_capacity(ne.min(64));
        for _ in 0..ne {
            exits.push((get_reason(r)?, r.u64()?));
        }
        let np = r.u32()? as usize;
        let mut processes = Vec::with_capacity(np.min(4096));
        for _ in 0..np {
            let pid = r.u32()? as i32;
            let phase = match r.u8()? {
                0 => Phase::Starting,
                1 => Phase::Idle,
                2 => Phase::Busy,
                3 => Phase::Stopping(get_reason(r)?),
                _ => return Err(WireError("unknown process phase")),
            };
            processes.push(ProcessReport {
                pid,
                phase,
                requests: r.u32()?,
                age: r.millis()?,
                since_last_request: r.millis()?,
            });
        }
        classes.push(ClassReport {
            key,
            command_line,
            executable,
            waiting,
            spawns,
            requests,
            spawn_score,
            failed_starts,
            exits,
            processes,
        });
    }
    Ok(StatusReport {
        manager_pid,
        classes,
    })
}
