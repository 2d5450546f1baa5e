//! The 8-byte record header (spec section 3.3).
//!
//! ```text
//! version | type | request id (u16 BE) | content length (u16 BE) | padding length | reserved
//! ```

use super::{ProtocolError, RecordType, HEADER_LEN, VERSION_1};

/// A parsed record header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: u8,
    pub rtype: RecordType,
    pub request_id: u16,
    pub content_length: u16,
    pub padding_length: u8,
}

/// Padding that brings `content_len` up to a multiple of 8.
pub fn padding_for(content_len: usize) -> u8 {
    ((8 - content_len % 8) % 8) as u8
}

impl Header {
    /// A version-1 header for `content_length` bytes, padded to a multiple of 8.
    pub fn new(rtype: RecordType, request_id: u16, content_length: u16) -> Self {
        Header {
            version: VERSION_1,
            rtype,
            request_id,
            content_length,
            padding_length: padding_for(content_length.into()),
        }
    }

    /// The header's wire bytes; the reserved byte is zero.
    pub fn to_bytes(self) -> [u8; HEADER_LEN] {
        let [id_hi, id_lo] = self.request_id.to_be_bytes();
        let [len_hi, len_lo] = self.content_length.to_be_bytes();
        [
            self.version,
            self.rtype.as_u8(),
            id_hi,
            id_lo,
            len_hi,
            len_lo,
            self.padding_length,
            0,
        ]
    }

    /// Parses a header, rejecting any version but 1. The reserved byte is
    /// ignored.
    pub fn parse(bytes: &[u8; HEADER_LEN]) -> Result<Self, ProtocolError> {
        if bytes[0] != VERSION_1 {
            return Err(ProtocolError::BadVersion(bytes[0]));
        }
        Ok(Header {
            version: bytes[0],
            rtype: RecordType::from_u8(bytes[1]),
            request_id: u16::from_be_bytes([bytes[2], bytes[3]]),
            content_length: u16::from_be_bytes([bytes[4], bytes[5]]),
            padding_length: bytes[6],
        })
    }

    /// Content plus padding: the bytes that follow the header.
    pub fn body_len(&self) -> usize {
        usize::from(self.content_length) + usize::from(self.padding_length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdout_header_bytes() {
        // STDOUT, request 1, 13 bytes of content, 3 bytes of padding.
        let h = Header::new(RecordType::Stdout, 1, 13);
        assert_eq!(h.to_bytes(), [1, 6, 0, 1, 0, 13, 3, 0]);
    }

    #[test]
    fn big_endian_fields() {
        let h = Header::new(RecordType::Params, 0x1234, 0xABCD);
        // 0xABCD = 43981; 43981 % 8 = 5, so 3 bytes of padding.
        assert_eq!(h.to_bytes(), [1, 4, 0x12, 0x34, 0xAB, 0xCD, 3, 0]);
        assert_eq!(Header::parse(&h.to_bytes()), Ok(h));
    }

    #[test]
    fn parse_hand_written_header() {
        let h = Header::parse(&[1, 3, 0, 7, 0, 8, 0, 0xFF]).unwrap();
        assert_eq!(
            h,
            Header {
                version: 1,
                rtype: RecordType::EndRequest,
                request_id: 7,
                content_length: 8,
                padding_length: 0,
            }
        );
        assert_eq!(h.body_len(), 8);
    }

    #[test]
    fn parse_keeps_padding_the_peer_chose() {
        // Padding need not be minimal: a peer may pad 0 bytes to 255.
        let h = Header::parse(&[1, 6, 0, 1, 0, 1, 255, 0]).unwrap();
        assert_eq!(h.padding_length, 255);
        assert_eq!(h.body_len(), 256);
    }

    #[test]
    fn bad_version() {
        assert_eq!(
            Header::parse(&[2, 6, 0, 1, 0, 0, 0, 0]),
            Err(ProtocolError::BadVersion(2))
        );
        assert_eq!(
            Header::parse(b"Status: "),
            Err(ProtocolError::BadVersion(b'S'))
        );
    }

    #[test]
    fn padding() {
        let expect = [0, 7, 6, 5, 4, 3, 2, 1, 0, 7];
        for (len, pad) in expect.iter().enumerate() {
            assert_eq!(padding_for(len), *pad, "len {len}");
        }
        assert_eq!(padding_for(65535), 1);
        assert_eq!(padding_for(65528), 0);
    }
}
