//! Why an answer is unusable, worded for the error log.

use std::fmt;

use crate::{EndRequest, ProtocolError};

/// What ended an exchange without a complete answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExchangeError {
    /// The bytes are not FastCGI, or a record is malformed (this includes
    /// a connection that ended inside a record).
    Protocol(ProtocolError),
    /// The connection ended on a record boundary before END_REQUEST.
    Closed,
    /// END_REQUEST came with a protocol status other than REQUEST_COMPLETE.
    Rejected(EndRequest),
}

impl fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExchangeError::Protocol(e) => e.fmt(f),
            ExchangeError::Closed => f.write_str("connection closed before END_REQUEST"),
            ExchangeError::Rejected(end) => write!(
                f,
                "END_REQUEST with protocol status {}",
                end.protocol_status
            ),
        }
    }
}

impl std::error::Error for ExchangeError {}
