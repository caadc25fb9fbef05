//! Attaching programs to kernel events: [`Link`], the kernel object an
//! attachment creates.
//!
//! Every attachment here is a `bpf_link` (Linux 5.7+): an fd that holds the
//! program on its hook. Closing the last fd detaches it, unless the link is
//! pinned in a bpffs, which keeps it attached until the pin is removed.
//! [`Link::attach`] takes an [`AttachTarget`] — read from a section name
//! with [`AttachTarget::from_section`], or built by hand — and uses, per
//! kind:
//!
//! | target | kernel calls | since |
//! |---|---|---|
//! | `raw_tp/NAME` | `BPF_RAW_TRACEPOINT_OPEN` with the name | 4.17 |
//! | `tp_btf`, `fentry`, `fexit`, `fmod_ret`, `lsm` | `BPF_RAW_TRACEPOINT_OPEN` without a name (the target was fixed at load) | 5.5 (LSM 5.7) |
//! | `iter/NAME` | `BPF_LINK_CREATE` (`BPF_TRACE_ITER`); [`Link::open_iter`] is `BPF_ITER_CREATE` | 5.8 |
//! | `tracepoint/CAT/NAME` | the id from tracefs, `perf_event_open`, `BPF_LINK_CREATE` (`BPF_PERF_EVENT`) | 5.15 |
//! | `kprobe`, `kretprobe` | `perf_event_open` on the `kprobe` PMU, `BPF_LINK_CREATE` (`BPF_PERF_EVENT`) | 5.15, `CONFIG_KPROBES` |
//! | `uprobe`, `uretprobe` | the function's file offset from the ELF, `perf_event_open` on the `uprobe` PMU, `BPF_LINK_CREATE` | 5.15 |
//! | `xdp` | `BPF_LINK_CREATE` (`BPF_XDP`) on the interface | 5.9 |
//! | `tcx/ingress`, `tcx/egress` | `BPF_LINK_CREATE` (`BPF_TCX_*`) on the interface | 6.6 |
//! | `cgroup_skb/…`, `cgroup/…` | `BPF_LINK_CREATE` on the cgroup directory's fd | 5.7 |
//! | struct_ops maps | `BPF_LINK_CREATE` (`BPF_STRUCT_OPS`) with the map's fd ([`Link::attach_struct_ops`]) | 6.4 |
//!
//! When tracefs is not mounted, a tracepoint's id is read from a private
//! tracefs instance that is mounted nowhere (`fsopen` + `fsmount`, Linux
//! 5.2): nothing becomes visible to other processes, and it is gone when
//! the lookup ends.

#![forbid(unsafe_code)]

pub use crate::abi::LinkType;
use crate::error::{Error, Result};
use crate::map::Map;
pub use crate::obj::{AttachTarget, BtfKind, Iface, Needs};
use crate::prog::Program;
use crate::sys::{self, Cmd, Errno, FileReadError, LinkCreateAttr, LinkInfoRaw};
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// An attachment: owns the `bpf_link` fd (and the perf event it hangs on,
/// for tracepoints and probes). Dropping it detaches the program unless the
/// link was pinned ([`Link::pin`]).
#[derive(Debug)]
pub struct Link {
    // Declared first: dropped before the perf event it is attached to.
    fd: OwnedFd,
    perf_event: Option<OwnedFd>,
    target: Option<AttachTarget>,
}

impl AsFd for Link {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Link {
    /// Attaches `prog` to `target` (see the table in the [module
    /// docs](self) for the kernel call per kind).
    ///
    /// Errors: a target that still needs an interface or cgroup
    /// ([`AttachTarget::needs`]), names a missing interface, or a cgroup
    /// path that is not a directory is [`Error::Invalid`] naming the
    /// program and target; a missing kprobe or uprobe PMU, or a kernel too
    /// old for the kind, [`Error::NotSupported`]; the kernel's refusal
    /// [`Error::Bpf`] (`BPF_LINK_CREATE` or `BPF_RAW_TRACEPOINT_OPEN`,
    /// naming the program and target): `EINVAL` for a program of another
    /// type or attach type than the target wants, `ENOENT` for an unknown
    /// raw tracepoint, `EBUSY` where the hook already holds an exclusive
    /// program (a second XDP link on one interface), `EPERM` without the
    /// capability the hook needs.
    pub fn attach(prog: &Program, target: &AttachTarget) -> Result<Link> {
        check_type(prog, target)?;
        let what = || format!("program '{}' to {target}", prog.name());
        let bpf_err = |cmd| move |e| Error::bpf(cmd, what(), e);
        let link = |fd| Link {
            fd,
            perf_event: None,
            target: Some(target.clone()),
        };
        match target {
            AttachTarget::RawTracepoint { name } => {
                let c = c_string("raw tracepoint name", name)?;
                sys::raw_tracepoint_open(prog.fd(), Some(&c))
                    .map(link)
                    .map_err(bpf_err(Cmd::RawTracepointOpen))
            }
            AttachTarget::Btf { .. } => sys::raw_tracepoint_open(prog.fd(), None)
                .map(link)
                .map_err(bpf_err(Cmd::RawTracepointOpen)),
            AttachTarget::Iter { .. } => sys::link_create_iter(prog.fd(), &[])
                .map(link)
                .map_err(bpf_err(Cmd::LinkCreate)),
            AttachTarget::Tracepoint { category, name } => {
                let id = tracepoint_id(category, name)?;
                let pfd = sys::perf_event_open(PERF_TYPE_TRACEPOINT, id, None, 0, -1)
                    .map_err(|e| perf_error(format!("tracepoint {category}/{name}"), e))?;
                perf_link(prog, pfd, target)
            }
            AttachTarget::Kprobe {
                function,
                offset,
                retprobe,
            } => {
                if function.is_empty() {
                    return Err(Error::invalid(
                        "attach target",
                        format!("program '{}': a kprobe needs a function name", prog.name()),
                    ));
                }
                let pmu = Pmu::read("kprobe")?;
                let config = pmu.config(*retprobe)?;
                let c = c_string("kprobe function", function)?;
                let pfd = sys::perf_event_open(pmu.type_, config, Some(&c), *offset, -1)
                    .map_err(|e| perf_error(format!("kprobe on {}", target.target()), e))?;
                perf_link(prog, pfd, target)
            }
            AttachTarget::Uprobe {
                path,
                function,
                offset,
                retprobe,
                pid,
            } => {
                if path.as_os_str().is_empty() || function.as_deref() == Some("") {
                    return Err(Error::invalid(
                        "attach target",
                        format!(
                            "program '{}': a uprobe needs a binary and a function name",
                            prog.name()
                        ),
                    ));
                }
                let file_offset = match function {
                    Some(f) => uprobe_offset(path, f)?
                        .checked_add(*offset)
                        .ok_or_else(|| {
                            Error::invalid("uprobe offset", format!("{target} overflows"))
                        })?,
                    None => *offset,
                };
                let pmu = Pmu::read("uprobe")?;
                let config = pmu.config(*retprobe)?;
                let c = sys::path_cstring(path).ok_or_else(|| Error::nul_in_path(path))?;
                let pfd = sys::perf_event_open(
                    pmu.type_,
                    config,
                    Some(&c),
                    file_offset,
                    pid.unwrap_or(-1),
                )
                .map_err(|e| perf_error(format!("uprobe on {}", target.target()), e))?;
                perf_link(prog, pfd, target)
            }
            AttachTarget::Xdp { iface } => {
                let attr = LinkCreateAttr {
                    prog_fd: fd_u32(prog.fd()),
                    target: ifindex(iface, prog, target)?,
                    attach_type: crate::abi::BPF_XDP,
                    ..Default::default()
                };
                sys::link_create(&attr)
                    .map(link)
                    .map_err(bpf_err(Cmd::LinkCreate))
            }
            AttachTarget::Tcx { iface, egress } => {
                let attr = LinkCreateAttr {
                    prog_fd: fd_u32(prog.fd()),
                    target: ifindex(iface, prog, target)?,
                    attach_type: if *egress {
                        crate::abi::BPF_TCX_EGRESS
                    } else {
                        crate::abi::BPF_TCX_INGRESS
                    },
                    ..Default::default()
                };
                sys::link_create(&attr)
                    .map(link)
                    .map_err(bpf_err(Cmd::LinkCreate))
            }
            AttachTarget::Cgroup {
                path, attach_type, ..
            } => {
                let Some(path) = path else {
                    return Err(needs_error(prog, target));
                };
                let dir = open_dir(path, prog, target)?;
                let attr = LinkCreateAttr {
                    prog_fd: fd_u32(prog.fd()),
                    target: dir.as_raw_fd() as u32,
                    attach_type: *attach_type,
                    ..Default::default()
                };
                sys::link_create(&attr)
                    .map(link)
                    .map_err(bpf_err(Cmd::LinkCreate))
            }
        }
    }

    /// Attaches struct_ops map `map` (`BPF_LINK_CREATE` with
    /// `BPF_STRUCT_OPS` and the map's fd, Linux 6.4): registers the kernel
    /// struct its value fills (a TCP congestion control, a scheduler…).
    /// The map must have been created with `BPF_F_LINK` (a
    /// `.struct_ops.link` section): the kernel answers `EINVAL` otherwise,
    /// and `EEXIST` when the struct's name is already registered.
    pub fn attach_struct_ops(map: &Map) -> Result<Link> {
        let attr = LinkCreateAttr {
            prog_fd: fd_u32(map.fd()),
            attach_type: crate::abi::BPF_STRUCT_OPS,
            ..Default::default()
        };
        let fd = sys::link_create(&attr).map_err(|e| {
            Error::bpf(
                Cmd::LinkCreate,
                format!("struct_ops map '{}'", map.name()),
                e,
            )
        })?;
        Ok(Link {
            fd,
            perf_event: None,
            target: None,
        })
    }

    /// Adopts a link fd (from [`Link::open_pinned`], `BPF_LINK_GET_FD_BY_ID`
    /// or another process). What the fd is comes from
    /// `/proc/self/fdinfo` (so `/proc` must be mounted: [`Error::Syscall`]
    /// otherwise): a map, program or BTF fd is [`Error::WrongObject`], a
    /// file that is no BPF object too; a link of a type this crate does not
    /// know is accepted.
    pub fn from_fd(fd: OwnedFd) -> Result<Link> {
        let what = || format!("link fd {}", fd.as_raw_fd());
        match sys::fd_kind(fd.as_fd()) {
            Ok(sys::FdKind::Link { .. }) => {}
            Ok(sys::FdKind::Other) => {
                return Err(Error::WrongObject {
                    what: what(),
                    reason: "is not a BPF object".into(),
                });
            }
            Ok(other) => {
                return Err(Error::WrongObject {
                    what: what(),
                    reason: format!("is {other}, not a BPF link"),
                });
            }
            Err(errno) => {
                return Err(Error::Syscall {
                    call: "open /proc/self/fdinfo",
                    what: what(),
                    errno,
                });
            }
        }
        sys::link_info(fd.as_fd(), &mut [])
            .map_err(|e| Error::bpf(Cmd::ObjGetInfoByFd, what(), e))?;
        Ok(Link {
            fd,
            perf_event: None,
            target: None,
        })
    }

    /// Opens link `id` (`BPF_LINK_GET_FD_BY_ID`, Linux 5.8; `ENOENT` when
    /// there is none, `EPERM` without `CAP_SYS_ADMIN`).
    pub fn from_id(id: u32) -> Result<Link> {
        let fd = sys::link_get_fd_by_id(id)
            .map_err(|e| Error::bpf(Cmd::LinkGetFdById, format!("link id {id}"), e))?;
        Link::from_fd(fd)
    }

    /// Opens the link pinned at `path` (`BPF_OBJ_GET`, Linux 5.7 for
    /// links). No pin is `ENOENT`, a path outside bpffs `EPERM`; a pin of
    /// something other than a link is [`Error::Bpf`] from the type check.
    pub fn open_pinned(path: &Path) -> Result<Link> {
        let c = sys::path_cstring(path).ok_or_else(|| Error::nul_in_path(path))?;
        let fd = sys::obj_get(&c, 0).map_err(|e| {
            Error::bpf(Cmd::ObjGet, format!("link pinned at {}", path.display()), e)
        })?;
        Link::from_fd(fd)
    }

    /// Pins the link at `path` in a bpffs (`BPF_OBJ_PIN`, Linux 5.7): it then
    /// stays attached after this `Link` is dropped, until the pin is
    /// removed (`unlink`) and no fd is left. Outside bpffs the kernel
    /// answers `EPERM`, a taken name `EEXIST`, a missing directory `ENOENT`.
    pub fn pin(&self, path: &Path) -> Result<()> {
        let c = sys::path_cstring(path).ok_or_else(|| Error::nul_in_path(path))?;
        sys::obj_pin(self.fd.as_fd(), &c)
            .map_err(|e| Error::bpf(Cmd::ObjPin, format!("link at {}", path.display()), e))
    }

    /// Detaches the program now (`BPF_LINK_DETACH`, Linux 5.9), leaving the
    /// link fd and any pin valid but empty. Only some link types can: cgroup,
    /// netns, XDP, tcx, netfilter, netkit and sockmap links, and struct_ops
    /// links from 6.9; the others
    /// (tracing, raw tracepoints, iterators, perf events) answer
    /// `EOPNOTSUPP` — drop them (and remove their pins) instead.
    pub fn detach(&self) -> Result<()> {
        sys::link_detach(self.fd.as_fd())
            .map_err(|e| Error::bpf(Cmd::LinkDetach, self.describe(), e))
    }

    /// The link's fd.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The perf event a tracepoint, kprobe or uprobe link hangs on (it is
    /// closed after the link when this `Link` is dropped).
    pub fn perf_event_fd(&self) -> Option<BorrowedFd<'_>> {
        self.perf_event.as_ref().map(|f| f.as_fd())
    }

    /// The target it was attached to, when this `Link` made the
    /// attachment (`None` for adopted and struct_ops links).
    pub fn target(&self) -> Option<&AttachTarget> {
        self.target.as_ref()
    }

    /// The kernel's description of the link (`BPF_OBJ_GET_INFO_BY_FD`,
    /// Linux 5.8; the per-type details grew later: XDP 5.9, struct_ops 6.4,
    /// tcx 6.6, perf events 6.6 — an older kernel leaves them 0, and a perf
    /// event's name empty).
    pub fn info(&self) -> Result<LinkInfo> {
        let mut name = vec![0u8; 4096];
        let raw = match sys::link_info(self.fd.as_fd(), &mut name) {
            // A name longer than the buffer, or a kernel whose bpf_link_info
            // ends before the name's fields (perf events before 6.6):
            // describe the link without it.
            Err(Errno::ENOSPC | Errno::E2BIG) => {
                name.clear();
                sys::link_info(self.fd.as_fd(), &mut [])
            }
            r => r,
        }
        .map_err(|e| Error::bpf(Cmd::ObjGetInfoByFd, self.describe(), e))?;
        Ok(LinkInfo::decode(&raw, &name))
    }

    /// For an iterator link: a new reader over the iterator
    /// (`BPF_ITER_CREATE`, Linux 5.8). Each `read` runs the program over
    /// the next objects and returns what it wrote with `bpf_seq_printf` /
    /// `bpf_seq_write`; end of file once every object was visited. Another
    /// link type answers `EINVAL`.
    pub fn open_iter(&self) -> Result<std::fs::File> {
        sys::iter_create(self.fd.as_fd())
            .map(std::fs::File::from)
            .map_err(|e| Error::bpf(Cmd::IterCreate, self.describe(), e))
    }

    fn describe(&self) -> String {
        match &self.target {
            Some(t) => format!("link to {t}"),
            None => "link".to_string(),
        }
    }
}

/// What `BPF_OBJ_GET_INFO_BY_FD` says about a link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkInfo {
    /// The link's type.
    pub link_type: LinkType,
    /// The link's id (`BPF_LINK_GET_FD_BY_ID` opens it).
    pub id: u32,
    /// The attached program's id (0 for struct_ops links). A link keeps
    /// its program after [`Link::detach`]: the id stays.
    pub prog_id: u32,
    /// The per-type details.
    pub detail: LinkDetail,
}

/// The per-type part of [`LinkInfo`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkDetail {
    /// A raw tracepoint link: the tracepoint's name.
    RawTracepoint {
        /// `sys_enter`.
        name: String,
    },
    /// A tracing link (fentry, fexit, fmod_ret, tp_btf, lsm).
    Tracing {
        /// `enum bpf_attach_type`.
        attach_type: u32,
        /// The id of the BTF object holding the target (vmlinux's, or a
        /// module's).
        target_obj_id: u32,
        /// The target's BTF type id.
        target_btf_id: u32,
    },
    /// A cgroup link.
    Cgroup {
        /// The cgroup's id (its inode number on cgroup v2).
        cgroup_id: u64,
        /// `enum bpf_attach_type`.
        attach_type: u32,
    },
    /// An iterator link: the iterator's target.
    Iter {
        /// `task`, `bpf_map`.
        target: String,
    },
    /// An XDP link.
    Xdp {
        /// The interface's index (0 once detached).
        ifindex: u32,
    },
    /// A tcx link.
    Tcx {
        /// The interface's index (0 once detached).
        ifindex: u32,
        /// `BPF_TCX_INGRESS` or `BPF_TCX_EGRESS`.
        attach_type: u32,
    },
    /// A perf-event link (tracepoint, kprobe, uprobe; details 6.6+).
    PerfEvent {
        /// `enum bpf_perf_event_type`: 1 uprobe, 2 uretprobe, 3 kprobe,
        /// 4 kretprobe, 5 tracepoint, 6 event.
        event_type: u32,
        /// The function, file or tracepoint name.
        name: String,
    },
    /// A struct_ops link.
    StructOps {
        /// The struct_ops map's id.
        map_id: u32,
    },
    /// Another type: the raw union words.
    Other([u64; 10]),
}

impl LinkInfo {
    fn decode(raw: &LinkInfoRaw, name: &[u8]) -> LinkInfo {
        let w = &raw.union;
        let text = || sys::object_name_text(name);
        let u32_at = |byte: usize| -> u32 {
            let word = w.get(byte / 8).copied().unwrap_or(0).to_ne_bytes();
            let i = byte % 8;
            let b = word.get(i..i + 4).unwrap_or(&[0; 4]);
            u32::from_ne_bytes([b[0], b[1], b[2], b[3]])
        };
        let link_type = LinkType(raw.link_type);
        let detail = match link_type {
            LinkType::RAW_TRACEPOINT => LinkDetail::RawTracepoint { name: text() },
            LinkType::TRACING => LinkDetail::Tracing {
                attach_type: u32_at(0),
                target_obj_id: u32_at(4),
                target_btf_id: u32_at(8),
            },
            LinkType::CGROUP => LinkDetail::Cgroup {
                cgroup_id: w[0],
                attach_type: u32_at(8),
            },
            LinkType::ITER => LinkDetail::Iter { target: text() },
            LinkType::XDP => LinkDetail::Xdp { ifindex: u32_at(0) },
            LinkType::TCX => LinkDetail::Tcx {
                ifindex: u32_at(0),
                attach_type: u32_at(4),
            },
            LinkType::PERF_EVENT => LinkDetail::PerfEvent {
                event_type: u32_at(0),
                name: text(),
            },
            LinkType::STRUCT_OPS => LinkDetail::StructOps { map_id: u32_at(0) },
            _ => LinkDetail::Other(*w),
        };
        LinkInfo {
            link_type,
            id: raw.id,
            prog_id: raw.prog_id,
            detail,
        }
    }
}

/// The program types each kind of target takes: a program of another type
/// is refused here, naming both, instead of with the kernel's bare `EINVAL`.
fn check_type(prog: &Program, target: &AttachTarget) -> Result<()> {
    use crate::prog::ProgramType as T;
    let wanted: &[T] = match target {
        AttachTarget::RawTracepoint { .. } => &[T::RAW_TRACEPOINT, T::RAW_TRACEPOINT_WRITABLE],
        AttachTarget::Btf {
            kind: BtfKind::Lsm, ..
        } => &[T::LSM],
        AttachTarget::Btf { .. } | AttachTarget::Iter { .. } => &[T::TRACING],
        AttachTarget::Tracepoint { .. } => &[T::TRACEPOINT],
        AttachTarget::Kprobe { .. } | AttachTarget::Uprobe { .. } => &[T::KPROBE],
        AttachTarget::Xdp { .. } => &[T::XDP],
        AttachTarget::Tcx { .. } => &[T::SCHED_CLS],
        AttachTarget::Cgroup { .. } => &[
            T::CGROUP_SKB,
            T::CGROUP_SOCK,
            T::CGROUP_SOCK_ADDR,
            T::CGROUP_SOCKOPT,
            T::CGROUP_SYSCTL,
            T::CGROUP_DEVICE,
            T::SOCK_OPS,
            T::LSM,
        ],
    };
    let t = prog.program_type();
    if wanted.contains(&t) {
        return Ok(());
    }
    let names: Vec<String> = wanted.iter().map(|w| w.to_string()).collect();
    Err(Error::invalid(
        "attach target",
        format!(
            "program '{}' is a {t} program; {} takes a {} program",
            prog.name(),
            target.kind(),
            names.join(" or ")
        ),
    ))
}

/// `PERF_TYPE_TRACEPOINT`.
const PERF_TYPE_TRACEPOINT: u32 = 2;

fn fd_u32(fd: BorrowedFd<'_>) -> u32 {
    fd.as_raw_fd() as u32
}

fn c_string(what: &'static str, s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::invalid(what, format!("{s:?} contains a NUL byte")))
}

fn perf_error(what: String, errno: Errno) -> Error {
    Error::Syscall {
        call: "perf_event_open",
        what,
        errno,
    }
}

fn needs_error(prog: &Program, target: &AttachTarget) -> Error {
    let what = match target.needs() {
        Needs::Iface => "a network interface (AttachTarget::with_iface, or the CLI's --iface)",
        _ => "a cgroup directory (AttachTarget::with_cgroup, or the CLI's --cgroup)",
    };
    Error::invalid(
        "attach target",
        format!("program '{}': {} needs {what}", prog.name(), target.kind()),
    )
}

fn ifindex(iface: &Iface, prog: &Program, target: &AttachTarget) -> Result<u32> {
    match iface {
        Iface::Unset => Err(needs_error(prog, target)),
        Iface::Index(i) => Ok(*i),
        Iface::Name(n) => {
            let c = c_string("interface name", n)?;
            sys::if_index(&c).ok_or_else(|| {
                Error::invalid(
                    "interface",
                    format!(
                        "no interface '{n}' in this network namespace (for program '{}' to {target})",
                        prog.name()
                    ),
                )
            })
        }
    }
}

fn open_dir(path: &Path, prog: &Program, target: &AttachTarget) -> Result<OwnedFd> {
    let for_what = || format!("program '{}' to {target}", prog.name());
    let io = |call, e: std::io::Error| Error::Syscall {
        call,
        what: format!("the cgroup directory of {}", for_what()),
        errno: Errno::from_io(&e),
    };
    let f = std::fs::File::open(path).map_err(|e| io("open", e))?;
    let kind = f.metadata().map_err(|e| io("fstat", e))?.file_type();
    if !kind.is_dir() {
        return Err(Error::invalid(
            "cgroup",
            format!(
                "{} is {}, not a cgroup directory (for {})",
                path.display(),
                crate::abi::file_type_name(kind),
                for_what()
            ),
        ));
    }
    Ok(OwnedFd::from(f))
}

/// Links `prog` to perf event `pfd` (`BPF_LINK_CREATE` with
/// `BPF_PERF_EVENT`); the link keeps the event open.
fn perf_link(prog: &Program, pfd: OwnedFd, target: &AttachTarget) -> Result<Link> {
    let attr = LinkCreateAttr {
        prog_fd: fd_u32(prog.fd()),
        target: pfd.as_raw_fd() as u32,
        attach_type: crate::abi::BPF_PERF_EVENT,
        ..Default::default()
    };
    let fd = sys::link_create(&attr).map_err(|e| match e {
        Errno::EINVAL if !perf_links_exist(prog) => Error::NotSupported {
            what: "perf-event links (tracepoint, kprobe and uprobe attachment)",
            since: "5.15",
            detail: Some(format!("program '{}' to {target}", prog.name())),
        },
        e => Error::bpf(
            Cmd::LinkCreate,
            format!("program '{}' to {target}", prog.name()),
            e,
        ),
    })?;
    Ok(Link {
        fd,
        perf_event: Some(pfd),
        target: Some(target.clone()),
    })
}

/// Whether `BPF_LINK_CREATE` knows `BPF_PERF_EVENT`: with a real program
/// and a bad event fd, a kernel that does (5.15+) looks the event up and
/// answers `EBADF`; an older one refuses the attach type with `EINVAL`.
fn perf_links_exist(prog: &Program) -> bool {
    let attr = LinkCreateAttr {
        prog_fd: fd_u32(prog.fd()),
        target: u32::MAX,
        attach_type: crate::abi::BPF_PERF_EVENT,
        ..Default::default()
    };
    !matches!(sys::link_create(&attr), Err(Errno::EINVAL))
}

/// A dynamic PMU (`kprobe` or `uprobe`): its type number and the config bit
/// that makes a return probe.
struct Pmu {
    name: &'static str,
    type_: u32,
    retprobe_bit: Option<u32>,
}

impl Pmu {
    fn read(name: &'static str) -> Result<Pmu> {
        let dir = PathBuf::from("/sys/bus/event_source/devices").join(name);
        let missing = || Error::NotSupported {
            what: if name == "kprobe" {
                "kprobes"
            } else {
                "uprobes"
            },
            since: "4.17",
            detail: Some(format!(
                "this kernel has no {name} PMU ({} is missing: it was built without CONFIG_{}S)",
                dir.display(),
                name.to_ascii_uppercase()
            )),
        };
        let type_ = read_small(&dir.join("type"))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .ok_or_else(missing)?;
        // "config:0": the bit of `config` that asks for a return probe.
        let retprobe_bit = read_small(&dir.join("format/retprobe"))
            .ok()
            .and_then(|t| t.trim().strip_prefix("config:")?.parse().ok());
        Ok(Pmu {
            name,
            type_,
            retprobe_bit,
        })
    }

    /// The `config` of a probe: the return-probe bit or nothing.
    fn config(&self, retprobe: bool) -> Result<u64> {
        Ok(match (retprobe, self.retprobe_bit) {
            (false, _) => 0,
            (true, Some(b)) if b < 64 => 1u64 << b,
            (true, _) => {
                return Err(Error::NotSupported {
                    what: "return probes",
                    since: "4.17",
                    detail: Some(format!("the {} PMU has no retprobe format bit", self.name)),
                });
            }
        })
    }
}

/// A small kernel file (sysfs, tracefs) as text.
fn read_small(path: &Path) -> std::result::Result<String, FileReadError> {
    sys::read_regular_file(path, 4096).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// `e`, from reading `path` for `what`, as the crate's error.
fn file_error(what: &str, path: &Path, e: FileReadError) -> Error {
    match e {
        FileReadError::Io(call, errno) => Error::Syscall {
            call,
            what: format!("{what} ({})", path.display()),
            errno,
        },
        FileReadError::NotRegular(kind) => Error::invalid(
            "file",
            format!("{what}: {} is {kind}, not a regular file", path.display()),
        ),
        FileReadError::TooLarge(n) => Error::invalid(
            "file",
            format!("{what}: {} is too large ({n} bytes)", path.display()),
        ),
    }
}

/// The largest binary a uprobe target is looked up in (1 GiB).
const MAX_UPROBE_BINARY: u64 = 1 << 30;

/// The file offset of `function` in the ELF file at `path`, for a uprobe.
fn uprobe_offset(path: &Path, function: &str) -> Result<u64> {
    let bytes = sys::read_regular_file(path, MAX_UPROBE_BINARY)
        .map_err(|e| file_error("uprobe binary", path, e))?;
    crate::obj::elf_function_offset(&bytes, function)
        .map_err(|reason| Error::invalid("uprobe target", format!("{}: {reason}", path.display())))
}

/// Where tracefs is: `/sys/kernel/tracing` or `/sys/kernel/debug/tracing`
/// when mounted there, else `None`.
fn mounted_tracefs() -> Option<PathBuf> {
    ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("events").is_dir())
}

/// The id of tracepoint `category/name`, from tracefs (a private instance
/// when none is mounted).
fn tracepoint_id(category: &str, name: &str) -> Result<u64> {
    let bad = |s: &str| s.is_empty() || s.contains('/') || s == "." || s == "..";
    if bad(category) || bad(name) {
        return Err(Error::invalid(
            "tracepoint",
            format!("'{category}/{name}' is not CATEGORY/NAME"),
        ));
    }
    // tracefs's root as a directory fd: the mounted one, or when none is
    // mounted a fresh instance that is mounted nowhere. The id is read the
    // same way from either.
    let (root, at) = match mounted_tracefs() {
        Some(dir) => {
            let f = std::fs::File::open(&dir).map_err(|e| Error::Syscall {
                call: "open",
                what: dir.display().to_string(),
                errno: Errno::from_io(&e),
            })?;
            (OwnedFd::from(f), dir.display().to_string())
        }
        None => {
            let fd = sys::detached_tracefs().map_err(|e| Error::Syscall {
                call: "fsopen/fsmount",
                what: "a private tracefs instance (tracefs is not mounted)".into(),
                errno: e,
            })?;
            (fd, "a private tracefs instance".to_string())
        }
    };
    let rel = format!("events/{category}/{name}/id");
    let c = c_string("tracepoint", &rel)?;
    let text = match sys::read_small_at(root.as_fd(), &c) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(Errno::ENOENT) => {
            return Err(Error::invalid(
                "tracepoint",
                format!("no tracepoint '{category}/{name}' (no {rel} in {at})"),
            ));
        }
        Err(e) => {
            return Err(Error::Syscall {
                call: "read",
                what: format!("{rel} in {at}"),
                errno: e,
            });
        }
    };
    text.trim().parse().map_err(|_| {
        Error::invalid(
            "tracepoint",
            format!("{rel} in {at} holds {:?}, not an id", text.trim()),
        )
    })
}
