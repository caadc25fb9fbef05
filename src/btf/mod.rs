//! BTF (BPF Type Format) reading, without building a type graph.
//!
//! Pure: bytes in, answers out. [`Btf::parse`] checks the header and indexes
//! where each type record starts (one `u32` per type); lookups then read
//! records in place. This is all the kfunc resolver needs from the 5.5 MB
//! vmlinux BTF: find a `FUNC` by name and return its type id.
//!
//! Malformed input (bad magic, sections out of bounds, a record running past
//! the type section, an unknown kind, a name offset past the strings) is a
//! [`BtfError`], never a panic.

use std::fmt;

mod edit;
pub mod ext;
mod types;

pub use edit::BtfEditor;
pub use types::{SecInfo, VAR_GLOBAL_ALLOCATED, VAR_GLOBAL_EXTERN, VAR_STATIC};

/// `BTF_MAGIC` as stored little-endian.
pub const MAGIC: u16 = 0xeb9f;

/// BTF kinds (`BTF_KIND_*`).
#[allow(missing_docs)]
pub mod kind {
    pub const INT: u32 = 1;
    pub const PTR: u32 = 2;
    pub const ARRAY: u32 = 3;
    pub const STRUCT: u32 = 4;
    pub const UNION: u32 = 5;
    pub const ENUM: u32 = 6;
    pub const FWD: u32 = 7;
    pub const TYPEDEF: u32 = 8;
    pub const VOLATILE: u32 = 9;
    pub const CONST: u32 = 10;
    pub const RESTRICT: u32 = 11;
    pub const FUNC: u32 = 12;
    pub const FUNC_PROTO: u32 = 13;
    pub const VAR: u32 = 14;
    pub const DATASEC: u32 = 15;
    pub const FLOAT: u32 = 16;
    pub const DECL_TAG: u32 = 17;
    pub const TYPE_TAG: u32 = 18;
    pub const ENUM64: u32 = 19;
}

/// Why a BTF blob could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BtfError {
    /// Shorter than its header says.
    #[error("BTF truncated: {0}")]
    Truncated(&'static str),
    /// Wrong magic (or big-endian BTF, which this crate does not read).
    #[error("not BTF: magic {0:#06x}, expected 0xeb9f")]
    BadMagic(u16),
    /// Unsupported header version.
    #[error("unsupported BTF version {0}")]
    BadVersion(u8),
    /// A type record that cannot be parsed.
    #[error("BTF type [{id}]: {reason}")]
    BadType {
        /// Type id.
        id: u32,
        /// What is wrong.
        reason: String,
    },
    /// A name offset outside the string section.
    #[error("BTF string offset {0} out of range")]
    BadString(u32),
}

/// The common 12-byte header of every type record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeHeader {
    /// Offset of the name in the string section (0 = anonymous).
    pub name_off: u32,
    /// `vlen` (bits 0–15), `kind` (bits 24–28), `kind_flag` (bit 31).
    pub info: u32,
    /// `size` or `type`, depending on the kind.
    pub size_or_type: u32,
}

impl TypeHeader {
    /// `BTF_KIND_*`.
    pub const fn kind(&self) -> u32 {
        (self.info >> 24) & 0x1f
    }
    /// Number of members / params / enumerators / variables.
    pub const fn vlen(&self) -> u32 {
        self.info & 0xffff
    }
    /// The kind flag.
    pub const fn kind_flag(&self) -> bool {
        self.info >> 31 != 0
    }
}

/// A parsed view of a BTF blob.
pub struct Btf<'a> {
    data: &'a [u8],
    types: &'a [u8],
    strings: &'a [u8],
    /// Byte offset into `types` of each record; index 0 is type id `id_base + 1`.
    offsets: Vec<u32>,
    /// For split BTF (a module's, on top of vmlinux): the base's type count
    /// and string section; 0 and empty otherwise.
    id_base: u32,
    base_strings: &'a [u8],
}

impl fmt::Debug for Btf<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Btf")
            .field("bytes", &self.data.len())
            .field("types", &self.offsets.len())
            .field("strings", &self.strings.len())
            .finish()
    }
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    b.get(off..off + 4)
        .map(|s| u32::from_le_bytes(s.try_into().expect("4 bytes")))
}

/// Size of the kind-specific data that follows a type header.
fn extra_size(id: u32, h: &TypeHeader) -> Result<usize, BtfError> {
    let vlen = h.vlen() as usize;
    Ok(match h.kind() {
        kind::INT => 4,
        kind::PTR | kind::FWD | kind::TYPEDEF | kind::VOLATILE | kind::CONST | kind::RESTRICT => 0,
        kind::FUNC | kind::FLOAT | kind::TYPE_TAG => 0,
        kind::ARRAY => 12,
        kind::STRUCT | kind::UNION => 12 * vlen,
        kind::ENUM => 8 * vlen,
        kind::FUNC_PROTO => 8 * vlen,
        kind::VAR => 4,
        kind::DATASEC => 12 * vlen,
        kind::DECL_TAG => 4,
        kind::ENUM64 => 12 * vlen,
        k => {
            return Err(BtfError::BadType {
                id,
                reason: format!("unknown kind {k}"),
            });
        }
    })
}

impl<'a> Btf<'a> {
    /// Parses the header and indexes the type records.
    pub fn parse(data: &'a [u8]) -> Result<Btf<'a>, BtfError> {
        Btf::parse_impl(data, 0, &[])
    }

    /// Parses split BTF (a kernel module's `/sys/kernel/btf/<module>`) on top
    /// of `base` (vmlinux): its type ids continue after the base's, and
    /// string offsets below the base's string-section size refer to the base.
    pub fn parse_split(data: &'a [u8], base: &Btf<'a>) -> Result<Btf<'a>, BtfError> {
        Btf::parse_impl(data, base.type_count(), base.strings)
    }

    fn parse_impl(
        data: &'a [u8],
        id_base: u32,
        base_strings: &'a [u8],
    ) -> Result<Btf<'a>, BtfError> {
        let (types, strings) = sections(data)?;
        let type_len = types.len();
        let mut offsets = Vec::with_capacity(type_len / 24);
        let mut pos = 0usize;
        while pos < types.len() {
            let id = id_base + offsets.len() as u32 + 1;
            let h = header_at(types, pos).ok_or(BtfError::BadType {
                id,
                reason: "record truncated".into(),
            })?;
            let next = pos + 12 + extra_size(id, &h)?;
            if next > types.len() {
                return Err(BtfError::BadType {
                    id,
                    reason: "record runs past the type section".into(),
                });
            }
            if h.name_off as usize >= base_strings.len() + strings.len().max(1) && h.name_off != 0 {
                return Err(BtfError::BadString(h.name_off));
            }
            offsets.push(pos as u32);
            pos = next;
        }
        Ok(Btf {
            data,
            types,
            strings,
            offsets,
            id_base,
            base_strings,
        })
    }

    /// Number of types (ids run from 1 to this, inclusive; 0 is `void`).
    pub fn type_count(&self) -> u32 {
        self.id_base + self.offsets.len() as u32
    }

    fn index(&self, id: u32) -> Option<usize> {
        (id as usize).checked_sub(self.id_base as usize + 1)
    }

    /// The whole blob.
    pub fn bytes(&self) -> &'a [u8] {
        self.data
    }

    /// The header of type `id`; `None` for 0 (`void`) or an id past the end.
    pub fn header(&self, id: u32) -> Option<TypeHeader> {
        let off = *self.offsets.get(self.index(id)?)? as usize;
        header_at(self.types, off)
    }

    /// The kind-specific bytes after the header of type `id`.
    pub fn extra(&self, id: u32) -> Option<&'a [u8]> {
        let h = self.header(id)?;
        let off = self.offsets[self.index(id)?] as usize + 12;
        self.types.get(off..off + extra_size(id, &h).ok()?)
    }

    /// The NUL-terminated string at `off` in the string section.
    pub fn string(&self, off: u32) -> Result<&'a str, BtfError> {
        let base = self.base_strings.len();
        let rest = if (off as usize) < base {
            &self.base_strings[off as usize..]
        } else {
            self.strings
                .get(off as usize - base..)
                .ok_or(BtfError::BadString(off))?
        };
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or(BtfError::BadString(off))?;
        std::str::from_utf8(&rest[..end]).map_err(|_| BtfError::BadString(off))
    }

    /// The name of type `id` (empty for anonymous types).
    pub fn name(&self, id: u32) -> Result<&'a str, BtfError> {
        let h = self.header(id).ok_or(BtfError::BadType {
            id,
            reason: "no such type".into(),
        })?;
        self.string(h.name_off)
    }

    /// Finds types of `kind` named `names[i]`, all in one pass.
    ///
    /// The string section is scanned first for the exact names; the type
    /// records are then walked once, comparing name offsets only. Returns the
    /// first matching id per name (kfunc names are unique in vmlinux BTF).
    pub fn find_by_names(&self, kind: u32, names: &[&str]) -> Vec<Option<u32>> {
        // Candidate string offsets per name: every position where `name\0`
        // occurs and is preceded by a NUL (or suffix-shared, which BTF allows).
        let mut wanted: Vec<(u32, usize)> = Vec::new();
        for (ni, name) in names.iter().enumerate() {
            let needle = name.as_bytes();
            if needle.is_empty() {
                continue;
            }
            // Own strings sit after the base's in the offset space.
            let base = self.base_strings.len();
            for (strs, shift) in [(self.strings, base), (self.base_strings, 0)] {
                let mut start = 0;
                while let Some(p) = find(&strs[start..], needle) {
                    let at = start + p;
                    if strs.get(at + needle.len()) == Some(&0) {
                        wanted.push(((at + shift) as u32, ni));
                    }
                    start = at + 1;
                }
            }
        }
        let mut out = vec![None; names.len()];
        if wanted.is_empty() {
            return out;
        }
        wanted.sort_unstable();
        for (idx, &off) in self.offsets.iter().enumerate() {
            let Some(h) = header_at(self.types, off as usize) else {
                continue;
            };
            if h.kind() != kind || h.name_off == 0 {
                continue;
            }
            if let Ok(p) = wanted.binary_search_by_key(&h.name_off, |w| w.0) {
                let ni = wanted[p].1;
                if out[ni].is_none() {
                    out[ni] = Some(self.id_base + idx as u32 + 1);
                    if out.iter().all(Option::is_some) {
                        break;
                    }
                }
            }
        }
        out
    }

    /// Finds a type of `kind` by exact name.
    pub fn find_by_name(&self, kind: u32, name: &str) -> Option<u32> {
        self.find_by_names(kind, &[name])[0]
    }

    /// Members of a `STRUCT`/`UNION`: `(name, type id, bit offset)`.
    /// With the kind flag set, the bitfield size is in the top 8 bits of the
    /// offset word and is masked off here.
    pub fn members(&self, id: u32) -> Result<Vec<(&'a str, u32, u32)>, BtfError> {
        let h = self.header(id).ok_or(BtfError::BadType {
            id,
            reason: "no such type".into(),
        })?;
        if !matches!(h.kind(), kind::STRUCT | kind::UNION) {
            return Err(BtfError::BadType {
                id,
                reason: "not a struct or union".into(),
            });
        }
        let extra = self.extra(id).ok_or(BtfError::BadType {
            id,
            reason: "record truncated".into(),
        })?;
        let mut v = Vec::with_capacity(h.vlen() as usize);
        for m in extra.chunks_exact(12) {
            let name = self.string(u32_at(m, 0).expect("12 bytes"))?;
            let ty = u32_at(m, 4).expect("12 bytes");
            let mut off = u32_at(m, 8).expect("12 bytes");
            if h.kind_flag() {
                off &= 0x00ff_ffff;
            }
            v.push((name, ty, off));
        }
        Ok(v)
    }
}

/// Finds types of `kind` named `names[i]` in a (non-split) BTF blob in one
/// streaming pass, without building the type index [`Btf::parse`] builds:
/// record sizes are computed on the fly and names are compared only at
/// records of the wanted kind. Stops as soon as every name is found. This is
/// the fast path for kfunc lookups in the 5 MB vmlinux BTF.
pub fn scan_by_names(data: &[u8], kind: u32, names: &[&str]) -> Result<Vec<Option<u32>>, BtfError> {
    let (types, strings) = sections(data)?;
    let mut out = vec![None; names.len()];
    let mut left = names.iter().filter(|n| !n.is_empty()).count();
    let (mut pos, mut id) = (0usize, 0u32);
    while left > 0 && pos + 12 <= types.len() {
        id += 1;
        let rec = &types[pos..pos + 12];
        let name_off = u32::from_le_bytes([rec[0], rec[1], rec[2], rec[3]]);
        let info = u32::from_le_bytes([rec[4], rec[5], rec[6], rec[7]]);
        let k = (info >> 24) & 0x1f;
        let vlen = (info & 0xffff) as usize;
        if k == kind && name_off != 0 {
            if let Some(rest) = strings.get(name_off as usize..) {
                for (i, n) in names.iter().enumerate() {
                    let nb = n.as_bytes();
                    if out[i].is_none()
                        && rest.len() > nb.len()
                        && rest[nb.len()] == 0
                        && rest.starts_with(nb)
                    {
                        out[i] = Some(id);
                        left -= 1;
                    }
                }
            }
        }
        pos += 12
            + match k {
                kind::PTR
                | kind::FWD
                | kind::TYPEDEF
                | kind::VOLATILE
                | kind::CONST
                | kind::RESTRICT => 0,
                kind::FUNC | kind::FLOAT | kind::TYPE_TAG => 0,
                kind::INT | kind::VAR | kind::DECL_TAG => 4,
                kind::ARRAY => 12,
                kind::STRUCT | kind::UNION | kind::DATASEC | kind::ENUM64 => 12 * vlen,
                kind::ENUM | kind::FUNC_PROTO => 8 * vlen,
                k => {
                    return Err(BtfError::BadType {
                        id,
                        reason: format!("unknown kind {k}"),
                    });
                }
            };
    }
    if left > 0 && pos != types.len() {
        return Err(BtfError::BadType {
            id,
            reason: "record runs past the type section".into(),
        });
    }
    Ok(out)
}

/// The type and string sections of a BTF blob, with the header checked.
fn sections(data: &[u8]) -> Result<(&[u8], &[u8]), BtfError> {
    if data.len() < 24 {
        return Err(BtfError::Truncated("header"));
    }
    let magic = u16::from_le_bytes([data[0], data[1]]);
    if magic != MAGIC {
        return Err(BtfError::BadMagic(magic));
    }
    if data[2] != 1 {
        return Err(BtfError::BadVersion(data[2]));
    }
    let hdr_len = u32_at(data, 4).expect("len checked") as usize;
    let field = |i: usize| u32_at(data, 8 + 4 * i).expect("len checked") as usize;
    if hdr_len < 24 || hdr_len > data.len() {
        return Err(BtfError::Truncated("header length"));
    }
    let section = |off: usize, len: usize, what| {
        let start = hdr_len.checked_add(off).ok_or(BtfError::Truncated(what))?;
        let end = start.checked_add(len).ok_or(BtfError::Truncated(what))?;
        data.get(start..end).ok_or(BtfError::Truncated(what))
    };
    Ok((
        section(field(0), field(1), "type section")?,
        section(field(2), field(3), "string section")?,
    ))
}

fn header_at(types: &[u8], off: usize) -> Option<TypeHeader> {
    Some(TypeHeader {
        name_off: u32_at(types, off)?,
        info: u32_at(types, off + 4)?,
        size_or_type: u32_at(types, off + 8)?,
    })
}

/// Byte-substring search (first occurrence).
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = needle[0];
    let mut i = 0;
    while i + needle.len() <= hay.len() {
        match hay[i..].iter().position(|&b| b == first) {
            None => return None,
            Some(p) => {
                i += p;
                if hay.get(i..i + needle.len()) == Some(needle) {
                    return Some(i);
                }
                i += 1;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests;
