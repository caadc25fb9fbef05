//! Kernel rules for mapping arenas (`bpf_arena::guide::kernel`, "Mapping"),
//! and the crate's placement decisions (`bpf_arena::guide::design` 3 and 4).
//!
//! Raw `mmap`/`munmap`/`mprotect`/`mremap` calls are made directly with libc
//! here, on mappings each test creates itself. Fork-based rules are in
//! `tests/fork.rs`, which runs as a single-threaded process.

mod common;

use bpf_arena::Error;
use bpf_arena::arena::ArenaBuilder;
use bpf_arena::features::Feature;
use bpf_arena::sys::{self, Errno};
use common::*;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

const RW: i32 = libc::PROT_READ | libc::PROT_WRITE;
const G4: u64 = 1 << 32;

/// Raw mmap of `fd`; `Err(errno)` on failure.
fn mmap(addr: u64, len: u64, prot: i32, flags: i32, fd: &OwnedFd, off: i64) -> Result<u64, Errno> {
    // SAFETY: callers pass either a NULL hint, MAP_FIXED_NOREPLACE, or
    // MAP_FIXED over a range they reserved themselves; no Rust reference
    // points into any of these ranges.
    let p = unsafe {
        libc::mmap(
            addr as *mut _,
            len as usize,
            prot,
            flags,
            fd.as_raw_fd(),
            off,
        )
    };
    if p == libc::MAP_FAILED {
        Err(Errno::last())
    } else {
        Ok(p as u64)
    }
}

fn munmap(addr: u64, len: u64) -> Result<(), Errno> {
    // SAFETY: only ranges this test mapped, holding no Rust references.
    let r = unsafe { libc::munmap(addr as *mut _, len as usize) };
    if r < 0 { Err(Errno::last()) } else { Ok(()) }
}

fn mprotect(addr: u64, len: u64, prot: i32) -> Result<(), Errno> {
    // SAFETY: only ranges this test mapped, holding no Rust references.
    let r = unsafe { libc::mprotect(addr as *mut _, len as usize, prot) };
    if r < 0 { Err(Errno::last()) } else { Ok(()) }
}

fn mremap(addr: u64, old: u64, new: u64, flags: i32, to: u64) -> Result<u64, Errno> {
    // SAFETY: only ranges this test mapped or reserved, holding no references.
    let p = unsafe {
        libc::mremap(
            addr as *mut _,
            old as usize,
            new as usize,
            flags,
            to as *mut libc::c_void,
        )
    };
    if p == libc::MAP_FAILED {
        Err(Errno::last())
    } else {
        Ok(p as u64)
    }
}

/// A PROT_NONE reservation of `len` bytes containing a 4 GiB-aligned address.
fn reserve(len: u64) -> (u64, u64) {
    let start = sys::reserve_address_space((len + G4) as usize).unwrap() as u64;
    (start, len + G4)
}

fn read_u64(addr: u64) -> u64 {
    // SAFETY: callers pass an address inside a live read-write arena mapping
    // they created; volatile because the kernel shares the page.
    unsafe { std::ptr::read_volatile(addr as *const u64) }
}

fn write_u64(addr: u64, v: u64) {
    // SAFETY: as in read_u64.
    unsafe { std::ptr::write_volatile(addr as *mut u64, v) }
}

/// What the kernel answers to executable mappings of a BPF map's anon-inode
/// file, learnt from a plain mmapable array: `(mmap PROT_EXEC,
/// mprotect to PROT_EXEC)`. Executable mappings of anon inodes are refused
/// since the anon-inode filesystem became `noexec` (commit 1ed95281c0c7,
/// "anon_inode: raise SB_I_NODEV and SB_I_NOEXEC", 6.16; seen: 6.12.117
/// allows both, 6.18 and 7.3 refuse both); the arena follows that rule.
fn exec_mapping_rule() -> (Result<(), Errno>, Result<(), Errno>) {
    let fd = bpf_arena::sys::map_create(&bpf_arena::sys::MapCreateAttr {
        map_type: bpf_arena::sys::BPF_MAP_TYPE_ARRAY,
        key_size: 4,
        value_size: page() as u32,
        max_entries: 1,
        map_flags: 1 << 10,
        ..Default::default()
    })
    .expect("mmapable array");
    let len = page();
    let exec = mmap(
        0,
        len,
        libc::PROT_READ | libc::PROT_EXEC,
        libc::MAP_SHARED,
        &fd,
        0,
    )
    .map(|a| munmap(a, len).unwrap());
    let a = mmap(0, len, RW, libc::MAP_SHARED, &fd, 0).unwrap();
    let mprot = mprotect(a, len, libc::PROT_READ | libc::PROT_EXEC);
    munmap(a, len).unwrap();
    (exec, mprot)
}

/// (Mapping) MAP_SHARED only; PROT_EXEC as for any BPF map; read-only mappings
/// stay read-only.
#[test]
fn generic_map_mmap_rules() {
    require!(Feature::ArenaMap);
    let len = 2 * page();
    let fd = raw_arena(2, 0, 0).unwrap();
    assert_eq!(
        mmap(0, len, RW, libc::MAP_PRIVATE, &fd, 0),
        Err(Errno::EINVAL),
        "MAP_PRIVATE"
    );
    let (exec_rule, mprotect_rule) = exec_mapping_rule();
    assert!(
        exec_rule == Err(Errno::EPERM) || !kernel_at_least("6.16"),
        "an executable mapping of a BPF map is allowed on {}",
        kernel_release()
    );
    let exec = mmap(
        0,
        len,
        libc::PROT_READ | libc::PROT_EXEC,
        libc::MAP_SHARED,
        &fd,
        0,
    );
    assert_eq!(
        exec.map(|_| ()),
        exec_rule,
        "PROT_EXEC: the arena answers as an mmapable array does"
    );
    if let Ok(a) = exec {
        munmap(a, len).unwrap();
        // A new arena: its address is fixed by the first mapping.
    }
    let fd = raw_arena(2, 0, 0).unwrap();
    let ro = mmap(0, len, libc::PROT_READ, libc::MAP_SHARED, &fd, 0).unwrap();
    assert_eq!(
        mprotect(ro, len, RW),
        Err(Errno::EACCES),
        "read-only mapping cannot become writable"
    );
    munmap(ro, len).unwrap();
    // Executable as any BPF map's mapping is.
    let fd = raw_arena(2, 0, 0).unwrap();
    let rw = mmap(0, len, RW, libc::MAP_SHARED, &fd, 0).unwrap();
    assert_eq!(
        mprotect(rw, len, libc::PROT_READ | libc::PROT_EXEC),
        mprotect_rule,
        "mprotect EXEC: the arena answers as an mmapable array does"
    );
    munmap(rw, len).unwrap();
}

/// (Mapping) offset, length and address checks of the arena's get_unmapped_area.
#[test]
fn unmapped_area_checks() {
    require!(Feature::ArenaMap);
    let len = 4 * page();
    let fd = raw_arena(4, 0, 0).unwrap();
    assert_eq!(
        mmap(0, len, RW, libc::MAP_SHARED, &fd, page() as i64),
        Err(Errno::EINVAL),
        "offset != 0"
    );
    assert_eq!(
        mmap(0, G4 + page(), RW, libc::MAP_SHARED, &fd, 0),
        Err(Errno::E2BIG),
        "len > 4 GiB"
    );

    // An arena with map_extra: only exactly [map_extra, +size).
    let a = ArenaBuilder::new(4).create().unwrap(); // crate maps it at its map_extra
    drop(a);
    let (start, rlen) = reserve(len);
    let base = start.next_multiple_of(G4);
    let fd = raw_arena(4, 0, base).unwrap();
    assert_eq!(
        mmap(0, len, RW, libc::MAP_SHARED, &fd, 0),
        Err(Errno::EINVAL),
        "mmap(NULL) with map_extra"
    );
    assert_eq!(
        mmap(0, len + page(), RW, libc::MAP_SHARED, &fd, 0),
        Err(Errno::E2BIG),
        "len > size"
    );
    let fixed = libc::MAP_SHARED | libc::MAP_FIXED;
    assert_eq!(
        mmap(base, len - page(), RW, fixed, &fd, 0),
        Err(Errno::EINVAL),
        "len != size"
    );
    assert_eq!(
        mmap(base + page(), len, RW, fixed, &fd, 0),
        Err(Errno::EINVAL),
        "addr != map_extra"
    );
    assert_eq!(
        mmap(base, len, RW, fixed, &fd, 0),
        Ok(base),
        "exactly at map_extra"
    );
    munmap(start, rlen).unwrap();

    // Without map_extra: the first mmap fixes the address; a second mmap(NULL) is EINVAL.
    let fd = raw_arena(4, 0, 0).unwrap();
    let first = mmap(0, len, RW, libc::MAP_SHARED, &fd, 0).unwrap();
    assert_eq!(
        first >> 32,
        (first + len - 1) >> 32,
        "kernel-chosen range does not cross 4 GiB"
    );
    assert_eq!(
        mmap(0, len, RW, libc::MAP_SHARED, &fd, 0),
        Err(Errno::EINVAL),
        "second mmap(NULL)"
    );
    munmap(first, len).unwrap();
}

/// (Mapping) a 4 GiB arena mapped by the kernel is always 4 GiB-aligned.
#[test]
fn four_gib_arena_is_placed_aligned() {
    require!(Feature::ArenaMap);
    let fd = raw_arena(1 << 20, 0, 0).unwrap();
    let base = mmap(0, G4, RW, libc::MAP_SHARED | libc::MAP_NORESERVE, &fd, 0).unwrap();
    assert_eq!(base % G4, 0, "{base:#x}");
    munmap(base, G4).unwrap();
}

/// (Mapping) quirk: with map_extra 0, MAP_FIXED at a range crossing 4 GiB is
/// silently moved up to the boundary (never pass MAP_FIXED unchecked).
#[test]
fn map_fixed_across_4gib_is_moved_to_the_boundary() {
    require!(Feature::ArenaMap);
    let len = 16 * page();
    let (start, rlen) = reserve(len + G4);
    let boundary = start.next_multiple_of(G4) + G4;
    let asked = boundary - 8 * page();
    let fd = raw_arena(16, 0, 0).unwrap();
    let got = mmap(asked, len, RW, libc::MAP_SHARED | libc::MAP_FIXED, &fd, 0).unwrap();
    assert_eq!(got, boundary, "asked {asked:#x}");
    munmap(start, rlen).unwrap();
}

/// (Mapping) user_vm_start never changes once fixed, even after munmap; the old
/// address works again with the data intact.
#[test]
fn user_vm_start_is_sticky() {
    require!(Feature::ArenaMap);
    let len = 2 * page();
    let fd = raw_arena(2, 0, 0).unwrap();
    let base = mmap(0, len, RW, libc::MAP_SHARED, &fd, 0).unwrap();
    write_u64(base + 8, 0xfeed);
    munmap(base, len).unwrap();
    assert_eq!(
        mmap(0, len, RW, libc::MAP_SHARED, &fd, 0),
        Err(Errno::EINVAL),
        "mmap(NULL) after munmap"
    );
    let again = mmap(
        base,
        len,
        RW,
        libc::MAP_SHARED | libc::MAP_FIXED_NOREPLACE,
        &fd,
        0,
    )
    .unwrap();
    assert_eq!(again, base);
    assert_eq!(read_u64(base + 8), 0xfeed, "data survived the unmap");
    munmap(base, len).unwrap();
}

/// (Mapping) without map_extra, the size is not checked against max_entries: a
/// larger mapping works and user faults beyond max_entries allocate pages.
#[test]
fn oversized_mapping_without_map_extra_is_accepted() {
    require!(Feature::ArenaMap);
    let fd = raw_arena(16, 0, 0).unwrap();
    let big = mmap(0, 32 * page(), RW, libc::MAP_SHARED, &fd, 0).unwrap();
    write_u64(big + 20 * page(), 20);
    write_u64(big + 31 * page(), 31);
    assert_eq!(
        (read_u64(big + 20 * page()), read_u64(big + 31 * page())),
        (20, 31)
    );
    munmap(big, 32 * page()).unwrap();
    let fd = raw_arena(16, 0, 0).unwrap();
    let small = mmap(0, 8 * page(), RW, libc::MAP_SHARED, &fd, 0).unwrap();
    munmap(small, 8 * page()).unwrap();
}

/// (Mapping) the mapping holds the map: closing the fd keeps data alive.
#[test]
fn mapping_outlives_the_fd() {
    require!(Feature::ArenaMap);
    let len = 2 * page();
    let fd = raw_arena(2, 0, 0).unwrap();
    let base = mmap(0, len, RW, libc::MAP_SHARED, &fd, 0).unwrap();
    write_u64(base, 7);
    drop(fd);
    assert_eq!(read_u64(base), 7);
    write_u64(base + page(), 9);
    assert_eq!(
        read_u64(base + page()),
        9,
        "faults still allocate after close"
    );
    munmap(base, len).unwrap();
}

/// (Mapping) MAP_FIXED over the live arena VMA replaces it (one VMA per process).
#[test]
fn map_fixed_over_the_arena_replaces_it() {
    require!(Feature::ArenaMap);
    let len = 2 * page();
    let fd = raw_arena(2, 0, 0).unwrap();
    let base = mmap(0, len, RW, libc::MAP_SHARED, &fd, 0).unwrap();
    write_u64(base, 5);
    assert_eq!(
        mmap(base, len, RW, libc::MAP_SHARED | libc::MAP_FIXED, &fd, 0),
        Ok(base)
    );
    assert_eq!(read_u64(base), 5, "same pages behind the new VMA");
    assert_eq!(
        mmap(
            base,
            len,
            RW,
            libc::MAP_SHARED | libc::MAP_FIXED_NOREPLACE,
            &fd,
            0
        ),
        Err(Errno::EEXIST),
        "NOREPLACE refuses"
    );
    munmap(base, len).unwrap();
}

/// (Mapping) the arena VMA cannot be split, grown or moved; protecting the
/// whole range works. Kernels without the fork/split fix (6.12.88, 6.18.30,
/// 7.0.7, 7.1) let a partial munmap through: a known kernel bug there.
#[test]
fn no_partial_munmap_mprotect_or_mremap() {
    require!(Feature::ArenaMap);
    let len = 4 * page();
    let fd = raw_arena(4, 0, 0).unwrap();
    let base = mmap(0, len, RW, libc::MAP_SHARED, &fd, 0).unwrap();
    let partial = munmap(base, page());
    if !ARENA_VMA_SHARED.check(
        partial == Err(Errno::EINVAL),
        &format!("partial munmap answered {partial:?}, not EINVAL"),
    ) {
        let _ = munmap(base, len);
        return;
    }
    assert_eq!(
        mprotect(base, page(), libc::PROT_READ),
        Err(Errno::EINVAL),
        "partial mprotect"
    );
    assert_eq!(
        mprotect(base, len, libc::PROT_READ),
        Ok(()),
        "whole RW -> R"
    );
    assert_eq!(mprotect(base, len, RW), Ok(()), "whole R -> RW");
    assert_eq!(
        mremap(base, len, 2 * len, libc::MREMAP_MAYMOVE, 0),
        Err(Errno::EFAULT),
        "grow"
    );
    assert_eq!(
        mremap(base, len, len / 2, 0, 0),
        Err(Errno::EINVAL),
        "shrink"
    );
    let (start, rlen) = reserve(len);
    let to = start.next_multiple_of(G4);
    assert_eq!(
        mremap(
            base,
            len,
            len,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
            to
        ),
        Err(Errno::EINVAL),
        "same-size move"
    );
    munmap(start, rlen).unwrap();
    write_u64(base, 3);
    assert_eq!(read_u64(base), 3, "still mapped and usable");
    munmap(base, len).unwrap();
}

/// Decision 3: without an address the crate picks a 4 GiB-aligned slot and
/// records it as map_extra; the low 32 bits of a user pointer equal the
/// arena offset.
#[test]
fn crate_chosen_address_is_4gib_aligned() {
    require!(Feature::ArenaMap);
    let a = arena(8);
    assert_eq!(a.base() % G4, 0);
    assert_eq!(a.map_extra(), a.base());
    assert!(a.has_null_page());
    let p = a.ptr_at::<u64>(3 * page() + 16).unwrap();
    assert_eq!(p.kernel32() as u64, a.offset_of(p).unwrap());
    assert_eq!(a.ptr_from_kernel32::<u64>(p.kernel32()), p);
    assert!(
        a.ptr_from_kernel32::<u64>(0).is_null(),
        "low 32 bits 0 is NULL, as in the kernel's cast"
    );
    // Nothing else is left mapped around the slot: a second arena fits anywhere.
    let b = arena(8);
    assert_ne!(a.base(), b.base());
}

/// Decision 3: a given address is mapped with MAP_FIXED_NOREPLACE; an
/// occupied range is an error and the existing mapping is left untouched.
#[test]
fn occupied_address_is_an_error_and_the_mapping_survives() {
    require!(Feature::ArenaMap);
    // An ordinary anonymous mapping at a 4 GiB-aligned address, with data,
    // made over this test's own reservation (no window for another thread).
    let (start, rlen) = reserve(4 * page());
    let at = start.next_multiple_of(G4);
    // SAFETY: MAP_FIXED over a range inside this test's own PROT_NONE reservation.
    let p = unsafe {
        libc::mmap(
            at as *mut _,
            4 * page() as usize,
            RW,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
            -1,
            0,
        )
    };
    assert_eq!(p as u64, at);
    write_u64(at + 8, 0x1234_5678);
    let e = ArenaBuilder::new(4).address(at).create().unwrap_err();
    assert!(
        matches!(e, Error::AddressInUse { addr, .. } if addr == at),
        "{e}"
    );
    assert!(e.to_string().contains("left untouched"), "{e}");
    assert_eq!(read_u64(at + 8), 0x1234_5678, "existing mapping intact");
    // Free exactly the arena's range; the rest of the reservation stays
    // ours, so nothing else can take the hole before the arena does.
    munmap(at, 4 * page()).unwrap();
    // The same address, now free, works; a second arena there collides.
    let a = ArenaBuilder::new(4).address(at).create().unwrap();
    assert_eq!(a.base(), at);
    let e = ArenaBuilder::new(4).address(at).create().unwrap_err();
    assert!(matches!(e, Error::AddressInUse { .. }), "{e}");
    a.write(a.ptr_at::<u64>(8).unwrap(), 77).unwrap();
    assert_eq!(
        a.read(a.ptr_at::<u64>(8).unwrap()).unwrap(),
        77,
        "first arena untouched"
    );
    drop(a);
    // Release the rest of this test's reservation, around the arena's range.
    for (from, len) in [
        (start, at - start),
        (at + 4 * page(), start + rlen - at - 4 * page()),
    ] {
        if len > 0 {
            munmap(from, len).unwrap();
        }
    }
}

/// Adopting an arena fd maps it at its agreed address; a read-only fd from
/// OBJ_GET cannot map it at all (EACCES for PROT_WRITE, EINVAL for PROT_READ).
#[test]
fn adopt_fd_and_pin() {
    require!(Feature::ArenaMap);
    let dir = Bpffs::new("mmap");
    let a = ArenaBuilder::new(4).name("pinned").create().unwrap();
    a.write(a.ptr_at::<u64>(page()).unwrap(), 99).unwrap();
    let path = dir.join("pinned_arena");
    a.pin(&path).unwrap();
    // Another mapping of the same arena in this process collides with `a`.
    let e = bpf_arena::arena::Arena::open_pinned(&path).unwrap_err();
    assert!(matches!(e, Error::AddressInUse { .. }), "{e}");
    let base = a.base();
    drop(a);
    let b = while_address_taken(|| bpf_arena::arena::Arena::open_pinned(&path)).unwrap();
    assert_eq!((b.base(), b.pages(), b.name()), (base, 4, "pinned"));
    assert_eq!(
        b.read(b.ptr_at::<u64>(page()).unwrap()).unwrap(),
        99,
        "same pages"
    );
    drop(b);
    std::fs::remove_file(&path).unwrap();
    // A read-only fd (BPF_OBJ_GET with BPF_F_RDONLY) cannot map an arena at
    // all. Shown on an arena without an agreed address, mapped wherever the
    // kernel puts it: `base` is free again and may be any other test's by
    // now (tests run as threads of one process).
    let raw = common::raw_arena(4, 0, 0).unwrap();
    let raw_path = dir.join("unplaced_arena");
    let c_path = std::ffi::CString::new(raw_path.to_str().unwrap()).unwrap();
    sys::obj_pin(raw.as_fd(), &c_path).unwrap();
    let ro = sys::obj_get(&c_path, 1 << 3).unwrap();
    assert_eq!(
        mmap(0, 4 * page(), RW, libc::MAP_SHARED, &ro, 0),
        Err(Errno::EACCES),
        "read-only fd, PROT_WRITE"
    );
    assert_eq!(
        mmap(0, 4 * page(), libc::PROT_READ, libc::MAP_SHARED, &ro, 0),
        Err(Errno::EINVAL),
        "read-only fd, PROT_READ"
    );
    let e = bpf_arena::arena::Arena::from_fd(ro).unwrap_err();
    assert_eq!(e.errno(), Some(Errno::EACCES), "{e}");
    std::fs::remove_file(&raw_path).unwrap();
    // A map that is not an arena is refused.
    let array = sys::map_create(&sys::MapCreateAttr {
        map_type: 2,
        key_size: 4,
        value_size: 4,
        max_entries: 1,
        ..Default::default()
    })
    .unwrap();
    let e = bpf_arena::arena::Arena::from_fd(array).unwrap_err();
    assert!(e.to_string().contains("not an arena"), "{e}");
}

/// Adopting an arena created without an address: a read-only fd is the
/// kernel's EACCES (not "mapped elsewhere"); once one handle has mapped it,
/// the kernel refuses every other address (EINVAL) and the crate says why.
#[test]
fn adopt_arena_without_address() {
    require!(Feature::ArenaMap);
    let dir = Bpffs::new("mmap_noaddr");
    let fd = raw_arena(2, 0, 0).unwrap();
    let path = dir.join("noaddr_arena");
    let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    sys::obj_pin(std::os::fd::AsFd::as_fd(&fd), &c_path).unwrap();
    let ro = sys::obj_get(&c_path, 1 << 3).unwrap();
    let e = bpf_arena::arena::Arena::from_fd(ro).unwrap_err();
    assert!(
        matches!(e, Error::Syscall { .. }) && e.errno() == Some(Errno::EACCES),
        "{e}"
    );
    let again = sys::obj_get(&c_path, 0).unwrap();
    let a = bpf_arena::arena::Arena::from_fd(fd).unwrap();
    assert_eq!(a.base() % G4, 0, "a crate-chosen slot");
    // The kernel keeps the first address and does not report it: any other
    // is refused (and `a` occupies that one).
    let e = bpf_arena::arena::Arena::from_fd(again).unwrap_err();
    assert!(matches!(e, Error::WrongObject { .. }), "{e}");
    drop(a);
    std::fs::remove_file(&path).unwrap();
}
