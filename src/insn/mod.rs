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

#![forbid(unsafe_code)]
#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

pub mod asm;
mod decode;
mod display;
mod encode;
mod instruction;
mod operand;
mod slot;

pub use decode::{Instructions, decode, instructions};
pub use display::Listing;
pub use encode::encode;
pub use instruction::Instruction;
pub use operand::{AluOp, AtomicOp, Call, Cond, Endian, Imm64, Reg, Size, Source, Width};
pub use slot::{DecodeError, Insn, from_bytes, to_bytes};

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

/// `src_reg` values of `ld_imm64` and of calls (`BPF_PSEUDO_*`), as the
/// kernel numbers them. [`Imm64`] and [`Call`] are the typed forms: build
/// and match instructions with those.
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
