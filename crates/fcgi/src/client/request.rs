//! The bytes of a request: BEGIN_REQUEST, the PARAMS stream (split across
//! records past 64 KiB), STDIN in records, and the empty STDIN that ends it.

use crate::{encode_begin_request, encode_params, encode_stream_chunk, encode_stream_end};
use crate::{Header, RecordType, Role, HEADER_LEN, MAX_CONTENT_LEN};

/// Zero padding, for writers that send a record's parts from where they are.
const PADDING: [u8; 8] = [0; 8];

/// Builds one request's records. Cheap to copy, so the half that sends the
/// body can live on another thread than the half that reads the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestWriter {
    request_id: u16,
    role: Role,
    keep_conn: bool,
}

impl RequestWriter {
    /// A request after which the app closes the connection.
    pub fn new(request_id: u16, role: Role) -> Self {
        RequestWriter {
            request_id,
            role,
            keep_conn: false,
        }
    }

    /// A request that asks the app to keep the connection open for the
    /// next one (FCGI_KEEP_CONN).
    pub fn keeping(request_id: u16, role: Role) -> Self {
        RequestWriter {
            keep_conn: true,
            ..RequestWriter::new(request_id, role)
        }
    }

    /// BEGIN_REQUEST (with FCGI_KEEP_CONN if the writer keeps the
    /// connection) and the whole PARAMS stream with its terminator.
    pub fn head<'a, I>(&self, dst: &mut Vec<u8>, params: I)
    where
        I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
    {
        encode_begin_request(dst, self.request_id, self.role, self.keep_conn);
        encode_params(dst, self.request_id, params);
    }

    /// Body bytes as STDIN records of at most 65535 bytes; nothing for an
    /// empty piece (an empty record would end STDIN).
    pub fn stdin(&self, dst: &mut Vec<u8>, data: &[u8]) {
        encode_stream_chunk(dst, RecordType::Stdin, self.request_id, data);
    }

    /// For a vectored write of body bytes from where they are: the header
    /// and padding of the STDIN record that carries `len` of them (at most
    /// `MAX_CONTENT_LEN`; an empty record would end STDIN instead).
    pub fn stdin_frame(&self, len: usize) -> ([u8; HEADER_LEN], &'static [u8]) {
        assert!(
            len > 0 && len <= MAX_CONTENT_LEN,
            "STDIN record of {len} bytes"
        );
        let header = Header::new(RecordType::Stdin, self.request_id, len as u16);
        let padding = &PADDING[..usize::from(header.padding_length)];
        (header.to_bytes(), padding)
    }

    /// The empty STDIN record: the body is complete.
    pub fn stdin_end(&self, dst: &mut Vec<u8>) {
        encode_stream_end(dst, RecordType::Stdin, self.request_id);
    }
}
