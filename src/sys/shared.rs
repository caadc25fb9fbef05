//! Copies in and out of memory that the kernel, BPF programs and other
//! threads write concurrently (arena pages, mmapped global data).
//!
//! Such memory may never be read or written with plain (non-atomic) Rust
//! accesses: another thread of this process writing the same bytes at the
//! same time would be a data race, which is undefined behaviour under Rust's
//! memory model even where the hardware makes it harmless. Every access here
//! is a relaxed atomic: one load or store of the access's own width when it
//! is 1, 2, 4 or 8 bytes and naturally aligned, otherwise naturally aligned
//! 8-byte words with single bytes for an unaligned head and tail. On x86-64
//! and arm64 relaxed atomic loads and stores compile to ordinary moves, so
//! the copies cost what a plain copy costs.
//!
//! What relaxed atomics do not give: a value wider than one word (a struct)
//! read while someone writes it can mix old and new words ("tearing"), as
//! any lock-free reader of shared memory must expect; ordering with respect
//! to other memory needs the arena's explicit atomics.
//!
//! For arenas created with `BPF_F_SEGV_ON_FAULT`, where touching a page
//! nobody allocated raises `SIGSEGV`, [`vm_read`] and [`vm_write`] copy
//! through `process_vm_readv`/`process_vm_writev` on the own process: the
//! kernel handles the fault and answers `EFAULT` instead of a signal.

use super::Errno;
use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering::Relaxed};

/// Reads `size_of::<T>()` bytes at `src` into a `T`.
///
/// # Safety
/// `[src, src + size_of::<T>())` must be readable memory that stays mapped
/// for the call and is only ever accessed through this module's atomics (or
/// by the kernel and BPF) while the call runs; every bit pattern must be a
/// valid `T`.
#[inline(always)]
pub(crate) unsafe fn load<T: Copy>(src: usize) -> T {
    let size = size_of::<T>();
    // The width tests fold away: `size` is a constant after inlining.
    // SAFETY (all arms): `src` is valid for `size` bytes (caller), aligned
    // for the atomic type used (tested), and only accessed atomically.
    unsafe {
        if size == 8 && src % 8 == 0 {
            let v = AtomicU64::from_ptr(src as *mut u64).load(Relaxed);
            return std::mem::transmute_copy(&v);
        }
        if size == 4 && src % 4 == 0 {
            let v = AtomicU32::from_ptr(src as *mut u32).load(Relaxed);
            return std::mem::transmute_copy(&v);
        }
        if size == 2 && src % 2 == 0 {
            let v = AtomicU16::from_ptr(src as *mut u16).load(Relaxed);
            return std::mem::transmute_copy(&v);
        }
        if size == 1 {
            let v = AtomicU8::from_ptr(src as *mut u8).load(Relaxed);
            return std::mem::transmute_copy(&v);
        }
        if size == 16 && src % 8 == 0 {
            // Two words, kept in registers (a pointer and a value, say).
            let w = [
                AtomicU64::from_ptr(src as *mut u64).load(Relaxed),
                AtomicU64::from_ptr((src + 8) as *mut u64).load(Relaxed),
            ];
            return std::mem::transmute_copy(&w);
        }
        let mut out = std::mem::MaybeUninit::<T>::uninit();
        let dst = out.as_mut_ptr() as *mut u8;
        if size % 8 == 0 && src % 8 == 0 {
            // Whole aligned words: a loop of constant length, unrolled.
            for k in 0..size / 8 {
                let w = AtomicU64::from_ptr((src + 8 * k) as *mut u64).load(Relaxed);
                std::ptr::write_unaligned(dst.add(8 * k) as *mut u64, w);
            }
            return out.assume_init();
        }
        load_unaligned(src)
    }
}

/// [`load`] for an unaligned address or an odd size: out of line and
/// marked cold, so the aligned case stays a straight run of instructions in
/// the caller's loop.
///
/// # Safety
/// As for [`load`].
#[cold]
#[inline(never)]
unsafe fn load_unaligned<T: Copy>(src: usize) -> T {
    let mut out = std::mem::MaybeUninit::<T>::uninit();
    // SAFETY: as in `load`; every byte of `out` is written by `copy_from`,
    // and the caller vouches that any bits are a T.
    unsafe {
        copy_from(src, out.as_mut_ptr() as *mut u8, size_of::<T>());
        out.assume_init()
    }
}

/// Writes `value` (all `size_of::<T>()` bytes) at `dst`.
///
/// # Safety
/// `[dst, dst + size_of::<T>())` must be writable memory that stays mapped
/// for the call, is only ever accessed through this module's atomics (or by
/// the kernel and BPF), and that no Rust reference points into. `T` must
/// have no padding (every byte of `value` initialised).
#[inline(always)]
pub(crate) unsafe fn store<T: Copy>(dst: usize, value: T) {
    let size = size_of::<T>();
    // SAFETY (all arms): as in `load`; `T` has no padding (caller), so its
    // bytes may be read as integers.
    unsafe {
        if size == 8 && dst % 8 == 0 {
            let v: u64 = std::mem::transmute_copy(&value);
            return AtomicU64::from_ptr(dst as *mut u64).store(v, Relaxed);
        }
        if size == 4 && dst % 4 == 0 {
            let v: u32 = std::mem::transmute_copy(&value);
            return AtomicU32::from_ptr(dst as *mut u32).store(v, Relaxed);
        }
        if size == 2 && dst % 2 == 0 {
            let v: u16 = std::mem::transmute_copy(&value);
            return AtomicU16::from_ptr(dst as *mut u16).store(v, Relaxed);
        }
        if size == 1 {
            let v: u8 = std::mem::transmute_copy(&value);
            return AtomicU8::from_ptr(dst as *mut u8).store(v, Relaxed);
        }
        let src = &value as *const T as *const u8;
        if size % 8 == 0 && dst % 8 == 0 {
            for k in 0..size / 8 {
                let w = std::ptr::read_unaligned(src.add(8 * k) as *const u64);
                AtomicU64::from_ptr((dst + 8 * k) as *mut u64).store(w, Relaxed);
            }
            return;
        }
        store_unaligned(dst, value);
    }
}

/// [`store`] for an unaligned address or an odd size, out of line and cold
/// (see [`load_unaligned`]).
///
/// # Safety
/// As for [`store`].
#[cold]
#[inline(never)]
unsafe fn store_unaligned<T: Copy>(dst: usize, value: T) {
    // SAFETY: as in `store`.
    unsafe { copy_to(&value as *const T as *const u8, dst, size_of::<T>()) }
}

/// Copies `len` bytes from shared memory at `src` into private memory at
/// `dst`.
///
/// # Safety
/// `src` as for [`load`] (for `len` bytes); `dst` valid for `len` byte
/// writes and not overlapping the shared range.
#[inline(always)]
pub(crate) unsafe fn copy_from(src: usize, dst: *mut u8, len: usize) {
    let mut i = 0;
    // SAFETY (whole body): every address touched is inside [src, src + len)
    // or [dst, dst + len) (caller); word loads are 8-byte aligned (the head
    // loop stops at an aligned address); `dst` is written unaligned.
    unsafe {
        if len == 8 && src % 8 == 0 {
            // One aligned word (a u64 global, a pointer): one load.
            let w = AtomicU64::from_ptr(src as *mut u64).load(Relaxed);
            return std::ptr::write_unaligned(dst as *mut u64, w);
        }
        while i < len && (src + i) % 8 != 0 {
            *dst.add(i) = AtomicU8::from_ptr((src + i) as *mut u8).load(Relaxed);
            i += 1;
        }
        while len - i >= 8 {
            let w = AtomicU64::from_ptr((src + i) as *mut u64).load(Relaxed);
            std::ptr::write_unaligned(dst.add(i) as *mut u64, w);
            i += 8;
        }
        while i < len {
            *dst.add(i) = AtomicU8::from_ptr((src + i) as *mut u8).load(Relaxed);
            i += 1;
        }
    }
}

/// Copies `len` bytes from private memory at `src` into shared memory at
/// `dst`.
///
/// # Safety
/// `dst` as for [`store`] (for `len` bytes); `src` valid for `len` byte
/// reads, initialised, and not overlapping the shared range.
#[inline(always)]
pub(crate) unsafe fn copy_to(src: *const u8, dst: usize, len: usize) {
    let mut i = 0;
    // SAFETY (whole body): as in `copy_from`, with the roles swapped.
    unsafe {
        if len == 8 && dst % 8 == 0 {
            let w = std::ptr::read_unaligned(src as *const u64);
            return AtomicU64::from_ptr(dst as *mut u64).store(w, Relaxed);
        }
        while i < len && (dst + i) % 8 != 0 {
            AtomicU8::from_ptr((dst + i) as *mut u8).store(*src.add(i), Relaxed);
            i += 1;
        }
        while len - i >= 8 {
            let w = std::ptr::read_unaligned(src.add(i) as *const u64);
            AtomicU64::from_ptr((dst + i) as *mut u64).store(w, Relaxed);
            i += 8;
        }
        while i < len {
            AtomicU8::from_ptr((dst + i) as *mut u8).store(*src.add(i), Relaxed);
            i += 1;
        }
    }
}

/// Copies `out.len()` bytes at user address `src` of this process into
/// `out` through `process_vm_readv(2)` (Linux 3.2): a page that faults
/// (an unallocated page of a `SEGV_ON_FAULT` arena, an unmapped address)
/// is `EFAULT`, never a signal. A short copy is `EFAULT` too.
///
/// Reading any address of the own process this way cannot cause undefined
/// behaviour: the kernel copies with its own fault handling, and only `out`,
/// a Rust buffer borrowed mutably, is written.
pub(crate) fn vm_read(src: usize, out: &mut [u8]) -> Result<(), Errno> {
    if out.is_empty() {
        return Ok(());
    }
    let local = libc::iovec {
        iov_base: out.as_mut_ptr() as *mut libc::c_void,
        iov_len: out.len(),
    };
    let remote = libc::iovec {
        iov_base: src as *mut libc::c_void,
        iov_len: out.len(),
    };
    // SAFETY: the kernel writes at most `out.len()` bytes into `out` (the
    // local iovec) and only reads at `src`; both iovec arrays live for the call.
    let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    match n {
        n if n < 0 => Err(Errno::last()),
        n if n as usize == out.len() => Ok(()),
        _ => Err(Errno::EFAULT),
    }
}

/// Copies `data` to user address `dst` of this process through
/// `process_vm_writev(2)`: a faulting page is `EFAULT`, never a signal (a
/// short copy is `EFAULT` too, after its first bytes were written).
///
/// # Safety
/// `[dst, dst + data.len())` must be memory no Rust reference points into
/// (shared arena memory): the kernel writes it.
pub(crate) unsafe fn vm_write(dst: usize, data: &[u8]) -> Result<(), Errno> {
    if data.is_empty() {
        return Ok(());
    }
    let local = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    let remote = libc::iovec {
        iov_base: dst as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: the kernel only reads `data` and writes `[dst, dst + len)`,
    // which the caller says no Rust reference covers.
    let n = unsafe { libc::process_vm_writev(libc::getpid(), &local, 1, &remote, 1, 0) };
    match n {
        n if n < 0 => Err(Errno::last()),
        n if n as usize == data.len() => Ok(()),
        _ => Err(Errno::EFAULT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_every_alignment_and_length() {
        let src: Vec<u8> = (0..64u8).collect();
        for start in 0..9 {
            for len in 0..40 {
                let mut out = vec![0u8; len];
                // SAFETY: in bounds of `src`, which nothing else accesses.
                unsafe { copy_from(src.as_ptr() as usize + start, out.as_mut_ptr(), len) };
                assert_eq!(out, &src[start..start + len]);
                let mut dst = vec![0xffu8; 64];
                // SAFETY: in bounds of `dst`.
                unsafe { copy_to(out.as_ptr(), dst.as_mut_ptr() as usize + start, len) };
                assert_eq!(&dst[start..start + len], &out[..]);
                assert!(dst[..start].iter().all(|&b| b == 0xff));
                assert!(dst[start + len..].iter().all(|&b| b == 0xff));
            }
        }
    }

    #[test]
    fn typed_loads_and_stores() {
        let mut buf = [0u64; 4];
        let base = buf.as_mut_ptr() as usize;
        // SAFETY: in bounds of `buf`.
        unsafe {
            store::<u64>(base, 0x1122_3344_5566_7788);
            store::<u32>(base + 9, 0xaabb_ccdd);
            store::<[u8; 3]>(base + 20, [1, 2, 3]);
            assert_eq!(load::<u64>(base), 0x1122_3344_5566_7788);
            assert_eq!(load::<u32>(base + 9), 0xaabb_ccdd);
            assert_eq!(load::<[u8; 3]>(base + 20), [1, 2, 3]);
            assert_eq!(load::<u16>(base + 1), 0x6677);
        }
    }

    #[test]
    fn vm_copies_fault_as_efault() {
        let src = [7u8; 16];
        let mut out = [0u8; 16];
        vm_read(src.as_ptr() as usize, &mut out).unwrap();
        assert_eq!(out, src);
        assert_eq!(vm_read(8, &mut out), Err(Errno::EFAULT));
        let mut dst = [0u8; 4];
        // SAFETY: `dst` is a local no reference points into during the call.
        unsafe { vm_write(dst.as_mut_ptr() as usize, &[1, 2, 3, 4]).unwrap() };
        assert_eq!(dst, [1, 2, 3, 4]);
        // SAFETY: address 8 is never mapped; nothing is written.
        assert_eq!(unsafe { vm_write(8, &[1]) }, Err(Errno::EFAULT));
    }
}
