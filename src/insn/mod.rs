//! BPF instructions as data: raw 8-byte slots ([`Insn`]) and a decoded,
//! typed view ([`Instruction`]) that encodes back to the identical bytes.
//!
//! Pure: no system calls. The opcode byte is laid out as follows (see the
//! kernel's `Documentation/bpf/standardization/instruction-set.rst`):
//!
//! ```text
//!   ALU / ALU64 / JMP / JMP32          LD / LDX / ST / STX
//!   +--------+--------+-------+        +-------+------+-------+
//!   | op (4) | src (1)| class |        | mode  | size | class |
//!   +--------+--------+-------+        +-------+------+-------+
//!    7     4     3     2    0           7    5  4   3   2   0
//! ```
//!
//! Byte 1 holds `dst_reg` in its low nibble and `src_reg` in its high nibble
//! (little-endian hosts), then a signed 16-bit `off` and a signed 32-bit `imm`.
//! `ld_imm64` takes two slots; the second holds the high 32 bits in `imm`.
//!
//! [`Instruction`]'s `Display` prints the text `llvm-objdump-19 -d --mcpu=v4`
//! prints (`r1 = addr_space_cast(r1, 0x0, 0x1)`), extended where LLVM 19 has no
//! syntax: relocated pseudo `ld_imm64` forms, kfunc calls, and
//! load-acquire/store-release (LLVM 21 syntax).

#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod display;

pub use display::Listing;

use std::fmt;

/// Instruction classes (`code & 0x07`).
pub mod class {
    /// Non-standard loads (`ld_imm64`, legacy packet access).
    pub const LD: u8 = 0x00;
    /// Loads into a register.
    pub const LDX: u8 = 0x01;
    /// Stores of an immediate.
    pub const ST: u8 = 0x02;
    /// Stores of a register, and atomics.
    pub const STX: u8 = 0x03;
    /// 32-bit arithmetic.
    pub const ALU: u8 = 0x04;
    /// 64-bit jumps, calls, exit.
    pub const JMP: u8 = 0x05;
    /// 32-bit jumps (and `gotol`).
    pub const JMP32: u8 = 0x06;
    /// 64-bit arithmetic.
    pub const ALU64: u8 = 0x07;
}

/// `src_reg` values of `ld_imm64` (`BPF_PSEUDO_*`).
pub mod pseudo {
    /// A plain 64-bit constant.
    pub const NONE: u8 = 0;
    /// `imm` is a map fd; the register becomes `CONST_PTR_TO_MAP`.
    pub const MAP_FD: u8 = 1;
    /// `imm` is a map fd, the second `imm` an offset into its value. For an
    /// arena the kernel substitutes the user address `user_vm_start + off`.
    pub const MAP_VALUE: u8 = 2;
    /// `imm` is a BTF id of a kernel variable (ksym).
    pub const BTF_ID: u8 = 3;
    /// `imm` is an instruction offset of a callback function.
    pub const FUNC: u8 = 4;
    /// Like `MAP_FD`, with `imm` an index into `fd_array`.
    pub const MAP_IDX: u8 = 5;
    /// Like `MAP_VALUE`, with `imm` an index into `fd_array`.
    pub const MAP_IDX_VALUE: u8 = 6;
    /// `src_reg` of a call to a bpf-to-bpf function.
    pub const CALL: u8 = 1;
    /// `src_reg` of a kfunc call.
    pub const KFUNC_CALL: u8 = 2;
}

/// One 8-byte instruction slot, exactly as the kernel reads it (`struct bpf_insn`).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct Insn {
    /// Opcode.
    pub code: u8,
    /// `dst_reg` (low nibble) and `src_reg` (high nibble).
    pub regs: u8,
    /// Signed offset.
    pub off: i16,
    /// Signed immediate.
    pub imm: i32,
}

impl Insn {
    /// Builds a slot from its fields; registers are masked to 4 bits.
    pub const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            regs: (dst & 0xf) | ((src & 0xf) << 4),
            off,
            imm,
        }
    }

    /// The destination register field.
    pub const fn dst(&self) -> u8 {
        self.regs & 0xf
    }

    /// The source register field.
    pub const fn src(&self) -> u8 {
        self.regs >> 4
    }

    /// Replaces the source register field (used to set `BPF_PSEUDO_*`).
    pub fn set_src(&mut self, src: u8) {
        self.regs = (self.regs & 0xf) | ((src & 0xf) << 4);
    }

    /// Replaces the destination register field.
    pub fn set_dst(&mut self, dst: u8) {
        self.regs = (self.regs & 0xf0) | (dst & 0xf);
    }

    /// The instruction class (`code & 7`).
    pub const fn class(&self) -> u8 {
        self.code & 7
    }

    /// Whether this is the first slot of a 16-byte `ld_imm64`.
    pub const fn is_ld_imm64(&self) -> bool {
        self.code == 0x18
    }

    /// Whether this is a call (helper, bpf-to-bpf or kfunc).
    pub const fn is_call(&self) -> bool {
        self.code == 0x85
    }

    /// The slot as 8 bytes in host (little-endian) order.
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = self.regs;
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }

    /// A slot from 8 bytes in host (little-endian) order.
    pub fn from_bytes(b: [u8; 8]) -> Insn {
        Insn {
            code: b[0],
            regs: b[1],
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }
}

impl fmt::Debug for Insn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Insn {{ code: {:#04x}, dst: {}, src: {}, off: {}, imm: {} }}",
            self.code,
            self.dst(),
            self.src(),
            self.off,
            self.imm
        )
    }
}

/// Serialises slots to bytes (8 per slot), as `BPF_PROG_LOAD` wants them.
pub fn to_bytes(insns: &[Insn]) -> Vec<u8> {
    let mut v = Vec::with_capacity(insns.len().saturating_mul(8));
    for i in insns {
        v.extend_from_slice(&i.to_bytes());
    }
    v
}

/// Parses slots from bytes; the length must be a multiple of 8.
pub fn from_bytes(bytes: &[u8]) -> Result<Vec<Insn>, DecodeError> {
    if bytes.len() % 8 != 0 {
        return Err(DecodeError {
            index: bytes.len() / 8,
            insn: Insn::default(),
            reason: "trailing bytes (length not a multiple of 8)",
        });
    }
    Ok(bytes
        .chunks_exact(8)
        .filter_map(|c| c.first_chunk::<8>().copied().map(Insn::from_bytes))
        .collect())
}

/// A slot that is not an instruction the kernel accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("instruction {index} ({insn:?}): {reason}")]
pub struct DecodeError {
    /// Slot index.
    pub index: usize,
    /// The offending slot.
    pub insn: Insn,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// A register, `r0`..`r10` (`r10` is the read-only frame pointer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reg(u8);

impl Reg {
    /// Return value, and scratch.
    pub const R0: Reg = Reg(0);
    /// First argument.
    pub const R1: Reg = Reg(1);
    /// Second argument.
    pub const R2: Reg = Reg(2);
    /// Third argument.
    pub const R3: Reg = Reg(3);
    /// Fourth argument.
    pub const R4: Reg = Reg(4);
    /// Fifth argument.
    pub const R5: Reg = Reg(5);
    /// Callee-saved.
    pub const R6: Reg = Reg(6);
    /// Callee-saved.
    pub const R7: Reg = Reg(7);
    /// Callee-saved.
    pub const R8: Reg = Reg(8);
    /// Callee-saved.
    pub const R9: Reg = Reg(9);
    /// Frame pointer (read-only).
    pub const R10: Reg = Reg(10);

    /// A register by number; `None` above 10.
    pub const fn new(n: u8) -> Option<Reg> {
        if n <= 10 { Some(Reg(n)) } else { None }
    }

    /// The register number.
    pub const fn num(self) -> u8 {
        self.0
    }
}

/// Operand width of an ALU, jump or atomic instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Width {
    /// 32-bit (`wN` registers; upper half zeroed).
    W32,
    /// 64-bit (`rN` registers).
    W64,
}

/// Memory access size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Size {
    /// 1 byte (`BPF_B`).
    B,
    /// 2 bytes (`BPF_H`).
    H,
    /// 4 bytes (`BPF_W`).
    W,
    /// 8 bytes (`BPF_DW`).
    DW,
}

impl Size {
    /// Size in bytes.
    pub const fn bytes(self) -> u32 {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }

    const fn bits(self) -> u8 {
        match self {
            Size::W => 0x00,
            Size::H => 0x08,
            Size::B => 0x10,
            Size::DW => 0x18,
        }
    }

    const fn from_bits(code: u8) -> Size {
        match code & 0x18 {
            0x00 => Size::W,
            0x08 => Size::H,
            0x10 => Size::B,
            _ => Size::DW,
        }
    }
}

/// The second operand: a register or an immediate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// `BPF_X`.
    Reg(Reg),
    /// `BPF_K`.
    Imm(i32),
}

/// Arithmetic operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AluOp {
    /// `+=`
    Add,
    /// `-=`
    Sub,
    /// `*=`
    Mul,
    /// `/=` (unsigned)
    Div,
    /// `s/=` (signed, cpu v4)
    SDiv,
    /// `|=`
    Or,
    /// `&=`
    And,
    /// `<<=`
    Lsh,
    /// `>>=` (logical)
    Rsh,
    /// `%=` (unsigned)
    Mod,
    /// `s%=` (signed, cpu v4)
    SMod,
    /// `^=`
    Xor,
    /// `=`
    Mov,
    /// `= (sN)` sign-extending move from 8, 16 or 32 bits (cpu v4).
    MovSx(u8),
    /// `s>>=` (arithmetic)
    Arsh,
}

/// Byte-order operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endian {
    /// `leN`: convert to little endian (0xd4).
    ToLe,
    /// `beN`: convert to big endian (0xdc).
    ToBe,
    /// `bswapN`: unconditional swap (0xd7, cpu v4).
    Swap,
}

/// Jump conditions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cond {
    /// `==`
    Eq,
    /// `>` unsigned
    Gt,
    /// `>=` unsigned
    Ge,
    /// `&` (jump if any bit set)
    Set,
    /// `!=`
    Ne,
    /// `s>`
    SGt,
    /// `s>=`
    SGe,
    /// `<` unsigned
    Lt,
    /// `<=` unsigned
    Le,
    /// `s<`
    SLt,
    /// `s<=`
    SLe,
}

impl Cond {
    /// Each condition with its opcode bits (`code & 0xf0`) and LLVM symbol.
    const TABLE: [(Cond, u8, &'static str); 11] = [
        (Cond::Eq, 0x10, "=="),
        (Cond::Gt, 0x20, ">"),
        (Cond::Ge, 0x30, ">="),
        (Cond::Set, 0x40, "&"),
        (Cond::Ne, 0x50, "!="),
        (Cond::SGt, 0x60, "s>"),
        (Cond::SGe, 0x70, "s>="),
        (Cond::Lt, 0xa0, "<"),
        (Cond::Le, 0xb0, "<="),
        (Cond::SLt, 0xc0, "s<"),
        (Cond::SLe, 0xd0, "s<="),
    ];

    #[allow(
        clippy::expect_used,
        reason = "TABLE, just above, lists every Cond variant"
    )]
    fn entry(self) -> (Cond, u8, &'static str) {
        *Cond::TABLE
            .iter()
            .find(|(c, _, _)| *c == self)
            .expect("every condition is in the table")
    }

    /// The operation bits of the opcode (`BPF_JEQ` = 0x10, …).
    pub fn op(self) -> u8 {
        self.entry().1
    }

    /// The condition for operation bits `op`, if it is one.
    pub fn from_op(op: u8) -> Option<Cond> {
        Cond::TABLE
            .iter()
            .find(|(_, o, _)| *o == op)
            .map(|(c, _, _)| *c)
    }

    /// The LLVM/verifier symbol (`s>=`).
    pub fn symbol(self) -> &'static str {
        self.entry().2
    }
}

/// Atomic operations (`BPF_STX | BPF_ATOMIC`, `imm` selects the operation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AtomicOp {
    /// `lock *(uN *)(dst + off) += src`, or with fetch `src = atomic_fetch_add(...)`.
    Add {
        /// Return the old value in `src` (`BPF_FETCH`).
        fetch: bool,
    },
    /// Bitwise or.
    Or {
        /// Return the old value in `src`.
        fetch: bool,
    },
    /// Bitwise and.
    And {
        /// Return the old value in `src`.
        fetch: bool,
    },
    /// Bitwise xor.
    Xor {
        /// Return the old value in `src`.
        fetch: bool,
    },
    /// `src = xchg(dst + off, src)`.
    Xchg,
    /// `r0 = cmpxchg(dst + off, r0, src)`.
    Cmpxchg,
    /// `dst = load_acquire(src + off)` (Linux 6.15; 8/16-bit allowed).
    LoadAcquire,
    /// `store_release(dst + off, src)` (Linux 6.15; 8/16-bit allowed).
    StoreRelease,
}

impl AtomicOp {
    /// The `imm` encoding.
    pub const fn imm(self) -> i32 {
        match self {
            AtomicOp::Add { fetch } => fetch as i32,
            AtomicOp::Or { fetch } => 0x40 | fetch as i32,
            AtomicOp::And { fetch } => 0x50 | fetch as i32,
            AtomicOp::Xor { fetch } => 0xa0 | fetch as i32,
            AtomicOp::Xchg => 0xe1,
            AtomicOp::Cmpxchg => 0xf1,
            AtomicOp::LoadAcquire => 0x100,
            AtomicOp::StoreRelease => 0x110,
        }
    }

    /// Decodes an `imm`.
    pub const fn from_imm(imm: i32) -> Option<AtomicOp> {
        Some(match imm {
            0x00 | 0x01 => AtomicOp::Add {
                fetch: imm & 1 != 0,
            },
            0x40 | 0x41 => AtomicOp::Or {
                fetch: imm & 1 != 0,
            },
            0x50 | 0x51 => AtomicOp::And {
                fetch: imm & 1 != 0,
            },
            0xa0 | 0xa1 => AtomicOp::Xor {
                fetch: imm & 1 != 0,
            },
            0xe1 => AtomicOp::Xchg,
            0xf1 => AtomicOp::Cmpxchg,
            0x100 => AtomicOp::LoadAcquire,
            0x110 => AtomicOp::StoreRelease,
            _ => return None,
        })
    }
}

/// What a call instruction calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Call {
    /// A helper by id (`src_reg` 0).
    Helper(i32),
    /// A bpf-to-bpf call, `imm` instructions after the next one (`src_reg` 1).
    Local(i32),
    /// A kfunc by BTF id; `module` is an `fd_array` index (0 = vmlinux) (`src_reg` 2).
    Kfunc {
        /// BTF type id of the `FUNC`.
        btf_id: i32,
        /// Index into `fd_array` of the module BTF fd; 0 for vmlinux.
        module: i16,
    },
}

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
    /// `dst = imm64 ll`, with a `BPF_PSEUDO_*` kind in `pseudo`.
    LdImm64 {
        /// Destination.
        dst: Reg,
        /// `src_reg` of the first slot (see [`pseudo`]).
        pseudo: u8,
        /// First slot's `imm` (low half, or fd / index / BTF id).
        imm: i32,
        /// Second slot's `imm` (high half, or value offset).
        next_imm: i32,
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

fn err(index: usize, insn: Insn, reason: &'static str) -> DecodeError {
    DecodeError {
        index,
        insn,
        reason,
    }
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
            pseudo: pseudo::NONE,
            imm: value as i32,
            next_imm: (value >> 32) as i32,
        }
    }

    /// The 64-bit value of a plain `ld_imm64`.
    pub const fn imm64(imm: i32, next_imm: i32) -> i64 {
        ((next_imm as i64) << 32) | (imm as u32 as i64)
    }

    /// Decodes the instruction starting at `insns[index]`.
    pub fn decode_at(insns: &[Insn], index: usize) -> Result<Instruction, DecodeError> {
        let Some(&i) = insns.get(index) else {
            return Err(err(
                index,
                Insn::default(),
                "index past the end of the program",
            ));
        };
        let e = |reason| err(index, i, reason);
        let reg = |n: u8| Reg::new(n).ok_or_else(|| e("register number above 10"));
        let dst = reg(i.dst())?;
        let src_n = i.src();
        let cls = i.class();
        match cls {
            class::ALU | class::ALU64 => {
                let width = if cls == class::ALU64 {
                    Width::W64
                } else {
                    Width::W32
                };
                let op = i.code & 0xf0;
                let x = i.code & 0x08 != 0;
                if op == 0xd0 {
                    if src_n != 0 || i.off != 0 {
                        return Err(e("byte swap uses reserved fields"));
                    }
                    let kind = match (width, x) {
                        (Width::W32, false) => Endian::ToLe,
                        (Width::W32, true) => Endian::ToBe,
                        (Width::W64, false) => Endian::Swap,
                        (Width::W64, true) => return Err(e("invalid byte swap opcode")),
                    };
                    return match i.imm {
                        16 | 32 | 64 => Ok(Instruction::Endian {
                            kind,
                            bits: i.imm as u8,
                            dst,
                        }),
                        _ => Err(e("byte swap of other than 16, 32 or 64 bits")),
                    };
                }
                let src = if x {
                    Source::Reg(reg(src_n)?)
                } else {
                    if src_n != 0 {
                        return Err(e("BPF_K ALU with non-zero src_reg"));
                    }
                    Source::Imm(i.imm)
                };
                if x && i.imm != 0 && !(op == 0xb0 && i.off == 1) {
                    return Err(e("BPF_X ALU with non-zero imm"));
                }
                let alu = |op| {
                    Ok(Instruction::Alu {
                        width,
                        op,
                        dst,
                        src,
                    })
                };
                let plain = |op| {
                    if i.off == 0 {
                        alu(op)
                    } else {
                        Err(e("ALU with non-zero off"))
                    }
                };
                match op {
                    0x00 => plain(AluOp::Add),
                    0x10 => plain(AluOp::Sub),
                    0x20 => plain(AluOp::Mul),
                    0x30 => match i.off {
                        0 => alu(AluOp::Div),
                        1 => alu(AluOp::SDiv),
                        _ => Err(e("div with off other than 0 or 1")),
                    },
                    0x40 => plain(AluOp::Or),
                    0x50 => plain(AluOp::And),
                    0x60 => plain(AluOp::Lsh),
                    0x70 => plain(AluOp::Rsh),
                    0x80 => {
                        if x || i.off != 0 || i.imm != 0 {
                            return Err(e("neg uses reserved fields"));
                        }
                        Ok(Instruction::Neg { width, dst })
                    }
                    0x90 => match i.off {
                        0 => alu(AluOp::Mod),
                        1 => alu(AluOp::SMod),
                        _ => Err(e("mod with off other than 0 or 1")),
                    },
                    0xa0 => plain(AluOp::Xor),
                    0xb0 => match (x, i.off) {
                        (_, 0) => alu(AluOp::Mov),
                        (true, 8 | 16) => alu(AluOp::MovSx(i.off as u8)),
                        (true, 32) if width == Width::W64 => alu(AluOp::MovSx(32)),
                        (true, 1) if width == Width::W64 => match i.imm {
                            1 | 0x10000 => Ok(Instruction::AddrSpaceCast {
                                dst,
                                src: reg(src_n)?,
                                dst_as: (i.imm >> 16) as u16,
                                src_as: i.imm as u16,
                            }),
                            _ => Err(e(
                                "addr_space_cast can only convert between address space 1 and 0",
                            )),
                        },
                        _ => Err(e("mov with invalid off")),
                    },
                    0xc0 => plain(AluOp::Arsh),
                    _ => Err(e("unknown ALU operation")),
                }
            }
            class::JMP | class::JMP32 => {
                let width = if cls == class::JMP {
                    Width::W64
                } else {
                    Width::W32
                };
                let op = i.code & 0xf0;
                let x = i.code & 0x08 != 0;
                match (op, cls) {
                    (0x00, _) => {
                        if x || src_n != 0 || i.dst() != 0 {
                            return Err(e("ja uses reserved fields"));
                        }
                        if cls == class::JMP {
                            if i.imm != 0 {
                                return Err(e("ja with non-zero imm"));
                            }
                            Ok(Instruction::Ja { off: i.off })
                        } else {
                            if i.off != 0 {
                                return Err(e("gotol with non-zero off"));
                            }
                            Ok(Instruction::JaLong { imm: i.imm })
                        }
                    }
                    (0x80, class::JMP) => {
                        if x {
                            if src_n != 0 || i.off != 0 || i.imm != 0 {
                                return Err(e("callx uses reserved fields"));
                            }
                            return Ok(Instruction::CallX { reg: dst });
                        }
                        if i.dst() != 0 {
                            return Err(e("call with non-zero dst_reg"));
                        }
                        match src_n {
                            0 if i.off == 0 => Ok(Instruction::Call(Call::Helper(i.imm))),
                            1 if i.off == 0 => Ok(Instruction::Call(Call::Local(i.imm))),
                            2 => Ok(Instruction::Call(Call::Kfunc {
                                btf_id: i.imm,
                                module: i.off,
                            })),
                            _ => Err(e("call uses reserved fields")),
                        }
                    }
                    (0x90, class::JMP) => {
                        if x || i.regs != 0 || i.off != 0 || i.imm != 0 {
                            return Err(e("exit uses reserved fields"));
                        }
                        Ok(Instruction::Exit)
                    }
                    (0xe0, class::JMP) => {
                        if x || i.regs != 0 || i.imm != 0 {
                            return Err(e("may_goto uses reserved fields"));
                        }
                        Ok(Instruction::MayGoto { off: i.off })
                    }
                    _ => {
                        let cond = Cond::from_op(op).ok_or_else(|| e("unknown jump operation"))?;
                        let src = if x {
                            if i.imm != 0 {
                                return Err(e("BPF_X jump with non-zero imm"));
                            }
                            Source::Reg(reg(src_n)?)
                        } else {
                            if src_n != 0 {
                                return Err(e("BPF_K jump with non-zero src_reg"));
                            }
                            Source::Imm(i.imm)
                        };
                        Ok(Instruction::Jump {
                            width,
                            cond,
                            dst,
                            src,
                            off: i.off,
                        })
                    }
                }
            }
            class::LD => {
                let size = Size::from_bits(i.code);
                match i.code & 0xe0 {
                    0x00 if i.code == 0x18 => {
                        let Some(next) = index.checked_add(1).and_then(|n| insns.get(n)) else {
                            return Err(e("ld_imm64 without its second slot"));
                        };
                        if next.code != 0 || next.regs != 0 || next.off != 0 {
                            return Err(err(
                                index.saturating_add(1),
                                *next,
                                "ld_imm64 second slot uses reserved fields",
                            ));
                        }
                        if i.off != 0 || src_n > pseudo::MAP_IDX_VALUE {
                            return Err(e("ld_imm64 uses reserved fields"));
                        }
                        Ok(Instruction::LdImm64 {
                            dst,
                            pseudo: src_n,
                            imm: i.imm,
                            next_imm: next.imm,
                        })
                    }
                    0x20 if size != Size::DW && i.regs == 0 && i.off == 0 => {
                        Ok(Instruction::LdAbs { size, imm: i.imm })
                    }
                    0x40 if size != Size::DW && i.dst() == 0 && i.off == 0 => {
                        Ok(Instruction::LdInd {
                            size,
                            src: reg(src_n)?,
                            imm: i.imm,
                        })
                    }
                    _ => Err(e("invalid BPF_LD instruction")),
                }
            }
            class::LDX => {
                let size = Size::from_bits(i.code);
                if i.imm != 0 {
                    return Err(e("load with non-zero imm"));
                }
                let sign_extend = match i.code & 0xe0 {
                    0x60 => false,
                    0x80 if size != Size::DW => true,
                    _ => return Err(e("invalid BPF_LDX mode")),
                };
                Ok(Instruction::Load {
                    size,
                    sign_extend,
                    dst,
                    src: reg(src_n)?,
                    off: i.off,
                })
            }
            class::ST => {
                if i.code & 0xe0 != 0x60 || src_n != 0 {
                    return Err(e("invalid BPF_ST instruction"));
                }
                Ok(Instruction::StoreImm {
                    size: Size::from_bits(i.code),
                    dst,
                    off: i.off,
                    imm: i.imm,
                })
            }
            class::STX => {
                let size = Size::from_bits(i.code);
                let src = reg(src_n)?;
                match i.code & 0xe0 {
                    0x60 => {
                        if i.imm != 0 {
                            return Err(e("store with non-zero imm"));
                        }
                        Ok(Instruction::Store {
                            size,
                            dst,
                            src,
                            off: i.off,
                        })
                    }
                    0xc0 => {
                        let op = AtomicOp::from_imm(i.imm)
                            .ok_or_else(|| e("unknown atomic operation"))?;
                        let acq_rel = matches!(op, AtomicOp::LoadAcquire | AtomicOp::StoreRelease);
                        if !acq_rel && !matches!(size, Size::W | Size::DW) {
                            return Err(e("invalid atomic operand size"));
                        }
                        Ok(Instruction::Atomic {
                            size,
                            op,
                            dst,
                            src,
                            off: i.off,
                        })
                    }
                    _ => Err(e("invalid BPF_STX mode")),
                }
            }
            _ => unreachable!("class is 3 bits"),
        }
    }

    /// Encodes into one or two slots (see [`Instruction::slots`]).
    pub fn encode(&self) -> [Insn; 2] {
        let z = Insn::default();
        let one = |i: Insn| [i, z];
        let wide = |w: Width| {
            if w == Width::W64 {
                class::ALU64
            } else {
                class::ALU
            }
        };
        let jcls = |w: Width| {
            if w == Width::W64 {
                class::JMP
            } else {
                class::JMP32
            }
        };
        match *self {
            Instruction::Alu {
                width,
                op,
                dst,
                src,
            } => {
                let (code, off) = match op {
                    AluOp::Add => (0x00, 0),
                    AluOp::Sub => (0x10, 0),
                    AluOp::Mul => (0x20, 0),
                    AluOp::Div => (0x30, 0),
                    AluOp::SDiv => (0x30, 1),
                    AluOp::Or => (0x40, 0),
                    AluOp::And => (0x50, 0),
                    AluOp::Lsh => (0x60, 0),
                    AluOp::Rsh => (0x70, 0),
                    AluOp::Mod => (0x90, 0),
                    AluOp::SMod => (0x90, 1),
                    AluOp::Xor => (0xa0, 0),
                    AluOp::Mov => (0xb0, 0),
                    AluOp::MovSx(b) => (0xb0, b as i16),
                    AluOp::Arsh => (0xc0, 0),
                };
                let cls = wide(width);
                match src {
                    Source::Reg(s) => one(Insn::new(code | 0x08 | cls, dst.0, s.0, off, 0)),
                    Source::Imm(imm) => one(Insn::new(code | cls, dst.0, 0, off, imm)),
                }
            }
            Instruction::Neg { width, dst } => one(Insn::new(0x80 | wide(width), dst.0, 0, 0, 0)),
            Instruction::Endian { kind, bits, dst } => {
                let code = match kind {
                    Endian::ToLe => 0xd4,
                    Endian::ToBe => 0xdc,
                    Endian::Swap => 0xd7,
                };
                one(Insn::new(code, dst.0, 0, 0, bits as i32))
            }
            Instruction::AddrSpaceCast {
                dst,
                src,
                dst_as,
                src_as,
            } => one(Insn::new(
                0xbf,
                dst.0,
                src.0,
                1,
                ((dst_as as i32) << 16) | src_as as i32,
            )),
            Instruction::LdImm64 {
                dst,
                pseudo,
                imm,
                next_imm,
            } => [
                Insn::new(0x18, dst.0, pseudo, 0, imm),
                Insn::new(0, 0, 0, 0, next_imm),
            ],
            Instruction::LdAbs { size, imm } => one(Insn::new(0x20 | size.bits(), 0, 0, 0, imm)),
            Instruction::LdInd { size, src, imm } => {
                one(Insn::new(0x40 | size.bits(), 0, src.0, 0, imm))
            }
            Instruction::Load {
                size,
                sign_extend,
                dst,
                src,
                off,
            } => {
                let mode = if sign_extend { 0x80 } else { 0x60 };
                one(Insn::new(
                    mode | size.bits() | class::LDX,
                    dst.0,
                    src.0,
                    off,
                    0,
                ))
            }
            Instruction::StoreImm {
                size,
                dst,
                off,
                imm,
            } => one(Insn::new(
                0x60 | size.bits() | class::ST,
                dst.0,
                0,
                off,
                imm,
            )),
            Instruction::Store {
                size,
                dst,
                src,
                off,
            } => one(Insn::new(
                0x60 | size.bits() | class::STX,
                dst.0,
                src.0,
                off,
                0,
            )),
            Instruction::Atomic {
                size,
                op,
                dst,
                src,
                off,
            } => one(Insn::new(
                0xc0 | size.bits() | class::STX,
                dst.0,
                src.0,
                off,
                op.imm(),
            )),
            Instruction::Jump {
                width,
                cond,
                dst,
                src,
                off,
            } => {
                let op = cond.op();
                match src {
                    Source::Reg(s) => one(Insn::new(op | 0x08 | jcls(width), dst.0, s.0, off, 0)),
                    Source::Imm(imm) => one(Insn::new(op | jcls(width), dst.0, 0, off, imm)),
                }
            }
            Instruction::Ja { off } => one(Insn::new(0x05, 0, 0, off, 0)),
            Instruction::JaLong { imm } => one(Insn::new(0x06, 0, 0, 0, imm)),
            Instruction::MayGoto { off } => one(Insn::new(0xe5, 0, 0, off, 0)),
            Instruction::Call(Call::Helper(id)) => one(Insn::new(0x85, 0, 0, 0, id)),
            Instruction::Call(Call::Local(rel)) => one(Insn::new(0x85, 0, pseudo::CALL, 0, rel)),
            Instruction::Call(Call::Kfunc { btf_id, module }) => {
                one(Insn::new(0x85, 0, pseudo::KFUNC_CALL, module, btf_id))
            }
            Instruction::CallX { reg } => one(Insn::new(0x8d, reg.0, 0, 0, 0)),
            Instruction::Exit => one(Insn::new(0x95, 0, 0, 0, 0)),
        }
    }

    /// Appends the encoded slots to `out`.
    pub fn encode_into(&self, out: &mut Vec<Insn>) {
        let e = self.encode();
        out.extend(e.iter().take(self.slots()));
    }
}

/// Decodes a whole program: `(slot index, instruction)` pairs.
pub fn decode(insns: &[Insn]) -> Result<Vec<(usize, Instruction)>, DecodeError> {
    let mut out = Vec::with_capacity(insns.len());
    let mut i = 0;
    while i < insns.len() {
        let ins = Instruction::decode_at(insns, i)?;
        out.push((i, ins));
        i = i.saturating_add(ins.slots());
    }
    Ok(out)
}

/// Encodes a sequence of instructions into slots.
pub fn encode(instructions: &[Instruction]) -> Vec<Insn> {
    let mut out = Vec::with_capacity(instructions.len().saturating_add(4));
    for i in instructions {
        i.encode_into(&mut out);
    }
    out
}

/// Shorthand constructors for hand-assembled programs.
///
/// ```
/// use bpf_arena::insn::{asm, Reg};
/// let prog = bpf_arena::insn::encode(&[asm::mov64_imm(Reg::R0, 42), asm::exit()]);
/// assert_eq!(prog.len(), 2);
/// ```
pub mod asm {
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
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "unit tests"
)]
mod tests;
