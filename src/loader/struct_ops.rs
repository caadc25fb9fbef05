//! struct_ops maps in a load: the kernel types behind them (read from
//! vmlinux BTF before anything is created), the attach settings of their
//! programs, and their values, written once the programs are loaded.

use super::Load;
use super::programs::LoadedProgram;
use super::stage::Staged;
use crate::error::{Error, Result};
use crate::kfunc::{self, VMLINUX_BTF_PATH};
use crate::obj::{KernelStructOps, ObjectSpec, StructOpsValue, VALUE_PREFIX};
use crate::prog::ProgramType;
use crate::sys::{Cmd, Errno};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::os::fd::AsRawFd;

/// What a load decided for the object's struct_ops maps before creating
/// anything.
#[derive(Debug, Default)]
pub(super) struct StructOpsPlan {
    /// The maps to create, with their values (program fds still 0).
    maps: Vec<Planned>,
    /// Maps not created: every program they name was left out by
    /// `load_only` (indexes into `ObjectSpec::maps`).
    pub skipped_maps: Vec<usize>,
    /// Program index → `(attach_btf_id, expected_attach_type)`: the kernel
    /// struct's type id and the index of the member the program fills.
    attach: HashMap<usize, (u32, u32)>,
}

#[derive(Debug)]
struct Planned {
    /// Index into `ObjectSpec::struct_ops`.
    spec: usize,
    value: StructOpsValue,
}

/// A struct_ops map of a loaded object, with its value as written (or, for
/// a `.struct_ops` map, as `LoadedObject::register_struct_ops` writes it).
#[derive(Debug)]
pub(super) struct LoadedStructOps {
    /// Index into `ObjectSpec::struct_ops`.
    pub spec: usize,
    pub value: Vec<u8>,
}

impl StructOpsPlan {
    /// `(attach_btf_id, expected_attach_type)` of struct_ops program `pi`.
    pub fn attach_of(&self, pi: usize) -> Option<(u32, u32)> {
        self.attach.get(&pi).copied()
    }
}

impl Load<'_> {
    /// Finds each struct_ops map's kernel struct and value wrapper in
    /// vmlinux BTF, lays its value out ([`crate::obj::StructOpsSpec::value_for`]),
    /// gives its map the value's size and kernel type id, and decides the
    /// attach settings of every struct_ops program. Reads vmlinux BTF only
    /// when the object has struct_ops maps.
    pub(super) fn plan_struct_ops(&mut self) -> Result<StructOpsPlan> {
        let mut plan = StructOpsPlan::default();
        if self.spec.struct_ops.is_empty() {
            return Ok(plan);
        }
        let vmlinux = kfunc::vmlinux_btf()?;
        let chosen = |spec: &ObjectSpec, pi: usize| {
            spec.programs
                .get(pi)
                .is_some_and(|p| self.l.only.as_ref().is_none_or(|o| o.contains(&p.name)))
        };
        let mut sizes = Vec::new();
        for (i, so) in self.spec.struct_ops.iter().enumerate() {
            let (left_out, loaded): (Vec<_>, Vec<_>) =
                so.programs().partition(|&(_, pi)| !chosen(&self.spec, pi));
            if !left_out.is_empty() {
                if loaded.is_empty() {
                    plan.skipped_maps.push(so.map);
                    continue;
                }
                let names: Vec<&str> = left_out
                    .iter()
                    .filter_map(|&(_, pi)| self.spec.programs.get(pi).map(|p| p.name.as_str()))
                    .collect();
                return Err(Error::invalid(
                    "program",
                    format!(
                        "struct_ops map '{}' needs programs {} too, which load_only left out (load all of its programs, or none)",
                        so.name,
                        names.join(", ")
                    ),
                ));
            }
            let type_name = so.kernel_type_name();
            let kernel = KernelStructOps::find(vmlinux, type_name)
                .map_err(|source| Error::Btf {
                    what: VMLINUX_BTF_PATH.to_string(),
                    source,
                })?
                .ok_or_else(|| Error::Unresolved {
                    what: "struct_ops type",
                    name: type_name.to_string(),
                    detail: format!(
                        "struct_ops map '{}' needs struct {type_name} and struct {VALUE_PREFIX}{type_name} in {VMLINUX_BTF_PATH}",
                        so.name
                    ),
                })?;
            let value = so.value_for(&kernel)?;
            for slot in &value.funcs {
                let want = (kernel.type_id, slot.member_index);
                match plan.attach.entry(slot.program) {
                    Entry::Vacant(v) => {
                        v.insert(want);
                    }
                    Entry::Occupied(o) if *o.get() == want => {}
                    Entry::Occupied(_) => {
                        let name = self
                            .spec
                            .programs
                            .get(slot.program)
                            .map_or("?", |p| p.name.as_str());
                        return Err(Error::invalid(
                            "program",
                            format!(
                                "'{name}' fills member '{}' of struct_ops map '{}' and another member or struct: a program implements one member of one struct (the kernel checks its expected_attach_type against the member's index), so give each its own program",
                                slot.member, so.name
                            ),
                        ));
                    }
                }
            }
            sizes.push((so.map, kernel.value_size, kernel.value_type_id));
            plan.maps.push(Planned { spec: i, value });
        }
        for (map, size, id) in sizes {
            if let Some(m) = self.spec.maps.get_mut(map) {
                m.value_size = size;
                m.btf_vmlinux_value_type_id = id;
            }
        }
        let unused = self.spec.programs.iter().enumerate().find(|&(pi, p)| {
            p.prog_type == ProgramType::STRUCT_OPS
                && chosen(&self.spec, pi)
                && !plan.attach.contains_key(&pi)
        });
        if let Some((_, p)) = unused {
            return Err(Error::invalid(
                "program",
                format!(
                    "struct_ops program '{}' (section '{}') fills no member of any struct_ops map: the kernel needs to know which member it implements (point a function pointer of a .struct_ops or .struct_ops.link variable at it)",
                    p.name, p.section
                ),
            ));
        }
        Ok(plan)
    }

    /// Writes the program fds into each planned value and, for
    /// `.struct_ops.link` maps, the value into the map
    /// (`BPF_MAP_UPDATE_ELEM`: the kernel checks every member and builds the
    /// trampolines, but registers nothing until a link is made).
    /// `.struct_ops` maps are left empty: their update registers them
    /// (`LoadedObject::register_struct_ops`).
    pub(super) fn write_struct_ops(
        &self,
        plan: StructOpsPlan,
        staged: &Staged,
        programs: &[LoadedProgram],
    ) -> Result<Vec<LoadedStructOps>> {
        let mut out = Vec::new();
        for Planned { spec, mut value } in plan.maps {
            let Some(so) = self.spec.struct_ops.get(spec) else {
                continue;
            };
            for slot in 0..value.funcs.len() {
                let Some(pi) = value.funcs.get(slot).map(|s| s.program) else {
                    continue;
                };
                let name = self.spec.programs.get(pi).map_or("", |p| p.name.as_str());
                let fd = programs
                    .iter()
                    .find(|p| p.name == name)
                    .map(|p| p.program.fd().as_raw_fd())
                    .ok_or_else(|| {
                        Error::invalid(
                            "program",
                            format!(
                                "struct_ops map '{}' needs program '{name}', which was not loaded",
                                so.name
                            ),
                        )
                    })?;
                value.set_fd(slot, fd);
            }
            if so.link {
                let map = staged
                    .maps
                    .get(so.map)
                    .and_then(Option::as_ref)
                    .ok_or_else(|| {
                        Error::invalid(
                            "map",
                            format!("struct_ops map '{}' was not created", so.name),
                        )
                    })?;
                map.update(&0u32.to_le_bytes(), &value.bytes, 0)
                    .map_err(|e| update_error(e, &so.name, so.kernel_type_name()))?;
            }
            out.push(LoadedStructOps {
                spec,
                value: value.bytes,
            });
        }
        Ok(out)
    }
}

/// The error of writing struct_ops map `map`'s value, with what the
/// kernel's answer means there.
pub(super) fn update_error(e: Error, map: &str, type_name: &str) -> Error {
    let Some(errno) = e.errno() else {
        return e;
    };
    let why = match errno {
        Errno::EEXIST => format!(
            " (the kernel already has a struct {type_name} registered under its name, which must be unique)"
        ),
        Errno::EINVAL => format!(
            " (the kernel refused a member of struct {type_name}: a mandatory function left unset, a bad name or flags, or a program for another member)"
        ),
        Errno::EBUSY => " (its value was written already: a struct_ops map takes one value)".into(),
        _ => String::new(),
    };
    Error::bpf(
        Cmd::MapUpdateElem,
        format!("struct_ops map '{map}'{why}"),
        errno,
    )
}
