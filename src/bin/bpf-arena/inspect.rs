//! `bpf-arena inspect`: everything the parser knows about an object, and
//! `--disasm`, a program as the loader relocates it.

use crate::args::InspectArgs;
use crate::{Fail, emit, load_spec, no_program, object};
use bpf_arena::abi::{MapFlags, map_type_name};
use bpf_arena::insn::Listing;
use bpf_arena::loader::ObjectLoader;
use bpf_arena::obj::{
    ARENA_SECTION, ExternKind, MapOrigin, MapSpec, ObjectSpec, Pinning, RelocKind,
    place_arena_globals,
};
use std::fmt::Write as _;

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
        MapOrigin::StructOps(i) => {
            if let Some(so) = spec.struct_ops.get(i) {
                let progs: Vec<String> = so
                    .programs()
                    .filter_map(|(m, p)| Some(format!("{m}={}", spec.programs.get(p)?.name)))
                    .collect();
                let _ = write!(
                    s,
                    ", struct {} in {} ({})",
                    so.type_name,
                    so.section,
                    progs.join(", ")
                );
            }
        }
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

pub(crate) fn inspect(a: InspectArgs) -> Result<(), Fail> {
    let InspectArgs {
        object: path,
        pages,
        disasm,
    } = a;
    let spec = load_spec(&path)?;
    let arena = spec.arena_map().and_then(|i| spec.maps.get(i));
    let arena_pages = pages.or(arena.map(|m| m.max_entries));
    if let Some(name) = disasm {
        return print_disasm(spec, &name, pages);
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
            "  {}: section {}, type {} ({}), attach_type {}, flags {}, {} insns{}",
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
            p.len,
            if p.untyped {
                " (untyped symbol: runs to the next symbol or the section's end)"
            } else {
                ""
            }
        );
    }
    globals_section(&mut o, &spec, arena.zip(arena_pages));
    relocs_and_externs(&mut o, &spec);
    emit(&o);
    Ok(())
}

fn print_disasm(spec: ObjectSpec, name: &str, pages: Option<u32>) -> Result<(), Fail> {
    if spec.program(name).is_none() {
        return Err(object(format!(
            "--disasm {name}: {}",
            no_program(&spec, name)
        )));
    }
    let has_arena = spec.arena_map().is_some();
    let mut loader = ObjectLoader::new(spec);
    if let Some(n) = pages.filter(|_| has_arena) {
        loader.set_arena_pages(n).map_err(object)?;
    }
    // The loader's own resolve step and placement: kfuncs get this
    // kernel's ids (no privileges needed to read them), map fds show as
    // map indexes.
    let relocated = loader
        .plan()
        .and_then(|plan| plan.relocate(name))
        .map_err(object)?;
    emit(&Listing(&relocated.insns).to_string());
    Ok(())
}

/// The `variables:` and `arena globals:` lines of `inspect`, the arena
/// globals placed as the loader places them (see `place_arena_globals`).
fn globals_section(o: &mut String, spec: &ObjectSpec, arena: Option<(&MapSpec, u32)>) {
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
    match (&spec.arena_data, arena) {
        (Some(a), Some((m, pages))) => {
            let page = bpf_arena::arena::page_size();
            // As the loader places them on a kernel older than 7.0, and
            // whether a kernel accepting full-range direct values would
            // place them elsewhere.
            let placed = place_arena_globals(&m.name, pages, page, a.bytes.len(), || false);
            let full = place_arena_globals(&m.name, pages, page, a.bytes.len(), || true);
            match placed {
                Ok(off) => {
                    let big = full.is_ok_and(|f| f != off);
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
                Err(_) => {
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

/// The `relocations:`, `externs:` and `btf:` lines of `inspect`.
fn relocs_and_externs(o: &mut String, spec: &ObjectSpec) {
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
