//! The state machine with children claiming from the shared table: the
//! daemon's events plus claims and releases done straight on the table,
//! as a child does them, in a chosen order.

use super::policy::{ExitReason, GlobalLimits};
use super::state::{Action, Manager, ProcId, STOP_GRACE};
use super::table::{Claim, Released};
use super::wire::{ClassLimits, ClassSpec, Outcome};
use std::time::{Duration, Instant};

const CHILD: u32 = 5000;
const OTHER_CHILD: u32 = 5001;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn limits() -> ClassLimits {
    ClassLimits {
        max_processes: 10,
        min_processes: 0,
        idle_timeout: secs(100),
        lifetime: secs(10_000),
        busy_timeout: secs(50),
        max_requests: 0,
    }
}

fn spec(limits: ClassLimits) -> ClassSpec {
    ClassSpec {
        key: "class-a".into(),
        argv: vec![b"/srv/app.fcgi".to_vec()],
        cwd: b"/srv".to_vec(),
        env: vec![],
        limits,
        uid: 33,
        gid: 33,
    }
}

fn global() -> GlobalLimits {
    GlobalLimits {
        max_processes: 100,
        spawn_score: 1,
        termination_score: 2,
        time_score: 1,
        spawn_score_up_limit: 1_000_000,
    }
}

struct Rig {
    m: Manager,
    t0: Instant,
    spec: ClassSpec,
}

impl Rig {
    fn new(limits: ClassLimits) -> Rig {
        let m = Manager::new(global());
        Rig {
            t0: m.clock().base,
            m,
            spec: spec(limits),
        }
    }

    fn at(&self, t: Duration) -> Instant {
        self.t0 + t
    }

    fn ns(&self, t: Duration) -> u64 {
        self.m.clock().ns(self.at(t))
    }

    /// Spawns a process through `conn`, releases it: idle in the table.
    fn idle_process(&mut self, conn: u64, pid: i32, t: Duration) -> ProcId {
        let acts = self
            .m
            .acquire(conn, self.spec.clone(), secs(10), self.at(t));
        let Some(Action::Spawn { proc, .. }) = acts.first().cloned() else {
            panic!("expected a spawn: {acts:?}");
        };
        let acts = self
            .m
            .spawned(proc, Some((pid, b"/s".to_vec())), self.at(t));
        assert!(matches!(acts[..], [Action::Grant { .. }]), "{acts:?}");
        assert!(self
            .m
            .release(conn, proc, Outcome::Done, self.at(t))
            .is_empty());
        proc
    }

    /// A child claims from the table, as `client` does.
    fn claim(&self, pid: u32, t: Duration) -> Option<Claim> {
        let f = self.m.fast_ref("class-a").unwrap();
        self.m
            .table()
            .claim(f.class, f.stamp, pid, self.ns(t), 10, None)
            .ok()
    }

    fn release(&self, c: &Claim, t: Duration) -> Released {
        let f = self.m.fast_ref("class-a").unwrap();
        let max = self.spec.limits.max_requests;
        self.m
            .table()
            .release(c, f.class, max, Outcome::Done, false, self.ns(t))
    }

    fn view(&self) -> super::state::ClassView {
        self.m.view().into_iter().next().unwrap()
    }
}

fn grants(acts: &[Action]) -> Vec<(u64, ProcId)> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Grant { conn, proc, .. } => Some((*conn, *proc)),
            _ => None,
        })
        .collect()
}

fn sigterms(acts: &[Action]) -> Vec<i32> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Signal { pid, kill: false } => Some(*pid),
            _ => None,
        })
        .collect()
}

#[test]
fn a_claim_and_release_through_the_table_shows_on_the_status_and_counts() {
    let mut r = Rig::new(limits());
    let p = r.idle_process(1, 100, secs(0));
    let c = r.claim(CHILD, secs(1)).expect("idle in the table");
    assert_eq!(c.proc_id, p);
    let v = r.view();
    assert_eq!((v.busy, v.idle), (1, 0));
    assert_eq!(r.release(&c, secs(2)), Released::Idle);
    let v = r.view();
    assert_eq!((v.busy, v.idle, v.requests), (0, 1, 2));
    assert_eq!(v.pids, vec![(100, "idle", 2)]);
    let report = r.m.report(r.at(secs(3)), 1);
    assert_eq!(report.classes[0].requests, 2);
    // One grant (waited 0 s here) and one claim (waited for nobody).
    assert_eq!(report.classes[0].wait.count, 2);
    assert_eq!(report.classes[0].wait.buckets[0], 2);
    r.m.check_indexes();
}

#[test]
fn the_manager_never_lends_what_a_child_claimed() {
    let mut r = Rig::new(limits());
    let p = r.idle_process(1, 100, secs(0));
    let _c = r.claim(CHILD, secs(1)).unwrap();
    // A request at the manager: the only process is claimed, so it spawns.
    let acts = r.m.acquire(2, r.spec.clone(), secs(10), r.at(secs(2)));
    assert!(
        matches!(acts[..], [Action::Spawn { proc, .. }] if proc != p),
        "{acts:?}"
    );
    r.m.check_indexes();
}

#[test]
fn a_waiter_gets_the_process_a_child_hands_back_first_come_first_served() {
    let l = ClassLimits {
        max_processes: 1,
        ..limits()
    };
    let mut r = Rig::new(l);
    let p = r.idle_process(1, 100, secs(0));
    let c = r.claim(CHILD, secs(1)).unwrap();
    // Two requests wait at the manager (the class is at its limit).
    assert!(r
        .m
        .acquire(2, r.spec.clone(), secs(10), r.at(secs(2)))
        .is_empty());
    assert!(r
        .m
        .acquire(3, r.spec.clone(), secs(10), r.at(secs(3)))
        .is_empty());
    // Nobody claims past waiters.
    assert!(r.claim(OTHER_CHILD, secs(3)).is_none());
    // The releaser sees them and hands the process to the manager.
    assert_eq!(r.release(&c, secs(4)), Released::HandBack);
    let acts = r.m.hand_back(p, r.at(secs(4)));
    assert_eq!(grants(&acts), vec![(2, p)], "the first to wait gets it");
    let acts = r.m.release(2, p, Outcome::Done, r.at(secs(5)));
    assert_eq!(grants(&acts), vec![(3, p)]);
    assert_eq!(r.view().requests, 3);
    r.m.check_indexes();
}

#[test]
fn a_nudge_serves_a_waiter_that_came_while_the_process_went_idle() {
    let l = ClassLimits {
        max_processes: 1,
        ..limits()
    };
    let mut r = Rig::new(l);
    let p = r.idle_process(1, 100, secs(0));
    let c = r.claim(CHILD, secs(1)).unwrap();
    // The releaser made it Idle; the waiter's Acquire was read by the
    // manager before that and found nothing idle... then the nudge.
    assert!(r
        .m
        .acquire(2, r.spec.clone(), secs(10), r.at(secs(2)))
        .is_empty());
    // (In `release`, waiting > 0 is seen first; here the swap is forced
    // in the other order to replay the race.)
    let f = r.m.fast_ref("class-a").unwrap();
    r.m.table().set_waiting(f.class, 0);
    assert_eq!(r.release(&c, secs(3)), Released::Idle);
    r.m.table().set_waiting(f.class, 1);
    let acts = r.m.nudge(f.class, r.at(secs(3)));
    assert_eq!(grants(&acts), vec![(2, p)]);
}

#[test]
fn a_dead_childs_claims_are_stopped_and_not_held_against_the_app() {
    let mut r = Rig::new(limits());
    let p = r.idle_process(1, 100, secs(0));
    let a = r.claim(CHILD, secs(1)).unwrap();
    let q = r.idle_process(2, 101, secs(1));
    let b = r.claim(OTHER_CHILD, secs(1)).unwrap();
    assert_eq!((a.proc_id, b.proc_id), (p, q));
    let acts = r.m.claimant_died(CHILD, r.at(secs(2)));
    assert_eq!(sigterms(&acts).len(), 1);
    let v = r.view();
    assert_eq!(v.busy, 1, "the other child's claim stands");
    let (_, _) = r.m.exited(sigterms(&acts)[0], r.at(secs(3)));
    let v = r.view();
    assert_eq!(v.exits, vec![(ExitReason::ClientAbort.name(), 1)]);
    assert_eq!(r.release(&b, secs(4)), Released::Idle);
    r.m.check_indexes();
}

#[test]
fn a_claim_past_the_busy_timeout_is_taken_back_when_its_lazy_timer_fires() {
    let mut r = Rig::new(limits());
    r.idle_process(1, 100, secs(0));
    let c = r.claim(CHILD, secs(10)).unwrap();
    // The manager saw it idle at 0: it looks again at 0 + busy timeout,
    // finds it claimed since 10, and re-arms for 60.
    assert_eq!(r.m.next_timer(), Some(r.at(secs(50))));
    assert!(r.m.tick(r.at(secs(50))).is_empty());
    assert_eq!(r.m.next_timer(), Some(r.at(secs(60))));
    let acts = r.m.tick(r.at(secs(60)));
    assert_eq!(sigterms(&acts), vec![100]);
    assert_eq!(r.release(&c, secs(61)), Released::Gone);
    assert!(r
        .m
        .tick(r.at(secs(60) + STOP_GRACE))
        .contains(&Action::Signal {
            pid: 100,
            kill: true
        }));
    r.m.check_indexes();
}

#[test]
fn the_idle_timer_counts_from_the_last_release_through_the_table() {
    let mut r = Rig::new(limits());
    r.idle_process(1, 100, secs(0));
    let c = r.claim(CHILD, secs(10)).unwrap();
    assert_eq!(r.release(&c, secs(20)), Released::Idle);
    // Due at 50 (the busy look) finds it idle since 20: idle timeout at 120.
    assert!(r.m.tick(r.at(secs(50))).is_empty());
    assert!(r.m.tick(r.at(secs(100))).is_empty(), "not idle 100 s yet");
    let acts = r.m.tick(r.at(secs(120)));
    assert_eq!(sigterms(&acts), vec![100]);
    r.m.check_indexes();
}

#[test]
fn a_new_generation_retires_a_claimed_process_when_it_comes_back() {
    let mut r = Rig::new(limits());
    let p = r.idle_process(1, 100, secs(0));
    let old = r.m.fast_ref("class-a").unwrap();
    let c = r.claim(CHILD, secs(1)).unwrap();
    let mut changed = r.spec.clone();
    changed.env.push((b"X".to_vec(), b"1".to_vec()));
    let acts = r.m.acquire(2, changed, secs(10), r.at(secs(2)));
    assert!(matches!(acts[..], [Action::Spawn { .. }]), "{acts:?}");
    assert_ne!(r.m.fast_ref("class-a").unwrap().stamp, old.stamp);
    // Flagged: its claimant hands it back, and it is stopped.
    assert_eq!(r.release(&c, secs(3)), Released::HandBack);
    let acts = r.m.hand_back(p, r.at(secs(3)));
    assert_eq!(sigterms(&acts), vec![100]);
    // Taken once: a second word changes nothing.
    assert!(r.m.hand_back(p, r.at(secs(3))).is_empty());
    r.m.check_indexes();
}

#[test]
fn max_requests_retire_a_process_handed_back_by_a_child() {
    let l = ClassLimits {
        max_requests: 2,
        ..limits()
    };
    let mut r = Rig::new(l);
    let p = r.idle_process(1, 100, secs(0));
    let c = r.claim(CHILD, secs(1)).unwrap();
    assert_eq!(r.release(&c, secs(2)), Released::HandBack);
    let acts = r.m.hand_back(p, r.at(secs(2)));
    assert_eq!(sigterms(&acts), vec![100]);
    r.m.exited(100, r.at(secs(3)));
    assert_eq!(r.view().exits, vec![(ExitReason::MaxRequests.name(), 1)]);
    assert_eq!(r.view().requests, 2);
}

#[test]
fn a_process_that_exits_while_claimed_frees_its_slot() {
    let mut r = Rig::new(limits());
    r.idle_process(1, 100, secs(0));
    let c = r.claim(CHILD, secs(1)).unwrap();
    r.m.exited(100, r.at(secs(2)));
    assert_eq!(r.release(&c, secs(3)), Released::Gone);
    assert_eq!(r.m.claimed_count(), 0);
    assert!(r.claim(CHILD, secs(4)).is_none());
    r.m.check_indexes();
}

#[test]
fn a_claim_seen_before_its_time_is_written_is_not_timed_from_the_last_release() {
    let l = ClassLimits {
        idle_timeout: secs(1000),
        ..limits()
    };
    let mut r = Rig::new(l);
    r.idle_process(1, 100, secs(0));
    // Idle since 0, far longer than the busy timeout (50) by 400, when a
    // child claims it; the manager looks in the window between the
    // compare-exchange and the claim's time.
    let c = r.claim(CHILD, secs(400)).unwrap();
    r.m.table().unwrite_claim_time(c.slot, r.ns(secs(0)));
    let acts = r.m.acquire(2, r.spec.clone(), secs(10), r.at(secs(400)));
    assert!(sigterms(&acts).is_empty(), "{acts:?}");
    let acts = r.m.tick(r.at(secs(401)));
    assert!(
        sigterms(&acts).is_empty(),
        "stopped at its request's start: {acts:?}"
    );
    assert_ne!(r.release(&c, secs(402)), Released::Gone);
    r.m.check_indexes();
}

#[test]
fn a_lost_hand_back_is_found_by_the_next_tick() {
    let l = ClassLimits {
        max_processes: 1,
        ..limits()
    };
    let mut r = Rig::new(l);
    let p = r.idle_process(1, 100, secs(0));
    let c = r.claim(CHILD, secs(1)).unwrap();
    assert!(r
        .m
        .acquire(2, r.spec.clone(), secs(10), r.at(secs(2)))
        .is_empty());
    // The child hands it back in the table; its message never arrives.
    assert_eq!(r.release(&c, secs(3)), Released::HandBack);
    let acts = r.m.tick(r.at(secs(3)));
    assert_eq!(grants(&acts), vec![(2, p)]);
    // A late message changes nothing.
    assert!(r.m.hand_back(p, r.at(secs(4))).is_empty());
    assert_eq!(r.view().requests, 1 + 1);
    r.m.check_indexes();
}

#[test]
fn a_lost_nudge_is_found_by_the_next_tick() {
    let l = ClassLimits {
        max_processes: 1,
        ..limits()
    };
    let mut r = Rig::new(l);
    let p = r.idle_process(1, 100, secs(0));
    let c = r.claim(CHILD, secs(1)).unwrap();
    assert!(r
        .m
        .acquire(2, r.spec.clone(), secs(10), r.at(secs(2)))
        .is_empty());
    // As in the nudge test, but the nudge is lost.
    let f = r.m.fast_ref("class-a").unwrap();
    r.m.table().set_waiting(f.class, 0);
    assert_eq!(r.release(&c, secs(3)), Released::Idle);
    r.m.table().set_waiting(f.class, 1);
    let acts = r.m.tick(r.at(secs(3)));
    assert_eq!(grants(&acts), vec![(2, p)]);
    r.m.check_indexes();
}

#[test]
fn a_process_returned_broken_without_a_word_is_stopped_at_its_class_timer() {
    let mut r = Rig::new(limits());
    r.idle_process(1, 100, secs(0));
    let c = r.claim(CHILD, secs(1)).unwrap();
    let f = r.m.fast_ref("class-a").unwrap();
    let released =
        r.m.table()
            .release(&c, f.class, 0, Outcome::Broken, false, r.ns(secs(2)));
    assert_eq!(released, Released::HandBack);
    // Nobody waits; the class's next look (the busy timeout's) judges it.
    let due = r.m.next_timer().unwrap();
    let acts = r.m.tick(due);
    assert_eq!(sigterms(&acts), vec![100]);
    r.m.check_indexes();
}

#[test]
fn a_process_of_an_old_generation_is_never_published() {
    let mut r = Rig::new(limits());
    let acts = r.m.acquire(1, r.spec.clone(), secs(10), r.at(secs(0)));
    let Some(Action::Spawn { proc, .. }) = acts.first().cloned() else {
        panic!("expected a spawn: {acts:?}");
    };
    let old = r.m.fast_ref("class-a").unwrap();
    // The configuration changes while it starts.
    let mut changed = r.spec.clone();
    changed.env.push((b"X".to_vec(), b"1".to_vec()));
    r.m.acquire(2, changed, secs(10), r.at(secs(1)));
    let acts =
        r.m.spawned(proc, Some((100, b"/s".to_vec())), r.at(secs(2)));
    assert_eq!(sigterms(&acts), vec![100]);
    // Never Idle in the table, not even between: no claim of its stamp.
    let t = r.m.table();
    assert!(t
        .claim(old.class, old.stamp, CHILD, r.ns(secs(2)), 10, None)
        .is_err());
    let idle = (0..t.slots())
        .filter(|s| t.read(*s).word.state == super::table::SlotState::Idle)
        .count();
    assert_eq!(idle, 0);
    r.m.check_indexes();
}

#[test]
fn the_warmest_process_is_the_one_that_served_last_through_the_table() {
    let mut r = Rig::new(limits());
    let mut procs = Vec::new();
    for conn in [1, 2] {
        let acts = r.m.acquire(conn, r.spec.clone(), secs(10), r.at(secs(0)));
        let Some(Action::Spawn { proc, .. }) = acts.first().cloned() else {
            panic!("expected a spawn: {acts:?}");
        };
        procs.push(proc);
    }
    for (i, p) in procs.iter().enumerate() {
        r.m.spawned(*p, Some((100 + i as i32, b"/s".to_vec())), r.at(secs(0)));
    }
    // Granted in order; released at 1 and 2: the manager thinks the
    // second is the warmest.
    r.m.release(1, procs[0], Outcome::Done, r.at(secs(1)));
    r.m.release(2, procs[1], Outcome::Done, r.at(secs(2)));
    // Two children then use both; the one they release last, at 10,
    // is the warmest now, unseen by the manager.
    let mut claims = [
        r.claim(CHILD, secs(3)).unwrap(),
        r.claim(OTHER_CHILD, secs(3)).unwrap(),
    ];
    claims.sort_by_key(|c| c.proc_id != procs[0]);
    assert_eq!(claims[0].proc_id, procs[0]);
    assert_eq!(r.release(&claims[1], secs(4)), Released::Idle);
    assert_eq!(r.release(&claims[0], secs(10)), Released::Idle);
    let acts = r.m.acquire(3, r.spec.clone(), secs(10), r.at(secs(11)));
    assert_eq!(grants(&acts), vec![(3, procs[0])], "the one released at 10");
    r.m.check_indexes();
}

#[test]
fn a_table_too_small_is_said_once_each_for_entries_and_slots() {
    let clock = super::table::Clock {
        base: Instant::now(),
        base_ns: 1,
    };
    let table = super::table::Table::in_memory(1, 1);
    let mut m = Manager::with_table(global(), table, clock);
    let warns = |acts: &[Action]| {
        acts.iter()
            .filter(|a| matches!(a, Action::Warn { .. }))
            .count()
    };
    let t0 = clock.base;
    let a = spec(limits());
    // Two processes of the one class with an entry: the second has no slot.
    assert_eq!(warns(&m.acquire(1, a.clone(), secs(10), t0)), 0);
    assert_eq!(warns(&m.acquire(2, a.clone(), secs(10), t0)), 1);
    assert_eq!(warns(&m.acquire(3, a.clone(), secs(10), t0)), 0);
    // Classes beyond the entries.
    let other = |k: &str| ClassSpec {
        key: k.into(),
        ..spec(limits())
    };
    assert_eq!(warns(&m.acquire(4, other("b"), secs(10), t0)), 1);
    assert_eq!(warns(&m.acquire(5, other("c"), secs(10), t0)), 0);
}

/// Two processes idle in the table; CHILD holds one of them (it kept its
/// connection), the other is idle for anyone.
fn one_held(r: &mut Rig) -> (ProcId, u32) {
    let mut procs = Vec::new();
    for (conn, pid) in [(1, 100), (2, 101)] {
        let acts = r.m.acquire(conn, r.spec.clone(), secs(10), r.at(secs(0)));
        let Some(Action::Spawn { proc, .. }) = acts.first().cloned() else {
            panic!("expected a spawn: {acts:?}");
        };
        r.m.spawned(proc, Some((pid, b"/s".to_vec())), r.at(secs(0)));
        procs.push((conn, proc));
    }
    for (conn, proc) in procs {
        r.m.release(conn, proc, Outcome::Done, r.at(secs(0)));
    }
    let f = r.m.fast_ref("class-a").unwrap();
    let a = r.claim(CHILD, secs(1)).unwrap();
    let b = r.claim(OTHER_CHILD, secs(1)).unwrap();
    assert_eq!(r.release(&b, secs(1)), Released::Idle);
    let t = r.m.table();
    let held = t.release(&a, f.class, 0, Outcome::Done, true, r.ns(secs(2)));
    assert_eq!(held, Released::Held);
    (a.proc_id, a.slot)
}

#[test]
fn lending_a_held_process_breaks_its_holders_connection() {
    let mut r = Rig::new(limits());
    let (held, slot) = one_held(&mut r);
    // Everyone else takes the unheld one; a request at the manager gets
    // the held one, and its holder's connection is to be ended first.
    let other = r.claim(OTHER_CHILD, secs(3)).unwrap();
    assert_ne!(other.proc_id, held);
    let acts = r.m.acquire(9, r.spec.clone(), secs(10), r.at(secs(3)));
    let drop_at = acts.iter().position(|a| {
        *a == Action::DropHold {
            slot,
            holder: CHILD,
            proc: Some(held),
        }
    });
    let grant_at = acts
        .iter()
        .position(|a| matches!(a, Action::Grant { conn: 9, .. }));
    assert!(
        drop_at.is_some() && drop_at < grant_at,
        "the hold is broken before the grant: {acts:?}"
    );
}

#[test]
fn a_dead_holders_holds_are_let_go_and_its_connections_ended() {
    let mut r = Rig::new(limits());
    let (held, slot) = one_held(&mut r);
    let acts = r.m.claimant_died(CHILD, r.at(secs(3)));
    assert_eq!(
        acts,
        vec![Action::DropHold {
            slot,
            holder: CHILD,
            proc: None
        }]
    );
    // Not stopped: idle, and claimable by anyone now.
    let v = r.view();
    assert_eq!((v.busy, v.idle), (0, 2));
    let mut got = Vec::new();
    while let Some(c) = r.claim(OTHER_CHILD, secs(4)) {
        got.push(c.proc_id);
    }
    assert!(got.contains(&held), "{got:?}");
}

#[test]
fn stopping_a_held_process_breaks_its_holders_connection() {
    let mut r = Rig::new(limits());
    let (_, slot) = one_held(&mut r);
    // Past FcgidIdleTimeout (100 s): both are stopped.
    let acts = r.m.tick(r.at(secs(1000)));
    assert!(
        acts.iter().any(|a| matches!(
            a,
            Action::DropHold { slot: s, holder: CHILD, .. } if *s == slot
        )),
        "{acts:?}"
    );
}
