//! The operands of a decoded [`Instruction`](super::Instruction): registers,
//! widths, sizes, operations, conditions and call targets.

/// A register, `r0`..`r10` (`r10` is the read-only frame pointer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reg(pub(super) u8);

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

    pub(super) const fn bits(self) -> u8 {
        match self {
            Size::W => 0x00,
            Size::H => 0x08,
            Size::B => 0x10,
            Size::DW => 0x18,
        }
    }

    pub(super) const fn from_bits(code: u8) -> Size {
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
