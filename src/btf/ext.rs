//! `.BTF.ext`: func_info, line_info and CO-RE relocation records per section.

use super::BtfError;

/// A `bpf_func_info` record (`insn_off` in bytes within its section, as clang writes it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FuncInfo {
    /// Byte offset of the function's first instruction.
    pub insn_off: u32,
    /// BTF id of the `FUNC`.
    pub type_id: u32,
}

/// A `bpf_line_info` record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineInfo {
    /// Byte offset of the instruction.
    pub insn_off: u32,
    /// String offset of the file name.
    pub file_name_off: u32,
    /// String offset of the source line.
    pub line_off: u32,
    /// Line number << 10 | column.
    pub line_col: u32,
}

/// A `bpf_core_relo` record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoreRelo {
    /// Byte offset of the instruction.
    pub insn_off: u32,
    /// Root type id (in the object's BTF).
    pub type_id: u32,
    /// String offset of the access string (`0:1:2`).
    pub access_str_off: u32,
    /// `enum bpf_core_relo_kind`.
    pub kind: u32,
}

/// Records for one ELF section.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SectionExt {
    /// Function records.
    pub func_info: Vec<FuncInfo>,
    /// Line records.
    pub line_info: Vec<LineInfo>,
    /// CO-RE records.
    pub core_relos: Vec<CoreRelo>,
}

/// A parsed `.BTF.ext`, keyed by section name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BtfExt {
    /// `(section name, records)`.
    pub sections: Vec<(String, SectionExt)>,
}

impl BtfExt {
    /// Records of the section named `name`.
    pub fn section(&self, name: &str) -> Option<&SectionExt> {
        self.sections
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s)
    }

    fn entry(&mut self, name: &str) -> &mut SectionExt {
        let i = match self.sections.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                self.sections
                    .push((name.to_string(), SectionExt::default()));
                self.sections.len().saturating_sub(1)
            }
        };
        // `i` indexes an element that exists (found, or just pushed).
        #[allow(
            clippy::indexing_slicing,
            reason = "i is a found position or the index of the element just pushed"
        )]
        &mut self.sections[i].1
    }

    /// Parses `.BTF.ext`; section names are looked up in `btf`'s strings.
    pub fn parse(data: &[u8], btf: &super::Btf<'_>) -> Result<BtfExt, BtfError> {
        let truncated = BtfError::Truncated(".BTF.ext");
        // The u32 at `base + add` (both byte offsets).
        let u32_at = |base: usize, add: usize| -> Result<u32, BtfError> {
            base.checked_add(add)
                .and_then(|o| super::u32_at(data, o))
                .ok_or(truncated.clone())
        };
        let Some(hdr) = data.first_chunk::<24>() else {
            return Err(BtfError::Truncated(".BTF.ext header"));
        };
        let magic = u16::from_le_bytes([hdr[0], hdr[1]]);
        if magic != super::MAGIC {
            return Err(BtfError::BadMagic(magic));
        }
        let hdr_len = u32_at(4, 0)? as usize;
        let mut ext = BtfExt::default();
        let mut sub = |off_field: usize, min_rec: usize, which: u8| -> Result<(), BtfError> {
            if off_field.saturating_add(8) > hdr_len {
                return Ok(());
            }
            let off = hdr_len
                .checked_add(u32_at(off_field, 0)? as usize)
                .ok_or(truncated.clone())?;
            let len = u32_at(off_field, 4)? as usize;
            if len == 0 {
                return Ok(());
            }
            let end = off
                .checked_add(len)
                .filter(|&e| e <= data.len())
                .ok_or(BtfError::Truncated(".BTF.ext info"))?;
            let rec = u32_at(off, 0)? as usize;
            if rec < min_rec {
                return Err(BtfError::Truncated(".BTF.ext record size"));
            }
            let mut p = off.checked_add(4).ok_or(truncated.clone())?;
            while p < end {
                let name = btf.string(u32_at(p, 0)?)?.to_string();
                let n = u32_at(p, 4)? as usize;
                p = p.checked_add(8).ok_or(truncated.clone())?;
                let need = n
                    .checked_mul(rec)
                    .and_then(|b| b.checked_add(p))
                    .ok_or(truncated.clone())?;
                if need > end {
                    return Err(BtfError::Truncated(".BTF.ext records"));
                }
                let s = ext.entry(&name);
                // Records start every `rec` bytes from `p`; all lie before
                // `need` (checked above).
                let mut r = p;
                for _ in 0..n {
                    let w = |k: usize| u32_at(r, k.saturating_mul(4));
                    match which {
                        0 => s.func_info.push(FuncInfo {
                            insn_off: w(0)?,
                            type_id: w(1)?,
                        }),
                        1 => s.line_info.push(LineInfo {
                            insn_off: w(0)?,
                            file_name_off: w(1)?,
                            line_off: w(2)?,
                            line_col: w(3)?,
                        }),
                        _ => s.core_relos.push(CoreRelo {
                            insn_off: w(0)?,
                            type_id: w(1)?,
                            access_str_off: w(2)?,
                            kind: w(3)?,
                        }),
                    }
                    r = r.saturating_add(rec);
                }
                p = need;
            }
            Ok(())
        };
        sub(8, 8, 0)?;
        sub(16, 16, 1)?;
        sub(24, 16, 2)?;
        Ok(ext)
    }
}
