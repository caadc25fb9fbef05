//! The kernel's view of a loaded program (`BPF_OBJ_GET_INFO_BY_FD`): its
//! identity, the code the verifier produced, the JIT's output, its maps.

use super::{Program, ProgramType};
use crate::error::{Error, Result};
use crate::insn::{self, Insn};
use crate::sys::{self, Cmd, ProgInfoBuffers};
use std::fmt;
use std::os::fd::AsFd;
use std::time::Duration;

/// A program's tag: 8 bytes of a hash the kernel computes over the
/// program's instructions as loaded (map references masked out), so the
/// same program has the same tag in every load while its id changes.
/// Shown (`Display`) as 16 lowercase hex digits, as `bpftool` and
/// `/proc/PID/fdinfo` show it.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ProgramTag(pub [u8; 8]);

impl fmt::Display for ProgramTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for ProgramTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProgramTag({self})")
    }
}

/// Why the kernel did not hand out part of a program's code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Withheld {
    /// The caller has neither `CAP_BPF` (Linux 5.8) nor `CAP_SYS_ADMIN`:
    /// the kernel reports the code's lengths as 0 and copies nothing.
    #[error("withheld: the caller has neither CAP_BPF nor CAP_SYS_ADMIN")]
    NoCapability,
    /// The program was constant-blinded (`net.core.bpf_jit_harden`) and
    /// raw dumps are not allowed (see [`Withheld::RawDumpNotAllowed`]):
    /// the kernel reports the length of the translated instructions but
    /// copies none, since they would show the blinding constants.
    #[error(
        "withheld: the program is constant-blinded (net.core.bpf_jit_harden) and raw dumps are not allowed (kernel.kptr_restrict, CAP_SYSLOG)"
    )]
    Blinded,
    /// Raw dumps are not allowed for the credentials that opened the
    /// program's fd (`kernel.kptr_restrict` = 2; or 1 without
    /// `CAP_SYSLOG`; or 0 without `CAP_SYSLOG` while
    /// `kernel.perf_event_paranoid` > 1): the kernel copies no JIT code,
    /// since it holds kernel addresses.
    #[error("withheld: raw dumps are not allowed (kernel.kptr_restrict, CAP_SYSLOG)")]
    RawDumpNotAllowed,
    /// The program is not JIT-compiled (`net.core.bpf_jit_enable` = 0 on
    /// a kernel with the interpreter): there is no machine code.
    #[error("none: the program is not JIT-compiled")]
    NotJitCompiled,
}

/// What the kernel says about a loaded program ([`Program::info`]).
///
/// Fields a kernel release does not report keep the value noted on each
/// (0, `None`, empty). The lengths and code need `CAP_BPF` or
/// `CAP_SYS_ADMIN`; without either, the kernel still reports the rest.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProgramInfo {
    /// The kernel's id for the program (Linux 4.13); it changes with
    /// every load.
    pub id: u32,
    /// The program's type (Linux 4.13).
    pub program_type: ProgramType,
    /// The name as the kernel keeps it: at most 15 bytes (Linux 4.15;
    /// empty before).
    pub name: String,
    /// The tag (Linux 4.13).
    pub tag: ProgramTag,
    /// When the program was loaded, as time since boot
    /// (`CLOCK_BOOTTIME`, Linux 4.15; zero before).
    pub load_time: Duration,
    /// The user id that loaded it, in the caller's user namespace
    /// (Linux 4.15).
    pub created_by_uid: u32,
    /// Whether its license is GPL-compatible (Linux 4.18; `false` before).
    pub gpl_compatible: bool,
    /// How many instructions the verifier processed to accept it (the
    /// `processed N insns` of its log; Linux 5.16, `None` before).
    pub verified_insns: Option<u32>,
    /// The kernel id of the program's BTF (Linux 5.0), `None` without BTF.
    pub btf_id: Option<u32>,
    /// How often the kernel skipped running the program because it was
    /// already running on that CPU (Linux 5.12; 0 before): an attached
    /// program's events that happen while it runs — an interrupt, or on a
    /// preemptible kernel another task scheduled in mid-run — are not
    /// seen by it, and counted here instead.
    pub recursion_misses: u64,
    /// The kernel ids of the maps the program uses, in the order the
    /// verifier met them (Linux 4.15; empty before). The translated
    /// instructions name maps by these ids.
    pub map_ids: Vec<u32>,
    /// Bytes of translated instructions (8 per slot; Linux 4.13): the
    /// code the verifier accepted and rewrote, which the JIT compiles or
    /// the interpreter runs. 0 without `CAP_BPF`/`CAP_SYS_ADMIN`.
    pub xlated_len: usize,
    /// The translated instructions themselves, printable with
    /// [`insn::Listing`]. They differ from what was loaded:
    ///
    /// - map fds are kernel map ids (`ld_imm64` with `src_reg` 1 or 2),
    ///   and other 64-bit constants the verifier resolved are plain
    ///   values: an arena global is its user address;
    /// - `addr_space_cast` to the kernel's address space is a 32-bit move
    ///   (`w1 = w1`), and arena loads and stores, which the kernel runs in
    ///   an internal mode, are shown as plain ones (6.12 and 6.18 do so);
    /// - context accesses, some helper calls (an array map's lookup, with
    ///   the JIT on) and bounded loops (`may_goto`) are rewritten or
    ///   inlined; the kernel's own code may use its internal register r11,
    ///   which is no register a program may name, so [`insn::Listing`]
    ///   prints those slots as `<invalid: …>`;
    /// - helper and kfunc calls carry the call target the kernel computed
    ///   (on x86-64, an offset from its call base; 0 when
    ///   [`addresses_hidden`](ProgramInfo::addresses_hidden)) instead of
    ///   the helper or BTF id, and bpf-to-bpf calls of a JIT-compiled
    ///   program carry the callee's function index.
    pub xlated_insns: std::result::Result<Vec<Insn>, Withheld>,
    /// Bytes of JIT-compiled machine code (Linux 4.13), 0 when the
    /// program is not JIT-compiled or without `CAP_BPF`/`CAP_SYS_ADMIN`.
    pub jited_len: usize,
    /// The machine code (all functions, one after the other).
    pub jited_code: std::result::Result<Vec<u8>, Withheld>,
    /// The kernel hid its own addresses from this answer: raw dumps are
    /// not allowed for the fd's opener (see
    /// [`Withheld::RawDumpNotAllowed`]), or the caller lacks the
    /// capability. Then helper and kfunc call targets in
    /// [`xlated_insns`](ProgramInfo::xlated_insns) are 0 and the JIT code
    /// is withheld.
    pub addresses_hidden: bool,
    /// How many times the program ran, while `kernel.bpf_stats_enabled`
    /// was 1 (Linux 5.1; 0 otherwise).
    pub run_count: u64,
    /// The time it spent running over those runs (Linux 5.1).
    pub run_time: Duration,
}

impl ProgramInfo {
    /// The number of translated instruction slots (`xlated_len / 8`; an
    /// `ld_imm64` takes two).
    pub fn xlated_insn_count(&self) -> usize {
        self.xlated_len / 8
    }
}

impl Program {
    /// The kernel's view of the program, with the code it runs:
    /// `BPF_OBJ_GET_INFO_BY_FD` (Linux 4.13) twice, once for the lengths
    /// and once with buffers of those lengths for the translated
    /// instructions, the JIT code, the map ids and the function addresses
    /// (which only tell whether the kernel hides its addresses, and are
    /// not kept).
    ///
    /// The kernel needs no capability for the identity fields, but
    /// reports code lengths of 0 and no code without `CAP_BPF` or
    /// `CAP_SYS_ADMIN` ([`Withheld::NoCapability`]), and withholds code
    /// that would show kernel addresses when raw dumps are not allowed
    /// ([`ProgramInfo::addresses_hidden`]). It answers `EBADF`/`EINVAL`
    /// only for an fd that is not a program, which a [`Program`] never
    /// holds; [`Error::Invalid`] if the code's buffers cannot be allocated.
    pub fn info(&self) -> Result<ProgramInfo> {
        let fail = |e| Error::bpf(Cmd::ObjGetInfoByFd, format!("program '{}'", self.name), e);
        let fd = self.fd.as_fd();
        let counts = sys::prog_info(fd).map_err(fail)?;
        let mut xlated = self.buffer::<u8>(counts.xlated_prog_len, "translated instructions")?;
        let mut jited = self.buffer::<u8>(counts.jited_prog_len, "JIT code")?;
        let mut map_ids = self.buffer::<u32>(counts.nr_map_ids, "map ids")?;
        let mut ksyms = self.buffer::<u64>(counts.nr_jited_ksyms, "function addresses")?;
        let (answer, filled) = sys::prog_info_into(
            fd,
            &mut ProgInfoBuffers {
                xlated: &mut xlated,
                jited: &mut jited,
                map_ids: &mut map_ids,
                jited_ksyms: &mut ksyms,
            },
        )
        .map_err(fail)?;
        // Lengths 0: the caller lacks the capability (a loaded program
        // always has instructions).
        let no_capability = counts.xlated_prog_len == 0;
        // Which answer tells whether raw dumps are allowed: the function
        // addresses (withheld from 4.18 on whenever they are not), else the
        // JIT code; with neither asked for, nothing was hidden that could be.
        let raw_dump_ok = if !ksyms.is_empty() {
            filled.jited_ksyms
        } else if !jited.is_empty() {
            filled.jited
        } else {
            true
        };
        let xlated_insns = if no_capability {
            Err(Withheld::NoCapability)
        } else if !filled.xlated {
            Err(Withheld::Blinded)
        } else {
            let n = (answer.xlated_prog_len as usize).min(xlated.len());
            xlated.truncate(n - n % 8);
            Ok(insn::from_bytes(&xlated).unwrap_or_default())
        };
        let jited_code = if no_capability {
            Err(Withheld::NoCapability)
        } else if counts.jited_prog_len == 0 {
            Err(Withheld::NotJitCompiled)
        } else if !filled.xlated || !filled.jited {
            // After withholding blinded instructions, some kernels skip
            // the rest of the answer: the JIT code was not copied either.
            Err(Withheld::RawDumpNotAllowed)
        } else {
            jited.truncate((answer.jited_prog_len as usize).min(jited.len()));
            Ok(jited)
        };
        map_ids.truncate((answer.nr_map_ids as usize).min(map_ids.len()));
        // The identity and counts come from the first answer, which every
        // kernel fills completely.
        Ok(ProgramInfo {
            id: counts.id,
            program_type: ProgramType(counts.prog_type),
            name: sys::object_name_text(&counts.name),
            tag: ProgramTag(counts.tag),
            load_time: Duration::from_nanos(counts.load_time),
            created_by_uid: counts.created_by_uid,
            gpl_compatible: counts.gpl_compatible & 1 != 0,
            verified_insns: (counts.verified_insns != 0).then_some(counts.verified_insns),
            btf_id: (counts.btf_id != 0).then_some(counts.btf_id),
            recursion_misses: counts.recursion_misses,
            map_ids,
            xlated_len: counts.xlated_prog_len as usize,
            xlated_insns,
            jited_len: counts.jited_prog_len as usize,
            jited_code,
            addresses_hidden: no_capability || !filled.xlated || !raw_dump_ok,
            run_count: counts.run_cnt,
            run_time: Duration::from_nanos(counts.run_time_ns),
        })
    }

    /// A zeroed buffer of `n` elements for the kernel to fill, or an error
    /// naming the program when it cannot be allocated.
    fn buffer<T: Copy + Default>(&self, n: u32, what: &str) -> Result<Vec<T>> {
        let n = n as usize;
        let mut v = Vec::new();
        v.try_reserve_exact(n).map_err(|_| {
            Error::invalid(
                "program info",
                format!(
                    "cannot allocate {n} elements of {what} for program '{}'",
                    self.name
                ),
            )
        })?;
        v.resize(n, T::default());
        Ok(v)
    }
}
