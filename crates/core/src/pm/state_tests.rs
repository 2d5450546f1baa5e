//! Replays of the manager's state machine.
//!
//! Every test drives `Manager` the way the daemon does: `acquire` may ask for
//! a `Spawn`, the test answers with `spawned`, the manager answers with
//! `Grant`s; requests `release` their process or their connection closes;
//! the daemon reaps with `exited` and calls `tick` on its timer. Time is
//! synthetic: a base `Instant` plus durations.

use super::policy::GlobalLimits;
use super::refuse_kind::RefuseKind;
use super::state::{Action, ClassView, ConnId, Manager, ProcId, FAILING_AFTER, STOP_GRACE};
use super::wire::{ClassLimits, ClassSpec, Message, Outcome};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------- helpers

const WAIT: Duration = Duration::from_secs(10);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

/// Limits that never interfere unless a test lowers them.
fn roomy() -> ClassLimits {
    ClassLimits {
        max_processes: 100,
        min_processes: 0,
        idle_timeout: secs(1_000_000),
        lifetime: secs(1_000_000),
        busy_timeout: secs(1_000_000),
        max_requests: 0,
    }
}

/// A spawn score that never holds a spawn back unless a test lowers it.
fn no_throttle() -> GlobalLimits {
    GlobalLimits {
        max_processes: 1000,
        spawn_score: 1,
        termination_score: 2,
        time_score: 1,
        spawn_score_up_limit: 1_000_000,
    }
}

fn spec_named(key: &str, cmd: &str, limits: ClassLimits) -> ClassSpec {
    ClassSpec {
        key: key.into(),
        argv: vec![cmd.as_bytes().to_vec(), b"--flag".to_vec()],
        cwd: b"/srv".to_vec(),
        env: vec![(b"PATH".to_vec(), b"/usr/bin".to_vec())],
        limits,
        uid: 33,
        gid: 33,
    }
}

fn spec(limits: ClassLimits) -> ClassSpec {
    spec_named("class-a", "/srv/app.fcgi", limits)
}

fn sock(pid: i32) -> Vec<u8> {
    format!("/run/fcgid/{pid}.sock").into_bytes()
}

fn spawns(acts: &[Action]) -> Vec<ProcId> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Spawn { proc, .. } => Some(*proc),
            _ => None,
        })
        .collect()
}

fn grants(acts: &[Action]) -> Vec<(ConnId, ProcId)> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Grant { conn, proc, .. } => Some((*conn, *proc)),
            _ => None,
        })
        .collect()
}

fn refusals(acts: &[Action]) -> Vec<(ConnId, String)> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Refuse { conn, reason, .. } => Some((*conn, reason.clone())),
            _ => None,
        })
        .collect()
}

fn sigterms(acts: &[Action]) -> Vec<i32> {
    signals(acts, false)
}

fn sigkills(acts: &[Action]) -> Vec<i32> {
    signals(acts, true)
}

fn signals(acts: &[Action], want_kill: bool) -> Vec<i32> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Signal { pid, kill } if *kill == want_kill => Some(*pid),
            _ => None,
        })
        .collect()
}

fn only_spawn(acts: &[Action]) -> ProcId {
    // A warning (a table too small, said once) is no action on a process.
    let n = acts
        .iter()
        .filter(|a| !matches!(a, Action::Warn { .. }))
        .count();
    assert_eq!(n, 1, "expected exactly one Spawn, got {acts:?}");
    spawns(acts)[0]
}

fn class_view(m: &Manager, key: &str) -> ClassView {
    m.view()
        .into_iter()
        .find(|c| c.key == key)
        .unwrap_or_else(|| panic!("no class {key}"))
}

fn exits(v: &ClassView) -> BTreeMap<&'static str, u64> {
    v.exits.iter().copied().collect()
}

/// A manager plus the test clock, with the daemon's round trips wrapped.
struct Rig {
    m: Manager,
    t0: Instant,
}

impl Rig {
    fn new(global: GlobalLimits) -> Self {
        Rig {
            m: Manager::new(global),
            t0: Instant::now(),
        }
    }

    fn at(&self, d: Duration) -> Instant {
        self.t0 + d
    }

    fn acquire(&mut self, conn: ConnId, spec: &ClassSpec, t: Duration) -> Vec<Action> {
        let now = self.at(t);
        self.m.acquire(conn, spec.clone(), WAIT, now)
    }

    fn acquire_wait(
        &mut self,
        conn: ConnId,
        spec: &ClassSpec,
        wait: Duration,
        t: Duration,
    ) -> Vec<Action> {
        let now = self.at(t);
        self.m.acquire(conn, spec.clone(), wait, now)
    }

    fn spawned(&mut self, proc: ProcId, pid: i32, t: Duration) -> Vec<Action> {
        let now = self.at(t);
        self.m.spawned(proc, Some((pid, sock(pid))), now)
    }

    fn spawn_failed(&mut self, proc: ProcId, t: Duration) -> Vec<Action> {
        let now = self.at(t);
        self.m.spawned(proc, None, now)
    }

    fn release(&mut self, conn: ConnId, proc: ProcId, t: Duration) -> Vec<Action> {
        let now = self.at(t);
        self.m.release(conn, proc, Outcome::Done, now)
    }

    fn release_broken(&mut self, conn: ConnId, proc: ProcId, t: Duration) -> Vec<Action> {
        let now = self.at(t);
        self.m.release(conn, proc, Outcome::Broken, now)
    }

    fn closed(&mut self, conn: ConnId, t: Duration) -> Vec<Action> {
        let now = self.at(t);
        self.m.conn_closed(conn, now)
    }

    fn exited(&mut self, pid: i32, t: Duration) -> (Option<Vec<u8>>, Vec<Action>) {
        let now = self.at(t);
        self.m.exited(pid, now)
    }

    fn tick(&mut self, t: Duration) -> Vec<Action> {
        let now = self.at(t);
        self.m.tick(now)
    }

    fn shutdown(&mut self, t: Duration) -> Vec<Action> {
        let now = self.at(t);
        self.m.shutdown(now)
    }

    /// `conn` asks for a process; none is idle, so one is spawned (as `pid`)
    /// and lent to it. Returns the process id.
    fn lend_new(&mut self, conn: ConnId, spec: &ClassSpec, pid: i32, t: Duration) -> ProcId {
        let proc = only_spawn(&self.acquire(conn, spec, t));
        let acts = self.spawned(proc, pid, t);
        assert_eq!(
            acts,
            vec![Action::Grant {
                conn,
                proc,
                socket: sock(pid)
            }]
        );
        proc
    }
}

// ------------------------------------------------ getting a process at once

#[test]
fn first_request_spawns_at_once_and_gets_the_new_process() {
    let mut r = Rig::new(no_throttle());
    let s = spec(roomy());
    let acts = r.acquire(1, &s, secs(0));
    assert_eq!(acts.len(), 1, "{acts:?}");
    let Action::Spawn { proc, spec: asked } = &acts[0] else {
        panic!("expected a Spawn, got {acts:?}");
    };
    assert_eq!(asked, &s, "the spawn carries the class's spec");
    let proc = *proc;
    assert_eq!(class_view(&r.m, "class-a").waiting, 1);
    let acts = r.spawned(proc, 100, ms(30));
    assert_eq!(
        acts,
        vec![Action::Grant {
            conn: 1,
            proc,
            socket: sock(100)
        }]
    );
    let v = class_view(&r.m, "class-a");
    assert_eq!((v.processes, v.busy, v.idle, v.waiting), (1, 1, 0, 0));
}

#[test]
fn idle_process_is_lent_at_once_without_a_spawn() {
    let mut r = Rig::new(no_throttle());
    let s = spec(roomy());
    let p = r.lend_new(1, &s, 100, secs(0));
    assert!(r.release(1, p, secs(1)).is_empty());
    let acts = r.acquire(2, &s, secs(2));
    assert_eq!(
        acts,
        vec![Action::Grant {
            conn: 2,
            proc: p,
            socket: sock(100)
        }],
        "the idle process is lent, nothing is spawned"
    );
    assert_eq!(class_view(&r.m, "class-a").spawns, 1);
}

#[test]
fn busy_pool_spawns_at_once_for_a_new_request() {
    let mut r = Rig::new(no_throttle());
    let s = spec(roomy());
    let p1 = r.lend_new(1, &s, 100, secs(0));
    let acts = r.acquire(2, &s, secs(1));
    let p2 = only_spawn(&acts);
    assert_ne!(p1, p2);
    assert_eq!(grants(&r.spawned(p2, 200, secs(1))), vec![(2, p2)]);
}

#[test]
fn one_spawn_per_waiter_and_no_more() {
    let mut r = Rig::new(no_throttle());
    let s = spec(roomy());
    let a = only_spawn(&r.acquire(1, &s, secs(0)));
    let b = only_spawn(&r.acquire(2, &s, secs(0)));
    let c = only_spawn(&r.acquire(3, &s, secs(0)));
    assert_eq!(BTreeSet::from([a, b, c]).len(), 3);
    // The second spawn finishes first: it goes to the first waiter.
    assert_eq!(grants(&r.spawned(b, 20, ms(10))), vec![(1, b)]);
    assert_eq!(grants(&r.spawned(c, 30, ms(20))), vec![(2, c)]);
    assert_eq!(grants(&r.spawned(a, 10, ms(30))), vec![(3, a)]);
    // Nobody waits any more, so a tick spawns nothing.
    assert!(r.tick(secs(1)).is_empty());
    assert_eq!(class_view(&r.m, "class-a").spawns, 3);
}

#[test]
fn a_spawn_that_finishes_with_nobody_waiting_stays_idle() {
    let mut r = Rig::new(no_throttle());
    let s = spec(roomy());
    let p = only_spawn(&r.acquire(1, &s, secs(0)));
    assert!(r.closed(1, ms(5)).is_empty());
    assert!(r.spawned(p, 10, ms(10)).is_empty());
    let v = class_view(&r.m, "class-a");
    assert_eq!((v.processes, v.idle, v.waiting), (1, 1, 0));
    assert_eq!(grants(&r.acquire(2, &s, ms(20))), vec![(2, p)]);
}

#[test]
fn most_recently_released_idle_process_is_lent_first() {
    let mut r = Rig::new(no_throttle());
    let s = spec(roomy());
    let p1 = r.lend_new(1, &s, 10, secs(0));
    let p2 = r.lend_new(2, &s, 20, secs(0));
    r.release(2, p2, secs(1));
    r.release(1, p1, secs(2));
    assert_eq!(grants(&r.acquire(3, &s, secs(3))), vec![(3, p1)]);
}

#[test]
fn classes_have_separate_pools() {
    let mut r = Rig::new(no_throttle());
    let a = spec_named("a", "/srv/a", roomy());
    let b = spec_named("b", "/srv/b", roomy());
    let pa = r.lend_new(1, &a, 10, secs(0));
    r.release(1, pa, secs(1));
    // class b has an idle process of class a around, but must spawn its own
    let acts = r.acquire(2, &b, secs(2));
    let Action::Spawn { spec: asked, .. } = &acts[0] else {
        panic!("{acts:?}")
    };
    assert_eq!(asked.key, "b");
    assert_eq!(acts.len(), 1);
}

// ------------------------------------------------------------------ limits

#[test]
fn class_never_exceeds_max_processes_per_class() {
    let mut r = Rig::new(no_throttle());
    let s = spec(ClassLimits {
        max_processes: 2,
        ..roomy()
    });
    let mut spawned = Vec::new();
    for conn in 1..=6 {
        spawned.extend(spawns(&r.acquire(conn, &s, secs(0))));
    }
    assert_eq!(spawned.len(), 2, "only two spawns for six requests");
    for (i, p) in spawned.iter().enumerate() {
        r.spawned(*p, 10 + i as i32, ms(10));
    }
    for t in 1..5 {
        assert!(spawns(&r.tick(secs(t))).is_empty());
    }
    let v = class_view(&r.m, "class-a");
    assert_eq!((v.processes, v.busy, v.waiting), (2, 2, 4));
}

#[test]
fn stopping_processes_still_count_against_the_class_limit() {
    let mut r = Rig::new(no_throttle());
    let s = spec(ClassLimits {
        max_processes: 1,
        ..roomy()
    });
    let p = r.lend_new(1, &s, 10, secs(0));
    assert_eq!(sigterms(&r.release_broken(1, p, secs(1))), vec![10]);
    // Process 10 has not exited yet: no room for another.
    assert!(r.acquire(2, &s, secs(2)).is_empty());
    assert!(r.tick(secs(3)).is_empty());
    let (socket, acts) = r.exited(10, secs(3));
    assert_eq!(socket, Some(sock(10)));
    let p2 = only_spawn(&acts);
    assert_eq!(grants(&r.spawned(p2, 11, secs(3))), vec![(2, p2)]);
}

#[test]
fn server_never_exceeds_max_processes_across_classes() {
    let mut r = Rig::new(GlobalLimits {
        max_processes: 3,
        ..no_throttle()
    });
    let a = spec_named(
        "a",
        "/srv/a",
        ClassLimits {
            max_processes: 2,
            ..roomy()
        },
    );
    let b = spec_named(
        "b",
        "/srv/b",
        ClassLimits {
            max_processes: 2,
            ..roomy()
        },
    );
    let mut n = 0;
    for conn in 1..=3 {
        n += spawns(&r.acquire(conn, &a, secs(0))).len();
        n += spawns(&r.acquire(100 + conn, &b, secs(0))).len();
    }
    assert_eq!(n, 3);
    assert_eq!(r.m.process_count(), 3);
    let va = class_view(&r.m, "a");
    let vb = class_view(&r.m, "b");
    assert_eq!(va.processes + vb.processes, 3);
    assert!(va.processes <= 2 && vb.processes <= 2);
}

#[test]
fn server_limit_frees_up_for_another_class_when_a_process_exits() {
    let mut r = Rig::new(GlobalLimits {
        max_processes: 1,
        ..no_throttle()
    });
    let a = spec_named("a", "/srv/a", roomy());
    let b = spec_named("b", "/srv/b", roomy());
    let pa = r.lend_new(1, &a, 10, secs(0));
    assert!(r.acquire(2, &b, secs(1)).is_empty(), "server is full");
    assert!(r.tick(secs(2)).is_empty());
    r.release_broken(1, pa, secs(3));
    let (_, acts) = r.exited(10, secs(4));
    let pb = only_spawn(&acts);
    assert_eq!(grants(&r.spawned(pb, 20, secs(4))), vec![(2, pb)]);
}

// --------------------------------------------------------- first come, first served

#[test]
fn waiters_are_served_in_arrival_order_on_release_without_tick() {
    let mut r = Rig::new(no_throttle());
    let s = spec(ClassLimits {
        max_processes: 1,
        ..roomy()
    });
    let p = r.lend_new(1, &s, 10, secs(0));
    for (i, conn) in [7, 3, 5].into_iter().enumerate() {
        assert!(r.acquire(conn, &s, ms(100 + i as u64)).is_empty());
    }
    assert_eq!(class_view(&r.m, "class-a").waiting, 3);
    let mut holder = 1;
    for (i, next) in [7, 3, 5].into_iter().enumerate() {
        let acts = r.release(holder, p, secs(1 + i as u64));
        assert_eq!(
            acts,
            vec![Action::Grant {
                conn: next,
                proc: p,
                socket: sock(10)
            }],
            "release #{i} goes straight to the oldest waiter"
        );
        holder = next;
    }
    assert!(r.release(holder, p, secs(9)).is_empty());
    let v = class_view(&r.m, "class-a");
    assert_eq!((v.idle, v.waiting, v.requests), (1, 0, 4));
}

#[test]
fn a_fresh_spawn_goes_to_the_oldest_waiter() {
    let mut r = Rig::new(no_throttle());
    let s = spec(ClassLimits {
        max_processes: 2,
        ..roomy()
    });
    let p1 = r.lend_new(1, &s, 10, secs(0));
    let p2 = only_spawn(&r.acquire(2, &s, secs(1)));
    assert!(r.acquire(3, &s, secs(2)).is_empty(), "class is full");
    // p1 comes back before p2 has started: conn 2 (oldest) gets p1 ...
    assert_eq!(grants(&r.release(1, p1, secs(3))), vec![(2, p1)]);
    // ... and the new process goes to conn 3.
    assert_eq!(grants(&r.spawned(p2, 20, secs(4))), vec![(3, p2)]);
}

// ------------------------------------------------------------ refused waits

#[test]
fn waiter_is_refused_at_its_deadline_naming_command_and_class_limit() {
    let mut r = Rig::new(no_throttle());
    let s = spec_named(
        "class-a",
        "/srv/www/slow.fcgi",
        ClassLimits {
            max_processes: 1,
            ..roomy()
        },
    );
    r.lend_new(1, &s, 10, secs(0));
    assert!(r.acquire_wait(2, &s, secs(5), secs(1)).is_empty());
    assert!(refusals(&r.tick(ms(5999))).is_empty(), "not yet");
    assert_eq!(r.m.next_deadline(), Some(r.at(secs(6))));
    let acts = r.tick(secs(6));
    let refused = refusals(&acts);
    assert_eq!(refused.len(), 1, "{acts:?}");
    let (conn, reason) = &refused[0];
    assert_eq!(*conn, 2);
    assert!(reason.contains("/srv/www/slow.fcgi"), "{reason}");
    assert!(reason.contains("FcgidMaxProcessesPerClass 1"), "{reason}");
    assert_eq!(class_view(&r.m, "class-a").waiting, 0);
    assert_eq!(r.m.next_deadline(), None);
    assert!(refusals(&r.tick(secs(7))).is_empty(), "refused once only");
}

#[test]
fn refusal_names_the_server_limit_when_that_held() {
    let mut r = Rig::new(GlobalLimits {
        max_processes: 1,
        ..no_throttle()
    });
    let a = spec_named("a", "/srv/a", roomy());
    let b = spec_named("b", "/srv/b", roomy());
    r.lend_new(1, &a, 10, secs(0));
    r.acquire_wait(2, &b, secs(2), secs(0));
    let refused = refusals(&r.tick(secs(2)));
    assert_eq!(refused.len(), 1);
    assert!(refused[0].1.contains("/srv/b"), "{}", refused[0].1);
    assert!(
        refused[0].1.contains("FcgidMaxProcesses 1"),
        "{}",
        refused[0].1
    );
}

#[test]
fn refusal_names_the_spawn_score_when_that_held() {
    let mut r = Rig::new(GlobalLimits {
        spawn_score_up_limit: 1,
        time_score: 0,
        ..no_throttle()
    });
    let s = spec(roomy());
    r.lend_new(1, &s, 10, secs(0));
    assert!(r.acquire_wait(2, &s, secs(3), secs(0)).is_empty());
    let refused = refusals(&r.tick(secs(3)));
    assert_eq!(refused.len(), 1);
    assert!(
        refused[0].1.contains("FcgidSpawnScoreUpLimit 1"),
        "{}",
        refused[0].1
    );
}

#[test]
fn only_expired_waiters_are_refused_and_the_rest_keep_their_place() {
    let mut r = Rig::new(no_throttle());
    let s = spec(ClassLimits {
        max_processes: 1,
        ..roomy()
    });
    let p = r.lend_new(1, &s, 10, secs(0));
    r.acquire_wait(2, &s, secs(5), secs(0));
    r.acquire_wait(3, &s, secs(5), secs(2));
    let acts = r.tick(secs(5));
    assert_eq!(
        refusals(&acts).iter().map(|x| x.0).collect::<Vec<_>>(),
        vec![2]
    );
    assert_eq!(grants(&r.release(1, p, secs(6))), vec![(3, p)]);
}

#[test]
fn each_waiter_is_refused_at_its_own_deadline_even_behind_a_longer_wait() {
    let mut r = Rig::new(no_throttle());
    let s = spec(ClassLimits {
        max_processes: 1,
        ..roomy()
    });
    r.lend_new(1, &s, 10, secs(0));
    r.acquire_wait(2, &s, secs(60), secs(0));
    r.acquire_wait(3, &s, secs(2), secs(1));
    assert_eq!(r.m.next_deadline(), Some(r.at(secs(3))));
    let acts = r.tick(secs(3));
    assert_eq!(
        refusals(&acts).iter().map(|x| x.0).collect::<Vec<_>>(),
        vec![3],
        "conn 3's wait is over although conn 2 waits longer"
    );
    assert_eq!(class_view(&r.m, "class-a").waiting, 1);
    assert_eq!(r.m.next_deadline(), Some(r.at(secs(60))));
}

// ------------------------------------------------------------ conn_closed

#[test]
fn closed_waiting_conn_leaves_the_queue() {
    let mut r = Rig::new(no_throttle());
    let s = spec(ClassLimits {
        max_processes: 1,
        ..roomy()
    });
    let p = r.lend_new(1, &s, 10, secs(0));
    r.acquire(2, &s, secs(1));
    r.acquire(3, &s, secs(2));
    assert!(
        r.closed(2, secs(3)).is_empty(),
        "a waiter leaving costs nothing"
    );
    assert_eq!(class_view(&r.m, "class-a").waiting, 1);
    assert_eq!(grants(&r.release(1, p, secs(4))), vec![(3, p)]);
    // conn 2 is never refused later either
    assert!(refusals(&r.tick(secs(100))).is_empty());
}

#[test]
fn closed_conn_holding_a_process_stops_it_and_kills_after_grace() {
    let mut r = Rig::new(no_throttle());
    let s = spec(ClassLimits {
        max_processes: 1,
        ..roomy()
    });
    let p = r.lend_new(1, &s, 10, secs(0));
    assert!(r.acquire(2, &s, secs(1)).is_empty());
    let acts = r.closed(1, secs(2));
    assert_eq!(
        acts,
        vec![Action::Signal {
            pid: 10,
            kill: false
        }]
    );
    // Not lent again, neither to the waiter nor to a newcomer.
    assert!(r.acquire(3, &s, secs(2)).is_empty());
    assert!(
        r.release(1, p, secs(2)).is_empty(),
        "a late release changes nothing"
    );
    let v = class_view(&r.m, "class-a");
    assert_eq!((v.processes, v.busy, v.idle, v.waiting), (1, 0, 0, 2));
    // SIGKILL once the grace is over, and only once.
    let before = secs(2) + STOP_GRACE - ms(1);
    assert!(sigkills(&r.tick(before)).is_empty());
    assert_eq!(sigkills(&r.tick(secs(2) + STOP_GRACE)), vec![10]);
    assert!(sigkills(&r.tick(secs(2) + STOP_GRACE + secs(1))).is_empty());
    // It exits: the oldest waiter gets a new process.
    let (socket, acts) = r.exited(10, secs(6));
    assert_eq!(socket, Some(sock(10)));
    let p2 = only_spawn(&acts);
    assert_eq!(grants(&r.spawned(p2, 11, secs(6))), vec![(2, p2)]);
    assert_eq!(exits(&class_view(&r.m, "class-a")).get("broken"), Some(&1));
}

#[test]
fn closing_an_unknown_or_finished_conn_is_harmless() {
    let mut r = Rig::new(no_throttle());
    let s = spec(roomy());
    let p = r.lend_new(1, &s, 10, secs(0));
    r.release(1, p, secs(1));
    assert!(
        r.closed(1, secs(2)).is_empty(),
        "its process is idle, not its own"
    );
    assert!(r.closed(99, secs(2)).is_empty());
    assert_eq!(grants(&r.acquire(2, &s, secs(3))), vec![(2, p)]);
}

#[test]
fn closing_a_conn_stops_only_its_own_process() {
    let mut r = Rig::new(no_throttle());
    let s = spec(roomy());
    r.lend_new(1, &s, 10, secs(0));
    let p2 = r.lend_new(2, &s, 20, secs(0));
    assert_eq!(sigterms(&r.closed(1, secs(1))), vec![10]);
    assert!(r.release(2, p2, secs(2)).is_empty());
    assert_eq!(class_view(&r.m, "class-a").idle, 1);
}

// -------------------------------------------------------- release outcomes

#[test]
fn broken_release_stops_the_process() {
    let mut r = Rig::new(no_throttle());
    let s = spec(roomy());
    let p = r.lend_new(1, &s, 10, secs(0));
    assert_eq!(
        r.release_broken(1, p, secs(1)),
        vec![Action::Signal {
            pid: 10,
            kill: false
        }]
    );
    let v = class_view(&r.m, "class-a");
    assert_eq!((v.processes, v.idle, v.requests), (1, 0, 1));
    // A new request does not get the stopping process.
    let acts = r.acquire(2, &s, secs(2));
    assert!(grants(&acts).is_empty());
    assert_eq!(spawns(&acts).len(), 1);
    r.exited(10, secs(3));
    assert_eq!(exits(&class_view(&r.m, "class-a")).get("broken"), Some(&1));
}

#[test]
fn release_by_another_conn_or_of_an_unknown_process_is_ignored() {
    let mut r = Rig::new(no_throttle());
    let s = spec(roomy());
    let p = r.lend_new(1, &s, 10, secs(0));
    assert!(r.release(2, p, secs(1)).is_empty());
    assert!(r.release_broken(2, p, secs(1)).is_empty());
    assert!(r.release(1, 9999, secs(1)).is_empty());
    let v = class_view(&r.m, "class-a");
    assert_eq!((v.busy, v.requests), (1, 0), "still lent to conn 1");
    // A second release of the same lease counts once.
    r.release(1, p, secs(2));
    r.release(1, p, secs(3));
    assert_eq!(class_view(&r.m, "class-a").requests, 1);
}

#[test]
fn max_requests_retires_a_process_after_its_fifth_request() {
    let mut r = Rig::new(no_throttle());
    let s = spec(ClassLimits {
        max_requests: 5,
        ..roomy()
    });
    let p = r.lend_new(1, &s, 10, secs(0));
    for n in 1..=4u64 {
        assert!(r.release(n, p, secs(n)).is_empty(), "request {n}");
        assert_eq!(grants(&r.acquire(n + 1, &s, secs(n))), vec![(n + 1, p)]);
    }
    assert_eq!(
        r.release(5, p, secs(5)),
        vec![Action::Signal {
            pid: 10,
            kill: false
        }]
    );
    let acts = r.acquire(6, &s, secs(6));
    assert!(grants(&acts).is_empty(), "the retired process is not lent");
    assert_eq!(spawns(&acts).len(), 1);
    r.exited(10, secs(6));
    let v = class_view(&r.m, "class-a");
    assert_eq!(exits(&v).get("max_requests"), Some(&1));
    assert_eq!(v.requests, 5);
}

#[test]
fn max_requests_zero_means_unlimited() {
    let mut r = Rig::new(no_throttle());
    let s = spec(ClassLimits {
        max_requests: 0,
        ..roomy()
    });
    let p = r.lend_new(1, &s, 10, secs(0));
    for n in 1..=1000u64 {
        assert!(r.release(n, p, ms(n)).is_empty(), "request {n}");
        assert_eq!(grants(&r.acquire(n + 1, &s, ms(n))), vec![(n + 1, p)]);
    }
    let v = class_view(&r.m, "class-a");
    assert_eq!((v.spawns, v.requests), (1, 1000));
    assert_eq!(v.pids, vec![(10, "busy", 1000)]);
}

// ------------------------------------------------------------------ reaping

/// Three processes of a class with `limits`, idle since `t` (pids 10, 11, 12).
fn three_idle(r: &mut Rig, s: &ClassSpec, t: Duration) -> Vec<ProcId> {
    let ps: Vec<ProcId> = (0..3)
        .map(|i| r.lend_new(1 + i, s, 10 + i as i32, secs(0)))
        .collect();
    for (i, p) in ps.iter().enumerate() {
        r.release(1 + i as u64, *p, t);
    }
    ps
}

#[test]
fn idle_processes_above_the_minimum_stop_after_idle_timeout() {
    let mut r = Rig::new(no_throttle());
    let s = spec(ClassLimits {
        min_processes: 1,
        idle_timeout: secs(30),
        ..roomy()
    });
    three_idle(&mut r, &s, secs(10));
    assert!(r.tick(secs(39)).is_empty(), "idle 29 s only");
    let acts = r.tick(secs(40));
    let mut stopped = sigterms(&acts);
    stopped.sort();
    assert_eq!(stopped.len(), 2, "{acts:?}: down to the minimum, not below");
    for pid in &stopped {
        r.exited(*pid, secs(41));
    }
    for t in [100, 1000, 100_000] {
        assert!(r.tick(secs(t)).is_empty(), "the last one is kept");
    }
    let v = class_view(&r.m, "class-a");
    assert_eq!((v.processes, v.idle), (1, 1));
    assert_eq!(exits(&v).get("idle_timeout"), Some(&2));
}

#[test]
fn idle_timeout_counts_from_the_last_release() {
    let mut r = Rig::new(no_throttle());
    let s = spec(ClassLimits {
        min_processes: 0,
        idle_timeout: secs(30),
        ..roomy()
    });
    let p = r.lend_new(1, &s, 10, secs(0));
    r.release(1, p, secs(1));
    r.acquire(2, &s, secs(20));
    r.release(2, p, secs(25));
    assert!(r.tick(secs(54)).is_empty());
    assert_eq!(sigterms(&r.tick(secs(55))), vec![10]);
}

#[test]
fn busy_processes_are_not_reaped_for_idleness_but_count_toward_the_minimum() {
    let mut r = Rig::new(no_throttle());
    let s = spec(ClassLimits {
        min_processes: 1,
        idle_timeout: secs(5),
        ..roomy()
    });
    let p1 = r.lend_new(1, &s, 10, secs(0));
    r.lend_new(2, &s, 20, secs(0));
    r.release(1, p1, secs(0));
    // One idle, one busy: two live, minimum one, so the idle one may go.
    assert_eq!(sigterms(&r.tick(secs(10))), vec![10]);
    // The busy one is never stopped for being idle (pid 10 only gets its
    // SIGKILL after the grace).
    let acts = r.tick(secs(100));
    assert_eq!(
        acts,
        vec![Action::Signal {
            pid: 10,
            kill: true
        }]
    );
    assert_eq!(class_view(&r.m, "class-a").busy, 1);
}

#[test]
fn zero_minimum_lets_every_idle_process_go() {
    let mut r = Rig::new(no_throttle());
    let s = spec(ClassLimits {
        min_processes: 0,
        idle_timeout: secs(5),
        ..roomy()
    });
    three_idle(&mut r, &s, secs(0));
    assert_eq!(sigterms(&r.tick(secs(5))).len(), 3);
}

#[test]
fn lifetime_stops_idle_processes_above_the_minimum() {
    let mut r = Rig::new(no_throttle());
    let s = spec(ClassLimits {
        min_processes: 1,
        idle_timeout: secs(1000),
        lifetime: secs(60),
        ..roomy()
    });
    three_idle(&mut r, &s, secs(0));
    // Use all three again: lifetime counts from the start, not the last use.
    let lent: Vec<(ConnId, ProcId)> = (10..13)
        .flat_map(|c| grants(&r.acquire(c, &s, secs(50))))
        .collect();
    assert_eq!(lent.len(), 3);
    for (c, p) in lent {
        r.release(c, p, secs(50));
    }
    assert!(r.tick(secs(59)).is_empty());
    let acts = r.tick(secs(60));
    assert_eq!(sigterms(&acts).len(), 2, "{acts:?}");
    for pid in sigterms(&acts) {
        r.exited(pid, secs(61));
    }
    assert!(r.tick(secs(10_000)).is_empty(), "never below the minimum");
    assert_eq!(
        exits(&class_view(&r.m, "class-a")).get("lifetime"),
        Some(&2)
    );
}

#[test]
fn busy_timeout_sends_sigterm_then_sigkill_and_the_process_is_not_lent_again() {
    let mut r = Rig::new(no_throttle());
    let s = spec(ClassLimits {
        busy_timeout: secs(30),
        max_processes: 1,
        ..roomy()
    });
    let p = r.lend_new(1, &s, 10, secs(0));
    assert!(r.tick(secs(29)).is_empty());
    assert_eq!(
        r.tick(secs(30)),
        vec![Action::Signal {
            pid: 10,
            kill: false
        }]
    );
    assert!(r.tick(secs(31)).is_empty(), "SIGTERM is sent once");
    assert_eq!(sigkills(&r.tick(secs(30) + STOP_GRACE)), vec![10]);
    // The request finally gives it back: ignored, nobody gets it.
    assert!(r.acquire(2, &s, secs(34)).is_empty());
    assert!(r.release(1, p, secs(35)).is_empty());
    r.exited(10, secs(36));
    let v = class_view(&r.m, "class-a");
    assert_eq!(exits(&v).get("busy_timeout"), Some(&1));
    assert_eq!(v.spawns, 2, "the waiter got a fresh process");
}

#[test]
fn busy_timeout_counts_from_the_lending_not_from_the_spawn() {
    let mut r = Rig::new(no_throttle());
    let s = spec(ClassLimits {
        busy_timeout: secs(30),
        ..roomy()
    });
    let p = r.lend_new(1, &s, 10, secs(0));
    r.release(1, p, secs(25));
    r.acquire(2, &s, secs(26));
    assert!(r.tick(secs(55)).is_empty());
    assert_eq!(sigterms(&r.tick(secs(56))), vec![10]);
}

// ------------------------------------------------------------- spawn score

#[test]
fn spawn_score_holds_spawns_at_the_up_limit_and_a_tick_spawns_after_decay() {
    let mut r = Rig::new(GlobalLimits {
        spawn_score: 2,
        termination_score: 5,
        time_score: 1,
        spawn_score_up_limit: 6,
        ..no_throttle()
    });
    let s = spec(roomy());
    // score 0 -> 2 -> 4 -> 6: three spawns, then held at the limit
    for c in 1..=3 {
        r.lend_new(c, &s, 10 + c as i32, secs(0));
    }
    assert!(
        r.acquire(4, &s, secs(0)).is_empty(),
        "score 6 is at the limit"
    );
    assert!(r.tick(ms(999)).is_empty(), "only whole seconds decay");
    // one second later the score is 5: the waiter gets its spawn from tick
    let p4 = only_spawn(&r.tick(secs(1)));
    assert_eq!(grants(&r.spawned(p4, 14, secs(1))), vec![(4, p4)]);
    assert_eq!(class_view(&r.m, "class-a").spawns, 4);
}

#[test]
fn exits_raise_the_spawn_score() {
    let mut r = Rig::new(GlobalLimits {
        spawn_score: 1,
        termination_score: 3,
        time_score: 1,
        spawn_score_up_limit: 4,
        ..no_throttle()
    });
    let s = spec(roomy());
    let p = r.lend_new(1, &s, 10, secs(0)); // score 1
    r.lend_new(9, &s, 11, secs(0)); // score 2, stays busy
    r.release_broken(1, p, secs(0));
    let (_, acts) = r.exited(10, secs(0)); // score 5
    assert!(acts.is_empty());
    assert!(r.acquire(2, &s, secs(0)).is_empty(), "held by the exit");
    assert!(r.tick(secs(1)).is_empty(), "4 is at the limit");
    // after 2 s the score is 3: spawn
    assert_eq!(spawns(&r.tick(secs(2))).len(), 1);
}

#[test]
fn spawn_score_decays_by_time_score_per_second_and_floors_at_zero() {
    let mut r = Rig::new(GlobalLimits {
        spawn_score: 10,
        termination_score: 0,
        time_score: 3,
        spawn_score_up_limit: 10,
        ..no_throttle()
    });
    let s = spec(roomy());
    r.lend_new(1, &s, 10, secs(0)); // score 10
    assert!(r.acquire(2, &s, secs(0)).is_empty());
    // 10 - 3 = 7 after 1 s: below the limit
    let p2 = only_spawn(&r.tick(secs(1))); // score 17
    r.spawned(p2, 20, secs(1));
    assert!(r.acquire(3, &s, secs(1)).is_empty());
    // 17 - 3*2 = 11 at 3 s: held; 17 - 3*3 = 8 at 4 s: spawn
    assert!(r.tick(secs(3)).is_empty());
    let p3 = only_spawn(&r.tick(secs(4)));
    r.spawned(p3, 30, secs(4)); // 18
                                // a long quiet spell floors the score at 0, not below: one spawn (10)
                                // and the class is held again at exactly the limit.
    let p4 = only_spawn(&r.acquire(4, &s, secs(1000)));
    r.spawned(p4, 40, secs(1000));
    assert!(r.acquire(5, &s, secs(1000)).is_empty());
}

#[test]
fn time_score_zero_means_a_held_class_stays_held() {
    let mut r = Rig::new(GlobalLimits {
        spawn_score: 1,
        time_score: 0,
        spawn_score_up_limit: 1,
        ..no_throttle()
    });
    let s = spec(roomy());
    r.lend_new(1, &s, 10, secs(0));
    r.acquire_wait(2, &s, secs(100_000), secs(0));
    assert!(r.tick(secs(10_000)).is_empty());
}

// -------------------------------------------------------------- failed spawns

#[test]
fn failed_spawn_grants_nothing_and_the_waiter_keeps_waiting() {
    let mut r = Rig::new(no_throttle());
    let s = spec(roomy());
    let p = only_spawn(&r.acquire(1, &s, secs(0)));
    // Nothing else could serve the waiter: a new spawn is asked for at once.
    let p2 = only_spawn(&r.spawn_failed(p, ms(10)));
    let v = class_view(&r.m, "class-a");
    assert_eq!((v.processes, v.waiting), (1, 1));
    assert_eq!(exits(&v).get("died"), Some(&1));
    assert_ne!(p, p2);
    assert_eq!(grants(&r.spawned(p2, 20, secs(1))), vec![(1, p2)]);
    // A report for the dead spawn, coming late, changes nothing.
    assert!(r.spawned(p, 30, secs(2)).is_empty());
    assert_eq!(class_view(&r.m, "class-a").processes, 1);
}

#[test]
fn failing_spawns_end_in_a_refusal_at_the_deadline() {
    let mut r = Rig::new(no_throttle());
    let s = spec(roomy());
    let mut p = only_spawn(&r.acquire_wait(1, &s, secs(30), secs(0)));
    // A class with a waiter and no process tries again at once.
    for t in 1..3 {
        let acts = r.spawn_failed(p, secs(t));
        assert!(refusals(&acts).is_empty());
        p = only_spawn(&acts);
    }
    // Three failures in a row: the class is failing and its waiter is
    // refused long before its deadline, naming the cause.
    let acts = r.spawn_failed(p, secs(3));
    assert_eq!(refusals(&acts).len(), 1, "{acts:?}");
    assert!(refusals(&acts)[0].1.contains("right after starting"));
    assert_eq!(exits(&class_view(&r.m, "class-a")).get("died"), Some(&3));
    // A probe keeps trying in the background (the score allows it here).
    assert_eq!(spawns(&r.tick(secs(4))).len(), 1);
}

#[test]
fn failed_spawns_raise_the_spawn_score() {
    let mut r = Rig::new(GlobalLimits {
        spawn_score: 1,
        termination_score: 2,
        time_score: 1,
        spawn_score_up_limit: 3,
        ..no_throttle()
    });
    let s = spec(roomy());
    r.lend_new(9, &s, 11, secs(0)); // score 1, stays busy
    let p = only_spawn(&r.acquire(1, &s, secs(0))); // 2
    r.spawn_failed(p, secs(0)); // 2 + 2 = 4: over the limit
    assert!(r.tick(secs(1)).is_empty(), "3 is at the limit");
    assert_eq!(spawns(&r.tick(secs(2))).len(), 1);
}

// -------------------------------------------------------------- exits

#[test]
fn a_process_that_dies_while_lent_is_forgotten_and_the_lease_is_dead() {
    let mut r = Rig::new(no_throttle());
    let s = spec(ClassLimits {
        max_processes: 1,
        ..roomy()
    });
    let p = r.lend_new(1, &s, 10, secs(0));
    r.acquire(2, &s, secs(1));
    let (socket, acts) = r.exited(10, secs(2));
    assert_eq!(socket, Some(sock(10)));
    let p2 = only_spawn(&acts);
    assert!(r.release(1, p, secs(3)).is_empty());
    assert_eq!(grants(&r.spawned(p2, 11, secs(3))), vec![(2, p2)]);
    assert_eq!(exits(&class_view(&r.m, "class-a")).get("died"), Some(&1));
}

#[test]
fn exit_of_an_unknown_pid_is_ignored() {
    let mut r = Rig::new(no_throttle());
    let s = spec(roomy());
    let p = only_spawn(&r.acquire(1, &s, secs(0)));
    // A starting process has no pid yet: pid 0 must not match it.
    assert_eq!(r.exited(0, secs(0)), (None, vec![]));
    assert_eq!(r.exited(12345, secs(0)), (None, vec![]));
    assert_eq!(grants(&r.spawned(p, 10, secs(0))), vec![(1, p)]);
    assert_eq!(r.exited(12345, secs(0)), (None, vec![]));
    assert_eq!(r.m.process_count(), 1);
}

// -------------------------------------------------------------- shutdown

#[test]
fn shutdown_refuses_every_waiter_and_signals_every_process() {
    let mut r = Rig::new(no_throttle());
    let a = spec_named(
        "a",
        "/srv/a",
        ClassLimits {
            max_processes: 2,
            ..roomy()
        },
    );
    let b = spec_named("b", "/srv/b", roomy());
    // class a: two busy processes and two waiters
    r.lend_new(1, &a, 10, secs(0));
    r.lend_new(2, &a, 11, secs(0));
    assert!(r.acquire(3, &a, secs(0)).is_empty());
    assert!(r.acquire(4, &a, secs(0)).is_empty());
    // class b: one idle process and one already stopping (SIGTERM sent)
    let pb1 = r.lend_new(5, &b, 20, secs(0));
    let pb2 = r.lend_new(6, &b, 21, secs(0));
    r.release(5, pb1, secs(0));
    assert_eq!(sigterms(&r.release_broken(6, pb2, secs(0))), vec![21]);
    let acts = r.shutdown(secs(1));
    let mut refused: Vec<ConnId> = refusals(&acts).iter().map(|x| x.0).collect();
    refused.sort();
    assert_eq!(refused, vec![3, 4]);
    let mut termed = sigterms(&acts);
    termed.sort();
    assert_eq!(
        termed,
        vec![10, 11, 20],
        "busy and idle; 21 was already told"
    );
    assert!(grants(&acts).is_empty() && spawns(&acts).is_empty());
    for v in r.m.view() {
        assert_eq!((v.busy, v.idle, v.waiting), (0, 0, 0), "{v:?}");
    }
    let mut killed = sigkills(&r.tick(secs(1) + STOP_GRACE));
    killed.sort();
    assert_eq!(killed, vec![10, 11, 20, 21]);
    for pid in [10, 11, 20, 21] {
        r.exited(pid, secs(5));
    }
    assert_eq!(r.m.process_count(), 0);
    assert_eq!(exits(&class_view(&r.m, "a")).get("shutdown"), Some(&2));
    let eb = exits(&class_view(&r.m, "b"));
    assert_eq!((eb.get("shutdown"), eb.get("broken")), (Some(&1), Some(&1)));
}

#[test]
fn a_process_still_starting_at_shutdown_is_stopped_when_it_reports() {
    let mut r = Rig::new(no_throttle());
    let s = spec(roomy());
    let p = only_spawn(&r.acquire(1, &s, secs(0)));
    let acts = r.shutdown(secs(0));
    assert_eq!(refusals(&acts).len(), 1);
    assert!(
        r.tick(STOP_GRACE)
            .iter()
            .all(|a| !matches!(a, Action::Signal { pid, .. } if *pid <= 0)),
        "never signal pid 0 (that is the whole process group)"
    );
    // The spawn finishes after the shutdown: it must be stopped, not lent.
    let acts = r.spawned(p, 10, secs(4));
    assert_eq!(
        acts,
        vec![Action::Signal {
            pid: 10,
            kill: false
        }]
    );
    let v = class_view(&r.m, "class-a");
    assert_eq!((v.processes, v.idle, v.busy), (1, 0, 0));
    assert_eq!(
        sigkills(&r.tick(secs(4))),
        vec![10],
        "its grace ran from the shutdown"
    );
    let (socket, _) = r.exited(10, secs(5));
    assert_eq!(socket, Some(sock(10)));
    assert_eq!(r.m.process_count(), 0);
}

// -------------------------------------------------------------- view

#[test]
fn view_counts_what_happened() {
    let mut r = Rig::new(no_throttle());
    let s = spec_named(
        "k",
        "/srv/app.fcgi",
        ClassLimits {
            max_processes: 3,
            max_requests: 2,
            ..roomy()
        },
    );
    let p1 = r.lend_new(1, &s, 10, secs(0));
    let p2 = r.lend_new(2, &s, 20, secs(0));
    r.lend_new(3, &s, 30, secs(0));
    r.acquire(4, &s, secs(0)); // waits
    r.release(1, p1, secs(1)); // p1 -> conn 4 (1 request)
    r.release(4, p1, secs(2)); // p1 retires after 2 requests
    r.release_broken(2, p2, secs(2)); // broken
    r.exited(10, secs(3));
    r.exited(20, secs(3));
    r.exited(30, secs(3)); // the third dies while lent
    let p4 = only_spawn(&r.acquire(5, &s, secs(4)));
    // No process left to serve conn 5: the failed spawn is tried again at once.
    let p5 = only_spawn(&r.spawn_failed(p4, secs(4)));
    r.spawned(p5, 50, secs(5)); // lent to conn 5
    r.acquire(6, &s, secs(5)); // spawn pending
    let v = r.m.view();
    assert_eq!(v.len(), 1);
    let v = &v[0];
    assert_eq!(v.key, "k");
    assert_eq!(v.command, "/srv/app.fcgi");
    assert_eq!(
        (v.processes, v.busy, v.idle, v.waiting),
        (2, 1, 0, 1),
        "one busy, one starting, one waiting"
    );
    assert_eq!(v.spawns, 6);
    assert_eq!(v.requests, 3);
    assert_eq!(
        exits(v),
        BTreeMap::from([("broken", 1), ("died", 2), ("max_requests", 1)])
    );
    let mut pids = v.pids.clone();
    pids.sort();
    assert_eq!(pids, vec![(0, "starting", 0), (50, "busy", 0)]);
    assert_eq!(r.m.busy_count(), 1);
    assert_eq!(r.m.process_count(), 2);
    let rep = r.m.report(r.at(secs(9)), 4242);
    assert_eq!(rep.manager_pid, 4242);
    assert_eq!((rep.process_count(), rep.busy_count()), (2, 1));
    let c = &rep.classes[0];
    assert_eq!((c.key.as_str(), c.waiting), ("k", 1));
    assert_eq!(c.command_line, "/srv/app.fcgi --flag");
    assert_eq!(c.exits_text(), "max_requests=1 broken=1 died=2");
    let p50 = c.processes.iter().find(|p| p.pid == 50).unwrap();
    assert_eq!(p50.phase, super::report::Phase::Busy);
    // Spawned at 4 s, no request finished yet: active 5 s, idle 5 s.
    assert_eq!((p50.age, p50.since_last_request), (secs(5), secs(5)));
}

#[test]
fn view_lists_classes_sorted_by_key() {
    let mut r = Rig::new(no_throttle());
    for (c, k) in [(1, "zz"), (2, "aa"), (3, "mm")] {
        r.acquire(c, &spec_named(k, "/x", roomy()), secs(0));
    }
    let keys: Vec<String> = r.m.view().into_iter().map(|v| v.key).collect();
    assert_eq!(keys, vec!["aa", "mm", "zz"]);
}

// -------------------------------------------------------------- wire

#[test]
fn wire_decode_waits_for_a_whole_frame_and_rejects_empty_ones() {
    let mut frame = Vec::new();
    Message::Acquire {
        spec: spec(roomy()),
        wait: secs(3),
    }
    .encode(&mut frame);
    for cut in 0..frame.len() {
        let mut part = frame[..cut].to_vec();
        assert_eq!(Message::decode(&mut part), Ok(None), "cut at {cut}");
        assert_eq!(part.len(), cut, "nothing consumed");
    }
    let mut empty = vec![0, 0, 0, 0];
    assert!(Message::decode(&mut empty).is_err());
    // A frame whose fields stop short is an error, not a guess.
    let mut short = frame.clone();
    short.truncate(short.len() - 2);
    let len = (short.len() - 4) as u32;
    short[..4].copy_from_slice(&len.to_be_bytes());
    assert!(Message::decode(&mut short).is_err());
}

// -------------------------------------------------- randomized invariants

/// xorshift64*: small, deterministic, good enough to pick events.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> Option<T> {
        (!xs.is_empty()).then(|| xs[self.below(xs.len() as u64) as usize])
    }
}

/// What the test itself knows, kept apart from the manager's own books.
#[derive(Default)]
struct Model {
    /// Conns that acquired and got neither Grant nor Refuse yet: class key.
    waiting: BTreeMap<ConnId, String>,
    /// Arrival order of the waiting conns, per class.
    queue: BTreeMap<String, Vec<ConnId>>,
    /// When each waiting conn's wait is over.
    deadline: BTreeMap<ConnId, Instant>,
    /// Conns that were answered (granted or refused).
    answered: BTreeSet<ConnId>,
    /// Conns that hold a lease (as far as they know): conn -> proc.
    holding: BTreeMap<ConnId, ProcId>,
    /// Procs lent and not yet given back, closed or exited: proc -> conn.
    lent: BTreeMap<ProcId, ConnId>,
    /// Spawns asked for and not reported yet, in order.
    starting: Vec<ProcId>,
    /// Live procs (spawn asked, not failed, not exited): proc -> class.
    live: BTreeMap<ProcId, String>,
    /// Started and not exited: pid -> proc.
    pids: BTreeMap<i32, ProcId>,
    /// proc -> (pid, socket), for every proc that started.
    started: BTreeMap<ProcId, (i32, Vec<u8>)>,
    /// pids sent SIGTERM.
    termed: BTreeSet<i32>,
    spawns: BTreeMap<String, u64>,
    requests: BTreeMap<String, u64>,
}

struct Fuzz {
    rng: Rng,
    r: Rig,
    model: Model,
    classes: Vec<ClassSpec>,
    waits: BTreeMap<String, Duration>,
    global: GlobalLimits,
    /// Some spawns fail.
    fail_spawns: bool,
    /// Each acquire picks its own wait (else one wait per class).
    vary_waits: bool,
    /// Check that nobody waits while a spawn could be asked for (only
    /// meaningful when the spawn score never holds and spawns never fail).
    work_conserving: bool,
    now: Duration,
    next_conn: ConnId,
    next_pid: i32,
    step: usize,
    shutting_down: bool,
}

impl Fuzz {
    fn new(seed: u64, global: GlobalLimits, classes: Vec<(ClassSpec, Duration)>) -> Self {
        Fuzz {
            rng: Rng(seed.max(1)),
            r: Rig::new(global),
            model: Model::default(),
            waits: classes.iter().map(|(s, w)| (s.key.clone(), *w)).collect(),
            classes: classes.into_iter().map(|(s, _)| s).collect(),
            global,
            fail_spawns: true,
            vary_waits: false,
            work_conserving: false,
            now: Duration::ZERO,
            next_conn: 1,
            next_pid: 100,
            step: 0,
            shutting_down: false,
        }
    }

    fn class_of(&self, key: &str) -> &ClassSpec {
        self.classes.iter().find(|c| c.key == key).unwrap()
    }

    /// Checks each action against the model, updates the model, then checks
    /// the manager's view.
    fn absorb(&mut self, what: &str, acts: Vec<Action>) {
        let ctx = format!("step {} ({what}) at {:?}", self.step, self.now);
        let now = self.r.at(self.now);
        let classes = &self.classes;
        let class_of = |key: &str| classes.iter().find(|c| c.key == key).unwrap();
        let global = self.global;
        let shutting_down = self.shutting_down;
        // Classes whose processes keep dying at start: their waiters are
        // refused at once, and probes start with nobody waiting.
        let failing: BTreeSet<String> = self
            .r
            .m
            .view()
            .into_iter()
            .filter(|c| c.early_deaths >= FAILING_AFTER)
            .map(|c| c.key)
            .collect();
        let m = &mut self.model;
        for a in acts {
            match a {
                // This model's children never keep connections.
                Action::Warn { .. } | Action::DropHold { .. } => {}
                Action::Spawn { proc, spec } => {
                    assert!(!shutting_down, "{ctx}: spawn during shutdown");
                    assert!(!m.live.contains_key(&proc), "{ctx}: proc {proc} reused");
                    m.live.insert(proc, spec.key.clone());
                    m.starting.push(proc);
                    *m.spawns.entry(spec.key.clone()).or_default() += 1;
                    let in_class = m.live.values().filter(|k| **k == spec.key).count() as u32;
                    let limit = class_of(&spec.key).limits.max_processes;
                    assert!(
                        in_class <= limit,
                        "{ctx}: class {} has {in_class} > {limit}",
                        spec.key
                    );
                    assert!(
                        m.live.len() as u32 <= global.max_processes,
                        "{ctx}: server has {} > {}",
                        m.live.len(),
                        global.max_processes
                    );
                    let waiting = m.waiting.values().filter(|k| **k == spec.key).count();
                    let starting = m.starting.iter().filter(|p| m.live[p] == spec.key).count();
                    assert!(
                        starting <= waiting.max(failing.contains(&spec.key) as usize),
                        "{ctx}: {starting} spawns under way for {waiting} waiters of {}",
                        spec.key
                    );
                }
                Action::Grant { conn, proc, socket } => {
                    let key = m.waiting.remove(&conn).unwrap_or_else(|| {
                        panic!("{ctx}: Grant to conn {conn}, which is not waiting")
                    });
                    assert!(m.answered.insert(conn), "{ctx}: conn {conn} answered twice");
                    let q = m.queue.get_mut(&key).unwrap();
                    assert_eq!(
                        q.first(),
                        Some(&conn),
                        "{ctx}: not first come, first served"
                    );
                    q.remove(0);
                    m.deadline.remove(&conn);
                    assert_eq!(
                        m.live.get(&proc),
                        Some(&key),
                        "{ctx}: proc {proc} of another class"
                    );
                    let (pid, sock) = m
                        .started
                        .get(&proc)
                        .unwrap_or_else(|| panic!("{ctx}: Grant of proc {proc}, never started"));
                    assert_eq!(&socket, sock, "{ctx}: wrong socket");
                    assert!(!m.termed.contains(pid), "{ctx}: lent stopping pid {pid}");
                    if let Some(other) = m.lent.get(&proc) {
                        panic!("{ctx}: proc {proc} lent to {conn} while {other} holds it");
                    }
                    m.lent.insert(proc, conn);
                    m.holding.insert(conn, proc);
                }
                Action::Refuse { conn, reason, .. } => {
                    let key = m.waiting.remove(&conn).unwrap_or_else(|| {
                        panic!("{ctx}: Refuse to conn {conn}, which is not waiting")
                    });
                    assert!(m.answered.insert(conn), "{ctx}: conn {conn} answered twice");
                    m.queue.get_mut(&key).unwrap().retain(|c| *c != conn);
                    let deadline = m.deadline.remove(&conn).unwrap();
                    if !shutting_down {
                        assert!(
                            now >= deadline || reason.contains("right after starting"),
                            "{ctx}: conn {conn} refused early: {reason}"
                        );
                        let cmd = String::from_utf8_lossy(&class_of(&key).argv[0]).into_owned();
                        assert!(reason.contains(&cmd), "{ctx}: {reason:?} lacks {cmd}");
                    }
                }
                Action::Signal { pid, kill } => {
                    assert!(pid > 0, "{ctx}: signal to pid {pid}");
                    assert!(
                        m.pids.contains_key(&pid),
                        "{ctx}: signal to unknown pid {pid}"
                    );
                    if kill {
                        assert!(
                            m.termed.contains(&pid),
                            "{ctx}: SIGKILL {pid} before SIGTERM"
                        );
                    } else {
                        assert!(m.termed.insert(pid), "{ctx}: SIGTERM {pid} twice");
                    }
                }
            }
        }
        self.check(&ctx);
    }

    /// Invariants on the manager's own view, after every step.
    fn check(&self, ctx: &str) {
        self.r.m.check_indexes();
        let m = &self.model;
        let mut total = 0;
        let all_live = m.live.len() as u32;
        for v in self.r.m.view() {
            let spec = self.class_of(&v.key);
            let limit = spec.limits.max_processes;
            assert!(v.processes <= limit, "{ctx}: {v:?} over its class limit");
            let live = m.live.values().filter(|k| **k == v.key).count() as u32;
            assert_eq!(v.processes, live, "{ctx}: {v:?} process count");
            let waiting = m.waiting.values().filter(|k| **k == v.key).count() as u32;
            assert_eq!(v.waiting, waiting, "{ctx}: {v:?} waiting count");
            assert!(
                v.idle == 0 || v.waiting == 0,
                "{ctx}: {v:?} idles while one waits"
            );
            let spawns = m.spawns.get(&v.key).copied().unwrap_or(0);
            assert_eq!(v.spawns, spawns, "{ctx}: {v:?} spawns");
            let requests = m.requests.get(&v.key).copied().unwrap_or(0);
            assert_eq!(v.requests, requests, "{ctx}: {v:?} requests");
            let busy = m
                .lent
                .keys()
                .filter(|p| m.live.get(p) == Some(&v.key))
                .filter(|p| !m.termed.contains(&m.started[p].0))
                .count() as u32;
            assert_eq!(v.busy, busy, "{ctx}: {v:?} busy count");
            if self.work_conserving && !self.shutting_down {
                let starting = m.starting.iter().filter(|p| m.live[p] == v.key).count() as u32;
                assert!(
                    waiting <= starting || live >= limit || all_live >= self.global.max_processes,
                    "{ctx}: {v:?} waits with room to spawn ({all_live} in the server)"
                );
            }
            total += v.processes;
        }
        if self.work_conserving && !self.shutting_down && all_live >= self.global.max_processes {
            self.check_eviction(ctx);
        }
        assert!(
            total <= self.global.max_processes,
            "{ctx}: {total} in the server"
        );
        assert_eq!(self.r.m.process_count(), total, "{ctx}");
        assert_eq!(total, all_live, "{ctx}");
    }

    /// With the server full, a class whose waiters outnumber its spawns
    /// under way has evictions under way for the rest, unless no other
    /// class has an idle process above its minimum.
    fn check_eviction(&self, ctx: &str) {
        let views = self.r.m.view();
        let stopping = |v: &ClassView| v.pids.iter().filter(|p| p.1 == "stopping").count() as u32;
        let starting = |v: &ClassView| v.pids.iter().filter(|p| p.1 == "starting").count() as u32;
        for v in &views {
            let limit = self.class_of(&v.key).limits.max_processes;
            if v.early_deaths >= FAILING_AFTER || v.processes >= limit {
                continue;
            }
            if v.waiting <= starting(v) + v.evicting {
                continue;
            }
            let victim = views.iter().find(|u| {
                u.key != v.key
                    && u.idle > 0
                    && u.processes - stopping(u) > self.class_of(&u.key).limits.min_processes
            });
            assert!(
                victim.is_none(),
                "{ctx}: {v:?} waits on a full server while {victim:?} idles above its minimum"
            );
        }
    }

    fn step(&mut self) {
        self.step += 1;
        let t = self.now;
        match self.rng.below(100) {
            // a new request
            0..=24 => {
                let conn = self.next_conn;
                self.next_conn += 1;
                let i = self.rng.below(self.classes.len() as u64) as usize;
                let spec = self.classes[i].clone();
                let wait = if self.vary_waits {
                    ms(self.rng.below(8000))
                } else {
                    self.waits[&spec.key]
                };
                let m = &mut self.model;
                m.waiting.insert(conn, spec.key.clone());
                m.queue.entry(spec.key.clone()).or_default().push(conn);
                m.deadline.insert(conn, self.r.at(t) + wait);
                let acts = self.r.acquire_wait(conn, &spec, wait, t);
                self.absorb("acquire", acts);
            }
            // a request gives its process back
            25..=44 => {
                let conns: Vec<ConnId> = self.model.holding.keys().copied().collect();
                let Some(conn) = self.rng.pick(&conns) else {
                    return;
                };
                let outcome = match self.rng.below(16) {
                    0 | 1 => Outcome::Broken,
                    2 => Outcome::ClientGone,
                    _ => Outcome::Done,
                };
                let m = &mut self.model;
                let proc = m.holding.remove(&conn).unwrap();
                if m.lent.get(&proc) == Some(&conn) {
                    m.lent.remove(&proc);
                    if !m.termed.contains(&m.started[&proc].0) {
                        *m.requests.entry(m.live[&proc].clone()).or_default() += 1;
                    }
                }
                let acts = self.r.m.release(conn, proc, outcome, self.r.at(t));
                self.absorb("release", acts);
            }
            // a connection closes, whether it waits or holds a process
            45..=52 => {
                let mut conns: Vec<ConnId> = self.model.waiting.keys().copied().collect();
                conns.extend(self.model.holding.keys().copied());
                conns.sort();
                let Some(conn) = self.rng.pick(&conns) else {
                    return;
                };
                let m = &mut self.model;
                if let Some(key) = m.waiting.remove(&conn) {
                    m.queue.get_mut(&key).unwrap().retain(|c| *c != conn);
                    m.deadline.remove(&conn);
                }
                let mut stop_pid = None;
                if let Some(proc) = m.holding.remove(&conn) {
                    if m.lent.get(&proc) == Some(&conn) {
                        m.lent.remove(&proc);
                        let pid = m.started[&proc].0;
                        if !m.termed.contains(&pid) {
                            stop_pid = Some(pid);
                        }
                    }
                }
                let acts = self.r.closed(conn, t);
                if let Some(pid) = stop_pid {
                    assert!(
                        acts.contains(&Action::Signal { pid, kill: false }),
                        "step {}: closing conn {conn} did not stop pid {pid}: {acts:?}",
                        self.step
                    );
                }
                self.absorb("conn_closed", acts);
            }
            // a spawn under way reports
            53..=69 => {
                if self.model.starting.is_empty() {
                    return;
                }
                let i = self.rng.below(self.model.starting.len() as u64) as usize;
                let proc = self.model.starting.remove(i);
                if self.fail_spawns && self.rng.below(6) == 0 {
                    self.model.live.remove(&proc);
                    let acts = self.r.spawn_failed(proc, t);
                    self.absorb("spawn failed", acts);
                } else {
                    self.report_started(proc);
                }
            }
            // a process exits: mostly one told to stop, sometimes a crash
            70..=79 => {
                let m = &self.model;
                let termed: Vec<i32> = m
                    .termed
                    .iter()
                    .copied()
                    .filter(|p| m.pids.contains_key(p))
                    .collect();
                let all: Vec<i32> = m.pids.keys().copied().collect();
                let pid = if !termed.is_empty() && self.rng.below(4) != 0 {
                    self.rng.pick(&termed)
                } else {
                    self.rng.pick(&all)
                };
                let Some(pid) = pid else {
                    return;
                };
                let m = &mut self.model;
                let proc = m.pids.remove(&pid).unwrap();
                let class = m.live.remove(&proc).unwrap();
                // A holder keeps its (dead) lease; its release will be a no-op.
                m.lent.remove(&proc);
                let (socket, acts) = self.r.exited(pid, t);
                assert_eq!(socket, Some(sock(pid)), "step {}", self.step);
                let what = format!("exited pid {pid} of {class}");
                self.absorb(&what, acts);
            }
            // time passes and the timer fires
            _ => {
                self.now += ms(self.rng.below(3000));
                let t = self.now;
                let acts = self.r.tick(t);
                self.absorb("tick", acts);
                let now = self.r.at(t);
                for (conn, d) in &self.model.deadline {
                    assert!(
                        *d > now,
                        "step {}: conn {conn} still waits past its deadline",
                        self.step
                    );
                }
            }
        }
    }

    fn report_started(&mut self, proc: ProcId) {
        let pid = self.next_pid;
        self.next_pid += 1;
        self.model.pids.insert(pid, proc);
        self.model.started.insert(proc, (pid, sock(pid)));
        let acts = self.r.spawned(proc, pid, self.now);
        self.absorb("spawned", acts);
    }
}

fn fuzz_classes(rng: &mut Rng) -> Vec<(ClassSpec, Duration)> {
    (0..3)
        .map(|i| {
            let limits = ClassLimits {
                max_processes: 1 + rng.below(4) as u32,
                min_processes: rng.below(3) as u32,
                idle_timeout: secs(2 + rng.below(20)),
                lifetime: secs(10 + rng.below(60)),
                busy_timeout: secs(3 + rng.below(20)),
                max_requests: rng.below(4) as u32,
            };
            let key = format!("class-{i}");
            let cmd = format!("/srv/app{i}.fcgi");
            (spec_named(&key, &cmd, limits), secs(1 + rng.below(8)))
        })
        .collect()
}

fn fuzz_global(rng: &mut Rng) -> GlobalLimits {
    GlobalLimits {
        max_processes: 2 + rng.below(6) as u32,
        spawn_score: 1 + rng.below(2) as u32,
        termination_score: rng.below(4) as u32,
        time_score: 1 + rng.below(2) as u32,
        spawn_score_up_limit: 3 + rng.below(20) as u32,
    }
}

fn seeded(seed: u64) -> Rng {
    Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
}

#[test]
fn random_event_sequences_keep_every_invariant() {
    for seed in 1..=40u64 {
        let mut rng = seeded(seed);
        let classes = fuzz_classes(&mut rng);
        let global = fuzz_global(&mut rng);
        let mut f = Fuzz::new(rng.next(), global, classes);
        for _ in 0..3000 {
            f.step();
        }
        assert!(
            f.model.answered.len() > 100 && f.model.termed.len() > 10,
            "seed {seed}: the run should serve, refuse and stop plenty ({} answered, {} stopped)",
            f.model.answered.len(),
            f.model.termed.len()
        );
    }
}

#[test]
fn random_sequences_with_a_different_wait_per_request() {
    for seed in 200..=230u64 {
        let mut rng = seeded(seed);
        let classes = fuzz_classes(&mut rng);
        let global = fuzz_global(&mut rng);
        let mut f = Fuzz::new(rng.next(), global, classes);
        f.vary_waits = true;
        for _ in 0..3000 {
            f.step();
        }
    }
}

#[test]
fn random_sequences_never_leave_a_request_waiting_while_a_spawn_is_possible() {
    for seed in 300..=330u64 {
        let mut rng = seeded(seed);
        let classes = fuzz_classes(&mut rng);
        let global = GlobalLimits {
            max_processes: 2 + rng.below(6) as u32,
            ..no_throttle()
        };
        let mut f = Fuzz::new(rng.next(), global, classes);
        f.fail_spawns = false;
        f.work_conserving = true;
        for _ in 0..3000 {
            f.step();
        }
    }
}

#[test]
fn random_sequences_then_shutdown_leave_nothing_running_or_waiting() {
    for seed in 100..=130u64 {
        let mut rng = seeded(seed);
        let classes = fuzz_classes(&mut rng);
        let mut f = Fuzz::new(rng.next(), GlobalLimits::default(), classes);
        for _ in 0..500 {
            f.step();
        }
        f.shutting_down = true;
        let acts = f.r.shutdown(f.now);
        f.absorb("shutdown", acts);
        assert!(
            f.model.waiting.is_empty(),
            "seed {seed}: a waiter was not refused"
        );
        // Spawns still under way report in after the shutdown.
        for proc in std::mem::take(&mut f.model.starting) {
            f.report_started(proc);
        }
        f.now += STOP_GRACE;
        let acts = f.r.tick(f.now);
        f.absorb("tick after the grace", acts);
        for pid in f.model.pids.keys() {
            assert!(
                f.model.termed.contains(pid),
                "seed {seed}: pid {pid} never stopped"
            );
        }
        for v in f.r.m.view() {
            assert_eq!((v.busy, v.idle, v.waiting), (0, 0, 0), "seed {seed}: {v:?}");
        }
    }
}

#[test]
fn an_undelivered_grant_leaves_the_process_idle_for_the_next_request() {
    let mut r = Rig::new(no_throttle());
    let t = secs(0);
    let s = spec_named("k", "/x", roomy());
    let proc = r.lend_new(1, &s, 50, t);
    let acts = r.m.grant_undelivered(1, proc, r.at(t));
    assert!(
        acts.iter().all(|a| !matches!(a, Action::Signal { .. })),
        "not stopped: {acts:?}"
    );
    let v = &r.m.view()[0];
    assert_eq!((v.busy, v.idle, v.requests), (0, 1, 0));
    // The next request gets that very process, without a spawn.
    let acts = r.acquire(2, &s, t);
    assert!(
        matches!(acts.as_slice(), [Action::Grant { conn: 2, proc: p, .. }] if *p == proc),
        "{acts:?}"
    );
    // A late report for the earlier grant changes nothing now that conn 2 has it.
    assert!(r.m.grant_undelivered(1, proc, r.at(t)).is_empty());
    assert_eq!(r.m.view()[0].busy, 1);
}

#[test]
fn a_program_that_cannot_start_refuses_its_waiters_at_once() {
    let mut r = Rig::new(no_throttle());
    let s = spec_named("k", "/srv/broken.fcgi", roomy());
    let proc = only_spawn(&r.acquire(1, &s, secs(0)));
    let acts = r.m.spawn_failed(
        proc,
        "cannot start /srv/broken.fcgi: Permission denied",
        RefuseKind::CannotStart,
        r.at(secs(0)),
    );
    assert_eq!(
        acts,
        vec![Action::Refuse {
            conn: 1,
            reason: "cannot start /srv/broken.fcgi: Permission denied".into(),
            kind: RefuseKind::CannotStart,
        }]
    );
    assert_eq!(r.m.process_count(), 0);
    assert_eq!(r.m.view()[0].waiting, 0);
}

#[test]
fn a_transient_spawn_failure_refuses_as_unavailable_and_a_wait_that_ran_out_too() {
    let mut r = Rig::new(no_throttle());
    let s = spec_named("k", "/srv/app.fcgi", roomy());
    let proc = only_spawn(&r.acquire(1, &s, secs(0)));
    let acts = r.m.spawn_failed(
        proc,
        "cannot start /srv/app.fcgi: Too many open files",
        RefuseKind::Unavailable,
        r.at(secs(0)),
    );
    assert!(
        matches!(
            &acts[..],
            [Action::Refuse {
                conn: 1,
                kind: RefuseKind::Unavailable,
                ..
            }]
        ),
        "{acts:?}"
    );
    // A class at its limit: the wait runs out, and that is a 503 too.
    let full = ClassLimits {
        max_processes: 1,
        ..roomy()
    };
    let s = spec_named("k", "/srv/app.fcgi", full);
    let mut r = Rig::new(no_throttle());
    r.lend_new(1, &s, 10, secs(0));
    assert!(r.acquire_wait(2, &s, secs(1), secs(0)).is_empty());
    let acts = r.tick(secs(2));
    assert!(
        matches!(
            &acts[..],
            [Action::Refuse {
                conn: 2,
                kind: RefuseKind::Unavailable,
                ..
            }]
        ),
        "{acts:?}"
    );
}

#[test]
fn a_failed_spawn_leaves_waiters_alone_while_another_process_can_serve() {
    let mut r = Rig::new(no_throttle());
    let s = spec_named("k", "/srv/app.fcgi", roomy());
    let first = r.lend_new(1, &s, 10, secs(0));
    let proc = only_spawn(&r.acquire(2, &s, secs(0)));
    assert!(r
        .m
        .spawn_failed(
            proc,
            "cannot start: EAGAIN",
            RefuseKind::Unavailable,
            r.at(secs(0)),
        )
        .is_empty());
    // The waiter gets the running process when it is released.
    assert!(grants(&r.release(1, first, secs(1))).contains(&(2, first)));
}

// ------------------------------------------ client aborts and crash loops

/// The default throttle: spawn 1, termination 2, decay 1/s, limit 10.
fn default_throttle() -> GlobalLimits {
    GlobalLimits {
        max_processes: 1000,
        spawn_score: 1,
        termination_score: 2,
        time_score: 1,
        spawn_score_up_limit: 10,
    }
}

#[test]
fn processes_stopped_for_clients_that_hung_up_do_not_raise_the_spawn_score() {
    let mut r = Rig::new(default_throttle());
    let s = spec(roomy());
    // Six processes, each stopped because its client hung up mid-stream.
    for i in 0..6u64 {
        let t = ms(i * 10);
        let p = r.lend_new(i + 1, &s, 100 + i as i32, t);
        let acts = r.m.release(i + 1, p, Outcome::ClientGone, r.at(t));
        assert_eq!(sigterms(&acts), vec![100 + i as i32]);
        r.exited(100 + i as i32, t + ms(5));
    }
    let v = class_view(&r.m, "class-a");
    assert_eq!(exits(&v).get("client_abort"), Some(&6));
    // Only the six spawns count: 6 < 10, so the class still grows at once.
    assert_eq!(v.spawn_score, 6);
    let acts = r.acquire(50, &s, ms(100));
    assert_eq!(spawns(&acts).len(), 1, "{acts:?}");
}

#[test]
fn a_class_with_waiters_and_no_process_gets_a_spawn_whatever_its_score() {
    let mut r = Rig::new(default_throttle());
    let s = spec(roomy());
    // Four processes cut as broken: score 4 spawns + 8 deaths = 12 > 10.
    for i in 0..4u64 {
        let p = r.lend_new(i + 1, &s, 100 + i as i32, ms(i));
        r.release_broken(i + 1, p, ms(i));
        r.exited(100 + i as i32, ms(i) + ms(1));
    }
    assert!(class_view(&r.m, "class-a").spawn_score >= 10);
    // A fifth request finds no process at all: it gets one anyway.
    let acts = r.acquire(9, &s, ms(10));
    assert_eq!(
        spawns(&acts).len(),
        1,
        "a stranded class must spawn: {acts:?}"
    );
    // But while that one is there, the score still throttles growth.
    let acts = r.acquire(10, &s, ms(11));
    assert!(spawns(&acts).is_empty(), "{acts:?}");
}

#[test]
fn an_app_that_dies_at_start_is_refused_at_once_after_three_deaths_then_probed() {
    let mut r = Rig::new(default_throttle());
    let s = spec(roomy());
    let mut t = ms(0);
    // Each process dies right after starting; the request that got it fails
    // to connect, drops its lease (the connection closes) and asks again.
    for (i, pid) in [100, 101, 102].into_iter().enumerate() {
        let conn = 10 + i as u64;
        let proc = only_spawn(&r.acquire(conn, &s, t));
        assert_eq!(grants(&r.spawned(proc, pid, t)), vec![(conn, proc)]);
        r.closed(conn, t + ms(1));
        t += ms(20);
        r.exited(pid, t);
    }
    let v = class_view(&r.m, "class-a");
    assert_eq!(v.early_deaths, 3, "{v:?}");
    // A new request is refused at once, without a spawn, naming the cause.
    let acts = r.acquire(2, &s, t + ms(1));
    assert!(spawns(&acts).is_empty());
    let refused = refusals(&acts);
    assert_eq!(refused.len(), 1, "{acts:?}");
    assert!(
        refused[0].1.contains("right after starting"),
        "{}",
        refused[0].1
    );
    // The background probe waits for the score to decay (9 now, limit 10:
    // it may spawn at once; after its death the score is 12 and it waits).
    let acts = r.tick(t + ms(2));
    let probe = only_spawn(&acts);
    r.spawned(probe, 103, t + ms(3));
    let (_, acts) = r.exited(103, t + ms(30));
    assert!(spawns(&acts).is_empty());
    assert!(
        spawns(&r.tick(t + secs(1))).is_empty(),
        "score 12 holds it back"
    );
    let probe = only_spawn(&r.tick(t + secs(3)));
    // This time the app is fixed: the probe lives and serves.
    r.spawned(probe, 104, t + secs(3));
    let acts = r.acquire(3, &s, t + secs(4));
    let granted = grants(&acts);
    assert_eq!(granted, vec![(3, probe)]);
    r.release(3, probe, t + secs(4));
    assert_eq!(class_view(&r.m, "class-a").early_deaths, 0);
}

#[test]
fn a_process_that_served_or_lived_long_is_no_death_at_start() {
    let mut r = Rig::new(no_throttle());
    let s = spec(roomy());
    let p = r.lend_new(1, &s, 100, secs(0));
    r.release(1, p, secs(0));
    r.exited(100, secs(1));
    let p = r.lend_new(2, &s, 101, secs(2));
    r.release(2, p, secs(2));
    r.exited(101, secs(3));
    // Idle for a minute, then died: not at start either.
    let acts = r.acquire(3, &s, secs(4));
    let p = only_spawn(&acts);
    r.spawned(p, 102, secs(4));
    r.release(3, p, secs(4));
    r.exited(102, secs(100));
    assert_eq!(class_view(&r.m, "class-a").early_deaths, 0);
}

// ------------------------------------------ a new configuration (warm pools)

#[test]
fn an_unchanged_class_keeps_its_processes_across_a_new_configuration() {
    let mut r = Rig::new(no_throttle());
    let s = spec(roomy());
    let p = r.lend_new(1, &s, 100, secs(0));
    r.release(1, p, secs(1));
    // Graceful restart: new server-wide limits, same class.
    let acts = r.m.reconfigure(
        GlobalLimits {
            max_processes: 50,
            ..no_throttle()
        },
        r.at(secs(2)),
    );
    assert!(acts.is_empty(), "{acts:?}");
    let acts = r.acquire(2, &s, secs(3));
    assert_eq!(
        grants(&acts),
        vec![(2, p)],
        "the warm process serves at once"
    );
}

#[test]
fn a_class_whose_environment_changed_replaces_its_processes() {
    // No decay: the score shows exactly what was counted.
    let mut r = Rig::new(GlobalLimits {
        time_score: 0,
        ..no_throttle()
    });
    let s = spec(roomy());
    let idle = r.lend_new(1, &s, 100, secs(0));
    let busy = r.lend_new(2, &s, 101, secs(0));
    r.release(1, idle, secs(0));
    // Same key (same executable, command line, vhost, user), new FcgidInitialEnv.
    let mut s2 = s.clone();
    s2.env.push((b"APP_ENV".to_vec(), b"staging".to_vec()));
    let acts = r.acquire(3, &s2, secs(1));
    assert_eq!(
        sigterms(&acts),
        vec![100],
        "the idle old process is stopped"
    );
    assert!(grants(&acts).is_empty(), "an old process is never lent");
    let fresh = only_spawn(&acts_without_signals(&acts));
    assert_eq!(grants(&r.spawned(fresh, 102, secs(1))), vec![(3, fresh)]);
    // The request in flight finishes; then its old process goes too.
    let acts = r.release(2, busy, secs(2));
    assert_eq!(sigterms(&acts), vec![101]);
    r.exited(100, secs(2));
    r.exited(101, secs(3));
    let v = class_view(&r.m, "class-a");
    assert_eq!(exits(&v).get("reconfigured"), Some(&2));
    assert_eq!(v.spawn_score, 3, "replacements do not count as deaths");
}

fn acts_without_signals(acts: &[Action]) -> Vec<Action> {
    acts.iter()
        .filter(|a| !matches!(a, Action::Signal { .. }))
        .cloned()
        .collect()
}

// ------------------------------------------------ status: waits and refusals

#[test]
fn report_counts_waits_refusals_the_queue_and_busy_time() {
    use super::report::Refusal;
    let mut r = Rig::new(no_throttle());
    let s = spec(ClassLimits {
        max_processes: 1,
        ..roomy()
    });
    // conn 1 waits 2 s for the spawn; conn 2 queues behind it and is
    // refused at its deadline (the class is full); conn 3 is still queued.
    let p = only_spawn(&r.acquire(1, &s, secs(0)));
    r.acquire_wait(2, &s, secs(3), secs(1));
    r.spawned(p, 10, secs(2));
    r.acquire(3, &s, secs(3));
    let refused = refusals(&r.tick(secs(4)));
    assert_eq!(refused.len(), 1, "{refused:?}");
    let rep = r.m.report(r.at(secs(6)), 1);
    let c = &rep.classes[0];
    assert_eq!(c.refusals, vec![(Refusal::ClassFull, 1)]);
    assert_eq!(c.queue, vec![secs(3)], "conn 3, queued at 3 s");
    assert_eq!((c.wait.count, c.wait.sum), (1, secs(2)));
    let p10 = &c.processes[0];
    assert_eq!(p10.busy_for, Some(secs(4)), "lent at 2 s");
    // Shutdown refuses the rest, counted by reason.
    r.shutdown(secs(7));
    let c = &r.m.report(r.at(secs(7)), 1).classes[0];
    assert_eq!(
        c.refusals,
        vec![(Refusal::ClassFull, 1), (Refusal::Shutdown, 1)]
    );
    assert!(c.queue.is_empty());
}

// ------------------------------------------------ eviction on a full server

fn class_n(i: usize, min: u32) -> ClassSpec {
    spec_named(
        &format!("class-{i}"),
        &format!("/srv/site{i}.fcgi"),
        ClassLimits {
            min_processes: min,
            ..roomy()
        },
    )
}

/// Classes 0..n each serve one request at second i and go idle.
fn warm(r: &mut Rig, specs: &[ClassSpec]) {
    for (i, s) in specs.iter().enumerate() {
        let conn = 1000 + i as u64;
        let proc = r.lend_new(conn, s, 100 + i as i32, secs(i as u64));
        r.release(conn, proc, secs(i as u64));
    }
}

#[test]
fn a_full_server_stops_the_idle_longest_process_for_a_new_class_and_spawns_at_its_exit() {
    let mut r = Rig::new(GlobalLimits {
        max_processes: 4,
        ..default_throttle()
    });
    let specs: Vec<ClassSpec> = (0..5).map(|i| class_n(i, 0)).collect();
    warm(&mut r, &specs[..4]);
    // class-0 serves again: class-1's process is now the idle-longest.
    let granted = grants(&r.acquire(1, &specs[0], secs(10)));
    assert_eq!(granted.len(), 1);
    r.release(1, granted[0].1, secs(10));
    // The fifth class: the server is full, so the idle-longest (class-1,
    // pid 101) is asked to stop, and nothing is spawned yet.
    let acts = r.acquire(2, &specs[4], secs(11));
    assert_eq!(
        acts,
        vec![Action::Signal {
            pid: 101,
            kill: false
        }]
    );
    assert_eq!(r.m.process_count(), 4, "the stopping one still counts");
    assert_eq!(class_view(&r.m, "class-4").evicting, 1);
    assert!(r.tick(secs(11) + ms(100)).is_empty(), "one stop is enough");
    // It exits: its slot goes to class-4 at once.
    let (_, acts) = r.exited(101, secs(11));
    let proc = only_spawn(&acts);
    assert_eq!(grants(&r.spawned(proc, 200, secs(11))), vec![(2, proc)]);
    assert_eq!(r.m.process_count(), 4);
    let victim = class_view(&r.m, "class-1");
    assert_eq!(exits(&victim).get("evicted"), Some(&1), "{victim:?}");
    assert_eq!(
        victim.spawn_score, 1,
        "an eviction is no death: only its spawn counts"
    );
    assert_eq!(class_view(&r.m, "class-4").evicting, 0);
    r.m.check_indexes();
}

#[test]
fn each_waiter_short_of_a_slot_stops_one_process_and_no_more() {
    let mut r = Rig::new(GlobalLimits {
        max_processes: 4,
        ..no_throttle()
    });
    let specs: Vec<ClassSpec> = (0..5).map(|i| class_n(i, 0)).collect();
    warm(&mut r, &specs[..4]);
    assert_eq!(sigterms(&r.acquire(1, &specs[4], secs(10))), vec![100]);
    assert_eq!(sigterms(&r.acquire(2, &specs[4], secs(10))), vec![101]);
    // A tick or a release changes nothing while the two are under way.
    assert!(sigterms(&r.tick(secs(10) + ms(500))).is_empty());
    let (_, acts) = r.exited(100, secs(11));
    let a = only_spawn(&acts);
    let (_, acts) = r.exited(101, secs(11));
    let b = only_spawn(&acts);
    assert_eq!(grants(&r.spawned(a, 200, secs(11))), vec![(1, a)]);
    assert_eq!(grants(&r.spawned(b, 201, secs(11))), vec![(2, b)]);
    assert_eq!(class_view(&r.m, "class-2").processes, 1, "untouched");
    assert_eq!(class_view(&r.m, "class-3").processes, 1, "untouched");
}

#[test]
fn no_eviction_below_a_class_minimum_or_of_busy_processes() {
    let mut r = Rig::new(GlobalLimits {
        max_processes: 2,
        ..no_throttle()
    });
    let at_min = class_n(0, 1);
    let busy = class_n(1, 0);
    let new = class_n(2, 0);
    warm(&mut r, std::slice::from_ref(&at_min));
    let held = r.lend_new(5, &busy, 300, secs(2));
    // Full: class-0 is at its minimum, class-1's process is busy.
    assert!(r.acquire_wait(6, &new, secs(5), secs(3)).is_empty());
    assert_eq!(class_view(&r.m, "class-2").evicting, 0);
    // class-1's process comes back idle: now it can go for class-2.
    let acts = r.release(5, held, secs(4));
    assert_eq!(sigterms(&acts), vec![300]);
    let (_, acts) = r.exited(300, secs(4));
    let p = only_spawn(&acts);
    assert_eq!(grants(&r.spawned(p, 301, secs(4))), vec![(6, p)]);
    assert_eq!(
        class_view(&r.m, "class-0").processes,
        1,
        "kept at its minimum"
    );
}

#[test]
fn a_victim_whose_beneficiary_left_frees_its_slot_for_anyone() {
    let mut r = Rig::new(GlobalLimits {
        max_processes: 2,
        ..no_throttle()
    });
    let specs: Vec<ClassSpec> = (0..4).map(|i| class_n(i, 0)).collect();
    warm(&mut r, &specs[..2]);
    assert_eq!(sigterms(&r.acquire(1, &specs[2], secs(5))), vec![100]);
    r.closed(1, secs(5));
    // Another class asks meanwhile: it gets the other idle process stopped.
    assert_eq!(sigterms(&r.acquire(2, &specs[3], secs(5))), vec![101]);
    let (_, acts) = r.exited(100, secs(6));
    let p = only_spawn(&acts);
    assert_eq!(grants(&r.spawned(p, 400, secs(6))), vec![(2, p)]);
    let (_, acts) = r.exited(101, secs(6));
    assert!(spawns(&acts).is_empty(), "nobody waits any more");
    assert_eq!(class_view(&r.m, "class-2").evicting, 0);
    assert_eq!(class_view(&r.m, "class-3").evicting, 0);
    r.m.check_indexes();
}

// --------------------------------------------- timers at scale (issue 12)

#[test]
fn tick_visits_only_due_classes_among_thousands() {
    let mut r = Rig::new(GlobalLimits {
        max_processes: 10_000,
        ..no_throttle()
    });
    let n = 3000;
    let specs: Vec<ClassSpec> = (0..n)
        .map(|i| {
            spec_named(
                &format!("class-{i:05}"),
                &format!("/srv/site{i}.fcgi"),
                ClassLimits {
                    idle_timeout: secs(300 + i as u64),
                    ..roomy()
                },
            )
        })
        .collect();
    for (i, s) in specs.iter().enumerate() {
        let conn = i as u64 + 1;
        let proc = r.lend_new(conn, s, 1000 + i as i32, ms(i as u64));
        r.release(conn, proc, ms(i as u64));
    }
    // The first timer is class 0's idle timeout: nothing else is armed earlier.
    assert_eq!(r.m.next_timer(), Some(r.at(secs(300))));
    assert!(r.tick(secs(299)).is_empty());
    // At 300.5 s only class 0 is due.
    assert_eq!(sigterms(&r.tick(secs(300) + ms(500))), vec![1000]);
    assert_eq!(sigterms(&r.tick(secs(302) + ms(2))), vec![1001, 1002]);
    assert_eq!(r.m.next_timer(), Some(r.at(secs(303) + ms(3))));
    r.m.check_indexes();
}
