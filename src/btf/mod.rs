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

#![forbid(unsafe_code)]
#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::fmt;

mod edit;
pub mod ext;
mod scan;
mod types;

pub use edit::BtfEditor;
pub use scan::scan_by_names;

/// The kfunc scan with lanes of a chosen size, for the fuzz targets
/// (`fuzz/fuzz_targets/btf.rs`, where inputs are far smaller than one
/// lane's default stretch) only: not part of the crate's API, and free to
/// change.
#[doc(hidden)]
pub mod fuzzing {
    pub use super::scan::scan_in_stretches;
}
pub use types::{SecInfo, VAR_GLOBAL_ALLOCATED, VAR_GLOBAL_EXTERN, VAR_STATIC};

/// `BTF_MAGIC` as stored little-endian.
pub const MAGIC: u16 = 0xeb9f;

/// BTF kinds (`BTF_KIND_*`).
pub mod kind {
    /// `BTF_KIND_INT`.
    pub const INT: u32 = 1;
    /// `BTF_KIND_PTR`.
    pub const PTR: u32 = 2;
    /// `BTF_KIND_ARRAY`.
    pub const ARRAY: u32 = 3;
    /// `BTF_KIND_STRUCT`.
    pub const STRUCT: u32 = 4;
    /// `BTF_KIND_UNION`.
    pub const UNION: u32 = 5;
    /// `BTF_KIND_ENUM`.
    pub const ENUM: u32 = 6;
    /// `BTF_KIND_FWD`.
    pub const FWD: u32 = 7;
    /// `BTF_KIND_TYPEDEF`.
    pub const TYPEDEF: u32 = 8;
    /// `BTF_KIND_VOLATILE`.
    pub const VOLATILE: u32 = 9;
    /// `BTF_KIND_CONST`.
    pub const CONST: u32 = 10;
    /// `BTF_KIND_RESTRICT`.
    pub const RESTRICT: u32 = 11;
    /// `BTF_KIND_FUNC`.
    pub const FUNC: u32 = 12;
    /// `BTF_KIND_FUNC_PROTO`.
    pub const FUNC_PROTO: u32 = 13;
    /// `BTF_KIND_VAR`.
    pub const VAR: u32 = 14;
    /// `BTF_KIND_DATASEC`.
    pub const DATASEC: u32 = 15;
    /// `BTF_KIND_FLOAT`.
    pub const FLOAT: u32 = 16;
    /// `BTF_KIND_DECL_TAG`.
    pub const DECL_TAG: u32 = 17;
    /// `BTF_KIND_TYPE_TAG`.
    pub const TYPE_TAG: u32 = 18;
    /// `BTF_KIND_ENUM64`.
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

/// The little-endian `u32` at byte `off` of `b`.
pub(crate) fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    b.get(off..)?
        .first_chunk::<4>()
        .copied()
        .map(u32::from_le_bytes)
}

/// Size of the kind-specific data that follows a type header.
fn extra_size(id: u32, h: &TypeHeader) -> Result<usize, BtfError> {
    record_size(id, h.info).map(|n| n.saturating_sub(12))
}

/// Size of a whole type record (header included) from its `info` word,
/// looked up in [`RECORD_SIZE`]; 0 for a kind this reader does not know.
/// No branch per kind: this is the scan's hot path.
#[inline(always)]
fn record_len(info: u32) -> usize {
    let k = (info >> 24) & 0x1f;
    let (fixed, per) = RECORD_SIZE.get(k as usize).copied().unwrap_or((0, 0));
    // vlen < 2^16 and per <= 12: this cannot overflow. An unknown kind's
    // entry is (0, 0).
    let vlen = (info & 0xffff) as usize;
    usize::from(fixed).wrapping_add(vlen.wrapping_mul(usize::from(per)))
}

/// [`record_len`], with an unknown kind an error naming type `id`.
#[inline(always)]
fn record_size(id: u32, info: u32) -> Result<usize, BtfError> {
    match record_len(info) {
        0 => Err(BtfError::BadType {
            id,
            reason: format!("unknown kind {}", (info >> 24) & 0x1f),
        }),
        n => Ok(n),
    }
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
        let string_end = base_strings.len().saturating_add(strings.len().max(1));
        while pos < types.len() {
            let id = u32::try_from(offsets.len())
                .ok()
                .and_then(|n| id_base.checked_add(n)?.checked_add(1))
                .ok_or(BtfError::Truncated("too many types"))?;
            let h = header_at(types, pos).ok_or_else(|| BtfError::BadType {
                id,
                reason: "record truncated".into(),
            })?;
            let next = pos
                .checked_add(12)
                .and_then(|p| p.checked_add(extra_size(id, &h).ok()?))
                .filter(|&n| n <= types.len());
            let Some(next) = next else {
                extra_size(id, &h)?;
                return Err(BtfError::BadType {
                    id,
                    reason: "record runs past the type section".into(),
                });
            };
            if h.name_off as usize >= string_end && h.name_off != 0 {
                return Err(BtfError::BadString(h.name_off));
            }
            offsets.push(u32::try_from(pos).map_err(|_| BtfError::Truncated("type section"))?);
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
        let n = u32::try_from(self.offsets.len()).unwrap_or(u32::MAX);
        self.id_base.saturating_add(n)
    }

    fn index(&self, id: u32) -> Option<usize> {
        (id as usize)
            .checked_sub(self.id_base as usize)?
            .checked_sub(1)
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
        let off = (*self.offsets.get(self.index(id)?)? as usize).checked_add(12)?;
        self.types
            .get(off..off.checked_add(extra_size(id, &h).ok()?)?)
    }

    /// The bytes from string offset `off` to the end of its string section
    /// (the base's, for split BTF, below the base's size).
    fn string_bytes(&self, off: u32) -> Option<&'a [u8]> {
        match (off as usize).checked_sub(self.base_strings.len()) {
            None => self.base_strings.get(off as usize..),
            Some(own) => self.strings.get(own..),
        }
    }

    /// The NUL-terminated string at `off` in the string section.
    pub fn string(&self, off: u32) -> Result<&'a str, BtfError> {
        let rest = self.string_bytes(off).ok_or(BtfError::BadString(off))?;
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or(BtfError::BadString(off))?;
        let text = rest.get(..end).ok_or(BtfError::BadString(off))?;
        std::str::from_utf8(text).map_err(|_| BtfError::BadString(off))
    }

    /// The name of type `id` (empty for anonymous types).
    pub fn name(&self, id: u32) -> Result<&'a str, BtfError> {
        let h = self.header(id).ok_or(BtfError::BadType {
            id,
            reason: "no such type".into(),
        })?;
        self.string(h.name_off)
    }

    /// Finds types of `kind` named `names[i]`, all in one pass over the
    /// index: the first matching id per name (`None` when there is none, and
    /// for an empty name). Only records of `kind` have their names compared.
    pub fn find_by_names(&self, kind: u32, names: &[&str]) -> Vec<Option<u32>> {
        let mut out = vec![None; names.len()];
        let mut left = names.iter().filter(|n| !n.is_empty()).count();
        for (idx, &off) in self.offsets.iter().enumerate() {
            if left == 0 {
                break;
            }
            let Some(h) = header_at(self.types, off as usize) else {
                continue;
            };
            if h.kind() != kind || h.name_off == 0 {
                continue;
            }
            let Some(rest) = self.string_bytes(h.name_off) else {
                continue;
            };
            let id = u32::try_from(idx)
                .ok()
                .and_then(|i| self.id_base.checked_add(i)?.checked_add(1));
            for (slot, name) in out.iter_mut().zip(names) {
                let nb = name.as_bytes();
                if slot.is_none()
                    && !nb.is_empty()
                    && rest.get(nb.len()) == Some(&0)
                    && rest.starts_with(nb)
                {
                    *slot = id;
                    left = left.saturating_sub(1);
                }
            }
        }
        out
    }

    /// Finds a type of `kind` by exact name.
    pub fn find_by_name(&self, kind: u32, name: &str) -> Option<u32> {
        self.find_by_names(kind, &[name])
            .into_iter()
            .next()
            .flatten()
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
            let (Some(name_off), Some(ty), Some(mut off)) =
                (u32_at(m, 0), u32_at(m, 4), u32_at(m, 8))
            else {
                continue;
            };
            let name = self.string(name_off)?;
            if h.kind_flag() {
                off &= 0x00ff_ffff;
            }
            v.push((name, ty, off));
        }
        Ok(v)
    }
}

/// Size of a type record by kind: `(header + fixed part, bytes per vlen
/// entry)`; `(0, 0)` marks a kind this reader does not know. The one table
/// of record sizes, for the index and the streaming scan alike.
#[allow(clippy::indexing_slicing)] // a const block: an index out of range fails the build
const RECORD_SIZE: [(u8, u8); 32] = {
    let mut t = [(0u8, 0u8); 32];
    let mut k = 1;
    while k <= 19 {
        t[k] = match k as u32 {
            kind::INT | kind::VAR | kind::DECL_TAG => (16, 0),
            kind::ARRAY => (24, 0),
            kind::STRUCT | kind::UNION | kind::DATASEC | kind::ENUM64 => (12, 12),
            kind::ENUM | kind::FUNC_PROTO => (12, 8),
            _ => (12, 0),
        };
        k += 1;
    }
    t
};

/// The type and string sections of a BTF blob, with the header checked.
fn sections(data: &[u8]) -> Result<(&[u8], &[u8]), BtfError> {
    let Some(hdr) = data.first_chunk::<24>() else {
        return Err(BtfError::Truncated("header"));
    };
    let magic = u16::from_le_bytes([hdr[0], hdr[1]]);
    if magic != MAGIC {
        return Err(BtfError::BadMagic(magic));
    }
    if hdr[2] != 1 {
        return Err(BtfError::BadVersion(hdr[2]));
    }
    let word = |off: usize| u32_at(hdr, off).map_or(0, |w| w as usize);
    let hdr_len = word(4);
    let field = |i: usize| word(i.saturating_mul(4).saturating_add(8));
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
    let rec = types.get(off..)?.first_chunk::<12>()?;
    Some(TypeHeader {
        name_off: u32_at(rec, 0)?,
        info: u32_at(rec, 4)?,
        size_or_type: u32_at(rec, 8)?,
    })
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
mod tests;
