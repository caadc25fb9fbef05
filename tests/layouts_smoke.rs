//! Smoke test of bpf-asm/layouts.bpf.o and layouts_nuc.bpf.o (the BPF side
//! of `bpf-arena gen`'s round trip): both load, `build` returns 0, and the
//! chain it links from `head` is three nodes long, read without generated
//! types; in the `NO_USER_CONV` variant `head` holds the 32-bit kernel form.
//! The field-by-field check through the generated types is in
//! `tests/codegen.rs`.

mod common;

use bpf_arena::arena::{Arena, ArenaPtr};
use bpf_arena::features::Feature;
use bpf_arena::loader::{LoadedObject, ObjectLoader};

fn load(file: &str) -> LoadedObject {
    ObjectLoader::from_file(format!("{}/bpf-asm/{file}", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .load()
        .unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// Runs `build` and returns the arena and `head` as stored (not converted).
fn build(o: &LoadedObject) -> (&Arena, ArenaPtr<u64>) {
    let r = o.program("build").unwrap().run_syscall(&mut []).unwrap();
    assert_eq!(r, 0, "build: the page allocation failed");
    assert_eq!(o.global::<u32>("build_runs").unwrap(), 1);
    let a = o.arena().unwrap();
    let head = a
        .read(o.arena_global::<ArenaPtr<u64>>("head").unwrap())
        .unwrap();
    (a, head)
}

/// Follows `next` (the first field of a node) from `head`; returns the
/// number of nodes.
fn chain_len(a: &Arena, head: ArenaPtr<u64>) -> usize {
    let mut p = a.stored(head);
    let mut n = 0;
    while !p.is_null() {
        assert!(
            a.offset_of(p).is_some(),
            "node {n} at {:#x}: outside the arena",
            p.addr()
        );
        n += 1;
        assert!(n <= 3, "the chain is longer than 3 nodes");
        p = a.stored(ArenaPtr::from_addr(a.read(p).unwrap()));
    }
    n
}

#[test]
fn layouts_build_links_three_nodes() {
    require_arena!();
    let o = load("layouts.bpf.o");
    let (a, head) = build(&o);
    assert!(!head.is_null());
    assert!(
        a.offset_of(head).is_some(),
        "head is a user address: {:#x}",
        head.addr()
    );
    assert_eq!(chain_len(a, head), 3);
}

#[test]
fn layouts_nuc_stores_kernel_form_pointers() {
    require_arena!();
    require!(Feature::NoUserConv);
    let o = load("layouts_nuc.bpf.o");
    let (a, head) = build(&o);
    assert!(
        !head.is_null() && head.addr() <= u64::from(u32::MAX),
        "head is the 32-bit kernel form: {:#x}",
        head.addr()
    );
    assert!(a.offset_of(a.stored(head)).is_some());
    assert_eq!(chain_len(a, head), 3);
}
