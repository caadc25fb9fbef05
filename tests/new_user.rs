//! What a new user meets, written from the docs alone: each case is a
//! mistake or a need someone had, and the answer the crate gives.

mod common;

use bpf_arena::arena::{ArenaFlags, ArenaPtr};
use bpf_arena::features::Feature;
use bpf_arena::insn::{Reg, Size, asm, encode};
use bpf_arena::loader::ObjectLoader;
use bpf_arena::prog::{ProgramBuilder, ProgramFlags, ProgramType};
use common::*;

fn loader(file: &str) -> ObjectLoader {
    ObjectLoader::from_file(asm_object(file)).unwrap()
}

/// `arena_global::<T>` checks the size like `global::<T>` does, points a
/// `.bss` variable to `global`, and `arena_global_at` reaches inside.
#[test]
fn arena_globals_are_typed_and_bounded() {
    require_arena!();
    let o = loader("arena_list.bpf.o").load().unwrap();
    // list is struct list_head { node *first; u64 len; }: 16 bytes.
    let e = o.arena_global::<u64>("list").unwrap_err().to_string();
    assert!(e.contains("'list' is 16 bytes, the type 8"), "{e}");
    assert!(o.arena_global::<[u64; 2]>("list").is_ok());
    let first = o.arena_global_at::<ArenaPtr<u64>>("list", 0).unwrap();
    let len = o.arena_global_at::<u64>("list", 8).unwrap();
    assert_eq!(len.addr(), first.addr() + 8);
    let e = o.arena_global_at::<u64>("list", 9).unwrap_err().to_string();
    assert!(e.contains("reach past arena global 'list'"), "{e}");
    assert!(o.arena_global_at::<u64>("list", u64::MAX).is_err());
    // cnt is a .bss variable.
    let e = o.arena_global::<u32>("cnt").unwrap_err().to_string();
    assert!(
        e.contains("'cnt' is in section '.bss'") && e.contains("LoadedObject::global"),
        "{e}"
    );
}

/// Two objects with different `__arena` globals on one arena would read
/// and write each other's variables: the second load is refused, naming
/// both. The same object twice shares its globals, as intended.
#[test]
fn overlapping_arena_globals_of_two_objects_are_refused() {
    require_arena!();
    let first = loader("arena_list.bpf.o").load().unwrap();
    let handle = first.arena_handle().unwrap();
    let mut second = loader("user_list.bpf.o");
    second.reuse_arena(handle.clone());
    let e = match second.load() {
        Err(e) => e.to_string(),
        Ok(_) => panic!("user_list's globals were placed over arena_list's"),
    };
    assert!(
        e.contains("object 'user_list'") && e.contains("of object 'arena_list'"),
        "{e}"
    );
    let mut again = loader("arena_list.bpf.o");
    again.reuse_arena(handle);
    let again = again.load().unwrap();
    assert_eq!(
        again.arena_global::<[u64; 2]>("list").unwrap(),
        first.arena_global::<[u64; 2]>("list").unwrap(),
        "the same variables, shared"
    );
}

/// An arena exactly as large as its globals holds them at offset 0, on
/// the NULL page (documented; the loader then leaves that page unguarded).
#[test]
fn globals_filling_the_arena_sit_at_offset_zero() {
    require_arena!();
    let mut l = loader("user_list.bpf.o");
    // sum_list names the arena (it reads `head`): no fd_array binding needed.
    l.set_arena_pages(1)
        .unwrap()
        .load_only(&["sum_list"])
        .unwrap();
    let o = l.load().unwrap();
    assert_eq!(o.arena_globals_offset(), Some(0));
    let head = o.arena_global::<ArenaPtr<u64>>("head").unwrap();
    assert_eq!(head.addr(), o.arena().unwrap().base());
}

/// The arena's page count without knowing its map's name.
#[test]
fn set_arena_pages_sizes_the_arena() {
    require_arena!();
    let mut l = loader("arena_list.bpf.o");
    l.set_arena_pages(128).unwrap();
    assert_eq!(l.load().unwrap().arena().unwrap().pages(), 128);
    let mut l = loader("counter_reader.bpf.o");
    let e = l.set_arena_pages(8).unwrap_err().to_string();
    assert!(e.contains("no arena map"), "{e}");
}

/// Handing the loader the fd of an arena this process maps already points
/// to `reuse_arena`.
#[test]
fn reusing_an_arena_mapped_here_by_fd_says_how_to_share_it() {
    require_arena!();
    let first = loader("arena_list.bpf.o").load().unwrap();
    let fd = first.arena().unwrap().fd().try_clone_to_owned().unwrap();
    let mut l = loader("arena_list.bpf.o");
    l.reuse_map("arena", fd).unwrap();
    let e = match l.load() {
        Err(e) => e.to_string(),
        Ok(_) => panic!("mapped twice"),
    };
    assert!(
        e.contains("reuse_arena") && e.contains("arena_handle"),
        "{e}"
    );
}

/// A SYSCALL program reading past a short context: the kernel's bare
/// `EINVAL` comes with the context length and the likely reason.
#[test]
fn short_context_einval_says_why() {
    require!(Feature::Jit);
    let insns = encode(&[asm::load(Size::DW, Reg::R0, Reg::R1, 8), asm::exit()]);
    let p = ProgramBuilder::new(ProgramType::SYSCALL, &insns)
        .flags(ProgramFlags::SLEEPABLE)
        .name("reads_ctx")
        .load()
        .unwrap();
    let e = p.run_syscall(&mut [0u8; 4]).unwrap_err();
    assert_eq!(e.errno(), Some(bpf_arena::sys::Errno::EINVAL));
    let text = e.to_string();
    assert!(
        text.contains("context of 4 bytes") && text.contains("shorter than the highest byte"),
        "{text}"
    );
    assert_eq!(p.run_syscall(&mut [0u8; 16]).unwrap(), 0);
}

/// A `NO_USER_CONV` arena stores kernel-form pointers: `Arena::stored`
/// follows them, and reading one unconverted says so.
#[test]
fn no_user_conv_pointers_are_followed_with_stored() {
    require_arena!();
    require!(Feature::NoUserConv);
    let a = arena_flags(4, ArenaFlags::NO_USER_CONV);
    let target = a.ptr_at::<u64>(2 * 4096 + 8).unwrap();
    a.write(target, 77).unwrap();
    // What BPF would store: the low 32 bits.
    let stored = ArenaPtr::<u64>::from_addr(target.addr() & 0xffff_ffff);
    let e = a.read(stored).unwrap_err().to_string();
    assert!(e.contains("Arena::stored"), "{e}");
    assert_eq!(a.read(a.stored(stored)).unwrap(), 77);
    assert!(a.stored(ArenaPtr::<u64>::null()).is_null());
    // Elsewhere stored pointers are user pointers already.
    let plain = arena(2);
    let p = plain.ptr_at::<u64>(8).unwrap();
    assert_eq!(plain.stored(p), p);
}

/// A misspelt program name is an error that lists the object's programs;
/// one `load_only` left out says so.
#[test]
fn program_lookup_says_what_exists() {
    require_arena!();
    let mut l = loader("arena_list.bpf.o");
    l.load_only(&["arena_list_add"]).unwrap();
    let o = l.load().unwrap();
    assert!(o.program("arena_list_add").is_ok());
    let e = o.program("arena_list_ad").unwrap_err().to_string();
    assert!(
        e.contains("no program 'arena_list_ad'") && e.contains("arena_list_sum"),
        "{e}"
    );
    let e = o.program("arena_list_sum").unwrap_err().to_string();
    assert!(e.contains("load_only left it out"), "{e}");
}

/// Hand-written assembly without `.type`/`.size`: each global label of a
/// program section is a program up to the next global label (local labels
/// such as loop targets are not), and `inspect` says its extent was
/// inferred.
#[test]
fn untyped_global_labels_are_programs() {
    let spec = loader("asm_untyped.o").spec().clone();
    let progs: Vec<(&str, usize, bool)> = spec
        .programs
        .iter()
        .map(|p| (p.name.as_str(), p.len, p.untyped))
        .collect();
    assert_eq!(
        progs,
        [
            ("first", 2, true),
            ("second", 6, true),
            ("third", 2, true),
            // A global label inside a typed function is part of it.
            ("typed", 3, false),
        ]
    );
    // Typed functions (clang's) are not marked.
    let typed = loader("arena_list.bpf.o");
    assert!(typed.spec().programs.iter().all(|p| !p.untyped));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bpf-arena"))
        .arg("inspect")
        .arg(asm_object("asm_untyped.o"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("  second: section syscall, type syscall (31), attach_type 0, flags sleepable, 6 insns (untyped symbol: runs to the next symbol or the section's end)\n"),
        "{text}"
    );
    // SYSCALL programs need no arena support (Linux 5.14).
    let o = loader("asm_untyped.o").load().unwrap();
    let ret = |name: &str| o.program(name).unwrap().run_syscall(&mut []).unwrap();
    assert_eq!(
        (ret("first"), ret("second"), ret("third"), ret("typed")),
        (1, 3, 42, 7)
    );
}

/// One builder style: the loader's final call takes `&self`, so one loader
/// loads an object twice, each time with its own arena and maps.
#[test]
fn a_loader_loads_again() {
    require_arena!();
    let mut l = loader("arena_list.bpf.o");
    l.set_global("cnt", 3u32).unwrap();
    let a = l.load().unwrap();
    let b = l.load().unwrap();
    let (aa, ba) = (a.arena().unwrap(), b.arena().unwrap());
    assert_ne!(aa.base(), ba.base(), "two arenas");
    assert_eq!(a.global::<u32>("cnt").unwrap(), 3);
    a.set_global("cnt", 5u32).unwrap();
    assert_eq!(b.global::<u32>("cnt").unwrap(), 3, "separate .bss maps");
}

/// An `__arena` global given a value before the load, on a reused arena
/// (whose globals are not copied), is refused at load rather than dropped.
#[test]
fn arena_global_set_before_load_on_a_reused_arena_is_refused() {
    require_arena!();
    let arena = std::sync::Arc::new(bpf_arena::ArenaBuilder::new(64).create().unwrap());
    let mut l = loader("arena_list.bpf.o");
    l.set_global("test_val", 7i32).unwrap();
    l.reuse_arena(arena.clone());
    let e = l.load().unwrap_err().to_string();
    assert!(
        e.contains("__arena global 'test_val' was given a value before the load")
            && e.contains("LoadedObject::set_global"),
        "{e}"
    );
    // Without the early value it loads, and the value is set afterwards.
    let mut l = loader("arena_list.bpf.o");
    l.reuse_arena(arena);
    let o = l.load().unwrap();
    o.set_global("test_val", 7i32).unwrap();
    assert_eq!(o.global::<i32>("test_val").unwrap(), 7);
}

/// An empty context is no context (the kernel refuses a context pointer of
/// size 0), and a SYSCALL program given a repeat count hears why.
#[test]
fn empty_context_is_no_context() {
    require_arena!();
    let o = loader("counter.bpf.o").load().unwrap();
    let count = o.program("count").unwrap();
    let mut empty: [u8; 0] = [];
    let r = count
        .test_run(bpf_arena::prog::TestRun::new().ctx_in(&mut empty))
        .unwrap();
    assert_eq!(r.retval, 1);
    let e = count
        .test_run(bpf_arena::prog::TestRun::new().repeat(5))
        .unwrap_err()
        .to_string();
    assert!(e.contains("a SYSCALL program takes only a context"), "{e}");
}

/// `Debug` output reads like the ABI: an arena pointer's address and an
/// arena's base in hex, a program type by its name (`abi_layout` checks
/// the other names).
#[test]
fn debug_output_reads_like_the_kernel_abi() {
    assert_eq!(
        format!("{:?}", ArenaPtr::<u64>::from_addr(0x7f00_0000_1000)),
        "ArenaPtr(0x7f0000001000)"
    );
    assert_eq!(
        format!("{:?}", ProgramType::SYSCALL),
        "ProgramType(syscall = 31)"
    );
    require_arena!();
    let a = bpf_arena::ArenaBuilder::new(4)
        .name("dbg")
        .create()
        .unwrap();
    let d = format!("{a:?}");
    assert!(
        d.contains("name: \"dbg\"") && d.contains(&format!("base: {:#x}", a.base())),
        "{d}"
    );
}
