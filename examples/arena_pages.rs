//! Arena pages from user space, a linked list from BPF.
//!
//! 1. creates a 16-page arena at a crate-chosen 4 GiB-aligned address;
//! 2. allocates one page from user space (`bpf_arena_alloc_pages` through
//!    the crate's built-in SYSCALL program);
//! 3. loads a hand-assembled SYSCALL program that writes a linked list of
//!    nodes into that page, storing `next` pointers in user form exactly as
//!    clang does for `__arena` pointers;
//! 4. walks the list from user space through `ArenaPtr<Node>`;
//! 5. frees the page and shows that its contents are gone.
//!
//! Run as root (or with CAP_BPF + CAP_PERFMON) on Linux 6.9+:
//! `cargo run --example arena_pages`

use bpf_arena::arena::{ArenaBuilder, ArenaPtr, Plain};
use bpf_arena::insn::{AluOp, Instruction, Reg, Size, asm, encode};
use bpf_arena::prog::{ProgramBuilder, ProgramFlags, ProgramType};
use std::os::fd::AsRawFd;

/// The node layout both sides agree on: `struct node { struct node __arena *next; u64 value; }`.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct Node {
    next: ArenaPtr<Node>,
    value: u64,
}
// SAFETY: two 8-byte fields, no padding, any bits valid.
unsafe impl Plain for Node {}

const NODES: i16 = 8;
const NODE_SIZE: i16 = std::mem::size_of::<Node>() as i16;

/// `ctx = { u64 page }`: builds `NODES` nodes at `page`, node i holding i*i,
/// and returns the number of nodes written.
fn list_builder(arena_fd: i32) -> Vec<bpf_arena::insn::Insn> {
    let (r0, r1, r2, r3, r4) = (Reg::R0, Reg::R1, Reg::R2, Reg::R3, Reg::R4);
    let mut v = vec![
        // Name the arena so the program is associated with it.
        asm::ld_map_fd(r4, arena_fd),
        asm::load(Size::DW, r2, r1, 0), // r2 = page (user form)
        asm::cast_kern(r3, r2),         // r3 = page (kernel form, PTR_TO_ARENA)
    ];
    for i in 0..NODES {
        let off = i * NODE_SIZE;
        v.push(asm::store_imm(
            Size::DW,
            r3,
            off + 8,
            (i as i32) * (i as i32),
        ));
        if i + 1 < NODES {
            v.push(asm::mov64(r4, r2));
            v.push(asm::alu64_imm(AluOp::Add, r4, ((i + 1) * NODE_SIZE) as i32));
            v.push(asm::store(Size::DW, r3, off, r4));
        } else {
            v.push(asm::store_imm(Size::DW, r3, off, 0));
        }
    }
    v.push(asm::mov64_imm(r0, NODES as i32));
    v.push(Instruction::Exit);
    encode(&v)
}

/// Runs the demo; any error is printed as one line (`arena_pages: …`), never as a
/// `Debug` dump, so a kernel without arenas reads "needs Linux 6.9".
fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("arena_pages: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let arena = ArenaBuilder::new(16).name("pages_demo").create()?;
    println!(
        "created arena: {} pages at {:#x} (map_extra {:#x}, 4 GiB-aligned: {})",
        arena.pages(),
        arena.base(),
        arena.map_extra(),
        arena.base() % (1 << 32) == 0
    );

    let page = arena
        .alloc_pages::<u8>(None, 1)?
        .ok_or("bpf_arena_alloc_pages returned NULL")?;
    println!(
        "allocated 1 page from user space at {:#x} (arena offset {:#x}, kernel form {:#x})",
        page.addr(),
        arena.offset_of(page).expect("inside"),
        page.kernel32()
    );

    let insns = list_builder(arena.as_raw_fd());
    let prog = ProgramBuilder::new(ProgramType::SYSCALL, &insns)
        .name("build_list")
        .flags(ProgramFlags::SLEEPABLE)
        .load()?;
    let mut ctx = page.addr().to_le_bytes();
    let written = prog.run_syscall(&mut ctx)?;
    println!(
        "BPF program '{}' ({} instructions) wrote {written} nodes",
        prog.name(),
        insns.len()
    );

    let mut sum = 0u64;
    let mut count = 0;
    let mut cur: ArenaPtr<Node> = page.cast();
    let mut values = Vec::new();
    while !cur.is_null() {
        let node = arena.read(cur)?;
        values.push(node.value);
        sum += node.value;
        count += 1;
        cur = node.next;
    }
    println!("walked the list from user space: {count} nodes, values {values:?}, sum {sum}");
    let expected: u64 = (0..NODES as u64).map(|i| i * i).sum();
    assert_eq!((count, sum), (NODES as usize, expected), "list mismatch");

    arena.free_pages(page, 1)?;
    let after = arena.read(page.cast::<Node>())?;
    println!(
        "freed the page; reading it again faults in a fresh zero page: next {:#x}, value {}",
        after.next.addr(),
        after.value
    );
    assert_eq!(
        (after.next.addr(), after.value),
        (0, 0),
        "freed page still has data"
    );
    println!("ok");
    Ok(())
}
