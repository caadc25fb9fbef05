//! The typed view of one instruction.

use super::{AluOp, AtomicOp, Call, Cond, Endian, Imm64, Reg, Size, Source, Width};

/// One decoded instruction (one slot, or two for `ld_imm64`).
///
/// Decoding is strict: reserved fields must be zero exactly as the verifier
/// demands, so `decode` followed by `encode` returns the original slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Instruction {
    /// `dst op= src` (ALU or ALU64).
    Alu {
        /// 32 or 64 bits.
        width: Width,
        /// Operation.
        op: AluOp,
        /// Destination.
        dst: Reg,
        /// Second operand.
        src: Source,
    },
    /// `dst = -dst`.
    Neg {
        /// 32 or 64 bits.
        width: Width,
        /// Register.
        dst: Reg,
    },
    /// `dst = be16 dst` and friends.
    Endian {
        /// Kind.
        kind: Endian,
        /// 16, 32 or 64.
        bits: u8,
        /// Register.
        dst: Reg,
    },
    /// `dst = addr_space_cast(src, dst_as, src_as)`: arena pointer conversion.
    /// `(0, 1)` turns a user address into the 32-bit kernel form (cast_kern);
    /// `(1, 0)` rebuilds the user address (cast_user; low 32 bits 0 → NULL).
    AddrSpaceCast {
        /// Destination.
        dst: Reg,
        /// Source.
        src: Reg,
        /// Destination address space (0 kernel, 1 arena).
        dst_as: u16,
        /// Source address space.
        src_as: u16,
    },
    /// `dst = imm64 ll`: a constant, or a map, map value, ksym or function
    /// reference the kernel resolves (two slots).
    LdImm64 {
        /// Destination.
        dst: Reg,
        /// What is loaded.
        value: Imm64,
    },
    /// Legacy packet load `r0 = *(uN *)skb[imm]` (`BPF_ABS`).
    LdAbs {
        /// Access size (not DW).
        size: Size,
        /// Packet offset.
        imm: i32,
    },
    /// Legacy packet load `r0 = *(uN *)skb[src + imm]` (`BPF_IND`).
    LdInd {
        /// Access size (not DW).
        size: Size,
        /// Offset register.
        src: Reg,
        /// Added offset.
        imm: i32,
    },
    /// `dst = *(uN *)(src + off)`, or `*(sN *)` when `sign_extend` (cpu v4).
    Load {
        /// Access size.
        size: Size,
        /// Sign-extending (`BPF_MEMSX`).
        sign_extend: bool,
        /// Destination.
        dst: Reg,
        /// Base.
        src: Reg,
        /// Offset.
        off: i16,
    },
    /// `*(uN *)(dst + off) = imm`.
    StoreImm {
        /// Access size.
        size: Size,
        /// Base.
        dst: Reg,
        /// Offset.
        off: i16,
        /// Value.
        imm: i32,
    },
    /// `*(uN *)(dst + off) = src`.
    Store {
        /// Access size.
        size: Size,
        /// Base.
        dst: Reg,
        /// Value.
        src: Reg,
        /// Offset.
        off: i16,
    },
    /// An atomic on `*(dst + off)` (for `LoadAcquire`, `dst` is the loaded
    /// register and `src` the base, as in the kernel encoding).
    Atomic {
        /// W or DW (B/H only for load-acquire/store-release).
        size: Size,
        /// Operation.
        op: AtomicOp,
        /// `dst_reg` field.
        dst: Reg,
        /// `src_reg` field.
        src: Reg,
        /// Offset.
        off: i16,
    },
    /// `if dst cond src goto +off`.
    Jump {
        /// JMP (64) or JMP32 (32).
        width: Width,
        /// Condition.
        cond: Cond,
        /// Left operand.
        dst: Reg,
        /// Right operand.
        src: Source,
        /// Target, relative to the next instruction.
        off: i16,
    },
    /// `goto +off`.
    Ja {
        /// Target, relative to the next instruction.
        off: i16,
    },
    /// `gotol +imm` (JMP32 JA, cpu v4): 32-bit range.
    JaLong {
        /// Target, relative to the next instruction.
        imm: i32,
    },
    /// `may_goto +off` (Linux 6.9): loop budget check, jumps when exhausted.
    MayGoto {
        /// Target, relative to the next instruction.
        off: i16,
    },
    /// `call ...`.
    Call(Call),
    /// `callx rN`: indirect call. LLVM can emit it; the kernel rejects it.
    CallX {
        /// Register holding the target.
        reg: Reg,
    },
    /// `exit`.
    Exit,
}

impl Instruction {
    /// Number of slots this instruction takes (2 for `ld_imm64`).
    pub const fn slots(&self) -> usize {
        match self {
            Instruction::LdImm64 { .. } => 2,
            _ => 1,
        }
    }

    /// Builds `ld_imm64 dst, value` (a plain 64-bit constant).
    pub const fn ld_imm64(dst: Reg, value: i64) -> Instruction {
        Instruction::LdImm64 {
            dst,
            value: Imm64::Const(value),
        }
    }

    /// The 64-bit value of a plain `ld_imm64`.
    pub const fn imm64(imm: i32, next_imm: i32) -> i64 {
        ((next_imm as i64) << 32) | (imm as u32 as i64)
    }
}
