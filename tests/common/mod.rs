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

/// The running kernel's release as `(major, minor, patch)`.
///
/// Distribution releases do not always carry the stable patch level:
/// Debian's old-style `6.1.0-56-cloud-amd64` has an ABI number there (the
/// real one is in `/proc/version`: `… Debian 6.1.192-2 …`), Ubuntu's
/// `6.8.0-45-generic` too (the real one ends `/proc/version_signature`).
/// An unreadable or unparsable release fails the test: every skip would
/// otherwise look justified.
pub fn kernel_version() -> (u32, u32, u32) {
    static VERSION: std::sync::OnceLock<(u32, u32, u32)> = std::sync::OnceLock::new();
    *VERSION.get_or_init(|| {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let release = kernel_release();
        version_from(
            &release,
            &read("/proc/version"),
            &read("/proc/version_signature"),
        )
        .unwrap_or_else(|| panic!("cannot parse the kernel release {release:?}"))
    })
}

/// [`kernel_version`] from the texts of `osrelease`, `/proc/version` and
/// `/proc/version_signature` (empty when absent).
pub fn version_from(release: &str, version: &str, signature: &str) -> Option<(u32, u32, u32)> {
    let v = parse_version(release)?;
    if v.2 != 0 {
        return Some(v);
    }
    let candidates = version
        .split("Debian ")
        .skip(1)
        .chain(signature.split_whitespace().last())
        .filter_map(parse_version);
    Some(
        candidates
            .filter(|d| (d.0, d.1) == (v.0, v.1))
            .max()
            .unwrap_or(v),
    )
}

/// `uname -r`.
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// `"6.18.15+deb13-cloud-amd64"` → `(6, 18, 15)`; `"6.9"` → `(6, 9, 0)`;
/// `"6.1.192-2"` → `(6, 1, 192)`.
pub fn parse_version(s: &str) -> Option<(u32, u32, u32)> {
    let mut parts = s.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    // A patch level only where a '.' follows the minor number.
    let rest = s.splitn(3, '.').nth(2);
    let patch = rest
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    Some((major, minor, patch))
}

/// Whether the running kernel is at least release `since` (`"6.14"`).
pub fn kernel_at_least(since: &str) -> bool {
    kernel_version() >= parse_version(since).expect("a release like 6.14")
}

/// The case a `harness = false` binary is running (see [`set_case`]).
static CASE: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

/// Names the case a `harness = false` binary runs now, for [`test_name`].
pub fn set_case(name: &str) {
    *CASE.lock().unwrap_or_else(|e| e.into_inner()) = name.to_string();
}

/// The name of the running test: libtest names each test's thread after
/// it; a `harness = false` binary names it with [`set_case`].
pub fn test_name() -> String {
    let case = CASE.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if !case.is_empty() {
        return case;
    }
    std::thread::current()
        .name()
        .map_or_else(|| "main".into(), str::to_string)
}

/// Records an outcome other than pass or fail for the kernel matrix: one
/// line `KIND<TAB>test<TAB>text` appended to the file `BPF_ARENA_REPORT`
/// names (when set), and one loud line on stderr.
pub fn report(kind: &str, test: &str, text: &str) {
    eprintln!("{kind} {test}: {text}");
    if let Some(path) = std::env::var_os("BPF_ARENA_REPORT") {
        use std::io::Write;
        let line = format!("{kind}\t{test}\t{}\n", text.replace(['\t', '\n'], " "));
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
        {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

/// Whether `f` is supported. When it is not, the test is skipped — if the
/// skip is justified:
///
/// - the probe said "no" and this kernel is older than the release that
///   brought `f`: a justified skip, allowed in strict mode too. Where the
///   crate has an API for `f`, it is first asserted to refuse with
///   [`Error::NotSupported`] naming that release (on 6.1 every arena test
///   ends in "arenas need Linux 6.9");
/// - the probe said "no" on a kernel at or above that release: the test
///   fails (the feature should be there: a broken probe or kernel build);
/// - the probe could not tell (no privileges, JIT off): a loud skip, and
///   a failure under `BPF_ARENA_STRICT=1`.
pub fn supported(f: Feature, test: &str) -> bool {
    let test = if test.is_empty() {
        test_name()
    } else {
        test.to_string()
    };
    match gate(f) {
        Gate::Run => true,
        Gate::Skip(why) => {
            report("SKIP", &test, &why);
            false
        }
        Gate::Fail(why) => panic!("{test}: {why}"),
    }
}

/// What a test that needs a feature does on this kernel.
pub enum Gate {
    /// The feature is there.
    Run,
    /// A skip, with its reason (justified, or allowed without strict mode).
    Skip(String),
    /// A skip this kernel does not justify.
    Fail(String),
}

/// The rule behind [`supported`], without panicking (for `harness = false`
/// binaries).
pub fn gate(f: Feature) -> Gate {
    match probe(f) {
        Support::Yes => Gate::Run,
        Support::No { since } if !kernel_at_least(since) => {
            if let Err(e) = refused_cleanly(f, since) {
                return Gate::Fail(e);
            }
            Gate::Skip(format!(
                "{} needs Linux {since} (this kernel: {})",
                f.name(),
                kernel_release()
            ))
        }
        Support::No { since } => Gate::Fail(format!(
            "the probe says this kernel ({}) lacks {}, which Linux {since} brought",
            kernel_release(),
            f.name()
        )),
        s if strict() => Gate::Fail(format!(
            "{} is {s} (BPF_ARENA_STRICT=1 forbids a skip this kernel does not justify)",
            f.name()
        )),
        s => Gate::Skip(format!("{} is {s}", f.name())),
    }
}

/// Checks the error output of a program that failed on this kernel: one
/// line, starting with `prefix`, naming a Linux release newer than this
/// kernel (`… needs Linux 6.17 or later …`). Returns that line.
pub fn assert_one_line_naming_a_newer_release(prefix: &str, stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "more than one line:\n{stderr}");
    assert!(lines[0].starts_with(prefix), "{stderr}");
    let since = lines[0]
        .split("needs Linux ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .unwrap_or_else(|| panic!("failed without naming a release: {stderr}"));
    assert!(
        !kernel_at_least(since),
        "says it needs Linux {since}, but this kernel is {}: {stderr}",
        kernel_release()
    );
    lines[0].to_string()
}

/// For a feature the crate has an API for, checks that the API refuses
/// with [`Error::NotSupported`] naming release `since` (not an errno dump).
fn refused_cleanly(f: Feature, since: &str) -> std::result::Result<(), String> {
    let flags = match f {
        Feature::SegvOnFault => ArenaFlags::SEGV_ON_FAULT,
        Feature::NoUserConv => ArenaFlags::NO_USER_CONV,
        _ => ArenaFlags::empty(),
    };
    let r: Result<()> = match f {
        Feature::ArenaMap | Feature::SegvOnFault | Feature::NoUserConv => {
            ArenaBuilder::new(1).flags(flags).create().map(drop)
        }
        Feature::KfuncReservePages if probe(Feature::ArenaMap).is_yes() => {
            let a = arena(2);
            a.reserve_pages(a.ptr_at::<u8>(0).expect("page 0"), 1)
        }
        _ => return Ok(()),
    };
    match r {
        Err(Error::NotSupported { since: s, .. }) if s == since => Ok(()),
        other => Err(format!(
            "{} is missing, but the crate answered {other:?} instead of NotSupported (Linux {since})",
            f.name()
        )),
    }
}

/// `bpf_arena_alloc_pages` passed a NUMA node id on to the page allocator
/// unchecked: an id past the last node oopses the kernel (seen on Debian's
/// 6.18.15: "unable to handle page fault for address 0x1f48" in
/// `__alloc_pages_noprof`, and the process then hangs in `arena_vm_close`).
/// Broken since arenas came (6.9); CVE-2026-53031.
pub const NODE_ID_OOPS: KernelBug = KernelBug {
    what: "bpf_arena_alloc_pages with an invalid NUMA node id oopses the kernel",
    broken: &[("6.9", "6.12.91"), ("6.13", "6.18.33"), ("6.19", "7.0.10")],
    fix: "2845989f2eba \"bpf: Validate node_id in arena_alloc_pages()\", mainline 7.1",
};

/// The arena's mapping had no `may_split` and was copied on fork: a partial
/// `munmap` (or `mremap`) splits it and succeeds, and a `fork()` child
/// inherits it — both leave two VMAs sharing one arena record, freed twice
/// in `arena_vm_close`. Broken since 6.9; CVE-2026-45837. Seen on Debian's
/// 6.18.15. A case that observes it on such a kernel must close every piece
/// of the mapping before anything else touches the arena: a
/// `bpf_arena_free_pages` in between would walk the freed VMA.
pub const ARENA_VMA_SHARED: KernelBug = KernelBug {
    what: "the arena mapping can be split by a partial munmap/mremap and is inherited by fork children",
    broken: &[("6.9", "6.12.88"), ("6.13", "6.18.30"), ("6.19", "7.0.7")],
    fix: "4fddde2a732d \"bpf: Fix use-after-free in arena_vm_close on fork\", mainline 7.1",
};

/// A kernel bug the suite knows: the releases that have it, and where it
/// was fixed.
pub struct KernelBug {
    /// What goes wrong, in a few words.
    pub what: &'static str,
    /// Affected ranges: `(first bad release, first fixed release)`, each
    /// like `"6.18"` or `"6.18.16"`; the fixed one is in the same line.
    pub broken: &'static [(&'static str, &'static str)],
    /// The fix, for the report (`"a1b2c3d4e5f6 (\"bpf: ...\")"`).
    pub fix: &'static str,
}

impl KernelBug {
    /// Whether the running kernel is in one of the broken ranges.
    pub fn present(&self) -> bool {
        let v = kernel_version();
        self.broken.iter().any(|(from, fixed)| {
            v >= parse_version(from).expect("release") && v < parse_version(fixed).expect("release")
        })
    }

    /// The releases that fixed it, for messages (`6.12.91, 6.18.33`).
    pub fn fixed_in(&self) -> String {
        let fixed: Vec<&str> = self.broken.iter().map(|r| r.1).collect();
        fixed.join(", ")
    }

    /// For a bug that crashes the kernel: `true` (and a `KBUG` report)
    /// when this kernel has it, so the caller returns without running
    /// the case.
    pub fn avoid(&self) -> bool {
        if self.present() {
            report(
                "KBUG",
                &test_name(),
                &self.message("not run: it crashes this kernel"),
            );
            return true;
        }
        false
    }

    /// For a bug that only breaks a rule: checks `ok`; when it is false on a
    /// kernel known to have the bug, reports `KBUG` and returns `false` (the
    /// caller stops there); elsewhere a false `ok` fails with `msg`.
    pub fn check(&self, ok: bool, msg: &str) -> bool {
        if ok || self.explains(msg) {
            return ok;
        }
        panic!("{msg}");
    }

    /// Whether this bug explains the broken rule `symptom` here: `true`
    /// (and a `KBUG` report) on a kernel known to have it, else `false` —
    /// then the symptom is a failure of its own.
    pub fn explains(&self, symptom: &str) -> bool {
        if self.present() {
            report("KBUG", &test_name(), &self.message(symptom));
            return true;
        }
        false
    }

    fn message(&self, what: &str) -> String {
        format!(
            "kernel bug, fixed in {}: {} ({what}; this kernel: {}; fix {})",
            self.fixed_in(),
            self.what,
            kernel_release(),
            self.fix
        )
    }
}

/// Skips the calling test unless the kernel has arenas.
#[macro_export]
macro_rules! require {
    ($($f:expr),+) => {
        $(if !common::supported($f, "") { return; })+
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
    rerun(test, role, wrapper, &[])
}

/// Re-runs this test binary's test `test` alone, with `BPF_ARENA_CHILD=role`
/// and the variables `env` set: its exit status and everything it printed.
pub fn rerun_with_env(
    test: &str,
    role: &str,
    env: &[(&str, &str)],
) -> (std::process::ExitStatus, String) {
    rerun(test, role, &[], env)
}

fn rerun(
    test: &str,
    role: &str,
    wrapper: &[String],
    env: &[(&str, &str)],
) -> (std::process::ExitStatus, String) {
    let exe = std::env::current_exe().unwrap().into_os_string();
    let mut argv: Vec<std::ffi::OsString> = wrapper.iter().map(Into::into).collect();
    argv.push(exe);
    let out = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, role)
        .envs(env.iter().copied())
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

/// Runs `f`, which maps an arena at an address this test freed a moment
/// ago, again while another test holds that address: tests run as threads
/// of one process, and an arena created meanwhile may take the free 4 GiB
/// slot until its test ends. Tries for up to 5 s; any other outcome is
/// returned at once.
pub fn while_address_taken<T>(mut f: impl FnMut() -> Result<T>) -> Result<T> {
    for _ in 0..500 {
        match f() {
            Err(e) if e.to_string().contains("already mapped in this process") => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            r => return r,
        }
    }
    f()
}
