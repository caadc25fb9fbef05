//! The plain-data description of a parsed object: [`ObjectSpec`] and its
//! parts (maps, global data, arena globals, externs, code, relocations).

use super::{Image, ObjError, StructOpsSpec, btf, parse, read_object_file};
use crate::abi::{self, ProgramFlags, ProgramType};
use crate::btf::Btf;
use crate::insn::Insn;
use std::collections::HashMap;

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
    /// A struct_ops variable, [`ObjectSpec::struct_ops`]`[i]`
    /// (`BPF_MAP_TYPE_STRUCT_OPS`).
    StructOps(usize),
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
    /// For a struct_ops map: the kernel BTF id of its value type
    /// (`struct bpf_struct_ops_<name>` in vmlinux), which the loader finds
    /// (0 in a parsed spec, and for other maps).
    pub btf_vmlinux_value_type_id: u32,
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
    /// An untyped symbol (`STT_NOTYPE` of size 0, as hand-written assembly
    /// without `.type NAME,@function` and `.size` leaves it), taken as a
    /// function that runs to the next function symbol or the end of its
    /// section.
    pub untyped: bool,
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
    /// Its symbol was untyped ([`FuncSym::untyped`]): the extent was
    /// inferred, up to the next function symbol or the section's end.
    pub untyped: bool,
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
    /// Maps: declared ones, then the struct_ops ones, then one per data
    /// section, then `.kconfig`.
    pub maps: Vec<MapSpec>,
    /// struct_ops variables (`.struct_ops`, `.struct_ops.link`), each with
    /// its map in [`ObjectSpec::maps`].
    pub struct_ops: Vec<StructOpsSpec>,
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

impl ObjectSpec {
    /// Parses an object; `name` names it (the file stem).
    pub fn parse(name: &str, bytes: &[u8]) -> Result<ObjectSpec, ObjError> {
        parse(name, bytes)
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

    /// Whether global variable `name` is a pointer by the object's BTF (its
    /// type, through typedefs and modifiers, is a `PTR`); false without BTF
    /// or without such a variable. `bpf-arena run --get` prints these in
    /// hex.
    pub fn is_pointer(&self, name: &str) -> bool {
        let (Some(var), Some(btf)) = (self.variables().find(|v| v.name == name), self.parsed_btf())
        else {
            return false;
        };
        let Some(infos) = btf
            .find_datasec(&var.section)
            .and_then(|ds| btf.datasec(ds).ok())
        else {
            return false;
        };
        infos
            .iter()
            .find(|i| btf.name(i.type_id).ok() == Some(name))
            .and_then(|i| btf.header(i.type_id))
            .and_then(|h| btf.skip_mods(h.size_or_type).ok())
            .and_then(|t| btf.header(t))
            .is_some_and(|h| h.kind() == crate::btf::kind::PTR)
    }

    /// The object's BTF, parsed.
    pub fn parsed_btf(&self) -> Option<Btf<'_>> {
        self.btf.as_deref().and_then(|b| Btf::parse(b).ok())
    }
}

/// The largest `ld_imm64` map-value offset every arena kernel accepts:
/// 512 MiB. Before Linux 7.0 the verifier refuses a direct-value offset of
/// `1 << 29` or more (`EINVAL`); from 7.0 any offset inside the arena loads.
pub const MAX_DIRECT_OFFSET: u64 = 1 << 29;

/// Where `globals_len` bytes of `__arena` globals go in arena map `arena`
/// of `pages` pages of `page_size` bytes: the offset of the first byte.
///
/// This is the one place that decides it. The globals go at the end of the
/// arena (offset `pages * page_size - round_up(globals_len, page_size)`),
/// which keeps them off the NULL page, whenever every reference to them
/// stays below [`MAX_DIRECT_OFFSET`] or `full_range()` says the running
/// kernel accepts larger direct values (asked only for arenas larger than
/// 512 MiB); otherwise at offset 0. An arena exactly as large as its
/// globals therefore puts them at offset 0, on the page whose 32-bit
/// pointer is NULL.
///
/// Errors: [`ObjError::Map`] naming `arena` when the pages cannot hold the
/// globals.
pub fn place_arena_globals(
    arena: &str,
    pages: u32,
    page_size: u64,
    globals_len: u64,
    full_range: impl FnOnce() -> bool,
) -> Result<u64, ObjError> {
    let size = u64::from(pages).checked_mul(page_size);
    let need = globals_len.checked_next_multiple_of(page_size.max(1));
    match size
        .zip(need)
        .and_then(|(s, n)| Some((s, s.checked_sub(n)?)))
    {
        Some((size, end)) if size <= MAX_DIRECT_OFFSET || full_range() => Ok(end),
        Some(_) => Ok(0),
        None => Err(ObjError::Map {
            map: arena.to_string(),
            reason: format!(
                "{pages} pages cannot hold {globals_len} bytes of __arena globals ({} pages)",
                globals_len.div_ceil(page_size.max(1))
            ),
        }),
    }
}
