//! Loading an object: the only module that sequences kernel work.
//!
//! [`ObjectLoader::load`] does, in order ([address first, programs after](crate::guide::design)):
//! lay out the struct_ops maps' values against vmlinux BTF → fill in the
//! kconfig externs → fix up and load the BTF → create maps (global data
//! maps written, `.rodata` frozen, mmapped) → create or reuse, place and
//! map the arena, copy the arena globals → resolve the kfunc and ksym
//! externs → guard the arena's NULL page → relocate and load the chosen
//! programs → write the `.struct_ops.link` maps' values.
//!
//! Before loading, a caller can set any global's initial value by name, change
//! map sizes, choose which programs load, give the arena an address, and
//! reuse an existing map or arena. After loading, [`LoadedObject`] gives
//! programs and maps by name, typed access to every global by name, the arena
//! handle, and where the arena globals were placed.
//!
//! # struct_ops maps
//!
//! A variable in a `.struct_ops` or `.struct_ops.link` section fills in a
//! kernel struct of function pointers — `struct tcp_congestion_ops`,
//! `struct sched_ext_ops` — whose members point at programs of
//! `SEC("struct_ops/…")` sections. The parser makes each such variable a
//! map of type `BPF_MAP_TYPE_STRUCT_OPS` ([`crate::obj::StructOpsSpec`]);
//! the load then works from the kernel's view of that struct:
//!
//! - **Kernel types.** Before anything is created, the struct is looked up
//!   by the name of the object's struct (a `___flavour` suffix dropped) in
//!   `/sys/kernel/btf/vmlinux`, with the map value type the kernel wraps
//!   it in, `bpf_struct_ops_<name>`: a header (a reference count and a
//!   state) followed by the struct as member `data`. A kernel without the
//!   pair cannot register such a struct: [`Error::Unresolved`]. Types that
//!   kernel modules define are not looked up.
//! - **The map.** Created with the wrapper's type id as
//!   `btf_vmlinux_value_type_id`, its size as `value_size`, a 4-byte key,
//!   one entry, and the object's BTF fd, which the kernel insists on even
//!   though the value's type is its own (the key and value type ids stay
//!   0: the kernel refuses them next to a vmlinux type); `.struct_ops.link`
//!   maps get `BPF_F_LINK`.
//! - **The programs.** Each program a function pointer names is loaded
//!   with the kernel struct's type id as `attach_btf_id` and the position
//!   of that member among the kernel struct's members as
//!   `expected_attach_type`; the kernel verifies it against that member's
//!   prototype and checks both numbers again when the value is written.
//!   A program can therefore implement one member of one struct: it may
//!   fill that member in several maps, but a program named by two
//!   different members is refused at load (give each member its own
//!   program; libbpf refuses it too). A struct_ops program that fills no
//!   member cannot be loaded (the kernel would not know what it
//!   implements), and [`ObjectLoader::load_only`] must keep all of a
//!   map's programs or none (then the map is not created).
//! - **The value.** Laid out member by member, matched by name, since the
//!   object may declare only the members it sets, in any order: data
//!   members (such as `name`) are copied when their size is the kernel's;
//!   function pointers get their program's fd; the header and everything
//!   else stay zero. A member the kernel lacks is skipped when it is all
//!   zero (an object built for a newer kernel) and refused otherwise, as
//!   is a non-NULL data pointer. The kernel checks the rest when the value
//!   is written (mandatory functions, a unique name).
//! - **Registration.** A `.struct_ops.link` map's value is written at load
//!   (`BPF_MAP_UPDATE_ELEM`: the kernel builds its trampolines but
//!   registers nothing); [`LoadedObject::attach_struct_ops`] registers it
//!   through a link (Linux 6.4), dropping the link unregisters it, and the
//!   map can be linked again. A `.struct_ops` map registers when its value
//!   is written, so that write waits for
//!   [`LoadedObject::register_struct_ops`]; it unregisters with
//!   [`LoadedObject::unregister_struct_ops`] (`BPF_MAP_DELETE_ELEM`), or
//!   when the [`LoadedObject`] is dropped — closing the map's fd would not
//!   do it, as a registered map holds a reference to itself.

#![forbid(unsafe_code)]
#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable
)]

mod externs;
mod loaded;
mod plan;
mod programs;
mod stage;
mod struct_ops;

pub use externs::Resolution;
pub use loaded::LoadedObject;
pub use plan::LoadPlan;

use crate::arena::{Arena, Plain, plain_to_bytes};
use crate::error::{Error, Result};
use crate::obj::{ARENA_SECTION, DataKind, ObjectSpec, VarSpec};
use std::collections::HashMap;
use std::os::fd::OwnedFd;
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
    /// Relocating programs: subprograms appended, relocations applied
    /// (user space).
    pub relocate: Duration,
    /// The `BPF_PROG_LOAD` system calls (the verifier and JIT).
    pub prog_load: Duration,
    /// The whole of `load()`.
    pub total: Duration,
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
    guard_null_page: bool,
    log_level: u32,
    external_arena: Option<Arc<Arena>>,
    /// The first `__arena` global given a value with `set_global*` (which a
    /// reused arena would not receive).
    arena_global_set: Option<String>,
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
            guard_null_page: true,
            log_level: 0,
            external_arena: None,
            arena_global_set: None,
        }
    }

    /// Parses the object at `path` and returns a loader for it. Reads the
    /// file (`open`, `fstat`, `read`; no `bpf(2)` call).
    ///
    /// Errors: [`Error::Syscall`] with the errno when the file cannot be
    /// opened or read; [`Error::Invalid`] for a file that is not regular or
    /// is larger than [`crate::obj::MAX_OBJECT_FILE`]; [`Error::Object`]
    /// naming the section, symbol or relocation the parser refused.
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
    pub fn set_global_bytes(&mut self, name: &str, bytes: &[u8]) -> Result<&mut Self> {
        let v = self.var(name)?;
        if bytes.len() as u64 != v.size {
            return Err(Error::invalid(
                "global value",
                format!("'{name}' is {} bytes, got {}", v.size, bytes.len()),
            ));
        }
        let at = self.image_at(&v, ", set by the kernel's configuration")?;
        if at == ImageAt::Arena {
            self.arena_global_set.get_or_insert_with(|| v.name.clone());
        }
        let image = match at {
            ImageAt::Arena => self.spec.arena_data.as_mut().map(|a| &mut a.bytes),
            ImageAt::Data(i) => self.spec.data.get_mut(i).map(|d| &mut d.bytes),
        };
        let image = image.ok_or_else(|| no_such_section(name, &v.section))?;
        let len = image.len();
        image
            .write(v.offset, bytes)
            .ok_or_else(|| outside_section(&v, len))?;
        Ok(self)
    }

    /// The initial bytes of global `name` (in `.bss`, `.data`, `.rodata*`,
    /// `.data.*` or `.addr_space.1`) as the object has them now: its
    /// initialiser, zeros for `.bss`, or what
    /// [`ObjectLoader::set_global_bytes`] stored. No system call.
    ///
    /// Errors ([`Error::Invalid`]): no such global, a `.kconfig` extern
    /// (its value comes from the running kernel at load time), or a
    /// variable lying outside its section.
    pub fn global_bytes(&self, name: &str) -> Result<Vec<u8>> {
        let v = self.var(name)?;
        let image = match self.image_at(&v, ": its value is known only at load time")? {
            ImageAt::Arena => self.spec.arena_data.as_ref().map(|a| &a.bytes),
            ImageAt::Data(i) => self.spec.data.get(i).map(|d| &d.bytes),
        };
        let image = image.ok_or_else(|| no_such_section(name, &v.section))?;
        image
            .read(v.offset, v.size)
            .ok_or_else(|| outside_section(&v, image.len()))
    }

    /// The initial value of global `name` as a `T` whose size must be the
    /// variable's ([`ObjectLoader::global_bytes`], typed).
    pub fn global<T: Plain>(&self, name: &str) -> Result<T> {
        loaded::global_from_bytes(name, &self.global_bytes(name)?)
    }

    /// Where global `v`'s initial bytes are kept: the arena image, or the
    /// image of data section `i`. A `.kconfig` extern has none: an error
    /// saying so, ending with `kconfig_why`.
    fn image_at(&self, v: &VarSpec, kconfig_why: &str) -> Result<ImageAt> {
        if v.section == ARENA_SECTION {
            return Ok(ImageAt::Arena);
        }
        match self.spec.data.iter().position(|d| d.section == v.section) {
            Some(i)
                if self
                    .spec
                    .data
                    .get(i)
                    .is_some_and(|d| d.kind == DataKind::Kconfig) =>
            {
                Err(Error::invalid(
                    "global value",
                    format!("'{}' is a kconfig extern{kconfig_why}", v.name),
                ))
            }
            Some(i) => Ok(ImageAt::Data(i)),
            None => Err(no_such_section(&v.name, &v.section)),
        }
    }

    /// Sets the initial value of global `name` to `value`, whose size must
    /// be the variable's ([`ObjectLoader::set_global_bytes`] with the bytes
    /// of a [`Plain`] value; [`LoadedObject::set_global`] is the same call
    /// after the load).
    pub fn set_global<T: Plain>(&mut self, name: &str, value: T) -> Result<&mut Self> {
        self.set_global_bytes(name, &plain_to_bytes(&value))
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
    /// globals (checked at load: [`Error::Object`] naming the arena map),
    /// and an arena has at most 2²⁰ pages and 4 GiB (checked at load:
    /// [`Error::Invalid`]; the kernel would answer `EINVAL`/`E2BIG`).
    /// Errors now: [`Error::Invalid`] when the object has no arena map.
    pub fn set_arena_pages(&mut self, pages: u32) -> Result<&mut Self> {
        let arena = self.spec.arena_map();
        let m = arena
            .and_then(|i| self.spec.maps.get_mut(i))
            .ok_or_else(|| Error::invalid("arena size", "the object has no arena map"))?;
        m.max_entries = pages;
        Ok(self)
    }

    /// The page count of the object's arena map (its `max_entries`, as
    /// declared or as [`ObjectLoader::set_arena_pages`] set it); `None`
    /// when the object has no arena.
    pub fn arena_pages(&self) -> Option<u32> {
        let i = self.spec.arena_map()?;
        self.spec.maps.get(i).map(|m| m.max_entries)
    }

    /// Loads only these programs (the others are skipped).
    pub fn load_only<S: AsRef<str>>(&mut self, names: &[S]) -> Result<&mut Self> {
        if let Some(n) = names
            .iter()
            .find(|n| self.spec.program(n.as_ref()).is_none())
        {
            return Err(no_such_program(&self.spec, n.as_ref()));
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
    /// No system call now; at [`ObjectLoader::load`] the fd's map info is
    /// read (`BPF_OBJ_GET_INFO_BY_FD`: `EINVAL`/`EBADF` for an fd that is
    /// not a BPF map), and an arena that this process maps already is
    /// [`Error::WrongObject`] pointing to [`ObjectLoader::reuse_arena`].
    /// Errors now: [`Error::Invalid`] when the object has no map `name`.
    pub fn reuse_map(&mut self, name: &str, fd: OwnedFd) -> Result<&mut Self> {
        self.spec.map(name).ok_or_else(|| no_such_map(name))?;
        self.reuse.insert(name.to_string(), Reuse::Fd(fd));
        Ok(self)
    }

    /// Uses the map pinned at `path` for map `name`. No system call now; at
    /// [`ObjectLoader::load`] the pin is opened (`BPF_OBJ_GET`, Linux 4.4:
    /// `ENOENT` when nothing is pinned there, `EACCES` without permission
    /// on the bpffs file). Errors now: [`Error::Invalid`] when the object
    /// has no map `name`.
    pub fn reuse_pinned(&mut self, name: &str, path: impl Into<PathBuf>) -> Result<&mut Self> {
        self.spec.map(name).ok_or_else(|| no_such_map(name))?;
        self.reuse
            .insert(name.to_string(), Reuse::Pinned(path.into()));
        Ok(self)
    }

    /// Uses an arena already mapped in this process (another object's, or
    /// one made with [`crate::ArenaBuilder`]) for this object's arena map.
    /// An object that declares no arena map gets it too: programs that use
    /// arena pointers without naming an arena are then bound to it through
    /// `fd_array` (Linux 6.14+).
    ///
    /// The object's `__arena` globals are placed in it as in an arena of
    /// its own, but their initial values are not copied (the arena's
    /// owner may be using those bytes); a value given to one of them with
    /// [`ObjectLoader::set_global`] before the load is therefore refused at
    /// load ([`Error::Invalid`]): write it after the load with
    /// [`LoadedObject::set_global`]. Two objects whose `__arena` globals
    /// would overlap in the shared arena with different names or sizes are
    /// refused too ([`Error::WrongObject`] naming both variables): declare the
    /// same `__arena` variables in both, or give them separate arenas.
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
    /// Like every builder of the crate (setters take `&mut self`, the final
    /// call `&self`), the loader is not used up: calling `load` again loads
    /// the object again, with new maps and a new arena unless they are
    /// pinned or given ([`ObjectLoader::reuse_map`] fds are duplicated for
    /// each load; a reused arena is shared).
    ///
    /// In order: struct_ops maps are laid out against vmlinux BTF (see
    /// the [module docs](self)), the kconfig externs are filled in, the object's BTF is
    /// loaded (`BPF_BTF_LOAD`), the maps are created (global data written,
    /// `.rodata` frozen, mmapped), the arena is created or reused, placed
    /// and mapped and its globals copied, then every extern is resolved
    /// ([`ObjectLoader::plan`] shows the same step) and each chosen program
    /// is relocated and loaded (`BPF_PROG_LOAD`), and the `.struct_ops.link`
    /// maps get their values (`BPF_MAP_UPDATE_ELEM`). The first load in a
    /// process that needs kfuncs scans vmlinux BTF for their ids (a few
    /// hundred microseconds); later loads use the cache. The scan runs on
    /// the calling thread: measured on a 2-CPU machine, a helper thread
    /// overlapping it with the kernel work cost more than it hid.
    ///
    /// Needs what the object needs: `CAP_BPF` (and `CAP_PERFMON` for
    /// arenas and most tracing programs, or root), and on a kernel that
    /// lacks a feature the answer is [`Error::NotSupported`] naming the
    /// release that brought it: `.struct_ops.link` maps (6.4); the arena
    /// map type (6.9); binding the arena
    /// to a program that uses arena pointers but never names the map
    /// (`fd_array_cnt`, 6.14); an arena kfunc (`bpf_arena_reserve_pages`,
    /// 6.17) declared as a strong extern, or declared `__weak` and called
    /// without a `bpf_ksym_exists` check. A program the verifier rejects is
    /// [`Error::Verifier`], with the log; a struct_ops map whose kernel
    /// struct this kernel lacks is [`Error::Unresolved`], and one whose
    /// members do not match the kernel's [`Error::Object`] naming the map
    /// and member; other kernel refusals are [`Error::Bpf`] naming the
    /// command and the map or program (for a struct_ops value: `EEXIST`
    /// when its name is registered already, `EINVAL` for a member the
    /// kernel refuses, such as a mandatory function left unset).
    pub fn load(&self) -> Result<LoadedObject> {
        Load {
            l: self,
            spec: self.spec.clone(),
            new_pins: NewPins::default(),
            struct_ops: struct_ops::StructOpsPlan::default(),
        }
        .run()
    }
}

/// One load in progress: the loader's settings, and what the load changes
/// (its own copy of the spec, with the kconfig values written, and the pins
/// it made). The loader itself stays as it was, ready to load again.
struct Load<'l> {
    l: &'l ObjectLoader,
    spec: ObjectSpec,
    /// Pins this load created; removed if the load fails.
    new_pins: NewPins,
    /// The struct_ops maps' kernel types, values and program attach
    /// settings, decided before anything is created.
    struct_ops: struct_ops::StructOpsPlan,
}

impl Load<'_> {
    /// The pipeline of [`ObjectLoader::load`].
    fn run(mut self) -> Result<LoadedObject> {
        let start = Instant::now();
        let mut t = LoadTimings::default();
        self.struct_ops = self.plan_struct_ops()?;
        let staged = self.stage(&mut t, start)?;
        let resolve_start = Instant::now();
        let vmlinux = externs::vmlinux_kfuncs_of(&self.spec)?;
        let resolution = externs::resolve(&self.spec, &vmlinux)?;
        resolution.require_strong(&self.spec)?;
        let modules = resolution.open_modules()?;
        t.resolve_externs = t.resolve_externs.saturating_add(resolve_start.elapsed());
        if let Some(a) = staged.arena.as_ref().filter(|_| staged.guard_null_page) {
            // Before any program can run. Its built-in program calls an
            // arena kfunc: every vmlinux kfunc lookup also looks those up,
            // so after the lookup above this costs no second scan.
            let guard_start = Instant::now();
            a.guard_null_page()?;
            t.maps = t.maps.saturating_add(guard_start.elapsed());
        }
        let programs = self.load_programs(&staged, &resolution, &modules, &mut t)?;
        let plan = std::mem::take(&mut self.struct_ops);
        let struct_ops = self.write_struct_ops(plan, &staged, &programs)?;
        t.total = start.elapsed();
        if let (Some(a), Some(_)) = (&staged.arena, &self.spec.arena_data) {
            a.claim_globals(&self.globals_claim(staged.arena_offset), true)?;
        }
        // Loaded: the pins stay.
        self.new_pins.0.clear();
        Ok(LoadedObject {
            timings: t,
            spec: self.spec,
            programs,
            maps: staged.maps,
            arena: staged.arena,
            arena_offset: staged.arena_offset,
            btf: staged.btf,
            struct_ops,
        })
    }
}

fn no_such_global(name: &str) -> Error {
    Error::invalid(
        "global",
        format!("the object has no global variable '{name}'"),
    )
}

/// Where a global's initial bytes are kept ([`ObjectLoader::image_at`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum ImageAt {
    Arena,
    Data(usize),
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

/// The error for a program the object does not have, listing the ones it
/// has.
fn no_such_program(spec: &ObjectSpec, name: &str) -> Error {
    let all: Vec<&str> = spec.programs.iter().map(|p| p.name.as_str()).collect();
    Error::invalid(
        "program",
        format!(
            "object '{}' has no program '{name}' (its programs: {})",
            spec.name,
            if all.is_empty() {
                "none".to_string()
            } else {
                all.join(", ")
            }
        ),
    )
}
