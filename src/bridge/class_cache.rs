//! The classes this thread served last, so that a request to the same
//! script does not build its class (key, command line, settings) again.
//!
//! A hit must be the very class `class_for` would build: an entry is found
//! only by everything `class_for` reads (script name and identity, the
//! wrapper, the server config, vhost, uid and gid), and a new configuration
//! generation forgets every entry (a server config may reuse the address
//! of one from an earlier generation).

use super::class::{class_for, Target};
use crate::config::{Command, ProcessOptions, ServerConfig, Wrapper};
use crate::pm::wire::ClassSpec;
use std::cell::RefCell;
use std::os::unix::ffi::OsStrExt;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Entries a thread keeps; the one unused longest goes first. They are kept
/// in order of use, the last used at the end, and searched from there: a
/// thread serving one class all the time finds it at the first compare
/// however many others it met (with 5000 classes a scan of all 16 cost 560
/// instructions per request).
const CAPACITY: usize = 16;

/// Bumped on each configuration read (`post_config`).
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Forgets every thread's entries: the configuration is read again.
pub fn forget_all() {
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

pub type Class = Rc<(ClassSpec, ProcessOptions)>;

struct Entry {
    generation: u64,
    server: *const ServerConfig,
    filename: Vec<u8>,
    file_id: Option<(u64, u64)>,
    wrapper: Option<Command>,
    vhost: (String, u16),
    uid: u32,
    gid: u32,
    class: Class,
}

impl Entry {
    fn is_for(
        &self,
        generation: u64,
        target: &Target,
        server: &ServerConfig,
        wrapper: Option<&Wrapper>,
    ) -> bool {
        // The inode first: it tells most entries apart.
        self.file_id == target.file_id
            && self.generation == generation
            && std::ptr::eq(self.server, server)
            && self.uid == target.uid
            && self.gid == target.gid
            && self.filename == target.filename.as_os_str().as_bytes()
            && self.vhost.1 == target.vhost.port
            && self.vhost.0 == target.vhost.name
            && self.wrapper.as_ref() == wrapper.map(|w| &w.command)
    }
}

thread_local! {
    static ENTRIES: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
}

/// `class_for`, from this thread's entries when it has the class.
pub fn class_of(
    target: &Target,
    server: &ServerConfig,
    wrapper: Option<&Wrapper>,
) -> Option<Class> {
    let generation = GENERATION.load(Ordering::Relaxed);
    ENTRIES.with_borrow_mut(|entries| {
        if let Some(i) = entries
            .iter()
            .rposition(|e| e.is_for(generation, target, server, wrapper))
        {
            // Used now: to the end, where the search starts.
            entries[i..].rotate_left(1);
            return entries.last().map(|e| Rc::clone(&e.class));
        }
        let class = Rc::new(class_for(target, server, wrapper)?);
        entries.retain(|e| e.generation == generation);
        if entries.len() >= CAPACITY {
            entries.remove(0);
        }
        entries.push(Entry {
            generation,
            server,
            filename: target.filename.as_os_str().as_bytes().to_vec(),
            file_id: target.file_id,
            wrapper: wrapper.map(|w| w.command.clone()),
            vhost: (target.vhost.name.to_owned(), target.vhost.port),
            uid: target.uid,
            gid: target.gid,
            class: Rc::clone(&class),
        });
        Some(class)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::sync::Mutex;

    /// `forget_all` is process-wide: tests that call it or rely on entries
    /// staying take turns.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn target(filename: &str, ino: u64) -> Target<'_> {
        Target {
            filename: Path::new(filename),
            file_id: Some((8, ino)),
            vhost: crate::ffi::request::VhostId {
                name: "example.org",
                port: 80,
            },
            uid: 33,
            gid: 33,
        }
    }

    #[test]
    fn the_same_request_finds_the_class_built_before() {
        let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let server = ServerConfig::default();
        let a = class_of(&target("/srv/a.fcgi", 1), &server, None).unwrap();
        let again = class_of(&target("/srv/a.fcgi", 1), &server, None).unwrap();
        assert!(Rc::ptr_eq(&a, &again));
    }

    #[test]
    fn anything_class_for_reads_makes_another_entry() {
        let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let server = ServerConfig::default();
        let a = class_of(&target("/srv/a.fcgi", 1), &server, None).unwrap();
        let replaced = class_of(&target("/srv/a.fcgi", 2), &server, None).unwrap();
        assert_ne!(a.0.key, replaced.0.key, "a new inode is a new class");
        let other_user = Target {
            uid: 1001,
            ..target("/srv/a.fcgi", 1)
        };
        let b = class_of(&other_user, &server, None).unwrap();
        assert_eq!(b.0.uid, 1001);
        let other_server = ServerConfig::default();
        let c = class_of(&target("/srv/a.fcgi", 1), &other_server, None).unwrap();
        assert!(!Rc::ptr_eq(&a, &c), "another server's settings");
        let wrapper = Wrapper::parse("FcgidWrapper", &["/bin/sh -e".into()]).unwrap();
        let w = class_of(&target("/srv/a.fcgi", 1), &server, Some(&wrapper)).unwrap();
        assert_eq!(w.0.argv, vec![b"/bin/sh".to_vec(), b"-e".to_vec()]);
        let missing = Target {
            file_id: None,
            ..target("/srv/gone.fcgi", 1)
        };
        assert!(class_of(&missing, &server, None).is_none());
    }

    #[test]
    fn a_new_configuration_forgets_every_class() {
        let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let server = ServerConfig::default();
        let a = class_of(&target("/srv/a.fcgi", 1), &server, None).unwrap();
        forget_all();
        let b = class_of(&target("/srv/a.fcgi", 1), &server, None).unwrap();
        assert!(!Rc::ptr_eq(&a, &b));
        assert_eq!(a.0.key, b.0.key);
    }

    #[test]
    fn a_class_in_use_stays_while_others_come_and_go() {
        let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let server = ServerConfig::default();
        let hot = class_of(&target("/srv/hot.fcgi", 1), &server, None).unwrap();
        for ino in 0..3 * CAPACITY as u64 {
            class_of(&target("/srv/cold.fcgi", 1000 + ino), &server, None).unwrap();
            let again = class_of(&target("/srv/hot.fcgi", 1), &server, None).unwrap();
            assert!(Rc::ptr_eq(&hot, &again), "after {} others", ino + 1);
        }
        ENTRIES.with_borrow(|e| {
            assert_eq!(e.len(), CAPACITY);
            assert_eq!(
                e.last().unwrap().filename,
                b"/srv/hot.fcgi",
                "the last used is last"
            );
        });
    }

    #[test]
    fn the_entry_unused_longest_goes_when_full() {
        let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let server = ServerConfig::default();
        let first = class_of(&target("/srv/first.fcgi", 1), &server, None).unwrap();
        for ino in 0..CAPACITY as u64 {
            class_of(&target("/srv/x.fcgi", 100 + ino), &server, None).unwrap();
        }
        let again = class_of(&target("/srv/first.fcgi", 1), &server, None).unwrap();
        assert!(!Rc::ptr_eq(&first, &again));
        assert_eq!(first.0.key, again.0.key);
    }
}
