//! [`Epoll`]: one fd watched by an epoll instance of its own, for the
//! blocking waits of the ring buffers.

use super::Errno;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// `EPOLLIN`: the ring buffer has data (`BPF_MAP_TYPE_RINGBUF`).
pub const EPOLLIN: u32 = libc::EPOLLIN as u32;
/// `EPOLLOUT`: the user ring buffer has room (`BPF_MAP_TYPE_USER_RINGBUF`).
pub const EPOLLOUT: u32 = libc::EPOLLOUT as u32;

/// An epoll instance (`epoll_create1(EPOLL_CLOEXEC)`, Linux 2.6.27)
/// watching one fd, edge-triggered (`EPOLLET`): a wait returns when the
/// fd's file signals its wait queue (for a ring buffer: the kernel's
/// wake-up after a commit or a drain) while the watched condition holds,
/// or once right after creation if it already holds. The epoll fd is
/// closed on drop.
///
/// The watched fd must outlive the `Epoll` to be useful: epoll drops a
/// file from its set when the file's last reference goes away (then waits
/// only time out). That is never unsafe.
#[derive(Debug)]
pub struct Epoll {
    fd: OwnedFd,
}

impl Epoll {
    /// Creates the instance and adds `fd` for `events` ([`EPOLLIN`],
    /// [`EPOLLOUT`]) with `EPOLLET`. `EMFILE`/`ENFILE` when no fd is
    /// left, `EPERM` for an fd that cannot be polled (a regular file),
    /// `EBADF` for a closed one, `ENOMEM` without memory.
    pub fn watch(fd: BorrowedFd<'_>, events: u32) -> Result<Epoll, Errno> {
        // SAFETY: no pointers; returns a new fd or -1.
        let raw = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if raw < 0 {
            return Err(Errno::last());
        }
        // SAFETY: `raw` is a new fd nobody else owns.
        let ep = Epoll {
            fd: unsafe { OwnedFd::from_raw_fd(raw) },
        };
        let mut ev = libc::epoll_event {
            events: events | libc::EPOLLET as u32,
            u64: 0,
        };
        // SAFETY: `ev` is a valid epoll_event the kernel only reads.
        let r = unsafe {
            libc::epoll_ctl(
                ep.fd.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                fd.as_raw_fd(),
                &mut ev,
            )
        };
        if r < 0 {
            return Err(Errno::last());
        }
        Ok(ep)
    }

    /// `epoll_wait` for at most `timeout_ms` milliseconds (0: do not
    /// block; negative: no limit). `Ok(true)` when the fd signalled,
    /// `Ok(false)` on timeout; a signal handler interrupting the wait is
    /// `EINTR` (the caller decides whether to wait again).
    pub fn wait(&self, timeout_ms: i32) -> Result<bool, Errno> {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: the kernel writes at most 1 event into `ev`.
        let n = unsafe { libc::epoll_wait(self.fd.as_raw_fd(), &mut ev, 1, timeout_ms) };
        if n < 0 { Err(Errno::last()) } else { Ok(n > 0) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;

    #[test]
    fn waits_and_wakes_on_a_pipe() {
        let (r, mut w) = std::os::unix::net::UnixStream::pair().unwrap();
        let ep = Epoll::watch(r.as_fd(), EPOLLIN).unwrap();
        assert_eq!(ep.wait(0), Ok(false), "nothing written yet");
        w.write_all(b"x").unwrap();
        assert_eq!(ep.wait(1000), Ok(true));
        assert_eq!(ep.wait(0), Ok(false), "edge-triggered: reported once");
        w.write_all(b"y").unwrap();
        assert_eq!(ep.wait(1000), Ok(true), "a new write is a new edge");
    }

    #[test]
    fn regular_files_cannot_be_watched() {
        let f = std::fs::File::open("/proc/self/exe").unwrap();
        assert_eq!(Epoll::watch(f.as_fd(), EPOLLIN).unwrap_err(), Errno::EPERM);
    }
}
