use super::*;

/// Every encoding round-trips through decode → encode, byte for byte.
#[test]
fn exhaustive_single_slot_roundtrip() {
    let mut accepted = 0;
    for code in 0..=255u8 {
        for regs in [0x00u8, 0x21, 0x1a, 0xa1, 0xb1, 0x10, 0x01, 0x20] {
            for off in [0i16, 1, 8, 16, 32, -8, 7] {
                for imm in [
                    0i32, 1, 16, 32, 64, 0x10000, 0x100, 0x110, 0xe1, 0xf1, 0x41, -1,
                ] {
                    let i = Insn {
                        code,
                        regs,
                        off,
                        imm,
                    };
                    let slots = [i, Insn::default()];
                    if let Ok(ins) = Instruction::decode_at(&slots, 0) {
                        accepted += 1;
                        let enc = ins.encode();
                        assert_eq!(
                            &enc[..ins.slots()],
                            &slots[..ins.slots()],
                            "{ins:?} from {i:?}"
                        );
                    }
                }
            }
        }
    }
    assert!(accepted > 1000, "{accepted}");
}

#[test]
fn rejects_what_the_verifier_rejects() {
    let bad = |code, regs, off, imm| {
        let s = [
            Insn {
                code,
                regs,
                off,
                imm,
            },
            Insn::default(),
        ];
        Instruction::decode_at(&s, 0).unwrap_err().reason
    };
    assert!(bad(0xbf, 0x21, 1, 2).contains("address space 1 and 0"));
    assert!(bad(0xbc, 0x21, 1, 1).contains("mov"));
    assert!(bad(0xd3, 0x21, 0, 0).contains("atomic operand size"));
    assert!(
        bad(0xb7, 0x2b, 0, 0).contains("register") || bad(0xb7, 0x0b, 0, 0).contains("register")
    );
    assert!(bad(0x99, 0, 0, 0).contains("BPF_LDX mode") || bad(0x99, 0, 0, 0).contains("invalid"));
    let s = [Insn::new(0x18, 1, 0, 0, 0)];
    assert!(
        Instruction::decode_at(&s, 0)
            .unwrap_err()
            .reason
            .contains("second slot")
    );
}

#[test]
fn text_forms() {
    use asm::*;
    let t = |i: Instruction| i.to_string();
    assert_eq!(
        t(cast_kern(Reg::R1, Reg::R1)),
        "r1 = addr_space_cast(r1, 0x0, 0x1)"
    );
    assert_eq!(
        t(cast_user(Reg::R1, Reg::R2)),
        "r1 = addr_space_cast(r2, 0x1, 0x0)"
    );
    assert_eq!(t(mov64_imm(Reg::R1, -7)), "r1 = -0x7");
    assert_eq!(
        t(load(Size::DW, Reg::R0, Reg::R10, -8)),
        "r0 = *(u64 *)(r10 - 0x8)"
    );
    assert_eq!(
        t(load(Size::W, Reg::R0, Reg::R1, 4)),
        "w0 = *(u32 *)(r1 + 0x4)"
    );
    assert_eq!(t(Instruction::ld_imm64(Reg::R1, -1)), "r1 = -0x1 ll");
    assert_eq!(
        t(Instruction::ld_imm64(Reg::R1, 0x1_2345_6789)),
        "r1 = 0x123456789 ll"
    );
    assert_eq!(
        t(ld_map_value(Reg::R1, 5, 16)),
        "r1 = map_value(5, 0x10) ll"
    );
    assert_eq!(t(call_kfunc(63525)), "call kfunc(0xf825)");
    assert_eq!(
        t(atomic(Size::W, AtomicOp::Cmpxchg, Reg::R1, 0, Reg::R2)),
        "w0 = cmpxchg32_32(r1 + 0x0, w0, w2)"
    );
    assert_eq!(
        t(Instruction::Atomic {
            size: Size::B,
            op: AtomicOp::LoadAcquire,
            dst: Reg::R0,
            src: Reg::R1,
            off: 0
        }),
        "w0 = load_acquire((u8 *)(r1 + 0x0))"
    );
    assert_eq!(
        t(jump_imm(Cond::Ne, Reg::R1, 5, -1)),
        "if r1 != 0x5 goto -0x1"
    );
    let l = Listing(&encode(&[mov64_imm(Reg::R0, 0), exit()])).to_string();
    assert_eq!(l, "     0: r0 = 0x0\n     1: exit\n");
}

/// Every `src_reg` of `ld_imm64`, with zero and non-zero second `imm`:
/// what decodes encodes back to the same two slots, and what the kernel
/// rejects is an error.
#[test]
fn ld_imm64_sources() {
    for src in 0..16u8 {
        for (imm, next_imm) in [(0, 0), (7, 0), (7, 5), (-1, -1)] {
            let slots = [
                Insn::new(0x18, 3, src, 0, imm),
                Insn::new(0, 0, 0, 0, next_imm),
            ];
            match Instruction::decode_at(&slots, 0) {
                Ok(ins) => {
                    assert!(src <= pseudo::MAP_IDX_VALUE, "src {src}");
                    assert_eq!(ins.encode(), slots, "{ins:?}");
                    let Instruction::LdImm64 { dst, value } = ins else {
                        panic!("{ins:?}");
                    };
                    assert_eq!(
                        (dst, value.src(), value.imms()),
                        (Reg::R3, src, (imm, next_imm))
                    );
                }
                Err(e) => {
                    let zero_second =
                        matches!(src, pseudo::MAP_FD | pseudo::FUNC | pseudo::MAP_IDX);
                    assert!(
                        src > pseudo::MAP_IDX_VALUE || (zero_second && next_imm != 0),
                        "src {src}: {e}"
                    );
                    assert_eq!(e.index, 0);
                    if src > pseudo::MAP_IDX_VALUE {
                        assert_eq!(e.reason, "ld_imm64 uses reserved fields");
                    }
                }
            }
        }
    }
}

/// The constructors for each `ld_imm64` source and call target.
#[test]
fn pseudo_constructors() {
    use asm::*;
    let t = |i: Instruction| i.to_string();
    assert_eq!(t(ld_imm64(Reg::R2, 1 << 40)), "r2 = 0x10000000000 ll");
    assert_eq!(t(ld_map_fd(Reg::R1, 5)), "r1 = map_fd(5) ll");
    assert_eq!(t(ld_map_idx(Reg::R1, 2)), "r1 = map_idx(2) ll");
    assert_eq!(
        t(ld_map_idx_value(Reg::R1, 2, -8)),
        "r1 = map_idx_value(2, -0x8) ll"
    );
    assert_eq!(t(ld_btf_id(Reg::R1, 77, 4)), "r1 = btf_id(77, 4) ll");
    assert_eq!(t(ld_func(Reg::R1, 3)), "r1 = func(+0x3) ll");
    assert_eq!(t(call_local(-4)), "call -0x4");
    assert_eq!(t(call_kfunc_in(9, 2)), "call kfunc(0x9, fd_array[2])");
    let slots = encode(&[
        ld_btf_id(Reg::R1, 77, 4),
        call_kfunc_in(9, 2),
        call_local(1),
    ]);
    assert_eq!(
        slots,
        [
            Insn::new(0x18, 1, pseudo::BTF_ID, 0, 77),
            Insn::new(0, 0, 0, 0, 4),
            Insn::new(0x85, 0, pseudo::KFUNC_CALL, 2, 9),
            Insn::new(0x85, 0, pseudo::CALL, 0, 1),
        ]
    );
    let back: Vec<Instruction> = decode(&slots)
        .unwrap()
        .into_iter()
        .map(|(_, i)| i)
        .collect();
    assert_eq!(
        back,
        [
            Instruction::LdImm64 {
                dst: Reg::R1,
                value: Imm64::BtfId { id: 77, module: 4 }
            },
            Instruction::Call(Call::Kfunc {
                btf_id: 9,
                module: 2
            }),
            Instruction::Call(Call::Local(1)),
        ]
    );
}
