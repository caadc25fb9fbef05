//! old-way: the per-element cost of reading N values the ways user space
//! reads BPF data — `BPF_MAP_LOOKUP_ELEM` on a hash map and on an array map
//! (one system call per element), an mmapped array map, and the arena
//! (plain memory through the crate's checked reads).

mod common;

use bpf_arena::arena::ArenaBuilder;
use bpf_arena::map::Map;
use bpf_arena::obj::MapSpec;
use common::*;
use std::time::Instant;

fn main() {
    println!("old-way — {}", machine());
    let n: u32 = pick(10_000, 1_000);
    let iters = pick(25, 3);

    // u32 key -> u64 value maps of n entries.
    let map = |name: &str, map_type: u32, map_flags: u32| {
        let spec = MapSpec {
            name: name.into(),
            map_type,
            key_size: 4,
            value_size: 8,
            max_entries: n,
            map_flags,
            ..Default::default()
        };
        Map::create(&spec, None, None).unwrap()
    };
    let hash = map("bench_hash", 1, 0);
    let array = map("bench_array", 2, 0);
    let mm = map("bench_mmap", 2, 1 << 10);
    for i in 0..n {
        let v = (i as u64 * 3).to_le_bytes();
        hash.update(&i.to_le_bytes(), &v, 0).unwrap();
        array.update(&i.to_le_bytes(), &v, 0).unwrap();
        mm.update(&i.to_le_bytes(), &v, 0).unwrap();
    }
    let mut mm = mm;
    mm.map_memory(false).unwrap();
    let mem = mm.memory().unwrap();
    let pages = (n as u64 * 8).div_ceil(4096) as u32 + 1;
    let arena = ArenaBuilder::new(pages + 1).create().unwrap();
    let vals = arena
        .alloc_pages::<u8>(None, pages)
        .unwrap()
        .unwrap()
        .cast::<u64>();
    for i in 0..n as u64 {
        arena.write(vals.add(i), i * 3).unwrap();
    }
    let expected: u64 = (0..n as u64).map(|i| i * 3).sum();

    fn by_syscall(m: &Map, n: u32, expected: u64) -> impl FnMut() -> f64 + '_ {
        move || {
            let t = Instant::now();
            let mut sum = 0u64;
            let mut v = [0u8; 8];
            for i in 0..n {
                m.lookup(&i.to_le_bytes(), &mut v).unwrap();
                sum += u64::from_le_bytes(v);
            }
            assert_eq!(sum, expected);
            ns_per(t.elapsed(), n as u64)
        }
    }
    let hash_ns = median_of(2, iters, by_syscall(&hash, n, expected));
    let array_ns = median_of(2, iters, by_syscall(&array, n, expected));
    let mmap_ns = median_of(3, iters * 4, || {
        let t = Instant::now();
        let mut sum = 0u64;
        let mut v = [0u8; 8];
        for i in 0..n as usize {
            mem.read(i * 8, &mut v).unwrap();
            sum += u64::from_le_bytes(v);
        }
        assert_eq!(std::hint::black_box(sum), expected);
        ns_per(t.elapsed(), n as u64)
    });
    let arena_ns = median_of(3, iters * 4, || {
        let t = Instant::now();
        let mut sum = 0u64;
        for i in 0..n as u64 {
            sum += arena.read(std::hint::black_box(vals.add(i))).unwrap();
        }
        assert_eq!(std::hint::black_box(sum), expected);
        ns_per(t.elapsed(), n as u64)
    });
    let row = |name: &str, ns: f64| vec![name.to_string(), f(ns), ratio(ns, arena_ns)];
    table(
        &format!(
            "old-way: reading {n} u64 values, ns/element (median of {} passes)",
            iters
        ),
        &["how", "ns/element", "vs arena"],
        &[
            row("hash map, BPF_MAP_LOOKUP_ELEM per element", hash_ns),
            row("array map, BPF_MAP_LOOKUP_ELEM per element", array_ns),
            row("mmapped array map (BPF_F_MMAPABLE)", mmap_ns),
            row("arena, Arena::read per element", arena_ns),
        ],
    );
}
