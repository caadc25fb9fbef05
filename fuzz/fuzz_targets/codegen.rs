//! `codegen::generate` and `codegen::rust_types` on a committed `bpf-asm`
//! object whose `.BTF` is edited (structure-aware), and its `Check`
//! against the edited spec: any BTF gives text or a `GenError`, never a
//! panic, and the same input always gives the same text.
//!
//! Input: `data[0]` picks the object, `data[1]` the options (bit 0: embed,
//! bit 1: name a module, bit 2: ask for an arena type named by the first
//! struct the edited BTF has), then edits (`bpf_arena_fuzz::apply_edits`)
//! to its `.BTF`.
#![no_main]

use bpf_arena::btf::{Btf, kind};
use bpf_arena::codegen::{self, Check, Options};
use bpf_arena::obj::ObjectSpec;
use bpf_arena_fuzz::{Bytes, OBJECTS, apply_edits, stem};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static SEEDS: LazyLock<Vec<ObjectSpec>> = LazyLock::new(|| {
    OBJECTS
        .iter()
        .filter_map(|(path, bytes)| {
            let spec = ObjectSpec::parse(stem(path), bytes).ok()?;
            spec.btf.is_some().then_some(spec)
        })
        .collect()
});

fuzz_target!(|data: &[u8]| {
    let seeds = &*SEEDS;
    let mut d = Bytes(data);
    let mut spec = seeds[d.u8() as usize % seeds.len()].clone();
    let opts_bits = d.u8();
    let mut btf = spec.btf.take().unwrap_or_default();
    apply_edits(&mut btf, d.0);
    let mut opts = Options::default();
    if opts_bits & 1 != 0 {
        opts.embed("/x/\"quoted\"\\.o");
    }
    if opts_bits & 2 != 0 {
        opts.module("fuzzed");
    }
    if opts_bits & 4 != 0 {
        if let Ok(b) = Btf::parse(&btf) {
            if let Some(id) = (1..=b.type_count().min(64))
                .find(|&id| b.header(id).is_some_and(|h| h.kind() == kind::STRUCT))
            {
                if let Ok(n) = b.name(id) {
                    opts.arena_type(n);
                }
            }
        }
    }
    spec.btf = Some(btf);
    let a = codegen::generate(&spec, &opts);
    let b = codegen::generate(&spec, &opts);
    assert_eq!(a, b, "deterministic");
    let _ = codegen::rust_types(&spec);
    // The handle's check of the spec against itself by name.
    let mut c = Check::new(&spec, &spec.name);
    for v in spec.variables() {
        c.global(&v.name, &v.section, v.size);
    }
    for p in &spec.programs {
        c.program(&p.name);
    }
    let _ = c.finish();
});
