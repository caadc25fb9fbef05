//! The fix-ups an object's BTF needs before `BPF_BTF_LOAD`, as libbpf does
//! them:
//!
//! - clang leaves every DATASEC's size 0 and every global VAR's offset 0:
//!   sizes come from the ELF section headers, offsets from the symbol table,
//!   and the entries are sorted by offset (the kernel demands it);
//! - `.ksyms`: FUNC entries are replaced by a dummy `int` VAR, extern
//!   linkage becomes global, unnamed parameters get a name, and VAR entries
//!   become allocated `int`s at 4-byte slots;
//! - `.kconfig`: VARs become allocated, at the offsets the loader assigned.
//!
//! Kernel-version sanitising (downgrading kinds an old kernel lacks) is not
//! needed: every kind clang-19 emits (DECL_TAG 5.16, TYPE_TAG 5.17, ENUM64
//! 5.19) predates arenas (6.9).

use super::{ExternKind, ObjError, ObjectSpec};
use crate::btf::{Btf, BtfEditor, VAR_GLOBAL_ALLOCATED, kind};

const FUNC_GLOBAL: u32 = 1;
const FUNC_EXTERN: u32 = 2;

fn btf_err(source: crate::btf::BtfError) -> ObjError {
    ObjError::Btf {
        section: ".BTF",
        source,
    }
}

/// The `int` type and the `dummy_ksym` VAR the fix-ups point at, added
/// to the BTF when first needed.
struct Dummy {
    int_id: u32,
    /// `(name_off, VAR id)` of `dummy_ksym`, once added.
    var: Option<(u32, u32)>,
}

impl Dummy {
    /// The object's own `int`, or a new one.
    fn new(btf: &Btf<'_>, ed: &mut BtfEditor) -> Dummy {
        let int_id = (1..=btf.type_count())
            .find(|&id| {
                btf.header(id)
                    .is_some_and(|h| h.kind() == kind::INT && h.size_or_type == 4)
                    && btf.name(id).ok() == Some("int")
            })
            .unwrap_or_else(|| {
                let n = ed.add_string("int");
                ed.add_type(&[n, kind::INT << 24, 4, (1 << 24) | 32])
            });
        Dummy { int_id, var: None }
    }

    /// `(name_off, VAR id)` of the `dummy_ksym` VAR.
    fn var(&mut self, ed: &mut BtfEditor) -> (u32, u32) {
        let int_id = self.int_id;
        *self.var.get_or_insert_with(|| {
            let n = ed.add_string("dummy_ksym");
            (
                n,
                ed.add_type(&[n, kind::VAR << 24, int_id, VAR_GLOBAL_ALLOCATED]),
            )
        })
    }
}

/// The object's BTF, fixed up for the kernel; `None` without `.BTF`.
pub fn fixup_btf(spec: &ObjectSpec) -> Result<Option<Vec<u8>>, ObjError> {
    let Some(raw) = &spec.btf else {
        return Ok(None);
    };
    let btf = Btf::parse(raw).map_err(btf_err)?;
    let mut ed = BtfEditor::new(&btf);
    let mut dummy = Dummy::new(&btf, &mut ed);
    for id in 1..=btf.type_count() {
        let Some(h) = btf.header(id) else {
            continue;
        };
        match h.kind() {
            kind::FUNC if h.vlen() == FUNC_EXTERN => {
                ed.set_word(id, 1, (h.info & !0xffff) | FUNC_GLOBAL);
                name_parameters(&btf, &mut ed, &mut dummy, h.size_or_type);
            }
            kind::DATASEC => fix_datasec(spec, &btf, &mut ed, &mut dummy, id)?,
            _ => {}
        }
    }
    Ok(Some(ed.finish()))
}

/// Parameters of an extern's prototype `proto` must be named: unnamed ones
/// get the dummy's name.
fn name_parameters(btf: &Btf<'_>, ed: &mut BtfEditor, dummy: &mut Dummy, proto: u32) {
    if let Some(ph) = btf.header(proto).filter(|p| p.kind() == kind::FUNC_PROTO) {
        // Each parameter is (name_off, type), from word 3.
        for w in (3..).step_by(2).take(ph.vlen() as usize) {
            if ed.word(proto, w) == Some(0) {
                let (n, _) = dummy.var(ed);
                ed.set_word(proto, w, n);
            }
        }
    }
}

/// Gives DATASEC `id` its size and its entries their offsets, sorted.
fn fix_datasec(
    spec: &ObjectSpec,
    btf: &Btf<'_>,
    ed: &mut BtfEditor,
    dummy: &mut Dummy,
    id: u32,
) -> Result<(), ObjError> {
    let name = btf.name(id).map_err(btf_err)?.to_string();
    let mut infos = btf.datasec(id).map_err(btf_err)?;
    match name.as_str() {
        ".ksyms" => {
            for (slot, info) in (0u32..).step_by(4).zip(infos.iter_mut()) {
                let th = btf.header(info.type_id).ok_or_else(|| {
                    btf_err(crate::btf::BtfError::BadType {
                        id: info.type_id,
                        reason: "DATASEC .ksyms names a missing type".into(),
                    })
                })?;
                if th.kind() == kind::FUNC {
                    info.type_id = dummy.var(ed).1;
                } else if th.kind() == kind::VAR {
                    ed.set_word(info.type_id, 2, dummy.int_id);
                    ed.set_word(info.type_id, 3, VAR_GLOBAL_ALLOCATED);
                }
                info.offset = slot;
                info.size = 4;
            }
            let n = u32::try_from(infos.len()).unwrap_or(u32::MAX);
            ed.set_word(id, 2, n.saturating_mul(4));
        }
        ".kconfig" => {
            for info in infos.iter_mut() {
                let vname = btf.name(info.type_id).map_err(btf_err)?;
                if let Some(ExternKind::Kconfig { offset, size }) = spec
                    .externs
                    .iter()
                    .find(|e| e.name == vname)
                    .map(|e| e.kind)
                {
                    info.offset = offset as u32;
                    info.size = size as u32;
                }
                ed.set_word(info.type_id, 3, VAR_GLOBAL_ALLOCATED);
            }
            let size = spec
                .data
                .iter()
                .find(|d| d.section == ".kconfig")
                .map_or(0, |d| d.bytes.len());
            ed.set_word(id, 2, size as u32);
        }
        _ => {
            if let Some(sec) = spec.sections.iter().find(|sec| sec.name == name) {
                ed.set_word(id, 2, sec.size as u32);
            }
            for info in infos.iter_mut() {
                let vname = btf.name(info.type_id).map_err(btf_err)?;
                if let Some((_, _, off)) = spec
                    .symbol_offsets
                    .iter()
                    .find(|(s, n, _)| *s == name && n == vname)
                {
                    info.offset = *off as u32;
                }
            }
        }
    }
    infos.sort_by_key(|i| i.offset);
    // Each entry is (type, offset, size), from word 3.
    for (w, info) in (3usize..).step_by(3).zip(&infos) {
        ed.set_word(id, w, info.type_id);
        ed.set_word(id, w.saturating_add(1), info.offset);
        ed.set_word(id, w.saturating_add(2), info.size);
    }
    Ok(())
}
