//! Input buffer for the byte-fed decoders.
//!
//! Consumed bytes are skipped with a read offset, not removed. The unread
//! tail is moved to the front only once at least as many bytes have been
//! consumed as remain, so each byte fed is moved at most once on average
//! and decoding stays linear in the input.

#[derive(Debug, Default)]
pub(super) struct Buf {
    bytes: Vec<u8>,
    start: usize,
    /// Bytes moved by compaction, for the linearity test.
    #[cfg(test)]
    pub(super) moved: usize,
}

impl Buf {
    /// The unread bytes.
    pub(super) fn data(&self) -> &[u8] {
        &self.bytes[self.start..]
    }

    pub(super) fn len(&self) -> usize {
        self.bytes.len() - self.start
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(super) fn extend(&mut self, more: &[u8]) {
        self.append_with(|bytes| bytes.extend_from_slice(more));
    }

    /// Lets `f` append to the buffer's end (a read straight into it, with
    /// no copy on the way); compacts first, as `extend` does.
    pub(super) fn append_with<R>(&mut self, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        if self.start > 0 && self.start >= self.len() {
            #[cfg(test)]
            {
                self.moved += self.len();
            }
            self.bytes.drain(..self.start);
            self.start = 0;
        }
        f(&mut self.bytes)
    }

    /// Marks the first `n` unread bytes as read.
    pub(super) fn consume(&mut self, n: usize) {
        assert!(n <= self.len(), "consumed more than was buffered");
        self.start += n;
        if self.start == self.bytes.len() {
            self.bytes.clear();
            self.start = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_offset_and_compaction() {
        let mut b = Buf::default();
        b.extend(b"abcdef");
        b.consume(2);
        assert_eq!(b.data(), b"cdef");
        // 2 consumed < 4 remaining: no move yet.
        b.extend(b"g");
        assert_eq!((b.data(), b.moved), (&b"cdefg"[..], 0));
        b.consume(3);
        // 5 consumed >= 2 remaining: the 2 bytes move to the front.
        b.extend(b"h");
        assert_eq!((b.data(), b.moved), (&b"fgh"[..], 2));
        assert_eq!(b.start, 0);
    }

    #[test]
    fn fully_consumed_buffer_resets() {
        let mut b = Buf::default();
        b.extend(b"abc");
        b.consume(3);
        assert!(b.is_empty());
        assert_eq!(b.start, 0);
        b.extend(b"x");
        assert_eq!((b.data(), b.moved), (&b"x"[..], 0));
    }

    #[test]
    #[should_panic(expected = "consumed more")]
    fn over_consume_panics() {
        let mut b = Buf::default();
        b.extend(b"ab");
        b.consume(3);
    }
}
