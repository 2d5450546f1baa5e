//! The manager's bookkeeping as a deterministic state machine: events and the
//! current time go in, actions for the daemon to carry out come out. It never
//! touches a socket, a process or the clock, so tests can replay anything.

use super::policy::{self, ExitReason, GlobalLimits, Hold, SpawnScore};
use super::refuse_kind::RefuseKind;
use super::report::{
    ClassReport, CurrentRequest, Phase, ProcessReport, Refusal, StatusReport, WaitStats,
};
use super::table::{Clock, SlotState, Table};
use super::wire::{ClassSpec, FastRef, Outcome};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

pub type ConnId = u64;
pub type ProcId = u64;

/// How long a process asked to stop gets before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(3);

/// A process that exits on its own this soon after its start, having served
/// nothing, died at start.
pub const EARLY_DEATH: Duration = Duration::from_secs(10);
/// After this many deaths at start in a row a class is failing: requests get
/// their 503 at once instead of waiting out their deadline, and a new
/// process is tried only when the spawn score allows (a slow probe).
pub const FAILING_AFTER: u32 = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start process `proc` of class `class`, then report `spawned`.
    Spawn { proc: ProcId, spec: ClassSpec },
    /// Lend `proc` (listening at `socket`) to the request on `conn`.
    Grant {
        conn: ConnId,
        proc: ProcId,
        socket: Vec<u8>,
    },
    /// Tell the request on `conn` that no process can be had; `kind` says
    /// whether it answers 503 or 500.
    Refuse {
        conn: ConnId,
        reason: String,
        kind: RefuseKind,
    },
    /// Send SIGTERM (`kill == false`) or SIGKILL to a process.
    Signal { pid: i32, kill: bool },
    /// The manager took `slot` from its holder, httpd child `holder`:
    /// shut down the copy of the kept
    /// connection the holder sent, so that the app accepts again. With no
    /// copy, a live app (`proc`, if any) cannot be freed: `hold_unbroken`.
    DropHold {
        slot: u32,
        holder: u32,
        proc: Option<ProcId>,
    },
    /// Something the administrator should know (logged as a warning).
    Warn { message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProcState {
    Starting,
    Idle { since: Instant },
    Busy { conn: ConnId, since: Instant },
    Stopping { since: Instant, killed: bool },
}

#[derive(Debug)]
struct Proc {
    class: String,
    pid: i32,
    socket: Vec<u8>,
    started: Instant,
    /// When it last finished a request (its start, before the first).
    last_done: Instant,
    requests: u32,
    state: ProcState,
    stop_reason: Option<ExitReason>,
    /// The class's generation it was started for (see `Class::generation`).
    generation: u64,
    /// Stopped (evicted) to make room for this class's waiters.
    evicted_for: Option<String>,
    /// Its slot in the shared table, if it has one: then, while `Idle`
    /// here, children claim and release it there without telling us.
    slot: Option<u32>,
    /// The stamp of its class generation (what a claim must name).
    stamp: u32,
    /// When the table was last looked at for it, and whether a child had
    /// it then (since when): its timers are lower bounds from these.
    seen_at: Instant,
    claimed_since: Option<Instant>,
    /// Flagged for retirement while a child had it: why it is stopped
    /// when handed back.
    retire: Option<ExitReason>,
}

#[derive(Debug)]
struct Waiter {
    conn: ConnId,
    since: Instant,
}

#[derive(Debug)]
struct Class {
    spec: ClassSpec,
    procs: Vec<ProcId>,
    waiters: VecDeque<Waiter>,
    score: SpawnScore,
    spawns: u64,
    requests: u64,
    exits: BTreeMap<ExitReason, u64>,
    /// Requests refused, by reason (status only).
    refusals: BTreeMap<Refusal, u64>,
    /// Waits of requests that got a process (status only).
    wait: WaitStats,
    /// Processes in a row that died at start (see EARLY_DEATH).
    early_deaths: u32,
    /// Bumped when a request brings a different command line, environment
    /// or directory for the class (a new configuration): processes of an
    /// older generation are replaced, never lent.
    generation: u64,
    /// Processes of other classes stopped (evicted) for this class's
    /// waiters and not yet exited: each one's slot comes here when it exits.
    evicting: u32,
    /// Its entry in the shared table (None: the table is full; its
    /// processes are then lent by the manager only).
    entry: Option<u32>,
    /// Its current generation's stamp (never reused, see `table`).
    stamp: u32,
}

impl Class {
    fn failing(&self) -> bool {
        self.early_deaths >= FAILING_AFTER
    }
}

/// A snapshot of one class, for the status page and the tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassView {
    pub key: String,
    pub command: String,
    pub processes: u32,
    pub busy: u32,
    pub idle: u32,
    pub waiting: u32,
    pub spawns: u64,
    pub requests: u64,
    pub exits: Vec<(&'static str, u64)>,
    pub pids: Vec<(i32, &'static str, u32)>,
    /// The spawn score now (no spawn at or over FcgidSpawnScoreUpLimit).
    pub spawn_score: u64,
    /// Processes in a row that died at start; FAILING_AFTER or more: failing.
    pub early_deaths: u32,
    /// Processes of other classes stopped for this one's waiters, not yet exited.
    pub evicting: u32,
}

pub struct Manager {
    global: GlobalLimits,
    classes: HashMap<String, Class>,
    procs: HashMap<ProcId, Proc>,
    next_proc: ProcId,
    actions: Vec<Action>,
    /// Set by `shutdown`: no more probes.
    stopping: bool,
    // Indexes, so that no event scans every class or process:
    /// pid -> process, for exits.
    by_pid: HashMap<i32, ProcId>,
    /// Waiting connection -> its class and deadline.
    waiting: HashMap<ConnId, (String, Instant)>,
    /// Waiters by deadline, for the next timer and for expiry.
    deadlines: BTreeSet<(Instant, ConnId)>,
    /// (connection, process lent to it).
    lent: BTreeSet<(ConnId, ProcId)>,
    /// Idle processes by the time they became idle: the idle-longest first,
    /// for eviction.
    idle_lru: BTreeSet<(Instant, ProcId)>,
    /// Each class's next timer (idle and lifetime limits, busy timeout,
    /// stop grace, spawn score), by when it is due; `class_timer` holds the
    /// same entries by class. `tick` visits only the classes that are due.
    timers: BTreeSet<(Instant, String)>,
    class_timer: HashMap<String, Instant>,
    /// Classes touched by the event under way: their timer is recomputed
    /// when it ends (in `take_actions`).
    dirty: Vec<String>,
    /// The time of the event under way.
    now: Option<Instant>,
    /// The shared table, the clock its times are in, and who is where.
    table: Table,
    clock: Clock,
    free_slots: VecDeque<u32>,
    slot_proc: Vec<Option<ProcId>>,
    entry_class: Vec<String>,
    next_stamp: u32,
    /// Said once each: the table's class entries, or its slots, ran out.
    said_no_entry: bool,
    said_no_slot: bool,
}

/// A failing class with no process, held by FcgidMaxProcesses, tries its
/// probe again this often.
const PROBE_RETRY: Duration = Duration::from_secs(1);

impl Manager {
    pub fn new(global: GlobalLimits) -> Self {
        let table = Table::in_memory(global.max_processes.clamp(1, 4096), 256);
        let clock = Clock {
            base: Instant::now(),
            base_ns: 1,
        };
        Self::with_table(global, table, clock)
    }

    /// A manager whose processes children claim from `table` (times in
    /// it are `clock`'s).
    pub fn with_table(global: GlobalLimits, table: Table, clock: Clock) -> Self {
        Manager {
            free_slots: (0..table.slots()).collect(),
            slot_proc: vec![None; table.slots() as usize],
            entry_class: Vec::new(),
            said_no_entry: false,
            said_no_slot: false,
            next_stamp: 1,
            table,
            clock,
            global,
            classes: HashMap::new(),
            procs: HashMap::new(),
            next_proc: 1,
            actions: Vec::new(),
            stopping: false,
            by_pid: HashMap::new(),
            waiting: HashMap::new(),
            deadlines: BTreeSet::new(),
            lent: BTreeSet::new(),
            idle_lru: BTreeSet::new(),
            timers: BTreeSet::new(),
            class_timer: HashMap::new(),
            dirty: Vec::new(),
            now: None,
        }
    }

    /// A process changes state; the idle index and the shared table
    /// follow: Idle here is claimable there, anything else is the
    /// manager's. (Leaving Idle takes the slot whatever a child does with
    /// it: callers that must not cut a claim win it first, `take_idle`.)
    fn set_state(&mut self, proc: ProcId, state: ProcState) {
        let p = self.procs.get_mut(&proc).unwrap();
        let was_idle = matches!(p.state, ProcState::Idle { .. });
        if let ProcState::Idle { since } = p.state {
            self.idle_lru.remove(&(since, proc));
        }
        if let ProcState::Idle { since } = state {
            self.idle_lru.insert((since, proc));
        }
        p.state = state;
        if let Some(slot) = p.slot {
            match (was_idle, state) {
                (false, ProcState::Idle { since }) => {
                    self.table.publish_idle(slot, p.stamp, self.clock.ns(since));
                    p.claimed_since = None;
                    p.seen_at = since;
                }
                (true, ProcState::Idle { .. }) => {}
                (true, _) => {
                    let was = self.table.seize(slot);
                    p.claimed_since = None;
                    if was.state == SlotState::Idle && was.pid != 0 {
                        self.actions.push(Action::DropHold {
                            slot,
                            holder: was.pid,
                            proc: None,
                        });
                    }
                }
                _ => {}
            }
        }
        let key = p.class.clone();
        self.touch(&key);
    }

    /// An idle process is the manager's now, unless a child claimed it
    /// (then false, and it is noted as claimed).
    fn take_idle(&mut self, proc: ProcId, now: Instant) -> bool {
        let p = &self.procs[&proc];
        let Some(slot) = p.slot else {
            return true;
        };
        if !matches!(p.state, ProcState::Idle { .. }) || self.hold_slot(slot, proc) {
            return true;
        }
        // Handed back by its claimant (maybe without a word that reached
        // us): judged now, then ours if it is still idle.
        if self.take_returned(proc, now) {
            let p = &self.procs[&proc];
            return matches!(p.state, ProcState::Idle { .. }) && self.hold_slot(slot, proc);
        }
        self.observe(proc, now);
        false
    }

    /// Takes an Idle slot from the table; a child's hold on it is broken.
    fn hold_slot(&mut self, slot: u32, proc: ProcId) -> bool {
        match self.table.hold(slot) {
            None => false,
            Some(0) => true,
            Some(holder) => {
                self.actions.push(Action::DropHold {
                    slot,
                    holder,
                    proc: Some(proc),
                });
                true
            }
        }
    }

    /// A hold on `slot` could not be broken (the manager has no copy of
    /// the connection): its process is stopped, as if evicted, and another
    /// serves (or is started for) its class's waiters.
    pub fn hold_unbroken(&mut self, slot: u32, now: Instant) -> Vec<Action> {
        self.now = Some(now);
        if let Some(proc) = self.slot_proc.get(slot as usize).copied().flatten() {
            let key = self.procs[&proc].class.clone();
            self.stop(proc, ExitReason::Evicted, now);
            self.serve_waiters(&key, now);
        }
        self.take_actions()
    }

    /// Reads an idle process's slot: claimed by a child or idle since when.
    fn observe(&mut self, proc: ProcId, now: Instant) {
        let p = &self.procs[&proc];
        let (Some(slot), ProcState::Idle { since }) = (p.slot, p.state) else {
            return;
        };
        if self.take_returned(proc, now) {
            return;
        }
        let v = self.table.read(slot);
        let at = self.clock.instant(v.since_ns);
        let p = self.procs.get_mut(&proc).unwrap();
        p.seen_at = now;
        let key = p.class.clone();
        if v.word.state.claimed() {
            // Not yet timed by its claimant: claimed just now.
            p.claimed_since = Some(if v.claim_timed { at } else { now });
        } else {
            p.claimed_since = None;
            if at > since {
                self.set_state(proc, ProcState::Idle { since: at });
            }
            // It went back idle after serving: the class serves.
            if v.requests > 0 {
                if let Some(c) = self.classes.get_mut(&key) {
                    c.early_deaths = 0;
                }
            }
        }
        self.touch(&key);
    }

    /// Requests `p` has served (children count theirs in the table).
    fn requests_of(&self, p: &Proc) -> u32 {
        match p.slot {
            Some(slot) => self.table.read(slot).requests as u32,
            None => p.requests,
        }
    }

    /// Is an idle-here process claimed by a child right now?
    fn claimed_now(&self, p: &Proc) -> bool {
        matches!(p.state, ProcState::Idle { .. })
            && p.slot
                .is_some_and(|s| self.table.read(s).word.state.claimed())
    }

    /// Writes class `key`'s slot list into the table.
    fn sync_slots(&self, key: &str) {
        let Some(c) = self.classes.get(key) else {
            return;
        };
        if let Some(entry) = c.entry {
            let slots: Vec<u32> = c
                .procs
                .iter()
                .filter_map(|id| self.procs[id].slot)
                .collect();
            self.table.set_class_slots(entry, &slots);
        }
    }

    /// How children find class `key` in the table (None: they cannot).
    pub fn fast_ref(&self, key: &str) -> Option<FastRef> {
        let c = self.classes.get(key)?;
        Some(FastRef {
            table: self.table.generation(),
            class: c.entry?,
            stamp: c.stamp,
        })
    }

    /// The class of process `proc` (for `fast_ref`).
    pub fn class_of(&self, proc: ProcId) -> Option<&str> {
        self.procs.get(&proc).map(|p| p.class.as_str())
    }

    /// `proc`'s slot in the shared table, if it has one.
    /// The slot of the process whose pid is `pid`.
    pub fn slot_of_pid(&self, pid: i32) -> Option<u32> {
        self.by_pid.get(&pid).and_then(|p| self.slot_of(*p))
    }

    pub fn slot_of(&self, proc: ProcId) -> Option<u32> {
        self.procs.get(&proc).and_then(|p| p.slot)
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Processes children hold through the table.
    pub fn claimed_count(&self) -> usize {
        self.table.claimed_count()
    }

    /// `key`'s timer must be recomputed at the end of this event.
    fn touch(&mut self, key: &str) {
        if self.dirty.last().map(String::as_str) != Some(key) {
            self.dirty.push(key.to_string());
        }
    }

    /// When class `key` next needs `tick`, from its processes, waiters and
    /// score (None: only an event can change anything). O(its processes).
    fn class_due(&self, key: &str) -> Option<Instant> {
        let c = self.classes.get(key)?;
        let limits = &c.spec.limits;
        let live = c
            .procs
            .iter()
            .filter(|id| !matches!(self.procs[id].state, ProcState::Stopping { .. }))
            .count() as u32;
        let mut due: Option<Instant> = None;
        let mut at = |t: Instant| due = Some(due.map_or(t, |d| d.min(t)));
        for id in &c.procs {
            let p = &self.procs[id];
            match p.state {
                // In the table, children use it unseen: look again when its
                // busy timeout could be due at the earliest (and its idle
                // one, from when it was last seen).
                ProcState::Idle { since } if p.slot.is_some() => match p.claimed_since {
                    Some(b) => {
                        at(b + limits.busy_timeout);
                        if live > limits.min_processes {
                            at(p.seen_at + limits.idle_timeout);
                        }
                    }
                    None => {
                        at(p.seen_at + limits.busy_timeout);
                        if live > limits.min_processes {
                            at(since + limits.idle_timeout);
                            at(p.started + limits.lifetime);
                        }
                    }
                },
                // Never stopped for idleness at or below the minimum: only
                // a spawn (an event) can take the class above it.
                ProcState::Idle { since } if live > limits.min_processes => {
                    at(since + limits.idle_timeout);
                    at(p.started + limits.lifetime);
                }
                ProcState::Busy { since, .. } => at(since + limits.busy_timeout),
                ProcState::Stopping {
                    since,
                    killed: false,
                } if p.pid > 0 => at(since + STOP_GRACE),
                _ => {}
            }
        }
        let limit = self.global.spawn_score_up_limit;
        let held_by_score = c.score.value() >= limit as u64;
        if !c.waiters.is_empty() && held_by_score {
            if let Some(t) = c.score.below_limit_at(limit, self.global.time_score) {
                at(t);
            }
        }
        if c.failing() && c.procs.is_empty() && !self.stopping {
            if held_by_score {
                if let Some(t) = c.score.below_limit_at(limit, self.global.time_score) {
                    at(t);
                }
            } else if let Some(now) = self.now {
                // Probe at the next tick; held by the server limit, retry.
                if self.process_count() < self.global.max_processes {
                    at(now);
                } else {
                    at(now + PROBE_RETRY);
                }
            }
        }
        due
    }

    /// Recomputes the timers of the classes this event touched.
    fn rearm(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort();
        dirty.dedup();
        for key in dirty {
            if let Some(c) = self.classes.get(&key) {
                if let Some(entry) = c.entry {
                    if self.table.waiting(entry) != c.waiters.len() as u64 {
                        self.table.set_waiting(entry, c.waiters.len() as u64);
                    }
                }
            }
            let due = self.class_due(&key);
            let old = self.class_timer.get(&key).copied();
            if old == due {
                continue;
            }
            if let Some(t) = old {
                self.timers.remove(&(t, key.clone()));
                self.class_timer.remove(&key);
            }
            if let Some(t) = due {
                self.timers.insert((t, key.clone()));
                self.class_timer.insert(key, t);
            }
        }
    }

    /// Forgets `conn`'s wait in the indexes (the caller took it off its
    /// class's queue).
    fn unwait(&mut self, conn: ConnId) {
        if let Some((key, deadline)) = self.waiting.remove(&conn) {
            self.deadlines.remove(&(deadline, conn));
            self.touch(&key);
        }
    }

    fn take_actions(&mut self) -> Vec<Action> {
        self.rearm();
        self.sync_server_waiting();
        std::mem::take(&mut self.actions)
    }

    /// Live processes of the whole server (starting, idle, busy or stopping).
    pub fn process_count(&self) -> u32 {
        self.procs.len() as u32
    }

    /// The pid of process `proc` (0 while it is starting or unknown).
    pub fn pid_of(&self, proc: ProcId) -> i32 {
        self.procs.get(&proc).map_or(0, |p| p.pid)
    }

    pub fn busy_count(&self) -> u32 {
        self.lent.len() as u32
    }

    /// A request on `conn` wants a process of `spec`'s class, waiting at most `wait`.
    pub fn acquire(
        &mut self,
        conn: ConnId,
        spec: ClassSpec,
        wait: Duration,
        now: Instant,
    ) -> Vec<Action> {
        let key = spec.key.clone();
        if !self.classes.contains_key(&key) {
            let entry = (self.entry_class.len() < self.table.classes() as usize).then(|| {
                self.entry_class.push(key.clone());
                self.entry_class.len() as u32 - 1
            });
            if entry.is_none() && !std::mem::replace(&mut self.said_no_entry, true) {
                self.actions.push(Action::Warn {
                    message: format!(
                        "mod_fcgid: the process table's {} class entries are all taken \
                         (entries are never reclaimed while this manager runs); \
                         requests for new classes go through the process manager",
                        self.table.classes()
                    ),
                });
            }
            let stamp = self.new_stamp();
            self.classes.insert(
                key.clone(),
                Class {
                    spec: spec.clone(),
                    procs: Vec::new(),
                    waiters: VecDeque::new(),
                    score: SpawnScore::new(now),
                    spawns: 0,
                    requests: 0,
                    exits: BTreeMap::new(),
                    refusals: BTreeMap::new(),
                    wait: WaitStats::default(),
                    early_deaths: 0,
                    generation: 0,
                    evicting: 0,
                    entry,
                    stamp,
                },
            );
        }
        let class = self.classes.get_mut(&key).unwrap();
        let changed = class.spec.argv != spec.argv
            || class.spec.env != spec.env
            || class.spec.cwd != spec.cwd;
        class.spec = spec;
        if changed {
            class.generation += 1;
            let stamp = self.new_stamp();
            self.classes.get_mut(&key).unwrap().stamp = stamp;
            self.retire_old_generation(&key, now);
        }
        let deadline = now + wait;
        self.now = Some(now);
        self.touch(&key);
        let class = self.classes.get_mut(&key).unwrap();
        class.waiters.push_back(Waiter { conn, since: now });
        // Raised before looking for an idle process: a child releasing one
        // meanwhile then sees it and tells us (see `table`).
        if let Some(entry) = class.entry {
            self.table.set_waiting(entry, class.waiters.len() as u64);
        }
        self.waiting.insert(conn, (key.clone(), deadline));
        self.deadlines.insert((deadline, conn));
        self.sync_server_waiting();
        self.serve_waiters(&key, now);
        self.take_actions()
    }

    /// Tells releasers whether requests wait on a full server (they then
    /// report every process going idle: it may be evicted for them).
    fn sync_server_waiting(&self) {
        let n = if self.process_count() >= self.global.max_processes {
            self.waiting.len() as u64
        } else {
            0
        };
        if self.table.server_waiting() != n {
            self.table.set_server_waiting(n);
        }
    }

    /// A stamp never given before (see `table`): 30 bits, wrapping past 0.
    fn new_stamp(&mut self) -> u32 {
        let s = self.next_stamp;
        self.next_stamp = (s + 1) & ((1 << super::table::STAMP_BITS) - 1);
        if self.next_stamp == 0 {
            self.next_stamp = 1;
        }
        s
    }

    /// Stops the class's idle processes of older generations; busy ones
    /// are stopped when they come back, starting ones when they are up.
    fn retire_old_generation(&mut self, key: &str, now: Instant) {
        let class = &self.classes[key];
        let old: Vec<ProcId> = class
            .procs
            .iter()
            .copied()
            .filter(|id| {
                let p = &self.procs[id];
                p.generation != class.generation && matches!(p.state, ProcState::Idle { .. })
            })
            .collect();
        for id in old {
            if self.take_idle(id, now) {
                self.stop(id, ExitReason::Reconfigured, now);
            } else {
                self.flag_retire(id, ExitReason::Reconfigured);
            }
        }
    }

    /// A child has `proc`: it comes back through the manager, to be
    /// stopped for `reason`.
    fn flag_retire(&mut self, proc: ProcId, reason: ExitReason) {
        let p = self.procs.get_mut(&proc).unwrap();
        if let Some(slot) = p.slot {
            if self.table.flag_retire(slot) {
                p.retire.get_or_insert(reason);
            }
        }
    }

    /// Is `proc` of its class's current generation?
    fn current(&self, proc: ProcId) -> bool {
        let p = &self.procs[&proc];
        self.classes
            .get(&p.class)
            .is_some_and(|c| c.generation == p.generation)
    }

    /// New server-wide limits (a new configuration). Waiters that may now
    /// get a process are served.
    pub fn reconfigure(&mut self, global: GlobalLimits, now: Instant) -> Vec<Action> {
        self.now = Some(now);
        self.global = global;
        // Rare (a restart): every class's timers depend on the score limit.
        let keys: Vec<String> = self.classes.keys().cloned().collect();
        for k in &keys {
            self.touch(k);
            self.serve_waiters(k, now);
        }
        self.take_actions()
    }

    /// Hands idle processes to waiters in arrival order, and spawns for the
    /// waiters that are left while the class may grow.
    fn serve_waiters(&mut self, key: &str, now: Instant) {
        // Children release through the table unseen: read when each idle
        // process last served before choosing the warmest.
        if let Some(class) = self.classes.get(key).filter(|c| !c.waiters.is_empty()) {
            let idle: Vec<ProcId> = class
                .procs
                .iter()
                .copied()
                .filter(|id| matches!(self.procs[id].state, ProcState::Idle { .. }))
                .collect();
            for id in idle {
                self.observe(id, now);
            }
        }
        loop {
            let Some(class) = self.classes.get(key) else {
                return;
            };
            if class.waiters.is_empty() {
                return;
            }
            // The most recently used idle process: the others can then age
            // out. One a child claimed meanwhile is passed over.
            let mut idle = class
                .procs
                .iter()
                .filter(|id| self.procs[id].generation == class.generation)
                .filter_map(|id| match self.procs[id].state {
                    ProcState::Idle { since } => Some((since, *id)),
                    _ => None,
                })
                .collect::<Vec<_>>();
            idle.sort_unstable();
            let mut taken = None;
            while let Some((_, id)) = idle.pop() {
                if self.take_idle(id, now) {
                    taken = Some(id);
                    break;
                }
            }
            let Some(class) = self.classes.get(key) else {
                return;
            };
            if let Some(proc) = taken {
                let class = self.classes.get_mut(key).unwrap();
                let waiter = class.waiters.pop_front().unwrap();
                class
                    .wait
                    .observe(now.saturating_duration_since(waiter.since));
                self.unwait(waiter.conn);
                self.lend(proc, waiter.conn, now);
                continue;
            }
            let starting = class
                .procs
                .iter()
                .filter(|id| {
                    let p = &self.procs[id];
                    p.state == ProcState::Starting && p.generation == class.generation
                })
                .count();
            if class.failing() && starting == 0 {
                self.refuse_failing(key);
                return;
            }
            if starting >= class.waiters.len() {
                return;
            }
            // Each eviction under way for the class brings one slot when
            // the server is full.
            let covered = starting + class.evicting as usize >= class.waiters.len();
            match self.try_spawn(key, now) {
                Ok(()) => {}
                Err(Hold::ServerFull { .. }) if !covered && self.evict_for(key, now) => {}
                Err(_) => return,
            }
        }
    }

    /// FcgidMaxProcesses holds a spawn for `key`'s waiters: stops the
    /// process idle longest, of any other class above its minimum, so that
    /// its slot comes to `key` when it has exited (a stopping process
    /// still counts toward the limit, which a host sets to cap memory, so
    /// the spawn waits for the exit; an idle app exits at once on SIGTERM).
    /// False if there is none, or if `key` could not spawn anyway.
    fn evict_for(&mut self, key: &str, now: Instant) -> bool {
        let Some(class) = self.classes.get(key) else {
            return false;
        };
        if class.failing() {
            return false;
        }
        let mut score = class.score;
        score.decay(now, self.global.time_score);
        if policy::may_spawn(
            class.procs.len() as u32,
            0,
            &class.spec.limits,
            &self.global,
            &score,
        )
        .is_err()
        {
            return false;
        }
        // Idle-longest first, by when each last served (children release
        // through the table unseen); a class at its minimum keeps its
        // processes. Only this overload path walks the index.
        let others: Vec<ProcId> = self
            .idle_lru
            .iter()
            .map(|(_, id)| *id)
            .filter(|id| self.procs[id].class != key)
            .collect();
        for id in others {
            self.observe(id, now);
        }
        let candidates: Vec<ProcId> = self
            .idle_lru
            .iter()
            .map(|(_, id)| *id)
            .filter(|id| {
                let p = &self.procs[id];
                p.class != key
                    && self.classes.get(&p.class).is_some_and(|c| {
                        let live = c
                            .procs
                            .iter()
                            .filter(|q| !matches!(self.procs[q].state, ProcState::Stopping { .. }))
                            .count() as u32;
                        live > c.spec.limits.min_processes
                    })
            })
            .collect();
        // One a child is using is passed over.
        let mut victim = None;
        for id in candidates {
            if self.take_idle(id, now) {
                victim = Some(id);
                break;
            }
        }
        let Some(victim) = victim else {
            return false;
        };
        self.stop(victim, ExitReason::Evicted, now);
        self.procs.get_mut(&victim).unwrap().evicted_for = Some(key.to_string());
        self.classes.get_mut(key).unwrap().evicting += 1;
        true
    }

    fn lend(&mut self, proc: ProcId, conn: ConnId, now: Instant) {
        self.set_state(proc, ProcState::Busy { conn, since: now });
        let p = &self.procs[&proc];
        self.lent.insert((conn, proc));
        self.actions.push(Action::Grant {
            conn,
            proc,
            socket: p.socket.clone(),
        });
    }

    /// Refuses every waiter of a failing class with the reason.
    fn refuse_failing(&mut self, key: &str) {
        let class = self.classes.get_mut(key).unwrap();
        let cmd =
            String::from_utf8_lossy(class.spec.argv.first().map(Vec::as_slice).unwrap_or(b""))
                .into_owned();
        let reason = format!(
            "{cmd} exited {} times in a row right after starting, before serving a request; \
             it is tried again as the spawn score allows (now {})",
            class.early_deaths,
            class.score.value()
        );
        let gone: Vec<ConnId> = class.waiters.drain(..).map(|w| w.conn).collect();
        *class.refusals.entry(Refusal::Failing).or_insert(0) += gone.len() as u64;
        for conn in gone {
            self.unwait(conn);
            self.actions.push(Action::Refuse {
                conn,
                reason: reason.clone(),
                kind: RefuseKind::Unavailable,
            });
        }
    }

    fn try_spawn(&mut self, key: &str, now: Instant) -> Result<(), Hold> {
        let all = self.process_count();
        let global = self.global;
        self.touch(key);
        let class = self.classes.get_mut(key).unwrap();
        class.score.decay(now, global.time_score);
        // A class with requests waiting and no process at all always gets
        // one (within the process limits): the score throttles growth and
        // retries, and must not leave a healthy class unable to serve.
        let procs = &self.procs;
        let none_live = class
            .procs
            .iter()
            .all(|id| matches!(procs[id].state, ProcState::Stopping { .. }));
        let stranded = none_live && !class.waiters.is_empty() && !class.failing();
        let score = if stranded {
            SpawnScore::new(now)
        } else {
            class.score
        };
        policy::may_spawn(
            class.procs.len() as u32,
            all,
            &class.spec.limits,
            &global,
            &score,
        )?;
        class.score.add(global.spawn_score);
        class.spawns += 1;
        let generation = class.generation;
        let stamp = class.stamp;
        let id = self.next_proc;
        self.next_proc += 1;
        class.procs.push(id);
        let spec = class.spec.clone();
        let slot = if class.entry.is_some() {
            self.free_slots.pop_front()
        } else {
            None
        };
        if class.entry.is_some() && slot.is_none() && !self.said_no_slot {
            self.said_no_slot = true;
            self.actions.push(Action::Warn {
                message: format!(
                    "mod_fcgid: the process table's {} slots are all in use (it is sized \
                     by FcgidMaxProcesses when the manager starts); processes beyond \
                     them are lent through the process manager only",
                    self.table.slots()
                ),
            });
        }
        if let Some(s) = slot {
            self.table.occupy(s, id);
            self.slot_proc[s as usize] = Some(id);
        }
        self.procs.insert(
            id,
            Proc {
                class: key.to_string(),
                pid: 0,
                socket: Vec::new(),
                started: now,
                last_done: now,
                requests: 0,
                state: ProcState::Starting,
                stop_reason: None,
                generation,
                evicted_for: None,
                slot,
                stamp,
                seen_at: now,
                claimed_since: None,
                retire: None,
            },
        );
        if slot.is_some() {
            self.sync_slots(key);
        }
        self.actions.push(Action::Spawn { proc: id, spec });
        Ok(())
    }

    /// The daemon started `proc` (pid and socket), or failed to (`None`).
    pub fn spawned(
        &mut self,
        proc: ProcId,
        started: Option<(i32, Vec<u8>)>,
        now: Instant,
    ) -> Vec<Action> {
        self.now = Some(now);
        let Some(p) = self.procs.get_mut(&proc) else {
            return Vec::new();
        };
        let key = p.class.clone();
        match started {
            Some((pid, socket)) => {
                p.pid = pid;
                p.socket = socket;
                if let Some(slot) = p.slot {
                    self.table.set_app_pid(slot, pid);
                }
                self.by_pid.insert(pid, proc);
                // A stopping one now has a pid, hence a grace timer.
                self.touch(&key);
                let p = self.procs.get_mut(&proc).unwrap();
                if matches!(p.state, ProcState::Stopping { .. }) {
                    // Stopped (shutdown) while it was starting: tell it now.
                    self.actions.push(Action::Signal { pid, kill: false });
                } else {
                    // Of an older generation: stopped before it is ever
                    // published, or a child could claim it in between.
                    if self.current(proc) {
                        self.set_state(proc, ProcState::Idle { since: now });
                    } else {
                        self.stop(proc, ExitReason::Reconfigured, now);
                    }
                    self.serve_waiters(&key, now);
                    self.offer_idle(&key, now);
                }
            }
            None => {
                self.forget(proc, ExitReason::Died, now);
                // Waiters keep waiting (a class with none left to serve them
                // tries again, until it counts as failing).
                self.serve_waiters(&key, now);
                self.serve_others(&key, now);
            }
        }
        self.take_actions()
    }

    /// The daemon could not start `proc` at all (`reason` says why, e.g. the
    /// program cannot be executed). If the class has no other process that
    /// could serve, its waiters are refused at once with that reason and
    /// `kind` instead of waiting out their deadline.
    pub fn spawn_failed(
        &mut self,
        proc: ProcId,
        reason: &str,
        kind: RefuseKind,
        now: Instant,
    ) -> Vec<Action> {
        self.now = Some(now);
        let Some(key) = self.procs.get(&proc).map(|p| p.class.clone()) else {
            return Vec::new();
        };
        self.forget(proc, ExitReason::Died, now);
        // The slot it held may serve another class.
        self.serve_others(&key, now);
        let procs = &self.procs;
        let Some(class) = self.classes.get_mut(&key) else {
            return Vec::new();
        };
        let can_serve = class
            .procs
            .iter()
            .any(|id| !matches!(procs[id].state, ProcState::Stopping { .. }));
        if !can_serve {
            let gone: Vec<ConnId> = class.waiters.drain(..).map(|w| w.conn).collect();
            *class.refusals.entry(Refusal::SpawnFailed).or_insert(0) += gone.len() as u64;
            for conn in gone {
                self.unwait(conn);
                self.actions.push(Action::Refuse {
                    conn,
                    reason: reason.to_string(),
                    kind,
                });
            }
        }
        self.take_actions()
    }

    /// The request on `conn` gives `proc` back.
    pub fn release(
        &mut self,
        conn: ConnId,
        proc: ProcId,
        outcome: Outcome,
        now: Instant,
    ) -> Vec<Action> {
        self.now = Some(now);
        if !self.take_back(conn, proc) {
            return Vec::new();
        }
        let p = self.procs.get_mut(&proc).unwrap();
        p.last_done = now;
        let served = match p.slot {
            Some(slot) => self.table.add_request(slot) as u32,
            None => {
                p.requests += 1;
                p.requests
            }
        };
        let key = p.class.clone();
        let class = self.classes.get_mut(&key).unwrap();
        if p.slot.is_none() {
            class.requests += 1;
        }
        if outcome == Outcome::Done {
            class.early_deaths = 0;
        }
        let current = class.generation == p.generation;
        if outcome == Outcome::Broken {
            self.stop(proc, ExitReason::Broken, now);
        } else if outcome == Outcome::ClientGone {
            self.stop(proc, ExitReason::ClientAbort, now);
        } else if !current {
            self.stop(proc, ExitReason::Reconfigured, now);
        } else if policy::retire_after(served, &class.spec.limits) {
            self.stop(proc, ExitReason::MaxRequests, now);
        } else {
            self.set_state(proc, ProcState::Idle { since: now });
        }
        self.serve_waiters(&key, now);
        self.offer_idle(&key, now);
        self.take_actions()
    }

    /// A child says it handed back `proc`, which it claimed from the
    /// table (its request is counted there): requests wait, or it must
    /// retire, or its request went wrong. The message only wakes the
    /// manager: the slot says whether and how it was handed back (so a
    /// lost message loses nothing, see `tick`).
    pub fn hand_back(&mut self, proc: ProcId, now: Instant) -> Vec<Action> {
        self.now = Some(now);
        let Some(p) = self.procs.get(&proc) else {
            return Vec::new();
        };
        let key = p.class.clone();
        if !self.take_returned(proc, now) {
            return Vec::new();
        }
        self.serve_waiters(&key, now);
        self.offer_idle(&key, now);
        self.take_actions()
    }

    /// If `proc`'s slot was Returned by its claimant, takes it: stopped
    /// (a bad outcome, retirement) or Idle again for the first waiter
    /// (serve_waiters takes it). False if it was not Returned.
    fn take_returned(&mut self, proc: ProcId, now: Instant) -> bool {
        let p = &self.procs[&proc];
        let Some(slot) = p.slot.filter(|_| matches!(p.state, ProcState::Idle { .. })) else {
            return false;
        };
        let Some(outcome) = self.table.take_returned(slot) else {
            return false;
        };
        let served = self.table.read(slot).requests as u32;
        let p = self.procs.get_mut(&proc).unwrap();
        p.last_done = now;
        p.claimed_since = None;
        p.seen_at = now;
        let key = p.class.clone();
        let flagged = p.retire.take();
        let class = self.classes.get_mut(&key).unwrap();
        if outcome == Outcome::Done {
            class.early_deaths = 0;
        }
        let current = class.generation == p.generation;
        let stop = match outcome {
            Outcome::Broken => Some(ExitReason::Broken),
            Outcome::ClientGone => Some(ExitReason::ClientAbort),
            Outcome::Done if flagged.is_some() => flagged,
            Outcome::Done if !current => Some(ExitReason::Reconfigured),
            Outcome::Done if policy::retire_after(served, &class.spec.limits) => {
                Some(ExitReason::MaxRequests)
            }
            Outcome::Done => None,
        };
        match stop {
            Some(reason) => self.stop(proc, reason, now),
            None => {
                let stamp = self.procs[&proc].stamp;
                self.table.publish_idle(slot, stamp, self.clock.ns(now));
                self.set_state(proc, ProcState::Idle { since: now });
            }
        }
        true
    }

    /// A process of the class at table entry `entry` went idle in the
    /// table while requests started waiting: serve them.
    pub fn nudge(&mut self, entry: u32, now: Instant) -> Vec<Action> {
        self.now = Some(now);
        if let Some(key) = self.entry_class.get(entry as usize).cloned() {
            self.touch(&key);
            self.serve_waiters(&key, now);
            self.offer_idle(&key, now);
        }
        self.take_actions()
    }

    /// httpd child `pid` is gone: what it had claimed from the table is in
    /// an unknown state (its request was cut), so it is stopped, not held
    /// against the app.
    pub fn claimant_died(&mut self, pid: u32, now: Instant) -> Vec<Action> {
        self.now = Some(now);
        // What it held idle serves others once the copies of its kept
        // connections are shut down (its own closed with it).
        for slot in self.table.held_by(pid) {
            if self.table.unhold(slot, pid) {
                self.actions.push(Action::DropHold {
                    slot,
                    holder: pid,
                    proc: None,
                });
            }
        }
        for slot in self.table.claimed_by(pid) {
            let Some(proc) = self.slot_proc[slot as usize] else {
                continue;
            };
            if self.table.take_from(slot, pid) {
                let key = self.procs[&proc].class.clone();
                self.stop(proc, ExitReason::ClientAbort, now);
                self.serve_waiters(&key, now);
            }
        }
        self.take_actions()
    }

    /// Is `proc` lent to `conn`? Then it is no longer (the caller sets its
    /// new state). A release by anyone else, or of a process that is gone
    /// or was stopped meanwhile, changes nothing.
    fn take_back(&mut self, conn: ConnId, proc: ProcId) -> bool {
        let held = self.procs.get(&proc).is_some_and(
            |p| matches!(p.state, ProcState::Busy { conn: holder, .. } if holder == conn),
        );
        if held {
            self.lent.remove(&(conn, proc));
        }
        held
    }

    /// A grant could not be delivered (its connection was already gone), so
    /// `proc` never saw a request: it is idle again, not broken.
    pub fn grant_undelivered(&mut self, conn: ConnId, proc: ProcId, now: Instant) -> Vec<Action> {
        self.now = Some(now);
        if !self.take_back(conn, proc) {
            return Vec::new();
        }
        self.set_state(proc, ProcState::Idle { since: now });
        let key = self.procs[&proc].class.clone();
        if !self.current(proc) {
            self.stop(proc, ExitReason::Reconfigured, now);
        }
        self.serve_waiters(&key, now);
        self.offer_idle(&key, now);
        self.take_actions()
    }

    /// The connection `conn` closed. A process it still held is in an unknown
    /// state (its request was cut), so it is stopped; a wait is abandoned.
    pub fn conn_closed(&mut self, conn: ConnId, now: Instant) -> Vec<Action> {
        self.now = Some(now);
        if let Some((key, _)) = self.waiting.get(&conn).cloned() {
            if let Some(class) = self.classes.get_mut(&key) {
                class.waiters.retain(|w| w.conn != conn);
            }
            self.unwait(conn);
        }
        let held: Vec<ProcId> = self
            .lent
            .range((conn, 0)..=(conn, ProcId::MAX))
            .map(|(_, p)| *p)
            .filter(|p| {
                matches!(self.procs.get(p).map(|p| p.state),
                    Some(ProcState::Busy { conn: c, .. }) if c == conn)
            })
            .collect();
        let stale: Vec<(ConnId, ProcId)> = self
            .lent
            .range((conn, 0)..=(conn, ProcId::MAX))
            .copied()
            .collect();
        for entry in stale {
            self.lent.remove(&entry);
        }
        for proc in held {
            let key = self.procs[&proc].class.clone();
            self.stop(proc, ExitReason::Broken, now);
            self.serve_waiters(&key, now);
        }
        self.take_actions()
    }

    fn stop(&mut self, proc: ProcId, reason: ExitReason, now: Instant) {
        let p = self.procs.get_mut(&proc).unwrap();
        if matches!(p.state, ProcState::Stopping { .. }) {
            return;
        }
        if let ProcState::Busy { conn, .. } = p.state {
            self.lent.remove(&(conn, proc));
        }
        p.stop_reason = Some(reason);
        self.set_state(
            proc,
            ProcState::Stopping {
                since: now,
                killed: false,
            },
        );
        let p = &self.procs[&proc];
        if p.pid > 0 {
            self.actions.push(Action::Signal {
                pid: p.pid,
                kill: false,
            });
        }
    }

    fn forget(&mut self, proc: ProcId, reason: ExitReason, now: Instant) {
        let Some(p) = self.procs.remove(&proc) else {
            return;
        };
        if p.pid > 0 {
            self.by_pid.remove(&p.pid);
        }
        if let ProcState::Busy { conn, .. } = p.state {
            self.lent.remove(&(conn, proc));
        }
        if let ProcState::Idle { since } = p.state {
            self.idle_lru.remove(&(since, proc));
        }
        if let Some(b) = p.evicted_for.as_ref().and_then(|b| self.classes.get_mut(b)) {
            b.evicting -= 1;
        }
        self.touch(&p.class);
        let mut served = p.requests;
        if let Some(slot) = p.slot {
            served = self.table.read(slot).requests as u32;
            self.table.free(slot);
            self.slot_proc[slot as usize] = None;
            self.free_slots.push_back(slot);
        }
        let global = self.global;
        if let Some(class) = self.classes.get_mut(&p.class) {
            class.procs.retain(|id| *id != proc);
            if p.slot.is_some() {
                class.requests += u64::from(served);
            }
            let reason = p.stop_reason.unwrap_or(reason);
            if reason.counts_toward_spawn_score() {
                class.score.decay(now, global.time_score);
                class.score.add(global.termination_score);
            }
            // Gone soon after its start, having served nothing: it died on
            // its own, or the request it was lent to could not reach it.
            if matches!(reason, ExitReason::Died | ExitReason::Broken) {
                if served == 0 && now.saturating_duration_since(p.started) < EARLY_DEATH {
                    class.early_deaths += 1;
                } else if reason == ExitReason::Died {
                    class.early_deaths = 0;
                }
            }
            *class.exits.entry(reason).or_insert(0) += 1;
        }
        if p.slot.is_some() {
            self.sync_slots(&p.class);
        }
    }

    /// Process `pid` has exited (and was reaped). Returns the socket path to remove.
    pub fn exited(&mut self, pid: i32, now: Instant) -> (Option<Vec<u8>>, Vec<Action>) {
        let Some(&proc) = self.by_pid.get(&pid) else {
            return (None, Vec::new());
        };
        self.now = Some(now);
        let socket = self.procs[&proc].socket.clone();
        let key = self.procs[&proc].class.clone();
        let evicted_for = self.procs[&proc].evicted_for.clone();
        self.forget(proc, ExitReason::Died, now);
        // An evicted process's slot goes to the class it was stopped for.
        if let Some(b) = &evicted_for {
            self.serve_waiters(b, now);
        }
        self.serve_waiters(&key, now);
        self.serve_others(&key, now);
        (Some(socket), self.take_actions())
    }

    /// A slot under FcgidMaxProcesses came free: classes other than `key`
    /// with requests waiting may now spawn (in key order). O(waiters).
    fn serve_others(&mut self, key: &str, now: Instant) {
        let others: BTreeSet<String> = self
            .waiting
            .values()
            .map(|(k, _)| k)
            .filter(|k| k.as_str() != key)
            .cloned()
            .collect();
        for k in &others {
            self.serve_waiters(k, now);
        }
    }

    /// A process of `key` may have become idle with nobody of its own
    /// class waiting: on a full server, it may be evicted for another
    /// class's waiters. Nothing to do (O(1)) unless the server is full and
    /// someone waits.
    fn offer_idle(&mut self, key: &str, now: Instant) {
        if !self.waiting.is_empty() && self.process_count() >= self.global.max_processes {
            self.serve_others(key, now);
        }
    }

    /// Timers: refused waits, idle and lifetime limits, busy timeouts,
    /// SIGKILL after the stop grace, spawns the score now allows.
    pub fn tick(&mut self, now: Instant) -> Vec<Action> {
        self.now = Some(now);
        self.expire_waiters(now);
        // Every class with requests waiting (the waiters' index, not every
        // class) takes what went Idle or Returned in the table unseen: a
        // releaser's word is only a wake-up, and may be lost. On a full
        // server an idle process may also be evicted for them.
        if !self.waiting.is_empty() {
            self.serve_others("", now);
        }
        // Only the classes whose timer is due: O(due), not O(classes).
        while let Some((due, _)) = self.timers.first() {
            if *due > now {
                break;
            }
            let (_, key) = self.timers.pop_first().unwrap();
            self.class_timer.remove(&key);
            self.touch(&key);
            self.class_timers(&key, now);
        }
        self.take_actions()
    }

    /// One class's timers: idle and lifetime limits, busy timeouts, SIGKILL
    /// after the stop grace, and spawns its score now allows.
    fn class_timers(&mut self, key: &str, now: Instant) {
        self.reap_idle(key, now);
        let Some(class) = self.classes.get(key) else {
            return;
        };
        let busy_timeout = class.spec.limits.busy_timeout;
        let mut to_stop = Vec::new();
        let mut to_kill = Vec::new();
        for id in &class.procs {
            let p = &self.procs[id];
            match p.state {
                ProcState::Busy { since, .. }
                    if now.saturating_duration_since(since) >= busy_timeout =>
                {
                    to_stop.push(*id);
                }
                // Claimed from the table too long: taken from its claimant.
                ProcState::Idle { .. }
                    if p.claimed_since
                        .is_some_and(|b| now.saturating_duration_since(b) >= busy_timeout) =>
                {
                    to_stop.push(*id);
                }
                // No pid yet (still starting): nothing to kill; `spawned` signals it.
                ProcState::Stopping {
                    since,
                    killed: false,
                } if p.pid > 0 && now.saturating_duration_since(since) >= STOP_GRACE => {
                    to_kill.push((*id, since));
                }
                _ => {}
            }
        }
        for (id, since) in to_kill {
            self.set_state(
                id,
                ProcState::Stopping {
                    since,
                    killed: true,
                },
            );
            self.actions.push(Action::Signal {
                pid: self.procs[&id].pid,
                kill: true,
            });
        }
        for id in to_stop {
            self.stop(id, ExitReason::BusyTimeout, now);
        }
        self.serve_waiters(key, now);
        self.probe_failing(key, now);
    }

    /// A failing class with no process gets a new one whenever the spawn
    /// score allows, waiters or not, so it recovers by itself once the app
    /// is fixed (and its score shows the backoff meanwhile).
    fn probe_failing(&mut self, key: &str, now: Instant) {
        let class = &self.classes[key];
        if !self.stopping && class.failing() && class.procs.is_empty() {
            let _ = self.try_spawn(key, now);
        }
    }

    /// Refuses every waiter whose deadline has passed, naming what held it.
    fn expire_waiters(&mut self, now: Instant) {
        let all = self.process_count();
        let global = self.global;
        while let Some(&(deadline, conn)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            let key = self.waiting.get(&conn).map(|(k, _)| k.clone());
            self.unwait(conn);
            let Some(class) = key.and_then(|k| self.classes.get_mut(&k)) else {
                continue;
            };
            class.waiters.retain(|w| w.conn != conn);
            class.score.decay(now, global.time_score);
            let hold = policy::may_spawn(
                class.procs.len() as u32,
                all,
                &class.spec.limits,
                &global,
                &class.score,
            )
            .err();
            *class.refusals.entry(Refusal::from_hold(hold)).or_insert(0) += 1;
            let why = match hold {
                Some(hold) => hold.to_string(),
                None => "no process became free in time".to_string(),
            };
            let cmd =
                String::from_utf8_lossy(class.spec.argv.first().map(Vec::as_slice).unwrap_or(b""))
                    .into_owned();
            self.actions.push(Action::Refuse {
                conn,
                reason: format!(
                    "no process of class {cmd} was free: {why} ({} busy)",
                    class.procs.len()
                ),
                kind: RefuseKind::Unavailable,
            });
        }
    }

    fn reap_idle(&mut self, key: &str, now: Instant) {
        let pooled: Vec<ProcId> = self.classes[key]
            .procs
            .iter()
            .copied()
            .filter(|id| self.procs[id].slot.is_some())
            .collect();
        for id in pooled {
            self.observe(id, now);
        }
        let class = &self.classes[key];
        let limits = class.spec.limits;
        let mut live = class
            .procs
            .iter()
            .filter(|id| !matches!(self.procs[id].state, ProcState::Stopping { .. }))
            .count() as u32;
        let mut stops = Vec::new();
        let mut retire = Vec::new();
        for id in &class.procs {
            let p = &self.procs[id];
            if let ProcState::Idle { since } = p.state {
                // A child has it: too old, it retires when handed back.
                if p.claimed_since.is_some() {
                    if live > limits.min_processes
                        && p.retire.is_none()
                        && now.saturating_duration_since(p.started) >= limits.lifetime
                    {
                        retire.push(*id);
                    }
                    continue;
                }
                if let Some(reason) = policy::idle_verdict(now, p.started, since, &limits, live) {
                    stops.push((*id, reason));
                    live -= 1;
                }
            }
        }
        for id in retire {
            self.flag_retire(id, ExitReason::LifeTime);
        }
        for (id, reason) in stops {
            if self.take_idle(id, now) {
                self.stop(id, reason, now);
            }
        }
    }

    /// Stops everything (server stop): refuses waiters, signals every process.
    pub fn shutdown(&mut self, now: Instant) -> Vec<Action> {
        self.now = Some(now);
        self.stopping = true;
        // Once: failing classes stop probing.
        let keys: Vec<String> = self.classes.keys().cloned().collect();
        for k in &keys {
            self.touch(k);
        }
        let mut gone = Vec::new();
        for class in self.classes.values_mut() {
            *class.refusals.entry(Refusal::Shutdown).or_insert(0) += class.waiters.len() as u64;
            gone.extend(class.waiters.drain(..).map(|w| w.conn));
        }
        for conn in gone {
            self.unwait(conn);
            self.actions.push(Action::Refuse {
                conn,
                reason: "the server is stopping".into(),
                kind: RefuseKind::Unavailable,
            });
        }
        let ids: Vec<ProcId> = self.procs.keys().copied().collect();
        for id in ids {
            self.stop(id, ExitReason::Shutdown, now);
        }
        self.take_actions()
    }

    /// When the next timer is due, so the daemon knows how long to sleep.
    /// (A waiter's deadline: the daemon honours it exactly.)
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(deadline, _)| *deadline)
    }

    /// When the first class timer is due (idle, lifetime, busy, grace,
    /// score). The daemon's periodic tick serves these; this is for tests
    /// and for a daemon that would rather sleep until then.
    pub fn next_timer(&self) -> Option<Instant> {
        self.timers.first().map(|(due, _)| *due)
    }

    /// Checks that the indexes agree with the classes and processes.
    #[cfg(test)]
    pub(crate) fn check_indexes(&self) {
        let queued: usize = self.classes.values().map(|c| c.waiters.len()).sum();
        assert_eq!(queued, self.waiting.len(), "waiters vs index");
        assert_eq!(
            self.waiting.len(),
            self.deadlines.len(),
            "deadlines vs index"
        );
        for (key, c) in &self.classes {
            for w in &c.waiters {
                let (k, d) = &self.waiting[&w.conn];
                assert_eq!(k, key);
                assert!(self.deadlines.contains(&(*d, w.conn)));
            }
        }
        for (id, p) in &self.procs {
            if p.pid > 0 {
                assert_eq!(self.by_pid.get(&p.pid), Some(id), "pid index");
            }
            if let ProcState::Busy { conn, .. } = p.state {
                assert!(self.lent.contains(&(conn, *id)), "lent index");
            }
        }
        assert_eq!(
            self.by_pid.len(),
            self.procs.values().filter(|p| p.pid > 0).count()
        );
        let busy = self
            .procs
            .values()
            .filter(|p| matches!(p.state, ProcState::Busy { .. }))
            .count();
        assert_eq!(self.lent.len(), busy, "stale lent entries");
        let idle: BTreeSet<(Instant, ProcId)> = self
            .procs
            .iter()
            .filter_map(|(id, p)| match p.state {
                ProcState::Idle { since } => Some((since, *id)),
                _ => None,
            })
            .collect();
        assert_eq!(self.idle_lru, idle, "idle index");
        for (key, c) in &self.classes {
            let evicting = self
                .procs
                .values()
                .filter(|p| p.evicted_for.as_deref() == Some(key.as_str()))
                .count() as u32;
            assert_eq!(c.evicting, evicting, "evictions under way for {key}");
            // Every class's timer is armed at what its state asks for (a
            // failing class's retry counts from when it was armed).
            if c.failing() && c.procs.is_empty() && !self.stopping {
                continue;
            }
            assert_eq!(
                self.class_timer.get(key).copied(),
                self.class_due(key),
                "timer of {key}"
            );
        }
        assert_eq!(self.timers.len(), self.class_timer.len(), "timer index");
        for (t, key) in &self.timers {
            assert_eq!(self.class_timer.get(key), Some(t), "timer index of {key}");
        }
    }

    /// The pools as the status page shows them, classes sorted by key.
    pub fn report(&self, now: Instant, manager_pid: i32) -> StatusReport {
        let mut classes: Vec<ClassReport> = self
            .classes
            .iter()
            .map(|(key, c)| {
                let words: Vec<String> = c
                    .spec
                    .argv
                    .iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                ClassReport {
                    key: key.clone(),
                    command_line: words.join(" "),
                    executable: words.first().cloned().unwrap_or_default(),
                    waiting: c.waiters.len() as u32,
                    spawns: c.spawns,
                    requests: self.class_requests(c),
                    spawn_score: c.score.value(),
                    failed_starts: c.early_deaths,
                    exits: c.exits.iter().map(|(r, n)| (*r, *n)).collect(),
                    refusals: c.refusals.iter().map(|(r, n)| (*r, *n)).collect(),
                    queue: c
                        .waiters
                        .iter()
                        .map(|w| now.saturating_duration_since(w.since))
                        .collect(),
                    wait: self.waits(c),
                    processes: c
                        .procs
                        .iter()
                        .map(|id| {
                            let p = &self.procs[id];
                            let claimed = self.claimed_now(p);
                            let table_since = p.slot.map_or(p.last_done, |s| {
                                self.clock.instant(self.table.read(s).since_ns)
                            });
                            // Idle in the table: its last request ended then.
                            let last_done = match p.state {
                                ProcState::Idle { .. } if p.slot.is_some() => {
                                    table_since.max(p.last_done)
                                }
                                _ => p.last_done,
                            };
                            let mut report = ProcessReport {
                                pid: p.pid,
                                phase: match p.state {
                                    ProcState::Starting => Phase::Starting,
                                    ProcState::Idle { .. } if claimed => Phase::Busy,
                                    ProcState::Idle { .. } => Phase::Idle,
                                    ProcState::Busy { .. } => Phase::Busy,
                                    ProcState::Stopping { .. } => {
                                        Phase::Stopping(p.stop_reason.unwrap_or(ExitReason::Died))
                                    }
                                },
                                requests: self.requests_of(p),
                                age: now.saturating_duration_since(p.started),
                                since_last_request: now.saturating_duration_since(last_done),
                                busy_for: match p.state {
                                    ProcState::Busy { since, .. } => {
                                        Some(now.saturating_duration_since(since))
                                    }
                                    ProcState::Idle { .. } if claimed => {
                                        Some(now.saturating_duration_since(table_since))
                                    }
                                    _ => None,
                                },
                                usage: None,
                                current: None,
                            };
                            // Only while busy: an idle slot's record is stale.
                            if report.phase == Phase::Busy {
                                report.current = p
                                    .slot
                                    .and_then(|s| self.table.request_info(s))
                                    .map(|i| CurrentRequest::from_info(&i));
                            }
                            report
                        })
                        .collect(),
                }
            })
            .collect();
        classes.sort_by(|a, b| a.key.cmp(&b.key));
        StatusReport {
            manager_pid,
            manager_uptime: None,
            classes,
        }
    }

    /// How long requests of a class waited: those served here, and those
    /// that claimed from the table (they waited for nobody: 0).
    fn waits(&self, c: &Class) -> WaitStats {
        let mut w = c.wait;
        if let Some(entry) = c.entry {
            let claims = self.table.claims(entry);
            w.count += claims;
            w.buckets[0] += claims;
        }
        w
    }

    /// Requests a class has served: of its gone processes and of the
    /// live ones (children count in the table).
    fn class_requests(&self, c: &Class) -> u64 {
        c.requests
            + c.procs
                .iter()
                .map(|id| &self.procs[id])
                .filter(|p| p.slot.is_some())
                .map(|p| u64::from(self.requests_of(p)))
                .sum::<u64>()
    }

    pub fn view(&self) -> Vec<ClassView> {
        let mut out: Vec<ClassView> = self
            .classes
            .iter()
            .map(|(key, c)| {
                let states: Vec<&Proc> = c.procs.iter().map(|id| &self.procs[id]).collect();
                let claimed = states.iter().filter(|p| self.claimed_now(p)).count() as u32;
                let count = |f: fn(&ProcState) -> bool| {
                    states.iter().filter(|p| f(&p.state)).count() as u32
                };
                ClassView {
                    key: key.clone(),
                    command: String::from_utf8_lossy(
                        c.spec.argv.first().map(Vec::as_slice).unwrap_or(b""),
                    )
                    .into_owned(),
                    processes: states.len() as u32,
                    busy: count(|s| matches!(s, ProcState::Busy { .. })) + claimed,
                    idle: count(|s| matches!(s, ProcState::Idle { .. })) - claimed,
                    waiting: c.waiters.len() as u32,
                    spawns: c.spawns,
                    requests: self.class_requests(c),
                    exits: c.exits.iter().map(|(r, n)| (r.name(), *n)).collect(),
                    pids: states
                        .iter()
                        .map(|p| {
                            let state = match p.state {
                                ProcState::Starting => "starting",
                                ProcState::Idle { .. } if self.claimed_now(p) => "busy",
                                ProcState::Idle { .. } => "idle",
                                ProcState::Busy { .. } => "busy",
                                ProcState::Stopping { .. } => "stopping",
                            };
                            (p.pid, state, self.requests_of(p))
                        })
                        .collect(),
                    spawn_score: c.score.value(),
                    early_deaths: c.early_deaths,
                    evicting: c.evicting,
                }
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }
}
