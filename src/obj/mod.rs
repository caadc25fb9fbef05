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
//!   holds subprograms;
//! - maps: BTF-defined in `.maps` (`__uint`, `__type`, `__ulong` incl.
//!   ENUM64 `map_extra`, `__array` inner maps, pinning), legacy `maps`
//!   records for BTF-less objects;
//! - global data: `.bss`, `.data`, `.rodata`, `.data.*`, `.rodata.*` (merged
//!   string sections included), with their variables;
//! - arena globals: `.addr_space.1`, with their initial bytes;
//! - externs: `.ksyms` (kfuncs, typed ksyms) and `.kconfig`;
//! - `license`, `version`, `.BTF`, `.BTF.ext`, and the relocations of every
//!   code section, classified by what they point at.

#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod btf_fixup;
mod image;
mod maps;
mod progtype;
pub mod relocate;

pub use btf_fixup::fixup_btf;
pub use image::Image;
pub(crate) use image::zeroed_vec;
pub use progtype::{SectionDef, section_def};

use crate::abi::{self, ProgramFlags, ProgramType};
use crate::btf::{self, Btf, kind};
use crate::insn::{self, Insn};
use object::{Object, ObjectSection, ObjectSymbol, RelocationTarget, SectionKind, SymbolSection};
use std::collections::HashMap;

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

/// Pinning of a BTF-defined map (`__uint(pinning, ...)`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pinning {
    /// Not pinned.
    #[default]
    None,
    /// Pinned at `<pin root>/<map name>` (`LIBBPF_PIN_BY_NAME`).
    ByName,
}

/// What a map is for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MapOrigin {
    /// Declared by the program (`.maps` or legacy `maps`).
    #[default]
    Declared,
    /// Backs global data section `data[i]`.
    Data(usize),
    /// Backs `.kconfig` externs.
    Kconfig,
}

/// A map to create.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MapSpec {
    /// Name (the variable's name, or the data section's map name).
    pub name: String,
    /// `enum bpf_map_type`.
    pub map_type: u32,
    /// Key size.
    pub key_size: u32,
    /// Value size.
    pub value_size: u32,
    /// Entries (pages for an arena).
    pub max_entries: u32,
    /// `BPF_F_*` flags.
    pub map_flags: u32,
    /// NUMA node (with `BPF_F_NUMA_NODE`).
    pub numa_node: u32,
    /// `map_extra` (an arena's address, a bloom filter's hash count).
    pub map_extra: u64,
    /// Pinning.
    pub pinning: Pinning,
    /// BTF id of the key type (0: none).
    pub key_type_id: u32,
    /// BTF id of the value type (0: none).
    pub value_type_id: u32,
    /// Inner map template for map-in-map types.
    pub inner: Option<Box<MapSpec>>,
    /// What the map is for.
    pub origin: MapOrigin,
    /// Offset of the map's symbol in its section (how relocations find it).
    pub symbol_offset: u64,
}

impl MapSpec {
    /// Whether this is an arena (`BPF_MAP_TYPE_ARENA`).
    pub fn is_arena(&self) -> bool {
        self.map_type == abi::MAP_TYPE_ARENA
    }
}

/// Kind of a global data section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataKind {
    /// `.bss`, `.bss.*`: zero-initialised.
    Bss,
    /// `.data`, `.data.*`.
    Data,
    /// `.rodata`, `.rodata.*`: frozen after its initial value is written.
    Rodata,
    /// `.kconfig`: synthesized from kconfig externs, read-only.
    Kconfig,
}

/// A global variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VarSpec {
    /// Name.
    pub name: String,
    /// Section name.
    pub section: String,
    /// Offset in the section.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// Global (visible) rather than `static`.
    pub global: bool,
}

/// A global data section, which becomes a one-element array map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataSpec {
    /// Section name.
    pub section: String,
    /// Kind.
    pub kind: DataKind,
    /// Initial image (declared zeros for `.bss` and `.kconfig`, stored as
    /// nothing until the map is created).
    pub bytes: Image,
    /// Variables in it, by offset.
    pub variables: Vec<VarSpec>,
    /// Whether the object's BTF describes it (a DATASEC of the same name).
    pub has_btf: bool,
}

/// The `.addr_space.1` section: arena globals and their initial image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArenaData {
    /// Initial image (clang emits PROGBITS even when all zero; a NOBITS
    /// section is declared zeros, stored as nothing).
    pub bytes: Image,
    /// Variables, by offset.
    pub variables: Vec<VarSpec>,
}

/// Kind of an extern symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExternKind {
    /// A kernel function (`__ksym` function declaration).
    Kfunc,
    /// A typed kernel variable (`__ksym` variable).
    Ksym,
    /// A kconfig value (`__kconfig`); `offset` in the `.kconfig` map.
    Kconfig {
        /// Offset in the `.kconfig` map.
        offset: u64,
        /// Size in bytes.
        size: u64,
    },
}

/// An extern the loader resolves against the running kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternSpec {
    /// Symbol name.
    pub name: String,
    /// Kind.
    pub kind: ExternKind,
    /// Weak: missing is allowed (kfunc calls are then poisoned, values 0).
    pub weak: bool,
    /// The BTF `FUNC`/`VAR` describing it (0 without BTF).
    pub btf_id: u32,
}

impl ExternSpec {
    /// The name to look up in the kernel: without a `___flavour` suffix.
    pub fn essential_name(&self) -> &str {
        match self.name.split_once("___") {
            Some((base, _)) if !base.is_empty() => base,
            _ => &self.name,
        }
    }
}

/// What a relocation points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelocTarget {
    /// `ld_imm64` of a map (`&map`): `BPF_PSEUDO_MAP_FD`.
    Map(usize),
    /// `ld_imm64` into global data `data[i]` at `offset` (+ the addend in the
    /// instruction): `BPF_PSEUDO_MAP_VALUE`.
    Data {
        /// Index into [`ObjectSpec::data`].
        data: usize,
        /// Symbol offset.
        offset: u64,
    },
    /// `ld_imm64` of an arena global at `offset` in `.addr_space.1` (+ the
    /// addend in the instruction): `BPF_PSEUDO_MAP_VALUE` on the arena at the
    /// globals' placement.
    Arena {
        /// Symbol offset in `.addr_space.1`.
        offset: u64,
    },
    /// A bpf-to-bpf call to instruction `insn` of code section `code`.
    Call {
        /// Index into the code sections.
        code: usize,
        /// Target instruction in that section.
        insn: usize,
    },
    /// `ld_imm64` of a function's address (callbacks): `BPF_PSEUDO_FUNC`.
    FuncAddr {
        /// Index into the code sections.
        code: usize,
        /// Target instruction in that section.
        insn: usize,
    },
    /// A call to, or `ld_imm64` of, extern `externs[i]`.
    Extern(usize),
}

/// Relocation kinds, for counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RelocKind {
    /// Map reference.
    Map,
    /// Global data reference.
    Data,
    /// Arena global reference.
    Arena,
    /// bpf-to-bpf call.
    Call,
    /// Function address.
    FuncAddr,
    /// Kfunc call (or existence check).
    Kfunc,
    /// Typed ksym.
    Ksym,
    /// Kconfig value.
    Kconfig,
}

/// One relocation in a code section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reloc {
    /// Instruction index in the code section.
    pub insn: usize,
    /// Target.
    pub target: RelocTarget,
    /// Symbol name (for messages).
    pub symbol: String,
}

/// A function in a code section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuncSym {
    /// Name.
    pub name: String,
    /// First instruction.
    pub start: usize,
    /// Instruction count.
    pub len: usize,
    /// Global linkage.
    pub global: bool,
}

/// An executable section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeSection {
    /// Section name.
    pub name: String,
    /// Instructions.
    pub insns: Vec<Insn>,
    /// Relocations, by instruction.
    pub relocs: Vec<Reloc>,
    /// Functions, by start.
    pub funcs: Vec<FuncSym>,
}

/// A program (an entry point).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramSpec {
    /// Function name.
    pub name: String,
    /// Section name.
    pub section: String,
    /// Type, from the section name.
    pub prog_type: ProgramType,
    /// Expected attach type.
    pub expected_attach_type: u32,
    /// Flags (sleepable for `syscall` and `.s` sections).
    pub flags: ProgramFlags,
    /// Index into [`ObjectSpec::code`].
    pub code: usize,
    /// First instruction in the section.
    pub start: usize,
    /// Instruction count of the function itself (subprograms not included).
    pub len: usize,
}

/// A section, for listings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectionInfo {
    /// Name.
    pub name: String,
    /// ELF section type and flags, summarised (`code`, `data`, `bss`, …).
    pub kind: &'static str,
    /// Size in bytes.
    pub size: u64,
}

/// Everything the parser knows about an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectSpec {
    /// Object name (file stem), used to name global data maps.
    pub name: String,
    /// `license` section.
    pub license: String,
    /// `version` section, if any.
    pub kern_version: Option<u32>,
    /// Sections, in file order.
    pub sections: Vec<SectionInfo>,
    /// Programs, in section then offset order.
    pub programs: Vec<ProgramSpec>,
    /// Maps: declared ones, then one per data section, then `.kconfig`.
    pub maps: Vec<MapSpec>,
    /// Global data sections.
    pub data: Vec<DataSpec>,
    /// Arena globals.
    pub arena_data: Option<ArenaData>,
    /// Externs.
    pub externs: Vec<ExternSpec>,
    /// Code sections (programs and `.text`).
    pub code: Vec<CodeSection>,
    /// Raw `.BTF`.
    pub btf: Option<Vec<u8>>,
    /// Parsed `.BTF.ext`.
    pub btf_ext: Option<btf::ext::BtfExt>,
    /// Symbol offsets the BTF fix-ups need: `(section name, symbol name,
    /// offset)` for data, arena and `.maps` symbols.
    pub symbol_offsets: Vec<(String, String, u64)>,
}

/// The largest object file [`ObjectSpec::from_file`] reads: 256 MiB, far
/// above any real BPF object (clang's are kilobytes to a few megabytes).
pub const MAX_OBJECT_FILE: u64 = 256 << 20;

/// The largest global data section (`.bss`, `.data`, `.rodata*`,
/// `.kconfig`): its map is a one-element `BPF_MAP_TYPE_ARRAY`, and
/// `array_map_alloc_check` (`kernel/bpf/arraymap.c`) refuses a
/// `value_size` above `INT_MAX` with E2BIG (since Linux 5.14; before, the
/// bound was `KMALLOC_MAX_SIZE`, 4 MiB with 4 KiB pages).
pub const MAX_DATA_SECTION: u64 = i32::MAX as u64;

/// The largest `.addr_space.1` section: an arena spans at most 4 GiB
/// (`arena_map_alloc` refuses `max_entries * PAGE_SIZE > SZ_4G` with E2BIG).
pub const MAX_ARENA_SECTION: u64 = 1 << 32;

/// Checks a section's declared size against what the kernel would accept.
fn check_size(section: &str, size: u64, max: u64, what: &str) -> Result<(), ObjError> {
    if size > max {
        return Err(sec_err(
            section,
            format!("size {size:#x} is larger than the kernel accepts for {what} ({max:#x} bytes)"),
        ));
    }
    Ok(())
}

/// A variable must lie inside its section.
fn check_var(
    name: &str,
    section: &str,
    offset: u64,
    size: u64,
    image: &Image,
) -> Result<(), ObjError> {
    if offset.checked_add(size).is_none_or(|end| end > image.len()) {
        return Err(ObjError::Symbol {
            symbol: name.to_string(),
            reason: format!(
                "offset {offset:#x} size {size:#x} runs past the end of section '{section}' ({} bytes)",
                image.len()
            ),
        });
    }
    Ok(())
}

fn sec_err(section: &str, reason: impl Into<String>) -> ObjError {
    ObjError::Section {
        section: section.to_string(),
        reason: reason.into(),
    }
}

fn data_kind(name: &str, nobits: bool) -> Option<DataKind> {
    let is =
        |base: &str| name == base || name.strip_prefix(base).is_some_and(|r| r.starts_with('.'));
    if is(".bss") && nobits {
        Some(DataKind::Bss)
    } else if is(".data") {
        Some(DataKind::Data)
    } else if is(".rodata") {
        Some(DataKind::Rodata)
    } else {
        None
    }
}

/// Sections that carry no program data and are skipped.
fn ignored(name: &str) -> bool {
    name.is_empty()
        || name.starts_with(".debug")
        || name.starts_with(".rel")
        || matches!(
            name,
            ".strtab"
                | ".symtab"
                | ".shstrtab"
                | ".llvm_addrsig"
                | ".BTF"
                | ".BTF.ext"
                | ".comment"
        )
        || name.starts_with(".note")
        || name.starts_with(".eh_frame")
}

impl ObjectSpec {
    /// Parses an object; `name` names it (the file stem).
    pub fn parse(name: &str, bytes: &[u8]) -> Result<ObjectSpec, ObjError> {
        Parser::new(name, bytes)?.run()
    }

    /// Parses the file at `path` (named by its stem up to the first dot).
    ///
    /// Only a regular file of at most [`MAX_OBJECT_FILE`] bytes is read:
    /// a FIFO, a device such as `/dev/zero`, a directory or a larger file is
    /// [`ObjError::NotRegular`] or [`ObjError::TooLarge`] before anything is
    /// read (the path is looked up before it is opened, so a FIFO is not
    /// opened, and checked again on the open file). Open and read failures
    /// are [`ObjError::Io`]. The crate's error type turns these into
    /// `Error::Invalid` and `Error::Syscall` (with the errno).
    pub fn from_file(path: &std::path::Path) -> Result<ObjectSpec, ObjError> {
        let bytes = read_object_file(path)?;
        let stem = path.file_name().and_then(|n| n.to_str()).unwrap_or("obj");
        let stem = stem.split('.').next().unwrap_or("obj");
        ObjectSpec::parse(stem, &bytes)
    }

    /// The program named `name`.
    pub fn program(&self, name: &str) -> Option<&ProgramSpec> {
        self.programs.iter().find(|p| p.name == name)
    }

    /// The map named `name`.
    pub fn map(&self, name: &str) -> Option<&MapSpec> {
        self.maps.iter().find(|m| m.name == name)
    }

    /// The arena map, if the object declares one.
    pub fn arena_map(&self) -> Option<usize> {
        self.maps.iter().position(MapSpec::is_arena)
    }

    /// Every global variable: data sections and arena globals.
    pub fn variables(&self) -> impl Iterator<Item = &VarSpec> {
        self.data
            .iter()
            .flat_map(|d| d.variables.iter())
            .chain(self.arena_data.iter().flat_map(|a| a.variables.iter()))
    }

    /// Relocations of every code section, counted by kind.
    pub fn reloc_counts(&self) -> Vec<(RelocKind, usize)> {
        let mut m: HashMap<RelocKind, usize> = HashMap::new();
        for c in &self.code {
            for r in &c.relocs {
                let n: &mut usize = m.entry(self.reloc_kind(&r.target)).or_default();
                *n = n.saturating_add(1);
            }
        }
        let mut v: Vec<_> = m.into_iter().collect();
        v.sort();
        v
    }

    /// The kind of a relocation target.
    pub fn reloc_kind(&self, t: &RelocTarget) -> RelocKind {
        match t {
            RelocTarget::Map(_) => RelocKind::Map,
            RelocTarget::Data { data, .. }
                if self
                    .data
                    .get(*data)
                    .is_some_and(|d| d.kind == DataKind::Kconfig) =>
            {
                RelocKind::Kconfig
            }
            RelocTarget::Data { .. } => RelocKind::Data,
            RelocTarget::Arena { .. } => RelocKind::Arena,
            RelocTarget::Call { .. } => RelocKind::Call,
            RelocTarget::FuncAddr { .. } => RelocKind::FuncAddr,
            RelocTarget::Extern(i) => match self.externs.get(*i).map(|e| e.kind) {
                Some(ExternKind::Ksym) => RelocKind::Ksym,
                Some(ExternKind::Kconfig { .. }) => RelocKind::Kconfig,
                Some(ExternKind::Kfunc) | None => RelocKind::Kfunc,
            },
        }
    }

    /// The object's BTF, parsed.
    pub fn parsed_btf(&self) -> Option<Btf<'_>> {
        self.btf.as_deref().and_then(|b| Btf::parse(b).ok())
    }
}

struct Parser<'a> {
    name: String,
    file: object::File<'a>,
    btf: Option<Btf<'a>>,
}

impl<'a> Parser<'a> {
    fn new(name: &str, bytes: &'a [u8]) -> Result<Parser<'a>, ObjError> {
        let file = object::File::parse(bytes).map_err(|e| ObjError::Elf(e.to_string()))?;
        if file.format() != object::BinaryFormat::Elf || !file.is_64() || !file.is_little_endian() {
            return Err(ObjError::Elf(
                "expected a 64-bit little-endian ELF file".into(),
            ));
        }
        if file.architecture() != object::Architecture::Bpf {
            return Err(ObjError::Elf(format!(
                "machine is {:?}, not BPF",
                file.architecture()
            )));
        }
        let btf = match file.section_by_name(".BTF") {
            Some(s) => {
                let data = s.data().map_err(|e| sec_err(".BTF", e.to_string()))?;
                Some(Btf::parse(data).map_err(|source| ObjError::Btf {
                    section: ".BTF",
                    source,
                })?)
            }
            None => None,
        };
        Ok(Parser {
            name: name.to_string(),
            file,
            btf,
        })
    }

    fn run(self) -> Result<ObjectSpec, ObjError> {
        let f = &self.file;
        let mut spec = ObjectSpec {
            name: self.name.clone(),
            license: String::new(),
            kern_version: None,
            sections: Vec::new(),
            programs: Vec::new(),
            maps: Vec::new(),
            data: Vec::new(),
            arena_data: None,
            externs: Vec::new(),
            code: Vec::new(),
            btf: self.btf.as_ref().map(|b| b.bytes().to_vec()),
            btf_ext: None,
            symbol_offsets: Vec::new(),
        };
        if let (Some(btf), Some(s)) = (&self.btf, f.section_by_name(".BTF.ext")) {
            let data = s.data().map_err(|e| sec_err(".BTF.ext", e.to_string()))?;
            spec.btf_ext =
                Some(
                    btf::ext::BtfExt::parse(data, btf).map_err(|source| ObjError::Btf {
                        section: ".BTF.ext",
                        source,
                    })?,
                );
        }

        // Section index → role.
        #[derive(Clone, Copy)]
        enum Role {
            Code(usize),
            Data(usize),
            Arena,
            Maps,
            LegacyMaps,
            Other,
        }
        let mut roles: HashMap<object::SectionIndex, Role> = HashMap::new();
        let mut legacy_maps: Option<(object::SectionIndex, Vec<u8>)> = None;
        for s in f.sections() {
            let name = s
                .name()
                .map_err(|e| ObjError::Elf(e.to_string()))?
                .to_string();
            let size = s.size();
            let nobits = s.kind() == SectionKind::UninitializedData;
            let exec = matches!(s.flags(), object::SectionFlags::Elf { sh_flags, .. } if sh_flags.contains(object::elf::SHF_EXECINSTR));
            let kind = if exec {
                "code"
            } else if nobits {
                "bss"
            } else if ignored(&name) {
                "meta"
            } else {
                "data"
            };
            if !name.is_empty() {
                spec.sections.push(SectionInfo {
                    name: name.clone(),
                    kind,
                    size,
                });
            }
            let data = || {
                s.data()
                    .map(<[u8]>::to_vec)
                    .map_err(|e| sec_err(&name, e.to_string()))
            };
            let role = if exec {
                if name != ".text" && section_def(&name).is_none() {
                    if size == 0 {
                        Role::Other
                    } else {
                        return Err(sec_err(
                            &name,
                            "unknown program section (not a libbpf section name)",
                        ));
                    }
                } else {
                    let bytes = data()?;
                    let insns = insn::from_bytes(&bytes)
                        .map_err(|_| sec_err(&name, "size is not a multiple of 8"))?;
                    let ci = spec.code.len();
                    spec.code.push(CodeSection {
                        name: name.clone(),
                        insns,
                        relocs: Vec::new(),
                        funcs: Vec::new(),
                    });
                    Role::Code(ci)
                }
            } else if name == ARENA_SECTION && size > 0 {
                check_size(&name, size, MAX_ARENA_SECTION, "an arena")?;
                let bytes = if nobits {
                    Image::zeroed(size)
                } else {
                    Image::from_bytes(data()?)
                };
                spec.arena_data = Some(ArenaData {
                    bytes,
                    variables: Vec::new(),
                });
                Role::Arena
            } else if name == ".maps" {
                Role::Maps
            } else if name == "maps" {
                legacy_maps = Some((s.index(), data()?));
                Role::LegacyMaps
            } else if name == "license" {
                let d = data()?;
                let text = d.split(|&b| b == 0).next().unwrap_or_default();
                spec.license = String::from_utf8_lossy(text).into_owned();
                Role::Other
            } else if name == "version" {
                let d = data()?;
                let v: [u8; 4] = d
                    .as_slice()
                    .try_into()
                    .map_err(|_| sec_err("version", "must be exactly 4 bytes"))?;
                spec.kern_version = Some(u32::from_le_bytes(v));
                Role::Other
            } else if let Some(k) = data_kind(&name, nobits).filter(|_| size > 0) {
                check_size(&name, size, MAX_DATA_SECTION, "a global data map's value")?;
                let bytes = if k == DataKind::Bss {
                    Image::zeroed(size)
                } else {
                    Image::from_bytes(data()?)
                };
                let has_btf = self
                    .btf
                    .as_ref()
                    .is_some_and(|b| b.find_datasec(&name).is_some());
                let di = spec.data.len();
                spec.data.push(DataSpec {
                    section: name.clone(),
                    kind: k,
                    bytes,
                    variables: Vec::new(),
                    has_btf,
                });
                Role::Data(di)
            } else {
                Role::Other
            };
            roles.insert(s.index(), role);
        }

        // Symbols: functions, variables, map names, externs.
        let mut map_syms: Vec<(String, u64)> = Vec::new();
        let mut legacy_syms: Vec<(String, u64)> = Vec::new();
        let mut extern_index: HashMap<object::SymbolIndex, usize> = HashMap::new();
        let mut func_syms: Vec<(usize, FuncSym)> = Vec::new();
        for sym in f.symbols() {
            let name = sym.name().unwrap_or("").to_string();
            match sym.section() {
                SymbolSection::Section(idx) => {
                    let role = roles.get(&idx).copied().unwrap_or(Role::Other);
                    let is_section_sym = sym.kind() == object::SymbolKind::Section;
                    if is_section_sym || name.is_empty() {
                        continue;
                    }
                    match role {
                        Role::Code(c) if sym.kind() == object::SymbolKind::Text => {
                            if sym.address() % 8 != 0 || sym.size() % 8 != 0 {
                                return Err(ObjError::Symbol {
                                    symbol: name,
                                    reason: "function not 8-byte aligned".into(),
                                });
                            }
                            let (Ok(start), Ok(len)) = (
                                usize::try_from(sym.address() / 8),
                                usize::try_from(sym.size() / 8),
                            ) else {
                                return Err(ObjError::Symbol {
                                    symbol: name,
                                    reason: "function offset or size out of range".into(),
                                });
                            };
                            func_syms.push((
                                c,
                                FuncSym {
                                    name,
                                    start,
                                    len,
                                    global: sym.is_global(),
                                },
                            ));
                        }
                        Role::Data(d) => {
                            let Some(data) = spec.data.get_mut(d) else {
                                continue;
                            };
                            check_var(
                                &name,
                                &data.section,
                                sym.address(),
                                sym.size(),
                                &data.bytes,
                            )?;
                            let sec = data.section.clone();
                            spec.symbol_offsets
                                .push((sec.clone(), name.clone(), sym.address()));
                            data.variables.push(VarSpec {
                                name,
                                section: sec,
                                offset: sym.address(),
                                size: sym.size(),
                                global: sym.is_global(),
                            });
                        }
                        Role::Arena => {
                            if let Some(a) = spec.arena_data.as_ref() {
                                check_var(
                                    &name,
                                    ARENA_SECTION,
                                    sym.address(),
                                    sym.size(),
                                    &a.bytes,
                                )?;
                            }
                            spec.symbol_offsets.push((
                                ARENA_SECTION.into(),
                                name.clone(),
                                sym.address(),
                            ));
                            if let Some(a) = spec.arena_data.as_mut() {
                                a.variables.push(VarSpec {
                                    name,
                                    section: ARENA_SECTION.into(),
                                    offset: sym.address(),
                                    size: sym.size(),
                                    global: sym.is_global(),
                                });
                            }
                        }
                        Role::Maps => {
                            spec.symbol_offsets
                                .push((".maps".into(), name.clone(), sym.address()));
                            map_syms.push((name, sym.address()));
                        }
                        Role::LegacyMaps => legacy_syms.push((name, sym.address())),
                        _ => {}
                    }
                }
                SymbolSection::Undefined
                    if !name.is_empty() && (sym.is_global() || sym.is_weak()) =>
                {
                    let kind = self.extern_kind(&name)?;
                    let (kind, btf_id) = match kind {
                        Some(k) => k,
                        // Without BTF: a call target is a kfunc; decided at relocation.
                        None => (ExternKind::Kfunc, 0),
                    };
                    extern_index.insert(sym.index(), spec.externs.len());
                    spec.externs.push(ExternSpec {
                        name,
                        kind,
                        weak: sym.is_weak(),
                        btf_id,
                    });
                }
                _ => {}
            }
        }
        for d in &mut spec.data {
            d.variables.sort_by_key(|v| v.offset);
        }
        if let Some(a) = spec.arena_data.as_mut() {
            a.variables.sort_by_key(|v| v.offset);
        }
        for (c, fs) in func_syms {
            let Some(code) = spec.code.get_mut(c) else {
                continue;
            };
            if fs
                .start
                .checked_add(fs.len)
                .is_none_or(|end| end > code.insns.len())
            {
                return Err(ObjError::Symbol {
                    symbol: fs.name,
                    reason: format!("runs past the end of section '{}'", code.name),
                });
            }
            code.funcs.push(fs);
        }
        for c in &mut spec.code {
            c.funcs.sort_by_key(|f| f.start);
        }
        self.layout_kconfig(&mut spec)?;

        // Maps.
        if !map_syms.is_empty() {
            let btf = self
                .btf
                .as_ref()
                .ok_or_else(|| sec_err(".maps", "BTF-defined maps need a .BTF section"))?;
            let ds = btf
                .find_datasec(".maps")
                .ok_or_else(|| sec_err(".maps", "no .maps DATASEC in BTF"))?;
            let infos = btf.datasec(ds).map_err(|source| ObjError::Btf {
                section: ".BTF",
                source,
            })?;
            for (name, off) in &map_syms {
                let var = infos
                    .iter()
                    .map(|i| i.type_id)
                    .find(|&id| btf.name(id).ok() == Some(name.as_str()))
                    .ok_or_else(|| ObjError::Map {
                        map: name.clone(),
                        reason: "no BTF variable in the .maps DATASEC".into(),
                    })?;
                match btf.var_linkage(var) {
                    Ok(btf::VAR_GLOBAL_ALLOCATED) => {}
                    Ok(_) => {
                        return Err(ObjError::Map {
                            map: name.clone(),
                            reason: "map definitions must be global (not static)".into(),
                        });
                    }
                    Err(e) => {
                        return Err(ObjError::Map {
                            map: name.clone(),
                            reason: e.to_string(),
                        });
                    }
                }
                let def = btf.header(var).map(|h| h.size_or_type).unwrap_or(0);
                let mut m = maps::parse_btf_def(btf, name, def, false)?;
                m.symbol_offset = *off;
                spec.maps.push(m);
            }
        }
        if let Some((_, data)) = &legacy_maps {
            legacy_syms.sort_by_key(|s| s.1);
            spec.maps.extend(maps::parse_legacy(data, &legacy_syms)?);
        }
        let arenas: Vec<&MapSpec> = spec.maps.iter().filter(|m| m.is_arena()).collect();
        if let [first, second, ..] = arenas.as_slice() {
            return Err(ObjError::Map {
                map: second.name.clone(),
                reason: format!(
                    "only one arena map per object is supported ('{}' is also an arena)",
                    first.name
                ),
            });
        }
        if let Some(a) = &spec.arena_data {
            let Some(arena) = arenas.first() else {
                return Err(sec_err(
                    ARENA_SECTION,
                    "__arena globals need an arena map declared in .maps",
                ));
            };
            let page = 4096u64;
            let need = a.bytes.len().div_ceil(page);
            if need > u64::from(arena.max_entries) {
                return Err(ObjError::Map {
                    map: arena.name.clone(),
                    reason: format!(
                        "{} pages cannot hold {} bytes of __arena globals ({need} pages)",
                        arena.max_entries,
                        a.bytes.len()
                    ),
                });
            }
        }
        // One map per data section, named as libbpf names them.
        for (i, d) in spec.data.iter().enumerate() {
            let mut flags = 0;
            if d.kind == DataKind::Rodata || d.kind == DataKind::Kconfig {
                flags |= abi::BPF_F_RDONLY_PROG;
            }
            if d.has_btf || d.kind == DataKind::Kconfig {
                flags |= abi::BPF_F_MMAPABLE;
            }
            let value_size = u32::try_from(d.bytes.len())
                .ok()
                .filter(|&v| u64::from(v) <= MAX_DATA_SECTION)
                .ok_or_else(|| {
                    sec_err(
                        &d.section,
                        format!(
                            "size {:#x} is larger than the kernel accepts for a global data map's value ({MAX_DATA_SECTION:#x} bytes)",
                            d.bytes.len()
                        ),
                    )
                })?;
            spec.maps.push(MapSpec {
                name: data_map_name(&spec.name, &d.section),
                map_type: abi::BPF_MAP_TYPE_ARRAY,
                key_size: 4,
                value_size,
                max_entries: 1,
                map_flags: flags,
                origin: if d.kind == DataKind::Kconfig {
                    MapOrigin::Kconfig
                } else {
                    MapOrigin::Data(i)
                },
                ..Default::default()
            });
        }

        // Programs.
        for (ci, c) in spec.code.iter().enumerate() {
            if c.name == ".text" {
                continue;
            }
            let def =
                section_def(&c.name).ok_or_else(|| sec_err(&c.name, "unknown program section"))?;
            for fs in &c.funcs {
                if !fs.global {
                    return Err(ObjError::Symbol {
                        symbol: fs.name.clone(),
                        reason: format!(
                            "program in section '{}' must be global, not static",
                            c.name
                        ),
                    });
                }
                spec.programs.push(ProgramSpec {
                    name: fs.name.clone(),
                    section: c.name.clone(),
                    prog_type: def.prog_type,
                    expected_attach_type: def.attach_type,
                    flags: def.flags,
                    code: ci,
                    start: fs.start,
                    len: fs.len,
                });
            }
        }

        // Relocations.
        for s in f.sections() {
            let Some(Role::Code(ci)) = roles.get(&s.index()).copied() else {
                continue;
            };
            let Some(code) = spec.code.get(ci) else {
                continue;
            };
            let sec_name = code.name.clone();
            let code_len = code.insns.len();
            for (off, rel) in s.relocations() {
                let insn_idx = usize::try_from(off / 8).unwrap_or(usize::MAX);
                let rel_err = |symbol: &str, reason: &str| ObjError::Relocation {
                    section: sec_name.clone(),
                    insn: insn_idx,
                    symbol: symbol.to_string(),
                    reason: reason.to_string(),
                };
                let RelocationTarget::Symbol(si) = rel.target() else {
                    return Err(rel_err("?", "not a symbol relocation"));
                };
                let sym = f
                    .symbol_by_index(si)
                    .map_err(|_| rel_err("?", "missing symbol"))?;
                let sname = sym.name().unwrap_or("").to_string();
                let sname = if sname.is_empty() {
                    sym.section_index()
                        .and_then(|i| f.section_by_index(i).ok())
                        .and_then(|s| s.name().ok())
                        .unwrap_or("")
                        .to_string()
                } else {
                    sname
                };
                let ins = match spec.code.get(ci).and_then(|c| c.insns.get(insn_idx)) {
                    Some(ins) if off % 8 == 0 => *ins,
                    _ => {
                        return Err(rel_err(
                            &sname,
                            "offset is not an instruction in the section",
                        ));
                    }
                };
                let is_call = ins.is_call();
                let is_ld = ins.is_ld_imm64();
                if is_ld && insn_idx.checked_add(1).is_none_or(|n| n >= code_len) {
                    return Err(rel_err(
                        &sname,
                        "ld_imm64 cut off by the end of the section",
                    ));
                }
                if !is_call && !is_ld {
                    return Err(rel_err(
                        &sname,
                        &format!(
                            "instruction code {:#04x} is neither ld_imm64 nor call",
                            ins.code
                        ),
                    ));
                }
                let target = match sym.section() {
                    SymbolSection::Undefined => {
                        let ei = *extern_index.get(&si).ok_or_else(|| {
                            rel_err(&sname, "symbol is not defined in this object")
                        })?;
                        RelocTarget::Extern(ei)
                    }
                    SymbolSection::Section(idx) => match roles
                        .get(&idx)
                        .copied()
                        .unwrap_or(Role::Other)
                    {
                        Role::Code(tc) => {
                            // A call's imm counts instructions after the
                            // call; an ld_imm64's is a byte offset.
                            let addr = i64::try_from(sym.address()).ok();
                            let t = if is_call {
                                addr.and_then(|a| (a / 8).checked_add(i64::from(ins.imm)))
                                    .and_then(|t| t.checked_add(1))
                            } else {
                                addr.and_then(|a| a.checked_add(i64::from(ins.imm)))
                                    .map(|t| t / 8)
                            };
                            let insn =
                                t.and_then(|t| usize::try_from(t).ok()).ok_or_else(|| {
                                    rel_err(&sname, "call target outside its section")
                                })?;
                            if is_call {
                                RelocTarget::Call { code: tc, insn }
                            } else {
                                RelocTarget::FuncAddr { code: tc, insn }
                            }
                        }
                        _ if is_call => {
                            return Err(rel_err(
                                &sname,
                                "call to something that is not a function",
                            ));
                        }
                        Role::Data(d) => RelocTarget::Data {
                            data: d,
                            offset: sym.address(),
                        },
                        Role::Arena => RelocTarget::Arena {
                            offset: sym.address(),
                        },
                        Role::Maps => {
                            let m = spec
                                .maps
                                .iter()
                                .position(|m| {
                                    m.origin == MapOrigin::Declared
                                        && m.symbol_offset == sym.address()
                                        && !m.name.is_empty()
                                })
                                .ok_or_else(|| rel_err(&sname, "no map at this offset of .maps"))?;
                            RelocTarget::Map(m)
                        }
                        Role::LegacyMaps => {
                            let m =
                                spec.maps.iter().position(|m| m.name == sname).ok_or_else(
                                    || rel_err(&sname, "no legacy map with this name"),
                                )?;
                            RelocTarget::Map(m)
                        }
                        Role::Other => {
                            let secname = f
                                .section_by_index(idx)
                                .ok()
                                .and_then(|s| s.name().ok())
                                .unwrap_or("?")
                                .to_string();
                            if secname == ARENA_SECTION {
                                return Err(rel_err(&sname, "__arena global without an arena map"));
                            }
                            return Err(rel_err(
                                &sname,
                                &format!(
                                    "points into section '{secname}', which is not program data"
                                ),
                            ));
                        }
                    },
                    _ => {
                        return Err(rel_err(
                            &sname,
                            "symbol in a special section (common symbol? initialise the global)",
                        ));
                    }
                };
                if let RelocTarget::Call { code, insn } | RelocTarget::FuncAddr { code, insn } =
                    target
                {
                    if spec.code.get(code).is_none_or(|c| insn >= c.insns.len()) {
                        return Err(rel_err(&sname, "call target outside its section"));
                    }
                }
                if let RelocTarget::Arena { .. } = target {
                    if spec.arena_map().is_none() {
                        return Err(rel_err(&sname, "__arena global without an arena map"));
                    }
                }
                if let RelocTarget::Extern(e) = target {
                    // Without BTF the kind is decided by use: calls are kfuncs.
                    if let Some(ext) = spec.externs.get_mut(e) {
                        if ext.btf_id == 0 && !is_call {
                            ext.kind = ExternKind::Ksym;
                        }
                    }
                }
                if let Some(c) = spec.code.get_mut(ci) {
                    c.relocs.push(Reloc {
                        insn: insn_idx,
                        target,
                        symbol: sname,
                    });
                }
            }
            if let Some(c) = spec.code.get_mut(ci) {
                c.relocs.sort_by_key(|r| r.insn);
            }
        }
        Ok(spec)
    }

    /// Kind and BTF id of an extern, from the `.ksyms` / `.kconfig` DATASECs.
    fn extern_kind(&self, name: &str) -> Result<Option<(ExternKind, u32)>, ObjError> {
        let Some(btf) = &self.btf else {
            return Ok(None);
        };
        for sec in [".ksyms", ".kconfig"] {
            let Some(ds) = btf.find_datasec(sec) else {
                continue;
            };
            let infos = btf.datasec(ds).map_err(|source| ObjError::Btf {
                section: ".BTF",
                source,
            })?;
            for i in infos {
                if btf.name(i.type_id).ok() != Some(name) {
                    continue;
                }
                let k = btf.header(i.type_id).map(|h| h.kind()).unwrap_or(0);
                return Ok(Some(match (sec, k) {
                    (".kconfig", _) => (ExternKind::Kconfig { offset: 0, size: 0 }, i.type_id),
                    (_, kind::FUNC) => (ExternKind::Kfunc, i.type_id),
                    _ => (ExternKind::Ksym, i.type_id),
                }));
            }
        }
        // A kfunc declared without __ksym still shows as an extern FUNC.
        Ok(btf
            .find_by_name(kind::FUNC, name)
            .map(|id| (ExternKind::Kfunc, id)))
    }

    /// Assigns `.kconfig` offsets (each aligned to its size, in BTF order)
    /// and adds the `.kconfig` data section.
    fn layout_kconfig(&self, spec: &mut ObjectSpec) -> Result<(), ObjError> {
        let Some(btf) = &self.btf else { return Ok(()) };
        let mut off = 0u64;
        let mut vars = Vec::new();
        for e in spec.externs.iter_mut() {
            if let ExternKind::Kconfig { .. } = e.kind {
                let size = btf.resolve_size(e.btf_id).map_err(|err| ObjError::Symbol {
                    symbol: e.name.clone(),
                    reason: err.to_string(),
                })?;
                let align = size.clamp(1, 8).next_power_of_two();
                let too_big = || {
                    sec_err(
                        ".kconfig",
                        format!(
                            "extern '{}' ({size} bytes) makes the image larger than the kernel accepts for a global data map's value ({MAX_DATA_SECTION:#x} bytes)",
                            e.name
                        ),
                    )
                };
                off = off
                    .checked_next_multiple_of(align)
                    .filter(|o| {
                        o.checked_add(size)
                            .is_some_and(|end| end <= MAX_DATA_SECTION)
                    })
                    .ok_or_else(too_big)?;
                e.kind = ExternKind::Kconfig { offset: off, size };
                vars.push(VarSpec {
                    name: e.name.clone(),
                    section: ".kconfig".into(),
                    offset: off,
                    size,
                    global: true,
                });
                off = off.saturating_add(size);
            }
        }
        if !vars.is_empty() {
            // `off` is at most MAX_DATA_SECTION (checked above), so this
            // rounds up to at most 2^31.
            spec.data.push(DataSpec {
                section: ".kconfig".into(),
                kind: DataKind::Kconfig,
                bytes: Image::zeroed(off.next_multiple_of(8)),
                variables: vars,
                has_btf: true,
            });
        }
        Ok(())
    }
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

/// Reads the whole regular file at `path`, of at most [`MAX_OBJECT_FILE`]
/// bytes (declared or while reading), with `std::fs` alone.
///
/// The path's metadata is checked before it is opened, so a FIFO (which
/// would block the open) or a device (`/dev/zero` would be read until
/// memory runs out) is refused without being opened; the open file is
/// checked again, so a path swapped for a device after the first look is
/// refused too. A lookup that fails is left to the open to report.
fn read_object_file(path: &std::path::Path) -> Result<Vec<u8>, ObjError> {
    use std::io::Read;
    let check = |meta: &std::fs::Metadata| -> Result<(), ObjError> {
        let t = meta.file_type();
        if !t.is_file() {
            return Err(ObjError::NotRegular {
                path: path.to_path_buf(),
                kind: crate::abi::file_type_name(t),
            });
        }
        if meta.len() > MAX_OBJECT_FILE {
            return Err(ObjError::TooLarge {
                path: path.to_path_buf(),
                size: meta.len(),
            });
        }
        Ok(())
    };
    let io = |call: &'static str, e: std::io::Error| ObjError::Io {
        call,
        path: path.to_path_buf(),
        kind: e.kind(),
        os_error: e.raw_os_error(),
        message: e.to_string(),
    };
    if let Ok(meta) = std::fs::metadata(path) {
        check(&meta)?;
    }
    // O_NONBLOCK: a path swapped for a FIFO after the check above opens
    // without waiting for a writer, and is then refused as not regular.
    let file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(crate::abi::O_NONBLOCK)
            .open(path)
            .map_err(|e| io("open", e))?
    };
    let meta = file.metadata().map_err(|e| io("fstat", e))?;
    check(&meta)?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_OBJECT_FILE.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| io("read", e))?;
    let size = bytes.len() as u64;
    if size > MAX_OBJECT_FILE {
        return Err(ObjError::TooLarge {
            path: path.to_path_buf(),
            size,
        });
    }
    Ok(bytes)
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
