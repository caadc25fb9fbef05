//! Maps: creation, freezing, element calls sized by the map's real shape,
//! and the CPU count per-CPU values need.

use super::{
    Cmd, Errno, GetFdByIdAttr, MapCreateAttr, MapElemAttr, MapFreezeAttr, MapInfo, bpf,
    cache_success, fd_u32, obj_info, owned_fd, ptr_u64, slice_ptr,
};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::OnceLock;

/// `BPF_MAP_CREATE` (Linux 3.18; each map type from its own release, arenas
/// 6.9): creates a map and returns its fd.
///
/// Needs `CAP_BPF` (or `CAP_SYS_ADMIN`) for most map types, arenas included
/// (`EPERM` otherwise). A map type, flag or attribute this kernel does not
/// know, or sizes the type does not take, are `EINVAL`; sizes past the
/// kernel's limits `E2BIG`; memory the kernel cannot allocate `ENOMEM`.
/// See [the kernel's arena rules](crate::guide::kernel) for what an
/// arena's creation checks and answers.
pub fn map_create(attr: &MapCreateAttr) -> Result<OwnedFd, Errno> {
    let mut a = *attr;
    owned_fd(bpf(Cmd::MapCreate, &mut a)?)
}

/// `BPF_MAP_FREEZE` (Linux 5.2): makes the map read-only for system calls and
/// new writable mappings (`mmap(PROT_WRITE)` then fails with `EPERM`).
/// A map with a live writable mapping answers `EBUSY`, and so does a map
/// already frozen; an fd without write access `EPERM`; kernels before 5.2
/// `EINVAL`.
pub fn map_freeze(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    let mut a = MapFreezeAttr { map_fd: fd_u32(fd) };
    bpf(Cmd::MapFreeze, &mut a).map(drop)
}

/// The key and value sizes of a live map, as the kernel reports them.
///
/// Built only by [`MapShape::query`], so the element calls below can hand the
/// kernel buffers that are never shorter than what it will write. The borrow
/// keeps the fd open for as long as the shape is used.
#[derive(Clone, Copy, Debug)]
pub struct MapShape<'fd> {
    fd: BorrowedFd<'fd>,
    info: MapInfo,
    value_bytes: usize,
}

/// Map types whose syscall-side values hold one slot per possible CPU.
const PERCPU_MAP_TYPES: [u32; 4] = [5, 6, 10, 21];

/// Bytes a lookup of a map with `info` writes. For a per-CPU map that needs
/// the number of possible CPUs; when it cannot be read, the map cannot be
/// used safely (see [`possible_cpus`]) and this is that error.
fn value_bytes(info: &MapInfo) -> Result<usize, Errno> {
    let v = info.value_size as usize;
    if PERCPU_MAP_TYPES.contains(&info.map_type) {
        v.next_multiple_of(8)
            .checked_mul(possible_cpus()?)
            .ok_or(Errno::E2BIG)
    } else {
        Ok(v)
    }
}

/// A map fd owned together with its shape, queried once: element calls on
/// it need no extra system call and can never be handed a wrong shape.
#[derive(Debug)]
pub struct OwnedMap {
    fd: OwnedFd,
    info: MapInfo,
    value_bytes: usize,
}

impl OwnedMap {
    /// Takes ownership of `fd` and asks the kernel for its shape
    /// (`BPF_OBJ_GET_INFO_BY_FD`, Linux 4.13). An fd that is not a BPF
    /// object answers `EINVAL`, a closed one `EBADF`. For a per-CPU map,
    /// an unreadable CPU count is an error (see [`possible_cpus`]).
    pub fn new(fd: OwnedFd) -> Result<OwnedMap, Errno> {
        let info = map_info(fd.as_fd())?;
        let value_bytes = value_bytes(&info)?;
        Ok(OwnedMap {
            fd,
            info,
            value_bytes,
        })
    }

    /// The element-call view (no system call).
    pub fn shape(&self) -> MapShape<'_> {
        MapShape {
            fd: self.fd.as_fd(),
            info: self.info,
            value_bytes: self.value_bytes,
        }
    }

    /// The fd.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The kernel's `bpf_map_info` from when it was opened.
    pub fn info(&self) -> &MapInfo {
        &self.info
    }
}

impl<'fd> MapShape<'fd> {
    /// Asks the kernel (`BPF_OBJ_GET_INFO_BY_FD`, Linux 4.13) for the map's
    /// shape. An fd that is not a BPF object answers `EINVAL`, a closed one
    /// `EBADF`. For a per-CPU map, an unreadable CPU count is an error (see
    /// [`possible_cpus`]).
    pub fn query(fd: BorrowedFd<'fd>) -> Result<Self, Errno> {
        let info = map_info(fd)?;
        Ok(MapShape {
            fd,
            info,
            value_bytes: value_bytes(&info)?,
        })
    }

    /// The kernel's `bpf_map_info` for this map.
    pub fn info(&self) -> &MapInfo {
        &self.info
    }

    /// Bytes a lookup writes (value_size, or one 8-byte-aligned slot per
    /// possible CPU for per-CPU maps).
    pub fn value_bytes(&self) -> usize {
        self.value_bytes
    }

    fn check(&self, key: &[u8], value_len: usize) -> Result<(), Errno> {
        if key.len() != self.info.key_size as usize || value_len < self.value_bytes {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    /// `BPF_MAP_LOOKUP_ELEM` (Linux 3.18). `EINVAL` without a syscall when
    /// `key` is not `key_size` bytes or `value` is shorter than
    /// [`MapShape::value_bytes`]. An arena answers `EINVAL`; a missing key
    /// `ENOENT`; a flag the map type does not take `EINVAL`; a map created
    /// write-only for user space `EPERM`.
    pub fn lookup(&self, key: &[u8], value: &mut [u8], flags: u64) -> Result<(), Errno> {
        self.check(key, value.len())?;
        let mut a = MapElemAttr {
            map_fd: fd_u32(self.fd),
            key: slice_ptr(key),
            value: ptr_u64(value.as_mut_ptr()),
            flags,
            ..Default::default()
        };
        bpf(Cmd::MapLookupElem, &mut a).map(drop)
    }

    /// `BPF_MAP_UPDATE_ELEM` (Linux 3.18), sizes checked as for
    /// [`MapShape::lookup`]. The kernel answers `EEXIST` (`BPF_NOEXIST`, 1)
    /// or `ENOENT` (`BPF_EXIST`, 2) for the flag's condition, `E2BIG` for a
    /// full hash map, `EPERM` on a frozen or read-only map, `EINVAL` for an
    /// unknown flag, `EOPNOTSUPP` on an arena.
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), Errno> {
        self.check(key, value.len())?;
        let mut a = MapElemAttr {
            map_fd: fd_u32(self.fd),
            key: slice_ptr(key),
            value: ptr_u64(value.as_ptr()),
            flags,
            ..Default::default()
        };
        bpf(Cmd::MapUpdateElem, &mut a).map(drop)
    }

    /// `BPF_MAP_DELETE_ELEM` (Linux 3.18), `EINVAL` without a syscall for a
    /// key that is not `key_size` bytes. The kernel answers `ENOENT` for a
    /// missing key, `EINVAL` on an array map, `EPERM` on a frozen or
    /// read-only map, `EOPNOTSUPP` on an arena.
    pub fn delete(&self, key: &[u8]) -> Result<(), Errno> {
        if key.len() != self.info.key_size as usize {
            return Err(Errno::EINVAL);
        }
        let mut a = MapElemAttr {
            map_fd: fd_u32(self.fd),
            key: slice_ptr(key),
            ..Default::default()
        };
        bpf(Cmd::MapDeleteElem, &mut a).map(drop)
    }

    /// `BPF_MAP_GET_NEXT_KEY` (Linux 3.18; `None` for the first key 4.12):
    /// the key after `key` (the first key when `key` is `None`), `EINVAL`
    /// without a syscall for keys that are not `key_size` bytes. An arena
    /// answers `EOPNOTSUPP`; the last key `ENOENT`.
    pub fn next_key(&self, key: Option<&[u8]>, next: &mut [u8]) -> Result<(), Errno> {
        let ks = self.info.key_size as usize;
        if next.len() != ks || key.is_some_and(|k| k.len() != ks) {
            return Err(Errno::EINVAL);
        }
        let mut a = MapElemAttr {
            map_fd: fd_u32(self.fd),
            key: key.map_or(0, slice_ptr),
            value: ptr_u64(next.as_mut_ptr()),
            ..Default::default()
        };
        bpf(Cmd::MapGetNextKey, &mut a).map(drop)
    }
}

/// The number of possible CPUs, from `/sys/devices/system/cpu/possible`
/// (the highest CPU number listed, plus one): the number of value slots the
/// kernel reads and writes for a per-CPU map element.
///
/// Never guessed: an unreadable, empty or malformed file (common in
/// containers that hide `/sys`) is an error (`ENOENT`, `EACCES`, … as the
/// open answered, or `EINVAL` for contents that are not a CPU list), and a
/// failure is not cached, so a later call can succeed. A success is cached
/// for the process.
pub fn possible_cpus() -> Result<usize, Errno> {
    static N: OnceLock<usize> = OnceLock::new();
    cache_success(&N, || {
        let text = std::fs::read_to_string("/sys/devices/system/cpu/possible")
            .map_err(|e| Errno::from_io(&e))?;
        parse_cpu_list(&text).ok_or(Errno::EINVAL)
    })
    .copied()
}

/// `0-3,8,10-11` → 12 (the highest listed CPU plus one); `None` for an empty
/// or malformed list.
fn parse_cpu_list(text: &str) -> Option<usize> {
    let mut n = 0usize;
    for part in text.trim().split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b) = (a.parse::<usize>().ok()?, b.parse::<usize>().ok()?);
        if a > b || b >= 1 << 20 {
            return None;
        }
        n = n.max(b + 1);
    }
    (n > 0).then_some(n)
}

/// `BPF_MAP_GET_FD_BY_ID` (Linux 4.13): opens a map by its kernel id. Needs
/// `CAP_SYS_ADMIN` (`EPERM` otherwise); an id no map has (any more) is
/// `ENOENT`.
pub fn map_get_fd_by_id(id: u32) -> Result<OwnedFd, Errno> {
    let mut a = GetFdByIdAttr {
        id,
        ..Default::default()
    };
    owned_fd(bpf(Cmd::MapGetFdById, &mut a)?)
}

/// `BPF_OBJ_GET_INFO_BY_FD` on a map (Linux 4.13; fields a kernel does not
/// know stay 0). For an arena, `map_extra` is the creation-time value: an
/// address the kernel chose at the first `mmap` is never reported. An fd
/// that is not a BPF object answers `EINVAL`, a closed one `EBADF`.
pub fn map_info(fd: BorrowedFd<'_>) -> Result<MapInfo, Errno> {
    obj_info(fd)
}
