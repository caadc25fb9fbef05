//! The kernel ABI's vocabulary: numbers from `include/uapi/linux/bpf.h`
//! that both the pure layer ([`insn`](crate::insn), [`btf`](crate::btf),
//! [`obj`](crate::obj)) and the live layer ([`sys`](crate::sys),
//! [`arena`](crate::arena), [`map`](crate::map), [`prog`](crate::prog), …)
//! speak: program types, program load flags, map types, map flags and
//! attach types.
//!
//! Plain data only: no system calls, no `unsafe`, no `libc`, and no other
//! module of this crate. The live modules re-export what they use under
//! their old paths ([`prog::ProgramType`](crate::prog::ProgramType),
//! [`arena::MAP_TYPE_ARENA`](crate::arena::MAP_TYPE_ARENA),
//! [`sys::BPF_F_MMAPABLE`](crate::sys::BPF_F_MMAPABLE), …).

#![forbid(unsafe_code)]

/// A program type (`enum bpf_prog_type`).
///
/// A newtype rather than an enum so that types newer than this crate can
/// still be named (`ProgramType(42)`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProgramType(pub u32);

/// `enum bpf_prog_type` names, lower case without the prefix, by number.
const PROGRAM_TYPE_NAMES: [&str; 33] = [
    "unspec",
    "socket_filter",
    "kprobe",
    "sched_cls",
    "sched_act",
    "tracepoint",
    "xdp",
    "perf_event",
    "cgroup_skb",
    "cgroup_sock",
    "lwt_in",
    "lwt_out",
    "lwt_xmit",
    "sock_ops",
    "sk_skb",
    "cgroup_device",
    "sk_msg",
    "raw_tracepoint",
    "cgroup_sock_addr",
    "lwt_seg6local",
    "lirc_mode2",
    "sk_reuseport",
    "flow_dissector",
    "cgroup_sysctl",
    "raw_tracepoint_writable",
    "cgroup_sockopt",
    "tracing",
    "struct_ops",
    "ext",
    "lsm",
    "sk_lookup",
    "syscall",
    "netfilter",
];

impl ProgramType {
    /// The kernel's name for the type, lower case without the
    /// `BPF_PROG_TYPE_` prefix (`"syscall"`); `None` for a number this crate
    /// does not know.
    pub fn name(self) -> Option<&'static str> {
        usize::try_from(self.0)
            .ok()
            .and_then(|i| PROGRAM_TYPE_NAMES.get(i))
            .copied()
    }
}

impl core::fmt::Display for ProgramType {
    /// The name (`syscall`), or `unknown` for a number this crate does not
    /// know.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name().unwrap_or("unknown"))
    }
}

impl core::fmt::Debug for ProgramType {
    /// `ProgramType(syscall = 31)`, `ProgramType(unknown = 99)`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ProgramType({self} = {})", self.0)
    }
}

/// The program types of `enum bpf_prog_type` (Linux 6.18 knows 0 to 32).
impl ProgramType {
    /// `BPF_PROG_TYPE_SOCKET_FILTER` (1).
    pub const SOCKET_FILTER: ProgramType = ProgramType(1);
    /// `BPF_PROG_TYPE_KPROBE` (2).
    pub const KPROBE: ProgramType = ProgramType(2);
    /// `BPF_PROG_TYPE_SCHED_CLS` (3).
    pub const SCHED_CLS: ProgramType = ProgramType(3);
    /// `BPF_PROG_TYPE_SCHED_ACT` (4).
    pub const SCHED_ACT: ProgramType = ProgramType(4);
    /// `BPF_PROG_TYPE_TRACEPOINT` (5).
    pub const TRACEPOINT: ProgramType = ProgramType(5);
    /// `BPF_PROG_TYPE_XDP` (6).
    pub const XDP: ProgramType = ProgramType(6);
    /// `BPF_PROG_TYPE_PERF_EVENT` (7).
    pub const PERF_EVENT: ProgramType = ProgramType(7);
    /// `BPF_PROG_TYPE_CGROUP_SKB` (8).
    pub const CGROUP_SKB: ProgramType = ProgramType(8);
    /// `BPF_PROG_TYPE_CGROUP_SOCK` (9).
    pub const CGROUP_SOCK: ProgramType = ProgramType(9);
    /// `BPF_PROG_TYPE_LWT_IN` (10).
    pub const LWT_IN: ProgramType = ProgramType(10);
    /// `BPF_PROG_TYPE_LWT_OUT` (11).
    pub const LWT_OUT: ProgramType = ProgramType(11);
    /// `BPF_PROG_TYPE_LWT_XMIT` (12).
    pub const LWT_XMIT: ProgramType = ProgramType(12);
    /// `BPF_PROG_TYPE_SOCK_OPS` (13).
    pub const SOCK_OPS: ProgramType = ProgramType(13);
    /// `BPF_PROG_TYPE_SK_SKB` (14).
    pub const SK_SKB: ProgramType = ProgramType(14);
    /// `BPF_PROG_TYPE_CGROUP_DEVICE` (15).
    pub const CGROUP_DEVICE: ProgramType = ProgramType(15);
    /// `BPF_PROG_TYPE_SK_MSG` (16).
    pub const SK_MSG: ProgramType = ProgramType(16);
    /// `BPF_PROG_TYPE_RAW_TRACEPOINT` (17).
    pub const RAW_TRACEPOINT: ProgramType = ProgramType(17);
    /// `BPF_PROG_TYPE_CGROUP_SOCK_ADDR` (18).
    pub const CGROUP_SOCK_ADDR: ProgramType = ProgramType(18);
    /// `BPF_PROG_TYPE_LWT_SEG6LOCAL` (19).
    pub const LWT_SEG6LOCAL: ProgramType = ProgramType(19);
    /// `BPF_PROG_TYPE_LIRC_MODE2` (20).
    pub const LIRC_MODE2: ProgramType = ProgramType(20);
    /// `BPF_PROG_TYPE_SK_REUSEPORT` (21).
    pub const SK_REUSEPORT: ProgramType = ProgramType(21);
    /// `BPF_PROG_TYPE_FLOW_DISSECTOR` (22).
    pub const FLOW_DISSECTOR: ProgramType = ProgramType(22);
    /// `BPF_PROG_TYPE_CGROUP_SYSCTL` (23).
    pub const CGROUP_SYSCTL: ProgramType = ProgramType(23);
    /// `BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE` (24).
    pub const RAW_TRACEPOINT_WRITABLE: ProgramType = ProgramType(24);
    /// `BPF_PROG_TYPE_CGROUP_SOCKOPT` (25).
    pub const CGROUP_SOCKOPT: ProgramType = ProgramType(25);
    /// `BPF_PROG_TYPE_TRACING` (26).
    pub const TRACING: ProgramType = ProgramType(26);
    /// `BPF_PROG_TYPE_STRUCT_OPS` (27).
    pub const STRUCT_OPS: ProgramType = ProgramType(27);
    /// `BPF_PROG_TYPE_EXT` (28).
    pub const EXT: ProgramType = ProgramType(28);
    /// `BPF_PROG_TYPE_LSM` (29).
    pub const LSM: ProgramType = ProgramType(29);
    /// `BPF_PROG_TYPE_SK_LOOKUP` (30).
    pub const SK_LOOKUP: ProgramType = ProgramType(30);
    /// Run only through `BPF_PROG_TEST_RUN`; must be loaded sleepable (6.18:
    /// "Syscall programs can only be sleepable", `EINVAL`).
    pub const SYSCALL: ProgramType = ProgramType(31);
    /// `BPF_PROG_TYPE_NETFILTER` (32).
    pub const NETFILTER: ProgramType = ProgramType(32);
}

bitflags::bitflags! {
    /// `BPF_PROG_LOAD` flags (`prog_flags`).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct ProgramFlags: u32 {
        /// `BPF_F_STRICT_ALIGNMENT`.
        const STRICT_ALIGNMENT = 1 << 0;
        /// `BPF_F_ANY_ALIGNMENT`.
        const ANY_ALIGNMENT = 1 << 1;
        /// `BPF_F_TEST_RND_HI32`.
        const TEST_RND_HI32 = 1 << 2;
        /// `BPF_F_TEST_STATE_FREQ`.
        const TEST_STATE_FREQ = 1 << 3;
        /// `BPF_F_SLEEPABLE`: may call sleepable helpers and kfuncs (the arena
        /// page kfuncs before 7.0).
        const SLEEPABLE = 1 << 4;
        /// `BPF_F_XDP_HAS_FRAGS`.
        const XDP_HAS_FRAGS = 1 << 5;
        /// `BPF_F_XDP_DEV_BOUND_ONLY`.
        const XDP_DEV_BOUND_ONLY = 1 << 6;
        /// `BPF_F_TEST_REG_INVARIANTS`.
        const TEST_REG_INVARIANTS = 1 << 7;
        /// Bits this crate does not know are passed through.
        const _ = !0;
    }
}

/// `enum bpf_map_type` names, lower case without the prefix, by number.
const MAP_TYPE_NAMES: [&str; 34] = [
    "unspec",
    "hash",
    "array",
    "prog_array",
    "perf_event_array",
    "percpu_hash",
    "percpu_array",
    "stack_trace",
    "cgroup_array",
    "lru_hash",
    "lru_percpu_hash",
    "lpm_trie",
    "array_of_maps",
    "hash_of_maps",
    "devmap",
    "sockmap",
    "cpumap",
    "xskmap",
    "sockhash",
    "cgroup_storage",
    "reuseport_sockarray",
    "percpu_cgroup_storage",
    "queue",
    "stack",
    "sk_storage",
    "devmap_hash",
    "struct_ops",
    "ringbuf",
    "inode_storage",
    "task_storage",
    "bloom_filter",
    "user_ringbuf",
    "cgrp_storage",
    "arena",
];

/// The kernel's name for map type `t`, lower case without the
/// `BPF_MAP_TYPE_` prefix (`"arena"` for 33); `None` for a number this
/// crate does not know.
pub fn map_type_name(t: u32) -> Option<&'static str> {
    usize::try_from(t)
        .ok()
        .and_then(|i| MAP_TYPE_NAMES.get(i))
        .copied()
}

/// Map flag names (`BPF_F_*`, lower case without the prefix) by bit.
const MAP_FLAG_NAMES: [(u32, &str); 19] = [
    (1 << 0, "no_prealloc"),
    (1 << 1, "no_common_lru"),
    (1 << 2, "numa_node"),
    (1 << 3, "rdonly"),
    (1 << 4, "wronly"),
    (1 << 5, "stack_build_id"),
    (1 << 6, "zero_seed"),
    (1 << 7, "rdonly_prog"),
    (1 << 8, "wronly_prog"),
    (1 << 9, "clone"),
    (1 << 10, "mmapable"),
    (1 << 11, "preserve_elems"),
    (1 << 12, "inner_map"),
    (1 << 13, "link"),
    (1 << 14, "path_fd"),
    (1 << 15, "vtype_btf_obj_fd"),
    (1 << 16, "token_fd"),
    (1 << 17, "segv_on_fault"),
    (1 << 18, "no_user_conv"),
];

/// Map flags, shown as the number and the names of the bits this crate
/// knows: `0x400 (mmapable)`, `0x60400 (mmapable|segv_on_fault|no_user_conv)`,
/// `0x0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapFlags(pub u32);

impl MapFlags {
    /// The names of the set bits this crate knows, lowest bit first.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        MAP_FLAG_NAMES
            .iter()
            .filter(move |(bit, _)| self.0 & bit != 0)
            .map(|(_, n)| *n)
    }
}

impl core::fmt::Display for MapFlags {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:#x}", self.0)?;
        let mut names = self.names();
        if let Some(first) = names.next() {
            write!(f, " ({first}")?;
            for n in names {
                write!(f, "|{n}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// `BPF_MAP_TYPE_ARRAY`: global data sections are one-element arrays.
pub const BPF_MAP_TYPE_ARRAY: u32 = 2;
/// `BPF_MAP_TYPE_RINGBUF` (Linux 5.8): BPF programs produce records, user
/// space consumes them.
pub const BPF_MAP_TYPE_RINGBUF: u32 = 27;
/// `BPF_MAP_TYPE_USER_RINGBUF` (Linux 6.1): user space produces records,
/// BPF programs drain them (`bpf_user_ringbuf_drain`).
pub const BPF_MAP_TYPE_USER_RINGBUF: u32 = 31;
/// `BPF_MAP_TYPE_ARENA` (Linux 6.9).
pub const MAP_TYPE_ARENA: u32 = 33;
/// `BPF_MAP_TYPE_STRUCT_OPS` (Linux 5.6): the value is a kernel struct
/// of function pointers (`.struct_ops`, `.struct_ops.link` variables).
pub const BPF_MAP_TYPE_STRUCT_OPS: u32 = 26;

/// `BPF_F_NUMA_NODE` (map flag, Linux 4.14): `numa_node` is valid. The
/// only creation flag a ring buffer takes up to Linux 6.18.
pub const BPF_F_NUMA_NODE: u32 = 1 << 2;

/// `BPF_RINGBUF_BUSY_BIT`: set in a ring buffer record's length word while
/// the record is reserved and not yet submitted or discarded.
pub const BPF_RINGBUF_BUSY_BIT: u32 = 1 << 31;
/// `BPF_RINGBUF_DISCARD_BIT`: set in a ring buffer record's length word
/// when the record was discarded (consumers skip it).
pub const BPF_RINGBUF_DISCARD_BIT: u32 = 1 << 30;
/// `BPF_RINGBUF_HDR_SZ`: the size of a ring buffer record's header (a
/// `u32` length with the two bits above, a `u32` page offset the kernel
/// uses for itself); records start at multiples of 8.
pub const BPF_RINGBUF_HDR_SZ: u32 = 8;
/// `BPF_RB_NO_WAKEUP` (flag of `bpf_ringbuf_output`/`_submit`/`_discard`
/// and `bpf_user_ringbuf_drain`): wake nobody for this record.
pub const BPF_RB_NO_WAKEUP: u64 = 1 << 0;
/// `BPF_RB_FORCE_WAKEUP`: wake the other side even when it has not caught
/// up.
pub const BPF_RB_FORCE_WAKEUP: u64 = 1 << 1;

/// `BPF_F_RDONLY_PROG` (map flag): programs may only read the map
/// (`.rodata`, `.kconfig`).
pub const BPF_F_RDONLY_PROG: u32 = 1 << 7;
/// `BPF_F_MMAPABLE` (Linux 5.5): array values (and arenas, which must have
/// it) can be mapped into user space.
pub const BPF_F_MMAPABLE: u32 = 1 << 10;
/// `BPF_F_LINK` (Linux 6.4): a struct_ops map registered through a link
/// (`BPF_LINK_CREATE`) rather than by its update.
pub const BPF_F_LINK: u32 = 1 << 13;

/// `BPF_TRACE_RAW_TP` (`enum bpf_attach_type`): `tp_btf/` programs.
pub const BPF_TRACE_RAW_TP: u32 = 23;
/// `BPF_TRACE_FENTRY`: `fentry/` programs.
pub const BPF_TRACE_FENTRY: u32 = 24;
/// `BPF_TRACE_FEXIT`: `fexit/` programs.
pub const BPF_TRACE_FEXIT: u32 = 25;
/// `BPF_MODIFY_RETURN`: `fmod_ret/` programs.
pub const BPF_MODIFY_RETURN: u32 = 26;
/// `BPF_LSM_MAC`: `lsm/` programs.
pub const BPF_LSM_MAC: u32 = 27;
/// `BPF_TRACE_ITER`: `iter/` programs.
pub const BPF_TRACE_ITER: u32 = 28;

/// Whether this architecture uses the generic `open(2)` flag values (most
/// do; alpha, mips, parisc and sparc have their own).
const GENERIC_OPEN_FLAGS: bool = cfg!(any(
    target_arch = "x86_64",
    target_arch = "x86",
    target_arch = "aarch64",
    target_arch = "arm",
    target_arch = "riscv64",
    target_arch = "riscv32",
    target_arch = "powerpc64",
    target_arch = "powerpc",
    target_arch = "s390x",
    target_arch = "loongarch64"
));

/// `O_NONBLOCK` (`open(2)`) where it has the generic value (0, meaning not
/// used, elsewhere): opening a FIFO or device then never blocks. Object
/// files are opened with it, so a path swapped for a FIFO after its check
/// cannot hang the reader; where it is 0, only the check guards.
pub const O_NONBLOCK: i32 = if GENERIC_OPEN_FLAGS { 0o4000 } else { 0 };

/// The file type of `stat(2)` (`S_IFMT`) in words, for messages about a
/// path that should have been another kind of file: "a regular file", "a
/// directory", "a FIFO", "a character device", "a block device", "a
/// socket", "a symbolic link", else "a special file".
pub fn file_type_name(t: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_file() {
        "a regular file"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "a special file"
    }
}

/// `BPF_CGROUP_INET_INGRESS`: `cgroup_skb/ingress` programs.
pub const BPF_CGROUP_INET_INGRESS: u32 = 0;
/// `BPF_CGROUP_INET_EGRESS`: `cgroup_skb/egress` programs.
pub const BPF_CGROUP_INET_EGRESS: u32 = 1;
/// `BPF_XDP` (Linux 5.9): XDP programs attached through a link.
pub const BPF_XDP: u32 = 37;
/// `BPF_PERF_EVENT` (Linux 5.15): a program attached to a perf event
/// (tracepoint, kprobe, uprobe) through a link.
pub const BPF_PERF_EVENT: u32 = 41;
/// `BPF_STRUCT_OPS` (Linux 6.4): a struct_ops map attached through a link.
pub const BPF_STRUCT_OPS: u32 = 44;
/// `BPF_TCX_INGRESS` (Linux 6.6): `tcx/ingress` programs.
pub const BPF_TCX_INGRESS: u32 = 46;
/// `BPF_TCX_EGRESS` (Linux 6.6): `tcx/egress` programs.
pub const BPF_TCX_EGRESS: u32 = 47;

/// `enum bpf_link_type`: the kind of a `bpf_link`, as
/// `BPF_OBJ_GET_INFO_BY_FD` reports it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct LinkType(pub u32);

const LINK_TYPE_NAMES: &[&str] = &[
    "unspec",
    "raw_tracepoint",
    "tracing",
    "cgroup",
    "iter",
    "netns",
    "xdp",
    "perf_event",
    "kprobe_multi",
    "struct_ops",
    "netfilter",
    "tcx",
    "uprobe_multi",
    "netkit",
    "sockmap",
];

impl LinkType {
    /// `BPF_LINK_TYPE_RAW_TRACEPOINT` (1).
    pub const RAW_TRACEPOINT: LinkType = LinkType(1);
    /// `BPF_LINK_TYPE_TRACING` (2): fentry, fexit, fmod_ret, tp_btf, lsm.
    pub const TRACING: LinkType = LinkType(2);
    /// `BPF_LINK_TYPE_CGROUP` (3).
    pub const CGROUP: LinkType = LinkType(3);
    /// `BPF_LINK_TYPE_ITER` (4).
    pub const ITER: LinkType = LinkType(4);
    /// `BPF_LINK_TYPE_XDP` (6).
    pub const XDP: LinkType = LinkType(6);
    /// `BPF_LINK_TYPE_PERF_EVENT` (7): tracepoints, kprobes, uprobes.
    pub const PERF_EVENT: LinkType = LinkType(7);
    /// `BPF_LINK_TYPE_STRUCT_OPS` (9).
    pub const STRUCT_OPS: LinkType = LinkType(9);
    /// `BPF_LINK_TYPE_TCX` (11).
    pub const TCX: LinkType = LinkType(11);

    /// The uapi name without its prefix (`"tracing"`), if known.
    pub fn name(self) -> Option<&'static str> {
        LINK_TYPE_NAMES.get(self.0 as usize).copied()
    }
}

impl core::fmt::Debug for LinkType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.name() {
            Some(n) => write!(f, "LinkType({n} = {})", self.0),
            None => write!(f, "LinkType({})", self.0),
        }
    }
}

impl core::fmt::Display for LinkType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "link type {}", self.0),
        }
    }
}
