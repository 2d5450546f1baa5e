//! What the manager says about its pools when asked (the status page's
//! data): a typed report, sent over the wire as fields, never as text to
//! be parsed back.

use super::policy::ExitReason;
use super::wire::{Reader, WireError, Writer};
use std::time::Duration;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusReport {
    pub manager_pid: i32,
    /// How long the manager has run: not known to the state machine, so
    /// not on the wire; the status handler fills it from /proc.
    pub manager_uptime: Option<Duration>,
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
    /// Requests refused a process, by reason (only reasons that happened).
    pub refusals: Vec<(Refusal, u64)>,
    /// How long each waiting request has waited so far, oldest first.
    pub queue: Vec<Duration>,
    /// How long requests that got a process waited for it.
    pub wait: WaitStats,
    pub processes: Vec<ProcessReport>,
}

/// Why a request got no process (the manager's `Refused` answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Refusal {
    /// Its wait ran out with the class at FcgidMaxProcessesPerClass.
    ClassFull,
    /// Its wait ran out with the server at FcgidMaxProcesses.
    ServerFull,
    /// Its wait ran out with the class's spawn score at the limit.
    SpawnScore,
    /// Its wait ran out while spawns were allowed (none became free).
    Timeout,
    /// The class is failing (its processes die right after starting).
    Failing,
    /// The program could not be started at all.
    SpawnFailed,
    /// The server is stopping.
    Shutdown,
}

impl Refusal {
    /// Every reason (the wire protocol sends an index into this).
    pub const ALL: [Refusal; 7] = [
        Refusal::ClassFull,
        Refusal::ServerFull,
        Refusal::SpawnScore,
        Refusal::Timeout,
        Refusal::Failing,
        Refusal::SpawnFailed,
        Refusal::Shutdown,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Refusal::ClassFull => "class_full",
            Refusal::ServerFull => "server_full",
            Refusal::SpawnScore => "spawn_score",
            Refusal::Timeout => "timeout",
            Refusal::Failing => "failing",
            Refusal::SpawnFailed => "spawn_failed",
            Refusal::Shutdown => "shutdown",
        }
    }

    /// The reason an expired wait is refused for, from what held its spawn.
    pub fn from_hold(hold: Option<super::policy::Hold>) -> Refusal {
        use super::policy::Hold;
        match hold {
            Some(Hold::ClassFull { .. }) => Refusal::ClassFull,
            Some(Hold::ServerFull { .. }) => Refusal::ServerFull,
            Some(Hold::SpawnScore { .. }) => Refusal::SpawnScore,
            None => Refusal::Timeout,
        }
    }
}

/// Upper bounds of the wait histogram's buckets, in microseconds; a last
/// bucket (+Inf) holds the rest.
pub const WAIT_BOUNDS_US: [u64; 11] = [
    1_000, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 5_000_000,
    30_000_000,
];

/// Waits for a process: count, sum and a histogram (per bucket, not
/// cumulative; `buckets[i]` counts waits at or under `WAIT_BOUNDS_US[i]`
/// and over the bound before, the last one those over every bound).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WaitStats {
    pub count: u64,
    pub sum: Duration,
    pub buckets: [u64; WAIT_BOUNDS_US.len() + 1],
}

impl WaitStats {
    pub fn observe(&mut self, waited: Duration) {
        let us = waited.as_micros().min(u64::MAX as u128) as u64;
        let i = WAIT_BOUNDS_US
            .iter()
            .position(|b| us <= *b)
            .unwrap_or(WAIT_BOUNDS_US.len());
        self.buckets[i] += 1;
        self.count += 1;
        self.sum = self.sum.saturating_add(waited);
    }

    /// (upper bound in seconds, None for +Inf; cumulative count) per bucket.
    pub fn cumulative(&self) -> Vec<(Option<f64>, u64)> {
        let mut total = 0;
        self.buckets
            .iter()
            .enumerate()
            .map(|(i, n)| {
                total += n;
                (WAIT_BOUNDS_US.get(i).map(|b| *b as f64 / 1e6), total)
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Phase {
    #[default]
    Starting,
    Idle,
    Busy,
    /// Asked to stop, for this reason.
    Stopping(ExitReason),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessReport {
    pub pid: i32,
    pub phase: Phase,
    pub requests: u32,
    /// Since the process started (C's "Active").
    pub age: Duration,
    /// Since it last finished a request, or started (C's "Idle").
    pub since_last_request: Duration,
    /// While busy: how long its current request has had it.
    pub busy_for: Option<Duration>,
    /// While busy: the request it serves, when the child recorded it.
    pub current: Option<CurrentRequest>,
    /// What the kernel says it uses, when it could be read (not known to
    /// the state machine: the status handler reads /proc).
    pub usage: Option<Usage>,
}

/// The request a busy process serves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CurrentRequest {
    pub method: String,
    /// As the client sent it (path and query), made printable: bytes
    /// that are not UTF-8 and control characters are %-escaped, so no
    /// format can be broken by it; still to be escaped for each format.
    pub uri: String,
    /// The URI was longer than the table keeps (`table::INFO_MAX`).
    pub cut: bool,
}

impl CurrentRequest {
    /// From the table's "METHOD URI" bytes.
    pub fn from_info(info: &super::table::RequestInfo) -> CurrentRequest {
        let text = &info.text;
        let (method, uri) = match text.iter().position(|b| *b == b' ') {
            Some(i) => (&text[..i], &text[i + 1..]),
            None => (&text[..], &[][..]),
        };
        CurrentRequest {
            method: printable(method),
            uri: printable(uri),
            cut: info.cut,
        }
    }
}

/// `bytes` as text: valid UTF-8 kept (a cut may leave half a character at
/// the end: escaped too), control characters and the rest as %XX.
pub fn printable(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() {
                let mut b = [0u8; 4];
                for byte in c.encode_utf8(&mut b).bytes() {
                    out.push_str(&format!("%{byte:02X}"));
                }
            } else {
                out.push(c);
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub rss_bytes: u64,
    /// User plus system time.
    pub cpu: Duration,
}

impl StatusReport {
    pub fn process_count(&self) -> usize {
        self.classes.iter().map(|c| c.processes.len()).sum()
    }
    pub fn busy_count(&self) -> usize {
        self.classes.iter().map(ClassReport::busy).sum()
    }
    pub fn waiting_count(&self) -> u64 {
        self.classes.iter().map(|c| c.waiting as u64).sum()
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
    pub fn starting(&self) -> usize {
        self.count(|p| p == Phase::Starting)
    }
    pub fn stopping(&self) -> usize {
        self.count(|p| matches!(p, Phase::Stopping(_)))
    }
    pub fn refused(&self) -> u64 {
        self.refusals.iter().map(|(_, n)| n).sum()
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

/// Appends `rep` as frames: its head, then one frame per class.
pub fn encode_frames(dst: &mut Vec<u8>, rep: &StatusReport) {
    use super::wire::Message;
    Message::StatusHead {
        manager_pid: rep.manager_pid,
        classes: rep.classes.len() as u32,
    }
    .encode(dst);
    for c in &rep.classes {
        super::wire::encode_status_class(dst, c);
    }
}

/// Puts a report together from its frames, as they are decoded.
#[derive(Debug, Default)]
pub struct Gather {
    report: StatusReport,
    /// Classes the head announced; None before the head.
    expected: Option<usize>,
}

impl Gather {
    /// Takes the next message; the whole report once its last class is in.
    pub fn push(&mut self, msg: super::wire::Message) -> Result<Option<StatusReport>, WireError> {
        use super::wire::Message;
        match (msg, self.expected) {
            (
                Message::StatusHead {
                    manager_pid,
                    classes,
                },
                None,
            ) => {
                self.report.manager_pid = manager_pid;
                self.expected = Some(classes as usize);
                self.report.classes.reserve((classes as usize).min(1 << 16));
            }
            (Message::StatusClass(c), Some(n)) if self.report.classes.len() < n => {
                self.report.classes.push(*c);
            }
            _ => return Err(WireError("status frames out of order")),
        }
        if self.expected == Some(self.report.classes.len()) {
            self.expected = None;
            return Ok(Some(std::mem::take(&mut self.report)));
        }
        Ok(None)
    }
}

pub(super) fn encode_class(w: &mut Writer, c: &ClassReport) {
    {
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
        w.u32(c.refusals.len() as u32);
        for (r, n) in &c.refusals {
            w.u8(Refusal::ALL.iter().position(|x| x == r).unwrap_or(0) as u8);
            w.u64(*n);
        }
        w.u32(c.queue.len() as u32);
        for d in &c.queue {
            w.millis(*d);
        }
        w.u64(c.wait.count);
        w.u64(c.wait.sum.as_micros().min(u64::MAX as u128) as u64);
        w.u32(c.wait.buckets.len() as u32);
        for n in &c.wait.buckets {
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
            match p.busy_for {
                Some(d) => {
                    w.u8(1);
                    w.millis(d);
                }
                None => w.u8(0),
            }
            match p.usage {
                Some(u) => {
                    w.u8(1);
                    w.u64(u.rss_bytes);
                    w.millis(u.cpu);
                }
                None => w.u8(0),
            }
            match &p.current {
                Some(cur) => {
                    w.u8(1 | u8::from(cur.cut) << 1);
                    w.bytes(cur.method.as_bytes());
                    w.bytes(cur.uri.as_bytes());
                }
                None => w.u8(0),
            }
        }
    }
}

pub(super) fn decode_class(r: &mut Reader) -> Result<ClassReport, WireError> {
    {
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
        let nr = r.u32()? as usize;
        let mut refusals = Vec::with_capacity(nr.min(64));
        for _ in 0..nr {
            let why = Refusal::ALL
                .get(r.u8()? as usize)
                .copied()
                .ok_or(WireError("unknown refusal reason"))?;
            refusals.push((why, r.u64()?));
        }
        let nq = r.u32()? as usize;
        let mut queue = Vec::with_capacity(nq.min(4096));
        for _ in 0..nq {
            queue.push(r.millis()?);
        }
        let mut wait = WaitStats {
            count: r.u64()?,
            sum: Duration::from_micros(r.u64()?),
            ..Default::default()
        };
        if r.u32()? as usize != wait.buckets.len() {
            return Err(WireError("wait histogram of another shape"));
        }
        for b in wait.buckets.iter_mut() {
            *b = r.u64()?;
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
            let requests = r.u32()?;
            let age = r.millis()?;
            let since_last_request = r.millis()?;
            let busy_for = match r.u8()? {
                0 => None,
                _ => Some(r.millis()?),
            };
            let usage = match r.u8()? {
                0 => None,
                _ => Some(Usage {
                    rss_bytes: r.u64()?,
                    cpu: r.millis()?,
                }),
            };
            let current = match r.u8()? {
                0 => None,
                flags @ (1 | 3) => Some(CurrentRequest {
                    method: r.string()?,
                    uri: r.string()?,
                    cut: flags == 3,
                }),
                _ => return Err(WireError("bad current request")),
            };
            processes.push(ProcessReport {
                pid,
                phase,
                requests,
                age,
                since_last_request,
                busy_for,
                usage,
                current,
            });
        }
        Ok(ClassReport {
            key,
            command_line,
            executable,
            waiting,
            spawns,
            requests,
            spawn_score,
            failed_starts,
            exits,
            refusals,
            queue,
            wait,
            processes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_fall_in_the_first_bucket_that_holds_them() {
        let mut w = WaitStats::default();
        for ms in [0, 1, 2, 40, 1000, 60_000] {
            w.observe(Duration::from_millis(ms));
        }
        assert_eq!(w.count, 6);
        assert_eq!(w.sum, Duration::from_millis(61_043));
        assert_eq!(w.buckets[0], 2, "0 and 1 ms are at or under 1 ms");
        assert_eq!(w.buckets[1], 1);
        assert_eq!(w.buckets[4], 1, "40 ms in the 50 ms bucket");
        assert_eq!(w.buckets[8], 1, "1 s in the 1 s bucket");
        assert_eq!(w.buckets[WAIT_BOUNDS_US.len()], 1, "a minute in +Inf");
        let cum = w.cumulative();
        assert_eq!(cum.first(), Some(&(Some(0.001), 2)));
        assert_eq!(cum.last(), Some(&(None, 6)));
        assert!(cum.windows(2).all(|p| p[0].1 <= p[1].1));
    }

    #[test]
    fn a_request_is_split_at_its_first_space_and_made_printable() {
        use super::super::table::RequestInfo;
        let info = |t: &[u8], cut| RequestInfo {
            text: t.to_vec(),
            cut,
        };
        let c = CurrentRequest::from_info(&info(b"GET /x?q=a b", false));
        assert_eq!(
            (c.method.as_str(), c.uri.as_str(), c.cut),
            ("GET", "/x?q=a b", false)
        );
        let c = CurrentRequest::from_info(&info(b"GET /caf\xc3\xa9/\xff\r\n\x1b<b>", true));
        assert_eq!(c.uri, "/caf\u{e9}/%FF%0D%0A%1B<b>");
        assert!(c.cut);
        // A cut through a character leaves half of it: escaped, not lost.
        let c = CurrentRequest::from_info(&info(b"GET /\xc3", true));
        assert_eq!(c.uri, "/%C3");
        let c = CurrentRequest::from_info(&info(b"OPTIONS", false));
        assert_eq!((c.method.as_str(), c.uri.as_str()), ("OPTIONS", ""));
    }

    #[test]
    fn new_fields_round_trip() {
        let mut wait = WaitStats::default();
        wait.observe(Duration::from_micros(1234));
        let rep = StatusReport {
            manager_pid: 5,
            manager_uptime: None,
            classes: vec![ClassReport {
                key: "k".into(),
                refusals: vec![(Refusal::ClassFull, 2), (Refusal::Shutdown, 1)],
                queue: vec![Duration::from_millis(1500), Duration::from_millis(20)],
                wait,
                processes: vec![
                    ProcessReport {
                        pid: 3,
                        phase: Phase::Busy,
                        busy_for: Some(Duration::from_millis(2500)),
                        usage: Some(Usage {
                            rss_bytes: 4096,
                            cpu: Duration::from_millis(70),
                        }),
                        current: Some(CurrentRequest {
                            method: "POST".into(),
                            uri: "/a?b=\"c\"".into(),
                            cut: true,
                        }),
                        ..Default::default()
                    },
                    ProcessReport::default(),
                ],
                ..Default::default()
            }],
        };
        assert_eq!(through_frames(&rep), rep);
    }

    /// Encodes `rep` as frames and gathers it back.
    fn through_frames(rep: &StatusReport) -> StatusReport {
        use super::super::wire::Message;
        let mut frames = Vec::new();
        encode_frames(&mut frames, rep);
        let mut gather = Gather::default();
        let mut at = 0;
        while let Some((msg, used)) = Message::decode_at(&frames[at..]).unwrap() {
            at += used;
            if let Some(done) = gather.push(msg).unwrap() {
                assert_eq!(at, frames.len(), "the report ends with its last class");
                return done;
            }
        }
        panic!("the report never ended");
    }

    #[test]
    fn a_report_of_any_size_travels_in_frames_of_one_class() {
        use super::super::wire::{Message, MAX_FRAME};
        let class = |i: usize| ClassReport {
            key: format!("{i}|/srv/site{i:05}.fcgi|localhost:80|33:33"),
            command_line: format!("/usr/bin/php-cgi /srv/www/site{i:05}/public_html/index.php"),
            executable: "/usr/bin/php-cgi".into(),
            processes: vec![ProcessReport::default(); 3],
            ..Default::default()
        };
        let rep = StatusReport {
            manager_pid: 9,
            manager_uptime: None,
            classes: (0..50_000).map(class).collect(),
        };
        let mut frames = Vec::new();
        encode_frames(&mut frames, &rep);
        let mut at = 0;
        let mut largest = 0;
        while let Some((_, used)) = Message::decode_at(&frames[at..]).unwrap() {
            largest = largest.max(used);
            at += used;
        }
        assert_eq!(at, frames.len());
        assert!(largest < 1024, "{largest} bytes: one class a frame");
        assert!(frames.len() > MAX_FRAME, "{} bytes in all", frames.len());
        assert_eq!(through_frames(&rep), rep);
        let empty = StatusReport {
            manager_pid: 3,
            ..Default::default()
        };
        assert_eq!(through_frames(&empty), empty, "no class: the head alone");
    }

    #[test]
    fn gather_refuses_frames_out_of_order() {
        use super::super::wire::Message;
        let class = || Message::StatusClass(Box::default());
        assert!(
            Gather::default().push(class()).is_err(),
            "a class before the head"
        );
        let mut g = Gather::default();
        let head = |n| Message::StatusHead {
            manager_pid: 1,
            classes: n,
        };
        assert_eq!(g.push(head(2)).unwrap(), None);
        assert!(g.push(head(2)).is_err(), "a second head");
        let mut g = Gather::default();
        g.push(head(1)).unwrap();
        assert!(g.push(class()).unwrap().is_some());
        assert!(g.push(Message::StatusQuery).is_err());
    }
}
