//! `ObjectSpec::parse` on arbitrary bytes (seeded with the `bpf-asm`
//! objects), then the spec's cheap pure accessors, the attach target each
//! program's section names (and its display), and the uprobe lookup of a
//! function's file offset in the same bytes read as an executable.
#![no_main]

use bpf_arena::obj::{self, ObjectSpec};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(spec) = ObjectSpec::parse("fuzz", data) else {
        return;
    };
    let _ = spec.arena_map();
    let _ = spec.variables().count();
    let _ = spec.reloc_counts();
    let _ = spec.parsed_btf();
    for p in &spec.programs {
        assert!(spec.program(&p.name).is_some());
        let _ = obj::section_def(&p.section);
        if let Ok(t) = obj::AttachTarget::from_section(&p.section, p.prog_type) {
            let _ = (t.to_string(), t.needs());
        }
        let _ = obj::elf_function_offset(data, &p.name);
    }
    for m in &spec.maps {
        assert!(spec.map(&m.name).is_some());
    }
    for d in &spec.data {
        let _ = obj::data_map_name(&spec.name, &d.section);
    }
    for e in &spec.externs {
        let _ = e.essential_name();
    }
});
