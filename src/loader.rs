//! Loading an object: the only module that sequences kernel work.
//!
//! [`ObjectLoader::load`] does, in order ([address first, programs after](crate::guide::design)):
//! resolve externs (kfuncs, ksyms, kconfig) → fix up and load the BTF →
//! create maps (global data maps written, `.rodata` frozen, mmapped) →
//! create, place and map the arena, copy the arena globals → relocate and
//! load the chosen programs.
//!
//! Before loading, a caller can set any global's initial value by name, change
//! map sizes, choose which programs load, give the arena an address, and
//! reuse an existing map or arena. After loading, [`LoadedObject`] gives
//! programs and maps by name, typed access to every global by name, the arena
//! handle, and where the arena globals were placed.

#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable
)]

use crate::abi;
use crate::arena::{
    Arena, ArenaBuilder, ArenaFlags, ArenaPtr, BPF_F_MMAPABLE, Plain, plain_from_bytes,
    plain_to_bytes,
};
use crate::btf::kind;
use crate::error::{Error, Result};
use crate::features::{Feature, Support, probe};
use crate::kconfig;
use crate::kfunc;
use crate::map::Map;
use crate::obj::link::{self, KernelFacts, Resolved};
use crate::obj::{
    ARENA_SECTION, DataKind, ExternKind, MapOrigin, ObjectSpec, Pinning, VarSpec, zeroed_vec,
};
use crate::prog::{Program, ProgramBtf, ProgramBuilder, ProgramType};
use crate::sys::{self, Cmd, Errno};
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where [`ObjectLoader::load`] spent its time (measured with
/// `Instant::now()` around each phase; parsing happens before the loader).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadTimings {
    /// Resolving kfunc/ksym/kconfig externs (first call in a process reads
    /// vmlinux BTF and the kernel config; later calls hit the caches).
    pub resolve_externs: Duration,
    /// Fixing up the object's BTF (user space).
    pub btf_fixup: Duration,
    /// The `BPF_BTF_LOAD` system call.
    pub btf_load: Duration,
    /// Creating maps, placing and mapping the arena, writing global data,
    /// guarding the NULL page (mostly system calls and page faults).
    pub maps: Duration,
    /// Linking and relocating programs (user space).
    pub link: Duration,
    /// The `BPF_PROG_LOAD` system calls (the verifier and JIT).
    pub prog_load: Duration,
    /// The whole of `load()`.
    pub total: Duration,
}

/// Largest `ld_imm64` map-value offset every arena kernel accepts (512 MiB).
const MAX_DIRECT_OFFSET: u64 = 1 << 29;

/// Where `.addr_space.1` globals of `globals_len` bytes go in an arena of
/// `pages` pages ([design decision 5](crate::guide::design)): at the end (offset `pages * page -
/// round_up(len, page)`) when every reference stays below the 512 MiB
/// direct-value limit or `full_range()` says the kernel accepts larger
/// offsets; otherwise at offset 0. `None` when they do not fit.
pub fn globals_offset(
    pages: u32,
    globals_len: u64,
    full_range: impl FnOnce() -> bool,
) -> Option<u64> {
    let page = sys::page_size() as u64;
    let size = u64::from(pages).checked_mul(page)?;
    let end = size.checked_sub(globals_len.checked_next_multiple_of(page)?)?;
    Some(if size <= MAX_DIRECT_OFFSET || full_range() {
        end
    } else {
        0
    })
}

/// An existing map to use instead of creating one.
#[derive(Debug)]
enum Reuse {
    Fd(OwnedFd),
    Pinned(PathBuf),
    Arena(Arc<Arena>),
}

/// Pin paths a load created: unlinked on drop unless the load succeeded
/// (then the list is emptied first), so a failed load leaves no pins.
#[derive(Debug, Default)]
struct NewPins(Vec<PathBuf>);

impl Drop for NewPins {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Loads an [`ObjectSpec`] into the kernel. See the [module docs](self).
#[derive(Debug)]
pub struct ObjectLoader {
    spec: ObjectSpec,
    only: Option<Vec<String>>,
    arena_address: Option<u64>,
    reuse: HashMap<String, Reuse>,
    /// `None`: pinning attributes ignored.
    pin_root: Option<PathBuf>,
    /// Pins this load created; removed if the load fails.
    new_pins: NewPins,
    guard_null_page: bool,
    log_level: u32,
    external_arena: Option<Arc<Arena>>,
    /// Module BTF fds for module kfuncs; `fd_array[i + 1]`.
    module_btfs: Vec<(String, OwnedFd)>,
}

impl ObjectLoader {
    /// A loader for `spec`.
    pub fn new(spec: ObjectSpec) -> ObjectLoader {
        ObjectLoader {
            spec,
            only: None,
            arena_address: None,
            reuse: HashMap::new(),
            pin_root: Some(PathBuf::from("/sys/fs/bpf")),
            new_pins: NewPins::default(),
            guard_null_page: true,
            log_level: 0,
            external_arena: None,
            module_btfs: Vec::new(),
        }
    }

    /// Parses the object at `path` and returns a loader for it.
    pub fn from_file(path: impl AsRef<Path>) -> Result<ObjectLoader> {
        Ok(ObjectLoader::new(ObjectSpec::from_file(path.as_ref())?))
    }

    /// The spec as it will be loaded (with the changes made so far).
    pub fn spec(&self) -> &ObjectSpec {
        &self.spec
    }

    fn var(&self, name: &str) -> Result<VarSpec> {
        self.spec
            .variables()
            .find(|v| v.name == name)
            .cloned()
            .ok_or_else(|| no_such_global(name))
    }

    /// Sets the initial value of global `name` (in `.bss`, `.data`,
    /// `.rodata*`, `.data.*` or `.addr_space.1`); `bytes` must be exactly
    /// the variable's size.
    ///
    /// Only the bytes written are stored: a large `.bss` is not built until
    /// its map is created.
    pub fn set_global(&mut self, name: &str, bytes: &[u8]) -> Result<&mut Self> {
        let v = self.var(name)?;
        if bytes.len() as u64 != v.size {
            return Err(Error::invalid(
                "global value",
                format!("'{name}' is {} bytes, got {}", v.size, bytes.len()),
            ));
        }
        let image = if v.section == ARENA_SECTION {
            self.spec.arena_data.as_mut().map(|a| &mut a.bytes)
        } else {
            match self.spec.data.iter_mut().find(|d| d.section == v.section) {
                Some(d) if d.kind == DataKind::Kconfig => {
                    return Err(Error::invalid(
                        "global value",
                        format!("'{name}' is a kconfig extern, set by the kernel's configuration"),
                    ));
                }
                d => d.map(|d| &mut d.bytes),
            }
        };
        let image = image.ok_or_else(|| no_such_section(name, &v.section))?;
        let len = image.len();
        image
            .write(v.offset, bytes)
            .ok_or_else(|| outside_section(&v, len))?;
        Ok(self)
    }

    /// [`ObjectLoader::set_global`] for a [`Plain`] value.
    pub fn set_global_value<T: Plain>(&mut self, name: &str, value: T) -> Result<&mut Self> {
        self.set_global(name, &plain_to_bytes(&value))
    }

    /// Changes `max_entries` of map `name` (for the arena: its page count).
    pub fn set_max_entries(&mut self, name: &str, n: u32) -> Result<&mut Self> {
        let m = self
            .spec
            .maps
            .iter_mut()
            .find(|m| m.name == name)
            .ok_or_else(|| no_such_map(name))?;
        m.max_entries = n;
        Ok(self)
    }

    /// Sets the page count of the object's arena map (its `max_entries`),
    /// whatever the map is called. The pages must hold the `__arena`
    /// globals, and an arena has at most 2²⁰ pages and 4 GiB: both are
    /// checked at load ([`Error::Invalid`]; the kernel would answer
    /// `EINVAL`/`E2BIG`). Errors: [`Error::Invalid`] when the object has no
    /// arena map.
    pub fn set_arena_pages(&mut self, pages: u32) -> Result<&mut Self> {
        let i = self
            .spec
            .arena_map()
            .ok_or_else(|| Error::invalid("arena size", "the object has no arena map"))?;
        let m = self
            .spec
            .maps
            .get_mut(i)
            .ok_or_else(|| Error::invalid("arena size", "the object has no arena map"))?;
        m.max_entries = pages;
        Ok(self)
    }

    /// Loads only these programs (the others are skipped).
    pub fn load_only<S: AsRef<str>>(&mut self, names: &[S]) -> Result<&mut Self> {
        for n in names {
            if self.spec.program(n.as_ref()).is_none() {
                return Err(Error::invalid(
                    "program",
                    format!("the object has no program '{}'", n.as_ref()),
                ));
            }
        }
        self.only = Some(names.iter().map(|n| n.as_ref().to_string()).collect());
        Ok(self)
    }

    /// Maps the arena at `addr` (overrides the object's `map_extra`).
    pub fn arena_address(&mut self, addr: u64) -> &mut Self {
        self.arena_address = Some(addr);
        self
    }

    /// Uses `fd` for map `name` instead of creating it (for the arena: it is
    /// adopted and mapped at its agreed address; its globals are not copied).
    pub fn reuse_map(&mut self, name: &str, fd: OwnedFd) -> Result<&mut Self> {
        self.spec.map(name).ok_or_else(|| no_such_map(name))?;
        self.reuse.insert(name.to_string(), Reuse::Fd(fd));
        Ok(self)
    }

    /// Uses the map pinned at `path` for map `name`.
    pub fn reuse_pinned(&mut self, name: &str, path: impl Into<PathBuf>) -> Result<&mut Self> {
        self.spec.map(name).ok_or_else(|| no_such_map(name))?;
        self.reuse
            .insert(name.to_string(), Reuse::Pinned(path.into()));
        Ok(self)
    }

    /// Uses an arena already mapped in this process (another object's) for
    /// this object's arena map; its globals are not copied. An object that
    /// declares no arena map gets it too: programs that use arena pointers
    /// without naming an arena are then bound to it through `fd_array`
    /// (Linux 6.14+).
    pub fn reuse_arena(&mut self, arena: Arc<Arena>) -> &mut Self {
        match self.spec.arena_map() {
            Some(i) => {
                if let Some(m) = self.spec.maps.get(i) {
                    self.reuse.insert(m.name.clone(), Reuse::Arena(arena));
                }
            }
            None => self.external_arena = Some(arena),
        }
        self
    }

    /// Directory for `LIBBPF_PIN_BY_NAME` maps (default `/sys/fs/bpf`, as
    /// libbpf). A map pinned there under the map's name is reused if its
    /// definition matches (else [`Error::WrongObject`]); otherwise the new
    /// map is pinned there. The name is used as one path component only
    /// (a name that is not `[A-Za-z0-9_.]+`, or is `.`/`..`, is
    /// [`Error::Invalid`]), and a symbolic link at the pin path is refused,
    /// never followed. Pins this load created are removed if it fails.
    pub fn pin_root(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.pin_root = Some(dir.into());
        self
    }

    /// Ignores the object's `pinning` attributes: every map is created
    /// fresh and nothing is pinned (what `bpf-arena run` does unless given
    /// `--pin-root`). Use it for objects you did not write: a by-name pin
    /// would otherwise reuse, and let the object modify, whatever map with
    /// that name and shape is pinned under the pin root.
    pub fn ignore_pinning(&mut self) -> &mut Self {
        self.pin_root = None;
        self
    }

    /// Whether to guard the arena's NULL page before programs run (default
    /// true; see [`Arena::guard_null_page`]).
    pub fn guard_null_page(&mut self, guard: bool) -> &mut Self {
        self.guard_null_page = guard;
        self
    }

    /// Verifier log level for successful loads (failed loads always carry a log).
    pub fn log_level(&mut self, level: u32) -> &mut Self {
        self.log_level = level;
        self
    }

    /// Loads everything. On error nothing stays behind: every fd, mapping
    /// and program created so far is released.
    ///
    /// The first load in a process that needs kfuncs scans vmlinux BTF for
    /// their ids (about 0.5 ms); that scan runs on a short-lived helper
    /// thread while the kernel loads the BTF and creates the maps, and is
    /// joined before programs are linked. Later loads use the cache and start
    /// no thread.
    ///
    /// On a kernel that lacks what the object needs, the answer is
    /// [`Error::NotSupported`] naming the release that brought it: the arena
    /// map type (6.9); binding the arena to a program that uses arena
    /// pointers but never names the map (`fd_array_cnt`, 6.14); an arena
    /// kfunc (`bpf_arena_reserve_pages`, 6.17) declared as a strong extern,
    /// or declared `__weak` and called without a `bpf_ksym_exists` check.
    /// A program the verifier rejects is [`Error::Verifier`], with the log.
    pub fn load(mut self) -> Result<LoadedObject> {
        let start = Instant::now();
        let mut t = LoadTimings::default();
        // The first kfunc lookup in a process scans vmlinux BTF (~0.5 ms, a
        // serial walk over variable-length records); overlap it with the
        // kernel work below. Later loads hit the cache and spawn nothing.
        let names: Vec<String> = self
            .spec
            .externs
            .iter()
            .filter(|e| e.kind == ExternKind::Kfunc)
            .map(|e| e.essential_name().to_string())
            .collect();
        let prefetch = (!names.is_empty() && !kfunc::all_cached(&names)).then(|| {
            std::thread::spawn(move || {
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                let _ = kfunc::kfunc_ids(&refs);
            })
        });
        let staged = self.stage_kernel_objects(&mut t, start);
        if let Some(h) = prefetch {
            // Joined on every path, errors included. A failure inside shows
            // again, with its error, in resolve_externs below.
            let _ = h.join();
        }
        let (btf_fd, maps, arena, arena_offset, guard) = staged?;
        if let Some(a) = arena.as_ref().filter(|_| guard) {
            let guard_start = Instant::now();
            a.guard_null_page()?;
            t.maps = t.maps.saturating_add(guard_start.elapsed());
        }
        let resolve_start = Instant::now();
        let externs = self.resolve_externs()?;
        t.resolve_externs = t.resolve_externs.saturating_add(resolve_start.elapsed());
        let arena = arena.or(self.external_arena.take());
        let mut fds: Vec<i32> = maps
            .iter()
            .map(|m| m.as_ref().map_or(-1, |m| m.fd().as_raw_fd()))
            .collect();
        if let (Some(slot), Some(a)) = (self.spec.arena_map().and_then(|i| fds.get_mut(i)), &arena)
        {
            *slot = a.as_raw_fd();
        }
        let facts = KernelFacts {
            map_fds: &fds,
            arena_offset,
            externs: &externs,
        };
        let mut programs = Vec::new();
        for (pi, p) in self.spec.programs.iter().enumerate() {
            if self.only.as_ref().is_some_and(|o| !o.contains(&p.name)) {
                continue;
            }
            let link_start = Instant::now();
            let linked = link::link(&self.spec, pi, &facts)?;
            let attach_btf_id = attach_target(p.prog_type, p.expected_attach_type, &p.section)?;
            let bind = linked.uses_arena_cast && !linked.names_arena && arena.is_some();
            // Only a definite "no" is an error here: an inconclusive probe
            // (no privileges, no fds left) lets the kernel answer the load.
            if bind && matches!(probe(Feature::FdArrayBinding), Support::No { .. }) {
                return Err(Error::NotSupported {
                    what: "binding an arena to a program through fd_array (the program uses arena pointers but never names the arena)",
                    since: "6.14",
                    detail: Some(format!("program '{}'", p.name)),
                });
            }
            // fd_array: [0] the arena when it must be bound (else a module
            // BTF, never read), then module BTFs at the indexes kfunc calls use.
            let mut fd_array: Vec<BorrowedFd<'_>> = Vec::new();
            if bind {
                fd_array.extend(arena.as_ref().map(|a| a.fd()));
            }
            if !self.module_btfs.is_empty() {
                if let Some((_, first)) = self.module_btfs.first().filter(|_| !bind) {
                    fd_array.push(first.as_fd());
                }
                fd_array.extend(self.module_btfs.iter().map(|(_, fd)| fd.as_fd()));
            }
            let mut b = ProgramBuilder::new(p.prog_type, &linked.insns);
            b.name(&p.name)
                .license(if self.spec.license.is_empty() {
                    ""
                } else {
                    &self.spec.license
                })
                .flags(p.flags)
                .expected_attach_type(p.expected_attach_type)
                .attach_btf_id(attach_btf_id)
                .kern_version(self.spec.kern_version.unwrap_or(0))
                .fd_array(&fd_array)
                .bind_fd_array(bind)
                .log_level(self.log_level);
            if let Some(bf) = &btf_fd {
                if !linked.func_info.is_empty() {
                    b.btf(ProgramBtf {
                        btf: bf.as_fd(),
                        func_info: &linked.func_info,
                        line_info: &linked.line_info,
                        core_relos: &linked.core_relos,
                    });
                }
            }
            let load_start = Instant::now();
            t.link = t
                .link
                .saturating_add(load_start.saturating_duration_since(link_start));
            let prog = b.load().map_err(|e| missing_kfunc_called(e, &self.spec))?;
            programs.push((p.name.clone(), prog));
            t.prog_load = t.prog_load.saturating_add(load_start.elapsed());
        }
        t.total = start.elapsed();
        if let (Some(a), Some(_)) = (&arena, &self.spec.arena_data) {
            a.claim_globals(&self.globals_claim(arena_offset), true)?;
        }
        // Loaded: the pins stay.
        self.new_pins.0.clear();
        Ok(LoadedObject {
            timings: t,
            resolved: externs,
            fds,
            spec: self.spec,
            maps,
            arena,
            arena_offset,
            programs,
            _btf: btf_fd,
        })
    }

    /// kconfig values, the BTF and the maps (with the arena placed, mapped
    /// and its globals copied): the kernel work the kfunc prefetch overlaps.
    #[allow(clippy::type_complexity)]
    fn stage_kernel_objects(
        &mut self,
        t: &mut LoadTimings,
        start: Instant,
    ) -> Result<(
        Option<OwnedFd>,
        Vec<Option<Map>>,
        Option<Arc<Arena>>,
        u64,
        bool,
    )> {
        self.fill_kconfig()?;
        t.resolve_externs = start.elapsed();
        let btf_fd = self.load_btf(t)?;
        let maps_start = Instant::now();
        let (maps, arena, arena_offset, guard) =
            self.create_maps(btf_fd.as_ref().map(|f| f.as_fd()))?;
        t.maps = maps_start.elapsed();
        Ok((btf_fd, maps, arena, arena_offset, guard))
    }

    /// Writes every `.kconfig` extern's value into the `.kconfig` image
    /// (before the maps are created): the kernel configuration, or 0 for a
    /// missing weak extern; a missing strong one is an error naming it.
    fn fill_kconfig(&mut self) -> Result<()> {
        let kconfig_data = self
            .spec
            .data
            .iter()
            .position(|d| d.kind == DataKind::Kconfig);
        for e in self.spec.externs.clone() {
            let ExternKind::Kconfig { offset, size } = e.kind else {
                continue;
            };
            let value = kconfig_value(&e.name)?;
            let bytes = match value {
                Some(v) => kconfig::encode_value(&v, size as usize, self.is_char_array(e.btf_id))
                    .ok_or_else(|| {
                    Error::invalid(
                        "kconfig value",
                        format!("{}={v} does not fit the extern's {size} bytes", e.name),
                    )
                })?,
                // The image is zero already.
                None if e.weak => continue,
                None => {
                    let source = kconfig::kernel_config()
                        .map(|c| c.source.clone())
                        .unwrap_or_default();
                    return Err(Error::Unresolved {
                        what: "strong kconfig extern",
                        name: e.name.clone(),
                        detail: format!("not set in {source}"),
                    });
                }
            };
            let d = kconfig_data
                .and_then(|i| self.spec.data.get_mut(i))
                .ok_or_else(|| no_such_section(&e.name, ".kconfig"))?;
            d.bytes.write(offset, &bytes).ok_or_else(|| {
                Error::invalid(
                    "kconfig extern",
                    format!(
                        "'{}' (offset {offset:#x}, {size} bytes) lies outside the .kconfig image ({} bytes)",
                        e.name,
                        d.bytes.len()
                    ),
                )
            })?;
        }
        Ok(())
    }

    fn resolve_externs(&mut self) -> Result<Vec<Resolved>> {
        let names: Vec<&str> = self
            .spec
            .externs
            .iter()
            .filter(|e| e.kind == ExternKind::Kfunc)
            .map(|e| e.essential_name())
            .collect();
        let ids = if names.is_empty() {
            Vec::new()
        } else {
            kfunc::kfunc_ids(&names)?
        };
        let mut ids = ids.into_iter();
        let mut out = Vec::with_capacity(self.spec.externs.len());
        for e in self.spec.externs.clone() {
            let r = match e.kind {
                ExternKind::Kfunc => match ids.next().flatten() {
                    Some(id) => Resolved::BtfId { id, fd_index: 0 },
                    None => match kfunc::module_kfunc(e.essential_name())? {
                        Some(m) => {
                            let idx =
                                match self.module_btfs.iter().position(|(n, _)| *n == m.module) {
                                    Some(i) => i,
                                    None => {
                                        let fd = kfunc::kernel_btf_fd(&m.module)?;
                                        self.module_btfs.push((m.module.clone(), fd));
                                        self.module_btfs.len().saturating_sub(1)
                                    }
                                };
                            // fd_array index 0 means vmlinux: modules start at 1.
                            let fd_index = idx
                                .checked_add(1)
                                .and_then(|i| i16::try_from(i).ok())
                                .ok_or_else(|| {
                                Error::invalid(
                                    "kfunc extern",
                                    format!(
                                        "'{}' needs more module BTFs than fd_array can index",
                                        e.name
                                    ),
                                )
                            })?;
                            Resolved::BtfId {
                                id: m.btf_id,
                                fd_index,
                            }
                        }
                        None => Resolved::Missing,
                    },
                },
                ExternKind::Ksym => {
                    match kfunc::vmlinux_btf()?.find_by_name(kind::VAR, e.essential_name()) {
                        Some(id) => Resolved::BtfId { id, fd_index: 0 },
                        None => Resolved::Missing,
                    }
                }
                ExternKind::Kconfig { .. } => Resolved::Kconfig,
            };
            if r == Resolved::Missing && !e.weak {
                if let Some(since) = kfunc::arena_kfunc_since(&e.name) {
                    return Err(Error::NotSupported {
                        what: "an arena kfunc the object calls",
                        since,
                        detail: Some(format!(
                            "strong extern '{}' is not in /sys/kernel/btf/vmlinux",
                            e.name
                        )),
                    });
                }
                return Err(Error::Unresolved {
                    what: "strong extern",
                    name: e.name.clone(),
                    detail: "not in /sys/kernel/btf/vmlinux".into(),
                });
            }
            out.push(r);
        }
        Ok(out)
    }

    fn is_char_array(&self, var_id: u32) -> bool {
        let Some(btf) = self.spec.parsed_btf() else {
            return false;
        };
        let Some(h) = btf.header(var_id) else {
            return false;
        };
        let Ok(t) = btf.skip_mods(h.size_or_type) else {
            return false;
        };
        btf.array(t)
            .ok()
            .and_then(|(elem, _, _)| btf.skip_mods(elem).ok())
            .is_some_and(|e| {
                btf.header(e)
                    .is_some_and(|eh| eh.kind() == kind::INT && eh.size_or_type == 1)
                    && btf.name(e).ok() == Some("char")
            })
    }

    fn load_btf(&self, t: &mut LoadTimings) -> Result<Option<OwnedFd>> {
        let start = Instant::now();
        let Some(blob) = crate::obj::fixup_btf(&self.spec)? else {
            return Ok(None);
        };
        let sys_start = Instant::now();
        t.btf_fixup = sys_start.saturating_duration_since(start);
        let r = sys::btf_load(&blob, None);
        t.btf_load = sys_start.elapsed();
        match r {
            Ok(fd) => Ok(Some(fd)),
            Err(errno) => {
                let mut log = vec![0u8; 1 << 20];
                let _ = sys::btf_load(&blob, Some(&mut log));
                let log = String::from_utf8_lossy(&log).into_owned();
                let tail: Vec<&str> = log
                    .lines()
                    .rev()
                    .take(6)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
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
        }
    }

    #[allow(clippy::type_complexity)]
    fn create_maps(
        &mut self,
        btf: Option<BorrowedFd<'_>>,
    ) -> Result<(Vec<Option<Map>>, Option<Arc<Arena>>, u64, bool)> {
        let mut maps: Vec<Option<Map>> = Vec::with_capacity(self.spec.maps.len());
        let mut arena = None;
        let mut fresh_arena = false;
        for spec in self.spec.maps.clone() {
            if spec.is_arena() {
                let (a, fresh) = self.arena_for(&spec)?;
                arena = Some(a);
                fresh_arena = fresh;
                maps.push(None);
                continue;
            }
            let map = match self.reuse.remove(&spec.name) {
                Some(Reuse::Fd(fd)) => Map::from_fd(fd)?,
                Some(Reuse::Pinned(p)) => Map::open_pinned(&p)?,
                Some(Reuse::Arena(_)) => {
                    return Err(Error::WrongObject {
                        what: format!("map '{}'", spec.name),
                        reason: "an arena was given for it (reuse_arena), but it is not the object's arena map".into(),
                    });
                }
                None => self.create_map(&spec, btf)?,
            };
            maps.push(Some(map));
        }
        // Arena globals.
        let mut offset = 0;
        if let (Some(a), Some(data)) = (&arena, &self.spec.arena_data) {
            let page = sys::page_size() as u64;
            let g = data.bytes.len().next_multiple_of(page);
            offset = globals_offset(a.pages(), data.bytes.len(), || {
                probe(Feature::FullRangeDirectValue).is_yes()
            })
            .ok_or_else(|| {
                Error::invalid(
                    "arena size",
                    format!(
                        "{} bytes of __arena globals do not fit {} pages",
                        data.bytes.len(),
                        a.pages()
                    ),
                )
            })?;
            // Another object's globals in this arena must not overlap these
            // (checked now, recorded once the load succeeded).
            a.claim_globals(&self.globals_claim(offset), false)?;
            if fresh_arena {
                if a.flags().contains(ArenaFlags::SEGV_ON_FAULT) {
                    let n = g
                        .checked_div(page)
                        .and_then(|n| u32::try_from(n).ok())
                        .unwrap_or(u32::MAX);
                    a.alloc_pages(Some(a.ptr_at::<u8>(offset)?), n)?
                        .ok_or_else(|| {
                            Error::invalid(
                                "arena",
                                "could not allocate the pages for __arena globals",
                            )
                        })?;
                }
                // Arena pages start zeroed: only the stored bytes are copied
                // (none for a NOBITS section nobody set).
                for (at, chunk) in data.bytes.chunks() {
                    let at = offset.checked_add(at).ok_or_else(|| {
                        Error::invalid("arena size", "__arena globals past the end of the arena")
                    })?;
                    a.write_bytes(at, chunk)?;
                }
            }
        }
        // Guard the NULL page of an arena made here, unless the globals sit
        // on it (they are placed at 0 only when the end is out of reach).
        let guard = fresh_arena
            && self.guard_null_page
            && arena.as_ref().is_some_and(|a| a.has_null_page())
            && !(offset == 0 && self.spec.arena_data.is_some());
        Ok((maps, arena, offset, guard))
    }

    /// The `__arena` globals of this object, placed at arena offset `base`.
    fn globals_claim(&self, base: u64) -> crate::arena::GlobalsClaim {
        crate::arena::GlobalsClaim {
            object: self.spec.name.clone(),
            vars: self
                .spec
                .variables()
                .filter(|v| v.section == ARENA_SECTION)
                .map(|v| crate::arena::PlacedVar {
                    name: v.name.clone(),
                    at: base.saturating_add(v.offset),
                    size: v.size,
                })
                .collect(),
        }
    }

    /// Where a by-name map is pinned: `None` without by-name pinning or
    /// with pinning ignored. The name must be one safe path component.
    fn pin_path(&self, spec: &crate::obj::MapSpec) -> Result<Option<PathBuf>> {
        let Some(root) = self
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

    fn create_map(
        &mut self,
        spec: &crate::obj::MapSpec,
        btf: Option<BorrowedFd<'_>>,
    ) -> Result<Map> {
        let pin = self.pin_path(spec)?;
        if let Some(p) = &pin {
            if pin_exists(p)? {
                let m = Map::open_pinned(p)?;
                check_pinned(spec, p, m.kernel_info(), spec.map_extra)?;
                return Ok(m);
            }
        }
        let inner = match &spec.inner {
            Some(i) => Some(Map::create(i, btf, None)?),
            None => None,
        };
        let mut map = Map::create(spec, btf, inner.as_ref().map(|m| m.fd()))?;
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
            MapOrigin::Declared => None,
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

    /// The arena for `spec`: reused, pinned, or created and mapped. Returns
    /// whether it was created here (then the globals are copied).
    fn arena_for(&mut self, spec: &crate::obj::MapSpec) -> Result<(Arc<Arena>, bool)> {
        let pin = self.pin_path(spec)?;
        match self.reuse.remove(&spec.name) {
            Some(Reuse::Arena(a)) => return Ok((a, false)),
            Some(Reuse::Fd(fd)) => {
                return Ok((Arc::new(Arena::from_fd(fd).map_err(mapped_here)?), false));
            }
            Some(Reuse::Pinned(p)) => {
                return Ok((
                    Arc::new(Arena::open_pinned(&p).map_err(mapped_here)?),
                    false,
                ));
            }
            None => {}
        }
        if let Some(p) = pin.as_ref() {
            if !pin_exists(p)? {
                return self.new_arena(spec, pin.as_deref());
            }
            let a = Arena::open_pinned(p)?;
            let info = sys::map_info(a.fd()).map_err(|e| {
                Error::bpf(Cmd::ObjGetInfoByFd, format!("arena '{}'", spec.name), e)
            })?;
            // Without a fixed address, the pin's crate-chosen one is expected.
            let want_extra = self.arena_address.unwrap_or(spec.map_extra);
            check_pinned(
                spec,
                p,
                &info,
                if want_extra == 0 {
                    info.map_extra
                } else {
                    want_extra
                },
            )?;
            return Ok((Arc::new(a), false));
        }
        self.new_arena(spec, None)
    }

    /// Creates and maps the arena for `spec`, pinning it at `pin`.
    fn new_arena(
        &mut self,
        spec: &crate::obj::MapSpec,
        pin: Option<&Path>,
    ) -> Result<(Arc<Arena>, bool)> {
        let mut b = ArenaBuilder::new(spec.max_entries)
            .flags(ArenaFlags::from_bits_retain(
                spec.map_flags & !BPF_F_MMAPABLE,
            ))
            .name(&spec.name);
        if let Some(addr) = self
            .arena_address
            .or((spec.map_extra != 0).then_some(spec.map_extra))
        {
            b = b.address(addr);
        }
        if spec.map_flags & BPF_F_MMAPABLE == 0 {
            return Err(Error::invalid(
                "arena map",
                format!(
                    "'{}' lacks BPF_F_MMAPABLE (the kernel answers EINVAL)",
                    spec.name
                ),
            ));
        }
        let a = b.create()?;
        if let Some(p) = pin {
            a.pin(p)?;
            self.new_pins.0.push(p.to_path_buf());
        }
        Ok((Arc::new(a), true))
    }
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
fn check_pinned(
    spec: &crate::obj::MapSpec,
    path: &Path,
    i: &sys::MapInfo,
    map_extra: u64,
) -> Result<()> {
    let pinned = (
        i.map_type,
        i.key_size,
        i.value_size,
        i.max_entries,
        i.map_flags,
        i.map_extra,
    );
    let defined = (
        spec.map_type,
        spec.key_size,
        spec.value_size,
        spec.max_entries,
        spec.map_flags,
        map_extra,
    );
    if pinned != defined {
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

fn no_such_global(name: &str) -> Error {
    Error::invalid(
        "global",
        format!("the object has no global variable '{name}'"),
    )
}

fn no_such_section(name: &str, section: &str) -> Error {
    Error::invalid(
        "global",
        format!("'{name}' is in section '{section}', which the object does not have"),
    )
}

fn outside_section(v: &VarSpec, len: u64) -> Error {
    Error::invalid(
        "global",
        format!(
            "'{}' (offset {:#x}, {} bytes) lies outside section '{}' ({len} bytes)",
            v.name, v.offset, v.size, v.section
        ),
    )
}

fn no_such_map(name: &str) -> Error {
    Error::invalid("map", format!("the object has no map '{name}'"))
}

/// A kconfig value: virtual externs first, then the kernel configuration.
fn kconfig_value(name: &str) -> Result<Option<String>> {
    if name == "LINUX_KERNEL_VERSION" {
        let r = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let mut it = r
            .trim()
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|p| p.parse::<u32>().ok());
        let (a, b, c) = (
            it.next().unwrap_or(0),
            it.next().unwrap_or(0),
            it.next().unwrap_or(0).min(255),
        );
        return Ok(Some(((a << 16) | (b << 8) | c).to_string()));
    }
    if !name.starts_with("CONFIG_") {
        return Ok(None);
    }
    Ok(kconfig::kernel_config()?.values.get(name).cloned())
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
            detail: format!("named by section '{section}'; not in /sys/kernel/btf/vmlinux"),
        })
}

/// A verifier rejection at a call the linker poisoned (a `__weak` kfunc
/// extern this kernel lacks, called where no `bpf_ksym_exists` check
/// removed the call) is, for the arena kfuncs, a missing kernel feature:
/// [`Error::NotSupported`] naming the kfunc and the release that brought it.
/// Any other error passes through.
fn missing_kfunc_called(e: Error, spec: &ObjectSpec) -> Error {
    let Error::Verifier(v) = &e else {
        return e;
    };
    let called = v
        .error_line()
        .and_then(|l| l.split("invalid func unknown#").nth(1))
        .and_then(|n| n.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<i64>().ok())
        .and_then(|n| n.checked_sub(i64::from(link::POISON_KFUNC_CALL_BASE)))
        .and_then(|x| usize::try_from(x).ok())
        .and_then(|x| spec.externs.get(x));
    match called.and_then(|ext| Some((ext, kfunc::arena_kfunc_since(&ext.name)?))) {
        Some((ext, since)) => Error::NotSupported {
            what: "an arena kfunc the object calls",
            since,
            detail: Some(format!(
                "program '{}' calls {} (a __weak extern, not in /sys/kernel/btf/vmlinux) without checking bpf_ksym_exists",
                v.program, ext.name
            )),
        },
        None => e,
    }
}

/// A loaded object: its maps, arena and programs. Dropping it releases them
/// (programs first, then maps, then the arena unless another owner holds it).
#[derive(Debug)]
pub struct LoadedObject {
    timings: LoadTimings,
    resolved: Vec<Resolved>,
    fds: Vec<i32>,
    spec: ObjectSpec,
    programs: Vec<(String, Program)>,
    maps: Vec<Option<Map>>,
    arena: Option<Arc<Arena>>,
    arena_offset: u64,
    _btf: Option<OwnedFd>,
}

impl LoadedObject {
    /// Where the load spent its time.
    pub fn timings(&self) -> LoadTimings {
        self.timings
    }

    /// The final instructions and BTF records of program `name`, relocated
    /// with this object's real map fds, arena placement and extern ids —
    /// what was handed to `BPF_PROG_LOAD`.
    pub fn linked(&self, name: &str) -> Result<link::LinkedProgram> {
        let pi = self
            .spec
            .programs
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| {
                Error::invalid("program", format!("the object has no program '{name}'"))
            })?;
        let facts = KernelFacts {
            map_fds: &self.fds,
            arena_offset: self.arena_offset,
            externs: &self.resolved,
        };
        Ok(link::link(&self.spec, pi, &facts)?)
    }

    /// The object's BTF as loaded into the kernel, if it has BTF.
    pub fn btf_fd(&self) -> Option<BorrowedFd<'_>> {
        self._btf.as_ref().map(|f| f.as_fd())
    }

    /// The spec it was loaded from (with the loader's changes).
    pub fn spec(&self) -> &ObjectSpec {
        &self.spec
    }

    /// A loaded program by name.
    ///
    /// Errors ([`Error::Invalid`]): the object has no such program (the
    /// error lists the ones it has), or [`ObjectLoader::load_only`] left it
    /// out.
    pub fn program(&self, name: &str) -> Result<&Program> {
        if let Some((_, p)) = self.programs.iter().find(|(n, _)| n == name) {
            return Ok(p);
        }
        let reason = if self.spec.program(name).is_some() {
            format!("'{name}' was not loaded (ObjectLoader::load_only left it out)")
        } else {
            let all: Vec<&str> = self.spec.programs.iter().map(|p| p.name.as_str()).collect();
            format!(
                "object '{}' has no program '{name}' (its programs: {})",
                self.spec.name,
                if all.is_empty() {
                    "none".to_string()
                } else {
                    all.join(", ")
                }
            )
        };
        Err(Error::invalid("program", reason))
    }

    /// The loaded programs, in object order.
    pub fn programs(&self) -> impl Iterator<Item = (&str, &Program)> {
        self.programs.iter().map(|(n, p)| (n.as_str(), p))
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
    /// ([`ObjectLoader::reuse_arena`]).
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
    /// frozen, or `.kconfig`).
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
        let b = self.global_bytes(name)?;
        plain_from_bytes(&b).ok_or_else(|| {
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
        self.programs.clear();
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;
    use crate::error::VerifierError;

    /// What 6.12 (no `bpf_arena_reserve_pages`) answers for `pages.bpf.o`'s
    /// `page_rules`, which calls the kfunc unchecked.
    #[test]
    fn a_poisoned_arena_kfunc_call_names_the_release() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/bpf-asm/pages.bpf.o");
        let spec = ObjectSpec::parse("pages", &std::fs::read(path).unwrap()).unwrap();
        let x = spec
            .externs
            .iter()
            .position(|e| e.name == kfunc::ARENA_RESERVE_PAGES)
            .unwrap();
        let n = i64::from(link::POISON_KFUNC_CALL_BASE) + x as i64;
        let rejected = |n: i64| {
            let log = format!(
                "0: R1=ctx() R10=fp0\n31: (85) call unknown#{n}\ninvalid func unknown#{n}\nprocessed 32 insns (limit 1000000) max_states_per_insn 0 total_states 2 peak_states 2 mark_read 1\n"
            );
            Error::Verifier(Box::new(VerifierError::new(
                "page_rules".into(),
                Errno::EINVAL,
                log,
            )))
        };
        match missing_kfunc_called(rejected(n), &spec) {
            Error::NotSupported { since, detail, .. } => {
                assert_eq!(since, "6.17");
                assert!(detail.unwrap().contains("bpf_arena_reserve_pages"));
            }
            e => panic!("{e}"),
        }
        // A helper id that is no poisoned extern stays a verifier error.
        assert!(matches!(
            missing_kfunc_called(rejected(212), &spec),
            Error::Verifier(_)
        ));
        assert!(matches!(
            missing_kfunc_called(rejected(n + 1000), &spec),
            Error::Verifier(_)
        ));
    }
}
