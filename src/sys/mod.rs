//! The raw kernel interface: the only code that calls `bpf(2)`, and the
//! `mmap`/`munmap` of arenas, global data and ring buffers (with the
//! `epoll` calls ring buffers wait with), and the `signalfd` and `poll` of
//! waits that a signal may end.
//!
//! Everything here is a thin, typed wrapper: one `#[repr(C)]` attr struct per
//! command ([`attr`]), one private choke point for the syscall, [`OwnedFd`] for every fd the
//! kernel returns (never fd 0), and [`Errno`] for every failure. Higher layers
//! add meaning (which map, which program); this layer adds none.
//!
//! All `bpf(2)` commands here exist since Linux 4.x except where a function
//! says otherwise; arena maps need Linux 6.9, ring buffers 5.8 and user
//! ring buffers 6.1.
//!
//! The functions live in files by the object they act on, and are all
//! re-exported here: maps (create, freeze, element calls, the per-CPU
//! count), programs (load, test-run, info, streams), BTF objects, memory
//! mappings ([`SharedMapping`] and the arena's placement calls), ring
//! buffers' shared pages ([`RingConsumer`], [`RingProducer`]) and the
//! [`Epoll`] their waits use, the bounded reads of kernel files, and
//! waiting on several fds and termination signals at once ([`SignalFd`],
//! [`poll_readable`]); pinning, capabilities and the page size are in this
//! file.
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
//!   atomic accesses, never lent out as `&[u8]` — except the records of
//!   BPF ring buffers, which the ring's protocol keeps unchanged while
//!   they are lent, and which only borrows of the one consumer or
//!   producer of a ring lend ([`RingConsumer`], [`RingProducer`]; their
//!   module's docs give the argument).
//! - Signals: [`SignalFd`] blocks only the asynchronous signals [`Signal`]
//!   names, never those a fault raises (`SIGSEGV`, `SIGBUS`), and is
//!   neither `Send` nor `Sync`, as the mask it restores is its thread's.
//! - `Send`/`Sync`: [`SharedMapping`] is both (`unsafe impl`): it owns its
//!   mapping until drop and every access is an atomic copy, so threads can
//!   share it without data races. [`RingConsumer`] and [`RingProducer`]
//!   are both too: they lend record bytes only through `&mut self`. The crate-private read-only mapping of
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
mod btf;
mod epoll;
mod errno;
mod file;
mod link;
mod map;
mod mmap;
mod prog;
mod ringbuf;
pub(crate) mod shared;
mod signals;

pub use attr::*;
pub use btf::{btf_get_fd_by_id, btf_get_next_id, btf_info, btf_load};
pub use epoll::{EPOLLIN, EPOLLOUT, Epoll};
pub use errno::Errno;
pub(crate) use file::{FileReadError, MappedFile, map_file_readonly, read_regular_file};
pub use link::{
    LinkCreateAttr, LinkFdAttr, LinkInfoRaw, PerfEventAttr, RawTracepointAttr, detached_tracefs,
    if_index, if_name, iter_create, link_create, link_create_iter, link_detach, link_get_fd_by_id,
    link_info, perf_event_open, raw_tracepoint_open, read_small_at,
};
pub use map::{
    FdKind, MapShape, OwnedMap, fd_kind, map_create, map_freeze, map_get_fd_by_id, map_info,
    possible_cpus,
};
pub use mmap::{
    SharedMapping, mmap_shared_anywhere, mmap_shared_fixed, mmap_shared_noreplace, munmap,
    reserve_address_space, reserve_address_space_at,
};
pub use prog::{
    ProgInfoBuffers, ProgInfoFilled, ProgLoadFailure, ProgLoadRequest, TestRunRequest,
    TestRunResult, prog_info, prog_info_into, prog_load, prog_stream_read, prog_test_run,
};
pub use ringbuf::{
    RING_LARGER_THAN_INFO, ReserveError, RingConsumer, RingCorrupt, RingProducer, RingRecord,
    RingReservation, USER_RINGBUF_MAX_RECORD, confirm_ring_size, ring_kernel_check,
};
pub use signals::{Signal, SignalFd, poll_readable};

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;

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
    // `c_long` is 4 bytes in a 32-bit process.
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(ret as i64)
    }
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

/// The text of a NUL-terminated name field the kernel filled (an object
/// name, a BTF object's name): the bytes before the first NUL (all of them
/// without one), invalid UTF-8 replaced.
pub fn object_name_text(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(field.get(..end).unwrap_or(field)).into_owned()
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

/// `path` as the C string `BPF_OBJ_PIN` and `BPF_OBJ_GET` take, or `None`
/// when it contains a NUL byte.
pub(crate) fn path_cstring(path: &std::path::Path) -> Option<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(path.as_os_str().as_bytes()).ok()
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

/// `BPF_OBJ_PIN` (Linux 4.4): pins `fd` at `path` inside a bpffs mount.
/// `ENOENT`/`EPERM`/`EINVAL` outside bpffs (`ENOENT` also for a missing
/// directory), `EEXIST` if the path is taken, `EACCES` without write
/// permission on the directory.
pub fn obj_pin(fd: BorrowedFd<'_>, path: &CStr) -> Result<(), Errno> {
    let mut a = ObjPinAttr {
        pathname: ptr_u64(path.as_ptr()),
        bpf_fd: fd_u32(fd),
        ..Default::default()
    };
    bpf(Cmd::ObjPin, &mut a).map(drop)
}

/// `BPF_OBJ_GET` (Linux 4.4; `file_flags` 4.15): opens a pinned object.
/// `file_flags` is 0, `BPF_F_RDONLY` (1 << 3) or `BPF_F_WRONLY` (1 << 4);
/// both at once, or any other bit, is `EINVAL`. No pin at `path` is
/// `ENOENT`, a path outside bpffs `EPERM`/`EINVAL`, missing permission on
/// the pin `EACCES`. A read-only arena fd cannot be mmapped at all
/// (`EACCES` for `PROT_WRITE`, `EINVAL` for `PROT_READ`).
pub fn obj_get(path: &CStr, file_flags: u32) -> Result<OwnedFd, Errno> {
    let mut a = ObjPinAttr {
        pathname: ptr_u64(path.as_ptr()),
        file_flags,
        ..Default::default()
    };
    owned_fd(bpf(Cmd::ObjGet, &mut a)?)
}

fn obj_info<T: Default + InfoStruct>(fd: BorrowedFd<'_>) -> Result<T, Errno> {
    let mut info = T::default();
    obj_info_into(fd, &mut info)?;
    Ok(info)
}

/// Marker for the info structs `BPF_OBJ_GET_INFO_BY_FD` fills.
///
/// # Safety
/// Implementors are `#[repr(C)]` plain integer structs without implicit
/// padding (every bit pattern valid), and any pointer fields in them are 0
/// or set by `sys` to buffers that outlive the call, with the matching
/// length fields no larger than the buffers.
pub(crate) unsafe trait InfoStruct {}

/// `BPF_OBJ_GET_INFO_BY_FD` into `info` as the caller prepared it (the
/// pointer and length fields it set are the kernel's buffers).
fn obj_info_into<T: InfoStruct>(fd: BorrowedFd<'_>, info: &mut T) -> Result<(), Errno> {
    let mut a = InfoAttr {
        bpf_fd: fd_u32(fd),
        info_len: std::mem::size_of::<T>() as u32,
        info: ptr_u64(info as *mut T),
    };
    bpf(Cmd::ObjGetInfoByFd, &mut a)?;
    Ok(())
}

/// Cuts a log buffer at its first NUL.
fn trim_log(buf: &mut Vec<u8>) {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    buf.truncate(end);
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
/// (`capget(2)` with the version-3 header, Linux 2.6.26). The kernel only
/// refuses bad arguments (`EINVAL`, `EFAULT`), which this call never
/// passes; a capability number past 63 is `false`.
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
    fn object_name_texts() {
        assert_eq!(object_name_text(b"arena\0\0\0"), "arena");
        assert_eq!(object_name_text(b"full"), "full", "no NUL: all of it");
        assert_eq!(object_name_text(b"a\xffb\0c"), "a\u{fffd}b");
        assert_eq!(object_name_text(b""), "");
    }

    #[test]
    fn trims_log_at_nul() {
        let mut v = b"abc\0\0\0".to_vec();
        trim_log(&mut v);
        assert_eq!(v, b"abc");
    }
}
