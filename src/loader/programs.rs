//! Relocating and loading the programs of an object, once its maps and
//! arena exist.

use super::externs::{Resolution, fd_array, missing_kfunc_called};
use super::stage::Staged;
use super::{Load, LoadTimings};
use crate::abi;
use crate::btf::kind;
use crate::error::{Error, Result};
use crate::features::{Feature, Support, probe};
use crate::kfunc;
use crate::obj::ObjectSpec;
use crate::obj::relocate::{KernelFacts, RelocatedProgram, relocate};
use crate::prog::{Program, ProgramBtf, ProgramBuilder, ProgramType};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Instant;

/// A program the load loaded, with the instructions it handed the kernel.
#[derive(Debug)]
pub(super) struct LoadedProgram {
    pub name: String,
    pub program: Program,
    pub relocated: RelocatedProgram,
}

/// The fd of every map of `spec` by index, the arena's included (`-1` for
/// a map that was not created).
fn map_fds(spec: &ObjectSpec, staged: &Staged) -> Vec<i32> {
    let mut fds: Vec<i32> = staged
        .maps
        .iter()
        .map(|m| m.as_ref().map_or(-1, |m| m.fd().as_raw_fd()))
        .collect();
    if let (Some(slot), Some(a)) = (spec.arena_map().and_then(|i| fds.get_mut(i)), &staged.arena) {
        *slot = a.as_raw_fd();
    }
    fds
}

impl Load<'_> {
    /// Relocates and loads every chosen program, in object order.
    pub(super) fn load_programs(
        &self,
        staged: &Staged,
        resolution: &Resolution,
        modules: &[OwnedFd],
        t: &mut LoadTimings,
    ) -> Result<Vec<LoadedProgram>> {
        let fds = map_fds(&self.spec, staged);
        let facts = KernelFacts {
            map_fds: &fds,
            arena_offset: staged.arena_offset,
            externs: &resolution.externs,
        };
        let mut out = Vec::new();
        for (pi, p) in self.spec.programs.iter().enumerate() {
            if self.l.only.as_ref().is_some_and(|o| !o.contains(&p.name)) {
                continue;
            }
            let relocate_start = Instant::now();
            let relocated = relocate(&self.spec, pi, &facts)?;
            let load_start = Instant::now();
            t.relocate = t
                .relocate
                .saturating_add(load_start.saturating_duration_since(relocate_start));
            let program = self.load_program(pi, &relocated, staged, modules)?;
            t.prog_load = t.prog_load.saturating_add(load_start.elapsed());
            out.push(LoadedProgram {
                name: p.name.clone(),
                program,
                relocated,
            });
        }
        Ok(out)
    }

    /// `BPF_PROG_LOAD` of program `p`, relocated as `relocated`.
    fn load_program(
        &self,
        pi: usize,
        relocated: &RelocatedProgram,
        staged: &Staged,
        modules: &[OwnedFd],
    ) -> Result<Program> {
        let p = self
            .spec
            .programs
            .get(pi)
            .ok_or_else(|| Error::invalid("program", format!("no program #{pi}")))?;
        if relocated.uses_arena_cast && staged.arena.is_none() {
            return Err(Error::invalid(
                "program",
                format!(
                    "'{}' uses arena pointers (addr_space_cast) but the object has no arena: declare an arena map in its .maps, or give it another object's arena with ObjectLoader::reuse_arena (the kernel would answer EINVAL: addr_space_cast insn can only be used in a program that has an associated arena)",
                    p.name
                ),
            ));
        }
        // A struct_ops program implements one member of a kernel struct:
        // that struct's type id and the member's index.
        let (attach_btf_id, expected_attach_type) = if p.prog_type == ProgramType::STRUCT_OPS {
            self.struct_ops.attach_of(pi).ok_or_else(|| {
                Error::invalid(
                    "program",
                    format!("struct_ops program '{}' fills no struct_ops member", p.name),
                )
            })?
        } else {
            (
                attach_target(p.prog_type, p.expected_attach_type, &p.section)?,
                p.expected_attach_type,
            )
        };
        // A program that uses arena pointers but never names the arena map
        // gets the arena bound through fd_array.
        let bind = relocated.uses_arena_cast && !relocated.names_arena && staged.arena.is_some();
        // Only a definite "no" is an error here: an inconclusive probe
        // (no privileges, no fds left) lets the kernel answer the load.
        if bind && matches!(probe(Feature::FdArrayBinding), Support::No { .. }) {
            return Err(Error::NotSupported {
                what: "binding an arena to a program through fd_array (the program uses arena pointers but never names the arena)",
                since: "6.14",
                detail: Some(format!("program '{}'", p.name)),
            });
        }
        let bound = staged.arena.as_ref().filter(|_| bind).map(|a| a.fd());
        let fds = fd_array(bound, modules);
        let mut b = ProgramBuilder::new(p.prog_type, &relocated.insns);
        b.name(&p.name)
            .license(&self.spec.license)
            .flags(p.flags)
            .expected_attach_type(expected_attach_type)
            .attach_btf_id(attach_btf_id)
            .kern_version(self.spec.kern_version.unwrap_or(0))
            .fd_array(&fds)
            .bind_fd_array(bind)
            .log_level(self.l.log_level);
        if let Some(bf) = staged
            .btf
            .as_ref()
            .filter(|_| !relocated.func_info.is_empty())
        {
            b.btf(ProgramBtf {
                btf: bf.as_fd(),
                func_info: &relocated.func_info,
                line_info: &relocated.line_info,
                core_relos: &relocated.core_relos,
            });
        }
        b.load().map_err(|e| missing_kfunc_called(e, &self.spec))
    }
}

/// `attach_btf_id` for tracing-style programs (iterators, fentry/fexit,
/// tp_btf, LSM): the vmlinux BTF id of the target the section names.
fn attach_target(t: ProgramType, attach: u32, section: &str) -> Result<u32> {
    if t != ProgramType::TRACING && t != ProgramType::LSM {
        return Ok(0);
    }
    let target = section.split_once('/').map(|(_, r)| r).unwrap_or("");
    let (name, k) = match (t, attach) {
        (ProgramType::TRACING, abi::BPF_TRACE_ITER) => (format!("bpf_iter_{target}"), kind::FUNC),
        (ProgramType::TRACING, abi::BPF_TRACE_RAW_TP) => {
            (format!("btf_trace_{target}"), kind::TYPEDEF)
        }
        (ProgramType::LSM, _) => (format!("bpf_lsm_{target}"), kind::FUNC),
        _ => (target.to_string(), kind::FUNC),
    };
    kfunc::vmlinux_btf()?
        .find_by_name(k, &name)
        .ok_or_else(|| Error::Unresolved {
            what: "attach target",
            name: name.clone(),
            detail: match (t, attach) {
                (ProgramType::TRACING, abi::BPF_TRACE_RAW_TP) => format!(
                    "named by section '{section}'; not in /sys/kernel/btf/vmlinux (tp_btf/ takes a raw tracepoint such as sys_enter or sched_switch; a syscall's own event is tracepoint/syscalls/NAME)"
                ),
                _ => format!("named by section '{section}'; not in /sys/kernel/btf/vmlinux"),
            },
        })
}
