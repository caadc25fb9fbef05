//! BPF ring buffers: [`RingBuf`] consumes the records BPF programs write
//! into a `BPF_MAP_TYPE_RINGBUF` (Linux 5.8); [`UserRingBuf`] produces
//! records for BPF programs to drain from a `BPF_MAP_TYPE_USER_RINGBUF`
//! (Linux 6.1, `bpf_user_ringbuf_drain`).
//!
//! # How the ring is shared
//! The kernel keeps a ring buffer as three parts, and user space maps them
//! through the map's fd without any system call per record:
//!
//! - the **consumer page** (mmap offset 0, one page): the consumer's
//!   position, a `u64` that only the consuming side writes;
//! - the **producer page** (offset one page, one page): the producer's
//!   position, written only by the producing side;
//! - the **data** (right after the producer page, `max_entries` bytes):
//!   mapped *twice in a row*, the second copy being the same pages again,
//!   so a record that starts near the end of the ring and wraps around to
//!   its start is still one contiguous run of bytes in the mapping.
//!
//! Positions count bytes since the ring was created; the byte for position
//! `p` is at data offset `p % max_entries`. Each record starts at a
//! multiple of 8 with an 8-byte header whose first `u32` is the record's
//! length plus two flags: *busy* (reserved, still being written) and
//! *discarded* (to be skipped). The producer publishes a record by
//! advancing its position with the header marked busy, fills it, then
//! clears the busy bit; the consumer reads records up to the producer's
//! position, stops at a busy one, and advances its own position past each
//! record it is done with, which gives those bytes back to the producer.
//!
//! Which side may write which part follows from that: for a
//! `BPF_MAP_TYPE_RINGBUF` user space maps the consumer page read-write and
//! the rest read-only; for a `BPF_MAP_TYPE_USER_RINGBUF` the other way
//! round. `max_entries` is a power of two and a multiple of the page size
//! (the kernel answers `EINVAL` at creation otherwise); a ring has no key
//! or value. In a `.maps` section:
//!
//! ```c
//! struct {
//!     __uint(type, BPF_MAP_TYPE_RINGBUF);   /* 27; USER_RINGBUF is 31 */
//!     __uint(max_entries, 4096 * 4);
//! } events SEC(".maps");
//! ```
//!
//! # Zero copy
//! [`RingBuf::consume`], [`RingBuf::poll`] and [`RingBuf::next_record`]
//! lend each record's bytes in place, as `&[u8]`, and
//! [`UserRingBuf::reserve`] lends the reserved bytes as `&mut [u8]`. That
//! is sound because the kernel leaves a committed record alone until the
//! consumer position passes it, and reads a user record only once it is
//! submitted: the lent slice borrows the ring mutably, and the position
//! moves (or the record is submitted) only after the borrow ends. One
//! consumer and one producer per ring in a process (a second is refused
//! with [`Error::WrongObject`]). The argument in full is in the docs of
//! [`crate::sys::RingConsumer`]'s module.
//!
//! ```no_run
//! use bpf_arena::ObjectLoader;
//! use bpf_arena::ringbuf::RingBuf;
//! use std::ops::ControlFlow;
//! use std::time::Duration;
//! # fn main() -> bpf_arena::Result<()> {
//! let obj = ObjectLoader::from_file("prog.bpf.o")?.load()?;
//! let mut events = RingBuf::from_map(obj.map("events").expect("a map 'events'"))?;
//! loop {
//!     // Blocks up to 100 ms for the first record, then takes all there are.
//!     events.poll(Duration::from_millis(100), |record| {
//!         println!("{} bytes", record.len());
//!         ControlFlow::Continue(())
//!     })?;
//! }
//! # }
//! ```

#![forbid(unsafe_code)]

pub use crate::abi::{
    BPF_MAP_TYPE_RINGBUF, BPF_MAP_TYPE_USER_RINGBUF, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP,
};
use crate::error::{Error, Result};
use crate::map::Map;
use crate::sys::{
    self, Epoll, Errno, OwnedMap, ReserveError, RingConsumer, RingCorrupt, RingProducer,
};
use std::ops::{ControlFlow, Deref, DerefMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

/// The consumer of a `BPF_MAP_TYPE_RINGBUF` (Linux 5.8): BPF programs
/// write records with `bpf_ringbuf_output` or `bpf_ringbuf_reserve` +
/// `bpf_ringbuf_submit`/`_discard`, and this reads them in order, in
/// place. Discarded records are skipped; reading stops at a record still
/// being written.
///
/// Owns a duplicate of the map's fd, two mappings and an epoll fd, all
/// released on drop. Its [`AsFd`] is the map's fd, which polls readable
/// (`EPOLLIN`) while unconsumed bytes are in the ring, for use in an
/// event loop of one's own.
#[derive(Debug)]
pub struct RingBuf {
    name: String,
    ring: RingConsumer,
    epoll: Epoll,
    map: OwnedMap,
}

impl RingBuf {
    /// Consumes the ring buffer `map` (a map of a loaded object, say:
    /// [`LoadedObject::map`](crate::LoadedObject::map)). The fd is
    /// duplicated: the `RingBuf` does not borrow `map`. Needs Linux 5.8,
    /// and a 64-bit kernel (a 32-bit process on one is fine).
    ///
    /// Errors: [`Error::WrongObject`] naming the map when it is not a
    /// `BPF_MAP_TYPE_RINGBUF` (a `USER_RINGBUF` included), when it has
    /// creation flags besides `BPF_F_NUMA_NODE` (a kernel mode this crate
    /// does not know could overwrite records it lends), when this
    /// process already has a `RingBuf` for it (one consumer per ring), or
    /// when the kernel maps more of it than its `max_entries` says;
    /// [`Error::NotSupported`] on a 32-bit kernel (its ring positions are
    /// 4 bytes; see [`sys::ring_kernel_check`]); [`Error::Syscall`] for
    /// `fcntl` (no fd left: `EMFILE`), `mmap` (`EACCES` through an fd
    /// opened read-only; `EPERM` for a frozen map, as the consumer page is
    /// mapped writable and the kernel refuses writable mappings of frozen
    /// maps; `ENOMEM`) or `epoll_ctl`.
    pub fn from_map(map: &Map) -> Result<RingBuf> {
        RingBuf::open(dup(map)?, map.name().to_string())
    }

    /// Consumes the ring buffer behind `fd` (from
    /// [`Map::open_pinned`], `BPF_MAP_GET_FD_BY_ID`, another process),
    /// named by the name the kernel keeps (`fd N` for a map without
    /// one). The fd is checked to be a map through
    /// `/proc/self/fdinfo` ([`sys::fd_kind`]), so this needs procfs.
    ///
    /// Errors: [`Error::WrongObject`] for the fd of a BPF program, BTF
    /// object or link; [`Error::Syscall`] (`open /proc/self/fdinfo`) when
    /// that file cannot be read (`ENOENT` without procfs); [`Error::Bpf`]
    /// (`BPF_OBJ_GET_INFO_BY_FD`) with `EINVAL` for an fd that is not a
    /// BPF object; these name the fd by its number. The rest as for
    /// [`RingBuf::from_map`].
    pub fn from_fd(fd: OwnedFd) -> Result<RingBuf> {
        let (map, name) = adopt(fd)?;
        RingBuf::open(map, name)
    }

    fn open(map: OwnedMap, name: String) -> Result<RingBuf> {
        let (ring, epoll) = rig(&map, &name, Kind::Kernel, RingConsumer::new, sys::EPOLLIN)?;
        Ok(RingBuf {
            name,
            ring,
            epoll,
            map,
        })
    }

    /// The map's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The ring's data size in bytes (`max_entries`).
    pub fn size(&self) -> usize {
        self.ring.data_size()
    }

    /// Bytes produced and not yet consumed: committed, busy and discarded
    /// records, headers and padding included. No system call.
    pub fn pending_bytes(&self) -> u64 {
        self.ring.pending_bytes()
    }

    /// The next committed record, lent in place until the returned
    /// [`Record`] is dropped, which consumes it (and gives its bytes back
    /// to the producers). Discarded records on the way are consumed and
    /// skipped. `Ok(None)` when the ring is empty or the next record is
    /// still being written. No system call.
    ///
    /// A record header that does not fit what the producer published is
    /// [`Error::RingBufCorrupt`], and consuming stops before it (every
    /// later call gives the same error): lengths read from the shared
    /// pages are bounded by the ring before any byte is lent.
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>> {
        match self.ring.next_record() {
            Ok(r) => Ok(r.map(|inner| Record { inner })),
            Err(e) => Err(corrupt(&self.name, e)),
        }
    }

    /// Hands each committed record, in order, to `f` (lent in place for
    /// the call) and consumes it once `f` returns; stops at the end of what
    /// had been produced when it was called, at a record still being
    /// written, or after a record for which `f` returns
    /// [`ControlFlow::Break`]. Records produced while it runs are left for
    /// the next call — so a callback whose own work makes the program
    /// produce more (printing from a program that traces `write`) cannot
    /// keep it going forever. Returns how many records `f` saw (discarded
    /// records are skipped and not counted). No system call; never blocks.
    ///
    /// A panic in `f` consumes the record `f` was given too (it is
    /// dropped, which moves the consumer position past it, while the
    /// panic unwinds) and leaves the records after it in the ring.
    ///
    /// Errors as for [`RingBuf::next_record`]; records `f` saw before the
    /// error stay consumed.
    pub fn consume<F>(&mut self, mut f: F) -> Result<usize>
    where
        F: FnMut(&[u8]) -> ControlFlow<()>,
    {
        let mut n = 0;
        // The producer's position now: records that start at or past it
        // were produced during this call.
        let end = self.ring.position().wrapping_add(self.ring.pending_bytes());
        loop {
            // (Positions wrap at 2^64: compared by distance.)
            let left = end.wrapping_sub(self.ring.position());
            if left == 0 || left > u64::MAX / 2 {
                return Ok(n);
            }
            let record = match self.ring.next_record() {
                Ok(Some(r)) => r,
                Ok(None) => return Ok(n),
                Err(e) => return Err(corrupt(&self.name, e)),
            };
            n += 1;
            let flow = f(record.data());
            drop(record);
            if flow.is_break() {
                return Ok(n);
            }
        }
    }

    /// Waits until a committed record is in the ring, at most `timeout`
    /// (`Duration::MAX`: no limit); `true` when there is one (at once if
    /// one is there already), `false` when the time ran out. Sleeps in
    /// `epoll_wait` on the map's fd, which the kernel wakes when a record
    /// is committed while the consumer has caught up with the producer
    /// (or with `BPF_RB_FORCE_WAKEUP`); records committed with
    /// `BPF_RB_NO_WAKEUP` wake nobody and are only seen by the next
    /// check. A signal interrupting the wait does not end it.
    ///
    /// Errors: [`Error::RingBufCorrupt`] as for
    /// [`RingBuf::next_record`], [`Error::Syscall`] for `epoll_wait`.
    pub fn wait(&mut self, timeout: Duration) -> Result<bool> {
        let deadline = Deadline::after(timeout);
        loop {
            if self.ring.has_record().map_err(|e| corrupt(&self.name, e))? {
                return Ok(true);
            }
            let Some(ms) = deadline.remaining_ms() else {
                return Ok(false);
            };
            wait_epoll(&self.epoll, ms, &self.name)?;
        }
    }

    /// [`wait`](RingBuf::wait)s up to `timeout` for a record, then
    /// [`consume`](RingBuf::consume)s what is there with `f`. Returns how
    /// many records `f` saw: 0 when the time ran out.
    pub fn poll<F>(&mut self, timeout: Duration, f: F) -> Result<usize>
    where
        F: FnMut(&[u8]) -> ControlFlow<()>,
    {
        if self.wait(timeout)? {
            self.consume(f)
        } else {
            Ok(0)
        }
    }
}

impl AsFd for RingBuf {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.map.fd()
    }
}

/// A record of a [`RingBuf`], lent in place ([`RingBuf::next_record`]):
/// its bytes are the `Deref` target. Dropping it consumes the record.
#[derive(Debug)]
pub struct Record<'a> {
    inner: sys::RingRecord<'a>,
}

impl Record<'_> {
    /// The ring position of the record's header: bytes produced before it
    /// since the ring was created. Its data offset is this modulo the
    /// ring's size; the record's bytes wrap around the end of the ring
    /// (and are read from the second mapping of the data) when that offset
    /// plus 8 plus the length is more than the size.
    pub fn position(&self) -> u64 {
        self.inner.position()
    }
}

impl Deref for Record<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.inner.data()
    }
}

/// The producer of a `BPF_MAP_TYPE_USER_RINGBUF` (Linux 6.1): reserves
/// records in place, lets the caller fill them, and submits them for BPF
/// programs to drain with `bpf_user_ringbuf_drain` (which any program
/// type may call with `CAP_BPF`; a `SEC("syscall")` program run with
/// [`Program::run_syscall`](crate::Program::run_syscall) will do).
///
/// Never blocks unless asked to ([`UserRingBuf::reserve_wait`]). Owns a
/// duplicate of the map's fd, two mappings and an epoll fd, all released
/// on drop. Its [`AsFd`] is the map's fd, which polls writable
/// (`EPOLLOUT`) while the ring is not completely full.
#[derive(Debug)]
pub struct UserRingBuf {
    name: String,
    ring: RingProducer,
    epoll: Epoll,
    map: OwnedMap,
}

impl UserRingBuf {
    /// Produces into the user ring buffer `map`. The fd is duplicated.
    /// Needs Linux 6.1, and a 64-bit kernel (a 32-bit process on one is
    /// fine).
    ///
    /// Errors: [`Error::WrongObject`] naming the map when it is not a
    /// `BPF_MAP_TYPE_USER_RINGBUF` (a kernel-produced `RINGBUF` included),
    /// has creation flags besides `BPF_F_NUMA_NODE`, already has a
    /// `UserRingBuf` in this process (one producer per ring: two would
    /// write the same bytes), or is mapped larger by the kernel than its
    /// `max_entries` says; [`Error::NotSupported`] on a 32-bit kernel;
    /// [`Error::Syscall`] for `fcntl`, `mmap` (`EACCES` through an fd
    /// opened read-only, `EPERM` on a frozen map: the producer page and
    /// the data are mapped writable) or `epoll_ctl`.
    pub fn from_map(map: &Map) -> Result<UserRingBuf> {
        UserRingBuf::open(dup(map)?, map.name().to_string())
    }

    /// Produces into the user ring buffer behind `fd`, named by the name
    /// the kernel keeps (`fd N` for a map without one); the fd is checked
    /// to be a map as for [`RingBuf::from_fd`], with the same errors, and
    /// the rest as for [`UserRingBuf::from_map`].
    pub fn from_fd(fd: OwnedFd) -> Result<UserRingBuf> {
        let (map, name) = adopt(fd)?;
        UserRingBuf::open(map, name)
    }

    fn open(map: OwnedMap, name: String) -> Result<UserRingBuf> {
        let (ring, epoll) = rig(&map, &name, Kind::User, RingProducer::new, sys::EPOLLOUT)?;
        Ok(UserRingBuf {
            name,
            ring,
            epoll,
            map,
        })
    }

    /// The map's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The ring's data size in bytes (`max_entries`).
    pub fn size(&self) -> usize {
        self.ring.data_size()
    }

    /// The longest record the ring takes: its size less the 8-byte header,
    /// and at most [`sys::USER_RINGBUF_MAX_RECORD`] (16 MiB - 1, the
    /// largest `bpf_dynptr`: the kernel stops draining with `-E2BIG` at a
    /// longer record).
    pub fn max_record_len(&self) -> usize {
        self.ring.max_record_len()
    }

    /// The bytes a record of `len` bytes takes in the ring: 8 for the
    /// header, and padding to a multiple of 8. Never panics: a `len`
    /// above `usize::MAX - 15`, whose size would not fit in a `usize`,
    /// gives `usize::MAX & !7` (no ring takes such a record).
    pub fn record_bytes(len: usize) -> usize {
        RingProducer::record_bytes(len)
    }

    /// Free bytes in the ring now (the drained consumer position is read
    /// from the kernel's page; no system call). A record of `len` bytes
    /// fits when [`record_bytes(len)`](UserRingBuf::record_bytes) is at
    /// most this.
    pub fn free_bytes(&self) -> Result<usize> {
        self.ring.free_bytes().map_err(|e| corrupt(&self.name, e))
    }

    /// Reserves a record of `len` bytes (0 allowed) in place and returns
    /// it to be filled: [`Reservation::submit`] hands it to the BPF
    /// programs draining the ring, [`Reservation::discard`] (or dropping
    /// it) makes them skip it. Until then draining stops at it. The bytes
    /// hold whatever the ring held there before. No system call.
    ///
    /// Never blocks: a ring without room for it now is
    /// [`Error::RingBufFull`] (drain it, or use
    /// [`UserRingBuf::reserve_wait`]). A `len` above
    /// [`max_record_len`](UserRingBuf::max_record_len) is
    /// [`Error::Invalid`]; a consumer position that cannot be
    /// [`Error::RingBufCorrupt`].
    pub fn reserve(&mut self, len: usize) -> Result<Reservation<'_>> {
        match self.ring.reserve(len) {
            Ok(inner) => Ok(Reservation { inner }),
            Err(e) => Err(reserve_error(e, &self.name)),
        }
    }

    /// [`reserve`](UserRingBuf::reserve), waiting up to `timeout` for room
    /// (`Duration::MAX`: no limit). Sleeps in `epoll_wait` on the map's
    /// fd, which the kernel wakes after a `bpf_user_ringbuf_drain` that
    /// consumed records (unless called with `BPF_RB_NO_WAKEUP`). Still
    /// no room when the time runs out is [`Error::RingBufFull`]; other
    /// errors as for `reserve`, and [`Error::Syscall`] for `epoll_wait`.
    pub fn reserve_wait(&mut self, len: usize, timeout: Duration) -> Result<Reservation<'_>> {
        // A length no record may have goes straight to reserve's error.
        if len <= self.ring.max_record_len() {
            let needed = RingProducer::record_bytes(len);
            let deadline = Deadline::after(timeout);
            while self.free_bytes()? < needed {
                let Some(ms) = deadline.remaining_ms() else {
                    break;
                };
                wait_epoll(&self.epoll, ms, &self.name)?;
            }
        }
        self.reserve(len)
    }

    /// Copies `data` into a new record and submits it: one
    /// [`reserve`](UserRingBuf::reserve) (errors as there) and one copy.
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        let mut r = self.reserve(data.len())?;
        r.copy_from_slice(data);
        r.submit();
        Ok(())
    }
}

impl AsFd for UserRingBuf {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.map.fd()
    }
}

/// A reserved record of a [`UserRingBuf`], lent in place for filling (the
/// `Deref`/`DerefMut` target). [`submit`](Reservation::submit) it to hand
/// it to BPF; dropping it without submitting discards it. Forgetting it
/// (`std::mem::forget`) leaves it busy for good: draining stops there, and
/// the ring fills up behind it.
#[derive(Debug)]
pub struct Reservation<'a> {
    inner: sys::RingReservation<'a>,
}

impl Reservation<'_> {
    /// Submits the record (release store of its header): the next
    /// `bpf_user_ringbuf_drain` hands it to its callback.
    pub fn submit(self) {
        self.inner.submit();
    }

    /// Discards the record: draining skips it (and consumes its bytes).
    pub fn discard(self) {
        self.inner.discard();
    }

    /// The ring position of the record's header.
    pub fn position(&self) -> u64 {
        self.inner.position()
    }
}

impl Deref for Reservation<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.inner.data()
    }
}

impl DerefMut for Reservation<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.inner.data_mut()
    }
}

/// Which side of a ring this crate is on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `BPF_MAP_TYPE_RINGBUF`: we consume.
    Kernel,
    /// `BPF_MAP_TYPE_USER_RINGBUF`: we produce.
    User,
}

impl Kind {
    fn map_type(self) -> u32 {
        match self {
            Kind::Kernel => BPF_MAP_TYPE_RINGBUF,
            Kind::User => BPF_MAP_TYPE_USER_RINGBUF,
        }
    }

    /// The release and machine for [`Error::NotSupported`].
    fn since_64bit(self) -> &'static str {
        match self {
            Kind::Kernel => "5.8 (64-bit)",
            Kind::User => "6.1 (64-bit)",
        }
    }

    fn described(self) -> &'static str {
        match self {
            Kind::Kernel => "a ring buffer (BPF_MAP_TYPE_RINGBUF, Linux 5.8)",
            Kind::User => "a user ring buffer (BPF_MAP_TYPE_USER_RINGBUF, Linux 6.1)",
        }
    }

    fn role(self) -> &'static str {
        match self {
            Kind::Kernel => "consumer (RingBuf)",
            Kind::User => "producer (UserRingBuf)",
        }
    }
}

/// A duplicate of a map's fd with its shape, for a ring that outlives the
/// borrow.
fn dup(map: &Map) -> Result<OwnedMap> {
    map.owned().try_clone().map_err(|errno| Error::Syscall {
        call: "fcntl(F_DUPFD_CLOEXEC)",
        what: format!("map '{}'", map.name()),
        errno,
    })
}

/// The map behind `fd` (checked to be a map: [`crate::map::adopt_fd`]) and
/// its name: the kernel's, or `fd N` for a map created without one.
fn adopt(fd: OwnedFd) -> Result<(OwnedMap, String)> {
    let map = crate::map::adopt_fd(fd)?;
    let mut name = sys::object_name_text(&map.info().name);
    if name.is_empty() {
        name = format!("fd {}", map.fd().as_raw_fd());
    }
    Ok((map, name))
}

/// The checks [`RingConsumer::new`] and [`RingProducer::new`] make, with
/// errors that say what the map is instead.
fn check_ring(map: &OwnedMap, name: &str, kind: Kind) -> Result<()> {
    let info = map.info();
    let wrong = |reason: String| Error::WrongObject {
        what: format!("map '{name}'"),
        reason,
    };
    if info.map_type != kind.map_type() {
        let is = match crate::abi::map_type_name(info.map_type) {
            Some(t) => format!("a BPF_MAP_TYPE_{} map", t.to_ascii_uppercase()),
            None => format!("a map of type {}", info.map_type),
        };
        let hint = match (kind, info.map_type) {
            (Kind::Kernel, BPF_MAP_TYPE_USER_RINGBUF) => {
                "; user space produces into it: use UserRingBuf"
            }
            (Kind::User, BPF_MAP_TYPE_RINGBUF) => "; user space consumes it: use RingBuf",
            _ => "",
        };
        return Err(wrong(format!("is {is}, not {}{hint}", kind.described())));
    }
    let unknown = info.map_flags & !crate::abi::BPF_F_NUMA_NODE;
    if unknown != 0 {
        return Err(wrong(format!(
            "has creation flags {} that this crate does not know for ring buffers (only numa_node): records are lent in place, which a mode where the kernel may overwrite unconsumed records would break",
            crate::abi::MapFlags(unknown)
        )));
    }
    let size = info.max_entries as usize;
    if !size.is_power_of_two() || size % sys::page_size() != 0 {
        return Err(wrong(format!(
            "has max_entries {size}, which is not a power of two multiple of the page size ({}) as the kernel guarantees for ring buffers",
            sys::page_size()
        )));
    }
    sys::ring_kernel_check().map_err(|why| not_64bit(name, kind, why))
}

/// Rings with a 32-bit kernel: [`Error::NotSupported`].
fn not_64bit(name: &str, kind: Kind, why: String) -> Error {
    Error::NotSupported {
        what: "BPF ring buffers shared with a 32-bit kernel",
        since: kind.since_64bit(),
        detail: Some(format!("ring buffer '{name}': {why}")),
    }
}

/// Checks `map` as a ring of `kind`, maps it with `make`
/// ([`RingConsumer::new`] or [`RingProducer::new`]) and watches its fd for
/// `events`.
fn rig<R>(
    map: &OwnedMap,
    name: &str,
    kind: Kind,
    make: fn(&OwnedMap) -> std::result::Result<R, Errno>,
    events: u32,
) -> Result<(R, Epoll)> {
    check_ring(map, name, kind)?;
    let ring = make(map).map_err(|e| setup_error(e, name, kind))?;
    let epoll = Epoll::watch(map.fd(), events).map_err(|errno| Error::Syscall {
        call: "epoll_ctl",
        what: format!("ring buffer '{name}'"),
        errno,
    })?;
    Ok((ring, epoll))
}

/// The error for a failed [`RingConsumer::new`] / [`RingProducer::new`]
/// after [`check_ring`] passed.
fn setup_error(errno: Errno, name: &str, kind: Kind) -> Error {
    match errno {
        sys::RING_LARGER_THAN_INFO => Error::WrongObject {
            what: format!("map '{name}'"),
            reason: "the kernel maps more of it than its max_entries says (a page past the ring's data mapped), so positions masked with that size would not be the kernel's".into(),
        },
        Errno::EOPNOTSUPP => not_64bit(
            name,
            kind,
            sys::ring_kernel_check()
                .err()
                .unwrap_or_else(|| "the ring's positions are not 8 bytes".into()),
        ),
        Errno::EBUSY => Error::WrongObject {
            what: format!("map '{name}'"),
            reason: format!(
                "already has a {} in this process: a ring has one, so that no one moves its position under records lent in place",
                kind.role()
            ),
        },
        errno => Error::Syscall {
            call: "mmap",
            what: format!("ring buffer '{name}'"),
            errno,
        },
    }
}

fn corrupt(name: &str, detail: RingCorrupt) -> Error {
    Error::RingBufCorrupt {
        map: name.to_string(),
        detail,
    }
}

fn reserve_error(e: ReserveError, name: &str) -> Error {
    match e {
        ReserveError::TooLarge { len, max } => Error::invalid(
            "record length",
            format!(
                "{len} bytes is more than the {max} bytes ring buffer '{name}' takes in one record (its size less the 8-byte header, and at most 16 MiB - 1 for bpf_user_ringbuf_drain)"
            ),
        ),
        ReserveError::Full { needed, free } => Error::RingBufFull {
            map: name.to_string(),
            needed,
            free,
        },
        ReserveError::Corrupt(detail) => corrupt(name, detail),
    }
}

/// One `epoll_wait` of at most `ms` milliseconds; an interruption by a
/// signal counts as a wake-up (callers check again and wait on).
fn wait_epoll(epoll: &Epoll, ms: i32, name: &str) -> Result<()> {
    match epoll.wait(ms) {
        Ok(_) | Err(Errno::EINTR) => Ok(()),
        Err(errno) => Err(Error::Syscall {
            call: "epoll_wait",
            what: format!("ring buffer '{name}'"),
            errno,
        }),
    }
}

/// When a wait with a timeout ends (`None`: never).
struct Deadline(Option<Instant>);

impl Deadline {
    fn after(timeout: Duration) -> Deadline {
        Deadline(Instant::now().checked_add(timeout))
    }

    /// Milliseconds left, rounded up so a wait never ends early; -1 (no
    /// limit) without a deadline; `None` once it has passed.
    fn remaining_ms(&self) -> Option<i32> {
        self.remaining_ms_at(Instant::now())
    }

    /// [`Deadline::remaining_ms`] as seen at `now` (the tests pass their
    /// own clock, so that a slow or preempted machine cannot change the
    /// answer).
    fn remaining_ms_at(&self, now: Instant) -> Option<i32> {
        let Some(at) = self.0 else {
            return Some(-1);
        };
        let left = at.saturating_duration_since(now);
        if left.is_zero() {
            return None;
        }
        let ms = left.as_nanos().div_ceil(1_000_000);
        Some(i32::try_from(ms).unwrap_or(i32::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_round_up_and_end() {
        // Exact arithmetic against a fixed clock: under emulation more than
        // a millisecond can pass between two lines of a test.
        let t0 = Instant::now();
        let at = |d: Duration| Deadline(t0.checked_add(d));
        assert_eq!(Deadline::after(Duration::MAX).remaining_ms(), Some(-1));
        let d = at(Duration::from_micros(1500));
        assert_eq!(d.remaining_ms_at(t0), Some(2), "1.5 ms rounds up");
        assert_eq!(d.remaining_ms_at(t0 + Duration::from_micros(500)), Some(1));
        assert_eq!(d.remaining_ms_at(t0 + Duration::from_micros(1499)), Some(1));
        assert_eq!(d.remaining_ms_at(t0 + Duration::from_micros(1500)), None);
        assert_eq!(d.remaining_ms_at(t0 + Duration::from_secs(1)), None);
        assert_eq!(Deadline::after(Duration::ZERO).remaining_ms(), None);
        let long = at(Duration::from_secs(100 * 86_400));
        assert_eq!(long.remaining_ms_at(t0), Some(i32::MAX));
    }
}
