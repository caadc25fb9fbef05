//! The [`Arena`] handle: what it owns, adopting an existing arena,
//! pinning, its geometry and the three forms of an arena address.

use super::pages::PageProgs;
use super::place::{map_at, with_free_slot};
use super::{
    ArenaFlags, ArenaPtr, GlobalsClaim, MAP_TYPE_ARENA, arena_label, pages_len, validate_address,
};
use crate::error::{Error, Result};
use crate::sys::{self, Cmd};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

/// A live arena: the map fd and its mapping.
///
/// The handle owns three things, released when it is dropped, in this
/// order: the built-in page programs it loaded for
/// [`alloc_pages`](Arena::alloc_pages) and friends (each holds a reference
/// to the map), the mapping (unmapped), and the map fd (closed). The kernel
/// frees the arena's pages once no mapping, fd, pin or program holds the
/// map any more. Handles are not `Clone`: adopting the same map again
/// ([`Arena::from_fd`] on a duplicate fd) needs a mapping of its own, which
/// one process cannot have twice.
pub struct Arena {
    /// The map fd, closed last.
    pub(super) fd: OwnedFd,
    /// The user address of page 0, where this handle mapped the arena.
    pub(super) base: u64,
    /// Size in bytes (kept: the access checks are on the hot path).
    pub(super) len: u64,
    pub(super) pages: u32,
    pub(super) flags: ArenaFlags,
    pub(super) name: String,
    pub(super) map_extra: u64,
    /// The page-management programs this handle loaded, owned by it alone
    /// and used only by `pages` (see [`PageProgs`]).
    pub(super) progs: Mutex<PageProgs>,
    /// Whether [`Arena::guard_null_page`] has taken (or is taking) the
    /// NULL page; set and reset only by `pages`.
    pub(super) null_guarded: AtomicBool,
    /// `len`, or 0 for a `SEGV_ON_FAULT` arena: the bound of the direct
    /// (in-process) access path, so the hot path needs no flag test.
    pub(super) direct_len: u64,
    /// The `__arena` globals objects loaded on this arena placed in it.
    pub(super) globals: Mutex<Vec<GlobalsClaim>>,
}

impl std::fmt::Debug for Arena {
    /// What the arena is (name, fd, base address in hex, pages, flags), not
    /// the handle's bookkeeping.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Arena")
            .field("name", &self.name)
            .field("fd", &self.fd.as_raw_fd())
            .field("base", &format_args!("{:#x}", self.base))
            .field("pages", &self.pages)
            .field("flags", &self.flags)
            .finish_non_exhaustive()
    }
}

impl Arena {
    /// The handle for an arena `fd` just mapped at `base`.
    pub(super) fn new(
        fd: OwnedFd,
        base: u64,
        pages: u32,
        flags: ArenaFlags,
        name: String,
        map_extra: u64,
    ) -> Arena {
        let len = pages_len(pages);
        Arena {
            fd,
            base,
            len,
            pages,
            flags,
            name,
            map_extra,
            progs: Mutex::new(PageProgs::default()),
            globals: Mutex::new(Vec::new()),
            null_guarded: AtomicBool::new(false),
            direct_len: if flags.contains(ArenaFlags::SEGV_ON_FAULT) {
                0
            } else {
                len
            },
        }
    }

    /// Adopts an existing arena fd (from another process, a pin, or a
    /// loader) and maps it at its agreed address (`map_info.map_extra`) with
    /// `MAP_FIXED_NOREPLACE` (`BPF_OBJ_GET_INFO_BY_FD`, then `mmap`).
    ///
    /// An arena created with `map_extra` = 0 has no address the kernel will
    /// report; if nobody has mapped it yet, it is mapped at a crate-chosen
    /// 4 GiB-aligned slot. Needs Linux 6.9 (no arena exists before) and no
    /// privileges beyond holding the fd.
    ///
    /// Errors (`fd` is closed on every one):
    /// - [`Error::WrongObject`]: `fd` is not a BPF map (what it is comes
    ///   from `/proc/self/fdinfo`: [`Error::Syscall`] without procfs), a map
    ///   of another type; or an arena created with `map_extra` = 0 that is
    ///   already mapped somewhere (the kernel answers `EINVAL` to a mapping
    ///   anywhere else, and does not say where);
    /// - [`Error::Invalid`]: an agreed address [`validate_address`] refuses
    ///   (the kernel accepts kernel-half addresses at creation);
    /// - [`Error::AddressInUse`]: the agreed range is already mapped in this
    ///   process — also by another handle on the same arena (one mapping
    ///   per process);
    /// - [`Error::Syscall`] (`mmap`): `EACCES` for a read-only fd
    ///   (`BPF_F_RDONLY`: such an fd cannot map an arena at all), `EPERM`
    ///   for a frozen arena (no writable mapping), `ENOMEM` without room.
    pub fn from_fd(fd: OwnedFd) -> Result<Arena> {
        // What the fd is, before its info is read as a map's.
        match sys::fd_kind(fd.as_fd()) {
            Ok(sys::FdKind::Map { .. }) => {}
            Ok(kind) => {
                return Err(Error::WrongObject {
                    what: format!("arena fd {}", fd.as_raw_fd()),
                    reason: match kind {
                        sys::FdKind::Other => "is not a BPF object".to_string(),
                        k => format!("is {k}, not a BPF map"),
                    },
                });
            }
            Err(errno) => {
                return Err(Error::Syscall {
                    call: "open /proc/self/fdinfo",
                    what: format!("arena fd {}", fd.as_raw_fd()),
                    errno,
                });
            }
        }
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
        // An arena map always has BPF_F_MMAPABLE (the kernel refuses one
        // without it); take it off.
        let flags = ArenaFlags::from_map_flags(info.map_flags).unwrap_or_default();
        let len = pages_len(info.max_entries);
        let pages = info.max_entries;
        if info.map_extra != 0 {
            validate_address(info.map_extra, pages)?;
            map_at(&fd, info.map_extra, len, &what)?;
            let base = info.map_extra;
            return Ok(Arena::new(fd, base, pages, flags, name, base));
        }
        let placed = with_free_slot(len, |r| {
            let slot = r.slot;
            Ok(r.map_into_slot(&fd, len).map(|()| slot))
        })?;
        match placed {
            Ok(base) => Ok(Arena::new(fd, base, pages, flags, name, 0)),
            Err(sys::Errno::EINVAL) => Err(Error::WrongObject {
                what,
                reason: "created without an address (map_extra 0) and already mapped elsewhere at an address the kernel does not report (mmap: EINVAL); create shared arenas with an address".to_string(),
            }),
            Err(e) => Err(Error::Syscall {
                call: "mmap",
                what,
                errno: e,
            }),
        }
    }

    /// Opens a pinned arena (`BPF_OBJ_GET`, Linux 4.4) and adopts it
    /// ([`Arena::from_fd`], whose errors apply too).
    ///
    /// Errors: [`Error::Invalid`] for a path with a NUL byte;
    /// [`Error::Bpf`] (`BPF_OBJ_GET`) with `ENOENT` when nothing is pinned
    /// there, `EACCES` when the file may not be opened or is not a pinned
    /// BPF object (a file outside bpffs).
    pub fn open_pinned(path: &Path) -> Result<Arena> {
        let c = sys::path_cstring(path).ok_or_else(|| Error::nul_in_path(path))?;
        let fd = sys::obj_get(&c, 0)
            .map_err(|e| Error::bpf(Cmd::ObjGet, path.display().to_string(), e))?;
        Arena::from_fd(fd)
    }

    /// Pins the arena at `path` in a bpffs mount (`BPF_OBJ_PIN`, Linux 4.4),
    /// so it outlives this process; [`Arena::open_pinned`] adopts it again.
    ///
    /// Errors: [`Error::Invalid`] for a path with a NUL byte;
    /// [`Error::Bpf`] (`BPF_OBJ_PIN`) with `EPERM` when the directory is not
    /// in a bpffs mount, `EEXIST` when `path` exists, `ENOENT` when its
    /// directory does not, `EACCES` without write permission there.
    pub fn pin(&self, path: &Path) -> Result<()> {
        let c = sys::path_cstring(path).ok_or_else(|| Error::nul_in_path(path))?;
        sys::obj_pin(self.fd.as_fd(), &c).map_err(|e| {
            Error::bpf(
                Cmd::ObjPin,
                format!("{} at {}", self.label(), path.display()),
                e,
            )
        })
    }

    /// How errors name this arena.
    pub(super) fn label(&self) -> String {
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

    /// The size in bytes (`pages() * page size`; never 0).
    #[inline]
    #[allow(
        clippy::len_without_is_empty,
        reason = "an arena always has at least one page"
    )]
    pub fn len(&self) -> u64 {
        self.len
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
}

impl Drop for Arena {
    fn drop(&mut self) {
        // Programs first (they hold the map), then the mapping, then the fd
        // (a field, dropped after this).
        self.unload_page_progs();
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
