//! Reading files safely: a read-only mapping of kernel BTF, and a bounded
//! read of regular files only.

use super::Errno;
use super::mmap::raw_mmap;
use std::os::fd::AsRawFd;

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
    let mut bytes = Vec::new();
    // A large file must not abort the process when memory is short.
    bytes
        .try_reserve_exact(meta.len() as usize)
        .map_err(|_| FileReadError::Io("read", Errno::ENOMEM))?;
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io("read", e))?;
    if bytes.len() as u64 > max {
        return Err(FileReadError::TooLarge(bytes.len() as u64));
    }
    Ok(bytes)
}
