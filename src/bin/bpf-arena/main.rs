//! `bpf-arena`: probe, inspect, run, show, attach, gen. Output is an interface: keep it
//! byte-exact. Exit status: 0 success, 1 object/kernel problem, 2 usage.
//! The arguments are parsed by [`args`] (pure and total); `run`, `show` and
//! `attach` load objects through [`load`]; `show` lives in [`show`],
//! `attach` in [`attach`]; `gen` prints `bpf_arena::codegen`'s text.

use bpf_arena::features::probe_all;
use bpf_arena::obj::ObjectSpec;
use std::fmt::Write as _;
use std::process::ExitCode;

mod args;
mod attach;
mod inspect;
mod load;
mod run;
mod show;
use args::Command;
use inspect::inspect;
use run::run;

const USAGE: &str = "\
Usage: bpf-arena <COMMAND> [ARGS]

BPF arenas (BPF_MAP_TYPE_ARENA) straight against the kernel ABI.

Commands:
  probe                                what this kernel supports, one line per feature
  inspect OBJECT [OPTIONS]             everything the parser knows about an ELF object
  run OBJECT [OPTIONS] [PROGRAM...]    load an object, run programs, print values
  show OBJECT [OPTIONS] [PROGRAM...]   load programs, print the kernel's view of each
  attach OBJECT [OPTIONS] [PROGRAM...] attach programs to kernel events for a while,
                                       then detach and print values
  gen OBJECT [OPTIONS]                 Rust types and a typed handle from the
                                       object's BTF

Run `bpf-arena COMMAND --help` for a command's options.
Exit status: 0 success, 1 the object failed to parse or load or a run or
attachment failed, 2 usage error.
";

const GEN_HELP: &str = "\
Usage: bpf-arena gen OBJECT [--module NAME] [--embed PATH] [--arena-type NAME]...
                            [--types-only]

Prints Rust source for OBJECT, generated from its BTF: a module named after
the object with a `types` module (a #[repr(C)] type for every struct, union,
enum and typedef its globals and maps reach, each size and field offset
asserted at compile time, pointers into the arena as ArenaPtr<T>, or
KernelArenaPtr<T> for a BPF_F_NO_USER_CONV arena) and a typed handle: Loader
and Loaded, with one method per global variable, program and map. The same
object always gives the same text, formatted as rustfmt leaves it. Needs no
privileges. The module docs of bpf_arena::codegen say what each BTF kind
becomes.

A struct the object's BTF only declares (clang writes a struct reached only
through a pointer member so) is generated as an opaque type, with one
`bpf-arena: warning: ...` line on stderr for each.

Options:
  --module NAME       name the module NAME (default: the object's name, its
                      file name up to the first dot)
  --embed PATH        embed the object: OBJECT = include_bytes!(PATH) and
                      Loader::embedded() (PATH as the generated file's
                      include! site sees it; absolute is safest)
  --arena-type NAME   also generate struct, union or typedef NAME as a type
                      that lives in the arena (for structures BPF hands over
                      through a void pointer); repeatable
  --types-only        print only the types (bpf_arena::codegen::rust_types)
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
                    pointers (by the object's BTF) as 0x-hex, other sizes
                    1/2/4/8 as unsigned decimal, others as 0x and the bytes
                    in memory order, lowercase hex
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
        Ok(Command::AttachHelp) => shown(attach::HELP),
        Ok(Command::Attach(a)) => attach::attach(a),
        Ok(Command::GenHelp) => shown(GEN_HELP),
        Ok(Command::Gen(a)) => gen_code(a),
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

/// `bpf-arena gen`: the generated module on stdout.
fn gen_code(a: args::GenArgs) -> Result<(), Fail> {
    let spec = load_spec(&a.object)?;
    let fail = |e: bpf_arena::codegen::GenError| path_error(&a.object, bpf_arena::Error::from(e));
    let mut opts = bpf_arena::codegen::Options::default();
    if let Some(m) = &a.module {
        opts.module(m);
    }
    if let Some(e) = &a.embed {
        opts.embed(e);
    }
    for t in &a.arena_types {
        opts.arena_type(t);
    }
    if a.types_only {
        opts.types_only();
    }
    let text = bpf_arena::codegen::generate(&spec, &opts).map_err(fail)?;
    for t in bpf_arena::codegen::opaque_types(&spec, &opts).map_err(fail)? {
        eprintln!(
            "bpf-arena: warning: `{t}` is only declared in the object's BTF, so it is generated opaque (clang writes a struct reached only through a pointer member so: a global of its own type makes it write the layout)"
        );
    }
    emit(&text);
    Ok(())
}

fn load_spec(path: &std::path::Path) -> Result<ObjectSpec, Fail> {
    // Through the crate's error, which words I/O failures with the errno.
    ObjectSpec::from_file(path).map_err(|e| path_error(path, bpf_arena::Error::from(e)))
}

/// "the object has no program 'NAME'; its programs: A, B" (or "none").
fn no_program(spec: &ObjectSpec, name: &str) -> String {
    let all: Vec<&str> = spec.programs.iter().map(|p| p.name.as_str()).collect();
    format!(
        "the object has no program '{name}'; its programs: {}",
        if all.is_empty() {
            "none".to_string()
        } else {
            all.join(", ")
        }
    )
}

/// An error about the object file at `path`, naming the path once: the
/// errors of reading the file (I/O, not a regular file, too large) name it
/// already, parse errors do not.
fn path_error(path: &std::path::Path, e: bpf_arena::Error) -> Fail {
    let names_path = matches!(
        e,
        bpf_arena::Error::Syscall { .. }
            | bpf_arena::Error::Invalid {
                what: "object file",
                ..
            }
    );
    if names_path {
        object(e)
    } else {
        object(format!("{}: {e}", path.display()))
    }
}
