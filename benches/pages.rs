//! pages: how fast arena pages get populated, N pages at a time:
//! (a) user-space first touch (one write per page: a fault allocates it),
//! (b) one built-in `alloc_pages` of N pages,
//! (c) N built-in single-page `alloc_pages` calls (one BPF_PROG_TEST_RUN each),
//! (d) BPF calling bpf_arena_alloc_pages N times inside one program run;
//! each beside a `memset` of the same number of bytes into fresh anonymous
//! memory (page faults included) as the physical reference. Every
//! measurement uses a fresh arena; the built-in programs are loaded before
//! the clock starts.

mod common;

use bpf_arena::arena::{Arena, ArenaBuilder};
use bpf_arena::insn::{AluOp, Cond, Reg, asm, encode};
use bpf_arena::prog::{ProgramBuilder, ProgramFlags, ProgramType};
use common::*;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

fn fresh(n: u32) -> Arena {
    let a = ArenaBuilder::new(n + 2).create().unwrap();
    // Load the built-in programs and guard the NULL page before timing.
    let p = a.alloc_pages::<u8>(None, 1).unwrap().unwrap();
    a.free_pages(p, 1).unwrap();
    a
}

fn memset(n: u32) -> Duration {
    let len = n as usize * 4096;
    let base = bpf_arena::sys::reserve_address_space(len).unwrap();
    // SAFETY: our own fresh reservation, made writable for the test.
    unsafe { libc::mprotect(base as *mut _, len, libc::PROT_READ | libc::PROT_WRITE) };
    let t = Instant::now();
    // SAFETY: `len` writable bytes at `base`.
    unsafe { std::ptr::write_bytes(base as *mut u8, 1, len) };
    let d = t.elapsed();
    // SAFETY: our own mapping.
    unsafe { bpf_arena::sys::munmap(base, len).unwrap() };
    d
}

/// A SYSCALL program calling bpf_arena_alloc_pages(arena, NULL, 1) `n` times.
fn bpf_loop(a: &Arena, n: u32) -> bpf_arena::prog::Program {
    let id = bpf_arena::kfunc::kfunc_id("bpf_arena_alloc_pages")
        .unwrap()
        .unwrap();
    let insns = encode(&[
        asm::mov64_imm(Reg::R6, n as i32),
        asm::ld_map_fd(Reg::R1, a.as_raw_fd()),
        asm::mov64_imm(Reg::R2, 0),
        asm::mov64_imm(Reg::R3, 1),
        asm::mov64_imm(Reg::R4, -1),
        asm::mov64_imm(Reg::R5, 0),
        asm::call_kfunc(id),
        asm::alu64_imm(AluOp::Sub, Reg::R6, 1),
        asm::jump_imm(Cond::Ne, Reg::R6, 0, -9),
        asm::mov64_imm(Reg::R0, 0),
        asm::exit(),
    ]);
    ProgramBuilder::new(ProgramType::SYSCALL, &insns)
        .flags(ProgramFlags::SLEEPABLE)
        .name("alloc_loop")
        .load()
        .unwrap()
}

fn main() {
    println!("pages — {}", machine());
    let n: u32 = pick(4096, 256);
    let iters = pick(9, 2);
    let mut touch = Vec::new();
    let mut one = Vec::new();
    let mut single = Vec::new();
    let mut in_bpf = Vec::new();
    let mut reference = Vec::new();
    for _ in 0..iters {
        reference.push(memset(n).as_secs_f64());
        let a = fresh(n);
        let first = a.ptr_at::<u8>(2 * 4096).unwrap();
        let t = Instant::now();
        for i in 0..n as u64 {
            a.write(first.byte_add(i * 4096), 1).unwrap();
        }
        touch.push(t.elapsed().as_secs_f64());
        drop(a);

        let a = fresh(n);
        let t = Instant::now();
        let got = a.alloc_pages::<u8>(None, n).unwrap();
        one.push(t.elapsed().as_secs_f64());
        assert!(got.is_some(), "{n} pages in one call");
        drop(a);

        let a = fresh(n);
        let t = Instant::now();
        for _ in 0..n {
            a.alloc_pages::<u8>(None, 1).unwrap().unwrap();
        }
        single.push(t.elapsed().as_secs_f64());
        drop(a);

        let a = fresh(n);
        let p = bpf_loop(&a, n);
        let t = Instant::now();
        p.run_syscall(&mut []).unwrap();
        in_bpf.push(t.elapsed().as_secs_f64());
        // N + 2 pages: the guarded NULL page, the N BPF took, one spare.
        assert!(
            a.alloc_pages::<u8>(None, 1).unwrap().is_some(),
            "one spare page"
        );
        assert!(
            a.alloc_pages::<u8>(None, 1).unwrap().is_none(),
            "BPF took the other N"
        );
    }
    let r = median(&mut reference);
    let row = |name: &str, v: &mut Vec<f64>| {
        let s = median(v);
        vec![
            name.to_string(),
            format!("{:.0}", n as f64 / s),
            f(s * 1e9 / n as f64),
            ratio(s, r),
        ]
    };
    table(
        &format!("pages: populating {n} pages (16 MiB at full size), median of {iters}"),
        &["how", "pages/s", "ns/page", "time vs memset"],
        &[
            row("user-space first touch (fault per page)", &mut touch),
            row("one built-in alloc_pages(N)", &mut one),
            row("N built-in alloc_pages(1) calls", &mut single),
            row("BPF loop: N kfunc calls in one run", &mut in_bpf),
            row(
                "memset of N*4096 bytes, fresh anonymous memory",
                &mut reference,
            ),
        ],
    );
}
