//! walk: user space walks a list BPF built in the arena (through the
//! crate's typed `ArenaPtr<Node>` and `Arena::read`), against the same walk
//! over a heap copy with identical node layout, offsets and link order.
//!
//! Link order: the order BPF allocated the nodes (arena_list.bpf.c carves
//! 16-byte nodes from the top of each page downwards and pushes each at the
//! head), reproduced exactly in the heap copy: node i of the heap copy sits
//! at the same offset from the heap buffer's start as node i from the
//! arena's base, and links to the same successor.
//!
//! Cold: the first user-space walk right after BPF built the list in a fresh
//! arena — every page is touched by user space for the first time, so the
//! walk takes one page fault per page (the kernel maps the page BPF
//! allocated). The heap copy's first walk has no faults (building it touched
//! its pages). Warm: the median of repeated walks.

mod common;

use bpf_arena::arena::{Arena, ArenaBuilder, ArenaFlags, ArenaPtr, Plain};
use bpf_arena::loader::{LoadedObject, ObjectLoader};
use common::*;
use std::time::Instant;

#[derive(Clone, Copy)]
#[repr(C)]
struct Node {
    next: ArenaPtr<Node>,
    value: u64,
}
// SAFETY: two u64 fields, no padding.
unsafe impl Plain for Node {}

/// The heap twin of `Node`.
#[repr(C)]
struct HeapNode {
    next: *const HeapNode,
    value: u64,
}

fn build(n: u64) -> LoadedObject {
    let mut l = ObjectLoader::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/bpf-asm/arena_list.bpf.o"
    ))
    .unwrap();
    l.set_max_entries("arena", (n.div_ceil(255) + 3) as u32)
        .unwrap();
    l.set_global("cnt", n as u32).unwrap();
    let o = l.load().unwrap();
    assert_eq!(
        o.program("arena_list_add")
            .unwrap()
            .run_syscall(&mut [])
            .unwrap(),
        0
    );
    o
}

fn head(o: &LoadedObject) -> ArenaPtr<Node> {
    o.arena()
        .unwrap()
        .read(o.arena_global_at::<ArenaPtr<Node>>("list", 0).unwrap())
        .unwrap()
}

/// The walk the crate offers: typed pointers, bounds-checked relaxed atomic
/// reads.
#[inline(never)]
fn walk_arena(a: &Arena, mut p: ArenaPtr<Node>) -> (u64, u64) {
    let (mut n, mut sum) = (0, 0);
    while !p.is_null() {
        let node = a.read(p).unwrap();
        n += 1;
        sum += node.value;
        p = node.next;
    }
    (n, sum)
}

#[inline(never)]
fn walk_heap(mut p: *const HeapNode) -> (u64, u64) {
    let (mut n, mut sum) = (0, 0);
    while !p.is_null() {
        // SAFETY: every node of the heap copy is initialised and the buffer
        // outlives the walk.
        let node = unsafe { &*p };
        n += 1;
        sum += node.value;
        p = node.next;
    }
    (n, sum)
}

/// A zeroed, page-aligned heap buffer (the arena base is page-aligned too,
/// so nodes share cache-line and page alignment with their arena twins).
struct HeapBuf {
    ptr: *mut u8,
    layout: std::alloc::Layout,
}

impl HeapBuf {
    fn new(len: usize) -> HeapBuf {
        let layout = std::alloc::Layout::from_size_align(len, 4096).unwrap();
        // SAFETY: non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!ptr.is_null());
        HeapBuf { ptr, layout }
    }
}

impl Drop for HeapBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) }
    }
}

/// Copies the arena list into a heap buffer at the same offsets.
fn heap_copy(a: &Arena, head: ArenaPtr<Node>) -> (HeapBuf, *const HeapNode) {
    let buf = HeapBuf::new(a.len() as usize);
    let base = buf.ptr;
    let at = |p: ArenaPtr<Node>| -> *mut HeapNode {
        if p.is_null() {
            std::ptr::null_mut()
        } else {
            // SAFETY: the offset is inside the arena, and the buffer has the
            // arena's size.
            unsafe { base.add(a.offset_of(p).unwrap() as usize) as *mut HeapNode }
        }
    };
    let mut p = head;
    while !p.is_null() {
        let node = a.read(p).unwrap();
        // SAFETY: in bounds (see `at`), 8-byte aligned (offsets are multiples of 16).
        unsafe {
            at(p).write(HeapNode {
                next: at(node.next),
                value: node.value,
            })
        };
        p = node.next;
    }
    (buf, at(head))
}

/// Copies the arena list into a fresh `SEGV_ON_FAULT` arena of the same
/// size, at the same offsets (every page but the NULL page allocated first).
fn segv_copy(a: &Arena, head: ArenaPtr<Node>) -> (Arena, ArenaPtr<Node>) {
    let s = ArenaBuilder::new(a.pages())
        .flags(ArenaFlags::SEGV_ON_FAULT)
        .create()
        .unwrap();
    let first = s.ptr_at::<u8>(4096).unwrap();
    s.alloc_pages(Some(first), a.pages() - 1).unwrap().unwrap();
    let at = |p: ArenaPtr<Node>| {
        if p.is_null() {
            ArenaPtr::null()
        } else {
            s.ptr_at(a.offset_of(p).unwrap()).unwrap()
        }
    };
    let mut p = head;
    while !p.is_null() {
        let node = a.read(p).unwrap();
        s.write(
            at(p),
            Node {
                next: at(node.next),
                value: node.value,
            },
        )
        .unwrap();
        p = node.next;
    }
    let h = at(head);
    (s, h)
}

fn main() {
    println!("walk — {}", machine());
    segv_table();
    let sizes: Vec<u64> = pick(vec![100_000, 1_000_000], vec![100_000]);
    let mut rows = Vec::new();
    for &n in &sizes {
        let cold_iters = pick(5, 2);
        let mut arena_cold = Vec::new();
        let mut heap_first = Vec::new();
        let mut warm_arena = Vec::new();
        let mut warm_heap = Vec::new();
        let expected = n * (n - 1) / 2;
        for _ in 0..cold_iters {
            let o = build(n);
            let a = o.arena().unwrap();
            let h = head(&o);
            let t = Instant::now();
            let r = walk_arena(a, h);
            arena_cold.push(ns_per(t.elapsed(), n));
            assert_eq!(r, (n, expected));
            let (buf, hh) = heap_copy(a, h);
            let t = Instant::now();
            let r = walk_heap(hh);
            heap_first.push(ns_per(t.elapsed(), n));
            assert_eq!(r, (n, expected));
            // Warm: interleave the two walks so both see the same machine state.
            let reps = pick(if n > 100_000 { 15 } else { 60 }, 5);
            for _ in 0..3 {
                walk_arena(a, h);
                walk_heap(hh);
            }
            for _ in 0..reps {
                let t = Instant::now();
                std::hint::black_box(walk_arena(a, std::hint::black_box(h)));
                warm_arena.push(ns_per(t.elapsed(), n));
                let t = Instant::now();
                std::hint::black_box(walk_heap(std::hint::black_box(hh)));
                warm_heap.push(ns_per(t.elapsed(), n));
            }
            drop(buf);
        }
        let (ac, hc) = (median(&mut arena_cold), median(&mut heap_first));
        let (aw, hw) = (median(&mut warm_arena), median(&mut warm_heap));
        rows.push(vec![
            n.to_string(),
            f(ac),
            f(hc),
            f(aw),
            f(hw),
            ratio(aw, hw),
        ]);
    }
    table(
        "walk: ns/node, BPF-built list (16-byte nodes, allocation order) vs identical heap copy; target warm ratio <= 1.05",
        &[
            "nodes",
            "arena cold (faults)",
            "heap first walk",
            "arena warm",
            "heap warm",
            "warm ratio arena/heap",
        ],
        &rows,
    );
}

/// The cost of fault-safe access: on a `SEGV_ON_FAULT` arena every read goes
/// through `process_vm_readv` (a system call per read) so that an
/// unallocated page is an error instead of `SIGSEGV`.
fn segv_table() {
    let n = pick(100_000u64, 20_000);
    let o = build(n);
    let a = o.arena().unwrap();
    let h = head(&o);
    let (s, sh) = segv_copy(a, h);
    let expected = (n, n * (n - 1) / 2);
    assert_eq!(walk_arena(&s, sh), expected);
    let reps = pick(7, 2);
    let mut direct = Vec::new();
    let mut kernel = Vec::new();
    for _ in 0..reps {
        let t = Instant::now();
        assert_eq!(walk_arena(a, std::hint::black_box(h)), expected);
        direct.push(ns_per(t.elapsed(), n));
        let t = Instant::now();
        assert_eq!(walk_arena(&s, std::hint::black_box(sh)), expected);
        kernel.push(ns_per(t.elapsed(), n));
    }
    let (d, k) = (median(&mut direct), median(&mut kernel));
    table(
        "walk, fault-safe path: ns/node, same list in a plain arena (direct atomic reads) vs a SEGV_ON_FAULT arena (process_vm_readv per read)",
        &[
            "nodes",
            "plain arena warm",
            "SEGV_ON_FAULT arena warm",
            "ratio",
        ],
        &[vec![n.to_string(), f(d), f(k), ratio(k, d)]],
    );
}
