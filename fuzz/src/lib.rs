//! Helpers shared by the fuzz targets.
//!
//! Every target takes one control byte and then the data. The control byte
//! decides how the data is cut into pieces for the decoder under test (and
//! how many results are taken after each piece), so the fuzzer explores
//! splits by mutating a single byte, and a seed file is the control byte
//! followed by ordinary wire bytes.

/// The pieces of `data` to feed, and after each how many results to take
/// before feeding the next (`usize::MAX`: all there are).
pub struct Splits<'a> {
    data: &'a [u8],
    state: u32,
    max_piece: usize,
}

impl<'a> Splits<'a> {
    /// Splits the input after its control byte; `None` for an empty input.
    pub fn of(input: &'a [u8]) -> Option<(Splits<'a>, &'a [u8])> {
        let (&ctl, data) = input.split_first()?;
        let max_piece = match ctl & 3 {
            0 => 1, // a byte at a time (and empty feeds)
            1 => 9, // around a header's length
            2 => 70,
            _ => 4096,
        };
        let splits = Splits {
            data,
            // Any odd seed keeps xorshift off its zero state.
            state: u32::from(ctl).wrapping_mul(0x9E37_79B9) | 1,
            max_piece,
        };
        Some((splits, data))
    }

    fn next_u32(&mut self) -> u32 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.state = x;
        x
    }
}

impl<'a> Iterator for Splits<'a> {
    /// A piece (possibly empty) and how many results to take after it.
    type Item = (&'a [u8], usize);

    fn next(&mut self) -> Option<Self::Item> {
        if self.data.is_empty() {
            return None;
        }
        let r = self.next_u32() as usize;
        let len = (r % (self.max_piece + 1)).min(self.data.len());
        let (piece, rest) = self.data.split_at(len);
        self.data = rest;
        let take = match (r >> 16) & 3 {
            0 => 0,
            1 => 1,
            2 => 2,
            _ => usize::MAX,
        };
        Some((piece, take))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_data_in_order() {
        let data: Vec<u8> = (0..=255).collect();
        for ctl in 0..=255u8 {
            let mut input = vec![ctl];
            input.extend_from_slice(&data);
            let (splits, rest) = Splits::of(&input).unwrap();
            assert_eq!(rest, &data[..]);
            let joined: Vec<u8> = splits.flat_map(|(p, _)| p.to_vec()).collect();
            assert_eq!(joined, data, "control byte {ctl}");
        }
        assert!(Splits::of(&[]).is_none());
    }
}
