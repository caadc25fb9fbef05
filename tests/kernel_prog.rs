//! `BPF_PROG_LOAD` and `BPF_PROG_TEST_RUN` plumbing: log growth on ENOSPC,
//! EAGAIN-free normal loads, the verifier log on success, and test runs with
//! data and context in and out.

mod common;

use bpf_arena::features::Feature;
use bpf_arena::insn::{self, AluOp, Reg, Size, asm, encode};
use bpf_arena::prog::{ProgramBuilder, ProgramType, TestRun};
use bpf_arena::sys::{self, Errno, ProgLoadRequest};
use common::*;

/// A program whose level-2 verifier log is long: many straight-line insns.
fn long_program() -> Vec<bpf_arena::insn::Insn> {
    let mut v = vec![asm::mov64_imm(Reg::R0, 0)];
    for i in 0..200 {
        v.push(asm::alu64_imm(AluOp::Add, Reg::R0, i));
    }
    v.push(asm::exit());
    encode(&v)
}

/// sys::prog_load grows a too-small log buffer to `log_true_size` on ENOSPC
/// and retries, ending with the whole log.
#[test]
fn log_grows_to_log_true_size() {
    require!(Feature::Jit);
    let bytes = insn::to_bytes(&long_program());
    let req = ProgLoadRequest {
        prog_type: 1,
        insns: &bytes,
        license: Some(c"GPL"),
        ..Default::default()
    };
    let mut log = vec![0u8; 128];
    let fd = sys::prog_load(&req, Some((2, &mut log))).expect("loads after growing the log");
    drop(fd);
    let text = String::from_utf8(log).unwrap();
    assert!(text.len() > 4096, "whole log kept: {} bytes", text.len());
    assert!(
        text.contains("200: (07) r0 += 199"),
        "last instruction logged"
    );
    assert!(
        text.contains("processed 202 insns"),
        "statistics at the end"
    );
}

/// A failed load is retried with a log; the error carries it. A successful
/// load with a log level keeps its log.
#[test]
fn verifier_logs_on_success_and_failure() {
    require!(Feature::Jit);
    let insns = long_program();
    let p = ProgramBuilder::new(ProgramType::SOCKET_FILTER, &insns)
        .name("logged")
        .log_level(2)
        .load()
        .unwrap();
    assert!(p.verifier_log().unwrap().contains("processed 202 insns"));
    let bad = encode(&[asm::load(Size::DW, Reg::R0, Reg::R2, 0), asm::exit()]);
    let e = ProgramBuilder::new(ProgramType::SOCKET_FILTER, &bad)
        .name("bad_prog")
        .load()
        .unwrap_err();
    assert_eq!(e.errno(), Some(Errno::EACCES));
    assert!(e.to_string().contains("R2 !read_ok"), "{e}");
    // Attributes the kernel rejects before verifying carry no log: a plain Bpf error.
    let e = ProgramBuilder::new(ProgramType(9999), &bad)
        .load()
        .unwrap_err();
    assert!(
        matches!(
            e,
            bpf_arena::Error::Bpf {
                errno: Errno::EINVAL,
                ..
            }
        ),
        "{e}"
    );
    // Long names are cut to the kernel's 15 bytes.
    let ok = encode(&[asm::mov64_imm(Reg::R0, 0), asm::exit()]);
    let p = ProgramBuilder::new(ProgramType::SOCKET_FILTER, &ok)
        .name("a_rather_long_program_name")
        .load()
        .unwrap();
    assert_eq!(p.info().unwrap().name, "a_rather_long_p");
}

/// test_run: retval, repeat and duration, data out, and a context in and out
/// (a tc program setting skb->mark).
#[test]
fn test_run_with_data_and_ctx() {
    require!(Feature::Jit);
    // r0 = skb->len; skb->mark = 7 (through a register: kernels before
    // 6.2 refuse BPF_ST into the context, seen on 6.1.192)
    let tc = encode(&[
        asm::load(Size::W, Reg::R0, Reg::R1, 0),
        asm::mov64_imm(Reg::R2, 7),
        asm::store(Size::W, Reg::R1, 8, Reg::R2),
        asm::exit(),
    ]);
    let p = ProgramBuilder::new(ProgramType::SCHED_CLS, &tc)
        .name("mark")
        .load()
        .unwrap();
    let skb_size = {
        let btf = bpf_arena::kfunc::vmlinux_btf().unwrap();
        let id = btf
            .find_by_name(bpf_arena::btf::kind::STRUCT, "__sk_buff")
            .unwrap();
        btf.header(id).unwrap().size_or_type as usize
    };
    let packet = [0xabu8; 64];
    let mut out = [0u8; 64];
    let mut ctx_in = vec![0u8; skb_size];
    let mut ctx_out = vec![0u8; skb_size];
    let r = p
        .test_run(
            TestRun::new()
                .data_in(&packet)
                .data_out(&mut out)
                .ctx_in(&mut ctx_in)
                .ctx_out(&mut ctx_out)
                .repeat(1000),
        )
        .unwrap();
    assert_eq!(r.retval, 64, "skb->len");
    assert_eq!(r.data_size_out, 64);
    assert_eq!(out, packet, "packet out");
    assert_eq!(r.ctx_size_out, skb_size);
    assert_eq!(
        u32::from_le_bytes(ctx_out[8..12].try_into().unwrap()),
        7,
        "skb->mark from ctx_out"
    );
    assert!(!r.duration.is_zero(), "the kernel reports a duration");
    // SYSCALL programs reject everything but ctx_in.
    let sys_prog = load(
        ProgramType::SYSCALL,
        &[asm::mov64_imm(Reg::R0, 3), asm::exit()],
    )
    .unwrap();
    let e = sys_prog.test_run(TestRun::new().repeat(2)).unwrap_err();
    assert_eq!(e.errno(), Some(Errno::EINVAL));
    assert_eq!(sys_prog.run_syscall(&mut []).unwrap(), 3);
}

/// The module-kfunc plumbing: kernel BTF objects are enumerable by id and
/// found by name (the fd a module kfunc call needs in fd_array), and the
/// module search answers "none" for a name no module has. (No module with
/// kfuncs is loaded on the test machine, so a module call itself is only
/// covered by the pure relocation test in loader_spec.rs.)
#[test]
fn kernel_btf_objects_by_name() {
    require!(Feature::CapSysAdmin);
    use std::os::fd::AsFd;
    let fd = bpf_arena::kfunc::kernel_btf_fd("vmlinux").unwrap();
    let (info, name) = sys::btf_info(fd.as_fd()).unwrap();
    assert_eq!((name.as_str(), info.kernel_btf), ("vmlinux", 1));
    assert!(info.btf_size > 1_000_000, "vmlinux BTF is megabytes");
    let e = bpf_arena::kfunc::kernel_btf_fd("no_such_module_xyz").unwrap_err();
    assert!(e.to_string().contains("no_such_module_xyz"), "{e}");
    assert_eq!(
        bpf_arena::kfunc::module_kfunc("bpf_kfunc_nobody_has").unwrap(),
        None
    );
}
