//! The shared pages of BPF ring buffers, and the safe primitives on them:
//! [`RingConsumer`] reads the records BPF programs write into a
//! `BPF_MAP_TYPE_RINGBUF` (Linux 5.8), [`RingProducer`] writes records for
//! BPF programs to drain from a `BPF_MAP_TYPE_USER_RINGBUF` (Linux 6.1).
//!
//! # What the kernel shares
//! A ring buffer of `size` data bytes (`max_entries`: a power of two and a
//! multiple of the page size, which the kernel checks at creation) is, as
//! user space maps it through the map fd:
//!
//! - offset 0, one page: the consumer position, a `u64` at the start;
//! - offset one page, one page: the producer position, likewise;
//! - then the `size` data bytes, twice: the kernel maps the same data
//!   pages a second time right after the first copy, so a record that
//!   runs past the end of the ring continues, at the same addresses, in
//!   the second copy and can be read or written as one piece.
//!
//! Positions only grow; the byte for position `p` is at data offset
//! `p & (size - 1)`. Records start at positions that are multiples of 8,
//! with an 8-byte header: a `u32` length with [`BPF_RINGBUF_BUSY_BIT`]
//! (reserved, not yet committed) and [`BPF_RINGBUF_DISCARD_BIT`], then a
//! `u32` the kernel uses for itself; the record's bytes follow, and the
//! next record starts at the next multiple of 8.
//!
//! Who may write what is the kernel's `mmap` rule: for a kernel-produced
//! ring only the consumer page can be mapped writable (`EPERM` for the
//! rest); for a user-produced ring the consumer page is read-only (`EPERM`
//! for a writable mapping of it) and the producer page and the data are
//! writable.
//!
//! # Soundness
//! Everything but the lent record bytes is accessed with atomics: the
//! positions and the header length words with acquire loads and release
//! stores, pairing with the kernel's `smp_load_acquire` and
//! `smp_store_release`. The positions are the kernel's `unsigned long`,
//! accessed here as `u64`: right for every 64-bit kernel, a 32-bit
//! process on one included, and wrong for a 32-bit kernel (4-byte
//! positions, wrapping at 2^32), where rings are refused
//! ([`ring_kernel_check`]). The mapping functions check the map's type,
//! flags and size from `BPF_OBJ_GET_INFO_BY_FD` of the same fd (which
//! [`OwnedMap::new`] has checked to be a map) before mapping, and
//! confirm the size after mapping: our mappings of the size the info
//! gives succeeded, and a one-page mapping of the first page past them
//! fails (see [`confirm_ring_size`]), so the ring is exactly that size.
//! Every address computed below therefore lies inside a mapping the
//! kernel filled completely (it maps all pages or fails), the kernel's
//! positions are masked with the ring's real size, and every value read
//! from the shared pages is checked before it is used as a length or an
//! offset.
//!
//! Record bytes are lent out as slices, which is sound because of the
//! ring's protocol, as the kernel implements it up to Linux 6.18:
//!
//! - Kernel-produced ring: a BPF program writes a record only between
//!   reserving it and committing it (the verifier takes the pointer away
//!   at `bpf_ringbuf_submit`/`_discard`); the kernel reserves new records
//!   only in the part of the ring the consumer position has passed (a
//!   reservation that would end `size` bytes or more past the consumer
//!   position fails). So once the header says committed (busy bit clear,
//!   read with acquire), the record's bytes do not change until the
//!   consumer position moves past them, and only the consumer moves it.
//!   [`RingRecord`] borrows the [`RingConsumer`] mutably and moves the
//!   position in its `Drop`, after the last use of the slice.
//! - User-produced ring: the kernel touches nothing of a busy record but
//!   its header's length word, and nothing after it.
//!   `bpf_user_ringbuf_drain` loads the length word at the consumer
//!   position (acquire) and stops there while the busy bit is set; it
//!   skips a discarded record, and hands a committed one to the BPF
//!   callback (a local dynptr over its bytes, which the program may read
//!   and perhaps write) before moving the consumer position past it.
//!   What the kernel does with committed records does not matter here:
//!   once a record is committed this crate holds no reference into it.
//!   [`RingReservation`] writes the busy header before publishing the
//!   producer position, lends the record's bytes while it lives, and
//!   commits (release store) when it is submitted, discarded or
//!   dropped, after the last use of the lent slice.
//! - One consumer (or producer) per ring: a second one in this process
//!   moving the same position would let the kernel overwrite a lent
//!   record, so each map (by its kernel id, unique while our mappings hold
//!   the map) is claimed by one `RingConsumer` or `RingProducer` at a time
//!   (`EBUSY` for a second). Another process with the map fd, or a child
//!   that inherited this process's mappings through `fork`, that moves the
//!   same position breaks the protocol behind the lent slices; like any
//!   other process writing this process's memory, that is outside what
//!   Rust's guarantees can cover. Ring buffers with creation flags this
//!   crate does not know are refused (`EINVAL`): a future mode in which
//!   the kernel overwrites unconsumed records would break the first rule.

use super::mmap::{mmap_shared_offset, munmap};
use super::{Errno, OwnedMap, page_size};
use crate::abi::{
    BPF_F_NUMA_NODE, BPF_MAP_TYPE_RINGBUF, BPF_MAP_TYPE_USER_RINGBUF, BPF_RINGBUF_BUSY_BIT,
    BPF_RINGBUF_DISCARD_BIT, BPF_RINGBUF_HDR_SZ,
};
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

/// The largest record `bpf_user_ringbuf_drain` hands to a BPF program
/// (the size limit of a `struct bpf_dynptr`, `(1 << 24) - 1` bytes): the
/// kernel stops draining with `-E2BIG` at a longer one.
pub const USER_RINGBUF_MAX_RECORD: usize = (1 << 24) - 1;

const HDR: u64 = BPF_RINGBUF_HDR_SZ as u64;

/// The ring's state read from the shared pages does not follow the
/// protocol (a kernel bug, or another party writing the positions): the
/// consumer or producer stops there and reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingCorrupt {
    /// The consumer position.
    pub consumer: u64,
    /// The producer position.
    pub producer: u64,
    /// The header's length word at the consumer position, when the
    /// problem is the record there.
    pub header: Option<u32>,
    /// What is wrong.
    pub reason: &'static str,
}

impl fmt::Display for RingCorrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (consumer position {:#x}, producer position {:#x}",
            self.reason, self.consumer, self.producer
        )?;
        if let Some(h) = self.header {
            write!(f, ", record header {h:#010x}")?;
        }
        f.write_str(")")
    }
}

/// What the committed header at the consumer position means.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// A discarded record: skip to `next`.
    Discarded { next: u64 },
    /// A record of `len` bytes; the next one starts at `next`.
    Record { len: usize, next: u64 },
}

/// Reads the length word `hdr` (busy bit clear) of the record at `cons`,
/// with `prod - cons` bytes published (more than 0, at most `size`).
fn step(hdr: u32, cons: u64, prod: u64, size: u64) -> Result<Step, &'static str> {
    let len = hdr & !(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
    let total = (u64::from(len) + HDR).next_multiple_of(8);
    if total > size {
        return Err("a record is longer than the ring");
    }
    if total > prod.wrapping_sub(cons) {
        return Err("a record runs past the producer position");
    }
    let next = cons.wrapping_add(total);
    if hdr & BPF_RINGBUF_DISCARD_BIT != 0 {
        return Ok(Step::Discarded { next });
    }
    Ok(Step::Record {
        len: len as usize,
        next,
    })
}

/// Checks positions read from the shared pages: both multiples of 8, the
/// producer at most `size` bytes ahead of the consumer.
fn check_positions(cons: u64, prod: u64, size: u64) -> Result<(), &'static str> {
    if cons % 8 != 0 {
        return Err("the consumer position is not a multiple of 8");
    }
    if prod % 8 != 0 {
        return Err("the producer position is not a multiple of 8");
    }
    if prod.wrapping_sub(cons) > size {
        return Err("the producer position is more than the ring's size ahead of the consumer");
    }
    Ok(())
}

/// Maps ids of the rings that have a consumer or producer in this process.
static CLAIMED: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// This process's one consumer or producer of a ring, by map id.
#[derive(Debug)]
struct Claim(u32);

impl Claim {
    fn take(id: u32) -> Result<Claim, Errno> {
        let mut ids = CLAIMED.lock().unwrap_or_else(|e| e.into_inner());
        if ids.contains(&id) {
            return Err(Errno::EBUSY);
        }
        ids.push(id);
        Ok(Claim(id))
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut ids = CLAIMED.lock().unwrap_or_else(|e| e.into_inner());
        ids.retain(|&i| i != self.0);
    }
}

/// The two mappings of a ring: the consumer page, and the producer page
/// followed by the data mapped twice. Unmapped on drop.
#[derive(Debug)]
struct RingPages {
    consumer: usize,
    page: usize,
    producer: usize,
    producer_len: usize,
    /// Data bytes (a power of two, a multiple of the page size).
    size: u64,
}

/// [`RingConsumer::new`], [`RingProducer::new`] and [`confirm_ring_size`]
/// answer this when the kernel maps more of the ring than its
/// `max_entries` says: `EFBIG`, which `mmap` itself never answers.
pub const RING_LARGER_THAN_INFO: Errno = Errno::from_raw(libc::EFBIG);

/// Whether rings can be shared with the running kernel: `Ok` when its
/// `unsigned long` (the type of the ring's positions) is 8 bytes, as this
/// crate reads them. Always `Ok`, without a system call, in a 64-bit
/// process (which only runs on a 64-bit kernel). In a 32-bit process
/// `uname(2)`'s machine says (`x86_64`, `aarch64`, `ppc64le`, `s390x`,
/// `riscv64`, … are 64-bit): `Err` with a description for a 32-bit
/// kernel, for a machine this crate does not know, for a process under
/// the `linux32` personality (its `uname` shows the 32-bit machine even
/// on a 64-bit kernel, so it is refused too), or when `uname` fails.
/// Cached for the process.
pub fn ring_kernel_check() -> Result<(), String> {
    if cfg!(target_pointer_width = "64") {
        return Ok(());
    }
    static CHECK: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    CHECK
        .get_or_init(|| {
            let machine = uname_machine()
                .map_err(|e| format!("uname failed ({e}), so the kernel's word size is unknown"))?;
            if machine_is_64bit(&machine) {
                Ok(())
            } else {
                Err(format!(
                    "the kernel's machine is '{machine}' (uname), not one this crate knows to be 64-bit: ring positions are the kernel's unsigned long, which a 32-bit kernel keeps in 4 bytes, and this crate reads them as 8"
                ))
            }
        })
        .clone()
}

/// `uname(2)`'s machine field (`uname -m`).
fn uname_machine() -> Result<String, Errno> {
    // SAFETY: an all-zero utsname (arrays of C chars) is a valid value for
    // uname to overwrite.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: uname writes one utsname into `u`.
    if unsafe { libc::uname(&mut u) } != 0 {
        return Err(Errno::last());
    }
    let bytes: Vec<u8> = u.machine.iter().map(|&c| c as u8).collect();
    Ok(super::object_name_text(&bytes))
}

/// Whether `uname -m` names a 64-bit kernel.
fn machine_is_64bit(machine: &str) -> bool {
    const MACHINES: [&str; 13] = [
        "x86_64",
        "aarch64",
        "aarch64_be",
        "ppc64",
        "ppc64le",
        "s390x",
        "riscv64",
        "mips64",
        "sparc64",
        "loongarch64",
        "alpha",
        "ia64",
        "parisc64",
    ];
    MACHINES.contains(&machine)
}

/// Confirms that the ring buffer `map` (either kind) has no more than
/// `data_size` data bytes: a one-page read-only `mmap` of the first page
/// past the consumer page, the producer page and the data mapped twice
/// (file offset `2 * page + 2 * data_size`) must fail. `Ok` when the
/// kernel refuses it with `EINVAL`; [`RING_LARGER_THAN_INFO`] when it maps
/// (the mapping is undone at once); the errno of any other failure
/// (`ENOMEM`), or `EOVERFLOW` without a system call for an offset `mmap`
/// cannot take here.
///
/// Why the probe tells: the kernel maps a ring (`ringbuf_map_mmap_kern`
/// and `ringbuf_map_mmap_user`, as of Linux 5.8 and 6.1 up to 6.18) with
/// `remap_vmalloc_range` at the page offset asked, which refuses
/// (`EINVAL`) any range that does not end inside the ring's pages: the
/// two position pages and the data pages twice. A read-only mapping gets
/// that far for both kinds (their permission checks only refuse writable
/// mappings: any but the consumer page of a kernel-produced ring, the
/// consumer page of a user-produced one), frozen maps included. So the
/// probe maps exactly when the ring is larger than `data_size`. Call it
/// with the size a ring's mappings of `2 * page + 2 * data_size` bytes
/// succeeded with (which proves it is not smaller) to know the size
/// exactly. `EINVAL` without a system call when `map` is not a ring
/// buffer of either kind.
pub fn confirm_ring_size(map: &OwnedMap, data_size: usize) -> Result<(), Errno> {
    let t = map.info().map_type;
    if t != BPF_MAP_TYPE_RINGBUF && t != BPF_MAP_TYPE_USER_RINGBUF {
        return Err(Errno::EINVAL);
    }
    let page = page_size();
    let overflow = || Errno::from_raw(libc::EOVERFLOW);
    let past = data_size
        .checked_add(page)
        .and_then(|n| n.checked_mul(2))
        .ok_or_else(overflow)?;
    if libc::off_t::try_from(past).is_err() {
        // A 32-bit off_t: the probe cannot be made, and the ring is not
        // used unconfirmed.
        return Err(overflow());
    }
    match mmap_shared_offset(page, libc::PROT_READ, map.fd(), past) {
        Err(Errno::EINVAL) => Ok(()),
        Err(e) => Err(e),
        Ok(extra) => {
            // SAFETY: `extra` is the one-page mapping just made, ours, and
            // nothing refers to it.
            let _ = unsafe { munmap(extra, page) };
            Err(RING_LARGER_THAN_INFO)
        }
    }
}

impl RingPages {
    /// Maps the ring `map`, which must be of `map_type`, with the kernel's
    /// permissions for that type. `EINVAL` without a system call for
    /// another map type, unknown creation flags, or a size that is not a
    /// power-of-two multiple of the page size; `EOPNOTSUPP` without a
    /// system call on a kernel whose ring positions are not 8 bytes
    /// ([`ring_kernel_check`]); [`RING_LARGER_THAN_INFO`] when the kernel
    /// maps more than the size the info gives. The kernel's `mmap`
    /// answers for the rest (`EACCES` for a writable mapping through an
    /// fd opened read-only, `EPERM` for a writable mapping of a frozen
    /// map, `ENOMEM`).
    fn map(map: &OwnedMap, map_type: u32) -> Result<RingPages, Errno> {
        let info = map.info();
        let page = page_size();
        let size = info.max_entries as usize;
        if info.map_type != map_type
            || info.map_flags & !BPF_F_NUMA_NODE != 0
            || !size.is_power_of_two()
            || size % page != 0
        {
            return Err(Errno::EINVAL);
        }
        if ring_kernel_check().is_err() {
            return Err(Errno::EOPNOTSUPP);
        }
        let producer_len = size
            .checked_mul(2)
            .and_then(|d| d.checked_add(page))
            .ok_or(Errno::EINVAL)?;
        let user = map_type == BPF_MAP_TYPE_USER_RINGBUF;
        let (cons_prot, prod_prot) = if user {
            (libc::PROT_READ, libc::PROT_READ | libc::PROT_WRITE)
        } else {
            (libc::PROT_READ | libc::PROT_WRITE, libc::PROT_READ)
        };
        let consumer = mmap_shared_offset(page, cons_prot, map.fd(), 0)?;
        let mut pages = RingPages {
            consumer,
            page,
            producer: 0,
            producer_len: 0,
            size: size as u64,
        };
        pages.producer = mmap_shared_offset(producer_len, prod_prot, map.fd(), page)?;
        pages.producer_len = producer_len;
        // The size is only what BPF_OBJ_GET_INFO_BY_FD said; the mappings
        // above prove the ring has at least that much, this that it has
        // no more.
        confirm_ring_size(map, size)?;
        Ok(pages)
    }

    /// The address of data offset `off` (`off < 2 * size`).
    fn data(&self, off: usize) -> usize {
        self.producer + self.page + off
    }

    fn consumer_pos(&self) -> &AtomicU64 {
        // SAFETY: the consumer page is mapped for as long as `self` lives,
        // page aligned, and its first 8 bytes are the kernel's `unsigned
        // long consumer_pos`, only ever accessed atomically (here, and by
        // the kernel with READ_ONCE/smp_* accesses). Loads from a
        // read-only mapping are allowed for atomics of this size.
        unsafe { AtomicU64::from_ptr(self.consumer as *mut u64) }
    }

    fn producer_pos(&self) -> &AtomicU64 {
        // SAFETY: as for `consumer_pos`, the first 8 bytes of the producer
        // page.
        unsafe { AtomicU64::from_ptr(self.producer as *mut u64) }
    }

    /// The length word of the record header at data offset `off`.
    fn header(&self, off: usize) -> &AtomicU32 {
        debug_assert!(off % 8 == 0 && (off as u64) < self.size);
        // SAFETY: `off` is a multiple of 8 below `size` (callers take it
        // from a checked position masked with `size - 1`), so the 4 bytes
        // are aligned and inside the first copy of the data. Header words
        // are only accessed atomically, by us and by the kernel (a plain
        // store before publishing the producer position, then `xchg`).
        unsafe { AtomicU32::from_ptr(self.data(off) as *mut u32) }
    }
}

impl Drop for RingPages {
    fn drop(&mut self) {
        // SAFETY: both mappings are ours (a length of 0 unmaps nothing);
        // every borrow into them (RingRecord, RingReservation) borrows
        // the owner of `self` and has ended.
        unsafe {
            let _ = munmap(self.consumer, self.page);
            let _ = munmap(self.producer, self.producer_len);
        }
    }
}

/// The consumer of a `BPF_MAP_TYPE_RINGBUF` (Linux 5.8): reads committed
/// records in order, skips discarded ones, stops at a busy one.
#[derive(Debug)]
pub struct RingConsumer {
    pages: RingPages,
    /// Our position (we are the only one moving it).
    cons: u64,
    /// The producer position last read.
    prod: u64,
    _claim: Claim,
}

// SAFETY: the mappings belong to this value until drop; the shared words
// are only accessed atomically, and record bytes are only lent through
// `&mut self` (RingRecord), so sending or sharing the value between
// threads cannot create a data race.
unsafe impl Send for RingConsumer {}
// SAFETY: as above; `&self` methods only load atomically.
unsafe impl Sync for RingConsumer {}

impl RingConsumer {
    /// Maps the ring buffer `map` for consuming: the consumer page
    /// read-write, the producer page and the data (twice) read-only.
    ///
    /// `EINVAL` without a system call when `map` is not a
    /// `BPF_MAP_TYPE_RINGBUF`, has creation flags other than
    /// `BPF_F_NUMA_NODE`, or a size that is not a power-of-two multiple
    /// of the page size; `EBUSY` when this process already consumes it;
    /// `EOPNOTSUPP` on a 32-bit kernel ([`ring_kernel_check`]);
    /// [`RING_LARGER_THAN_INFO`] when the kernel maps more than
    /// `max_entries` data bytes. The kernel's `mmap` answers `EACCES` for
    /// an fd opened read-only (`BPF_F_RDONLY`), `EPERM` for a frozen map
    /// (the consumer page is mapped writable), `ENOMEM` without address
    /// space.
    pub fn new(map: &OwnedMap) -> Result<RingConsumer, Errno> {
        let claim = Claim::take(map.info().id)?;
        let pages = RingPages::map(map, BPF_MAP_TYPE_RINGBUF)?;
        let cons = pages.consumer_pos().load(Ordering::Acquire);
        Ok(RingConsumer {
            pages,
            cons,
            prod: cons,
            _claim: claim,
        })
    }

    /// The ring's data size in bytes (`max_entries`).
    pub fn data_size(&self) -> usize {
        self.pages.size as usize
    }

    /// The consumer position (bytes consumed since the ring was created,
    /// wrapping at 2^64).
    pub fn position(&self) -> u64 {
        self.cons
    }

    /// Bytes the producers have reserved that are not consumed yet
    /// (committed, busy and discarded records with their headers), from an
    /// acquire load of the producer position.
    pub fn pending_bytes(&self) -> u64 {
        self.pages
            .producer_pos()
            .load(Ordering::Acquire)
            .wrapping_sub(self.cons)
    }

    fn corrupt(&self, header: Option<u32>, reason: &'static str) -> RingCorrupt {
        RingCorrupt {
            consumer: self.cons,
            producer: self.prod,
            header,
            reason,
        }
    }

    /// Moves the consumer position to `next` (release: the kernel may
    /// reuse the bytes before it from now on).
    fn advance(&mut self, next: u64) {
        self.cons = next;
        self.pages.consumer_pos().store(next, Ordering::Release);
    }

    /// The committed record at the consumer position, as (data offset of
    /// its header, length, next position), skipping discarded records;
    /// `None` when the ring is empty or the next record is busy.
    fn find(&mut self) -> Result<Option<(usize, usize, u64)>, RingCorrupt> {
        loop {
            if self.cons == self.prod {
                // Our last store of the consumer position must be visible
                // before we read the producer position: a producer that
                // commits after this read finds the consumer caught up
                // and wakes it (the kernel's commit is a full barrier
                // before it reads the consumer position).
                fence(Ordering::SeqCst);
                self.prod = self.pages.producer_pos().load(Ordering::Acquire);
                check_positions(self.cons, self.prod, self.pages.size)
                    .map_err(|r| self.corrupt(None, r))?;
                if self.cons == self.prod {
                    return Ok(None);
                }
            }
            let off = (self.cons & (self.pages.size - 1)) as usize;
            let mut hdr = self.pages.header(off).load(Ordering::Acquire);
            if hdr & BPF_RINGBUF_BUSY_BIT != 0 {
                // As above: either the commit sees our position and wakes
                // us, or we see the commit now.
                fence(Ordering::SeqCst);
                hdr = self.pages.header(off).load(Ordering::Acquire);
                if hdr & BPF_RINGBUF_BUSY_BIT != 0 {
                    return Ok(None);
                }
            }
            match step(hdr, self.cons, self.prod, self.pages.size) {
                Ok(Step::Discarded { next }) => self.advance(next),
                Ok(Step::Record { len, next }) => return Ok(Some((off, len, next))),
                Err(r) => return Err(self.corrupt(Some(hdr), r)),
            }
        }
    }

    /// Whether a committed record is at the consumer position (discarded
    /// records before it are skipped). No system call.
    pub fn has_record(&mut self) -> Result<bool, RingCorrupt> {
        self.find().map(|r| r.is_some())
    }

    /// The next committed record, lent until the [`RingRecord`] is
    /// dropped, which moves the consumer position past it; discarded
    /// records on the way are skipped (and consumed). `None` when the ring
    /// is empty or the next record is still busy. A record whose header
    /// does not fit what was published is [`RingCorrupt`], and the
    /// consumer position stays before it. No system call.
    pub fn next_record(&mut self) -> Result<Option<RingRecord<'_>>, RingCorrupt> {
        let Some((off, len, next)) = self.find()? else {
            return Ok(None);
        };
        Ok(Some(RingRecord {
            addr: self.pages.data(off + HDR as usize),
            len,
            next,
            ring: self,
        }))
    }
}

/// A committed record of a [`RingConsumer`], lent in place; dropping it
/// moves the consumer position past it (release store), after which the
/// kernel may reuse its bytes.
#[derive(Debug)]
pub struct RingRecord<'a> {
    ring: &'a mut RingConsumer,
    addr: usize,
    len: usize,
    next: u64,
}

impl RingRecord<'_> {
    /// The record's bytes.
    pub fn data(&self) -> &[u8] {
        // SAFETY: `addr` is the record's first byte, `len` at most `size -
        // 8` bytes from a header at data offset below `size` (checked by
        // `step`), so the range lies in the two copies of the data, inside
        // the producer mapping, which lives as long as `ring`. The record
        // is committed (header read with acquire, busy clear), and the
        // kernel writes none of its bytes until the consumer position
        // passes it (module docs), which only our drop does: the borrow of
        // `self` keeps the slice from outliving that.
        unsafe { std::slice::from_raw_parts(self.addr as *const u8, self.len) }
    }

    /// The ring position of the record's header (its data offset is this
    /// masked with `size - 1`; the record's bytes run past the end of the
    /// first copy when that offset plus 8 plus the length exceeds `size`).
    pub fn position(&self) -> u64 {
        self.ring.cons
    }
}

impl Drop for RingRecord<'_> {
    fn drop(&mut self) {
        self.ring.advance(self.next);
    }
}

/// Why [`RingProducer::reserve`] gave no record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReserveError {
    /// Longer than any record the ring (or `bpf_user_ringbuf_drain`) takes.
    TooLarge {
        /// The length asked for.
        len: usize,
        /// The longest record allowed.
        max: usize,
    },
    /// Not enough free bytes now (header and padding included).
    Full {
        /// Bytes the record needs.
        needed: usize,
        /// Bytes free.
        free: usize,
    },
    /// The consumer position the kernel shows is impossible.
    Corrupt(RingCorrupt),
}

/// The producer of a `BPF_MAP_TYPE_USER_RINGBUF` (Linux 6.1): reserves a
/// record, lends its bytes, and submits or discards it.
#[derive(Debug)]
pub struct RingProducer {
    pages: RingPages,
    /// Our position (we are the only one moving it).
    prod: u64,
    _claim: Claim,
}

// SAFETY: as for RingConsumer: record bytes are only lent through `&mut
// self` (RingReservation); everything else is atomic.
unsafe impl Send for RingProducer {}
// SAFETY: as above.
unsafe impl Sync for RingProducer {}

impl RingProducer {
    /// Maps the user ring buffer `map` for producing: the consumer page
    /// read-only, the producer page and the data (twice) read-write.
    ///
    /// `EINVAL` without a system call when `map` is not a
    /// `BPF_MAP_TYPE_USER_RINGBUF`, has creation flags other than
    /// `BPF_F_NUMA_NODE`, a size that is not a power-of-two multiple of
    /// the page size; `EBUSY` when this process already produces into
    /// it; `EOPNOTSUPP` and [`RING_LARGER_THAN_INFO`] as for
    /// [`RingConsumer::new`]. The kernel's `mmap` answers `EACCES` for an
    /// fd opened read-only, `EPERM` for a frozen map, `ENOMEM` without
    /// address space.
    pub fn new(map: &OwnedMap) -> Result<RingProducer, Errno> {
        let claim = Claim::take(map.info().id)?;
        let pages = RingPages::map(map, BPF_MAP_TYPE_USER_RINGBUF)?;
        // Checked with the consumer position before each reservation.
        let prod = pages.producer_pos().load(Ordering::Acquire);
        Ok(RingProducer {
            pages,
            prod,
            _claim: claim,
        })
    }

    /// The ring's data size in bytes (`max_entries`).
    pub fn data_size(&self) -> usize {
        self.pages.size as usize
    }

    /// The longest record [`reserve`](Self::reserve) takes: the ring's
    /// size less the header, and at most [`USER_RINGBUF_MAX_RECORD`].
    pub fn max_record_len(&self) -> usize {
        (self.data_size() - HDR as usize).min(USER_RINGBUF_MAX_RECORD)
    }

    /// The bytes a record of `len` bytes takes in the ring: header and
    /// padding to a multiple of 8 included. Never panics: a `len` above
    /// `usize::MAX - 15`, whose size would not fit in a `usize`, gives
    /// `usize::MAX & !7` (no ring takes such a record).
    pub fn record_bytes(len: usize) -> usize {
        len.checked_add(HDR as usize + 7)
            .map_or(usize::MAX & !7, |n| n & !7)
    }

    /// Free bytes: the ring's size less what is produced and not yet
    /// drained (acquire load of the kernel's consumer position).
    pub fn free_bytes(&self) -> Result<usize, RingCorrupt> {
        let cons = self.pages.consumer_pos().load(Ordering::Acquire);
        check_positions(cons, self.prod, self.pages.size).map_err(|reason| RingCorrupt {
            consumer: cons,
            producer: self.prod,
            header: None,
            reason,
        })?;
        Ok((self.pages.size - self.prod.wrapping_sub(cons)) as usize)
    }

    /// Reserves a record of `len` bytes (0 allowed): writes its header
    /// with the busy bit, then publishes the new producer position
    /// (release). BPF programs draining the ring stop at the busy record
    /// until it is submitted or discarded. Never blocks: a ring without
    /// room is [`ReserveError::Full`]. No system call.
    pub fn reserve(&mut self, len: usize) -> Result<RingReservation<'_>, ReserveError> {
        let max = self.max_record_len();
        if len > max {
            return Err(ReserveError::TooLarge { len, max });
        }
        let needed = Self::record_bytes(len);
        let free = self.free_bytes().map_err(ReserveError::Corrupt)?;
        if needed > free {
            return Err(ReserveError::Full { needed, free });
        }
        let off = (self.prod & (self.pages.size - 1)) as usize;
        // `len` fits in the 30 bits below the flags: it is at most
        // USER_RINGBUF_MAX_RECORD.
        let word = len as u32;
        // The second header word is the kernel's; user rings leave it 0.
        // SAFETY: `off + 4` is inside the first data copy and 4-aligned
        // (see RingPages::header), in the writable producer mapping, and
        // only accessed atomically (the kernel reads no header past the
        // producer position, which is not yet published).
        unsafe { AtomicU32::from_ptr(self.pages.data(off + 4) as *mut u32) }
            .store(0, Ordering::Relaxed);
        self.pages
            .header(off)
            .store(word | BPF_RINGBUF_BUSY_BIT, Ordering::Relaxed);
        self.prod = self.prod.wrapping_add(needed as u64);
        self.pages
            .producer_pos()
            .store(self.prod, Ordering::Release);
        Ok(RingReservation {
            addr: self.pages.data(off + HDR as usize),
            off,
            len,
            word,
            ring: self,
        })
    }
}

/// A reserved record of a [`RingProducer`]: its bytes are lent for
/// writing until it is [submitted](Self::submit) or
/// [discarded](Self::discard); dropping it discards it.
#[derive(Debug)]
pub struct RingReservation<'a> {
    ring: &'a mut RingProducer,
    addr: usize,
    off: usize,
    len: usize,
    word: u32,
}

impl RingReservation<'_> {
    /// The record's bytes (as the ring last held them: not zeroed).
    pub fn data(&self) -> &[u8] {
        // SAFETY: as in `data_mut`, read-only.
        unsafe { std::slice::from_raw_parts(self.addr as *const u8, self.len) }
    }

    /// The record's bytes, to fill in.
    pub fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: the record's `len` bytes start 8 bytes after a header at
        // data offset below `size`, and `len <= size - 8`, so they lie in
        // the two copies of the data, inside the writable producer
        // mapping, which lives as long as `ring`. The record is busy: the
        // kernel touches none of its bytes nor anything after it (it
        // stops at the busy header; module docs), and the ring is claimed
        // by this one producer, borrowed mutably here; the slice's borrow
        // of `self` ends before the commit that hands the bytes to the
        // kernel.
        unsafe { std::slice::from_raw_parts_mut(self.addr as *mut u8, self.len) }
    }

    /// The ring position of the record's header.
    pub fn position(&self) -> u64 {
        self.ring
            .prod
            .wrapping_sub(RingProducer::record_bytes(self.len) as u64)
    }

    fn commit(&mut self, discard: bool) {
        let word = if discard {
            self.word | BPF_RINGBUF_DISCARD_BIT
        } else {
            self.word
        };
        // Release: the record's bytes are written before the kernel,
        // reading the header with acquire, sees it committed.
        self.ring
            .pages
            .header(self.off)
            .store(word, Ordering::Release);
    }

    /// Submits the record: BPF programs draining the ring now get it.
    pub fn submit(mut self) {
        self.commit(false);
        std::mem::forget(self);
    }

    /// Discards the record: draining skips it.
    pub fn discard(self) {
        drop(self);
    }
}

impl Drop for RingReservation<'_> {
    fn drop(&mut self) {
        self.commit(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZE: u64 = 4096;

    #[test]
    fn steps_over_records() {
        assert_eq!(step(5, 0, 16, SIZE), Ok(Step::Record { len: 5, next: 16 }));
        assert_eq!(
            step(8 | BPF_RINGBUF_DISCARD_BIT, 16, 64, SIZE),
            Ok(Step::Discarded { next: 32 })
        );
        assert_eq!(step(0, 8, 16, SIZE), Ok(Step::Record { len: 0, next: 16 }));
        // Wrapping positions.
        let cons = u64::MAX - 7;
        assert_eq!(
            step(8, cons, cons.wrapping_add(16), SIZE),
            Ok(Step::Record { len: 8, next: 8 }),
            "positions wrap at 2^64"
        );
    }

    #[test]
    fn refuses_lengths_outside_what_was_published() {
        assert_eq!(
            step(9, 0, 16, SIZE),
            Err("a record runs past the producer position")
        );
        assert_eq!(
            step(SIZE as u32 - 7, 0, SIZE, SIZE),
            Err("a record is longer than the ring")
        );
        assert_eq!(
            step(0x3fff_ffff, 0, SIZE, SIZE),
            Err("a record is longer than the ring")
        );
        assert_eq!(
            step(SIZE as u32 - 8, 0, SIZE, SIZE),
            Ok(Step::Record {
                len: SIZE as usize - 8,
                next: SIZE
            }),
            "a record filling the ring"
        );
    }

    #[test]
    fn checks_positions() {
        assert!(check_positions(0, 0, SIZE).is_ok());
        assert!(check_positions(8, SIZE + 8, SIZE).is_ok());
        assert!(check_positions(4, 8, SIZE).is_err());
        assert!(check_positions(0, 12, SIZE).is_err());
        assert!(check_positions(0, SIZE + 8, SIZE).is_err());
        assert!(check_positions(16, 8, SIZE).is_err(), "producer behind");
        assert!(check_positions(u64::MAX - 7, 8, SIZE).is_ok(), "wrapped");
    }

    #[test]
    fn one_claim_per_map() {
        let a = Claim::take(u32::MAX).unwrap();
        assert_eq!(Claim::take(u32::MAX).unwrap_err(), Errno::EBUSY);
        drop(a);
        let _b = Claim::take(u32::MAX).unwrap();
    }

    #[test]
    fn record_sizes() {
        assert_eq!(RingProducer::record_bytes(0), 8);
        assert_eq!(RingProducer::record_bytes(1), 16);
        assert_eq!(RingProducer::record_bytes(8), 16);
        assert_eq!(RingProducer::record_bytes(9), 24);
    }

    #[test]
    fn record_sizes_saturate_without_panicking() {
        let top = usize::MAX & !7;
        // Exactly `top` for usize::MAX - 22 ..= usize::MAX - 15 (header
        // and padding included); saturated at `top` past that, where the
        // exact size would not fit in a usize.
        for len in usize::MAX - 22..=usize::MAX {
            assert_eq!(RingProducer::record_bytes(len), top, "{len}");
        }
        assert_eq!(RingProducer::record_bytes(usize::MAX - 23), top - 8);
        assert_eq!(RingProducer::record_bytes(usize::MAX - 30), top - 8);
        assert_eq!(RingProducer::record_bytes(usize::MAX - 31), top - 16);
    }

    #[test]
    fn kernel_machines() {
        for m in ["x86_64", "aarch64", "ppc64le", "s390x", "riscv64"] {
            assert!(machine_is_64bit(m), "{m}");
        }
        // 32-bit kernels, and what uname shows under linux32.
        for m in [
            "i686", "i386", "armv7l", "armv8l", "ppc", "s390", "mips", "", "x86",
        ] {
            assert!(!machine_is_64bit(m), "{m}");
        }
        if cfg!(target_pointer_width = "64") {
            assert_eq!(ring_kernel_check(), Ok(()));
        }
        assert!(!uname_machine().unwrap().is_empty());
    }
}
