//! Waiting for several things at once without signal handlers:
//! [`SignalFd`] turns termination signals into a readable fd, and
//! [`poll_readable`] waits until one of several fds can be read or a time
//! limit passes.
//!
//! A program that must wait for data (a ring buffer's fd), for a deadline
//! and for `SIGINT`/`SIGTERM` at once blocks the signals with a
//! [`SignalFd`] and hands its fd to [`poll_readable`] with the others: one
//! wait, no handler running at an arbitrary point, no `EINTR` to retry.
//!
//! # Soundness
//! Blocking a signal changes only which signals the calling thread lets in;
//! no memory is involved. [`Signal`] lists only asynchronous termination
//! and user signals, so safe code cannot block the synchronous ones
//! (`SIGSEGV`, `SIGBUS`, `SIGFPE`, `SIGILL`), whose blocking would turn a
//! handled fault (a stack overflow report) into the kernel's forced kill.
//! The signal mask belongs to a thread, so a [`SignalFd`] is neither `Send`
//! nor `Sync`: it restores the mask of the thread that changed it.

use super::{Errno, owned_fd};
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

/// A signal a [`SignalFd`] can take over: the asynchronous ones that end
/// a program or are left to it by convention.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Signal {
    /// `SIGHUP` (1): the terminal went away.
    Hup,
    /// `SIGINT` (2): Ctrl-C.
    Int,
    /// `SIGQUIT` (3): Ctrl-\.
    Quit,
    /// `SIGTERM` (15): the polite request to stop (`kill`).
    Term,
    /// `SIGUSR1`.
    Usr1,
    /// `SIGUSR2`.
    Usr2,
}

impl Signal {
    const ALL: [Signal; 6] = [
        Signal::Hup,
        Signal::Int,
        Signal::Quit,
        Signal::Term,
        Signal::Usr1,
        Signal::Usr2,
    ];

    /// The signal's number on this architecture (`SIGTERM` is 15).
    pub fn number(self) -> i32 {
        match self {
            Signal::Hup => libc::SIGHUP,
            Signal::Int => libc::SIGINT,
            Signal::Quit => libc::SIGQUIT,
            Signal::Term => libc::SIGTERM,
            Signal::Usr1 => libc::SIGUSR1,
            Signal::Usr2 => libc::SIGUSR2,
        }
    }

    /// The signal numbered `n`, if it is one of these.
    pub fn from_number(n: i32) -> Option<Signal> {
        Signal::ALL.into_iter().find(|s| s.number() == n)
    }
}

/// An empty `sigset_t` with `signals` added.
fn sigset(signals: &[Signal]) -> Result<libc::sigset_t, Errno> {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the whole set it is pointed at.
    if unsafe { libc::sigemptyset(set.as_mut_ptr()) } != 0 {
        return Err(Errno::last());
    }
    // SAFETY: initialised by sigemptyset just above.
    let mut set = unsafe { set.assume_init() };
    for s in signals {
        // SAFETY: `set` is an initialised sigset_t; the number is valid.
        if unsafe { libc::sigaddset(&mut set, s.number()) } != 0 {
            return Err(Errno::last());
        }
    }
    Ok(set)
}

/// Some signals, blocked for the calling thread and readable from an fd
/// instead (`signalfd(2)`, Linux 2.6.27): a signal sent to the process or
/// the thread then waits, pending, until [`SignalFd::take`] reads it,
/// instead of running its default action (for `SIGINT` and `SIGTERM`:
/// ending the process). The fd is readable ([`poll_readable`]) while one is
/// pending.
///
/// Block before starting threads: they inherit the mask. A thread that does
/// not block a process-directed signal may be the one it is delivered to,
/// with the default action. Dropping the `SignalFd` closes the fd and
/// unblocks the signals that it blocked and that were not blocked before;
/// a signal still pending is then delivered as usual (for `SIGINT` and
/// `SIGTERM`, with no handler installed: the process ends). With two
/// `SignalFd`s for the same signal, drop them in the reverse order of
/// creation.
#[derive(Debug)]
pub struct SignalFd {
    fd: OwnedFd,
    /// The signals this value blocked (not blocked before it).
    unblock: Vec<Signal>,
    /// The mask is the creating thread's: neither `Send` nor `Sync`.
    _thread: PhantomData<*const ()>,
}

impl SignalFd {
    /// Blocks `signals` for the calling thread (`pthread_sigmask`) and opens
    /// a non-blocking, close-on-exec signalfd for them. Errors: `EMFILE` or
    /// `ENFILE` when no fd is left, `ENOMEM`; the mask is as before then.
    pub fn new(signals: &[Signal]) -> Result<SignalFd, Errno> {
        let set = sigset(signals)?;
        let mut old = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: `set` is initialised; the old mask is written to `old`.
        let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, old.as_mut_ptr()) };
        if r != 0 {
            return Err(Errno::from_raw(r));
        }
        // SAFETY: pthread_sigmask succeeded and filled it.
        let old = unsafe { old.assume_init() };
        let unblock: Vec<Signal> = signals
            .iter()
            .copied()
            // SAFETY: `old` is an initialised sigset_t; the number is valid.
            .filter(|s| unsafe { libc::sigismember(&old, s.number()) } == 0)
            .collect();
        // SAFETY: `set` is an initialised sigset_t the call only reads.
        let ret = unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
        let fd = if ret < 0 {
            Err(Errno::last())
        } else {
            owned_fd(i64::from(ret))
        };
        match fd {
            Ok(fd) => Ok(SignalFd {
                fd,
                unblock,
                _thread: PhantomData,
            }),
            Err(e) => {
                unblock_signals(&unblock);
                Err(e)
            }
        }
    }

    /// Takes one pending signal of the set, without waiting: `Ok(None)`
    /// when none is pending. Errors are those of `read(2)` on the fd, which
    /// a valid signalfd does not give.
    pub fn take(&self) -> Result<Option<Signal>, Errno> {
        let mut info = MaybeUninit::<libc::signalfd_siginfo>::uninit();
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        // SAFETY: the kernel writes at most `size` bytes into `info`.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), info.as_mut_ptr().cast(), size) };
        if n < 0 {
            return match Errno::last() {
                Errno::EAGAIN => Ok(None),
                e => Err(e),
            };
        }
        if usize::try_from(n).ok() != Some(size) {
            return Ok(None);
        }
        // SAFETY: the kernel filled the whole struct (n == size), and every
        // bit pattern is a valid signalfd_siginfo (integers only).
        let info = unsafe { info.assume_init() };
        let signo = i32::try_from(info.ssi_signo).unwrap_or(0);
        Ok(Signal::from_number(signo))
    }
}

impl AsFd for SignalFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for SignalFd {
    fn drop(&mut self) {
        unblock_signals(&self.unblock);
    }
}

fn unblock_signals(signals: &[Signal]) {
    if signals.is_empty() {
        return;
    }
    if let Ok(set) = sigset(signals) {
        // SAFETY: `set` is initialised; no old mask is asked for.
        unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
    }
}

/// Waits (`poll(2)`) until at least one of `fds` is readable — or at its
/// end or in error, so that a read would not block — or until `timeout`
/// has passed (`None`: no limit; rounded up to whole milliseconds, at most
/// `i32::MAX` of them). Returns, per fd in order, whether it is ready; all
/// `false` after a timeout. A signal handler running during the wait
/// gives `EINTR`; more fds than `RLIMIT_NOFILE` allows, `EINVAL`.
pub fn poll_readable(
    fds: &[BorrowedFd<'_>],
    timeout: Option<Duration>,
) -> Result<Vec<bool>, Errno> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|f| libc::pollfd {
            fd: f.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = match timeout {
        None => -1,
        Some(t) => {
            let ms = t.as_nanos().div_ceil(1_000_000);
            i32::try_from(ms).unwrap_or(i32::MAX)
        }
    };
    let len = libc::nfds_t::try_from(pfds.len()).map_err(|_| Errno::EINVAL)?;
    // SAFETY: `pfds` holds `len` initialised pollfd entries the kernel reads
    // and writes (revents) in place.
    let n = unsafe { libc::poll(pfds.as_mut_ptr(), len, ms) };
    if n < 0 {
        return Err(Errno::last());
    }
    let ready = libc::POLLIN | libc::POLLHUP | libc::POLLERR | libc::POLLNVAL;
    Ok(pfds.iter().map(|p| p.revents & ready != 0).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn numbers_round_trip() {
        for s in Signal::ALL {
            assert_eq!(Signal::from_number(s.number()), Some(s));
        }
        assert_eq!(Signal::Term.number(), 15);
        assert_eq!(Signal::from_number(libc::SIGSEGV), None);
    }

    #[test]
    fn poll_reports_the_readable_fd_or_times_out() {
        let (r1, _w1) = std::os::unix::net::UnixStream::pair().unwrap();
        let (r2, mut w2) = std::os::unix::net::UnixStream::pair().unwrap();
        let fds = [r1.as_fd(), r2.as_fd()];
        let t = std::time::Instant::now();
        assert_eq!(
            poll_readable(&fds, Some(Duration::from_micros(1500))),
            Ok(vec![false, false])
        );
        assert!(t.elapsed() >= Duration::from_millis(2), "rounded up");
        w2.write_all(b"x").unwrap();
        assert_eq!(poll_readable(&fds, None), Ok(vec![false, true]));
        assert_eq!(poll_readable(&[], Some(Duration::ZERO)), Ok(vec![]));
    }

    #[test]
    fn a_blocked_signal_is_read_from_the_fd() {
        // SIGUSR2, raised at this thread only (tgkill): no other test
        // thread sees it.
        let sfd = SignalFd::new(&[Signal::Usr2]).unwrap();
        assert_eq!(sfd.take(), Ok(None));
        let ready = poll_readable(&[sfd.as_fd()], Some(Duration::ZERO)).unwrap();
        assert_eq!(ready, [false]);
        // SAFETY: sends SIGUSR2 to this thread, where it is blocked.
        let r = unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGUSR2) };
        assert_eq!(r, 0);
        let ready = poll_readable(&[sfd.as_fd()], Some(Duration::from_secs(5))).unwrap();
        assert_eq!(ready, [true]);
        assert_eq!(sfd.take(), Ok(Some(Signal::Usr2)));
        assert_eq!(sfd.take(), Ok(None));
        drop(sfd);
        // Unblocked again, as before.
        let mut now = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: reads the mask into `now`.
        let r =
            unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), now.as_mut_ptr()) };
        assert_eq!(r, 0);
        // SAFETY: filled by pthread_sigmask.
        let now = unsafe { now.assume_init() };
        // SAFETY: `now` is initialised.
        assert_eq!(unsafe { libc::sigismember(&now, libc::SIGUSR2) }, 0);
    }
}
