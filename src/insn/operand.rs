//! The operands of a decoded [`Instruction`](super::Instruction): registers,
//! widths, sizes, operations, conditions, call targets and `ld_imm64` sources.

use super::{Instruction, pseudo};

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

impl Call {
    /// The `src_reg` of the call instruction ([`pseudo::CALL`],
    /// [`pseudo::KFUNC_CALL`], or 0 for a helper).
    pub const fn src(self) -> u8 {
        match self {
            Call::Helper(_) => 0,
            Call::Local(_) => pseudo::CALL,
            Call::Kfunc { .. } => pseudo::KFUNC_CALL,
        }
    }
}

/// What an `ld_imm64` loads: a 64-bit constant, or one of the kernel's
/// `BPF_PSEUDO_*` references, which the verifier resolves at load time
/// (the `src_reg` of the first slot says which).
///
/// Each variant holds exactly the two `imm` fields the kernel reads, so a
/// decoded value encodes back to the same slots. Decoding rejects a
/// non-zero second `imm` for [`Imm64::MapFd`] and [`Imm64::MapIdx`] (the
/// verifier does too: "unrecognized bpf_ld_imm64 insn") and for
/// [`Imm64::Func`] (the verifier ignores and then overwrites it; LLVM and
/// libbpf write 0), and `src_reg` values above 6.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Imm64 {
    /// A plain constant (`src_reg` 0): the low half in the first slot, the
    /// high half in the second.
    Const(i64),
    /// `BPF_PSEUDO_MAP_FD`: the map with this fd; the register becomes
    /// `CONST_PTR_TO_MAP` (the kernel answers EBADF if the fd is not a map).
    MapFd(i32),
    /// `BPF_PSEUDO_MAP_VALUE`: the address of byte `off` of the value of
    /// map `fd` (array maps with one entry, and arenas). For an arena the
    /// register receives the user address `user_vm_start + off` as a scalar.
    MapValue {
        /// Map fd (first slot).
        fd: i32,
        /// Offset into the value (second slot).
        off: i32,
    },
    /// `BPF_PSEUDO_BTF_ID`: the kernel variable (ksym) whose BTF `VAR` has
    /// id `id`, in the BTF named by `module` (0: vmlinux).
    BtfId {
        /// BTF id of the `VAR` (first slot).
        id: i32,
        /// The module's BTF, 0 for vmlinux (second slot).
        module: i32,
    },
    /// `BPF_PSEUDO_FUNC`: the address of the subprogram starting this many
    /// instructions after the second slot (a callback, e.g. for
    /// `bpf_loop`); needs `func_info` and a static function.
    Func(i32),
    /// `BPF_PSEUDO_MAP_IDX`: like [`Imm64::MapFd`], with an index into the
    /// `fd_array` passed to `BPF_PROG_LOAD`.
    MapIdx(i32),
    /// `BPF_PSEUDO_MAP_IDX_VALUE`: like [`Imm64::MapValue`], with an index
    /// into `fd_array`.
    MapIdxValue {
        /// `fd_array` index (first slot).
        idx: i32,
        /// Offset into the value (second slot).
        off: i32,
    },
}

impl Imm64 {
    /// The `src_reg` of the first slot ([`pseudo::NONE`], [`pseudo::MAP_FD`], …).
    pub const fn src(self) -> u8 {
        match self {
            Imm64::Const(_) => pseudo::NONE,
            Imm64::MapFd(_) => pseudo::MAP_FD,
            Imm64::MapValue { .. } => pseudo::MAP_VALUE,
            Imm64::BtfId { .. } => pseudo::BTF_ID,
            Imm64::Func(_) => pseudo::FUNC,
            Imm64::MapIdx(_) => pseudo::MAP_IDX,
            Imm64::MapIdxValue { .. } => pseudo::MAP_IDX_VALUE,
        }
    }

    /// The `imm` of the first and of the second slot.
    pub const fn imms(self) -> (i32, i32) {
        match self {
            Imm64::Const(v) => (v as i32, (v >> 32) as i32),
            Imm64::MapFd(x) | Imm64::Func(x) | Imm64::MapIdx(x) => (x, 0),
            Imm64::MapValue { fd: a, off: b }
            | Imm64::BtfId { id: a, module: b }
            | Imm64::MapIdxValue { idx: a, off: b } => (a, b),
        }
    }

    /// The value for `src_reg` `src` and the two slots' `imm`s, or why the
    /// combination is not one the kernel accepts.
    pub(super) const fn from_parts(
        src: u8,
        imm: i32,
        next_imm: i32,
    ) -> Result<Imm64, &'static str> {
        Ok(match (src, next_imm) {
            (pseudo::NONE, _) => Imm64::Const(Instruction::imm64(imm, next_imm)),
            (pseudo::MAP_FD, 0) => Imm64::MapFd(imm),
            (pseudo::MAP_VALUE, off) => Imm64::MapValue { fd: imm, off },
            (pseudo::BTF_ID, module) => Imm64::BtfId { id: imm, module },
            (pseudo::FUNC, 0) => Imm64::Func(imm),
            (pseudo::MAP_IDX, 0) => Imm64::MapIdx(imm),
            (pseudo::MAP_IDX_VALUE, off) => Imm64::MapIdxValue { idx: imm, off },
            (pseudo::MAP_FD | pseudo::MAP_IDX, _) => {
                return Err("ld_imm64 of a map with a non-zero second imm");
            }
            (pseudo::FUNC, _) => return Err("ld_imm64 of a function with a non-zero second imm"),
            _ => return Err("ld_imm64 uses reserved fields"),
        })
    }
}
