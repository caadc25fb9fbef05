//! Kernel rules for creating arenas and for the other syscalls on an arena fd
//! (`bpf_arena::guide::kernel`, "Creation"), asserted against the live kernel, plus the
//! user-space validation that catches the same mistakes (and the ones the
//! kernel lets through) before any syscall.

mod common;

use bpf_arena::arena::{ArenaBuilder, ArenaFlags, max_pages};
use bpf_arena::features::Feature;
use bpf_arena::sys::{self, Errno, MapCreateAttr, MapShape};
use bpf_arena::{Error, sys::map_info};
use common::*;
use std::os::fd::AsFd;

const MMAPABLE: u32 = 1 << 10;
const G4: u64 = 1 << 32;

fn create(attr: MapCreateAttr) -> Result<std::os::fd::OwnedFd, Errno> {
    sys::map_create(&attr)
}

fn arena_attr() -> MapCreateAttr {
    MapCreateAttr {
        map_type: 33,
        max_entries: 4,
        map_flags: MMAPABLE,
        ..Default::default()
    }
}

/// (Creation) the arena's creation checks and their errno values, in order.
#[test]
fn map_create_validation_table() {
    require!(Feature::ArenaMap, Feature::SegvOnFault, Feature::NoUserConv);
    let ok = arena_attr();
    assert!(create(ok).is_ok());
    let cases: Vec<(&str, MapCreateAttr, Errno)> = vec![
        (
            "key_size != 0",
            MapCreateAttr { key_size: 4, ..ok },
            Errno::EINVAL,
        ),
        (
            "value_size != 0",
            MapCreateAttr {
                value_size: 8,
                ..ok
            },
            Errno::EINVAL,
        ),
        (
            "max_entries == 0",
            MapCreateAttr {
                max_entries: 0,
                ..ok
            },
            Errno::EINVAL,
        ),
        (
            "BPF_F_MMAPABLE missing",
            MapCreateAttr { map_flags: 0, ..ok },
            Errno::EINVAL,
        ),
        (
            "BPF_F_NUMA_NODE",
            MapCreateAttr {
                map_flags: MMAPABLE | 1 << 2,
                ..ok
            },
            Errno::EINVAL,
        ),
        (
            "BPF_F_RDONLY",
            MapCreateAttr {
                map_flags: MMAPABLE | 1 << 3,
                ..ok
            },
            Errno::EINVAL,
        ),
        (
            "BPF_F_WRONLY",
            MapCreateAttr {
                map_flags: MMAPABLE | 1 << 4,
                ..ok
            },
            Errno::EINVAL,
        ),
        (
            "BPF_F_RDONLY_PROG",
            MapCreateAttr {
                map_flags: MMAPABLE | 1 << 7,
                ..ok
            },
            Errno::EINVAL,
        ),
        (
            "BPF_F_WRONLY_PROG",
            MapCreateAttr {
                map_flags: MMAPABLE | 1 << 8,
                ..ok
            },
            Errno::EINVAL,
        ),
        (
            "unknown flag bit 30",
            MapCreateAttr {
                map_flags: MMAPABLE | 1 << 30,
                ..ok
            },
            Errno::EINVAL,
        ),
        (
            "map_extra not page aligned",
            MapCreateAttr {
                map_extra: (1 << 44) + 8,
                ..ok
            },
            Errno::EINVAL,
        ),
        (
            "2^20 + 1 pages",
            MapCreateAttr {
                max_entries: (1 << 20) + 1,
                ..ok
            },
            Errno::E2BIG,
        ),
        (
            "0xffffffff pages",
            MapCreateAttr {
                max_entries: u32::MAX,
                ..ok
            },
            Errno::E2BIG,
        ),
        (
            "2 pages at 4 GiB - 4096 (crosses 4 GiB)",
            MapCreateAttr {
                max_entries: 2,
                map_extra: G4 - 4096,
                ..ok
            },
            Errno::ERANGE,
        ),
        (
            "2^20 pages at 2^44 + 4096 (crosses 4 GiB)",
            MapCreateAttr {
                max_entries: 1 << 20,
                map_extra: (1 << 44) + 4096,
                ..ok
            },
            Errno::ERANGE,
        ),
        (
            "name with '-'",
            MapCreateAttr {
                map_name: *b"bad-name\0\0\0\0\0\0\0\0",
                ..ok
            },
            Errno::EINVAL,
        ),
    ];
    for (what, attr, want) in cases {
        assert_eq!(create(attr).map(drop), Err(want), "{what}");
    }
    // Accepted: numa_node without BPF_F_NUMA_NODE is ignored; the largest arena; both flags.
    assert!(
        create(MapCreateAttr { numa_node: 7, ..ok }).is_ok(),
        "numa_node without the flag"
    );
    assert!(
        create(MapCreateAttr {
            max_entries: 1 << 20,
            ..ok
        })
        .is_ok(),
        "2^20 pages"
    );
    assert!(
        create(MapCreateAttr {
            map_flags: MMAPABLE | 3 << 17,
            ..ok
        })
        .is_ok(),
        "SEGV_ON_FAULT|NO_USER_CONV"
    );
    assert!(
        create(MapCreateAttr {
            max_entries: 2,
            map_extra: G4 - 8192,
            ..ok
        })
        .is_ok(),
        "ends at 4 GiB"
    );
}

/// (Creation) (syscall layer): map_extra is only for arenas and bloom filters.
#[test]
fn map_extra_rejected_for_other_map_types() {
    require!(Feature::ArenaMap);
    let array = MapCreateAttr {
        map_type: 2,
        key_size: 4,
        value_size: 4,
        max_entries: 1,
        ..Default::default()
    };
    assert!(create(array).is_ok());
    assert_eq!(
        create(MapCreateAttr {
            map_extra: 1 << 44,
            ..array
        })
        .map(drop),
        Err(Errno::EINVAL)
    );
}

/// (Creation) the kernel accepts a kernel-half map_extra (and would WARN at mmap);
/// the crate refuses it before any syscall.
#[test]
fn kernel_half_map_extra_is_accepted_by_the_kernel_but_not_by_the_crate() {
    require!(Feature::ArenaMap);
    let bad = 0xffff_8000_0000_0000u64;
    assert!(
        create(MapCreateAttr {
            map_extra: bad,
            ..arena_attr()
        })
        .is_ok(),
        "kernel accepts it at create"
    );
    let e = ArenaBuilder::new(4).address(bad).create().unwrap_err();
    assert!(
        matches!(
            e,
            Error::Invalid {
                what: "arena address",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("user address space"), "{e}");
}

/// The builder's own checks mirror the kernel's, without a syscall.
#[test]
fn builder_validates_in_user_space() {
    let invalid = |b: &ArenaBuilder, needle: &str| {
        let e = b.validate().unwrap_err();
        assert!(
            matches!(e, Error::Invalid { .. }) && e.to_string().contains(needle),
            "{e}"
        );
    };
    invalid(&ArenaBuilder::new(0), "EINVAL");
    invalid(&ArenaBuilder::new(max_pages() + 1), "E2BIG");
    invalid(
        ArenaBuilder::new(1).address((1 << 44) + 8),
        "not page-aligned",
    );
    invalid(
        ArenaBuilder::new(2).address(G4 - 4096),
        "crosses a 4 GiB boundary",
    );
    invalid(ArenaBuilder::new(1).address(0x1000), "below the lowest");
    invalid(ArenaBuilder::new(1).address(1 << 47), "user address space");
    invalid(ArenaBuilder::new(1).name("bad-name"), "map name");
    invalid(ArenaBuilder::new(1).name("sixteen_chars_xx"), "map name");
    invalid(
        ArenaBuilder::new(1).flags(ArenaFlags::from_bits_retain(1 << 3)),
        "not arena flags",
    );
    assert!(
        ArenaBuilder::new(max_pages())
            .address(1 << 44)
            .validate()
            .is_ok()
    );
    assert!(ArenaBuilder::new(2).address(G4 - 8192).validate().is_ok());
}

/// (Creation) element operations on an arena fd.
#[test]
fn element_syscalls_on_an_arena() {
    require!(Feature::ArenaMap);
    let a = arena(4);
    let shape = MapShape::query(a.fd()).unwrap();
    assert_eq!(shape.lookup(&[], &mut [], 0), Err(Errno::EINVAL), "lookup");
    assert_eq!(shape.update(&[], &[], 0), Err(Errno::EOPNOTSUPP), "update");
    assert_eq!(shape.delete(&[]), Err(Errno::EOPNOTSUPP), "delete");
    assert_eq!(
        shape.next_key(None, &mut []),
        Err(Errno::EOPNOTSUPP),
        "get_next_key"
    );
}

/// (Creation) map_info reports the arena's shape and its creation-time map_extra.
#[test]
fn map_info_of_an_arena() {
    require!(Feature::ArenaMap, Feature::NoUserConv);
    let a = ArenaBuilder::new(8)
        .name("info_arena")
        .flags(ArenaFlags::NO_USER_CONV)
        .create()
        .unwrap();
    let info = map_info(a.fd()).unwrap();
    assert_eq!(
        (
            info.map_type,
            info.key_size,
            info.value_size,
            info.max_entries
        ),
        (33, 0, 0, 8)
    );
    assert_eq!(info.map_flags, MMAPABLE | ArenaFlags::NO_USER_CONV.bits());
    assert_eq!(
        info.map_extra,
        a.base(),
        "the crate always sets map_extra to its chosen base"
    );
    assert_eq!(info.btf_id, 0);
    assert_eq!(&info.name[..11], b"info_arena\0");
    // With map_extra 0 and an mmap(NULL), the kernel never reports the address.
    let fd = raw_arena(2, 0, 0).unwrap();
    let addr = sys::mmap_shared_anywhere(
        2 * page() as usize,
        libc::PROT_READ | libc::PROT_WRITE,
        fd.as_fd(),
    )
    .unwrap();
    assert_ne!(addr, 0);
    assert_eq!(
        map_info(fd.as_fd()).unwrap().map_extra,
        0,
        "mmap-chosen address is not reported"
    );
    // SAFETY: the mapping was just created by this test and nothing refers to it.
    unsafe { sys::munmap(addr, 2 * page() as usize).unwrap() };
}

/// (Creation) MAP_FREEZE succeeds on an arena; afterwards writable mappings are
/// refused (EPERM) and read-only ones allowed.
#[test]
fn freeze_blocks_writable_mappings() {
    require!(Feature::ArenaMap);
    let fd = raw_arena(2, 0, 0).unwrap();
    sys::map_freeze(fd.as_fd()).unwrap();
    let len = 2 * page() as usize;
    assert_eq!(
        sys::mmap_shared_anywhere(len, libc::PROT_READ | libc::PROT_WRITE, fd.as_fd()),
        Err(Errno::EPERM)
    );
    let addr =
        sys::mmap_shared_anywhere(len, libc::PROT_READ, fd.as_fd()).expect("read-only mapping");
    // SAFETY: the mapping was just created here and is not referenced.
    unsafe { sys::munmap(addr, len).unwrap() };
}

/// (Creation) creating an arena without privileges is EPERM (checked in a child
/// that drops every capability).
#[test]
fn unprivileged_create_is_eperm() {
    require!(Feature::ArenaMap, Feature::CapSysAdmin);
    if is_child("unprivileged") {
        return;
    }
    run_as_child(
        "unprivileged_child",
        "unprivileged",
        "-all",
        "unprivileged: map_create EPERM; builder error names the capabilities",
    );
}

/// Runs only inside `unprivileged_create_is_eperm`'s child.
#[test]
fn unprivileged_child() {
    if !is_child("unprivileged") {
        return;
    }
    assert_eq!(raw_arena(1, 0, 0).map(drop), Err(Errno::EPERM));
    // The kernel refuses after the crate reserved 4 GiB of address space:
    // the reservation must be gone again.
    let maps = || {
        std::fs::read_to_string("/proc/self/maps")
            .unwrap()
            .lines()
            .count()
    };
    // An EPERM is checked against vmlinux BTF (has this kernel arenas at
    // all?), which the crate maps once per process: map it first so that
    // only what the failed create leaves behind is counted.
    let _ = bpf_arena::kfunc::vmlinux_btf();
    let before = maps();
    let e = ArenaBuilder::new(1).create().unwrap_err();
    assert_eq!(maps(), before, "no mapping leaked by the failed create");
    assert_eq!(e.errno(), Some(Errno::EPERM));
    assert!(e.to_string().contains("CAP_BPF"), "{e}");
    println!("unprivileged: map_create EPERM; builder error names the capabilities");
}
