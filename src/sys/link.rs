//! Links: creating them (`BPF_LINK_CREATE`, `BPF_RAW_TRACEPOINT_OPEN`),
//! describing them, detaching them, opening iterators, and the perf events
//! that tracepoint, kprobe and uprobe links hang on.

use super::{Cmd, Errno, bpf, fd_u32, obj_info_into, owned_fd, ptr_u64, u32_len};
use std::ffi::CStr;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};

/// `BPF_LINK_CREATE` attributes (48 bytes). The fields after `flags` are a
/// union in the uapi; each attach kind uses its own members of it, named
/// here by what they hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct LinkCreateAttr {
    /// Offset 0: the program's fd (for `BPF_STRUCT_OPS`: the map's fd).
    pub prog_fd: u32,
    /// Offset 4: `target_fd` (cgroup directory, perf event) or
    /// `target_ifindex` (XDP, tcx); 0 for tracing and iterators.
    pub target: u32,
    /// Offset 8: `enum bpf_attach_type`.
    pub attach_type: u32,
    /// Offset 12: flags of the attach kind (`XDP_FLAGS_*`, `BPF_F_*`).
    pub flags: u32,
    /// Offset 16: `target_btf_id` (tracing), `iter_info` (pointer, iterators),
    /// `perf_event.bpf_cookie`, or tcx's `relative_fd`.
    pub union_16: u64,
    /// Offset 24: `iter_info_len`, `tracing.cookie`, or tcx's
    /// `expected_revision`.
    pub union_24: u64,
    /// Offsets 32..48: the rest of the union (multi-probe arrays), unused.
    pub union_32: [u64; 2],
}
// SAFETY: repr(C), no padding; union_16 is a pointer only when set by sys.
unsafe impl super::Attr for LinkCreateAttr {}

/// `BPF_RAW_TRACEPOINT_OPEN` attributes (16 bytes; the cookie field that
/// follows in 6.10+ is not sent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct RawTracepointAttr {
    /// Offset 0: the tracepoint's name (pointer to a C string), or 0 for a
    /// BTF-typed program whose target was fixed at load.
    pub name: u64,
    /// Offset 8.
    pub prog_fd: u32,
    /// Offset 12: padding.
    pub _pad: u32,
}
// SAFETY: repr(C), explicit padding; name set by sys from a live &CStr.
unsafe impl super::Attr for RawTracepointAttr {}

/// `BPF_ITER_CREATE` and `BPF_LINK_DETACH` attributes (8 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct LinkFdAttr {
    /// Offset 0: the link's fd.
    pub link_fd: u32,
    /// Offset 4: flags (must be 0).
    pub flags: u32,
}
// SAFETY: repr(C), no padding, no pointers.
unsafe impl super::Attr for LinkFdAttr {}

/// `struct bpf_link_info` as `BPF_OBJ_GET_INFO_BY_FD` fills it: the common
/// head and the per-type union as raw words (see `link::LinkInfo` for the
/// decoded form). 96 bytes, more than any kernel's union needs; the kernel
/// copies what it has and leaves the rest zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct LinkInfoRaw {
    /// Offset 0: `enum bpf_link_type`.
    pub link_type: u32,
    /// Offset 4: the link's id.
    pub id: u32,
    /// Offset 8: the attached program's id (0 for struct_ops links).
    pub prog_id: u32,
    /// Offset 12: padding (the union is 8-byte aligned).
    pub _pad: u32,
    /// Offsets 16..96: the per-type union.
    pub union: [u64; 10],
}

/// `BPF_LINK_CREATE` (Linux 5.7; each attach kind from its own release):
/// creates a link from `attr`. The union words carry only values here:
/// for the attach types whose union holds pointers (`BPF_TRACE_ITER` 28,
/// `BPF_TRACE_KPROBE_MULTI` 42, `BPF_TRACE_UPROBE_MULTI` 48) they are
/// cleared before the call — an iterator's `iter_info` goes through
/// [`link_create_iter`], and the multi-probe kinds are not offered (the
/// kernel then answers `EINVAL`). Answers:
/// `EINVAL` for an attach type the program was not loaded for, `EEXIST`
/// when the hook already has an exclusive program, `EBUSY` for a program
/// already attached where only one attachment is allowed, `ENODEV` for a
/// missing interface, `EPERM` without the capability the hook needs.
pub fn link_create(attr: &LinkCreateAttr) -> Result<OwnedFd, Errno> {
    let mut a = *attr;
    if matches!(a.attach_type, crate::abi::BPF_TRACE_ITER | 42 | 48) {
        a.union_16 = 0;
        a.union_24 = 0;
        a.union_32 = [0; 2];
    }
    owned_fd(bpf(Cmd::LinkCreate, &mut a)?)
}

/// `BPF_LINK_CREATE` for an iterator program (`BPF_TRACE_ITER`, Linux
/// 5.8), with `iter_info` (a `union bpf_iter_link_info`, e.g. a map fd for
/// map element iterators) when not empty.
pub fn link_create_iter(prog: BorrowedFd<'_>, iter_info: &[u8]) -> Result<OwnedFd, Errno> {
    let mut a = LinkCreateAttr {
        prog_fd: fd_u32(prog),
        attach_type: crate::abi::BPF_TRACE_ITER,
        ..Default::default()
    };
    if !iter_info.is_empty() {
        a.union_16 = ptr_u64(iter_info.as_ptr());
        a.union_24 = low_u32(u32_len(iter_info.len()));
    }
    owned_fd(bpf(Cmd::LinkCreate, &mut a)?)
}

/// A `u32` placed in the lower-addressed half of a `u64` union word, where
/// a C struct puts a `__u32` that follows an 8-byte field (on either byte
/// order).
fn low_u32(x: u32) -> u64 {
    let b = x.to_ne_bytes();
    u64::from_ne_bytes([b[0], b[1], b[2], b[3], 0, 0, 0, 0])
}

/// `BPF_RAW_TRACEPOINT_OPEN` (Linux 4.17; with no name, for BTF-typed
/// tracing and LSM programs, 5.5): attaches `prog` to raw tracepoint
/// `name`, or to the target fixed at its load when `name` is `None`.
/// Returns a link fd. An unknown tracepoint is `ENOENT`; a program of the
/// wrong type `EINVAL`.
pub fn raw_tracepoint_open(prog: BorrowedFd<'_>, name: Option<&CStr>) -> Result<OwnedFd, Errno> {
    let mut a = RawTracepointAttr {
        name: name.map_or(0, |n| ptr_u64(n.as_ptr())),
        prog_fd: fd_u32(prog),
        _pad: 0,
    };
    owned_fd(bpf(Cmd::RawTracepointOpen, &mut a)?)
}

/// `BPF_ITER_CREATE` (Linux 5.8): a new readable fd over the iterator link
/// `link`; each `read(2)` runs the program over the next objects.
/// A link that is not an iterator's is `EINVAL`.
pub fn iter_create(link: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    let mut a = LinkFdAttr {
        link_fd: fd_u32(link),
        flags: 0,
    };
    owned_fd(bpf(Cmd::IterCreate, &mut a)?)
}

/// `BPF_LINK_DETACH` (Linux 5.9): detaches the link's program while the fd
/// (and any pin) stays valid. Link types without detach (tracing, raw
/// tracepoints, iterators, perf events) answer `EOPNOTSUPP`.
pub fn link_detach(link: BorrowedFd<'_>) -> Result<(), Errno> {
    let mut a = LinkFdAttr {
        link_fd: fd_u32(link),
        flags: 0,
    };
    bpf(Cmd::LinkDetach, &mut a).map(drop)
}

/// `BPF_LINK_GET_FD_BY_ID` (Linux 5.8): opens link `id`. No such link is
/// `ENOENT`; without `CAP_SYS_ADMIN`, `EPERM`.
pub fn link_get_fd_by_id(id: u32) -> Result<OwnedFd, Errno> {
    let mut a = super::GetFdByIdAttr {
        id,
        ..Default::default()
    };
    owned_fd(bpf(Cmd::LinkGetFdById, &mut a)?)
}

/// `BPF_OBJ_GET_INFO_BY_FD` on a link (Linux 5.8). When `name` is not
/// empty, it is the buffer for the name the link type reports (a raw
/// tracepoint's name, an iterator's target, a perf event's function or
/// file): its pointer and length go where the link's type reads them, and
/// the kernel writes at most `name.len()` bytes there. A kernel whose
/// `bpf_link_info` is too short to hold a perf event's name (before 6.6)
/// answers `E2BIG`; a name longer than the buffer, `ENOSPC`. The fd must
/// be a link: the kind of object is not checked here, and the kernel
/// answers other BPF objects with their own info.
pub fn link_info(fd: BorrowedFd<'_>, name: &mut [u8]) -> Result<LinkInfoRaw, Errno> {
    let mut info = LinkInfoRaw::default();
    // First learn the type, so the name buffer goes where this type reads it.
    obj_info_into(fd, &mut info)?;
    if name.is_empty() {
        return Ok(info);
    }
    let at = match crate::abi::LinkType(info.link_type) {
        crate::abi::LinkType::RAW_TRACEPOINT | crate::abi::LinkType::ITER => 0,
        // perf_event: { u32 type; u32 pad; union { { name ptr; u32 len; … } } }.
        crate::abi::LinkType::PERF_EVENT => 1,
        _ => return Ok(info),
    };
    let mut again = LinkInfoRaw::default();
    again.union[at] = ptr_u64(name.as_mut_ptr());
    again.union[at + 1] = low_u32(u32_len(name.len()));
    obj_info_into(fd, &mut again)?;
    Ok(again)
}

/// `PERF_FLAG_FD_CLOEXEC` (`perf_event_open(2)` flag, Linux 3.14).
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 1 << 3;

/// `perf_event_attr` as [`perf_event_open`] sends it (`PERF_ATTR_SIZE_VER5`,
/// 112 bytes, Linux 4.1). Only the fields a BPF attachment uses are named.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct PerfEventAttr {
    /// Offset 0: `PERF_TYPE_TRACEPOINT` (2), or the dynamic PMU type of
    /// `kprobe`/`uprobe` from `/sys/bus/event_source/devices/*/type`.
    pub type_: u32,
    /// Offset 4: the struct's size (set by [`perf_event_open`]).
    pub size: u32,
    /// Offset 8: the tracepoint id, or the kprobe/uprobe config bits (the
    /// `retprobe` bit).
    pub config: u64,
    /// Offset 16: `sample_period`.
    pub sample_period: u64,
    /// Offset 24.
    pub sample_type: u64,
    /// Offset 32.
    pub read_format: u64,
    /// Offset 40: the flag bits (`disabled` is bit 0).
    pub flags: u64,
    /// Offset 48.
    pub wakeup_events: u32,
    /// Offset 52.
    pub bp_type: u32,
    /// Offset 56: `config1`: for kprobes and uprobes, set by
    /// [`perf_event_open`] to point at the function name or file path.
    pub config1: u64,
    /// Offset 64: `config2`: the probe's offset (kprobe: into the function;
    /// uprobe: into the file).
    pub config2: u64,
    /// Offsets 72..112: later fields, zero.
    pub rest: [u64; 5],
}

/// `perf_event_open(2)` (Linux 2.6.31; kprobe/uprobe PMUs 4.17) for a BPF
/// attachment, close-on-exec, counting every event (`sample_period` 1) and
/// with every flag bit clear. `pmu_type` is `PERF_TYPE_TRACEPOINT` (2) with
/// the tracepoint's id as `config`, or the dynamic type of the `kprobe` or
/// `uprobe` PMU (from `/sys/bus/event_source/devices/*/type`) with the
/// return-probe bit in `config`, `probe` (the kprobe's function name or
/// the uprobe's file path) as `config1` and `config2` the offset (into the
/// function, or the file; for a kprobe with no name, an absolute kernel
/// address). `pid` -1 opens the event for every process (on CPU 0); a
/// uprobe opened for one `pid` fires only in that process. A program on a
/// tracepoint or kprobe event runs for every task either way. Answers:
/// `ENOENT`/`EINVAL` for an unknown tracepoint id or probe target,
/// `EACCES`/`EPERM` without `CAP_PERFMON`, `EMFILE` when out of fds.
pub fn perf_event_open(
    pmu_type: u32,
    config: u64,
    probe: Option<&CStr>,
    config2: u64,
    pid: i32,
) -> Result<OwnedFd, Errno> {
    let a = PerfEventAttr {
        type_: pmu_type,
        size: std::mem::size_of::<PerfEventAttr>() as u32,
        config,
        sample_period: 1,
        wakeup_events: 1,
        config1: probe.map_or(0, |p| ptr_u64(p.as_ptr())),
        config2,
        ..Default::default()
    };
    let cpu: libc::c_int = if pid == -1 { 0 } else { -1 };
    // SAFETY: `a` is a fully initialised repr(C) perf_event_attr of the size
    // it declares, built here with every flag bit clear (no signals, no
    // sampling into buffers); config1 is 0 or points at a C string
    // (`probe`) that lives for the whole call, which is the only time the
    // kernel reads it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &a as *const PerfEventAttr,
            pid as libc::pid_t,
            cpu,
            -1 as libc::c_int,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    if r < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(r as i32) })
}

/// A new tracefs instance that is mounted nowhere (`fsopen`, `fsconfig`,
/// `fsmount`: the mount API of Linux 5.2), as the fd of its root: files in
/// it are opened relative to that fd, nothing is visible to other
/// processes, and closing the fd releases it. Needs `CAP_SYS_ADMIN`
/// (`EPERM`); a kernel without tracefs answers `ENODEV`, one older than
/// 5.2 `ENOSYS`.
pub fn detached_tracefs() -> Result<OwnedFd, Errno> {
    const FSOPEN_CLOEXEC: libc::c_uint = 1;
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    // SAFETY: fsopen reads the C string for the call and returns a new fd.
    let fs = unsafe { libc::syscall(libc::SYS_fsopen, c"tracefs".as_ptr(), FSOPEN_CLOEXEC) };
    if fs < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a new fd that nothing else owns.
    let fs = unsafe { OwnedFd::from_raw_fd(fs as i32) };
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fs);
    // SAFETY: FSCONFIG_CMD_CREATE takes no key, value or aux argument.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            raw,
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0 as libc::c_int,
        )
    };
    if r < 0 {
        return Err(Errno::last());
    }
    // SAFETY: fsmount on the configured context fd, no attributes; it
    // returns a new fd for the detached mount.
    let m = unsafe { libc::syscall(libc::SYS_fsmount, raw, FSMOUNT_CLOEXEC, 0 as libc::c_uint) };
    if m < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(m as i32) })
}

/// Reads the small file `path` (relative, no `..`) under directory fd
/// `dir` (`openat(2)` with `O_NOFOLLOW`, then up to 4 KiB).
pub fn read_small_at(dir: BorrowedFd<'_>, path: &CStr) -> Result<Vec<u8>, Errno> {
    use std::io::Read;
    // SAFETY: `path` is a valid C string for the call; openat returns a new
    // fd or -1.
    let fd = unsafe {
        libc::openat(
            std::os::fd::AsRawFd::as_raw_fd(&dir),
            path.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NONBLOCK,
        )
    };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a new fd that nothing else owns.
    let f = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let mut out = Vec::new();
    f.take(4096)
        .read_to_end(&mut out)
        .map_err(|e| Errno::from_io(&e))?;
    Ok(out)
}

/// The index of network interface `name` (`if_nametoindex(3)`), or `None`
/// when there is no such interface (in this network namespace).
pub fn if_index(name: &CStr) -> Option<u32> {
    // SAFETY: `name` is a valid C string; the call only reads it.
    let i = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (i != 0).then_some(i)
}

/// The name of network interface `index` (`if_indextoname(3)`), or `None`.
pub fn if_name(index: u32) -> Option<String> {
    let mut buf = [0u8; libc::IF_NAMESIZE];
    // SAFETY: buf has IF_NAMESIZE bytes, as the call requires.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr().cast()) };
    if p.is_null() {
        return None;
    }
    Some(super::object_name_text(&buf))
}
