//! Shorthand constructors for hand-assembled programs.
//!
//! ```
//! use bpf_arena::insn::{asm, Reg};
//! let prog = bpf_arena::insn::encode(&[asm::mov64_imm(Reg::R0, 42), asm::exit()]);
//! assert_eq!(prog.len(), 2);
//! ```

use super::*;

/// `dst = imm` (64-bit).
pub const fn mov64_imm(dst: Reg, imm: i32) -> Instruction {
    Instruction::Alu {
        width: Width::W64,
        op: AluOp::Mov,
        dst,
        src: Source::Imm(imm),
    }
}
/// `dst = src` (64-bit).
pub const fn mov64(dst: Reg, src: Reg) -> Instruction {
    Instruction::Alu {
        width: Width::W64,
        op: AluOp::Mov,
        dst,
        src: Source::Reg(src),
    }
}
/// `wdst = imm` (32-bit).
pub const fn mov32_imm(dst: Reg, imm: i32) -> Instruction {
    Instruction::Alu {
        width: Width::W32,
        op: AluOp::Mov,
        dst,
        src: Source::Imm(imm),
    }
}
/// 64-bit `dst op= imm`.
pub const fn alu64_imm(op: AluOp, dst: Reg, imm: i32) -> Instruction {
    Instruction::Alu {
        width: Width::W64,
        op,
        dst,
        src: Source::Imm(imm),
    }
}
/// 64-bit `dst op= src`.
pub const fn alu64(op: AluOp, dst: Reg, src: Reg) -> Instruction {
    Instruction::Alu {
        width: Width::W64,
        op,
        dst,
        src: Source::Reg(src),
    }
}
/// `dst = *(size *)(src + off)`.
pub const fn load(size: Size, dst: Reg, src: Reg, off: i16) -> Instruction {
    Instruction::Load {
        size,
        sign_extend: false,
        dst,
        src,
        off,
    }
}
/// `*(size *)(dst + off) = src`.
pub const fn store(size: Size, dst: Reg, off: i16, src: Reg) -> Instruction {
    Instruction::Store {
        size,
        dst,
        src,
        off,
    }
}
/// `*(size *)(dst + off) = imm`.
pub const fn store_imm(size: Size, dst: Reg, off: i16, imm: i32) -> Instruction {
    Instruction::StoreImm {
        size,
        dst,
        off,
        imm,
    }
}
/// `dst = addr_space_cast(src, 0, 1)`: user (arena) address → kernel form.
pub const fn cast_kern(dst: Reg, src: Reg) -> Instruction {
    Instruction::AddrSpaceCast {
        dst,
        src,
        dst_as: 0,
        src_as: 1,
    }
}
/// `dst = addr_space_cast(src, 1, 0)`: kernel form → user (arena) address.
pub const fn cast_user(dst: Reg, src: Reg) -> Instruction {
    Instruction::AddrSpaceCast {
        dst,
        src,
        dst_as: 1,
        src_as: 0,
    }
}
/// `dst = map_fd ll` (`BPF_PSEUDO_MAP_FD`).
pub const fn ld_map_fd(dst: Reg, fd: i32) -> Instruction {
    Instruction::LdImm64 {
        dst,
        pseudo: pseudo::MAP_FD,
        imm: fd,
        next_imm: 0,
    }
}
/// `dst = &map_value[off] ll` (`BPF_PSEUDO_MAP_VALUE`). For an arena the
/// register receives the user address `user_vm_start + off` as a scalar.
pub const fn ld_map_value(dst: Reg, fd: i32, off: i32) -> Instruction {
    Instruction::LdImm64 {
        dst,
        pseudo: pseudo::MAP_VALUE,
        imm: fd,
        next_imm: off,
    }
}
/// `dst = fd_array[idx] ll` (`BPF_PSEUDO_MAP_IDX`).
pub const fn ld_map_idx(dst: Reg, idx: i32) -> Instruction {
    Instruction::LdImm64 {
        dst,
        pseudo: pseudo::MAP_IDX,
        imm: idx,
        next_imm: 0,
    }
}
/// `if dst cond imm goto +off` (64-bit).
pub const fn jump_imm(cond: Cond, dst: Reg, imm: i32, off: i16) -> Instruction {
    Instruction::Jump {
        width: Width::W64,
        cond,
        dst,
        src: Source::Imm(imm),
        off,
    }
}
/// `if dst cond src goto +off` (64-bit).
pub const fn jump(cond: Cond, dst: Reg, src: Reg, off: i16) -> Instruction {
    Instruction::Jump {
        width: Width::W64,
        cond,
        dst,
        src: Source::Reg(src),
        off,
    }
}
/// `goto +off`.
pub const fn ja(off: i16) -> Instruction {
    Instruction::Ja { off }
}
/// `call helper`.
pub const fn call_helper(id: i32) -> Instruction {
    Instruction::Call(Call::Helper(id))
}
/// `call kfunc` by vmlinux BTF id.
pub const fn call_kfunc(btf_id: u32) -> Instruction {
    Instruction::Call(Call::Kfunc {
        btf_id: btf_id as i32,
        module: 0,
    })
}
/// An atomic on `*(dst + off)` with operand `src`.
pub const fn atomic(size: Size, op: AtomicOp, dst: Reg, off: i16, src: Reg) -> Instruction {
    Instruction::Atomic {
        size,
        op,
        dst,
        src,
        off,
    }
}
/// `exit`.
pub const fn exit() -> Instruction {
    Instruction::Exit
}
