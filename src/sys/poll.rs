//! Waiting for descriptors: poll(2) for one or a few, epoll for the
//! manager's many connections.

use super::cvt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Waits up to `timeout` for any of `fds` to be readable (or to hang up).
/// Returns, for each fd, whether it is ready.
pub fn poll_readable(fds: &[RawFd], timeout: Duration) -> io::Result<Vec<bool>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: pfds is a valid array of pollfd of the given length.
    let rc = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![false; fds.len()]);
        }
        return Err(e);
    }
    Ok(pfds.iter().map(|p| p.revents != 0).collect())
}

/// Readiness of many descriptors at once (epoll), so the manager's cost per
/// wake-up does not grow with the number of connected httpd threads.
pub struct Poller {
    epoll: OwnedFd,
    events: Vec<libc::epoll_event>,
}

impl Poller {
    pub fn new() -> io::Result<Poller> {
        // SAFETY: epoll_create1 returns a new descriptor we own at once.
        let fd = unsafe { OwnedFd::from_raw_fd(cvt(libc::epoll_create1(libc::EPOLL_CLOEXEC))?) };
        Ok(Poller {
            epoll: fd,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; 256],
        })
    }

    /// Watches `fd` for input (or hang-up), reported with `token`.
    pub fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: ev is a valid epoll_event; fd is open (the caller owns it).
        cvt(unsafe {
            libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &raw mut ev)
        })
        .map(|_| ())
    }

    /// Stops watching `fd` (call before closing it).
    pub fn remove(&self, fd: RawFd) {
        // SAFETY: a null event is allowed for EPOLL_CTL_DEL.
        unsafe {
            libc::epoll_ctl(
                self.epoll.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut(),
            )
        };
    }

    /// Waits up to `timeout`; returns the tokens of the ready descriptors.
    pub fn wait(&mut self, timeout: Duration) -> io::Result<Vec<u64>> {
        // Rounded up: a deadline 0.4 ms away must not become a busy loop.
        let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
        // SAFETY: the buffer holds events.len() entries for the kernel to fill.
        let n = unsafe {
            libc::epoll_wait(
                self.epoll.as_raw_fd(),
                self.events.as_mut_ptr(),
                self.events.len() as libc::c_int,
                ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(Vec::new())
            } else {
                Err(e)
            };
        }
        Ok(self.events[..n as usize].iter().map(|e| e.u64).collect())
    }
}

/// Waits up to `timeout` for `fd` to be readable (or hung up): true if it
/// is, false when the time is up. A blocked recv(2) would do the same, but
/// on a Unix socket it is also woken each time the peer reads what we sent
/// (the kernel's write-space wake-up ignores what the sleeper waits for),
/// which costs a useless switch per message; poll(2) is woken for input
/// only. A signal does not cut the wait short: it starts again, whole, as
/// a recv under SO_RCVTIMEO did (no clock read per wait on the request
/// path).
pub fn wait_readable(fd: RawFd, timeout: Duration) -> io::Result<bool> {
    // Rounded up, so a wait never ends early.
    let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
    loop {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&raw mut p, 1, ms) };
        if rc >= 0 {
            return Ok(rc > 0);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Waits up to `timeout` for `fd` to become readable or writable; returns
/// (readable, writable), both false on timeout.
pub fn wait_io(fd: RawFd, timeout: Duration) -> io::Result<(bool, bool)> {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN | libc::POLLOUT,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: one valid pollfd.
    let rc = unsafe { libc::poll(&raw mut p, 1, ms) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok((false, true))
        } else {
            Err(e)
        };
    }
    let hup = p.revents & (libc::POLLHUP | libc::POLLERR) != 0;
    Ok((
        p.revents & libc::POLLIN != 0 || hup,
        p.revents & libc::POLLOUT != 0,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    /// This thread's voluntary context switches so far (each sleep is one).
    fn sleeps() -> u64 {
        let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        let line = status
            .lines()
            .find(|l| l.starts_with("voluntary_ctxt_switches:"))
            .unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// The peer reads our request, thinks, then answers. Waiting for the
    /// answer must sleep once: the read of our request wakes a blocked
    /// recv(2) on a Unix socket (the kernel's write-space wake-up), and
    /// that useless switch on every request is what `wait_readable` avoids.
    #[test]
    fn a_wait_for_the_answer_is_not_woken_by_the_peer_reading_the_request() {
        let (mut ours, mut peer) = UnixStream::pair().unwrap();
        let app = std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            // Reads once we are surely asleep, answers later.
            std::thread::sleep(Duration::from_millis(100));
            peer.read_exact(&mut buf).unwrap();
            std::thread::sleep(Duration::from_millis(100));
            peer.write_all(b"answer").unwrap();
        });
        ours.write_all(&[7u8; 64]).unwrap();
        let before = sleeps();
        assert!(wait_readable(ours.as_raw_fd(), Duration::from_secs(10)).unwrap());
        let slept = sleeps() - before;
        let mut got = [0u8; 6];
        ours.read_exact(&mut got).unwrap();
        app.join().unwrap();
        assert_eq!(&got, b"answer");
        assert_eq!(slept, 1, "woken before the answer came");
    }

    #[test]
    fn a_wait_ends_at_its_timeout_when_nothing_comes() {
        let (ours, _peer) = UnixStream::pair().unwrap();
        let start = std::time::Instant::now();
        assert!(!wait_readable(ours.as_raw_fd(), Duration::from_millis(50)).unwrap());
        assert!(start.elapsed() >= Duration::from_millis(50));
    }
}
