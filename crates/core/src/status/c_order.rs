//! The order of C mod_fcgid's status section: classes by executable path,
//! gid, uid, command line and virtual host (its `fcgidsort`), and within a
//! class the rows by why they exit, then ready before working before
//! exiting. Suexec hosts running the same php-cgi as many users so read
//! as with C.

use crate::pm::policy::ExitReason;
use crate::pm::report::{ClassReport, Phase};
use std::cmp::Ordering;

/// The uid, gid and virtual host at the end of a class key
/// (`dev:ino|argv|vhost|uid:gid`; the command line may hold `|`, the
/// last two fields do not).
fn identity(key: &str) -> (u32, u32, &str) {
    let mut fields = key.rsplitn(3, '|');
    let ids = fields.next().unwrap_or("");
    let vhost = fields.next().unwrap_or("");
    let (uid, gid) = ids.split_once(':').unwrap_or(("", ""));
    (uid.parse().unwrap_or(0), gid.parse().unwrap_or(0), vhost)
}

/// C's order of classes. C breaks the last tie by its vhost's number (the
/// order of `<VirtualHost>` sections), which a class does not carry here:
/// the vhost's name stands in, then the key keeps the order total.
pub fn classes(a: &ClassReport, b: &ClassReport) -> Ordering {
    let (a_uid, a_gid, a_vhost) = identity(&a.key);
    let (b_uid, b_gid, b_vhost) = identity(&b.key);
    (
        &a.executable,
        a_gid,
        a_uid,
        &a.command_line,
        a_vhost,
        &a.key,
    )
        .cmp(&(
            &b.executable,
            b_gid,
            b_uid,
            &b.command_line,
            b_vhost,
            &b.key,
        ))
}

/// A row's place in its class's table: C's exit reason code first (0 for a
/// live process; ours-only reasons after C's), then ready, working, exiting.
pub fn row(phase: Phase) -> (u8, u8) {
    match phase {
        Phase::Idle | Phase::Starting => (0, 0),
        Phase::Busy => (0, 1),
        Phase::Stopping(reason) => (exit_code(reason), 2),
    }
}

/// C's `diewhy` for a reason it has; 7 and up for ours.
fn exit_code(reason: ExitReason) -> u8 {
    match reason {
        ExitReason::Died => 0,
        ExitReason::IdleTimeout => 1,
        ExitReason::LifeTime => 2,
        ExitReason::BusyTimeout => 3,
        ExitReason::Broken => 5,
        ExitReason::Shutdown => 6,
        ExitReason::MaxRequests => 7,
        ExitReason::ClientAbort => 8,
        ExitReason::Reconfigured => 9,
        ExitReason::Evicted => 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(key: &str, executable: &str, command_line: &str) -> ClassReport {
        ClassReport {
            key: key.into(),
            executable: executable.into(),
            command_line: command_line.into(),
            ..ClassReport::default()
        }
    }

    #[test]
    fn the_key_ends_in_vhost_and_ids_whatever_the_command_holds() {
        assert_eq!(
            identity("8:1|/bin/sh -c a|b|site.example:80|1001:1002"),
            (1001, 1002, "site.example:80")
        );
    }

    #[test]
    fn classes_go_by_executable_gid_uid_command_line_then_vhost() {
        let php = "/var/www/php-wrapper";
        let mut list = [
            class("1:9|/srv/z.fcgi|a:80|33:33", "/srv/z.fcgi", "/srv/z.fcgi"),
            // The same php-cgi wrapper for three suexec users.
            class(&format!("1:2|{php}|b:80|1003:1001"), php, php),
            class(&format!("1:2|{php}|a:80|1001:1002"), php, php),
            class(&format!("1:2|{php}|c:80|1002:1001"), php, php),
            class(
                &format!("1:2|{php} -c x|a:80|1001:1001"),
                php,
                &format!("{php} -c x"),
            ),
            // Same but the vhost.
            class(&format!("1:2|{php}|a:80|1002:1001"), php, php),
            class("1:3|/srv/a.fcgi|a:80|33:33", "/srv/a.fcgi", "/srv/a.fcgi"),
        ];
        list.sort_by(classes);
        let keys: Vec<&str> = list.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "1:3|/srv/a.fcgi|a:80|33:33",
                "1:9|/srv/z.fcgi|a:80|33:33",
                // gid 1001 first; within it uid 1001 (its command line
                // sorts after the plain one, but uid comes first)...
                "1:2|/var/www/php-wrapper -c x|a:80|1001:1001",
                // ...then uid 1002 in vhosts a and c, then uid 1003.
                "1:2|/var/www/php-wrapper|a:80|1002:1001",
                "1:2|/var/www/php-wrapper|c:80|1002:1001",
                "1:2|/var/www/php-wrapper|b:80|1003:1001",
                "1:2|/var/www/php-wrapper|a:80|1001:1002",
            ]
        );
    }

    #[test]
    fn rows_go_by_exit_reason_then_ready_working_exiting() {
        let mut phases = [
            Phase::Stopping(ExitReason::Shutdown),
            Phase::Busy,
            Phase::Stopping(ExitReason::IdleTimeout),
            Phase::Idle,
            Phase::Stopping(ExitReason::Died),
            Phase::Stopping(ExitReason::Evicted),
        ];
        phases.sort_by_key(|p| row(*p));
        assert_eq!(
            phases,
            [
                Phase::Idle,
                Phase::Busy,
                Phase::Stopping(ExitReason::Died),
                Phase::Stopping(ExitReason::IdleTimeout),
                Phase::Stopping(ExitReason::Shutdown),
                Phase::Stopping(ExitReason::Evicted),
            ]
        );
    }
}
