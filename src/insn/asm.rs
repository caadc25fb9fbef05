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
/// `dst = value ll`: a plain 64-bit constant (two slots).
pub const fn ld_imm64(dst: Reg, value: i64) -> Instruction {
    Instruction::ld_imm64(dst, value)
}
/// `dst = map_fd ll` ([`Imm64::MapFd`]).
pub const fn ld_map_fd(dst: Reg, fd: i32) -> Instruction {
    Instruction::LdImm64 {
        dst,
        value: Imm64::MapFd(fd),
    }
}
/// `dst = &map_value[off] ll` ([`Imm64::MapValue`]). For an arena the
/// register receives the user address `user_vm_start + off` as a scalar.
pub const fn ld_map_value(dst: Reg, fd: i32, off: i32) -> Instruction {
    Instruction::LdImm64 {
        dst,
        value: Imm64::MapValue { fd, off },
    }
}
/// `dst = fd_array[idx] ll` ([`Imm64::MapIdx`]).
pub const fn ld_map_idx(dst: Reg, idx: i32) -> Instruction {
    Instruction::LdImm64 {
        dst,
        value: Imm64::MapIdx(idx),
    }
}
/// `dst = &fd_array[idx] value[off] ll` ([`Imm64::MapIdxValue`]).
pub const fn ld_map_idx_value(dst: Reg, idx: i32, off: i32) -> Instruction {
    Instruction::LdImm64 {
        dst,
        value: Imm64::MapIdxValue { idx, off },
    }
}
/// `dst = &ksym ll` ([`Imm64::BtfId`]): the kernel variable with BTF id
/// `id` in the BTF named by `module` (0: vmlinux).
pub const fn ld_btf_id(dst: Reg, id: u32, module: i32) -> Instruction {
    Instruction::LdImm64 {
        dst,
        value: Imm64::BtfId {
            id: id as i32,
            module,
        },
    }
}
/// `dst = func ll` ([`Imm64::Func`]): the address of the subprogram `rel`
/// instructions after the second slot.
pub const fn ld_func(dst: Reg, rel: i32) -> Instruction {
    Instruction::LdImm64 {
        dst,
        value: Imm64::Func(rel),
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
/// `call` of the bpf-to-bpf function `rel` instructions after this one
/// ([`Call::Local`]).
pub const fn call_local(rel: i32) -> Instruction {
    Instruction::Call(Call::Local(rel))
}
/// `call kfunc` by vmlinux BTF id.
pub const fn call_kfunc(btf_id: u32) -> Instruction {
    call_kfunc_in(btf_id, 0)
}
/// `call kfunc` by BTF id in the module whose BTF fd is `fd_array[module]`
/// (0: vmlinux).
pub const fn call_kfunc_in(btf_id: u32, module: i16) -> Instruction {
    Instruction::Call(Call::Kfunc {
        btf_id: btf_id as i32,
        module,
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
