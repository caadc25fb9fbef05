//! The externs phase of the parser: each undefined symbol's kind, decided
//! once from what BTF declares and how the code uses it, and the layout of
//! the `.kconfig` externs.

use super::*;
use crate::btf::{Btf, kind};

/// Where the object's BTF declares an extern (read in the symbol phase).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Declared {
    /// In the `.kconfig` DATASEC.
    Kconfig,
    /// A `FUNC` (in `.ksyms`, or anywhere in BTF).
    Func,
    /// Another kind in `.ksyms` (a typed ksym).
    Var,
}

/// An undefined symbol. Its kind is decided once, after the relocations
/// showed how the code uses it ([`extern_kind`]).
pub(super) struct PendingExtern {
    pub(super) name: String,
    pub(super) weak: bool,
    /// What BTF says, with the BTF id (`None`: BTF does not declare it).
    pub(super) declared: Option<(Declared, u32)>,
    /// An `ld_imm64` refers to it (else only calls, or nothing).
    pub(super) loaded: bool,
}

/// The one decision of an extern's kind: what BTF declares it as, else by
/// use (an extern only ever called is a kfunc; one an `ld_imm64` loads is
/// a ksym).
fn extern_kind(declared: Option<Declared>, loaded: bool) -> ExternKind {
    match declared {
        Some(Declared::Kconfig) => ExternKind::Kconfig { offset: 0, size: 0 },
        Some(Declared::Func) => ExternKind::Kfunc,
        Some(Declared::Var) => ExternKind::Ksym,
        None if loaded => ExternKind::Ksym,
        None => ExternKind::Kfunc,
    }
}

/// Externs phase: each extern's kind, decided once ([`extern_kind`]).
pub(super) fn decide(pending: Vec<PendingExtern>, spec: &mut ObjectSpec) {
    spec.externs = pending
        .into_iter()
        .map(|p| ExternSpec {
            kind: extern_kind(p.declared.map(|d| d.0), p.loaded),
            btf_id: p.declared.map_or(0, |d| d.1),
            name: p.name,
            weak: p.weak,
        })
        .collect();
}

/// How the object's BTF declares extern `name`, from the `.ksyms` /
/// `.kconfig` DATASECs (or as a `FUNC` anywhere), with its BTF id.
pub(super) fn declared(
    btf: Option<&Btf<'_>>,
    name: &str,
) -> Result<Option<(Declared, u32)>, ObjError> {
    let Some(btf) = btf else {
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
            let d = match (sec, k) {
                (".kconfig", _) => Declared::Kconfig,
                (_, kind::FUNC) => Declared::Func,
                _ => Declared::Var,
            };
            return Ok(Some((d, i.type_id)));
        }
    }
    // A kfunc declared without __ksym still shows as an extern FUNC.
    Ok(btf
        .find_by_name(kind::FUNC, name)
        .map(|id| (Declared::Func, id)))
}
/// Assigns `.kconfig` offsets (each aligned to its size, in BTF order)
/// and adds the `.kconfig` data section.
pub(super) fn layout_kconfig(btf: Option<&Btf<'_>>, spec: &mut ObjectSpec) -> Result<(), ObjError> {
    let Some(btf) = btf else { return Ok(()) };
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
