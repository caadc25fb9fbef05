//! A loaded object: its programs, maps and arena by name, and typed
//! access to every global.

use super::programs::LoadedProgram;
use super::struct_ops::{LoadedStructOps, update_error};
use super::{LoadTimings, no_such_global, no_such_program, no_such_section, outside_section};
use crate::arena::{Arena, ArenaPtr, Plain, plain_from_bytes, plain_to_bytes};
use crate::error::{Error, Result};
use crate::link::{AttachTarget, Link};
use crate::map::Map;
use crate::obj::relocate::RelocatedProgram;
use crate::obj::{ARENA_SECTION, MapOrigin, ObjectSpec, StructOpsSpec, VarSpec, zeroed_vec};
use crate::prog::Program;
use crate::sys::Errno;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

/// A loaded object: its maps, arena and programs. Dropping it releases them
/// (programs first, then maps, then the arena unless another owner holds it).
#[derive(Debug)]
pub struct LoadedObject {
    pub(super) timings: LoadTimings,
    pub(super) spec: ObjectSpec,
    pub(super) programs: Vec<LoadedProgram>,
    pub(super) maps: Vec<Option<Map>>,
    pub(super) arena: Option<Arc<Arena>>,
    pub(super) arena_offset: u64,
    pub(super) btf: Option<OwnedFd>,
    /// The struct_ops maps created, with their values.
    pub(super) struct_ops: Vec<LoadedStructOps>,
}

impl LoadedObject {
    /// Where the load spent its time.
    pub fn timings(&self) -> LoadTimings {
        self.timings
    }

    /// The final instructions and BTF records of program `name` as they
    /// were handed to `BPF_PROG_LOAD`: relocated with this object's real map
    /// fds, arena placement and extern ids (kept from the load, not
    /// computed again).
    ///
    /// Errors ([`Error::Invalid`]): as for [`LoadedObject::program`].
    pub fn relocated(&self, name: &str) -> Result<&RelocatedProgram> {
        self.loaded(name).map(|p| &p.relocated)
    }

    /// Loaded program `name`, or why there is none.
    fn loaded(&self, name: &str) -> Result<&LoadedProgram> {
        if let Some(p) = self.programs.iter().find(|p| p.name == name) {
            return Ok(p);
        }
        if self.spec.program(name).is_some() {
            return Err(Error::invalid(
                "program",
                format!("'{name}' was not loaded (ObjectLoader::load_only left it out)"),
            ));
        }
        Err(no_such_program(&self.spec, name))
    }

    /// The object's BTF as loaded into the kernel, if it has BTF.
    pub fn btf_fd(&self) -> Option<BorrowedFd<'_>> {
        self.btf.as_ref().map(|f| f.as_fd())
    }

    /// The spec it was loaded from (with the loader's changes).
    pub fn spec(&self) -> &ObjectSpec {
        &self.spec
    }

    /// A loaded program by name.
    ///
    /// Errors ([`Error::Invalid`]): the object has no such program (the
    /// error lists the ones it has), or [`ObjectLoader::load_only`](super::ObjectLoader::load_only) left it
    /// out.
    pub fn program(&self, name: &str) -> Result<&Program> {
        self.loaded(name).map(|p| &p.program)
    }

    /// Where program `name` attaches, read from its section name the way
    /// libbpf's auto-attach reads it ([`AttachTarget::from_section`]).
    ///
    /// Errors ([`Error::Invalid`]): no such program, or a section that
    /// names no attachment (the error says why: a `syscall` program, a
    /// `kprobe` section without a function, …).
    pub fn attach_target(&self, name: &str) -> Result<AttachTarget> {
        let p = self.loaded(name)?;
        let spec = self
            .spec
            .program(name)
            .ok_or_else(|| no_such_program(&self.spec, name))?;
        AttachTarget::from_section(&spec.section, p.program.program_type()).map_err(|reason| {
            Error::invalid("attach target", format!("program '{name}': {reason}"))
        })
    }

    /// Attaches program `name` where its section says
    /// ([`LoadedObject::attach_target`], then [`Link::attach`]). Programs
    /// whose target needs an interface (`xdp`, `tcx/…`) or a cgroup
    /// (`cgroup_skb/…`, `cgroup/…`) cannot attach from their section alone:
    /// use [`LoadedObject::attach_to`] with the target completed by
    /// [`AttachTarget::with_iface`] or [`AttachTarget::with_cgroup`].
    ///
    /// ```no_run
    /// # fn main() -> bpf_arena::Result<()> {
    /// let obj = bpf_arena::ObjectLoader::from_file("bpf-asm/syscall_top.bpf.o")?.load()?;
    /// let link = obj.attach("syscall_top")?; // SEC("tp_btf/sys_enter")
    /// // ... every system call is counted in the arena while `link` lives ...
    /// drop(link); // detached
    /// # Ok(()) }
    /// ```
    ///
    /// Errors: those of [`LoadedObject::attach_target`] and [`Link::attach`].
    pub fn attach(&self, name: &str) -> Result<Link> {
        let target = self.attach_target(name)?;
        self.attach_to(name, &target)
    }

    /// Attaches program `name` to `target`, whatever its section says
    /// ([`Link::attach`]).
    ///
    /// Errors: no such program ([`Error::Invalid`]), then those of
    /// [`Link::attach`].
    pub fn attach_to(&self, name: &str, target: &AttachTarget) -> Result<Link> {
        Link::attach(self.program(name)?, target)
    }

    /// The object's struct_ops maps that were created (all of them,
    /// unless [`ObjectLoader::load_only`](super::ObjectLoader::load_only)
    /// left out every program of one), in object order: attach each
    /// `.struct_ops.link` one ([`StructOpsSpec::link`]) with
    /// [`LoadedObject::attach_struct_ops`], register each `.struct_ops` one
    /// with [`LoadedObject::register_struct_ops`]. Their maps are
    /// [`LoadedObject::map`] by the same name.
    pub fn struct_ops_maps(&self) -> impl Iterator<Item = &StructOpsSpec> {
        self.struct_ops
            .iter()
            .filter_map(|s| self.spec.struct_ops.get(s.spec))
    }

    /// struct_ops map `name`, its value and its map.
    fn struct_ops(&self, name: &str) -> Result<(&StructOpsSpec, &LoadedStructOps, &Map)> {
        let found = self.struct_ops.iter().find_map(|l| {
            let spec = self
                .spec
                .struct_ops
                .get(l.spec)
                .filter(|s| s.name == name)?;
            Some((spec, l))
        });
        let Some((spec, l)) = found else {
            let all: Vec<&str> = self.struct_ops_maps().map(|s| s.name.as_str()).collect();
            return Err(Error::invalid(
                "struct_ops map",
                format!(
                    "object '{}' has no loaded struct_ops map '{name}' (its struct_ops maps: {})",
                    self.spec.name,
                    if all.is_empty() {
                        "none".to_string()
                    } else {
                        all.join(", ")
                    }
                ),
            ));
        };
        let map = self
            .map(name)
            .ok_or_else(|| Error::invalid("struct_ops map", format!("'{name}' was not created")))?;
        Ok((spec, l, map))
    }

    /// Registers `.struct_ops.link` map `name` with the kernel through a
    /// new link ([`Link::attach_struct_ops`]: `BPF_LINK_CREATE`, Linux
    /// 6.4): from now on the kernel uses the struct (a TCP congestion
    /// control becomes selectable by its name), until the link is dropped
    /// or detached. The map's value was written at load, so the map can be
    /// attached again after the link is gone.
    ///
    /// Errors: [`Error::Invalid`] for a name that is not a loaded
    /// struct_ops map, or one in `.struct_ops` (registered with
    /// [`LoadedObject::register_struct_ops`] instead); the kernel's
    /// refusal as [`Error::Bpf`], such as `EEXIST` when a struct of that
    /// name is registered already.
    pub fn attach_struct_ops(&self, name: &str) -> Result<Link> {
        let (spec, _, map) = self.struct_ops(name)?;
        if !spec.link {
            return Err(Error::invalid(
                "struct_ops map",
                format!(
                    "'{name}' is in section '{}', whose maps register by their update, without a link: use LoadedObject::register_struct_ops (or put it in .struct_ops.link)",
                    spec.section
                ),
            ));
        }
        Link::attach_struct_ops(map)
    }

    /// Registers `.struct_ops` map `name` with the kernel by writing its
    /// value (`BPF_MAP_UPDATE_ELEM`, Linux 5.6; no link involved). It
    /// stays registered until [`LoadedObject::unregister_struct_ops`] or
    /// until this object is dropped, which unregisters it; a map registers
    /// once (the kernel answers `EBUSY` to a second update, even after
    /// unregistering).
    ///
    /// Errors: [`Error::Invalid`] for a name that is not a loaded
    /// struct_ops map, or one in `.struct_ops.link` (attached with
    /// [`LoadedObject::attach_struct_ops`] instead); the kernel's refusal
    /// as [`Error::Bpf`]: `EEXIST` for a name registered already, `EINVAL`
    /// for a member it refuses (a mandatory function left unset), `EBUSY`
    /// for a second registration.
    pub fn register_struct_ops(&self, name: &str) -> Result<()> {
        let (spec, l, map) = self.struct_ops(name)?;
        if spec.link {
            return Err(Error::invalid(
                "struct_ops map",
                format!(
                    "'{name}' is in section '{}', whose maps register through a link: use LoadedObject::attach_struct_ops",
                    spec.section
                ),
            ));
        }
        map.update(&0u32.to_le_bytes(), &l.value, 0)
            .map_err(|e| update_error(e, name, spec.kernel_type_name()))
    }

    /// Unregisters `.struct_ops` map `name` (`BPF_MAP_DELETE_ELEM`): the
    /// kernel stops offering the struct (users of it, such as sockets
    /// that selected a congestion control, keep it until they let go).
    /// The kernel answers `ENOENT` when it was never registered,
    /// `EINPROGRESS` when it was unregistered already, and `EOPNOTSUPP`
    /// for a `.struct_ops.link` map (drop its link instead).
    pub fn unregister_struct_ops(&self, name: &str) -> Result<()> {
        let (_, _, map) = self.struct_ops(name)?;
        map.delete(&0u32.to_le_bytes())
    }

    /// The loaded programs, in object order.
    pub fn programs(&self) -> impl Iterator<Item = (&str, &Program)> {
        self.programs.iter().map(|p| (p.name.as_str(), &p.program))
    }

    /// A map by name, as a `Result`: [`Error::Invalid`] naming the map
    /// when the object has none of that name (or it was not created).
    /// The arena is [`LoadedObject::require_arena`].
    pub fn require_map(&self, name: &str) -> Result<&Map> {
        self.map(name).ok_or_else(|| {
            let is_arena = self.spec.map(name).is_some_and(|m| m.is_arena());
            let reason = if is_arena {
                format!("map '{name}' is the arena: LoadedObject::arena gives it")
            } else {
                format!("the object '{}' has no map '{name}'", self.spec.name)
            };
            Error::invalid("map", reason)
        })
    }

    /// The arena, as a `Result`: [`Error::Invalid`] when the object has
    /// none.
    pub fn require_arena(&self) -> Result<&Arena> {
        self.arena().ok_or_else(|| {
            Error::invalid(
                "arena",
                format!("the object '{}' has no arena map", self.spec.name),
            )
        })
    }

    /// A map by name (the arena is [`LoadedObject::arena`]).
    pub fn map(&self, name: &str) -> Option<&Map> {
        let i = self.spec.maps.iter().position(|m| m.name == name)?;
        self.maps.get(i)?.as_ref()
    }

    /// The arena, if the object has one.
    pub fn arena(&self) -> Option<&Arena> {
        self.arena.as_deref()
    }

    /// A shared handle to the arena, to load another object on it
    /// ([`ObjectLoader::reuse_arena`](super::ObjectLoader::reuse_arena)).
    pub fn arena_handle(&self) -> Option<Arc<Arena>> {
        self.arena.clone()
    }

    /// Where in the arena the `.addr_space.1` globals were placed (at the
    /// end when the kernel accepts the offset, else 0: see
    /// [design decision 5](crate::guide::design)).
    pub fn arena_globals_offset(&self) -> Option<u64> {
        self.arena.as_ref().map(|_| self.arena_offset)
    }

    /// A global variable's description.
    pub fn variable(&self, name: &str) -> Option<&VarSpec> {
        self.spec.variables().find(|v| v.name == name)
    }

    /// Global `name`, checked to lie inside its section, as `(variable,
    /// offset in the section as usize, size as usize)`.
    fn checked_var(&self, name: &str) -> Result<(&VarSpec, usize, usize)> {
        let v = self.variable(name).ok_or_else(|| no_such_global(name))?;
        let len = if v.section == ARENA_SECTION {
            self.spec.arena_data.as_ref().map(|a| a.bytes.len())
        } else {
            self.spec
                .data
                .iter()
                .find(|d| d.section == v.section)
                .map(|d| d.bytes.len())
        }
        .ok_or_else(|| no_such_section(name, &v.section))?;
        match (
            v.offset.checked_add(v.size),
            usize::try_from(v.offset),
            usize::try_from(v.size),
        ) {
            (Some(end), Ok(o), Ok(n)) if end <= len => Ok((v, o, n)),
            _ => Err(outside_section(v, len)),
        }
    }

    /// The arena, for arena global `name`.
    fn arena_of(&self, name: &str) -> Result<&Arc<Arena>> {
        self.arena.as_ref().ok_or_else(|| {
            Error::invalid(
                "global",
                format!("'{name}' is an arena global, but no arena was loaded"),
            )
        })
    }

    /// The arena offset of arena global `v`.
    fn arena_offset_of(&self, v: &VarSpec) -> Result<u64> {
        self.arena_offset.checked_add(v.offset).ok_or_else(|| {
            Error::invalid(
                "global",
                format!(
                    "'{}' (offset {:#x}) lies past any arena address (globals at {:#x})",
                    v.name, v.offset, self.arena_offset
                ),
            )
        })
    }

    /// The current bytes of global `name`, read from user-space memory (the
    /// data map's mapping, or the arena mapping; a data map that is not
    /// mmapable, as in an object without BTF, is read with a lookup).
    ///
    /// Only that lookup is a system call (`BPF_MAP_LOOKUP_ELEM`, any kernel
    /// with BPF). Errors: [`Error::Invalid`] for a name the object does not
    /// have (or that lies outside its section), [`Error::Syscall`] when the
    /// lookup fails; reading an arena global on a `SEGV_ON_FAULT` arena
    /// whose page nobody allocated is an error, not a signal.
    pub fn global_bytes(&self, name: &str) -> Result<Vec<u8>> {
        let (v, o, n) = self.checked_var(name)?;
        let mut out = zeroed_vec(n).ok_or_else(|| {
            Error::invalid(
                "global",
                format!("cannot allocate {n} bytes to read '{name}'"),
            )
        })?;
        if v.section == ARENA_SECTION {
            let a = self.arena_of(name)?;
            a.read_bytes(self.arena_offset_of(v)?, &mut out)?;
            return Ok(out);
        }
        let map = self.data_map(&v.section)?;
        match map.mapping() {
            Some(mem) => mem.read(o, &mut out),
            None => {
                let value_size = usize::try_from(map.info().value_size).unwrap_or(usize::MAX);
                let mut whole = zeroed_vec(value_size).ok_or_else(|| {
                    Error::invalid(
                        "global",
                        format!(
                            "cannot allocate {value_size} bytes to read map '{}'",
                            map.name()
                        ),
                    )
                })?;
                map.lookup(&0u32.to_le_bytes(), &mut whole)?;
                let src = o
                    .checked_add(n)
                    .and_then(|end| whole.get(o..end))
                    .ok_or_else(|| outside_section(v, map.info().value_size.into()))?;
                out.copy_from_slice(src);
                Ok(())
            }
        }
        .map_err(|e| Error::Syscall {
            call: "read",
            what: format!("global '{name}'"),
            errno: e,
        })?;
        Ok(out)
    }

    /// Writes global `name` in user-space memory (not for `.rodata`, which is
    /// frozen, or `.kconfig`). No system call: the data map's writable
    /// mapping (mmapable array maps, Linux 5.5) or the arena mapping.
    ///
    /// Errors ([`Error::Invalid`]): no such global; `bytes` not its size; a
    /// read-only section; a data map without a mapping (an object without
    /// BTF, whose data maps are not mmapable).
    pub fn set_global_bytes(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let (v, o, _) = self.checked_var(name)?;
        if bytes.len() as u64 != v.size {
            return Err(Error::invalid(
                "global value",
                format!("'{name}' is {} bytes, got {}", v.size, bytes.len()),
            ));
        }
        if v.section == ARENA_SECTION {
            let a = self.arena_of(name)?;
            return a.write_bytes(self.arena_offset_of(v)?, bytes);
        }
        let map = self.data_map(&v.section)?;
        let mem = map.mapping().ok_or_else(|| {
            Error::invalid(
                "global",
                format!("'{name}' is not in writable mapped memory"),
            )
        })?;
        mem.write(o, bytes).map_err(|e| match e {
            Errno::EACCES => {
                Error::invalid("global", format!("'{name}' is read-only ({})", v.section))
            }
            e => Error::Syscall {
                call: "write",
                what: format!("global '{name}'"),
                errno: e,
            },
        })
    }

    /// Reads global `name` as a `T` (its size must match).
    pub fn global<T: Plain>(&self, name: &str) -> Result<T> {
        global_from_bytes(name, &self.global_bytes(name)?)
    }

    /// Writes global `name` from a `T` (its size must match).
    pub fn set_global<T: Plain>(&self, name: &str, value: T) -> Result<()> {
        self.set_global_bytes(name, &plain_to_bytes(&value))
    }

    /// An arena pointer to arena global `name` (an `__arena` variable, in
    /// `.addr_space.1`), typed as the whole variable: `size_of::<T>()` must
    /// be its size. For a part of it (an array element, a field), use
    /// [`LoadedObject::arena_global_at`].
    ///
    /// Errors ([`Error::Invalid`]): no such variable; a variable of another
    /// section (read those with [`LoadedObject::global`]); a size mismatch.
    pub fn arena_global<T>(&self, name: &str) -> Result<ArenaPtr<T>> {
        let size = std::mem::size_of::<T>() as u64;
        let (v, at) = self.arena_var(name)?;
        if size != v.size {
            return Err(Error::invalid(
                "global type",
                format!(
                    "arena global '{name}' is {} bytes, the type {size} (for a part of it, use arena_global_at)",
                    v.size
                ),
            ));
        }
        self.arena_of(name)?.ptr_at(at)
    }

    /// An arena pointer to a `T` at byte `offset` inside arena global `name`
    /// (`buckets[3]` of a `u64 __arena buckets[8]` is offset 24), checked to
    /// lie inside the variable. Errors as for [`LoadedObject::arena_global`],
    /// and [`Error::Invalid`] when the `T` would reach past the variable.
    pub fn arena_global_at<T>(&self, name: &str, offset: u64) -> Result<ArenaPtr<T>> {
        let size = std::mem::size_of::<T>() as u64;
        let (v, at) = self.arena_var(name)?;
        let inside = offset.checked_add(size).is_some_and(|end| end <= v.size);
        if !inside {
            return Err(Error::invalid(
                "global offset",
                format!(
                    "{size} bytes at offset {offset} reach past arena global '{name}' ({} bytes)",
                    v.size
                ),
            ));
        }
        let at = at.checked_add(offset).ok_or_else(|| no_such_global(name))?;
        self.arena_of(name)?.ptr_at(at)
    }

    /// Arena global `name` and its offset in the arena.
    fn arena_var(&self, name: &str) -> Result<(&VarSpec, u64)> {
        let (v, _, _) = self.checked_var(name)?;
        if v.section != ARENA_SECTION {
            return Err(Error::invalid(
                "global",
                format!(
                    "'{name}' is in section '{}', not an __arena global ({ARENA_SECTION}): read it with LoadedObject::global",
                    v.section
                ),
            ));
        }
        Ok((v, self.arena_offset_of(v)?))
    }

    fn data_map(&self, section: &str) -> Result<&Map> {
        let d = self
            .spec
            .data
            .iter()
            .position(|d| d.section == section)
            .ok_or_else(|| no_such_global(section))?;
        self.spec
            .maps
            .iter()
            .position(|m| {
                m.origin == MapOrigin::Data(d)
                    || (m.origin == MapOrigin::Kconfig && section == ".kconfig")
            })
            .and_then(|i| self.maps.get(i))
            .and_then(Option::as_ref)
            .ok_or_else(|| {
                Error::invalid("global", format!("section '{section}' has no loaded map"))
            })
    }
}

impl Drop for LoadedObject {
    fn drop(&mut self) {
        // A registered `.struct_ops` map holds itself in the kernel: only a
        // delete lets it go.
        for l in &self.struct_ops {
            if let Some(spec) = self.spec.struct_ops.get(l.spec).filter(|s| !s.link)
                && let Some(Some(map)) = self.maps.get(spec.map)
            {
                let _ = map.delete(&0u32.to_le_bytes());
            }
        }
        self.programs.clear();
    }
}

/// Global `name`'s bytes as a `T`, whose size must be theirs: before the
/// load ([`ObjectLoader::global`](super::ObjectLoader::global)) and after.
pub(super) fn global_from_bytes<T: Plain>(name: &str, b: &[u8]) -> Result<T> {
    plain_from_bytes(b).ok_or_else(|| {
        Error::invalid(
            "global type",
            format!(
                "'{name}' is {} bytes, the type {}",
                b.len(),
                std::mem::size_of::<T>()
            ),
        )
    })
}
