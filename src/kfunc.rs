//! Kfunc resolution against the running kernel's BTF (`/sys/kernel/btf/vmlinux`).
//!
//! Kfunc BTF ids differ between kernel builds, so they are looked up by name
//! at run time. The file is read once per process — mapped read-only where
//! the kernel allows it (6.x: about 0.04 ms for 5.5 MB), read otherwise — and
//! every answer is cached.

#![forbid(unsafe_code)]

use crate::btf::{Btf, kind};
use crate::error::{Error, Result};
use crate::sys;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// Where the kernel exposes its own BTF (Linux 5.4+, `CONFIG_DEBUG_INFO_BTF`).
pub const VMLINUX_BTF_PATH: &str = "/sys/kernel/btf/vmlinux";

/// `bpf_arena_alloc_pages` (Linux 6.9).
pub const ARENA_ALLOC_PAGES: &str = "bpf_arena_alloc_pages";
/// `bpf_arena_free_pages` (Linux 6.9).
pub const ARENA_FREE_PAGES: &str = "bpf_arena_free_pages";
/// `bpf_arena_reserve_pages` (Linux 6.17).
pub const ARENA_RESERVE_PAGES: &str = "bpf_arena_reserve_pages";

/// The first Linux release with the arena kfunc `name`, for the ones this
/// crate knows (`None` for any other name).
pub fn arena_kfunc_since(name: &str) -> Option<&'static str> {
    match name {
        ARENA_ALLOC_PAGES | ARENA_FREE_PAGES => Some("6.9"),
        ARENA_RESERVE_PAGES => Some("6.17"),
        _ => None,
    }
}

enum Storage {
    Mapped(sys::MappedFile),
    Read(Vec<u8>),
}

impl Storage {
    fn bytes(&self) -> &[u8] {
        match self {
            Storage::Mapped(m) => m.bytes(),
            Storage::Read(v) => v,
        }
    }
}

/// The most of `/sys/kernel/btf/vmlinux` that is read when it cannot be
/// mapped (real ones are a few MiB).
const MAX_VMLINUX_BTF: u64 = 256 << 20;

fn read_vmlinux() -> Result<&'static [u8]> {
    // A missing file means a kernel without BTF; anything else (EMFILE,
    // EACCES, EIO) is a failure of this process's environment, said as such.
    let io = |call: &'static str, e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => not_supported(&format!("{VMLINUX_BTF_PATH}: {e}")),
        _ => Error::Syscall {
            call,
            what: VMLINUX_BTF_PATH.to_string(),
            errno: sys::Errno::from_io(&e),
        },
    };
    let file = std::fs::File::open(VMLINUX_BTF_PATH).map_err(|e| io("open", e))?;
    let storage = match sys::map_file_readonly(&file) {
        Some(m) => Storage::Mapped(m),
        None => {
            // Not mappable (an older kernel, or not sysfs): read it, bounded.
            use sys::FileReadError;
            let path = std::path::Path::new(VMLINUX_BTF_PATH);
            let v = sys::read_regular_file(path, MAX_VMLINUX_BTF).map_err(|e| match e {
                FileReadError::Io(_, sys::Errno::ENOENT) => {
                    not_supported(&format!("{VMLINUX_BTF_PATH}: no such file"))
                }
                FileReadError::Io(call, errno) => Error::Syscall {
                    call,
                    what: VMLINUX_BTF_PATH.to_string(),
                    errno,
                },
                FileReadError::NotRegular(kind) => {
                    not_supported(&format!("{VMLINUX_BTF_PATH} is {kind}"))
                }
                FileReadError::TooLarge(n) => not_supported(&format!(
                    "{VMLINUX_BTF_PATH}: {n} bytes, more than {MAX_VMLINUX_BTF}"
                )),
            })?;
            Storage::Read(v)
        }
    };
    // The process-wide cache lives for the whole process: leaking it gives
    // every view a 'static borrow without self-reference tricks.
    let storage: &'static Storage = Box::leak(Box::new(storage));
    Ok(storage.bytes())
}

fn not_supported(e: &str) -> Error {
    Error::NotSupported {
        what: "kernel BTF (/sys/kernel/btf/vmlinux)",
        since: "5.4 with CONFIG_DEBUG_INFO_BTF",
        detail: Some(e.to_string()),
    }
}

/// The raw bytes of `/sys/kernel/btf/vmlinux`, mapped (or read) once per
/// process. A failure (no such file, `EMFILE`, `EACCES`) is not cached: the
/// next call tries again.
pub fn vmlinux_bytes() -> Result<&'static [u8]> {
    // One thread reads (and leaks) the file while the others wait, so it is
    // leaked once; a failure leaves the slot empty for the next call.
    static BYTES: Mutex<Option<&'static [u8]>> = Mutex::new(None);
    let mut slot = BYTES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(b) = *slot {
        return Ok(b);
    }
    let b = read_vmlinux()?;
    *slot = Some(b);
    Ok(b)
}

/// The running kernel's BTF, indexed once per process (about 1 ms for the
/// 5.5 MB file: kfunc lookups do not need it, see [`kfunc_ids`]).
///
/// Errors when the file is missing (kernel built without
/// `CONFIG_DEBUG_INFO_BTF`) or malformed.
pub fn vmlinux_btf() -> Result<&'static Btf<'static>> {
    static BTF: OnceLock<std::result::Result<Btf<'static>, String>> = OnceLock::new();
    let bytes = vmlinux_bytes()?;
    BTF.get_or_init(|| Btf::parse(bytes).map_err(|e| format!("{VMLINUX_BTF_PATH}: {e}")))
        .as_ref()
        .map_err(|e| not_supported(e))
}

fn cache() -> &'static Mutex<HashMap<String, Option<u32>>> {
    static C: OnceLock<Mutex<HashMap<String, Option<u32>>>> = OnceLock::new();
    C.get_or_init(Default::default)
}

/// BTF ids of the named kernel functions in vmlinux BTF (`None`: this kernel
/// has no such kfunc). Names not cached yet are found in one streaming pass
/// over the mapped file ([`crate::btf::scan_by_names`], a few hundred
/// microseconds for the 5.5 MB file), together with the three arena kfuncs,
/// which the crate's own page programs need.
pub fn kfunc_ids(names: &[&str]) -> Result<Vec<Option<u32>>> {
    let mut missing: Vec<&str> = {
        let c = cache().lock().unwrap_or_else(|p| p.into_inner());
        names
            .iter()
            .copied()
            .filter(|n| !c.contains_key(*n))
            .collect()
    };
    if !missing.is_empty() {
        for a in [ARENA_ALLOC_PAGES, ARENA_FREE_PAGES, ARENA_RESERVE_PAGES] {
            if !missing.contains(&a) {
                missing.push(a);
            }
        }
        // Scan without holding the lock: another thread's cached lookups
        // stay instant meanwhile.
        let found = crate::btf::scan_by_names(vmlinux_bytes()?, kind::FUNC, &missing)
            .map_err(|e| not_supported(&format!("{VMLINUX_BTF_PATH}: {e}")))?;
        let mut c = cache().lock().unwrap_or_else(|p| p.into_inner());
        for (n, id) in missing.iter().zip(found) {
            c.insert((*n).to_string(), id);
        }
    }
    let c = cache().lock().unwrap_or_else(|p| p.into_inner());
    Ok(names.iter().map(|n| c.get(*n).copied().flatten()).collect())
}

/// The BTF id of one kernel function, or `None` if this kernel lacks it.
pub fn kfunc_id(name: &str) -> Result<Option<u32>> {
    Ok(kfunc_ids(&[name])?.first().copied().flatten())
}

/// A kfunc found in a kernel module's BTF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleKfunc {
    /// The module (`/sys/kernel/btf/<module>`).
    pub module: String,
    /// The kfunc's type id in the module's split BTF.
    pub btf_id: u32,
}

/// Looks `name` up in every loaded module's BTF (split BTF on top of
/// vmlinux, read from `/sys/kernel/btf/<module>`). `None` when no module has
/// it. Answers are cached per process (modules loaded later are not seen).
pub fn module_kfunc(name: &str) -> Result<Option<ModuleKfunc>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<ModuleKfunc>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(hit) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(name) {
        return Ok(hit.clone());
    }
    let base = vmlinux_btf()?;
    let mut found = None;
    let dir = std::path::Path::new(VMLINUX_BTF_PATH)
        .parent()
        .expect("has a parent");
    // An unreadable directory or module file (EMFILE, EACCES) makes a "not
    // found" answer unreliable: that is an error, and nothing is cached.
    let io = |what: String, e: std::io::Error| Error::Syscall {
        call: "read",
        what,
        errno: sys::Errno::from_io(&e),
    };
    let mut modules: Vec<String> = match std::fs::read_dir(dir) {
        Ok(d) => d
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<std::io::Result<_>>()
            .map_err(|e| io(dir.display().to_string(), e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io(dir.display().to_string(), e)),
    };
    modules.retain(|m| m != "vmlinux");
    modules.sort();
    for m in modules {
        let bytes = match std::fs::read(dir.join(&m)) {
            Ok(b) => b,
            // Unloaded meanwhile.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io(dir.join(&m).display().to_string(), e)),
        };
        let Ok(btf) = Btf::parse_split(&bytes, base) else {
            continue;
        };
        if let Some(id) = btf.find_by_name(kind::FUNC, name) {
            found = Some(ModuleKfunc {
                module: m,
                btf_id: id,
            });
            break;
        }
    }
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(name.to_string(), found.clone());
    Ok(found)
}

/// An fd for the kernel's own BTF object named `name` (`vmlinux` or a
/// module), found by walking `BPF_BTF_GET_NEXT_ID` (Linux 5.4) and asking
/// each id's info (`BPF_BTF_GET_FD_BY_ID`, 4.18; kernel BTF objects carry
/// their name from 5.11, when module BTF arrived). This is what `fd_array`
/// needs for module kfunc calls.
///
/// The kernel answers `EPERM` without `CAP_SYS_ADMIN`
/// ([`Error::Bpf`] naming the command); a name no BTF object has is
/// [`Error::Unresolved`].
pub fn kernel_btf_fd(name: &str) -> Result<std::os::fd::OwnedFd> {
    use std::os::fd::AsFd;
    let mut id = 0;
    loop {
        id = match sys::btf_get_next_id(id) {
            Ok(next) => next,
            Err(sys::Errno::ENOENT) => {
                return Err(Error::Unresolved {
                    what: "kernel BTF object",
                    name: name.to_string(),
                    detail: "no BTF id has this name".into(),
                });
            }
            Err(e) => {
                return Err(Error::bpf(
                    sys::Cmd::BtfGetNextId,
                    format!("looking for BTF '{name}'"),
                    e,
                ));
            }
        };
        let fd = match sys::btf_get_fd_by_id(id) {
            Ok(fd) => fd,
            Err(sys::Errno::ENOENT) => continue, // freed meanwhile
            Err(e) => {
                return Err(Error::bpf(
                    sys::Cmd::BtfGetFdById,
                    format!("BTF id {id}"),
                    e,
                ));
            }
        };
        let (info, n) = sys::btf_info(fd.as_fd())
            .map_err(|e| Error::bpf(sys::Cmd::ObjGetInfoByFd, format!("BTF id {id}"), e))?;
        if info.kernel_btf != 0 && n == name {
            return Ok(fd);
        }
    }
}
