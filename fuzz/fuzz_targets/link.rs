//! Parse, fix up the BTF, then relocate every program with made-up kernel facts
//! (as `bpf-arena inspect --disasm` does, without reading the kernel):
//! map fds are the map indexes, kfuncs/ksyms resolve to invented BTF ids or
//! go missing, the arena globals sit where `place_arena_globals` puts them.
//! Every relocated program is listed (`Listing`), which must not panic.
#![no_main]

use bpf_arena::insn::Listing;
use bpf_arena::obj::relocate::{KernelFacts, Resolved, relocate};
use bpf_arena::obj::{ExternKind, ObjectSpec, fixup_btf, place_arena_globals};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(spec) = ObjectSpec::parse("fuzz", data) else {
        return;
    };
    let _ = fixup_btf(&spec);
    let fds: Vec<i32> = (0..spec.maps.len() as i32).map(|i| i + 3).collect();
    let pages = spec.arena_map().map(|i| spec.maps[i].max_entries);
    let arena_len = spec.arena_data.as_ref().map_or(0, |a| a.bytes.len() as u64);
    let placed = pages.and_then(|p| {
        place_arena_globals("arena", p, 4096, arena_len, || data.len() % 2 == 0).ok()
    });
    // Two sets of facts: everything resolved (ids from the extern index,
    // odd externs from "module" BTF), and everything missing.
    let resolved: Vec<Resolved> = spec
        .externs
        .iter()
        .enumerate()
        .map(|(i, e)| match e.kind {
            ExternKind::Kconfig { .. } => Resolved::Kconfig,
            ExternKind::Kfunc | ExternKind::Ksym => Resolved::BtfId {
                id: 1000 + i as u32,
                fd_index: (i % 2) as i16,
            },
        })
        .collect();
    let missing: Vec<Resolved> = spec
        .externs
        .iter()
        .map(|e| match e.kind {
            ExternKind::Kconfig { .. } => Resolved::Kconfig,
            _ => Resolved::Missing,
        })
        .collect();
    for (externs, arena_offset) in [(&resolved, placed.unwrap_or(0)), (&missing, 0)] {
        let facts = KernelFacts {
            map_fds: &fds,
            arena_offset,
            externs,
        };
        for p in 0..spec.programs.len() {
            if let Ok(linked) = relocate(&spec, p, &facts) {
                assert_eq!(linked.func_info.len() % 8, 0);
                assert_eq!(linked.line_info.len() % 16, 0);
                assert_eq!(linked.core_relos.len() % 16, 0);
                let _ = Listing(&linked.insns).to_string();
            }
        }
    }
});
