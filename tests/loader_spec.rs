//! Pure tests: every bpf-asm object parses into the spec its source
//! describes (maps with all attributes, programs, variables, externs,
//! relocations by kind). Relocation counts were read off `llvm-readelf-19 -r`
//! for each object, independently of this parser. No kernel needed.

use bpf_arena::obj::{DataKind, ExternKind, MapOrigin, ObjectSpec, Pinning, RelocKind};
use bpf_arena::prog::{ProgramFlags, ProgramType};

fn spec(file: &str) -> ObjectSpec {
    let path = format!("{}/bpf-asm/{file}", env!("CARGO_MANIFEST_DIR"));
    ObjectSpec::from_file(std::path::Path::new(&path)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn counts(s: &ObjectSpec) -> Vec<(RelocKind, usize)> {
    s.reloc_counts()
}

fn var(s: &ObjectSpec, name: &str) -> (String, u64, u64) {
    let v = s
        .variables()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("variable {name}"));
    (v.section.clone(), v.offset, v.size)
}

#[test]
fn arena_list_spec() {
    let s = spec("arena_list.bpf.o");
    assert_eq!(s.license, "GPL");
    let names: Vec<_> = s
        .programs
        .iter()
        .map(|p| (p.name.as_str(), p.section.as_str(), p.prog_type))
        .collect();
    assert_eq!(
        names,
        [
            ("arena_list_add", "syscall", ProgramType::SYSCALL),
            ("arena_list_sum", "syscall", ProgramType::SYSCALL),
            ("arena_list_del", "syscall", ProgramType::SYSCALL)
        ]
    );
    assert!(
        s.programs
            .iter()
            .all(|p| p.flags == ProgramFlags::SLEEPABLE),
        "syscall programs are sleepable"
    );
    let arena = s.map("arena").unwrap();
    assert_eq!(
        (
            arena.map_type,
            arena.key_size,
            arena.value_size,
            arena.max_entries,
            arena.map_flags,
            arena.map_extra
        ),
        (33, 0, 0, 64, 1 << 10, 0)
    );
    let bss = s.map("arena_li.bss").unwrap();
    assert_eq!(
        (bss.map_type, bss.key_size, bss.max_entries, bss.origin),
        (2, 4, 1, MapOrigin::Data(0))
    );
    // __arena globals: int test_val = 1; struct list_head list; then
    // (clang's order) the node pointer `newest`, u64 arena_sum; statics after.
    assert_eq!(var(&s, "test_val"), (".addr_space.1".into(), 0, 4));
    assert_eq!(var(&s, "list"), (".addr_space.1".into(), 8, 16));
    assert_eq!(var(&s, "newest"), (".addr_space.1".into(), 24, 8));
    assert_eq!(var(&s, "arena_sum"), (".addr_space.1".into(), 32, 8));
    let a = s.arena_data.as_ref().unwrap();
    assert_eq!(
        a.bytes.read(0, 4).unwrap(),
        1i32.to_le_bytes(),
        "initial value of test_val"
    );
    assert_eq!(var(&s, "cnt"), (".bss".into(), 0, 4));
    let cur = s
        .variables()
        .find(|v| v.name == "cur_page")
        .expect("static arena variable");
    assert!(
        !cur.global && cur.section == ".addr_space.1",
        "static, local symbol"
    );
    let ext: Vec<_> = s
        .externs
        .iter()
        .map(|e| (e.name.as_str(), e.kind, e.weak))
        .collect();
    assert_eq!(
        ext,
        [
            ("bpf_arena_alloc_pages", ExternKind::Kfunc, true),
            ("bpf_arena_free_pages", ExternKind::Kfunc, true)
        ]
    );
    // readelf: 2 kfunc calls; 6 .addr_space.1 + 7 list + 1 arena_sum + 2 newest; 2 cnt + 2 list_len + 1 list_sum; 2 arena.
    assert_eq!(
        counts(&s),
        [
            (RelocKind::Map, 2),
            (RelocKind::Data, 5),
            (RelocKind::Arena, 16),
            (RelocKind::Kfunc, 2)
        ]
    );
    let ext = s.btf_ext.as_ref().unwrap().section("syscall").unwrap();
    assert_eq!(ext.func_info.len(), 3);
    assert!(ext.line_info.len() > 20);
    assert!(ext.core_relos.is_empty());
}

#[test]
fn counter_specs() {
    let s = spec("counter.bpf.o");
    assert_eq!(var(&s, "step"), (".data".into(), 0, 8));
    assert_eq!(
        s.data
            .iter()
            .find(|d| d.section == ".data")
            .unwrap()
            .bytes
            .to_vec()
            .unwrap(),
        1u64.to_le_bytes()
    );
    assert_eq!(var(&s, "counter"), (".bss".into(), 0, 8));
    assert_eq!(
        counts(&s),
        [
            (RelocKind::Map, 2),
            (RelocKind::Data, 2),
            (RelocKind::Kfunc, 1)
        ]
    );
    let core = &s
        .btf_ext
        .as_ref()
        .unwrap()
        .section("syscall")
        .unwrap()
        .core_relos;
    assert_eq!(core.len(), 1, "one CO-RE field read");
    assert_eq!(core[0].kind, 0, "FIELD_BYTE_OFFSET");
    let r = spec("counter_reader.bpf.o");
    assert!(
        r.maps.is_empty() && r.arena_map().is_none(),
        "declares no arena"
    );
    assert!(
        r.code[r.programs[0].code]
            .insns
            .iter()
            .any(|i| i.code == 0xbf && i.off == 1),
        "uses addr_space_cast"
    );
    assert!(counts(&r).is_empty());
}

#[test]
fn htab_spec_has_text_subprograms_and_cross_section_calls() {
    let s = spec("htab.bpf.o");
    let text = s.code.iter().find(|c| c.name == ".text").unwrap();
    let funcs: Vec<_> = text
        .funcs
        .iter()
        .map(|f| (f.name.as_str(), f.global))
        .collect();
    assert!(funcs.contains(&("htab_bucket", true)), "{funcs:?}");
    assert!(funcs.contains(&("htab_find", false)), "{funcs:?}");
    assert!(!text.relocs.is_empty(), ".rel.text is read");
    assert_eq!(var(&s, "buckets"), (".addr_space.1".into(), 0, 64 * 8));
    // readelf: calls 1 (.rel.text) + 3 (.relsyscall); .addr_space.1 2 + buckets 2;
    // .bss 3 + entries 1 + n 2; arena 1; kfunc 1.
    assert_eq!(
        counts(&s),
        [
            (RelocKind::Map, 1),
            (RelocKind::Data, 6),
            (RelocKind::Arena, 4),
            (RelocKind::Call, 4),
            (RelocKind::Kfunc, 1)
        ]
    );
    let text_arena_section_relocs = text
        .relocs
        .iter()
        .filter(|r| r.symbol == ".addr_space.1")
        .count();
    assert_eq!(
        text_arena_section_relocs, 2,
        "section-symbol relocations inside a subprogram"
    );
}

#[test]
fn atomics_spec_has_raw_tp_data_rodata() {
    let s = spec("atomics.bpf.o");
    let p = s.program("atomics_raw_tp").unwrap();
    assert_eq!(
        (p.section.as_str(), p.prog_type, p.flags),
        (
            "raw_tp/sys_enter",
            ProgramType::RAW_TRACEPOINT,
            ProgramFlags::empty()
        )
    );
    let kinds: Vec<_> = s
        .data
        .iter()
        .map(|d| (d.section.as_str(), d.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            (".data", DataKind::Data),
            (".rodata", DataKind::Rodata),
            (".bss", DataKind::Bss)
        ],
        "file order"
    );
    let rodata = s.maps.iter().find(|m| m.name.ends_with(".rodata")).unwrap();
    assert_eq!(
        rodata.map_flags,
        (1 << 7) | (1 << 10),
        "RDONLY_PROG | MMAPABLE"
    );
    assert_eq!(counts(&s), [(RelocKind::Data, 3), (RelocKind::Arena, 7)]);
}

#[test]
fn pages_spec_has_a_sleepable_iterator() {
    let s = spec("pages.bpf.o");
    let it = s.program("map_iter").unwrap();
    assert_eq!(
        (it.section.as_str(), it.prog_type, it.expected_attach_type),
        ("iter.s/bpf_map", ProgramType::TRACING, 28)
    );
    assert!(it.flags.contains(ProgramFlags::SLEEPABLE));
    assert!(
        s.externs
            .iter()
            .any(|e| e.name == "bpf_arena_reserve_pages")
    );
    assert_eq!(
        counts(&s),
        [
            (RelocKind::Map, 10),
            (RelocKind::Data, 1),
            (RelocKind::Kfunc, 10)
        ]
    );
}

#[test]
fn externs_spec_has_kconfig_and_merged_strings() {
    let s = spec("externs.bpf.o");
    let k: Vec<_> = s
        .externs
        .iter()
        .filter(|e| e.name.starts_with("CONFIG_"))
        .map(|e| (e.name.as_str(), e.kind, e.weak))
        .collect();
    assert_eq!(
        k,
        [
            (
                "CONFIG_HZ",
                ExternKind::Kconfig { offset: 0, size: 4 },
                false
            ),
            (
                "CONFIG_BPF_ARENA_NOT_A_REAL_OPTION",
                ExternKind::Kconfig { offset: 4, size: 4 },
                true
            ),
            (
                "CONFIG_BPF_SYSCALL",
                ExternKind::Kconfig { offset: 8, size: 1 },
                false
            ),
        ]
    );
    let kc = s
        .maps
        .iter()
        .find(|m| m.origin == MapOrigin::Kconfig)
        .unwrap();
    assert_eq!(kc.name, "externs.kconfig");
    let strs = s
        .data
        .iter()
        .find(|d| d.section == ".rodata.str1.1")
        .unwrap();
    assert_eq!(strs.bytes.to_vec().unwrap(), b"hello\0");
    assert!(!strs.has_btf);
    assert!(
        s.map(".rodata.str1.1").is_some(),
        "merged strings get their own map"
    );
    assert_eq!(
        s.program("classify").unwrap().prog_type,
        ProgramType::SCHED_CLS
    );
    assert!(
        s.externs
            .iter()
            .any(|e| e.name == "bpf_kfunc_this_kernel_does_not_have" && e.weak)
    );
    // readelf: bias + the string literal; 3 kconfig; 4 iterator kfunc calls plus
    // the weak kfunc's guard and call.
    assert_eq!(
        counts(&s),
        [
            (RelocKind::Data, 2),
            (RelocKind::Kfunc, 6),
            (RelocKind::Kconfig, 3)
        ]
    );
}

#[test]
fn fixed_addr_spec_has_every_map_attribute() {
    let s = spec("fixed_addr.bpf.o");
    let a = s.map("fixed_arena").unwrap();
    assert_eq!(a.map_extra, 1 << 44, "ENUM64 __ulong");
    let p = s.map("pinned_counts").unwrap();
    assert_eq!(
        (
            p.map_type,
            p.key_size,
            p.value_size,
            p.max_entries,
            p.pinning
        ),
        (1, 4, 8, 8, Pinning::ByName)
    );
    assert_ne!(p.key_type_id, 0);
    let o = s.map("outer").unwrap();
    assert_eq!(
        (o.map_type, o.key_size, o.value_size, o.max_entries),
        (12, 4, 4, 2)
    );
    let inner = o.inner.as_ref().unwrap();
    assert_eq!(
        (
            inner.map_type,
            inner.key_size,
            inner.value_size,
            inner.max_entries
        ),
        (2, 4, 4, 1)
    );
    assert_eq!(counts(&s), [(RelocKind::Map, 3), (RelocKind::Kfunc, 1)]);
}

#[test]
fn asm_object_without_btf() {
    let s = spec("asm_legacy.o");
    assert!(s.btf.is_none() && s.btf_ext.is_none());
    let a = s.map("arena").unwrap();
    assert_eq!(
        (a.map_type, a.max_entries, a.map_flags),
        (33, 4, 1 << 10),
        "legacy maps record"
    );
    assert_eq!(var(&s, "asm_val"), (".addr_space.1".into(), 0, 8));
    assert_eq!(
        s.externs[0].kind,
        ExternKind::Kfunc,
        "a called undefined symbol is a kfunc"
    );
    assert_eq!(
        counts(&s),
        [
            (RelocKind::Map, 1),
            (RelocKind::Arena, 1),
            (RelocKind::Call, 1),
            (RelocKind::Kfunc, 1)
        ]
    );
    assert_eq!(s.program("bump").unwrap().prog_type, ProgramType::SYSCALL);
}

#[test]
fn every_object_parses_and_every_program_relocates() {
    use bpf_arena::obj::relocate::{KernelFacts, Resolved, relocate};
    let dir = format!("{}/bpf-asm", env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|x| x.to_str()) != Some("o")
            || p.file_name().unwrap() == "insns.o"
        {
            continue;
        }
        let s = ObjectSpec::from_file(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let fds: Vec<i32> = (0..s.maps.len() as i32).map(|i| 100 + i).collect();
        let ext: Vec<Resolved> = s
            .externs
            .iter()
            .map(|e| match e.kind {
                ExternKind::Kconfig { .. } => Resolved::Kconfig,
                _ => Resolved::BtfId { id: 7, fd_index: 0 },
            })
            .collect();
        let facts = KernelFacts {
            map_fds: &fds,
            arena_offset: 0x3000,
            externs: &ext,
        };
        for i in 0..s.programs.len() {
            let l = relocate(&s, i, &facts).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            assert!(l.insns.len() >= s.programs[i].len);
            assert!(
                bpf_arena::insn::decode(&l.insns).is_ok(),
                "{}: relocated code decodes",
                p.display()
            );
        }
        n += 1;
    }
    assert!(n >= 17, "objects in bpf-asm/: {n}");
}

#[test]
fn relocation_appends_subprograms_and_moves_their_records() {
    use bpf_arena::obj::relocate::{KernelFacts, Resolved, relocate};
    let s = spec("htab.bpf.o");
    let fds: Vec<i32> = (0..s.maps.len() as i32).map(|i| 10 + i).collect();
    let ext = vec![
        Resolved::BtfId {
            id: 63525,
            fd_index: 0
        };
        s.externs.len()
    ];
    let facts = KernelFacts {
        map_fds: &fds,
        arena_offset: 127 * 4096,
        externs: &ext,
    };
    let p = s
        .programs
        .iter()
        .position(|p| p.name == "htab_lookup")
        .unwrap();
    let l = relocate(&s, p, &facts).unwrap();
    assert_eq!(
        l.subprograms,
        ["htab_find", "htab_bucket"],
        "reached in order, each once"
    );
    // One func_info per function, in order, the first at 0.
    let fi: Vec<u32> = l
        .func_info
        .chunks(8)
        .map(|c| u32::from_le_bytes(c[..4].try_into().unwrap()))
        .collect();
    assert_eq!(fi.len(), 3);
    assert_eq!(fi[0], 0);
    assert!(fi.windows(2).all(|w| w[0] < w[1]));
    // Every pseudo call lands on a function start.
    for (i, ins) in l.insns.iter().enumerate() {
        if ins.is_call() && ins.src() == 1 {
            let t = (i as i64 + ins.imm as i64 + 1) as u32;
            assert!(fi.contains(&t), "call at {i} to {t}");
        }
    }
    // The arena global reference: MAP_VALUE on the arena fd at placement + offset.
    let arena_fd = fds[s.arena_map().unwrap()];
    let ld = l
        .insns
        .iter()
        .position(|i| i.is_ld_imm64() && i.src() == 2 && i.imm == arena_fd)
        .unwrap();
    assert_eq!(
        l.insns[ld + 1].imm,
        127 * 4096,
        "buckets sits at the start of the globals"
    );
    assert!(l.names_arena);
}

#[test]
fn missing_weak_kfunc_call_is_poisoned_like_libbpf() {
    use bpf_arena::obj::relocate::{KernelFacts, Resolved, relocate};
    let s = spec("externs.bpf.o");
    let e = s
        .externs
        .iter()
        .position(|e| e.name == "bpf_kfunc_this_kernel_does_not_have")
        .unwrap();
    let fds: Vec<i32> = (0..s.maps.len() as i32).map(|i| 20 + i).collect();
    let mut ext: Vec<Resolved> = s
        .externs
        .iter()
        .map(|x| {
            if matches!(x.kind, ExternKind::Kconfig { .. }) {
                Resolved::Kconfig
            } else {
                Resolved::Missing
            }
        })
        .collect();
    let facts = KernelFacts {
        map_fds: &fds,
        arena_offset: 0,
        externs: &ext,
    };
    let p = s
        .programs
        .iter()
        .position(|p| p.name == "maybe_kfunc")
        .unwrap();
    let l = relocate(&s, p, &facts).unwrap();
    let call = l.insns.iter().find(|i| i.is_call()).unwrap();
    assert_eq!(
        (call.src(), call.imm),
        // libbpf's convention: 2,002,000,000 plus the extern's index.
        (0, 2_002_000_000 + e as i32),
        "invalid helper id, harmless if unreachable"
    );
    let guard = l.insns.iter().position(|i| i.is_ld_imm64()).unwrap();
    assert_eq!(
        (
            l.insns[guard].src(),
            l.insns[guard].imm,
            l.insns[guard + 1].imm
        ),
        (0, 0, 0),
        "bpf_ksym_exists is 0"
    );
    // Resolved (a module kfunc at fd_array index 3): a real kfunc call and a BTF_ID guard.
    ext[e] = Resolved::BtfId {
        id: 4242,
        fd_index: 3,
    };
    let facts = KernelFacts {
        map_fds: &fds,
        arena_offset: 0,
        externs: &ext,
    };
    let l = relocate(&s, p, &facts).unwrap();
    let call = l.insns.iter().find(|i| i.is_call()).unwrap();
    assert_eq!(
        (call.src(), call.imm, call.off),
        (2, 4242, 3),
        "kfunc call through fd_array[3]"
    );
    let g = l.insns.iter().position(|i| i.is_ld_imm64()).unwrap();
    assert_eq!(
        (l.insns[g].src(), l.insns[g].imm, l.insns[g + 1].imm),
        (3, 4242, 3),
        "BPF_PSEUDO_BTF_ID"
    );
}

/// A relocation on an instruction that does not decode (here an
/// `ld_imm64` whose second slot uses a reserved field) is an error naming
/// the relocation, not a patched instruction for the kernel to reject.
#[test]
fn relocating_a_malformed_instruction_is_an_error() {
    use bpf_arena::obj::relocate::{KernelFacts, Resolved, relocate};
    let mut s = spec("counter.bpf.o");
    let code = s.programs[0].code;
    let r = s.code[code].relocs[0].clone();
    s.code[code].insns[r.insn + 1].off = 1;
    let fds: Vec<i32> = (0..s.maps.len() as i32).map(|i| 30 + i).collect();
    let ext = vec![Resolved::BtfId { id: 1, fd_index: 0 }; s.externs.len()];
    let facts = KernelFacts {
        map_fds: &fds,
        arena_offset: 0,
        externs: &ext,
    };
    let e = relocate(&s, 0, &facts).unwrap_err().to_string();
    assert!(
        e.contains(&format!("relocation against '{}'", r.symbol))
            && e.ends_with("relocated instruction: ld_imm64 second slot uses reserved fields"),
        "{e}"
    );
}

/// A section-symbol relocation keeps the addend clang left in the
/// instruction (REL, not RELA): `static` arena variables.
#[test]
fn section_symbol_addends_are_kept() {
    use bpf_arena::obj::relocate::{KernelFacts, Resolved, relocate};
    let s = spec("arena_list.bpf.o");
    let code = &s.code[s.programs[0].code];
    let r = code
        .relocs
        .iter()
        .find(|r| r.symbol == ".addr_space.1" && code.insns[r.insn].imm != 0)
        .expect("a static arena variable");
    let addend = code.insns[r.insn].imm as u64;
    let static_var = s
        .arena_data
        .as_ref()
        .unwrap()
        .variables
        .iter()
        .find(|v| v.offset == addend)
        .expect("addend is a variable's offset");
    assert!(!static_var.global, "{} is static", static_var.name);
    let fds: Vec<i32> = (0..s.maps.len() as i32).map(|i| 30 + i).collect();
    let ext = vec![Resolved::BtfId { id: 1, fd_index: 0 }; s.externs.len()];
    let l = relocate(
        &s,
        0,
        &KernelFacts {
            map_fds: &fds,
            arena_offset: 0x10000,
            externs: &ext,
        },
    )
    .unwrap();
    let at = r.insn - s.programs[0].start;
    assert_eq!(
        (l.insns[at].src(), l.insns[at + 1].imm as u64),
        (2, 0x10000 + addend)
    );
}

/// The BTF fix-ups: DATASEC sizes from the section headers, variable
/// offsets from the symbol table, extern DATASECs rewritten.
#[test]
fn btf_fixups_fill_datasecs() {
    use bpf_arena::btf::{Btf, kind};
    let s = spec("externs.bpf.o");
    let fixed = bpf_arena::obj::fixup_btf(&s).unwrap().unwrap();
    let raw = Btf::parse(s.btf.as_ref().unwrap()).unwrap();
    let btf = Btf::parse(&fixed).unwrap();
    let ro = btf.find_datasec(".rodata").unwrap();
    assert_eq!(
        raw.header(ro).unwrap().size_or_type,
        0,
        "clang leaves DATASEC sizes 0"
    );
    assert_eq!(
        btf.header(ro).unwrap().size_or_type,
        4,
        "from the section header"
    );
    let kc = btf.find_datasec(".kconfig").unwrap();
    let infos = btf.datasec(kc).unwrap();
    let offs: Vec<u32> = infos.iter().map(|i| i.offset).collect();
    assert_eq!(offs, [0, 4, 8], "kconfig offsets as laid out");
    for i in &infos {
        assert_eq!(
            btf.var_linkage(i.type_id).unwrap(),
            bpf_arena::btf::VAR_GLOBAL_ALLOCATED
        );
    }
    let ks = btf.find_datasec(".ksyms").unwrap();
    for i in btf.datasec(ks).unwrap() {
        assert_eq!(
            btf.header(i.type_id).unwrap().kind(),
            kind::VAR,
            "FUNCs replaced by a dummy VAR"
        );
    }
    let a = spec("arena_list.bpf.o");
    let btf_bytes = bpf_arena::obj::fixup_btf(&a).unwrap().unwrap();
    let b = Btf::parse(&btf_bytes).unwrap();
    let ds = b.find_datasec(".addr_space.1").unwrap();
    assert_eq!(
        u64::from(b.header(ds).unwrap().size_or_type),
        a.arena_data.as_ref().unwrap().bytes.len()
    );
    let by_name: Vec<(String, u32)> = b
        .datasec(ds)
        .unwrap()
        .iter()
        .map(|i| (b.name(i.type_id).unwrap().to_string(), i.offset))
        .collect();
    assert!(by_name.contains(&("arena_sum".into(), 32)), "{by_name:?}");
    assert!(
        by_name.windows(2).all(|w| w[0].1 <= w[1].1),
        "sorted by offset"
    );
}
