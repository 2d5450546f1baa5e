//! Connection names: a Unix socket path, or `host:port` for TCP.
//!
//! As in the original, a name is TCP when the text after its first colon
//! starts with a port number; anything else (`/run/a:b`, `sock:0`) is a
//! Unix socket path.

use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;

use super::args::leading_number;

/// Where the application listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnName {
    Unix(PathBuf),
    /// `host:port`; an empty host means localhost for connecting and every
    /// address for listening (so does `*`).
    Tcp {
        host: String,
        port: u16,
    },
}

impl ConnName {
    pub fn parse(name: &OsStr) -> Result<ConnName, String> {
        let bytes = name.as_bytes();
        let Some(colon) = bytes.iter().position(|&b| b == b':') else {
            return Ok(ConnName::Unix(PathBuf::from(name)));
        };
        let (host, port) = (&bytes[..colon], &bytes[colon + 1..]);
        // The original keeps the low 16 bits of atoi() and takes 0 to mean
        // "not a port": such names stay socket paths.
        if leading_number(port) as u16 == 0 {
            return Ok(ConnName::Unix(PathBuf::from(name)));
        }
        // It would also take "80x" as 80 and "70000" as 4464; we refuse.
        let port = std::str::from_utf8(port)
            .ok()
            .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<u16>().ok())
            .ok_or_else(|| {
                format!(
                    "bad port number in {}: expected 1 to 65535",
                    name.to_string_lossy()
                )
            })?;
        let host = std::str::from_utf8(host)
            .map_err(|_| format!("bad host name in {}", name.to_string_lossy()))?;
        Ok(ConnName::Tcp {
            host: host.to_string(),
            port,
        })
    }

    /// Connects to a listening application.
    pub fn connect(&self) -> Result<Stream, ConnectError> {
        match self {
            ConnName::Unix(path) => UnixStream::connect(path)
                .map(Stream::Unix)
                .map_err(ConnectError::Io),
            ConnName::Tcp { host, port } => {
                let host = if host.is_empty() { "localhost" } else { host };
                let addrs = (host, *port)
                    .to_socket_addrs()
                    .map_err(|e| ConnectError::Lookup(format!("unknown host {host}: {e}")))?;
                let mut last = None;
                for addr in addrs {
                    match TcpStream::connect(addr) {
                        Ok(s) => return Ok(Stream::Tcp(s)),
                        Err(e) => last = Some(e),
                    }
                }
                Err(last
                    .map(ConnectError::Io)
                    .unwrap_or_else(|| ConnectError::Lookup(format!("host {host} has no address"))))
            }
        }
    }

    /// Creates the listening socket the applications will accept on. A Unix
    /// socket replaces whatever is at the path, as in the original.
    pub fn listen(&self) -> Result<OwnedFd, ListenError> {
        match self {
            ConnName::Unix(path) => {
                match std::fs::remove_file(path) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => {
                        return Err(ListenError::Io(e))
                    }
                    _ => {}
                }
                Ok(UnixListener::bind(path).map_err(ListenError::Io)?.into())
            }
            ConnName::Tcp { host, port } => {
                let ip = listen_address(host)?;
                let listener =
                    TcpListener::bind(SocketAddr::new(ip, *port)).map_err(ListenError::Io)?;
                Ok(listener.into())
            }
        }
    }

    /// The directory of a Unix socket (where starting is serialised).
    pub fn unix_dir(&self) -> Option<PathBuf> {
        match self {
            ConnName::Unix(path) => {
                let dir = path.parent()?;
                Some(if dir.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    dir.to_path_buf()
                })
            }
            ConnName::Tcp { .. } => None,
        }
    }
}

/// The one address to listen on: every address for "" and "*", else the
/// host's single address (IPv4 preferred, like the original's lookup).
fn listen_address(host: &str) -> Result<IpAddr, ListenError> {
    if host.is_empty() || host == "*" {
        return Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ip);
    }
    let all: Vec<IpAddr> = (host, 0)
        .to_socket_addrs()
        .map_err(|e| ListenError::Lookup(format!("cannot resolve host name {host}: {e}")))?
        .map(|a| a.ip())
        .collect();
    let mut v4: Vec<IpAddr> = all.iter().copied().filter(IpAddr::is_ipv4).collect();
    if v4.is_empty() {
        v4 = all;
    }
    v4.dedup();
    match v4[..] {
        [ip] => Ok(ip),
        [] => Err(ListenError::Lookup(format!("host {host} has no address"))),
        _ => Err(ListenError::Lookup(format!(
            "host {host} has several addresses: name one explicitly"
        ))),
    }
}

#[derive(Debug)]
pub enum ConnectError {
    /// The host name could not be turned into an address.
    Lookup(String),
    Io(io::Error),
}

impl ConnectError {
    /// Whether nothing is listening, so that starting the application may
    /// help: the socket file is missing or nobody accepts on it.
    pub fn nobody_listens(&self) -> bool {
        matches!(self, ConnectError::Io(e)
            if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused))
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Lookup(msg) => f.write_str(msg),
            ConnectError::Io(e) => e.fmt(f),
        }
    }
}

#[derive(Debug)]
pub enum ListenError {
    Lookup(String),
    Io(io::Error),
}

impl std::fmt::Display for ListenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenError::Lookup(msg) => f.write_str(msg),
            ListenError::Io(e) => e.fmt(f),
        }
    }
}

/// A connection to the application.
#[derive(Debug)]
pub enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    pub fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
        })
    }

    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.shutdown(how),
            Stream::Tcp(s) => s.shutdown(how),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn parse_str(name: &str) -> Result<ConnName, String> {
        ConnName::parse(&OsString::from(name))
    }

    fn unix(p: &str) -> ConnName {
        ConnName::Unix(PathBuf::from(p))
    }

    fn tcp(host: &str, port: u16) -> ConnName {
        ConnName::Tcp {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn names() {
        assert_eq!(parse_str("/run/app.sock"), Ok(unix("/run/app.sock")));
        assert_eq!(parse_str("rel/app.sock"), Ok(unix("rel/app.sock")));
        assert_eq!(parse_str("127.0.0.1:9000"), Ok(tcp("127.0.0.1", 9000)));
        assert_eq!(parse_str(":9000"), Ok(tcp("", 9000)));
        assert_eq!(parse_str("*:65535"), Ok(tcp("*", 65535)));
        assert_eq!(parse_str("localhost:1"), Ok(tcp("localhost", 1)));
    }

    #[test]
    fn colon_without_a_port_is_a_path() {
        for p in ["/run/a:b", "sock:", "sock:0", "x:00", "x:65536", "a:-0"] {
            assert_eq!(parse_str(p), Ok(unix(p)), "{p}");
        }
    }

    #[test]
    fn ports_the_original_would_misread_are_refused() {
        for p in ["h:80x", "h:70000", "h: 80", "h:+80", "h:-1"] {
            let e = parse_str(p).unwrap_err();
            assert!(e.contains("bad port number"), "{p}: {e}");
        }
    }

    #[test]
    fn unix_dir() {
        assert_eq!(
            unix("/run/x/a.sock").unix_dir(),
            Some(PathBuf::from("/run/x"))
        );
        assert_eq!(unix("a.sock").unix_dir(), Some(PathBuf::from(".")));
        assert_eq!(tcp("", 1).unix_dir(), None);
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(
            listen_address("").unwrap(),
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        );
        assert_eq!(
            listen_address("*").unwrap(),
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        );
        assert_eq!(
            listen_address("127.0.0.1").unwrap(),
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        );
        assert_eq!(
            listen_address("localhost").unwrap(),
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        );
    }

    #[test]
    fn nobody_listens() {
        let dir = std::env::temp_dir().join(format!("cgi-fcgi-addr-{}", std::process::id()));
        let e = unix(dir.join("missing.sock").to_str().unwrap())
            .connect()
            .unwrap_err();
        assert!(e.nobody_listens(), "{e}");
        let e = ConnectError::Io(io::Error::from(io::ErrorKind::PermissionDenied));
        assert!(!e.nobody_listens());
        assert!(!ConnectError::Lookup("x".into()).nobody_listens());
    }

    #[test]
    fn listen_then_connect_over_unix_and_tcp() {
        let dir = std::env::temp_dir().join(format!("cgi-fcgi-addr-l-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        std::fs::write(&path, "stale").unwrap(); // replaced, as in the original
        let name = unix(path.to_str().unwrap());
        let _listener = name.listen().unwrap();
        name.connect().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();

        let fd = tcp("127.0.0.1", 0).listen().unwrap();
        let port = TcpListener::from(fd).local_addr().unwrap().port();
        let listener = tcp("127.0.0.1", port).listen();
        // The first listener is gone (dropped), so the port is free again.
        let _listener = listener.unwrap();
        tcp("127.0.0.1", port).connect().unwrap();
    }
}
