//! BTF: `Btf::parse` (and `parse_split`), every per-type accessor on every
//! id, the editor, `.BTF.ext` parsing and the object BTF fix-up
//! (`obj::fixup_btf`); the kfunc scan (`scan_by_names`), whose lanes must
//! give the serial walk's answers and errors for every lane size, and the
//! index's answers for a blob that parses.
//!
//! Input, by `data[0]`:
//! - odd (structure-aware): `data[1]` picks a committed `bpf-asm` object
//!   that has `.BTF`; `data[2]` bit 0 says whether the edits in `data[3..]`
//!   (see `bpf_arena_fuzz::apply_edits`) go to its `.BTF` or `.BTF.ext`.
//!   The fix-up runs with that object's parsed spec, so its externs, data
//!   sections and symbol offsets meet the edited BTF.
//! - even (raw): `data[1..3]` is the `.BTF` length `n` (little-endian,
//!   modulo what is left), then `n` bytes of `.BTF`, then `.BTF.ext`; the
//!   spec around them is the object `data[0] >> 1` picks.
#![no_main]

use bpf_arena::btf::ext::BtfExt;
use bpf_arena::btf::fuzzing::scan_in_stretches;
use bpf_arena::btf::{Btf, BtfEditor, kind, scan_by_names};
use bpf_arena::obj::{ObjectSpec, fixup_btf};
use bpf_arena_fuzz::{Bytes, OBJECTS, apply_edits, section, stem};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

struct Seed {
    spec: ObjectSpec,
    btf: Vec<u8>,
    ext: Vec<u8>,
}

static SEEDS: LazyLock<Vec<Seed>> = LazyLock::new(|| {
    OBJECTS
        .iter()
        .filter_map(|(path, bytes)| {
            let spec = ObjectSpec::parse(stem(path), bytes).ok()?;
            let btf = spec.btf.clone()?;
            let ext = section(bytes, ".BTF.ext").unwrap_or_default().to_vec();
            Some(Seed { spec, btf, ext })
        })
        .collect()
});

const NAMES: &[&str] = &["int", "bpf_arena_alloc_pages", "arena", ".bss", "", "main"];

fn walk(btf: &Btf<'_>) {
    for id in 0..=btf.type_count().saturating_add(1) {
        let _ = btf.header(id);
        let _ = btf.extra(id);
        let _ = btf.name(id);
        let _ = btf.members(id);
        let _ = btf.skip_mods(id);
        let _ = btf.resolve_size(id);
        let _ = btf.array(id);
        let _ = btf.datasec(id);
        let _ = btf.var_linkage(id);
        let _ = btf.single_enum_value(id);
    }
    for k in [
        kind::FUNC,
        kind::VAR,
        kind::DATASEC,
        kind::STRUCT,
        kind::INT,
    ] {
        let _ = btf.find_by_names(k, NAMES);
        let _ = btf.find_by_name(k, "int");
    }
    let _ = btf.find_datasec(".bss");
    let _ = btf.find_datasec(".addr_space.1");
    for off in [0, 1, u32::MAX] {
        let _ = btf.string(off);
    }
    // Appending to a valid blob keeps it valid.
    let mut ed = BtfEditor::new(btf);
    let n = ed.add_string("fuzz_int");
    let id = ed.add_type(&[n, kind::INT << 24, 4, (1 << 24) | 32]);
    let out = ed.finish();
    let again = Btf::parse(&out).expect("editor output of a valid blob parses");
    assert_eq!(again.type_count(), id);
    assert_eq!(again.name(id).ok(), Some("fuzz_int"));
}

fn run(mut spec: ObjectSpec, raw: &[u8], ext: &[u8]) {
    // Inputs are smaller than one default stretch: scan_by_names walks
    // serially here, and small stretches put lanes everywhere.
    let serial = scan_by_names(raw, kind::FUNC, NAMES);
    for stretch in [4, 12, 40] {
        assert_eq!(
            scan_in_stretches(raw, kind::FUNC, NAMES, stretch),
            serial,
            "lanes of {stretch} bytes"
        );
    }
    let parsed = Btf::parse(raw);
    if let Ok(btf) = &parsed {
        // Every record of a blob that parses is well formed.
        assert_eq!(serial, Ok(btf.find_by_names(kind::FUNC, NAMES)));
        walk(btf);
        if let Ok(split) = Btf::parse_split(ext, btf) {
            walk(&split);
        }
        spec.btf_ext = BtfExt::parse(ext, btf).ok();
    }
    spec.btf = Some(raw.to_vec());
    if let Ok(Some(fixed)) = fixup_btf(&spec) {
        let fixed = Btf::parse(&fixed).expect("the fix-up's output parses");
        walk(&fixed);
    }
}

fuzz_target!(|data: &[u8]| {
    let seeds = &*SEEDS;
    let mut d = Bytes(data);
    let mode = d.u8();
    if mode & 1 == 1 {
        let seed = &seeds[d.u8() as usize % seeds.len()];
        let which = d.u8();
        let (mut btf, mut ext) = (seed.btf.clone(), seed.ext.clone());
        apply_edits(if which & 1 == 0 { &mut btf } else { &mut ext }, d.0);
        run(seed.spec.clone(), &btf, &ext);
    } else {
        let seed = &seeds[(mode >> 1) as usize % seeds.len()];
        let n = d.u16() as usize % (d.0.len() + 1);
        let btf = d.take(n);
        run(seed.spec.clone(), btf, d.0);
    }
});
