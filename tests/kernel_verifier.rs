//! How programs use arenas (`bpf_arena::guide::kernel`, "Programs" and
//! "Instructions in arena memory"): association,
//! `ld_imm64` direct values, both casts, kfunc requirements, atomics,
//! `fd_array` binding — each outcome, errno and verifier message asserted
//! against the live kernel. All programs are hand-assembled with `insn`.

mod common;

use bpf_arena::arena::{Arena, ArenaFlags};
use bpf_arena::features::{Feature, Support, probe};
use bpf_arena::insn::{AtomicOp, Insn, Instruction, Reg, Size, asm};
use bpf_arena::prog::{ProgramBuilder, ProgramType};
use bpf_arena::sys::Errno;
use common::*;
use std::os::fd::{AsFd, AsRawFd};

const R0: Reg = Reg::R0;
const R1: Reg = Reg::R1;
const R2: Reg = Reg::R2;
const R3: Reg = Reg::R3;

fn sock(prog: &[Instruction]) -> bpf_arena::Result<bpf_arena::prog::Program> {
    load(ProgramType::SOCKET_FILTER, prog)
}

/// `r1 = &arena[off]` (user address, a scalar) then `body`, then `r0 = 0; exit`.
fn with_value(a: &Arena, off: i32, body: &[Instruction]) -> Vec<Instruction> {
    let mut v = vec![asm::ld_map_value(R1, a.as_raw_fd(), off)];
    v.extend_from_slice(body);
    v.extend([asm::mov64_imm(R0, 0), asm::exit()]);
    v
}

/// Runs a SYSCALL program whose ctx is `[u64; 2]`; returns the ctx.
fn run_ctx2(prog: &[Instruction], a: u64) -> [u64; 2] {
    let mut ctx = [0u8; 16];
    ctx[..8].copy_from_slice(&a.to_le_bytes());
    run_syscall(prog, &mut ctx);
    [
        u64::from_le_bytes(ctx[..8].try_into().unwrap()),
        u64::from_le_bytes(ctx[8..].try_into().unwrap()),
    ]
}

/// (Programs) direct-value offset checks.
#[test]
fn direct_value_offsets() {
    require_arena!();
    let a = arena(4);
    let size = a.len() as i32;
    assert!(sock(&with_value(&a, size - 8, &[])).is_ok(), "inside");
    assert_rejected(
        sock(&with_value(&a, size + 4096, &[])),
        Errno::ERANGE,
        "invalid access to map value pointer, value_size=0 off=",
    );
    // 512 MiB: before 7.0 the verifier caps every direct-value offset
    // below 512 MiB (EINVAL, seen on 6.12.117 and 6.18); from 7.0 the cap
    // is gone and an offset past the arena is ERANGE (seen on 7.3.4).
    let far = sock(&with_value(&a, 1 << 29, &[]));
    if probe(Feature::FullRangeDirectValue).is_yes() {
        assert_rejected(far, Errno::ERANGE, "invalid access to map value pointer");
        // Inside a 1 GiB arena, 512 MiB is an ordinary offset now.
        let big = arena((1 << 30) / page() as u32);
        let r = sock(&with_value(&big, 1 << 29, &[]));
        assert!(r.is_ok(), "512 MiB into a 1 GiB arena: {:?}", r.err());
    } else {
        assert_rejected(
            far,
            Errno::EINVAL,
            "direct value offset of 536870912 is not allowed",
        );
    }
    // One past the end: accepted on 6.18.44; rejected (ERANGE) by 2026 trees.
    match sock(&with_value(&a, size, &[])) {
        Ok(_) => {}
        r => assert_rejected(r, Errno::ERANGE, "invalid access to map value pointer"),
    }
}

/// (Programs) the kernel substitutes `user_vm_start + off`, typed as a scalar.
#[test]
fn map_value_is_the_user_address_as_a_scalar() {
    require_arena!();
    let a = arena(4);
    let prog = [
        asm::mov64(R3, R1),
        asm::ld_map_value(R2, a.as_raw_fd(), 0x1010),
        asm::store(Size::DW, R3, 0, R2),
        asm::mov64_imm(R0, 0),
        asm::exit(),
    ];
    assert_eq!(run_ctx2(&prog, 0)[0], a.base() + 0x1010);
    assert_rejected(
        sock(&with_value(&a, 0, &[asm::load(Size::DW, R0, R1, 0)])),
        Errno::EACCES,
        "R1 invalid mem access 'scalar'",
    );
}

/// (Programs) cast_kern makes PTR_TO_ARENA; stores and loads reach the page user
/// space sees; on an unallocated page a load gives 0 and a store is dropped.
#[test]
fn cast_kern_accesses_and_fault_handling() {
    require_arena!();
    let a = arena(4);
    let p = a.ptr_at::<u64>(2 * page() + 8).unwrap();
    a.write(p, 0).unwrap(); // fault the page in
    let prog = |off: i32| {
        with_value(
            &a,
            off,
            &[
                asm::cast_kern(R1, R1),
                asm::store_imm(Size::DW, R1, 0, 0x1234),
                asm::load(Size::DW, R2, R1, 0),
            ],
        )
    };
    assert!(sock(&prog(0)).is_ok());
    let store_load = [
        asm::ld_map_value(R1, a.as_raw_fd(), (2 * page() + 8) as i32),
        asm::cast_kern(R1, R1),
        asm::store_imm(Size::DW, R1, 0, 0x1234),
        asm::load(Size::DW, R0, R1, 0),
        asm::exit(),
    ];
    assert_eq!(
        run_syscall(&store_load, &mut []),
        0x1234,
        "BPF reads its own store"
    );
    assert_eq!(a.read(p).unwrap(), 0x1234, "user space sees it");
    let unallocated = [
        asm::ld_map_value(R1, a.as_raw_fd(), (3 * page()) as i32),
        asm::cast_kern(R1, R1),
        asm::store_imm(Size::DW, R1, 0, 0x55),
        asm::load(Size::DW, R0, R1, 0),
        asm::exit(),
    ];
    assert_eq!(
        run_syscall(&unallocated, &mut []),
        0,
        "faulting load reads 0, store dropped"
    );
    assert_eq!(
        a.read(a.ptr_at::<u64>(3 * page()).unwrap()).unwrap(),
        0,
        "user sees no store"
    );
}

/// cast_user of ctx[0] (a 32-bit kernel-form value) into ctx[1].
fn cast_user_prog(a: &Arena) -> Vec<Instruction> {
    vec![
        asm::ld_map_fd(R3, a.as_raw_fd()),
        asm::load(Size::DW, R2, R1, 0),
        asm::cast_user(R2, R2),
        asm::store(Size::DW, R1, 8, R2),
        asm::mov64_imm(R0, 0),
        asm::exit(),
    ]
}

/// (Programs) cast_user rebuilds the user address, maps low32 == 0 to NULL; with
/// NO_USER_CONV it is a 32-bit move.
#[test]
fn cast_user_null_and_no_user_conv() {
    require_arena!();
    let a = arena(4);
    assert_eq!(
        run_ctx2(&cast_user_prog(&a), 0)[1],
        0,
        "low 32 bits 0 -> NULL"
    );
    assert_eq!(run_ctx2(&cast_user_prog(&a), 0x1008)[1], a.base() + 0x1008);
    assert_eq!(
        run_ctx2(&cast_user_prog(&a), (0xabcd << 32) | 0x1008)[1],
        a.base() + 0x1008,
        "upper half replaced"
    );
    require!(Feature::NoUserConv);
    let n = arena_flags(4, ArenaFlags::NO_USER_CONV);
    assert_eq!(
        run_ctx2(&cast_user_prog(&n), (0xabcd << 32) | 0x1008)[1],
        0x1008,
        "NO_USER_CONV keeps the low half"
    );
}

/// (Programs, Instructions in arena memory) malformed casts and casts without an arena.
#[test]
fn cast_encoding_errors() {
    require_arena!();
    let a = arena(1);
    let raw = |i: Insn| {
        let mut v = bpf_arena::insn::encode(&with_value(&a, 0, &[]));
        v.insert(2, i);
        ProgramBuilder::new(ProgramType::SOCKET_FILTER, &v).load()
    };
    assert_rejected(
        raw(Insn::new(0xbf, 1, 1, 1, 2)),
        Errno::EINVAL,
        "addr_space_cast insn can only convert between address space 1 and 0",
    );
    assert_rejected(
        raw(Insn::new(0xbc, 1, 1, 1, 1)),
        Errno::EINVAL,
        "BPF_MOV uses reserved fields",
    );
    assert_rejected(
        sock(&[
            asm::mov64_imm(R1, 0),
            asm::cast_kern(R1, R1),
            asm::mov64_imm(R0, 0),
            asm::exit(),
        ]),
        Errno::EINVAL,
        "addr_space_cast insn can only be used in a program that has an associated arena",
    );
}

/// (Programs) an `ld_imm64` of a map fd with a non-zero second `imm` is
/// not an instruction (`insn::Imm64` decoding rejects it the same way).
#[test]
fn map_fd_load_with_a_second_imm() {
    require_arena!();
    let a = arena(1);
    let mut v = bpf_arena::insn::encode(&[
        asm::ld_map_fd(R1, a.as_raw_fd()),
        asm::mov64_imm(R0, 0),
        asm::exit(),
    ]);
    assert!(
        ProgramBuilder::new(ProgramType::SOCKET_FILTER, &v)
            .load()
            .is_ok()
    );
    v[1].imm = 5;
    assert!(bpf_arena::insn::decode(&v).is_err());
    assert_rejected(
        ProgramBuilder::new(ProgramType::SOCKET_FILTER, &v).load(),
        Errno::EINVAL,
        "unrecognized bpf_ld_imm64 insn",
    );
}

/// (Programs) one arena per program, by ld_imm64 and by fd_array.
#[test]
fn only_one_arena_per_program() {
    require_arena!();
    let (a, b) = (arena(1), arena(1));
    let two = [
        asm::ld_map_fd(R1, a.as_raw_fd()),
        asm::ld_map_fd(R2, b.as_raw_fd()),
        asm::mov64_imm(R0, 0),
        asm::exit(),
    ];
    assert_rejected(sock(&two), Errno::EBUSY, "Only one arena per program");
    require!(Feature::FdArrayBinding);
    let fds = [a.fd()];
    let r = load_with(
        ProgramType::SOCKET_FILTER,
        &with_value(&b, 0, &[]),
        &fds,
        true,
    );
    assert_rejected(r, Errno::EBUSY, "Only one arena per program");
}

/// (Programs) an arena that is neither mapped nor given map_extra cannot be used.
#[test]
fn arena_needs_an_address_before_load() {
    require_arena!();
    let fd = raw_arena(1, 0, 0).unwrap();
    let prog = [
        asm::ld_map_fd(R1, fd.as_raw_fd()),
        asm::mov64_imm(R0, 0),
        asm::exit(),
    ];
    assert_rejected(
        sock(&prog),
        Errno::EINVAL,
        "arena's user address must be set via map_extra or mmap()",
    );
}

/// (Programs) any program type may reference an arena.
#[test]
fn any_program_type_can_use_an_arena() {
    require_arena!();
    let a = arena(1);
    let prog = with_value(
        &a,
        8,
        &[asm::cast_kern(R1, R1), asm::load(Size::DW, R2, R1, 0)],
    );
    for t in [
        ProgramType::SOCKET_FILTER,
        ProgramType::SCHED_CLS,
        ProgramType::TRACEPOINT,
        ProgramType::XDP,
        ProgramType::CGROUP_SKB,
        ProgramType::RAW_TRACEPOINT,
        ProgramType::SOCK_OPS,
        ProgramType::SYSCALL,
    ] {
        if let Err(e) = load(t, &prog) {
            panic!("{t:?}: {e}");
        }
    }
}

/// (Programs, Instructions in arena memory) the arena kfuncs need a sleepable program up to 6.18; SYSCALL
/// programs must be sleepable.
#[test]
fn kfunc_sleepable_requirement() {
    require_arena!();
    let a = arena(2);
    let id = kfunc("bpf_arena_alloc_pages");
    let prog = [
        asm::ld_map_fd(R1, a.as_raw_fd()),
        asm::mov64_imm(R2, 0),
        asm::mov64_imm(R3, 1),
        asm::mov64_imm(Reg::R4, -1),
        asm::mov64_imm(Reg::R5, 0),
        asm::call_kfunc(id),
        asm::mov64_imm(R0, 0),
        asm::exit(),
    ];
    let r = load(ProgramType::RAW_TRACEPOINT, &prog);
    match probe(Feature::KfuncsNonSleepable) {
        // 7.0+: callable from any context.
        Support::Yes => assert!(r.is_ok(), "{:?}", r.err()),
        // Before 7.0 (seen on 6.12.117, 6.18.15 and 6.18.44).
        _ => assert_rejected(
            r,
            Errno::EACCES,
            "program must be sleepable to call sleepable kfunc bpf_arena_alloc_pages",
        ),
    }
    let insns = bpf_arena::insn::encode(&prog);
    let r = ProgramBuilder::new(ProgramType::SYSCALL, &insns).load();
    assert_rejected(r, Errno::EINVAL, "Syscall programs can only be sleepable");
    assert!(
        load(ProgramType::SYSCALL, &prog).is_ok(),
        "sleepable SYSCALL program"
    );
}

/// (Programs) a kfunc call with an fd_array index but no fd_array.
#[test]
fn kfunc_module_index_without_fd_array() {
    require_arena!();
    let id = kfunc("bpf_arena_free_pages") as i32;
    let call = Instruction::Call(bpf_arena::insn::Call::Kfunc {
        btf_id: id,
        module: 1,
    });
    let r = load(
        ProgramType::SYSCALL,
        &[call, asm::mov64_imm(R0, 0), asm::exit()],
    );
    assert_rejected(
        r,
        Errno::EPROTO,
        "kfunc offset > 0 without fd_array is invalid",
    );
}

/// Atomic `op` of `size` on arena offset 8 with operand ctx[0]; the old value
/// (for fetch forms) is written to ctx[1].
fn atomic_prog(a: &Arena, size: Size, op: AtomicOp) -> Vec<Instruction> {
    vec![
        asm::mov64(Reg::R6, R1),
        asm::load(Size::DW, R2, Reg::R6, 0),
        asm::mov64(R0, R2),
        asm::ld_map_value(R1, a.as_raw_fd(), 8),
        asm::cast_kern(R1, R1),
        asm::atomic(size, op, R1, 0, R2),
        asm::store(Size::DW, Reg::R6, 8, R2),
        asm::mov64_imm(R0, 0),
        asm::exit(),
    ]
}

/// (Instructions in arena memory) atomics in arena memory: what the x86-64 JIT accepts, and results.
#[test]
fn atomics_in_arena() {
    require_arena!();
    require!(Feature::ArenaAtomics);
    let a = arena(1);
    let word = a.ptr_at::<u64>(8).unwrap();
    a.write(word, 40).unwrap();
    run_ctx2(
        &atomic_prog(&a, Size::DW, AtomicOp::Add { fetch: false }),
        2,
    );
    assert_eq!(a.read(word).unwrap(), 42, "add");
    let old = run_ctx2(&atomic_prog(&a, Size::DW, AtomicOp::Add { fetch: true }), 8)[1];
    assert_eq!((old, a.read(word).unwrap()), (42, 50), "fetch_add");
    let old = run_ctx2(&atomic_prog(&a, Size::DW, AtomicOp::Xchg), 7)[1];
    assert_eq!((old, a.read(word).unwrap()), (50, 7), "xchg");
    a.write(word.cast::<u32>().cast(), 7).unwrap();
    run_ctx2(
        &atomic_prog(&a, Size::W, AtomicOp::Or { fetch: false }),
        0x100,
    );
    assert_eq!(a.read(word).unwrap(), 0x107, "32-bit or");
    // cmpxchg: r0 holds the expected value (ctx[0] here), so it swaps in ctx[0].
    a.write(word, 9).unwrap();
    run_ctx2(&atomic_prog(&a, Size::DW, AtomicOp::Cmpxchg), 9);
    assert_eq!(
        a.read(word).unwrap(),
        9,
        "cmpxchg with matching expected value"
    );
    // The JIT refuses fetch forms of and/or/xor in arena memory.
    for op in [
        AtomicOp::And { fetch: true },
        AtomicOp::Or { fetch: true },
        AtomicOp::Xor { fetch: true },
    ] {
        let r = load(ProgramType::SYSCALL, &atomic_prog(&a, Size::DW, op));
        assert_rejected(r, Errno::EACCES, "arena is not allowed");
    }
}

/// (Instructions in arena memory) 8-bit atomics in arena memory. A read-modify-write of 8 bits is
/// refused everywhere, but how depends on the kernel: before 6.15 the
/// verifier does not know 8- and 16-bit `BPF_ATOMIC` at all (seen on
/// 6.12.117: "unknown opcode d3"); from 6.15, which brought load-acquire
/// in those sizes, it names the size (seen on 6.18 and 7.3). An 8-bit
/// load-acquire then works in arena memory.
#[test]
fn byte_atomics_in_arena() {
    require_arena!();
    require!(Feature::ArenaAtomics);
    let a = arena(1);
    let word = a.ptr_at::<u64>(8).unwrap();
    let r = load(
        ProgramType::SYSCALL,
        &atomic_prog(&a, Size::B, AtomicOp::Add { fetch: false }),
    );
    let expected = if probe(Feature::LoadAcquire).is_yes() {
        "invalid atomic operand size"
    } else {
        "unknown opcode d3"
    };
    assert_rejected(r, Errno::EINVAL, expected);
    require!(Feature::LoadAcquire);
    let acq = [
        asm::ld_map_value(R1, a.as_raw_fd(), 8),
        asm::cast_kern(R1, R1),
        Instruction::Atomic {
            size: Size::B,
            op: AtomicOp::LoadAcquire,
            dst: R0,
            src: R1,
            off: 0,
        },
        asm::exit(),
    ];
    a.write(word, 0x1_23).unwrap();
    assert_eq!(run_syscall(&acq, &mut []), 0x23, "8-bit load-acquire");
}

/// (Instructions in arena memory) sign-extending loads from arena memory (6.18 on x86-64/arm64).
#[test]
fn sign_extending_arena_loads() {
    require_arena!();
    let a = arena(1);
    a.write(a.ptr_at::<i32>(16).unwrap(), -5).unwrap();
    let prog = [
        asm::ld_map_value(R1, a.as_raw_fd(), 16),
        asm::cast_kern(R1, R1),
        Instruction::Load {
            size: Size::W,
            sign_extend: true,
            dst: R2,
            src: R1,
            off: 0,
        },
        asm::mov64(R0, R2),
        asm::alu64_imm(bpf_arena::insn::AluOp::Rsh, R0, 32),
        asm::exit(),
    ];
    match probe(Feature::ArenaSignExtendingLoads) {
        Support::Yes => assert_eq!(
            run_syscall(&prog, &mut []),
            0xffff_ffff,
            "upper half is the sign"
        ),
        _ => assert_rejected(
            load(ProgramType::SYSCALL, &prog),
            Errno::EOPNOTSUPP,
            "sign extending loads from arena are not supported yet",
        ),
    }
}

/// (Programs) fd_array + fd_array_cnt binds an arena to a program that never
/// names it — enough for a program that receives arena pointers.
#[test]
fn fd_array_binds_the_arena() {
    require_arena!();
    require!(Feature::FdArrayBinding);
    let a = arena(2);
    let p = a.ptr_at::<u64>(page() + 24).unwrap();
    a.write(p, 0).unwrap();
    // ctx[0] is a user-form arena pointer; write 0x77 through it.
    let prog = [
        asm::load(Size::DW, R2, R1, 0),
        asm::cast_kern(R2, R2),
        asm::store_imm(Size::DW, R2, 0, 0x77),
        asm::mov64_imm(R0, 0),
        asm::exit(),
    ];
    let fds = [a.as_fd()];
    let r = load_with(ProgramType::SYSCALL, &prog, &[], false);
    assert_rejected(
        r,
        Errno::EINVAL,
        "can only be used in a program that has an associated arena",
    );
    let prog = load_with(ProgramType::SYSCALL, &prog, &fds, true).expect("bound through fd_array");
    let mut ctx = p.addr().to_le_bytes();
    prog.run_syscall(&mut ctx).unwrap();
    assert_eq!(a.read(p).unwrap(), 0x77);
}

/// (Programs) an arena program needs CAP_BPF and CAP_PERFMON (checked in a child
/// that keeps CAP_BPF only).
#[test]
fn arena_programs_need_cap_perfmon() {
    require_arena!();
    if is_child("cap_bpf_only") {
        return;
    }
    run_as_child(
        "cap_bpf_only_child",
        "cap_bpf_only",
        "-all,+bpf",
        "cap_bpf_only: arena created; program EPERM",
    );
}

/// Runs only inside `arena_programs_need_cap_perfmon`'s child.
#[test]
fn cap_bpf_only_child() {
    if !is_child("cap_bpf_only") {
        return;
    }
    let a = arena(1);
    let r = sock(&with_value(&a, 0, &[]));
    assert_rejected(
        r,
        Errno::EPERM,
        "CAP_BPF and CAP_PERFMON are required to use arena",
    );
    println!("cap_bpf_only: arena created; program EPERM");
}

/// A rejected program's error keeps the whole log and shows its tail.
#[test]
fn verifier_error_carries_the_log() {
    require_arena!();
    let a = arena(1);
    let e = match sock(&with_value(&a, 0, &[asm::load(Size::DW, R0, R1, 0)])) {
        Err(bpf_arena::Error::Verifier(v)) => v,
        r => panic!("{r:?}"),
    };
    assert!(e.log().contains("0: (18) r1 = "), "{}", e.log());
    let shown = e.to_string();
    assert!(
        shown.contains("the verifier rejected program 'conformance': EACCES"),
        "{shown}"
    );
    assert!(shown.contains("R1 invalid mem access 'scalar'"), "{shown}");
}
