//! The shared process table: what lets an httpd child claim an idle process
//! with one compare-exchange, without waking the manager.
//!
//! The manager creates it (a file, mapped by everyone) and is the only one
//! to add, remove or link slots; children only flip a slot between Idle and
//! Busy, and count requests. Everything is a 64-bit atomic word, so the same
//! code runs on a mapped file and on a plain `Vec` in the tests.
//!
//! Layout, in words: a header, then one entry per class (the head of the
//! list of its slots and its count of waiting requests), then the slots.
//!
//! A slot's state word packs (stamp, claimant pid, epoch, state):
//! - the stamp names a class *and* its generation (drawn from a counter
//!   that never repeats), so a claim can never take a slot reused by
//!   another class or one of an older configuration;
//! - the epoch changes whenever the slot is freed, so a claim on a process
//!   that has since exited cannot release its successor;
//! - the pid is the claimant's, written by the same compare-exchange that
//!   claims: a claimant killed at any instant is known by the manager. On
//!   an Idle slot it is the *holder*'s (0: none): the child that kept its
//!   connection to the app open (FCGI_KEEP_CONN). The app reads only that
//!   connection: another child claims the slot only when nothing else is
//!   idle, and then has the manager (which has a copy of the connection)
//!   end it; the manager ends it too when it takes the slot itself.

use super::wire::Outcome;
use std::sync::atomic::{fence, AtomicU64, Ordering::*};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Memory the table lives in: a mapped file, or a `Vec` (tests, or a
/// manager without a file).
pub trait Region: Send + Sync {
    fn words(&self) -> &[AtomicU64];
}

impl Region for Vec<AtomicU64> {
    fn words(&self) -> &[AtomicU64] {
        self
    }
}

pub const MAGIC: u64 = 0x6663_6769_6474_0003; // "fcgidt", layout 3

// Header words.
const H_MAGIC: usize = 0;
const H_GENERATION: usize = 1;
const H_FLAGS: usize = 2;
const H_SLOTS: usize = 3;
const H_CLASSES: usize = 4;
const H_PREFIX_LEN: usize = 5;
/// Requests wait with the server at FcgidMaxProcesses: any process going
/// idle may be wanted (stopped for another class), so releasers tell.
const H_SERVER_WAITING: usize = 6;
/// The pid of the manager that made the table (0: not told): a child's
/// kept connection to any other manager is not the one to tell about it.
const H_MANAGER: usize = 7;
const H_PREFIX: usize = 8;
/// Room for the app sockets' common prefix ("IPCDIR/PMPID-").
pub const PREFIX_MAX: usize = 512;
const HEADER_WORDS: usize = H_PREFIX + PREFIX_MAX / 8;

/// The manager has let go of this table (it drains, or a new one took
/// over): claim nothing from it any more.
const FLAG_CLOSED: u64 = 1;

const CLASS_WORDS: usize = 5;
const C_HEAD: usize = 0;
const C_WAITING: usize = 1;
/// Claims made from the table (the status page counts them as waits of 0).
const C_CLAIMS: usize = 2;
/// The slot (+1) released last without a hold, or the spare a release
/// found for its hold (`spare_idle`): tried first, so a claim under load
/// need not walk past busy or held slots, and the warmest process serves
/// (the others can age out, as when the manager lends the most recently
/// used).
const C_HINT: usize = 3;
/// When a request of the class last found no process idle for it (ns,
/// plus 1; 0: never). Holds are not made for a while after: a process
/// held for one client connection is one the others cannot claim, and a
/// class short of processes serves more by letting each go to anyone
/// (each miss costs a trip through the manager, a taken hold one more).
const C_PRESSED: usize = 4;

const SLOT_WORDS: usize = 32;
const S_WORD: usize = 0;
const S_PROC: usize = 1;
const S_REQUESTS: usize = 2;
const S_SINCE: usize = 3;
const S_NEXT: usize = 4;
const S_SEQ: usize = 5;
/// Bytes of the current request kept (low 32 bits) and its whole length
/// (high 32 bits): a reader can tell a cut one.
const S_INFO_LEN: usize = 6;
/// S_SINCE holds a time shifted left by one, its low bit set when the time
/// is a claim's, clear when a release's: a claimant writes its time just
/// after its compare-exchange, so a reader in between sees a claimed slot
/// with the previous release's time, and must know it.
const CLAIM_TIME: u64 = 1;
/// The app process's pid (for the request's log notes).
const S_APP_PID: usize = 7;
const S_INFO: usize = 8;
/// Bytes kept of the current request ("METHOD URI"): longer ones are cut
/// here, so a slot stays a fixed size.
pub const INFO_MAX: usize = (SLOT_WORDS - S_INFO) * 8;

/// A process another child holds idle is taken from it only after it has
/// been idle this long (nanoseconds).
pub const STEAL_AFTER_NS: u64 = 20_000_000;

/// How many of a class's processes a release looks at for one idle for
/// anyone, past the one released last (a hold needs one). Claims take
/// the list from its head, so with n client connections each holding a
/// process the first n are held or busy: the look must reach past them.
const SPARE_LOOK: usize = 64;

/// No hold is made for this long after a request of the class found no
/// process idle for it (nanoseconds).
pub const HOLD_OFF_NS: u64 = 1_000_000_000;

/// The request a slot serves, as read from the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    /// "METHOD URI", at most `INFO_MAX` bytes.
    pub text: Vec<u8>,
    /// The whole was longer than `text`.
    pub cut: bool,
}

/// What a slot is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotState {
    /// Unused.
    Free,
    /// The manager's: starting, lent through the manager, or stopping.
    Held,
    /// Claimable by one compare-exchange (by its holder only, if held).
    Idle,
    /// Claimed by a child.
    Busy,
    /// Claimed, and the manager wants it back when the request ends.
    BusyRetire,
    /// Its claimant gave it back for the manager to judge (requests wait,
    /// it must retire, or the request went wrong): the table, not the
    /// message that says so, is the truth, so a lost message loses nothing.
    Returned(Outcome),
}

impl SlotState {
    fn code(self) -> u64 {
        match self {
            SlotState::Free => 0,
            SlotState::Held => 1,
            SlotState::Idle => 2,
            SlotState::Busy => 3,
            SlotState::BusyRetire => 4,
            SlotState::Returned(Outcome::Done) => 5,
            SlotState::Returned(Outcome::Broken) => 6,
            SlotState::Returned(Outcome::ClientGone) => 7,
        }
    }
    fn from_code(c: u64) -> SlotState {
        match c {
            1 => SlotState::Held,
            2 => SlotState::Idle,
            3 => SlotState::Busy,
            4 => SlotState::BusyRetire,
            5 => SlotState::Returned(Outcome::Done),
            6 => SlotState::Returned(Outcome::Broken),
            7 => SlotState::Returned(Outcome::ClientGone),
            _ => SlotState::Free,
        }
    }
    pub fn claimed(self) -> bool {
        matches!(self, SlotState::Busy | SlotState::BusyRetire)
    }
}

/// The state word, unpacked: stamp 30 bits, pid 23, epoch 8, state 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Word {
    pub stamp: u32,
    pub pid: u32,
    pub epoch: u8,
    pub state: SlotState,
}

pub const STAMP_BITS: u32 = 30;
const PID_BITS: u32 = 23;

impl Word {
    pub fn pack(self) -> u64 {
        (u64::from(self.stamp) & ((1 << STAMP_BITS) - 1)) << 34
            | (u64::from(self.pid) & ((1 << PID_BITS) - 1)) << 11
            | u64::from(self.epoch) << 3
            | self.state.code()
    }
    pub fn unpack(w: u64) -> Word {
        Word {
            stamp: (w >> 34) as u32,
            pid: ((w >> 11) & ((1 << PID_BITS) - 1)) as u32,
            epoch: ((w >> 3) & 0xff) as u8,
            state: SlotState::from_code(w & 7),
        }
    }
    fn with(self, state: SlotState, pid: u32) -> Word {
        Word { state, pid, ..self }
    }
}

/// Can `pid` be recorded as a claimant? (Linux pids fit 22 bits.)
pub fn pid_fits(pid: i32) -> bool {
    pid > 0 && (pid as u64) < (1 << PID_BITS)
}

/// A monotonic clock shared by the processes (CLOCK_MONOTONIC), in
/// nanoseconds, tied to `Instant` for the manager's state machine.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub base: Instant,
    pub base_ns: u64,
}

impl Clock {
    pub fn ns(&self, t: Instant) -> u64 {
        self.base_ns
            .saturating_add(t.saturating_duration_since(self.base).as_nanos() as u64)
    }
    pub fn instant(&self, ns: u64) -> Instant {
        self.base + Duration::from_nanos(ns.saturating_sub(self.base_ns))
    }
}

/// A slot as the manager reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotView {
    pub word: Word,
    pub requests: u64,
    pub since_ns: u64,
    /// `since_ns` is the current claim's time (else a claimed slot's
    /// claimant has not written it yet: the claim is younger than the read).
    pub claim_timed: bool,
}

/// A child's claim on a slot: what it needs to give it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub slot: u32,
    pub word: u64,
    pub proc_id: u64,
    /// The app process's pid.
    pub pid: i32,
    /// The slot was held by the claimant: the app reads the connection
    /// it kept.
    pub held: bool,
    /// Requests the process had served before this claim.
    pub served_before: u64,
    /// The httpd child that held the slot (0: none, or the claimant): the
    /// app reads that child's connection until the manager ends it, so the
    /// claimant must ask for that (`Message::Break`).
    pub taken_from: u32,
}

/// Why a claim found nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoClaim {
    /// Requests wait at the manager: queue behind them (first come, first served).
    Waiters,
    /// No idle process of this class (generation).
    NoneIdle,
    /// The table is closed or the class index is not in it.
    Unusable,
}

/// What the releasing child must still do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Released {
    /// Nothing: the process is idle in the table.
    Idle,
    /// It is idle, held by the releaser (asked with `keep`, and another
    /// process of the class was idle for anyone else).
    Held,
    /// It is idle, but a request started waiting meanwhile: wake the
    /// manager (its tick finds it anyway).
    Nudge,
    /// It is Returned (waiters, retirement, or a bad outcome): wake the
    /// manager (its tick finds it anyway while requests wait).
    HandBack,
    /// The manager took it meanwhile (the process exited): nothing to do.
    Gone,
}

/// The shared table; cheap to clone (the region is shared).
#[derive(Clone)]
pub struct Table {
    region: Arc<dyn Region>,
    slots: u32,
    classes: u32,
}

/// Words a table of `slots` slots and `classes` class entries needs.
pub fn words_for(slots: u32, classes: u32) -> usize {
    HEADER_WORDS + classes as usize * CLASS_WORDS + slots as usize * SLOT_WORDS
}

impl Table {
    /// Lays out a new table in `region` (all zero, `words_for` long).
    pub fn create(region: Arc<dyn Region>, slots: u32, classes: u32, generation: u64) -> Table {
        let w = region.words();
        assert!(w.len() >= words_for(slots, classes), "region too small");
        w[H_SLOTS].store(slots.into(), Relaxed);
        w[H_CLASSES].store(classes.into(), Relaxed);
        w[H_GENERATION].store(generation, Relaxed);
        w[H_MAGIC].store(MAGIC, Release);
        Table {
            region,
            slots,
            classes,
        }
    }

    /// A table in plain memory.
    pub fn in_memory(slots: u32, classes: u32) -> Table {
        let words: Vec<AtomicU64> = (0..words_for(slots, classes))
            .map(|_| AtomicU64::new(0))
            .collect();
        Table::create(Arc::new(words), slots, classes, 1)
    }

    /// An existing table (a child's mapping); None if the region does not
    /// hold one.
    pub fn open(region: Arc<dyn Region>) -> Option<Table> {
        let w = region.words();
        if w.len() < HEADER_WORDS || w[H_MAGIC].load(Acquire) != MAGIC {
            return None;
        }
        let slots = u32::try_from(w[H_SLOTS].load(Relaxed)).ok()?;
        let classes = u32::try_from(w[H_CLASSES].load(Relaxed)).ok()?;
        if w.len() < words_for(slots, classes) {
            return None;
        }
        Some(Table {
            region,
            slots,
            classes,
        })
    }

    fn w(&self, i: usize) -> &AtomicU64 {
        &self.region.words()[i]
    }
    fn class_word(&self, class: u32, field: usize) -> &AtomicU64 {
        self.w(HEADER_WORDS + class as usize * CLASS_WORDS + field)
    }
    fn slot_word(&self, slot: u32, field: usize) -> &AtomicU64 {
        self.w(HEADER_WORDS
            + self.classes as usize * CLASS_WORDS
            + slot as usize * SLOT_WORDS
            + field)
    }

    pub fn slots(&self) -> u32 {
        self.slots
    }
    pub fn classes(&self) -> u32 {
        self.classes
    }
    pub fn set_manager_pid(&self, pid: i32) {
        self.w(H_MANAGER).store(pid as u32 as u64, Release);
    }
    /// The manager that made the table, if it said.
    pub fn manager_pid(&self) -> Option<i32> {
        let pid = self.w(H_MANAGER).load(Acquire) as i32;
        (pid > 0).then_some(pid)
    }
    pub fn generation(&self) -> u64 {
        self.w(H_GENERATION).load(Relaxed)
    }
    pub fn closed(&self) -> bool {
        self.w(H_FLAGS).load(Acquire) & FLAG_CLOSED != 0
    }
    pub fn close(&self) {
        self.w(H_FLAGS).fetch_or(FLAG_CLOSED, Release);
    }

    /// Sets the app sockets' common prefix; false if it does not fit.
    pub fn set_socket_prefix(&self, prefix: &[u8]) -> bool {
        if prefix.len() > PREFIX_MAX {
            return false;
        }
        for (i, chunk) in prefix.chunks(8).enumerate() {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.w(H_PREFIX + i).store(u64::from_le_bytes(b), Relaxed);
        }
        self.w(H_PREFIX_LEN).store(prefix.len() as u64, Release);
        true
    }

    pub fn socket_prefix(&self) -> Vec<u8> {
        let len = (self.w(H_PREFIX_LEN).load(Acquire) as usize).min(PREFIX_MAX);
        let mut out = Vec::with_capacity(len + 24);
        for i in 0..len.div_ceil(8) {
            out.extend_from_slice(&self.w(H_PREFIX + i).load(Relaxed).to_le_bytes());
        }
        out.truncate(len);
        out
    }

    // --- the children's side ---

    /// Claims an idle process of class `class` in generation `stamp` for
    /// `pid`: one compare-exchange on the first idle slot of its list
    /// (`prefer` first, if given: the claimant's last). The list is walked
    /// at most `max_steps` slots (the class limit): it is a hint, the
    /// compare-exchange is what decides.
    pub fn claim(
        &self,
        class: u32,
        stamp: u32,
        pid: u32,
        now_ns: u64,
        max_steps: u32,
        prefer: Option<u32>,
    ) -> Result<Claim, NoClaim> {
        if class >= self.classes || self.closed() {
            return Err(NoClaim::Unusable);
        }
        // SeqCst: pairs with the manager's raise of `waiting` before it
        // looks for an idle slot itself.
        if self.class_word(class, C_WAITING).load(SeqCst) > 0 {
            self.pressed(class, now_ns);
            return Err(NoClaim::Waiters);
        }
        let got = self.claim_idle(class, stamp, pid, now_ns, max_steps, prefer);
        // Nothing idle for anyone, or only another child's hold.
        if got.as_ref().map_or(true, |c| c.taken_from != 0) {
            self.pressed(class, now_ns);
        }
        got
    }

    fn claim_idle(
        &self,
        class: u32,
        stamp: u32,
        pid: u32,
        now_ns: u64,
        max_steps: u32,
        prefer: Option<u32>,
    ) -> Result<Claim, NoClaim> {
        // A process another child holds is taken only when no other is
        // idle: its holder's connection must be broken first.
        let mut others_hold = false;
        for steal in [false, true] {
            if steal && !others_hold {
                break;
            }
            let mut attempt = |slot: u32| {
                let got = self.try_claim(slot, class, stamp, pid, now_ns, steal);
                others_hold |= matches!(got, Err(true));
                got.ok()
            };
            if let Some(c) = prefer.filter(|_| !steal).and_then(&mut attempt) {
                return Ok(c);
            }
            let hint = self.class_word(class, C_HINT).load(Relaxed);
            if hint != 0 {
                if let Some(c) = attempt((hint - 1) as u32) {
                    return Ok(c);
                }
            }
            let mut next = self.class_word(class, C_HEAD).load(Acquire);
            let mut steps = 0;
            while next != 0 && steps < max_steps.max(1) {
                steps += 1;
                let slot = (next - 1) as u32;
                if slot >= self.slots {
                    break;
                }
                if let Some(c) = attempt(slot) {
                    return Ok(c);
                }
                next = self.slot_word(slot, S_NEXT).load(Acquire);
            }
        }
        Err(NoClaim::NoneIdle)
    }

    /// A request of `class` found no process idle for it at `now_ns`.
    /// Written at most once a millisecond: every child's misses would
    /// otherwise all write one word.
    fn pressed(&self, class: u32, now_ns: u64) {
        let word = self.class_word(class, C_PRESSED);
        if now_ns.saturating_sub(word.load(Relaxed)) >= 1_000_000 {
            word.store(now_ns + 1, Relaxed);
        }
    }

    /// Has a request of `class` found no process idle for it lately?
    fn recently_pressed(&self, class: u32, now_ns: u64) -> bool {
        let at = self.class_word(class, C_PRESSED).load(Relaxed);
        at != 0 && now_ns.saturating_sub(at - 1) < HOLD_OFF_NS
    }

    /// One compare-exchange on `slot`: Idle of `stamp`, held by nobody or
    /// by `pid` (or by anyone, with `steal`), -> Busy by `pid`. Err(true):
    /// it is idle but another child holds it.
    fn try_claim(
        &self,
        slot: u32,
        class: u32,
        stamp: u32,
        pid: u32,
        now_ns: u64,
        steal: bool,
    ) -> Result<Claim, bool> {
        if slot >= self.slots {
            return Err(false);
        }
        let cur = self.slot_word(slot, S_WORD).load(Acquire);
        let w = Word::unpack(cur);
        if w.state != SlotState::Idle || w.stamp != stamp {
            return Err(false);
        }
        let others = w.pid != 0 && w.pid != pid;
        if others {
            // A hold used a moment ago is likely used again at once: taking
            // it would leave its client connection to take another's, and
            // so on. Only holds idle a while are taken.
            let since = self.slot_word(slot, S_SINCE).load(Relaxed) >> 1;
            if !steal || now_ns.saturating_sub(since) < STEAL_AFTER_NS {
                return Err(true);
            }
        }
        // Read before the compare-exchange: its success on the same word
        // (same epoch: the slot was not freed and re-occupied meanwhile)
        // proves these were the current process's. Acquire pairs with
        // `occupy`: a value of a later occupant would make the exchange fail.
        let proc_id = self.slot_word(slot, S_PROC).load(Acquire);
        let app_pid = self.slot_word(slot, S_APP_PID).load(Acquire) as i32;
        let busy = w.with(SlotState::Busy, pid).pack();
        self.slot_word(slot, S_WORD)
            .compare_exchange(cur, busy, SeqCst, Relaxed)
            .map_err(|_| false)?;
        self.slot_word(slot, S_SINCE)
            .store(now_ns << 1 | CLAIM_TIME, Relaxed);
        self.class_word(class, C_CLAIMS).fetch_add(1, Relaxed);
        Ok(Claim {
            slot,
            word: busy,
            proc_id,
            pid: app_pid,
            held: w.pid == pid,
            taken_from: if others { w.pid } else { 0 },
            // Nobody counts while we hold it: exact.
            served_before: self.slot_word(slot, S_REQUESTS).load(Relaxed),
        })
    }

    /// Ends a claim's request (counted here): back to Idle unless it must
    /// go to the manager (an outcome other than Done, or the process has
    /// served its `max_requests`, 0 = unlimited), then Returned. With
    /// `keep`, Idle is held by the claimant (it keeps the connection; the
    /// manager must have its copy already), if `may_hold`: so a hold
    /// never leaves other client connections without an idle process to
    /// claim, unless it is the only one.
    pub fn release(
        &self,
        claim: &Claim,
        class: u32,
        max_requests: u32,
        outcome: Outcome,
        keep: bool,
        now_ns: u64,
    ) -> Released {
        let word = self.slot_word(claim.slot, S_WORD);
        let mine = Word::unpack(claim.word);
        if !self.still_claimed(claim) {
            return Released::Gone;
        }
        self.set_request_info(claim.slot, &[]);
        let served = self.slot_word(claim.slot, S_REQUESTS).fetch_add(1, Relaxed) + 1;
        let waiting = self.class_word(class, C_WAITING);
        if outcome != Outcome::Done
            || (max_requests > 0 && served >= u64::from(max_requests))
            || waiting.load(SeqCst) > 0
        {
            return self.hand_back(claim, outcome, now_ns);
        }
        self.slot_word(claim.slot, S_SINCE)
            .store(now_ns << 1, Relaxed);
        let holder = if keep && self.may_hold(class, claim, now_ns) {
            mine.pid
        } else {
            0
        };
        let idle = mine.with(SlotState::Idle, holder).pack();
        match word.compare_exchange(claim.word, idle, SeqCst, Acquire) {
            // Dekker's pairing: we made it Idle, then look; the manager
            // raised `waiting`, then looks for Idle slots. One sees the other.
            Ok(_) if waiting.load(SeqCst) > 0 || self.w(H_SERVER_WAITING).load(SeqCst) > 0 => {
                Released::Nudge
            }
            // Held: not the hint, which is for anyone.
            Ok(_) if holder != 0 => Released::Held,
            Ok(_) => {
                self.class_word(class, C_HINT)
                    .store(u64::from(claim.slot) + 1, Relaxed);
                Released::Idle
            }
            Err(now) if Word::unpack(now).state == SlotState::BusyRetire => {
                self.hand_back(claim, outcome, now_ns)
            }
            Err(_) => Released::Gone,
        }
    }

    /// May `claim`'s process be held by its claimant? When another of its
    /// class is idle for anyone (the one released last, unheld), or when
    /// it is its class's only process (the manager lends it to others,
    /// breaking the hold, or starts another).
    pub fn may_hold(&self, class: u32, claim: &Claim, now_ns: u64) -> bool {
        if self.recently_pressed(class, now_ns) {
            return false;
        }
        let only = self.class_word(class, C_HEAD).load(Acquire) == u64::from(claim.slot) + 1
            && self.slot_word(claim.slot, S_NEXT).load(Acquire) == 0;
        only || self.spare_idle(class, claim)
    }

    /// Is another process of `claim`'s class idle for anyone? The one
    /// released last first; else a few of the class's list. (The hint
    /// alone is not enough: a process released unheld becomes the hint,
    /// and its next release would then never find a spare.)
    fn spare_idle(&self, class: u32, claim: &Claim) -> bool {
        let stamp = Word::unpack(claim.word).stamp;
        let spare = |slot: u64| {
            let slot = slot as u32;
            slot != claim.slot && slot < self.slots && {
                let w = Word::unpack(self.slot_word(slot, S_WORD).load(Acquire));
                w.state == SlotState::Idle && w.pid == 0 && w.stamp == stamp
            }
        };
        let hint = self.class_word(class, C_HINT).load(Relaxed);
        if hint != 0 && spare(hint - 1) {
            return true;
        }
        let mut next = self.class_word(class, C_HEAD).load(Acquire);
        for _ in 0..SPARE_LOOK {
            if next == 0 || next > u64::from(self.slots) {
                return false;
            }
            if spare(next - 1) {
                // The hint for the next look, and for the next claim with
                // no hold of its own: neither walks past the held ones.
                self.class_word(class, C_HINT).store(next, Relaxed);
                return true;
            }
            next = self.slot_word((next - 1) as u32, S_NEXT).load(Acquire);
        }
        false
    }

    /// Claimed (Busy or BusyRetire) by this claim -> Returned(`outcome`):
    /// HandBack, or Gone if the manager took it meanwhile.
    pub fn hand_back(&self, claim: &Claim, outcome: Outcome, now_ns: u64) -> Released {
        let word = self.slot_word(claim.slot, S_WORD);
        let mine = Word::unpack(claim.word);
        let mut cur = word.load(Acquire);
        loop {
            let w = Word::unpack(cur);
            if !(w.state.claimed() && w.pid == mine.pid && w.epoch == mine.epoch) {
                return Released::Gone;
            }
            self.slot_word(claim.slot, S_SINCE)
                .store(now_ns << 1, Relaxed);
            let back = w.with(SlotState::Returned(outcome), w.pid).pack();
            match word.compare_exchange(cur, back, SeqCst, Acquire) {
                Ok(_) => return Released::HandBack,
                Err(now) => cur = now,
            }
        }
    }

    /// Is the claim still its holder's? (A request that never reached the
    /// process is handed back uncounted, as a cut connection would be.)
    pub fn still_claimed(&self, claim: &Claim) -> bool {
        let w = Word::unpack(self.slot_word(claim.slot, S_WORD).load(Acquire));
        let mine = Word::unpack(claim.word);
        w.state.claimed() && w.pid == mine.pid && w.epoch == mine.epoch
    }

    /// Records the request a claimed slot serves (for the status page):
    /// `parts` joined, cut at `INFO_MAX` bytes; no parts clears it. Under
    /// a sequence lock, so readers detect a torn copy. One writer at a
    /// time: the slot's claimant, or the manager while nobody holds it.
    pub fn set_request_info(&self, slot: u32, parts: &[&[u8]]) {
        if slot >= self.slots {
            return;
        }
        let mut buf = [0u8; INFO_MAX];
        let mut kept = 0;
        let mut whole = 0usize;
        for p in parts {
            let n = p.len().min(INFO_MAX - kept);
            buf[kept..kept + n].copy_from_slice(&p[..n]);
            kept += n;
            whole = whole.saturating_add(p.len());
        }
        let seq = self.slot_word(slot, S_SEQ);
        let s = seq.load(Relaxed);
        seq.store(s.wrapping_add(1), Relaxed);
        fence(Release);
        for (i, chunk) in buf[..kept].chunks(8).enumerate() {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.slot_word(slot, S_INFO + i)
                .store(u64::from_le_bytes(b), Relaxed);
        }
        let whole = whole.min(u32::MAX as usize) as u64;
        self.slot_word(slot, S_INFO_LEN)
            .store(whole << 32 | kept as u64, Relaxed);
        seq.store(s.wrapping_add(2), Release);
    }

    /// The request a slot serves: None if none is recorded or no
    /// consistent copy could be read (a writer kept changing it).
    pub fn request_info(&self, slot: u32) -> Option<RequestInfo> {
        if slot >= self.slots {
            return None;
        }
        let seq = self.slot_word(slot, S_SEQ);
        for _ in 0..4 {
            let before = seq.load(Acquire);
            if before % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let lens = self.slot_word(slot, S_INFO_LEN).load(Relaxed);
            let len = ((lens & 0xffff_ffff) as usize).min(INFO_MAX);
            let whole = (lens >> 32) as usize;
            let mut text = Vec::with_capacity(len);
            for i in 0..len.div_ceil(8) {
                text.extend_from_slice(
                    &self.slot_word(slot, S_INFO + i).load(Relaxed).to_le_bytes(),
                );
            }
            text.truncate(len);
            fence(Acquire);
            if seq.load(Relaxed) == before {
                return (len > 0).then_some(RequestInfo {
                    text,
                    cut: whole > len,
                });
            }
        }
        None
    }

    /// Puts back the slot's previous time, as if the claimant that just
    /// won the compare-exchange had not written its claim time yet.
    #[cfg(test)]
    pub(crate) fn unwrite_claim_time(&self, slot: u32, previous_ns: u64) {
        self.slot_word(slot, S_SINCE)
            .store(previous_ns << 1, Relaxed);
    }

    // --- the manager's side ---

    pub fn read(&self, slot: u32) -> SlotView {
        let since = self.slot_word(slot, S_SINCE).load(Relaxed);
        SlotView {
            // SeqCst: the manager's half of the Dekker pairing (see `set_waiting`).
            word: Word::unpack(self.slot_word(slot, S_WORD).load(SeqCst)),
            requests: self.slot_word(slot, S_REQUESTS).load(Relaxed),
            since_ns: since >> 1,
            claim_timed: since & CLAIM_TIME != 0,
        }
    }

    /// Takes a Free slot for process `proc` (Held, no request counted yet).
    pub fn occupy(&self, slot: u32, proc: u64) {
        let w = Word::unpack(self.slot_word(slot, S_WORD).load(Acquire));
        debug_assert_eq!(w.state, SlotState::Free);
        self.slot_word(slot, S_PROC).store(proc, Release);
        self.slot_word(slot, S_APP_PID).store(0, Release);
        self.slot_word(slot, S_REQUESTS).store(0, Relaxed);
        self.slot_word(slot, S_INFO_LEN).store(0, Relaxed);
        self.slot_word(slot, S_WORD)
            .store(w.with(SlotState::Held, 0).pack(), Release);
    }

    /// The app process in a Held slot has started as `pid`.
    pub fn set_app_pid(&self, slot: u32, pid: i32) {
        self.slot_word(slot, S_APP_PID)
            .store(pid as u32 as u64, Release);
    }

    /// Makes a Held slot claimable by class generation `stamp`.
    pub fn publish_idle(&self, slot: u32, stamp: u32, since_ns: u64) {
        let word = self.slot_word(slot, S_WORD);
        let w = Word::unpack(word.load(Acquire));
        self.slot_word(slot, S_SINCE).store(since_ns << 1, Relaxed);
        let idle = Word {
            stamp,
            pid: 0,
            epoch: w.epoch,
            state: SlotState::Idle,
        };
        word.store(idle.pack(), SeqCst);
    }

    /// Idle -> Held, unless a child claimed it first. Some(holder) when
    /// taken: a holder (not 0) has a connection the app still reads, for
    /// the manager to break.
    pub fn hold(&self, slot: u32) -> Option<u32> {
        let word = self.slot_word(slot, S_WORD);
        // SeqCst: after a raise of `waiting`, this must not read a slot
        // older than a releaser's Idle that missed the raise.
        let cur = word.load(SeqCst);
        let w = Word::unpack(cur);
        (w.state == SlotState::Idle
            && word
                .compare_exchange(cur, w.with(SlotState::Held, 0).pack(), SeqCst, Relaxed)
                .is_ok())
        .then_some(w.pid)
    }

    /// Idle slots held by `pid`.
    pub fn held_by(&self, pid: u32) -> Vec<u32> {
        (0..self.slots)
            .filter(|s| {
                let w = self.read(*s).word;
                w.state == SlotState::Idle && w.pid == pid
            })
            .collect()
    }

    /// Idle held by `pid` -> Idle held by nobody (its holder died).
    pub fn unhold(&self, slot: u32, pid: u32) -> bool {
        let word = self.slot_word(slot, S_WORD);
        let cur = word.load(SeqCst);
        let w = Word::unpack(cur);
        w.state == SlotState::Idle
            && w.pid == pid
            && word
                .compare_exchange(cur, w.with(SlotState::Idle, 0).pack(), SeqCst, Relaxed)
                .is_ok()
    }

    /// Takes a slot whatever it was doing (the claimant's release will find
    /// it gone). Returns what it was.
    pub fn seize(&self, slot: u32) -> Word {
        let word = self.slot_word(slot, S_WORD);
        let mut cur = word.load(SeqCst);
        loop {
            let w = Word::unpack(cur);
            match word.compare_exchange(cur, w.with(SlotState::Held, 0).pack(), SeqCst, Acquire) {
                Ok(_) => return w,
                Err(now) => cur = now,
            }
        }
    }

    /// Returned -> Held: the outcome its claimant gave it back with.
    pub fn take_returned(&self, slot: u32) -> Option<Outcome> {
        let word = self.slot_word(slot, S_WORD);
        let cur = word.load(SeqCst);
        let SlotState::Returned(outcome) = Word::unpack(cur).state else {
            return None;
        };
        let held = Word::unpack(cur).with(SlotState::Held, 0).pack();
        word.compare_exchange(cur, held, SeqCst, Relaxed)
            .ok()
            .map(|_| outcome)
    }

    /// Claimed by `pid` -> Held (a child hands it back, or died).
    pub fn take_from(&self, slot: u32, pid: u32) -> bool {
        let word = self.slot_word(slot, S_WORD);
        let cur = word.load(Acquire);
        let w = Word::unpack(cur);
        w.state.claimed()
            && w.pid == pid
            && word
                .compare_exchange(cur, w.with(SlotState::Held, 0).pack(), SeqCst, Relaxed)
                .is_ok()
    }

    /// Busy -> BusyRetire: its claimant hands it back when done. False if
    /// it is not claimed (any more).
    pub fn flag_retire(&self, slot: u32) -> bool {
        let word = self.slot_word(slot, S_WORD);
        let mut cur = word.load(Acquire);
        loop {
            let w = Word::unpack(cur);
            match w.state {
                SlotState::BusyRetire => return true,
                SlotState::Busy => {}
                _ => return false,
            }
            match word.compare_exchange(
                cur,
                w.with(SlotState::BusyRetire, w.pid).pack(),
                SeqCst,
                Acquire,
            ) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    /// The process left: the slot is Free, under a new epoch.
    pub fn free(&self, slot: u32) {
        let word = self.slot_word(slot, S_WORD);
        let w = Word::unpack(word.load(Acquire));
        let free = Word {
            stamp: 0,
            pid: 0,
            epoch: w.epoch.wrapping_add(1),
            state: SlotState::Free,
        };
        word.store(free.pack(), SeqCst);
    }

    /// Requests counted by the manager (processes it lent itself).
    pub fn add_request(&self, slot: u32) -> u64 {
        self.slot_word(slot, S_REQUESTS).fetch_add(1, Relaxed) + 1
    }

    /// Sets class `class`'s count of waiting requests. SeqCst: a raise is
    /// seen by every claim and release that comes after it.
    /// The fence pairs with the releaser's SeqCst exchange and load: the
    /// raise and the manager's following read of a slot cannot be
    /// reordered (store buffering), on weak machines (AArch64) too.
    pub fn set_waiting(&self, class: u32, n: u64) {
        self.class_word(class, C_WAITING).store(n, SeqCst);
        fence(SeqCst);
    }

    /// Sets whether requests wait on a full server (see H_SERVER_WAITING);
    /// fenced as `set_waiting`.
    pub fn set_server_waiting(&self, n: u64) {
        self.w(H_SERVER_WAITING).store(n, SeqCst);
        fence(SeqCst);
    }

    pub fn server_waiting(&self) -> u64 {
        self.w(H_SERVER_WAITING).load(SeqCst)
    }

    /// Claims made from the table for class `class`.
    pub fn claims(&self, class: u32) -> u64 {
        self.class_word(class, C_CLAIMS).load(Relaxed)
    }

    pub fn waiting(&self, class: u32) -> u64 {
        self.class_word(class, C_WAITING).load(SeqCst)
    }

    /// Writes class `class`'s list of slots (the manager's own copy is
    /// the truth; children read this one as a hint).
    pub fn set_class_slots(&self, class: u32, slots: &[u32]) {
        for pair in slots.windows(2) {
            self.slot_word(pair[0], S_NEXT)
                .store(u64::from(pair[1]) + 1, Release);
        }
        if let Some(last) = slots.last() {
            self.slot_word(*last, S_NEXT).store(0, Release);
        }
        let head = slots.first().map_or(0, |s| u64::from(*s) + 1);
        self.class_word(class, C_HEAD).store(head, Release);
    }

    /// Slots claimed by `pid`.
    pub fn claimed_by(&self, pid: u32) -> Vec<u32> {
        (0..self.slots)
            .filter(|s| {
                let w = self.read(*s).word;
                w.state.claimed() && w.pid == pid
            })
            .collect()
    }

    /// How many slots children hold.
    pub fn claimed_count(&self) -> usize {
        (0..self.slots)
            .filter(|s| self.read(*s).word.state.claimed())
            .count()
    }
}
