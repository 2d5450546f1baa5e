//! The client side of one FastCGI request, sans IO: what a web server (the
//! module) or a bridge (`cgi-fcgi`) sends, and what it makes of the answer.
//!
//! [`RequestWriter`] builds the request bytes; [`ResponseReader`] is fed the
//! bytes the application sends and yields [`Event`]s. Neither reads nor
//! writes a socket, so both users send the same bytes and read answers by
//! the same rules, and tests can replay any cut of the input.
//!
//! # Records that are not ours
//!
//! One request runs per connection. The reader acts only on STDOUT, STDERR
//! and END_REQUEST records carrying the request's id. Every other record is
//! skipped whole and counted ([`ResponseReader::skipped`]):
//! - management records (request id 0: GET_VALUES_RESULT, UNKNOWN_TYPE);
//! - records for another request id (nothing of ours can be in them);
//! - types an application has no business sending (PARAMS, STDIN, DATA, …)
//!   and types this crate does not know.
//!
//! The decoder frames every record by its header before anyone looks at
//! its type, so skipping one never shifts the stream: nothing is misread.
//! Only a broken header (bad version) or a malformed END_REQUEST ends the
//! exchange with an error. This rule lives in `response::disposition`.

mod error;
mod lines;
mod parser;
mod request;
mod response;

pub use self::error::ExchangeError;
pub use self::lines::LineSplitter;
pub use self::parser::{Piece, ResponseParser};
pub use self::request::RequestWriter;
pub use self::response::{Event, ResponseReader};

/// The request id both users give their only request (libfcgi's choice too).
pub const REQUEST_ID: u16 = 1;

#[cfg(test)]
mod tests;
