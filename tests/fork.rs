//! Kernel rules that need `fork()` or a process killed by `SIGSEGV`
//! (the fork rule, user faults and free zapping: `bpf_arena::guide::kernel`).
//!
//! `harness = false`: this binary is one single-threaded process, so
//! `fork()` is safe here. Each check forks a child that only makes raw
//! system calls and ends with `_exit`; the parent judges by the child's exit
//! status. Prints one line per check and `N passed, N failed` at the end.

mod common;

use bpf_arena::arena::{Arena, ArenaFlags};
use bpf_arena::features::Feature;
use bpf_arena::sys::{self, Errno};
use std::os::fd::AsFd;

/// How a child ended.
#[derive(Debug, PartialEq, Eq)]
enum Exit {
    Code(i32),
    Signal(i32),
}

/// Runs `child` in a forked child; it must not return normally (use `_exit`
/// through the returned code).
fn in_child(child: impl FnOnce() -> i32) -> Exit {
    // SAFETY: this process is single-threaded (harness = false, no threads
    // spawned), so the child may run arbitrary code; it ends with _exit and
    // never unwinds into the parent's state.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", Errno::last());
    if pid == 0 {
        let code = child();
        // SAFETY: _exit ends the child without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(r, pid);
    if libc::WIFSIGNALED(status) {
        Exit::Signal(libc::WTERMSIG(status))
    } else {
        Exit::Code(libc::WEXITSTATUS(status))
    }
}

fn read_u64(addr: u64) -> u64 {
    // SAFETY: only called on arena addresses; faults are the point of the
    // checks (they kill the forked child, never the parent).
    unsafe { std::ptr::read_volatile(addr as *const u64) }
}

/// (Mapping) the child does not inherit the arena mapping (access → SIGSEGV).
fn fork_child_does_not_inherit_the_mapping() -> Result<(), String> {
    let a = common::arena(4);
    let p = a.ptr_at::<u64>(4096).unwrap();
    a.write(p, 41).unwrap();
    let base = a.base();
    match in_child(|| {
        let _ = read_u64(base + 4096);
        0
    }) {
        Exit::Signal(libc::SIGSEGV) => Ok(()),
        Exit::Code(0) if common::ARENA_VMA_SHARED.explains("the fork child read the arena") => {
            Ok(())
        }
        e => Err(format!(
            "child touching the parent's arena address ended with {e:?}, expected SIGSEGV"
        )),
    }
}

/// (Mapping) the child re-maps the inherited fd at the same address with
/// MAP_FIXED_NOREPLACE, sees the parent's data, and its writes are shared;
/// mmap(NULL) in the child is EINVAL.
fn fork_child_remaps_the_inherited_fd() -> Result<(), String> {
    let a = common::arena(4);
    a.write(a.ptr_at::<u64>(4096).unwrap(), 41).unwrap();
    let (base, len) = (a.base(), a.len());
    let fd = a.fd();
    let r = in_child(|| {
        if sys::mmap_shared_anywhere(len as usize, libc::PROT_READ | libc::PROT_WRITE, fd)
            != Err(Errno::EINVAL)
        {
            return 10;
        }
        if sys::mmap_shared_noreplace(
            base as usize,
            len as usize,
            libc::PROT_READ | libc::PROT_WRITE,
            fd.as_fd(),
        )
        .is_err()
        {
            return 11;
        }
        if read_u64(base + 4096) != 41 {
            return 12;
        }
        // SAFETY: the child's own fresh mapping of the arena.
        unsafe { std::ptr::write_volatile((base + 4104) as *mut u64, 42) };
        0
    });
    if r == Exit::Code(11)
        && common::ARENA_VMA_SHARED
            .explains("the fork child could not map the arena: it inherited it")
    {
        return Ok(());
    }
    if r != Exit::Code(0) {
        return Err(format!(
            "child ended with {r:?} (10: mmap(NULL) not EINVAL, 11: remap failed, 12: data not shared)"
        ));
    }
    match a.read(a.ptr_at::<u64>(4104).unwrap()).unwrap() {
        42 => Ok(()),
        v => Err(format!("parent reads {v} where the child wrote 42")),
    }
}

/// The crate's adoption path in a child: Arena::from_fd maps at map_extra.
fn fork_child_adopts_with_from_fd() -> Result<(), String> {
    let a = common::arena(2);
    a.write(a.ptr_at::<u64>(4096).unwrap(), 7).unwrap();
    let fd = a.fd().try_clone_to_owned().unwrap();
    let r = in_child(move || match Arena::from_fd(fd) {
        Ok(b) if b.read(b.ptr_at::<u64>(4096).unwrap()).ok() == Some(7) => {
            std::mem::forget(b);
            0
        }
        Ok(_) => 2,
        Err(_) => 1,
    });
    if r == Exit::Code(0)
        || (r == Exit::Code(1)
            && common::ARENA_VMA_SHARED
                .explains("Arena::from_fd in the fork child failed: it inherited the mapping"))
    {
        Ok(())
    } else {
        Err(format!("child ended with {r:?}"))
    }
}

/// (Pages) with SEGV_ON_FAULT, a user fault on an unallocated page is SIGSEGV
/// (reads and writes alike).
fn segv_on_fault_gives_sigsegv() -> Result<(), String> {
    for write in [false, true] {
        let r = in_child(move || {
            let a = common::arena_flags(4, ArenaFlags::SEGV_ON_FAULT);
            let addr = a.base() + 2 * 4096;
            if write {
                // SAFETY: deliberately faulting store into the child's arena.
                unsafe { std::ptr::write_volatile(addr as *mut u64, 1) };
            } else {
                let _ = read_u64(addr);
            }
            0
        });
        if r != Exit::Signal(libc::SIGSEGV) {
            return Err(format!(
                "{} of an unallocated page ended with {r:?}",
                if write { "write" } else { "read" }
            ));
        }
    }
    Ok(())
}

/// (Pages) on a SEGV_ON_FAULT arena, pages BPF allocated are usable from
/// user space, and after a free the user mapping is zapped (SIGSEGV).
fn segv_on_fault_alloc_then_free_zaps() -> Result<(), String> {
    match in_child(|| {
        let a = common::arena_flags(4, ArenaFlags::SEGV_ON_FAULT);
        let Ok(Some(p)) = a.alloc_pages::<u8>(None, 1) else {
            return 3;
        };
        // The page BPF allocated is usable from user space (its PTE is now present).
        if a.write(p.cast::<u64>(), 5).is_err() || a.read(p.cast::<u64>()).ok() != Some(5) {
            return 4;
        }
        if a.free_pages(p, 1).is_err() {
            return 5;
        }
        // The free zapped the user PTE: this access must raise SIGSEGV.
        let _ = read_u64(p.addr());
        0
    }) {
        Exit::Signal(libc::SIGSEGV) => Ok(()),
        e => Err(format!(
            "child ended with {e:?} (3: alloc failed, 4: allocated page unusable, 5: free failed, 0: freed page still readable)"
        )),
    }
}

/// (Pages) quirk: a user fault allocates even a page reserved with
/// bpf_arena_reserve_pages (reservation only stops BPF allocation).
fn user_fault_allocates_reserved_page() -> Result<(), String> {
    let a = common::arena(4);
    let p = a.ptr_at::<u8>(2 * 4096).unwrap();
    a.reserve_pages(p, 1).map_err(|e| e.to_string())?;
    a.write(p.cast::<u64>(), 9).unwrap();
    if a.read(p.cast::<u64>()).unwrap() != 9 {
        return Err("write to a reserved page did not stick".into());
    }
    Ok(())
}

/// sys: the crate never hands out fd 0 (it is moved to the lowest free fd >= 1).
fn never_fd_zero() -> Result<(), String> {
    let r = in_child(|| {
        // SAFETY: closing stdin in the child only.
        unsafe { libc::close(0) };
        match common::raw_arena(1, 0, 0) {
            Ok(fd) if std::os::fd::AsRawFd::as_raw_fd(&fd) != 0 => 0,
            Ok(_) => 1,
            Err(_) => 2,
        }
    });
    if r == Exit::Code(0) {
        Ok(())
    } else {
        Err(format!(
            "child ended with {r:?} (1: got fd 0, 2: create failed)"
        ))
    }
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

/// No fd or mapping survives a dropped arena, a failed create (occupied
/// address, kernel refusal), a failed adoption, or page programs.
fn no_leaked_fds_or_mappings() -> Result<(), String> {
    use bpf_arena::arena::ArenaBuilder;
    // Warm caches (vmlinux BTF mapping, probes) before counting.
    let warm = common::arena(2);
    warm.alloc_pages::<u8>(None, 1).map_err(|e| e.to_string())?;
    drop(warm);
    let (fds, maps) = (open_fds(), mappings());
    for _ in 0..5 {
        let a = common::arena(8);
        let p = a
            .alloc_pages::<u8>(None, 2)
            .map_err(|e| e.to_string())?
            .ok_or("NULL")?;
        a.reserve_pages(a.ptr_at::<u8>(6 * 4096).unwrap(), 1)
            .map_err(|e| e.to_string())?;
        a.free_pages(p, 2).map_err(|e| e.to_string())?;
        let at = a.base();
        let busy = ArenaBuilder::new(8).address(at).create();
        if !matches!(busy, Err(bpf_arena::Error::AddressInUse { .. })) {
            return Err(format!("second arena at {at:#x}: {busy:?}"));
        }
        drop(a);
        // Refused in user space before any reservation.
        let refused = ArenaBuilder::new(8)
            .flags(ArenaFlags::from_bits_retain(1 << 3))
            .create();
        if refused.is_ok() {
            return Err("bad flags accepted".into());
        }
        let array = sys::map_create(&sys::MapCreateAttr {
            map_type: 2,
            key_size: 4,
            value_size: 4,
            max_entries: 1,
            ..Default::default()
        })
        .map_err(|e| e.to_string())?;
        if Arena::from_fd(array).is_ok() {
            return Err("adopted an array map".into());
        }
    }
    let (fds2, maps2) = (open_fds(), mappings());
    if (fds, maps) == (fds2, maps2) {
        Ok(())
    } else {
        Err(format!("fds {fds} -> {fds2}, mappings {maps} -> {maps2}"))
    }
}

/// Loading and dropping objects, and every failing load (bad objects, a
/// verifier rejection), leave no fd or mapping behind.
fn loader_leaks_nothing() -> Result<(), String> {
    use bpf_arena::loader::ObjectLoader;
    let obj = |f: &str| format!("{}/bpf-asm/{f}", env!("CARGO_MANIFEST_DIR"));
    let cycle = || -> Result<(), String> {
        for f in [
            "arena_list.bpf.o",
            "htab.bpf.o",
            "externs.bpf.o",
            "atomics.bpf.o",
            "asm_legacy.o",
        ] {
            let o = ObjectLoader::from_file(obj(f))
                .and_then(|l| l.load())
                .map_err(|e| format!("{f}: {e}"))?;
            drop(o);
        }
        for f in [
            "bad/no_arena_map.bpf.o",
            "bad/two_arenas.bpf.o",
            "bad/globals_too_big.bpf.o",
            "bad/missing_symbol.o",
            "bad/verifier_reject.bpf.o",
            "bad/unknown_section.o",
        ] {
            if ObjectLoader::from_file(obj(f))
                .and_then(|l| l.load())
                .is_ok()
            {
                return Err(format!("{f} loaded"));
            }
        }
        Ok(())
    };
    cycle()?; // warm the process-wide caches (vmlinux BTF, kconfig, probes)
    let (fds, maps) = (open_fds(), mappings());
    for _ in 0..3 {
        cycle()?;
    }
    let (fds2, maps2) = (open_fds(), mappings());
    if (fds, maps) == (fds2, maps2) {
        Ok(())
    } else {
        Err(format!("fds {fds} -> {fds2}, mappings {maps} -> {maps2}"))
    }
}

/// A named check.
type Check = fn() -> Result<(), String>;

fn main() {
    let checks: [(&str, Check, &[Feature]); 9] = [
        (
            "loader_leaks_nothing",
            loader_leaks_nothing,
            &[Feature::ArenaMap, Feature::KfuncReservePages],
        ),
        (
            "no_leaked_fds_or_mappings",
            no_leaked_fds_or_mappings,
            &[Feature::ArenaMap, Feature::KfuncReservePages],
        ),
        ("never_fd_zero", never_fd_zero, &[Feature::ArenaMap]),
        (
            "fork_child_does_not_inherit_the_mapping",
            fork_child_does_not_inherit_the_mapping,
            &[Feature::ArenaMap],
        ),
        (
            "fork_child_remaps_the_inherited_fd",
            fork_child_remaps_the_inherited_fd,
            &[Feature::ArenaMap],
        ),
        (
            "fork_child_adopts_with_from_fd",
            fork_child_adopts_with_from_fd,
            &[Feature::ArenaMap],
        ),
        (
            "segv_on_fault_gives_sigsegv",
            segv_on_fault_gives_sigsegv,
            &[Feature::ArenaMap, Feature::SegvOnFault],
        ),
        (
            "segv_on_fault_alloc_then_free_zaps",
            segv_on_fault_alloc_then_free_zaps,
            &[
                Feature::SegvOnFault,
                Feature::KfuncAllocPages,
                Feature::KfuncFreePages,
            ],
        ),
        (
            "user_fault_allocates_reserved_page",
            user_fault_allocates_reserved_page,
            &[Feature::ArenaMap, Feature::KfuncReservePages],
        ),
    ];
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for (name, check, needs) in checks {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let gate = needs
            .iter()
            .map(|f| common::gate(*f))
            .find(|g| !matches!(g, common::Gate::Run))
            .unwrap_or(common::Gate::Run);
        match gate {
            common::Gate::Run => {}
            common::Gate::Skip(why) => {
                common::report("SKIP", name, &why);
                println!("test {name} ... ok");
                skipped += 1;
                continue;
            }
            common::Gate::Fail(why) => {
                println!("test {name} ... FAILED ({why})");
                failed += 1;
                continue;
            }
        }
        common::set_case(name);
        match check() {
            Ok(()) => {
                println!("test {name} ... ok");
                passed += 1;
            }
            Err(e) => {
                println!("test {name} ... FAILED: {e}");
                failed += 1;
            }
        }
    }
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    std::process::exit(if failed == 0 { 0 } else { 1 });
}
