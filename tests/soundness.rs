//! No safe call may cause undefined behaviour or a fatal signal.
//!
//! Each case here once crashed the process or corrupted its memory from
//! safe code. A case that could still crash runs in a fresh child process
//! (this test binary re-run with the case's name), so a signal fails that
//! one test with the signal named, instead of taking the suite down. Cases
//! that must not even compile are `compile_fail` doctests in `src/arena`
//! and `src/sys` (raw-address atomics, arbitrary file and fd mappings).

mod common;

use bpf_arena::arena::{ArenaFlags, ArenaPtr};
use bpf_arena::features::Feature;
use bpf_arena::insn::{Reg, asm, encode};
use bpf_arena::prog::{ProgramBuilder, ProgramType, TestRun};
use bpf_arena::sys::{self, Errno, MapCreateAttr, OwnedMap, SharedMapping};
use bpf_arena::{Error, Result};
use common::in_fresh_process;
use std::os::fd::AsFd;

/// A map with 4-byte keys: its fd with the kernel's shape.
fn new_map(map_type: u32, value_size: u32, max_entries: u32, map_flags: u32) -> OwnedMap {
    let fd = sys::map_create(&MapCreateAttr {
        map_type,
        key_size: 4,
        value_size,
        max_entries,
        map_flags,
        ..Default::default()
    })
    .expect("map_create");
    OwnedMap::new(fd).expect("map shape")
}

/// An XDP program that passes the packet (`XDP_PASS`): its test run writes
/// the whole input packet to `data_out`.
fn xdp_pass() -> Result<bpf_arena::prog::Program> {
    let insns = encode(&[asm::mov64_imm(Reg::R0, 2), asm::exit()]);
    ProgramBuilder::new(ProgramType::XDP, &insns)
        .name("pass")
        .load()
}

/// Item 2: an empty `data_out` slice was passed with size 0, which the
/// kernel reads as "no limit": it wrote the whole packet through the slice's
/// pointer — into a heap block when the slice was an empty view of a Vec.
/// Now nothing past the slice is written and the run is `ENOSPC`.
#[test]
fn test_run_output_never_overflows_the_buffer() {
    require!(Feature::Jit);
    in_fresh_process("test_run_output_never_overflows_the_buffer", || {
        let p = xdp_pass().map_err(|e| e.to_string())?;
        let packet = [0x5au8; 64];
        for keep in [0usize, 16] {
            let mut backing = vec![0xa5u8; 256];
            let r = p.test_run(
                TestRun::new()
                    .data_in(&packet)
                    .data_out(&mut backing[..keep]),
            );
            match r {
                Err(e) if e.errno() == Some(Errno::ENOSPC) => {}
                other => return Err(format!("{keep}-byte buffer: {other:?}, want ENOSPC")),
            }
            if backing[..keep].iter().any(|&b| b != 0x5a) {
                return Err(format!(
                    "{keep}-byte buffer does not hold the packet's start"
                ));
            }
            if backing[keep..].iter().any(|&b| b != 0xa5) {
                return Err(format!(
                    "bytes past the {keep}-byte buffer were overwritten"
                ));
            }
        }
        // A buffer that fits gets the packet and its size.
        let mut out = [0u8; 64];
        let r = p
            .test_run(TestRun::new().data_in(&packet).data_out(&mut out))
            .map_err(|e| e.to_string())?;
        if (r.retval, r.data_size_out, out) != (2, 64, packet) {
            return Err(format!("fitting buffer: {r:?}"));
        }
        Ok(())
    });
}

/// Item 4: a shared mapping is only made safely of an mmapable array map;
/// an arena fd (which faults with SIGSEGV under SEGV_ON_FAULT) or any other
/// map is refused before `mmap`.
#[test]
fn shared_mapping_only_of_mmapable_arrays() {
    require!(Feature::ArenaMap, Feature::SegvOnFault);
    let a = common::arena_flags(4, ArenaFlags::SEGV_ON_FAULT);
    let arena_map = OwnedMap::new(a.fd().try_clone_to_owned().unwrap()).unwrap();
    assert_eq!(
        SharedMapping::of_array(&arena_map, false).unwrap_err(),
        Errno::EINVAL
    );
    let hash = new_map(1, 8, 4, 0);
    assert_eq!(
        SharedMapping::of_array(&hash, true).unwrap_err(),
        Errno::EINVAL
    );
    let array = new_map(2, 12, 3, 1 << 10);
    let m = SharedMapping::of_array(&array, true).unwrap();
    assert_eq!(m.len(), sys::page_size(), "3 x 16 bytes, one page");
    m.write(16, &[1, 2, 3]).unwrap();
    let mut v = [0u8; 12];
    array
        .shape()
        .lookup(&1u32.to_le_bytes(), &mut v, 0)
        .unwrap();
    assert_eq!(&v[..3], &[1, 2, 3]);
    assert_eq!(m.read(m.len() - 1, &mut [0; 2]), Err(Errno::EINVAL));
}

/// Item 5: with `/sys/devices/system/cpu/possible` unreadable (hidden by an
/// empty file, as in some containers) the CPU count was guessed as 1, and a
/// per-CPU lookup let the kernel write one value per real CPU into a buffer
/// sized for one. Now the map cannot be used and says why; a readable file
/// later works (the failure is not cached).
#[test]
fn unknown_cpu_count_refuses_per_cpu_maps() {
    require!(Feature::CapSysAdmin);
    in_fresh_process("unknown_cpu_count_refuses_per_cpu_maps", || {
        let cpus = std::fs::read_to_string("/sys/devices/system/cpu/possible")
            .map_err(|e| e.to_string())?;
        // A private mount namespace: the bind mount below is seen by this
        // process only and goes away with it.
        // SAFETY: unshare and mount only change this child's namespace.
        unsafe {
            if libc::unshare(libc::CLONE_NEWNS) != 0
                || libc::mount(
                    c"none".as_ptr(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) != 0
            {
                return Err(format!(
                    "unshare/mount: {}",
                    std::io::Error::last_os_error()
                ));
            }
        }
        let empty = std::env::temp_dir().join(format!("bpf-arena-cpus-{}", std::process::id()));
        std::fs::write(&empty, "").map_err(|e| e.to_string())?;
        let src = std::ffi::CString::new(empty.to_str().unwrap()).unwrap();
        // SAFETY: a bind mount in this child's private namespace.
        let r = unsafe {
            libc::mount(
                src.as_ptr(),
                c"/sys/devices/system/cpu/possible".as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            )
        };
        let _ = std::fs::remove_file(&empty);
        if r != 0 {
            return Err(format!("bind mount: {}", std::io::Error::last_os_error()));
        }
        let percpu = || {
            sys::map_create(&MapCreateAttr {
                map_type: 6, // BPF_MAP_TYPE_PERCPU_ARRAY
                key_size: 4,
                value_size: 8,
                max_entries: 1,
                ..Default::default()
            })
            .map_err(|e| e.to_string())
        };
        if sys::possible_cpus() != Err(Errno::EINVAL) {
            return Err(format!("possible_cpus: {:?}", sys::possible_cpus()));
        }
        if let Ok(m) = OwnedMap::new(percpu()?) {
            return Err(format!(
                "per-CPU map usable with an unknown CPU count: {m:?}"
            ));
        }
        let fd = percpu()?;
        if sys::MapShape::query(fd.as_fd()).is_ok() {
            return Err("MapShape::query accepted a per-CPU map".into());
        }
        // Non-per-CPU maps do not need the count.
        new_map(2, 8, 1, 0);
        // Back to the real file: the earlier failure was not cached.
        // SAFETY: unmounting our own bind mount.
        unsafe { libc::umount(c"/sys/devices/system/cpu/possible".as_ptr()) };
        let n = sys::possible_cpus().map_err(|e| e.to_string())?;
        let want = cpus
            .trim()
            .rsplit(['-', ','])
            .next()
            .unwrap()
            .parse::<usize>()
            .unwrap()
            + 1;
        if n != want {
            return Err(format!("possible_cpus {n}, file says {cpus:?}"));
        }
        let m = OwnedMap::new(percpu()?).map_err(|e| e.to_string())?;
        if m.shape().value_bytes() != 8 * n {
            return Err(format!("value_bytes {}", m.shape().value_bytes()));
        }
        Ok(())
    });
}

/// Item 6: reads and writes of an unallocated page of a SEGV_ON_FAULT arena
/// raised SIGSEGV from safe code. Now they are `Error::Access`, allocated
/// pages work, a freed page is an error again, and atomics (which cannot be
/// made fault-safe) are refused on such arenas.
#[test]
fn segv_on_fault_access_is_an_error() {
    require_arena!();
    require!(Feature::SegvOnFault);
    in_fresh_process("segv_on_fault_access_is_an_error", || {
        let a = common::arena_flags(8, ArenaFlags::SEGV_ON_FAULT);
        let p: ArenaPtr<u64> = a.ptr_at(3 * 4096).map_err(|e| e.to_string())?;
        let access = |r: Result<()>| match r {
            Err(Error::Access { reason, .. }) if reason.contains("not allocated") => Ok(()),
            other => Err(format!("{other:?}")),
        };
        access(a.read(p).map(drop))?;
        access(a.write(p, 1))?;
        access(a.read_bytes(3 * 4096 + 5, &mut [0; 100]))?;
        access(a.write_bytes(3 * 4096 + 5, &[1; 100]))?;
        // Unaligned and page-crossing accesses at the end of an allocated page.
        let page = a
            .alloc_pages::<u8>(None, 1)
            .map_err(|e| e.to_string())?
            .ok_or("no page")?;
        a.write(page.cast::<u64>(), 77).map_err(|e| e.to_string())?;
        if a.read(page.cast::<u64>()).map_err(|e| e.to_string())? != 77 {
            return Err("allocated page does not keep a value".into());
        }
        let off = a.offset_of(page).unwrap();
        a.write_bytes(off + 4093, &[1, 2, 3])
            .map_err(|e| e.to_string())?;
        // Three bytes on the allocated page, then the next (unallocated) one.
        access(a.read_bytes(off + 4093, &mut [0; 6]))?;
        match a.atomic(page.cast::<u64>()) {
            Err(Error::Access { reason, .. }) if reason.contains("SEGV_ON_FAULT") => {}
            other => return Err(format!("atomic on a SEGV_ON_FAULT arena: {other:?}")),
        }
        a.free_pages(page, 1).map_err(|e| e.to_string())?;
        access(a.read(page.cast::<u64>()).map(drop))?;
        Ok(())
    });
}

/// Item 7: user-space accesses are atomic, so threads that share an arena
/// never race. Aligned words are never torn (writers store values whose two
/// halves are equal; readers check every value they see), and an arena
/// without SEGV_ON_FAULT keeps working under concurrent reads and writes.
#[test]
fn concurrent_access_is_not_torn() {
    require!(Feature::ArenaMap);
    let a = common::arena(4);
    let p: ArenaPtr<u64> = a.ptr_at(4096).unwrap();
    let q: ArenaPtr<[u32; 2]> = a.ptr_at(4096 + 8).unwrap();
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let a = &a;
            s.spawn(move || {
                for i in 0..200_000u64 {
                    let v = (i * 2 + t) as u32 as u64;
                    a.write(p, v << 32 | v).unwrap();
                    a.write(q, [v as u32; 2]).unwrap();
                }
            });
        }
        for _ in 0..2 {
            let a = &a;
            s.spawn(move || {
                for _ in 0..200_000 {
                    let v = a.read(p).unwrap();
                    assert_eq!(v >> 32, v & 0xffff_ffff, "torn u64 {v:#x}");
                    let w = a.read(q).unwrap();
                    assert_eq!(w[0], w[1], "torn [u32; 2] {w:?}");
                }
            });
        }
    });
}
