//! `bpf-arena gen` and `bpf_arena::codegen`: the generated text of every
//! `bpf-asm` object is a golden file in `tests/codegen/` (reviewed like
//! code; re-bless with `BPF_ARENA_BLESS=1 cargo test --test codegen`),
//! formatted as rustfmt leaves it, and compiled right here, so every size
//! and offset assertion in it holds. Then the generated types and handles
//! are used against the running kernel: a structure BPF builds in the arena
//! (nested structs, unions, arrays, bitfields, enums, anonymous members,
//! a packed struct, a flexible array, arena pointers; in both pointer
//! forms) is read back field by field.

mod common;

use bpf_arena::arena::{Arena, ArenaPtr};
use bpf_arena::btf::{Btf, kind};
use bpf_arena::codegen::{self, Options};
use bpf_arena::features::Feature;
use bpf_arena::obj::ObjectSpec;
use std::path::{Path, PathBuf};

/// Includes the golden file of each object, so that it compiles here, and
/// lists them.
macro_rules! generated {
    ($($name:ident),* $(,)?) => {
        $(include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/codegen/", stringify!($name), ".rs"));)*
        const GENERATED: &[&str] = &[$(stringify!($name)),*];
    };
}

generated!(
    arena_list,
    asm_legacy,
    asm_untyped,
    atomics,
    attach_trace,
    cli_attach,
    cli_attach_net,
    counter,
    counter_reader,
    events_bench,
    externs,
    fixed_addr,
    gen_names,
    htab,
    insns,
    layouts,
    layouts_nuc,
    net_count,
    pages,
    ringbuf,
    ringbuf_user,
    syscall_top,
    tcp_cc,
    user_list,
);

// The handle with the object embedded (`--embed`, relative to the file).
include!("codegen/embed/arena_list.rs");

const BIN: &str = env!("CARGO_BIN_EXE_bpf-arena");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn object(file: &str) -> PathBuf {
    root().join("bpf-asm").join(file)
}

/// Every object in `bpf-asm/` (not `bad/`), by name, with its path.
fn objects() -> Vec<(String, PathBuf)> {
    let mut v: Vec<_> = std::fs::read_dir(root().join("bpf-asm"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "o"))
        .map(|p| {
            let n = p.file_name().unwrap().to_str().unwrap();
            (n.split('.').next().unwrap().to_string(), p)
        })
        .collect();
    v.sort();
    v
}

fn bless() -> bool {
    std::env::var("BPF_ARENA_BLESS").is_ok_and(|v| v == "1")
}

/// Compares `got` with the golden file, or writes it when blessing.
fn golden(path: &Path, got: &str, mismatched: &mut Vec<String>) {
    if bless() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(path)
        .unwrap_or_else(|_| panic!("{} missing; BPF_ARENA_BLESS=1 creates it", path.display()));
    if want != got {
        let line = want
            .lines()
            .zip(got.lines())
            .position(|(a, b)| a != b)
            .map_or(want.lines().count().min(got.lines().count()), |i| i);
        mismatched.push(format!(
            "{}: differs from line {} (re-bless with BPF_ARENA_BLESS=1 and review the diff)",
            path.display(),
            line + 1
        ));
    }
}

#[test]
fn every_object_has_its_golden_file_and_it_is_compiled_here() {
    let mut mismatched = Vec::new();
    let names: Vec<String> = objects().into_iter().map(|(n, _)| n).collect();
    for (name, path) in objects() {
        let spec = ObjectSpec::from_file(&path).unwrap();
        let text =
            codegen::generate(&spec, &Options::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        golden(
            &root().join("tests/codegen").join(format!("{name}.rs")),
            &text,
            &mut mismatched,
        );
    }
    let spec = ObjectSpec::from_file(&object("arena_list.bpf.o")).unwrap();
    let mut opts = Options::default();
    opts.module("arena_list_embedded")
        .embed("../../../bpf-asm/arena_list.bpf.o");
    let text = codegen::generate(&spec, &opts).unwrap();
    golden(
        &root().join("tests/codegen/embed/arena_list.rs"),
        &text,
        &mut mismatched,
    );
    assert!(mismatched.is_empty(), "{}", mismatched.join("\n"));
    // Every golden file is an object's, and every one is compiled above.
    let mut goldens: Vec<String> = std::fs::read_dir(root().join("tests/codegen"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| p.file_stem().unwrap().to_str().unwrap().to_string())
        .collect();
    goldens.sort();
    assert_eq!(
        goldens, names,
        "golden files without an object, or the reverse"
    );
    assert_eq!(
        GENERATED, names,
        "add the new object to generated!(…) above"
    );
}

#[test]
fn the_cli_prints_what_the_library_generates() {
    for (name, path) in objects() {
        let out = std::process::Command::new(BIN)
            .arg("gen")
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {:?}", out);
        let spec = ObjectSpec::from_file(&path).unwrap();
        let lib = codegen::generate(&spec, &Options::default()).unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), lib, "{name}");
        // One warning line per type generated opaque, nothing else.
        let opaque = codegen::opaque_types(&spec, &Options::default()).unwrap();
        let err = String::from_utf8(out.stderr).unwrap();
        let want: String = opaque
            .iter()
            .map(|t| format!("bpf-arena: warning: `{t}` is only declared in the object's BTF, so it is generated opaque (clang writes a struct reached only through a pointer member so: a global of its own type makes it write the layout)\n"))
            .collect();
        assert_eq!(err, want, "{name}");
        assert_eq!(opaque.is_empty(), name != "gen_names", "{name}: {opaque:?}");
    }
    // --types-only is rust_types, and is itself valid, formatted Rust.
    let path = object("layouts.bpf.o");
    let out = std::process::Command::new(BIN)
        .args(["gen", "--types-only"])
        .arg(&path)
        .output()
        .unwrap();
    let spec = ObjectSpec::from_file(&path).unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        codegen::rust_types(&spec).unwrap()
    );
}

#[test]
fn golden_files_are_formatted_as_rustfmt_leaves_them() {
    let mut files: Vec<PathBuf> = objects()
        .into_iter()
        .map(|(n, _)| root().join("tests/codegen").join(format!("{n}.rs")))
        .collect();
    files.push(root().join("tests/codegen/embed/arena_list.rs"));
    // The types-only form too, written where the check can read it.
    let dir = std::env::temp_dir().join(format!("bpf-arena-codegen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let spec = ObjectSpec::from_file(&object("layouts.bpf.o")).unwrap();
    let types_only = dir.join("layouts_types.rs");
    std::fs::write(&types_only, codegen::rust_types(&spec).unwrap()).unwrap();
    files.push(types_only);
    let rustfmt = std::env::var_os("RUSTFMT").unwrap_or_else(|| "rustfmt".into());
    let out = std::process::Command::new(&rustfmt)
        .args(["--edition", "2024", "--check"])
        .args(&files)
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            // The kernel matrix's guests have no toolchain; everywhere else
            // (CI's host run included) strict mode needs rustfmt.
            let in_matrix = std::env::var_os("BPF_ARENA_REPORT").is_some();
            common::report(
                "SKIP",
                "golden_files_are_formatted_as_rustfmt_leaves_them",
                &format!("no rustfmt ({e}): install it with rustup component add rustfmt"),
            );
            assert!(
                in_matrix || !common::strict(),
                "rustfmt is needed in strict mode"
            );
            return;
        }
    };
    assert!(
        out.status.success(),
        "rustfmt would change the generated text:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The byte offset of member `member` of struct or union `ty` in `btf`.
fn btf_offset(btf: &Btf, ty: &str, member: &str) -> usize {
    let id = btf
        .find_by_name(kind::STRUCT, ty)
        .or_else(|| btf.find_by_name(kind::UNION, ty))
        .unwrap_or_else(|| panic!("no struct {ty}"));
    let (_, _, bits) = btf
        .members(id)
        .unwrap()
        .into_iter()
        .find(|(n, _, _)| *n == member)
        .unwrap_or_else(|| panic!("no member {ty}.{member}"));
    (bits / 8) as usize
}

macro_rules! offsets_match_btf {
    ($btf:expr, $m:ident :: $ty:ident { $($field:ident => $c:literal),* $(,)? }) => {
        $(assert_eq!(
            ::core::mem::offset_of!($m::$ty, $field),
            btf_offset(&$btf, stringify!($ty), $c),
            "{}.{}",
            stringify!($ty),
            $c
        );)*
    };
}

#[test]
fn generated_offsets_are_the_btf_offsets() {
    for file in ["layouts.bpf.o", "layouts_nuc.bpf.o"] {
        let spec = ObjectSpec::from_file(&object(file)).unwrap();
        let btf = Btf::parse(spec.btf.as_deref().unwrap()).unwrap();
        offsets_match_btf!(btf, layouts::lay_node {
            next => "next", flex => "flex", hole_c => "hole_c", after_hole => "after_hole",
            pos => "pos", u => "u", arr => "arr", smalls => "smalls", grid => "grid",
            flag => "flag", ch => "ch", sc => "sc", sh => "sh", f => "f", d => "d",
            color => "color", wide => "wide", td => "td", pk => "pk", r#type => "type",
            r#match => "match", r#fn => "fn", self_ => "self", r#loop => "loop",
        });
        offsets_match_btf!(btf, layouts::lay_summary {
            nodes => "nodes", last_color => "last_color", origin => "origin", u => "u",
            td => "td", pk => "pk", tail => "tail", first_flex => "first_flex",
            first_item => "first_item", magic => "magic",
        });
        offsets_match_btf!(btf, layouts::lay_packed { a => "a", b => "b", c => "c" });
        offsets_match_btf!(btf, layouts::lay_flex { tag => "tag", count => "count", items => "items" });
        offsets_match_btf!(btf, layouts::lay_config {
            magic => "magic", color => "color", wide => "wide", origin => "origin", pk => "pk", td => "td",
        });
        let id = btf.find_by_name(kind::STRUCT, "lay_node").unwrap();
        assert_eq!(
            btf.resolve_size(id).unwrap() as usize,
            size_of::<layouts::lay_node>()
        );
    }
    let spec = ObjectSpec::from_file(&object("arena_list.bpf.o")).unwrap();
    let btf = Btf::parse(spec.btf.as_deref().unwrap()).unwrap();
    offsets_match_btf!(btf, arena_list::list_head { first => "first", len => "len" });
    offsets_match_btf!(btf, arena_list::node { next => "next", value => "value" });
}

/// A pointer as stored in the arena, in either form.
trait Stored {
    type T;
    /// The user-form pointer.
    fn user(self, a: &Arena) -> ArenaPtr<Self::T>;
}

impl<T> Stored for ArenaPtr<T> {
    type T = T;
    fn user(self, _: &Arena) -> ArenaPtr<T> {
        self
    }
}

impl<T> Stored for bpf_arena::arena::KernelArenaPtr<T> {
    type T = T;
    fn user(self, a: &Arena) -> ArenaPtr<T> {
        self.to_user(a)
    }
}

fn follow<P: Stored>(a: &Arena, p: P) -> ArenaPtr<P::T> {
    p.user(a)
}

/// Node `i` of the chain `build` links, checked field by field.
macro_rules! check_node {
    ($m:ident, $a:expr, $n:expr, $i:expr, $page:expr) => {{
        let (a, n, i, page): (&Arena, $m::lay_node, u64, u64) = ($a, $n, $i, $page);
        let at = |what: &str| format!("node {i}: {what}");
        let next = follow(a, n.next);
        if i < 2 {
            assert_eq!(next.addr(), page + 184 * (i + 1), "{}", at("next"));
        } else {
            assert!(next.is_null(), "{}", at("next"));
        }
        assert_eq!(
            follow(a, n.flex).addr(),
            page + 2048 + 64 * i,
            "{}",
            at("flex")
        );
        assert_eq!(n.hole_c as u8, b'a' + i as u8, "{}", at("hole_c"));
        assert_eq!(n.__pad_0, [0; 7], "{}", at("padding after hole_c"));
        assert_eq!(n.after_hole, 0x1000000000000001u64.wrapping_mul(i + 1));
        assert_eq!(
            (n.pos.x, n.pos.y),
            (-10 * (i as i32 + 1), 100 * (i as i32 + 1))
        );
        assert_eq!(n.u.quad(), 0x8877665544332211 + i, "{}", at("u.quad"));
        assert_eq!(n.u.byte(), 0x11 + i as u8);
        assert_eq!(n.u.word(), 0x44332211 + i as u32);
        assert_eq!((n.u.pair().lo, n.u.pair().hi), (0x2211 + i as u16, 0x4433));
        for k in 0..4u32 {
            assert_eq!(
                n.arr[k as usize],
                0x100 * (i as u32 + 1) + k,
                "{}",
                at("arr")
            );
        }
        for k in 0..2u16 {
            let s = n.smalls[k as usize];
            assert_eq!(s.tag, 16 * i as u8 + k as u8 + 1, "{}", at("smalls.tag"));
            assert_eq!(s.val, 0xF000 + 0x100 * i as u16 + k, "{}", at("smalls.val"));
        }
        for r in 0..2u16 {
            for c in 0..3u16 {
                assert_eq!(n.grid[r as usize][c as usize], 100 * i as u16 + 10 * r + c);
            }
        }
        assert_eq!(n.bf_a(), 5 + i as u32, "{}", at("bf_a"));
        assert_eq!(n.bf_b(), 100 + i as u32, "{}", at("bf_b"));
        assert_eq!(n.bf_s(), -5 * (i as i32 + 1), "{}", at("bf_s"));
        assert_eq!(n.bf_c(), i as u32 & 1, "{}", at("bf_c"));
        assert_eq!(n.bf_ll(), 0xAB00000000 + i * 0x100000001, "{}", at("bf_ll"));
        assert_eq!(n.bf_d(), 0xFFF - i as u16, "{}", at("bf_d"));
        assert_eq!(n.flag, (i % 2 == 0) as u8, "{}", at("flag"));
        assert_eq!(n.ch, (b'A' + i as u8) as i8);
        assert_eq!(n.sc, -100 - i as i8);
        assert_eq!(n.sh, -30000 + i as i16);
        assert_eq!(n.f, 1.5 + i as f32);
        assert_eq!(n.d, -1000.125 * (i as f64 + 1.0));
        let colors = [
            $m::lay_color::LAY_NEG,
            $m::lay_color::LAY_RED,
            $m::lay_color::LAY_BLUE,
        ];
        assert_eq!(n.color, colors[i as usize], "{}", at("color"));
        assert_eq!(n.wide, $m::lay_wide($m::lay_wide::LAY_WIDE_BIG.0 + i));
        assert_eq!(n.__anon_1.anon_a, 0xA000 + i as u16);
        assert_eq!(n.__anon_1.anon_b, 0xB000 + i as u16);
        assert_eq!(n.__anon_2.anon_word(), 0xDEAD0000 + i as u32);
        assert_eq!(
            n.__anon_2.anon_bytes(),
            (0xDEAD0000u32 + i as u32).to_le_bytes()
        );
        assert_eq!(
            (n.td.id, n.td.kind, n.td.flags),
            (7000 + i as u32, 300 + i as u16, 0x80 | i as u8)
        );
        let pk = n.pk;
        assert_eq!(
            (pk.a, pk.b, pk.c),
            (0xE0 + i as u8, 0x12345678 + i as u32, 0xCAFE - i as u16)
        );
        assert_eq!(n.r#type, 0x70 + i as u8);
        assert_eq!(n.r#match, 0x4D00 + i as u16);
        assert_eq!(n.r#fn, 0xF0F0F000 + i as u32);
        assert_eq!(n.self_, 0x5E1F00000000 + i);
        assert_eq!(n.r#loop, -1000 - i as i32);
        // Every padding run is zero.
        let zero = $m::lay_node::default();
        assert_eq!(
            (
                n.__pad_1, n.__pad_2, n.__pad_3, n.__pad_4, n.__pad_5, n.__pad_6, n.__pad_7,
                n.__pad_8
            ),
            (
                zero.__pad_1,
                zero.__pad_2,
                zero.__pad_3,
                zero.__pad_4,
                zero.__pad_5,
                zero.__pad_6,
                zero.__pad_7,
                zero.__pad_8
            ),
            "{}",
            at("padding")
        );
        // The flexible array behind `flex`.
        let fp = follow(a, n.flex);
        let fl: $m::lay_flex = a.read(fp).unwrap();
        assert_eq!((fl.tag, fl.count), (0xF1E0000000000000 + i, i as u16 + 2));
        for k in 0..u64::from(fl.count) {
            let item = a.read($m::lay_flex::items_at(fp, k)).unwrap();
            assert_eq!(item, 1000 * (i as u32 + 1) + k as u32, "{}", at("items"));
        }
        next
    }};
}

/// Runs `build` through the generated handle and reads everything back
/// through the generated types.
macro_rules! round_trip {
    ($m:ident, $file:literal) => {{
        let obj = $m::Loader::from_file(object($file))
            .unwrap()
            .load()
            .unwrap();
        assert_eq!(
            obj.build().unwrap().run_syscall(&mut []).unwrap(),
            0,
            "build"
        );
        assert_eq!(obj.build_runs().unwrap(), 1);
        let a = obj.arena().unwrap();
        let head = follow(a, obj.head().unwrap());
        let page = head.addr();
        assert!(a.offset_of(head).is_some());
        let mut p = head;
        for i in 0..3u64 {
            let n: $m::lay_node = a.read(p).unwrap();
            assert_eq!(p.addr(), page + 184 * i);
            p = check_node!($m, a, n, i, page);
        }
        assert!(p.is_null());
        // The summary global, read whole through the handle and through
        // its place in the arena.
        let s = obj.summary().unwrap();
        assert_eq!(a.read(obj.summary_ptr().unwrap()).unwrap(), s);
        assert_eq!((s.nodes, s.last_color), (3, $m::lay_color::LAY_BLUE));
        assert_eq!((s.origin.x, s.origin.y), (-1, -2));
        assert_eq!(s.u.quad(), 0xFEDCBA9876543210);
        assert_eq!((s.td.id, s.td.kind, s.td.flags), (42, 43, 44));
        let pk = s.pk;
        assert_eq!((pk.a, pk.b, pk.c), (1, 0x01020304, 0xBEEF));
        assert_eq!(follow(a, s.tail).addr(), page + 2 * 184);
        assert_eq!(follow(a, s.first_flex).addr(), page + 2048);
        assert_eq!(follow(a, s.first_item).addr(), page + 2048 + 12);
        assert_eq!(s.magic, 0xC0FFEE11);
        let flexes = obj.flexes().unwrap();
        for (i, f) in flexes.iter().enumerate() {
            assert_eq!(follow(a, *f).addr(), page + 2048 + 64 * i as u64);
        }
        // A .data global of a struct type, with its initial value.
        let c = obj.config().unwrap();
        assert_eq!(
            (c.magic, c.color, c.wide),
            (
                0xC0FFEE11,
                $m::lay_color::LAY_NEG,
                $m::lay_wide::LAY_WIDE_BIG
            )
        );
        let pk = c.pk;
        assert_eq!(
            (c.origin.x, c.origin.y, pk.a, pk.b, pk.c),
            (3, -4, 9, 0x0A0B0C0D, 0x0E0F)
        );
        assert_eq!((c.td.id, c.td.kind, c.td.flags), (0x7D7D, 0x1234, 0x56));
        assert_eq!(format!("{:?}", c.color), "LAY_NEG");
        assert_eq!(format!("{:?}", $m::lay_color(5)), "lay_color(5)");
    }};
}

#[test]
fn bpf_built_structure_read_through_generated_types() {
    require_arena!();
    round_trip!(layouts, "layouts.bpf.o");
}

#[test]
fn no_user_conv_structure_read_through_kernel_form_pointers() {
    require_arena!();
    require!(Feature::NoUserConv);
    round_trip!(layouts_nuc, "layouts_nuc.bpf.o");
}

#[test]
fn bitfield_and_union_setters_keep_their_neighbours() {
    let mut n = layouts::lay_node::default();
    n.set_bf_b(0x7f);
    n.set_bf_s(-16);
    n.set_bf_ll(0xff_ffff_ffff);
    assert_eq!((n.bf_a(), n.bf_b(), n.bf_s(), n.bf_c()), (0, 0x7f, -16, 0));
    n.set_bf_a(9); // 3 bits: 9 is cut to 1
    n.set_bf_s(15);
    assert_eq!(
        (n.bf_a(), n.bf_b(), n.bf_s(), n.bf_ll()),
        (1, 0x7f, 15, 0xff_ffff_ffff)
    );
    n.set_bf_ll(0);
    assert_eq!((n.bf_a(), n.bf_b(), n.bf_s(), n.bf_d()), (1, 0x7f, 15, 0));
    let mut u = layouts::lay_multi::default();
    u.set_quad(0x1111_2222_3333_4444);
    u.set_byte(0xff);
    assert_eq!(u.quad(), 0x1111_2222_3333_44ff);
    assert_eq!(u.pair().hi, 0x3333);
}

#[test]
fn handle_gives_typed_globals_before_and_after_load() {
    require_arena!();
    let mut l = arena_list::Loader::from_file(object("arena_list.bpf.o")).unwrap();
    assert_eq!(l.cnt().unwrap(), 0);
    assert_eq!(l.test_val().unwrap(), 1, "an initialised arena global");
    l.set_cnt(25).unwrap().set_test_val(7).unwrap();
    assert_eq!(l.cnt().unwrap(), 25);
    let obj = l.load().unwrap();
    assert_eq!(obj.test_val().unwrap(), 7);
    assert_eq!(
        obj.arena_list_add().unwrap().run_syscall(&mut []).unwrap(),
        0
    );
    assert_eq!(obj.list_len().unwrap(), 25);
    let a = obj.arena().unwrap();
    let head = obj.list().unwrap();
    assert_eq!(head.len, 25);
    assert_eq!(head.first, obj.newest().unwrap());
    let (mut p, mut sum) = (head.first, 0);
    while !p.is_null() {
        let n: arena_list::node = a.read(p).unwrap();
        sum += n.value;
        p = n.next;
    }
    assert_eq!(sum, 25 * 24 / 2);
    obj.set_cnt(3).unwrap();
    assert_eq!(obj.cnt().unwrap(), 3);
}

#[test]
fn embedded_object_loads_through_its_handle() {
    require_arena!();
    assert_eq!(
        arena_list_embedded::OBJECT,
        &std::fs::read(object("arena_list.bpf.o")).unwrap()[..]
    );
    let mut l = arena_list_embedded::Loader::embedded().unwrap();
    l.set_cnt(4).unwrap();
    let obj = l.load().unwrap();
    assert_eq!(
        obj.arena_list_add().unwrap().run_syscall(&mut []).unwrap(),
        0
    );
    assert_eq!(obj.list().unwrap().len, 4);
}

#[test]
fn another_object_is_refused_naming_the_difference() {
    let e = arena_list::Loader::from_file(object("counter.bpf.o"))
        .err()
        .expect("counter.bpf.o is not arena_list");
    assert_eq!(
        e.to_string(),
        "invalid object: object 'counter' is not 'arena_list', which this code was generated from: it has no global variable 'cnt'"
    );
    // Same globals, programs and maps, same sizes: only the pointer form
    // differs (its arena has BPF_F_NO_USER_CONV), which the layout
    // fingerprints catch.
    let e = layouts::Loader::from_file(object("layouts_nuc.bpf.o"))
        .err()
        .expect("layouts_nuc stores kernel-form pointers");
    assert_eq!(
        e.to_string(),
        "invalid object: object 'layouts_nuc' is not 'layouts', which this code was generated from: its arena stores pointers in the other form (BPF_F_NO_USER_CONV: kernel form, or user form without it): regenerate the code"
    );
    // A changed type is named: layouts' fingerprints, one type altered.
    let spec = ObjectSpec::from_file(&object("layouts.bpf.o")).unwrap();
    let prints = codegen::layout_fingerprints(&spec, &[]).unwrap();
    assert_eq!(
        prints,
        codegen::layout_fingerprints(&spec, &[]).unwrap(),
        "deterministic"
    );
    let mut c = codegen::Check::new(&spec, "layouts");
    for (n, h) in &prints {
        let h = if n == "lay_point" { h ^ 1 } else { *h };
        c.layout(n, h);
    }
    assert_eq!(
        c.finish().unwrap_err().to_string(),
        "object 'layouts' is not the one this code was generated from: type 'lay_point' differs (its size, fields, offsets or field types): regenerate the code"
    );
    let e = counter::Loader::from_file(object("counter_reader.bpf.o")).err();
    assert!(e.is_some_and(|e| e.to_string().contains("counter")));
}

#[test]
fn unknown_arena_type_and_malformed_btf_are_errors() {
    let spec = ObjectSpec::from_file(&object("htab.bpf.o")).unwrap();
    let mut o = Options::default();
    o.arena_type("no_such_struct");
    let e = codegen::generate(&spec, &o).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the object's BTF has no struct, union or typedef named 'no_such_struct'"
    );
    // Options apply to the types-only form too.
    o.types_only();
    assert_eq!(codegen::generate(&spec, &o).unwrap_err(), e);
    // A struct the BTF only declares has no layout to generate.
    let names = ObjectSpec::from_file(&object("gen_names.bpf.o")).unwrap();
    let mut o = Options::default();
    o.arena_type("opaque");
    let e = codegen::generate(&names, &o).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("the object's BTF only declares 'opaque' (a forward declaration"),
        "{e}"
    );
    // BTF cut short is an error, never a panic.
    let mut bad = spec.clone();
    let btf = bad.btf.as_mut().unwrap();
    btf.truncate(btf.len() / 2);
    assert!(codegen::generate(&bad, &Options::default()).is_err());
}

#[test]
fn names_that_collide_with_rust_are_renamed_and_work() {
    // Types named like Rust items got `_2`, a primitive's name `_`,
    // keywords are raw identifiers; the layout still holds (it compiled).
    let h = gen_names::holder::default();
    let _: (gen_names::Ok_2, gen_names::Loader_2, gen_names::size_of_2) = (h.ok, h.loader, h.so);
    let _: gen_names::r#type = h.loader.t;
    assert_eq!(gen_names::Some_2::MIN.0, i32::MIN);
    assert_eq!(
        format!("{:?}", gen_names::Some_2(0)),
        "None",
        "the first name of a value"
    );
    assert_eq!(gen_names::u8_::small.0, 255);
    // Enums named like the generated code's parameters (`value`) or locals
    // would be tuple structs those cannot shadow: renamed, and it compiled.
    let _: (gen_names::value_2, gen_names::spec_2) = (h.v, h.sp);
    // `self` and `self_` both spell `self_` in Rust: the second gets `_2`.
    let d = h.ok.d;
    let _: (i32, i32) = (d.self_, d.self__2);
    // The bitfield `items_at` keeps its name; the flexible array's
    // accessor steps around it.
    let mut fx = gen_names::flexy::default();
    fx.set_items_at(-1);
    assert_eq!(fx.items_at(), -1);
    let p = gen_names::flexy::items_at_2(ArenaPtr::from_addr(0x1000), 2);
    assert_eq!(p.addr(), 0x1000 + 8 + 2 * 4);
    require_arena!();
    let obj = gen_names::Loader::from_file(object("gen_names.bpf.o"))
        .unwrap()
        .load()
        .unwrap();
    assert_eq!(obj.touch().unwrap().run_syscall(&mut []).unwrap(), 0);
    assert_eq!(obj.in_bss().unwrap().plain, 1);
    assert_eq!(obj.in_arena().unwrap().plain, 2);
    assert!(obj.holder_ptr().unwrap().is_null());
    // The global `load` is `load_2` in both handles (Loader::load exists).
    assert_eq!(obj.load_2().unwrap(), 3);
    assert_eq!(obj.fx().unwrap().n, 4);
}
