//! The relocation phase of the parser: every relocation of every code
//! section, classified by what it points at ([`RelocTarget`]).

use super::parse::ElfSymbol;
use super::parse::{Parser, Role};
use super::{ARENA_SECTION, MapOrigin, ObjError, ObjectSpec, Reloc, RelocTarget};
use crate::insn::Insn;
use object::{Object, ObjectSection, ObjectSymbol, RelocationTarget, SymbolSection};

/// One relocation being read: where it is, for errors.
struct Site<'s> {
    section: &'s str,
    insn: usize,
}

impl Site<'_> {
    fn err(&self, symbol: &str, reason: impl Into<String>) -> ObjError {
        ObjError::Relocation {
            section: self.section.to_string(),
            insn: self.insn,
            symbol: symbol.to_string(),
            reason: reason.into(),
        }
    }
}

/// How the relocated instruction uses its symbol.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Use {
    /// A `call` (its `imm` counts instructions after the call).
    Call,
    /// An `ld_imm64` (its `imm` is a byte offset).
    Load,
}

impl Parser<'_, '_> {
    /// Relocation phase: reads the relocations of every code section, in
    /// instruction order, and records which externs an `ld_imm64` loads.
    pub(super) fn relocations(&mut self, spec: &mut ObjectSpec) -> Result<(), ObjError> {
        // In section order, so the first bad relocation reported is the
        // same on every run.
        let sections: Vec<(object::SectionIndex, usize)> = self
            .file
            .sections()
            .filter_map(|s| match self.roles.get(&s.index()) {
                Some(Role::Code(c)) => Some((s.index(), *c)),
                _ => None,
            })
            .collect();
        for (index, ci) in sections {
            let file = self.file;
            let Ok(s) = file.section_by_index(index) else {
                continue;
            };
            let mut relocs = Vec::new();
            for (off, rel) in s.relocations() {
                relocs.push(self.relocation(spec, ci, off, rel.target())?);
            }
            relocs.sort_by_key(|r| r.insn);
            if let Some(c) = spec.code.get_mut(ci) {
                c.relocs = relocs;
            }
        }
        Ok(())
    }

    /// The relocation at byte offset `off` of code section `ci`.
    fn relocation(
        &mut self,
        spec: &ObjectSpec,
        ci: usize,
        off: u64,
        target: RelocationTarget,
    ) -> Result<Reloc, ObjError> {
        let Some(code) = spec.code.get(ci) else {
            return Err(ObjError::Elf(format!("code section #{ci} vanished")));
        };
        let insn = usize::try_from(off / 8).unwrap_or(usize::MAX);
        let site = Site {
            section: &code.name,
            insn,
        };
        let RelocationTarget::Symbol(si) = target else {
            return Err(site.err("?", "not a symbol relocation"));
        };
        let sym = self
            .file
            .symbol_by_index(si)
            .map_err(|_| site.err("?", "missing symbol"))?;
        let symbol = self.symbol_name(&sym);
        let ins: Insn = match code.insns.get(insn) {
            Some(ins) if off % 8 == 0 => *ins,
            _ => return Err(site.err(&symbol, "offset is not an instruction in the section")),
        };
        let how = if ins.is_call() {
            Use::Call
        } else if ins.is_ld_imm64() {
            if insn.checked_add(1).is_none_or(|n| n >= code.insns.len()) {
                return Err(site.err(&symbol, "ld_imm64 cut off by the end of the section"));
            }
            Use::Load
        } else {
            return Err(site.err(
                &symbol,
                format!(
                    "instruction code {:#04x} is neither ld_imm64 nor call",
                    ins.code
                ),
            ));
        };
        let target = match sym.section() {
            SymbolSection::Undefined => {
                let e = *self
                    .extern_index
                    .get(&si)
                    .ok_or_else(|| site.err(&symbol, "symbol is not defined in this object"))?;
                if how == Use::Load {
                    self.extern_loaded(e);
                }
                RelocTarget::Extern(e)
            }
            SymbolSection::Section(idx) => {
                self.defined_target(spec, &site, &sym, &symbol, idx, (how, ins.imm))?
            }
            _ => {
                return Err(site.err(
                    &symbol,
                    "symbol in a special section (common symbol? initialise the global)",
                ));
            }
        };
        Ok(Reloc {
            insn,
            target,
            symbol,
        })
    }

    /// A symbol's name, or its section's name for an unnamed (section)
    /// symbol.
    fn symbol_name(&self, sym: &ElfSymbol<'_, '_>) -> String {
        match sym.name().unwrap_or("") {
            "" => sym
                .section_index()
                .and_then(|i| self.file.section_by_index(i).ok())
                .and_then(|s| s.name().ok())
                .unwrap_or("")
                .to_string(),
            n => n.to_string(),
        }
    }

    /// What a relocation against a symbol defined in section `idx` points
    /// at, given how the instruction (with immediate `imm`) uses it.
    fn defined_target(
        &self,
        spec: &ObjectSpec,
        site: &Site<'_>,
        sym: &ElfSymbol<'_, '_>,
        symbol: &str,
        idx: object::SectionIndex,
        (how, imm): (Use, i32),
    ) -> Result<RelocTarget, ObjError> {
        let role = self.roles.get(&idx).copied().unwrap_or(Role::Other);
        let offset = sym.address();
        Ok(match role {
            Role::Code(code) => {
                let addr = i64::try_from(offset).ok();
                let t = match how {
                    Use::Call => addr
                        .and_then(|a| (a / 8).checked_add(i64::from(imm)))
                        .and_then(|t| t.checked_add(1)),
                    Use::Load => addr
                        .and_then(|a| a.checked_add(i64::from(imm)))
                        .map(|t| t / 8),
                };
                let insn = t
                    .and_then(|t| usize::try_from(t).ok())
                    .filter(|&t| spec.code.get(code).is_some_and(|c| t < c.insns.len()))
                    .ok_or_else(|| site.err(symbol, "call target outside its section"))?;
                match how {
                    Use::Call => RelocTarget::Call { code, insn },
                    Use::Load => RelocTarget::FuncAddr { code, insn },
                }
            }
            _ if how == Use::Call => {
                return Err(site.err(symbol, "call to something that is not a function"));
            }
            Role::Data(data) => RelocTarget::Data { data, offset },
            Role::Arena => RelocTarget::Arena { offset },
            Role::Maps => RelocTarget::Map(
                spec.maps
                    .iter()
                    .position(|m| {
                        m.origin == MapOrigin::Declared
                            && m.symbol_offset == offset
                            && !m.name.is_empty()
                    })
                    .ok_or_else(|| site.err(symbol, "no map at this offset of .maps"))?,
            ),
            Role::StructOps(i) => {
                let section = self
                    .struct_ops_sections
                    .get(i)
                    .map_or("", |(_, s)| s.name.as_str());
                RelocTarget::Map(
                    spec.maps
                        .iter()
                        .position(|m| {
                            matches!(m.origin, MapOrigin::StructOps(k) if spec
                                .struct_ops
                                .get(k)
                                .is_some_and(|so| so.section == section && so.offset == offset))
                        })
                        .ok_or_else(|| {
                            site.err(
                                symbol,
                                format!("no struct_ops map at this offset of {section}"),
                            )
                        })?,
                )
            }
            Role::LegacyMaps => RelocTarget::Map(
                spec.maps
                    .iter()
                    .position(|m| m.name == symbol)
                    .ok_or_else(|| site.err(symbol, "no legacy map with this name"))?,
            ),
            Role::Other => {
                let section = self
                    .file
                    .section_by_index(idx)
                    .ok()
                    .and_then(|s| s.name().ok())
                    .unwrap_or("?");
                if section == ARENA_SECTION {
                    return Err(site.err(symbol, "__arena global without an arena map"));
                }
                return Err(site.err(
                    symbol,
                    format!("points into section '{section}', which is not program data"),
                ));
            }
        })
    }
}
