//! Helpers shared by the kernel conformance tests.
#![allow(dead_code)]

use bpf_arena::arena::{Arena, ArenaBuilder, ArenaFlags};
use bpf_arena::features::{Feature, Support, probe};
use bpf_arena::insn::{Insn, Instruction, encode};
use bpf_arena::prog::{Program, ProgramBuilder, ProgramFlags, ProgramType};
use bpf_arena::sys::{self, Errno};
use bpf_arena::{Error, Result};
use std::os::fd::BorrowedFd;

/// `BPF_ARENA_STRICT=1` turns every skip into a failure.
pub fn strict() -> bool {
    std::env::var("BPF_ARENA_STRICT").is_ok_and(|v| v == "1")
}

/// Whether `f` is supported; if not, prints one loud SKIP line (or panics in
/// strict mode).
pub fn supported(f: Feature, test: &str) -> bool {
    match probe(f) {
        Support::Yes => true,
        s => {
            let msg = format!("SKIP {test}: {} is {s}", f.name());
            if strict() {
                panic!("{msg} (BPF_ARENA_STRICT=1 forbids skipping)");
            }
            eprintln!("{msg}");
            false
        }
    }
}

/// Skips the calling test unless the kernel has arenas.
#[macro_export]
macro_rules! require {
    ($($f:expr),+) => {
        $(if !common::supported($f, module_path!()) { return; })+
    };
}

/// Skips the calling test unless the process may create arenas and load
/// arena programs.
#[macro_export]
macro_rules! require_arena {
    () => {
        require!(
            bpf_arena::features::Feature::ArenaMap,
            bpf_arena::features::Feature::KfuncAllocPages,
            bpf_arena::features::Feature::Jit
        );
    };
}

/// An arena of `pages` pages at a crate-chosen address.
pub fn arena(pages: u32) -> Arena {
    ArenaBuilder::new(pages).create().expect("create arena")
}

/// An arena with flags.
pub fn arena_flags(pages: u32, flags: ArenaFlags) -> Arena {
    ArenaBuilder::new(pages)
        .flags(flags)
        .create()
        .expect("create arena")
}

/// Loads a program of `t` (SYSCALL programs get `BPF_F_SLEEPABLE`).
pub fn load(t: ProgramType, prog: &[Instruction]) -> Result<Program> {
    load_with(t, prog, &[], false)
}

/// Loads with an fd_array (and optionally `fd_array_cnt`).
pub fn load_with(
    t: ProgramType,
    prog: &[Instruction],
    fds: &[BorrowedFd<'_>],
    bind: bool,
) -> Result<Program> {
    let insns: Vec<Insn> = encode(prog);
    let flags = if t == ProgramType::SYSCALL {
        ProgramFlags::SLEEPABLE
    } else {
        ProgramFlags::empty()
    };
    ProgramBuilder::new(t, &insns)
        .name("conformance")
        .flags(flags)
        .fd_array(fds)
        .bind_fd_array(bind)
        .load()
}

/// Loads a SYSCALL program and runs it with `ctx`, returning R0's low half.
pub fn run_syscall(prog: &[Instruction], ctx: &mut [u8]) -> u32 {
    load(ProgramType::SYSCALL, prog)
        .expect("load")
        .run_syscall(ctx)
        .expect("run")
}

/// Asserts a verifier rejection with `errno` and a log containing `msg`.
pub fn assert_rejected(r: Result<Program>, errno: Errno, msg: &str) {
    match r {
        Err(Error::Verifier(v)) => {
            assert_eq!(v.errno, errno, "errno; log tail: {:?}", v.tail(5));
            assert!(v.log_contains(msg), "log lacks {msg:?}: {:?}", v.tail(8));
        }
        Err(e) => panic!("expected a verifier rejection ({errno}, {msg:?}), got {e}"),
        Ok(_) => panic!("expected a verifier rejection ({errno}, {msg:?}), but the program loaded"),
    }
}

/// The kernel's errno for a failed result.
pub fn errno<T: std::fmt::Debug>(r: Result<T>) -> Errno {
    match r {
        Err(e) => e.errno().unwrap_or_else(|| panic!("no errno in {e}")),
        Ok(v) => panic!("expected failure, got {v:?}"),
    }
}

/// BTF id of a kfunc (the test fails if the kernel lacks it).
pub fn kfunc(name: &str) -> u32 {
    bpf_arena::kfunc::kfunc_id(name)
        .expect("vmlinux BTF")
        .unwrap_or_else(|| panic!("{name} not in vmlinux BTF"))
}

/// Raw `BPF_MAP_CREATE` of an arena.
pub fn raw_arena(
    pages: u32,
    flags: u32,
    map_extra: u64,
) -> std::result::Result<std::os::fd::OwnedFd, Errno> {
    sys::map_create(&sys::MapCreateAttr {
        map_type: 33,
        max_entries: pages,
        map_flags: (1 << 10) | flags,
        map_extra,
        ..Default::default()
    })
}

/// Page size.
pub fn page() -> u64 {
    sys::page_size() as u64
}

/// The variable that tells a re-run test binary which role it plays.
const CHILD_VAR: &str = "BPF_ARENA_CHILD";

/// Whether this test process is the child role `role` of [`run_as_child`]
/// (or the case `role` of [`in_fresh_process`]).
pub fn is_child(role: &str) -> bool {
    std::env::var(CHILD_VAR).as_deref() == Ok(role)
}

/// Whether this process is any re-run child.
pub fn in_case() -> bool {
    std::env::var(CHILD_VAR).is_ok()
}

/// Re-runs this test binary's test `test` alone, with `BPF_ARENA_CHILD=role`,
/// through `wrapper` (a command put before the binary, like `setpriv`, or
/// nothing): its exit status and everything it printed.
fn rerun_self(test: &str, role: &str, wrapper: &[String]) -> (std::process::ExitStatus, String) {
    let exe = std::env::current_exe().unwrap().into_os_string();
    let mut argv: Vec<std::ffi::OsString> = wrapper.iter().map(Into::into).collect();
    argv.push(exe);
    let out = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, role)
        .output()
        .unwrap_or_else(|e| panic!("re-running {test} through {argv:?}: {e}"));
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status, text)
}

/// Re-runs this test binary's test `test` as uid/gid 65534 with only the
/// capabilities `caps` (setpriv syntax, e.g. "-all" or "-all,+bpf"), with
/// `BPF_ARENA_CHILD=role`; asserts it succeeded and printed `expect`.
pub fn run_as_child(test: &str, role: &str, caps: &str, expect: &str) {
    let setpriv = [
        "setpriv".to_string(),
        format!("--inh-caps={caps}"),
        format!("--ambient-caps={caps}"),
        format!("--bounding-set={caps}"),
        "--reuid=65534".into(),
        "--regid=65534".into(),
        "--clear-groups".into(),
    ];
    let (status, text) = rerun_self(test, role, &setpriv);
    assert!(status.success(), "{text}");
    assert!(
        text.contains(expect),
        "child did not print {expect:?}:\n{text}"
    );
}

/// A private bpffs mount in a fresh temporary directory, unmounted and
/// removed on drop (pins inside it go with it).
pub struct Bpffs(pub std::path::PathBuf);

impl Bpffs {
    /// Mounts bpffs on a new directory named after `tag` and this process.
    pub fn new(tag: &str) -> Bpffs {
        let dir = std::env::temp_dir().join(format!("bpf-arena-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let st = std::process::Command::new("mount")
            .args(["-t", "bpf", "bpf"])
            .arg(&dir)
            .status()
            .expect("mount runs");
        assert!(st.success(), "mount -t bpf bpf {}", dir.display());
        Bpffs(dir)
    }

    /// A path inside the mount.
    pub fn join(&self, name: &str) -> std::path::PathBuf {
        self.0.join(name)
    }
}

impl Drop for Bpffs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Runs `body` in a fresh copy of this test binary (only the test `name`,
/// with `BPF_ARENA_CHILD=name`) and asserts it ended normally with
/// success: a signal (SIGSEGV, SIGBUS, SIGABRT from a corrupted heap) or an
/// `Err` fails the test with what happened.
pub fn in_fresh_process(name: &str, body: fn() -> std::result::Result<(), String>) {
    if is_child(name) {
        match body() {
            Ok(()) => std::process::exit(0),
            Err(e) => {
                eprintln!("case {name}: {e}");
                std::process::exit(1);
            }
        }
    }
    let (status, text) = rerun_self(name, name, &[]);
    if let Some(sig) = std::os::unix::process::ExitStatusExt::signal(&status) {
        panic!("case {name} was killed by signal {sig}:\n{text}");
    }
    assert!(status.success(), "case {name} failed:\n{text}");
}

/// The committed `bpf-asm/` object `name`.
pub fn asm_object(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("bpf-asm")
        .join(name)
}
