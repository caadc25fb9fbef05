//! Raw 8-byte instruction slots ([`Insn`]) and their byte form.

use std::fmt;

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

    /// Replaces the source register field of the raw slot (to build an
    /// [`Instruction`](super::Instruction) with a `BPF_PSEUDO_*` source, use
    /// [`Imm64`](super::Imm64) or [`Call`](super::Call)).
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
