//! Where an arena goes: mapping at an agreed address without replacing
//! anything, and finding a free 4 GiB-aligned slot when the crate picks the
//! address. Every `mmap` here is `MAP_FIXED_NOREPLACE` or has no address,
//! and every `munmap` undoes a reservation made here.

use super::{FOUR_GIB, MIN_ADDRESS};
use crate::error::{Error, Result};
use crate::sys::{self, Errno};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};

/// Reserves a free 4 GiB-aligned slot of `len` bytes and hands it to
/// `place`, which maps an arena there (through
/// [`Reservation::map_into_slot`]). The slot can be taken by another thread
/// in the instant between releasing the reservation and mapping the arena,
/// which never replaces anything: then `place` answers `EEXIST` and another
/// slot is tried. Returns `place`'s last answer.
pub(super) fn with_free_slot<T>(
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

/// How often [`with_free_slot`] picks a new slot when the one it reserved
/// is taken before the arena is mapped there.
const SLOT_ATTEMPTS: usize = 8;

/// Arenas are mapped readable and writable (never executable: the kernel
/// refuses `PROT_EXEC` on BPF maps).
const PROT_RW: i32 = libc::PROT_READ | libc::PROT_WRITE;

/// Maps `fd` at `addr` without replacing anything.
pub(super) fn map_at(fd: &OwnedFd, addr: u64, len: u64, what: &str) -> Result<()> {
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
pub(super) struct Reservation {
    start: u64,
    len: u64,
    /// The 4 GiB-aligned address the arena goes to.
    pub(super) slot: u64,
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
    /// Gives the whole reservation back (the arena was not created).
    pub(super) fn release_all(self) {
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
    pub(super) fn map_into_slot(self, fd: &OwnedFd, len: u64) -> std::result::Result<(), Errno> {
        let slot = self.slot;
        self.release_all();
        sys::mmap_shared_noreplace(slot as usize, len as usize, PROT_RW, fd.as_fd()).map(drop)
    }
}
