//! Every tracing attach kind against the real event: each test loads one
//! program of `bpf-asm/attach_trace.bpf.o`, points it at this test's
//! thread, attaches it, triggers the event, reads the effect from the
//! arena, drops the link and checks the program no longer runs.
//!
//! The BTF-typed kinds (`tp_btf`, `fentry`, `fexit`, `fmod_ret`, `lsm`,
//! `iter`) have their target fixed at load from vmlinux BTF; the kernel
//! calls behind each kind are listed in `bpf_arena::link`.

mod common;

use bpf_arena::link::{BtfKind, LinkDetail, LinkType};
use bpf_arena::{AttachTarget, Error, Link, LoadedObject, ObjectLoader};
use std::io::Read;

const OBJ: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bpf-asm/attach_trace.bpf.o");

fn tid() -> u32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() as u32 }
}

/// The object with only `prog` loaded, counting this thread's events.
/// (Callers check `arena()` first: the object keeps its counters in an
/// arena.)
fn load(prog: &str) -> LoadedObject {
    let obj = ObjectLoader::from_file(OBJ)
        .unwrap()
        .load_only(&[prog])
        .unwrap()
        .load()
        .unwrap_or_else(|e| panic!("loading {prog}: {e}"));
    obj.set_global("target_tid", tid()).unwrap();
    obj.set_global("syscall_nr", libc::SYS_getppid as u64)
        .unwrap();
    obj
}

fn arena_u64(obj: &LoadedObject, name: &str) -> u64 {
    let p = obj.arena_global::<u64>(name).unwrap();
    obj.arena().unwrap().read(p).unwrap()
}

fn getppid_n(n: usize) {
    for _ in 0..n {
        // SAFETY: getppid has no preconditions; the raw syscall bypasses
        // any caching in the C library.
        unsafe { libc::syscall(libc::SYS_getppid) };
    }
}

fn open_dev_null() -> std::io::Result<std::fs::File> {
    std::fs::File::open("/dev/null")
}

/// One open of /dev/null while global `flag` of `obj` is set (the deny
/// switch of the fmod_ret and LSM programs), cleared again right after.
fn open_with(obj: &LoadedObject, flag: &str) -> std::io::Result<std::fs::File> {
    obj.set_global(flag, 1u32).unwrap();
    let r = open_dev_null();
    obj.set_global(flag, 0u32).unwrap();
    r
}

/// After the link of a program that denies opens while `flag` is set was
/// dropped: an open with `flag` set works, and the program did not count
/// it. The kernel detaches the program when the link's last reference
/// goes; under emulation that was once seen to lag the `close()` (a
/// reference held a moment elsewhere), so the open is retried for up to
/// 2 s, each attempt said on stderr, before the test fails.
fn open_after_detach(obj: &LoadedObject, flag: &str, hits: &str) {
    for attempt in 0..100 {
        let before = arena_u64(obj, hits);
        match open_with(obj, flag) {
            Ok(_) => {
                assert_eq!(arena_u64(obj, hits), before, "{hits} after the detach");
                return;
            }
            Err(e) => eprintln!("open with {flag} set, attempt {attempt} after the detach: {e}"),
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("open still denied 2 s after the link was dropped ({flag})");
}

/// `n` opens of /dev/null: security_file_open runs for each.
fn open_n(n: usize) {
    for _ in 0..n {
        open_dev_null().unwrap();
    }
}

/// Attaches `prog` by its section, runs `trigger` 5 times, checks `counter`
/// went up by exactly 5, drops the link, triggers again and checks it did
/// not move. Returns the loaded object for further checks.
fn counts_then_stops(prog: &str, counter: &str, trigger: fn(usize)) -> LoadedObject {
    let obj = load(prog);
    let link = obj
        .attach(prog)
        .unwrap_or_else(|e| panic!("attaching {prog}: {e}"));
    trigger(5);
    assert_eq!(arena_u64(&obj, counter), 5, "{prog}: 5 events counted");
    let info = link.info().unwrap();
    assert!(info.id > 0 && info.prog_id > 0, "{info:?}");
    drop(link);
    trigger(5);
    assert_eq!(
        arena_u64(&obj, counter),
        5,
        "{prog}: no events after the drop"
    );
    obj
}

#[test]
fn raw_tracepoint() {
    require_arena!();
    let obj = load("on_raw_tp");
    let link = obj.attach("on_raw_tp").unwrap();
    assert_eq!(
        link.target(),
        Some(&AttachTarget::RawTracepoint {
            name: "sys_enter".into()
        })
    );
    getppid_n(7);
    assert_eq!(arena_u64(&obj, "raw_tp_hits"), 7);
    let info = link.info().unwrap();
    assert_eq!(info.link_type, LinkType::RAW_TRACEPOINT);
    assert_eq!(
        info.detail,
        LinkDetail::RawTracepoint {
            name: "sys_enter".into()
        }
    );
    drop(link);
    getppid_n(7);
    assert_eq!(arena_u64(&obj, "raw_tp_hits"), 7);
}

#[test]
fn tp_btf() {
    require_arena!();
    let obj = counts_then_stops("on_tp_btf", "tp_btf_hits", getppid_n);
    // A BTF-typed raw tracepoint is still a raw tracepoint link.
    let link = obj.attach("on_tp_btf").unwrap();
    let info = link.info().unwrap();
    assert_eq!(info.link_type, LinkType::RAW_TRACEPOINT);
    assert_eq!(
        info.detail,
        LinkDetail::RawTracepoint {
            name: "sys_enter".into()
        }
    );
}

/// Why the kinds that run through a BPF trampoline (fentry, fexit,
/// fmod_ret, lsm) cannot run on this kernel, if they cannot: some kernel
/// builds refuse every trampoline program at `BPF_PROG_LOAD` with `EPERM`
/// and an empty verifier log, even to root and even for two instructions
/// on the kernel's own test function, while the other tracing programs
/// load. That is this kernel's policy, not a missing feature, so it is a
/// justified skip — except where `BPF_ARENA_REQUIRE_TRAMPOLINES=1` says the
/// kernel is known to allow them (the kernel matrix sets it).
fn trampolines_refused(test: &str) -> bool {
    use bpf_arena::insn::{Reg, asm, encode};
    use bpf_arena::prog::{ProgramBuilder, ProgramType};
    let btf = bpf_arena::kfunc::vmlinux_btf().unwrap();
    let Some(id) = btf.find_by_name(bpf_arena::btf::kind::FUNC, "bpf_fentry_test1") else {
        return false;
    };
    let insns = encode(&[asm::mov64_imm(Reg::R0, 0), asm::exit()]);
    let r = ProgramBuilder::new(ProgramType::TRACING, &insns)
        .name("probe_fentry")
        .license("GPL")
        .expected_attach_type(bpf_arena::abi::BPF_TRACE_FENTRY)
        .attach_btf_id(id)
        .load();
    match r {
        Err(Error::Bpf { errno, .. }) if errno == bpf_arena::Errno::EPERM => {
            let required = std::env::var("BPF_ARENA_REQUIRE_TRAMPOLINES").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "{test}: BPF_ARENA_REQUIRE_TRAMPOLINES=1 but this kernel refuses trampoline programs (EPERM)"
            );
            common::report(
                "SKIP",
                test,
                &format!(
                    "this kernel ({}) refuses every BPF trampoline program (fentry/fexit/fmod_ret/lsm) with EPERM at BPF_PROG_LOAD, even a 2-instruction fentry on bpf_fentry_test1 loaded by root; the kernel matrix runs it",
                    common::kernel_release()
                ),
            );
            true
        }
        _ => false,
    }
}

#[test]
fn tracepoint_through_perf_event() {
    require_arena!();
    let obj = counts_then_stops("on_tracepoint", "tracepoint_hits", getppid_n);
    let link = obj.attach("on_tracepoint").unwrap();
    let info = link.info().unwrap();
    assert_eq!(info.link_type, LinkType::PERF_EVENT);
    assert!(link.perf_event_fd().is_some());
    if common::kernel_at_least("6.6") {
        assert_eq!(
            info.detail,
            LinkDetail::PerfEvent {
                event_type: 5,
                name: "sys_enter_getppid".into()
            }
        );
    }
}

#[test]
fn fentry() {
    require_arena!();
    if trampolines_refused("fentry") {
        return;
    }
    counts_then_stops("on_fentry", "fentry_hits", open_n);
}

/// fexit sees the function's return value: 0 for an open that is allowed,
/// and the value an fmod_ret program put in its place (-EACCES) when that
/// one denies.
#[test]
fn fexit_sees_the_return_value() {
    require_arena!();
    if trampolines_refused("fexit_sees_the_return_value") {
        return;
    }
    let obj = counts_then_stops("on_fexit", "fexit_hits", open_n);
    let ret = |o: &LoadedObject| {
        let p = o.arena_global::<i64>("fexit_ret").unwrap();
        o.arena().unwrap().read(p).unwrap()
    };
    assert_eq!(ret(&obj), 0);
    let both = ObjectLoader::from_file(OBJ)
        .unwrap()
        .load_only(&["on_fexit", "on_fmod_ret"])
        .unwrap()
        .load()
        .unwrap();
    both.set_global("target_tid", tid()).unwrap();
    let _exit = both.attach("on_fexit").unwrap();
    let _modify = both.attach("on_fmod_ret").unwrap();
    let denied = open_with(&both, "fmod_ret_deny");
    assert_eq!(denied.unwrap_err().raw_os_error(), Some(libc::EACCES));
    assert_eq!(ret(&both), -(libc::EACCES as i64));
}

#[test]
fn fmod_ret_replaces_the_return_value() {
    require_arena!();
    if trampolines_refused("fmod_ret_replaces_the_return_value") {
        return;
    }
    let obj = load("on_fmod_ret");
    let link = obj.attach("on_fmod_ret").unwrap();
    assert!(matches!(
        link.target(),
        Some(AttachTarget::Btf {
            kind: BtfKind::FmodRet,
            ..
        })
    ));
    open_dev_null().unwrap();
    let e = open_with(&obj, "fmod_ret_deny").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EACCES), "{e}");
    assert_eq!(arena_u64(&obj, "fmod_ret_hits"), 2);
    drop(link);
    open_after_detach(&obj, "fmod_ret_deny", "fmod_ret_hits");
}

#[test]
fn lsm_hook_denies() {
    require_arena!();
    if trampolines_refused("lsm_hook_denies") {
        return;
    }
    let obj = load("on_lsm");
    let link = obj.attach("on_lsm").unwrap();
    open_dev_null().unwrap();
    let e = open_with(&obj, "lsm_deny").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{e}");
    assert_eq!(arena_u64(&obj, "lsm_hits"), 2);
    assert_eq!(link.info().unwrap().link_type, LinkType::TRACING);
    drop(link);
    open_after_detach(&obj, "lsm_deny", "lsm_hits");
}

#[test]
fn task_iterator_lists_this_thread() {
    require_arena!();
    let obj = load("on_iter");
    let link = obj.attach("on_iter").unwrap();
    let mut out = Vec::new();
    link.open_iter().unwrap().read_to_end(&mut out).unwrap();
    assert_eq!(out.len() % 8, 0);
    let ids: Vec<(u32, u32)> = out
        .chunks_exact(8)
        .map(|c| {
            let w = |i: usize| u32::from_ne_bytes(c[i..i + 4].try_into().unwrap());
            (w(0), w(4))
        })
        .collect();
    assert!(
        ids.contains(&(std::process::id(), tid())),
        "this thread is among the {} tasks",
        ids.len()
    );
    assert_eq!(arena_u64(&obj, "iter_tasks"), ids.len() as u64);
    match link.info().unwrap().detail {
        LinkDetail::Iter { target } => assert_eq!(target, "task"),
        d => panic!("iterator link detail: {d:?}"),
    }
    // A reader opened before the drop keeps the program; after the drop no
    // new reader can be opened because the link fd is gone, and the
    // program ran only for the reads made.
    drop(link);
    assert_eq!(arena_u64(&obj, "iter_tasks"), ids.len() as u64);
}

/// The function the uprobe tests probe: in this test binary, not inlined,
/// with an unmangled symbol the ELF lookup finds.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn bpf_arena_uprobe_target(x: u64) -> u64 {
    std::hint::black_box(x).wrapping_mul(3).wrapping_add(1)
}

fn uprobe_target(retprobe: bool) -> AttachTarget {
    AttachTarget::Uprobe {
        path: "/proc/self/exe".into(),
        function: Some("bpf_arena_uprobe_target".into()),
        offset: 0,
        retprobe,
        pid: Some(std::process::id() as i32),
    }
}

fn call_target_n(n: usize) {
    for i in 0..n {
        std::hint::black_box(bpf_arena_uprobe_target(std::hint::black_box(40 + i as u64)));
    }
}

#[test]
fn uprobe_on_a_function_of_this_binary() {
    require_arena!();
    let obj = load("on_uprobe");
    let link = obj.attach_to("on_uprobe", &uprobe_target(false)).unwrap();
    call_target_n(3);
    assert_eq!(arena_u64(&obj, "uprobe_hits"), 3);
    if cfg!(target_arch = "x86_64") {
        assert_eq!(
            arena_u64(&obj, "uprobe_arg"),
            42,
            "the last call's argument"
        );
    }
    drop(link);
    call_target_n(3);
    assert_eq!(arena_u64(&obj, "uprobe_hits"), 3);
}

#[test]
fn uretprobe_sees_the_return_value() {
    require_arena!();
    let obj = load("on_uretprobe");
    let link = obj.attach_to("on_uretprobe", &uprobe_target(true)).unwrap();
    assert_eq!(link.target().unwrap().kind(), "uretprobe");
    call_target_n(2);
    assert_eq!(arena_u64(&obj, "uretprobe_hits"), 2);
    if cfg!(target_arch = "x86_64") {
        assert_eq!(arena_u64(&obj, "uretprobe_ret"), 41 * 3 + 1);
    }
    drop(link);
    call_target_n(2);
    assert_eq!(arena_u64(&obj, "uretprobe_hits"), 2);
}

/// Whether this kernel was built without kprobes (`# CONFIG_KPROBES is not
/// set` in its configuration), which justifies a skip even in strict mode.
fn kprobes_configured_out() -> bool {
    bpf_arena::kconfig::kernel_config().is_ok_and(|c| !c.values.contains_key("CONFIG_KPROBES"))
}

/// Attaches `prog` (a kprobe program) by its section, or says why this
/// kernel cannot: `None` after a justified skip.
fn attach_kprobe(obj: &LoadedObject, prog: &str) -> Option<Link> {
    match obj.attach(prog) {
        Err(Error::NotSupported { what, detail, .. }) => {
            let why = format!("{what}: {}", detail.unwrap_or_default());
            assert!(why.contains("no kprobe PMU"), "{why}");
            if !kprobes_configured_out() {
                panic!("the kprobe PMU is missing but CONFIG_KPROBES is not off: {why}");
            }
            common::report(
                "SKIP",
                prog,
                &format!(
                    "this kernel is built without CONFIG_KPROBES ({why}); the kernel matrix runs it"
                ),
            );
            None
        }
        Err(e) => panic!("attaching {prog}: {e}"),
        Ok(link) => Some(link),
    }
}

#[test]
fn kprobe() {
    require_arena!();
    let obj = load("on_kprobe");
    let Some(link) = attach_kprobe(&obj, "on_kprobe") else {
        return;
    };
    open_n(4);
    assert_eq!(arena_u64(&obj, "kprobe_hits"), 4);
    assert_eq!(link.info().unwrap().link_type, LinkType::PERF_EVENT);
    drop(link);
    open_n(4);
    assert_eq!(arena_u64(&obj, "kprobe_hits"), 4);
}

#[test]
fn kretprobe_sees_the_return_value() {
    require_arena!();
    let obj = load("on_kretprobe");
    let Some(link) = attach_kprobe(&obj, "on_kretprobe") else {
        return;
    };
    assert_eq!(link.target().unwrap().kind(), "kretprobe");
    open_n(3);
    assert_eq!(arena_u64(&obj, "kretprobe_hits"), 3);
    if cfg!(target_arch = "x86_64") {
        let ret = obj.arena_global::<i64>("kretprobe_ret").unwrap();
        assert_eq!(obj.arena().unwrap().read(ret).unwrap(), 0, "allowed");
    }
    drop(link);
    open_n(3);
    assert_eq!(arena_u64(&obj, "kretprobe_hits"), 3);
}

#[test]
fn pinned_link_outlives_its_fd() {
    require_arena!();
    let fs = common::Bpffs::new("attach-pin");
    let obj = load("on_raw_tp");
    let link = obj.attach("on_raw_tp").unwrap();
    let pin = fs.0.join("raw_tp_link");
    link.pin(&pin).unwrap();
    let id = link.info().unwrap().id;
    drop(link);
    getppid_n(2);
    assert_eq!(
        arena_u64(&obj, "raw_tp_hits"),
        2,
        "the pin keeps it attached"
    );
    let again = Link::open_pinned(&pin).unwrap();
    assert_eq!(again.info().unwrap().id, id);
    assert!(again.target().is_none());
    let by_id = Link::from_id(id).unwrap();
    assert_eq!(by_id.info().unwrap().link_type, LinkType::RAW_TRACEPOINT);
    std::fs::remove_file(&pin).unwrap();
    drop(again);
    drop(by_id);
    getppid_n(2);
    assert_eq!(
        arena_u64(&obj, "raw_tp_hits"),
        2,
        "detached with its last fd"
    );
    // Only links are adopted as links.
    let map_fd = obj
        .map("arena")
        .map(|m| m.fd().try_clone_to_owned().unwrap());
    if let Some(fd) = map_fd {
        let e = Link::from_fd(fd).unwrap_err();
        assert!(e.to_string().contains("not a BPF link"), "{e}");
    }
    let prog_fd = obj
        .program("on_raw_tp")
        .unwrap()
        .fd()
        .try_clone_to_owned()
        .unwrap();
    let e = Link::from_fd(prog_fd).unwrap_err();
    assert!(e.to_string().contains("is a BPF program"), "{e}");
    let file = std::fs::File::open("/dev/null").unwrap();
    let e = Link::from_fd(file.into()).unwrap_err();
    assert!(e.to_string().contains("is not a BPF object"), "{e}");
    // Tracing links have no BPF_LINK_DETACH.
    let l = obj.attach("on_raw_tp").unwrap();
    assert_eq!(
        l.detach().unwrap_err().errno(),
        Some(bpf_arena::Errno::EOPNOTSUPP)
    );
}

#[test]
fn wrong_targets_are_refused_with_their_names() {
    require_arena!();
    let obj = load("on_raw_tp");
    let e = obj
        .attach_to(
            "on_raw_tp",
            &AttachTarget::RawTracepoint {
                name: "no_such_tracepoint_here".into(),
            },
        )
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("BPF_RAW_TRACEPOINT_OPEN") && text.contains("on_raw_tp"),
        "{text}"
    );
    assert!(text.contains("no_such_tracepoint_here"), "{text}");
    let tp = load("on_tracepoint");
    let e = tp
        .attach_to(
            "on_tracepoint",
            &AttachTarget::Tracepoint {
                category: "syscalls".into(),
                name: "no_such_event".into(),
            },
        )
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("no tracepoint 'syscalls/no_such_event'"),
        "{e}"
    );
    let e = tp
        .attach_to(
            "on_tracepoint",
            &AttachTarget::Tracepoint {
                category: "..".into(),
                name: "x".into(),
            },
        )
        .unwrap_err();
    assert!(e.to_string().contains("is not CATEGORY/NAME"), "{e}");
    let e = obj.attach("no_such_program").unwrap_err();
    assert!(e.to_string().contains("no_such_program"), "{e}");
    let up = load("on_uprobe");
    let e = up
        .attach_to(
            "on_uprobe",
            &AttachTarget::Uprobe {
                path: "/proc/self/exe".into(),
                function: Some("no_such_function_anywhere".into()),
                offset: 0,
                retprobe: false,
                pid: None,
            },
        )
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("no function 'no_such_function_anywhere'"),
        "{e}"
    );
}
