//! Numbers in decimal without the formatting machinery: requests note
//! and pass several on every request, and `to_string` costs hundreds of
//! instructions each.

/// The decimal digits of a number, on the stack.
pub struct Decimal {
    digits: [u8; 20],
    at: usize,
}

impl Decimal {
    pub fn new(mut n: u64) -> Decimal {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        Decimal { digits, at }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.digits[self.at..]
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits were written.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_as_to_string() {
        for n in [0, 7, 9, 10, 99, 100, 4_294_967_296, u64::MAX] {
            assert_eq!(Decimal::new(n).as_str(), n.to_string());
        }
    }
}
