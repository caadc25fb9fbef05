//! Copies in and out of arena memory: the bounds check every access
//! makes, the direct path (relaxed atomic loads and stores in this
//! process) and the path through the kernel for `SEGV_ON_FAULT` arenas.

use super::ptr::plain_bytes;
use super::{Arena, ArenaFlags, ArenaPtr, Plain};
use crate::error::{Error, Result};
use crate::sys::{self, Errno};

impl Arena {
    /// The address as a `usize` if `[addr, addr + size)` lies inside the
    /// arena and `addr` is `align`-aligned. On the hot path of every access:
    /// one subtraction and two comparisons, the error built out of line.
    #[inline(always)]
    pub(super) fn check(&self, addr: u64, size: usize, align: usize) -> Result<usize> {
        let off = addr.wrapping_sub(self.base);
        match self.len.checked_sub(size as u64) {
            Some(last) if off <= last && addr % align as u64 == 0 => Ok(addr as usize),
            _ => Err(self.access_error(addr, size, align)),
        }
    }

    /// The [`Error::Access`] for a failed [`Arena::check`], saying why.
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
    ///
    /// No system call, except on a `SEGV_ON_FAULT` arena: `process_vm_readv`
    /// on this process (Linux 3.2), where the kernel's `EFAULT` (a page not
    /// allocated) becomes [`Error::Access`] and any other answer (`ENOMEM`,
    /// or a seccomp filter refusing the call) is [`Error::Syscall`].
    ///
    /// Errors: [`Error::Access`] for a `T` not wholly inside the arena
    /// (including NULL and pointers into other arenas), or, on a
    /// `SEGV_ON_FAULT` arena, a page not allocated.
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
    /// stores. Same faulting rules, system calls and errors as
    /// [`Arena::read`] (`process_vm_writev` on a `SEGV_ON_FAULT` arena).
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
            None => self.write_slow(ptr.addr(), plain_bytes(&value)),
        }
    }

    /// Copies `out.len()` bytes starting at arena offset `offset` (relaxed
    /// atomic loads). Same faulting rules, system calls and errors as
    /// [`Arena::read`], for the whole range.
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

    /// Copies `data` to arena offset `offset` (relaxed atomic stores). Same
    /// faulting rules, system calls and errors as [`Arena::write`], for the
    /// whole range.
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
    pub(super) fn fault_safe(&self) -> bool {
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

    /// [`Arena::read_slow`] for a byte range.
    #[cold]
    #[inline(never)]
    fn read_bytes_slow(&self, addr: u64, out: &mut [u8]) -> Result<()> {
        let a = self.check(addr, out.len(), 1)?;
        self.vm_read(a, out)
    }

    /// A write [`Arena::direct`] did not take: an access error, or a
    /// `SEGV_ON_FAULT` arena written through the kernel.
    #[cold]
    #[inline(never)]
    fn write_slow(&self, addr: u64, data: &[u8]) -> Result<()> {
        let a = self.check(addr, data.len(), 1)?;
        self.write_through_kernel(a, data)
    }

    /// Reads a `T` at the checked address `a` with `process_vm_readv`.
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

    /// Reads at the checked address `a` with `process_vm_readv`.
    #[cold]
    #[inline(never)]
    fn vm_read(&self, a: usize, out: &mut [u8]) -> Result<()> {
        sys::shared::vm_read(a, out).map_err(|e| self.fault_error(a, out.len(), e))
    }

    /// Writes at the checked address `a` with `process_vm_writev`.
    #[cold]
    #[inline(never)]
    fn write_through_kernel(&self, a: usize, data: &[u8]) -> Result<()> {
        // SAFETY: [a, a + len) is inside the arena mapping (checked by the
        // caller), which no Rust reference points into.
        unsafe { sys::shared::vm_write(a, data) }.map_err(|e| self.fault_error(a, data.len(), e))
    }

    /// The error for a failed `process_vm_readv`/`process_vm_writev`.
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

    /// The base as a raw pointer, valid for [`Arena::len`] bytes while the
    /// arena lives. Dereferencing it is `unsafe`: the memory is shared with
    /// the kernel and BPF programs and must not be turned into Rust
    /// references while they may write it, and on a
    /// [`ArenaFlags::SEGV_ON_FAULT`] arena touching a page nobody allocated
    /// raises `SIGSEGV`.
    #[inline]
    pub fn as_mut_ptr(&self) -> *mut u8 {
        self.base as usize as *mut u8
    }
}
