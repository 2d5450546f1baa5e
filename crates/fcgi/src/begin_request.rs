//! BEGIN_REQUEST body (spec section 5.1): role (u16 BE), flags, 5 reserved bytes.

use std::fmt;

use super::record::fixed_body;
use super::{ProtocolError, RecordType, KEEP_CONN};

/// The role the application is asked to play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Responder,
    Authorizer,
    Filter,
}

impl Role {
    pub fn from_u16(role: u16) -> Option<Self> {
        match role {
            1 => Some(Role::Responder),
            2 => Some(Role::Authorizer),
            3 => Some(Role::Filter),
            _ => None,
        }
    }

    pub fn as_u16(self) -> u16 {
        match self {
            Role::Responder => 1,
            Role::Authorizer => 2,
            Role::Filter => 3,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Responder => "RESPONDER",
            Role::Authorizer => "AUTHORIZER",
            Role::Filter => "FILTER",
        })
    }
}

pub(super) fn encode_body(role: Role, keep_conn: bool) -> [u8; 8] {
    let [hi, lo] = role.as_u16().to_be_bytes();
    let flags = if keep_conn { KEEP_CONN } else { 0 };
    [hi, lo, flags, 0, 0, 0, 0, 0]
}

/// Flag bits other than KEEP_CONN are ignored, as the spec reserves them.
pub(super) fn parse_body(content: &[u8]) -> Result<(Role, bool), ProtocolError> {
    let body = fixed_body(RecordType::BeginRequest, content)?;
    let role = u16::from_be_bytes([body[0], body[1]]);
    let role = Role::from_u16(role).ok_or(ProtocolError::UnknownRole(role))?;
    Ok((role, body[2] & KEEP_CONN != 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles() {
        for (n, role) in [
            (1, Role::Responder),
            (2, Role::Authorizer),
            (3, Role::Filter),
        ] {
            assert_eq!(Role::from_u16(n), Some(role));
            assert_eq!(role.as_u16(), n);
        }
        assert_eq!(Role::from_u16(0), None);
        assert_eq!(Role::from_u16(4), None);
        assert_eq!(Role::from_u16(0x0101), None);
    }

    #[test]
    fn body_bytes() {
        assert_eq!(encode_body(Role::Responder, true), [0, 1, 1, 0, 0, 0, 0, 0]);
        assert_eq!(
            encode_body(Role::Authorizer, false),
            [0, 2, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(encode_body(Role::Filter, true), [0, 3, 1, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn parse() {
        assert_eq!(
            parse_body(&[0, 1, 1, 0, 0, 0, 0, 0]),
            Ok((Role::Responder, true))
        );
        assert_eq!(
            parse_body(&[0, 2, 0, 0, 0, 0, 0, 0]),
            Ok((Role::Authorizer, false))
        );
        // Reserved flag bits do not set keep-conn.
        assert_eq!(
            parse_body(&[0, 3, 0xFE, 0, 0, 0, 0, 0]),
            Ok((Role::Filter, false))
        );
    }

    #[test]
    fn parse_errors() {
        assert_eq!(
            parse_body(&[1, 0, 0, 0, 0, 0, 0, 0]),
            Err(ProtocolError::UnknownRole(256))
        );
        assert_eq!(
            parse_body(&[0, 1, 1]),
            Err(ProtocolError::BadBody {
                rtype: RecordType::BeginRequest,
                len: 3
            })
        );
        assert!(matches!(
            parse_body(&[0; 9]),
            Err(ProtocolError::BadBody { len: 9, .. })
        ));
    }
}
