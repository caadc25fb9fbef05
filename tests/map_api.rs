//! The user-level map API against the running kernel: `Map::info` agrees
//! with fdinfo, keys are walked and deleted by name, and the mapped values
//! of an mmapable array are copied in and out with errors naming the map.

mod common;

use bpf_arena::Error;
use bpf_arena::features::Feature;
use bpf_arena::map::{Map, MapFlags};
use bpf_arena::obj::MapSpec;
use bpf_arena::sys::Errno;
use std::os::fd::AsRawFd;

fn map(name: &str, map_type: u32, max_entries: u32, map_flags: u32) -> Map {
    let spec = MapSpec {
        name: name.into(),
        map_type,
        key_size: 4,
        value_size: 8,
        max_entries,
        map_flags,
        ..Default::default()
    };
    Map::create(&spec, None, None).unwrap()
}

#[test]
fn info_keys_and_deletes() {
    require!(Feature::CapBpf);
    let m = map("api_hash", 1, 8, 0);
    let i = m.info();
    let fdinfo =
        std::fs::read_to_string(format!("/proc/self/fdinfo/{}", m.fd().as_raw_fd())).unwrap();
    assert!(fdinfo.contains(&format!("map_id:\t{}\n", i.id)), "{fdinfo}");
    assert_eq!(
        (
            i.name.as_str(),
            i.type_name(),
            i.key_size,
            i.value_size,
            i.max_entries,
            i.flags,
            i.btf_id
        ),
        ("api_hash", Some("hash"), 4, 8, 8, MapFlags(0), None)
    );
    for k in [3u32, 1, 2] {
        m.update(&k.to_le_bytes(), &u64::from(k * 10).to_le_bytes(), 0)
            .unwrap();
    }
    let mut keys = Vec::new();
    let mut next = [0u8; 4];
    let mut at: Option<[u8; 4]> = None;
    while m.next_key(at.as_ref().map(|k| &k[..]), &mut next).unwrap() {
        keys.push(u32::from_le_bytes(next));
        at = Some(next);
    }
    keys.sort();
    assert_eq!(keys, [1, 2, 3]);
    m.delete(&2u32.to_le_bytes()).unwrap();
    let e = m.delete(&2u32.to_le_bytes()).unwrap_err();
    assert_eq!(e.errno(), Some(Errno::ENOENT));
    assert!(e.to_string().contains("map 'api_hash'"), "{e}");
    let e = m.delete(&[0u8; 3]).unwrap_err();
    assert_eq!(e.errno(), Some(Errno::EINVAL), "short key, no system call");
    let mut v = [0u8; 8];
    assert_eq!(
        m.lookup(&2u32.to_le_bytes(), &mut v).unwrap_err().errno(),
        Some(Errno::ENOENT)
    );
}

#[test]
fn mapped_values_are_copied_with_bounds() {
    require!(Feature::CapBpf);
    let mut m = map("api_mmap", 2, 4, 1 << 10);
    assert!(m.memory().is_none(), "not mapped yet");
    m.map_memory(true).unwrap();
    let mem = m.memory().unwrap();
    assert!(mem.is_writable() && mem.len() >= 32 && !mem.is_empty());
    mem.write(8, &7u64.to_le_bytes()).unwrap();
    let mut v = [0u8; 8];
    m.lookup(&1u32.to_le_bytes(), &mut v).unwrap();
    assert_eq!(u64::from_le_bytes(v), 7, "the kernel sees the write");
    m.update(&2u32.to_le_bytes(), &9u64.to_le_bytes(), 0)
        .unwrap();
    mem.read(16, &mut v).unwrap();
    assert_eq!(u64::from_le_bytes(v), 9, "the mapping sees the update");
    let e = mem.read(mem.len() - 4, &mut v).unwrap_err();
    assert!(
        matches!(e, Error::Invalid { .. }) && e.to_string().contains("map 'api_mmap'"),
        "{e}"
    );
    let mut ro = map("api_ro", 2, 4, 1 << 10);
    ro.map_memory(false).unwrap();
    let e = ro.memory().unwrap().write(0, &[1]).unwrap_err();
    assert!(
        e.to_string().contains("map 'api_ro' is mapped read-only"),
        "{e}"
    );
}
