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
    /// Takes ownership of `fd`, checks that it is a BPF map, and asks the
    /// kernel for its shape (`BPF_OBJ_GET_INFO_BY_FD`, Linux 4.13).
    ///
    /// `BPF_OBJ_GET_INFO_BY_FD` answers for programs, BTF objects and
    /// links too, with their own info structs, so the fd's kind is taken
    /// from `/proc/self/fdinfo/FD` ([`fd_kind`]): it must be a map whose
    /// `map_type` and `map_id` there are the ones the info gives. Another
    /// BPF object is `EINVAL` (what the kernel answers a map command on
    /// such an fd), and so is an fd that is not a BPF object at all (from
    /// `BPF_OBJ_GET_INFO_BY_FD`); a closed fd is `EBADF`. Needs procfs:
    /// an unreadable `fdinfo` file is the errno of its `open` or `read`
    /// (`ENOENT` without `/proc`). For a per-CPU map, an unreadable CPU
    /// count is an error (see [`possible_cpus`]).
    pub fn new(fd: OwnedFd) -> Result<OwnedMap, Errno> {
        let map = OwnedMap::unchecked(fd)?;
        match fd_kind(map.fd())? {
            FdKind::Map { map_type, id }
                if map_type == map.info.map_type && id.is_none_or(|id| id == map.info.id) =>
            {
                Ok(map)
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// [`OwnedMap::new`] without the `fdinfo` check, for an fd that
    /// [`map_create`] has just returned (a map for certain, and no need
    /// for procfs).
    pub(crate) fn created(fd: OwnedFd) -> Result<OwnedMap, Errno> {
        OwnedMap::unchecked(fd)
    }

    fn unchecked(fd: OwnedFd) -> Result<OwnedMap, Errno> {
        let info = map_info(fd.as_fd())?;
        let value_bytes = value_bytes(&info)?;
        Ok(OwnedMap {
            fd,
            info,
            value_bytes,
        })
    }

    /// Another `OwnedMap` for the same map, through a duplicate of the fd
    /// (`fcntl(F_DUPFD_CLOEXEC)`; no fd left is `EMFILE`), with the shape
    /// already known: no other system call, no procfs.
    pub fn try_clone(&self) -> Result<OwnedMap, Errno> {
        let fd = self.fd.try_clone().map_err(|e| Errno::from_io(&e))?;
        Ok(OwnedMap {
            fd,
            info: self.info,
            value_bytes: self.value_bytes,
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

/// What kind of object an fd is, as `/proc/self/fdinfo` shows it ([`fd_kind`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdKind {
    /// A BPF map (a `map_type:` line): its type, and its id where the
    /// kernel shows one (`map_id:`).
    Map {
        /// `enum bpf_map_type`.
        map_type: u32,
        /// The map's id.
        id: Option<u32>,
    },
    /// A BPF program (`prog_type:`), with its id (`prog_id:`).
    Program {
        /// The program's id.
        id: Option<u32>,
    },
    /// A loaded BTF object (`btf_id:`).
    Btf {
        /// The BTF object's id.
        id: Option<u32>,
    },
    /// A BPF link (`link_type:`), with its id (`link_id:`).
    Link {
        /// The link's id.
        id: Option<u32>,
    },
    /// None of those: not a BPF object, or one this crate does not name
    /// (a BPF token, say).
    Other,
}

impl std::fmt::Display for FdKind {
    /// `a BPF map (id 3)`, `a BPF program (id 12)`, `a BTF object`, …
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (what, id) = match *self {
            FdKind::Map { id, .. } => ("a BPF map", id),
            FdKind::Program { id } => ("a BPF program", id),
            FdKind::Btf { id } => ("a BTF object", id),
            FdKind::Link { id } => ("a BPF link", id),
            FdKind::Other => return f.write_str("not a BPF map, program, BTF object or link"),
        };
        f.write_str(what)?;
        match id {
            Some(id) => write!(f, " (id {id})"),
            None => Ok(()),
        }
    }
}

/// What `fd` is, from the kernel's `/proc/self/fdinfo/FD` (procfs):
/// every BPF map's there has a `map_type:` line, a program's
/// `prog_type:`, a BTF object's `btf_id:`, a link's `link_type:`. The
/// file's `open` or `read` errno when it cannot be read (`ENOENT`
/// without procfs, or for an fd number that is not open).
pub fn fd_kind(fd: BorrowedFd<'_>) -> Result<FdKind, Errno> {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let path = format!("/proc/self/fdinfo/{}", fd.as_raw_fd());
    let file = std::fs::File::open(path).map_err(|e| Errno::from_io(&e))?;
    // The lines that say what the object is come first, after a few
    // generic ones (pos, flags, mnt_id, ino); a link's can go on for
    // long (one line per attached address), which is not needed.
    let mut text = Vec::new();
    file.take(64 * 1024)
        .read_to_end(&mut text)
        .map_err(|e| Errno::from_io(&e))?;
    Ok(parse_fdinfo(&String::from_utf8_lossy(&text)))
}

/// The kind an fdinfo text shows (see [`fd_kind`]).
fn parse_fdinfo(text: &str) -> FdKind {
    let field = |key: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k == key).then(|| v.trim())
        })
    };
    let number = |key: &str| field(key).and_then(|v| v.parse::<u32>().ok());
    if let Some(map_type) = number("map_type") {
        FdKind::Map {
            map_type,
            id: number("map_id"),
        }
    } else if field("prog_type").is_some() {
        FdKind::Program {
            id: number("prog_id"),
        }
    } else if field("link_type").is_some() {
        FdKind::Link {
            id: number("link_id"),
        }
    } else if let Some(id) = field("btf_id") {
        FdKind::Btf {
            id: id.parse().ok(),
        }
    } else {
        FdKind::Other
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fdinfo_kinds() {
        let map = "pos:\t0\nflags:\t02000002\nmnt_id:\t16\nino:\t1057\nmap_type:\t27\nkey_size:\t0\nvalue_size:\t0\nmax_entries:\t16384\nmap_flags:\t0x0\nmap_extra:\t0x0\nmemlock:\t0\nmap_id:\t42\nfrozen:\t0\n";
        assert_eq!(
            parse_fdinfo(map),
            FdKind::Map {
                map_type: 27,
                id: Some(42)
            }
        );
        let old_map = "pos:\t0\nflags:\t02000002\nmap_type:\t2\nkey_size:\t4\n";
        assert_eq!(
            parse_fdinfo(old_map),
            FdKind::Map {
                map_type: 2,
                id: None
            },
            "kernels without map_id in fdinfo"
        );
        let prog = "pos:\t0\nflags:\t02000002\nmnt_id:\t16\nino:\t1057\nprog_type:\t31\nprog_jited:\t1\nprog_tag:\t0123456789abcdef\nmemlock:\t4096\nprog_id:\t7\nrun_time_ns:\t0\nrun_cnt:\t0\n";
        assert_eq!(parse_fdinfo(prog), FdKind::Program { id: Some(7) });
        let btf = "pos:\t0\nflags:\t02000002\nmnt_id:\t16\nino:\t1057\nbtf_id:\t3\n";
        assert_eq!(parse_fdinfo(btf), FdKind::Btf { id: Some(3) });
        let link = "pos:\t0\nflags:\t02000000\nlink_type:\ttracing\nlink_id:\t5\nprog_tag:\t0123456789abcdef\nprog_id:\t7\nattach_type:\t26\ntarget_obj_id:\t1\ntarget_btf_id:\t9\n";
        assert_eq!(parse_fdinfo(link), FdKind::Link { id: Some(5) });
        // A map's owner program type is not a program.
        let prog_array = "map_type:\t3\nmap_id:\t8\nowner_prog_type:\t1\nowner_jited:\t1\n";
        assert_eq!(
            parse_fdinfo(prog_array),
            FdKind::Map {
                map_type: 3,
                id: Some(8)
            }
        );
        assert_eq!(
            parse_fdinfo("pos:\t0\nflags:\t0100000\nmnt_id:\t20\nino:\t12\n"),
            FdKind::Other
        );
        assert_eq!(parse_fdinfo(""), FdKind::Other);
        assert_eq!(
            parse_fdinfo("map_type:\tsoon\n"),
            FdKind::Other,
            "a map_type that is not a number is not trusted"
        );
    }

    #[test]
    fn regular_files_are_not_bpf_objects() {
        let f = std::fs::File::open("/proc/self/exe").unwrap();
        assert_eq!(fd_kind(f.as_fd()), Ok(FdKind::Other));
        assert_eq!(OwnedMap::new(f.into()).unwrap_err(), Errno::EINVAL);
    }

    #[test]
    fn kinds_read_as_text() {
        assert_eq!(
            FdKind::Program { id: Some(7) }.to_string(),
            "a BPF program (id 7)"
        );
        assert_eq!(FdKind::Btf { id: None }.to_string(), "a BTF object");
    }
}
