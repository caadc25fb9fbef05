//! The raw kernel interface: the only code that calls `bpf(2)`, and the
//! arena's `mmap`/`munmap`.
//!
//! Everything here is a thin, typed wrapper: one `#[repr(C)]` attr struct per
//! command ([`attr`]), one private choke point for the syscall, [`OwnedFd`] for every fd the
//! kernel returns (never fd 0), and [`Errno`] for every failure. Higher layers
//! add meaning (which map, which program); this layer adds none.
//!
//! All `bpf(2)` commands here exist since Linux 4.x except where a function
//! says otherwise; arena maps need Linux 6.9.
//!
//! # Soundness
//! No safe function here can cause undefined behaviour or a fatal signal,
//! whatever its arguments. The rule, and how it is kept:
//!
//! - Safe wrappers take Rust data — slices, `&CStr`, [`BorrowedFd`] — never
//!   raw pointers or addresses, and `sys` itself turns them into the
//!   attr's pointer fields, with sizes the kernel honours. The attr structs
//!   are public as documented data, but only `sys` passes them to the
//!   kernel, and the one that is passed in whole ([`MapCreateAttr`]) has no
//!   pointer fields.
//! - Where the kernel writes into a caller's buffer, the size it is told is
//!   never larger than the buffer: lengths are clamped to `u32`, element
//!   calls go through [`MapShape`] (the map's real key and value sizes,
//!   per-CPU maps sized by [`possible_cpus`], which refuses to guess), and
//!   an empty test-run output buffer is passed as no buffer, because a size
//!   of 0 there means "unlimited" to the kernel.
//! - Functions whose safety depends on the caller are `unsafe fn` with a
//!   `# Safety` section ([`mmap_shared_fixed`], [`munmap`],
//!   [`SharedMapping::map`]); helpers that are only sound for particular
//!   files are not public. The mapping functions that are safe never
//!   replace a mapping (`MAP_FIXED_NOREPLACE` or no address at all).
//! - Shared memory (mapped map values) is only copied in and out with
//!   atomic accesses, never lent out as `&[u8]`.
//! - `Send`/`Sync`: [`SharedMapping`] is both (`unsafe impl`): it owns its
//!   mapping until drop and every access is an atomic copy, so threads can
//!   share it without data races. The crate-private read-only mapping of
//!   kernel BTF is both because that memory never changes. Everything else
//!   here is `Send`/`Sync` only where the compiler derives it.
//!
//! ```compile_fail
//! // Mapping an arbitrary file and borrowing its bytes is not public: a
//! // truncated or rewritten file would fault or change under `&[u8]`.
//! let f = std::fs::File::open("/etc/hostname").unwrap();
//! let _ = bpf_arena::sys::map_file_readonly(&f);
//! ```
//!
//! ```compile_fail
//! // Mapping an arbitrary fd needs the caller's promise that it is backed.
//! let f = std::fs::File::open("/dev/null").unwrap();
//! use std::os::fd::AsFd;
//! let _ = bpf_arena::sys::SharedMapping::map(f.as_fd(), 4096, false);
//! ```

pub mod attr;
mod errno;
pub(crate) mod shared;

pub use attr::*;
pub use errno::Errno;

use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;

/// `BPF_PROG_LOAD` is retried this many times when the kernel answers `EAGAIN`.
const EAGAIN_RETRIES: usize = 5;

/// Issues `bpf(cmd, attr, sizeof(attr))`: the single choke point for `bpf(2)`.
#[inline]
fn bpf<A: Attr>(cmd: Cmd, attr: &mut A) -> Result<i64, Errno> {
    // SAFETY: `A: Attr` guarantees a fully initialised repr(C) struct whose
    // pointer fields are 0 or point to memory the calling sys function keeps
    // alive and correctly sized for the duration of this call. The kernel
    // reads (and for some commands writes) at most size_of::<A>() bytes.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_long,
            attr as *mut A as *mut libc::c_void,
            std::mem::size_of::<A>() as libc::c_uint,
        )
    };
    if ret < 0 { Err(Errno::last()) } else { Ok(ret) }
}

/// Wraps a freshly returned fd, moving it off fd 0.
///
/// An fd of 0 is legal but dangerous (code that treats 0 as "no fd", and
/// `attr` fields where 0 means "absent"), so it is duplicated to the lowest
/// fd >= 1 and the original is closed, as cilium/ebpf does.
fn owned_fd(ret: i64) -> Result<OwnedFd, Errno> {
    let raw = ret as RawFd;
    // SAFETY: `raw` was just returned by the kernel as a new fd that nothing
    // else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    if raw != 0 {
        return Ok(fd);
    }
    // SAFETY: F_DUPFD_CLOEXEC on a valid fd has no memory effects.
    let dup = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 1) };
    if dup < 0 {
        return Err(Errno::last());
    }
    drop(fd);
    // SAFETY: `dup` is a new fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(dup) })
}

fn fd_u32(fd: BorrowedFd<'_>) -> u32 {
    fd.as_raw_fd() as u32
}

fn ptr_u64<T>(p: *const T) -> u64 {
    p as usize as u64
}

fn slice_ptr<T>(s: &[T]) -> u64 {
    if s.is_empty() { 0 } else { ptr_u64(s.as_ptr()) }
}

/// A buffer length as the kernel's `u32` size field: clamped, so a huge
/// buffer is described as smaller than it is, never larger.
fn u32_len(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Like [`object_name`], but keeps only the first 15 bytes of a longer
/// name (as libbpf does for program and map names). `None` if the kept
/// part contains a NUL byte.
pub fn object_name_prefix(name: &str) -> Option<[u8; 16]> {
    let b = &name.as_bytes()[..name.len().min(15)];
    if b.contains(&0) {
        return None;
    }
    let mut out = [0u8; 16];
    out[..b.len()].copy_from_slice(b);
    Some(out)
}

/// Copies `name` into a NUL-padded 16-byte object-name field.
///
/// Returns `None` when the name has 16 bytes or more (the kernel keeps 15 plus
/// the NUL). The kernel additionally allows only ASCII alphanumerics, `_` and
/// `.`, answering `EINVAL` otherwise; that is left to the kernel.
pub fn object_name(name: &str) -> Option<[u8; 16]> {
    let b = name.as_bytes();
    if b.len() > 15 || b.contains(&0) {
        return None;
    }
    let mut out = [0u8; 16];
    out[..b.len()].copy_from_slice(b);
    Some(out)
}

/// `BPF_MAP_CREATE`: creates a map and returns its fd.
///
/// Needs `CAP_BPF` (or `CAP_SYS_ADMIN`) for most map types, arenas included
/// (`EPERM` otherwise). See [the kernel's arena rules](crate::guide::kernel)
/// for what an arena's creation checks and answers.
pub fn map_create(attr: &MapCreateAttr) -> Result<OwnedFd, Errno> {
    let mut a = *attr;
    owned_fd(bpf(Cmd::MapCreate, &mut a)?)
}

/// `BPF_MAP_FREEZE` (Linux 5.2): makes the map read-only for system calls and
/// new writable mappings (`mmap(PROT_WRITE)` then fails with `EPERM`).
/// A map with a live writable mapping answers `EBUSY`.
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
    /// Takes ownership of `fd` and asks the kernel for its shape. For a
    /// per-CPU map, an unreadable CPU count is an error (see
    /// [`possible_cpus`]).
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
    /// Asks the kernel (`BPF_OBJ_GET_INFO_BY_FD`) for the map's shape. For a
    /// per-CPU map, an unreadable CPU count is an error (see
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

    /// `BPF_MAP_LOOKUP_ELEM`. `EINVAL` without a syscall when `key` is not
    /// `key_size` bytes or `value` is shorter than [`MapShape::value_bytes`].
    /// An arena answers `EINVAL`; a missing key `ENOENT`.
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

    /// `BPF_MAP_UPDATE_ELEM`. An arena answers `EOPNOTSUPP`.
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

    /// `BPF_MAP_DELETE_ELEM`. An arena answers `EOPNOTSUPP`.
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

    /// `BPF_MAP_GET_NEXT_KEY`: the key after `key` (the first key when `key`
    /// is `None`). An arena answers `EOPNOTSUPP`; the last key `ENOENT`.
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

/// The value in `cell`, computing it with `init` first if it is empty. A
/// success is kept for the process; a failure is returned and not kept, so
/// the next call tries again (failures here come from the environment: an
/// fd limit, a hidden file, a missing permission). Two threads may both
/// compute a value; the first one stored wins.
pub(crate) fn cache_success<T, E>(
    cell: &'static OnceLock<T>,
    init: impl FnOnce() -> Result<T, E>,
) -> Result<&'static T, E> {
    if let Some(v) = cell.get() {
        return Ok(v);
    }
    let v = init()?;
    Ok(cell.get_or_init(|| v))
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

/// `path` as the C string `BPF_OBJ_PIN` and `BPF_OBJ_GET` take, or `None`
/// when it contains a NUL byte.
pub(crate) fn path_cstring(path: &std::path::Path) -> Option<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(path.as_os_str().as_bytes()).ok()
}

/// `BPF_OBJ_PIN`: pins `fd` at `path` inside a bpffs mount.
/// `ENOENT`/`EPERM`/`EINVAL` outside bpffs, `EEXIST` if the path is taken.
pub fn obj_pin(fd: BorrowedFd<'_>, path: &CStr) -> Result<(), Errno> {
    let mut a = ObjPinAttr {
        pathname: ptr_u64(path.as_ptr()),
        bpf_fd: fd_u32(fd),
        ..Default::default()
    };
    bpf(Cmd::ObjPin, &mut a).map(drop)
}

/// `BPF_OBJ_GET`: opens a pinned object. `file_flags` is 0, `BPF_F_RDONLY`
/// (1 << 3) or `BPF_F_WRONLY` (1 << 4). A read-only arena fd cannot be
/// mmapped at all (`EACCES` for `PROT_WRITE`, `EINVAL` for `PROT_READ`).
pub fn obj_get(path: &CStr, file_flags: u32) -> Result<OwnedFd, Errno> {
    let mut a = ObjPinAttr {
        pathname: ptr_u64(path.as_ptr()),
        file_flags,
        ..Default::default()
    };
    owned_fd(bpf(Cmd::ObjGet, &mut a)?)
}

/// `BPF_MAP_GET_FD_BY_ID`: opens a map by its kernel id (needs `CAP_SYS_ADMIN`).
pub fn map_get_fd_by_id(id: u32) -> Result<OwnedFd, Errno> {
    let mut a = GetFdByIdAttr {
        id,
        ..Default::default()
    };
    owned_fd(bpf(Cmd::MapGetFdById, &mut a)?)
}

fn obj_info<T: Default>(fd: BorrowedFd<'_>) -> Result<T, Errno> {
    let mut info = T::default();
    let mut a = InfoAttr {
        bpf_fd: fd_u32(fd),
        info_len: std::mem::size_of::<T>() as u32,
        info: ptr_u64(&mut info as *mut T),
    };
    bpf(Cmd::ObjGetInfoByFd, &mut a)?;
    Ok(info)
}

/// `BPF_BTF_GET_NEXT_ID` (Linux 5.4): the id of the next BTF object after
/// `id` (0 for the first); `ENOENT` after the last.
pub fn btf_get_next_id(id: u32) -> Result<u32, Errno> {
    let mut a = GetFdByIdAttr {
        id,
        ..Default::default()
    };
    bpf(Cmd::BtfGetNextId, &mut a)?;
    Ok(a.next_id)
}

/// `BPF_BTF_GET_FD_BY_ID` (Linux 5.4, needs `CAP_SYS_ADMIN`).
pub fn btf_get_fd_by_id(id: u32) -> Result<OwnedFd, Errno> {
    let mut a = GetFdByIdAttr {
        id,
        ..Default::default()
    };
    owned_fd(bpf(Cmd::BtfGetFdById, &mut a)?)
}

/// `BPF_OBJ_GET_INFO_BY_FD` on a BTF object: its info and name (`vmlinux`,
/// a module's name, or empty for a program's BTF).
pub fn btf_info(fd: BorrowedFd<'_>) -> Result<(BtfInfo, String), Errno> {
    let mut name = [0u8; 64];
    let mut info = BtfInfo {
        name: ptr_u64(name.as_mut_ptr()),
        name_len: name.len() as u32,
        ..Default::default()
    };
    let mut a = InfoAttr {
        bpf_fd: fd_u32(fd),
        info_len: std::mem::size_of::<BtfInfo>() as u32,
        info: ptr_u64(&mut info as *mut BtfInfo),
    };
    bpf(Cmd::ObjGetInfoByFd, &mut a)?;
    info.name = 0;
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    Ok((info, String::from_utf8_lossy(&name[..end]).into_owned()))
}

/// `BPF_OBJ_GET_INFO_BY_FD` on a map. For an arena, `map_extra` is the
/// creation-time value: an address the kernel chose at the first `mmap` is
/// never reported.
pub fn map_info(fd: BorrowedFd<'_>) -> Result<MapInfo, Errno> {
    obj_info(fd)
}

/// `BPF_OBJ_GET_INFO_BY_FD` on a program (counts and lengths only).
pub fn prog_info(fd: BorrowedFd<'_>) -> Result<ProgInfo, Errno> {
    obj_info(fd)
}

/// Everything `BPF_PROG_LOAD` needs, as borrowed Rust data.
///
/// `sys` turns this into a [`ProgLoadAttr`] whose pointers stay valid for the
/// call. Record arrays (`func_info`, `line_info`, `core_relos`) are raw bytes
/// with their record size.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProgLoadRequest<'a> {
    /// `enum bpf_prog_type`.
    pub prog_type: u32,
    /// The instructions, 8 bytes each, in host byte order.
    pub insns: &'a [u8],
    /// License string; kfuncs and GPL-only helpers need a GPL-compatible one.
    pub license: Option<&'a CStr>,
    /// NUL-padded name (see [`object_name`]).
    pub name: [u8; 16],
    /// `BPF_F_*` program flags.
    pub prog_flags: u32,
    /// `enum bpf_attach_type`.
    pub expected_attach_type: u32,
    /// Only very old kprobe kernels look at it.
    pub kern_version: u32,
    /// The program's BTF (for func_info, line_info, CO-RE).
    pub prog_btf_fd: Option<BorrowedFd<'a>>,
    /// `bpf_func_info` records.
    pub func_info: &'a [u8],
    /// Size of one func_info record (8).
    pub func_info_rec_size: u32,
    /// `bpf_line_info` records.
    pub line_info: &'a [u8],
    /// Size of one line_info record (16).
    pub line_info_rec_size: u32,
    /// `bpf_core_relo` records for the kernel's CO-RE engine.
    pub core_relos: &'a [u8],
    /// Size of one core_relo record (16).
    pub core_relo_rec_size: u32,
    /// Map and module-BTF fds that instructions refer to by index.
    pub fd_array: &'a [BorrowedFd<'a>],
    /// Also pass `fd_array_cnt` = `fd_array.len()`, binding every map in it to
    /// the program (Linux 6.14+; older kernels answer `EINVAL`).
    pub bind_fd_array: bool,
    /// `attach_btf_id` (tracing programs).
    pub attach_btf_id: u32,
    /// `attach_prog_fd` / `attach_btf_obj_fd`.
    pub attach_fd: Option<BorrowedFd<'a>>,
}

/// A failed `BPF_PROG_LOAD`: the errno and, when a log was requested, the
/// size the kernel says the whole log needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgLoadFailure {
    /// The kernel's answer.
    pub errno: Errno,
    /// `log_true_size` (Linux 6.4+), 0 when unknown.
    pub log_true_size: u32,
}

/// `BPF_PROG_LOAD`.
///
/// Retries up to 5 times on `EAGAIN`. With `log = Some((level, buf))` the
/// verifier log is written into `buf` (its current length is the buffer size;
/// at least 128 bytes is used); on `ENOSPC` the buffer is grown to the
/// kernel's `log_true_size` (or doubled on kernels before 6.4) and the load is
/// retried, so `buf` ends up holding the whole log, truncated to the bytes the
/// kernel wrote.
pub fn prog_load(
    req: &ProgLoadRequest<'_>,
    mut log: Option<(u32, &mut Vec<u8>)>,
) -> Result<OwnedFd, ProgLoadFailure> {
    let fds: Vec<u32> = req.fd_array.iter().map(|f| fd_u32(*f)).collect();
    let license = req.license.unwrap_or(c"");
    let mut eagain = 0;
    loop {
        let mut a = ProgLoadAttr {
            prog_type: req.prog_type,
            insn_cnt: u32_len(req.insns.len() / 8),
            insns: slice_ptr(req.insns),
            license: ptr_u64(license.as_ptr()),
            kern_version: req.kern_version,
            prog_flags: req.prog_flags,
            prog_name: req.name,
            expected_attach_type: req.expected_attach_type,
            prog_btf_fd: req.prog_btf_fd.map_or(0, fd_u32),
            func_info_rec_size: if req.func_info.is_empty() {
                0
            } else {
                req.func_info_rec_size
            },
            func_info: slice_ptr(req.func_info),
            func_info_cnt: count(req.func_info, req.func_info_rec_size),
            line_info_rec_size: if req.line_info.is_empty() {
                0
            } else {
                req.line_info_rec_size
            },
            line_info: slice_ptr(req.line_info),
            line_info_cnt: count(req.line_info, req.line_info_rec_size),
            attach_btf_id: req.attach_btf_id,
            attach_prog_fd: req.attach_fd.map_or(0, fd_u32),
            core_relo_cnt: count(req.core_relos, req.core_relo_rec_size),
            fd_array: slice_ptr(&fds),
            core_relos: slice_ptr(req.core_relos),
            core_relo_rec_size: if req.core_relos.is_empty() {
                0
            } else {
                req.core_relo_rec_size
            },
            fd_array_cnt: if req.bind_fd_array {
                u32_len(fds.len())
            } else {
                0
            },
            ..Default::default()
        };
        if let Some((level, buf)) = log.as_mut() {
            if buf.len() < 128 {
                buf.resize(128, 0);
            }
            let cap = buf.len().min(u32::MAX as usize >> 2);
            buf[0] = 0;
            a.log_level = *level;
            a.log_size = cap as u32;
            a.log_buf = ptr_u64(buf.as_mut_ptr());
        }
        match bpf(Cmd::ProgLoad, &mut a) {
            Ok(fd) => {
                if let Some((_, buf)) = log.as_mut() {
                    trim_log(buf);
                }
                return owned_fd(fd).map_err(|errno| ProgLoadFailure {
                    errno,
                    log_true_size: 0,
                });
            }
            Err(Errno::EAGAIN) if eagain < EAGAIN_RETRIES => eagain += 1,
            Err(Errno::ENOSPC) if log.is_some() => {
                let (_, buf) = log.as_mut().expect("checked");
                let want = if a.log_true_size as usize > buf.len() {
                    a.log_true_size as usize
                } else {
                    buf.len() * 2
                };
                if want > (u32::MAX as usize >> 2) || want <= buf.len() {
                    trim_log(buf);
                    return Err(ProgLoadFailure {
                        errno: Errno::ENOSPC,
                        log_true_size: a.log_true_size,
                    });
                }
                buf.resize(want, 0);
            }
            Err(errno) => {
                if let Some((_, buf)) = log.as_mut() {
                    trim_log(buf);
                }
                return Err(ProgLoadFailure {
                    errno,
                    log_true_size: a.log_true_size,
                });
            }
        }
    }
}

fn count(records: &[u8], rec_size: u32) -> u32 {
    if rec_size == 0 {
        0
    } else {
        u32_len(records.len() / rec_size as usize)
    }
}

/// Cuts a log buffer at its first NUL.
fn trim_log(buf: &mut Vec<u8>) {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    buf.truncate(end);
}

/// Inputs and outputs of one `BPF_PROG_TEST_RUN`.
#[derive(Debug, Default)]
pub struct TestRunRequest<'a> {
    /// Packet data in (`data_in`).
    pub data_in: &'a [u8],
    /// Packet data out; the kernel writes at most its length. An output
    /// packet larger than the buffer (an empty buffer included) makes the
    /// run answer `ENOSPC` (the program did run; the buffer holds the first
    /// bytes that fit).
    pub data_out: Option<&'a mut [u8]>,
    /// Context in. For `BPF_PROG_TYPE_SYSCALL` the kernel writes the program's
    /// changes back into this buffer, hence `&mut`.
    pub ctx_in: Option<&'a mut [u8]>,
    /// Context out.
    pub ctx_out: Option<&'a mut [u8]>,
    /// Run the program this many times (0 and 1 both mean once).
    pub repeat: u32,
    /// `BPF_F_TEST_RUN_ON_CPU` (1), `BPF_F_TEST_XDP_LIVE_FRAMES` (2), …
    pub flags: u32,
    /// CPU to run on with `BPF_F_TEST_RUN_ON_CPU`.
    pub cpu: u32,
}

/// What the kernel reports after `BPF_PROG_TEST_RUN`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TestRunResult {
    /// Low 32 bits of R0 at exit.
    pub retval: u32,
    /// Average duration of one run in nanoseconds.
    pub duration_ns: u32,
    /// Bytes written to `data_out`.
    pub data_size_out: u32,
    /// Bytes written to `ctx_out`.
    pub ctx_size_out: u32,
}

/// `BPF_PROG_TEST_RUN` (Linux 4.12; SYSCALL programs 5.14).
///
/// SYSCALL programs accept only `ctx_in` (up to 65535 bytes): `data_*`,
/// `ctx_out`, `repeat` and `flags` must be 0/absent, or the kernel answers
/// `EINVAL`.
#[inline]
pub fn prog_test_run(
    prog: BorrowedFd<'_>,
    req: &mut TestRunRequest<'_>,
) -> Result<TestRunResult, Errno> {
    let mut a = TestRunAttr {
        prog_fd: fd_u32(prog),
        data_size_in: u32_len(req.data_in.len()),
        data_in: slice_ptr(req.data_in),
        repeat: req.repeat,
        flags: req.flags,
        cpu: req.cpu,
        ..Default::default()
    };
    // `data_size_out` 0 means "no size hint" to the kernel, which then
    // copies the whole output packet: an empty buffer must be no buffer.
    // Sizes above u32::MAX are clamped, never truncated towards 0.
    let data_cap = req.data_out.as_ref().map_or(0, |o| o.len());
    if let Some(out) = req.data_out.as_mut().filter(|o| !o.is_empty()) {
        a.data_size_out = u32_len(out.len());
        a.data_out = ptr_u64(out.as_mut_ptr());
    }
    if let Some(ctx) = req.ctx_in.as_mut() {
        a.ctx_size_in = u32_len(ctx.len());
        a.ctx_in = ptr_u64(ctx.as_mut_ptr());
    }
    if let Some(ctx) = req.ctx_out.as_mut() {
        // Unlike data_out, a ctx_out size of 0 is honoured (ENOSPC).
        a.ctx_size_out = u32_len(ctx.len());
        a.ctx_out = ptr_u64(ctx.as_mut_ptr());
    }
    bpf(Cmd::ProgTestRun, &mut a)?;
    if req.data_out.is_some() && a.data_size_out as usize > data_cap {
        // The kernel answers ENOSPC itself for a short non-empty buffer (after
        // filling it); for an empty one no pointer was passed, so say it here.
        return Err(Errno::ENOSPC);
    }
    Ok(TestRunResult {
        retval: a.retval,
        duration_ns: a.duration,
        data_size_out: a.data_size_out,
        ctx_size_out: a.ctx_size_out,
    })
}

/// `BPF_BTF_LOAD` (Linux 4.18): uploads a BTF blob. With a log buffer the
/// kernel's BTF verifier log is written into it (level 1).
pub fn btf_load(btf: &[u8], log: Option<&mut Vec<u8>>) -> Result<OwnedFd, Errno> {
    let mut a = BtfLoadAttr {
        btf: slice_ptr(btf),
        btf_size: u32_len(btf.len()),
        ..Default::default()
    };
    let has_log = log.is_some();
    let mut log = log;
    if let Some(buf) = log.as_mut() {
        if buf.len() < 128 {
            buf.resize(128, 0);
        }
        buf[0] = 0;
        a.btf_log_buf = ptr_u64(buf.as_mut_ptr());
        a.btf_log_size = buf.len().min(u32::MAX as usize >> 2) as u32;
        a.btf_log_level = 1;
    }
    let r = bpf(Cmd::BtfLoad, &mut a);
    if has_log {
        if let Some(buf) = log.as_mut() {
            trim_log(buf);
        }
    }
    owned_fd(r?)
}

/// `BPF_PROG_STREAM_READ_BY_FD` (Linux 6.17+): drains up to `buf.len()` bytes
/// of a program's BPF stream (1 = stdout, 2 = stderr; others `ENOENT`).
/// Returns the number of bytes read.
pub fn prog_stream_read(
    prog: BorrowedFd<'_>,
    stream_id: u32,
    buf: &mut [u8],
) -> Result<usize, Errno> {
    let mut a = StreamReadAttr {
        stream_buf: ptr_u64(buf.as_mut_ptr()),
        stream_buf_len: u32_len(buf.len()),
        stream_id,
        prog_fd: fd_u32(prog),
        ..Default::default()
    };
    bpf(Cmd::ProgStreamReadByFd, &mut a).map(|n| n as usize)
}

/// The system page size (`sysconf(_SC_PAGESIZE)`), cached.
pub fn page_size() -> usize {
    static P: OnceLock<usize> = OnceLock::new();
    *P.get_or_init(|| {
        // SAFETY: sysconf has no memory effects.
        let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if p > 0 { p as usize } else { 4096 }
    })
}

/// `mmap(addr, len, prot, flags, fd, 0)`.
///
/// # Safety
/// With `MAP_FIXED` in `flags`, `[addr, addr + len)` must be owned by the
/// caller with no Rust reference into it; other flags never replace mappings.
unsafe fn raw_mmap(
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

/// `mmap(addr, len, prot, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0)` (Linux 4.17).
///
/// Never replaces an existing mapping: an occupied range answers `EEXIST`.
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
pub fn mmap_shared_anywhere(len: usize, prot: i32, fd: BorrowedFd<'_>) -> Result<usize, Errno> {
    // SAFETY: a NULL hint without MAP_FIXED never replaces a mapping.
    unsafe { raw_mmap(0, len, prot, libc::MAP_SHARED, fd.as_raw_fd()) }
}

/// Reserves `len` bytes of address space (`PROT_NONE`, private, anonymous,
/// `MAP_NORESERVE`) anywhere. Returns the start.
pub fn reserve_address_space(len: usize) -> Result<usize, Errno> {
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
    // SAFETY: a NULL hint without MAP_FIXED never replaces a mapping.
    unsafe { raw_mmap(0, len, libc::PROT_NONE, flags, -1) }
}

/// Reserves exactly `[addr, addr + len)` (`PROT_NONE`, private, anonymous,
/// `MAP_NORESERVE`, `MAP_FIXED_NOREPLACE`, Linux 4.17). Never replaces a
/// mapping: an occupied range is `EEXIST` (also on older kernels, which
/// treat the address as a hint: a reservation placed elsewhere is undone).
pub fn reserve_address_space_at(addr: usize, len: usize) -> Result<usize, Errno> {
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
    mmap_noreplace(addr, len, libc::PROT_NONE, flags, -1)
}

/// `mmap(addr, len, prot, MAP_SHARED | MAP_FIXED, fd, 0)`.
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

/// `munmap(addr, len)`.
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

/// Maps a whole file read-only and private, at the size `fstat` gives (a
/// mapping past the end of a file raises `SIGBUS` on access); `None` when
/// the file cannot be mapped (then read it instead).
///
/// Crate-private, and only for files nobody can change while they are
/// mapped — kernel BTF on sysfs, which the kernel never rewrites (a file
/// that is not on sysfs is never mapped): a private file mapping still shows later writes to the
/// file (until a page is copied on write), so handing out `&[u8]` of an
/// arbitrary file would let another process change bytes under a live
/// shared reference, and truncating it would turn reads into `SIGBUS`.
pub(crate) fn map_file_readonly(file: &std::fs::File) -> Option<MappedFile> {
    let len = usize::try_from(file.metadata().ok()?.len()).ok()?;
    if len == 0 || !on_sysfs(file) {
        return None;
    }
    // SAFETY: a NULL hint without MAP_FIXED never replaces a mapping.
    let addr =
        unsafe { raw_mmap(0, len, libc::PROT_READ, libc::MAP_PRIVATE, file.as_raw_fd()) }.ok()?;
    Some(MappedFile { addr, len })
}

/// Whether `file` lives on sysfs, whose BTF files the kernel never changes
/// (a regular file bind-mounted over `/sys/kernel/btf/vmlinux` is not, and
/// is read instead of mapped).
fn on_sysfs(file: &std::fs::File) -> bool {
    const SYSFS_MAGIC: i64 = 0x6265_6572;
    // SAFETY: an all-zero statfs is a valid value for fstatfs to overwrite.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: fstatfs writes one statfs into `st`.
    let r = unsafe { libc::fstatfs(file.as_raw_fd(), &mut st) };
    r == 0 && st.f_type as i64 == SYSFS_MAGIC
}

/// A read-only private mapping of an immutable file, unmapped on drop.
#[derive(Debug)]
pub(crate) struct MappedFile {
    addr: usize,
    len: usize,
}

impl MappedFile {
    /// The mapped bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping is `len` readable bytes inside the file (checked
        // by map_file_readonly), of a file nobody writes or truncates
        // (map_file_readonly's contract: kernel BTF), and lives as long as
        // `self`.
        unsafe { std::slice::from_raw_parts(self.addr as *const u8, self.len) }
    }
}

impl Drop for MappedFile {
    fn drop(&mut self) {
        // SAFETY: the mapping was created by map_file_readonly and is only
        // borrowed through `bytes()`, whose borrows end before drop.
        unsafe { libc::munmap(self.addr as *mut libc::c_void, self.len) };
    }
}

// SAFETY: the mapping is immutable, read-only memory (see MappedFile::bytes).
unsafe impl Send for MappedFile {}
// SAFETY: as above; shared reads of immutable memory are fine.
unsafe impl Sync for MappedFile {}

/// Why [`read_regular_file`] refused or failed.
#[derive(Debug)]
pub(crate) enum FileReadError {
    /// `open`, `fstat` or `read` failed.
    Io(&'static str, Errno),
    /// Not a regular file (a FIFO, a device, a directory, a socket).
    NotRegular(&'static str),
    /// Larger than the cap (or grew past it while being read).
    TooLarge(u64),
}

/// Reads a whole regular file of at most `max` bytes.
///
/// Opened with `O_NONBLOCK` (so a FIFO cannot block the open) and checked
/// with `fstat` before anything is read: anything but a regular file is
/// refused (`/dev/zero` would be read until memory runs out, a FIFO would
/// block), and so is a file larger than `max`, declared or while reading.
pub(crate) fn read_regular_file(
    path: &std::path::Path,
    max: u64,
) -> Result<Vec<u8>, FileReadError> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |call: &'static str, e: std::io::Error| FileReadError::Io(call, Errno::from_io(&e));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| io("open", e))?;
    let meta = file.metadata().map_err(|e| io("fstat", e))?;
    let t = meta.file_type();
    if !t.is_file() {
        return Err(FileReadError::NotRegular(crate::abi::file_type_name(t)));
    }
    if meta.len() > max {
        return Err(FileReadError::TooLarge(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io("read", e))?;
    if bytes.len() as u64 > max {
        return Err(FileReadError::TooLarge(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Capability numbers the crate cares about.
pub mod cap {
    /// `CAP_SYS_ADMIN`.
    pub const SYS_ADMIN: u32 = 21;
    /// `CAP_NET_ADMIN`.
    pub const NET_ADMIN: u32 = 12;
    /// `CAP_PERFMON` (Linux 5.8).
    pub const PERFMON: u32 = 38;
    /// `CAP_BPF` (Linux 5.8).
    pub const BPF: u32 = 39;
}

/// Whether the calling thread has capability `cap` in its effective set
/// (`capget(2)`, version 3).
pub fn has_capability(cap: u32) -> Result<bool, Errno> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut hdr = Header {
        version: 0x2008_0522,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: capget with a v3 header writes two Data records.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut hdr as *mut Header, data.as_mut_ptr()) };
    if r < 0 {
        return Err(Errno::last());
    }
    let idx = (cap / 32) as usize;
    Ok(idx < 2 && data[idx].effective & (1 << (cap % 32)) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_name_prefixes() {
        assert_eq!(
            &object_name_prefix("a_rather_long_program_name").unwrap(),
            b"a_rather_long_p\0"
        );
        assert_eq!(&object_name_prefix("map").unwrap()[..4], b"map\0");
        assert!(
            object_name_prefix("a\0b").is_none(),
            "a NUL inside the kept part"
        );
        assert!(
            object_name_prefix("0123456789abcdef\0").is_some(),
            "a NUL past byte 15 is cut off"
        );
    }

    #[test]
    fn object_names() {
        assert_eq!(&object_name("arena").unwrap()[..6], b"arena\0");
        assert!(object_name("0123456789abcde").is_some());
        assert!(object_name("0123456789abcdef").is_none());
        assert!(object_name("a\0b").is_none());
    }

    #[test]
    fn trims_log_at_nul() {
        let mut v = b"abc\0\0\0".to_vec();
        trim_log(&mut v);
        assert_eq!(v, b"abc");
    }
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
    /// fd. A frozen map answers `EPERM` for a writable mapping.
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
