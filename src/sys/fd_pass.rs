//! Passing a descriptor over a Unix socket (SCM_RIGHTS), and telling
//! whether a kept connection's peer has hung up, without reading.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Room for one descriptor's control message (CMSG_SPACE of an int, 8-byte
/// aligned: 24 bytes on 64-bit Linux, 16 on 32-bit).
const CMSG_ROOM: usize = 32;
/// At most this many descriptors are taken from one read.
const FDS_PER_READ: usize = 8;

#[repr(C, align(8))]
struct CmsgBuf([u8; CMSG_ROOM * FDS_PER_READ]);

/// Sends `bytes` with a copy of `fd` attached, in one sendmsg (a small
/// message on a stream socket goes whole or not at all when it fits the
/// buffer; a short write is an error). Raises no SIGPIPE.
pub fn send_with_fd(sock: &impl AsRawFd, bytes: &[u8], fd: BorrowedFd<'_>) -> io::Result<()> {
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr().cast_mut().cast(),
        iov_len: bytes.len(),
    };
    let mut cbuf = CmsgBuf([0; CMSG_ROOM * FDS_PER_READ]);
    // SAFETY: a zeroed msghdr is valid (no name, no control data yet).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.0.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE only computes a size.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as _;
    // SAFETY: msg_control points at `cbuf`, which has room for the one
    // header CMSG_FIRSTHDR returns and its int; CMSG_DATA points inside it.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&raw const msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<RawFd>(), fd.as_raw_fd());
    }
    // SAFETY: msg points at `iov` and `cbuf`, alive for the call.
    let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &raw const msg, libc::MSG_NOSIGNAL) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n as usize != bytes.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "short write of a message with a descriptor",
        ));
    }
    Ok(())
}

/// One recvmsg into `buf`: the bytes read (0 at the end), and any
/// descriptors that came with them pushed onto `fds` (close-on-exec).
/// Descriptors the kernel had to drop (no room, or this process at its
/// limit) are counted in the returned `lost`.
pub fn recv_with_fds(
    sock: &impl AsRawFd,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
) -> io::Result<(usize, bool)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cbuf = CmsgBuf([0; CMSG_ROOM * FDS_PER_READ]);
    // SAFETY: a zeroed msghdr is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.0.as_mut_ptr().cast();
    msg.msg_controllen = cbuf.0.len() as _;
    // SAFETY: msg points at `iov` (over `buf`) and `cbuf`, alive for the call.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &raw mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel filled msg_control with msg_controllen bytes of
    // well-formed headers; CMSG_FIRSTHDR/NXTHDR stay within them. Each
    // SCM_RIGHTS descriptor is new and ours, owned at once.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&raw const msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c).cast::<RawFd>();
                let header = libc::CMSG_LEN(0) as usize;
                let count =
                    ((*c).cmsg_len as usize).saturating_sub(header) / std::mem::size_of::<RawFd>();
                for i in 0..count {
                    fds.push(OwnedFd::from_raw_fd(std::ptr::read_unaligned(data.add(i))));
                }
            }
            c = libc::CMSG_NXTHDR(&raw const msg, c);
        }
    }
    Ok((n as usize, msg.msg_flags & libc::MSG_CTRUNC != 0))
}

/// Has the peer of a connected socket hung up, or sent something unasked
/// (either way the connection is not one to send a request on)? Never
/// waits.
pub fn peer_hung_up(sock: &impl AsRawFd) -> bool {
    let mut p = libc::pollfd {
        fd: sock.as_raw_fd(),
        events: libc::POLLIN | libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no wait.
    let rc = unsafe { libc::poll(&raw mut p, 1, 0) };
    rc != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    #[test]
    fn a_descriptor_sent_arrives_as_a_working_copy() {
        let (a, b) = UnixStream::pair().unwrap();
        let (mut x, mut y) = UnixStream::pair().unwrap();
        send_with_fd(&a, b"hold", std::os::fd::AsFd::as_fd(&x)).unwrap();
        let mut buf = [0u8; 16];
        let mut fds = Vec::new();
        let (n, lost) = recv_with_fds(&b, &mut buf, &mut fds).unwrap();
        assert_eq!((&buf[..n], lost, fds.len()), (&b"hold"[..], false, 1));
        // The copy is the same connection: shutting it down ends `x` too.
        let mut copy = UnixStream::from(fds.pop().unwrap());
        copy.write_all(b"via copy").unwrap();
        let mut got = [0u8; 8];
        y.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"via copy");
        assert!(!peer_hung_up(&y));
        copy.shutdown(std::net::Shutdown::Both).unwrap();
        assert!(peer_hung_up(&y));
        assert_eq!(x.read(&mut got).unwrap(), 0);
    }
}
