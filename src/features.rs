//! Feature probes: what the running kernel supports, asked once per process.
//!
//! Each probe is tri-state ([`Support`]): supported, not supported (with the
//! kernel release that added it), or inconclusive (with what went wrong —
//! typically `EPERM` without privileges). As in cilium/ebpf, only answers
//! that mean "the kernel does not know this" (`EINVAL`, `E2BIG`, a specific
//! verifier message) count as "no"; anything else is inconclusive.

#![forbid(unsafe_code)]

use crate::abi::{
    BPF_F_MMAPABLE, BPF_MAP_TYPE_ARRAY, BPF_TCX_INGRESS, MAP_TYPE_ARENA, ProgramType,
};
use crate::arena::{ArenaBuilder, ArenaFlags};
use crate::error::Error;
use crate::insn::{AtomicOp, Reg, Size, asm, encode};
use crate::kfunc;
use crate::prog::ProgramBuilder;
use crate::sys::{self, Errno, MapCreateAttr};
use std::fmt;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::OnceLock;

/// The answer of one probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Support {
    /// The kernel has it.
    Yes,
    /// The kernel lacks it; `since` names the first release with it.
    No {
        /// First kernel release with the feature.
        since: &'static str,
    },
    /// The probe could not tell (`reason` says why, e.g. an errno).
    Inconclusive {
        /// What went wrong.
        reason: String,
    },
}

impl Support {
    /// Whether the answer is [`Support::Yes`].
    pub fn is_yes(&self) -> bool {
        matches!(self, Support::Yes)
    }
}

impl fmt::Display for Support {
    /// `yes`, `no (added in Linux 6.17)`, `no (EPERM (Operation not permitted))`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Support::Yes => f.write_str("yes"),
            Support::No { since } => write!(f, "no (added in Linux {since})"),
            Support::Inconclusive { reason } => write!(f, "no ({reason})"),
        }
    }
}

/// The probed features, in the order `bpf-arena probe` prints them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Feature {
    /// `BPF_MAP_TYPE_ARENA` (6.9).
    ArenaMap,
    /// `BPF_F_SEGV_ON_FAULT` (6.9).
    SegvOnFault,
    /// `BPF_F_NO_USER_CONV` (6.9).
    NoUserConv,
    /// `bpf_arena_alloc_pages` in vmlinux BTF (6.9).
    KfuncAllocPages,
    /// `bpf_arena_free_pages` in vmlinux BTF (6.9).
    KfuncFreePages,
    /// `bpf_arena_reserve_pages` in vmlinux BTF (6.17).
    KfuncReservePages,
    /// The arena kfuncs can be called from non-sleepable programs (7.0,
    /// commit "bpf: arena: make arena kfuncs any context safe"); "no" means
    /// they need a sleepable program (SYSCALL + `BPF_F_SLEEPABLE`).
    KfuncsNonSleepable,
    /// `fd_array_cnt` binds an arena to a program that never names it (6.14).
    FdArrayBinding,
    /// `ld_imm64` map-value offsets of 512 MiB and more (kernel commit
    /// "bpf/verifier: Do not limit maximum direct offset into arena map").
    FullRangeDirectValue,
    /// Atomic add/xchg/cmpxchg on arena memory (6.10 on x86-64).
    ArenaAtomics,
    /// Sign-extending loads from arena memory (6.18 on x86-64/arm64).
    ArenaSignExtendingLoads,
    /// The load-acquire and store-release instructions (`BPF_ATOMIC` with
    /// `BPF_LOAD_ACQ`/`BPF_STORE_REL`, 8- and 16-bit sizes included: 6.15).
    LoadAcquire,
    /// tcx links: `BPF_LINK_CREATE` with `BPF_TCX_INGRESS` or
    /// `BPF_TCX_EGRESS`, the `tcx/ingress` and `tcx/egress` attachments
    /// (6.6).
    TcxLinks,
    /// The BPF JIT is enabled (arenas require it).
    Jit,
    /// This process holds `CAP_BPF`.
    CapBpf,
    /// This process holds `CAP_PERFMON`.
    CapPerfmon,
    /// This process holds `CAP_SYS_ADMIN`.
    CapSysAdmin,
}

impl Feature {
    /// Every feature, in display order.
    pub const ALL: [Feature; 17] = [
        Feature::ArenaMap,
        Feature::SegvOnFault,
        Feature::NoUserConv,
        Feature::KfuncAllocPages,
        Feature::KfuncFreePages,
        Feature::KfuncReservePages,
        Feature::KfuncsNonSleepable,
        Feature::FdArrayBinding,
        Feature::FullRangeDirectValue,
        Feature::ArenaAtomics,
        Feature::ArenaSignExtendingLoads,
        Feature::LoadAcquire,
        Feature::TcxLinks,
        Feature::Jit,
        Feature::CapBpf,
        Feature::CapPerfmon,
        Feature::CapSysAdmin,
    ];

    /// The name `bpf-arena probe` prints.
    pub const fn name(self) -> &'static str {
        match self {
            Feature::ArenaMap => "arena_map",
            Feature::SegvOnFault => "arena_flag_segv_on_fault",
            Feature::NoUserConv => "arena_flag_no_user_conv",
            Feature::KfuncAllocPages => "kfunc_bpf_arena_alloc_pages",
            Feature::KfuncFreePages => "kfunc_bpf_arena_free_pages",
            Feature::KfuncReservePages => "kfunc_bpf_arena_reserve_pages",
            Feature::KfuncsNonSleepable => "arena_kfuncs_non_sleepable",
            Feature::FdArrayBinding => "fd_array_binding",
            Feature::FullRangeDirectValue => "full_range_direct_value",
            Feature::ArenaAtomics => "arena_atomics",
            Feature::ArenaSignExtendingLoads => "arena_sign_extending_loads",
            Feature::LoadAcquire => "load_acquire_store_release",
            Feature::TcxLinks => "tcx_links",
            Feature::Jit => "jit",
            Feature::CapBpf => "cap_bpf",
            Feature::CapPerfmon => "cap_perfmon",
            Feature::CapSysAdmin => "cap_sys_admin",
        }
    }

    /// The first kernel release with the feature.
    pub const fn since(self) -> &'static str {
        match self {
            Feature::ArenaMap | Feature::SegvOnFault | Feature::NoUserConv => "6.9",
            Feature::KfuncAllocPages | Feature::KfuncFreePages => "6.9",
            Feature::KfuncReservePages => "6.17",
            Feature::KfuncsNonSleepable => "7.0",
            Feature::FdArrayBinding => "6.14",
            Feature::FullRangeDirectValue => "7.0",
            Feature::ArenaAtomics => "6.10",
            Feature::ArenaSignExtendingLoads => "6.18",
            Feature::LoadAcquire => "6.15",
            Feature::TcxLinks => "6.6",
            Feature::Jit => "3.16",
            Feature::CapBpf | Feature::CapPerfmon => "5.8",
            Feature::CapSysAdmin => "2.2",
        }
    }

    fn index(self) -> usize {
        Feature::ALL
            .iter()
            .position(|f| *f == self)
            .expect("listed")
    }
}

/// Probes `feature`. A definite answer ([`Support::Yes`], [`Support::No`])
/// is cached for the process; an inconclusive one (missing privileges, an
/// fd limit reached, memory) is not, so the next call probes again.
///
/// Works on any kernel: each feature's release is [`Feature::since`]. The
/// probes create one-page arenas and maps (`BPF_MAP_CREATE`), load tiny
/// programs (`BPF_PROG_LOAD`), try one link that cannot be made
/// (`BPF_LINK_CREATE` to interface index 0, for tcx), read
/// `/sys/kernel/btf/vmlinux` (the kfunc probes, which need no privileges)
/// and ask `capget(2)`. Only the
/// kernel's "unknown" answers — `EINVAL`, `E2BIG`, the verifier message
/// that names the missing piece — are [`Support::No`]; anything else,
/// such as `EPERM` without `CAP_BPF` (or `CAP_SYS_ADMIN`, and
/// `CAP_PERFMON` for arena programs, `CAP_NET_ADMIN` for tcx), is [`Support::Inconclusive`] with
/// the errno.
pub fn probe(feature: Feature) -> Support {
    static CACHE: [OnceLock<Support>; Feature::ALL.len()] =
        [const { OnceLock::new() }; Feature::ALL.len()];
    let slot = &CACHE[feature.index()];
    if let Some(s) = slot.get() {
        return s.clone();
    }
    match run(feature) {
        s @ Support::Inconclusive { .. } => s,
        s => slot.get_or_init(|| s).clone(),
    }
}

fn no(f: Feature) -> Support {
    Support::No { since: f.since() }
}

/// What an inconclusive probe reports: the errno when there is one
/// (`EPERM (Operation not permitted)`), else the error's text.
trait Reason {
    fn reason(&self) -> String;
}

impl Reason for Errno {
    fn reason(&self) -> String {
        self.to_string()
    }
}

impl Reason for Error {
    fn reason(&self) -> String {
        match self.errno() {
            Some(e) => e.to_string(),
            None => self.to_string(),
        }
    }
}

impl Reason for &str {
    fn reason(&self) -> String {
        self.to_string()
    }
}

fn inconclusive(e: impl Reason) -> Support {
    Support::Inconclusive { reason: e.reason() }
}

fn run(f: Feature) -> Support {
    match f {
        Feature::ArenaMap => create_arena(0, f),
        Feature::SegvOnFault => create_arena(ArenaFlags::SEGV_ON_FAULT.bits(), f),
        Feature::NoUserConv => create_arena(ArenaFlags::NO_USER_CONV.bits(), f),
        Feature::KfuncAllocPages => kfunc_present(kfunc::ARENA_ALLOC_PAGES, f),
        Feature::KfuncFreePages => kfunc_present(kfunc::ARENA_FREE_PAGES, f),
        Feature::KfuncReservePages => kfunc_present(kfunc::ARENA_RESERVE_PAGES, f),
        Feature::KfuncsNonSleepable => kfuncs_non_sleepable(),
        Feature::FdArrayBinding => fd_array_binding(),
        Feature::FullRangeDirectValue => full_range_direct_value(),
        Feature::ArenaAtomics => arena_program_loads(
            f,
            &[
                asm::mov64_imm(Reg::R2, 1),
                asm::atomic(
                    Size::DW,
                    AtomicOp::Add { fetch: false },
                    Reg::R1,
                    0,
                    Reg::R2,
                ),
            ],
            "is not allowed",
        ),
        Feature::ArenaSignExtendingLoads => arena_program_loads(
            f,
            &[crate::insn::Instruction::Load {
                size: Size::W,
                sign_extend: true,
                dst: Reg::R2,
                src: Reg::R1,
                off: 0,
            }],
            "not supported",
        ),
        Feature::LoadAcquire => load_acquire(),
        Feature::TcxLinks => tcx_links(),
        Feature::Jit => jit(),
        Feature::CapBpf => capability(sys::cap::BPF),
        Feature::CapPerfmon => capability(sys::cap::PERFMON),
        Feature::CapSysAdmin => capability(sys::cap::SYS_ADMIN),
    }
}

fn create_arena(flags: u32, f: Feature) -> Support {
    let attr = MapCreateAttr {
        map_type: MAP_TYPE_ARENA,
        max_entries: 1,
        map_flags: BPF_F_MMAPABLE | flags,
        ..Default::default()
    };
    match sys::map_create(&attr) {
        Ok(_) => Support::Yes,
        Err(Errno::EINVAL | Errno::E2BIG) => no(f),
        Err(Errno::EOPNOTSUPP) => Support::Inconclusive {
            reason: "EOPNOTSUPP: the JIT has no arena support".into(),
        },
        Err(e) => inconclusive(e),
    }
}

fn kfunc_present(name: &str, f: Feature) -> Support {
    match kfunc::kfunc_id(name) {
        Ok(Some(_)) => Support::Yes,
        Ok(None) => no(f),
        Err(e) => inconclusive(e),
    }
}

fn capability(cap: u32) -> Support {
    match sys::has_capability(cap) {
        Ok(true) => Support::Yes,
        Ok(false) => Support::Inconclusive {
            reason: "not held by this process".into(),
        },
        Err(e) => inconclusive(e),
    }
}

/// A one-page arena for probing `f`, or the answer for `f` when there is
/// none: without arenas, `f` is missing too, and the release that matters
/// is the one that brought `f` (never earlier than the arena's 6.9).
fn probe_arena(f: Feature) -> Result<crate::arena::Arena, Support> {
    ArenaBuilder::new(1).create().map_err(|e| match e {
        Error::NotSupported { .. } => no(f),
        e => inconclusive(e),
    })
}

/// Loads a SOCKET_FILTER program that casts an arena address in r1 and then
/// runs `body`; "no" when the verifier log contains `absent`.
fn arena_program_loads(f: Feature, body: &[crate::insn::Instruction], absent: &str) -> Support {
    let arena = match probe_arena(f) {
        Ok(a) => a,
        Err(s) => return s,
    };
    let mut v = vec![
        asm::ld_map_value(Reg::R1, arena.as_raw_fd(), 4096.min(arena.len() as i32 - 8)),
        asm::cast_kern(Reg::R1, Reg::R1),
    ];
    v.extend_from_slice(body);
    v.extend_from_slice(&[asm::mov64_imm(Reg::R0, 0), asm::exit()]);
    let insns = encode(&v);
    match ProgramBuilder::new(ProgramType::SOCKET_FILTER, &insns)
        .name("probe")
        .load()
    {
        Ok(_) => Support::Yes,
        Err(Error::Verifier(v)) if v.log_contains(absent) => no(f),
        Err(e) => inconclusive(e),
    }
}

fn kfuncs_non_sleepable() -> Support {
    let id = match kfunc::kfunc_id(kfunc::ARENA_FREE_PAGES) {
        Ok(Some(id)) => id,
        Ok(None) => return no(Feature::KfuncsNonSleepable),
        Err(e) => return inconclusive(e),
    };
    let arena = match probe_arena(Feature::KfuncsNonSleepable) {
        Ok(a) => a,
        Err(s) => return s,
    };
    // free_pages(arena, NULL, 0) is a no-op; only the verdict matters.
    let insns = encode(&[
        asm::ld_map_fd(Reg::R1, arena.as_raw_fd()),
        asm::mov64_imm(Reg::R2, 0),
        asm::mov64_imm(Reg::R3, 0),
        asm::call_kfunc(id),
        asm::mov64_imm(Reg::R0, 0),
        asm::exit(),
    ]);
    match ProgramBuilder::new(ProgramType::SOCKET_FILTER, &insns)
        .name("probe")
        .load()
    {
        Ok(_) => Support::Yes,
        Err(Error::Verifier(v)) if v.log_contains("must be sleepable") => {
            no(Feature::KfuncsNonSleepable)
        }
        Err(e) => inconclusive(e),
    }
}

fn fd_array_binding() -> Support {
    let arena = match probe_arena(Feature::FdArrayBinding) {
        Ok(a) => a,
        Err(s) => return s,
    };
    // No instruction names the arena: only fd_array_cnt can bind it.
    let insns = encode(&[
        asm::mov64_imm(Reg::R1, 0),
        asm::cast_kern(Reg::R1, Reg::R1),
        asm::mov64_imm(Reg::R0, 0),
        asm::exit(),
    ]);
    let fds = [arena.as_fd()];
    match ProgramBuilder::new(ProgramType::SOCKET_FILTER, &insns)
        .name("probe")
        .fd_array(&fds)
        .bind_fd_array(true)
        .load()
    {
        Ok(_) => Support::Yes,
        Err(Error::Verifier(v)) if v.log_contains("associated arena") => {
            no(Feature::FdArrayBinding)
        }
        Err(Error::Bpf {
            errno: Errno::EINVAL | Errno::E2BIG,
            ..
        }) => no(Feature::FdArrayBinding),
        Err(e) => inconclusive(e),
    }
}

fn full_range_direct_value() -> Support {
    // libbpf's probe: a direct value 1 GiB into a 4-byte array must fail;
    // the message says whether the offset limit or the value bounds did it.
    let attr = MapCreateAttr {
        map_type: BPF_MAP_TYPE_ARRAY,
        key_size: 4,
        value_size: 4,
        max_entries: 1,
        ..Default::default()
    };
    let map = match sys::map_create(&attr) {
        Ok(m) => m,
        Err(e) => return inconclusive(e),
    };
    let insns = encode(&[
        asm::ld_map_value(Reg::R1, map.as_raw_fd(), 1 << 30),
        asm::mov64_imm(Reg::R0, 0),
        asm::exit(),
    ]);
    match ProgramBuilder::new(ProgramType::SOCKET_FILTER, &insns)
        .name("probe")
        .load()
    {
        Ok(_) => inconclusive("the out-of-bounds probe program loaded"),
        Err(Error::Verifier(v)) if v.log_contains("direct value offset of") => {
            no(Feature::FullRangeDirectValue)
        }
        Err(Error::Verifier(v)) if v.log_contains("invalid access to map value pointer") => {
            Support::Yes
        }
        Err(e) => inconclusive(e),
    }
}

/// A 16-bit load-acquire from the stack. Kernels before 6.15 know neither
/// the operation nor the 16-bit size of `BPF_ATOMIC` (`unknown opcode`,
/// `invalid atomic opcode`).
fn load_acquire() -> Support {
    let insns = encode(&[
        asm::mov64_imm(Reg::R0, 0),
        asm::store(Size::DW, Reg::R10, -8, Reg::R0),
        crate::insn::Instruction::Atomic {
            size: Size::H,
            op: AtomicOp::LoadAcquire,
            dst: Reg::R0,
            src: Reg::R10,
            off: -8,
        },
        asm::exit(),
    ]);
    match ProgramBuilder::new(ProgramType::SOCKET_FILTER, &insns)
        .name("probe")
        .load()
    {
        Ok(_) => Support::Yes,
        Err(Error::Verifier(v))
            if v.log_contains("unknown opcode") || v.log_contains("invalid atomic opcode") =>
        {
            no(Feature::LoadAcquire)
        }
        Err(e) => inconclusive(e),
    }
}

/// A `SCHED_CLS` program linked to interface index 0 with
/// `BPF_TCX_INGRESS`. A kernel with tcx looks the interface up and answers
/// `ENODEV`; an older one does not know the attach type: `EINVAL` (from
/// `BPF_LINK_CREATE`'s attach type check).
fn tcx_links() -> Support {
    let insns = encode(&[asm::mov64_imm(Reg::R0, 0), asm::exit()]);
    let prog = match ProgramBuilder::new(ProgramType::SCHED_CLS, &insns)
        .name("probe")
        .load()
    {
        Ok(p) => p,
        Err(e) => return inconclusive(e),
    };
    let attr = sys::LinkCreateAttr {
        prog_fd: prog.fd().as_raw_fd() as u32,
        target: 0,
        attach_type: BPF_TCX_INGRESS,
        ..Default::default()
    };
    match sys::link_create(&attr) {
        Err(Errno::ENODEV) => Support::Yes,
        Err(Errno::EINVAL) => no(Feature::TcxLinks),
        Ok(_) => inconclusive("a tcx link to interface index 0 was created"),
        Err(e) => inconclusive(e),
    }
}

fn jit() -> Support {
    let insns = encode(&[asm::mov64_imm(Reg::R0, 0), asm::exit()]);
    match ProgramBuilder::new(ProgramType::SOCKET_FILTER, &insns)
        .name("probe")
        .load()
    {
        // The lengths alone (one call, no code copied).
        Ok(p) => match sys::prog_info(p.fd()) {
            Ok(i) if i.jited_prog_len > 0 => Support::Yes,
            Ok(_) => Support::Inconclusive {
                reason: "disabled (net.core.bpf_jit_enable = 0)".into(),
            },
            Err(e) => inconclusive(e),
        },
        Err(e) => inconclusive(e),
    }
}

/// Every probe with its answer, in display order (see [`probe`] for what
/// each one asks the kernel and how its answers are read).
pub fn probe_all() -> Vec<(Feature, Support)> {
    Feature::ALL.iter().map(|f| (*f, probe(*f))).collect()
}
