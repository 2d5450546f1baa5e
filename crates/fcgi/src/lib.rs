//! FastCGI wire format (sans-IO): bytes in, records out.
//!
//! Nothing here does IO, reads the clock or knows about httpd. Writers
//! append to a `Vec<u8>`; readers are fed bytes and hand back complete
//! records or name-value pairs, or say that they need more bytes.
//! [`client`] is the one client exchange (request bytes out, answer events
//! in) that the module (`mod_fcgid`) and `cgi-fcgi` both drive.

#![forbid(unsafe_code)]

mod begin_request;
mod buf;
pub mod client;
mod decode;
mod encode;
mod end_request;
mod error;
mod header;
mod pairs;
mod record;

pub use self::begin_request::Role;
pub use self::decode::Decoder;
pub use self::encode::{
    encode_abort_request, encode_begin_request, encode_end_request, encode_get_values,
    encode_get_values_result, encode_params, encode_record, encode_stream_chunk, encode_stream_end,
    encode_unknown_type,
};
pub use self::end_request::{EndRequest, ProtocolStatus};
pub use self::error::ProtocolError;
pub use self::header::{padding_for, Header};
pub use self::pairs::{
    decode_pairs, encode_pair, encoded_pair_len, Pair, PairDecoder, MAX_PAIR_PART_LEN,
};
pub use self::record::{Record, RecordType};

/// The only protocol version (`FCGI_VERSION_1`).
pub const VERSION_1: u8 = 1;
/// Length of a record header.
pub const HEADER_LEN: usize = 8;
/// Largest content a single record can carry (the header field is a u16).
pub const MAX_CONTENT_LEN: usize = 65535;
/// Request id of management records (GET_VALUES, UNKNOWN_TYPE).
pub const NULL_REQUEST_ID: u16 = 0;
/// BEGIN_REQUEST flag: keep the connection open after the request.
pub const KEEP_CONN: u8 = 1;

/// GET_VALUES variable: how many connections the application accepts.
pub const MAX_CONNS: &[u8] = b"FCGI_MAX_CONNS";
/// GET_VALUES variable: how many requests the application accepts.
pub const MAX_REQS: &[u8] = b"FCGI_MAX_REQS";
/// GET_VALUES variable: "1" if the application multiplexes connections.
pub const MPXS_CONNS: &[u8] = b"FCGI_MPXS_CONNS";

#[cfg(test)]
mod tests;

#[cfg(test)]
mod proptests;
