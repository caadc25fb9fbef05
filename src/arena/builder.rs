//! [`ArenaBuilder`]: what an arena will be, the checks made on it in user
//! space, and `BPF_MAP_CREATE`.

use super::place::{map_at, with_free_slot};
use super::{
    Arena, ArenaFlags, MAP_TYPE_ARENA, MIN_ADDRESS, USER_ADDRESS_LIMIT, arena_label, max_pages,
    page_size, pages_len,
};
use crate::error::{Error, Result};
use crate::sys::{self, Cmd, Errno, MapCreateAttr};

/// Describes an arena to create. See the [module docs](super).
///
/// The setters take and return `&mut Self`, so a description can be built
/// in one chain or step by step; [`ArenaBuilder::create`] takes `&self` and
/// can be called again to create another arena like the first.
///
/// ```no_run
/// use bpf_arena::arena::{ArenaBuilder, ArenaFlags};
/// # fn main() -> bpf_arena::Result<()> {
/// # let agreed: Option<u64> = None;
/// let mut b = ArenaBuilder::new(64);
/// b.name("shared").flags(ArenaFlags::SEGV_ON_FAULT);
/// if let Some(addr) = agreed {
///     b.address(addr);
/// }
/// let arena = b.create()?;
/// # drop(arena);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ArenaBuilder {
    pages: u32,
    flags: ArenaFlags,
    address: Option<u64>,
    name: String,
}

impl ArenaBuilder {
    /// An arena of `pages` pages (1..=[`max_pages`]), no flags, crate-chosen
    /// address, unnamed. Nothing is checked until
    /// [`validate`](ArenaBuilder::validate) or
    /// [`create`](ArenaBuilder::create).
    pub fn new(pages: u32) -> Self {
        ArenaBuilder {
            pages,
            flags: ArenaFlags::empty(),
            address: None,
            name: String::new(),
        }
    }

    /// Creation flags (replacing any set before).
    pub fn flags(&mut self, flags: ArenaFlags) -> &mut Self {
        self.flags = flags;
        self
    }

    /// The user address to map the arena at (becomes `map_extra`). Without
    /// one, the crate picks a free 4 GiB-aligned address.
    pub fn address(&mut self, addr: u64) -> &mut Self {
        self.address = Some(addr);
        self
    }

    /// The map name (15 bytes at most: ASCII alphanumerics, `_`, `.`;
    /// checked by [`validate`](ArenaBuilder::validate)).
    pub fn name(&mut self, name: &str) -> &mut Self {
        self.name = name.to_string();
        self
    }

    /// Checks everything the kernel checks at creation (and the address
    /// rules it does not), without any system call.
    ///
    /// Errors: [`Error::Invalid`] for a page count outside
    /// 1..=[`max_pages`] (the kernel would answer `EINVAL` for 0, `E2BIG`
    /// above), flags other than [`ArenaFlags`]' (`EINVAL`), a bad name
    /// (`EINVAL`), or an address [`validate_address`] refuses.
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

    /// Creates the map (`BPF_MAP_CREATE`) and maps it (`mmap`,
    /// `MAP_FIXED_NOREPLACE`).
    ///
    /// Needs Linux 6.9 (the arena map type) and `CAP_BPF` or
    /// `CAP_SYS_ADMIN`. Without an address, the arena's 4 GiB-aligned slot
    /// is reserved first (`mmap` of `PROT_NONE` memory, released before
    /// this returns).
    ///
    /// Errors:
    /// - [`Error::Invalid`]: anything [`ArenaBuilder::validate`] rejects,
    ///   before any system call;
    /// - [`Error::NotSupported`] naming Linux 6.9: the kernel has no arena
    ///   map type (it answers `EINVAL`, or `EPERM` first without
    ///   privileges);
    /// - [`Error::Bpf`] with the kernel's answer to `BPF_MAP_CREATE`:
    ///   `EPERM` without `CAP_BPF`/`CAP_SYS_ADMIN` (or with unprivileged BPF
    ///   disabled and no `CAP_BPF`), `EOPNOTSUPP` when this architecture's
    ///   JIT has no arena support, `ENOMEM` when the kernel cannot reserve
    ///   the 4 GiB of kernel address space every arena gets, `EINVAL` for
    ///   anything else it refuses;
    /// - [`Error::AddressInUse`]: the given address range is already mapped
    ///   in this process (nothing is replaced);
    /// - [`Error::Syscall`] (`mmap`): no room for the arena in the address
    ///   space (`ENOMEM`, e.g. under `ulimit -v`), or another `mmap` error.
    ///
    /// Nothing is left behind on error: the map fd is closed and every
    /// reservation released.
    pub fn create(&self) -> Result<Arena> {
        self.validate()?;
        let len = pages_len(self.pages);
        let what = || arena_label(&self.name);
        let create = |map_extra: u64| {
            let attr = MapCreateAttr {
                map_type: MAP_TYPE_ARENA,
                max_entries: self.pages,
                map_flags: self.flags.map_flags(),
                map_name: sys::object_name(&self.name).unwrap_or_default(),
                map_extra,
                ..Default::default()
            };
            sys::map_create(&attr).map_err(|e| create_error(what(), e))
        };
        let new_arena =
            |fd, base| Arena::new(fd, base, self.pages, self.flags, self.name.clone(), base);
        if let Some(addr) = self.address {
            let fd = create(addr)?;
            map_at(&fd, addr, len, &what())?;
            return Ok(new_arena(fd, addr));
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
            Ok((fd, slot)) => Ok(new_arena(fd, slot)),
            Err(e) => Err(Error::Syscall {
                call: "mmap",
                what: what(),
                errno: e,
            }),
        }
    }
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
                map_flags: ArenaFlags::empty().map_flags(),
                ..Default::default()
            };
            !matches!(sys::map_create(&plain), Err(Errno::EINVAL))
        }
        Err(_) => true,
    }
}

/// The page-count rule: 1..=[`max_pages`].
fn validate_pages(pages: u32) -> Result<()> {
    if pages == 0 || pages > max_pages() {
        return Err(Error::invalid(
            "arena size",
            format!(
                "{pages} pages; an arena has 1..={} pages of {} bytes (the kernel answers {})",
                max_pages(),
                sys::page_size(),
                if pages == 0 { "EINVAL" } else { "E2BIG" }
            ),
        ));
    }
    Ok(())
}

/// The address rules: page-aligned, at or above [`MIN_ADDRESS`], inside
/// the user half ([`USER_ADDRESS_LIMIT`]), not crossing a 4 GiB boundary.
/// No system call.
///
/// The kernel checks alignment and the 4 GiB rule at creation (`EINVAL`,
/// `ERANGE`) but accepts kernel-half addresses and then fails `mmap` with
/// `EFAULT` and a kernel warning. Errors: [`Error::Invalid`] naming the
/// rule broken.
pub fn validate_address(addr: u64, pages: u32) -> Result<()> {
    let page = page_size();
    let len = pages_len(pages);
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
