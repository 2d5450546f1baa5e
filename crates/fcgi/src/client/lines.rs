//! Cuts a byte stream (an application's STDERR) into lines for a log.

/// Collects bytes and hands out whole lines, without their line end.
/// A partial line waits for the rest, or for [`LineSplitter::finish`].
#[derive(Debug, Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `bytes`; calls `line` for each line completed, `\r\n` or `\n`
    /// stripped. Empty lines are not passed on: they say nothing in a log.
    pub fn push(&mut self, bytes: &[u8], mut line: impl FnMut(&[u8])) {
        self.pending.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(nl) = self.pending[start..].iter().position(|&c| c == b'\n') {
            emit(&self.pending[start..start + nl], &mut line);
            start += nl + 1;
        }
        self.pending.drain(..start);
    }

    /// The stream ended: passes on a last line that had no newline.
    pub fn finish(&mut self, mut line: impl FnMut(&[u8])) {
        let rest = std::mem::take(&mut self.pending);
        emit(&rest, &mut line);
    }
}

fn emit(text: &[u8], line: &mut impl FnMut(&[u8])) {
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    if !text.is_empty() {
        line(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(pieces: &[&[u8]]) -> Vec<String> {
        let mut s = LineSplitter::new();
        let mut out = Vec::new();
        for p in pieces {
            s.push(p, |l| out.push(String::from_utf8_lossy(l).into_owned()));
        }
        s.finish(|l| out.push(String::from_utf8_lossy(l).into_owned()));
        out
    }

    #[test]
    fn lines_across_pieces() {
        assert_eq!(
            lines(&[b"one\ntw", b"o\r\n\nthr", b"ee"]),
            ["one", "two", "three"]
        );
        assert_eq!(lines(&[b"", b"\n\r\n"]), Vec::<String>::new());
        assert_eq!(lines(&[b"a\r", b"\nb"]), ["a", "b"]);
    }
}
