//! One request over one connection: BEGIN_REQUEST (responder, connection
//! closed afterwards), the environment as PARAMS, standard input as STDIN;
//! then STDOUT to standard output and STDERR to standard error until
//! END_REQUEST.
//!
//! A thread sends the request while the main thread relays the answer, so
//! an application that answers while the body is still arriving (an echo
//! of a large upload) cannot deadlock with us. The records are built and
//! read by `fcgi::client`, the exchange the module drives too.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::ffi::OsStrExt;
use std::sync::mpsc::{self, Receiver};

use super::addr::Stream;
use super::failure::{Failure, HttpStatus, EXIT_PROTOCOL, EXIT_VERSION};
use crate::fcgi::client::{Event, ExchangeError, RequestWriter, ResponseReader, REQUEST_ID};
use crate::fcgi::{ProtocolError, ProtocolStatus, Role};

/// Standard input is forwarded in pieces of at most this many bytes.
const STDIN_CHUNK: usize = 64 * 1024;

fn writer() -> RequestWriter {
    RequestWriter::new(REQUEST_ID, Role::Responder)
}

/// The request up to its body: BEGIN_REQUEST and the whole PARAMS stream,
/// plus the end of STDIN when there is no body.
pub fn request_head(env: &[(OsString, OsString)], has_body: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let pairs = env.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes()));
    writer().head(&mut out, pairs);
    if !has_body {
        writer().stdin_end(&mut out);
    }
    out
}

/// Runs the request on `conn`; returns the application's exit status.
/// `body_len` bytes of standard input are sent (fewer if it ends sooner).
pub fn run(
    conn: Stream,
    conn_name: &str,
    env: &[(OsString, OsString)],
    body_len: u64,
    stdout: &mut impl Write,
    stderr: &mut impl Write,
) -> Result<u32, Failure> {
    let head = request_head(env, body_len > 0);
    let sender = conn.try_clone().map_err(|e| {
        Failure::new(
            format!("Cannot use the connection to {conn_name}: {e}"),
            "could not talk to the FastCGI application",
            Failure::errno(&e),
        )
    })?;
    let (stdin_failed, stdin_error) = mpsc::channel();
    // Not joined: when the answer is complete we exit, even if the
    // application never read the whole body.
    std::thread::spawn(move || {
        let mut sender = sender;
        let stdin = io::stdin();
        if let Err(SendError::Stdin(e)) =
            send_request(&mut sender, &head, &mut stdin.lock(), body_len)
        {
            let _ = stdin_failed.send(e);
            // Wakes the relay, which then reports the stdin error.
            let _ = sender.shutdown(Shutdown::Both);
        }
        // A failed write to the application shows up on the relay's side
        // (END_REQUEST already sent, or the connection closed).
    });
    relay(conn, conn_name, stdout, stderr, &stdin_error)
}

#[derive(Debug)]
enum SendError {
    Stdin(io::Error),
    Conn,
}

/// Writes `head`, then the body as STDIN records, then the end of STDIN.
fn send_request(
    conn: &mut impl Write,
    head: &[u8],
    stdin: &mut impl Read,
    body_len: u64,
) -> Result<(), SendError> {
    conn.write_all(head).map_err(|_| SendError::Conn)?;
    if body_len == 0 {
        return Ok(()); // the head ended STDIN
    }
    let mut left = body_len;
    let mut buf = vec![0; STDIN_CHUNK];
    let mut records = Vec::with_capacity(STDIN_CHUNK + 16);
    while left > 0 {
        let want = usize::try_from(left).map_or(buf.len(), |l| l.min(buf.len()));
        let n = match stdin.read(&mut buf[..want]) {
            Ok(0) => break, // a short body: send what there is
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(SendError::Stdin(e)),
        };
        left -= n as u64;
        records.clear();
        writer().stdin(&mut records, &buf[..n]);
        conn.write_all(&records).map_err(|_| SendError::Conn)?;
    }
    records.clear();
    writer().stdin_end(&mut records);
    conn.write_all(&records).map_err(|_| SendError::Conn)
}

const CLIENT_BAD_ANSWER: &str = "the FastCGI application sent an invalid response";
const CLIENT_NO_ANSWER: &str = "the FastCGI application did not complete the request";

/// Words an unusable answer for standard error and the client.
fn exchange_failure(error: ExchangeError, conn_name: &str) -> Failure {
    let at = format!("FastCGI application at {conn_name}");
    match error {
        ExchangeError::Protocol(e) => {
            let code = match e {
                ProtocolError::BadVersion(_) => EXIT_VERSION,
                _ => EXIT_PROTOCOL,
            };
            Failure::new(
                format!("{at} sent a bad record: {e}"),
                CLIENT_BAD_ANSWER,
                code,
            )
        }
        ExchangeError::Closed => Failure::new(
            format!("{at} closed the connection before ending the request"),
            CLIENT_NO_ANSWER,
            EXIT_PROTOCOL,
        ),
        ExchangeError::Rejected(end) => {
            let status = end.protocol_status;
            let mut f = Failure::new(
                format!("{at} refused the request: {status}"),
                "the FastCGI application refused the request",
                EXIT_PROTOCOL,
            );
            if status == ProtocolStatus::Overloaded {
                f.response = Some(HttpStatus::Unavailable);
                f.client_text = "the FastCGI application is overloaded";
            }
            f
        }
    }
}

/// Relays STDOUT and STDERR until END_REQUEST; returns its app status.
/// Only IO here: what the records mean is the exchange's business.
fn relay(
    mut conn: impl Read,
    conn_name: &str,
    stdout: &mut impl Write,
    stderr: &mut impl Write,
    stdin_error: &Receiver<io::Error>,
) -> Result<u32, Failure> {
    let mut answer = ResponseReader::new(REQUEST_ID);
    let mut buf = vec![0; 64 * 1024];
    loop {
        while let Some(event) = answer
            .next_event()
            .map_err(|e| exchange_failure(e, conn_name))?
        {
            match event {
                Event::Stdout(data) => copy_out(stdout, &data, "standard output")?,
                Event::Stderr(data) => copy_out(stderr, &data, "standard error")?,
                Event::End(end) => return Ok(end.app_status),
            }
        }
        let n = match conn.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(stdin_failure(stdin_error).unwrap_or_else(|| {
                    Failure::new(
                        format!("Error reading from FastCGI application at {conn_name}: {e}"),
                        CLIENT_NO_ANSWER,
                        Failure::errno(&e),
                    )
                }))
            }
        };
        if n == 0 {
            if let Some(f) = stdin_failure(stdin_error) {
                return Err(f);
            }
            let closed = answer.close().expect_err("the answer had not ended");
            return Err(exchange_failure(closed, conn_name));
        }
        answer.feed(&buf[..n]);
    }
}

fn stdin_failure(stdin_error: &Receiver<io::Error>) -> Option<Failure> {
    let e = stdin_error.try_recv().ok()?;
    Some(Failure::new(
        format!("Error reading standard input: {e}"),
        "could not read the request body",
        Failure::errno(&e),
    ))
}

/// Passes content on at once: an application that flushes (progress
/// output, server-sent events) reaches the client without delay.
fn copy_out(out: &mut impl Write, data: &[u8], what: &str) -> Result<(), Failure> {
    out.write_all(data).and_then(|()| out.flush()).map_err(|e| {
        let mut f = Failure::new(
            format!("Error writing to {what}: {e}"),
            "",
            Failure::errno(&e),
        );
        f.response = None; // nobody left to answer, or the answer has begun
        f
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fcgi::{
        encode_end_request, encode_record, encode_stream_end, Decoder, EndRequest, PairDecoder,
        RecordType,
    };

    fn end(app_status: u32, protocol_status: ProtocolStatus) -> Vec<u8> {
        let mut out = Vec::new();
        let e = EndRequest {
            app_status,
            protocol_status,
        };
        encode_end_request(&mut out, REQUEST_ID, &e);
        out
    }

    fn record(rtype: RecordType, id: u16, content: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_record(&mut out, rtype, id, content);
        out
    }

    /// Relays `wire` (fed one byte at a time: every split must work) and
    /// returns (result, stdout, stderr).
    fn relay_bytes(wire: &[u8]) -> (Result<u32, Failure>, Vec<u8>, Vec<u8>) {
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(buf.len()).min(1);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let (_tx, rx) = mpsc::channel();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let r = relay(Trickle(wire), "/s", &mut out, &mut err, &rx);
        (r, out, err)
    }

    #[test]
    fn head_is_begin_params_and_stdin_end() {
        let env = vec![
            (OsString::from("A"), OsString::from("1")),
            (OsString::from("QUERY_STRING"), OsString::from("")),
        ];
        let head = request_head(&env, false);
        let mut dec = Decoder::new();
        dec.feed(&head);
        let mut recs = Vec::new();
        while let Some(r) = dec.next_record().unwrap() {
            recs.push(r);
        }
        assert_eq!(dec.finish(), Ok(()));
        assert_eq!(recs[0].begin_request(), Ok((Role::Responder, false)));
        assert!(recs.iter().all(|r| r.request_id == REQUEST_ID));
        let types: Vec<_> = recs.iter().map(|r| r.rtype).collect();
        use RecordType::*;
        assert_eq!(types, [BeginRequest, Params, Params, Stdin]);
        let mut pairs = PairDecoder::new();
        pairs.feed(&recs[1].content);
        assert_eq!(
            pairs.next_pair().unwrap(),
            Some((b"A".to_vec(), b"1".to_vec()))
        );
        assert_eq!(
            pairs.next_pair().unwrap(),
            Some((b"QUERY_STRING".to_vec(), b"".to_vec()))
        );
        assert!(recs[3].is_stream_end());

        // With a body, STDIN stays open for send_request.
        let head = request_head(&env, true);
        assert_eq!(&head[head.len() - 8..], [1, 4, 0, 1, 0, 0, 0, 0]);
    }

    #[test]
    fn body_is_cut_at_content_length() {
        let body = vec![b'x'; 150_000];
        let mut wire = Vec::new();
        send_request(&mut wire, b"HEAD", &mut &body[..], 100_000).unwrap();
        assert_eq!(&wire[..4], b"HEAD");
        let mut dec = Decoder::new();
        dec.feed(&wire[4..]);
        let mut sent = Vec::new();
        let mut ended = false;
        while let Some(r) = dec.next_record().unwrap() {
            assert_eq!(
                (r.rtype, r.request_id, ended),
                (RecordType::Stdin, 1, false)
            );
            ended = r.content.is_empty();
            sent.extend_from_slice(&r.content);
        }
        assert!(ended);
        assert_eq!(sent.len(), 100_000);
    }

    #[test]
    fn short_body_is_sent_and_ended() {
        let mut wire = Vec::new();
        send_request(&mut wire, b"", &mut &b"abc"[..], 10).unwrap();
        let mut expect = record(RecordType::Stdin, 1, b"abc");
        encode_stream_end(&mut expect, RecordType::Stdin, 1);
        assert_eq!(wire, expect);
    }

    #[test]
    fn stdin_errors_are_told_apart_from_connection_errors() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::from_raw_os_error(5))
            }
        }
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::from_raw_os_error(32))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let r = send_request(&mut Vec::new(), b"", &mut Broken, 1);
        assert!(matches!(r, Err(SendError::Stdin(e)) if e.raw_os_error() == Some(5)));
        let r = send_request(&mut Broken, b"h", &mut &b"x"[..], 1);
        assert!(matches!(r, Err(SendError::Conn)));
    }

    #[test]
    fn stdout_and_stderr_are_relayed_until_end_request() {
        let mut wire = record(RecordType::Stdout, 1, b"Content-Type: text/plain\r\n\r\n");
        wire.extend(record(RecordType::Stderr, 1, b"warning\n"));
        wire.extend(record(RecordType::Stdout, 1, b"body"));
        wire.extend(record(RecordType::Stdout, 1, b""));
        wire.extend(record(RecordType::Stderr, 1, b""));
        wire.extend(end(7, ProtocolStatus::RequestComplete));
        wire.extend(b"ignored after the end");
        let (r, out, err) = relay_bytes(&wire);
        assert_eq!(r.unwrap(), 7);
        assert_eq!(out, b"Content-Type: text/plain\r\n\r\nbody");
        assert_eq!(err, b"warning\n");
    }

    #[test]
    fn management_and_unknown_records_are_skipped() {
        let mut wire = record(RecordType::UnknownType, 0, &[42, 0, 0, 0, 0, 0, 0, 0]);
        wire.extend(record(RecordType::Unknown(42), 1, b"?"));
        wire.extend(record(RecordType::Stdout, 1, b"ok"));
        wire.extend(end(0, ProtocolStatus::RequestComplete));
        let (r, out, _) = relay_bytes(&wire);
        assert_eq!((r.unwrap(), &out[..]), (0, &b"ok"[..]));
    }

    fn failure(wire: &[u8]) -> (Failure, Vec<u8>) {
        let (r, out, _) = relay_bytes(wire);
        (r.unwrap_err(), out)
    }

    #[test]
    fn closed_without_end_request() {
        let (f, out) = failure(&record(RecordType::Stdout, 1, b"partial"));
        assert_eq!(out, b"partial");
        assert_eq!(f.exit_code, EXIT_PROTOCOL);
        assert_eq!(f.response, Some(HttpStatus::BadGateway));
        assert!(
            f.message.contains("closed the connection before ending"),
            "{}",
            f.message
        );

        let (f, _) = failure(&[]);
        assert_eq!(f.exit_code, EXIT_PROTOCOL);
        // Inside a record.
        let (f, _) = failure(&record(RecordType::Stdout, 1, b"partial")[..10]);
        assert!(f.message.contains("inside a record"), "{}", f.message);
        assert_eq!(f.exit_code, EXIT_PROTOCOL);
    }

    #[test]
    fn plain_cgi_output_is_a_version_error() {
        let (f, out) = failure(b"Content-Type: text/plain\r\n\r\nhi");
        assert!(out.is_empty());
        assert_eq!(f.exit_code, EXIT_VERSION);
        assert!(f.message.contains("plain CGI program"), "{}", f.message);
    }

    #[test]
    fn refused_requests() {
        let (f, _) = failure(&end(0, ProtocolStatus::Overloaded));
        assert_eq!(f.response, Some(HttpStatus::Unavailable));
        assert_eq!(f.exit_code, EXIT_PROTOCOL);
        assert!(f
            .message
            .ends_with("refused the request: application overloaded"));
        let (f, _) = failure(&end(0, ProtocolStatus::UnknownRole));
        assert_eq!(f.response, Some(HttpStatus::BadGateway));
    }

    #[test]
    fn records_that_do_not_belong_are_skipped_but_a_bad_end_is_not() {
        // The exchange's one policy: foreign request ids and server-side
        // types are skipped whole.
        let mut wire = record(RecordType::Stdout, 2, b"x");
        wire.extend(record(RecordType::Params, 1, b""));
        wire.extend(record(RecordType::Stdout, 1, b"ok"));
        wire.extend(end(0, ProtocolStatus::RequestComplete));
        let (r, out, _) = relay_bytes(&wire);
        assert_eq!((r.unwrap(), &out[..]), (0, &b"ok"[..]));
        let (f, _) = failure(&record(RecordType::EndRequest, 1, b"short"));
        assert!(f.message.contains("5-byte body"), "{}", f.message);
        assert_eq!(f.exit_code, EXIT_PROTOCOL);
    }

    #[test]
    fn stdin_error_is_reported_when_the_connection_ends() {
        let (tx, rx) = mpsc::channel();
        tx.send(io::Error::from_raw_os_error(5)).unwrap();
        let f = relay(&b""[..], "/s", &mut Vec::new(), &mut Vec::new(), &rx).unwrap_err();
        assert_eq!(f.exit_code, 5);
        assert!(f.message.starts_with("Error reading standard input"));
    }

    #[test]
    fn a_broken_stdout_gives_no_response() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::from_raw_os_error(32))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let (_tx, rx) = mpsc::channel();
        let wire = record(RecordType::Stdout, 1, b"x");
        let f = relay(&wire[..], "/s", &mut Closed, &mut Vec::new(), &rx).unwrap_err();
        assert_eq!((f.exit_code, f.response), (32, None));
    }
}
