//! `bpf-arena attach`: load an object, attach programs where their sections
//! say, stay attached for a while or until SIGINT/SIGTERM, detach, print
//! values.
//!
//! Everything that can be checked without the kernel — which programs
//! attach, the interface and cgroup they need, the ring buffers asked for —
//! is checked before anything is loaded. The wait is one `poll` on a
//! signalfd (SIGINT and SIGTERM are blocked from the start, before any
//! thread could exist, so they wait in it instead of ending the process)
//! and the `--ringbuf` maps' fds (readable while records are pending),
//! with the time left until `--for` runs out as its timeout.

use crate::args::AttachArgs;
use crate::load::{Options, load, prepare};
use crate::run::get_value;
use crate::{Fail, emit, object};
use bpf_arena::link::{AttachTarget, Iface, Needs};
use bpf_arena::obj::ObjectSpec;
use bpf_arena::obj::Why;
use bpf_arena::ringbuf::{BPF_MAP_TYPE_RINGBUF, RingBuf};
use bpf_arena::sys::{Errno, Signal, SignalFd, poll_readable};
use std::fmt::Write as _;
use std::ops::ControlFlow;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::time::{Duration, Instant};

pub const HELP: &str = "\
Usage: bpf-arena attach OBJECT [--set NAME=VALUE]... [--get NAME]... [--pages N]
                        [--for SECONDS] [--iface NAME] [--cgroup PATH]
                        [--ringbuf MAP]... [PROGRAM...]

Loads OBJECT as run does, attaches each PROGRAM named, in the order given
(only the named ones are loaded), or if none is named every program whose
section names where it attaches, in the object's order (the others, such
as syscall programs, are loaded but not attached and not listed). Then it
waits: for SECONDS with --for, else until SIGINT or SIGTERM, either of
which also ends a --for wait early (one that arrives while loading ends the
wait as it begins). Then it detaches everything and prints the requested
values. Needs the privileges loading and attaching need.

Options:
  --set NAME=VALUE  before loading, set global NAME, as for run
  --get NAME        after detaching, print NAME=VALUE, as run prints it
  --pages N         set the arena's max_entries before it is created
  --for SECONDS     stay attached SECONDS (decimal, up to 9 digits after a
                    '.': 10, 0.5), counted from when all are attached; 0
                    detaches at once
  --iface NAME      the network interface of xdp and tcx/* programs
  --cgroup PATH     the cgroup v2 directory of cgroup_skb/* and cgroup/*
                    programs
  --ringbuf MAP     print each record of ring buffer MAP as it arrives

Sections, and KIND TARGET as printed for them:
  tp_btf/NAME             tp_btf NAME (fentry, fexit, fmod_ret, lsm alike)
  raw_tp/NAME             raw_tp NAME
  tracepoint/CAT/NAME     tracepoint CAT/NAME
  kprobe/FUNC[+OFF]       kprobe FUNC[+0xOFF] (kretprobe alike)
  uprobe/PATH:FUNC[+OFF]  uprobe PATH:FUNC[+0xOFF] (uretprobe alike)
  iter/NAME               iter NAME (attached only: an iterator runs when
                          read, and attach does not read it)
  xdp                     xdp IFACE (needs --iface)
  tcx/DIR                 tcx/DIR IFACE (needs --iface)
  cgroup_skb/DIR          cgroup_skb/DIR PATH (needs --cgroup)
  cgroup/HOOK             cgroup/HOOK PATH (needs --cgroup)
  .struct_ops[.link] map  MAP attached struct_ops TYPE (when no PROGRAM is
                          named: every struct_ops map of the object, after
                          the programs; TYPE is the kernel struct it fills)

Output: once every program is attached, `PROGRAM attached KIND TARGET` per
program; then, with --ringbuf, `MAP: HEX` per record as it arrives (the
record's bytes as lowercase hex, one line each, written at once; each
map's records in their order, and when several maps have records at one
wake-up, map by map in the order given; those still in a ring when the
wait ends are printed after the detach); then `NAME=VALUE` for each --get,
in the order given. Nothing else.

Errors (exit 1, one line on stderr), found before anything is loaded: a
PROGRAM the object does not have, or whose section names no attachment; a
section that names its target in a form that cannot be read (even when no
PROGRAM is named: `tracepoint/sys_enter_openat` lacks its category); a
program that needs --iface or --cgroup without it; an --iface not in this
network namespace; a --cgroup that is not a directory; an --iface or
--cgroup no program to attach uses; no attachable program at all; a
--ringbuf MAP that is not a ring buffer of the object. Then, as for run,
a failed load; a ring buffer that cannot be consumed; and an attachment
the kernel refuses (what was attached is detached).
";

/// Attaches, waits, detaches, prints.
pub fn attach(a: AttachArgs) -> Result<(), Fail> {
    // First of all: from here on SIGINT and SIGTERM wait in this fd until
    // the wait below reads them. No thread exists yet, and any later one
    // inherits the mask. Dropped last, after the output.
    let signals = SignalFd::new(&[Signal::Int, Signal::Term])
        .map_err(|e| object(format!("blocking SIGINT and SIGTERM: {e}")))?;
    let path = a.object.as_path();
    let shown = path.display().to_string();
    let loader = prepare(
        path,
        &Options {
            sets: &a.sets,
            gets: &a.gets,
            pages: a.pages,
            pin_root: None,
            programs: &a.programs,
        },
    )?;
    let plan = plan(&shown, loader.spec(), &a)?;
    let obj = load(path, &loader)?;
    // struct_ops maps register with the programs they name, so they come
    // along only when no program is chosen.
    let struct_ops: Vec<(String, bool, String)> = if a.programs.is_empty() {
        obj.struct_ops_maps()
            .map(|s| (s.name.clone(), s.link, s.kernel_type_name().to_string()))
            .collect()
    } else {
        Vec::new()
    };
    // The consumers, before anything is attached: every record is seen.
    let mut rings = Vec::with_capacity(a.ringbufs.len());
    for m in &a.ringbufs {
        let map = obj
            .map(m)
            .ok_or_else(|| object(format!("--ringbuf {m}: the map was not created")))?;
        let ring = RingBuf::from_map(map).map_err(|e| object(format!("--ringbuf {m}: {e}")))?;
        rings.push(ring);
    }
    let mut links = Vec::with_capacity(plan.len());
    let mut out = String::new();
    for (name, target) in &plan {
        let link = obj
            .attach_to(name, target)
            .map_err(|e| object(format!("{shown}: attaching '{name}': {e}")))?;
        links.push(link);
        let _ = writeln!(out, "{name} attached {target}");
    }
    let mut registered = Vec::new();
    for (name, link, kind) in &struct_ops {
        let done = if *link {
            obj.attach_struct_ops(name).map(|l| links.push(l))
        } else {
            obj.register_struct_ops(name)
                .map(|()| registered.push(name))
        };
        done.map_err(|e| object(format!("{shown}: attaching struct_ops map '{name}': {e}")))?;
        let _ = writeln!(out, "{name} attached struct_ops {kind}");
    }
    emit(&out);
    wait(&signals, &mut rings, a.duration)?;
    drop(links);
    for name in registered {
        obj.unregister_struct_ops(name)
            .map_err(|e| object(format!("{shown}: detaching struct_ops map '{name}': {e}")))?;
    }
    // What was committed before the detach.
    drain(&mut rings)?;
    let mut out = String::new();
    for g in &a.gets {
        let text = get_value(&obj, g).map_err(|e| object(format!("--get {g}: {e}")))?;
        let _ = writeln!(out, "{g}={text}");
    }
    emit(&out);
    Ok(())
}

/// The programs to attach, each with its complete target, checked against
/// the object and the options before anything is loaded.
fn plan(
    shown: &str,
    spec: &ObjectSpec,
    a: &AttachArgs,
) -> Result<Vec<(String, AttachTarget)>, Fail> {
    let named = !a.programs.is_empty();
    // `prepare` checked that every named program exists.
    let chosen: Vec<_> = if named {
        a.programs.iter().filter_map(|n| spec.program(n)).collect()
    } else {
        spec.programs.iter().collect()
    };
    let (mut takes_iface, mut takes_cgroup) = (false, false);
    let mut plan = Vec::new();
    let mut skipped = Vec::new();
    for p in chosen {
        let name = &p.name;
        let target = match AttachTarget::from_section(&p.section, p.prog_type) {
            Ok(t) => t,
            // Unattached in the attach-everything mode: programs that are
            // run, sections that name no target (libbpf skips those too),
            // struct_ops programs (their maps are attached). A target
            // written wrong is an error either way.
            Err(e) if !named && e.why != Why::Malformed => {
                skipped.push(format!("'{name}': {e}"));
                continue;
            }
            Err(e) => {
                let cli = if e.why == Why::Unnamed {
                    " (the CLI reads targets from section names only)"
                } else {
                    ""
                };
                return Err(object(format!(
                    "{shown}: program '{name}' does not attach: {e}{cli}"
                )));
            }
        };
        let target = match target.needs() {
            Needs::Nothing => target,
            Needs::Iface => {
                takes_iface = true;
                let Some(i) = &a.iface else {
                    return Err(object(format!(
                        "{shown}: program '{name}' ({}) needs --iface NAME",
                        target.kind()
                    )));
                };
                target.with_iface(Iface::Name(i.clone()))
            }
            Needs::Cgroup => {
                takes_cgroup = true;
                let Some(c) = &a.cgroup else {
                    return Err(object(format!(
                        "{shown}: program '{name}' ({}) needs --cgroup PATH",
                        target.kind()
                    )));
                };
                target.with_cgroup(c.clone())
            }
        };
        plan.push((name.clone(), target));
    }
    if plan.is_empty() && (named || spec.struct_ops.is_empty()) {
        return Err(object(format!(
            "{shown}: no program of the object attaches by its section ({})",
            if skipped.is_empty() {
                "it has no programs".to_string()
            } else {
                skipped.join("; ")
            }
        )));
    }
    if let Some(i) = &a.iface {
        if !takes_iface {
            return Err(object(format!(
                "--iface {i}: no program to attach takes an interface (xdp, tcx/*)"
            )));
        }
        let known = std::ffi::CString::new(i.as_str())
            .ok()
            .and_then(|c| bpf_arena::sys::if_index(&c));
        if known.is_none() {
            return Err(object(format!(
                "--iface {i}: no such interface in this network namespace"
            )));
        }
    }
    if let Some(c) = &a.cgroup {
        if !takes_cgroup {
            return Err(object(format!(
                "--cgroup {}: no program to attach takes a cgroup (cgroup_skb/*, cgroup/*)",
                c.display()
            )));
        }
        check_dir(c)?;
    }
    for m in &a.ringbufs {
        let Some(map) = spec.maps.iter().find(|s| s.name == *m) else {
            let rings: Vec<&str> = spec
                .maps
                .iter()
                .filter(|s| s.map_type == BPF_MAP_TYPE_RINGBUF)
                .map(|s| s.name.as_str())
                .collect();
            return Err(object(format!(
                "--ringbuf {m}: the object has no map '{m}'; its ring buffers: {}",
                if rings.is_empty() {
                    "none".to_string()
                } else {
                    rings.join(", ")
                }
            )));
        };
        if map.map_type != BPF_MAP_TYPE_RINGBUF {
            return Err(object(format!(
                "--ringbuf {m}: map '{m}' is of type {} ({}), not ringbuf ({BPF_MAP_TYPE_RINGBUF})",
                bpf_arena::abi::map_type_name(map.map_type).unwrap_or("unknown"),
                map.map_type
            )));
        }
    }
    Ok(plan)
}

/// `--cgroup PATH` must be a directory (that it is a cgroup v2 one, the
/// kernel checks when attaching).
fn check_dir(path: &Path) -> Result<(), Fail> {
    let shown = path.display();
    let kind = std::fs::metadata(path)
        .map_err(|e| object(format!("--cgroup {shown}: {}", Errno::from_io(&e))))?
        .file_type();
    if kind.is_dir() {
        return Ok(());
    }
    Err(object(format!(
        "--cgroup {shown}: {}, not a directory",
        bpf_arena::abi::file_type_name(kind)
    )))
}

/// Waits until `duration` has passed (from now; `None`: no limit) or
/// SIGINT or SIGTERM arrives, printing the records of `rings` as they
/// arrive.
fn wait(signals: &SignalFd, rings: &mut [RingBuf], duration: Option<Duration>) -> Result<(), Fail> {
    // A --for too long for the clock waits for a signal.
    let deadline = duration.and_then(|d| Instant::now().checked_add(d));
    loop {
        let timeout = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(());
                }
                Some(left)
            }
            None => None,
        };
        let fds: Vec<BorrowedFd<'_>> = std::iter::once(signals.as_fd())
            .chain(rings.iter().map(AsFd::as_fd))
            .collect();
        let ready = match poll_readable(&fds, timeout) {
            Ok(ready) => ready,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(object(format!("waiting: {e}"))),
        };
        drop(fds);
        if ready.iter().skip(1).any(|&r| r) {
            drain(rings)?;
        }
        if ready.first() == Some(&true) {
            let got = signals
                .take()
                .map_err(|e| object(format!("reading the signalfd: {e}")))?;
            if got.is_some() {
                return Ok(());
            }
        }
    }
}

/// Prints every committed record of `rings`, ring by ring in the order
/// given, as `MAP: HEX`, one write per line.
fn drain(rings: &mut [RingBuf]) -> Result<(), Fail> {
    for ring in rings {
        let mut line = String::new();
        let name = ring.name().to_string();
        ring.consume(|record| {
            line.clear();
            let _ = write!(line, "{name}: ");
            for b in record {
                let _ = write!(line, "{b:02x}");
            }
            line.push('\n');
            emit(&line);
            ControlFlow::Continue(())
        })
        .map_err(|e| object(format!("--ringbuf {name}: {e}")))?;
    }
    Ok(())
}
