//! struct_ops maps: kernel structs of function pointers (a TCP congestion
//! control, a scheduler, …) filled in by an object, read from its
//! `.struct_ops` and `.struct_ops.link` sections.
//!
//! In C, each variable of such a section is one map:
//!
//! ```c
//! SEC(".struct_ops.link")
//! struct tcp_congestion_ops my_cc = {
//!     .init = (void *)my_init,      /* a SEC("struct_ops/my_init") program */
//!     .name = "my_cc",
//! };
//! ```
//!
//! The object's BTF describes the variable (a `VAR` in the section's
//! `DATASEC`) and its struct, whose name is the kernel struct's; the
//! section's relocations point the function-pointer members at programs.
//! [`StructOpsSpec`] is what the parser keeps of each: its bytes, its
//! members by name with their offsets, and which program each function
//! pointer names.
//!
//! The object's struct need not have the kernel's layout (it may declare
//! only the members it sets, in any order): members are matched by name.
//! [`KernelStructOps::find`] reads the kernel's struct and its map-value
//! wrapper from kernel BTF, and [`StructOpsSpec::value_for`] lays the
//! object's bytes out as the kernel's map value. Both are pure: kernel BTF
//! comes in parsed, program fds are written in later
//! ([`StructOpsValue::set_fd`]).

use super::parse::{Parser, Role};
use super::{MapOrigin, MapSpec, ObjError, ObjectSpec, ProgramSpec, sec_err};
use crate::abi::{self, ProgramType};
use crate::btf::{Btf, BtfError, kind};
use object::{Object, ObjectSection, ObjectSymbol, RelocationTarget, SymbolSection};

/// The section of struct_ops maps registered by the map update itself
/// (`BPF_MAP_UPDATE_ELEM`, Linux 5.6).
pub const STRUCT_OPS_SECTION: &str = ".struct_ops";
/// The section of struct_ops maps created with `BPF_F_LINK` and registered
/// by a link (`BPF_LINK_CREATE`, Linux 6.4).
pub const STRUCT_OPS_LINK_SECTION: &str = ".struct_ops.link";
/// The kernel names the map value of struct `T` `bpf_struct_ops_T`.
pub const VALUE_PREFIX: &str = "bpf_struct_ops_";

/// The most members the parser reads over all struct_ops maps of one
/// object (kernel structs have at most 64 each; this bounds the memory a
/// hostile object can make the parser use).
pub const MAX_STRUCT_OPS_MEMBERS: usize = 1 << 16;

/// The most struct_ops variables the parser reads in one section (real
/// objects have a handful; this bounds the work a hostile DATASEC can
/// cause).
pub const MAX_STRUCT_OPS_VARIABLES: usize = 1024;

/// The largest struct_ops map value [`StructOpsSpec::value_for`] builds
/// (the kernel's are a few hundred bytes to a few KiB).
pub const MAX_STRUCT_OPS_VALUE: u32 = 1 << 20;

/// Whether `name` is a struct_ops section.
pub fn is_struct_ops_section(name: &str) -> bool {
    name == STRUCT_OPS_SECTION || name == STRUCT_OPS_LINK_SECTION
}

/// One struct_ops variable of an object: a map of type
/// `BPF_MAP_TYPE_STRUCT_OPS` whose value is a kernel struct.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StructOpsSpec {
    /// The variable's name, which is the map's name.
    pub name: String,
    /// Its map in [`super::ObjectSpec::maps`].
    pub map: usize,
    /// `.struct_ops` or `.struct_ops.link`.
    pub section: String,
    /// Registered through a link (`.struct_ops.link`, map flag
    /// `BPF_F_LINK`) rather than by the map update.
    pub link: bool,
    /// The struct's name in the object's BTF (`tcp_congestion_ops`, maybe
    /// with a `___flavour` suffix).
    pub type_name: String,
    /// The struct's type id in the object's BTF.
    pub type_id: u32,
    /// The variable's offset in its section.
    pub offset: u64,
    /// The variable's initial bytes (the struct's size).
    pub data: Vec<u8>,
    /// The struct's members, in the object's order.
    pub members: Vec<StructOpsMember>,
}

/// A member of a struct_ops variable's struct, as the object lays it out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StructOpsMember {
    /// Name (the key to the kernel struct's member).
    pub name: String,
    /// Byte offset in the struct.
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
    /// What it holds.
    pub kind: MemberKind,
}

/// What a struct_ops member holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberKind {
    /// A function pointer: the program (index into
    /// [`super::ObjectSpec::programs`]) a relocation points it at, or
    /// `None` when it is left NULL.
    Func {
        /// The program.
        program: Option<usize>,
    },
    /// A pointer to data (must stay NULL: the kernel fills such members
    /// itself, or refuses them).
    Pointer,
    /// Anything else (integers, arrays such as a `name`, structs): copied
    /// to the kernel's member of the same name.
    Data,
}

impl StructOpsSpec {
    /// The kernel struct's name: [`StructOpsSpec::type_name`] without a
    /// `___flavour` suffix.
    pub fn kernel_type_name(&self) -> &str {
        match self.type_name.split_once("___") {
            Some((base, _)) if !base.is_empty() => base,
            _ => &self.type_name,
        }
    }

    /// The programs its function pointers name, as `(member, program
    /// index)`.
    pub fn programs(&self) -> impl Iterator<Item = (&str, usize)> {
        self.members.iter().filter_map(|m| match m.kind {
            MemberKind::Func { program: Some(p) } => Some((m.name.as_str(), p)),
            _ => None,
        })
    }

    /// Lays this variable out as the kernel's map value for `kernel`: the
    /// wrapper's header stays zero, each member is copied to the kernel
    /// member of the same name, and each function pointer that names a
    /// program becomes a [`FuncSlot`] (its fd is written later with
    /// [`StructOpsValue::set_fd`]).
    ///
    /// A member the kernel struct lacks is skipped if it is all zero (a
    /// newer object on an older kernel) and an error otherwise. Errors
    /// ([`ObjError::Map`] naming the map and member): a program for a
    /// member that is not a function pointer in the kernel; a non-zero
    /// data pointer, or a non-zero function pointer without a relocation;
    /// a data member whose size differs from the kernel's; a layout that
    /// does not fit the value.
    pub fn value_for(&self, kernel: &KernelStructOps) -> Result<StructOpsValue, ObjError> {
        let err = |reason: String| ObjError::Map {
            map: self.name.clone(),
            reason,
        };
        if kernel.value_size > MAX_STRUCT_OPS_VALUE {
            return Err(err(format!(
                "the kernel's {}{} is {} bytes, more than this crate accepts ({MAX_STRUCT_OPS_VALUE})",
                VALUE_PREFIX, kernel.type_name, kernel.value_size
            )));
        }
        let mut bytes = super::zeroed_vec(kernel.value_size as usize)
            .ok_or_else(|| err("cannot allocate the map value".into()))?;
        let mut funcs = Vec::new();
        for m in &self.members {
            let src = range(m.offset, m.size)
                .and_then(|r| self.data.get(r))
                .ok_or_else(|| {
                    err(format!(
                        "member '{}' ({} bytes at {}) lies outside the struct's {} bytes",
                        m.name,
                        m.size,
                        m.offset,
                        self.data.len()
                    ))
                })?;
            let set = src.iter().any(|&b| b != 0);
            let Some(k) = kernel.members.iter().find(|k| k.name == m.name) else {
                match m.kind {
                    MemberKind::Func { program: Some(p) } => {
                        return Err(err(format!(
                            "member '{}' names program #{p}, but the kernel's struct {} has no member '{}'",
                            m.name, kernel.type_name, m.name
                        )));
                    }
                    _ if set => {
                        return Err(err(format!(
                            "member '{}' is set, but the kernel's struct {} has no member '{}'",
                            m.name, kernel.type_name, m.name
                        )));
                    }
                    _ => continue,
                }
            };
            let at = kernel.data_offset.checked_add(k.offset);
            let place = at.and_then(|a| range(a, k.size));
            match (m.kind, k.kind) {
                (
                    MemberKind::Func {
                        program: Some(program),
                    },
                    KernelMemberKind::Func,
                ) => {
                    let value_offset = at
                        .and_then(|a| range(a, 8))
                        .filter(|r| k.size == 8 && r.end <= bytes.len())
                        .map(|r| r.start)
                        .ok_or_else(|| {
                            err(format!(
                                "the kernel's function pointer '{}' ({} bytes at {}) does not fit the {}-byte value",
                                k.name, k.size, k.offset, kernel.value_size
                            ))
                        })?;
                    funcs.push(FuncSlot {
                        member: m.name.clone(),
                        member_index: k.index,
                        program,
                        value_offset,
                    });
                }
                (MemberKind::Func { program: Some(_) }, _) => {
                    return Err(err(format!(
                        "member '{}' names a program, but it is not a function pointer in the kernel's struct {}",
                        m.name, kernel.type_name
                    )));
                }
                (MemberKind::Func { program: None } | MemberKind::Pointer, _) if set => {
                    return Err(err(format!(
                        "pointer member '{}' holds a value without a relocation: only function pointers to struct_ops programs can be set",
                        m.name
                    )));
                }
                (MemberKind::Data, KernelMemberKind::Func | KernelMemberKind::Pointer) if set => {
                    return Err(err(format!(
                        "member '{}' is data in the object but a pointer in the kernel's struct {}",
                        m.name, kernel.type_name
                    )));
                }
                (MemberKind::Data, KernelMemberKind::Data) => {
                    if k.size != m.size {
                        return Err(err(format!(
                            "member '{}' is {} bytes in the object but {} bytes in the kernel's struct {}",
                            m.name, m.size, k.size, kernel.type_name
                        )));
                    }
                    let dst = place.and_then(|r| bytes.get_mut(r)).ok_or_else(|| {
                        err(format!(
                            "the kernel's member '{}' ({} bytes at {}) does not fit the {}-byte value",
                            k.name, k.size, k.offset, kernel.value_size
                        ))
                    })?;
                    dst.copy_from_slice(src);
                }
                // NULL pointers and zero bytes: nothing to copy.
                _ => {}
            }
        }
        Ok(StructOpsValue { bytes, funcs })
    }
}

/// `start..start + len` as a usize range, if it does not overflow.
fn range(start: u32, len: u32) -> Option<std::ops::Range<usize>> {
    let s = usize::try_from(start).ok()?;
    let e = s.checked_add(usize::try_from(len).ok()?)?;
    Some(s..e)
}

/// What kernel BTF says about a struct_ops type: the struct (`struct
/// tcp_congestion_ops`) and the map value that wraps it (`struct
/// bpf_struct_ops_tcp_congestion_ops`: a refcount and state header, then
/// the struct as its `data` member).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelStructOps {
    /// The struct's name.
    pub type_name: String,
    /// The struct's type id: programs are loaded with it as
    /// `attach_btf_id`.
    pub type_id: u32,
    /// The wrapper's type id: the map is created with it as
    /// `btf_vmlinux_value_type_id`.
    pub value_type_id: u32,
    /// The wrapper's size: the map's `value_size`.
    pub value_size: u32,
    /// Where the struct starts in the wrapper.
    pub data_offset: u32,
    /// The struct's members, in the kernel's order.
    pub members: Vec<KernelMember>,
}

/// A member of a kernel struct_ops struct.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelMember {
    /// Name.
    pub name: String,
    /// Position among the struct's members: a program for this member is
    /// loaded with it as `expected_attach_type`.
    pub index: u32,
    /// Byte offset in the struct.
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
    /// What it holds.
    pub kind: KernelMemberKind,
}

/// What a kernel struct_ops member holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelMemberKind {
    /// A function pointer (a program's fd goes there).
    Func,
    /// A data pointer (`owner`: the kernel fills it).
    Pointer,
    /// Anything else.
    Data,
}

impl KernelStructOps {
    /// Looks up struct `type_name` and its wrapper `bpf_struct_ops_<type_name>`
    /// in kernel BTF `btf` (vmlinux's). `Ok(None)` when either is missing
    /// (this kernel cannot register such a struct: too old, or built
    /// without it); an error for BTF that cannot be read, a wrapper that
    /// does not hold the struct, or a member with a bit offset.
    pub fn find(btf: &Btf<'_>, type_name: &str) -> Result<Option<KernelStructOps>, BtfError> {
        let wrapper = format!("{VALUE_PREFIX}{type_name}");
        let ids = btf.find_by_names(kind::STRUCT, &[type_name, &wrapper]);
        let (Some(Some(type_id)), Some(Some(value_type_id))) =
            (ids.first().copied(), ids.get(1).copied())
        else {
            return Ok(None);
        };
        let bad = |id: u32, reason: String| BtfError::BadType { id, reason };
        let value = btf
            .header(value_type_id)
            .ok_or_else(|| bad(value_type_id, "no such type".into()))?;
        let data_bits = btf
            .members(value_type_id)?
            .into_iter()
            .find(|&(_, t, _)| t == type_id)
            .map(|(_, _, off)| off)
            .ok_or_else(|| {
                bad(
                    value_type_id,
                    format!("{wrapper} has no member of type struct {type_name}"),
                )
            })?;
        let whole_bytes = |id: u32, bits: u32| {
            if bits % 8 == 0 {
                Ok(bits / 8)
            } else {
                Err(bad(id, format!("member at bit offset {bits}")))
            }
        };
        let data_offset = whole_bytes(value_type_id, data_bits)?;
        let size = btf.header(type_id).map_or(0, |h| h.size_or_type);
        if data_offset
            .checked_add(size)
            .is_none_or(|end| end > value.size_or_type)
        {
            return Err(bad(
                value_type_id,
                format!("{wrapper} is smaller than the struct {type_name} it holds"),
            ));
        }
        let mut members = Vec::new();
        for (index, (name, ty, bits)) in (0u32..).zip(btf.members(type_id)?) {
            let offset = whole_bytes(type_id, bits)?;
            let size = u32::try_from(btf.resolve_size(ty)?)
                .map_err(|_| bad(ty, "member larger than 4 GiB".into()))?;
            if offset
                .checked_add(size)
                .is_none_or(|end| end > size_of_struct(btf, type_id))
            {
                return Err(bad(
                    type_id,
                    format!("member '{name}' runs past the struct"),
                ));
            }
            members.push(KernelMember {
                name: name.to_string(),
                index,
                offset,
                size,
                kind: member_kind(btf, ty)?.into(),
            });
        }
        Ok(Some(KernelStructOps {
            type_name: type_name.to_string(),
            type_id,
            value_type_id,
            value_size: value.size_or_type,
            data_offset,
            members,
        }))
    }
}

fn size_of_struct(btf: &Btf<'_>, id: u32) -> u32 {
    btf.header(id).map_or(0, |h| h.size_or_type)
}

impl From<MemberKind> for KernelMemberKind {
    fn from(k: MemberKind) -> Self {
        match k {
            MemberKind::Func { .. } => KernelMemberKind::Func,
            MemberKind::Pointer => KernelMemberKind::Pointer,
            MemberKind::Data => KernelMemberKind::Data,
        }
    }
}

/// Whether type `ty` is a function pointer, a data pointer or data.
fn member_kind(btf: &Btf<'_>, ty: u32) -> Result<MemberKind, BtfError> {
    let t = btf.skip_mods(ty)?;
    match btf.header(t) {
        Some(h) if h.kind() == kind::PTR => {
            let target = btf.skip_mods(h.size_or_type);
            let func = target
                .ok()
                .and_then(|p| btf.header(p))
                .is_some_and(|p| p.kind() == kind::FUNC_PROTO);
            Ok(if func {
                MemberKind::Func { program: None }
            } else {
                MemberKind::Pointer
            })
        }
        _ => Ok(MemberKind::Data),
    }
}

/// A struct_ops map's value, laid out for the kernel, waiting for its
/// program fds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StructOpsValue {
    /// The value (the kernel wrapper's size).
    pub bytes: Vec<u8>,
    /// The function pointers to fill with program fds.
    pub funcs: Vec<FuncSlot>,
}

/// A function pointer of a struct_ops value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuncSlot {
    /// The member's name.
    pub member: String,
    /// The member's index in the kernel struct (the program's
    /// `expected_attach_type`).
    pub member_index: u32,
    /// The program (index into [`super::ObjectSpec::programs`]).
    pub program: usize,
    /// Where its 8 bytes are in [`StructOpsValue::bytes`].
    pub value_offset: usize,
}

impl StructOpsValue {
    /// Writes program fd `fd` into slot `slot` (the kernel reads each
    /// function pointer as a program fd; 0 leaves it unset). Returns
    /// false for a slot that does not exist or lies outside the value.
    pub fn set_fd(&mut self, slot: usize, fd: i32) -> bool {
        let Some(at) = self.funcs.get(slot).map(|s| s.value_offset) else {
            return false;
        };
        let word = i64::from(fd).to_le_bytes();
        match at
            .checked_add(8)
            .and_then(|end| self.bytes.get_mut(at..end))
        {
            Some(dst) => {
                dst.copy_from_slice(&word);
                true
            }
            None => false,
        }
    }
}

impl Parser<'_, '_> {
    /// struct_ops phase: a map per variable of each struct_ops section,
    /// and the section's relocations binding function pointers to
    /// programs (so after the programs phase, before the code relocations,
    /// which may name struct_ops maps).
    pub(super) fn struct_ops(&mut self, spec: &mut ObjectSpec) -> Result<(), ObjError> {
        let mut members_left = MAX_STRUCT_OPS_MEMBERS;
        for (index, sec) in &self.struct_ops_sections {
            let first_spec = spec.struct_ops.len();
            for (so, map) in parse_section(
                self.btf.as_ref(),
                sec,
                spec.maps.len(),
                first_spec,
                &mut members_left,
            )? {
                spec.maps.push(map);
                spec.struct_ops.push(so);
            }
            let Ok(s) = self.file.section_by_index(*index) else {
                continue;
            };
            for (at, rel) in s.relocations() {
                let RelocationTarget::Symbol(si) = rel.target() else {
                    return Err(sec_err(
                        &sec.name,
                        format!("relocation at offset {at:#x} is not against a symbol"),
                    ));
                };
                let sym = self.file.symbol_by_index(si).map_err(|_| {
                    sec_err(
                        &sec.name,
                        format!("relocation at offset {at:#x}: missing symbol"),
                    )
                })?;
                let target = match sym.section() {
                    SymbolSection::Section(idx) => match self.roles.get(&idx) {
                        Some(Role::Code(c)) => Some((*c, sym.address())),
                        _ => None,
                    },
                    _ => None,
                };
                let specs = spec.struct_ops.get_mut(first_spec..).unwrap_or_default();
                bind(
                    specs,
                    &spec.programs,
                    &sec.name,
                    at,
                    target,
                    sym.name().unwrap_or("?"),
                )?;
            }
        }
        Ok(())
    }
}

/// A struct_ops section being parsed: its bytes and the symbols in it.
#[derive(Clone, Debug, Default)]
pub(super) struct Section {
    pub(super) name: String,
    pub(super) bytes: Vec<u8>,
    /// `(name, offset)` of each symbol defined in it.
    pub(super) symbols: Vec<(String, u64)>,
}

/// The struct_ops variables of section `sec`: one [`StructOpsSpec`] and
/// one [`MapSpec`] per variable of its DATASEC, in DATASEC order. Each
/// spec's `map` is its index counted from `first_map`, and each
/// spec is `struct_ops[first_spec + i]`.
pub(super) fn parse_section(
    btf: Option<&Btf<'_>>,
    sec: &Section,
    first_map: usize,
    first_spec: usize,
    members_left: &mut usize,
) -> Result<Vec<(StructOpsSpec, MapSpec)>, ObjError> {
    let name = sec.name.as_str();
    let btf = btf.ok_or_else(|| sec_err(name, "struct_ops maps need BTF (a .BTF section)"))?;
    let btf_err = |source| ObjError::Btf {
        section: ".BTF",
        source,
    };
    let ds = btf
        .find_datasec(name)
        .ok_or_else(|| sec_err(name, "no DATASEC of this name in BTF"))?;
    let link = name == STRUCT_OPS_LINK_SECTION;
    let infos = btf.datasec(ds).map_err(btf_err)?;
    if infos.len() > MAX_STRUCT_OPS_VARIABLES {
        return Err(sec_err(
            name,
            format!(
                "{} variables; at most {MAX_STRUCT_OPS_VARIABLES} are read",
                infos.len()
            ),
        ));
    }
    let symbols: std::collections::HashMap<&str, u64> = sec
        .symbols
        .iter()
        .map(|(n, off)| (n.as_str(), *off))
        .collect();
    let mut out: Vec<(StructOpsSpec, MapSpec)> = Vec::new();
    for (i, info) in infos.into_iter().enumerate() {
        let var_err = |var: &str, reason: String| ObjError::Map {
            map: var.to_string(),
            reason,
        };
        let h = btf.header(info.type_id).filter(|h| h.kind() == kind::VAR);
        let Some(h) = h else {
            return Err(sec_err(
                name,
                format!(
                    "DATASEC entry {i} is type [{}], not a variable",
                    info.type_id
                ),
            ));
        };
        let var = btf.name(info.type_id).map_err(btf_err)?;
        let type_id = btf.skip_mods(h.size_or_type).map_err(btf_err)?;
        let th = btf
            .header(type_id)
            .filter(|t| t.kind() == kind::STRUCT)
            .ok_or_else(|| var_err(var, "a struct_ops variable must be a struct".into()))?;
        let type_name = btf.name(type_id).map_err(btf_err)?;
        if type_name.is_empty() {
            return Err(var_err(
                var,
                "its struct has no name (the kernel's struct is found by name)".into(),
            ));
        }
        let offset = *symbols
            .get(var)
            .ok_or_else(|| var_err(var, format!("no symbol in section '{name}'")))?;
        let size = th.size_or_type;
        let data = usize::try_from(offset)
            .ok()
            .and_then(|o| Some(o..o.checked_add(usize::try_from(size).ok()?)?))
            .and_then(|r| sec.bytes.get(r))
            .ok_or_else(|| {
                var_err(
                    var,
                    format!(
                        "{size} bytes at offset {offset:#x} run past the end of section '{name}' ({} bytes)",
                        sec.bytes.len()
                    ),
                )
            })?;
        let overlaps = out.iter().any(|(o, _)| {
            o.offset < offset.saturating_add(u64::from(size))
                && offset < o.offset.saturating_add(o.data.len() as u64)
        });
        if size == 0 || overlaps {
            return Err(var_err(
                var,
                format!(
                    "must be a non-empty struct of its own in section '{name}' (overlaps another, or is empty)"
                ),
            ));
        }
        let members = members_of(btf, var, type_id, size, members_left)?;
        let map = first_map.saturating_add(out.len());
        let spec_index = first_spec.saturating_add(out.len());
        out.push((
            StructOpsSpec {
                name: var.to_string(),
                map,
                section: name.to_string(),
                link,
                type_name: type_name.to_string(),
                type_id,
                offset,
                data: data.to_vec(),
                members,
            },
            MapSpec {
                name: var.to_string(),
                map_type: abi::BPF_MAP_TYPE_STRUCT_OPS,
                key_size: 4,
                value_size: size,
                max_entries: 1,
                map_flags: if link { abi::BPF_F_LINK } else { 0 },
                origin: MapOrigin::StructOps(spec_index),
                symbol_offset: offset,
                ..Default::default()
            },
        ));
    }
    Ok(out)
}

/// The members of struct `id` (`size` bytes) of variable `var`.
fn members_of(
    btf: &Btf<'_>,
    var: &str,
    id: u32,
    size: u32,
    members_left: &mut usize,
) -> Result<Vec<StructOpsMember>, ObjError> {
    let var_err = |reason: String| ObjError::Map {
        map: var.to_string(),
        reason,
    };
    let btf_err = |e: BtfError| var_err(e.to_string());
    let raw = btf.members(id).map_err(btf_err)?;
    *members_left = members_left.checked_sub(raw.len()).ok_or_else(|| {
        var_err(format!(
            "more than {MAX_STRUCT_OPS_MEMBERS} struct_ops members in the object"
        ))
    })?;
    let bitfields = btf.member_bitfield_sizes(id).map_err(btf_err)?;
    let mut out = Vec::with_capacity(raw.len());
    for (i, (name, ty, bits)) in raw.into_iter().enumerate() {
        if name.is_empty() {
            return Err(var_err(
                "anonymous members are not supported (members are matched to the kernel's by name)"
                    .into(),
            ));
        }
        if bitfields.get(i).copied().unwrap_or(0) != 0 || bits % 8 != 0 {
            return Err(var_err(format!(
                "member '{name}' is a bitfield, which struct_ops structs cannot have"
            )));
        }
        let offset = bits / 8;
        let msize = btf
            .resolve_size(ty)
            .ok()
            .and_then(|s| u32::try_from(s).ok())
            .ok_or_else(|| var_err(format!("member '{name}' has no size")))?;
        if offset.checked_add(msize).is_none_or(|end| end > size) {
            return Err(var_err(format!(
                "member '{name}' ({msize} bytes at {offset}) runs past the struct's {size} bytes"
            )));
        }
        out.push(StructOpsMember {
            name: name.to_string(),
            offset,
            size: msize,
            kind: member_kind(btf, ty).map_err(btf_err)?,
        });
    }
    Ok(out)
}

/// Points the member at byte `at` of section `section` (the site of a
/// relocation) at the program starting at instruction `insn` of code
/// section `code`; `symbol` names the relocation's symbol in errors.
pub(super) fn bind(
    specs: &mut [StructOpsSpec],
    programs: &[ProgramSpec],
    section: &str,
    at: u64,
    target: Option<(usize, u64)>,
    symbol: &str,
) -> Result<(), ObjError> {
    let site = |reason: String| {
        sec_err(
            section,
            format!("relocation at offset {at:#x} against '{symbol}': {reason}"),
        )
    };
    let spec = specs
        .iter_mut()
        .find(|s| {
            s.section == section
                && at
                    .checked_sub(s.offset)
                    .is_some_and(|rel| rel < s.data.len() as u64)
        })
        .ok_or_else(|| site("not inside a struct_ops variable".into()))?;
    let moff = at.saturating_sub(spec.offset);
    let map = spec.name.clone();
    let member = spec
        .members
        .iter_mut()
        .find(|m| u64::from(m.offset) == moff)
        .ok_or_else(|| site(format!("no member of '{map}' starts at offset {moff}")))?;
    if !matches!(member.kind, MemberKind::Func { .. }) {
        return Err(site(format!(
            "member '{}' of '{map}' is not a function pointer",
            member.name
        )));
    }
    let (code, byte) =
        target.ok_or_else(|| site("the symbol is not in a program section".into()))?;
    if byte % 8 != 0 {
        return Err(site(format!(
            "target offset {byte:#x} is not an instruction"
        )));
    }
    let insn = usize::try_from(byte / 8).unwrap_or(usize::MAX);
    let (pi, p) = programs
        .iter()
        .enumerate()
        .find(|(_, p)| p.code == code && p.start == insn)
        .ok_or_else(|| {
            site("not a program (a struct_ops member must point at a function of a SEC(\"struct_ops/...\") section)".into())
        })?;
    if p.prog_type != ProgramType::STRUCT_OPS {
        return Err(site(format!(
            "program '{}' is a {} program, not struct_ops (section '{}')",
            p.name,
            p.prog_type.name().unwrap_or("?"),
            p.section
        )));
    }
    if let MemberKind::Func { program: Some(_) } = member.kind {
        return Err(site(format!(
            "member '{}' of '{map}' is already set by another relocation",
            member.name
        )));
    }
    member.kind = MemberKind::Func { program: Some(pi) };
    Ok(())
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
    use object::{Object, ObjectSection, ObjectSymbol};

    fn member(name: &str, offset: u32, size: u32, kind: MemberKind) -> StructOpsMember {
        StructOpsMember {
            name: name.into(),
            offset,
            size,
            kind,
        }
    }

    fn kmember(
        name: &str,
        index: u32,
        offset: u32,
        size: u32,
        kind: KernelMemberKind,
    ) -> KernelMember {
        KernelMember {
            name: name.into(),
            index,
            offset,
            size,
            kind,
        }
    }

    /// A kernel struct `ops { f; g; char name[4]; void *owner; }` of 24
    /// bytes in a 40-byte wrapper whose data starts at 16.
    fn kernel() -> KernelStructOps {
        KernelStructOps {
            type_name: "ops".into(),
            type_id: 7,
            value_type_id: 9,
            value_size: 40,
            data_offset: 16,
            members: vec![
                kmember("f", 0, 0, 8, KernelMemberKind::Func),
                kmember("g", 1, 8, 8, KernelMemberKind::Func),
                kmember("name", 2, 16, 4, KernelMemberKind::Data),
                kmember("owner", 3, 20, 8, KernelMemberKind::Pointer),
            ],
        }
    }

    /// The object's `ops { char name[4]; g; }`: another order, a subset.
    fn object() -> StructOpsSpec {
        StructOpsSpec {
            name: "my_ops".into(),
            map: 0,
            section: STRUCT_OPS_LINK_SECTION.into(),
            link: true,
            type_name: "ops___v2".into(),
            type_id: 3,
            offset: 0,
            data: vec![b'a', b'b', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            members: vec![
                member("name", 0, 4, MemberKind::Data),
                member("g", 4, 8, MemberKind::Func { program: Some(5) }),
            ],
        }
    }

    fn tcp_cc() -> Vec<u8> {
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/bpf-asm/tcp_cc.bpf.o")).unwrap()
    }

    /// The file range of section `name`, and the index of symbol `sym`.
    fn locate(obj: &[u8], name: &str, sym: &str) -> (std::ops::Range<usize>, u64) {
        let f = object::File::parse(obj).unwrap();
        let (off, len) = f.section_by_name(name).unwrap().file_range().unwrap();
        let si = f.symbols().find(|s| s.name() == Ok(sym)).unwrap().index().0;
        (off as usize..(off + len) as usize, si as u64)
    }

    #[test]
    fn parses_the_struct_ops_of_tcp_cc() {
        let spec = crate::obj::ObjectSpec::parse("tcp_cc", &tcp_cc()).unwrap();
        let names: Vec<(&str, &str, bool)> = spec
            .struct_ops
            .iter()
            .map(|s| (s.name.as_str(), s.section.as_str(), s.link))
            .collect();
        assert_eq!(
            names,
            [
                ("arena_cc", STRUCT_OPS_LINK_SECTION, true),
                ("arena_cc_nolink", STRUCT_OPS_SECTION, false)
            ]
        );
        for (i, so) in spec.struct_ops.iter().enumerate() {
            assert_eq!(so.kernel_type_name(), "tcp_congestion_ops");
            let m = &spec.maps[so.map];
            assert_eq!(m.name, so.name);
            assert_eq!(m.origin, MapOrigin::StructOps(i));
            assert_eq!((m.map_type, m.key_size, m.max_entries), (26, 4, 1));
            assert_eq!(m.map_flags, if so.link { abi::BPF_F_LINK } else { 0 });
            assert_eq!(so.data.len(), 72);
            let progs: Vec<(&str, &str)> = so
                .programs()
                .map(|(m, p)| (m, spec.programs[p].name.as_str()))
                .collect();
            assert_eq!(progs.len(), 7);
            assert!(
                progs.contains(&("cong_avoid", "cc_cong_avoid")),
                "{progs:?}"
            );
            let name = so.members.iter().find(|m| m.name == "name").unwrap();
            assert_eq!(
                (name.offset, name.size, name.kind),
                (56, 16, MemberKind::Data)
            );
            assert!(so.data[56..].starts_with(b"bpf_arena_cc"));
        }
        // The BTF fix-up knows where the variables are.
        assert!(spec.symbol_offsets.contains(&(
            STRUCT_OPS_SECTION.into(),
            "arena_cc_nolink".into(),
            0
        )));
    }

    /// Relocations that point nowhere useful are errors naming the
    /// section; no byte flipped in the struct_ops sections panics.
    #[test]
    fn broken_struct_ops_relocations_are_errors() {
        let good = tcp_cc();
        let (rel, _) = locate(&good, ".rel.struct_ops.link", "cc_init");
        let (_, next_slot) = locate(&good, ".rel.struct_ops.link", "next_slot");
        let parse = |bytes: &[u8]| crate::obj::ObjectSpec::parse("tcp_cc", bytes);
        let err = |edit: &dyn Fn(&mut [u8])| {
            let mut b = good.clone();
            edit(&mut b[rel.clone()]);
            parse(&b).unwrap_err().to_string()
        };
        // r_offset past the variable.
        let e = err(&|r| r[..8].copy_from_slice(&0x1000u64.to_le_bytes()));
        assert!(e.contains("not inside a struct_ops variable"), "{e}");
        // r_offset at the name.
        let e = err(&|r| r[..8].copy_from_slice(&56u64.to_le_bytes()));
        assert!(
            e.contains("member 'name' of 'arena_cc' is not a function pointer"),
            "{e}"
        );
        // r_offset between members.
        let e = err(&|r| r[..8].copy_from_slice(&3u64.to_le_bytes()));
        assert!(
            e.contains("no member of 'arena_cc' starts at offset 3"),
            "{e}"
        );
        // A relocation against a variable, not a program.
        let e = err(&|r| r[12..16].copy_from_slice(&(next_slot as u32).to_le_bytes()));
        assert!(e.contains("not in a program section"), "{e}");
        // Two relocations for one member.
        let e = err(&|r| r[16..24].copy_from_slice(&0u64.to_le_bytes()));
        assert!(e.contains("already set"), "{e}");
        // A symbol index past the table.
        let e = err(&|r| r[12..16].copy_from_slice(&u32::MAX.to_le_bytes()));
        assert!(e.contains("missing symbol"), "{e}");
        for name in [
            ".rel.struct_ops.link",
            ".struct_ops.link",
            ".struct_ops",
            ".BTF",
        ] {
            let (range, _) = locate(&good, name, "cc_init");
            for at in range {
                let mut b = good.clone();
                b[at] ^= 0xff;
                let _ = parse(&b);
            }
        }
    }

    #[test]
    fn members_are_matched_by_name() {
        let o = object();
        assert_eq!(o.kernel_type_name(), "ops");
        assert_eq!(o.programs().collect::<Vec<_>>(), vec![("g", 5)]);
        let mut v = o.value_for(&kernel()).unwrap();
        assert_eq!(v.bytes.len(), 40);
        assert_eq!(&v.bytes[32..36], b"ab\0\0");
        assert_eq!(
            v.funcs,
            vec![FuncSlot {
                member: "g".into(),
                member_index: 1,
                program: 5,
                value_offset: 24
            }]
        );
        assert!(v.set_fd(0, 33));
        assert_eq!(&v.bytes[24..32], &33u64.to_le_bytes());
        assert!(!v.set_fd(1, 33));
        assert!(
            v.bytes[..16].iter().all(|&b| b == 0),
            "the header stays zero"
        );
    }

    #[test]
    fn mismatches_are_errors_naming_the_member() {
        let e = |o: StructOpsSpec, k: KernelStructOps| o.value_for(&k).unwrap_err().to_string();
        // A set member the kernel lacks; a zero one is skipped.
        let mut o = object();
        o.members.push(member("extra", 8, 4, MemberKind::Data));
        assert!(o.value_for(&kernel()).is_ok());
        o.data[8] = 1;
        assert!(e(o, kernel()).contains("has no member 'extra'"));
        // Size mismatch.
        let mut k = kernel();
        k.members[2].size = 8;
        assert!(e(object(), k).contains("4 bytes in the object but 8"));
        // A program for a data member.
        let mut k = kernel();
        k.members[1].kind = KernelMemberKind::Data;
        assert!(e(object(), k).contains("not a function pointer"));
        // A kernel layout past the value.
        let mut k = kernel();
        k.members[1].offset = 30;
        assert!(e(object(), k).contains("does not fit"));
        let mut k = kernel();
        k.data_offset = u32::MAX;
        assert!(e(object(), k).contains("does not fit"));
        // A member outside the object's bytes.
        let mut o = object();
        o.members[0].offset = u32::MAX;
        assert!(e(o, kernel()).contains("outside the struct"));
        // A pointer with bytes but no relocation.
        let mut o = object();
        o.members[1].kind = MemberKind::Func { program: None };
        o.data[4] = 1;
        assert!(e(o, kernel()).contains("without a relocation"));
        // A huge value is refused, not allocated.
        let mut k = kernel();
        k.value_size = u32::MAX;
        assert!(e(object(), k).contains("more than this crate accepts"));
    }
}
