//! A list built in the arena by user space and summed by BPF.
//!
//! User space allocates pages (through the crate's built-in page
//! programs), writes nodes whose `next` pointers are user-form arena
//! pointers — exactly how clang stores `__arena` pointers — and points the
//! `__arena` global `head` at the first node. `sum_list` walks it in BPF.
//!
//! `cargo run --release --example user_list -- 5000`

use bpf_arena::arena::{ArenaPtr, Plain};
use bpf_arena::loader::ObjectLoader;

/// `struct node { struct node __arena *next; __u64 value; }`
#[derive(Clone, Copy)]
#[repr(C)]
struct Node {
    next: ArenaPtr<Node>,
    value: u64,
}
// SAFETY: two 8-byte fields, no padding, every bit pattern valid.
unsafe impl Plain for Node {}

/// Runs the demo; any error is printed as one line (`user_list: …`), never as a
/// `Debug` dump, so a kernel without arenas reads "needs Linux 6.9".
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("user_list: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::args()
        .nth(1)
        .map_or(Ok(5000), |a| a.parse())
        .map_err(|_| "element count expected")?;
    let per_page = 4096 / std::mem::size_of::<Node>() as u64;
    let pages = n.div_ceil(per_page).max(1);
    let mut loader = ObjectLoader::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/bpf-asm/user_list.bpf.o"
    ))?;
    loader.set_arena_pages((pages + 3) as u32)?;
    let obj = loader.load()?;
    let arena = obj.arena().ok_or("no arena")?;
    let first = arena
        .alloc_pages::<u8>(None, pages as u32)?
        .ok_or("no free pages")?;
    let mut head = ArenaPtr::<Node>::null();
    for i in 0..n {
        let node = first.cast::<Node>().add(i);
        arena.write(
            node,
            Node {
                next: head,
                value: i,
            },
        )?;
        head = node;
    }
    obj.set_global("head", head)?;
    println!(
        "user space built {n} nodes in {pages} pages from {:#x}",
        first.addr()
    );
    let count = obj.program("sum_list")?.run_syscall(&mut [])?;
    let sum: u64 = obj.global("sum")?;
    let expected = n * n.saturating_sub(1) / 2;
    println!("BPF walked {count} nodes, sum {sum} (expected {n} nodes, sum {expected})");
    if count as u64 != n || sum != expected {
        return Err("mismatch".into());
    }
    println!("ok");
    Ok(())
}
