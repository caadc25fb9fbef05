//! test_run: the round trip of an empty SYSCALL program through the crate
//! (`Program::run_syscall`) against a bare `libc::syscall(SYS_bpf,
//! BPF_PROG_TEST_RUN, ...)` on the same program. Target: ratio <= 1.02.

mod common;

use bpf_arena::insn::{Reg, asm, encode};
use bpf_arena::prog::{ProgramBuilder, ProgramFlags, ProgramType};
use bpf_arena::sys::TestRunAttr;
use common::*;
use std::os::fd::AsRawFd;
use std::time::Instant;

fn main() {
    println!("test_run — {}", machine());
    let insns = encode(&[asm::mov64_imm(Reg::R0, 0), asm::exit()]);
    let prog = ProgramBuilder::new(ProgramType::SYSCALL, &insns)
        .flags(ProgramFlags::SLEEPABLE)
        .name("empty")
        .load()
        .unwrap();
    let fd = prog.as_raw_fd() as u32;
    let batch = pick(2_000, 200);
    let rounds = pick(41, 5);
    let crate_run = || {
        let t = Instant::now();
        for _ in 0..batch {
            std::hint::black_box(prog.run_syscall(&mut []).unwrap());
        }
        ns_per(t.elapsed(), batch)
    };
    let raw_run = || {
        let t = Instant::now();
        for _ in 0..batch {
            let mut attr = TestRunAttr {
                prog_fd: fd,
                ..Default::default()
            };
            // SAFETY: a valid BPF_PROG_TEST_RUN attr without pointers.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_bpf,
                    10,
                    &mut attr as *mut TestRunAttr,
                    std::mem::size_of::<TestRunAttr>() as u32,
                )
            };
            assert_eq!(r, 0);
            std::hint::black_box(attr.retval);
        }
        ns_per(t.elapsed(), batch)
    };
    for _ in 0..3 {
        crate_run();
        raw_run();
    }
    // Interleaved rounds: both see the same machine state.
    let (mut c, mut r) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        c.push(crate_run());
        r.push(raw_run());
    }
    let (cm, rm) = (median(&mut c), median(&mut r));
    table(
        &format!(
            "test_run: empty SYSCALL program, ns per round trip (median of {rounds} interleaved batches of {batch}); target ratio <= 1.02"
        ),
        &["how", "ns/run", "ratio crate/raw"],
        &[
            vec![
                "bpf_arena Program::run_syscall".into(),
                f(cm),
                ratio(cm, rm),
            ],
            vec![
                "bare libc::syscall(SYS_bpf, BPF_PROG_TEST_RUN)".into(),
                f(rm),
                "1.00x".into(),
            ],
        ],
    );
}
