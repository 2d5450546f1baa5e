//! The manager starts only what the configuration allows: whoever reaches
//! its socket names a class, so a forged request for another program gets
//! a refusal and one log line, and nothing is started.

mod common;
use common::*;
use fcgid_core::pm::wire::{ClassLimits, ClassSpec, Message};
use std::io::{Read, Write};
use std::time::Duration;

fn ask(h: &Httpd, argv0: &str) -> Message {
    let path = h.root.join("logs/fcgidsock/pm.sock");
    let mut s = std::os::unix::net::UnixStream::connect(&path).unwrap();
    let spec = ClassSpec {
        key: format!("forged|{argv0}"),
        argv: vec![argv0.as_bytes().to_vec()],
        cwd: b"/".to_vec(),
        env: vec![],
        uid: 33,
        gid: 33,
        limits: ClassLimits {
            max_processes: 1,
            min_processes: 0,
            idle_timeout: Duration::from_secs(60),
            lifetime: Duration::from_secs(60),
            busy_timeout: Duration::from_secs(60),
            max_requests: 0,
        },
    };
    let mut frame = Vec::new();
    Message::Acquire {
        spec,
        wait: Duration::from_secs(5),
    }
    .encode(&mut frame);
    s.write_all(&frame).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut inbox = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(m) = Message::decode(&mut inbox).unwrap() {
            return m;
        }
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "the manager closed the connection");
        inbox.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn a_class_outside_the_configuration_is_refused_and_one_inside_is_served() {
    let h = Httpd::new("allow", Mpm::Event, &["hello"], "").start();
    assert_eq!(h.get("/hello.fcgi").status, 200);
    match ask(&h, "/bin/sh") {
        Message::Refused { reason } => {
            assert!(reason.contains("refused to start /bin/sh"), "{reason}")
        }
        other => panic!("a forged class was answered: {other:?}"),
    }
    h.wait_for_log("the refusal", |log| {
        log.contains("process manager: refused to start /bin/sh: it is neither a command")
    });
    // Nothing was started for it: the manager knows no such class.
    assert!(
        h.pm_report()
            .classes
            .iter()
            .all(|c| c.key != "forged|/bin/sh"),
        "{:?}",
        h.pm_report()
    );
    // A script below the DocumentRoot is a class the configuration allows.
    let hello = h.www().join("hello.fcgi");
    assert!(matches!(
        ask(&h, hello.to_str().unwrap()),
        Message::Granted { .. }
    ));
}
