//! The `bpf-arena` binary against its command-line contract (the README):
//! stdout compared byte for byte, exit statuses and stderr lines for errors.
//!
//! `inspect` output of every bpf-asm object is compared with
//! `tests/cli/<object>.inspect`; after a deliberate change, regenerate those
//! with `BPF_ARENA_BLESS=1 cargo test --test cli` and review the diff.

mod common;

use bpf_arena::features::Feature;
#[allow(unused_imports)]
use common::*;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_bpf-arena");

fn obj(name: &str) -> String {
    format!("{}/bpf-asm/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs the binary: (exit code, stdout, stderr).
fn cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("run bpf-arena");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn ok(args: &[&str]) -> String {
    let (code, out, err) = cli(args);
    assert_eq!(code, 0, "bpf-arena {args:?}: {err}");
    assert!(err.is_empty(), "bpf-arena {args:?} wrote to stderr: {err}");
    out
}

/// Runs `bpf-arena ARGS`: its stdout when it succeeded; `None` when this
/// kernel lacks something the object needs, which the CLI must say in one
/// line naming a Linux release newer than this kernel (reported as a
/// justified skip of that case).
fn ok_or_missing(args: &[&str]) -> Option<String> {
    let (code, out, err) = cli(args);
    if code == 0 {
        assert!(err.is_empty(), "bpf-arena {args:?} wrote to stderr: {err}");
        return Some(out);
    }
    assert_eq!(code, 1, "bpf-arena {args:?}: {err}");
    common::assert_one_line_naming_a_newer_release("bpf-arena: ", &err);
    common::report("SKIP", &common::test_name(), &format!("{args:?}: {err}"));
    None
}

/// Without arenas, `run` stops with one line that says so.
#[test]
fn run_without_arenas_says_which_release() {
    if !matches!(
        bpf_arena::features::probe(Feature::ArenaMap),
        bpf_arena::features::Support::No { .. }
    ) {
        return;
    }
    let (code, out, err) = cli(&["run", &obj("arena_list.bpf.o")]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(
        err.starts_with("bpf-arena: ") && err.lines().count() == 1,
        "{err}"
    );
    assert!(
        err.contains("BPF arenas") && err.contains("needs Linux 6.9"),
        "{err}"
    );
}

/// Every object in `bpf-asm/` (not `bad/`), sorted: each has a golden
/// `inspect` output in `tests/cli/`, so a new object without one fails.
fn objects() -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/bpf-asm");
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".o"))
        .collect();
    v.sort();
    assert!(v.len() >= 16, "objects in bpf-asm/: {v:?}");
    v
}

#[test]
fn inspect_every_object_matches_its_golden_output() {
    let dir = format!("{}/tests/cli", env!("CARGO_MANIFEST_DIR"));
    let bless = std::env::var("BPF_ARENA_BLESS").is_ok_and(|v| v == "1");
    let mut mismatched = Vec::new();
    for o in objects() {
        let o = o.as_str();
        let out = ok(&["inspect", &obj(o)]);
        let golden = format!("{dir}/{}.inspect", o.split('.').next().unwrap());
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&golden, &out).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&golden)
            .unwrap_or_else(|_| panic!("{golden} missing; BPF_ARENA_BLESS=1 creates it"));
        if out != want {
            mismatched.push(format!("{o}:\n--- expected\n{want}--- got\n{out}"));
        }
    }
    assert!(mismatched.is_empty(), "{}", mismatched.join("\n"));
}

#[test]
fn inspect_places_arena_globals_for_a_page_count() {
    let out = ok(&["inspect", &obj("arena_list.bpf.o"), "--pages", "200"]);
    assert!(out.contains("arena globals: 56 bytes in .addr_space.1, placed at offset 0xc7000 of a 200-page arena\n"), "{out}");
    assert!(
        out.contains("  arena_sum: offset 32, size 8, arena offset 0xc7020\n"),
        "{out}"
    );
    let out = ok(&["inspect", &obj("arena_list.bpf.o"), "--pages", "262144"]);
    assert!(
        out.contains(
            "placed at offset 0x0 of a 262144-page arena (at the end instead on kernels accepting"
        ),
        "{out}"
    );
}

#[test]
fn inspect_disasm_prints_relocated_instructions() {
    let out = ok(&[
        "inspect",
        &obj("arena_list.bpf.o"),
        "--disasm",
        "arena_list_sum",
    ]);
    let first: Vec<&str> = out.lines().take(4).collect();
    // Map 0 is the arena: the list head is an arena global placed at 0x3f000 + 8.
    assert_eq!(
        first,
        [
            "     0: r1 = 0x0",
            "     1: r2 = map_value(0, 0x3f008) ll",
            "     3: r2 = addr_space_cast(r2, 0x0, 0x1)",
            "     4: r2 = *(u64 *)(r2 + 0x0)"
        ]
    );
    assert!(out.ends_with("exit\n"));
    // Kfunc calls show this kernel's BTF id (where it has the kfunc).
    let out = ok(&[
        "inspect",
        &obj("arena_list.bpf.o"),
        "--disasm",
        "arena_list_add",
    ]);
    if supported(Feature::KfuncAllocPages, "") {
        let id = bpf_arena::kfunc::kfunc_id("bpf_arena_alloc_pages")
            .unwrap()
            .unwrap();
        assert!(out.contains(&format!("call kfunc({id:#x})")), "{out}");
    }
    // Subprograms are appended after the program.
    let out = ok(&["inspect", &obj("htab.bpf.o"), "--disasm", "htab_lookup"]);
    assert!(
        out.lines().filter(|l| l.ends_with(": exit")).count() >= 3,
        "{out}"
    );
}

/// One program of `show`'s output: its header's fields and its listing.
#[derive(Debug)]
struct Shown {
    name: String,
    kind: String,
    tag: String,
    xlated_insns: usize,
    jited_bytes: usize,
    verified_insns: String,
    map_ids: Vec<u32>,
    listing: Vec<String>,
}

/// Splits `show` output into programs, checking each header's format
/// exactly: `NAME: type TYPE (N), tag TAG, xlated_insns X, jited_bytes J,
/// verified_insns V, map_ids IDS`.
fn parse_show(out: &str) -> Vec<Shown> {
    let mut progs: Vec<Shown> = Vec::new();
    for line in out.lines() {
        if line.starts_with(' ') {
            progs
                .last_mut()
                .expect("a header first")
                .listing
                .push(line.to_string());
            continue;
        }
        let (name, rest) = line.split_once(": ").expect(line);
        let f: Vec<&str> = rest.split(", ").collect();
        let field = |i: usize, key: &str| -> String {
            f[i].strip_prefix(key)
                .unwrap_or_else(|| panic!("field {i} of {line:?} is not `{key}...`"))
                .to_string()
        };
        assert_eq!(f.len(), 6, "{line}");
        let ids = field(5, "map_ids ");
        let p = Shown {
            name: name.to_string(),
            kind: field(0, "type "),
            tag: field(1, "tag "),
            xlated_insns: field(2, "xlated_insns ").parse().expect(line),
            jited_bytes: field(3, "jited_bytes ").parse().expect(line),
            verified_insns: field(4, "verified_insns "),
            map_ids: if ids == "none" {
                Vec::new()
            } else {
                ids.split(',').map(|i| i.parse().expect(line)).collect()
            },
            listing: Vec::new(),
        };
        assert!(
            p.tag.len() == 16
                && p.tag
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
            "{line}"
        );
        let exact = format!(
            "{}: type {}, tag {}, xlated_insns {}, jited_bytes {}, verified_insns {}, map_ids {ids}",
            p.name, p.kind, p.tag, p.xlated_insns, p.jited_bytes, p.verified_insns
        );
        assert_eq!(line, exact, "the header reads back exactly");
        progs.push(p);
    }
    for p in &progs {
        // The listing covers exactly the translated slots: `     N: TEXT`
        // lines in order, an `ld_imm64` (` ll`) taking two.
        let mut next = 0;
        for l in &p.listing {
            let (idx, text) = l.split_once(": ").expect(l);
            assert_eq!(idx, format!("{next:>6}"), "{}: {l}", p.name);
            next += if text.ends_with(" ll") { 2 } else { 1 };
        }
        assert_eq!(next, p.xlated_insns, "{} listing: {:?}", p.name, p.listing);
    }
    progs
}

/// `show` prints, for the programs named and in that order, the kernel's
/// view: the same tag, size and verifier count the library reports for
/// the same programs, and the instructions as the kernel rewrote them
/// (`inspect --disasm` shows the same program before loading).
#[test]
fn show_prints_the_kernels_view() {
    require_arena!();
    let o = obj("arena_list.bpf.o");
    let out = ok(&["show", &o, "arena_list_sum", "arena_list_add"]);
    let progs = parse_show(&out);
    let names: Vec<&str> = progs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["arena_list_sum", "arena_list_add"]);
    let mut l = bpf_arena::loader::ObjectLoader::from_file(&o).unwrap();
    l.load_only(&names).unwrap();
    let loaded = l.load().unwrap();
    for p in &progs {
        let i = loaded.program(&p.name).unwrap().info().unwrap();
        assert_eq!(p.kind, "syscall (31)");
        assert_eq!(
            (p.tag.clone(), p.xlated_insns, p.verified_insns.clone()),
            (
                i.tag.to_string(),
                i.xlated_insn_count(),
                i.verified_insns.unwrap().to_string()
            ),
            "{}",
            p.name
        );
        assert!(p.jited_bytes > 0, "JIT on: {p:?}");
        assert_eq!(p.map_ids.len(), i.map_ids.len(), "{p:?}");
        // Maps are named by the kernel ids of the header.
        for l in &p.listing {
            for pre in ["map_value(", "map_fd("] {
                if let Some((_, rest)) = l.split_once(pre) {
                    let id: u32 = rest.split([',', ')']).next().unwrap().parse().unwrap();
                    assert!(p.map_ids.contains(&id), "{l} not in {:?}", p.map_ids);
                }
            }
        }
    }
    let before = ok(&["inspect", &o, "--disasm", "arena_list_sum"]);
    let sum = progs[0].listing.join("\n");
    assert!(
        before.contains("r2 = addr_space_cast(r2, 0x0, 0x1)\n"),
        "{before}"
    );
    assert!(
        !sum.contains("addr_space_cast") && sum.contains(": w2 = w2"),
        "the cast into the kernel's space is a 32-bit move: {sum}"
    );
    assert!(
        before.contains("r2 = map_value(0, ")
            && sum
                .lines()
                .any(|l| l.contains(": r2 = 0x") && l.ends_with(" ll")),
        "the arena global is its user address: {sum}"
    );
    let add = progs[1].listing.join("\n");
    let kfuncs: Vec<&str> = add.lines().filter(|l| l.contains("call kfunc(")).collect();
    assert_eq!(kfuncs.len(), 1, "{add}");
    if cfg!(target_arch = "x86_64") {
        let id = bpf_arena::kfunc::kfunc_id("bpf_arena_alloc_pages")
            .unwrap()
            .unwrap();
        let by_id = format!("call kfunc({id:#x})");
        let before = ok(&["inspect", &o, "--disasm", "arena_list_add"]);
        assert!(before.contains(&by_id), "{before}");
        assert!(!kfuncs[0].contains(&by_id), "re-targeted: {}", kfuncs[0]);
    }
}

/// Without PROGRAMs `show` loads and prints every program in the object's
/// order; a program the kernel does not rewrite comes back as loaded.
#[test]
fn show_without_names_prints_every_program() {
    require_arena!();
    // to_user uses arena pointers without naming the arena: bound through
    // fd_array.
    require!(Feature::FdArrayBinding);
    let out = ok(&["show", &obj("user_list.bpf.o")]);
    let progs = parse_show(&out);
    let names: Vec<&str> = progs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["sum_list", "to_user"]);
    assert_eq!(
        progs[1].listing,
        [
            "     0: r2 = *(u64 *)(r1 + 0x0)",
            "     1: r2 <<= 0x20",
            "     2: r2 >>= 0x20",
            "     3: r2 = addr_space_cast(r2, 0x1, 0x0)",
            "     4: *(u64 *)(r1 + 0x0) = r2",
            "     5: w0 = 0x0",
            "     6: exit",
        ]
    );
    let before = ok(&["inspect", &obj("user_list.bpf.o"), "--disasm", "to_user"]);
    assert_eq!(before, progs[1].listing.join("\n") + "\n");
    assert_eq!(progs[1].verified_insns, "7");
}

#[test]
fn probe_prints_one_line_per_feature() {
    let out = ok(&["probe"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), bpf_arena::features::Feature::ALL.len());
    for (line, f) in lines.iter().zip(bpf_arena::features::Feature::ALL) {
        let (name, answer) = line.split_once(": ").unwrap();
        assert_eq!(name, f.name());
        assert!(
            answer == "yes" || (answer.starts_with("no (") && answer.ends_with(')')),
            "{line}"
        );
    }
}

#[test]
fn probe_without_privileges_names_the_missing_capabilities() {
    require!(Feature::CapSysAdmin);
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            BIN,
            "probe",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("arena_map: no (EPERM (Operation not permitted))\n"),
        "{text}"
    );
    // BTF is readable by anyone: the kfunc answer is root's.
    let root = bpf_arena::features::probe(Feature::KfuncAllocPages);
    assert!(
        text.contains(&format!("kfunc_bpf_arena_alloc_pages: {root}\n")),
        "BTF is readable by anyone: {text}"
    );
    assert!(
        text.contains("cap_bpf: no (not held by this process)\n"),
        "{text}"
    );
    assert!(
        text.contains("cap_perfmon: no (not held by this process)\n"),
        "{text}"
    );
}

#[test]
fn run_arena_list_with_set_and_gets() {
    require_arena!();
    let out = ok(&[
        "run",
        &obj("arena_list.bpf.o"),
        "--set",
        "cnt=1000",
        "arena_list_add",
        "arena_list_sum",
        "--get",
        "list_len",
        "--get",
        "list_sum",
        "--get",
        "arena_sum",
        "--get",
        "test_val",
    ]);
    assert_eq!(
        out,
        "arena_list_add retval=0\narena_list_sum retval=0\nlist_len=1000\nlist_sum=499500\narena_sum=499500\ntest_val=1\n"
    );
    // Deleting leaves a sum of 0; the programs run in the order given.
    let out = ok(&[
        "run",
        &obj("arena_list.bpf.o"),
        "--set",
        "cnt=10",
        "arena_list_add",
        "arena_list_del",
        "arena_list_sum",
        "--get",
        "list_sum",
    ]);
    assert_eq!(
        out,
        "arena_list_add retval=0\narena_list_del retval=0\narena_list_sum retval=0\nlist_sum=0\n"
    );
}

#[test]
fn run_every_object() {
    require_arena!();
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "asm_legacy.o",
            &["bump", "--get", "asm_val"],
            "bump retval=1008\nasm_val=8\n",
        ),
        (
            "asm_untyped.o",
            &["first", "second", "third", "typed"],
            "first retval=1\nsecond retval=3\nthird retval=42\ntyped retval=7\n",
        ),
        (
            "atomics.bpf.o",
            &[
                "atomics_raw_tp",
                "fetch_add",
                "--ctx",
                "00000000000000000000000000000000",
                "--get",
                "a64",
                "--get",
                "bits",
                "--get",
                "c",
            ],
            "atomics_raw_tp retval=0\nfetch_add retval=12\na64=15\nbits=239\nc=6\n",
        ),
        (
            "counter.bpf.o",
            &["count", "--times", "3", "--set", "step=2", "--get", "step"],
            "count retval=6\nstep=2\n",
        ),
        (
            "counter.bpf.o",
            &["core_max_entries", "--pages", "16"],
            "core_max_entries retval=16\n",
        ),
        (
            "externs.bpf.o",
            &["hz", "missing_weak", "bpf_on", "iter_sum", "maybe_kfunc"],
            "",
        ),
        (
            "externs.bpf.o",
            &["greeting_char", "--ctx", "01000000"],
            "greeting_char retval=101\n",
        ),
        (
            "externs.bpf.o",
            &["classify", "--set", "bias=-64"],
            "classify retval=0\n",
        ),
        (
            "htab.bpf.o",
            &[
                "htab_fill",
                "htab_lookup",
                "--set",
                "n=100",
                "--ctx",
                "2a000000",
                "--get",
                "entries",
            ],
            "htab_fill retval=0\nhtab_lookup retval=126\nentries=100\n",
        ),
        ("pages.bpf.o", &["page_rules"], "page_rules retval=255\n"),
        (
            "user_list.bpf.o",
            &["sum_list", "--get", "sum"],
            "sum_list retval=0\nsum=0\n",
        ),
        // Its map is declared pinned by name, but `run` pins nothing
        // without --pin-root: every run starts from a fresh map.
        ("fixed_addr.bpf.o", &["touch"], "touch retval=1\n"),
        ("fixed_addr.bpf.o", &["touch"], "touch retval=1\n"),
    ];
    for (o, args, want) in cases {
        let path = obj(o);
        let mut a = vec!["run", path.as_str()];
        a.extend_from_slice(args);
        let Some(out) = ok_or_missing(&a) else {
            continue;
        };
        if *o == "externs.bpf.o" && want.is_empty() {
            let hz = &bpf_arena::kconfig::kernel_config().unwrap().values["CONFIG_HZ"];
            let expect = format!(
                "hz retval={hz}\nmissing_weak retval=0\nbpf_on retval=1\niter_sum retval=45\nmaybe_kfunc retval=7\n"
            );
            assert_eq!(out, expect);
            continue;
        }
        assert_eq!(out, *want, "bpf-arena {a:?}");
    }
}

/// An object whose program uses arena pointers but has no arena of its own
/// cannot run alone: the CLI does not share arenas between objects.
#[test]
fn object_without_an_arena_fails_alone() {
    require_arena!();
    let (c, out, e) = cli(&["run", &obj("counter_reader.bpf.o")]);
    assert_eq!((c, out.as_str()), (1, ""));
    assert!(
        e.contains("'bump' uses arena pointers (addr_space_cast) but the object has no arena")
            && e.contains("ObjectLoader::reuse_arena")
            && e.contains(
                "addr_space_cast insn can only be used in a program that has an associated arena"
            ),
        "{e}"
    );
}

#[test]
fn get_formats_other_sizes_as_hex_bytes() {
    require_arena!();
    // `list` is struct { node *first; u64 len; }: 16 bytes, printed in memory order.
    let out = ok(&[
        "run",
        &obj("arena_list.bpf.o"),
        "--get",
        "list",
        "--get",
        "test_val",
    ]);
    assert_eq!(
        out, "list=0x00000000000000000000000000000000\ntest_val=1\n",
        "nothing ran"
    );
    let out = ok(&[
        "run",
        &obj("arena_list.bpf.o"),
        "--set",
        "test_val=-2",
        "--get",
        "test_val",
    ]);
    assert_eq!(out, "test_val=4294967294\n", "4-byte values print unsigned");
}

#[test]
fn only_named_programs_are_loaded() {
    require_arena!();
    // A program that fails verification is skipped when it is not named.
    let (code, _, err) = cli(&["run", &obj("bad/verifier_reject.bpf.o")]);
    assert_eq!(code, 1, "{err}");
    assert!(err.starts_with("bpf-arena: "), "{err}");
    // pages.bpf.o's iterator loads only if named; page_rules alone works
    // (where bpf_arena_reserve_pages, 6.17, exists).
    if let Some(out) = ok_or_missing(&["run", &obj("pages.bpf.o"), "page_rules"]) {
        assert_eq!(out, "page_rules retval=255\n");
    }
}

#[test]
fn errors_exit_with_status_and_one_line() {
    let o = obj("arena_list.bpf.o");
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &[],
            2,
            "bpf-arena: a command is required (probe, inspect, run, show, attach, gen); see bpf-arena --help\n",
        ),
        (
            &["frob"],
            2,
            "bpf-arena: unknown command 'frob' (probe, inspect, run, show, attach, gen); see bpf-arena --help\n",
        ),
        (
            &["probe", "x"],
            2,
            "bpf-arena: probe takes no arguments (got 'x')\n",
        ),
        (&["inspect"], 2, "bpf-arena: inspect needs an OBJECT\n"),
        (
            &["inspect", &o, "--pages"],
            2,
            "bpf-arena: --pages needs a value\n",
        ),
        (
            &["inspect", &o, "--pages", "x"],
            2,
            "bpf-arena: --pages: 'x' is not a number\n",
        ),
        (&["run"], 2, "bpf-arena: run needs an OBJECT\n"),
        (
            &["run", &o, "--bogus"],
            2,
            "bpf-arena: unknown option '--bogus' for run (see bpf-arena run --help)\n",
        ),
        (&["run", &o, "--set"], 2, "bpf-arena: --set needs a value\n"),
        (
            &["run", &o, "--set", "cnt"],
            2,
            "bpf-arena: --set cnt: expected NAME=VALUE\n",
        ),
        (
            &["run", &o, "--set", "cnt=1z"],
            2,
            "bpf-arena: --set cnt=1z: '1z' is not a decimal or 0x-hex number\n",
        ),
        (
            &["run", &o, "--times", "0"],
            2,
            "bpf-arena: --times must be at least 1\n",
        ),
        (
            &["run", &o, "--ctx", "abc"],
            2,
            "bpf-arena: --ctx: 'abc' is not hex bytes (an even number of hex digits)\n",
        ),
        (
            &["run", &o, "--set", "nope=1"],
            1,
            "bpf-arena: --set nope=1: the object has no global variable 'nope'\n",
        ),
        (
            &["run", &o, "--set", "cnt=0x100000000"],
            1,
            "bpf-arena: --set cnt=0x100000000: does not fit 'cnt' (4 bytes)\n",
        ),
        (
            &["run", &o, "--set", "cnt=-0x80000001"],
            1,
            "bpf-arena: --set cnt=-0x80000001: does not fit 'cnt' (4 bytes)\n",
        ),
        (
            &["run", &o, "--set", "list=1"],
            1,
            "bpf-arena: --set list=1: 'list' is 16 bytes; --set takes 1, 2, 4 or 8\n",
        ),
        (
            &["run", &o, "--get", "nope"],
            1,
            "bpf-arena: --get nope: the object has no global variable 'nope'\n",
        ),
        (
            &["run", &obj("counter_reader.bpf.o"), "--pages", "4"],
            1,
            "bpf-arena: --pages: the object has no arena map\n",
        ),
        (
            &["inspect", &o, "--disasm", "nope"],
            1,
            "bpf-arena: --disasm nope: the object has no program 'nope'; its programs: arena_list_add, arena_list_sum, arena_list_del\n",
        ),
        (&["show"], 2, "bpf-arena: show needs an OBJECT\n"),
        (
            &["show", &o, "--times", "2"],
            2,
            "bpf-arena: unknown option '--times' for show (see bpf-arena show --help)\n",
        ),
        (
            &["show", &o, "--pages", "x"],
            2,
            "bpf-arena: --pages: 'x' is not a number\n",
        ),
        (
            &["show", &o, "--set", "cnt"],
            2,
            "bpf-arena: --set cnt: expected NAME=VALUE\n",
        ),
        (
            &["show", &o, "--set", "nope=1"],
            1,
            "bpf-arena: --set nope=1: the object has no global variable 'nope'\n",
        ),
        (
            &["show", &obj("counter_reader.bpf.o"), "--pages", "4"],
            1,
            "bpf-arena: --pages: the object has no arena map\n",
        ),
    ];
    for (args, code, err) in cases {
        let (c, out, e) = cli(args);
        assert_eq!(
            (c, out.as_str(), e.as_str()),
            (*code, "", *err),
            "bpf-arena {args:?}"
        );
    }
    // A program the object does not have: one line listing those it has.
    for cmd in ["show", "run"] {
        let (c, out, e) = cli(&[cmd, &o, "arena_list_sum", "nope"]);
        assert_eq!(
            (c, out.as_str(), e),
            (
                1,
                "",
                format!(
                    "bpf-arena: {o}: the object has no program 'nope'; its programs: arena_list_add, arena_list_sum, arena_list_del\n"
                )
            ),
            "{cmd}"
        );
    }
    let (c, _, e) = cli(&["inspect", &obj("bad/unknown_section.o")]);
    assert_eq!(c, 1);
    assert!(
        e.contains("section 'not_a_program_type': unknown program section")
            && e.lines().count() == 1,
        "{e}"
    );
}

#[test]
fn verifier_rejection_prints_the_log_on_stderr() {
    require_arena!();
    let (c, out, e) = cli(&["run", &obj("bad/verifier_reject.bpf.o"), "oob"]);
    assert_eq!((c, out.as_str()), (1, ""));
    let first = e.lines().next().unwrap();
    assert!(
        first.ends_with("the verifier rejected program 'oob': EACCES (Permission denied)"),
        "{e}"
    );
    assert!(
        e.contains("; return table[index_from_user]; @ verifier_reject.bpf.c:12"),
        "{e}"
    );
    assert!(e.contains("R2 unbounded memory access"), "{e}");
    assert!(e.contains("processed "), "the whole log, to the end: {e}");
    // `show` reports it as `run` does (the log's kernel addresses vary).
    let (c, out, shown) = cli(&["show", &obj("bad/verifier_reject.bpf.o"), "oob"]);
    assert_eq!((c, out.as_str()), (1, ""));
    assert_eq!(shown.lines().next(), Some(first), "{shown}");
    assert_eq!(shown.lines().count(), e.lines().count(), "{shown}");
    assert!(shown.contains("R2 unbounded memory access"), "{shown}");
}

#[test]
fn help_for_the_tool_and_each_command() {
    for (args, needle) in [
        (&["--help"][..], "Usage: bpf-arena <COMMAND> [ARGS]"),
        (&["probe", "--help"][..], "Usage: bpf-arena probe"),
        (
            &["inspect", "--help"][..],
            "Usage: bpf-arena inspect OBJECT",
        ),
        (
            &["run", "--help"][..],
            "Usage: bpf-arena run OBJECT [OPTIONS] [PROGRAM...]",
        ),
        (
            &["show", "--help"][..],
            "Usage: bpf-arena show OBJECT [--set NAME=VALUE]... [--pages N] [PROGRAM...]",
        ),
        (
            &["attach", "--help"][..],
            "Usage: bpf-arena attach OBJECT [--set NAME=VALUE]... [--get NAME]... [--pages N]\n                        [--for SECONDS] [--iface NAME] [--cgroup PATH]\n                        [--ringbuf MAP]... [PROGRAM...]\n",
        ),
        (
            &["gen", "--help"][..],
            "Usage: bpf-arena gen OBJECT [--module NAME] [--embed PATH] [--arena-type NAME]...\n                            [--types-only]\n",
        ),
    ] {
        let out = ok(args);
        assert!(out.starts_with(needle), "{out}");
    }
}

/// The README shows real output of each command; it must stay what the tool
/// prints (the arena pointer in `list=` varies per run).
#[test]
fn readme_examples_are_current() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let block = |cmd: &str| -> String {
        let start = readme
            .find(&format!("$ bpf-arena {cmd}"))
            .unwrap_or_else(|| panic!("README shows `bpf-arena {cmd}`"));
        let body = &readme[start..];
        let body = &body[body.find('\n').unwrap() + 1..];
        let body = if cmd.starts_with("run") {
            &body[body.find('\n').unwrap() + 1..]
        } else {
            body
        };
        body[..body.find("```").unwrap()].to_string()
    };
    let inspect = ok(&["inspect", &obj("user_list.bpf.o")]);
    assert_eq!(block("inspect bpf-asm/user_list.bpf.o"), inspect);
    let types = ok(&["gen", &obj("arena_list.bpf.o"), "--types-only"]);
    assert_eq!(block("gen bpf-asm/arena_list.bpf.o --types-only"), types);
    // The README's probe output is from one kernel, named above the block
    // ("On Linux 6.18.44, as root:"). On that release it must match byte
    // for byte; on any other, the features, their order and the release
    // each "no" names must.
    let probe = ok(&["probe"]);
    let shown = block("probe");
    let on = readme[..readme.find("$ bpf-arena probe").unwrap()]
        .rsplit("On Linux ")
        .next()
        .and_then(|t| t.split(',').next())
        .expect("README names the kernel its probe output comes from");
    if common::kernel_release().starts_with(on)
        && common::kernel_release()[on.len()..].starts_with(['-', '+', '.'])
    {
        assert_eq!(shown, probe, "README probe output (Linux {on})");
    }
    let names = |t: &str| -> Vec<String> {
        t.lines()
            .map(|l| match l.split_once(": no (added in Linux ") {
                Some((name, since)) => format!("{name} since {since}"),
                None => l.split(':').next().unwrap().to_string(),
            })
            .map(|l| l.trim_end_matches(')').to_string())
            .collect()
    };
    let ours: Vec<String> = Feature::ALL.iter().map(|f| f.name().to_string()).collect();
    let shown_names: Vec<String> = names(&shown)
        .iter()
        .map(|n| n.split(" since ").next().unwrap().to_string())
        .collect();
    assert_eq!(
        shown_names, ours,
        "README probe lists every feature in order"
    );
    for text in [&shown, &probe] {
        assert_eq!(names(text).len(), ours.len(), "{text}");
        for (f, n) in Feature::ALL.iter().zip(names(text)) {
            if let Some((_, since)) = n.split_once(" since ") {
                assert_eq!(since, f.since(), "release shown for {}", f.name());
            }
        }
    }
    if bpf_arena::features::probe(Feature::ArenaMap).is_yes() {
        let run = ok(&[
            "run",
            &obj("arena_list.bpf.o"),
            "--set",
            "cnt=1000",
            "arena_list_add",
            "arena_list_sum",
            "--get",
            "list_len",
            "--get",
            "list_sum",
            "--get",
            "arena_sum",
            "--get",
            "list",
        ]);
        let strip = |s: &str| {
            s.lines()
                .filter(|l| !l.starts_with("list="))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(strip(&block("run bpf-asm/arena_list.bpf.o")), strip(&run));
        assert!(
            run.lines().last().unwrap().ends_with("e803000000000000"),
            "list count 1000: {run}"
        );
        // `show`: the README's output follows the format; on the release
        // and architecture it names, it is what the tool prints but for
        // map ids, addresses, call targets and the JIT size.
        let shown = block("show bpf-asm/user_list.bpf.o sum_list");
        parse_show(&shown);
        let live = ok(&["show", &obj("user_list.bpf.o"), "sum_list"]);
        let on = readme[..readme.find("$ bpf-arena show").unwrap()]
            .rsplit("on Linux ")
            .next()
            .and_then(|t| t.split(',').next())
            .expect("README names the kernel its show output comes from");
        if cfg!(target_arch = "x86_64")
            && common::kernel_release().starts_with(on)
            && common::kernel_release()[on.len()..].starts_with(['-', '+', '.'])
        {
            assert_eq!(
                normalize_show(&shown),
                normalize_show(&live),
                "README show output (Linux {on})"
            );
        }
    }
}

/// `show` output with what varies between runs masked: the JIT size, map
/// ids, and hex numbers of five digits or more (addresses, call targets).
fn normalize_show(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let line = match line.split_once(", jited_bytes ") {
            Some((head, rest)) => {
                let verified = rest.split(", ").nth(1).unwrap_or("");
                format!("{head}, jited_bytes J, {verified}, map_ids IDS")
            }
            None => line.to_string(),
        };
        let mut rest = line.as_str();
        while !rest.is_empty() {
            if let Some(r) = ["map_value(", "map_fd("]
                .iter()
                .find_map(|p| rest.strip_prefix(p).map(|r| (p, r)))
            {
                out.push_str(r.0);
                out.push_str("ID");
                rest = r.1.trim_start_matches(|c: char| c.is_ascii_digit());
            } else if let Some(r) = rest.strip_prefix("0x") {
                let digits = r.len() - r.trim_start_matches(|c: char| c.is_ascii_hexdigit()).len();
                if digits >= 5 {
                    out.push_str("0xN");
                } else {
                    out.push_str(&rest[..2 + digits]);
                }
                rest = &r[digits..];
            } else {
                let c = rest.chars().next().unwrap();
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        out.push('\n');
    }
    out
}

/// Output into a closed pipe (`bpf-arena probe | true`) ends quietly with
/// status 0, not with a panic (status 101).
#[test]
fn closed_stdout_is_not_a_panic() {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -o pipefail; '{BIN}' probe | true; echo \"status=$?\""
        ))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("status=0") && !text.contains("panicked"),
        "{text}"
    );
}

/// Runs the binary with raw (possibly non-UTF-8) arguments, giving up after
/// 20 s (a blocked open would otherwise hang the suite): (exit code, stderr).
fn cli_raw(args: &[&std::ffi::OsStr]) -> (i32, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run bpf-arena");
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > std::time::Duration::from_secs(20) {
            let _ = child.kill();
            panic!("bpf-arena {args:?} did not finish in 20 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Arguments that are not UTF-8, and OBJECTs that are not regular files
/// (a FIFO that would block, /dev/zero that never ends, a directory), are
/// one-line errors — never a panic (exit 101), a hang or a memory blow-up.
#[test]
fn hostile_arguments_and_files_are_refused() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let bad = OsStr::from_bytes(b"\xffname");
    let o = obj("arena_list.bpf.o");
    let o = OsStr::new(&o);
    let cases: &[(&[&OsStr], i32, &str)] = &[
        (
            &[bad],
            2,
            "bpf-arena: unknown command '\u{fffd}name' (probe, inspect, run, show, attach, gen); see bpf-arena --help\n",
        ),
        (
            &[OsStr::new("run"), o, OsStr::new("--get"), bad],
            2,
            "bpf-arena: --get: name '\u{fffd}name' is not valid UTF-8\n",
        ),
        (
            &[OsStr::new("run"), o, bad],
            2,
            "bpf-arena: program '\u{fffd}name' is not valid UTF-8\n",
        ),
        (
            &[OsStr::new("inspect"), bad],
            1,
            "bpf-arena: open failed for \u{fffd}name: ENOENT (No such file or directory)\n",
        ),
        (
            &[OsStr::new("inspect"), OsStr::new("/dev/zero")],
            1,
            "bpf-arena: invalid object file: /dev/zero is a character device, not a regular file\n",
        ),
        (
            &[OsStr::new("inspect"), OsStr::new("/")],
            1,
            "bpf-arena: invalid object file: / is a directory, not a regular file\n",
        ),
    ];
    for (args, code, err) in cases {
        assert_eq!(cli_raw(args), (*code, err.to_string()), "{args:?}");
    }
    let dir = std::env::temp_dir().join(format!("bpf-arena-fifo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("obj.o");
    let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: creates a FIFO in our own temporary directory.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    for cmd in ["inspect", "run"] {
        let (code, err) = cli_raw(&[OsStr::new(cmd), fifo.as_os_str()]);
        assert_eq!(code, 1, "{err}");
        assert!(err.ends_with("is a FIFO, not a regular file\n"), "{err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `run` honours an object's pinning only under --pin-root: there it pins
/// and reuses (the second run sees the first run's count), and nothing
/// appears under the host's /sys/fs/bpf either way.
#[test]
fn run_pins_only_under_pin_root() {
    require_arena!();
    let pins = Bpffs::new("clipins");
    let root = pins.0.to_str().unwrap();
    let o = obj("fixed_addr.bpf.o");
    for want in ["touch retval=1\n", "touch retval=2\n"] {
        assert_eq!(ok(&["run", &o, "--pin-root", root, "touch"]), want);
    }
    assert!(pins.join("pinned_counts").exists());
}

/// A crate-placed arena needs no 4 GiB reservation: `run` works under an
/// address-space limit of 2 GiB.
#[test]
fn run_works_under_an_address_space_limit() {
    require_arena!();
    let out = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 2097152 && exec \"$0\" \"$@\"")
        .arg(BIN)
        .args(["run", &obj("arena_list.bpf.o"), "--set", "cnt=1000"])
        .args(["arena_list_add", "--get", "list_len"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "arena_list_add retval=0\nlist_len=1000\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `--get` prints a pointer global (by BTF) in hex: `counter` is a
/// `__u64 __arena *` in `.bss`, set by `count` to an arena address.
#[test]
fn get_prints_pointers_in_hex() {
    require_arena!();
    let out = ok(&[
        "run",
        &obj("counter.bpf.o"),
        "count",
        "--get",
        "counter",
        "--get",
        "step",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    let counter = lines[1].strip_prefix("counter=0x").expect(&out);
    let addr = u64::from_str_radix(counter, 16).unwrap();
    // One page into a 4 GiB-aligned arena (page 0 is never handed out).
    assert_eq!(addr & 0xffff_ffff, bpf_arena::arena::page_size(), "{out}");
    assert_eq!(lines[2], "step=1");
}

/// The role of a re-run of this test binary that calls getpid() for the
/// `attach` tests ([`getpid_traffic`]).
const TRAFFIC: &str = "getpid_traffic";
/// What the traffic process prints once it waits for its go.
const TRAFFIC_READY: &str = "getpid-traffic-ready";

/// Not a test of its own (it returns at once): re-run as [`TRAFFIC`], it is
/// the process whose getpid() calls `attach` counts. It says it is ready,
/// waits for one byte on stdin, makes `BPF_ARENA_GETPIDS` getpid system
/// calls and ends at once (`_exit`: no test harness code runs after them,
/// so they are the only getpid calls it makes while anything is attached).
#[test]
fn getpid_traffic() {
    use std::io::{Read, Write};
    if !common::is_child(TRAFFIC) {
        return;
    }
    let n: u32 = std::env::var("BPF_ARENA_GETPIDS").unwrap().parse().unwrap();
    let mut out = std::io::stdout();
    writeln!(out, "{TRAFFIC_READY}").unwrap();
    out.flush().unwrap();
    let mut go = [0u8; 1];
    std::io::stdin().read_exact(&mut go).unwrap();
    for _ in 0..n {
        // SAFETY: getpid has no arguments and no effects.
        unsafe { libc::syscall(libc::SYS_getpid) };
    }
    // SAFETY: ends this process at once, as intended.
    unsafe { libc::_exit(0) };
}

/// The traffic process ([`getpid_traffic`]), started and ready: its stdin
/// is the go.
struct Traffic(std::process::Child);

impl Traffic {
    fn start(calls: u32) -> Traffic {
        use std::io::BufRead;
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TRAFFIC, "--nocapture", "--test-threads=1"])
            .env("BPF_ARENA_CHILD", TRAFFIC)
            .env("BPF_ARENA_GETPIDS", calls.to_string())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        loop {
            match lines.next() {
                Some(Ok(l)) if l.contains(TRAFFIC_READY) => break,
                Some(Ok(_)) => {}
                other => panic!("the traffic process ended before it was ready: {other:?}"),
            }
        }
        Traffic(child)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Makes the calls and waits for the process to end.
    fn go(mut self) {
        use std::io::Write;
        self.0.stdin.take().unwrap().write_all(b"g").unwrap();
        let st = self.0.wait().unwrap();
        assert!(st.success(), "traffic process: {st}");
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `bpf-arena ARGS` started with its output piped, returned once it has
/// printed `lines` lines on stdout (its `attached` lines), with them.
fn attach_started(args: &[&str], lines: usize) -> (std::process::Child, String) {
    use std::io::Read;
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut got = Vec::new();
    let mut b = [0u8; 1];
    while got.iter().filter(|&&c| c == b'\n').count() < lines {
        if out.read(&mut b).unwrap() == 0 {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            let st = child.wait().unwrap();
            panic!(
                "bpf-arena {args:?} ended ({st}) after printing {:?}: {err}",
                String::from_utf8_lossy(&got)
            );
        }
        got.push(b[0]);
    }
    child.stdout = Some(out);
    (child, String::from_utf8(got).unwrap())
}

/// Waits (at most 20 s) for a started `bpf-arena` to end: (exit code, the
/// rest of stdout, stderr).
fn finished(mut child: std::process::Child) -> (i32, String, String) {
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > std::time::Duration::from_secs(20) {
            let _ = child.kill();
            panic!("bpf-arena did not end in 20 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

const GETPIDS: u32 = 7;

/// `attach` without PROGRAMs attaches every attachable program (not the
/// syscall one) for --for SECONDS, then prints the globals: the traced
/// process's getpid calls, counted exactly by a tracepoint (`count`, and
/// `arena_count` in the arena) and by a BTF-typed raw tracepoint on
/// sys_enter (`enters`).
#[test]
fn attach_all_counts_for_a_duration() {
    require_arena!();
    let o = obj("cli_attach.bpf.o");
    let nr = libc::SYS_getpid.to_string();
    // The calls must be made well before --for runs out; on a machine too
    // slow for that, the case is tried again.
    for attempt in 1..=3 {
        let traffic = Traffic::start(GETPIDS);
        let pid = format!("target_pid={}", traffic.pid());
        let target_nr = format!("target_nr={nr}");
        let args = [
            "attach",
            &o,
            "--set",
            &pid,
            "--set",
            &target_nr,
            "--for",
            "2",
            "--get",
            "count",
            "--get",
            "arena_count",
            "--get",
            "enters",
        ];
        let (cli, head) = attach_started(&args, 2);
        let t = std::time::Instant::now();
        traffic.go();
        let in_time = t.elapsed() < std::time::Duration::from_millis(1500);
        let (code, rest, err) = finished(cli);
        if !in_time && attempt < 3 {
            common::report("RETRY", &common::test_name(), "the calls took over 1.5 s");
            continue;
        }
        assert!(in_time, "the getpid calls took over 1.5 s three times");
        assert_eq!(
            (code, head.as_str(), rest.as_str(), err.as_str()),
            (
                0,
                "count_enter attached tp_btf sys_enter\non_getpid attached tracepoint syscalls/sys_enter_getpid\n",
                "count=7\narena_count=7\nenters=7\n",
                ""
            ),
            "bpf-arena {args:?}"
        );
        return;
    }
}

/// `attach PROGRAM` loads and attaches only the program named; without
/// --for, SIGTERM (or SIGINT) ends the wait: the programs are detached and
/// the globals printed, exit status 0.
#[test]
fn attach_named_until_a_signal() {
    require_arena!();
    let o = obj("cli_attach.bpf.o");
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let traffic = Traffic::start(GETPIDS);
        let pid = format!("target_pid={}", traffic.pid());
        let args = [
            "attach",
            &o,
            "on_getpid",
            "--set",
            &pid,
            "--get",
            "count",
            "--get",
            "arena_count",
            "--get",
            "enters",
        ];
        let (cli, head) = attach_started(&args, 1);
        assert_eq!(
            head, "on_getpid attached tracepoint syscalls/sys_enter_getpid\n",
            "signal {sig}"
        );
        traffic.go();
        // SAFETY: sends a signal to the child process we started.
        assert_eq!(unsafe { libc::kill(cli.id() as i32, sig) }, 0);
        let (code, rest, err) = finished(cli);
        assert_eq!(
            (code, rest.as_str(), err.as_str()),
            (0, "count=7\narena_count=7\nenters=0\n", ""),
            "signal {sig}: count_enter was not loaded, its global reads 0"
        );
    }
}

/// A cgroup program attaches to the directory --cgroup names; --for 0
/// detaches at once.
#[test]
fn attach_to_a_cgroup() {
    let Some(root) = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .find(|l| {
            l.split(" - ")
                .nth(1)
                .is_some_and(|t| t.starts_with("cgroup2 "))
        })
        .and_then(|l| l.split(' ').nth(4).map(str::to_string))
    else {
        assert!(!common::strict(), "no cgroup2 mount (BPF_ARENA_STRICT=1)");
        common::report("SKIP", &common::test_name(), "no cgroup2 mount");
        return;
    };
    let dir = format!("{root}/bpf-arena-cli-{}", std::process::id());
    std::fs::create_dir(&dir).unwrap();
    let (code, out, err) = cli(&[
        "attach",
        &obj("cli_attach_net.bpf.o"),
        "skb_in",
        "--cgroup",
        &dir,
        "--for",
        "0",
        "--get",
        "packets",
    ]);
    std::fs::remove_dir(&dir).unwrap();
    assert_eq!(
        (code, out, err),
        (
            0,
            format!("skb_in attached cgroup_skb/ingress {dir}\npackets=0\n"),
            String::new()
        )
    );
}

/// `attach`'s errors: usage (exit 2), and what is wrong with the object
/// or the options for it (exit 1), found before anything is loaded, each
/// one line.
#[test]
fn attach_errors() {
    let o = obj("cli_attach.bpf.o");
    let n = obj("cli_attach_net.bpf.o");
    let cases: &[(&[&str], i32, String)] = &[
        (&["attach"], 2, "attach needs an OBJECT".into()),
        (&["attach", &o, "--for"], 2, "--for needs a value".into()),
        (
            &["attach", &o, "--for", "-1"],
            2,
            "--for: '-1' is not a number of seconds (like 10 or 0.5)".into(),
        ),
        (
            &["attach", &o, "--for", "1.5s"],
            2,
            "--for: '1.5s' is not a number of seconds (like 10 or 0.5)".into(),
        ),
        (
            &["attach", &o, "--pages", "many"],
            2,
            "--pages: 'many' is not a number".into(),
        ),
        (
            &["attach", &o, "--times", "2"],
            2,
            "unknown option '--times' for attach (see bpf-arena attach --help)".into(),
        ),
        (
            &["attach", &o, "--iface"],
            2,
            "--iface needs a value".into(),
        ),
        (
            &["attach", &o, "on_getpid", "on_getpid"],
            2,
            "program 'on_getpid' is named twice".into(),
        ),
        (
            &["attach", &o, "--ringbuf", "events", "--ringbuf", "events"],
            2,
            "--ringbuf events is given twice".into(),
        ),
        (
            &["attach", &o, "nope"],
            1,
            format!(
                "{o}: the object has no program 'nope'; its programs: count_enter, on_getpid, reset"
            ),
        ),
        (
            &["attach", &o, "reset"],
            1,
            format!(
                "{o}: program 'reset' does not attach: section 'syscall': syscall programs are run (Program::run_syscall, `bpf-arena run`), not attached"
            ),
        ),
        (
            &["attach", &o, "--set", "nope=1"],
            1,
            "--set nope=1: the object has no global variable 'nope'".into(),
        ),
        (
            &["attach", &o, "--get", "nope"],
            1,
            "--get nope: the object has no global variable 'nope'".into(),
        ),
        (
            &["attach", &n],
            1,
            format!("{n}: program 'xdp_count' (xdp) needs --iface NAME"),
        ),
        (
            &["attach", &n, "skb_in", "xdp_count", "--iface", "lo"],
            1,
            format!("{n}: program 'skb_in' (cgroup_skb/ingress) needs --cgroup PATH"),
        ),
        (
            &["attach", &n, "xdp_count", "--iface", "no-such-if0"],
            1,
            "--iface no-such-if0: no such interface in this network namespace".into(),
        ),
        (
            &["attach", &o, "--iface", "lo"],
            1,
            "--iface lo: no program to attach takes an interface (xdp, tcx/*)".into(),
        ),
        (
            &["attach", &n, "skb_in", "--cgroup", "/no/such/dir"],
            1,
            "--cgroup /no/such/dir: ENOENT (No such file or directory)".into(),
        ),
        (
            &["attach", &n, "skb_in", "--cgroup", &n],
            1,
            format!("--cgroup {n}: a regular file, not a directory"),
        ),
        (
            &["attach", &o, "--cgroup", "/"],
            1,
            "--cgroup /: no program to attach takes a cgroup (cgroup_skb/*, cgroup/*)".into(),
        ),
        (
            &["attach", &obj("bad/attach_malformed.bpf.o")],
            1,
            format!(
                "{}: program 'typo' does not attach: section 'tracepoint/sys_enter_getpid': a tracepoint is written 'tracepoint/CATEGORY/NAME'",
                obj("bad/attach_malformed.bpf.o")
            ),
        ),
        (
            &["attach", &obj("counter.bpf.o")],
            1,
            format!(
                "{}: no program of the object attaches by its section ('count': section 'syscall': syscall programs are run (Program::run_syscall, `bpf-arena run`), not attached; 'core_max_entries': section 'syscall': syscall programs are run (Program::run_syscall, `bpf-arena run`), not attached)",
                obj("counter.bpf.o")
            ),
        ),
        (
            &["attach", &o, "--ringbuf", "count"],
            1,
            "--ringbuf count: the object has no map 'count'; its ring buffers: events".into(),
        ),
        (
            &["attach", &o, "--ringbuf", "arena"],
            1,
            "--ringbuf arena: map 'arena' is of type arena (33), not ringbuf (27)".into(),
        ),
    ];
    for (args, code, err) in cases {
        let (c, out, e) = cli(args);
        assert_eq!(
            (c, out.as_str(), e),
            (*code, "", format!("bpf-arena: {err}\n")),
            "bpf-arena {args:?}"
        );
    }
}

/// Reads `n` more lines of a started `bpf-arena`'s stdout (at most 20 s).
fn read_lines(child: &mut std::process::Child, n: usize) -> String {
    use std::io::Read;
    let out = child.stdout.as_mut().unwrap();
    let start = std::time::Instant::now();
    let mut got = Vec::new();
    let mut b = [0u8; 1];
    while got.iter().filter(|&&c| c == b'\n').count() < n {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "no {n} lines in 20 s: {:?}",
            String::from_utf8_lossy(&got)
        );
        if out.read(&mut b).unwrap() == 0 {
            panic!("stdout ended after {:?}", String::from_utf8_lossy(&got));
        }
        got.push(b[0]);
    }
    String::from_utf8(got).unwrap()
}

/// `--ringbuf MAP` prints each record as `MAP: HEX` as it arrives: the
/// program writes { u32 pid; u32 n } per getpid call, and all of them are
/// on stdout, in order, before the wait ends (SIGTERM); then the --get
/// values.
#[test]
fn attach_prints_ring_buffer_records_as_they_arrive() {
    require_arena!();
    let o = obj("cli_attach.bpf.o");
    let traffic = Traffic::start(GETPIDS);
    let pid = traffic.pid();
    let set = format!("target_pid={pid}");
    let args = [
        "attach",
        &o,
        "on_getpid",
        "--ringbuf",
        "events",
        "--set",
        &set,
        "--get",
        "count",
    ];
    let (mut cli, head) = attach_started(&args, 1);
    assert_eq!(
        head,
        "on_getpid attached tracepoint syscalls/sys_enter_getpid\n"
    );
    traffic.go();
    let records = read_lines(&mut cli, GETPIDS as usize);
    let want: String = (1..=GETPIDS)
        .map(|n| {
            let mut hex = String::new();
            for b in pid.to_le_bytes().iter().chain(&n.to_le_bytes()) {
                hex += &format!("{b:02x}");
            }
            format!("events: {hex}\n")
        })
        .collect();
    assert_eq!(records, want);
    // SAFETY: sends SIGTERM to the child process we started.
    assert_eq!(unsafe { libc::kill(cli.id() as i32, libc::SIGTERM) }, 0);
    let (code, rest, err) = finished(cli);
    assert_eq!((code, rest.as_str(), err.as_str()), (0, "count=7\n", ""));
}

/// Without PROGRAMs, `attach` also attaches the object's struct_ops maps:
/// a `.struct_ops.link` map through a link, a `.struct_ops` map by its
/// registration. Both congestion controls are registered while it waits
/// and gone once it has detached.
#[test]
fn attach_registers_struct_ops_maps() {
    require_arena!();
    const AVAILABLE: &str = "/proc/sys/net/ipv4/tcp_available_congestion_control";
    let available = || std::fs::read_to_string(AVAILABLE).unwrap();
    let o = obj("tcp_cc.bpf.o");
    let (cli, head) = attach_started(&["attach", &o], 2);
    assert_eq!(
        head,
        "arena_cc attached struct_ops tcp_congestion_ops\narena_cc_nolink attached struct_ops tcp_congestion_ops\n"
    );
    let during = available();
    // SAFETY: sends a signal to the child process we started.
    assert_eq!(unsafe { libc::kill(cli.id() as i32, libc::SIGTERM) }, 0);
    let (code, rest, err) = finished(cli);
    assert_eq!((code, rest.as_str(), err.as_str()), (0, "", ""));
    for cc in ["bpf_arena_cc", "bpf_arena_cc_nl"] {
        assert!(
            during.split_whitespace().any(|n| n == cc),
            "{cc} while attached: {during}"
        );
        assert!(
            !available().split_whitespace().any(|n| n == cc),
            "{cc} after: {}",
            available()
        );
    }
}

/// `bpf-arena gen`: its options, and its errors (exit 1 for the object,
/// 2 for usage) in one line each.
#[test]
fn gen_options_and_errors() {
    let o = obj("arena_list.bpf.o");
    let out = ok(&[
        "gen",
        &o,
        "--module",
        "lists",
        "--embed",
        "/abs/arena_list.bpf.o",
    ]);
    assert!(out.contains("pub mod lists {\n"), "{out}");
    assert!(
        out.contains("pub const OBJECT: &[u8] = include_bytes!(\"/abs/arena_list.bpf.o\");"),
        "{out}"
    );
    assert!(out.contains("pub fn embedded() -> Result<Loader> {"));
    let out = ok(&["gen", &obj("htab.bpf.o"), "--arena-type", "entry"]);
    assert!(out.contains("pub struct entry {"), "{out}");
    for (args, code, msg) in [
        (
            vec!["gen"],
            2,
            "bpf-arena: gen needs an OBJECT\n".to_string(),
        ),
        (
            vec!["gen", &o, "--module", "no-dash"],
            2,
            "bpf-arena: --module: 'no-dash' is not a Rust identifier (letters, digits and _)\n"
                .to_string(),
        ),
        (
            vec!["gen", &o, "--types-only", "--embed", "x.o"],
            2,
            "bpf-arena: --embed is for the handle, which --types-only leaves out\n".to_string(),
        ),
        (
            vec!["gen", &o, "--wat"],
            2,
            "bpf-arena: unknown option '--wat' for gen (see bpf-arena gen --help)\n".to_string(),
        ),
        (
            vec!["gen", &o, "--arena-type", "nope"],
            1,
            format!(
                "bpf-arena: {o}: invalid arena type: the object's BTF has no struct, union or typedef named 'nope'\n"
            ),
        ),
        (
            vec!["gen", &o, "--types-only", "--arena-type", "nope"],
            1,
            format!(
                "bpf-arena: {o}: invalid arena type: the object's BTF has no struct, union or typedef named 'nope'\n"
            ),
        ),
        (
            vec!["gen", "/nonexistent.bpf.o"],
            1,
            "bpf-arena: open failed for /nonexistent.bpf.o: ENOENT".to_string(),
        ),
    ] {
        let (c, out, err) = cli(&args);
        assert_eq!(c, code, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}");
        assert!(
            err.starts_with(&msg) && err.ends_with('\n') && err.lines().count() == 1,
            "{args:?}: {err}"
        );
    }
}
