//! The parser: ELF bytes to an [`ObjectSpec`], in phases.

use super::externs::{self, PendingExtern};
use super::*;
use crate::btf::{self, Btf};
use crate::insn;
use object::{Object, ObjectSection, ObjectSymbol, SectionKind, SymbolSection};

/// BPF objects are 64-bit ELF (either byte order): parsing only that form
/// keeps the 32-bit reader and the other formats out of the binary.
pub(crate) type ElfFile<'a> = object::read::elf::ElfFile64<'a, object::Endianness>;
/// A section of an [`ElfFile`].
pub(crate) type ElfSection<'a, 'f> = object::read::elf::ElfSection64<'a, 'f, object::Endianness>;
/// A symbol of an [`ElfFile`].
pub(crate) type ElfSymbol<'a, 'f> = object::read::elf::ElfSymbol64<'a, 'f, object::Endianness>;
use std::collections::HashMap;

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

/// What an ELF section is to the object (decided in the section phase).
#[derive(Clone, Copy)]
pub(super) enum Role {
    /// Code section `spec.code[i]`.
    Code(usize),
    /// Global data section `spec.data[i]`.
    Data(usize),
    /// `.addr_space.1`.
    Arena,
    /// `.maps` (BTF-defined maps).
    Maps,
    /// `maps` (legacy map records).
    LegacyMaps,
    /// `.struct_ops` or `.struct_ops.link`: `struct_ops_sections[i]`.
    StructOps(usize),
    /// Anything else.
    Other,
}

/// The parser's state between phases.
pub(super) struct Parser<'f, 'a> {
    name: String,
    pub(super) file: &'f ElfFile<'a>,
    pub(super) btf: Option<Btf<'a>>,
    /// Section index → role (section phase).
    pub(super) roles: HashMap<object::SectionIndex, Role>,
    /// The legacy `maps` section's bytes (section phase).
    legacy_maps: Option<Vec<u8>>,
    /// `.maps` symbols: name and offset (symbol phase).
    map_syms: Vec<(String, u64)>,
    /// Legacy `maps` symbols: name and offset (symbol phase).
    legacy_syms: Vec<(String, u64)>,
    /// Function symbols by code section, in symbol order (symbol phase).
    func_syms: Vec<(usize, FuncSym)>,
    /// Undefined symbol → extern index (symbol phase).
    pub(super) extern_index: HashMap<object::SymbolIndex, usize>,
    /// Externs by index (symbol phase; `loaded` set by the relocations).
    pub(super) externs: Vec<PendingExtern>,
    /// struct_ops sections: bytes (section phase) and symbols (symbol
    /// phase), with their ELF section index.
    pub(super) struct_ops_sections: Vec<(object::SectionIndex, struct_ops::Section)>,
}

/// Parses object `name` from its bytes.
pub(super) fn parse(name: &str, bytes: &[u8]) -> Result<ObjectSpec, ObjError> {
    let file = ElfFile::parse(bytes).map_err(|e| ObjError::Elf(e.to_string()))?;
    if !file.is_little_endian() {
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
    Parser::new(name, &file)?.run()
}

impl<'f, 'a> Parser<'f, 'a> {
    /// A parser for `file`, with its `.BTF` parsed.
    fn new(name: &str, file: &'f ElfFile<'a>) -> Result<Parser<'f, 'a>, ObjError> {
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
            roles: HashMap::new(),
            legacy_maps: None,
            map_syms: Vec::new(),
            legacy_syms: Vec::new(),
            func_syms: Vec::new(),
            extern_index: HashMap::new(),
            externs: Vec::new(),
            struct_ops_sections: Vec::new(),
        })
    }

    /// Parses the object, phase by phase: sections, symbols, maps,
    /// programs, struct_ops maps, relocations, externs, then the global
    /// data maps.
    fn run(mut self) -> Result<ObjectSpec, ObjError> {
        let mut spec = self.empty_spec()?;
        self.sections(&mut spec)?;
        self.symbols(&mut spec)?;
        self.place_funcs(&mut spec)?;
        self.maps(&mut spec)?;
        self.programs(&mut spec)?;
        self.struct_ops(&mut spec)?;
        self.relocations(&mut spec)?;
        externs::decide(std::mem::take(&mut self.externs), &mut spec);
        externs::layout_kconfig(self.btf.as_ref(), &mut spec)?;
        maps::data_maps(&mut spec)?;
        Ok(spec)
    }

    /// The spec before any section is read: name, BTF and `.BTF.ext`.
    fn empty_spec(&self) -> Result<ObjectSpec, ObjError> {
        let btf_ext = match (&self.btf, self.file.section_by_name(".BTF.ext")) {
            (Some(btf), Some(s)) => {
                let data = s.data().map_err(|e| sec_err(".BTF.ext", e.to_string()))?;
                Some(
                    btf::ext::BtfExt::parse(data, btf).map_err(|source| ObjError::Btf {
                        section: ".BTF.ext",
                        source,
                    })?,
                )
            }
            _ => None,
        };
        Ok(ObjectSpec {
            name: self.name.clone(),
            license: String::new(),
            kern_version: None,
            sections: Vec::new(),
            programs: Vec::new(),
            maps: Vec::new(),
            struct_ops: Vec::new(),
            data: Vec::new(),
            arena_data: None,
            externs: Vec::new(),
            code: Vec::new(),
            btf: self.btf.as_ref().map(|b| b.bytes().to_vec()),
            btf_ext,
            symbol_offsets: Vec::new(),
        })
    }

    /// Section phase: lists every section and decides its [`Role`], reading
    /// code, data, arena and `license`/`version` contents.
    fn sections(&mut self, spec: &mut ObjectSpec) -> Result<(), ObjError> {
        let file = self.file;
        for s in file.sections() {
            let name = s
                .name()
                .map_err(|e| ObjError::Elf(e.to_string()))?
                .to_string();
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
                    size: s.size(),
                });
            }
            let role = if exec {
                code_section(&s, &name, spec)?
            } else {
                self.data_section(&s, &name, nobits, spec)?
            };
            self.roles.insert(s.index(), role);
        }
        Ok(())
    }

    /// The role of a section that is not executable.
    fn data_section(
        &mut self,
        s: &ElfSection<'_, '_>,
        name: &str,
        nobits: bool,
        spec: &mut ObjectSpec,
    ) -> Result<Role, ObjError> {
        let size = s.size();
        let data = || {
            s.data()
                .map(<[u8]>::to_vec)
                .map_err(|e| sec_err(name, e.to_string()))
        };
        Ok(if name == ARENA_SECTION && size > 0 {
            check_size(name, size, MAX_ARENA_SECTION, "an arena")?;
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
            self.legacy_maps = Some(data()?);
            Role::LegacyMaps
        } else if is_struct_ops_section(name) {
            check_size(name, size, MAX_DATA_SECTION, "struct_ops variables")?;
            if self.struct_ops_sections.iter().any(|(_, s)| s.name == name) {
                return Err(sec_err(name, "appears twice"));
            }
            self.struct_ops_sections.push((
                s.index(),
                struct_ops::Section {
                    name: name.to_string(),
                    bytes: data()?,
                    symbols: Vec::new(),
                },
            ));
            Role::StructOps(self.struct_ops_sections.len().saturating_sub(1))
        } else if name == "license" {
            let d = data()?;
            let text = d.split(|&b| b == 0).next().unwrap_or_default();
            spec.license = String::from_utf8_lossy(text).into_owned();
            Role::Other
        } else if name == "version" {
            let v: [u8; 4] = data()?
                .as_slice()
                .try_into()
                .map_err(|_| sec_err("version", "must be exactly 4 bytes"))?;
            spec.kern_version = Some(u32::from_le_bytes(v));
            Role::Other
        } else if let Some(k) = data_kind(name, nobits).filter(|_| size > 0) {
            check_size(name, size, MAX_DATA_SECTION, "a global data map's value")?;
            let bytes = if k == DataKind::Bss {
                Image::zeroed(size)
            } else {
                Image::from_bytes(data()?)
            };
            let has_btf = self
                .btf
                .as_ref()
                .is_some_and(|b| b.find_datasec(name).is_some());
            spec.data.push(DataSpec {
                section: name.to_string(),
                kind: k,
                bytes,
                variables: Vec::new(),
                has_btf,
            });
            Role::Data(spec.data.len().saturating_sub(1))
        } else {
            Role::Other
        })
    }

    /// Symbol phase: functions, variables, map names and externs.
    fn symbols(&mut self, spec: &mut ObjectSpec) -> Result<(), ObjError> {
        let file = self.file;
        for sym in file.symbols() {
            let name = sym.name().unwrap_or("").to_string();
            match sym.section() {
                SymbolSection::Section(idx) => {
                    if sym.kind() == object::SymbolKind::Section || name.is_empty() {
                        continue;
                    }
                    let role = self.roles.get(&idx).copied().unwrap_or(Role::Other);
                    self.defined_symbol(&sym, name, role, spec)?;
                }
                SymbolSection::Undefined
                    if !name.is_empty() && (sym.is_global() || sym.is_weak()) =>
                {
                    let declared = externs::declared(self.btf.as_ref(), &name)?;
                    self.extern_index.insert(sym.index(), self.externs.len());
                    self.externs.push(PendingExtern {
                        name,
                        weak: sym.is_weak(),
                        declared,
                        loaded: false,
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
        Ok(())
    }

    /// A symbol defined in section of role `role`.
    fn defined_symbol(
        &mut self,
        sym: &ElfSymbol<'_, '_>,
        name: String,
        role: Role,
        spec: &mut ObjectSpec,
    ) -> Result<(), ObjError> {
        let (offset, size) = (sym.address(), sym.size());
        match role {
            Role::Code(c) => {
                if let Some(f) = func_sym(sym, name)? {
                    self.func_syms.push((c, f));
                }
            }
            Role::Data(d) => {
                let Some(data) = spec.data.get_mut(d) else {
                    return Ok(());
                };
                check_var(&name, &data.section, offset, size, &data.bytes)?;
                let section = data.section.clone();
                spec.symbol_offsets
                    .push((section.clone(), name.clone(), offset));
                data.variables.push(VarSpec {
                    name,
                    section,
                    offset,
                    size,
                    global: sym.is_global(),
                });
            }
            Role::Arena => {
                let Some(a) = spec.arena_data.as_mut() else {
                    return Ok(());
                };
                check_var(&name, ARENA_SECTION, offset, size, &a.bytes)?;
                spec.symbol_offsets
                    .push((ARENA_SECTION.into(), name.clone(), offset));
                a.variables.push(VarSpec {
                    name,
                    section: ARENA_SECTION.into(),
                    offset,
                    size,
                    global: sym.is_global(),
                });
            }
            Role::Maps => {
                spec.symbol_offsets
                    .push((".maps".into(), name.clone(), offset));
                self.map_syms.push((name, offset));
            }
            Role::LegacyMaps => self.legacy_syms.push((name, offset)),
            Role::StructOps(i) => {
                if let Some((_, sec)) = self.struct_ops_sections.get_mut(i) {
                    spec.symbol_offsets
                        .push((sec.name.clone(), name.clone(), offset));
                    sec.symbols.push((name, offset));
                }
            }
            Role::Other => {}
        }
        Ok(())
    }

    /// Gives each code section its functions, sorted, and the extent of
    /// every untyped one: up to the next function or the section's end.
    fn place_funcs(&mut self, spec: &mut ObjectSpec) -> Result<(), ObjError> {
        for (c, fs) in std::mem::take(&mut self.func_syms) {
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
            // An untyped label inside a typed function (a jump target made
            // global) is part of that function, not a program of its own.
            // Typed starts in order, each with the furthest end of the typed
            // functions starting at or before it: a label at `x` is inside
            // one iff that end, for the last start <= x, lies beyond x.
            let mut furthest = 0usize;
            let typed: Vec<(usize, usize)> = c
                .funcs
                .iter()
                .filter(|f| !f.untyped)
                .map(|f| {
                    furthest = furthest.max(f.start.saturating_add(f.len));
                    (f.start, furthest)
                })
                .collect();
            c.funcs.retain(|f| {
                let before = typed.partition_point(|&(s, _)| s <= f.start);
                let inside = before
                    .checked_sub(1)
                    .and_then(|i| typed.get(i))
                    .is_some_and(|&(_, end)| end > f.start);
                !f.untyped || !inside
            });
            let starts: Vec<usize> = c.funcs.iter().map(|f| f.start).collect();
            let section_len = c.insns.len();
            for f in c.funcs.iter_mut().filter(|f| f.untyped) {
                // `starts` is sorted: the first start beyond this one.
                let next = starts.partition_point(|&s| s <= f.start);
                let end = starts.get(next).copied().unwrap_or(section_len);
                f.len = end.saturating_sub(f.start);
            }
            // An untyped label at the very end holds no instruction.
            c.funcs.retain(|f| !(f.untyped && f.len == 0));
        }
        Ok(())
    }

    /// Maps phase: BTF-defined maps in `.maps`, then legacy `maps`
    /// records; at most one arena.
    fn maps(&mut self, spec: &mut ObjectSpec) -> Result<(), ObjError> {
        if !self.map_syms.is_empty() {
            let btf = self
                .btf
                .as_ref()
                .ok_or_else(|| sec_err(".maps", "BTF-defined maps need a .BTF section"))?;
            for (name, off) in &self.map_syms {
                let mut m = maps::parse_declared(btf, name)?;
                m.symbol_offset = *off;
                spec.maps.push(m);
            }
        }
        if let Some(data) = &self.legacy_maps {
            self.legacy_syms.sort_by_key(|s| s.1);
            spec.maps
                .extend(maps::parse_legacy(data, &self.legacy_syms)?);
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
        if spec.arena_data.is_some() && arenas.is_empty() {
            return Err(sec_err(
                ARENA_SECTION,
                "__arena globals need an arena map declared in .maps",
            ));
        }
        Ok(())
    }

    /// Records that an `ld_imm64` refers to extern `e` (relocation phase).
    pub(super) fn extern_loaded(&mut self, e: usize) {
        if let Some(p) = self.externs.get_mut(e) {
            p.loaded = true;
        }
    }

    /// Programs phase: every function of a program section, typed by the
    /// section's name.
    fn programs(&self, spec: &mut ObjectSpec) -> Result<(), ObjError> {
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
                    untyped: fs.untyped,
                });
            }
        }
        Ok(())
    }
}

/// The role of an executable section: a code section (read and decoded)
/// when its name is `.text` or a libbpf program section; an empty section
/// of another name is ignored, a non-empty one refused.
fn code_section(
    s: &ElfSection<'_, '_>,
    name: &str,
    spec: &mut ObjectSpec,
) -> Result<Role, ObjError> {
    if name != ".text" && section_def(name).is_none() {
        if s.size() == 0 {
            return Ok(Role::Other);
        }
        return Err(sec_err(
            name,
            "unknown program section (not a libbpf section name)",
        ));
    }
    let bytes = s.data().map_err(|e| sec_err(name, e.to_string()))?;
    let insns =
        insn::from_bytes(bytes).map_err(|_| sec_err(name, "size is not a multiple of 8"))?;
    spec.code.push(CodeSection {
        name: name.to_string(),
        insns,
        relocs: Vec::new(),
        funcs: Vec::new(),
    });
    Ok(Role::Code(spec.code.len().saturating_sub(1)))
}

/// A function symbol of a code section: an `STT_FUNC` symbol, or a global
/// `STT_NOTYPE` symbol of size 0 (hand-written assembly without `.type`
/// and `.size`; its extent is set later, by `place_funcs`). Other symbols
/// there (local labels) are not functions.
fn func_sym(sym: &ElfSymbol<'_, '_>, name: String) -> Result<Option<FuncSym>, ObjError> {
    let st_type = match sym.flags() {
        object::SymbolFlags::Elf { st_info, .. } => st_info.st_type(),
        _ => return Ok(None),
    };
    // `is_global` is true for weak symbols too: anything not local.
    let untyped = st_type == object::elf::STT_NOTYPE && sym.is_global() && sym.size() == 0;
    let typed = st_type == object::elf::STT_FUNC || st_type == object::elf::STT_GNU_IFUNC;
    if !typed && !untyped {
        return Ok(None);
    }
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
    Ok(Some(FuncSym {
        name,
        start,
        len,
        global: sym.is_global(),
        untyped,
    }))
}
