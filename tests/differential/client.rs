//! A raw HTTP/1.1 client: writes a request's exact bytes and reads one
//! response, with its interim (1xx) answers, without interpreting more than
//! the framing.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One request as bytes on the wire.
#[derive(Clone, Debug)]
pub struct Request {
    /// Request line and headers, ending with the blank line.
    pub head: Vec<u8>,
    /// The body, sent right after the head, or after a `100 Continue` when
    /// `wait_continue` is set.
    pub body: Vec<u8>,
    pub wait_continue: bool,
    /// HEAD: the response has no body whatever its headers say.
    pub head_only: bool,
}

#[derive(Debug, Default)]
pub struct Response {
    /// Status lines of interim answers (`HTTP/1.1 100 Continue`).
    pub interim: Vec<String>,
    pub status_line: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn status(&self) -> u16 {
        self.status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

const TIMEOUT: Duration = Duration::from_secs(90);

struct Reader {
    stream: TcpStream,
    buf: Vec<u8>,
    eof: bool,
}

impl Reader {
    fn fill(&mut self) -> bool {
        if self.eof {
            return false;
        }
        let mut chunk = [0u8; 65536];
        match self.stream.read(&mut chunk) {
            Ok(0) | Err(_) => {
                self.eof = true;
                false
            }
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    fn line(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=i).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Some(line);
            }
            if !self.fill() {
                return None;
            }
        }
    }

    fn exactly(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n && self.fill() {}
        let n = n.min(self.buf.len());
        self.buf.drain(..n).collect()
    }

    fn rest(&mut self) -> Vec<u8> {
        while self.fill() {}
        std::mem::take(&mut self.buf)
    }

    /// A status line and headers; None when the connection ended first.
    fn head(&mut self) -> Option<(String, Vec<(String, String)>)> {
        let status = self.line()?;
        let mut headers = Vec::new();
        loop {
            let line = self.line()?;
            if line.is_empty() {
                break;
            }
            let line = String::from_utf8_lossy(&line).into_owned();
            match line.split_once(':') {
                Some((k, v)) => headers.push((k.trim().to_string(), v.trim().to_string())),
                None => headers.push((line, String::new())),
            }
        }
        Some((String::from_utf8_lossy(&status).into_owned(), headers))
    }
}

/// Sends `req` to 127.0.0.1:`port` and reads the response. A connection
/// that ends before a status line gives an empty status line.
pub fn send(port: u16, req: &Request) -> Response {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to httpd");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = Reader {
        stream,
        buf: Vec::new(),
        eof: false,
    };
    let mut resp = Response::default();
    let _ = writer.write_all(&req.head);
    // The body goes from its own thread: a server that answers before
    // reading it all (an oversized body) must not block the reading side.
    let body_writer = |mut w: TcpStream, body: Vec<u8>| {
        std::thread::spawn(move || {
            let _ = w.write_all(&body);
        })
    };
    let mut pending = None;
    if !req.wait_continue && !req.body.is_empty() {
        pending = Some(body_writer(writer.try_clone().unwrap(), req.body.clone()));
    }
    let mut body_sent = !req.wait_continue;
    while let Some((status_line, headers)) = reader.head() {
        let code: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if (100..200).contains(&code) {
            resp.interim.push(status_line);
            if !body_sent {
                body_sent = true;
                pending = Some(body_writer(writer.try_clone().unwrap(), req.body.clone()));
            }
            continue;
        }
        resp.status_line = status_line;
        resp.headers = headers;
        resp.body = read_body(&mut reader, &resp, req.head_only);
        break;
    }
    let _ = writer.shutdown(std::net::Shutdown::Both);
    if let Some(t) = pending {
        let _ = t.join();
    }
    resp
}

fn read_body(reader: &mut Reader, resp: &Response, head_only: bool) -> Vec<u8> {
    let code = resp.status();
    if head_only || code == 204 || code == 304 {
        return Vec::new();
    }
    let chunked = resp
        .header("Transfer-Encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    if chunked {
        let mut body = Vec::new();
        while let Some(size_line) = reader.line() {
            let size_text = String::from_utf8_lossy(&size_line);
            let size =
                usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap_or(0);
            if size == 0 {
                // Trailers up to the blank line.
                while reader.line().is_some_and(|l| !l.is_empty()) {}
                break;
            }
            body.extend(reader.exactly(size));
            reader.line();
        }
        return body;
    }
    if let Some(len) = resp.header("Content-Length").and_then(|v| v.parse().ok()) {
        return reader.exactly(len);
    }
    reader.rest()
}
