//! Section name → program type, expected attach type and flags, following
//! libbpf's conventions (`SEC("...")` names).

use crate::abi::{ProgramFlags, ProgramType};

/// What a section name says about its programs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectionDef {
    /// Program type.
    pub prog_type: ProgramType,
    /// `expected_attach_type` (0 when none).
    pub attach_type: u32,
    /// Load flags (sleepable, XDP frags).
    pub flags: ProgramFlags,
}

/// How a pattern matches: `Exact("xdp")`, `Plus("kprobe")` (the name or
/// `kprobe/...`), `Prefix("cgroup/")`.
#[derive(Clone, Copy)]
enum Pat {
    Exact(&'static str),
    Plus(&'static str),
}

use Pat::*;

const S: ProgramFlags = ProgramFlags::SLEEPABLE;
const N: ProgramFlags = ProgramFlags::empty();

/// `(pattern, type, attach type, flags)`, most specific first.
const TABLE: &[(Pat, ProgramType, u32, ProgramFlags)] = &[
    (Exact("socket"), ProgramType::SOCKET_FILTER, 0, N),
    (
        Exact("sk_reuseport/migrate"),
        ProgramType::SK_REUSEPORT,
        40,
        N,
    ),
    (Exact("sk_reuseport"), ProgramType::SK_REUSEPORT, 39, N),
    (Plus("kprobe.multi"), ProgramType::KPROBE, 42, N),
    (Plus("kretprobe.multi"), ProgramType::KPROBE, 42, N),
    (Plus("uprobe.multi.s"), ProgramType::KPROBE, 48, S),
    (Plus("uprobe.multi"), ProgramType::KPROBE, 48, N),
    (Plus("kprobe"), ProgramType::KPROBE, 0, N),
    (Plus("kretprobe"), ProgramType::KPROBE, 0, N),
    (Plus("ksyscall"), ProgramType::KPROBE, 0, N),
    (Plus("kretsyscall"), ProgramType::KPROBE, 0, N),
    (Plus("uprobe.s"), ProgramType::KPROBE, 0, S),
    (Plus("uretprobe.s"), ProgramType::KPROBE, 0, S),
    (Plus("uprobe"), ProgramType::KPROBE, 0, N),
    (Plus("uretprobe"), ProgramType::KPROBE, 0, N),
    (Plus("usdt.s"), ProgramType::KPROBE, 0, S),
    (Plus("usdt"), ProgramType::KPROBE, 0, N),
    (Exact("tc/ingress"), ProgramType::SCHED_CLS, 46, N),
    (Exact("tc/egress"), ProgramType::SCHED_CLS, 47, N),
    (Exact("tcx/ingress"), ProgramType::SCHED_CLS, 46, N),
    (Exact("tcx/egress"), ProgramType::SCHED_CLS, 47, N),
    (Plus("tc"), ProgramType::SCHED_CLS, 0, N),
    (Plus("classifier"), ProgramType::SCHED_CLS, 0, N),
    (Plus("action"), ProgramType::SCHED_ACT, 0, N),
    (Plus("tracepoint"), ProgramType::TRACEPOINT, 0, N),
    (Plus("tp"), ProgramType::TRACEPOINT, 0, N),
    (
        Plus("raw_tracepoint.w"),
        ProgramType::RAW_TRACEPOINT_WRITABLE,
        0,
        N,
    ),
    (Plus("raw_tp.w"), ProgramType::RAW_TRACEPOINT_WRITABLE, 0, N),
    (Plus("raw_tracepoint"), ProgramType::RAW_TRACEPOINT, 0, N),
    (Plus("raw_tp"), ProgramType::RAW_TRACEPOINT, 0, N),
    (Plus("tp_btf"), ProgramType::TRACING, 23, N),
    (Plus("fentry.s"), ProgramType::TRACING, 24, S),
    (Plus("fentry"), ProgramType::TRACING, 24, N),
    (Plus("fexit.s"), ProgramType::TRACING, 25, S),
    (Plus("fexit"), ProgramType::TRACING, 25, N),
    (Plus("fmod_ret.s"), ProgramType::TRACING, 26, S),
    (Plus("fmod_ret"), ProgramType::TRACING, 26, N),
    (Plus("freplace"), ProgramType::EXT, 0, N),
    (Plus("lsm.s"), ProgramType::LSM, 27, S),
    (Plus("lsm_cgroup"), ProgramType::LSM, 43, N),
    (Plus("lsm"), ProgramType::LSM, 27, N),
    (Plus("iter.s"), ProgramType::TRACING, 28, S),
    (Plus("iter"), ProgramType::TRACING, 28, N),
    (Exact("syscall"), ProgramType::SYSCALL, 0, S),
    (
        Exact("xdp.frags/devmap"),
        ProgramType::XDP,
        33,
        ProgramFlags::XDP_HAS_FRAGS,
    ),
    (Exact("xdp/devmap"), ProgramType::XDP, 33, N),
    (
        Exact("xdp.frags/cpumap"),
        ProgramType::XDP,
        35,
        ProgramFlags::XDP_HAS_FRAGS,
    ),
    (Exact("xdp/cpumap"), ProgramType::XDP, 35, N),
    (
        Exact("xdp.frags"),
        ProgramType::XDP,
        37,
        ProgramFlags::XDP_HAS_FRAGS,
    ),
    (Plus("xdp"), ProgramType::XDP, 37, N),
    (Plus("perf_event"), ProgramType::PERF_EVENT, 0, N),
    (Plus("lwt_in"), ProgramType::LWT_IN, 0, N),
    (Plus("lwt_out"), ProgramType::LWT_OUT, 0, N),
    (Plus("lwt_xmit"), ProgramType::LWT_XMIT, 0, N),
    (Plus("lwt_seg6local"), ProgramType::LWT_SEG6LOCAL, 0, N),
    (Exact("sockops"), ProgramType::SOCK_OPS, 3, N),
    (Exact("sk_skb/stream_parser"), ProgramType::SK_SKB, 4, N),
    (Exact("sk_skb/stream_verdict"), ProgramType::SK_SKB, 5, N),
    (Exact("sk_skb/verdict"), ProgramType::SK_SKB, 38, N),
    (Plus("sk_skb"), ProgramType::SK_SKB, 0, N),
    (Exact("sk_msg"), ProgramType::SK_MSG, 7, N),
    (Exact("lirc_mode2"), ProgramType::LIRC_MODE2, 16, N),
    (Exact("flow_dissector"), ProgramType::FLOW_DISSECTOR, 17, N),
    (Exact("cgroup_skb/ingress"), ProgramType::CGROUP_SKB, 0, N),
    (Exact("cgroup_skb/egress"), ProgramType::CGROUP_SKB, 1, N),
    (Exact("cgroup/skb"), ProgramType::CGROUP_SKB, 0, N),
    (Exact("cgroup/sock_create"), ProgramType::CGROUP_SOCK, 2, N),
    (
        Exact("cgroup/sock_release"),
        ProgramType::CGROUP_SOCK,
        34,
        N,
    ),
    (Exact("cgroup/sock"), ProgramType::CGROUP_SOCK, 2, N),
    (Exact("cgroup/post_bind4"), ProgramType::CGROUP_SOCK, 12, N),
    (Exact("cgroup/post_bind6"), ProgramType::CGROUP_SOCK, 13, N),
    (Exact("cgroup/dev"), ProgramType::CGROUP_DEVICE, 6, N),
    (Exact("cgroup/bind4"), ProgramType::CGROUP_SOCK_ADDR, 8, N),
    (Exact("cgroup/bind6"), ProgramType::CGROUP_SOCK_ADDR, 9, N),
    (
        Exact("cgroup/connect4"),
        ProgramType::CGROUP_SOCK_ADDR,
        10,
        N,
    ),
    (
        Exact("cgroup/connect6"),
        ProgramType::CGROUP_SOCK_ADDR,
        11,
        N,
    ),
    (
        Exact("cgroup/sendmsg4"),
        ProgramType::CGROUP_SOCK_ADDR,
        14,
        N,
    ),
    (
        Exact("cgroup/sendmsg6"),
        ProgramType::CGROUP_SOCK_ADDR,
        15,
        N,
    ),
    (
        Exact("cgroup/recvmsg4"),
        ProgramType::CGROUP_SOCK_ADDR,
        19,
        N,
    ),
    (
        Exact("cgroup/recvmsg6"),
        ProgramType::CGROUP_SOCK_ADDR,
        20,
        N,
    ),
    (
        Exact("cgroup/getpeername4"),
        ProgramType::CGROUP_SOCK_ADDR,
        29,
        N,
    ),
    (
        Exact("cgroup/getpeername6"),
        ProgramType::CGROUP_SOCK_ADDR,
        30,
        N,
    ),
    (
        Exact("cgroup/getsockname4"),
        ProgramType::CGROUP_SOCK_ADDR,
        31,
        N,
    ),
    (
        Exact("cgroup/getsockname6"),
        ProgramType::CGROUP_SOCK_ADDR,
        32,
        N,
    ),
    (Exact("cgroup/sysctl"), ProgramType::CGROUP_SYSCTL, 18, N),
    (
        Exact("cgroup/getsockopt"),
        ProgramType::CGROUP_SOCKOPT,
        21,
        N,
    ),
    (
        Exact("cgroup/setsockopt"),
        ProgramType::CGROUP_SOCKOPT,
        22,
        N,
    ),
    (Plus("struct_ops.s"), ProgramType::STRUCT_OPS, 0, S),
    (Plus("struct_ops"), ProgramType::STRUCT_OPS, 0, N),
    (Exact("sk_lookup"), ProgramType::SK_LOOKUP, 36, N),
    (Exact("netfilter"), ProgramType::NETFILTER, 45, N),
];

/// The definition for section `name`, or `None` if libbpf would not know it.
pub fn section_def(name: &str) -> Option<SectionDef> {
    TABLE
        .iter()
        .find(|(p, ..)| matches(*p, name))
        .map(|&(_, prog_type, attach_type, flags)| SectionDef {
            prog_type,
            attach_type,
            flags,
        })
}

fn matches(p: Pat, name: &str) -> bool {
    match p {
        Exact(s) => name == s,
        Plus(s) => name == s || name.strip_prefix(s).is_some_and(|r| r.starts_with('/')),
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "unit tests"
)]
mod tests {
    use super::*;

    #[test]
    fn libbpf_section_names() {
        let d = |n| section_def(n).unwrap();
        assert_eq!(d("syscall").prog_type, ProgramType::SYSCALL);
        assert!(d("syscall").flags.contains(ProgramFlags::SLEEPABLE));
        assert_eq!(d("socket").prog_type, ProgramType::SOCKET_FILTER);
        assert_eq!(d("xdp").prog_type, ProgramType::XDP);
        assert!(d("xdp.frags").flags.contains(ProgramFlags::XDP_HAS_FRAGS));
        assert_eq!(d("tc").prog_type, ProgramType::SCHED_CLS);
        assert_eq!(d("classifier/foo").prog_type, ProgramType::SCHED_CLS);
        assert_eq!(
            d("tracepoint/syscalls/sys_enter_read").prog_type,
            ProgramType::TRACEPOINT
        );
        assert_eq!(d("raw_tp/sys_enter").prog_type, ProgramType::RAW_TRACEPOINT);
        assert_eq!(d("kprobe/do_sys_open").prog_type, ProgramType::KPROBE);
        let it = d("iter.s/bpf_map");
        assert_eq!((it.prog_type, it.attach_type), (ProgramType::TRACING, 28));
        assert!(it.flags.contains(ProgramFlags::SLEEPABLE));
        assert!(!d("iter/bpf_map").flags.contains(ProgramFlags::SLEEPABLE));
        assert!(section_def("syscallx").is_none());
        assert!(section_def("kprobex").is_none());
        assert!(section_def("unknown_thing").is_none());
    }
}
