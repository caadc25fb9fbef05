//! Type-level queries used by the object parser: resolving sizes, skipping
//! modifiers, DATASEC contents, enum values.

use super::{Btf, BtfError, kind, u32_at};

/// One `btf_var_secinfo` of a DATASEC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecInfo {
    /// The VAR (or FUNC, in `.ksyms`) type id.
    pub type_id: u32,
    /// Offset in the section.
    pub offset: u32,
    /// Size.
    pub size: u32,
}

/// `BTF_VAR_STATIC`.
pub const VAR_STATIC: u32 = 0;
/// `BTF_VAR_GLOBAL_ALLOCATED`.
pub const VAR_GLOBAL_ALLOCATED: u32 = 1;
/// `BTF_VAR_GLOBAL_EXTERN`.
pub const VAR_GLOBAL_EXTERN: u32 = 2;

fn bad(id: u32, reason: impl Into<String>) -> BtfError {
    BtfError::BadType {
        id,
        reason: reason.into(),
    }
}

impl<'a> Btf<'a> {
    fn header_of(&self, id: u32) -> Result<super::TypeHeader, BtfError> {
        self.header(id).ok_or_else(|| bad(id, "no such type"))
    }

    /// Follows typedefs and const/volatile/restrict/type-tag modifiers.
    pub fn skip_mods(&self, mut id: u32) -> Result<u32, BtfError> {
        for _ in 0..64 {
            let h = self.header_of(id)?;
            match h.kind() {
                kind::TYPEDEF | kind::VOLATILE | kind::CONST | kind::RESTRICT | kind::TYPE_TAG => {
                    id = h.size_or_type
                }
                _ => return Ok(id),
            }
        }
        Err(bad(id, "modifier chain too long"))
    }

    /// Size in bytes of type `id`.
    pub fn resolve_size(&self, id: u32) -> Result<u64, BtfError> {
        self.resolve_size_at(id, 0)
    }

    /// `resolve_size` with a nesting bound: malformed BTF can make a type
    /// contain itself.
    fn resolve_size_at(&self, id: u32, depth: u32) -> Result<u64, BtfError> {
        if depth > 32 {
            return Err(bad(id, "type nesting too deep (a type contains itself?)"));
        }
        let id = self.skip_mods(id)?;
        let h = self.header_of(id)?;
        Ok(match h.kind() {
            kind::INT
            | kind::STRUCT
            | kind::UNION
            | kind::ENUM
            | kind::ENUM64
            | kind::FLOAT
            | kind::DATASEC => h.size_or_type as u64,
            kind::PTR => 8,
            kind::ARRAY => {
                let (elem, _, n) = self.array(id)?;
                self.resolve_size_at(elem, depth.saturating_add(1))?
                    .checked_mul(n as u64)
                    .ok_or_else(|| bad(id, "array size overflows"))?
            }
            kind::VAR => self.resolve_size_at(h.size_or_type, depth.saturating_add(1))?,
            k => return Err(bad(id, format!("kind {k} has no size"))),
        })
    }

    /// `(element type, index type, element count)` of an ARRAY.
    pub fn array(&self, id: u32) -> Result<(u32, u32, u32), BtfError> {
        let h = self.header_of(id)?;
        if h.kind() != kind::ARRAY {
            return Err(bad(id, "not an array"));
        }
        let e = self.extra(id).ok_or_else(|| bad(id, "truncated"))?;
        match (u32_at(e, 0), u32_at(e, 4), u32_at(e, 8)) {
            (Some(elem), Some(index), Some(n)) => Ok((elem, index, n)),
            _ => Err(bad(id, "truncated")),
        }
    }

    /// The entries of a DATASEC.
    pub fn datasec(&self, id: u32) -> Result<Vec<SecInfo>, BtfError> {
        let h = self.header_of(id)?;
        if h.kind() != kind::DATASEC {
            return Err(bad(id, "not a DATASEC"));
        }
        let e = self.extra(id).ok_or_else(|| bad(id, "truncated"))?;
        Ok(e.chunks_exact(12)
            .filter_map(|c| {
                Some(SecInfo {
                    type_id: u32_at(c, 0)?,
                    offset: u32_at(c, 4)?,
                    size: u32_at(c, 8)?,
                })
            })
            .collect())
    }

    /// The linkage of a VAR.
    pub fn var_linkage(&self, id: u32) -> Result<u32, BtfError> {
        let h = self.header_of(id)?;
        if h.kind() != kind::VAR {
            return Err(bad(id, "not a VAR"));
        }
        let e = self.extra(id).ok_or_else(|| bad(id, "truncated"))?;
        u32_at(e, 0).ok_or_else(|| bad(id, "truncated"))
    }

    /// The single enumerator value of an ENUM/ENUM64 (as `__ulong` encodes
    /// it). A 32-bit enum is read as unsigned unless its kind flag says signed.
    pub fn single_enum_value(&self, id: u32) -> Result<u64, BtfError> {
        let id = self.skip_mods(id)?;
        let h = self.header_of(id)?;
        if h.vlen() != 1 {
            return Err(bad(id, "enum must have exactly one value"));
        }
        let e = self.extra(id).ok_or_else(|| bad(id, "truncated"))?;
        let w = |off: usize| u32_at(e, off).ok_or_else(|| bad(id, "truncated"));
        match h.kind() {
            kind::ENUM if h.kind_flag() => Ok(i64::from(w(4)? as i32) as u64),
            kind::ENUM => Ok(u64::from(w(4)?)),
            kind::ENUM64 => Ok((u64::from(w(8)?) << 32) | u64::from(w(4)?)),
            _ => Err(bad(id, "not an enum")),
        }
    }

    /// The bitfield size in bits of each member of a STRUCT/UNION, in
    /// member order: 0 for a member that is not a bitfield. With the kind
    /// flag set the size is in the member's offset word; without it, a
    /// bitfield is an INT member whose encoding says fewer bits than its
    /// size, or a bit offset inside it.
    pub fn member_bitfield_sizes(&self, id: u32) -> Result<Vec<u32>, BtfError> {
        let h = self.header_of(id)?;
        if !matches!(h.kind(), kind::STRUCT | kind::UNION) {
            return Err(bad(id, "not a struct or union"));
        }
        let e = self.extra(id).ok_or_else(|| bad(id, "truncated"))?;
        let mut out = Vec::with_capacity(h.vlen() as usize);
        for m in e.chunks_exact(12) {
            let (Some(ty), Some(off)) = (u32_at(m, 4), u32_at(m, 8)) else {
                continue;
            };
            if h.kind_flag() {
                out.push(off >> 24);
                continue;
            }
            let t = self.skip_mods(ty)?;
            let th = self.header_of(t)?;
            let bits = match th.kind() {
                kind::INT => {
                    let enc = self
                        .extra(t)
                        .and_then(|x| u32_at(x, 0))
                        .ok_or_else(|| bad(t, "truncated"))?;
                    let (nr_bits, int_off) = (enc & 0xff, (enc >> 16) & 0xff);
                    let whole = u64::from(th.size_or_type).saturating_mul(8);
                    if u64::from(nr_bits) != whole || int_off != 0 {
                        nr_bits
                    } else {
                        0
                    }
                }
                _ => 0,
            };
            out.push(bits);
        }
        Ok(out)
    }

    /// Finds the DATASEC named `name`.
    pub fn find_datasec(&self, name: &str) -> Option<u32> {
        self.find_by_name(kind::DATASEC, name)
    }
}
