//! ELF objects built by clang for BPF: parsed into an [`ObjectSpec`].
//!
//! Pure: bytes in, a plain-data description out; no system calls. Parsing the
//! same file gives the same spec on every machine. Kernel facts (map fds, the
//! arena's placement, kfunc ids) come in later, in [`crate::loader`].
//!
//! What is recognised (what clang 19 puts in libbpf-style objects):
//! - programs: every `FUNC` symbol in an executable section other than
//!   `.text`, typed by libbpf's section names (`syscall`, `socket`, `xdp`,
//!   `tc`, `tracepoint/…`, `raw_tp/…`, `kprobe/…`, `iter.s/…`, …); `.text`
//!   holds subprograms. A global `NOTYPE` symbol of size 0 there (hand-written
//!   assembly without `.type NAME,@function` and `.size`) is a function too,
//!   running to the next function symbol or the section's end
//!   ([`ProgramSpec::untyped`]); local labels are not;
//! - maps: BTF-defined in `.maps` (`__uint`, `__type`, `__ulong` incl.
//!   ENUM64 `map_extra`, `__array` inner maps, pinning), legacy `maps`
//!   records for BTF-less objects;
//! - global data: `.bss`, `.data`, `.rodata`, `.data.*`, `.rodata.*` (merged
//!   string sections included), with their variables;
//! - arena globals: `.addr_space.1`, with their initial bytes;
//! - struct_ops maps: each variable of `.struct_ops` / `.struct_ops.link`
//!   is a `BPF_MAP_TYPE_STRUCT_OPS` map ([`StructOpsSpec`]), its function
//!   pointers bound to programs by the section's relocations;
//! - externs: `.ksyms` (kfuncs, typed ksyms) and `.kconfig`;
//! - `license`, `version`, `.BTF`, `.BTF.ext`, and the relocations of every
//!   code section, classified by what they point at.

#![forbid(unsafe_code)]
#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod attach;
mod btf_fixup;
mod externs;
mod file;
mod image;
mod maps;
mod parse;
mod progtype;
pub mod relocate;
mod relocs;
mod spec;
mod struct_ops;

pub use attach::{AttachTarget, BtfKind, Iface, Needs, NoTarget, Why, elf_function_offset};
pub use btf_fixup::fixup_btf;
pub use image::Image;
pub(crate) use image::zeroed_vec;
pub use progtype::{SectionDef, section_def};
pub use spec::*;
pub use struct_ops::{
    FuncSlot, KernelMember, KernelMemberKind, KernelStructOps, MAX_STRUCT_OPS_MEMBERS,
    MAX_STRUCT_OPS_VALUE, MAX_STRUCT_OPS_VARIABLES, MemberKind, STRUCT_OPS_LINK_SECTION,
    STRUCT_OPS_SECTION, StructOpsMember, StructOpsSpec, StructOpsValue, VALUE_PREFIX,
    is_struct_ops_section,
};

use crate::btf;
use file::read_object_file;
use parse::parse;

/// The section arena globals live in.
pub const ARENA_SECTION: &str = ".addr_space.1";

/// Why an object could not be parsed. Each variant names the culprit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ObjError {
    /// The object file could not be opened or read (`call` is `"open"`,
    /// `"fstat"` or `"read"`).
    #[error("{call} failed for {}: {message}", path.display())]
    Io {
        /// The call that failed.
        call: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error's kind.
        kind: std::io::ErrorKind,
        /// The OS error number behind it, if any.
        os_error: Option<i32>,
        /// The I/O error's message.
        message: String,
    },
    /// The object file is not a regular file (a FIFO, a device, a
    /// directory, a socket); nothing was read.
    #[error("invalid object file: {} is {kind}, not a regular file", path.display())]
    NotRegular {
        /// The file.
        path: std::path::PathBuf,
        /// What it is (`"a FIFO"`, `"a directory"`, …).
        kind: &'static str,
    },
    /// The object file is larger than [`MAX_OBJECT_FILE`] (declared, or
    /// while being read).
    #[error("invalid object file: {} is {size} bytes; objects larger than {MAX_OBJECT_FILE} bytes are refused", path.display())]
    TooLarge {
        /// The file.
        path: std::path::PathBuf,
        /// Its size, or as much as was read.
        size: u64,
    },
    /// Not a little-endian 64-bit BPF ELF file, or truncated.
    #[error("not a BPF ELF object: {0}")]
    Elf(String),
    /// A section that cannot be used.
    #[error("section '{section}': {reason}")]
    Section {
        /// Section name.
        section: String,
        /// Why.
        reason: String,
    },
    /// A relocation that cannot be applied.
    #[error("section '{section}', instruction {insn}: relocation against '{symbol}': {reason}")]
    Relocation {
        /// Code section.
        section: String,
        /// Instruction index in the section.
        insn: usize,
        /// Symbol name.
        symbol: String,
        /// Why.
        reason: String,
    },
    /// A map definition that cannot be used.
    #[error("map '{map}': {reason}")]
    Map {
        /// Map name.
        map: String,
        /// Why.
        reason: String,
    },
    /// A symbol that cannot be used.
    #[error("symbol '{symbol}': {reason}")]
    Symbol {
        /// Symbol name.
        symbol: String,
        /// Why.
        reason: String,
    },
    /// Malformed BTF or BTF.ext.
    #[error("{section}: {source}")]
    Btf {
        /// `.BTF` or `.BTF.ext`.
        section: &'static str,
        /// What is wrong.
        source: btf::BtfError,
    },
}

/// libbpf's name for the map behind a data section: a prefix of the object
/// name plus the section name (`my_objec.bss`), or the section name alone
/// (cut to 15 bytes) for names with two or more dots; characters outside
/// `[A-Za-z0-9_.]` become `_`.
pub fn data_map_name(object: &str, section: &str) -> String {
    let name = if section.matches('.').count() >= 2 {
        section.chars().take(15).collect::<String>()
    } else {
        let keep = 15usize.saturating_sub(section.len().clamp(7, 15));
        let prefix: String = object.chars().take(keep).collect();
        format!("{prefix}{section}").chars().take(15).collect()
    };
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A section error.
fn sec_err(section: &str, reason: impl Into<String>) -> ObjError {
    ObjError::Section {
        section: section.to_string(),
        reason: reason.into(),
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
    fn data_map_names_follow_libbpf() {
        assert_eq!(data_map_name("my_object_file", ".bss"), "my_objec.bss");
        assert_eq!(
            data_map_name("my_object_file", ".rodata"),
            "my_objec.rodata"
        );
        assert_eq!(data_map_name("arena_list", ".kconfig"), "arena_l.kconfig");
        assert_eq!(data_map_name("x", ".rodata.str1.1"), ".rodata.str1.1");
        assert_eq!(
            data_map_name("x", ".data.a_very_long_name"),
            ".data.a_very_lo"
        );
        assert_eq!(data_map_name("a-b", ".bss"), "a_b.bss");
    }

    #[test]
    fn from_file_refuses_what_it_cannot_read() {
        let missing = std::path::Path::new("/nonexistent/x.bpf.o");
        match ObjectSpec::from_file(missing).unwrap_err() {
            ObjError::Io {
                call, kind, path, ..
            } => {
                assert_eq!(call, "open");
                assert_eq!(kind, std::io::ErrorKind::NotFound);
                assert_eq!(path, missing);
            }
            e => panic!("{e:?}"),
        }
        let e = ObjectSpec::from_file(std::path::Path::new("/")).unwrap_err();
        assert!(
            matches!(
                e,
                ObjError::NotRegular {
                    kind: "a directory",
                    ..
                }
            ),
            "{e:?}"
        );
        let e = ObjectSpec::from_file(std::path::Path::new("/dev/zero")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid object file: /dev/zero is a character device, not a regular file"
        );
    }
}
