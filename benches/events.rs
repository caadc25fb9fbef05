//! events: what a BPF program pays per event for where its counter lives,
//! and what user space pays to read a table back.
//!
//! (a) A `tp_btf/sys_enter` program counts the `getpid()` calls of this
//!     bench's thread (bpf-asm/events_bench.bpf.c: the filter — syscall
//!     number and thread id — is the same code in every variant) into an
//!     arena counter (atomic add), an array map (lookup + atomic add) or a
//!     hash map (lookup + atomic add; the element exists, as in a steady
//!     state). Measured: ns per `syscall(SYS_getpid)` with each variant
//!     attached, against the same loop with no program and with the filter
//!     alone; the variants take turns round after round (a different one
//!     first each round); the differences between variants are taken
//!     within each round, then their median over rounds. Every round checks
//!     that the counter grew by exactly the calls made.
//!     Any program on `sys_enter` sends every system call through the
//!     kernel's syscall-tracing path, so "filter only" minus "no program"
//!     is the price of having a program there at all; the variants differ
//!     from "filter only" by the counting alone.
//! (b) User space reads a 10,000-entry table: walking the open-addressing
//!     table a SYSCALL program allocated and filled in the arena (16,384
//!     slots of 16 bytes, read in place), against reading a BPF hash map
//!     of the same 10,000 u64 -> u64 entries with `BPF_MAP_GET_NEXT_KEY` +
//!     `BPF_MAP_LOOKUP_ELEM` (two system calls per entry) and with one
//!     `BPF_MAP_LOOKUP_BATCH` for the whole map (Linux 5.6; a raw system
//!     call here: the crate has no wrapper for it).

mod common;

use bpf_arena::Link;
use bpf_arena::arena::{Arena, ArenaPtr, Plain};
use bpf_arena::loader::{LoadedObject, ObjectLoader};
use bpf_arena::map::Map;
use bpf_arena::obj::MapSpec;
use common::*;
use std::time::Instant;

/// `struct slot { __u64 key; __u64 value; }` of events_bench.bpf.c.
#[derive(Clone, Copy)]
#[repr(C)]
struct Slot {
    key: u64,
    value: u64,
}
// SAFETY: two u64 fields, no padding.
unsafe impl Plain for Slot {}

const ENTRIES: u64 = 10_000;
/// `EV_SLOTS` of events_bench.bpf.c.
const SLOTS: u64 = 16_384;

fn main() {
    println!("events — {}", machine());
    // SAFETY: gettid takes no arguments and cannot fail.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) } as u32;
    let mut l = ObjectLoader::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/bpf-asm/events_bench.bpf.o"
    ))
    .unwrap();
    l.set_global("target_tid", tid).unwrap();
    l.set_global("syscall_nr", libc::SYS_getpid as u64).unwrap();
    let o = l.load().unwrap();
    per_event(&o, tid);
    read_back(&o);
}

/// `n` calls of `syscall(SYS_getpid)` (no libc wrapper, no cache), in ns
/// per call.
#[inline(never)]
fn getpid_loop(n: u64) -> f64 {
    let t = Instant::now();
    for _ in 0..n {
        // SAFETY: getpid takes no arguments and cannot fail.
        std::hint::black_box(unsafe { libc::syscall(libc::SYS_getpid) });
    }
    ns_per(t.elapsed(), n)
}

#[derive(Clone, Copy, PartialEq)]
enum Variant {
    None,
    Filter,
    Arena,
    Array,
    Hash,
}

impl Variant {
    const ALL: [Variant; 5] = [
        Variant::None,
        Variant::Filter,
        Variant::Arena,
        Variant::Array,
        Variant::Hash,
    ];

    fn program(self) -> Option<&'static str> {
        match self {
            Variant::None => None,
            Variant::Filter => Some("ev_filter"),
            Variant::Arena => Some("ev_arena"),
            Variant::Array => Some("ev_array"),
            Variant::Hash => Some("ev_hash"),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Variant::None => "no program attached",
            Variant::Filter => "filter only (syscall nr + thread id), counts nothing",
            Variant::Arena => "arena counter: atomic add",
            Variant::Array => "array map: lookup + atomic add",
            Variant::Hash => "hash map: lookup + atomic add",
        }
    }
}

/// The variant's counter, read from user space.
fn counter(o: &LoadedObject, v: Variant, tid: u32) -> u64 {
    let mut val = [0u8; 8];
    match v {
        Variant::None | Variant::Filter => return 0,
        Variant::Arena => {
            let a = o.arena().unwrap();
            return a
                .read(o.arena_global::<u64>("arena_count").unwrap())
                .unwrap();
        }
        Variant::Array => o
            .map("array_count")
            .unwrap()
            .lookup(&0u32.to_le_bytes(), &mut val)
            .unwrap(),
        Variant::Hash => o
            .map("hash_count")
            .unwrap()
            .lookup(&tid.to_le_bytes(), &mut val)
            .unwrap(),
    }
    u64::from_le_bytes(val)
}

fn per_event(o: &LoadedObject, tid: u32) {
    let calls = pick(100_000u64, 20_000);
    let rounds = pick(41, 3);
    let warm = calls / 10;
    // The hash element exists from the start: the program's steady state
    // is lookup + add (its update-when-missing branch runs at most once).
    o.map("hash_count")
        .unwrap()
        .update(&tid.to_le_bytes(), &0u64.to_le_bytes(), 0)
        .unwrap();
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); Variant::ALL.len()];
    for r in 0..rounds {
        for i in 0..Variant::ALL.len() {
            let k = (r + i) % Variant::ALL.len();
            let v = Variant::ALL[k];
            let link: Option<Link> = v.program().map(|p| o.attach(p).unwrap());
            let before = counter(o, v, tid);
            getpid_loop(warm);
            let ns = getpid_loop(calls);
            let counted = counter(o, v, tid) - before;
            drop(link);
            if v.program().is_some() && v != Variant::Filter {
                assert_eq!(counted, warm + calls, "{} missed events", v.label());
            }
            samples[k].push(ns);
        }
    }
    // Differences are taken within each round (the variants of one round
    // ran within a fraction of a second of each other), then their median.
    let above = |k: usize, base: usize| {
        let mut d: Vec<f64> = (0..rounds)
            .map(|r| samples[k][r] - samples[base][r])
            .collect();
        f(median(&mut d))
    };
    let rows: Vec<Vec<String>> = Variant::ALL
        .iter()
        .enumerate()
        .map(|(k, &v)| {
            let dash = || "-".to_string();
            vec![
                v.label().to_string(),
                f(median(&mut samples[k].clone())),
                if v == Variant::None {
                    dash()
                } else {
                    above(k, 0)
                },
                if matches!(v, Variant::None | Variant::Filter) {
                    dash()
                } else {
                    above(k, 1)
                },
            ]
        })
        .collect();
    table(
        &format!(
            "events (a): tp_btf/sys_enter program counting this thread's getpid() calls, ns per call (medians of {rounds} interleaved rounds of {calls} calls; differences taken within each round)"
        ),
        &[
            "counter",
            "ns/call",
            "ns/event above no program",
            "ns/event above filter only",
        ],
        &rows,
    );
}

/// The table's entries, read in place: (entries, sum of values).
#[inline(never)]
fn walk_arena(a: &Arena, table: ArenaPtr<Slot>, slots: u64) -> (u64, u64) {
    let (mut n, mut sum) = (0, 0);
    for i in 0..slots {
        let s = a.read(table.add(i)).unwrap();
        if s.key != 0 {
            n += 1;
            sum += s.value;
        }
    }
    (n, sum)
}

/// The hash map's entries, by BPF_MAP_GET_NEXT_KEY + BPF_MAP_LOOKUP_ELEM.
#[inline(never)]
fn walk_hash(m: &Map) -> (u64, u64) {
    let (mut n, mut sum) = (0, 0);
    let (mut key, mut next, mut val) = ([0u8; 8], [0u8; 8], [0u8; 8]);
    let mut first = true;
    while m.next_key((!first).then_some(&key[..]), &mut next).unwrap() {
        m.lookup(&next, &mut val).unwrap();
        n += 1;
        sum += u64::from_le_bytes(val);
        key = next;
        first = false;
    }
    (n, sum)
}

/// `bpf_attr` for the `BPF_MAP_*_BATCH` commands.
#[repr(C)]
#[derive(Default)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;

/// The whole hash map (8-byte keys and values) in one
/// `BPF_MAP_LOOKUP_BATCH`: copies every entry out, then sums them.
#[inline(never)]
fn walk_hash_batch(m: &Map, keys: &mut [u64], values: &mut [u64]) -> (u64, u64) {
    use std::os::fd::AsRawFd;
    assert_eq!(keys.len(), values.len());
    // A hash map's batch cursor is a u32 bucket index; 8 bytes leave room.
    let mut out_batch = 0u64;
    let mut attr = BatchAttr {
        out_batch: &mut out_batch as *mut u64 as u64,
        keys: keys.as_mut_ptr() as u64,
        values: values.as_mut_ptr() as u64,
        count: keys.len() as u32,
        map_fd: m.fd().as_raw_fd() as u32,
        ..Default::default()
    };
    // SAFETY: the kernel writes at most `count` 8-byte keys and values
    // (this map's sizes) into buffers of `count` u64s each, and 4 bytes of
    // cursor into `out_batch`; `attr` outlives the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_MAP_LOOKUP_BATCH,
            &mut attr as *mut BatchAttr,
            std::mem::size_of::<BatchAttr>() as u32,
        )
    };
    // ENOENT: the end of the map was reached (here: in the first call).
    let errno = std::io::Error::last_os_error().raw_os_error();
    assert!(
        r == 0 || errno == Some(libc::ENOENT),
        "BPF_MAP_LOOKUP_BATCH: {errno:?}"
    );
    let n = attr.count as usize;
    (n as u64, values[..n].iter().sum())
}

fn read_back(o: &LoadedObject) {
    let expected = (ENTRIES, 3 * ENTRIES * (ENTRIES + 1) / 2);
    o.set_global("fill_n", ENTRIES as u32).unwrap();
    assert_eq!(
        o.program("ev_fill").unwrap().run_syscall(&mut []).unwrap(),
        0
    );
    assert_eq!(o.global::<u32>("fill_overflow").unwrap(), 0);
    let a = o.arena().unwrap();
    // ev_fill allocated the table; .bss `table` holds its address.
    let slot0 = ArenaPtr::<Slot>::from_addr(o.global::<u64>("table").unwrap());
    let slots = SLOTS;

    let spec = MapSpec {
        name: "bench_table".into(),
        map_type: 1, // BPF_MAP_TYPE_HASH
        key_size: 8,
        value_size: 8,
        max_entries: ENTRIES as u32,
        ..Default::default()
    };
    let hash = Map::create(&spec, None, None).unwrap();
    for k in 1..=ENTRIES {
        hash.update(&k.to_le_bytes(), &(3 * k).to_le_bytes(), 0)
            .unwrap();
    }

    let reps = pick(41, 3);
    let (mut arena_ns, mut hash_ns, mut batch_ns) = (Vec::new(), Vec::new(), Vec::new());
    let (mut keys, mut values) = (vec![0u64; ENTRIES as usize], vec![0u64; ENTRIES as usize]);
    for _ in 0..2 {
        walk_arena(a, slot0, slots);
        walk_hash(&hash);
        walk_hash_batch(&hash, &mut keys, &mut values);
    }
    for _ in 0..reps {
        let t = Instant::now();
        assert_eq!(walk_arena(a, std::hint::black_box(slot0), slots), expected);
        arena_ns.push(t.elapsed().as_nanos() as f64);
        let t = Instant::now();
        assert_eq!(walk_hash(std::hint::black_box(&hash)), expected);
        hash_ns.push(t.elapsed().as_nanos() as f64);
        let t = Instant::now();
        assert_eq!(
            walk_hash_batch(std::hint::black_box(&hash), &mut keys, &mut values),
            expected
        );
        batch_ns.push(t.elapsed().as_nanos() as f64);
    }
    let (an, hn, bn) = (
        median(&mut arena_ns),
        median(&mut hash_ns),
        median(&mut batch_ns),
    );
    let row = |how: String, total: f64| {
        vec![
            how,
            f(total / 1000.0),
            f(total / ENTRIES as f64),
            ratio(total, an),
        ]
    };
    table(
        &format!(
            "events (b): user space reads a {ENTRIES}-entry table (u64 key -> u64 value), median of {reps} interleaved reads"
        ),
        &["how", "total µs", "ns/entry", "vs arena"],
        &[
            row(
                format!("arena: walk all {slots} slots in place (Arena::read)"),
                an,
            ),
            row(
                "hash map: BPF_MAP_GET_NEXT_KEY + BPF_MAP_LOOKUP_ELEM per entry".into(),
                hn,
            ),
            row(
                format!("hash map: one BPF_MAP_LOOKUP_BATCH of {ENTRIES}, then sum"),
                bn,
            ),
        ],
    );
}
