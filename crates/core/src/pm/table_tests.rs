//! The claim/release protocol of the shared table, races included: each
//! race is written out as the interleaving it stands for.

use super::table::*;
use super::wire::Outcome;

const PID: u32 = 4242;
const OTHER: u32 = 4343;

/// A table with process 7 idle in slot 0 for class 0, stamp 5.
fn one_idle() -> Table {
    let t = Table::in_memory(4, 4);
    t.occupy(0, 7);
    t.set_class_slots(0, &[0]);
    t.publish_idle(0, 5, 100);
    t
}

#[test]
fn a_claim_is_one_compare_exchange_and_a_release_makes_it_idle_again() {
    let t = one_idle();
    let c = t.claim(0, 5, PID, 200, 10, None).unwrap();
    assert_eq!((c.slot, c.proc_id), (0, 7));
    let v = t.read(0);
    assert_eq!(
        (v.word.state, v.word.pid, v.since_ns),
        (SlotState::Busy, PID, 200)
    );
    assert_eq!(t.claim(0, 5, OTHER, 210, 10, None), Err(NoClaim::NoneIdle));
    assert_eq!(
        t.release(&c, 0, 0, Outcome::Done, false, 300),
        Released::Idle
    );
    let v = t.read(0);
    assert_eq!(
        (v.word.state, v.requests, v.since_ns),
        (SlotState::Idle, 1, 300)
    );
    assert!(t.claim(0, 5, OTHER, 310, 10, None).is_ok());
}

#[test]
fn a_claim_names_its_class_generation() {
    let t = one_idle();
    // Another class, or this class's older generation, finds nothing.
    assert_eq!(t.claim(0, 6, PID, 1, 10, None), Err(NoClaim::NoneIdle));
    // A slot reused by another class under the same list entry.
    let t2 = one_idle();
    t2.hold(0).unwrap();
    t2.free(0);
    t2.occupy(0, 8);
    t2.publish_idle(0, 9, 1);
    assert_eq!(t2.claim(0, 5, PID, 1, 10, None), Err(NoClaim::NoneIdle));
}

#[test]
fn waiters_come_first() {
    let t = one_idle();
    t.set_waiting(0, 1);
    assert_eq!(t.claim(0, 5, PID, 1, 10, None), Err(NoClaim::Waiters));
}

#[test]
fn a_release_with_requests_waiting_hands_the_process_to_the_manager() {
    let t = one_idle();
    let c = t.claim(0, 5, PID, 1, 10, None).unwrap();
    t.set_waiting(0, 1);
    assert_eq!(
        t.release(&c, 0, 0, Outcome::Done, false, 2),
        Released::HandBack
    );
    // Returned in the table, whatever becomes of the message: the
    // manager takes it from there, once.
    assert_eq!(t.read(0).word.state, SlotState::Returned(Outcome::Done));
    assert!(!t.still_claimed(&c));
    assert!(t.claimed_by(PID).is_empty());
    assert_eq!(t.take_returned(0), Some(Outcome::Done));
    assert_eq!(t.read(0).word.state, SlotState::Held);
    assert_eq!(t.take_returned(0), None);
}

#[test]
fn a_release_racing_a_new_waiter_is_seen_by_one_side() {
    // Releaser: checks waiting (0) ... manager: raises waiting, finds no
    // idle slot (still Busy) ... releaser: makes it Idle, looks again.
    let t = one_idle();
    let c = t.claim(0, 5, PID, 1, 10, None).unwrap();
    // The interleaving: waiting is raised between the check and the swap,
    // which `release` cannot be stopped in; the same order of the two
    // shared words is had by raising it after the manager's look failed.
    assert!(t.hold(0).is_none(), "the manager finds it busy");
    t.set_waiting(0, 1);
    // Now the releaser's first look sees the waiter: hand back.
    assert_eq!(
        t.release(&c, 0, 0, Outcome::Done, false, 2),
        Released::HandBack
    );

    // And the other order: the releaser made it Idle first; the manager,
    // raising waiting after, finds it idle and takes it (no nudge needed).
    let t = one_idle();
    let c = t.claim(0, 5, PID, 1, 10, None).unwrap();
    assert_eq!(t.release(&c, 0, 0, Outcome::Done, false, 2), Released::Idle);
    t.set_waiting(0, 1);
    assert_eq!(t.hold(0), Some(0));
}

#[test]
fn max_requests_and_bad_outcomes_go_to_the_manager() {
    let t = one_idle();
    let c = t.claim(0, 5, PID, 1, 10, None).unwrap();
    assert_eq!(t.release(&c, 0, 2, Outcome::Done, false, 2), Released::Idle);
    let c = t.claim(0, 5, PID, 3, 10, None).unwrap();
    assert_eq!(
        t.release(&c, 0, 2, Outcome::Done, false, 4),
        Released::HandBack
    );
    assert_eq!(t.read(0).requests, 2);
    let t = one_idle();
    let c = t.claim(0, 5, PID, 1, 10, None).unwrap();
    assert_eq!(
        t.release(&c, 0, 0, Outcome::Broken, false, 2),
        Released::HandBack
    );
    assert_eq!(t.take_returned(0), Some(Outcome::Broken));
}

#[test]
fn a_flagged_claim_comes_back_and_a_seized_one_is_gone() {
    let t = one_idle();
    let c = t.claim(0, 5, PID, 1, 10, None).unwrap();
    assert!(t.flag_retire(0));
    assert_eq!(
        t.release(&c, 0, 0, Outcome::Done, false, 2),
        Released::HandBack
    );
    assert_eq!(t.read(0).word.state, SlotState::Returned(Outcome::Done));

    let t = one_idle();
    let c = t.claim(0, 5, PID, 1, 10, None).unwrap();
    let was = t.seize(0);
    assert_eq!(was.state, SlotState::Busy);
    assert_eq!(t.release(&c, 0, 0, Outcome::Done, false, 2), Released::Gone);
    assert_eq!(t.read(0).word.state, SlotState::Held);
}

#[test]
fn a_stale_claim_cannot_release_the_slots_next_process() {
    // Thread A claims process 7; it exits; the slot is freed and reused
    // by process 8 of the same class, which thread B of the same child
    // claims. A's late release must not touch B's claim.
    let t = one_idle();
    let a = t.claim(0, 5, PID, 1, 10, None).unwrap();
    t.seize(0);
    t.free(0);
    t.occupy(0, 8);
    t.publish_idle(0, 5, 2);
    let b = t.claim(0, 5, PID, 3, 10, None).unwrap();
    assert_eq!(b.proc_id, 8);
    assert_eq!(t.release(&a, 0, 0, Outcome::Done, false, 4), Released::Gone);
    assert_eq!(t.read(0).word.state, SlotState::Busy);
    assert_eq!(t.read(0).requests, 0);
    assert_eq!(t.release(&b, 0, 0, Outcome::Done, false, 5), Released::Idle);
}

#[test]
fn a_dead_claimants_slots_are_found_by_its_pid() {
    let t = Table::in_memory(3, 1);
    for s in 0..3 {
        t.occupy(s, u64::from(s) + 10);
        t.publish_idle(s, 5, 0);
    }
    t.set_class_slots(0, &[0, 1, 2]);
    t.claim(0, 5, PID, 1, 10, None).unwrap();
    t.claim(0, 5, OTHER, 1, 10, None).unwrap();
    t.claim(0, 5, PID, 1, 10, None).unwrap();
    assert_eq!(t.claimed_by(PID).len(), 2);
    assert_eq!(t.claimed_count(), 3);
    for s in t.claimed_by(PID) {
        assert!(t.take_from(s, PID));
    }
    assert_eq!(t.claimed_count(), 1);
    // Only the claimant's pid takes it.
    let s = t.claimed_by(OTHER)[0];
    assert!(!t.take_from(s, PID));
}

#[test]
fn a_claim_walks_only_its_class_and_is_bounded() {
    let t = Table::in_memory(4, 2);
    for s in 0..4 {
        t.occupy(s, u64::from(s));
    }
    t.set_class_slots(0, &[0, 1]);
    t.set_class_slots(1, &[2, 3]);
    t.publish_idle(0, 5, 0);
    t.publish_idle(1, 5, 0);
    t.publish_idle(2, 6, 0);
    t.publish_idle(3, 6, 0);
    assert_eq!(t.claim(1, 6, PID, 0, 10, None).unwrap().slot, 2);
    assert_eq!(t.claim(0, 5, PID, 0, 1, None).unwrap().slot, 0);
    // One step allowed, the second idle one is out of reach.
    assert_eq!(t.claim(0, 5, PID, 0, 1, None), Err(NoClaim::NoneIdle));
    assert_eq!(t.claim(0, 5, PID, 0, 2, None).unwrap().slot, 1);
    assert_eq!(t.claim(9, 5, PID, 0, 2, None), Err(NoClaim::Unusable));
}

#[test]
fn a_closed_table_lends_nothing_but_takes_releases() {
    let t = one_idle();
    let c = t.claim(0, 5, PID, 1, 10, None).unwrap();
    t.close();
    assert_eq!(t.claim(0, 5, OTHER, 1, 10, None), Err(NoClaim::Unusable));
    assert_eq!(t.release(&c, 0, 0, Outcome::Done, false, 2), Released::Idle);
}

#[test]
fn the_word_round_trips_and_the_header_holds_the_socket_prefix() {
    let w = Word {
        stamp: (1 << STAMP_BITS) - 1,
        pid: 4_194_303,
        epoch: 255,
        state: SlotState::BusyRetire,
    };
    assert_eq!(Word::unpack(w.pack()), w);
    assert!(pid_fits(4_194_304) && !pid_fits(0) && !pid_fits(1 << 23));
    let t = Table::in_memory(1, 1);
    assert!(t.set_socket_prefix(b"/run/fcgid/123-"));
    assert_eq!(t.socket_prefix(), b"/run/fcgid/123-");
    assert!(!t.set_socket_prefix(&[b'x'; PREFIX_MAX + 1]));
    let opened = Table::open(std::sync::Arc::new(
        (0..words_for(1, 1))
            .map(|_| std::sync::atomic::AtomicU64::new(0))
            .collect::<Vec<_>>(),
    ));
    assert!(opened.is_none(), "no magic, no table");
}

#[test]
fn request_info_is_read_whole_or_not_at_all() {
    let t = one_idle();
    assert_eq!(t.request_info(0), None, "nothing recorded");
    t.set_request_info(0, &[b"GET", b" ", b"/index.php?x=1"]);
    let info = t.request_info(0).unwrap();
    assert_eq!(
        (&info.text[..], info.cut),
        (&b"GET /index.php?x=1"[..], false)
    );
    let long = vec![b'a'; INFO_MAX + 10];
    t.set_request_info(0, &[b"GET ", &long]);
    let info = t.request_info(0).unwrap();
    assert_eq!(info.text.len(), INFO_MAX);
    assert!(
        info.text.starts_with(b"GET aaa") && info.cut,
        "cut, and says so"
    );
    t.set_request_info(0, &[]);
    assert_eq!(t.request_info(0), None, "cleared");
    assert_eq!(t.request_info(7), None, "no such slot");
}

#[test]
fn a_reader_never_sees_half_of_one_request_and_half_of_another() {
    let t = one_idle();
    let a = vec![b'a'; INFO_MAX];
    let b = vec![b'b'; INFO_MAX / 2];
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (t, stop) = (t.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                t.set_request_info(0, &[&a]);
                t.set_request_info(0, &[&b]);
            }
        })
    };
    for _ in 0..20_000 {
        if let Some(info) = t.request_info(0) {
            let whole_a = info.text.len() == INFO_MAX && info.text.iter().all(|c| *c == b'a');
            let whole_b = info.text.len() == INFO_MAX / 2 && info.text.iter().all(|c| *c == b'b');
            assert!(
                whole_a || whole_b,
                "a torn copy: {:?}",
                String::from_utf8_lossy(&info.text)
            );
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
}

#[test]
fn a_release_clears_the_request_of_its_slot_only_while_it_holds_it() {
    let t = one_idle();
    let c = t.claim(0, 5, PID, 0, 10, None).unwrap();
    t.set_request_info(c.slot, &[b"GET /slow"]);
    assert_eq!(t.release(&c, 0, 0, Outcome::Done, false, 1), Released::Idle);
    assert_eq!(t.request_info(0), None, "the request ended with the claim");
    let c = t.claim(0, 5, PID, 2, 10, None).unwrap();
    t.seize(0);
    t.set_request_info(0, &[b"GET /the-next-one"]);
    assert_eq!(t.release(&c, 0, 0, Outcome::Done, false, 3), Released::Gone);
    assert!(
        t.request_info(0).is_some(),
        "not the old claimant's to clear"
    );
}

#[test]
fn the_process_released_last_is_claimed_first() {
    let t = Table::in_memory(3, 1);
    for s in 0..3 {
        t.occupy(s, u64::from(s));
        t.publish_idle(s, 5, 0);
    }
    t.set_class_slots(0, &[0, 1, 2]);
    let a = t.claim(0, 5, PID, 0, 10, None).unwrap();
    let b = t.claim(0, 5, PID, 0, 10, None).unwrap();
    let c = t.claim(0, 5, PID, 0, 10, None).unwrap();
    assert_eq!((a.slot, b.slot, c.slot), (0, 1, 2));
    assert_eq!(t.release(&c, 0, 0, Outcome::Done, false, 1), Released::Idle);
    assert_eq!(t.claim(0, 5, OTHER, 2, 10, None).unwrap().slot, 2);
    // A stale hint (the slot is busy) falls back to the walk.
    assert_eq!(t.release(&a, 0, 0, Outcome::Done, false, 3), Released::Idle);
    assert_eq!(t.claim(0, 5, OTHER, 4, 10, None).unwrap().slot, 0);
    assert_eq!(t.claim(0, 5, OTHER, 5, 10, None), Err(NoClaim::NoneIdle));
}

/// Dekker's pairing under real threads: a child releasing while the
/// manager raises `waiting` and looks for an idle slot. In every round one
/// side must see the other (the releaser tells, or the manager holds the
/// slot), else a waiter is left with a process idle. Bounded in rounds,
/// never in time.
#[test]
fn a_release_and_a_raise_of_waiting_never_both_miss() {
    use std::sync::atomic::{AtomicU8, Ordering::SeqCst};
    use std::sync::{Arc, Barrier};
    const ROUNDS: usize = 20_000;
    let t = one_idle();
    let go = Arc::new(Barrier::new(2));
    let told = Arc::new(AtomicU8::new(0));
    let child = {
        let (t, go, told) = (t.clone(), go.clone(), told.clone());
        std::thread::spawn(move || {
            for _ in 0..ROUNDS {
                let c = t
                    .claim(0, 5, PID, 1, 10, None)
                    .expect("idle at each round's start");
                go.wait();
                let r = t.release(&c, 0, 0, Outcome::Done, false, 2);
                told.store(u8::from(r != Released::Idle), SeqCst);
                go.wait();
                go.wait();
            }
        })
    };
    let mut missed = 0;
    for _ in 0..ROUNDS {
        go.wait();
        t.set_waiting(0, 1);
        let held = t.hold(0).is_some();
        go.wait();
        if !held && told.load(SeqCst) == 0 {
            missed += 1;
        }
        // Back to one idle process, nobody waiting.
        t.seize(0);
        t.publish_idle(0, 5, 100);
        t.set_waiting(0, 0);
        go.wait();
    }
    child.join().unwrap();
    assert_eq!(missed, 0, "rounds where both sides missed each other");
}

/// A table with processes 7 and 8 idle in slots 0 and 1, class 0, stamp 5.
fn two_idle() -> Table {
    let t = Table::in_memory(4, 4);
    for (slot, proc) in [(0, 7), (1, 8)] {
        t.occupy(slot, proc);
        t.publish_idle(slot, 5, 100);
    }
    t.set_class_slots(0, &[0, 1]);
    t
}

const MS: u64 = 1_000_000;

#[test]
fn a_process_is_held_only_while_another_of_its_class_is_idle_for_anyone() {
    let t = two_idle();
    // The only idle process of the class: released unheld, whatever is asked.
    let a = t.claim(0, 5, PID, MS, 10, None).unwrap();
    let b = t.claim(0, 5, OTHER, MS, 10, None).unwrap();
    assert_eq!(
        t.release(&a, 0, 0, Outcome::Done, false, 2 * MS),
        Released::Idle
    );
    assert!(t.may_hold(0, &b, 2 * MS), "a's process is idle for anyone");
    assert_eq!(
        t.release(&b, 0, 0, Outcome::Done, true, 3 * MS),
        Released::Held
    );
    let held = t.read(b.slot).word;
    assert_eq!((held.state, held.pid), (SlotState::Idle, OTHER));
    // Now a's is the only one left for anyone: it is not held either.
    let a = t.claim(0, 5, PID, 4 * MS, 10, None).unwrap();
    assert_eq!(a.slot, 0, "the held one is not offered to another child");
    assert!(!t.may_hold(0, &a, 4 * MS));
    assert_eq!(
        t.release(&a, 0, 0, Outcome::Done, true, 5 * MS),
        Released::Idle
    );
    assert_eq!(t.read(0).word.pid, 0);
}

#[test]
fn the_holder_claims_its_hold_and_others_take_it_only_once_it_has_cooled() {
    let t = two_idle();
    let a = t.claim(0, 5, PID, MS, 10, None).unwrap();
    let other = t.claim(0, 5, OTHER, MS, 10, None).unwrap();
    t.release(&other, 0, 0, Outcome::Done, false, MS);
    assert_eq!(
        t.release(&a, 0, 0, Outcome::Done, true, 2 * MS),
        Released::Held
    );
    // Its holder gets it back, first if it asks for it, and knows it held it.
    let again = t.claim(0, 5, PID, 3 * MS, 10, Some(a.slot)).unwrap();
    assert_eq!(
        (again.slot, again.held, again.taken_from),
        (a.slot, true, 0)
    );
    assert_eq!(
        t.release(&again, 0, 0, Outcome::Done, true, 4 * MS),
        Released::Held
    );
    // Another child takes the unheld one, then nothing while the hold is warm.
    let b = t.claim(0, 5, OTHER, 5 * MS, 10, None).unwrap();
    assert_ne!(b.slot, a.slot);
    let warm = 4 * MS + STEAL_AFTER_NS - 1;
    assert_eq!(t.claim(0, 5, 777, warm, 10, None), Err(NoClaim::NoneIdle));
    // A cold hold is taken, and the claim names whose connection to end.
    let cold = t
        .claim(0, 5, 777, 4 * MS + STEAL_AFTER_NS, 10, None)
        .unwrap();
    assert_eq!(
        (cold.slot, cold.held, cold.taken_from),
        (a.slot, false, PID)
    );
}

#[test]
fn the_manager_taking_a_held_slot_learns_its_holder_and_a_dead_holder_lets_go() {
    let t = two_idle();
    let a = t.claim(0, 5, PID, MS, 10, None).unwrap();
    let b = t.claim(0, 5, OTHER, MS, 10, None).unwrap();
    t.release(&b, 0, 0, Outcome::Done, false, MS);
    assert_eq!(
        t.release(&a, 0, 0, Outcome::Done, true, 2 * MS),
        Released::Held
    );
    assert_eq!(t.held_by(PID), vec![a.slot]);
    assert!(!t.unhold(a.slot, OTHER), "only its holder's hold is let go");
    assert!(t.unhold(a.slot, PID));
    assert_eq!(t.read(a.slot).word.pid, 0);
    assert!(t.held_by(PID).is_empty());
    // Held again, then taken by the manager: it hears from whom.
    let a = t.claim(0, 5, PID, 3 * MS, 10, Some(a.slot)).unwrap();
    assert!(!a.held);
    assert_eq!(
        t.release(&a, 0, 0, Outcome::Done, true, 4 * MS),
        Released::Held
    );
    assert_eq!(t.hold(a.slot), Some(PID));
    assert_eq!(t.hold(b.slot), Some(0));
}

#[test]
fn a_class_s_only_process_may_be_held() {
    let t = one_idle();
    let a = t.claim(0, 5, PID, MS, 10, None).unwrap();
    assert!(t.may_hold(0, &a, MS));
    assert_eq!(
        t.release(&a, 0, 0, Outcome::Done, true, 2 * MS),
        Released::Held
    );
}

#[test]
fn no_hold_is_made_for_a_while_after_a_request_found_nothing_idle() {
    let t = two_idle();
    let a = t.claim(0, 5, PID, MS, 10, None).unwrap();
    let b = t.claim(0, 5, OTHER, MS, 10, None).unwrap();
    // A third request finds both busy: the class is short of processes.
    assert_eq!(t.claim(0, 5, 777, 2 * MS, 10, None), Err(NoClaim::NoneIdle));
    t.release(&a, 0, 0, Outcome::Done, false, 3 * MS);
    assert!(
        !t.may_hold(0, &b, 4 * MS),
        "a's process is idle, but lately one was missed"
    );
    assert_eq!(
        t.release(&b, 0, 0, Outcome::Done, true, 4 * MS),
        Released::Idle
    );
    // Once the class has gone HOLD_OFF_NS without a miss, holds are made again.
    let later = 2 * MS + HOLD_OFF_NS;
    let a = t.claim(0, 5, PID, later, 10, Some(a.slot)).unwrap();
    assert_eq!(
        t.release(&a, 0, 0, Outcome::Done, true, later + MS),
        Released::Held
    );
}

#[test]
fn a_process_released_unheld_may_be_held_on_its_next_release() {
    let t = two_idle();
    // Released without a hold, a's process is the one released last.
    let a = t.claim(0, 5, PID, MS, 10, None).unwrap();
    t.release(&a, 0, 0, Outcome::Done, false, 2 * MS);
    // Claimed again: the other process is idle for anyone, so it may be held.
    let a = t.claim(0, 5, PID, 3 * MS, 10, None).unwrap();
    assert!(t.may_hold(0, &a, 3 * MS));
    assert_eq!(
        t.release(&a, 0, 0, Outcome::Done, true, 4 * MS),
        Released::Held
    );
}

#[test]
fn nine_holds_at_the_head_of_the_list_leave_the_tenth_found_spare_and_named() {
    // Ten idle processes; nine client connections (of nine children) each
    // claim one, taking the list from its head, and keep it.
    let t = Table::in_memory(10, 1);
    for slot in 0..10 {
        t.occupy(slot, 100 + u64::from(slot));
        t.publish_idle(slot, 5, 100);
    }
    t.set_class_slots(0, &(0..10).collect::<Vec<_>>());
    let claims: Vec<_> = (0..9)
        .map(|k| t.claim(0, 5, PID + k, MS, 10, None).unwrap())
        .collect();
    assert_eq!(
        claims.iter().map(|c| c.slot).collect::<Vec<_>>(),
        (0..9).collect::<Vec<_>>()
    );
    // Each release finds the tenth idle for anyone, past the nine.
    for c in &claims {
        assert_eq!(
            t.release(c, 0, 0, Outcome::Done, true, 2 * MS),
            Released::Held
        );
    }
    // And names it for the next claim: the hint is tried first, so a
    // claim allowed one step of the list (spent on the held head) gets it.
    let next = t.claim(0, 5, OTHER, 3 * MS, 1, None).unwrap();
    assert_eq!((next.slot, next.taken_from), (9, 0));
}
