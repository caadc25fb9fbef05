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
//!   `map_extra`, and mapped with `MAP_FIXED_NOREPLACE`: an occupied range
//!   is [`Error::AddressInUse`](crate::Error::AddressInUse) and the
//!   existing mapping is left untouched;
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
//!   the pages first, or use `SEGV_ON_FAULT`, where that is an error. With
//!   it, reads and writes go through `process_vm_readv`/`process_vm_writev`
//!   on the own process, where the kernel turns the fault into `EFAULT`,
//!   reported as [`Error::Access`](crate::Error::Access); atomics cannot be
//!   made fault-safe that way, so [`Arena::atomic`] refuses such arenas and
//!   [`Arena::atomic_unchecked`] is `unsafe`.
//! - **No clobbering.** The crate maps arenas (and reserves address space)
//!   only with `MAP_FIXED_NOREPLACE` or without an address, and unmaps only
//!   what it mapped: an occupied address is
//!   [`Error::AddressInUse`](crate::Error::AddressInUse) with the existing
//!   mapping untouched.
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
//! // The word operations cannot be called on a raw address (E0576: no
//! // such method in AtomicWord, whose operations are sealed): only through
//! // an ArenaAtomic made from a checked pointer.
//! use bpf_arena::arena::AtomicWord;
//! <u64 as AtomicWord>::store(0x10, 42);
//! ```

// The sources, by job:
// - `builder`: `ArenaBuilder`, the user-space checks, `BPF_MAP_CREATE`;
// - `place`: where an arena goes (reserving a 4 GiB-aligned slot, mapping
//   without replacing anything);
// - `handle`: the `Arena` handle (adoption, pinning, geometry, pointer
//   forms, teardown);
// - `access`: bounds checks and copies in and out of arena memory;
// - `atomic`: `ArenaAtomic` and the sealed word operations behind it;
// - `pages`: page management through the built-in SYSCALL programs, and the
//   arena's cache of those programs;
// - `globals`: the `__arena` globals objects placed in an arena;
// - `ptr`: `ArenaPtr` and `Plain`.
mod access;
mod atomic;
mod builder;
mod globals;
mod handle;
mod pages;
mod place;
mod ptr;

pub use atomic::{ArenaAtomic, AtomicWord};
pub use builder::{ArenaBuilder, validate_address};
pub(crate) use globals::{GlobalsClaim, PlacedVar};
pub use handle::Arena;
pub use pages::{page_size, pages_len};
pub use ptr::{
    ArenaPtr, KernelArenaPtr, Plain, plain_from_bytes, plain_to_bytes, read_at, write_at, zeroed,
};

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

impl ArenaFlags {
    /// The `map_flags` of an arena map with these flags: them and
    /// `BPF_F_MMAPABLE`, which the kernel requires of every arena (it
    /// answers `EINVAL` without it). The one place the flag is added.
    pub const fn map_flags(self) -> u32 {
        self.bits() | BPF_F_MMAPABLE
    }

    /// The arena flags in an arena map's `map_flags`, the one place the
    /// mandatory `BPF_F_MMAPABLE` is checked and taken off: `None` when it
    /// is missing (the kernel would refuse such an arena with `EINVAL`).
    /// Unknown bits are kept, for the kernel to judge.
    pub const fn from_map_flags(map_flags: u32) -> Option<ArenaFlags> {
        if map_flags & BPF_F_MMAPABLE == 0 {
            return None;
        }
        Some(ArenaFlags::from_bits_retain(map_flags & !BPF_F_MMAPABLE))
    }
}

/// The largest page count an arena can have with this page size
/// (4 GiB / page size: 1,048,576 with 4 KiB pages).
pub fn max_pages() -> u32 {
    (FOUR_GIB / page_size()) as u32
}

/// How errors name an arena: "arena map" or "arena map 'NAME'".
fn arena_label(name: &str) -> String {
    if name.is_empty() {
        "arena map".to_string()
    } else {
        format!("arena map '{name}'")
    }
}
