//! `bpf-arena`: probe, inspect, run, show. Output is an interface: keep it
//! byte-exact. Exit status: 0 success, 1 object/kernel problem, 2 usage.
//! The arguments are parsed by [`args`] (pure and total); `run` and `show`
//! load objects through [`load`]; `show` lives in [`show`].

use bpf_arena::abi::{MapFlags, map_type_name};
use bpf_arena::features::probe_all;
use bpf_arena::insn::Listing;
use bpf_arena::loader::globals_offset;
use bpf_arena::obj::link::{KernelFacts, Resolved, link};
use bpf_arena::obj::{
    ARENA_SECTION, ExternKind, MapOrigin, MapSpec, ObjectSpec, Pinning, RelocKind,
};
use bpf_arena::prog::{ProgramType, TestRun};
use std::fmt::Write as _;
use std::process::ExitCode;

mod args;
mod load;
mod show;
use args::{Command, InspectArgs, RunArgs};
use load::{Options, load_object};

const USAGE: &str = "\
Usage: bpf-arena <COMMAND> [ARGS]

BPF arenas (BPF_MAP_TYPE_ARENA) straight against the kernel ABI.

Commands:
  probe                              what this kernel supports, one line per feature
  inspect OBJECT [OPTIONS]           everything the parser knows about an ELF object
  run OBJECT [OPTIONS] [PROGRAM...]  load an object, run programs, print values
  show OBJECT [OPTIONS] [PROGRAM...] load programs, print the kernel's view of each

Run `bpf-arena COMMAND --help` for a command's options.
Exit status: 0 success, 1 the object failed to parse or load or a run failed, 2 usage error.
";

const PROBE_HELP: &str = "\
Usage: bpf-arena probe

Prints one line per feature: `NAME: yes` or `NAME: no (REASON)`, where REASON
names the kernel release that added the feature or the error the kernel gave.
Needs no privileges: without them, the kernel probes say EPERM and the
capability lines say which capabilities are missing.
";

const INSPECT_HELP: &str = "\
Usage: bpf-arena inspect OBJECT [--pages N] [--disasm PROGRAM]

Prints the object's sections, maps (every attribute), programs (section,
type, attach type, flags, instruction count), global variables (section,
offset, size), arena globals and where they will be placed, relocations by
kind, kfunc and kconfig externs, and func/line info counts. Needs no
privileges.

Options:
  --pages N          place the arena globals as for an arena of N pages
  --disasm PROGRAM   print PROGRAM's instructions after relocation, one per
                     line; map fds are shown as the map's index in the map
                     list, kfuncs with their id in /sys/kernel/btf/vmlinux
";

const RUN_HELP: &str = "\
Usage: bpf-arena run OBJECT [OPTIONS] [PROGRAM...]

Loads OBJECT (creating its maps, mapping its arena, loading its programs),
runs each PROGRAM named, in the order given, with BPF_PROG_TEST_RUN, then
prints the requested values. If PROGRAMs are named, only those are loaded;
if none are named, all are loaded and none run.

Options:
  --set NAME=VALUE  before loading, set global NAME (in .bss, .data, .rodata*,
                    .data.* or .addr_space.1); VALUE is decimal or 0x-hex,
                    optionally negative, stored little-endian in the
                    variable's size, which must be 1, 2, 4 or 8 bytes
  --get NAME        after all runs, print NAME=VALUE read from user-space
                    memory (the mapped global data or the arena mapping):
                    sizes 1/2/4/8 as unsigned decimal, others as 0x and the
                    bytes in memory order, lowercase hex
  --pages N         set the arena's max_entries before it is created
  --times N         run each PROGRAM N times (default 1); print the last retval
  --ctx HEX         ctx_in bytes for each run (default none); packet programs
                    (socket, tc, xdp, cgroup_skb, ...) also get a 64-byte zero
                    packet as data_in
  --pin-root DIR    honour the object's `pinning` attributes under DIR (a
                    bpffs directory): reuse matching maps pinned there and pin
                    new ones; without it nothing is pinned or reused

Output, one line per item: `PROGRAM retval=R` (R: the 32-bit return value,
signed decimal), then `NAME=VALUE` for each --get, in the order given.
";

/// A usage error (exit 2) or an object/kernel error (exit 1).
enum Fail {
    Usage(String),
    Object(String),
    /// Already reported on stderr.
    Reported,
}

fn object(msg: impl std::fmt::Display) -> Fail {
    Fail::Object(msg.to_string())
}

fn main() -> ExitCode {
    // OsString arguments: a non-UTF-8 argument is a usage error (or, for a
    // path, just a path), never a panic.
    let argv: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let result = match args::parse(&argv) {
        Err(args::Usage(m)) => Err(Fail::Usage(m)),
        Ok(Command::Help) => shown(USAGE),
        Ok(Command::ProbeHelp) => shown(PROBE_HELP),
        Ok(Command::InspectHelp) => shown(INSPECT_HELP),
        Ok(Command::RunHelp) => shown(RUN_HELP),
        Ok(Command::Probe) => shown(&probe()),
        Ok(Command::Inspect(a)) => inspect(a),
        Ok(Command::Run(a)) => run(a),
        Ok(Command::ShowHelp) => shown(show::HELP),
        Ok(Command::Show(a)) => show::show(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail::Usage(m)) => {
            eprintln!("bpf-arena: {m}");
            ExitCode::from(2)
        }
        Err(Fail::Object(m)) => {
            eprintln!("bpf-arena: {m}");
            ExitCode::from(1)
        }
        Err(Fail::Reported) => ExitCode::from(1),
    }
}

/// Prints `text` (see [`emit`]): the whole work of help and probe.
fn shown(text: &str) -> Result<(), Fail> {
    emit(text);
    Ok(())
}

/// Writes to stdout; a closed pipe (`bpf-arena probe | head -1`) ends the
/// program quietly instead of panicking.
fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("bpf-arena: writing output: {e}");
        std::process::exit(1);
    }
}

fn probe() -> String {
    let mut out = String::new();
    for (f, s) in probe_all() {
        let _ = writeln!(out, "{}: {s}", f.name());
    }
    out
}

fn load_spec(path: &std::path::Path) -> Result<ObjectSpec, Fail> {
    // Through the crate's error, which words I/O failures with the errno.
    ObjectSpec::from_file(path)
        .map_err(|e| object(format!("{}: {}", path.display(), bpf_arena::Error::from(e))))
}

fn map_line(m: &MapSpec, spec: &ObjectSpec) -> String {
    let mut s = format!(
        "type {} ({}), key_size {}, value_size {}, max_entries {}, flags {}, map_extra {:#x}, numa_node {}, pinning {}",
        map_type_name(m.map_type).unwrap_or("unknown"),
        m.map_type,
        m.key_size,
        m.value_size,
        m.max_entries,
        MapFlags(m.map_flags),
        m.map_extra,
        m.numa_node,
        if m.pinning == Pinning::ByName {
            "by_name"
        } else {
            "none"
        }
    );
    match m.origin {
        MapOrigin::Data(d) => {
            let _ = write!(s, ", holds {}", spec.data[d].section);
        }
        MapOrigin::Kconfig => s.push_str(", holds .kconfig"),
        MapOrigin::Declared => {}
    }
    if let Some(i) = &m.inner {
        let _ = write!(
            s,
            ", inner: type {} ({}), key_size {}, value_size {}, max_entries {}, flags {}",
            map_type_name(i.map_type).unwrap_or("unknown"),
            i.map_type,
            i.key_size,
            i.value_size,
            i.max_entries,
            MapFlags(i.map_flags)
        );
    }
    s
}

fn reloc_kind_name(k: RelocKind) -> &'static str {
    match k {
        RelocKind::Map => "map",
        RelocKind::Data => "data",
        RelocKind::Arena => "arena",
        RelocKind::Call => "call",
        RelocKind::FuncAddr => "func_addr",
        RelocKind::Kfunc => "kfunc",
        RelocKind::Ksym => "ksym",
        RelocKind::Kconfig => "kconfig",
    }
}

fn inspect(a: InspectArgs) -> Result<(), Fail> {
    let InspectArgs {
        object: path,
        pages,
        disasm,
    } = a;
    let spec = load_spec(&path)?;
    let arena_pages = pages.or_else(|| spec.arena_map().map(|i| spec.maps[i].max_entries));
    if let Some(name) = disasm {
        return print_disasm(&spec, &name, arena_pages);
    }
    let mut o = String::new();
    let _ = writeln!(o, "object: {}", spec.name);
    let _ = writeln!(
        o,
        "license: {}",
        if spec.license.is_empty() {
            "(none)"
        } else {
            &spec.license
        }
    );
    let _ = writeln!(o, "sections:");
    for s in &spec.sections {
        let _ = writeln!(o, "  {}: {}, {} bytes", s.name, s.kind, s.size);
    }
    let _ = writeln!(o, "maps:");
    for m in &spec.maps {
        let _ = writeln!(o, "  {}: {}", m.name, map_line(m, &spec));
    }
    let _ = writeln!(o, "programs:");
    for p in &spec.programs {
        let flags: Vec<&str> = [
            (bpf_arena::prog::ProgramFlags::SLEEPABLE, "sleepable"),
            (
                bpf_arena::prog::ProgramFlags::XDP_HAS_FRAGS,
                "xdp_has_frags",
            ),
        ]
        .iter()
        .filter(|(f, _)| p.flags.contains(*f))
        .map(|(_, n)| *n)
        .collect();
        let _ = writeln!(
            o,
            "  {}: section {}, type {} ({}), attach_type {}, flags {}, {} insns",
            p.name,
            p.section,
            p.prog_type,
            p.prog_type.0,
            p.expected_attach_type,
            if flags.is_empty() {
                "none".to_string()
            } else {
                flags.join("|")
            },
            p.len
        );
    }
    let _ = writeln!(o, "variables:");
    for d in &spec.data {
        for v in &d.variables {
            let _ = writeln!(
                o,
                "  {}: section {}, offset {}, size {}",
                v.name, v.section, v.offset, v.size
            );
        }
    }
    arena_globals(&mut o, &spec, arena_pages);
    let counts: Vec<String> = spec
        .reloc_counts()
        .iter()
        .map(|(k, n)| format!("{} {n}", reloc_kind_name(*k)))
        .collect();
    let _ = writeln!(
        o,
        "relocations: {}",
        if counts.is_empty() {
            "none".to_string()
        } else {
            counts.join(", ")
        }
    );
    externs_and_btf(&mut o, &spec);
    emit(&o);
    Ok(())
}

/// The `arena globals:` section of `inspect`: where the arena globals go
/// in an arena of `arena_pages` pages.
fn arena_globals(o: &mut String, spec: &ObjectSpec, arena_pages: Option<u32>) {
    match (&spec.arena_data, arena_pages) {
        (Some(a), Some(pages)) => {
            let placed = globals_offset(pages, a.bytes.len(), || false);
            let page = bpf_arena::sys::page_size() as u64;
            match placed {
                Some(off) => {
                    let big = pages as u64 * page > 1 << 29;
                    let _ = writeln!(
                        o,
                        "arena globals: {} bytes in {ARENA_SECTION}, placed at offset {off:#x} of a {pages}-page arena{}",
                        a.bytes.len(),
                        if big {
                            " (at the end instead on kernels accepting direct-value offsets >= 512 MiB)"
                        } else {
                            ""
                        }
                    );
                    for v in &a.variables {
                        let _ = writeln!(
                            o,
                            "  {}: offset {}, size {}, arena offset {:#x}",
                            v.name,
                            v.offset,
                            v.size,
                            off + v.offset
                        );
                    }
                }
                None => {
                    let _ = writeln!(
                        o,
                        "arena globals: {} bytes in {ARENA_SECTION}, do not fit a {pages}-page arena",
                        a.bytes.len()
                    );
                }
            }
        }
        (Some(a), None) => {
            let _ = writeln!(
                o,
                "arena globals: {} bytes in {ARENA_SECTION}, but no arena map",
                a.bytes.len()
            );
        }
        (None, _) => {
            let _ = writeln!(o, "arena globals: none");
        }
    }
}

/// The `externs:` and `btf:` sections of `inspect`.
fn externs_and_btf(o: &mut String, spec: &ObjectSpec) {
    let _ = writeln!(o, "externs:");
    for e in &spec.externs {
        let strength = if e.weak { "weak" } else { "strong" };
        match e.kind {
            ExternKind::Kfunc => {
                let _ = writeln!(o, "  kfunc {} ({strength})", e.name);
            }
            ExternKind::Ksym => {
                let _ = writeln!(o, "  ksym {} ({strength})", e.name);
            }
            ExternKind::Kconfig { offset, size } => {
                let _ = writeln!(
                    o,
                    "  kconfig {} ({strength}): offset {offset}, size {size}",
                    e.name
                );
            }
        }
    }
    let (mut fi, mut li, mut cr) = (0, 0, 0);
    if let Some(x) = &spec.btf_ext {
        for (_, s) in &x.sections {
            fi += s.func_info.len();
            li += s.line_info.len();
            cr += s.core_relos.len();
        }
    }
    let _ = writeln!(
        o,
        "btf: {}, func_info {fi}, line_info {li}, core_relos {cr}",
        if spec.btf.is_some() { "yes" } else { "no" }
    );
}

fn print_disasm(spec: &ObjectSpec, name: &str, arena_pages: Option<u32>) -> Result<(), Fail> {
    let p = spec
        .programs
        .iter()
        .position(|p| p.name == name)
        .ok_or_else(|| object(format!("the object has no program '{name}'")))?;
    let fds: Vec<i32> = (0..spec.maps.len() as i32).collect();
    // Kfuncs get this kernel's ids (no privileges needed to read them);
    // ksyms are shown unresolved.
    let kfuncs: Vec<&str> = spec
        .externs
        .iter()
        .filter(|e| e.kind == ExternKind::Kfunc)
        .map(|e| e.essential_name())
        .collect();
    let mut ids = if kfuncs.is_empty() {
        Vec::new()
    } else {
        bpf_arena::kfunc::kfunc_ids(&kfuncs).unwrap_or_else(|_| vec![None; kfuncs.len()])
    }
    .into_iter();
    let externs: Vec<Resolved> = spec
        .externs
        .iter()
        .map(|e| match e.kind {
            ExternKind::Kconfig { .. } => Resolved::Kconfig,
            ExternKind::Kfunc => ids
                .next()
                .flatten()
                .map_or(Resolved::Missing, |id| Resolved::BtfId { id, fd_index: 0 }),
            ExternKind::Ksym => Resolved::Missing,
        })
        .collect();
    let arena_offset = match (&spec.arena_data, arena_pages) {
        (Some(a), Some(pages)) => globals_offset(pages, a.bytes.len(), || false).unwrap_or(0),
        _ => 0,
    };
    let linked = link(
        spec,
        p,
        &KernelFacts {
            map_fds: &fds,
            arena_offset,
            externs: &externs,
        },
    )
    .map_err(object)?;
    emit(&Listing(&linked.insns).to_string());
    Ok(())
}

fn is_packet_program(t: ProgramType) -> bool {
    [
        ProgramType::SOCKET_FILTER,
        ProgramType::SCHED_CLS,
        ProgramType::SCHED_ACT,
        ProgramType::XDP,
        ProgramType::CGROUP_SKB,
        ProgramType::LWT_IN,
        ProgramType::LWT_OUT,
        ProgramType::LWT_XMIT,
        ProgramType::LWT_SEG6LOCAL,
        ProgramType::SK_SKB,
        ProgramType::FLOW_DISSECTOR,
    ]
    .contains(&t)
}

fn run(a: RunArgs) -> Result<(), Fail> {
    let RunArgs {
        object: path,
        sets,
        gets,
        pages,
        times,
        ctx,
        pin_root,
        programs,
    } = a;
    let shown = path.display().to_string();
    let obj = load_object(
        &path,
        &Options {
            sets: &sets,
            gets: &gets,
            pages,
            pin_root: pin_root.as_deref(),
            programs: &programs,
        },
    )?;
    let mut out = String::new();
    for name in &programs {
        let prog = obj
            .program(name)
            .map_err(|_| object(format!("{shown}: program '{name}' was not loaded")))?;
        let packet = [0u8; 64];
        let mut last = 0;
        for _ in 0..times {
            let mut c = ctx.clone();
            let r = if prog.program_type() == ProgramType::SYSCALL {
                prog.run_syscall(&mut c)
            } else {
                let mut run = TestRun::new();
                if is_packet_program(prog.program_type()) {
                    run.data_in(&packet);
                }
                if !c.is_empty() {
                    run.ctx_in(&mut c);
                }
                prog.test_run(&mut run).map(|r| r.retval)
            };
            last = r.map_err(|e| object(format!("{shown}: running '{name}': {e}")))?;
        }
        let _ = writeln!(out, "{name} retval={}", last as i32);
    }
    for g in &gets {
        let bytes = obj
            .global_bytes(g)
            .map_err(|e| object(format!("--get {g}: {e}")))?;
        let mut le = [0u8; 8];
        if let Some(head) = le.get_mut(..bytes.len()) {
            head.copy_from_slice(&bytes);
        }
        let text = match bytes.len() {
            1 | 2 | 4 | 8 => u64::from_le_bytes(le).to_string(),
            _ => {
                let mut h = String::from("0x");
                for b in &bytes {
                    let _ = write!(h, "{b:02x}");
                }
                h
            }
        };
        let _ = writeln!(out, "{g}={text}");
    }
    emit(&out);
    Ok(())
}
