//! Memory mappings: the arena's placement calls (never replacing a mapping
//! unless the caller promises it owns the range) and [`SharedMapping`],
//! the atomically copied view of an mmapable array map's values.

use super::{BPF_F_MMAPABLE, BPF_MAP_TYPE_ARRAY, Errno, OwnedMap, page_size, shared};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

/// `mmap(addr, len, prot, flags, fd, 0)`.
///
/// # Safety
/// With `MAP_FIXED` in `flags`, `[addr, addr + len)` must be owned by the
/// caller with no Rust reference into it; other flags never replace mappings.
pub(super) unsafe fn raw_mmap(
    addr: usize,
    len: usize,
    prot: i32,
    flags: i32,
    fd: RawFd,
) -> Result<usize, Errno> {
    // SAFETY: the caller upholds the MAP_FIXED contract; every other flag
    // combination only creates a new mapping that aliases no Rust memory.
    let p = unsafe { libc::mmap(addr as *mut libc::c_void, len, prot, flags, fd, 0) };
    if p == libc::MAP_FAILED {
        Err(Errno::last())
    } else {
        Ok(p as usize)
    }
}

/// `mmap(NULL, len, prot, MAP_SHARED, fd, offset)`: a new mapping where the
/// kernel chooses, starting `offset` bytes into what the fd maps (a ring
/// buffer's producer page and data). Never replaces a mapping. An
/// `offset` that is not page aligned, or a length of 0, is `EINVAL`; the
/// fd's own `mmap` answers for the rest.
pub(super) fn mmap_shared_offset(
    len: usize,
    prot: i32,
    fd: BorrowedFd<'_>,
    offset: usize,
) -> Result<usize, Errno> {
    let offset = libc::off_t::try_from(offset).map_err(|_| Errno::EINVAL)?;
    // SAFETY: a NULL hint without MAP_FIXED never replaces a mapping, so no
    // Rust memory is touched; the kernel only creates a new mapping.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            prot,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            offset,
        )
    };
    if p == libc::MAP_FAILED {
        Err(Errno::last())
    } else {
        Ok(p as usize)
    }
}

/// `mmap(addr, len, prot, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0)` (Linux 4.17).
///
/// Never replaces an existing mapping: an occupied range answers `EEXIST`.
/// An `addr` that is not page aligned is `EINVAL`, and whatever the fd's
/// own `mmap` refuses comes back as its answer (an arena whose address is
/// set: `EINVAL` for another address or length, `E2BIG` for a length past
/// its pages; any map: `EPERM` for a writable mapping of a frozen one).
/// A kernel that does not know `MAP_FIXED_NOREPLACE` treats `addr` as a hint;
/// a mapping placed elsewhere is undone and reported as `EEXIST` too.
pub fn mmap_shared_noreplace(
    addr: usize,
    len: usize,
    prot: i32,
    fd: BorrowedFd<'_>,
) -> Result<usize, Errno> {
    mmap_noreplace(addr, len, prot, libc::MAP_SHARED, fd.as_raw_fd())
}

/// `mmap` at exactly `addr` with `MAP_FIXED_NOREPLACE` added to `flags`:
/// an occupied range is `EEXIST`, and so is a mapping an old kernel (which
/// takes the address as a hint) placed elsewhere, after undoing it.
fn mmap_noreplace(
    addr: usize,
    len: usize,
    prot: i32,
    flags: i32,
    fd: RawFd,
) -> Result<usize, Errno> {
    // SAFETY: MAP_FIXED_NOREPLACE never replaces a mapping.
    let p = unsafe { raw_mmap(addr, len, prot, flags | libc::MAP_FIXED_NOREPLACE, fd)? };
    if p != addr {
        // SAFETY: `p` is the mapping this call just created, `len` bytes long.
        let _ = unsafe { munmap(p, len) };
        return Err(Errno::EEXIST);
    }
    Ok(p)
}

/// `mmap(NULL, len, prot, MAP_SHARED, fd, 0)`: lets the kernel (for an arena
/// without an agreed address, the arena's own `get_unmapped_area`) choose.
/// A length of 0 is `EINVAL`, no room in the address space `ENOMEM`, and
/// the fd's own `mmap` answers for the rest (a frozen map: `EPERM` for a
/// writable mapping; an fd not opened for writing: `EACCES`).
pub fn mmap_shared_anywhere(len: usize, prot: i32, fd: BorrowedFd<'_>) -> Result<usize, Errno> {
    // SAFETY: a NULL hint without MAP_FIXED never replaces a mapping.
    unsafe { raw_mmap(0, len, prot, libc::MAP_SHARED, fd.as_raw_fd()) }
}

/// Reserves `len` bytes of address space (`PROT_NONE`, private, anonymous,
/// `MAP_NORESERVE`) anywhere. Returns the start. A length of 0 is
/// `EINVAL`; no room (or an address-space limit, `RLIMIT_AS`) `ENOMEM`.
pub fn reserve_address_space(len: usize) -> Result<usize, Errno> {
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
    // SAFETY: a NULL hint without MAP_FIXED never replaces a mapping.
    unsafe { raw_mmap(0, len, libc::PROT_NONE, flags, -1) }
}

/// Reserves exactly `[addr, addr + len)` (`PROT_NONE`, private, anonymous,
/// `MAP_NORESERVE`, `MAP_FIXED_NOREPLACE`, Linux 4.17). Never replaces a
/// mapping: an occupied range is `EEXIST` (also on older kernels, which
/// treat the address as a hint: a reservation placed elsewhere is undone).
/// An unaligned `addr` or a length of 0 is `EINVAL`, a range the process
/// may not map (`RLIMIT_AS`, past the user address space) `ENOMEM`.
pub fn reserve_address_space_at(addr: usize, len: usize) -> Result<usize, Errno> {
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
    mmap_noreplace(addr, len, libc::PROT_NONE, flags, -1)
}

/// `mmap(addr, len, prot, MAP_SHARED | MAP_FIXED, fd, 0)`. An unaligned
/// `addr` is `EINVAL`; the fd's own `mmap` answers as for
/// [`mmap_shared_noreplace`].
///
/// # Safety
/// `[addr, addr + len)` must be address space the caller owns (for example a
/// reservation from [`reserve_address_space`]) that no Rust reference points
/// into: `MAP_FIXED` replaces whatever is there.
pub unsafe fn mmap_shared_fixed(
    addr: usize,
    len: usize,
    prot: i32,
    fd: BorrowedFd<'_>,
) -> Result<usize, Errno> {
    // SAFETY: the caller owns the range (function contract).
    unsafe {
        raw_mmap(
            addr,
            len,
            prot,
            libc::MAP_SHARED | libc::MAP_FIXED,
            fd.as_raw_fd(),
        )
    }
}

/// `munmap(addr, len)`; a length of 0 does nothing. An unaligned `addr` is
/// `EINVAL`.
///
/// # Safety
/// The range must be a mapping (or part of one) the caller owns, with no live
/// references into it.
pub unsafe fn munmap(addr: usize, len: usize) -> Result<(), Errno> {
    if len == 0 {
        return Ok(());
    }
    // SAFETY: the caller owns the range (function contract).
    let r = unsafe { libc::munmap(addr as *mut libc::c_void, len) };
    if r < 0 { Err(Errno::last()) } else { Ok(()) }
}

/// A `MAP_SHARED` mapping of an mmapable array map's values (global data),
/// unmapped on drop. Reads and writes copy bytes and check bounds; no
/// reference into the mapping is ever handed out, because BPF programs
/// write it concurrently, and every copy is made of relaxed atomic loads or
/// stores (aligned words, bytes for the rest), so concurrent use from
/// several threads is free of data races.
#[derive(Debug)]
pub struct SharedMapping {
    addr: usize,
    len: usize,
    writable: bool,
}

// SAFETY: the mapping is plain shared memory owned by this value; every
// access copies through atomics, so sending it or sharing it between threads
// cannot create a data race or a dangling access (the mapping lives until
// drop, which needs ownership).
unsafe impl Send for SharedMapping {}
// SAFETY: as above.
unsafe impl Sync for SharedMapping {}

impl SharedMapping {
    /// Maps all values of an mmapable array map
    /// (`BPF_MAP_TYPE_ARRAY` with `BPF_F_MMAPABLE`, Linux 5.5): `mmap(NULL,
    /// len, PROT_READ [| PROT_WRITE], MAP_SHARED, fd, 0)` with `len` the
    /// values' size (`round_up(value_size, 8) * max_entries`) rounded up to
    /// whole pages, which is exactly what the kernel lets be mapped.
    ///
    /// Any other map is [`Errno::EINVAL`] without a system call (arenas have
    /// [`crate::arena::Arena`]). A frozen map answers `EPERM` for a writable
    /// mapping.
    pub fn of_array(map: &OwnedMap, writable: bool) -> Result<SharedMapping, Errno> {
        let info = map.info();
        if info.map_type != BPF_MAP_TYPE_ARRAY || info.map_flags & BPF_F_MMAPABLE == 0 {
            return Err(Errno::EINVAL);
        }
        let len = (info.value_size as usize)
            .next_multiple_of(8)
            .checked_mul(info.max_entries as usize)
            .map(|l| l.next_multiple_of(page_size()))
            .filter(|&l| l > 0)
            .ok_or(Errno::EINVAL)?;
        // SAFETY: an mmapable array map; the kernel refuses (EINVAL) a
        // mapping longer than its values rounded to pages, so every byte of
        // a successful mapping is backed.
        unsafe { SharedMapping::map(map.fd(), len, writable) }
    }

    /// `mmap(NULL, len, PROT_READ [| PROT_WRITE], MAP_SHARED, fd, 0)` of any
    /// fd. A frozen map answers `EPERM` for a writable mapping, a map that
    /// cannot be mapped or a length past its memory `EINVAL`, an fd opened
    /// read-only `EACCES` for a writable mapping.
    ///
    /// # Safety
    /// Every byte of `[0, len)` of the mapping must stay backed for as long
    /// as the value lives, so that reads and writes never fault: for
    /// example a map whose kernel `mmap` refuses lengths past its memory.
    /// A file shorter than `len` (or truncated later) raises `SIGBUS`, and
    /// an arena with `BPF_F_SEGV_ON_FAULT` `SIGSEGV`, on access.
    pub unsafe fn map(
        fd: BorrowedFd<'_>,
        len: usize,
        writable: bool,
    ) -> Result<SharedMapping, Errno> {
        let prot = if writable {
            libc::PROT_READ | libc::PROT_WRITE
        } else {
            libc::PROT_READ
        };
        let addr = mmap_shared_anywhere(len, prot, fd)?;
        Ok(SharedMapping {
            addr,
            len,
            writable,
        })
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether writes are allowed.
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// Copies `out.len()` bytes from offset `off`; `EINVAL` out of bounds.
    /// Made of relaxed atomic loads: a multi-word value that BPF writes at
    /// the same time can be seen half old, half new.
    pub fn read(&self, off: usize, out: &mut [u8]) -> Result<(), Errno> {
        if off.checked_add(out.len()).is_none_or(|e| e > self.len) {
            return Err(Errno::EINVAL);
        }
        // SAFETY: in bounds of a live, fully backed mapping (constructor
        // contract) that is only accessed atomically; `out` is a distinct
        // Rust buffer.
        unsafe { shared::copy_from(self.addr + off, out.as_mut_ptr(), out.len()) };
        Ok(())
    }

    /// Copies `data` to offset `off`; `EINVAL` out of bounds, `EACCES` on a
    /// read-only mapping. Made of relaxed atomic stores.
    pub fn write(&self, off: usize, data: &[u8]) -> Result<(), Errno> {
        if !self.writable {
            return Err(Errno::EACCES);
        }
        if off.checked_add(data.len()).is_none_or(|e| e > self.len) {
            return Err(Errno::EINVAL);
        }
        // SAFETY: in bounds of a live, writable, fully backed mapping that no
        // Rust reference points into; `data` is a distinct buffer.
        unsafe { shared::copy_to(data.as_ptr(), self.addr + off, data.len()) };
        Ok(())
    }
}

impl Drop for SharedMapping {
    fn drop(&mut self) {
        // SAFETY: our own mapping; nothing refers into it.
        let _ = unsafe { munmap(self.addr, self.len) };
    }
}
