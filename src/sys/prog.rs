//! Programs: load (with the verifier log), test-run, describe, read streams.

use super::{
    Cmd, Errno, InfoAttr, ProgInfo, ProgLoadAttr, StreamReadAttr, TestRunAttr, bpf, fd_u32,
    obj_info, owned_fd, ptr_u64, slice_ptr, trim_log, u32_len,
};
use std::ffi::CStr;
use std::os::fd::{BorrowedFd, OwnedFd};

/// `BPF_PROG_LOAD` is retried this many times when the kernel answers `EAGAIN`.
const EAGAIN_RETRIES: usize = 5;

/// `BPF_OBJ_GET_INFO_BY_FD` on a program (Linux 4.13): its
/// [`ProgInfo`], counts and lengths only (no buffers are passed).
///
/// Which fields a kernel fills depends on its release (the struct grew
/// from 4.13 to 6.0; fields a kernel does not know stay 0), and the
/// lengths of its code (`xlated_prog_len`, `jited_prog_len`) are reported
/// as 0 to a caller without `CAP_BPF` or `CAP_SYS_ADMIN`. An fd that is not
/// a BPF object answers `EINVAL`, a closed one `EBADF`.
pub fn prog_info(fd: BorrowedFd<'_>) -> Result<ProgInfo, Errno> {
    obj_info(fd)
}

/// Buffers for [`prog_info_into`] to have the kernel fill. An empty buffer
/// is not asked for.
#[derive(Debug, Default)]
pub struct ProgInfoBuffers<'a> {
    /// The translated instructions (`xlated_prog_insns`), 8 bytes each.
    pub xlated: &'a mut [u8],
    /// The JIT-compiled code (`jited_prog_insns`).
    pub jited: &'a mut [u8],
    /// The ids of the maps the program uses (`map_ids`, Linux 4.15).
    pub map_ids: &'a mut [u32],
    /// The kernel addresses of the program's JIT-compiled functions
    /// (`jited_ksyms`, Linux 4.18), one per function.
    pub jited_ksyms: &'a mut [u64],
}

/// Which of the [`ProgInfoBuffers`] the kernel filled: a buffer it
/// withheld (it answers by setting the buffer's pointer field to 0) or an
/// empty buffer is `false`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProgInfoFilled {
    /// `xlated_prog_insns` was written (up to the buffer's length).
    pub xlated: bool,
    /// `jited_prog_insns` was written.
    pub jited: bool,
    /// `jited_ksyms` was written.
    pub jited_ksyms: bool,
}

/// `BPF_OBJ_GET_INFO_BY_FD` on a program (Linux 4.13), with buffers for
/// the kernel to copy the program's code, map ids and function addresses
/// into. Each buffer's length is what the kernel is told it may write (a
/// length past `u32::MAX` is described as `u32::MAX`), and the kernel
/// writes at most that much; the counts and lengths it reports are the
/// program's real ones, which can be larger than the buffers.
///
/// The returned [`ProgInfo`] has its pointer fields cleared;
/// [`ProgInfoFilled`] says what was written. What the kernel withholds:
///
/// - Without `CAP_BPF` or `CAP_SYS_ADMIN` it reports code lengths of 0 and
///   copies no code and no addresses.
/// - When raw dumps are not allowed for the credentials that opened `fd`
///   (`kernel.kptr_restrict` = 2, or 1 without `CAP_SYSLOG`, or 0 without
///   `CAP_SYSLOG` and with `kernel.perf_event_paranoid` > 1), it copies no
///   JIT code and no function addresses, and zeroes the call targets in
///   the translated instructions; if the program was also constant-blinded
///   (`net.core.bpf_jit_harden`), it copies no translated instructions
///   either, and some kernels then skip the rest of the answer too: the
///   fields after the instructions keep the values passed in.
///
/// An fd that is not a BPF object answers `EINVAL`, a closed one `EBADF`.
pub fn prog_info_into(
    fd: BorrowedFd<'_>,
    bufs: &mut ProgInfoBuffers<'_>,
) -> Result<(ProgInfo, ProgInfoFilled), Errno> {
    let mut info = ProgInfo {
        xlated_prog_len: u32_len(bufs.xlated.len()),
        xlated_prog_insns: mut_slice_ptr(bufs.xlated),
        jited_prog_len: u32_len(bufs.jited.len()),
        jited_prog_insns: mut_slice_ptr(bufs.jited),
        nr_map_ids: u32_len(bufs.map_ids.len()),
        map_ids: mut_slice_ptr(bufs.map_ids),
        nr_jited_ksyms: u32_len(bufs.jited_ksyms.len()),
        jited_ksyms: mut_slice_ptr(bufs.jited_ksyms),
        ..Default::default()
    };
    let mut a = InfoAttr {
        bpf_fd: fd_u32(fd),
        info_len: std::mem::size_of::<ProgInfo>() as u32,
        info: ptr_u64(&mut info as *mut ProgInfo),
    };
    bpf(Cmd::ObjGetInfoByFd, &mut a)?;
    let filled = ProgInfoFilled {
        xlated: !bufs.xlated.is_empty() && info.xlated_prog_insns != 0,
        jited: !bufs.jited.is_empty() && info.jited_prog_insns != 0,
        jited_ksyms: !bufs.jited_ksyms.is_empty() && info.jited_ksyms != 0,
    };
    info.xlated_prog_insns = 0;
    info.jited_prog_insns = 0;
    info.map_ids = 0;
    info.jited_ksyms = 0;
    Ok((info, filled))
}

/// The address of a buffer the kernel may write, or 0 for an empty one.
fn mut_slice_ptr<T>(s: &mut [T]) -> u64 {
    if s.is_empty() {
        0
    } else {
        ptr_u64(s.as_mut_ptr())
    }
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
    /// NUL-padded name (see [`object_name`](super::object_name)).
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

/// `BPF_PROG_LOAD` (Linux 3.18; each program type, flag and attribute from
/// its own release).
///
/// The kernel answers `EPERM` without `CAP_BPF` (or `CAP_SYS_ADMIN`) for
/// most types (arena programs also need `CAP_PERFMON`), `EINVAL` for an
/// attribute, type or flag it does not take, `E2BIG` for more instructions
/// than it allows, and `EACCES` or `EINVAL` (with the reason in the log)
/// when the verifier rejects the program.
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

/// `BPF_PROG_TEST_RUN` (Linux 4.12; `ctx_in`/`ctx_out` 5.2, `flags` and
/// `cpu` 5.10, SYSCALL programs 5.14).
///
/// SYSCALL programs accept only `ctx_in` (up to 65535 bytes): `data_*`,
/// `ctx_out`, `repeat` and `flags` must be 0/absent, or the kernel answers
/// `EINVAL`. A program type without test runs answers `ENOTSUPP` (524), an
/// output buffer too small for the output `ENOSPC`, an input a type does
/// not take (or too short a packet) `EINVAL`.
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
    // An empty context is no context: the kernel refuses a context pointer
    // with a size of 0 (EINVAL).
    if let Some(ctx) = req.ctx_in.as_mut().filter(|c| !c.is_empty()) {
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

/// `BPF_PROG_STREAM_READ_BY_FD` (Linux 6.17+): drains up to `buf.len()` bytes
/// of a program's BPF stream (1 = stdout, 2 = stderr; others `ENOENT`).
/// Returns the number of bytes read. Kernels before 6.17 answer `EINVAL`
/// (an unknown command), an fd that is not a program `EINVAL` too.
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
