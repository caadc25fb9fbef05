//! What a load would do, decided without creating anything in the kernel:
//! the resolve step and the arena placement, and the relocation they give.

use super::ObjectLoader;
use super::externs::{Resolution, resolve, vmlinux_kfuncs_of};
use crate::error::{Error, Result};
use crate::obj::relocate::{KernelFacts, RelocatedProgram, relocate};
use crate::obj::{ObjError, ObjectSpec, place_arena_globals};

/// The decisions [`ObjectLoader::load`] takes before it creates anything,
/// taken without a kernel object: what each extern resolves to (read from
/// `/sys/kernel/btf`, no privileges needed) and where the `__arena`
/// globals go. Made by [`ObjectLoader::plan`].
#[derive(Debug)]
pub struct LoadPlan<'l> {
    spec: &'l ObjectSpec,
    resolution: Resolution,
    arena_globals: Option<std::result::Result<u64, ObjError>>,
}

impl ObjectLoader {
    /// The plan of this load: the resolve step [`ObjectLoader::load`] runs
    /// (kfunc and ksym ids from `/sys/kernel/btf/vmlinux` and module BTF;
    /// the first call in a process scans vmlinux BTF) and the placement of
    /// the `__arena` globals by the same function as the load
    /// ([`place_arena_globals`]). It creates nothing in the kernel and
    /// needs no privileges, so it differs from the load in what only the
    /// kernel knows: the arena's page count is the object's (or, after
    /// [`ObjectLoader::reuse_arena`], that arena's; an arena given by fd or
    /// pin is not opened), and the kernel is assumed to refuse direct
    /// values of 512 MiB or more (older than 7.0; only arenas larger than
    /// 512 MiB are placed differently where it does not).
    ///
    /// Externs the kernel lacks are [`crate::obj::relocate::Resolved::Missing`]
    /// here, strong or weak; the load refuses the strong ones
    /// ([`Resolution::require_strong`]). Errors: reading kernel BTF fails.
    pub fn plan(&self) -> Result<LoadPlan<'_>> {
        let vmlinux = vmlinux_kfuncs_of(&self.spec)?;
        let resolution = resolve(&self.spec, &vmlinux)?;
        let arena = self.spec.arena_map().and_then(|i| self.spec.maps.get(i));
        let arena_globals = match (arena, &self.spec.arena_data) {
            (Some(m), Some(data)) => {
                let pages = match self.reuse.get(&m.name) {
                    Some(super::Reuse::Arena(a)) => a.pages(),
                    _ => m.max_entries,
                };
                Some(place_arena_globals(
                    &m.name,
                    pages,
                    crate::arena::page_size(),
                    data.bytes.len(),
                    || false,
                ))
            }
            _ => None,
        };
        Ok(LoadPlan {
            spec: &self.spec,
            resolution,
            arena_globals,
        })
    }
}

impl LoadPlan<'_> {
    /// What each extern resolves to, and the module BTFs in `fd_array`
    /// order.
    pub fn resolution(&self) -> &Resolution {
        &self.resolution
    }

    /// Where the `__arena` globals go in the object's arena: `None` without
    /// arena globals, the error when the arena's pages cannot hold them.
    pub fn arena_globals_offset(&self) -> Option<std::result::Result<u64, &ObjError>> {
        self.arena_globals.as_ref().map(|r| r.as_ref().copied())
    }

    /// Program `name` relocated with this plan's externs and placement, and
    /// each map's index in [`ObjectSpec::maps`] standing in for its fd (the
    /// instructions `load` hands the kernel, but for the fds). Where the
    /// arena cannot hold the globals, they are shown at offset 0 (the load
    /// refuses that object).
    ///
    /// Errors: [`Error::Invalid`] naming the programs when the object has
    /// no program `name`; [`Error::Object`] when a relocation cannot be
    /// applied.
    pub fn relocate(&self, name: &str) -> Result<RelocatedProgram> {
        let pi = self
            .spec
            .programs
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| super::no_such_program(self.spec, name))?;
        let fds: Vec<i32> = (0..self.spec.maps.len())
            .map(|i| i32::try_from(i).unwrap_or(i32::MAX))
            .collect();
        let facts = KernelFacts {
            map_fds: &fds,
            arena_offset: self
                .arena_globals
                .as_ref()
                .and_then(|r| r.as_ref().ok().copied())
                .unwrap_or(0),
            externs: &self.resolution.externs,
        };
        relocate(self.spec, pi, &facts).map_err(Error::from)
    }
}
