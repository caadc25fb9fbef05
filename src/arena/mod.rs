//! Arena maps (`BPF_MAP_TYPE_ARENA`, Linux 6.9): create, place, map, access.
//!
//! An arena is a sparse region of up to 4 GiB shared by BPF programs and
//! user space. The kernel and user space must agree on its user address
//! before any program that uses it is loaded (the address is baked into the
//! program). [`ArenaBuilder`] creates the map and maps it:
//!
//! - with an address ([`ArenaBuilder::address`]): validated in user space
//!   (page-aligned, inside the user half, not crossing a 4 GiB boundary —
//!   the kernel accepts some bad values and misbehaves later), passed as
//!   `map_extra`, and mapped with `MAP_FIXED_NOREPLACE`: an occupied range is
//!   [`Error::AddressInUse`] and the existing mapping is left untouched;
//! - without: the crate reserves a free 4 GiB-aligned slot of the arena's
//!   size (trying aligned addresses with `MAP_FIXED_NOREPLACE`, so it needs
//!   no more address space than the arena itself unless the space below the
//!   kernel's own choice is crowded; the first slot tried is a random one of
//!   the 16 below that choice, so arenas created and dropped in turn do not
//!   keep landing on one address), creates the map with
//!   `map_extra` = that slot, releases the reservation and maps the arena
//!   there with `MAP_FIXED_NOREPLACE` (a slot taken meanwhile by another
//!   thread is left alone and another slot is tried).
//!   The low 32 bits of a user pointer then equal both the arena offset and
//!   the 32-bit pointer the BPF side uses, and `map_info.map_extra` tells
//!   other processes where to map it ([`Arena::from_fd`]).
//!
//! # The NULL page
//! With a 4 GiB-aligned base, offset 0 has low 32 bits 0, which the kernel's
//! `addr_space_cast(.., 1, 0)` turns into NULL: a pointer to that page cannot
//! survive a round trip through BPF. The crate never hands it out:
//! [`Arena::alloc_pages`] refuses it, and [`Arena::guard_null_page`] (called
//! before the first allocation without an address) takes it out of the
//! kernel's free range so BPF allocations cannot return it either.
//!
//! # Access from user space
//! Arena memory is written concurrently by the kernel, BPF programs and
//! other threads, so safe code never gets `&`/`&mut` into it:
//! [`Arena::read`]/[`Arena::write`] copy [`Plain`] values,
//! [`Arena::atomic`] gives atomic operations on aligned words, and
//! [`Arena::as_mut_ptr`] is the raw escape hatch (dereferencing it is
//! `unsafe`). Touching a page nobody allocated allocates a zeroed page — or,
//! with [`ArenaFlags::SEGV_ON_FAULT`], would raise `SIGSEGV`, which is what
//! that flag asks the kernel for; the safe API routes such an arena's
//! accesses through the kernel instead and reports the page as an error.
//!
//! # Soundness
//! No safe function of this module can cause undefined behaviour or a fatal
//! signal, whatever its arguments and whatever BPF programs do with the
//! arena. What that rests on:
//!
//! - **Bounds.** Every access is checked against the mapping (one
//!   subtraction and two comparisons on the hot path); the mapping lives
//!   until the [`Arena`] is dropped, and every handle that accesses it
//!   ([`ArenaAtomic`]) borrows the arena.
//! - **No data races.** Reads and writes are relaxed atomic loads and stores
//!   (one per naturally aligned 1/2/4/8-byte value, else aligned 8-byte
//!   words and single bytes), [`ArenaAtomic`] uses sequentially consistent
//!   atomics: two threads using the arena at once never race under Rust's
//!   memory model. (What BPF does is outside that model; a multi-word value
//!   written concurrently can be read torn, never undefined.) On x86-64 and
//!   arm64 these compile to plain moves: the warm walk costs what a heap walk
//!   costs.
//! - **No fatal faults.** Without `SEGV_ON_FAULT` every page of the mapping
//!   faults in on access (a freed page comes back zeroed); the one exception
//!   is the kernel failing to allocate that page (memory cgroup at its limit,
//!   no free memory), where the kernel raises `SIGSEGV` itself — allocate
//!   the pages first, or use `SEGV_ON_FAULT`, where that is an error. With it, reads and
//!   writes go through `process_vm_readv`/`process_vm_writev` on the own
//!   process, where the kernel turns the fault into `EFAULT`, reported as
//!   [`Error::Access`]; atomics cannot be made fault-safe that way, so
//!   [`Arena::atomic`] refuses such arenas and [`Arena::atomic_unchecked`]
//!   is `unsafe`.
//! - **No clobbering.** The crate maps arenas (and reserves address space)
//!   only with `MAP_FIXED_NOREPLACE` or without an address, and unmaps only
//!   what it mapped: an occupied address is [`Error::AddressInUse`] with the
//!   existing mapping untouched.
//! - **`Send`/`Sync`.** [`Arena`] is `Send` and `Sync` without any `unsafe
//!   impl`: it holds an `OwnedFd`, plain integers, a `Mutex` and atomics,
//!   and its accesses are data-race-free as above. [`ArenaAtomic`] is a
//!   shared borrow of the arena plus an address, hence `Send`/`Sync` too.
//!   [`ArenaPtr`] is an integer with a phantom type (`Send`/`Sync` whatever
//!   `T` is): it is never dereferenced except through an arena.
//! - **[`Plain`]** is an `unsafe trait`: implementing it promises that every
//!   bit pattern is a valid value and that there is no padding, which is
//!   what copying raw bytes in and out needs.
//!
//! ```compile_fail
//! // The word operations cannot be called on a raw address: only through
//! // an ArenaAtomic made from a checked pointer.
//! use bpf_arena::arena::AtomicWord;
//! <u64 as AtomicWord>::store(0x10, 42);
//! ```

mod pages;
mod ptr;

pub use pages::page_size;
pub use ptr::{ArenaPtr, Plain, plain_from_bytes, plain_to_bytes};

use crate::error::{Error, Result};
use crate::sys::{self, Cmd, Errno, MapCreateAttr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// `BPF_F_MMAPABLE`, which an arena must have, and `BPF_MAP_TYPE_ARENA`
/// (both defined in [`abi`](crate::abi)).
pub use crate::abi::{BPF_F_MMAPABLE, MAP_TYPE_ARENA};
/// Arenas are at most 4 GiB and never cross a 4 GiB boundary.
pub const FOUR_GIB: u64 = 1 << 32;

/// The end of the user half of the address space on this architecture
/// (the kernel's `TASK_SIZE` with 4-level page tables).
pub const USER_ADDRESS_LIMIT: u64 = if cfg!(target_arch = "x86_64") {
    0x0000_7fff_ffff_f000
} else if cfg!(target_arch = "aarch64") {
    1 << 48
} else if cfg!(target_arch = "riscv64") {
    1 << 38
} else {
    1 << 47
};

/// The lowest address `mmap` hands out by default (`vm.mmap_min_addr`).
pub const MIN_ADDRESS: u64 = 0x10000;

bitflags::bitflags! {
    /// Arena creation flags (besides the mandatory `BPF_F_MMAPABLE`).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct ArenaFlags: u32 {
        /// `BPF_F_SEGV_ON_FAULT` (6.9): a user fault on a page nobody
        /// allocated raises `SIGSEGV` instead of allocating a zeroed page.
        const SEGV_ON_FAULT = 1 << 17;
        /// `BPF_F_NO_USER_CONV` (6.9): `addr_space_cast(.., 1, 0)` becomes a
        /// plain 32-bit move (the result keeps only the low 32 bits), so
        /// pointers BPF stores in such an arena are in their 32-bit kernel
        /// form: follow them from user space with [`Arena::stored`].
        const NO_USER_CONV = 1 << 18;
    }
}

/// The largest page count an arena can have with this page size
/// (4 GiB / page size: 1,048,576 with 4 KiB pages).
pub fn max_pages() -> u32 {
    (FOUR_GIB / sys::page_size() as u64) as u32
}

/// Describes an arena to create. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct ArenaBuilder {
    pages: u32,
    flags: ArenaFlags,
    address: Option<u64>,
    name: String,
}

impl ArenaBuilder {
    /// An arena of `pages` pages (1..=[`max_pages`]), no flags, crate-chosen
    /// address, unnamed.
    pub fn new(pages: u32) -> Self {
        ArenaBuilder {
            pages,
            flags: ArenaFlags::empty(),
            address: None,
            name: String::new(),
        }
    }

    /// Creation flags.
    pub fn flags(mut self, flags: ArenaFlags) -> Self {
        self.flags = flags;
        self
    }

    /// The user address to map the arena at (becomes `map_extra`).
    pub fn address(mut self, addr: u64) -> Self {
        self.address = Some(addr);
        self
    }

    /// The map name (15 bytes at most: ASCII alphanumerics, `_`, `.`).
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// Checks everything the kernel checks (and the address rules it does
    /// not), without any system call.
    pub fn validate(&self) -> Result<()> {
        validate_pages(self.pages)?;
        let unknown = self.flags.bits() & !ArenaFlags::all().bits();
        if unknown != 0 {
            return Err(Error::invalid(
                "arena flags",
                format!(
                    "{unknown:#x} are not arena flags (only SEGV_ON_FAULT and NO_USER_CONV; the kernel answers EINVAL)"
                ),
            ));
        }
        if self.name.len() > 15
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        {
            return Err(Error::invalid(
                "map name",
                format!(
                    "{:?}: at most 15 of [A-Za-z0-9_.] (the kernel answers EINVAL)",
                    self.name
                ),
            ));
        }
        if let Some(addr) = self.address {
            validate_address(addr, self.pages)?;
        }
        Ok(())
    }

    /// Creates the map (`BPF_MAP_CREATE`, needs `CAP_BPF`) and maps it.
    ///
    /// Errors: [`Error::Invalid`] for anything [`ArenaBuilder::validate`]
    /// rejects; [`Error::NotSupported`] naming Linux 6.9 on a kernel without
    /// the arena map type (the kernel itself answers `EINVAL`, or `EPERM`
    /// without privileges); [`Error::Bpf`] with `EPERM` without privileges,
    /// `EOPNOTSUPP` when the JIT has no arena support, `EINVAL` for anything
    /// else the kernel refuses; [`Error::AddressInUse`] when the given
    /// address range is already mapped here (nothing is replaced).
    pub fn create(&self) -> Result<Arena> {
        self.validate()?;
        let page = sys::page_size() as u64;
        let len = self.pages as u64 * page;
        let what = || arena_label(&self.name);
        let create = |map_extra: u64| {
            let attr = MapCreateAttr {
                map_type: MAP_TYPE_ARENA,
                max_entries: self.pages,
                map_flags: BPF_F_MMAPABLE | self.flags.bits(),
                map_name: sys::object_name(&self.name).unwrap_or_default(),
                map_extra,
                ..Default::default()
            };
            sys::map_create(&attr).map_err(|e| create_error(what(), e))
        };
        if let Some(addr) = self.address {
            let fd = create(addr)?;
            map_at(&fd, addr, len, &what())?;
            return Ok(Arena::new(
                fd,
                addr,
                self.pages,
                self.flags,
                self.name.clone(),
                addr,
            ));
        }
        let placed = with_free_slot(len, |r| {
            let slot = r.slot;
            let fd = match create(slot) {
                Ok(fd) => fd,
                Err(e) => {
                    r.release_all();
                    return Err(e);
                }
            };
            Ok(r.map_into_slot(&fd, len).map(|()| (fd, slot)))
        })?;
        match placed {
            Ok((fd, slot)) => Ok(Arena::new(
                fd,
                slot,
                self.pages,
                self.flags,
                self.name.clone(),
                slot,
            )),
            Err(e) => Err(Error::Syscall {
                call: "mmap",
                what: what(),
                errno: e,
            }),
        }
    }
}

/// Reserves a free 4 GiB-aligned slot of `len` bytes and hands it to
/// `place`, which maps an arena there (through
/// [`Reservation::map_into_slot`]). The slot can be taken by another thread
/// in the instant between releasing the reservation and mapping the arena,
/// which never replaces anything: then `place` answers `EEXIST` and another
/// slot is tried. Returns `place`'s last answer.
fn with_free_slot<T>(
    len: u64,
    mut place: impl FnMut(Reservation) -> Result<std::result::Result<T, Errno>>,
) -> Result<std::result::Result<T, Errno>> {
    let mut last = Err(Errno::EEXIST);
    for _ in 0..SLOT_ATTEMPTS {
        last = place(reserve_aligned_slot(len)?)?;
        if !matches!(last, Err(Errno::EEXIST)) {
            break;
        }
    }
    Ok(last)
}

/// The error for a failed arena `BPF_MAP_CREATE`: [`Error::NotSupported`]
/// when the kernel has no arena map type (it answers `EINVAL` then, as for
/// a bad flag or address, or `EPERM` first without privileges), else
/// [`Error::Bpf`] with the kernel's errno.
fn create_error(what: String, errno: Errno) -> Error {
    if matches!(errno, Errno::EINVAL | Errno::EPERM) && !kernel_has_arenas(errno) {
        return Error::NotSupported {
            what: "BPF arenas (BPF_MAP_TYPE_ARENA)",
            since: "6.9",
            detail: Some(format!("creating {what}: BPF_MAP_CREATE answered {errno}")),
        };
    }
    Error::bpf(Cmd::MapCreate, what, errno)
}

/// Whether the kernel has the arena map type. The map type and its kfuncs
/// came in one commit (Linux 6.9), so vmlinux BTF, readable by anyone,
/// answers: no `bpf_arena_alloc_pages`, no arenas. Without BTF, an `EINVAL`
/// is told apart from a bad flag or address by creating the plainest arena
/// there is (one page, no flags, no address).
fn kernel_has_arenas(errno: Errno) -> bool {
    match crate::kfunc::kfunc_id(crate::kfunc::ARENA_ALLOC_PAGES) {
        Ok(found) => found.is_some(),
        Err(_) if errno == Errno::EINVAL => {
            let plain = MapCreateAttr {
                map_type: MAP_TYPE_ARENA,
                max_entries: 1,
                map_flags: BPF_F_MMAPABLE,
                ..Default::default()
            };
            !matches!(sys::map_create(&plain), Err(Errno::EINVAL))
        }
        Err(_) => true,
    }
}

/// How often [`with_free_slot`] picks a new slot when the one it reserved
/// is taken before the arena is mapped there.
const SLOT_ATTEMPTS: usize = 8;

const PROT_RW: i32 = libc::PROT_READ | libc::PROT_WRITE;

fn arena_label(name: &str) -> String {
    if name.is_empty() {
        "arena map".to_string()
    } else {
        format!("arena map '{name}'")
    }
}

fn validate_pages(pages: u32) -> Result<()> {
    if pages == 0 || pages > max_pages() {
        return Err(Error::invalid(
            "arena size",
            format!(
                "{pages} pages; an arena has 1..={} pages of {} bytes (the kernel answers {} )",
                max_pages(),
                sys::page_size(),
                if pages == 0 { "EINVAL" } else { "E2BIG" }
            ),
        ));
    }
    Ok(())
}

/// The address rules: page-aligned, inside the user half, not crossing a
/// 4 GiB boundary. The kernel checks alignment and the 4 GiB rule at
/// creation (`EINVAL`, `ERANGE`) but accepts kernel-half addresses and then
/// fails `mmap` with `EFAULT` and a kernel warning.
pub fn validate_address(addr: u64, pages: u32) -> Result<()> {
    let page = sys::page_size() as u64;
    let len = pages as u64 * page;
    if addr % page != 0 {
        return Err(Error::invalid(
            "arena address",
            format!("{addr:#x} is not page-aligned (the kernel answers EINVAL)"),
        ));
    }
    if addr < MIN_ADDRESS {
        return Err(Error::invalid(
            "arena address",
            format!("{addr:#x} is below the lowest mappable address {MIN_ADDRESS:#x}"),
        ));
    }
    let end = addr.checked_add(len).filter(|&e| e <= USER_ADDRESS_LIMIT).ok_or_else(|| {
        Error::invalid(
            "arena address",
            format!(
                "{addr:#x}..+{len:#x} leaves the user address space (limit {USER_ADDRESS_LIMIT:#x}); the kernel would accept it and fail mmap with EFAULT"
            ),
        )
    })?;
    if addr >> 32 != (end - 1) >> 32 {
        return Err(Error::invalid(
            "arena address",
            format!("{addr:#x}..{end:#x} crosses a 4 GiB boundary (the kernel answers ERANGE)"),
        ));
    }
    Ok(())
}

/// Maps `fd` at `addr` without replacing anything.
fn map_at(fd: &OwnedFd, addr: u64, len: u64, what: &str) -> Result<()> {
    match sys::mmap_shared_noreplace(addr as usize, len as usize, PROT_RW, fd.as_fd()) {
        Ok(_) => Ok(()),
        Err(Errno::EEXIST) => Err(Error::AddressInUse { addr, len }),
        Err(e) => Err(Error::Syscall {
            call: "mmap",
            what: what.to_string(),
            errno: e,
        }),
    }
}

/// A `PROT_NONE` reservation containing a 4 GiB-aligned slot.
struct Reservation {
    start: u64,
    len: u64,
    slot: u64,
}

/// How many 4 GiB-aligned candidates [`reserve_aligned_slot`] tries before
/// it falls back to over-reserving.
const SLOT_CANDIDATES: u64 = 64;

/// Among how many aligned slots below the kernel's choice the first
/// candidate is picked at random.
const SLOT_SPREAD: u64 = 16;

/// A random number from the standard library's per-process hash keys and a
/// counter (no dependency, no system call after the first).
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static KEYS: std::sync::OnceLock<std::collections::hash_map::RandomState> =
        std::sync::OnceLock::new();
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let mut h = KEYS.get_or_init(Default::default).build_hasher();
    h.write_u64(COUNT.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

/// Finds and reserves a 4 GiB-aligned slot of `len` bytes.
///
/// First without reserving more than `len`: the kernel is asked where a
/// `len`-byte mapping would go (a `PROT_NONE` probe, released at once), and
/// the 4 GiB-aligned addresses at and below that point are tried with
/// `MAP_FIXED_NOREPLACE`, which never replaces anything. This works under
/// an address-space limit (`ulimit -v`) of little more than the arena.
/// Only if none of those is free (a crowded address space) is a region of
/// 4 GiB + `len` reserved and an aligned slot taken inside it.
fn reserve_aligned_slot(len: u64) -> Result<Reservation> {
    let fail = |span: u64, e: Errno| Error::Syscall {
        call: "mmap",
        what: format!("a {span:#x}-byte address-space reservation for an arena"),
        errno: e,
    };
    let probe = sys::reserve_address_space(len as usize).map_err(|e| fail(len, e))? as u64;
    // SAFETY: the probe is the reservation just made, referenced by nothing.
    let _ = unsafe { sys::munmap(probe as usize, len as usize) };
    // Start at a random one of the first SLOT_SPREAD aligned slots below the
    // probe, then walk down (wrapping within the spread first): arenas that
    // different threads create and drop do not keep landing on one slot,
    // so an arena re-adopted at its agreed address rarely finds it taken.
    let top = probe - probe % FOUR_GIB;
    let start = random_u64() % SLOT_SPREAD;
    for i in 0..SLOT_CANDIDATES {
        let k = if i < SLOT_SPREAD {
            (start + i) % SLOT_SPREAD
        } else {
            i
        };
        let Some(cand) = top.checked_sub(k * FOUR_GIB) else {
            continue;
        };
        if cand < FOUR_GIB.max(MIN_ADDRESS) {
            continue;
        }
        if sys::reserve_address_space_at(cand as usize, len as usize).is_ok() {
            return Ok(Reservation {
                start: cand,
                len,
                slot: cand,
            });
        }
    }
    let span = FOUR_GIB + len;
    let start = sys::reserve_address_space(span as usize).map_err(|e| fail(span, e))? as u64;
    let slot = start.next_multiple_of(FOUR_GIB);
    Ok(Reservation {
        start,
        len: span,
        slot,
    })
}

impl Reservation {
    fn release_all(self) {
        // SAFETY: the whole range is our PROT_NONE reservation.
        let _ = unsafe { sys::munmap(self.start as usize, self.len as usize) };
    }

    /// Releases the reservation and maps the arena `fd` (`len` bytes) at the
    /// slot with `MAP_FIXED_NOREPLACE`. Nothing is ever mapped over
    /// anything: if another thread maps into the released range first, this
    /// is `EEXIST` and its mapping stays (a `MAP_FIXED` over the reservation
    /// would be simpler, but when it fails the kernel may already have
    /// unmapped the reservation, and releasing the range afterwards could
    /// unmap someone else's memory).
    fn map_into_slot(self, fd: &OwnedFd, len: u64) -> std::result::Result<(), Errno> {
        let slot = self.slot;
        self.release_all();
        sys::mmap_shared_noreplace(slot as usize, len as usize, PROT_RW, fd.as_fd()).map(drop)
    }
}

/// A live arena: the map fd and its mapping. Dropping it unmaps the arena
/// and closes the fd (the kernel frees the pages once no mapping, fd, pin or
/// program holds the map).
#[derive(Debug)]
pub struct Arena {
    fd: OwnedFd,
    base: u64,
    /// Size in bytes (kept: the access checks are on the hot path).
    len: u64,
    pages: u32,
    flags: ArenaFlags,
    name: String,
    map_extra: u64,
    progs: Mutex<pages::PageProgs>,
    null_guarded: AtomicBool,
    /// `len`, or 0 for a `SEGV_ON_FAULT` arena: the bound of the direct
    /// (in-process) access path, so the hot path needs no flag test.
    direct_len: u64,
    /// The `__arena` globals objects loaded on this arena placed in it.
    globals: Mutex<Vec<GlobalsClaim>>,
}

/// The `__arena` globals one object placed in an arena.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GlobalsClaim {
    pub(crate) object: String,
    pub(crate) vars: Vec<PlacedVar>,
}

/// One `__arena` variable: its name, arena offset and size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PlacedVar {
    pub(crate) name: String,
    pub(crate) at: u64,
    pub(crate) size: u64,
}

impl PlacedVar {
    fn end(&self) -> u64 {
        self.at.saturating_add(self.size)
    }
}

impl GlobalsClaim {
    /// The first variable of `self` whose bytes overlap a variable of
    /// `other` that is not the same variable (same name, place and size).
    fn clash<'a>(&'a self, other: &'a GlobalsClaim) -> Option<(&'a PlacedVar, &'a PlacedVar)> {
        self.vars.iter().find_map(|a| {
            other
                .vars
                .iter()
                .find(|b| a != *b && a.at < b.end() && b.at < a.end())
                .map(|b| (a, b))
        })
    }
}

impl Arena {
    fn new(
        fd: OwnedFd,
        base: u64,
        pages: u32,
        flags: ArenaFlags,
        name: String,
        map_extra: u64,
    ) -> Arena {
        let len = pages as u64 * sys::page_size() as u64;
        Arena {
            fd,
            base,
            len,
            pages,
            flags,
            name,
            map_extra,
            progs: Mutex::new(pages::PageProgs::default()),
            globals: Mutex::new(Vec::new()),
            null_guarded: AtomicBool::new(false),
            direct_len: if flags.contains(ArenaFlags::SEGV_ON_FAULT) {
                0
            } else {
                len
            },
        }
    }

    /// Checks the `__arena` globals an object places in this arena against
    /// those other objects placed here (and records them when `record`):
    /// one that overlaps a different variable is an error naming both.
    /// Objects that declare the same variables at the same places share
    /// them, as intended.
    pub(crate) fn claim_globals(&self, claim: &GlobalsClaim, record: bool) -> Result<()> {
        let mut claims = self.globals.lock().unwrap_or_else(|e| e.into_inner());
        for other in claims.iter() {
            if let Some((a, b)) = claim.clash(other) {
                return Err(Error::WrongObject {
                    what: format!("__arena globals of object '{}'", claim.object),
                    reason: format!(
                        "'{}' (arena bytes {:#x}..{:#x}) would overlap '{}' of object '{}' ({:#x}..{:#x}) in the same arena: the two objects would read and write each other's variables. Declare the same __arena variables in both, or give them separate arenas",
                        a.name,
                        a.at,
                        a.end(),
                        b.name,
                        other.object,
                        b.at,
                        b.end()
                    ),
                });
            }
        }
        if record && !claims.contains(claim) {
            claims.push(claim.clone());
        }
        Ok(())
    }

    /// Adopts an existing arena fd (from another process, a pin, or a
    /// loader) and maps it at its agreed address (`map_info.map_extra`) with
    /// `MAP_FIXED_NOREPLACE`.
    ///
    /// An arena created with `map_extra` = 0 has no address the kernel will
    /// report; if nobody has mapped it yet, it is mapped at a crate-chosen
    /// 4 GiB-aligned slot, otherwise this fails ([`Error::WrongObject`]).
    /// A read-only fd (`BPF_F_RDONLY`) cannot map an arena at all (the kernel
    /// answers `EACCES`).
    pub fn from_fd(fd: OwnedFd) -> Result<Arena> {
        let info = sys::map_info(fd.as_fd())
            .map_err(|e| Error::bpf(Cmd::ObjGetInfoByFd, "adopted map", e))?;
        let name = String::from_utf8_lossy(&info.name)
            .trim_end_matches('\0')
            .to_string();
        let what = arena_label(&name);
        if info.map_type != MAP_TYPE_ARENA {
            return Err(Error::WrongObject {
                what: format!("map '{name}'"),
                reason: format!(
                    "map type {} is not an arena ({MAP_TYPE_ARENA})",
                    info.map_type
                ),
            });
        }
        let flags = ArenaFlags::from_bits_retain(info.map_flags & !BPF_F_MMAPABLE);
        let len = info.max_entries as u64 * sys::page_size() as u64;
        if info.map_extra != 0 {
            validate_address(info.map_extra, info.max_entries)?;
            map_at(&fd, info.map_extra, len, &what)?;
            return Ok(Arena::new(
                fd,
                info.map_extra,
                info.max_entries,
                flags,
                name,
                info.map_extra,
            ));
        }
        let placed = with_free_slot(len, |r| {
            let slot = r.slot;
            Ok(r.map_into_slot(&fd, len).map(|()| slot))
        })?;
        match placed {
            Ok(base) => Ok(Arena::new(fd, base, info.max_entries, flags, name, 0)),
            Err(e) => Err(Error::WrongObject {
                what,
                reason: format!(
                    "created without an address (map_extra 0) and already mapped elsewhere at an address the kernel does not report (mmap: {e}); create shared arenas with an address"
                ),
            }),
        }
    }

    /// Opens a pinned arena (`BPF_OBJ_GET`) and adopts it ([`Arena::from_fd`]).
    pub fn open_pinned(path: &std::path::Path) -> Result<Arena> {
        let c = sys::path_cstring(path).ok_or_else(|| Error::nul_in_path(path))?;
        let fd = sys::obj_get(&c, 0)
            .map_err(|e| Error::bpf(Cmd::ObjGet, path.display().to_string(), e))?;
        Arena::from_fd(fd)
    }

    /// Pins the arena at `path` in a bpffs mount (`BPF_OBJ_PIN`).
    pub fn pin(&self, path: &std::path::Path) -> Result<()> {
        let c = sys::path_cstring(path).ok_or_else(|| Error::nul_in_path(path))?;
        sys::obj_pin(self.fd.as_fd(), &c).map_err(|e| {
            Error::bpf(
                Cmd::ObjPin,
                format!("{} at {}", self.label(), path.display()),
                e,
            )
        })
    }

    fn label(&self) -> String {
        arena_label(&self.name)
    }

    /// The map fd.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The user address of page 0.
    #[inline]
    pub fn base(&self) -> u64 {
        self.base
    }

    /// The size in bytes.
    #[inline]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Always false: an arena has at least one page.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The page count (`max_entries`).
    pub fn pages(&self) -> u32 {
        self.pages
    }

    /// The creation flags.
    pub fn flags(&self) -> ArenaFlags {
        self.flags
    }

    /// The map name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `map_extra` the map was created with (its agreed address, or 0).
    pub fn map_extra(&self) -> u64 {
        self.map_extra
    }

    /// Whether the arena has a NULL page (its base is 4 GiB-aligned, so
    /// offset 0 has low 32 bits 0).
    #[inline]
    pub fn has_null_page(&self) -> bool {
        self.base as u32 == 0
    }

    /// A pointer to `offset` bytes into the arena; `offset + size_of::<T>()`
    /// must fit.
    #[inline]
    pub fn ptr_at<T>(&self, offset: u64) -> Result<ArenaPtr<T>> {
        let p = ArenaPtr::from_addr(self.base.wrapping_add(offset));
        self.check(p.addr(), std::mem::size_of::<T>(), 1)?;
        Ok(p)
    }

    /// The arena offset of `ptr`, if it points into the arena.
    #[inline]
    pub fn offset_of<T>(&self, ptr: ArenaPtr<T>) -> Option<u64> {
        let off = ptr.addr().wrapping_sub(self.base);
        (off < self.len()).then_some(off)
    }

    /// The user-form pointer for a 32-bit kernel-form value, as
    /// `addr_space_cast(.., 1, 0)` computes it: the base's upper 32 bits with
    /// `k` below them, and NULL for `k == 0`.
    #[inline]
    pub fn ptr_from_kernel32<T>(&self, k: u32) -> ArenaPtr<T> {
        if k == 0 {
            ArenaPtr::null()
        } else {
            ArenaPtr::from_addr((self.base & !0xffff_ffff) | k as u64)
        }
    }

    /// A pointer as BPF stored it in arena memory, in user form: on an arena
    /// with [`ArenaFlags::NO_USER_CONV`] the kernel never converts pointers,
    /// so BPF stores their 32-bit kernel form (a value below 2³²), which
    /// this turns into the user form ([`Arena::ptr_from_kernel32`]); on any
    /// other arena stored pointers are already in user form and come back
    /// unchanged. Walking a structure BPF built is then the same code for
    /// both kinds of arena: `p = arena.stored(node.next)`.
    #[inline]
    pub fn stored<T>(&self, ptr: ArenaPtr<T>) -> ArenaPtr<T> {
        if self.flags.contains(ArenaFlags::NO_USER_CONV) && ptr.addr() <= u64::from(u32::MAX) {
            self.ptr_from_kernel32(ptr.addr() as u32)
        } else {
            ptr
        }
    }

    /// The address as a `usize` if `[addr, addr + size)` lies inside the
    /// arena and `addr` is `align`-aligned. On the hot path of every access:
    /// one subtraction and two comparisons, the error built out of line.
    #[inline(always)]
    fn check(&self, addr: u64, size: usize, align: usize) -> Result<usize> {
        let off = addr.wrapping_sub(self.base);
        match self.len.checked_sub(size as u64) {
            Some(last) if off <= last && addr % align as u64 == 0 => Ok(addr as usize),
            _ => Err(self.access_error(addr, size, align)),
        }
    }

    #[cold]
    #[inline(never)]
    fn access_error(&self, addr: u64, size: usize, align: usize) -> Error {
        let inside = addr
            .wrapping_sub(self.base)
            .checked_add(size as u64)
            .is_some_and(|end| end <= self.len);
        let reason = if inside && addr % align as u64 != 0 {
            "misaligned"
        } else if self.flags.contains(ArenaFlags::NO_USER_CONV) && addr <= u64::from(u32::MAX) {
            "outside the arena: this NO_USER_CONV arena stores pointers in their 32-bit kernel form, convert them with Arena::stored"
        } else {
            "outside the arena"
        };
        Error::Access { addr, size, reason }
    }

    /// Reads a `T` at `ptr` (unaligned allowed).
    ///
    /// The copy is made of relaxed atomic loads (one load for a naturally
    /// aligned 1-, 2-, 4- or 8-byte `T`, aligned words and bytes otherwise),
    /// so it never races in the Rust sense with other threads using this API;
    /// a `T` wider than one word that BPF writes at the same time can be read
    /// half old, half new. Reading a page nobody has allocated allocates a
    /// zeroed page. On a [`ArenaFlags::SEGV_ON_FAULT`] arena the read goes
    /// through `process_vm_readv` instead, and such a page is
    /// [`Error::Access`] ("page not allocated"), never a signal.
    #[inline(always)]
    pub fn read<T: Plain>(&self, ptr: ArenaPtr<T>) -> Result<T> {
        match self.direct(ptr.addr(), std::mem::size_of::<T>()) {
            // SAFETY: [a, a + size) is inside the live mapping (checked; the
            // mapping lives as long as `self`), whose pages fault in on
            // access (`direct` answers only without SEGV_ON_FAULT); arena
            // memory is only ever accessed atomically by this crate;
            // `T: Plain` accepts any bits.
            Some(a) => Ok(unsafe { sys::shared::load::<T>(a) }),
            None => self.read_slow(ptr.addr()),
        }
    }

    /// Writes `value` at `ptr` (unaligned allowed), with relaxed atomic
    /// stores. Same faulting rules as [`Arena::read`].
    #[inline(always)]
    pub fn write<T: Plain>(&self, ptr: ArenaPtr<T>, value: T) -> Result<()> {
        match self.direct(ptr.addr(), std::mem::size_of::<T>()) {
            Some(a) => {
                // SAFETY: inside the live mapping (checked), which faults
                // pages in; `T: Plain` has no padding, so every written byte
                // is initialised; the crate never hands out Rust references
                // into arena memory.
                unsafe { sys::shared::store::<T>(a, value) };
                Ok(())
            }
            None => self.write_slow(ptr.addr(), ptr::plain_bytes(&value)),
        }
    }

    /// Copies `out.len()` bytes starting at arena offset `offset` (relaxed
    /// atomic loads; same faulting rules as [`Arena::read`]).
    #[inline(always)]
    pub fn read_bytes(&self, offset: u64, out: &mut [u8]) -> Result<()> {
        let addr = self.base.wrapping_add(offset);
        match self.direct(addr, out.len()) {
            Some(a) => {
                // SAFETY: inside the live mapping (checked), accessed
                // atomically; `out` is a distinct Rust buffer.
                unsafe { sys::shared::copy_from(a, out.as_mut_ptr(), out.len()) };
                Ok(())
            }
            None => self.read_bytes_slow(addr, out),
        }
    }

    /// Copies `data` to arena offset `offset` (relaxed atomic stores; same
    /// faulting rules as [`Arena::read`]).
    #[inline(always)]
    pub fn write_bytes(&self, offset: u64, data: &[u8]) -> Result<()> {
        let addr = self.base.wrapping_add(offset);
        match self.direct(addr, data.len()) {
            Some(a) => {
                // SAFETY: inside the live mapping (checked), accessed
                // atomically, no Rust reference into it; `data` is a distinct
                // Rust buffer.
                unsafe { sys::shared::copy_to(data.as_ptr(), a, data.len()) };
                Ok(())
            }
            None => self.write_slow(addr, data),
        }
    }

    /// The address as a `usize` when `[addr, addr + size)` lies inside an
    /// arena whose pages fault in; `None` otherwise — out of bounds, or a
    /// `SEGV_ON_FAULT` arena (its `direct_len` is 0) — and the slow path
    /// sorts out which. One subtraction and two comparisons: the hot path
    /// of every read and write.
    #[inline(always)]
    fn direct(&self, addr: u64, size: usize) -> Option<usize> {
        let off = addr.wrapping_sub(self.base);
        match self.direct_len.checked_sub(size as u64) {
            Some(last) if off <= last => Some(addr as usize),
            _ => None,
        }
    }

    /// `SEGV_ON_FAULT`: user accesses go through the kernel (never a signal).
    #[inline(always)]
    fn fault_safe(&self) -> bool {
        self.flags.contains(ArenaFlags::SEGV_ON_FAULT)
    }

    /// A read [`Arena::direct`] did not take: an access error, or a
    /// `SEGV_ON_FAULT` arena read through the kernel.
    #[cold]
    #[inline(never)]
    fn read_slow<T: Plain>(&self, addr: u64) -> Result<T> {
        let a = self.check(addr, std::mem::size_of::<T>(), 1)?;
        self.read_through_kernel(a)
    }

    #[cold]
    #[inline(never)]
    fn read_bytes_slow(&self, addr: u64, out: &mut [u8]) -> Result<()> {
        let a = self.check(addr, out.len(), 1)?;
        self.vm_read(a, out)
    }

    #[cold]
    #[inline(never)]
    fn write_slow(&self, addr: u64, data: &[u8]) -> Result<()> {
        let a = self.check(addr, data.len(), 1)?;
        self.write_through_kernel(a, data)
    }

    #[cold]
    #[inline(never)]
    fn read_through_kernel<T: Plain>(&self, a: usize) -> Result<T> {
        // SAFETY: `T: Plain` accepts the all-zero bit pattern.
        let mut out: T = unsafe { std::mem::zeroed() };
        // SAFETY: `out` is an initialised local of exactly this many bytes,
        // and `T: Plain` accepts whatever bytes are written into it.
        let bytes = unsafe {
            std::slice::from_raw_parts_mut(&mut out as *mut T as *mut u8, std::mem::size_of::<T>())
        };
        self.vm_read(a, bytes)?;
        Ok(out)
    }

    #[cold]
    #[inline(never)]
    fn vm_read(&self, a: usize, out: &mut [u8]) -> Result<()> {
        sys::shared::vm_read(a, out).map_err(|e| self.fault_error(a, out.len(), e))
    }

    #[cold]
    #[inline(never)]
    fn write_through_kernel(&self, a: usize, data: &[u8]) -> Result<()> {
        // SAFETY: [a, a + len) is inside the arena mapping (checked by the
        // caller), which no Rust reference points into.
        unsafe { sys::shared::vm_write(a, data) }.map_err(|e| self.fault_error(a, data.len(), e))
    }

    #[cold]
    fn fault_error(&self, a: usize, size: usize, e: Errno) -> Error {
        if e == Errno::EFAULT {
            Error::Access {
                addr: a as u64,
                size,
                reason: "page not allocated (the arena has SEGV_ON_FAULT)",
            }
        } else {
            Error::Syscall {
                call: "process_vm_readv/process_vm_writev",
                what: format!(
                    "{} (SEGV_ON_FAULT arenas are accessed through it)",
                    self.label()
                ),
                errno: e,
            }
        }
    }

    /// Atomic access to the naturally aligned `u32` or `u64` at `ptr`
    /// (sequentially consistent, like the BPF side's atomic instructions).
    ///
    /// On a [`ArenaFlags::SEGV_ON_FAULT`] arena this is [`Error::Access`]:
    /// an atomic instruction on a page that is not (or no longer) allocated
    /// raises `SIGSEGV`, and no check made beforehand can stop a page from
    /// being freed before the instruction runs. Use
    /// [`Arena::atomic_unchecked`] where you can promise the page stays
    /// allocated.
    #[inline]
    pub fn atomic<T: AtomicWord>(&self, ptr: ArenaPtr<T>) -> Result<ArenaAtomic<'_, T>> {
        if self.fault_safe() {
            return Err(Error::Access {
                addr: ptr.addr(),
                size: std::mem::size_of::<T>(),
                reason: "atomics on a SEGV_ON_FAULT arena would raise SIGSEGV on an unallocated page; see Arena::atomic_unchecked",
            });
        }
        // SAFETY: not a SEGV_ON_FAULT arena: every page faults in.
        unsafe { self.atomic_unchecked(ptr) }
    }

    /// [`Arena::atomic`] on any arena, [`ArenaFlags::SEGV_ON_FAULT`] ones
    /// included. Bounds and alignment are still checked.
    ///
    /// # Safety
    /// On a `SEGV_ON_FAULT` arena, the page holding the word must be
    /// allocated for as long as the handle is used: neither this process
    /// ([`Arena::free_pages`]) nor a BPF program may free it meanwhile, or the
    /// next operation raises `SIGSEGV`. On other arenas this is as safe as
    /// [`Arena::atomic`].
    #[inline]
    pub unsafe fn atomic_unchecked<T: AtomicWord>(
        &self,
        ptr: ArenaPtr<T>,
    ) -> Result<ArenaAtomic<'_, T>> {
        let a = self.check(
            ptr.addr(),
            std::mem::size_of::<T>(),
            std::mem::align_of::<T>(),
        )?;
        Ok(ArenaAtomic {
            arena: self,
            addr: a,
            _t: std::marker::PhantomData,
        })
    }

    /// The base as a raw pointer. Dereferencing it is `unsafe`: the memory is
    /// shared with the kernel and BPF programs and must not be turned into
    /// Rust references while they may write it.
    #[inline]
    pub fn as_mut_ptr(&self) -> *mut u8 {
        self.base as usize as *mut u8
    }

    pub(crate) fn page_progs(&self) -> std::sync::MutexGuard<'_, pages::PageProgs> {
        self.progs.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set_null_guarded(&self) -> bool {
        self.null_guarded.swap(true, Ordering::AcqRel)
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // Programs first (they hold the map), then the mapping, then the fd.
        *self.page_progs() = pages::PageProgs::default();
        // SAFETY: the mapping was created by this Arena, covers exactly
        // [base, base + len), and no Rust reference into it exists (the API
        // never hands one out).
        let _ = unsafe { sys::munmap(self.base as usize, self.len() as usize) };
    }
}

impl AsFd for Arena {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Arena {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

mod sealed {
    /// The operations behind [`super::AtomicWord`]. This trait cannot be
    /// named outside the crate, so its raw-address methods cannot be called
    /// from outside either; only [`super::ArenaAtomic`] calls them, with an
    /// address it checked.
    pub trait Sealed: Copy {
        /// # Safety (for all methods)
        /// `addr` must be a naturally aligned word inside a live mapping whose
        /// page faults in (or is allocated), accessed only atomically.
        unsafe fn load(addr: usize) -> Self;
        unsafe fn store(addr: usize, v: Self);
        unsafe fn fetch_add(addr: usize, v: Self) -> Self;
        unsafe fn fetch_and(addr: usize, v: Self) -> Self;
        unsafe fn fetch_or(addr: usize, v: Self) -> Self;
        unsafe fn fetch_xor(addr: usize, v: Self) -> Self;
        unsafe fn swap(addr: usize, v: Self) -> Self;
        unsafe fn compare_exchange(addr: usize, current: Self, new: Self) -> Result<Self, Self>;
    }
}

/// Word types with atomic operations in arena memory (`u32`, `u64`).
///
/// Sealed: implemented for exactly those two types, and it has no methods
/// of its own — the operations live on [`ArenaAtomic`], which can only be
/// made from a bounds- and alignment-checked pointer.
pub trait AtomicWord: Plain + sealed::Sealed {}
impl AtomicWord for u32 {}
impl AtomicWord for u64 {}

macro_rules! atomic_word {
    ($t:ty, $a:ty) => {
        // SAFETY (every method): `addr` is an aligned word inside a live
        // mapping that faults in, accessed only atomically (trait contract,
        // upheld by ArenaAtomic, which checked it and borrows the arena for
        // its lifetime). Concurrent BPF access is atomic or racy by the
        // program's own choice, outside Rust's memory model.
        impl sealed::Sealed for $t {
            unsafe fn load(addr: usize) -> Self {
                unsafe { <$a>::from_ptr(addr as *mut $t) }.load(Ordering::SeqCst)
            }
            unsafe fn store(addr: usize, v: Self) {
                unsafe { <$a>::from_ptr(addr as *mut $t) }.store(v, Ordering::SeqCst)
            }
            unsafe fn fetch_add(addr: usize, v: Self) -> Self {
                unsafe { <$a>::from_ptr(addr as *mut $t) }.fetch_add(v, Ordering::SeqCst)
            }
            unsafe fn fetch_and(addr: usize, v: Self) -> Self {
                unsafe { <$a>::from_ptr(addr as *mut $t) }.fetch_and(v, Ordering::SeqCst)
            }
            unsafe fn fetch_or(addr: usize, v: Self) -> Self {
                unsafe { <$a>::from_ptr(addr as *mut $t) }.fetch_or(v, Ordering::SeqCst)
            }
            unsafe fn fetch_xor(addr: usize, v: Self) -> Self {
                unsafe { <$a>::from_ptr(addr as *mut $t) }.fetch_xor(v, Ordering::SeqCst)
            }
            unsafe fn swap(addr: usize, v: Self) -> Self {
                unsafe { <$a>::from_ptr(addr as *mut $t) }.swap(v, Ordering::SeqCst)
            }
            unsafe fn compare_exchange(addr: usize, c: Self, n: Self) -> Result<Self, Self> {
                unsafe { <$a>::from_ptr(addr as *mut $t) }.compare_exchange(
                    c,
                    n,
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                )
            }
        }
    };
}
atomic_word!(u32, AtomicU32);
atomic_word!(u64, AtomicU64);

/// Sequentially consistent atomic operations on one arena word. Holds the
/// address, not a reference, and borrows the arena so the mapping outlives it.
#[derive(Clone, Copy, Debug)]
pub struct ArenaAtomic<'a, T> {
    #[allow(dead_code)]
    arena: &'a Arena,
    addr: usize,
    _t: std::marker::PhantomData<T>,
}

impl<T: AtomicWord> ArenaAtomic<'_, T> {
    /// Atomic load.
    #[inline]
    pub fn load(&self) -> T {
        // SAFETY: `addr` was checked (in bounds, aligned) when the handle was
        // made, the borrowed arena keeps the mapping alive, and the page
        // faults in (not SEGV_ON_FAULT, or the atomic_unchecked caller's
        // promise). Same for every method below.
        unsafe { <T as sealed::Sealed>::load(self.addr) }
    }
    /// Atomic store.
    pub fn store(&self, v: T) {
        // SAFETY: see `load`.
        unsafe { <T as sealed::Sealed>::store(self.addr, v) }
    }
    /// Adds (wrapping), returning the previous value.
    pub fn fetch_add(&self, v: T) -> T {
        // SAFETY: see `load`.
        unsafe { <T as sealed::Sealed>::fetch_add(self.addr, v) }
    }
    /// Ands, returning the previous value.
    pub fn fetch_and(&self, v: T) -> T {
        // SAFETY: see `load`.
        unsafe { <T as sealed::Sealed>::fetch_and(self.addr, v) }
    }
    /// Ors, returning the previous value.
    pub fn fetch_or(&self, v: T) -> T {
        // SAFETY: see `load`.
        unsafe { <T as sealed::Sealed>::fetch_or(self.addr, v) }
    }
    /// Xors, returning the previous value.
    pub fn fetch_xor(&self, v: T) -> T {
        // SAFETY: see `load`.
        unsafe { <T as sealed::Sealed>::fetch_xor(self.addr, v) }
    }
    /// Swaps, returning the previous value.
    pub fn swap(&self, v: T) -> T {
        // SAFETY: see `load`.
        unsafe { <T as sealed::Sealed>::swap(self.addr, v) }
    }
    /// Compare-and-swap: `Ok(previous)` if it was `current`, else `Err(actual)`.
    pub fn compare_exchange(&self, current: T, new: T) -> std::result::Result<T, T> {
        // SAFETY: see `load`.
        unsafe { <T as sealed::Sealed>::compare_exchange(self.addr, current, new) }
    }
}
