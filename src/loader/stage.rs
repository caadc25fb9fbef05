//! The kernel objects a load creates before its programs: the object's
//! BTF, its maps (global data written, `.rodata` frozen, mmapped), and its
//! arena (created or reused, placed, mapped, globals copied). Pins live
//! here too.

use super::{Load, Reuse};
use crate::abi::BPF_F_LINK;
use crate::arena::{
    Arena, ArenaBuilder, ArenaFlags, BPF_F_MMAPABLE, GlobalsClaim, PlacedVar, page_size,
};
use crate::error::{Error, Result};
use crate::features::{Feature, probe};
use crate::map::Map;
use crate::obj::{
    ARENA_SECTION, DataKind, MapOrigin, MapSpec, Pinning, fixup_btf, place_arena_globals,
};
use crate::sys::{self, Cmd, Errno};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// What `Load::stage` created.
pub(super) struct Staged {
    /// The object's BTF in the kernel, if it has BTF.
    pub btf: Option<OwnedFd>,
    /// Every map of the spec, by index (`None` for the arena map).
    pub maps: Vec<Option<Map>>,
    /// The arena: the object's, or one given by `reuse_arena`.
    pub arena: Option<Arc<Arena>>,
    /// Where the `__arena` globals are in the arena (0 without any).
    pub arena_offset: u64,
    /// The arena was made here and its NULL page is to be guarded (done
    /// once the kfunc ids are known: the guard is a program calling one).
    pub guard_null_page: bool,
}

/// The arena of a load, and whether the load created it.
struct ObtainedArena {
    arena: Arc<Arena>,
    fresh: bool,
}

/// The pinned map's definition, as compared with the object's.
#[derive(PartialEq, Eq)]
struct Shape {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    map_extra: u64,
}

impl Shape {
    fn of_spec(spec: &MapSpec, map_extra: u64) -> Shape {
        Shape {
            map_type: spec.map_type,
            key_size: spec.key_size,
            value_size: spec.value_size,
            max_entries: spec.max_entries,
            map_flags: spec.map_flags,
            map_extra,
        }
    }

    fn of_info(i: &sys::MapInfo) -> Shape {
        Shape {
            map_type: i.map_type,
            key_size: i.key_size,
            value_size: i.value_size,
            max_entries: i.max_entries,
            map_flags: i.map_flags,
            map_extra: i.map_extra,
        }
    }

    /// An arena's definition, from what opening it read (an arena has no
    /// key or value: both sizes are 0).
    fn of_arena(a: &Arena) -> Shape {
        Shape {
            map_type: crate::abi::MAP_TYPE_ARENA,
            key_size: 0,
            value_size: 0,
            max_entries: a.pages(),
            map_flags: a.flags().map_flags(),
            map_extra: a.map_extra(),
        }
    }
}

impl Load<'_> {
    /// kconfig values, the BTF and the maps, with the arena placed, mapped
    /// and its globals copied (its NULL page is guarded later, after the
    /// kfunc lookup, see [`Staged::guard_null_page`]).
    pub(super) fn stage(&mut self, t: &mut super::LoadTimings, start: Instant) -> Result<Staged> {
        self.fill_kconfig()?;
        t.resolve_externs = start.elapsed();
        let btf = self.load_btf(t)?;
        let maps_start = Instant::now();
        let mut maps = Vec::with_capacity(self.spec.maps.len());
        let mut obtained = None;
        for (i, spec) in self.spec.maps.clone().into_iter().enumerate() {
            if self.struct_ops.skipped_maps.contains(&i) {
                // A struct_ops map all of whose programs were left out.
                maps.push(None);
            } else if spec.is_arena() {
                obtained = Some(self.arena_for(&spec)?);
                maps.push(None);
            } else {
                maps.push(Some(self.map_for(&spec, btf.as_ref().map(|f| f.as_fd()))?));
            }
        }
        let arena_offset = match &obtained {
            Some(a) => self.place_globals(a)?,
            None => 0,
        };
        // Guard the NULL page of an arena made here, unless the globals
        // sit on it (they are placed at 0 only when the end is out of reach).
        let globals_on_null = arena_offset == 0 && self.spec.arena_data.is_some();
        let guard_null_page = obtained.as_ref().is_some_and(|a| {
            a.fresh && self.l.guard_null_page && a.arena.has_null_page() && !globals_on_null
        });
        t.maps = maps_start.elapsed();
        Ok(Staged {
            btf,
            maps,
            arena: obtained.map(|a| a.arena).or(self.l.external_arena.clone()),
            arena_offset,
            guard_null_page,
        })
    }

    /// Fixes up the object's BTF and loads it (`BPF_BTF_LOAD`); on failure
    /// loads it again with a log and shows the log's tail.
    fn load_btf(&self, t: &mut super::LoadTimings) -> Result<Option<OwnedFd>> {
        let start = Instant::now();
        let Some(blob) = fixup_btf(&self.spec)? else {
            return Ok(None);
        };
        let sys_start = Instant::now();
        t.btf_fixup = sys_start.saturating_duration_since(start);
        let r = sys::btf_load(&blob, None);
        t.btf_load = sys_start.elapsed();
        let errno = match r {
            Ok(fd) => return Ok(Some(fd)),
            Err(errno) => errno,
        };
        let mut log = vec![0u8; 1 << 20];
        let _ = sys::btf_load(&blob, Some(&mut log));
        let log = String::from_utf8_lossy(&log).into_owned();
        let mut tail: Vec<&str> = log.lines().rev().take(6).collect();
        tail.reverse();
        let log = if tail.iter().all(|l| l.trim().is_empty()) {
            "the kernel wrote no log".to_string()
        } else {
            format!("log tail: {}", tail.join(" | "))
        };
        Err(Error::Bpf {
            cmd: Cmd::BtfLoad,
            what: format!("object '{}' BTF ({log})", self.spec.name),
            errno,
        })
    }

    /// Decides where the `__arena` globals go in `a` (the one placement
    /// decision, [`place_arena_globals`], with this machine's page size),
    /// checks them against other objects' globals in the same arena, and
    /// copies them in when the arena was created here.
    fn place_globals(&self, a: &ObtainedArena) -> Result<u64> {
        let Some(data) = &self.spec.arena_data else {
            return Ok(0);
        };
        let arena = &a.arena;
        let page = page_size();
        let offset =
            place_arena_globals(arena.name(), arena.pages(), page, data.bytes.len(), || {
                probe(Feature::FullRangeDirectValue).is_yes()
            })?;
        // Another object's globals in this arena must not overlap these
        // (checked now, recorded once the load succeeded).
        arena.claim_globals(&self.globals_claim(offset), false)?;
        if !a.fresh {
            if let Some(name) = &self.l.arena_global_set {
                return Err(Error::invalid(
                    "global",
                    format!(
                        "__arena global '{name}' was given a value before the load, but the arena is reused and its globals are not copied: set it after the load (LoadedObject::set_global)"
                    ),
                ));
            }
            return Ok(offset);
        }
        if arena.flags().contains(ArenaFlags::SEGV_ON_FAULT) {
            let n = data.bytes.len().div_ceil(page);
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            arena
                .alloc_pages(Some(arena.ptr_at::<u8>(offset)?), n)?
                .ok_or_else(|| {
                    Error::invalid("arena", "could not allocate the pages for __arena globals")
                })?;
        }
        // Arena pages start zeroed: only the stored bytes are copied (none
        // for a NOBITS section nobody set).
        for (at, chunk) in data.bytes.chunks() {
            let at = offset.checked_add(at).ok_or_else(|| {
                Error::invalid("arena size", "__arena globals past the end of the arena")
            })?;
            arena.write_bytes(at, chunk)?;
        }
        Ok(offset)
    }

    /// The `__arena` globals of this object, placed at arena offset `base`.
    pub(super) fn globals_claim(&self, base: u64) -> GlobalsClaim {
        GlobalsClaim {
            object: self.spec.name.clone(),
            vars: self
                .spec
                .variables()
                .filter(|v| v.section == ARENA_SECTION)
                .map(|v| PlacedVar {
                    name: v.name.clone(),
                    at: base.saturating_add(v.offset),
                    size: v.size,
                })
                .collect(),
        }
    }

    /// Where a by-name map is pinned: `None` without by-name pinning or
    /// with pinning ignored. The name must be one safe path component.
    fn pin_path(&self, spec: &MapSpec) -> Result<Option<PathBuf>> {
        let Some(root) = self
            .l
            .pin_root
            .as_ref()
            .filter(|_| spec.pinning == Pinning::ByName)
        else {
            return Ok(None);
        };
        let n = &spec.name;
        let component = !n.is_empty()
            && n != "."
            && n != ".."
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
        if !component {
            return Err(Error::invalid(
                "map name",
                format!(
                    "{n:?} cannot name a pin: it must be one path component of [A-Za-z0-9_.] (not . or ..)"
                ),
            ));
        }
        Ok(Some(root.join(n)))
    }

    /// The map for `spec` (not the arena): reused, pinned, or created.
    fn map_for(&mut self, spec: &MapSpec, btf: Option<BorrowedFd<'_>>) -> Result<Map> {
        if let (MapOrigin::StructOps(_), Some(_)) = (spec.origin, self.l.reuse.get(&spec.name)) {
            return Err(Error::invalid(
                "map",
                format!(
                    "'{}' is a struct_ops map, which cannot be reused: its value is written once, by the load that creates it",
                    spec.name
                ),
            ));
        }
        match self.l.reuse.get(&spec.name) {
            Some(Reuse::Fd(fd)) => Map::from_fd(dup(fd, &spec.name)?),
            Some(Reuse::Pinned(p)) => Map::open_pinned(p),
            Some(Reuse::Arena(_)) => Err(Error::WrongObject {
                what: format!("map '{}'", spec.name),
                reason:
                    "an arena was given for it (reuse_arena), but it is not the object's arena map"
                        .into(),
            }),
            None => self.create_map(spec, btf),
        }
    }

    /// Creates map `spec` (or reuses its by-name pin), writes its initial
    /// data, freezes and maps it as its section needs, and pins it.
    fn create_map(&mut self, spec: &MapSpec, btf: Option<BorrowedFd<'_>>) -> Result<Map> {
        let pin = self.pin_path(spec)?;
        if let Some(p) = &pin {
            if pin_exists(p)? {
                let m = Map::open_pinned(p)?;
                check_pinned(spec, p, Shape::of_info(m.kernel_info()), spec.map_extra)?;
                return Ok(m);
            }
        }
        let inner = match &spec.inner {
            Some(i) => Some(Map::create(i, btf, None)?),
            None => None,
        };
        let mut map = match Map::create(spec, btf, inner.as_ref().map(|m| m.fd())) {
            Err(e) if e.errno() == Some(Errno::EINVAL) && is_struct_ops_link(spec) => {
                return Err(struct_ops_link_error(e, spec, btf));
            }
            r => r?,
        };
        let data = match spec.origin {
            MapOrigin::Data(d) => Some(self.spec.data.get(d).ok_or_else(|| {
                Error::invalid(
                    "map",
                    format!(
                        "'{}' holds data section #{d}, which the object does not have",
                        spec.name
                    ),
                )
            })?),
            MapOrigin::Kconfig => self.spec.data.iter().find(|d| d.kind == DataKind::Kconfig),
            MapOrigin::Declared | MapOrigin::StructOps(_) => None,
        };
        if let Some(d) = data {
            // The image is built only now, and fallibly: a declared size the
            // kernel accepts can still be more than this process can get.
            let value = d.bytes.to_vec().ok_or_else(|| {
                Error::invalid(
                    "global data",
                    format!(
                        "cannot allocate {} bytes for the initial value of map '{}' ({})",
                        d.bytes.len(),
                        spec.name,
                        d.section
                    ),
                )
            })?;
            map.update(&0u32.to_le_bytes(), &value, 0)?;
            let frozen = matches!(d.kind, DataKind::Rodata | DataKind::Kconfig);
            if frozen {
                map.freeze()?;
            }
            if spec.map_flags & BPF_F_MMAPABLE != 0 {
                map.map_memory(!frozen)?;
            }
        }
        if let Some(p) = &pin {
            map.pin(p)?;
            self.new_pins.0.push(p.clone());
        }
        Ok(map)
    }

    /// The address the arena should have: the loader's
    /// [`ObjectLoader::arena_address`], else the object's `map_extra`;
    /// `None` lets the crate choose.
    fn wanted_arena_address(&self, spec: &MapSpec) -> Option<u64> {
        self.l
            .arena_address
            .or((spec.map_extra != 0).then_some(spec.map_extra))
    }

    /// The arena for `spec`: reused, pinned, or created and mapped.
    fn arena_for(&mut self, spec: &MapSpec) -> Result<ObtainedArena> {
        let reused = match self.l.reuse.get(&spec.name) {
            Some(Reuse::Arena(a)) => Some(Arc::clone(a)),
            Some(Reuse::Fd(fd)) => Some(Arc::new(
                Arena::from_fd(dup(fd, &spec.name)?).map_err(mapped_here)?,
            )),
            Some(Reuse::Pinned(p)) => Some(Arc::new(Arena::open_pinned(p).map_err(mapped_here)?)),
            None => None,
        };
        if let Some(arena) = reused {
            return Ok(ObtainedArena {
                arena,
                fresh: false,
            });
        }
        let pin = self.pin_path(spec)?;
        if let Some(p) = &pin {
            if pin_exists(p)? {
                let a = Arena::open_pinned(p)?;
                // Without a fixed address, the pin's crate-chosen one is
                // expected.
                // (An explicit address of 0 means the same.)
                let want = self
                    .wanted_arena_address(spec)
                    .filter(|&w| w != 0)
                    .unwrap_or(a.map_extra());
                check_pinned(spec, p, Shape::of_arena(&a), want)?;
                return Ok(ObtainedArena {
                    arena: Arc::new(a),
                    fresh: false,
                });
            }
        }
        self.new_arena(spec, pin.as_deref())
    }

    /// Creates and maps the arena for `spec`, pinning it at `pin`.
    fn new_arena(&mut self, spec: &MapSpec, pin: Option<&Path>) -> Result<ObtainedArena> {
        let flags = ArenaFlags::from_map_flags(spec.map_flags).ok_or_else(|| {
            Error::invalid(
                "arena map",
                format!(
                    "'{}' lacks BPF_F_MMAPABLE (the kernel answers EINVAL)",
                    spec.name
                ),
            )
        })?;
        let mut b = ArenaBuilder::new(spec.max_entries);
        b.flags(flags).name(&spec.name);
        if let Some(addr) = self.wanted_arena_address(spec) {
            b.address(addr);
        }
        let a = b.create()?;
        if let Some(p) = pin {
            a.pin(p)?;
            self.new_pins.0.push(p.to_path_buf());
        }
        Ok(ObtainedArena {
            arena: Arc::new(a),
            fresh: true,
        })
    }
}

fn is_struct_ops_link(spec: &MapSpec) -> bool {
    matches!(spec.origin, MapOrigin::StructOps(_)) && spec.map_flags & BPF_F_LINK != 0
}

/// Why a `.struct_ops.link` map could not be created (`EINVAL`): if the
/// same map without `BPF_F_LINK` can be, the kernel predates struct_ops
/// links.
fn struct_ops_link_error(e: Error, spec: &MapSpec, btf: Option<BorrowedFd<'_>>) -> Error {
    let mut plain = spec.clone();
    plain.map_flags &= !BPF_F_LINK;
    match Map::create(&plain, btf, None) {
        Ok(_) => Error::NotSupported {
            what: "struct_ops maps registered through a link (.struct_ops.link, BPF_F_LINK)",
            since: "6.4",
            detail: Some(format!(
                "map '{}' (a .struct_ops map registers without one)",
                spec.name
            )),
        },
        Err(_) => e,
    }
}

/// A duplicate of the fd given for map `name` ([`ObjectLoader::reuse_map`]):
/// the loader keeps its own, so it can load again.
///
/// [`ObjectLoader::reuse_map`]: super::ObjectLoader::reuse_map
fn dup(fd: &OwnedFd, name: &str) -> Result<OwnedFd> {
    fd.try_clone().map_err(|e| Error::Syscall {
        call: "fcntl(F_DUPFD_CLOEXEC)",
        what: format!("the fd given for map '{name}'"),
        errno: sys::Errno::from_io(&e),
    })
}

/// Whether something is pinned at `p`. A symbolic link there is an error:
/// pins are never followed through links (an attacker who can write the pin
/// directory could otherwise point a by-name pin at any other pinned map).
fn pin_exists(p: &Path) -> Result<bool> {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.file_type().is_symlink() => Err(Error::WrongObject {
            what: format!("pin {}", p.display()),
            reason: "is a symbolic link; pins are not followed through links".into(),
        }),
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::Syscall {
            call: "lstat",
            what: p.display().to_string(),
            errno: sys::Errno::from_io(&e),
        }),
    }
}

/// A map pinned by name is reused only if it is what the object defines
/// (type, key and value size, max_entries, flags, map_extra), as libbpf
/// checks.
fn check_pinned(spec: &MapSpec, path: &Path, pinned: Shape, map_extra: u64) -> Result<()> {
    if pinned != Shape::of_spec(spec, map_extra) {
        return Err(Error::WrongObject {
            what: format!("map '{}' pinned at {}", spec.name, path.display()),
            reason: "its type, sizes, flags or map_extra differ from the object's definition"
                .into(),
        });
    }
    Ok(())
}

/// An arena this process maps already cannot be mapped a second time (one
/// mapping per process, at its one address): say how to share it instead.
fn mapped_here(e: Error) -> Error {
    match e {
        Error::AddressInUse { addr, len } => Error::WrongObject {
            what: format!("arena at {addr:#x}..{:#x}", addr.saturating_add(len)),
            reason: "its address range is already mapped in this process (left untouched), most likely by this same arena: an arena has one mapping per process, so to share one this process has, pass the LoadedObject::arena_handle of the object that has it to ObjectLoader::reuse_arena".into(),
        },
        e => e,
    }
}
