//! Bad objects and bad requests: each a clear error naming the culprit.
//! (That nothing leaks on these paths is checked in tests/fork.rs, which
//! runs single-threaded so fd and mapping counts are stable.)

mod common;

use bpf_arena::Error;
use bpf_arena::features::Feature;
use bpf_arena::loader::ObjectLoader;
use bpf_arena::obj::{ObjError, ObjectSpec};
use common::*;

fn path(file: &str) -> String {
    format!("{}/bpf-asm/{file}", env!("CARGO_MANIFEST_DIR"))
}

fn load_err(file: &str) -> Error {
    match ObjectLoader::from_file(path(file)).and_then(|l| l.load()) {
        Err(e) => e,
        Ok(_) => panic!("{file} loaded"),
    }
}

#[test]
fn arena_globals_without_an_arena_map() {
    let e = load_err("bad/no_arena_map.bpf.o");
    assert!(
        matches!(&e, Error::Object(ObjError::Section { section, .. }) if section == ".addr_space.1"),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("need an arena map declared in .maps"),
        "{e}"
    );
}

#[test]
fn two_arenas_in_one_object() {
    let e = load_err("bad/two_arenas.bpf.o");
    assert_eq!(
        e.to_string(),
        "object: map 'second': only one arena map per object is supported ('first' is also an arena)"
    );
}

#[test]
fn globals_larger_than_the_arena() {
    // Decided where the page size is known: at load, once the arena exists.
    require!(Feature::ArenaMap);
    let e = load_err("bad/globals_too_big.bpf.o");
    assert!(
        matches!(&e, Error::Object(ObjError::Map { map, .. }) if map == "arena"),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("2 pages cannot hold 12288 bytes of __arena globals"),
        "{e}"
    );
    // Shrinking a fitting arena below its globals is refused the same way, at load.
    let mut l = ObjectLoader::from_file(path("arena_list.bpf.o")).unwrap();
    l.set_max_entries("arena", 0).unwrap();
    assert!(l.load().is_err());
}

#[test]
fn relocation_against_a_missing_symbol() {
    require!(Feature::ArenaMap);
    let e = load_err("bad/missing_symbol.o");
    assert!(
        matches!(&e, Error::Unresolved { name, .. } if name == "no_such_variable"),
        "{e}"
    );
    assert!(e.to_string().contains("'no_such_variable'"), "{e}");
}

#[test]
fn unknown_program_section() {
    let e = load_err("bad/unknown_section.o");
    assert!(
        e.to_string()
            .contains("section 'not_a_program_type': unknown program section"),
        "{e}"
    );
}

#[test]
fn truncated_and_corrupted_objects_are_errors_not_panics() {
    let bytes = std::fs::read(path("arena_list.bpf.o")).unwrap();
    for n in (0..bytes.len()).step_by(97) {
        assert!(
            ObjectSpec::parse("t", &bytes[..n]).is_err(),
            "prefix of {n} bytes parsed"
        );
    }
    // Byte flips anywhere in any object either parse or fail cleanly (no
    // panic, no abort from a corrupt size), and parsed specs still link
    // (every program, with made-up kernel facts as `inspect --disasm` uses
    // them, and with every extern missing) and take `set_global` for every
    // variable, allocating in proportion to the file.
    let mut flipped = 0;
    let mut dirs = vec![path(""), path("bad")];
    let mut files = Vec::new();
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(d).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().and_then(|e| e.to_str()) == Some("o") {
                files.push(p);
            }
        }
    }
    for p in files {
        let good = std::fs::read(&p).unwrap();
        for i in (0..good.len()).step_by(101) {
            for x in [0xa5u8, 0xff] {
                let mut m = good.clone();
                m[i] ^= x;
                let (parsed, peak) = alloc_meter::peak_during(|| exercise(&m));
                if !parsed {
                    flipped += 1;
                }
                assert!(
                    peak <= 64 * m.len() + (1 << 20),
                    "{}: byte {i} ^ {x:#x}: {peak} bytes allocated for a {}-byte file",
                    p.display(),
                    m.len()
                );
            }
        }
    }
    assert!(flipped > 20);
    let e = ObjectSpec::parse("t", b"\x7fELF not really").unwrap_err();
    assert!(matches!(e, ObjError::Elf(_)), "{e}");
    let e = ObjectSpec::parse(
        "t",
        &std::fs::read(std::env::current_exe().unwrap()).unwrap(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("not BPF"), "a host executable: {e}");
}

/// Everything the pure layer does with an untrusted object: parse, BTF
/// fix-up, relocate every program (made-up kernel facts, then every extern
/// missing), `set_global` every variable. Returns whether it parsed.
fn exercise(bytes: &[u8]) -> bool {
    let Ok(s) = ObjectSpec::parse("t", bytes) else {
        return false;
    };
    let _ = bpf_arena::obj::fixup_btf(&s);
    let (fds, resolved) = fake_facts(&s);
    let missing = vec![bpf_arena::obj::relocate::Resolved::Missing; s.externs.len()];
    for externs in [&resolved, &missing] {
        let facts = bpf_arena::obj::relocate::KernelFacts {
            map_fds: &fds,
            arena_offset: 0,
            externs,
        };
        for k in 0..s.programs.len() {
            let _ = bpf_arena::obj::relocate::relocate(&s, k, &facts);
        }
    }
    let vars: Vec<(String, u64)> = s.variables().map(|v| (v.name.clone(), v.size)).collect();
    let mut l = ObjectLoader::new(s);
    for (name, size) in vars {
        let value = vec![0x5a; usize::try_from(size.min(1 << 16)).unwrap()];
        let _ = l.set_global_bytes(&name, &value);
    }
    true
}

/// Every input a fuzz target ever crashed on (`fuzz/regressions/`: panics
/// in `set_global` on variables outside their section, multi-gigabyte
/// NOBITS allocations) goes through the same paths again, under the
/// allocation meter (no single request above 1 GiB).
#[test]
fn fuzz_regressions_stay_fixed() {
    let root = format!("{}/fuzz/regressions", env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for target in std::fs::read_dir(&root).unwrap() {
        for f in std::fs::read_dir(target.unwrap().path()).unwrap() {
            let path = f.unwrap().path();
            let mut bytes = std::fs::read(&path).unwrap();
            // The globals target's input: a count n, n bytes that drive
            // its calls, then the object.
            if path.to_string_lossy().contains("/globals/") {
                let skip = bytes.first().map_or(0, |&n| 1 + usize::from(n));
                bytes.drain(..skip.min(bytes.len()));
            }
            exercise(&bytes);
            n += 1;
        }
    }
    assert!(n >= 20, "only {n} regression inputs found under {root}");
}

#[test]
fn bad_requests_name_what_is_wrong() {
    let mut l = ObjectLoader::from_file(path("arena_list.bpf.o")).unwrap();
    assert!(
        l.set_global_bytes("no_such", &[0; 4])
            .unwrap_err()
            .to_string()
            .contains("no global variable 'no_such'")
    );
    assert!(
        l.set_global_bytes("cnt", &[0; 8])
            .unwrap_err()
            .to_string()
            .contains("'cnt' is 4 bytes, got 8")
    );
    assert!(
        l.set_max_entries("nope", 1)
            .unwrap_err()
            .to_string()
            .contains("no map 'nope'")
    );
    assert!(
        l.load_only(&["nope"])
            .unwrap_err()
            .to_string()
            .contains("no program 'nope'")
    );
    let e = ObjectLoader::from_file("/nonexistent/x.bpf.o").unwrap_err();
    assert!(e.to_string().contains("/nonexistent/x.bpf.o"), "{e}");
}

fn write_u64(addr: u64, v: u64) {
    // SAFETY: the caller's own anonymous mapping.
    unsafe { std::ptr::write_volatile(addr as *mut u64, v) }
}

fn read_u64(addr: u64) -> u64 {
    // SAFETY: the caller's own anonymous mapping.
    unsafe { std::ptr::read_volatile(addr as *const u64) }
}

/// A libbpf-style object whose map_extra is already mapped in this process
/// fails cleanly and leaves that mapping intact; once free, it loads there.
/// Pinned maps are reused across loads; a mismatched pin is refused.
#[test]
fn map_extra_occupied_then_free_and_pinning() {
    require_arena!();
    let at = 1u64 << 44;
    let len = 4 * page();
    // SAFETY: MAP_FIXED_NOREPLACE never replaces a mapping.
    let p = unsafe {
        libc::mmap(
            at as *mut _,
            len as usize,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    assert_eq!(p as u64, at, "1 << 44 must be free in the test process");
    write_u64(at + 16, 0xc0ffee);
    let pins = Bpffs::new("pins");
    let mut l = ObjectLoader::from_file(path("fixed_addr.bpf.o")).unwrap();
    l.pin_root(&pins.0);
    let e = l.load().unwrap_err();
    assert!(
        matches!(e, Error::AddressInUse { addr, .. } if addr == at),
        "{e}"
    );
    assert_eq!(
        read_u64(at + 16),
        0xc0ffee,
        "the existing mapping is untouched"
    );
    // SAFETY: our own mapping, no references into it.
    assert_eq!(unsafe { libc::munmap(at as *mut _, len as usize) }, 0);

    let mut l = ObjectLoader::from_file(path("fixed_addr.bpf.o")).unwrap();
    l.pin_root(&pins.0);
    let o = l.load().unwrap();
    let a = o.arena().unwrap();
    assert_eq!(a.base(), at);
    assert_eq!(o.program("touch").unwrap().run_syscall(&mut []).unwrap(), 1);
    assert_eq!(
        a.read(a.ptr_at::<u8>(page()).unwrap()).unwrap(),
        0x5a,
        "BPF wrote at map_extra + 4096"
    );
    assert!(pins.join("pinned_counts").exists(), "pinned by name");
    drop(o);
    let mut l = ObjectLoader::from_file(path("fixed_addr.bpf.o")).unwrap();
    l.pin_root(&pins.0);
    let o = l.load().unwrap();
    assert_eq!(
        o.program("touch").unwrap().run_syscall(&mut []).unwrap(),
        2,
        "the pinned map was reused"
    );
    drop(o);
    // A pin whose definition differs is refused.
    std::fs::remove_file(pins.join("pinned_counts")).unwrap();
    let other = bpf_arena::map::Map::create(
        &bpf_arena::obj::MapSpec {
            name: "pinned_counts".into(),
            map_type: 1,
            key_size: 4,
            value_size: 4,
            max_entries: 8,
            ..Default::default()
        },
        None,
        None,
    )
    .unwrap();
    other.pin(&pins.join("pinned_counts")).unwrap();
    let mut l = ObjectLoader::from_file(path("fixed_addr.bpf.o")).unwrap();
    l.pin_root(&pins.0);
    let e = l.load().unwrap_err();
    assert!(
        e.to_string()
            .contains("differ from the object's definition"),
        "{e}"
    );
}

#[test]
fn missing_strong_kconfig_is_named() {
    require!(Feature::ArenaMap);
    let e = load_err("bad/kconfig_missing.bpf.o");
    assert!(
        matches!(&e, Error::Unresolved { name, .. } if name == "CONFIG_BPF_ARENA_NOT_A_REAL_OPTION"),
        "{e}"
    );
    assert!(
        e.to_string().contains("/proc/config.gz") || e.to_string().contains("/boot/config"),
        "{e}"
    );
}

/// A map name with a NUL byte is an error, not a panic.
#[test]
fn map_name_with_nul_is_an_error() {
    let spec = bpf_arena::obj::MapSpec {
        name: "a\0b".into(),
        map_type: 2,
        key_size: 4,
        value_size: 4,
        max_entries: 1,
        ..Default::default()
    };
    let e = bpf_arena::map::Map::create(&spec, None, None).unwrap_err();
    assert!(e.to_string().contains("contains a NUL byte"), "{e}");
}

/// An arena pinned by name is reused across loads, and refused when the
/// object's definition no longer matches it (the same check as other pins).
#[test]
fn pinned_arena_reused_and_checked() {
    require_arena!();
    let pins = Bpffs::new("arenapin");
    let spec = || {
        let mut s = ObjectSpec::from_file(std::path::Path::new(&path("counter.bpf.o"))).unwrap();
        let a = s.arena_map().unwrap();
        s.maps[a].pinning = bpf_arena::obj::Pinning::ByName;
        s
    };
    let mut l = ObjectLoader::new(spec());
    l.pin_root(&pins.0);
    let first = l.load().unwrap();
    assert_eq!(
        first
            .program("count")
            .unwrap()
            .run_syscall(&mut [])
            .unwrap(),
        1
    );
    let ptr: u64 = first.global("counter").unwrap();
    let base = first.arena().unwrap().base();
    drop(first);
    assert!(pins.join("arena").exists());
    let mut l = ObjectLoader::new(spec());
    l.pin_root(&pins.0);
    let second = common::while_address_taken(|| l.load()).unwrap();
    let a = second.arena().unwrap();
    assert_eq!(a.base(), base, "the pinned arena, at its address");
    assert_eq!(
        a.read(bpf_arena::arena::ArenaPtr::<u64>::from_addr(ptr))
            .unwrap(),
        1,
        "its pages"
    );
    drop(second);
    let mut l = ObjectLoader::new(spec());
    l.pin_root(&pins.0);
    l.set_max_entries("arena", 16).unwrap();
    let e = l.load().unwrap_err();
    assert!(
        e.to_string()
            .contains("differ from the object's definition"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------
// Hostile input: no panic, no abort, memory proportional to the file.

/// Counts the bytes each thread allocates (its peak live total), so a test
/// can check that parsing allocates in proportion to the file rather than
/// to a size the file only declares. Single requests above 1 GiB are
/// refused (a fallible reservation then fails; an infallible one aborts the
/// test binary, which is the bug being tested for).
mod alloc_meter {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    pub struct Meter;

    thread_local! {
        static LIVE: Cell<usize> = const { Cell::new(0) };
        static PEAK: Cell<usize> = const { Cell::new(0) };
    }

    const REFUSE_ABOVE: usize = 1 << 30;

    fn add(n: usize) {
        let _ = LIVE.try_with(|l| {
            let v = l.get().saturating_add(n);
            l.set(v);
            let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
        });
    }

    fn sub(n: usize) {
        let _ = LIVE.try_with(|l| l.set(l.get().saturating_sub(n)));
    }

    // SAFETY: every call is forwarded unchanged to the system allocator;
    // the bookkeeping touches only const-initialised thread-locals, which
    // never allocate.
    unsafe impl GlobalAlloc for Meter {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if layout.size() > REFUSE_ABOVE {
                return std::ptr::null_mut();
            }
            add(layout.size());
            // SAFETY: forwarded with the caller's layout.
            unsafe { System.alloc(layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            if layout.size() > REFUSE_ABOVE {
                return std::ptr::null_mut();
            }
            add(layout.size());
            // SAFETY: forwarded with the caller's layout.
            unsafe { System.alloc_zeroed(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            sub(layout.size());
            // SAFETY: `ptr` came from `alloc` with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            if new_size > REFUSE_ABOVE {
                return std::ptr::null_mut();
            }
            sub(layout.size());
            add(new_size);
            // SAFETY: forwarded with the caller's arguments.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    /// The most this thread had allocated at once while `f` ran, above what
    /// it had before.
    pub fn peak_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
        let base = LIVE.with(Cell::get);
        PEAK.with(|p| p.set(base));
        let r = f();
        (r, PEAK.with(Cell::get).saturating_sub(base))
    }
}

#[global_allocator]
static METER: alloc_meter::Meter = alloc_meter::Meter;

/// A minimal relocatable BPF ELF file, for shapes clang does not emit.
mod tiny_elf {
    pub const PROGBITS: u32 = 1;
    pub const NOBITS: u32 = 8;
    const SYMTAB: u32 = 2;
    const STRTAB: u32 = 3;
    pub const WA: u64 = 3;

    /// A section: name, type, flags, bytes, declared size (NOBITS).
    pub struct Sec {
        pub name: &'static str,
        pub kind: u32,
        pub flags: u64,
        pub data: Vec<u8>,
        pub size: u64,
    }

    /// A global object symbol: name, section index (1-based, in the order
    /// given), value, size.
    pub type Sym = (&'static str, u16, u64, u64);

    fn put(v: &mut Vec<u8>, words: &[(u64, usize)]) {
        for &(w, n) in words {
            v.extend_from_slice(&w.to_le_bytes()[..n]);
        }
    }

    /// The file: the sections, then `.symtab`, `.strtab`, `.shstrtab`.
    pub fn build(secs: Vec<Sec>, syms: &[Sym]) -> Vec<u8> {
        let mut strtab = vec![0u8];
        let mut symtab = vec![0u8; 24];
        for &(name, shndx, value, size) in syms {
            let off = strtab.len() as u64;
            strtab.extend_from_slice(name.as_bytes());
            strtab.push(0);
            // st_info: STB_GLOBAL << 4 | STT_OBJECT.
            put(
                &mut symtab,
                &[
                    (off, 4),
                    (0x11, 1),
                    (0, 1),
                    (u64::from(shndx), 2),
                    (value, 8),
                    (size, 8),
                ],
            );
        }
        let n = secs.len() as u32;
        let mut all = secs;
        all.push(Sec {
            name: ".symtab",
            kind: SYMTAB,
            flags: 0,
            size: symtab.len() as u64,
            data: symtab,
        });
        all.push(Sec {
            name: ".strtab",
            kind: STRTAB,
            flags: 0,
            size: strtab.len() as u64,
            data: strtab,
        });
        let mut shstr = vec![0u8];
        let mut names = Vec::new();
        for s in all.iter().map(|s| s.name).chain([".shstrtab"]) {
            names.push(shstr.len() as u64);
            shstr.extend_from_slice(s.as_bytes());
            shstr.push(0);
        }
        all.push(Sec {
            name: ".shstrtab",
            kind: STRTAB,
            flags: 0,
            size: shstr.len() as u64,
            data: shstr,
        });
        let mut out = vec![0u8; 64];
        let mut offsets = Vec::new();
        for s in &all {
            while out.len() % 8 != 0 {
                out.push(0);
            }
            offsets.push(out.len() as u64);
            out.extend_from_slice(&s.data);
        }
        while out.len() % 8 != 0 {
            out.push(0);
        }
        let shoff = out.len() as u64;
        out.extend_from_slice(&[0u8; 64]);
        for (i, s) in all.iter().enumerate() {
            let (link, info, entsize) = match s.name {
                ".symtab" => (u64::from(n) + 2, 1, 24),
                _ => (0, 0, 0),
            };
            put(
                &mut out,
                &[
                    (names[i], 4),
                    (u64::from(s.kind), 4),
                    (s.flags, 8),
                    (0, 8),
                    (offsets[i], 8),
                    (s.size, 8),
                    (link, 4),
                    (info, 4),
                    (8, 8),
                    (entsize, 8),
                ],
            );
        }
        let mut h = Vec::new();
        h.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
        put(
            &mut h,
            &[
                (1, 2),   // ET_REL
                (247, 2), // EM_BPF
                (1, 4),
                (0, 8),
                (0, 8),
                (shoff, 8),
                (0, 4),
                (64, 2),
                (0, 2),
                (0, 2),
                (64, 2),
                (all.len() as u64 + 1, 2),
                (all.len() as u64, 2), // .shstrtab is last
            ],
        );
        out[..64].copy_from_slice(&h);
        out
    }

    pub fn nobits(name: &'static str, size: u64) -> Sec {
        Sec {
            name,
            kind: NOBITS,
            flags: WA,
            data: Vec::new(),
            size,
        }
    }

    pub fn progbits(name: &'static str, data: Vec<u8>) -> Sec {
        Sec {
            name,
            kind: PROGBITS,
            flags: WA,
            size: data.len() as u64,
            data,
        }
    }

    /// A legacy `maps` record declaring an arena of `pages` pages.
    pub fn legacy_arena(pages: u32) -> Sec {
        let mut d = Vec::new();
        for w in [33u32, 0, 0, pages, 1024] {
            d.extend_from_slice(&w.to_le_bytes());
        }
        progbits("maps", d)
    }
}

use tiny_elf::{build, legacy_arena, nobits, progbits};

/// A tiny object declaring a huge NOBITS section parses (or is refused with
/// an error that names the kernel's limit) while allocating memory in
/// proportion to the file, not to the declared size.
#[test]
fn declared_sizes_are_checked_not_allocated() {
    // .bss at the kernel's largest array value (INT_MAX, rounded down to 8):
    // accepted, and a variable at its very end can be set.
    let top = 0x7fff_fff8u64;
    let obj = build(vec![nobits(".bss", top)], &[("last", 1, top - 8, 8)]);
    let (spec, peak) = alloc_meter::peak_during(|| ObjectSpec::parse("t", &obj));
    let spec = spec.unwrap();
    assert!(
        peak < 64 * 1024,
        "parsing {} bytes allocated {peak}",
        obj.len()
    );
    assert_eq!(spec.data[0].bytes.len(), top);
    let mut l = ObjectLoader::new(spec);
    let (r, peak) = alloc_meter::peak_during(|| l.set_global_bytes("last", &[7; 8]).map(drop));
    r.unwrap();
    assert!(peak < 64 * 1024, "set_global allocated {peak}");
    assert_eq!(
        l.spec().data[0].bytes.read(top - 8, 8).unwrap(),
        [7; 8],
        "the value is kept"
    );

    // One byte more than the kernel accepts: refused, naming the limit.
    for size in [0x8000_0000u64, 1 << 32, u64::MAX] {
        let obj = build(vec![nobits(".bss", size)], &[]);
        let (r, peak) = alloc_meter::peak_during(|| ObjectSpec::parse("t", &obj));
        let e = r.unwrap_err();
        assert!(peak < 64 * 1024, "parsing allocated {peak}");
        assert!(
            matches!(&e, ObjError::Section { section, .. } if section == ".bss"),
            "{e}"
        );
        assert!(
            e.to_string().contains("larger than the kernel accepts"),
            "{e}"
        );
    }

    // A 4 GiB NOBITS arena section (a 4 GiB arena is the kernel's largest)
    // in an object of a few hundred bytes: parsed, nothing allocated for it.
    let obj = build(
        vec![legacy_arena(1 << 20), nobits(".addr_space.1", 1 << 32)],
        &[("arena", 1, 0, 20), ("far", 2, (1 << 32) - 8, 8)],
    );
    let (spec, peak) = alloc_meter::peak_during(|| ObjectSpec::parse("t", &obj));
    let spec = spec.unwrap();
    assert!(
        obj.len() < 1024 && peak < 64 * 1024,
        "{} bytes, {peak}",
        obj.len()
    );
    let a = spec.arena_data.as_ref().unwrap();
    assert_eq!(a.bytes.len(), 1 << 32);
    assert_eq!(a.bytes.chunks().count(), 0, "nothing stored");
    let mut l = ObjectLoader::new(spec);
    l.set_global_bytes("far", &[1; 8]).unwrap();
    let chunks: Vec<(u64, Vec<u8>)> = l
        .spec()
        .arena_data
        .as_ref()
        .unwrap()
        .bytes
        .chunks()
        .map(|(o, b)| (o, b.to_vec()))
        .collect();
    assert_eq!(chunks, [((1 << 32) - 8, vec![1; 8])], "only what was set");
    // Larger than any arena: refused.
    let obj = build(
        vec![
            legacy_arena(1 << 20),
            nobits(".addr_space.1", (1 << 32) + 4096),
        ],
        &[("arena", 1, 0, 20)],
    );
    let e = ObjectSpec::parse("t", &obj).unwrap_err();
    assert!(
        e.to_string().contains("'.addr_space.1'") && e.to_string().contains("an arena"),
        "{e}"
    );
}

/// A variable outside its section: the parser names it; a spec edited to
/// hold one makes `set_global` fail instead of panicking.
#[test]
fn variables_outside_their_section_are_errors() {
    let obj = build(vec![nobits(".bss", 16)], &[("v", 1, 12, 8)]);
    let e = ObjectSpec::parse("t", &obj).unwrap_err();
    assert!(
        matches!(&e, ObjError::Symbol { symbol, .. } if symbol == "v"),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("runs past the end of section '.bss'"),
        "{e}"
    );

    let mut spec = spec_of("arena_list.bpf.o");
    for (section, name) in [(".bss", "cnt"), (".addr_space.1", "test_val")] {
        let mut s = spec.clone();
        let v = s
            .data
            .iter_mut()
            .flat_map(|d| d.variables.iter_mut())
            .chain(s.arena_data.iter_mut().flat_map(|a| a.variables.iter_mut()))
            .find(|v| v.name == name)
            .unwrap();
        assert_eq!(v.section, section);
        v.offset = u64::MAX - 2;
        let mut l = ObjectLoader::new(s);
        let e = l.set_global_bytes(name, &[0; 4]).map(drop).unwrap_err();
        assert!(
            e.to_string().contains("lies outside section"),
            "{section}: {e}"
        );
    }
    spec.arena_data = None;
    let mut l = ObjectLoader::new(spec);
    assert!(l.set_global_bytes("test_val", &[0; 4]).is_err());
}

fn spec_of(file: &str) -> ObjectSpec {
    ObjectSpec::from_file(std::path::Path::new(&path(file))).unwrap()
}

/// Reads a little-endian field of `n` bytes at `off`.
fn field(b: &[u8], off: usize, n: usize) -> u64 {
    let mut w = [0u8; 8];
    w[..n].copy_from_slice(&b[off..off + n]);
    u64::from_le_bytes(w)
}

/// In a clang-built object, finds a FUNC symbol and a relocated `ld_imm64`
/// in it such that changing one byte of the symbol's `st_size` makes the
/// function end right after the ld_imm64's first slot. Returns the file
/// offset of that byte, its new value and the function's name.
fn cut_off_ld_imm64(obj: &[u8]) -> Option<(usize, u8, String)> {
    let shoff = field(obj, 0x28, 8) as usize;
    let shnum = field(obj, 0x3c, 2) as usize;
    let sh = |i: usize, off: usize, n: usize| field(obj, shoff + 64 * i + off, n);
    let symtab = (0..shnum).find(|&i| sh(i, 4, 4) == 2)?;
    let strtab = sh(symtab, 40, 4) as usize;
    for rel in (0..shnum).filter(|&i| sh(i, 4, 4) == 9) {
        let target = sh(rel, 44, 4) as usize;
        for r in 0..sh(rel, 32, 8) as usize / 16 {
            let r_off = field(obj, sh(rel, 24, 8) as usize + 16 * r, 8);
            if obj[sh(target, 24, 8) as usize + r_off as usize] != 0x18 {
                continue;
            }
            for s in 1..sh(symtab, 32, 8) as usize / 24 {
                let at = sh(symtab, 24, 8) as usize + 24 * s;
                let (info, shndx) = (obj[at + 4], field(obj, at + 6, 2) as usize);
                let (value, size) = (field(obj, at + 8, 8), field(obj, at + 16, 8));
                if info & 0xf != 2 || shndx != target || r_off < value || r_off >= value + size {
                    continue;
                }
                let new = r_off + 8 - value;
                if new < size && new >> 8 == size >> 8 {
                    let name_at = sh(strtab, 24, 8) as usize + field(obj, at, 4) as usize;
                    let end = obj[name_at..].iter().position(|&b| b == 0)?;
                    let name = String::from_utf8_lossy(&obj[name_at..name_at + end]).into_owned();
                    return Some((at + 16, new as u8, name));
                }
            }
        }
    }
    None
}

/// Made-up kernel facts, as `inspect --disasm` uses them.
fn fake_facts(s: &ObjectSpec) -> (Vec<i32>, Vec<bpf_arena::obj::relocate::Resolved>) {
    (
        vec![3; s.maps.len()],
        s.externs
            .iter()
            .map(|e| match e.kind {
                bpf_arena::obj::ExternKind::Kconfig { .. } => {
                    bpf_arena::obj::relocate::Resolved::Kconfig
                }
                _ => bpf_arena::obj::relocate::Resolved::BtfId { id: 1, fd_index: 0 },
            })
            .collect(),
    )
}

/// One byte of a function symbol's `st_size` in a clang-built object cuts
/// a relocated `ld_imm64` in two: relocation (as `inspect --disasm` and
/// `run` use it) and `ObjectLoader::load` give an error naming the function.
#[test]
fn ld_imm64_cut_off_by_its_function_is_an_error() {
    let mut found = None;
    for file in [
        "arena_list.bpf.o",
        "counter.bpf.o",
        "pages.bpf.o",
        "atomics.bpf.o",
    ] {
        let obj = std::fs::read(path(file)).unwrap();
        if let Some(f) = cut_off_ld_imm64(&obj) {
            found = Some((file, obj, f));
            break;
        }
    }
    let (file, mut obj, (at, byte, func)) = found.expect("an object with such a function");
    obj[at] = byte;
    let spec = ObjectSpec::parse("t", &obj).unwrap();
    let (fds, ext) = fake_facts(&spec);
    let facts = bpf_arena::obj::relocate::KernelFacts {
        map_fds: &fds,
        arena_offset: 0,
        externs: &ext,
    };
    let errs: Vec<String> = (0..spec.programs.len())
        .filter_map(|k| bpf_arena::obj::relocate::relocate(&spec, k, &facts).err())
        .map(|e| e.to_string())
        .collect();
    let want = format!("ld_imm64 is cut off by the end of function '{func}'");
    assert!(
        errs.iter().any(|e| e.contains(&want)),
        "{file}: {errs:?}, want {want}"
    );
    require_arena!();
    let e = ObjectLoader::new(spec).load().unwrap_err();
    assert!(
        matches!(&e, Error::Object(ObjError::Relocation { .. })),
        "{e}"
    );
    assert!(e.to_string().contains(&want), "{e}");
}

/// An object without BTF: its data maps are not mmapable, so globals are
/// read with a lookup; a variable edited to lie outside its section, or to
/// claim a huge size, is an error before anything is allocated.
#[test]
fn global_bytes_of_a_btf_less_data_map() {
    require!(Feature::ArenaMap);
    let obj = build(
        vec![
            nobits(".bss", 16),
            progbits(".data", 42u64.to_le_bytes().to_vec()),
        ],
        &[("b", 1, 8, 8), ("d", 2, 0, 8)],
    );
    let spec = ObjectSpec::parse("btfless", &obj).unwrap();
    assert!(spec.btf.is_none());
    let mut l = ObjectLoader::new(spec.clone());
    l.set_global("b", 0x1122u64).unwrap();
    let o = l.load().unwrap();
    assert_eq!(o.global::<u64>("d").unwrap(), 42);
    assert_eq!(o.global::<u64>("b").unwrap(), 0x1122, "set before load");
    assert!(
        o.set_global("d", 1u64).is_err(),
        "no mapping to write through"
    );
    drop(o);

    for (offset, size) in [(12, 8), (0, 0x7fff_ffff_ffff_fff0), (u64::MAX - 4, 8)] {
        let mut s = spec.clone();
        let v = &mut s.data[0].variables[0];
        (v.offset, v.size) = (offset, size);
        let o = ObjectLoader::new(s).load().unwrap();
        let (r, peak) = alloc_meter::peak_during(|| o.global_bytes("b"));
        let e = r.unwrap_err();
        assert!(e.to_string().contains("lies outside section '.bss'"), "{e}");
        assert!(peak < 64 * 1024, "allocated {peak}");
        assert!(o.set_global_bytes("b", &[0; 8]).is_err());
        assert!(o.arena_global::<u8>("b").is_err());
    }
}
