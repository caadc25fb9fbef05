//! [`ArenaPtr`] and the [`Plain`] marker.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;

/// Types that can be copied in and out of arena memory as raw bytes.
///
/// # Safety
/// Every bit pattern of `size_of::<Self>()` bytes must be a valid value
/// (no `bool`, `char`, enums, references or `NonNull`), and the type must
/// contain no padding that would leak uninitialised bytes when written.
/// `#[repr(C)]` structs of integers, arrays and [`ArenaPtr`]s without padding
/// qualify.
pub unsafe trait Plain: Copy + 'static {}

macro_rules! plain {
    ($($t:ty),*) => { $(
        // SAFETY: every bit pattern is a valid value; no padding.
        unsafe impl Plain for $t {}
    )* };
}
plain!(
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    ()
);

// SAFETY: an array of Plain values has no padding and accepts any bits.
unsafe impl<T: Plain, const N: usize> Plain for [T; N] {}

/// A pointer into an arena, in **user form**: the full 64-bit user virtual
/// address, exactly as clang stores `__arena` pointers in arena memory.
///
/// It is `#[repr(transparent)]` over `u64`, so it can be a field of a
/// `#[repr(C)]` struct that mirrors a BPF-side structure (`struct node
/// __arena *next`) and be read with [`Arena::read`](crate::arena::Arena::read).
/// It carries no lifetime and is never dereferenced directly: reads and
/// writes go through the [`Arena`](crate::arena::Arena), which checks bounds.
///
/// The three forms of an arena address:
/// - user form (this type): `user_vm_start`'s upper half | the low 32 bits;
/// - arena offset: `addr - base` (equals the low 32 bits when the base is
///   4 GiB-aligned, which the crate arranges when it picks the address);
/// - kernel form: the low 32 bits ([`ArenaPtr::kernel32`]), what a BPF
///   register holds after `addr_space_cast(rX, 0, 1)`. A value whose low
///   32 bits are 0 is turned into NULL by the kernel's reverse cast.
#[repr(transparent)]
pub struct ArenaPtr<T> {
    addr: u64,
    _t: PhantomData<fn() -> T>,
}

impl<T> ArenaPtr<T> {
    /// The NULL pointer.
    pub const fn null() -> Self {
        ArenaPtr {
            addr: 0,
            _t: PhantomData,
        }
    }

    /// A pointer from a user address. Not checked: use
    /// [`Arena::ptr_at`](crate::arena::Arena::ptr_at) to build checked ones.
    pub const fn from_addr(addr: u64) -> Self {
        ArenaPtr {
            addr,
            _t: PhantomData,
        }
    }

    /// The user address.
    pub const fn addr(self) -> u64 {
        self.addr
    }

    /// Whether this is NULL.
    pub const fn is_null(self) -> bool {
        self.addr == 0
    }

    /// The 32-bit kernel form (the low 32 bits).
    pub const fn kernel32(self) -> u32 {
        self.addr as u32
    }

    /// The same address as a pointer to `U`.
    pub const fn cast<U>(self) -> ArenaPtr<U> {
        ArenaPtr {
            addr: self.addr,
            _t: PhantomData,
        }
    }

    /// `self + bytes` (wrapping in 64 bits).
    pub const fn byte_add(self, bytes: u64) -> Self {
        ArenaPtr {
            addr: self.addr.wrapping_add(bytes),
            _t: PhantomData,
        }
    }

    /// `self + count * size_of::<T>()`.
    pub const fn add(self, count: u64) -> Self {
        self.byte_add(count.wrapping_mul(std::mem::size_of::<T>() as u64))
    }
}

impl<T> Clone for ArenaPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for ArenaPtr<T> {}
impl<T> PartialEq for ArenaPtr<T> {
    fn eq(&self, o: &Self) -> bool {
        self.addr == o.addr
    }
}
impl<T> Eq for ArenaPtr<T> {}
impl<T> Hash for ArenaPtr<T> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.addr.hash(h)
    }
}
impl<T> Default for ArenaPtr<T> {
    fn default() -> Self {
        Self::null()
    }
}
impl<T> fmt::Debug for ArenaPtr<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ArenaPtr({:#x})", self.addr)
    }
}

// SAFETY: repr(transparent) over u64: any bits are a valid (possibly dangling) address.
unsafe impl<T: 'static> Plain for ArenaPtr<T> {}

/// An arena pointer as BPF stores it in an arena created with
/// [`ArenaFlags::NO_USER_CONV`](crate::arena::ArenaFlags::NO_USER_CONV):
/// 64 bits holding the **kernel form**, the low 32 bits of the address
/// (the kernel never converts pointers to user form there, so what a
/// program stores is what its register held).
///
/// `bpf-arena gen` gives the pointers of such an object this type instead
/// of [`ArenaPtr`], so that a kernel-form value cannot be read as a user
/// address by mistake: turn it into an [`ArenaPtr`] with
/// [`KernelArenaPtr::to_user`] and read through the arena. A value above
/// 2³² (a user-form address, which a program can also store there) is
/// kept as it is by that conversion, exactly as [`Arena::stored`] does.
///
/// [`Arena::stored`]: crate::arena::Arena::stored
#[repr(transparent)]
pub struct KernelArenaPtr<T> {
    raw: u64,
    _t: PhantomData<fn() -> T>,
}

impl<T> KernelArenaPtr<T> {
    /// The NULL pointer.
    pub const fn null() -> Self {
        KernelArenaPtr::from_raw(0)
    }

    /// The pointer as stored: 64 bits, normally the kernel form (< 2³²).
    pub const fn from_raw(raw: u64) -> Self {
        KernelArenaPtr {
            raw,
            _t: PhantomData,
        }
    }

    /// The kernel form of a user-form pointer, to store where BPF expects
    /// one (its low 32 bits; NULL stays NULL).
    pub const fn from_user(ptr: ArenaPtr<T>) -> Self {
        KernelArenaPtr::from_raw(ptr.kernel32() as u64)
    }

    /// The stored 64 bits.
    pub const fn raw(self) -> u64 {
        self.raw
    }

    /// Whether this is NULL (no bits set).
    pub const fn is_null(self) -> bool {
        self.raw == 0
    }

    /// The user-form pointer into `arena`, ready for
    /// [`Arena::read`](crate::arena::Arena::read): the arena's upper 32
    /// address bits with the stored low 32 bits, NULL for 0, and a stored
    /// value above 2³² unchanged ([`Arena::stored`](crate::arena::Arena::stored)).
    #[inline]
    pub fn to_user(self, arena: &crate::arena::Arena) -> ArenaPtr<T> {
        arena.stored(ArenaPtr::from_addr(self.raw))
    }

    /// The same stored value as a pointer to `U`.
    pub const fn cast<U>(self) -> KernelArenaPtr<U> {
        KernelArenaPtr::from_raw(self.raw)
    }
}

impl<T> Clone for KernelArenaPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for KernelArenaPtr<T> {}
impl<T> PartialEq for KernelArenaPtr<T> {
    fn eq(&self, o: &Self) -> bool {
        self.raw == o.raw
    }
}
impl<T> Eq for KernelArenaPtr<T> {}
impl<T> Hash for KernelArenaPtr<T> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.raw.hash(h)
    }
}
impl<T> Default for KernelArenaPtr<T> {
    fn default() -> Self {
        Self::null()
    }
}
impl<T> fmt::Debug for KernelArenaPtr<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KernelArenaPtr({:#x})", self.raw)
    }
}

// SAFETY: repr(transparent) over u64: any bits are a valid stored value.
unsafe impl<T: 'static> Plain for KernelArenaPtr<T> {}

/// A [`Plain`] value of all zero bytes (valid for every `Plain` type: any
/// bit pattern is). The generated types' `Default`.
pub fn zeroed<T: Plain>() -> T {
    // SAFETY: T: Plain accepts any bit pattern, all zeros included.
    unsafe { std::mem::zeroed() }
}

/// The `T` stored at byte `OFF` of `bytes`, unaligned. `OFF +
/// size_of::<T>() <= N` is checked when the call is compiled (a call
/// that breaks it does not build), so this cannot fail. Generated union
/// types read their members with it.
#[inline]
pub fn read_at<T: Plain, const N: usize, const OFF: usize>(bytes: &[u8; N]) -> T {
    const { assert!(OFF <= N && std::mem::size_of::<T>() <= N - OFF) };
    // SAFETY: [OFF, OFF + size_of::<T>()) lies inside `bytes` (checked at
    // compile time above); T: Plain accepts any bits; read_unaligned
    // handles the alignment.
    unsafe { std::ptr::read_unaligned(bytes.as_ptr().add(OFF) as *const T) }
}

/// Stores `value` at byte `OFF` of `bytes`, unaligned; the bounds are
/// checked at compile time as in [`read_at`]. Generated union types write
/// their members with it.
#[inline]
pub fn write_at<T: Plain, const N: usize, const OFF: usize>(bytes: &mut [u8; N], value: T) {
    const { assert!(OFF <= N && std::mem::size_of::<T>() <= N - OFF) };
    bytes[OFF..OFF + std::mem::size_of::<T>()].copy_from_slice(plain_bytes(&value));
}

/// The bytes of a [`Plain`] value (host byte order).
pub fn plain_to_bytes<T: Plain>(v: &T) -> Vec<u8> {
    plain_bytes(v).to_vec()
}

/// The bytes of a [`Plain`] value, borrowed.
pub(crate) fn plain_bytes<T: Plain>(v: &T) -> &[u8] {
    // SAFETY: T: Plain has no padding, so all size_of::<T>() bytes are
    // initialised; the slice borrows `v`.
    unsafe { std::slice::from_raw_parts(v as *const T as *const u8, std::mem::size_of::<T>()) }
}

/// A [`Plain`] value from exactly `size_of::<T>()` bytes; `None` otherwise.
pub fn plain_from_bytes<T: Plain>(b: &[u8]) -> Option<T> {
    if b.len() != std::mem::size_of::<T>() {
        return None;
    }
    // SAFETY: the length matches and T: Plain accepts any bit pattern;
    // read_unaligned handles the slice's alignment.
    Some(unsafe { std::ptr::read_unaligned(b.as_ptr() as *const T) })
}
