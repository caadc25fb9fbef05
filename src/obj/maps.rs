//! Map definitions: BTF-defined (`.maps`) and legacy (`maps`).

use super::{
    DataKind, MAX_DATA_SECTION, MapOrigin, MapSpec, ObjError, ObjectSpec, Pinning, data_map_name,
    sec_err,
};
use crate::abi;
use crate::btf::{self, Btf, kind};

fn err(map: &str, reason: impl Into<String>) -> ObjError {
    ObjError::Map {
        map: map.to_string(),
        reason: reason.into(),
    }
}

/// The type a pointer-typed definition member points to (`__uint` and
/// `__type` are both encoded as pointers); `what` names the expected form.
fn pointee(btf: &Btf<'_>, map: &str, field: &str, ty: u32, what: &str) -> Result<u32, ObjError> {
    let t = btf
        .skip_mods(ty)
        .map_err(|e| err(map, format!("{field}: {e}")))?;
    match btf.header(t) {
        Some(h) if h.kind() == kind::PTR => Ok(h.size_or_type),
        Some(_) => Err(err(map, format!("{field} is not a {what}"))),
        None => Err(err(map, format!("{field}: bad type"))),
    }
}

/// `__uint(name, N)`: PTR → ARRAY of N.
fn uint_field(btf: &Btf<'_>, map: &str, field: &str, ty: u32) -> Result<u32, ObjError> {
    const WHAT: &str = "__uint (pointer to array)";
    let arr = btf
        .skip_mods(pointee(btf, map, field, ty, WHAT)?)
        .map_err(|e| err(map, e.to_string()))?;
    let (_, _, n) = btf
        .array(arr)
        .map_err(|_| err(map, format!("{field} is not a {WHAT}")))?;
    Ok(n)
}

/// `__ulong(name, V)` (ENUM/ENUM64 with one value) or a `__uint`.
fn ulong_field(btf: &Btf<'_>, map: &str, field: &str, ty: u32) -> Result<u64, ObjError> {
    let t = btf
        .skip_mods(ty)
        .map_err(|e| err(map, format!("{field}: {e}")))?;
    match btf.header(t).map(|h| h.kind()) {
        Some(kind::ENUM | kind::ENUM64) => btf
            .single_enum_value(t)
            .map_err(|e| err(map, format!("invalid __ulong {field}: {e}"))),
        _ => uint_field(btf, map, field, ty).map(u64::from),
    }
}

/// `__type(name, T)`: PTR → T; returns (type id, size).
fn type_field(btf: &Btf<'_>, map: &str, field: &str, ty: u32) -> Result<(u32, u32), ObjError> {
    let t = pointee(btf, map, field, ty, "__type (pointer)")?;
    let size = btf
        .resolve_size(t)
        .map_err(|e| err(map, format!("{field}: {e}")))?;
    Ok((t, size as u32))
}

/// The map `name` defined in `.maps`: its variable in the `.maps` DATASEC
/// (global, not static) and the definition struct it points at.
pub(super) fn parse_declared(btf: &Btf<'_>, name: &str) -> Result<MapSpec, ObjError> {
    let btf_err = |source| ObjError::Btf {
        section: ".BTF",
        source,
    };
    let ds = btf.find_datasec(".maps").ok_or_else(|| ObjError::Section {
        section: ".maps".into(),
        reason: "no .maps DATASEC in BTF".into(),
    })?;
    let var = btf
        .datasec(ds)
        .map_err(btf_err)?
        .iter()
        .map(|i| i.type_id)
        .find(|&id| btf.name(id).ok() == Some(name))
        .ok_or_else(|| err(name, "no BTF variable in the .maps DATASEC"))?;
    match btf.var_linkage(var) {
        Ok(btf::VAR_GLOBAL_ALLOCATED) => {}
        Ok(_) => return Err(err(name, "map definitions must be global (not static)")),
        Err(e) => return Err(err(name, e.to_string())),
    }
    let def = btf.header(var).map(|h| h.size_or_type).unwrap_or(0);
    parse_btf_def(btf, name, def, false)
}

/// Parses the struct of a BTF map definition (also used for inner maps).
pub(super) fn parse_btf_def(
    btf: &Btf<'_>,
    name: &str,
    struct_id: u32,
    inner: bool,
) -> Result<MapSpec, ObjError> {
    let sid = btf
        .skip_mods(struct_id)
        .map_err(|e| err(name, e.to_string()))?;
    let members = btf
        .members(sid)
        .map_err(|_| err(name, "definition is not a struct"))?;
    let mut m = MapSpec {
        name: name.to_string(),
        ..Default::default()
    };
    let (mut has_type, mut key_size, mut value_size) = (false, None, None);
    for (field, ty, _) in members {
        match field {
            "type" => {
                m.map_type = uint_field(btf, name, field, ty)?;
                has_type = true;
            }
            "max_entries" => m.max_entries = uint_field(btf, name, field, ty)?,
            "map_flags" => m.map_flags = uint_field(btf, name, field, ty)?,
            "numa_node" => m.numa_node = uint_field(btf, name, field, ty)?,
            "key_size" => key_size = Some(uint_field(btf, name, field, ty)?),
            "value_size" => value_size = Some(uint_field(btf, name, field, ty)?),
            "map_extra" => m.map_extra = ulong_field(btf, name, field, ty)?,
            "pinning" => {
                m.pinning = match uint_field(btf, name, field, ty)? {
                    0 => Pinning::None,
                    1 if !inner => Pinning::ByName,
                    1 => return Err(err(name, "inner maps cannot be pinned")),
                    v => {
                        return Err(err(
                            name,
                            format!("invalid pinning value {v} (0 none, 1 by name)"),
                        ));
                    }
                }
            }
            "key" => {
                let (id, size) = type_field(btf, name, field, ty)?;
                m.key_type_id = id;
                m.key_size = size;
            }
            "value" => {
                let (id, size) = type_field(btf, name, field, ty)?;
                m.value_type_id = id;
                m.value_size = size;
            }
            "values" => {
                if inner {
                    return Err(err(name, "inner maps cannot have inner maps"));
                }
                let arr = btf.skip_mods(ty).map_err(|e| err(name, e.to_string()))?;
                let (elem, _, n) = btf
                    .array(arr)
                    .map_err(|_| err(name, "values is not an __array"))?;
                if n != 0 {
                    return Err(err(name, "values must be a flexible array"));
                }
                let p = btf.skip_mods(elem).map_err(|e| err(name, e.to_string()))?;
                let ph = btf
                    .header(p)
                    .filter(|h| h.kind() == kind::PTR)
                    .ok_or_else(|| err(name, "values must hold pointers"))?;
                let target = btf
                    .skip_mods(ph.size_or_type)
                    .map_err(|e| err(name, e.to_string()))?;
                match btf.header(target).map(|h| h.kind()) {
                    Some(kind::STRUCT) => {
                        let inner_name = format!("{name}.inner");
                        m.inner = Some(Box::new(parse_btf_def(btf, &inner_name, target, true)?));
                    }
                    Some(kind::FUNC_PROTO) => {}
                    _ => {
                        return Err(err(
                            name,
                            "values must point to a map definition or a function prototype",
                        ));
                    }
                }
                m.value_size = 4;
            }
            other => return Err(err(name, format!("unknown map definition field '{other}'"))),
        }
    }
    if !has_type {
        return Err(err(name, "map definition has no 'type'"));
    }
    for (given, from_type, what) in [
        (key_size, m.key_size, "key"),
        (value_size, m.value_size, "value"),
    ] {
        if let Some(s) = given {
            if from_type != 0 && from_type != s {
                return Err(err(
                    name,
                    format!("{what}_size {s} conflicts with the {what} type's size {from_type}"),
                ));
            }
            if what == "key" {
                m.key_size = s;
            } else {
                m.value_size = s;
            }
        }
    }
    Ok(m)
}

/// Parses legacy `maps` records (`u32 type, key_size, value_size,
/// max_entries, map_flags`, optionally more) named by the section's symbols.
pub(super) fn parse_legacy(
    data: &[u8],
    symbols: &[(String, u64)],
) -> Result<Vec<MapSpec>, ObjError> {
    if symbols.is_empty() {
        return Ok(Vec::new());
    }
    let rec = data.len().checked_div(symbols.len()).unwrap_or(0);
    if rec < 20 || data.len().checked_rem(symbols.len()) != Some(0) {
        return Err(ObjError::Section {
            section: "maps".into(),
            reason: format!(
                "{} bytes for {} legacy map records (each at least 20 bytes)",
                data.len(),
                symbols.len()
            ),
        });
    }
    let mut out = Vec::new();
    for (name, off) in symbols {
        let outside = || err(name, "record outside the maps section");
        let rec_bytes = usize::try_from(*off)
            .ok()
            .and_then(|o| data.get(o..))
            .and_then(|r| r.first_chunk::<20>())
            .ok_or_else(outside)?;
        let mut words = rec_bytes
            .chunks_exact(4)
            .filter_map(|c| c.first_chunk::<4>().copied().map(u32::from_le_bytes));
        let mut w = || words.next().ok_or_else(outside);
        out.push(MapSpec {
            name: name.clone(),
            map_type: w()?,
            key_size: w()?,
            value_size: w()?,
            max_entries: w()?,
            map_flags: w()?,
            symbol_offset: *off,
            ..Default::default()
        });
    }
    Ok(out)
}

/// Data maps phase: one `BPF_MAP_TYPE_ARRAY` of one element per global
/// data section (`.kconfig` included), named as libbpf names them.
pub(super) fn data_maps(spec: &mut ObjectSpec) -> Result<(), ObjError> {
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
    Ok(())
}
