//! Where a program attaches: [`AttachTarget`], read from its section name
//! the way libbpf's auto-attach reads it, or built by hand.

use crate::abi::{self, ProgramType};
use std::fmt;
use std::path::PathBuf;

/// The network interface an XDP or tcx program attaches to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Iface {
    /// Not chosen yet (a section cannot name one).
    Unset,
    /// By name, looked up in the caller's network namespace at attach time.
    Name(String),
    /// By index, which the kernel also reads in the calling thread's
    /// network namespace at attach time.
    Index(u32),
}

impl fmt::Display for Iface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Iface::Unset => f.write_str("(no interface)"),
            Iface::Name(n) => f.write_str(n),
            Iface::Index(i) => write!(f, "ifindex {i}"),
        }
    }
}

/// The BTF-typed tracing kinds, whose target the kernel fixed when the
/// program was loaded (its `attach_btf_id`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BtfKind {
    /// `tp_btf/NAME`: a BTF-typed raw tracepoint.
    TpBtf,
    /// `fentry/FUNC`: on entry of a kernel function.
    Fentry,
    /// `fexit/FUNC`: on return of a kernel function, with its return value.
    Fexit,
    /// `fmod_ret/FUNC`: before a kernel function, able to replace its
    /// return value.
    FmodRet,
    /// `lsm/HOOK`: a BPF LSM hook.
    Lsm,
}

impl BtfKind {
    /// The section prefix (`"fentry"`).
    pub fn name(self) -> &'static str {
        match self {
            BtfKind::TpBtf => "tp_btf",
            BtfKind::Fentry => "fentry",
            BtfKind::Fexit => "fexit",
            BtfKind::FmodRet => "fmod_ret",
            BtfKind::Lsm => "lsm",
        }
    }
}

/// Where and how a program is attached. [`AttachTarget::from_section`]
/// reads one from a section name; the variants can also be built directly
/// for programs whose section names no target.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttachTarget {
    /// `raw_tp/NAME`, `raw_tracepoint/NAME`: raw tracepoint `name`
    /// (`BPF_RAW_TRACEPOINT_OPEN`, Linux 4.17).
    RawTracepoint {
        /// The tracepoint (`sys_enter`, `sched_switch`).
        name: String,
    },
    /// `tp_btf/…`, `fentry/…`, `fexit/…`, `fmod_ret/…`, `lsm/…`: the target
    /// was fixed at load from the section (`BPF_RAW_TRACEPOINT_OPEN` with
    /// no name, Linux 5.5; LSM 5.7).
    Btf {
        /// Which kind.
        kind: BtfKind,
        /// The target the section names (for display; the kernel uses the
        /// BTF id the program was loaded with).
        name: String,
    },
    /// `iter/NAME`: a BPF iterator (`BPF_LINK_CREATE` with
    /// `BPF_TRACE_ITER`, Linux 5.8); read it with `Link::open_iter`.
    Iter {
        /// The iterator target (`task`, `bpf_map`).
        name: String,
    },
    /// `tracepoint/CATEGORY/NAME`, `tp/CATEGORY/NAME`: a tracefs
    /// tracepoint, through `perf_event_open` and `BPF_LINK_CREATE`
    /// (`BPF_PERF_EVENT`, Linux 5.15).
    Tracepoint {
        /// The category (`syscalls`).
        category: String,
        /// The event (`sys_enter_getpid`).
        name: String,
    },
    /// `kprobe/FUNC[+OFFSET]`, `kretprobe/FUNC`: a kprobe through the
    /// `kprobe` PMU (4.17) and a perf-event link (`BPF_PERF_EVENT`, Linux
    /// 5.15, which is what attaching needs). Needs a kernel built with
    /// `CONFIG_KPROBES`.
    Kprobe {
        /// The kernel function.
        function: String,
        /// Byte offset into it (entry probes only).
        offset: u64,
        /// A return probe.
        retprobe: bool,
    },
    /// `uprobe/PATH:FUNC[+OFFSET]`, `uretprobe/PATH:FUNC`: a uprobe through
    /// the `uprobe` PMU (4.17) and a perf-event link (`BPF_PERF_EVENT`,
    /// Linux 5.15, which is what attaching needs). `PATH` is used
    /// as written (relative to the working directory when relative; a bare
    /// library name is not searched for, unlike libbpf).
    Uprobe {
        /// The executable or library.
        path: PathBuf,
        /// The function whose file offset is looked up in `path`'s ELF
        /// symbols; `None` to probe at `offset` from the start of the file.
        function: Option<String>,
        /// Byte offset (into the function, or into the file).
        offset: u64,
        /// A return probe.
        retprobe: bool,
        /// Only this process (`None`: every process that runs the code).
        pid: Option<i32>,
    },
    /// `xdp`: XDP on an interface (`BPF_LINK_CREATE` with `BPF_XDP`, Linux
    /// 5.9).
    Xdp {
        /// The interface.
        iface: Iface,
    },
    /// `tcx/ingress`, `tcx/egress`: the tc express path (`BPF_TCX_INGRESS`
    /// or `BPF_TCX_EGRESS`, Linux 6.6).
    Tcx {
        /// The interface.
        iface: Iface,
        /// Egress rather than ingress.
        egress: bool,
    },
    /// `cgroup_skb/ingress|egress`, `cgroup/HOOK`: a cgroup hook
    /// (`BPF_LINK_CREATE` on the cgroup directory's fd, Linux 5.7).
    Cgroup {
        /// The cgroup v2 directory; `None` until chosen.
        path: Option<PathBuf>,
        /// `enum bpf_attach_type`.
        attach_type: u32,
        /// The section's spelling of the hook (`cgroup_skb/ingress`).
        hook: String,
    },
}

/// What a program still needs before [`AttachTarget`] can be attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    /// Nothing.
    Nothing,
    /// A network interface (XDP, tcx).
    Iface,
    /// A cgroup directory.
    Cgroup,
}

/// Why a section names no attachment ([`AttachTarget::from_section`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoTarget {
    /// Which kind of reason.
    pub why: Why,
    /// The reason in words, naming the section.
    pub reason: String,
}

/// The kinds of [`NoTarget`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// The program is run, not attached (`syscall`, `socket`, `tc`
    /// classifiers loaded for `BPF_PROG_TEST_RUN`), or attached by means
    /// this crate does not offer.
    Run,
    /// The section names an attach kind but no target (`kprobe`, `uprobe`,
    /// `raw_tp` alone): libbpf's auto-attach skips such programs too.
    Unnamed,
    /// The section names a target in a form that cannot be read
    /// (`tracepoint/sys_enter_openat`, `kprobe/f+zz`, `tcx/sideways`).
    Malformed,
    /// The program is attached through its map (`struct_ops`).
    ViaMap,
}

impl fmt::Display for NoTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl AttachTarget {
    /// Reads the target from section `section` of a program of type
    /// `prog_type`, as libbpf's auto-attach does. [`NoTarget`] says why
    /// such a program attaches to nothing by itself, and of which kind the
    /// reason is: a type that is run rather than attached (`syscall`,
    /// `socket`), a section that names no target (`kprobe` alone), a target
    /// written in a form that cannot be read (`tracepoint/sys_enter_openat`,
    /// missing its category), or an attachment made another way
    /// (`struct_ops` programs go with their map).
    pub fn from_section(section: &str, prog_type: ProgramType) -> Result<AttachTarget, NoTarget> {
        let bad = |reason: String| NoTarget {
            why: Why::Malformed,
            reason,
        };
        let (head, rest) = match section.split_once('/') {
            Some((h, r)) => (h, Some(r)),
            None => (section, None),
        };
        let named = |what: &str| -> Result<String, NoTarget> {
            match rest {
                Some(r) if !r.is_empty() => Ok(r.to_string()),
                _ => Err(NoTarget {
                    why: Why::Unnamed,
                    reason: format!(
                        "section '{section}' names no {what}: write it as '{head}/{what_upper}', or attach it with an explicit target (LoadedObject::attach_to)",
                        what_upper = what.to_ascii_uppercase().replace(' ', "_")
                    ),
                }),
            }
        };
        let btf = |kind| named("target").map(|name| AttachTarget::Btf { kind, name });
        match head {
            "raw_tp" | "raw_tracepoint" | "raw_tp.w" | "raw_tracepoint.w" => {
                named("tracepoint").map(|name| AttachTarget::RawTracepoint { name })
            }
            "tp_btf" => btf(BtfKind::TpBtf),
            "fentry" | "fentry.s" => btf(BtfKind::Fentry),
            "fexit" | "fexit.s" => btf(BtfKind::Fexit),
            "fmod_ret" | "fmod_ret.s" => btf(BtfKind::FmodRet),
            "lsm" | "lsm.s" => btf(BtfKind::Lsm),
            "iter" | "iter.s" => named("target").map(|name| AttachTarget::Iter { name }),
            "tracepoint" | "tp" => {
                let r = named("category/name")?;
                match r.split_once('/') {
                    Some((c, n)) if !c.is_empty() && !n.is_empty() && !n.contains('/') => {
                        Ok(AttachTarget::Tracepoint {
                            category: c.to_string(),
                            name: n.to_string(),
                        })
                    }
                    _ => Err(bad(format!(
                        "section '{section}': a tracepoint is written 'tracepoint/CATEGORY/NAME'"
                    ))),
                }
            }
            "kprobe" | "kretprobe" => {
                let r = named("function")?;
                let (function, offset) = split_offset(&r, section).map_err(bad)?;
                let retprobe = head == "kretprobe";
                if retprobe && offset != 0 {
                    return Err(bad(format!(
                        "section '{section}': a return probe takes no offset"
                    )));
                }
                Ok(AttachTarget::Kprobe {
                    function,
                    offset,
                    retprobe,
                })
            }
            "uprobe" | "uretprobe" | "uprobe.s" | "uretprobe.s" => {
                let r = named("binary:function")?;
                let Some((path, func)) = r.rsplit_once(':') else {
                    return Err(bad(format!(
                        "section '{section}': a uprobe is written 'uprobe/PATH:FUNCTION[+OFFSET]'"
                    )));
                };
                if path.is_empty() || func.is_empty() {
                    return Err(bad(format!(
                        "section '{section}': a uprobe is written 'uprobe/PATH:FUNCTION[+OFFSET]'"
                    )));
                }
                let (function, offset) = split_offset(func, section).map_err(bad)?;
                let retprobe = head.starts_with("uretprobe");
                if retprobe && offset != 0 {
                    return Err(bad(format!(
                        "section '{section}': a return probe takes no offset"
                    )));
                }
                Ok(AttachTarget::Uprobe {
                    path: PathBuf::from(path),
                    function: Some(function),
                    offset,
                    retprobe,
                    pid: None,
                })
            }
            "xdp" | "xdp.frags" if rest.is_none() => Ok(AttachTarget::Xdp {
                iface: Iface::Unset,
            }),
            "tcx" => match rest {
                Some("ingress") => Ok(AttachTarget::Tcx {
                    iface: Iface::Unset,
                    egress: false,
                }),
                Some("egress") => Ok(AttachTarget::Tcx {
                    iface: Iface::Unset,
                    egress: true,
                }),
                _ => Err(bad(format!(
                    "section '{section}': tcx programs are 'tcx/ingress' or 'tcx/egress'"
                ))),
            },
            "cgroup_skb" | "cgroup" => {
                let def = super::section_def(section)
                    .filter(|d| d.prog_type == prog_type)
                    .ok_or_else(|| {
                        bad(format!(
                            "section '{section}' is not a cgroup hook libbpf knows"
                        ))
                    })?;
                let attach_type = match (section, def.attach_type) {
                    ("cgroup_skb/egress", _) => abi::BPF_CGROUP_INET_EGRESS,
                    ("cgroup/skb", _) => {
                        return Err(NoTarget {
                            why: Why::Unnamed,
                            reason: format!(
                                "section '{section}' names no direction: use cgroup_skb/ingress or cgroup_skb/egress, or attach it with an explicit target (LoadedObject::attach_to)"
                            ),
                        });
                    }
                    (_, t) => t,
                };
                Ok(AttachTarget::Cgroup {
                    path: None,
                    attach_type,
                    hook: section.to_string(),
                })
            }
            "struct_ops" | "struct_ops.s" => Err(NoTarget {
                why: Why::ViaMap,
                reason: format!(
                    "'{section}' programs attach with their struct_ops map, not one by one (LoadedObject::attach_struct_ops, or register_struct_ops for a .struct_ops map)"
                ),
            }),
            _ if prog_type == ProgramType::SYSCALL => Err(NoTarget {
                why: Why::Run,
                reason: format!(
                    "section '{section}': syscall programs are run (Program::run_syscall, `bpf-arena run`), not attached"
                ),
            }),
            _ => Err(NoTarget {
                why: Why::Run,
                reason: format!(
                    "a program of type {prog_type} in section '{section}' has no attachment this crate reads from a section name (it is run, or attached by means this crate does not offer)"
                ),
            }),
        }
    }

    /// The kind, as the CLI prints it: the section's prefix in its
    /// canonical spelling (`raw_tp`, `fentry`, `tracepoint`, `tcx/ingress`,
    /// `cgroup_skb/egress`, …).
    pub fn kind(&self) -> String {
        match self {
            AttachTarget::RawTracepoint { .. } => "raw_tp".into(),
            AttachTarget::Btf { kind, .. } => kind.name().into(),
            AttachTarget::Iter { .. } => "iter".into(),
            AttachTarget::Tracepoint { .. } => "tracepoint".into(),
            AttachTarget::Kprobe { retprobe, .. } => {
                if *retprobe { "kretprobe" } else { "kprobe" }.into()
            }
            AttachTarget::Uprobe { retprobe, .. } => {
                if *retprobe { "uretprobe" } else { "uprobe" }.into()
            }
            AttachTarget::Xdp { .. } => "xdp".into(),
            AttachTarget::Tcx { egress, .. } => {
                if *egress { "tcx/egress" } else { "tcx/ingress" }.into()
            }
            AttachTarget::Cgroup { hook, .. } => hook.clone(),
        }
    }

    /// What is attached to, as the CLI prints it: the tracepoint, function,
    /// `PATH:FUNCTION[+0xOFFSET]`, interface or cgroup path.
    pub fn target(&self) -> String {
        match self {
            AttachTarget::RawTracepoint { name }
            | AttachTarget::Btf { name, .. }
            | AttachTarget::Iter { name } => name.clone(),
            AttachTarget::Tracepoint { category, name } => format!("{category}/{name}"),
            AttachTarget::Kprobe {
                function, offset, ..
            } => with_offset(function, *offset),
            AttachTarget::Uprobe {
                path,
                function,
                offset,
                pid,
                ..
            } => {
                let at = match function {
                    Some(f) => format!("{}:{}", path.display(), with_offset(f, *offset)),
                    None => format!("{}:{offset:#x}", path.display()),
                };
                match pid {
                    Some(p) => format!("{at} (pid {p})"),
                    None => at,
                }
            }
            AttachTarget::Xdp { iface } | AttachTarget::Tcx { iface, .. } => iface.to_string(),
            AttachTarget::Cgroup { path, .. } => path
                .as_ref()
                .map_or_else(|| "(no cgroup)".to_string(), |p| p.display().to_string()),
        }
    }

    /// What is still missing before it can be attached.
    pub fn needs(&self) -> Needs {
        match self {
            AttachTarget::Xdp {
                iface: Iface::Unset,
            }
            | AttachTarget::Tcx {
                iface: Iface::Unset,
                ..
            } => Needs::Iface,
            AttachTarget::Cgroup { path: None, .. } => Needs::Cgroup,
            _ => Needs::Nothing,
        }
    }

    /// Sets the interface of an XDP or tcx target (others are unchanged).
    pub fn with_iface(mut self, iface: Iface) -> Self {
        if let AttachTarget::Xdp { iface: i } | AttachTarget::Tcx { iface: i, .. } = &mut self {
            *i = iface;
        }
        self
    }

    /// Sets the cgroup directory of a cgroup target (others are unchanged).
    pub fn with_cgroup(mut self, dir: impl Into<PathBuf>) -> Self {
        if let AttachTarget::Cgroup { path, .. } = &mut self {
            *path = Some(dir.into());
        }
        self
    }
}

impl fmt::Display for AttachTarget {
    /// `KIND TARGET`, as the CLI prints it after `PROG attached`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind(), self.target())
    }
}

/// The file offset of function `name` in an ELF executable or shared
/// library, as a uprobe wants it: the symbol's address (from `.symtab`, or
/// `.dynsym` when the file is stripped) moved from the loadable segment
/// that holds it to that segment's place in the file. `Err` says why there
/// is none: not ELF, no such defined function, or an address outside every
/// loadable segment.
pub fn elf_function_offset(elf: &[u8], name: &str) -> Result<u64, String> {
    use object::{Object, ObjectSegment, ObjectSymbol, SymbolKind};
    let file =
        super::parse::ElfFile::parse(elf).map_err(|e| format!("not a 64-bit ELF file ({e})"))?;
    let mut found: Option<u64> = None;
    for s in file.symbols().chain(file.dynamic_symbols()) {
        if s.name() != Ok(name) || !s.is_definition() || s.kind() != SymbolKind::Text {
            continue;
        }
        match found {
            Some(a) if a != s.address() => {
                return Err(format!(
                    "'{name}' names two functions ({a:#x} and {:#x}): give the offset instead",
                    s.address()
                ));
            }
            _ => found = Some(s.address()),
        }
    }
    let addr =
        found.ok_or_else(|| format!("no function '{name}' is defined in its symbol tables"))?;
    for seg in file.segments() {
        let (file_start, file_len) = seg.file_range();
        let inside = addr.checked_sub(seg.address()).filter(|d| *d < file_len);
        if let Some(at) = inside.and_then(|d| file_start.checked_add(d)) {
            return Ok(at);
        }
    }
    Err(format!(
        "function '{name}' is at {addr:#x}, outside every loadable segment"
    ))
}

fn with_offset(function: &str, offset: u64) -> String {
    if offset == 0 {
        function.to_string()
    } else {
        format!("{function}+{offset:#x}")
    }
}

/// `FUNC` or `FUNC+OFFSET` (decimal or `0x` hex).
fn split_offset(s: &str, section: &str) -> Result<(String, u64), String> {
    let Some((f, off)) = s.split_once('+') else {
        return Ok((s.to_string(), 0));
    };
    let parsed = match off.strip_prefix("0x").or_else(|| off.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => off.parse(),
    };
    match parsed {
        Ok(o) if !f.is_empty() => Ok((f.to_string(), o)),
        _ => Err(format!(
            "section '{section}': '{s}' is not FUNCTION or FUNCTION+OFFSET"
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, reason = "unit tests")]
mod tests {
    use super::*;

    fn t(s: &str) -> AttachTarget {
        let ty = super::super::section_def(s).unwrap().prog_type;
        AttachTarget::from_section(s, ty).unwrap()
    }

    #[test]
    fn sections_name_their_targets() {
        assert_eq!(t("raw_tp/sys_enter").to_string(), "raw_tp sys_enter");
        assert_eq!(t("raw_tracepoint/sys_exit").to_string(), "raw_tp sys_exit");
        assert_eq!(t("tp_btf/sys_enter").to_string(), "tp_btf sys_enter");
        assert_eq!(t("fentry.s/do_unlinkat").to_string(), "fentry do_unlinkat");
        assert_eq!(t("lsm/file_open").to_string(), "lsm file_open");
        assert_eq!(t("iter/task").to_string(), "iter task");
        assert_eq!(
            t("tracepoint/syscalls/sys_enter_getpid").to_string(),
            "tracepoint syscalls/sys_enter_getpid"
        );
        assert_eq!(t("tp/sched/sched_switch").kind(), "tracepoint");
        assert_eq!(
            t("kprobe/do_sys_openat2+8").to_string(),
            "kprobe do_sys_openat2+0x8"
        );
        assert_eq!(t("kretprobe/do_sys_openat2").kind(), "kretprobe");
        assert_eq!(
            t("uprobe//usr/bin/true:main+0x10").to_string(),
            "uprobe /usr/bin/true:main+0x10"
        );
        assert_eq!(t("uretprobe/./a.out:f").to_string(), "uretprobe ./a.out:f");
        assert_eq!(t("xdp").needs(), Needs::Iface);
        assert_eq!(
            t("tcx/egress")
                .with_iface(Iface::Name("veth0".into()))
                .to_string(),
            "tcx/egress veth0"
        );
        let c = t("cgroup_skb/egress");
        assert_eq!(c.needs(), Needs::Cgroup);
        assert_eq!(
            c.with_cgroup("/sys/fs/cgroup/x").to_string(),
            "cgroup_skb/egress /sys/fs/cgroup/x"
        );
        assert!(matches!(
            t("cgroup/sock_create"),
            AttachTarget::Cgroup { attach_type: 2, .. }
        ));
    }

    #[test]
    fn function_offsets_come_from_the_elf() {
        let me = std::fs::read("/proc/self/exe").unwrap();
        let off = elf_function_offset(&me, "main").unwrap();
        assert!(off > 0 && (off as usize) < me.len());
        assert!(elf_function_offset(&me, "no_such_function_here").is_err());
        assert!(
            elf_function_offset(b"not elf", "main")
                .unwrap_err()
                .contains("not a 64-bit ELF")
        );
    }

    #[test]
    fn sections_without_targets_say_why() {
        let e = |s: &str, ty| AttachTarget::from_section(s, ty).unwrap_err().reason;
        assert!(e("syscall", ProgramType::SYSCALL).contains("are run"));
        assert!(e("socket", ProgramType::SOCKET_FILTER).contains("no attachment"));
        let why = |s: &str, ty| AttachTarget::from_section(s, ty).unwrap_err().why;
        assert_eq!(why("kprobe", ProgramType::KPROBE), Why::Unnamed);
        assert_eq!(why("tracepoint/x", ProgramType::TRACEPOINT), Why::Malformed);
        assert_eq!(why("syscall", ProgramType::SYSCALL), Why::Run);
        assert_eq!(why("struct_ops/x", ProgramType::STRUCT_OPS), Why::ViaMap);
        assert!(e("kprobe", ProgramType::KPROBE).contains("names no function"));
        assert!(e("raw_tp", ProgramType::RAW_TRACEPOINT).contains("names no tracepoint"));
        assert!(e("tracepoint/x", ProgramType::TRACEPOINT).contains("CATEGORY/NAME"));
        assert!(e("uprobe/nocolon", ProgramType::KPROBE).contains("PATH:FUNCTION"));
        assert!(e("kretprobe/f+4", ProgramType::KPROBE).contains("no offset"));
        assert!(e("kprobe/f+zz", ProgramType::KPROBE).contains("FUNCTION+OFFSET"));
        assert!(e("struct_ops/init", ProgramType::STRUCT_OPS).contains("struct_ops map"));
        assert!(e("tcx/sideways", ProgramType::SCHED_CLS).contains("tcx/ingress"));
        assert!(e("cgroup/skb", ProgramType::CGROUP_SKB).contains("direction"));
    }
}
