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
    // panic, no abort from a corrupt size), and parsed specs still link.
    let mut flipped = 0;
    for entry in std::fs::read_dir(path("")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().and_then(|e| e.to_str()) != Some("o") {
            continue;
        }
        let good = std::fs::read(&p).unwrap();
        for i in (0..good.len()).step_by(101) {
            for x in [0xa5u8, 0xff] {
                let mut m = good.clone();
                m[i] ^= x;
                match ObjectSpec::parse("t", &m) {
                    Err(_) => flipped += 1,
                    Ok(s) => {
                        let _ = bpf_arena::obj::fixup_btf(&s);
                        let fds = vec![3; s.maps.len()];
                        let ext = vec![bpf_arena::obj::link::Resolved::Missing; s.externs.len()];
                        let facts = bpf_arena::obj::link::KernelFacts {
                            map_fds: &fds,
                            arena_offset: 0,
                            externs: &ext,
                        };
                        for k in 0..s.programs.len() {
                            let _ = bpf_arena::obj::link::link(&s, k, &facts);
                        }
                    }
                }
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

#[test]
fn bad_requests_name_what_is_wrong() {
    let mut l = ObjectLoader::from_file(path("arena_list.bpf.o")).unwrap();
    assert!(
        l.set_global("no_such", &[0; 4])
            .unwrap_err()
            .to_string()
            .contains("no global variable 'no_such'")
    );
    assert!(
        l.set_global("cnt", &[0; 8])
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
    let second = l.load().unwrap();
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
