//! The arena linked-list tutorial, end to end.
//!
//! Loads `bpf-asm/arena_list.bpf.o` (clang-built, libbpf-style), lets BPF
//! push N nodes onto a list in the arena, walks the list from user space
//! through the crate's typed arena pointers, compares that sum with the one
//! BPF computes, deletes the list and checks the sum is 0 again.
//!
//! The types and the handle come from the object's BTF: `bpf-arena gen
//! bpf-asm/arena_list.bpf.o` wrote `tests/codegen/arena_list.rs` (`struct
//! node` and `struct list_head` as `#[repr(C)]` types whose layout is
//! checked when they compile, and one method per global, program and map).
//!
//! `cargo run --release --example arena_list -- 1000` (default 1000; the
//! arena grows to fit, up to 4 GiB).

use bpf_arena::Program;

include!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/codegen/arena_list.rs"
));

/// Nodes per page: the BPF allocator keeps 16 bytes of each page to chain it.
const NODES_PER_PAGE: u64 = (4096 - 16) / std::mem::size_of::<arena_list::node>() as u64;

/// Runs the demo; any error is printed as one line (`arena_list: …`), never as a
/// `Debug` dump, so a kernel without arenas reads "needs Linux 6.9".
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("arena_list: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = match std::env::args().nth(1) {
        Some(a) => a
            .parse()
            .map_err(|_| format!("element count expected, got {a:?}"))?,
        None => 1000,
    };
    let max = (bpf_arena::arena::max_pages() as u64 - 3) * NODES_PER_PAGE;
    if n > max {
        return Err(format!("at most {max} elements (a 4 GiB arena)").into());
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/bpf-asm/arena_list.bpf.o");
    let mut loader = arena_list::Loader::from_file(path)?;
    // Pages for the nodes, plus the NULL page, the globals page and slack.
    let pages = n.div_ceil(NODES_PER_PAGE) + 3;
    if pages > u64::from(loader.arena_pages()) {
        loader.set_arena_pages(pages as u32)?;
    }
    loader.set_cnt(n as u32)?;
    let obj = loader.load()?;
    let arena = obj.arena()?;
    println!(
        "arena_list: {n} elements; arena of {} pages at {:#x}, __arena globals at offset {:#x}",
        arena.pages(),
        arena.base(),
        obj.inner().arena_globals_offset().unwrap_or(0)
    );

    let expected = n * n.saturating_sub(1) / 2;
    call(obj.arena_list_add()?)?;

    // Walk the list BPF built: list.first is an __arena global.
    let walk = || -> Result<(u64, u64), bpf_arena::Error> {
        let mut p = obj.list()?.first;
        let (mut count, mut sum) = (0, 0);
        while !p.is_null() {
            let node: arena_list::node = arena.read(p)?;
            count += 1;
            sum += node.value;
            p = node.next;
        }
        Ok((count, sum))
    };
    let (count, user_sum) = walk()?;
    println!(
        "sum of the list walked from user space: {user_sum} ({count} nodes; expected {expected})"
    );
    check(obj.list()?.len == n, "list.len counts the nodes")?;
    check(user_sum == expected && count == n, "user-space walk")?;

    call(obj.arena_list_sum()?)?;
    let (bpf_sum, arena_sum) = (obj.list_sum()?, obj.arena_sum()?);
    println!(
        "sum computed by BPF: {bpf_sum} (__arena global arena_sum: {arena_sum}; expected {expected})"
    );
    check(bpf_sum == expected && arena_sum == expected, "BPF sum")?;

    call(obj.arena_list_del()?)?;
    call(obj.arena_list_sum()?)?;
    let after = obj.list_sum()?;
    let (left, _) = walk()?;
    println!("sum after deletion: {after} ({left} nodes left; expected 0)");
    check(after == 0 && left == 0, "deletion")?;
    println!("ok");
    Ok(())
}

/// Runs a syscall program once; it returns 0 when it succeeded.
fn call(prog: &Program) -> Result<(), Box<dyn std::error::Error>> {
    let ret = prog.run_syscall(&mut [])?;
    if ret != 0 {
        return Err(format!("{} returned {ret}", prog.name()).into());
    }
    Ok(())
}

fn check(ok: bool, what: &str) -> Result<(), Box<dyn std::error::Error>> {
    if ok {
        Ok(())
    } else {
        Err(format!("{what}: mismatch").into())
    }
}
