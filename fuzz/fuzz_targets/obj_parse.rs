//! `ObjectSpec::parse` on arbitrary bytes (seeded with the `bpf-asm`
//! objects), then the spec's cheap pure accessors, the attach target each
//! program's section names (and its display), the uprobe lookup of a
//! function's file offset in the same bytes read as an executable, and
//! each struct_ops variable's layout for a made-up kernel struct.
#![no_main]

use bpf_arena::obj::{self, KernelMember, KernelStructOps, ObjectSpec};
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
    struct_ops(&spec);
});

/// Each struct_ops variable laid out for a made-up kernel struct: its own
/// members in reverse order after a 64-byte header (and one member
/// shrunk, so sizes can disagree), then looked up in its own BTF as if
/// that were the kernel's.
fn struct_ops(spec: &ObjectSpec) {
    let btf = spec.parsed_btf();
    for so in &spec.struct_ops {
        assert!(spec.maps.get(so.map).is_some_and(|m| m.name == so.name));
        let _ = so.kernel_type_name();
        for (_, p) in so.programs() {
            assert!(spec.programs.get(p).is_some());
        }
        let members: Vec<KernelMember> = so
            .members
            .iter()
            .rev()
            .enumerate()
            .map(|(i, m)| KernelMember {
                name: m.name.clone(),
                index: i as u32,
                offset: m.offset,
                size: if i == 1 { m.size / 2 } else { m.size },
                kind: m.kind.into(),
            })
            .collect();
        let kernel = KernelStructOps {
            type_name: so.kernel_type_name().to_string(),
            type_id: 1,
            value_type_id: 2,
            value_size: (so.data.len() as u32).saturating_add(64),
            data_offset: 64,
            members,
        };
        if let Ok(mut v) = so.value_for(&kernel) {
            assert_eq!(v.bytes.len() as u32, kernel.value_size);
            for i in 0..v.funcs.len() {
                assert!(v.set_fd(i, 7));
            }
        }
        if let Some(b) = &btf {
            let _ = KernelStructOps::find(b, so.kernel_type_name());
        }
    }
}
