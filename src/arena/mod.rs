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
//! - without: the crate reserves address space, picks a 4 GiB-aligned slot
//!   inside it, creates the map with `map_extra` = that slot, maps the arena
//!   over its own reservation and releases the rest. The low 32 bits of a
//!   user pointer then equal both the arena offset and the 32-bit pointer
//!   the BPF side uses, and `map_info.map_extra` tells other processes where
//!   to map it ([`Arena::from_fd`]).
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
//! Arena memory is written concurrently by the kernel and BPF, so safe code
//! never gets `&`/`&mut` into it: [`Arena::read`]/[`Arena::write`] copy
//! [`Plain`] values with volatile accesses, [`Arena::atomic`] gives atomic
//! operations on aligned words, and [`Arena::as_mut_ptr`] is the raw escape
//! hatch. Touching a page nobody allocated allocates a zeroed page — or, with
//! [`ArenaFlags::SEGV_ON_FAULT`], raises `SIGSEGV`, which is what that flag
//! asks the kernel for.

mod pages;
mod ptr;

pub use ptr::{ArenaPtr, Plain, plain_from_bytes, plain_to_bytes};

use crate::error::{Error, Result};
use crate::prog::path_cstring;
use crate::sys::{self, Cmd, Errno, MapCreateAttr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// `BPF_MAP_TYPE_ARENA`.
pub const MAP_TYPE_ARENA: u32 = 33;
/// `BPF_F_MMAPABLE`, which an arena must have.
pub const BPF_F_MMAPABLE: u32 = 1 << 10;
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
        /// plain 32-bit move (the result keeps only the low 32 bits).
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
    /// rejects; [`Error::Bpf`] with `EPERM` without privileges, `EINVAL` on
    /// kernels before 6.9 (no arena map type), `EOPNOTSUPP` when the JIT has
    /// no arena support; [`Error::AddressInUse`] when the given address range
    /// is already mapped here (nothing is replaced).
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
            sys::map_create(&attr).map_err(|e| Error::bpf(Cmd::MapCreate, what(), e))
        };
        let base = match self.address {
            Some(addr) => {
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
            None => reserve_aligned_slot(len)?,
        };
        // `base` is a 4 GiB-aligned slot inside our own PROT_NONE reservation.
        let fd = match create(base.slot) {
            Ok(fd) => fd,
            Err(e) => {
                base.release_all();
                return Err(e);
            }
        };
        match base.map_into_slot(&fd, len) {
            Ok(slot) => Ok(Arena::new(
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

fn reserve_aligned_slot(len: u64) -> Result<Reservation> {
    let span = FOUR_GIB + len;
    let start = sys::reserve_address_space(span as usize).map_err(|e| Error::Syscall {
        call: "mmap",
        what: format!("a {span:#x}-byte address-space reservation for an arena"),
        errno: e,
    })? as u64;
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

    /// Maps the arena `fd` (`len` bytes) over the slot and releases the rest
    /// of the reservation; on failure releases all of it. Returns the slot.
    fn map_into_slot(self, fd: &OwnedFd, len: u64) -> std::result::Result<u64, Errno> {
        // SAFETY: [slot, slot + len) lies inside this reservation, which its
        // creator owns and nothing refers into.
        let mapped = unsafe {
            sys::mmap_shared_fixed(self.slot as usize, len as usize, PROT_RW, fd.as_fd())
        };
        match mapped {
            Ok(_) => {
                let slot = self.slot;
                self.release_outside(len);
                Ok(slot)
            }
            Err(e) => {
                self.release_all();
                Err(e)
            }
        }
    }

    /// Releases the parts of the reservation around `[slot, slot + used)`.
    fn release_outside(self, used: u64) {
        let end = self.start + self.len;
        // SAFETY: both ranges are parts of our own PROT_NONE reservation that
        // the arena mapping does not cover.
        unsafe {
            let _ = sys::munmap(self.start as usize, (self.slot - self.start) as usize);
            let _ = sys::munmap(
                (self.slot + used) as usize,
                (end - self.slot - used) as usize,
            );
        }
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
        Arena {
            fd,
            base,
            len: pages as u64 * sys::page_size() as u64,
            pages,
            flags,
            name,
            map_extra,
            progs: Mutex::new(pages::PageProgs::default()),
            null_guarded: AtomicBool::new(false),
        }
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
        match reserve_aligned_slot(len)?.map_into_slot(&fd, len) {
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
        let c = path_cstring(path)?;
        let fd = sys::obj_get(&c, 0)
            .map_err(|e| Error::bpf(Cmd::ObjGet, path.display().to_string(), e))?;
        Arena::from_fd(fd)
    }

    /// Pins the arena at `path` in a bpffs mount (`BPF_OBJ_PIN`).
    pub fn pin(&self, path: &std::path::Path) -> Result<()> {
        let c = path_cstring(path)?;
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
        } else {
            "outside the arena"
        };
        Error::Access { addr, size, reason }
    }

    /// Reads a `T` at `ptr` (volatile, unaligned allowed).
    ///
    /// Reading a page nobody has allocated allocates a zeroed page, or raises
    /// `SIGSEGV` on a [`ArenaFlags::SEGV_ON_FAULT`] arena.
    #[inline]
    pub fn read<T: Plain>(&self, ptr: ArenaPtr<T>) -> Result<T> {
        let a = self.check(ptr.addr(), std::mem::size_of::<T>(), 1)?;
        // SAFETY: [a, a + size) is inside the live mapping (checked above;
        // the mapping lives as long as `self`).
        Ok(unsafe { read_unaligned_volatile(a as *const T) })
    }

    /// Writes `value` at `ptr` (volatile, unaligned allowed). Same faulting
    /// rules as [`Arena::read`].
    #[inline]
    pub fn write<T: Plain>(&self, ptr: ArenaPtr<T>, value: T) -> Result<()> {
        let a = self.check(ptr.addr(), std::mem::size_of::<T>(), 1)?;
        // SAFETY: inside the live mapping (checked); `T: Plain` has no
        // padding, so every written byte is initialised. The kernel never
        // hands out Rust references into this memory, so nothing aliases.
        unsafe { write_unaligned_volatile(a as *mut T, value) };
        Ok(())
    }

    /// Copies `out.len()` bytes starting at arena offset `offset`.
    #[inline]
    pub fn read_bytes(&self, offset: u64, out: &mut [u8]) -> Result<()> {
        let a = self.check(self.base.wrapping_add(offset), out.len(), 1)?;
        // SAFETY: inside the live mapping (checked); `out` is a distinct
        // Rust buffer, so the ranges do not overlap.
        unsafe { std::ptr::copy_nonoverlapping(a as *const u8, out.as_mut_ptr(), out.len()) };
        Ok(())
    }

    /// Copies `data` to arena offset `offset`.
    #[inline]
    pub fn write_bytes(&self, offset: u64, data: &[u8]) -> Result<()> {
        let a = self.check(self.base.wrapping_add(offset), data.len(), 1)?;
        // SAFETY: inside the live mapping (checked); `data` is a distinct
        // Rust buffer.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), a as *mut u8, data.len()) };
        Ok(())
    }

    /// Atomic access to the naturally aligned `u32` or `u64` at `ptr`.
    #[inline]
    pub fn atomic<T: AtomicWord>(&self, ptr: ArenaPtr<T>) -> Result<ArenaAtomic<'_, T>> {
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

/// # Safety
/// `p` must be valid for writes of `size_of::<T>()` bytes.
#[inline(always)]
unsafe fn write_unaligned_volatile<T: Plain>(p: *mut T, value: T) {
    if (p as usize) % std::mem::align_of::<T>() == 0 {
        // SAFETY: aligned and valid (caller).
        unsafe { std::ptr::write_volatile(p, value) };
    } else {
        let src = &value as *const T as *const u8;
        for i in 0..std::mem::size_of::<T>() {
            // SAFETY: byte-wise within the valid range (caller); `src` is a
            // local of the same size.
            unsafe { std::ptr::write_volatile((p as *mut u8).add(i), *src.add(i)) };
        }
    }
}

/// # Safety
/// `p` must be valid for reads of `size_of::<T>()` bytes.
#[inline(always)]
unsafe fn read_unaligned_volatile<T: Plain>(p: *const T) -> T {
    if (p as usize) % std::mem::align_of::<T>() == 0 {
        // SAFETY: aligned and valid (caller); T: Plain accepts any bits.
        unsafe { std::ptr::read_volatile(p) }
    } else {
        let mut out = std::mem::MaybeUninit::<T>::uninit();
        let dst = out.as_mut_ptr() as *mut u8;
        for i in 0..std::mem::size_of::<T>() {
            // SAFETY: byte-wise within the valid range (caller) into a local
            // of the same size.
            unsafe { *dst.add(i) = std::ptr::read_volatile((p as *const u8).add(i)) };
        }
        // SAFETY: every byte was written; T: Plain accepts any bits.
        unsafe { out.assume_init() }
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
    pub trait Sealed {}
    impl Sealed for u32 {}
    impl Sealed for u64 {}
}

/// Word types with atomic operations in arena memory (`u32`, `u64`).
pub trait AtomicWord: Plain + sealed::Sealed {
    #[doc(hidden)]
    fn load(addr: usize) -> Self;
    #[doc(hidden)]
    fn store(addr: usize, v: Self);
    #[doc(hidden)]
    fn fetch_add(addr: usize, v: Self) -> Self;
    #[doc(hidden)]
    fn fetch_and(addr: usize, v: Self) -> Self;
    #[doc(hidden)]
    fn fetch_or(addr: usize, v: Self) -> Self;
    #[doc(hidden)]
    fn fetch_xor(addr: usize, v: Self) -> Self;
    #[doc(hidden)]
    fn swap(addr: usize, v: Self) -> Self;
    #[doc(hidden)]
    fn compare_exchange(addr: usize, current: Self, new: Self) -> std::result::Result<Self, Self>;
}

macro_rules! atomic_word {
    ($t:ty, $a:ty) => {
        impl AtomicWord for $t {
            fn load(addr: usize) -> Self {
                // SAFETY: `addr` is an aligned word inside a live arena
                // mapping (checked by Arena::atomic, which borrows the arena
                // for the handle's lifetime); concurrent BPF access to it is
                // atomic or racy by the program's own choice.
                unsafe { <$a>::from_ptr(addr as *mut $t) }.load(Ordering::SeqCst)
            }
            fn store(addr: usize, v: Self) {
                // SAFETY: as in `load`.
                unsafe { <$a>::from_ptr(addr as *mut $t) }.store(v, Ordering::SeqCst)
            }
            fn fetch_add(addr: usize, v: Self) -> Self {
                // SAFETY: as in `load`.
                unsafe { <$a>::from_ptr(addr as *mut $t) }.fetch_add(v, Ordering::SeqCst)
            }
            fn fetch_and(addr: usize, v: Self) -> Self {
                // SAFETY: as in `load`.
                unsafe { <$a>::from_ptr(addr as *mut $t) }.fetch_and(v, Ordering::SeqCst)
            }
            fn fetch_or(addr: usize, v: Self) -> Self {
                // SAFETY: as in `load`.
                unsafe { <$a>::from_ptr(addr as *mut $t) }.fetch_or(v, Ordering::SeqCst)
            }
            fn fetch_xor(addr: usize, v: Self) -> Self {
                // SAFETY: as in `load`.
                unsafe { <$a>::from_ptr(addr as *mut $t) }.fetch_xor(v, Ordering::SeqCst)
            }
            fn swap(addr: usize, v: Self) -> Self {
                // SAFETY: as in `load`.
                unsafe { <$a>::from_ptr(addr as *mut $t) }.swap(v, Ordering::SeqCst)
            }
            fn compare_exchange(addr: usize, c: Self, n: Self) -> std::result::Result<Self, Self> {
                // SAFETY: as in `load`.
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
        T::load(self.addr)
    }
    /// Atomic store.
    pub fn store(&self, v: T) {
        T::store(self.addr, v)
    }
    /// Adds, returning the previous value.
    pub fn fetch_add(&self, v: T) -> T {
        T::fetch_add(self.addr, v)
    }
    /// Ands, returning the previous value.
    pub fn fetch_and(&self, v: T) -> T {
        T::fetch_and(self.addr, v)
    }
    /// Ors, returning the previous value.
    pub fn fetch_or(&self, v: T) -> T {
        T::fetch_or(self.addr, v)
    }
    /// Xors, returning the previous value.
    pub fn fetch_xor(&self, v: T) -> T {
        T::fetch_xor(self.addr, v)
    }
    /// Swaps, returning the previous value.
    pub fn swap(&self, v: T) -> T {
        T::swap(self.addr, v)
    }
    /// Compare-and-swap: `Ok(previous)` if it was `current`, else `Err(actual)`.
    pub fn compare_exchange(&self, current: T, new: T) -> std::result::Result<T, T> {
        T::compare_exchange(self.addr, current, new)
    }
}
