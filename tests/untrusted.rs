//! Errors say what happened, nothing of a failed load stays behind, and
//! objects you did not write cannot reach outside what they were given:
//! the environment-failure, pinning and address-space cases.

mod common;

use bpf_arena::arena::ArenaBuilder;
use bpf_arena::features::{Feature, Support, probe};
use bpf_arena::insn::{Reg, asm, encode};
use bpf_arena::loader::ObjectLoader;
use bpf_arena::obj::{MapOrigin, ObjectSpec};
use bpf_arena::prog::{ProgramBuilder, ProgramType};
use bpf_arena::sys::Errno;
use bpf_arena::{Error, kconfig, kfunc};
use common::{Bpffs, in_fresh_process};
use std::path::{Path, PathBuf};

/// `fixed_addr.bpf.o` maps its arena at 1 << 44: the tests that load it
/// take turns (one process can map that address once at a time).
static FIXED_ADDR: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn fixed_addr_turn() -> std::sync::MutexGuard<'static, ()> {
    FIXED_ADDR.lock().unwrap_or_else(|p| p.into_inner())
}

fn object(name: &str) -> PathBuf {
    common::asm_object(name)
}

/// Lowers this process's soft `RLIMIT_NOFILE` so that no new fd can be
/// opened (the limit becomes the lowest free fd); returns the old limit.
fn exhaust_fds() -> libc::rlimit {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit/fcntl on this process; `old` is a local.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut old);
        let lowest_free = libc::fcntl(0, libc::F_DUPFD, 0);
        libc::close(lowest_free);
        let lim = libc::rlimit {
            rlim_cur: lowest_free as libc::rlim_t,
            rlim_max: old.rlim_max,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
    old
}

fn restore_fds(old: libc::rlimit) {
    // SAFETY: restores the limit read by exhaust_fds.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old) }, 0);
}

/// EMFILE from BPF_PROG_LOAD (the verifier accepted the program, but no fd
/// could be allocated) is reported as what it is, not as a verifier
/// rejection next to a log that says verification succeeded.
#[test]
fn emfile_is_not_a_verifier_rejection() {
    require!(Feature::Jit);
    in_fresh_process("emfile_is_not_a_verifier_rejection", || {
        let insns = encode(&[asm::mov64_imm(Reg::R0, 0), asm::exit()]);
        let mut b = ProgramBuilder::new(ProgramType::SOCKET_FILTER, &insns);
        b.name("ok");
        let old = exhaust_fds();
        let r = b.load();
        restore_fds(old);
        match r {
            Err(
                e @ Error::Bpf {
                    errno: Errno::EMFILE,
                    ..
                },
            ) => {
                let text = e.to_string();
                if text.contains("verifier") || !text.contains("RLIMIT_NOFILE") {
                    return Err(format!("message: {text}"));
                }
            }
            other => return Err(format!("{other:?}, want Error::Bpf with EMFILE")),
        }
        b.load().map(drop).map_err(|e| e.to_string())
    });
}

/// A failure caused by the environment (here: no fd left for opening
/// /sys/kernel/btf/vmlinux or the kernel config, or for a probe's map) is
/// not cached: once fds are available again, the same calls succeed.
#[test]
fn environment_failures_are_not_cached() {
    require!(Feature::ArenaMap);
    // Probed in the child only after the fds ran out (a probe made here
    // would be cached before the child's first call).
    if !common::in_case() && !common::supported(Feature::SegvOnFault, "environment_failures") {
        return;
    }
    in_fresh_process("environment_failures_are_not_cached", || {
        let old = exhaust_fds();
        let btf = kfunc::vmlinux_bytes().map(drop);
        let config = kconfig::kernel_config().map(drop);
        // (ArenaMap was probed by require! before: SegvOnFault was not.)
        let arena = probe(Feature::SegvOnFault);
        restore_fds(old);
        if btf.is_ok() || config.is_ok() || !matches!(arena, Support::Inconclusive { .. }) {
            return Err(format!(
                "with no fds: vmlinux {btf:?}, config {config:?}, probe {arena:?}"
            ));
        }
        kfunc::vmlinux_bytes().map_err(|e| format!("vmlinux after: {e}"))?;
        kfunc::kfunc_id(kfunc::ARENA_ALLOC_PAGES).map_err(|e| format!("kfunc after: {e}"))?;
        if probe(Feature::SegvOnFault) != Support::Yes {
            return Err("the probe's failure was cached".into());
        }
        // The kernel config may legitimately be absent; if it is there, it
        // must be found now.
        if Path::new("/proc/config.gz").exists() {
            kconfig::kernel_config().map_err(|e| format!("config after: {e}"))?;
        }
        Ok(())
    });
}

/// A load that fails after it pinned maps removes those pins (libbpf does
/// the same); pins that were there before stay.
#[test]
fn failed_load_leaves_no_pins() {
    require_arena!();
    let _turn = fixed_addr_turn();
    let pins = Bpffs::new("failpins");
    // An invalid verifier log level makes BPF_PROG_LOAD fail with EINVAL
    // after every map was created and pinned.
    let mut l = ObjectLoader::from_file(object("fixed_addr.bpf.o")).unwrap();
    l.pin_root(&pins.0).log_level(1 << 12);
    let e = l.load().unwrap_err();
    assert_eq!(e.errno(), Some(Errno::EINVAL), "{e}");
    assert!(
        !pins.join("pinned_counts").exists(),
        "the failed load removed its pin"
    );
    // A successful load pins; a failing one after it keeps that pin.
    let mut l = ObjectLoader::from_file(object("fixed_addr.bpf.o")).unwrap();
    l.pin_root(&pins.0);
    drop(l.load().unwrap());
    assert!(pins.join("pinned_counts").exists());
    let mut l = ObjectLoader::from_file(object("fixed_addr.bpf.o")).unwrap();
    l.pin_root(&pins.0).log_level(1 << 12);
    l.load().unwrap_err();
    assert!(
        pins.join("pinned_counts").exists(),
        "a pin the failed load did not create stays"
    );
}

/// A map name is one path component under the pin root, and a symbolic
/// link at the pin path is refused instead of followed. With pinning
/// ignored, nothing is pinned or reused.
#[test]
fn pins_are_one_component_and_never_links() {
    require_arena!();
    let _turn = fixed_addr_turn();
    let pins = Bpffs::new("linkpins");
    for bad in ["..", ".", "a/b", ""] {
        let mut spec = ObjectSpec::from_file(&object("fixed_addr.bpf.o")).unwrap();
        let m = spec
            .maps
            .iter_mut()
            .find(|m| m.name == "pinned_counts")
            .unwrap();
        m.name = bad.to_string();
        let mut l = ObjectLoader::new(spec);
        l.pin_root(&pins.0);
        let e = l.load().unwrap_err();
        assert!(
            matches!(
                &e,
                Error::Invalid {
                    what: "map name",
                    ..
                }
            ),
            "{bad:?}: {e}"
        );
    }
    // A victim map pinned elsewhere in the same bpffs, and a link to it at
    // the object's pin path.
    let mut l = ObjectLoader::from_file(object("fixed_addr.bpf.o")).unwrap();
    l.pin_root(&pins.0);
    drop(l.load().unwrap());
    std::fs::rename(pins.join("pinned_counts"), pins.join("victim")).unwrap();
    std::os::unix::fs::symlink(pins.join("victim"), pins.join("pinned_counts")).unwrap();
    let mut l = ObjectLoader::from_file(object("fixed_addr.bpf.o")).unwrap();
    l.pin_root(&pins.0);
    let e = l.load().unwrap_err();
    assert!(e.to_string().contains("symbolic link"), "{e}");
    // Ignoring pinning: nothing is read or written under the pin root.
    std::fs::remove_file(pins.join("pinned_counts")).unwrap();
    let mut l = ObjectLoader::from_file(object("fixed_addr.bpf.o")).unwrap();
    l.pin_root(&pins.0).ignore_pinning();
    let o = l.load().unwrap();
    assert_eq!(
        o.program("touch").unwrap().run_syscall(&mut []).unwrap(),
        1,
        "a fresh map, not the pinned one"
    );
    assert!(!pins.join("pinned_counts").exists());
}

/// The crate places an arena without reserving 4 GiB of address space, so
/// it works under an address-space limit of the arena's size plus a few
/// hundred MiB (it used to need 4 GiB + the arena).
#[test]
fn arena_under_an_address_space_limit() {
    require_arena!();
    in_fresh_process("arena_under_an_address_space_limit", || {
        let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
        let vm_kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmSize:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .ok_or("no VmSize")?;
        let pages = 1024u32; // 4 MiB
        let limit = (vm_kib << 10) + (256 << 20) + (u64::from(pages) << 12);
        let lim = libc::rlimit {
            rlim_cur: limit,
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY: sets this child's own limit.
        if unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) } != 0 {
            return Err("setrlimit".into());
        }
        let arenas: Vec<_> = (0..3)
            .map(|_| ArenaBuilder::new(pages).create())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("under a {} MiB limit: {e}", limit >> 20))?;
        for a in &arenas {
            if a.base() % (1 << 32) != 0 {
                return Err(format!("base {:#x} not 4 GiB-aligned", a.base()));
            }
            a.write(a.ptr_at::<u64>(4096).map_err(|e| e.to_string())?, 7)
                .map_err(|e| e.to_string())?;
        }
        let mut l =
            ObjectLoader::from_file(object("arena_list.bpf.o")).map_err(|e| e.to_string())?;
        l.set_global("cnt", 100u32).map_err(|e| e.to_string())?;
        let o = l.load().map_err(|e| format!("load under the limit: {e}"))?;
        let r = o
            .program("arena_list_add")
            .map_err(|e| e.to_string())?
            .run_syscall(&mut [])
            .map_err(|e| e.to_string())?;
        if r != 0 {
            return Err(format!("arena_list_add returned {r}"));
        }
        Ok(())
    });
}

/// `ObjectSpec` is plain data a caller may edit before loading: whatever it
/// says, the loader answers with an error, never a panic (a data map naming
/// a section the object lacks; an arena handed to a map that is not one).
#[test]
fn edited_specs_are_errors_not_panics() {
    require_arena!();
    let mut spec = ObjectSpec::from_file(&object("user_list.bpf.o")).unwrap();
    let i = spec.maps.iter().position(|m| !m.is_arena()).unwrap();
    spec.maps[i].origin = MapOrigin::Data(99);
    let e = ObjectLoader::new(spec).load().unwrap_err();
    assert!(e.to_string().contains("data section #99"), "{e}");

    let mut spec = ObjectSpec::from_file(&object("user_list.bpf.o")).unwrap();
    let mut twin = spec.maps[spec.arena_map().unwrap()].clone();
    twin.map_type = 2;
    (
        twin.key_size,
        twin.value_size,
        twin.max_entries,
        twin.map_flags,
    ) = (4, 4, 1, 0);
    spec.maps.insert(0, twin);
    let mut l = ObjectLoader::new(spec);
    l.ignore_pinning().reuse_arena(std::sync::Arc::new(
        ArenaBuilder::new(256).create().unwrap(),
    ));
    let e = l.load().unwrap_err();
    assert!(e.to_string().contains("not the object's arena map"), "{e}");
}
