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

pub mod attr;
mod errno;

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
/// (`EPERM` otherwise). See `reference/kernel-abi.md` §1.2 for the arena's
/// validation order and errno values.
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

/// Bytes a lookup of a map with `info` writes.
fn value_bytes(info: &MapInfo) -> usize {
    let v = info.value_size as usize;
    if PERCPU_MAP_TYPES.contains(&info.map_type) {
        v.next_multiple_of(8) * possible_cpus()
    } else {
        v
    }
}

/// A map fd owned together with its shape, queried once: element calls on
/// it need no extra system call and can never be handed a wrong shape.
#[derive(Debug)]
pub struct OwnedMap {
    fd: OwnedFd,
    info: MapInfo,
}

impl OwnedMap {
    /// Takes ownership of `fd` and asks the kernel for its shape.
    pub fn new(fd: OwnedFd) -> Result<OwnedMap, Errno> {
        let info = map_info(fd.as_fd())?;
        Ok(OwnedMap { fd, info })
    }

    /// The element-call view (no system call).
    pub fn shape(&self) -> MapShape<'_> {
        MapShape {
            fd: self.fd.as_fd(),
            info: self.info,
            value_bytes: value_bytes(&self.info),
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
    /// Asks the kernel (`BPF_OBJ_GET_INFO_BY_FD`) for the map's shape.
    pub fn query(fd: BorrowedFd<'fd>) -> Result<Self, Errno> {
        let info = map_info(fd)?;
        Ok(MapShape {
            fd,
            info,
            value_bytes: value_bytes(&info),
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

/// The number of possible CPUs (`/sys/devices/system/cpu/possible`), cached.
pub fn possible_cpus() -> usize {
    static N: OnceLock<usize> = OnceLock::new();
    *N.get_or_init(|| {
        let s = std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap_or_default();
        let mut n = 0usize;
        for part in s.trim().split(',').filter(|p| !p.is_empty()) {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                n = n.max(b + 1).max(a + 1);
            }
        }
        n.max(1)
    })
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
            insn_cnt: (req.insns.len() / 8) as u32,
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
                fds.len() as u32
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
        (records.len() / rec_size as usize) as u32
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
    /// Packet data out; the kernel writes at most its length.
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
        data_size_in: req.data_in.len() as u32,
        data_in: slice_ptr(req.data_in),
        repeat: req.repeat,
        flags: req.flags,
        cpu: req.cpu,
        ..Default::default()
    };
    if let Some(out) = req.data_out.as_mut() {
        a.data_size_out = out.len() as u32;
        a.data_out = ptr_u64(out.as_mut_ptr());
    }
    if let Some(ctx) = req.ctx_in.as_mut() {
        a.ctx_size_in = ctx.len() as u32;
        a.ctx_in = ptr_u64(ctx.as_mut_ptr());
    }
    if let Some(ctx) = req.ctx_out.as_mut() {
        a.ctx_size_out = ctx.len() as u32;
        a.ctx_out = ptr_u64(ctx.as_mut_ptr());
    }
    bpf(Cmd::ProgTestRun, &mut a)?;
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
        btf_size: btf.len() as u32,
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
        stream_buf_len: buf.len() as u32,
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
    let flags = libc::MAP_SHARED | libc::MAP_FIXED_NOREPLACE;
    // SAFETY: MAP_FIXED_NOREPLACE never replaces a mapping.
    let p = unsafe { raw_mmap(addr, len, prot, flags, fd.as_raw_fd())? };
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

/// Maps a whole file read-only and private; `None` when the file cannot be
/// mapped (then read it instead). Used for `/sys/kernel/btf/vmlinux`, which
/// recent kernels allow to be mmapped.
pub fn map_file_readonly(file: &std::fs::File, len: usize) -> Option<MappedFile> {
    if len == 0 {
        return None;
    }
    // SAFETY: a NULL hint without MAP_FIXED never replaces a mapping.
    let addr =
        unsafe { raw_mmap(0, len, libc::PROT_READ, libc::MAP_PRIVATE, file.as_raw_fd()) }.ok()?;
    Some(MappedFile { addr, len })
}

/// A read-only private file mapping, unmapped on drop.
#[derive(Debug)]
pub struct MappedFile {
    addr: usize,
    len: usize,
}

impl MappedFile {
    /// The mapped bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping is `len` readable bytes, private (no other
        // writer can change it through this mapping: sysfs BTF is immutable),
        // and lives as long as `self`.
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

// SAFETY: the mapping is immutable, read-only memory.
unsafe impl Send for MappedFile {}
// SAFETY: as above; shared reads are fine.
unsafe impl Sync for MappedFile {}

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

/// A `MAP_SHARED` mapping of a map's memory (an mmapable array's values),
/// unmapped on drop. Reads and writes copy bytes and check bounds; no
/// reference into the mapping is ever handed out, because BPF programs write
/// it concurrently.
#[derive(Debug)]
pub struct SharedMapping {
    addr: usize,
    len: usize,
    writable: bool,
}

// SAFETY: the mapping is plain shared memory; access goes through copies.
unsafe impl Send for SharedMapping {}
// SAFETY: as above.
unsafe impl Sync for SharedMapping {}

impl SharedMapping {
    /// `mmap(NULL, len, PROT_READ [| PROT_WRITE], MAP_SHARED, fd, 0)`.
    /// A frozen map answers `EPERM` for a writable mapping.
    pub fn map(fd: BorrowedFd<'_>, len: usize, writable: bool) -> Result<SharedMapping, Errno> {
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
    pub fn read(&self, off: usize, out: &mut [u8]) -> Result<(), Errno> {
        if off.checked_add(out.len()).is_none_or(|e| e > self.len) {
            return Err(Errno::EINVAL);
        }
        // SAFETY: in bounds of a live mapping; `out` is a distinct buffer.
        unsafe {
            std::ptr::copy_nonoverlapping(
                (self.addr + off) as *const u8,
                out.as_mut_ptr(),
                out.len(),
            )
        };
        Ok(())
    }

    /// Copies `data` to offset `off`; `EINVAL` out of bounds, `EACCES` on a
    /// read-only mapping.
    pub fn write(&self, off: usize, data: &[u8]) -> Result<(), Errno> {
        if !self.writable {
            return Err(Errno::EACCES);
        }
        if off.checked_add(data.len()).is_none_or(|e| e > self.len) {
            return Err(Errno::EINVAL);
        }
        // SAFETY: in bounds of a live writable mapping; `data` is distinct.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), (self.addr + off) as *mut u8, data.len())
        };
        Ok(())
    }
}

impl Drop for SharedMapping {
    fn drop(&mut self) {
        // SAFETY: our own mapping; nothing refers into it.
        let _ = unsafe { munmap(self.addr, self.len) };
    }
}
