//! Which message a descriptor received on a manager connection belongs
//! to. Descriptors come out of band (SCM_RIGHTS), so each is tagged with
//! the stream offset of the last byte of the read that brought it: the
//! kernel ends a read right after the first piece of data that carries
//! descriptors, and a frame is sent whole in one sendmsg, so that byte
//! lies inside the message the descriptor came with. A message takes only
//! a descriptor tagged inside its own bytes. Pairing by order alone would
//! let a message whose descriptor the kernel dropped (the manager out of
//! descriptors) take the next message's: a connection to another process.

use std::collections::VecDeque;
use std::ops::Range;

pub struct PairedFds<T> {
    fds: VecDeque<(u64, T)>,
    read: u64,
    decoded: u64,
    handling: Range<u64>,
}

impl<T> Default for PairedFds<T> {
    fn default() -> Self {
        PairedFds {
            fds: VecDeque::new(),
            read: 0,
            decoded: 0,
            handling: 0..0,
        }
    }
}

impl<T> PairedFds<T> {
    /// A read of `n` bytes (n > 0) brought `fds`.
    pub fn read(&mut self, n: usize, fds: impl IntoIterator<Item = T>) {
        self.read += n as u64;
        let last = self.read - 1;
        self.fds.extend(fds.into_iter().map(|fd| (last, fd)));
    }

    /// The next message, `len` bytes, is being handled now.
    pub fn decoded(&mut self, len: usize) {
        let start = self.decoded;
        self.decoded += len as u64;
        self.handling = start..self.decoded;
    }

    /// The descriptor that came with the message being handled, if one
    /// did; those of earlier messages that did not take theirs go to
    /// `stale` on the way.
    pub fn take(&mut self, mut stale: impl FnMut(T)) -> Option<T> {
        while let Some((at, _)) = self.fds.front() {
            if *at >= self.handling.start {
                break;
            }
            if let Some((_, fd)) = self.fds.pop_front() {
                stale(fd);
            }
        }
        match self.fds.front() {
            Some((at, _)) if self.handling.contains(at) => self.fds.pop_front().map(|(_, fd)| fd),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_message_takes_the_descriptor_that_came_inside_it() {
        let mut q = PairedFds::default();
        // Message A (10 bytes) with fd 1, message B (10 bytes) with fd 2,
        // each read on its own.
        q.read(10, [1]);
        q.read(10, [2]);
        q.decoded(10);
        assert_eq!(q.take(|_| panic!("nothing stale")), Some(1));
        q.decoded(10);
        assert_eq!(q.take(|_| panic!("nothing stale")), Some(2));
    }

    #[test]
    fn a_message_whose_descriptor_was_dropped_does_not_take_the_next_ones() {
        // A (20 bytes) lost its descriptor; its first 12 bytes came in one
        // read, its last 8 with the first 4 of B (10 bytes), which stopped
        // at B's descriptor.
        let mut q = PairedFds::default();
        q.read(12, []);
        q.read(12, [7]);
        q.decoded(20);
        assert_eq!(q.take(|_| panic!("nothing stale")), None, "A takes B's");
        q.decoded(10);
        assert_eq!(q.take(|_| panic!("nothing stale")), Some(7));
    }

    #[test]
    fn a_descriptor_no_message_took_is_handed_over_as_stale() {
        let mut q = PairedFds::default();
        // A came with fd 3 but did not take it (a message that expects
        // none); B, with fd 4, takes its own.
        q.read(10, [3]);
        q.read(10, [4]);
        q.decoded(10);
        q.decoded(10);
        let mut stale = Vec::new();
        assert_eq!(q.take(|fd| stale.push(fd)), Some(4));
        assert_eq!(stale, [3]);
    }

    #[test]
    fn a_message_read_in_one_piece_with_the_one_before_takes_its_own() {
        // The tail of A (no descriptor) and all of B (fd 5) in one read.
        let mut q = PairedFds::default();
        q.read(6, []);
        q.read(14, [5]);
        q.decoded(10);
        assert_eq!(q.take(|_| panic!("nothing stale")), None);
        q.decoded(10);
        assert_eq!(q.take(|_| panic!("nothing stale")), Some(5));
    }
}
