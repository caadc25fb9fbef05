//! Atomic operations on arena words: [`ArenaAtomic`], made only from a
//! bounds- and alignment-checked pointer, and the sealed [`AtomicWord`]
//! operations behind it, which take raw addresses and so cannot be named
//! outside the crate.

use super::{Arena, ArenaPtr, Plain};
use crate::error::{Error, Result};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

impl Arena {
    /// Atomic access to the naturally aligned `u32` or `u64` at `ptr`
    /// (sequentially consistent, like the BPF side's atomic instructions).
    ///
    /// On a [`SEGV_ON_FAULT`](super::ArenaFlags::SEGV_ON_FAULT) arena this
    /// is [`Error::Access`]: an atomic instruction on a page that is not (or
    /// no longer) allocated raises `SIGSEGV`, and no check made beforehand
    /// can stop a page from being freed before the instruction runs. Use
    /// [`Arena::atomic_unchecked`] where you can promise the page stays
    /// allocated.
    ///
    /// No system call: the handle's operations are single atomic
    /// instructions. Errors: [`Error::Access`] for a word not wholly inside
    /// the arena, misaligned, or on a `SEGV_ON_FAULT` arena.
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

    /// [`Arena::atomic`] on any arena,
    /// [`SEGV_ON_FAULT`](super::ArenaFlags::SEGV_ON_FAULT) ones included.
    /// Bounds and alignment are still checked.
    ///
    /// # Safety
    /// On a `SEGV_ON_FAULT` arena, the page holding the word must be
    /// allocated for as long as the handle is used: neither this process
    /// ([`Arena::free_pages`]) nor a BPF program may free it meanwhile, or the
    /// next operation raises `SIGSEGV`. On other arenas this is as safe as
    /// [`Arena::atomic`].
    ///
    /// Errors: [`Error::Access`] for a word not wholly inside the arena or
    /// misaligned.
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
