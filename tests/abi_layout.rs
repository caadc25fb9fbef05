//! Every attr field offset in `sys` against the uapi `union bpf_attr` of
//! Linux 6.18, and the info structs against the running
//! kernel's own BTF.

mod common;

use bpf_arena::btf::kind;
use bpf_arena::sys::*;
use std::mem::{offset_of, size_of};

macro_rules! offsets {
    ($t:ty { $($f:ident: $o:expr),* $(,)? } size $s:expr) => {{
        $( assert_eq!(offset_of!($t, $f), $o, concat!(stringify!($t), ".", stringify!($f))); )*
        assert_eq!(size_of::<$t>(), $s, concat!("size of ", stringify!($t)));
    }};
}

/// The `open(2)` flag the object reader names itself (the pure layer has no
/// `libc`) is the C library's.
#[test]
fn open_flags_match_libc() {
    assert_eq!(bpf_arena::abi::O_NONBLOCK, libc::O_NONBLOCK);
}

#[test]
fn attr_offsets_match_appendix_a() {
    offsets!(MapCreateAttr {
        map_type: 0, key_size: 4, value_size: 8, max_entries: 12, map_flags: 16, inner_map_fd: 20,
        numa_node: 24, map_name: 28, map_ifindex: 44, btf_fd: 48, btf_key_type_id: 52,
        btf_value_type_id: 56, btf_vmlinux_value_type_id: 60, map_extra: 64,
        value_type_btf_obj_fd: 72, map_token_fd: 76,
    } size 80);
    offsets!(ProgLoadAttr {
        prog_type: 0, insn_cnt: 4, insns: 8, license: 16, log_level: 24, log_size: 28, log_buf: 32,
        kern_version: 40, prog_flags: 44, prog_name: 48, prog_ifindex: 64, expected_attach_type: 68,
        prog_btf_fd: 72, func_info_rec_size: 76, func_info: 80, func_info_cnt: 88,
        line_info_rec_size: 92, line_info: 96, line_info_cnt: 104, attach_btf_id: 108,
        attach_prog_fd: 112, core_relo_cnt: 116, fd_array: 120, core_relos: 128,
        core_relo_rec_size: 136, log_true_size: 140, prog_token_fd: 144, fd_array_cnt: 148,
    } size 152);
    offsets!(MapElemAttr { map_fd: 0, key: 8, value: 16, flags: 24 } size 32);
    offsets!(MapFreezeAttr { map_fd: 0 } size 4);
    offsets!(ObjPinAttr { pathname: 0, bpf_fd: 8, file_flags: 12, path_fd: 16 } size 24);
    offsets!(TestRunAttr {
        prog_fd: 0, retval: 4, data_size_in: 8, data_size_out: 12, data_in: 16, data_out: 24,
        repeat: 32, duration: 36, ctx_size_in: 40, ctx_size_out: 44, ctx_in: 48, ctx_out: 56,
        flags: 64, cpu: 68, batch_size: 72,
    } size 80);
    offsets!(GetFdByIdAttr { id: 0, next_id: 4, open_flags: 8, fd_by_id_token_fd: 12 } size 16);
    offsets!(InfoAttr { bpf_fd: 0, info_len: 4, info: 8 } size 16);
    offsets!(BtfLoadAttr {
        btf: 0, btf_log_buf: 8, btf_size: 16, btf_log_size: 20, btf_log_level: 24,
        btf_log_true_size: 28, btf_flags: 32, btf_token_fd: 36,
    } size 40);
    offsets!(StreamReadAttr { stream_buf: 0, stream_buf_len: 8, stream_id: 12, prog_fd: 16 } size 24);
    offsets!(MapInfo {
        map_type: 0, id: 4, key_size: 8, value_size: 12, max_entries: 16, map_flags: 20, name: 24,
        ifindex: 40, btf_vmlinux_value_type_id: 44, netns_dev: 48, netns_ino: 56, btf_id: 64,
        btf_key_type_id: 68, btf_value_type_id: 72, btf_vmlinux_id: 76, map_extra: 80, hash: 88,
        hash_size: 96,
    } size 104);
    assert_eq!(size_of::<ProgInfo>(), 232);
    offsets!(LinkCreateAttr {
        prog_fd: 0, target: 4, attach_type: 8, flags: 12, union_16: 16, union_24: 24, union_32: 32,
    } size 48);
    offsets!(RawTracepointAttr { name: 0, prog_fd: 8 } size 16);
    offsets!(LinkFdAttr { link_fd: 0, flags: 4 } size 8);
    offsets!(LinkInfoRaw { link_type: 0, id: 4, prog_id: 8, union: 16 } size 96);
    offsets!(PerfEventAttr {
        type_: 0, size: 4, config: 8, sample_period: 16, sample_type: 24, read_format: 32,
        flags: 40, wakeup_events: 48, bp_type: 52, config1: 56, config2: 64,
    } size 112);
    assert_eq!(size_of::<bpf_arena::insn::Insn>(), 8);
}

/// Member byte offsets of `struct name` in vmlinux BTF, by member name.
fn kernel_offsets(name: &str) -> Vec<(String, u32)> {
    let btf = bpf_arena::kfunc::vmlinux_btf().expect("vmlinux BTF");
    let id = btf
        .find_by_name(kind::STRUCT, name)
        .unwrap_or_else(|| panic!("struct {name}"));
    btf.members(id)
        .unwrap()
        .into_iter()
        .map(|(n, _, bits)| (n.to_string(), bits / 8))
        .collect()
}

/// Checks our offsets of `name`'s fields against the kernel's BTF. A field
/// newer than this kernel may be absent from it (its release is the third
/// element); any other missing field, or a different offset, fails.
fn check_struct(name: &str, ours: &[(&str, usize, &str)]) {
    let k = kernel_offsets(name);
    for (n, o, since) in ours {
        match k.iter().find(|(kn, _)| kn == n) {
            Some((_, ko)) => assert_eq!(*ko as usize, *o, "{name}.{n}"),
            None if !common::kernel_at_least(since) => {}
            None => panic!(
                "{name}.{n} (Linux {since}) is not in this kernel's BTF ({})",
                common::kernel_release()
            ),
        }
    }
}

/// The info structs agree with what this kernel's BTF says, field by field.
#[test]
fn info_structs_match_the_running_kernel() {
    check_struct(
        "bpf_link_info",
        &[
            ("type", offset_of!(LinkInfoRaw, link_type), "5.8"),
            ("id", offset_of!(LinkInfoRaw, id), "5.8"),
            ("prog_id", offset_of!(LinkInfoRaw, prog_id), "5.8"),
        ],
    );
    check_struct(
        "perf_event_attr",
        &[
            ("type", offset_of!(PerfEventAttr, type_), "4.1"),
            ("config", offset_of!(PerfEventAttr, config), "4.1"),
            ("size", offset_of!(PerfEventAttr, size), "4.1"),
            ("sample_type", offset_of!(PerfEventAttr, sample_type), "4.1"),
            ("read_format", offset_of!(PerfEventAttr, read_format), "4.1"),
            ("bp_type", offset_of!(PerfEventAttr, bp_type), "4.1"),
        ],
    );
    check_struct(
        "bpf_map_info",
        &[
            ("type", offset_of!(MapInfo, map_type), "4.13"),
            ("id", offset_of!(MapInfo, id), "4.13"),
            ("key_size", offset_of!(MapInfo, key_size), "4.13"),
            ("value_size", offset_of!(MapInfo, value_size), "4.13"),
            ("max_entries", offset_of!(MapInfo, max_entries), "4.13"),
            ("map_flags", offset_of!(MapInfo, map_flags), "4.13"),
            ("name", offset_of!(MapInfo, name), "4.15"),
            ("btf_id", offset_of!(MapInfo, btf_id), "4.18"),
            ("map_extra", offset_of!(MapInfo, map_extra), "5.16"),
            ("hash", offset_of!(MapInfo, hash), "6.18"),
            ("hash_size", offset_of!(MapInfo, hash_size), "6.18"),
        ],
    );
    check_struct(
        "bpf_prog_info",
        &[
            ("type", offset_of!(ProgInfo, prog_type), "4.13"),
            (
                "jited_prog_len",
                offset_of!(ProgInfo, jited_prog_len),
                "4.13",
            ),
            (
                "xlated_prog_len",
                offset_of!(ProgInfo, xlated_prog_len),
                "4.13",
            ),
            ("name", offset_of!(ProgInfo, name), "4.15"),
            ("btf_id", offset_of!(ProgInfo, btf_id), "5.0"),
            ("nr_line_info", offset_of!(ProgInfo, nr_line_info), "5.0"),
            ("run_time_ns", offset_of!(ProgInfo, run_time_ns), "5.1"),
            ("run_cnt", offset_of!(ProgInfo, run_cnt), "5.1"),
            (
                "verified_insns",
                offset_of!(ProgInfo, verified_insns),
                "5.16",
            ),
            ("attach_btf_id", offset_of!(ProgInfo, attach_btf_id), "6.0"),
        ],
    );
}

/// (Creation) step 1: an attr larger than the kernel's union with a non-zero
/// tail is E2BIG (the kernel's union is 168 bytes on 6.18).
#[test]
fn oversized_attr_with_nonzero_tail_is_e2big() {
    require!(bpf_arena::features::Feature::ArenaMap);
    let mut buf = [0u8; 4096];
    buf[0..4].copy_from_slice(&33u32.to_le_bytes());
    buf[12..16].copy_from_slice(&1u32.to_le_bytes());
    buf[16..20].copy_from_slice(&(1u32 << 10).to_le_bytes());
    let call = |buf: &mut [u8; 4096]| {
        // SAFETY: BPF_MAP_CREATE reads at most `size` bytes of `buf`.
        let r = unsafe { libc::syscall(libc::SYS_bpf, 0, buf.as_mut_ptr(), buf.len() as u32) };
        if r < 0 {
            Err(Errno::last())
        } else {
            // SAFETY: the kernel returned a new fd we own.
            drop(unsafe {
                <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(r as i32)
            });
            Ok(())
        }
    };
    assert_eq!(call(&mut buf), Ok(()), "zero tail is fine");
    buf[4000] = 1;
    assert_eq!(call(&mut buf), Err(Errno::E2BIG));
}

/// The names the CLI prints come from the library (`abi`).
#[test]
fn abi_names_print_as_the_kernel_names_them() {
    use bpf_arena::abi::{MapFlags, ProgramType, map_type_name};
    assert_eq!(ProgramType::SYSCALL.to_string(), "syscall");
    assert_eq!(
        format!("{:?}", ProgramType::RAW_TRACEPOINT),
        "ProgramType(raw_tracepoint = 17)"
    );
    assert_eq!(
        format!("{:?}", ProgramType(999)),
        "ProgramType(unknown = 999)"
    );
    assert_eq!(map_type_name(33), Some("arena"));
    assert_eq!(map_type_name(2), Some("array"));
    assert_eq!(map_type_name(99), None);
    assert_eq!(MapFlags(0).to_string(), "0x0");
    assert_eq!(
        MapFlags((1 << 10) | (1 << 17) | (1 << 18)).to_string(),
        "0x60400 (mmapable|segv_on_fault|no_user_conv)"
    );
}
