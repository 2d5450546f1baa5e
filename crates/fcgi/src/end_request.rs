//! END_REQUEST body (spec section 5.5): app status (u32 BE), protocol
//! status, 3 reserved bytes.

use std::fmt;

use super::record::fixed_body;
use super::{ProtocolError, RecordType};

/// Why the application ended a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolStatus {
    RequestComplete,
    CantMpxConn,
    Overloaded,
    UnknownRole,
    /// A value the spec does not define.
    Other(u8),
}

impl ProtocolStatus {
    /// Like `RecordType::from_u8`, never returns `Other` for a named value.
    pub fn from_u8(byte: u8) -> Self {
        match byte {
            0 => ProtocolStatus::RequestComplete,
            1 => ProtocolStatus::CantMpxConn,
            2 => ProtocolStatus::Overloaded,
            3 => ProtocolStatus::UnknownRole,
            other => ProtocolStatus::Other(other),
        }
    }

    pub fn as_u8(self) -> u8 {
        match self {
            ProtocolStatus::RequestComplete => 0,
            ProtocolStatus::CantMpxConn => 1,
            ProtocolStatus::Overloaded => 2,
            ProtocolStatus::UnknownRole => 3,
            ProtocolStatus::Other(byte) => byte,
        }
    }
}

impl fmt::Display for ProtocolStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolStatus::RequestComplete => f.write_str("request complete"),
            ProtocolStatus::CantMpxConn => f.write_str("application cannot multiplex connections"),
            ProtocolStatus::Overloaded => f.write_str("application overloaded"),
            ProtocolStatus::UnknownRole => f.write_str("application does not know the role"),
            ProtocolStatus::Other(byte) => write!(f, "unknown protocol status {byte}"),
        }
    }
}

/// The body of an END_REQUEST record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EndRequest {
    /// The application's exit status, as a CGI program's would be.
    pub app_status: u32,
    pub protocol_status: ProtocolStatus,
}

pub(super) fn encode_body(end: &EndRequest) -> [u8; 8] {
    let [a, b, c, d] = end.app_status.to_be_bytes();
    [a, b, c, d, end.protocol_status.as_u8(), 0, 0, 0]
}

pub(super) fn parse_body(content: &[u8]) -> Result<EndRequest, ProtocolError> {
    let body = fixed_body(RecordType::EndRequest, content)?;
    Ok(EndRequest {
        app_status: u32::from_be_bytes([body[0], body[1], body[2], body[3]]),
        protocol_status: ProtocolStatus::from_u8(body[4]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_protocol_status() {
        let cases = [
            (0, ProtocolStatus::RequestComplete),
            (1, ProtocolStatus::CantMpxConn),
            (2, ProtocolStatus::Overloaded),
            (3, ProtocolStatus::UnknownRole),
            (4, ProtocolStatus::Other(4)),
            (255, ProtocolStatus::Other(255)),
        ];
        for (byte, status) in cases {
            let wire = [0, 0, 0, 0, byte, 0, 0, 0];
            let end = EndRequest {
                app_status: 0,
                protocol_status: status,
            };
            assert_eq!(parse_body(&wire), Ok(end), "status byte {byte}");
            assert_eq!(encode_body(&end), wire);
        }
    }

    #[test]
    fn app_status_is_big_endian() {
        let end = EndRequest {
            app_status: 0x0102_0304,
            protocol_status: ProtocolStatus::RequestComplete,
        };
        assert_eq!(encode_body(&end), [1, 2, 3, 4, 0, 0, 0, 0]);
        // Reserved bytes are ignored when reading.
        assert_eq!(parse_body(&[1, 2, 3, 4, 0, 9, 9, 9]), Ok(end));
    }

    #[test]
    fn wrong_length() {
        for len in [0, 5, 7, 9, 16] {
            assert_eq!(
                parse_body(&vec![0; len]),
                Err(ProtocolError::BadBody {
                    rtype: RecordType::EndRequest,
                    len
                })
            );
        }
    }

    #[test]
    fn display() {
        assert_eq!(
            ProtocolStatus::Overloaded.to_string(),
            "application overloaded"
        );
        assert_eq!(
            ProtocolStatus::Other(9).to_string(),
            "unknown protocol status 9"
        );
    }
}
