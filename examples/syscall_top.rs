//! `top` for system calls: which processes make which system calls, counted
//! by BPF into a hash table that lives in an arena.
//!
//! Why the arena matters here. A BPF program on `tp_btf/sys_enter` counts
//! every system call of the machine under (process id, syscall number).
//! With a BPF hash map, user space would read that table back with two
//! system calls per entry (`BPF_MAP_GET_NEXT_KEY`, then
//! `BPF_MAP_LOOKUP_ELEM`; or copy it out in batches with
//! `BPF_MAP_LOOKUP_BATCH`), thousands of them every refresh, each one a
//! system call this very program counts. Here the table is an `__arena`
//! global of `bpf-asm/syscall_top.bpf.c`: memory mapped into this process
//! at the same addresses BPF uses, so user space walks the live table with
//! plain loads while BPF keeps counting on every CPU — no system call per
//! entry, tens of microseconds for the whole table (`cargo bench --bench
//! events` measures both ways).
//!
//! The table is open addressing with linear probing over a fixed 4096
//! slots (an event that finds no slot within 64 counts into `overflow`).
//! BPF claims a free slot with a compare-and-swap on its key and counts
//! with an atomic add, so concurrent CPUs never corrupt it (arena atomics:
//! Linux 6.10). This example walks all of its slots every second and
//! prints the ten entries that grew most in that second.
//!
//! So that the table is never empty, a thread of this process calls
//! `getpid` in bursts; at the end the example checks that BPF counted every
//! one of those calls, and exits non-zero if not.
//!
//! `struct slot`, the table's type (`[slot; 4096]`) and the typed handle
//! come from the object's BTF: `bpf-arena gen bpf-asm/syscall_top.bpf.o`
//! wrote `tests/codegen/syscall_top.rs`.
//!
//! `cargo run --release --example syscall_top -- 2` (seconds; default 3).
//! Needs root (or `CAP_BPF` + `CAP_PERFMON`) and Linux 6.10.

use bpf_arena::arena::{Arena, ArenaPtr};
use bpf_arena::features::{Feature, Support, probe};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

include!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/codegen/syscall_top.rs"
));
use syscall_top::slot;

/// Runs the demo; any error is printed as one line (`syscall_top: …`).
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("syscall_top: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: u32 = match std::env::args().nth(1) {
        Some(a) => a
            .parse()
            .ok()
            .filter(|s| (1..=3600).contains(s))
            .ok_or_else(|| format!("seconds (1 to 3600) expected, got {a:?}"))?,
        None => 3,
    };
    require(Feature::ArenaMap, "arenas")?;
    require(Feature::ArenaAtomics, "atomics on arena memory")?;

    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/bpf-asm/syscall_top.bpf.o");
    let obj = syscall_top::Loader::from_file(path)?.load()?;
    let arena = obj.arena()?;
    // The table: the __arena global `table`, a `[slot; 4096]`.
    let table = obj.table_ptr()?;
    let slots = obj.table()?.len();

    // Where it attaches comes from its section (tp_btf/sys_enter).
    let link = obj.attach_syscall_top()?;
    println!(
        "syscall_top: counting every system call for {seconds} s into a {slots}-slot table in the arena at {:#x}",
        table.addr()
    );

    // The load: getpid in bursts of 1000, about a fifth of a CPU.
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let load = {
        let (stop, calls) = (stop.clone(), calls.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..1000 {
                    // SAFETY: getpid takes no arguments and cannot fail.
                    // (libc::syscall, so no libc can answer from a cache.)
                    unsafe { libc::syscall(libc::SYS_getpid) };
                }
                calls.fetch_add(1000, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };

    let mut before: HashMap<(u32, u32), u64> = HashMap::new();
    for second in 1..=seconds {
        std::thread::sleep(Duration::from_secs(1));
        let t = Instant::now();
        let entries = walk(arena, table)?;
        let took = t.elapsed();
        let mut rows: Vec<(slot, u64)> = entries
            .iter()
            .map(|s| {
                (
                    *s,
                    s.count - before.get(&(s.pid, s.nr)).copied().unwrap_or(0),
                )
            })
            .collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.count.cmp(&a.0.count)));
        println!(
            "\n[{second} s] {} entries, {} events that found the table full; {slots} slots walked in {took:.1?}",
            entries.len(),
            obj.overflow()?
        );
        println!(
            "  {:>7}  {:<16}  {:>4} {:<16}  {:>10}  {:>10}",
            "PID", "COMM", "NR", "SYSCALL", "LAST 1 s", "TOTAL"
        );
        for (s, delta) in rows.iter().take(10) {
            println!(
                "  {:>7}  {:<16}  {:>4} {:<16}  {:>10}  {:>10}",
                s.pid,
                comm(s.pid),
                s.nr,
                syscall_name(s.nr),
                delta,
                s.count
            );
        }
        before = entries.iter().map(|s| ((s.pid, s.nr), s.count)).collect();
    }

    stop.store(true, Ordering::Relaxed);
    load.join().map_err(|_| "the load thread panicked")?;
    drop(link); // detached: the table stops growing
    let made = calls.load(Ordering::Relaxed);
    let me = std::process::id();
    let getpid = libc::SYS_getpid as u32;
    let counted = walk(arena, table)?
        .iter()
        .find(|s| (s.pid, s.nr) == (me, getpid))
        .map_or(0, |s| s.count);
    // Every call of the load thread was made while attached. The kernel
    // skips an event that comes while the program is already running on
    // that CPU (an interrupt, or a task preempting it), and counts it as a
    // recursion miss of the program (any process's event): those may be
    // missing. A few more getpid calls of this process are tolerated.
    let misses = obj.syscall_top()?.info()?.recursion_misses;
    if made == 0 || counted.saturating_add(misses) < made || counted > made + 1000 {
        return Err(format!(
            "the load thread made {made} getpid calls, but the table holds {counted} for (pid {me}, syscall {getpid}), and the program missed {misses} events"
        )
        .into());
    }
    if counted >= made {
        println!("\nok: the load thread's {made} getpid calls were all counted ({counted})");
    } else {
        println!(
            "\nok: {counted} of the load thread's {made} getpid calls were counted; the kernel skipped {misses} events that came while the program was running"
        );
    }
    Ok(())
}

/// The table's used slots (a free slot has pid 0 and nr 0), read in place
/// from the arena: one relaxed load per 8 bytes, no system call. (A slot
/// claimed a moment ago may show its key with a count of 0.)
fn walk<const N: usize>(arena: &Arena, table: ArenaPtr<[slot; N]>) -> bpf_arena::Result<Vec<slot>> {
    Ok(arena
        .read(table)?
        .into_iter()
        .filter(|s| s.pid != 0)
        .collect())
}

/// The process name from `/proc/PID/comm`, or `?` once it has exited.
fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim_end().to_string())
        .unwrap_or_else(|_| "?".into())
}

/// Names for a few common system calls (numbers differ between
/// architectures: libc has this one's).
fn syscall_name(nr: u32) -> &'static str {
    const NAMES: &[(libc::c_long, &str)] = &[
        (libc::SYS_read, "read"),
        (libc::SYS_write, "write"),
        (libc::SYS_openat, "openat"),
        (libc::SYS_close, "close"),
        (libc::SYS_fstat, "fstat"),
        (libc::SYS_newfstatat, "newfstatat"),
        (libc::SYS_statx, "statx"),
        (libc::SYS_lseek, "lseek"),
        (libc::SYS_mmap, "mmap"),
        (libc::SYS_munmap, "munmap"),
        (libc::SYS_mprotect, "mprotect"),
        (libc::SYS_brk, "brk"),
        (libc::SYS_madvise, "madvise"),
        (libc::SYS_ioctl, "ioctl"),
        (libc::SYS_futex, "futex"),
        (libc::SYS_getpid, "getpid"),
        (libc::SYS_gettid, "gettid"),
        (libc::SYS_nanosleep, "nanosleep"),
        (libc::SYS_clock_nanosleep, "clock_nanosleep"),
        (libc::SYS_epoll_pwait, "epoll_pwait"),
        (libc::SYS_ppoll, "ppoll"),
        (libc::SYS_rt_sigprocmask, "rt_sigprocmask"),
        (libc::SYS_sched_yield, "sched_yield"),
        (libc::SYS_getrandom, "getrandom"),
        (libc::SYS_sendto, "sendto"),
        (libc::SYS_recvfrom, "recvfrom"),
        (libc::SYS_execve, "execve"),
        (libc::SYS_wait4, "wait4"),
        (libc::SYS_exit_group, "exit_group"),
    ];
    NAMES
        .iter()
        .find(|(n, _)| *n == nr as libc::c_long)
        .map_or("", |(_, name)| name)
}

/// Stops with "needs Linux X" when the probe says the kernel lacks `f`.
fn require(f: Feature, what: &str) -> Result<(), String> {
    match probe(f) {
        Support::No { since } => Err(format!(
            "{what}: not supported by this kernel, needs Linux {since} or later"
        )),
        // Yes, or cannot tell (no privileges): loading will say.
        _ => Ok(()),
    }
}
