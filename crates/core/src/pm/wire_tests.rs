//! Round trips of the manager's wire protocol (kept apart from wire.rs,
//! which the integration tests include for their own status queries).

use super::wire::*;
use std::time::Duration;

fn sample_spec() -> ClassSpec {
    ClassSpec {
        key: "8:1234:/srv/app.fcgi:localhost:80".into(),
        argv: vec![b"/srv/app.fcgi".to_vec(), b"-x".to_vec()],
        cwd: b"/srv".to_vec(),
        env: vec![
            (b"PATH".to_vec(), b"/usr/bin".to_vec()),
            (b"EMPTY".to_vec(), vec![]),
        ],
        limits: ClassLimits {
            max_processes: 4,
            min_processes: 1,
            idle_timeout: Duration::from_secs(300),
            lifetime: Duration::from_secs(3600),
            busy_timeout: Duration::from_millis(1500),
            max_requests: 5,
        },
        uid: 1001,
        gid: 1002,
    }
}

fn all_messages() -> Vec<Message> {
    vec![
        Message::Acquire {
            spec: sample_spec(),
            wait: Duration::from_millis(2500),
        },
        Message::Granted {
            proc_id: 7,
            pid: 4321,
            socket: b"/run/fcgid/1-7.sock".to_vec(),
            fast: None,
            slot: None,
            with_conn: false,
        },
        Message::Granted {
            proc_id: 8,
            pid: 4322,
            socket: b"/run/fcgid/1-8.sock".to_vec(),
            fast: Some(FastRef {
                table: 99,
                class: 3,
                stamp: 12,
            }),
            slot: Some(TableSlot { table: 99, slot: 5 }),
            with_conn: true,
        },
        Message::HandBack {
            table: 99,
            slot: 4,
            proc_id: 8,
            outcome: Outcome::ClientGone,
        },
        Message::Nudge {
            table: 99,
            class: 3,
        },
        Message::Holding {
            table: 99,
            slot: 6,
            epoch: 255,
            served: u64::MAX,
        },
        Message::Break {
            table: 99,
            slot: 6,
            holder: 4_000_000,
        },
        Message::Refused {
            reason: "class at FcgidMaxProcessesPerClass 4".into(),
        },
        Message::CannotStart {
            reason: "cannot execute /srv/app.fcgi: Permission denied".into(),
        },
        Message::Release {
            proc_id: 7,
            outcome: Outcome::Done,
            with_conn: true,
        },
        Message::Release {
            proc_id: 9,
            outcome: Outcome::Broken,
            with_conn: false,
        },
        Message::Reconfigure {
            global: super::policy::GlobalLimits {
                max_processes: 9,
                spawn_score: 8,
                termination_score: 7,
                time_score: 6,
                spawn_score_up_limit: 5,
            },
            allow: {
                let mut a = super::allow::AllowList::default();
                a.add_command(b"/usr/bin/php-cgi");
                a.add_root(b"/var/www");
                a
            },
        },
        Message::StatusQuery,
        Message::StatusHead {
            manager_pid: 12,
            classes: 1,
        },
        Message::StatusClass(Box::new(super::report::ClassReport {
            key: "k".into(),
            command_line: "/usr/bin/php-cgi /srv/a.php".into(),
            executable: "/usr/bin/php-cgi".into(),
            waiting: 1,
            spawns: 2,
            requests: 3,
            spawn_score: 4,
            failed_starts: 5,
            exits: vec![(super::policy::ExitReason::ClientAbort, 6)],
            processes: vec![super::report::ProcessReport {
                pid: 99,
                phase: super::report::Phase::Stopping(super::policy::ExitReason::IdleTimeout),
                requests: 7,
                age: Duration::from_millis(8000),
                since_last_request: Duration::from_millis(900),
                ..Default::default()
            }],
            ..Default::default()
        })),
    ]
}

#[test]
fn every_message_round_trips_even_fed_byte_by_byte() {
    let mut stream = Vec::new();
    for m in all_messages() {
        m.encode(&mut stream);
    }
    let mut buf = Vec::new();
    let mut out = Vec::new();
    for byte in stream {
        buf.push(byte);
        while let Some(m) = Message::decode(&mut buf).unwrap() {
            out.push(m);
        }
    }
    assert_eq!(out, all_messages());
    assert!(buf.is_empty());
}

#[test]
fn corrupt_frames_are_errors_not_guesses() {
    let mut buf = vec![0, 0, 0, 1, 99];
    assert!(Message::decode(&mut buf).is_err(), "unknown kind");
    let mut buf = vec![0xff, 0xff, 0xff, 0xff];
    assert!(Message::decode(&mut buf).is_err(), "absurd length");
    let mut ok = Vec::new();
    Message::Release {
        proc_id: 1,
        outcome: Outcome::Done,
        with_conn: false,
    }
    .encode(&mut ok);
    let mut flag = ok.clone();
    ok[3] += 1; // claim one more byte than the fields hold
    ok.push(0);
    assert!(Message::decode(&mut ok).is_err(), "trailing bytes");
    // A connection comes with the message or not: nothing in between.
    *flag.last_mut().unwrap() = 2;
    assert!(Message::decode(&mut flag).is_err(), "a flag of 2");
}

/// Found by the `wire` fuzz target: duplicate allow-list entries decoded
/// into one, so the message re-encoded to another frame.
#[test]
fn an_allow_list_with_duplicates_is_refused() {
    let mut good = Vec::new();
    Message::Reconfigure {
        global: super::policy::GlobalLimits::default(),
        allow: {
            let mut a = super::allow::AllowList::default();
            a.add_root(b"/srv");
            a
        },
    }
    .encode(&mut good);
    // The same frame with the root listed twice (and the length fixed up).
    let mut body = good[4..].to_vec();
    let one_root = body.split_off(body.len() - 12); // count 1, len 4, "/srv"
    assert_eq!(&one_root[..4], &1u32.to_be_bytes());
    body.extend_from_slice(&2u32.to_be_bytes());
    for _ in 0..2 {
        body.extend_from_slice(&one_root[4..]);
    }
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    assert!(Message::decode(&mut frame).is_err());
}

#[test]
fn acquire_from_a_borrowed_spec_is_the_same_frame() {
    let wait = Duration::from_millis(2500);
    let (mut owned, mut borrowed) = (vec![7], vec![7]);
    Message::Acquire {
        spec: sample_spec(),
        wait,
    }
    .encode(&mut owned);
    encode_acquire(&mut borrowed, &sample_spec(), wait);
    assert_eq!(borrowed, owned);
}
