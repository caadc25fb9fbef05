//! Live maps (everything but arenas, which are [`crate::arena::Arena`]).

#![forbid(unsafe_code)]

pub use crate::abi::MapFlags;
use crate::error::{Error, Result};
use crate::obj::MapSpec;
use crate::sys::{self, Cmd, Errno, MapCreateAttr, OwnedMap, SharedMapping};
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
    /// Creates a map from its spec (`BPF_MAP_CREATE`, Linux 3.18; each map
    /// type and flag from its own release). `btf` (the object's
    /// loaded BTF) is passed with the key/value type ids when the spec has
    /// them; if the kernel refuses the BTF, the map is created without it, as
    /// libbpf does. `inner` is the template fd for map-in-map types.
    ///
    /// A spec with [`MapSpec::btf_vmlinux_value_type_id`] set is a
    /// struct_ops map (Linux 5.6; `BPF_F_LINK` 6.4): it is created with
    /// that kernel type id and `btf` (required: [`Error::Invalid`]
    /// without), never without BTF; the kernel answers `EINVAL` when the
    /// value size is not the kernel type's or the key size is not 4, and
    /// `ENOTSUPP` (524) for a type id that is not a struct_ops value.
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
        // A struct_ops map's value is a kernel struct: the kernel wants
        // the object's BTF with it all the same, and no key or value ids.
        let struct_ops = spec.btf_vmlinux_value_type_id != 0;
        if struct_ops {
            let b = btf.ok_or_else(|| {
                Error::invalid(
                    "map",
                    format!(
                        "struct_ops map '{}' needs the object's BTF (the kernel requires btf_fd with btf_vmlinux_value_type_id)",
                        spec.name
                    ),
                )
            })?;
            attr.btf_fd = b.as_raw_fd() as u32;
            attr.btf_vmlinux_value_type_id = spec.btf_vmlinux_value_type_id;
        }
        let with_btf = btf.filter(|_| !struct_ops && spec.value_type_id != 0);
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
        let map = OwnedMap::created(fd).map_err(|e| Error::bpf(Cmd::ObjGetInfoByFd, what(), e))?;
        Ok(Map {
            map,
            name: spec.name.clone(),
            mapping: None,
        })
    }

    /// Adopts an existing map fd, asking the kernel what it is
    /// (`BPF_OBJ_GET_INFO_BY_FD`, Linux 4.13), named by the name the
    /// kernel keeps. The fd must be a map: `BPF_OBJ_GET_INFO_BY_FD` also
    /// answers for programs, BTF objects and links, so the kind is read
    /// from `/proc/self/fdinfo` first ([`sys::fd_kind`]; needs procfs).
    ///
    /// Errors: [`Error::WrongObject`] for a program, BTF or link fd;
    /// [`Error::Syscall`] (`open /proc/self/fdinfo`) when that file cannot
    /// be read (`ENOENT` without procfs); [`Error::Bpf`]
    /// (`BPF_OBJ_GET_INFO_BY_FD`) with `EINVAL` for an fd that is not a
    /// BPF object.
    pub fn from_fd(fd: OwnedFd) -> Result<Map> {
        let map = adopt_fd(fd)?;
        let name = sys::object_name_text(&map.info().name);
        Ok(Map {
            map,
            name,
            mapping: None,
        })
    }

    /// Opens a map pinned at `path` (`BPF_OBJ_GET`, Linux 4.4, on a bpffs
    /// mount). The
    /// kernel answers `ENOENT` for no pin there, `EINVAL` for a pin that is
    /// not a map, `EPERM`/`EACCES` without the rights to the pin.
    pub fn open_pinned(path: &std::path::Path) -> Result<Map> {
        let c = sys::path_cstring(path).ok_or_else(|| Error::nul_in_path(path))?;
        let fd = sys::obj_get(&c, 0)
            .map_err(|e| Error::bpf(Cmd::ObjGet, path.display().to_string(), e))?;
        Map::from_fd(fd)
    }

    /// Pins the map at `path` (`BPF_OBJ_PIN`, Linux 4.4). The path must be inside a
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

    /// The mapped value memory of a global data map, once
    /// [`Map::map_memory`] mapped it (no system call).
    pub fn memory(&self) -> Option<MapMemory<'_>> {
        self.mapping.as_ref().map(|mapping| MapMemory {
            mapping,
            name: &self.name,
        })
    }

    /// The fd with the map's shape, for the modules that map rings.
    pub(crate) fn owned(&self) -> &OwnedMap {
        &self.map
    }

    /// The mapping itself, for the crate's own copies (the loader's
    /// globals), which word their errors themselves.
    pub(crate) fn mapping(&self) -> Option<&SharedMapping> {
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

    /// What the kernel said about the map when it was created or opened
    /// (no system call).
    pub fn info(&self) -> MapInfo {
        MapInfo::from_kernel(self.map.info())
    }

    /// The kernel's `bpf_map_info` from when the map was opened, for the
    /// crate's own checks.
    pub(crate) fn kernel_info(&self) -> &sys::MapInfo {
        self.map.info()
    }

    /// `BPF_MAP_LOOKUP_ELEM` (Linux 3.18) into `value`. `key` must be the map's key size
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

    /// `BPF_MAP_UPDATE_ELEM` (Linux 3.18) with `flags` (`BPF_ANY` = 0, `BPF_NOEXIST` = 1,
    /// `BPF_EXIST` = 2), sizes checked as for [`Map::lookup`]. The kernel
    /// answers `EEXIST`/`ENOENT` for the flag's condition, `E2BIG` for a
    /// full hash map, `EPERM` on a frozen map and `EOPNOTSUPP` on arenas.
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<()> {
        self.map
            .shape()
            .update(key, value, flags)
            .map_err(|e| Error::bpf(Cmd::MapUpdateElem, self.label(), e))
    }

    /// `BPF_MAP_DELETE_ELEM` (Linux 3.18): removes `key` (which must be the map's key
    /// size, else `EINVAL` without a system call). The kernel answers
    /// `ENOENT` for a missing key, `EINVAL` on array maps (their elements
    /// cannot be deleted), `EPERM` on a frozen map and `EOPNOTSUPP` on
    /// arenas.
    pub fn delete(&self, key: &[u8]) -> Result<()> {
        self.map
            .shape()
            .delete(key)
            .map_err(|e| Error::bpf(Cmd::MapDeleteElem, self.label(), e))
    }

    /// `BPF_MAP_GET_NEXT_KEY` (Linux 3.18; asking for the first key with
    /// `None`, 4.12): writes into `next` the key after `key`, or the first
    /// key when `key` is `None`, and returns `true`; `false` after the last
    /// key. Both must be the map's key size (else `EINVAL`
    /// without a system call). A `key` that is not in a hash map gives its
    /// first key. Arenas answer `EOPNOTSUPP`.
    pub fn next_key(&self, key: Option<&[u8]>, next: &mut [u8]) -> Result<bool> {
        match self.map.shape().next_key(key, next) {
            Ok(()) => Ok(true),
            Err(Errno::ENOENT) => Ok(false),
            Err(e) => Err(Error::bpf(Cmd::MapGetNextKey, self.label(), e)),
        }
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

/// What the kernel says about a map (`struct bpf_map_info`), from
/// [`Map::info`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MapInfo {
    /// The kernel's id for the map (Linux 4.13).
    pub id: u32,
    /// `enum bpf_map_type` (named by [`crate::abi::map_type_name`]).
    pub map_type: u32,
    /// The name as the kernel keeps it: at most 15 bytes (Linux 4.15;
    /// empty before).
    pub name: String,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Maximum number of entries (pages, for an arena).
    pub max_entries: u32,
    /// `BPF_F_*` creation flags (the fd's read-only/write-only flags are
    /// not kept by the kernel).
    pub flags: MapFlags,
    /// `map_extra` (Linux 5.16): for an arena, the user address given at
    /// creation (0 when the first `mmap` chose it).
    pub map_extra: u64,
    /// The kernel id of the map's BTF (Linux 4.18), `None` without BTF.
    pub btf_id: Option<u32>,
    /// The key's type id in that BTF (0 without).
    pub btf_key_type_id: u32,
    /// The value's type id in that BTF (0 without).
    pub btf_value_type_id: u32,
}

impl MapInfo {
    fn from_kernel(i: &sys::MapInfo) -> MapInfo {
        MapInfo {
            id: i.id,
            map_type: i.map_type,
            name: sys::object_name_text(&i.name),
            key_size: i.key_size,
            value_size: i.value_size,
            max_entries: i.max_entries,
            flags: MapFlags(i.map_flags),
            map_extra: i.map_extra,
            btf_id: (i.btf_id != 0).then_some(i.btf_id),
            btf_key_type_id: i.btf_key_type_id,
            btf_value_type_id: i.btf_value_type_id,
        }
    }

    /// The map type's name (`array`, `hash`, `arena`, …), `None` for a
    /// type this crate does not know.
    pub fn type_name(&self) -> Option<&'static str> {
        crate::abi::map_type_name(self.map_type)
    }
}

/// The mapped values of a global data map ([`Map::memory`]): plain memory
/// BPF programs read and write concurrently, so it is only copied in and
/// out, never lent out as a slice. Every copy is made of relaxed atomic
/// accesses (aligned words, then bytes): free of data races, but a value
/// of several words that a program writes at the same time can be seen
/// half old, half new.
#[derive(Clone, Copy, Debug)]
pub struct MapMemory<'a> {
    mapping: &'a SharedMapping,
    name: &'a str,
}

impl MapMemory<'_> {
    /// Length in bytes: the values' size rounded up to whole pages.
    pub fn len(&self) -> usize {
        self.mapping.len()
    }

    /// Whether the mapping is empty (never, for a mapped map).
    pub fn is_empty(&self) -> bool {
        self.mapping.is_empty()
    }

    /// Whether [`MapMemory::write`] is allowed (the map was mapped
    /// writable).
    pub fn is_writable(&self) -> bool {
        self.mapping.is_writable()
    }

    /// Copies `out.len()` bytes from offset `off`. A range past the end is
    /// [`Error::Invalid`] naming the map; no system call is made.
    pub fn read(&self, off: usize, out: &mut [u8]) -> Result<()> {
        self.mapping
            .read(off, out)
            .map_err(|_| self.out_of_bounds(off, out.len()))
    }

    /// Copies `data` to offset `off`. A range past the end, or a mapping
    /// made read-only, is [`Error::Invalid`] naming the map; no system
    /// call is made.
    pub fn write(&self, off: usize, data: &[u8]) -> Result<()> {
        match self.mapping.write(off, data) {
            Ok(()) => Ok(()),
            Err(Errno::EACCES) => Err(Error::invalid(
                "write",
                format!("map '{}' is mapped read-only", self.name),
            )),
            Err(_) => Err(self.out_of_bounds(off, data.len())),
        }
    }

    fn out_of_bounds(&self, off: usize, len: usize) -> Error {
        Error::invalid(
            "offset",
            format!(
                "{len} bytes at offset {off} are outside the {} mapped bytes of map '{}'",
                self.mapping.len(),
                self.name
            ),
        )
    }
}

/// Adopts a map fd from elsewhere ([`Map::from_fd`], the ring buffers'
/// `from_fd`): refuses fds of other BPF objects by what `/proc/self/fdinfo`
/// says they are, before the kernel's info is trusted as a map's. Errors
/// name the fd by its number (its name is not known yet).
pub(crate) fn adopt_fd(fd: OwnedFd) -> Result<OwnedMap> {
    let what = format!("map fd {}", fd.as_raw_fd());
    let kind = sys::fd_kind(fd.as_fd()).map_err(|errno| Error::Syscall {
        call: "open /proc/self/fdinfo",
        what: what.clone(),
        errno,
    })?;
    if let sys::FdKind::Program { .. } | sys::FdKind::Btf { .. } | sys::FdKind::Link { .. } = kind {
        return Err(Error::WrongObject {
            what,
            reason: format!("is {kind}, not a BPF map"),
        });
    }
    // A map, or no BPF object at all (BPF_OBJ_GET_INFO_BY_FD: EINVAL).
    OwnedMap::new(fd).map_err(|e| Error::bpf(Cmd::ObjGetInfoByFd, what, e))
}
