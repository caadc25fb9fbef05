//! `union bpf_attr`, one `#[repr(C)]` struct per command.
//!
//! Each struct is sized to the fields the crate uses, with padding written out
//! so every byte is initialised (the kernel rejects non-zero bytes past the
//! fields it knows). Offsets are those of Linux 6.18's `union bpf_attr`
//! and are checked by a test against the uapi layout and the live BTF. Pointer fields are `u64` user
//! addresses, exactly as in the uapi header.

/// The `bpf(2)` command numbers (`enum bpf_cmd`) this crate issues.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
#[non_exhaustive]
pub enum Cmd {
    /// `BPF_MAP_CREATE` (0).
    MapCreate = 0,
    /// `BPF_MAP_LOOKUP_ELEM` (1).
    MapLookupElem = 1,
    /// `BPF_MAP_UPDATE_ELEM` (2).
    MapUpdateElem = 2,
    /// `BPF_MAP_DELETE_ELEM` (3).
    MapDeleteElem = 3,
    /// `BPF_MAP_GET_NEXT_KEY` (4).
    MapGetNextKey = 4,
    /// `BPF_PROG_LOAD` (5).
    ProgLoad = 5,
    /// `BPF_OBJ_PIN` (6).
    ObjPin = 6,
    /// `BPF_OBJ_GET` (7).
    ObjGet = 7,
    /// `BPF_PROG_TEST_RUN` (10).
    ProgTestRun = 10,
    /// `BPF_MAP_GET_FD_BY_ID` (14).
    MapGetFdById = 14,
    /// `BPF_OBJ_GET_INFO_BY_FD` (15).
    ObjGetInfoByFd = 15,
    /// `BPF_RAW_TRACEPOINT_OPEN` (17).
    RawTracepointOpen = 17,
    /// `BPF_BTF_LOAD` (18).
    BtfLoad = 18,
    /// `BPF_BTF_GET_FD_BY_ID` (19).
    BtfGetFdById = 19,
    /// `BPF_MAP_FREEZE` (22).
    MapFreeze = 22,
    /// `BPF_BTF_GET_NEXT_ID` (23).
    BtfGetNextId = 23,
    /// `BPF_LINK_CREATE` (28, Linux 5.7).
    LinkCreate = 28,
    /// `BPF_LINK_GET_FD_BY_ID` (30, Linux 5.8).
    LinkGetFdById = 30,
    /// `BPF_ITER_CREATE` (33, Linux 5.8).
    IterCreate = 33,
    /// `BPF_LINK_DETACH` (34, Linux 5.9).
    LinkDetach = 34,
    /// `BPF_PROG_STREAM_READ_BY_FD` (37, Linux 6.17+).
    ProgStreamReadByFd = 37,
}

impl Cmd {
    /// The uapi name, e.g. `"BPF_MAP_CREATE"`.
    pub const fn name(self) -> &'static str {
        match self {
            Cmd::MapCreate => "BPF_MAP_CREATE",
            Cmd::MapLookupElem => "BPF_MAP_LOOKUP_ELEM",
            Cmd::MapUpdateElem => "BPF_MAP_UPDATE_ELEM",
            Cmd::MapDeleteElem => "BPF_MAP_DELETE_ELEM",
            Cmd::MapGetNextKey => "BPF_MAP_GET_NEXT_KEY",
            Cmd::ProgLoad => "BPF_PROG_LOAD",
            Cmd::ObjPin => "BPF_OBJ_PIN",
            Cmd::ObjGet => "BPF_OBJ_GET",
            Cmd::ProgTestRun => "BPF_PROG_TEST_RUN",
            Cmd::MapGetFdById => "BPF_MAP_GET_FD_BY_ID",
            Cmd::ObjGetInfoByFd => "BPF_OBJ_GET_INFO_BY_FD",
            Cmd::BtfLoad => "BPF_BTF_LOAD",
            Cmd::MapFreeze => "BPF_MAP_FREEZE",
            Cmd::BtfGetFdById => "BPF_BTF_GET_FD_BY_ID",
            Cmd::BtfGetNextId => "BPF_BTF_GET_NEXT_ID",
            Cmd::ProgStreamReadByFd => "BPF_PROG_STREAM_READ_BY_FD",
            Cmd::RawTracepointOpen => "BPF_RAW_TRACEPOINT_OPEN",
            Cmd::LinkCreate => "BPF_LINK_CREATE",
            Cmd::LinkGetFdById => "BPF_LINK_GET_FD_BY_ID",
            Cmd::IterCreate => "BPF_ITER_CREATE",
            Cmd::LinkDetach => "BPF_LINK_DETACH",
        }
    }
}

impl std::fmt::Display for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

pub use crate::abi::{BPF_F_MMAPABLE, BPF_MAP_TYPE_ARRAY};

/// Marker for the attr structs below: `#[repr(C)]`, every byte initialised.
///
/// # Safety
/// Implementors must be `#[repr(C)]` structs without implicit padding, whose
/// pointer fields (if any) are either 0 or set by `sys` itself to memory that
/// outlives the call.
pub(crate) unsafe trait Attr: Sized {}

/// `BPF_MAP_CREATE` attributes (80 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct MapCreateAttr {
    /// `enum bpf_map_type`; 33 for an arena. Offset 0.
    pub map_type: u32,
    /// Offset 4. Must be 0 for an arena.
    pub key_size: u32,
    /// Offset 8. Must be 0 for an arena.
    pub value_size: u32,
    /// Offset 12. Number of pages for an arena (1..=2^20 with 4 KiB pages).
    pub max_entries: u32,
    /// Offset 16. `BPF_F_*` flags.
    pub map_flags: u32,
    /// Offset 20. Inner map template for map-in-map types.
    pub inner_map_fd: u32,
    /// Offset 24. Used only with `BPF_F_NUMA_NODE`.
    pub numa_node: u32,
    /// Offset 28. NUL-padded name, 15 characters at most (alnum, `_`, `.`).
    pub map_name: [u8; 16],
    /// Offset 44.
    pub map_ifindex: u32,
    /// Offset 48.
    pub btf_fd: u32,
    /// Offset 52.
    pub btf_key_type_id: u32,
    /// Offset 56.
    pub btf_value_type_id: u32,
    /// Offset 60.
    pub btf_vmlinux_value_type_id: u32,
    /// Offset 64. For an arena: 0 or the page-aligned user address of the mapping.
    pub map_extra: u64,
    /// Offset 72.
    pub value_type_btf_obj_fd: i32,
    /// Offset 76.
    pub map_token_fd: i32,
}
// SAFETY: repr(C), no implicit padding (all fields naturally aligned, 80 bytes), no pointers.
unsafe impl Attr for MapCreateAttr {}

/// `BPF_MAP_*_ELEM` and `BPF_MAP_GET_NEXT_KEY` attributes (32 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct MapElemAttr {
    /// Offset 0.
    pub map_fd: u32,
    /// Offset 4: padding.
    pub _pad0: u32,
    /// Offset 8: pointer to the key.
    pub key: u64,
    /// Offset 16: pointer to the value (or the next key).
    pub value: u64,
    /// Offset 24: `BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST`, `BPF_F_LOCK`.
    pub flags: u64,
}
// SAFETY: repr(C), explicit padding; pointers set by sys from live slices.
unsafe impl Attr for MapElemAttr {}

/// `BPF_MAP_FREEZE` attributes (4 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct MapFreezeAttr {
    /// Offset 0.
    pub map_fd: u32,
}
// SAFETY: repr(C), one field.
unsafe impl Attr for MapFreezeAttr {}

/// `BPF_OBJ_PIN` / `BPF_OBJ_GET` attributes (24 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct ObjPinAttr {
    /// Offset 0: pointer to a NUL-terminated path in a bpffs mount.
    pub pathname: u64,
    /// Offset 8: the fd to pin (0 for `BPF_OBJ_GET`).
    pub bpf_fd: u32,
    /// Offset 12: `BPF_F_RDONLY` / `BPF_F_WRONLY` for `BPF_OBJ_GET`.
    pub file_flags: u32,
    /// Offset 16: directory fd for relative paths (with `BPF_F_PATH_FD`).
    pub path_fd: i32,
    /// Offset 20: padding.
    pub _pad0: u32,
}
// SAFETY: repr(C), explicit padding; pathname set by sys from a live CStr.
unsafe impl Attr for ObjPinAttr {}

/// `BPF_PROG_LOAD` attributes (152 bytes, up to `fd_array_cnt`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct ProgLoadAttr {
    /// Offset 0: `enum bpf_prog_type`.
    pub prog_type: u32,
    /// Offset 4: number of 8-byte instruction slots.
    pub insn_cnt: u32,
    /// Offset 8: pointer to the instructions.
    pub insns: u64,
    /// Offset 16: pointer to the NUL-terminated license.
    pub license: u64,
    /// Offset 24: 0 (no log), 1, 2, or with `BPF_LOG_STATS` (4).
    pub log_level: u32,
    /// Offset 28: size of the log buffer.
    pub log_size: u32,
    /// Offset 32: pointer to the log buffer.
    pub log_buf: u64,
    /// Offset 40.
    pub kern_version: u32,
    /// Offset 44: `BPF_F_*` program flags (`BPF_F_SLEEPABLE` = 1 << 4).
    pub prog_flags: u32,
    /// Offset 48.
    pub prog_name: [u8; 16],
    /// Offset 64.
    pub prog_ifindex: u32,
    /// Offset 68: `enum bpf_attach_type`.
    pub expected_attach_type: u32,
    /// Offset 72.
    pub prog_btf_fd: u32,
    /// Offset 76.
    pub func_info_rec_size: u32,
    /// Offset 80: pointer to `bpf_func_info` records.
    pub func_info: u64,
    /// Offset 88.
    pub func_info_cnt: u32,
    /// Offset 92.
    pub line_info_rec_size: u32,
    /// Offset 96: pointer to `bpf_line_info` records.
    pub line_info: u64,
    /// Offset 104.
    pub line_info_cnt: u32,
    /// Offset 108.
    pub attach_btf_id: u32,
    /// Offset 112: `attach_prog_fd` / `attach_btf_obj_fd`.
    pub attach_prog_fd: u32,
    /// Offset 116.
    pub core_relo_cnt: u32,
    /// Offset 120: pointer to an array of fds (maps and module BTFs).
    pub fd_array: u64,
    /// Offset 128: pointer to `bpf_core_relo` records.
    pub core_relos: u64,
    /// Offset 136.
    pub core_relo_rec_size: u32,
    /// Offset 140: written by the kernel (6.4+): the log size it needed.
    pub log_true_size: u32,
    /// Offset 144.
    pub prog_token_fd: i32,
    /// Offset 148: number of fds in `fd_array` to bind to the program (6.14+).
    pub fd_array_cnt: u32,
}
// SAFETY: repr(C), no implicit padding (152 bytes); pointers set by sys from live slices.
unsafe impl Attr for ProgLoadAttr {}

/// `BPF_PROG_TEST_RUN` attributes (80 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct TestRunAttr {
    /// Offset 0.
    pub prog_fd: u32,
    /// Offset 4: written by the kernel: the program's return value (low 32 bits of R0).
    pub retval: u32,
    /// Offset 8.
    pub data_size_in: u32,
    /// Offset 12: in: size of `data_out`; out: bytes written.
    pub data_size_out: u32,
    /// Offset 16.
    pub data_in: u64,
    /// Offset 24.
    pub data_out: u64,
    /// Offset 32.
    pub repeat: u32,
    /// Offset 36: written by the kernel: average run time in ns.
    pub duration: u32,
    /// Offset 40.
    pub ctx_size_in: u32,
    /// Offset 44.
    pub ctx_size_out: u32,
    /// Offset 48.
    pub ctx_in: u64,
    /// Offset 56.
    pub ctx_out: u64,
    /// Offset 64.
    pub flags: u32,
    /// Offset 68.
    pub cpu: u32,
    /// Offset 72.
    pub batch_size: u32,
    /// Offset 76: padding.
    pub _pad0: u32,
}
// SAFETY: repr(C), explicit padding; pointers set by sys from live slices.
unsafe impl Attr for TestRunAttr {}

/// `BPF_OBJ_GET_INFO_BY_FD` attributes (16 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct InfoAttr {
    /// Offset 0.
    pub bpf_fd: u32,
    /// Offset 4: in: buffer size; out: bytes the kernel filled.
    pub info_len: u32,
    /// Offset 8: pointer to the info struct.
    pub info: u64,
}
// SAFETY: repr(C), no padding; info set by sys.
unsafe impl Attr for InfoAttr {}

/// `BPF_*_GET_FD_BY_ID` attributes (16 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct GetFdByIdAttr {
    /// Offset 0.
    pub id: u32,
    /// Offset 4.
    pub next_id: u32,
    /// Offset 8.
    pub open_flags: u32,
    /// Offset 12.
    pub fd_by_id_token_fd: i32,
}
// SAFETY: repr(C), no padding, no pointers.
unsafe impl Attr for GetFdByIdAttr {}

/// `BPF_BTF_LOAD` attributes (40 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct BtfLoadAttr {
    /// Offset 0: pointer to the BTF blob.
    pub btf: u64,
    /// Offset 8: pointer to the log buffer.
    pub btf_log_buf: u64,
    /// Offset 16.
    pub btf_size: u32,
    /// Offset 20.
    pub btf_log_size: u32,
    /// Offset 24.
    pub btf_log_level: u32,
    /// Offset 28: written by the kernel.
    pub btf_log_true_size: u32,
    /// Offset 32.
    pub btf_flags: u32,
    /// Offset 36.
    pub btf_token_fd: i32,
}
// SAFETY: repr(C), no padding; pointers set by sys.
unsafe impl Attr for BtfLoadAttr {}

/// `BPF_PROG_STREAM_READ_BY_FD` attributes (24 bytes, Linux 6.17+).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct StreamReadAttr {
    /// Offset 0.
    pub stream_buf: u64,
    /// Offset 8.
    pub stream_buf_len: u32,
    /// Offset 12: `BPF_STREAM_STDOUT` (1) or `BPF_STREAM_STDERR` (2).
    pub stream_id: u32,
    /// Offset 16.
    pub prog_fd: u32,
    /// Offset 20: padding.
    pub _pad0: u32,
}
// SAFETY: repr(C), explicit padding; stream_buf set by sys.
unsafe impl Attr for StreamReadAttr {}

/// `struct bpf_map_info` (104 bytes), filled by `BPF_OBJ_GET_INFO_BY_FD`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct MapInfo {
    /// Offset 0: `enum bpf_map_type`.
    pub map_type: u32,
    /// Offset 4.
    pub id: u32,
    /// Offset 8.
    pub key_size: u32,
    /// Offset 12.
    pub value_size: u32,
    /// Offset 16.
    pub max_entries: u32,
    /// Offset 20.
    pub map_flags: u32,
    /// Offset 24.
    pub name: [u8; 16],
    /// Offset 40.
    pub ifindex: u32,
    /// Offset 44.
    pub btf_vmlinux_value_type_id: u32,
    /// Offset 48.
    pub netns_dev: u64,
    /// Offset 56.
    pub netns_ino: u64,
    /// Offset 64.
    pub btf_id: u32,
    /// Offset 68.
    pub btf_key_type_id: u32,
    /// Offset 72.
    pub btf_value_type_id: u32,
    /// Offset 76.
    pub btf_vmlinux_id: u32,
    /// Offset 80: the creation-time `map_extra` (an arena's agreed address, or 0).
    pub map_extra: u64,
    /// Offset 88.
    pub hash: u64,
    /// Offset 96.
    pub hash_size: u32,
    /// Offset 100: padding.
    pub _pad0: u32,
}

/// `struct bpf_prog_info` (232 bytes), filled by `BPF_OBJ_GET_INFO_BY_FD`.
///
/// Pointer-valued request fields (`jited_prog_insns`, `map_ids`, …) are set
/// only by [`prog_info_into`](super::prog_info_into), from Rust buffers;
/// [`prog_info`](super::prog_info) leaves them 0, so the kernel only
/// reports counts and lengths.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct ProgInfo {
    /// Offset 0.
    pub prog_type: u32,
    /// Offset 4.
    pub id: u32,
    /// Offset 8.
    pub tag: [u8; 8],
    /// Offset 16: bytes of JITed code (0 when not JITed).
    pub jited_prog_len: u32,
    /// Offset 20.
    pub xlated_prog_len: u32,
    /// Offset 24.
    pub jited_prog_insns: u64,
    /// Offset 32.
    pub xlated_prog_insns: u64,
    /// Offset 40.
    pub load_time: u64,
    /// Offset 48.
    pub created_by_uid: u32,
    /// Offset 52.
    pub nr_map_ids: u32,
    /// Offset 56.
    pub map_ids: u64,
    /// Offset 64.
    pub name: [u8; 16],
    /// Offset 80.
    pub ifindex: u32,
    /// Offset 84: bit 0 is `gpl_compatible`.
    pub gpl_compatible: u32,
    /// Offset 88.
    pub netns_dev: u64,
    /// Offset 96.
    pub netns_ino: u64,
    /// Offset 104.
    pub nr_jited_ksyms: u32,
    /// Offset 108.
    pub nr_jited_func_lens: u32,
    /// Offset 112.
    pub jited_ksyms: u64,
    /// Offset 120.
    pub jited_func_lens: u64,
    /// Offset 128.
    pub btf_id: u32,
    /// Offset 132.
    pub func_info_rec_size: u32,
    /// Offset 136.
    pub func_info: u64,
    /// Offset 144.
    pub nr_func_info: u32,
    /// Offset 148.
    pub nr_line_info: u32,
    /// Offset 152.
    pub line_info: u64,
    /// Offset 160.
    pub jited_line_info: u64,
    /// Offset 168.
    pub nr_jited_line_info: u32,
    /// Offset 172.
    pub line_info_rec_size: u32,
    /// Offset 176.
    pub jited_line_info_rec_size: u32,
    /// Offset 180.
    pub nr_prog_tags: u32,
    /// Offset 184.
    pub prog_tags: u64,
    /// Offset 192.
    pub run_time_ns: u64,
    /// Offset 200.
    pub run_cnt: u64,
    /// Offset 208.
    pub recursion_misses: u64,
    /// Offset 216.
    pub verified_insns: u32,
    /// Offset 220.
    pub attach_btf_obj_id: u32,
    /// Offset 224.
    pub attach_btf_id: u32,
    /// Offset 228: padding.
    pub _pad0: u32,
}

/// `struct bpf_btf_info` (32 bytes), filled by `BPF_OBJ_GET_INFO_BY_FD`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct BtfInfo {
    /// Offset 0: buffer for the raw BTF (0: not requested).
    pub btf: u64,
    /// Offset 8: in: buffer size; out: BTF size.
    pub btf_size: u32,
    /// Offset 12.
    pub id: u32,
    /// Offset 16: buffer for the name.
    pub name: u64,
    /// Offset 24: in: name buffer size; out: name length.
    pub name_len: u32,
    /// Offset 28: 1 for the kernel's own BTF objects (vmlinux, modules).
    pub kernel_btf: u32,
}

// SAFETY (all four): repr(C) structs of integers with explicit padding;
// their pointer fields are 0 unless sys sets them to live buffers.
unsafe impl super::InfoStruct for MapInfo {}
unsafe impl super::InfoStruct for ProgInfo {}
unsafe impl super::InfoStruct for BtfInfo {}
unsafe impl super::InfoStruct for super::LinkInfoRaw {}
