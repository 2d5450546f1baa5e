//! Record types (spec section 8), a decoded record, and the UNKNOWN_TYPE body.

use std::fmt;

use super::{begin_request, end_request, EndRequest, ProtocolError, Role};

/// The type byte of a record header.
///
/// Bytes without a named variant decode as `Unknown(byte)`, so a reader can
/// skip such records (or answer UNKNOWN_TYPE) instead of misreading them or
/// failing. `from_u8` never returns `Unknown` for a byte that has a named
/// variant; build values with `from_u8` so that equality stays meaningful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordType {
    BeginRequest,
    AbortRequest,
    EndRequest,
    Params,
    Stdin,
    Stdout,
    Stderr,
    Data,
    GetValues,
    GetValuesResult,
    UnknownType,
    Unknown(u8),
}

impl RecordType {
    pub fn from_u8(byte: u8) -> Self {
        match byte {
            1 => RecordType::BeginRequest,
            2 => RecordType::AbortRequest,
            3 => RecordType::EndRequest,
            4 => RecordType::Params,
            5 => RecordType::Stdin,
            6 => RecordType::Stdout,
            7 => RecordType::Stderr,
            8 => RecordType::Data,
            9 => RecordType::GetValues,
            10 => RecordType::GetValuesResult,
            11 => RecordType::UnknownType,
            other => RecordType::Unknown(other),
        }
    }

    pub fn as_u8(self) -> u8 {
        match self {
            RecordType::BeginRequest => 1,
            RecordType::AbortRequest => 2,
            RecordType::EndRequest => 3,
            RecordType::Params => 4,
            RecordType::Stdin => 5,
            RecordType::Stdout => 6,
            RecordType::Stderr => 7,
            RecordType::Data => 8,
            RecordType::GetValues => 9,
            RecordType::GetValuesResult => 10,
            RecordType::UnknownType => 11,
            RecordType::Unknown(byte) => byte,
        }
    }

    /// Whether records of this type form a byte stream that an empty record
    /// ends.
    pub fn is_stream(self) -> bool {
        matches!(
            self,
            RecordType::Params
                | RecordType::Stdin
                | RecordType::Stdout
                | RecordType::Stderr
                | RecordType::Data
        )
    }
}

impl fmt::Display for RecordType {
    /// The spec's name without the `FCGI_` prefix, e.g. `END_REQUEST`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            RecordType::BeginRequest => "BEGIN_REQUEST",
            RecordType::AbortRequest => "ABORT_REQUEST",
            RecordType::EndRequest => "END_REQUEST",
            RecordType::Params => "PARAMS",
            RecordType::Stdin => "STDIN",
            RecordType::Stdout => "STDOUT",
            RecordType::Stderr => "STDERR",
            RecordType::Data => "DATA",
            RecordType::GetValues => "GET_VALUES",
            RecordType::GetValuesResult => "GET_VALUES_RESULT",
            RecordType::UnknownType => "UNKNOWN_TYPE",
            RecordType::Unknown(byte) => return write!(f, "unknown type {byte}"),
        };
        f.write_str(name)
    }
}

/// A complete record as a decoder returns it; padding already stripped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub rtype: RecordType,
    pub request_id: u16,
    pub content: Vec<u8>,
}

impl Record {
    /// The body of an END_REQUEST record.
    pub fn end_request(&self) -> Result<EndRequest, ProtocolError> {
        self.expect(RecordType::EndRequest)?;
        end_request::parse_body(&self.content)
    }

    /// The role and keep-connection flag of a BEGIN_REQUEST record.
    pub fn begin_request(&self) -> Result<(Role, bool), ProtocolError> {
        self.expect(RecordType::BeginRequest)?;
        begin_request::parse_body(&self.content)
    }

    /// The type byte an UNKNOWN_TYPE record reports as not understood.
    pub fn unknown_type(&self) -> Result<u8, ProtocolError> {
        self.expect(RecordType::UnknownType)?;
        fixed_body(self.rtype, &self.content).map(|body| body[0])
    }

    /// Whether this is the empty record that ends a stream.
    pub fn is_stream_end(&self) -> bool {
        self.rtype.is_stream() && self.content.is_empty()
    }

    fn expect(&self, expected: RecordType) -> Result<(), ProtocolError> {
        if self.rtype == expected {
            Ok(())
        } else {
            Err(ProtocolError::WrongType {
                expected,
                found: self.rtype,
            })
        }
    }
}

/// The three fixed-size bodies are all 8 bytes long.
pub(super) fn fixed_body(rtype: RecordType, content: &[u8]) -> Result<&[u8; 8], ProtocolError> {
    content.try_into().map_err(|_| ProtocolError::BadBody {
        rtype,
        len: content.len(),
    })
}

/// UNKNOWN_TYPE body: the type byte that was not understood, 7 reserved bytes.
pub(super) fn unknown_type_body(rtype: u8) -> [u8; 8] {
    [rtype, 0, 0, 0, 0, 0, 0, 0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_bytes_match_the_spec() {
        let named = [
            (1, RecordType::BeginRequest),
            (2, RecordType::AbortRequest),
            (3, RecordType::EndRequest),
            (4, RecordType::Params),
            (5, RecordType::Stdin),
            (6, RecordType::Stdout),
            (7, RecordType::Stderr),
            (8, RecordType::Data),
            (9, RecordType::GetValues),
            (10, RecordType::GetValuesResult),
            (11, RecordType::UnknownType),
        ];
        for (byte, rtype) in named {
            assert_eq!(RecordType::from_u8(byte), rtype);
            assert_eq!(rtype.as_u8(), byte);
        }
    }

    #[test]
    fn every_byte_round_trips_and_unknown_is_only_for_unnamed() {
        for byte in 0..=255u8 {
            let t = RecordType::from_u8(byte);
            assert_eq!(t.as_u8(), byte);
            let named = (1..=11).contains(&byte);
            assert_eq!(matches!(t, RecordType::Unknown(_)), !named, "{byte}");
        }
    }

    #[test]
    fn streams() {
        let streams: Vec<u8> = (0..=255u8)
            .filter(|b| RecordType::from_u8(*b).is_stream())
            .collect();
        assert_eq!(streams, [4, 5, 6, 7, 8]);
    }

    #[test]
    fn display() {
        assert_eq!(RecordType::GetValuesResult.to_string(), "GET_VALUES_RESULT");
        assert_eq!(RecordType::Unknown(0).to_string(), "unknown type 0");
    }

    fn record(rtype: RecordType, content: &[u8]) -> Record {
        Record {
            rtype,
            request_id: 1,
            content: content.to_vec(),
        }
    }

    #[test]
    fn unknown_type_body_round_trip() {
        assert_eq!(unknown_type_body(200), [200, 0, 0, 0, 0, 0, 0, 0]);
        let r = record(RecordType::UnknownType, &unknown_type_body(200));
        assert_eq!(r.unknown_type(), Ok(200));
        let short = record(RecordType::UnknownType, &[200]);
        assert_eq!(
            short.unknown_type(),
            Err(ProtocolError::BadBody {
                rtype: RecordType::UnknownType,
                len: 1
            })
        );
    }

    #[test]
    fn accessors_check_the_type() {
        let r = record(RecordType::Stdout, &[0; 8]);
        assert_eq!(
            r.end_request(),
            Err(ProtocolError::WrongType {
                expected: RecordType::EndRequest,
                found: RecordType::Stdout
            })
        );
        assert!(matches!(
            r.begin_request(),
            Err(ProtocolError::WrongType { .. })
        ));
        assert!(matches!(
            r.unknown_type(),
            Err(ProtocolError::WrongType { .. })
        ));
    }

    #[test]
    fn stream_end() {
        assert!(record(RecordType::Stdout, b"").is_stream_end());
        assert!(!record(RecordType::Stdout, b"x").is_stream_end());
        assert!(!record(RecordType::AbortRequest, b"").is_stream_end());
    }
}
