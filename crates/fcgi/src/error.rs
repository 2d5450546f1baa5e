//! Errors for malformed FastCGI input, worded for the error log.

use std::fmt;

use super::{RecordType, VERSION_1};

/// What was wrong with the bytes a peer sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// A record header's version byte is not 1. The stream cannot be
    /// resynchronised after this.
    BadVersion(u8),
    /// A fixed-size body (BEGIN_REQUEST, END_REQUEST, UNKNOWN_TYPE) has the
    /// wrong length.
    BadBody { rtype: RecordType, len: usize },
    /// Name-value data ended in the middle of a pair.
    BadPairs,
    /// A name-value pair (name plus value) is longer than the decoder's limit.
    PairTooLarge { len: u64, limit: usize },
    /// BEGIN_REQUEST names a role this module does not know.
    UnknownRole(u16),
    /// A body accessor was used on a record of another type.
    WrongType {
        expected: RecordType,
        found: RecordType,
    },
    /// The input ended with this many bytes of an incomplete record.
    Truncated { pending: usize },
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ProtocolError::BadVersion(v) => {
                write!(f, "FastCGI record has version {v}, expected {VERSION_1}")?;
                // Plain CGI output ("Content-Type: ...", "Status: ...") lands
                // here; naming the character makes that obvious.
                if v.is_ascii_graphic() {
                    write!(
                        f,
                        " (byte {v} is {:?}: is the application a plain CGI \
                         program rather than a FastCGI one?)",
                        v as char
                    )?;
                }
                Ok(())
            }
            ProtocolError::BadBody { rtype, len } => write!(
                f,
                "FastCGI {rtype} record has a {len}-byte body, expected 8"
            ),
            ProtocolError::BadPairs => {
                f.write_str("FastCGI name-value data ends in the middle of a name-value pair")
            }
            ProtocolError::PairTooLarge { len, limit } => write!(
                f,
                "FastCGI name-value pair is {len} bytes long, more than the limit of {limit}"
            ),
            ProtocolError::UnknownRole(role) => {
                write!(f, "FastCGI BEGIN_REQUEST asks for unknown role {role}")
            }
            ProtocolError::WrongType { expected, found } => {
                write!(f, "expected a FastCGI {expected} record, got {found}")
            }
            ProtocolError::Truncated { pending } => write!(
                f,
                "FastCGI connection ended inside a record ({pending} bytes of an incomplete record)"
            ),
        }
    }
}

impl std::error::Error for ProtocolError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_version_message() {
        assert_eq!(
            ProtocolError::BadVersion(3).to_string(),
            "FastCGI record has version 3, expected 1"
        );
        let cgi = ProtocolError::BadVersion(b'C').to_string();
        assert!(cgi.starts_with("FastCGI record has version 67, expected 1"));
        assert!(cgi.contains("'C'"), "{cgi}");
        assert!(cgi.contains("plain CGI"), "{cgi}");
    }

    #[test]
    fn messages_name_the_record_type() {
        let e = ProtocolError::BadBody {
            rtype: RecordType::EndRequest,
            len: 5,
        };
        assert_eq!(
            e.to_string(),
            "FastCGI END_REQUEST record has a 5-byte body, expected 8"
        );
        let e = ProtocolError::WrongType {
            expected: RecordType::EndRequest,
            found: RecordType::Unknown(42),
        };
        assert_eq!(
            e.to_string(),
            "expected a FastCGI END_REQUEST record, got unknown type 42"
        );
    }

    #[test]
    fn is_a_std_error() {
        let e: Box<dyn std::error::Error> = Box::new(ProtocolError::BadPairs);
        assert!(e.to_string().contains("middle of a name-value pair"));
    }
}
