//! BTF objects: upload, enumerate, open and describe.

use super::{
    BtfInfo, BtfLoadAttr, Cmd, Errno, GetFdByIdAttr, InfoAttr, bpf, fd_u32, owned_fd, ptr_u64,
    slice_ptr, trim_log, u32_len,
};
use std::os::fd::{BorrowedFd, OwnedFd};

/// `BPF_BTF_GET_NEXT_ID` (Linux 5.4): the id of the next BTF object after
/// `id` (0 for the first); `ENOENT` after the last. Needs `CAP_SYS_ADMIN`
/// (`EPERM` otherwise); kernels before 5.4 answer `EINVAL`.
pub fn btf_get_next_id(id: u32) -> Result<u32, Errno> {
    let mut a = GetFdByIdAttr {
        id,
        ..Default::default()
    };
    bpf(Cmd::BtfGetNextId, &mut a)?;
    Ok(a.next_id)
}

/// `BPF_BTF_GET_FD_BY_ID` (Linux 4.18): opens the BTF object with kernel id
/// `id`. Needs `CAP_SYS_ADMIN` (`EPERM` otherwise); an id no BTF object has
/// (any more) is `ENOENT`.
pub fn btf_get_fd_by_id(id: u32) -> Result<OwnedFd, Errno> {
    let mut a = GetFdByIdAttr {
        id,
        ..Default::default()
    };
    owned_fd(bpf(Cmd::BtfGetFdById, &mut a)?)
}

/// `BPF_OBJ_GET_INFO_BY_FD` on a BTF object (Linux 4.18): its info and name
/// (`vmlinux`, a module's name, or empty for a program's BTF; the name and
/// `kernel_btf` need Linux 5.11, before which they stay empty and 0). An fd
/// that is not a BPF object answers `EINVAL`, a closed one `EBADF`.
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
    Ok((info, super::object_name_text(&name)))
}

/// `BPF_BTF_LOAD` (Linux 4.18): uploads a BTF blob. With a log buffer the
/// kernel's BTF verifier log is written into it (level 1).
///
/// Needs `CAP_BPF` (Linux 5.8) or `CAP_SYS_ADMIN` (`EPERM` otherwise). BTF
/// the kernel rejects is `EINVAL` (the log says why: a kind, flag or size
/// this kernel does not know, a bad string offset, …), a blob past the
/// kernel's size limit `E2BIG`, and a log buffer too small for the whole
/// log `ENOSPC`.
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
