//! The manager's copies of the connections httpd children keep open to app
//! processes between requests (FCGI_KEEP_CONN).
//!
//! An app reads one connection at a time: while a child holds an idle
//! process's connection, nobody else can be served by that process. The
//! child sends the manager a copy of each connection it keeps (see
//! `Message::Holding`) before the slot can be held; when the manager takes
//! the slot (to lend it, stop it, or because the holder died), it shuts its
//! copy down. A shutdown acts on the connection itself, whoever else has
//! it open, so the app sees the end and accepts again at once, and the
//! holder's own descriptor is dead from then on (its next claim of the
//! slot finds the slot no longer held by it).
//!
//! A copy may outlive its use (the holder dropped the connection itself,
//! after shutting it down): it is replaced by the slot's next copy or
//! dropped with the slot's process. At most one copy per slot is kept.
//! A copy is never simply closed while it may be the app's current
//! connection: ended first, so the app is never left reading a
//! connection nobody will write to.

use std::collections::HashMap;
use std::net::Shutdown;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;

struct Copy {
    holder: u32,
    /// The process's request count when it was held.
    served: u64,
    conn: UnixStream,
}

/// Ends a copy that is not kept (a hold broken already, or a process
/// since gone), so its app does not go on reading that connection.
pub fn end_unkept(fd: OwnedFd) {
    end(&UnixStream::from(fd));
}

#[derive(Default)]
pub struct HeldConns {
    by_slot: HashMap<u32, Copy>,
}

fn end(conn: &UnixStream) {
    // ENOTCONN when the other side is gone already: nothing left to end.
    let _ = conn.shutdown(Shutdown::Both);
}

impl HeldConns {
    /// Keeps `fd`, child `holder`'s connection to the process in `slot`,
    /// held after its `served`th request. Of two copies for a slot the
    /// older (fewer requests served) is of a connection the app has
    /// finished with, or must: it is ended. (Copies come on different
    /// connections, so a later one may be read first.)
    pub fn keep(&mut self, slot: u32, holder: u32, served: u64, fd: OwnedFd) {
        let copy = Copy {
            holder,
            served,
            conn: UnixStream::from(fd),
        };
        match self.by_slot.get(&slot) {
            Some(old) if old.served > served => end(&copy.conn),
            _ => {
                if let Some(old) = self.by_slot.insert(slot, copy) {
                    end(&old.conn);
                }
            }
        }
    }

    /// Ends the connection `holder` kept to the process in `slot`; false
    /// if there is no copy of it (not sent yet, or not received). A copy
    /// of another child's, later, says `holder`'s was ended already when
    /// it was replaced: that one stays.
    pub fn break_hold(&mut self, slot: u32, holder: u32) -> bool {
        match self.by_slot.get(&slot) {
            Some(c) if c.holder == holder => {
                if let Some(c) = self.by_slot.remove(&slot) {
                    end(&c.conn);
                }
                true
            }
            Some(_) => true,
            None => false,
        }
    }

    /// The process in `slot` is gone: its copy goes too.
    pub fn forget_slot(&mut self, slot: u32) {
        if let Some(c) = self.by_slot.remove(&slot) {
            end(&c.conn);
        }
    }

    /// Child `holder` died: the kernel closed its descriptors, but these
    /// copies keep its connections open, so each is ended.
    pub fn forget_holder(&mut self, holder: u32) {
        self.by_slot.retain(|_, c| {
            if c.holder == holder {
                end(&c.conn);
            }
            c.holder != holder
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    impl HeldConns {
        fn len(&self) -> usize {
            self.by_slot.len()
        }
    }

    fn pair() -> (UnixStream, OwnedFd) {
        let (app_side, child_side) = UnixStream::pair().unwrap();
        (app_side, OwnedFd::from(child_side))
    }

    fn ended(app_side: &mut UnixStream) -> bool {
        app_side.set_nonblocking(true).unwrap();
        matches!(app_side.read(&mut [0u8; 1]), Ok(0))
    }

    #[test]
    fn breaking_a_hold_ends_the_connection_for_the_app() {
        let mut held = HeldConns::default();
        let (mut app, child) = pair();
        // The child's own descriptor stays open: only the shutdown ends it.
        let child_copy = child.try_clone().unwrap();
        held.keep(3, 100, 1, child);
        assert!(!ended(&mut app));
        assert!(held.break_hold(3, 100));
        assert!(ended(&mut app));
        assert!(!held.break_hold(3, 100), "the copy went with the hold");
        drop(child_copy);
    }

    #[test]
    fn a_dead_holders_copies_are_ended_and_others_kept() {
        let mut held = HeldConns::default();
        let (mut app_a, a) = pair();
        let (mut app_b, b) = pair();
        held.keep(1, 100, 1, a);
        held.keep(2, 200, 1, b);
        held.forget_holder(100);
        assert!(ended(&mut app_a));
        assert!(!ended(&mut app_b));
        assert_eq!(held.len(), 1);
    }

    #[test]
    fn a_copy_of_a_replaced_process_or_connection_is_dropped() {
        let mut held = HeldConns::default();
        let (mut first, a) = pair();
        let (mut second, b) = pair();
        held.keep(1, 100, 1, a);
        held.keep(1, 100, 2, b);
        assert!(ended(&mut first), "replaced by the slot's next copy");
        let (mut late, c) = pair();
        held.keep(1, 300, 1, c);
        assert!(ended(&mut late), "an overtaken copy is ended at once");
        assert!(!ended(&mut second));
        assert!(held.break_hold(1, 300), "300's connection is ended already");
        assert!(!ended(&mut second), "and the later holder's stays");
        held.forget_slot(1);
        assert!(ended(&mut second));
        assert_eq!(held.len(), 0);
    }
}
