//! Live maps (everything but arenas, which are [`crate::arena::Arena`]).

use crate::error::{Error, Result};
use crate::obj::MapSpec;
use crate::sys::{self, Cmd, MapCreateAttr, OwnedMap, SharedMapping};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// A map the crate created or adopted. Dropping it unmaps its memory (for
/// global data) and closes the fd.
#[derive(Debug)]
pub struct Map {
    map: OwnedMap,
    name: String,
    mapping: Option<SharedMapping>,
}

impl Map {
    /// Creates a map from its spec (`BPF_MAP_CREATE`). `btf` (the object's
    /// loaded BTF) is passed with the key/value type ids when the spec has
    /// them; if the kernel refuses the BTF, the map is created without it, as
    /// libbpf does. `inner` is the template fd for map-in-map types.
    ///
    /// Needs `CAP_BPF` (or `CAP_SYS_ADMIN`) for most map types: the kernel
    /// answers `EPERM` otherwise. A map type, flag or size the running kernel
    /// does not know is `EINVAL` (`E2BIG` for sizes past its limits), a bad
    /// name [`Error::Invalid`] before any call. For arenas use
    /// [`ArenaBuilder`](crate::arena::ArenaBuilder), which also maps them.
    pub fn create(
        spec: &MapSpec,
        btf: Option<BorrowedFd<'_>>,
        inner: Option<BorrowedFd<'_>>,
    ) -> Result<Map> {
        let mut attr = MapCreateAttr {
            map_type: spec.map_type,
            key_size: spec.key_size,
            value_size: spec.value_size,
            max_entries: spec.max_entries,
            map_flags: spec.map_flags,
            numa_node: spec.numa_node,
            map_name: sys::object_name_prefix(&spec.name).ok_or_else(|| {
                Error::invalid("map name", format!("{:?} contains a NUL byte", spec.name))
            })?,
            inner_map_fd: inner.map_or(0, |f| f.as_raw_fd() as u32),
            map_extra: spec.map_extra,
            ..Default::default()
        };
        let with_btf = btf.filter(|_| spec.value_type_id != 0);
        if let Some(b) = with_btf {
            attr.btf_fd = b.as_raw_fd() as u32;
            attr.btf_key_type_id = spec.key_type_id;
            attr.btf_value_type_id = spec.value_type_id;
        }
        let what = || format!("map '{}'", spec.name);
        let fd = match sys::map_create(&attr) {
            Ok(fd) => fd,
            Err(_) if with_btf.is_some() => {
                attr.btf_fd = 0;
                attr.btf_key_type_id = 0;
                attr.btf_value_type_id = 0;
                sys::map_create(&attr).map_err(|e| Error::bpf(Cmd::MapCreate, what(), e))?
            }
            Err(e) => return Err(Error::bpf(Cmd::MapCreate, what(), e)),
        };
        Map::from_fd_named(fd, &spec.name)
    }

    /// Adopts an existing map fd, asking the kernel what it is
    /// (`BPF_OBJ_GET_INFO_BY_FD`, any kernel with BPF). An fd that is not a
    /// BPF map is `EINVAL` from the kernel ([`Error::Bpf`]).
    pub fn from_fd(fd: OwnedFd) -> Result<Map> {
        Map::from_fd_named(fd, "")
    }

    fn from_fd_named(fd: OwnedFd, name: &str) -> Result<Map> {
        let map = OwnedMap::new(fd)
            .map_err(|e| Error::bpf(Cmd::ObjGetInfoByFd, format!("map '{name}'"), e))?;
        let kname = String::from_utf8_lossy(&map.info().name)
            .trim_end_matches('\0')
            .to_string();
        let name = if name.is_empty() {
            kname
        } else {
            name.to_string()
        };
        Ok(Map {
            map,
            name,
            mapping: None,
        })
    }

    /// Opens a map pinned at `path` (`BPF_OBJ_GET`, on a bpffs mount). The
    /// kernel answers `ENOENT` for no pin there, `EINVAL` for a pin that is
    /// not a map, `EPERM`/`EACCES` without the rights to the pin.
    pub fn open_pinned(path: &std::path::Path) -> Result<Map> {
        let c = sys::path_cstring(path).ok_or_else(|| Error::nul_in_path(path))?;
        let fd = sys::obj_get(&c, 0)
            .map_err(|e| Error::bpf(Cmd::ObjGet, path.display().to_string(), e))?;
        Map::from_fd(fd)
    }

    /// Pins the map at `path` (`BPF_OBJ_PIN`). The path must be inside a
    /// bpffs mount (else `EPERM`), its directory must exist (`ENOENT`) and
    /// the name be free (`EEXIST`); a path with a NUL byte is
    /// [`Error::Invalid`].
    pub fn pin(&self, path: &std::path::Path) -> Result<()> {
        let c = sys::path_cstring(path).ok_or_else(|| Error::nul_in_path(path))?;
        sys::obj_pin(self.map.fd(), &c).map_err(|e| {
            Error::bpf(
                Cmd::ObjPin,
                format!("map '{}' at {}", self.name, path.display()),
                e,
            )
        })
    }

    /// Maps the values of an mmapable array map (`BPF_F_MMAPABLE`, Linux
    /// 5.5; global data maps are such arrays) so [`Map::memory`] can read
    /// and write them without system calls. Does nothing for maps without
    /// `BPF_F_MMAPABLE`; other mmapable map types (ring buffers, arenas) are
    /// [`Error::Syscall`] with `EINVAL`. A frozen map needs `writable =
    /// false` (the kernel answers `EPERM` otherwise).
    pub fn map_memory(&mut self, writable: bool) -> Result<()> {
        if self.map.info().map_flags & sys::BPF_F_MMAPABLE == 0 {
            return Ok(());
        }
        let m = SharedMapping::of_array(&self.map, writable).map_err(|e| Error::Syscall {
            call: "mmap",
            what: format!("map '{}'", self.name),
            errno: e,
        })?;
        self.mapping = Some(m);
        Ok(())
    }

    /// The mapped value memory of a global data map.
    pub fn memory(&self) -> Option<&SharedMapping> {
        self.mapping.as_ref()
    }

    /// Name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The fd.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.map.fd()
    }

    /// The kernel's `bpf_map_info` from when the map was opened.
    pub fn info(&self) -> &sys::MapInfo {
        self.map.info()
    }

    /// `BPF_MAP_LOOKUP_ELEM` into `value`. `key` must be the map's key size
    /// and `value` at least its value size (per-CPU maps: the value size
    /// rounded up to 8, times the possible CPUs); otherwise the answer is
    /// `EINVAL` ([`Error::Bpf`]) without a system call, so the kernel never
    /// writes past `value`. The kernel answers `ENOENT` for a missing key,
    /// `EINVAL` on arenas (they have no elements) and `EPERM` on maps
    /// created write-only for user space.
    pub fn lookup(&self, key: &[u8], value: &mut [u8]) -> Result<()> {
        self.map
            .shape()
            .lookup(key, value, 0)
            .map_err(|e| Error::bpf(Cmd::MapLookupElem, self.label(), e))
    }

    /// `BPF_MAP_UPDATE_ELEM` with `flags` (`BPF_ANY` = 0, `BPF_NOEXIST` = 1,
    /// `BPF_EXIST` = 2), sizes checked as for [`Map::lookup`]. The kernel
    /// answers `EEXIST`/`ENOENT` for the flag's condition, `E2BIG` for a
    /// full hash map, `EPERM` on a frozen map and `EOPNOTSUPP` on arenas.
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<()> {
        self.map
            .shape()
            .update(key, value, flags)
            .map_err(|e| Error::bpf(Cmd::MapUpdateElem, self.label(), e))
    }

    /// The element-call view (`lookup`, `update`, `delete`, `next_key` with
    /// flags), without a system call.
    pub fn shape(&self) -> sys::MapShape<'_> {
        self.map.shape()
    }

    /// `BPF_MAP_FREEZE` (Linux 5.2): from now on user space can no longer
    /// write the map (updates and writable mappings are `EPERM`); BPF
    /// programs still can. The kernel answers `EBUSY` while the map has a
    /// writable mapping, and freezing twice is `EBUSY` too.
    pub fn freeze(&self) -> Result<()> {
        sys::map_freeze(self.map.fd()).map_err(|e| Error::bpf(Cmd::MapFreeze, self.label(), e))
    }

    fn label(&self) -> String {
        format!("map '{}'", self.name)
    }
}

impl AsFd for Map {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.map.fd()
    }
}
