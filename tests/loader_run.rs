//! End to end: every bpf-asm object is loaded into the live kernel and run,
//! and its outcome checked against what its source says it expects.

mod common;

use bpf_arena::arena::{ArenaPtr, Plain};
use bpf_arena::features::Feature;
use bpf_arena::loader::{LoadedObject, ObjectLoader};
use bpf_arena::prog::TestRun;
use common::*;

fn loader(file: &str) -> ObjectLoader {
    ObjectLoader::from_file(format!("{}/bpf-asm/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn run(o: &LoadedObject, prog: &str, ctx: &mut [u8]) -> i32 {
    o.program(prog)
        .unwrap_or_else(|e| panic!("program {prog}: {e}"))
        .run_syscall(ctx)
        .unwrap() as i32
}

#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct Node {
    next: ArenaPtr<Node>,
    value: u64,
}
// SAFETY: two u64-sized fields, no padding.
unsafe impl Plain for Node {}

/// Walks a list of `Node`s from user space; returns (count, sum).
fn walk(o: &LoadedObject, mut p: ArenaPtr<Node>) -> (u64, u64) {
    let a = o.arena().unwrap();
    let (mut n, mut sum) = (0, 0);
    while !p.is_null() {
        let node = a.read(p).unwrap();
        n += 1;
        sum += node.value;
        p = node.next;
    }
    (n, sum)
}

#[test]
fn arena_list_add_walk_sum_delete() {
    require_arena!();
    let mut l = loader("arena_list.bpf.o");
    l.set_global("cnt", 1000u32).unwrap();
    let o = l.load().unwrap();
    let a = o.arena().unwrap();
    // Globals at the end of the 64-page arena (decision 5), initial value copied.
    assert_eq!(o.arena_globals_offset(), Some(63 * page()));
    assert_eq!(o.global::<i32>("test_val").unwrap(), 1);
    assert_eq!(
        a.read(a.ptr_at::<i32>(63 * page()).unwrap()).unwrap(),
        1,
        "test_val at the placement"
    );
    assert_eq!(run(&o, "arena_list_add", &mut []), 0);
    assert_eq!(o.global::<u64>("list_len").unwrap(), 1000);
    // list_head { node *first; u64 len; } is an arena global: walk it from user space.
    let first: ArenaPtr<Node> = a
        .read(o.arena_global_at::<ArenaPtr<Node>>("list", 0).unwrap())
        .unwrap();
    assert_eq!(walk(&o, first), (1000, 999 * 1000 / 2));
    assert_eq!(run(&o, "arena_list_sum", &mut []), 0);
    assert_eq!(o.global::<u64>("list_sum").unwrap(), 499_500);
    assert_eq!(o.global::<u64>("arena_sum").unwrap(), 499_500);
    assert_eq!(run(&o, "arena_list_del", &mut []), 0);
    assert_eq!(run(&o, "arena_list_sum", &mut []), 0);
    assert_eq!(o.global::<u64>("list_sum").unwrap(), 0);
    assert_eq!(
        a.read(o.arena_global_at::<ArenaPtr<Node>>("list", 0).unwrap())
            .unwrap(),
        ArenaPtr::null()
    );
}

#[test]
fn arena_list_grows_with_max_entries() {
    require_arena!();
    let mut l = loader("arena_list.bpf.o");
    l.set_global("cnt", 20_000u32).unwrap();
    l.set_max_entries("arena", 128).unwrap();
    let o = l.load().unwrap();
    assert_eq!(o.arena().unwrap().pages(), 128);
    assert_eq!(o.arena_globals_offset(), Some(127 * page()));
    assert_eq!(run(&o, "arena_list_add", &mut []), 0);
    run(&o, "arena_list_sum", &mut []);
    assert_eq!(o.global::<u64>("list_sum").unwrap(), 19_999 * 20_000 / 2);
}

#[test]
fn shared_counter_between_two_objects() {
    require_arena!();
    require!(Feature::FdArrayBinding);
    let a = loader("counter.bpf.o").load().unwrap();
    assert_eq!(
        run(&a, "count", &mut []),
        1,
        "allocates the page on first use"
    );
    assert_eq!(run(&a, "count", &mut []), 2);
    let ptr: u64 = a.global("counter").unwrap();
    let arena = a.arena().unwrap();
    assert_eq!(
        arena.read(ArenaPtr::<u64>::from_addr(ptr)).unwrap(),
        2,
        "user space reads the page"
    );
    a.set_global("step", 5u64).unwrap();
    assert_eq!(
        run(&a, "count", &mut []),
        7,
        ".data written from user space is seen by BPF"
    );
    // CO-RE: struct bpf_map's max_entries, relocated by the kernel.
    assert_eq!(run(&a, "core_max_entries", &mut []), 8);
    // The second object never names the arena: bound through fd_array.
    let mut l = loader("counter_reader.bpf.o");
    l.reuse_arena(a.arena_handle().unwrap());
    let b = l.load().unwrap();
    let mut ctx = [0u8; 16];
    ctx[..8].copy_from_slice(&ptr.to_le_bytes());
    ctx[8..].copy_from_slice(&10u64.to_le_bytes());
    assert_eq!(run(&b, "bump", &mut ctx), 17);
    assert_eq!(
        run(&a, "count", &mut []),
        22,
        "both programs update one page"
    );
    drop(a);
    // The arena outlives the first object while the second holds it.
    assert_eq!(run(&b, "bump", &mut ctx), 32);
}

#[test]
fn core_read_follows_a_changed_page_count() {
    require_arena!();
    let mut l = loader("counter.bpf.o");
    l.set_max_entries("arena", 32).unwrap();
    l.load_only(&["core_max_entries"]).unwrap();
    let o = l.load().unwrap();
    assert!(
        o.program("count").is_err(),
        "only named programs are loaded"
    );
    assert_eq!(run(&o, "core_max_entries", &mut []), 32);
}

#[test]
fn hash_table_built_by_bpf_read_by_user_space() {
    require_arena!();
    let mut l = loader("htab.bpf.o");
    l.set_global("n", 700u32).unwrap();
    let o = l.load().unwrap();
    assert_eq!(run(&o, "htab_fill", &mut []), 0);
    assert_eq!(o.global::<u32>("entries").unwrap(), 700);
    for k in [0u32, 1, 77, 699] {
        assert_eq!(run(&o, "htab_lookup", &mut k.to_le_bytes()), (k * 3) as i32);
    }
    assert_eq!(run(&o, "htab_lookup", &mut 700u32.to_le_bytes()), -1);
    // Walk every bucket from user space: struct entry { entry *next; u32 key; u32 value; }.
    let a = o.arena().unwrap();
    let buckets = o.arena_global_at::<ArenaPtr<u64>>("buckets", 0).unwrap();
    let mut seen = 0;
    for b in 0..64 {
        let mut e: ArenaPtr<u64> = a.read(buckets.add(b)).unwrap();
        while !e.is_null() {
            let kv: u64 = a.read(e.byte_add(8)).unwrap();
            let (key, value) = (kv as u32, (kv >> 32) as u32);
            assert_eq!(value, key * 3);
            seen += 1;
            e = ArenaPtr::from_addr(a.read(e).unwrap());
        }
    }
    assert_eq!(seen, 700);
}

#[test]
fn user_built_list_summed_by_bpf() {
    require_arena!();
    require!(Feature::FdArrayBinding);
    let o = loader("user_list.bpf.o").load().unwrap();
    let a = o.arena().unwrap();
    let page = a.alloc_pages::<u8>(None, 2).unwrap().unwrap();
    let n = 300u64; // 300 nodes of 16 bytes span both pages
    let mut head = ArenaPtr::<Node>::null();
    for i in 0..n {
        let node = page.cast::<Node>().add(i);
        a.write(
            node,
            Node {
                next: head,
                value: i * 7,
            },
        )
        .unwrap();
        head = node;
    }
    o.set_global("head", head).unwrap();
    assert_eq!(run(&o, "sum_list", &mut []), n as i32);
    assert_eq!(o.global::<u64>("sum").unwrap(), 7 * (n - 1) * n / 2);
}

#[test]
fn atomics_on_arena_globals() {
    require_arena!();
    require!(Feature::ArenaAtomics);
    let o = loader("atomics.bpf.o").load().unwrap();
    let r = o
        .program("atomics_raw_tp")
        .unwrap()
        .test_run(TestRun::new().ctx_in(&mut [0u8; 16]));
    assert_eq!(r.unwrap().retval, 0);
    assert_eq!(o.global::<u64>("a64").unwrap(), 12);
    assert_eq!(o.global::<u32>("a32").unwrap(), 7);
    assert_eq!(o.global::<i64>("s64").unwrap(), 9);
    assert_eq!(
        o.global::<u64>("bits").unwrap(),
        ((0x0f | 0x10) & 0xf0) ^ 0xff
    );
    assert_eq!(
        (
            o.global::<u64>("x").unwrap(),
            o.global::<u64>("old_x").unwrap()
        ),
        (99, 42)
    );
    assert_eq!(o.global::<u64>("c").unwrap(), 6);
    assert_eq!(o.global::<u32>("runs").unwrap(), 0x101, ".data");
    assert_eq!(run(&o, "fetch_add", &mut []), 12);
    assert_eq!(o.global::<u64>("a64").unwrap(), 15, ".rodata delta = 3");
    // .rodata is frozen: user space cannot write it after load.
    assert!(o.set_global("delta", 9u64).is_err());
    // ... but can before load.
    let mut l = loader("atomics.bpf.o");
    l.set_global("delta", 100u64).unwrap();
    let o = l.load().unwrap();
    run(&o, "fetch_add", &mut []);
    assert_eq!(o.global::<u64>("a64").unwrap(), 110);
}

#[test]
fn page_rules_from_bpf_and_iterator_loads() {
    require_arena!();
    require!(Feature::KfuncReservePages);
    let o = loader("pages.bpf.o").load().unwrap();
    assert_eq!(run(&o, "page_rules", &mut []), 0xff);
    assert!(
        o.program("map_iter").is_ok(),
        "iter.s/bpf_map loads with its attach target"
    );
}

#[test]
fn kconfig_rodata_strings_and_tc() {
    require_arena!();
    let o = loader("externs.bpf.o").load().unwrap();
    let cfg = bpf_arena::kconfig::kernel_config().unwrap();
    let hz: i32 = cfg.values["CONFIG_HZ"].parse().unwrap();
    assert_eq!(run(&o, "hz", &mut []), hz);
    assert_eq!(run(&o, "missing_weak", &mut []), 0);
    assert_eq!(run(&o, "bpf_on", &mut []), 1);
    assert_eq!(
        run(&o, "greeting_char", &mut 1u32.to_le_bytes()),
        b'e' as i32
    );
    assert_eq!(run(&o, "greeting_char", &mut 9u32.to_le_bytes()), -1);
    assert_eq!(
        o.global::<i32>("CONFIG_HZ").unwrap(),
        hz,
        ".kconfig map readable by name"
    );
    let r = o
        .program("classify")
        .unwrap()
        .test_run(TestRun::new().data_in(&[0u8; 64]))
        .unwrap();
    assert_eq!(r.retval, 1064);
}

#[test]
fn hand_written_assembly_object() {
    require_arena!();
    let o = loader("asm_legacy.o").load().unwrap();
    assert_eq!(run(&o, "bump", &mut []), 1008);
    assert_eq!(o.global::<u64>("asm_val").unwrap(), 8);
}

#[test]
fn verifier_rejection_shows_the_source_line() {
    require_arena!();
    let e = loader("bad/verifier_reject.bpf.o").load().unwrap_err();
    // On every kernel, the 7.3+ report included: the error and the source
    // line are found, and Display shows both.
    let bpf_arena::Error::Verifier(v) = &e else {
        panic!("{e}")
    };
    assert!(
        v.error_line()
            .unwrap()
            .starts_with("R2 unbounded memory access"),
        "{:?}\n{}",
        v.error_line(),
        v.log()
    );
    assert_eq!(
        v.source_line(),
        Some("return table[index_from_user]; @ verifier_reject.bpf.c:12"),
        "{}",
        v.log()
    );
    let text = e.to_string();
    assert!(
        text.contains("\n  error: R2 unbounded memory access"),
        "{text}"
    );
    assert!(
        text.contains("the verifier rejected program 'oob'"),
        "{text}"
    );
    assert!(
        text.contains("; return table[index_from_user]; @ verifier_reject.bpf.c:12"),
        "{text}"
    );
    assert!(text.contains("R2 unbounded memory access"), "{text}");
}

#[test]
fn weak_kfunc_missing_is_poisoned_and_guard_is_zero() {
    require_arena!();
    let o = loader("externs.bpf.o").load().unwrap();
    assert_eq!(run(&o, "maybe_kfunc", &mut []), 7);
}

/// Two processes, one arena: this process loads the counter and pins its
/// arena; a child process opens the pin (mapping it at its map_extra) and
/// loads the reader object on it.
#[test]
fn two_processes_share_one_arena() {
    require_arena!();
    require!(Feature::FdArrayBinding);
    if is_child("share") {
        return;
    }
    let pins = Bpffs::new("share");
    let a = loader("counter.bpf.o").load().unwrap();
    assert_eq!(run(&a, "count", &mut []), 1);
    let ptr: u64 = a.global("counter").unwrap();
    a.arena().unwrap().pin(&pins.join("arena")).unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "share_child", "--nocapture", "--test-threads=1"])
        .env("BPF_ARENA_CHILD", "share")
        .env("BPF_ARENA_PIN", pins.join("arena"))
        .env("BPF_ARENA_PTR", ptr.to_string())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.contains("share_child: bumped to 101"),
        "{text}"
    );
    assert_eq!(
        run(&a, "count", &mut []),
        102,
        "the child's update is in this process's arena"
    );
}

/// Runs only inside `two_processes_share_one_arena`'s child.
#[test]
fn share_child() {
    if !is_child("share") {
        return;
    }
    let pin = std::env::var("BPF_ARENA_PIN").unwrap();
    let ptr: u64 = std::env::var("BPF_ARENA_PTR").unwrap().parse().unwrap();
    let arena = bpf_arena::arena::Arena::open_pinned(std::path::Path::new(&pin)).unwrap();
    assert_eq!(
        arena.read(ArenaPtr::<u64>::from_addr(ptr)).unwrap(),
        1,
        "the parent's counter"
    );
    let mut l = loader("counter_reader.bpf.o");
    l.reuse_arena(std::sync::Arc::new(arena));
    let o = l.load().unwrap();
    let mut ctx = [0u8; 16];
    ctx[..8].copy_from_slice(&ptr.to_le_bytes());
    ctx[8..].copy_from_slice(&100u64.to_le_bytes());
    let v = run(&o, "bump", &mut ctx);
    println!("share_child: bumped to {v}");
}

/// The caller can give the arena its address.
#[test]
fn arena_address_option() {
    require_arena!();
    // A free slot found here can be taken by a concurrent test (arenas in
    // other threads) before the load maps it: that is AddressInUse, and
    // another slot is tried.
    let (o, at) = (0..8)
        .find_map(|_| {
            let r = bpf_arena::sys::reserve_address_space(8 << 30).unwrap() as u64;
            let at = r.next_multiple_of(1 << 32);
            // SAFETY: our own reservation, unused.
            unsafe { bpf_arena::sys::munmap(r as usize, 8 << 30).unwrap() };
            let mut l = loader("arena_list.bpf.o");
            l.arena_address(at);
            match l.load() {
                Ok(o) => Some((o, at)),
                Err(bpf_arena::Error::AddressInUse { .. }) => None,
                Err(e) => panic!("{e}"),
            }
        })
        .expect("a free 4 GiB-aligned slot in 8 tries");
    assert_eq!(o.arena().unwrap().base(), at);
    assert_eq!(o.arena().unwrap().map_extra(), at);
    assert_eq!(o.global::<i32>("test_val").unwrap(), 1);
}

#[test]
fn iterator_kfuncs_and_inline_asm_cast_user() {
    require_arena!();
    let o = loader("externs.bpf.o").load().unwrap();
    assert_eq!(run(&o, "iter_sum", &mut []), 45);
    require!(Feature::FdArrayBinding);
    let u = loader("user_list.bpf.o").load().unwrap();
    let base = u.arena().unwrap().base();
    let mut ctx = (0xdead_0000_0000_2008u64).to_le_bytes();
    run(&u, "to_user", &mut ctx);
    assert_eq!(u64::from_le_bytes(ctx), (base & !0xffff_ffff) | 0x2008);
    let mut ctx = 0u64.to_le_bytes();
    run(&u, "to_user", &mut ctx);
    assert_eq!(u64::from_le_bytes(ctx), 0, "low 32 bits 0 is NULL");
}

/// Reusing an arena by pin path or by fd: the second load maps the same
/// pages at the agreed address (the first object is gone by then; one
/// process can map an arena only once).
///
/// It runs in a fresh process: between dropping an arena and adopting it
/// again at its address, an arena another test thread creates could take
/// that address.
#[test]
fn reuse_arena_by_pin_path_and_by_fd() {
    require_arena!();
    common::in_fresh_process("reuse_arena_by_pin_path_and_by_fd", || {
        reuse_arena_by_pin_path_and_by_fd_body();
        Ok(())
    });
}

fn reuse_arena_by_pin_path_and_by_fd_body() {
    let pins = Bpffs::new("reuse");
    let first = loader("counter.bpf.o").load().unwrap();
    assert_eq!(run(&first, "count", &mut []), 1);
    let ptr: u64 = first.global("counter").unwrap();
    let base = first.arena().unwrap().base();
    first.arena().unwrap().pin(&pins.join("arena")).unwrap();
    drop(first);

    let mut l = loader("counter.bpf.o");
    l.reuse_pinned("arena", pins.join("arena")).unwrap();
    let second = common::while_address_taken(|| l.load()).unwrap();
    let a = second.arena().unwrap();
    assert_eq!(a.base(), base, "mapped at its map_extra");
    assert_eq!(
        a.read(ArenaPtr::<u64>::from_addr(ptr)).unwrap(),
        1,
        "the first object's counter page"
    );
    assert_eq!(
        run(&second, "count", &mut []),
        1,
        "a fresh .bss allocates a new page"
    );
    drop(second);

    let c = std::ffi::CString::new(pins.join("arena").to_str().unwrap()).unwrap();
    let fd = bpf_arena::sys::obj_get(&c, 0).unwrap();
    let mut l = loader("counter.bpf.o");
    l.reuse_map("arena", fd).unwrap();
    let third = l.load().unwrap();
    assert_eq!(
        third
            .arena()
            .unwrap()
            .read(ArenaPtr::<u64>::from_addr(ptr))
            .unwrap(),
        1
    );
}
