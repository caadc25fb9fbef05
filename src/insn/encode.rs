//! [`Instruction`]s back to slots.

use super::*;

/// The ALU class for a width.
const fn alu_class(w: Width) -> u8 {
    match w {
        Width::W64 => class::ALU64,
        Width::W32 => class::ALU,
    }
}

/// The jump class for a width.
const fn jmp_class(w: Width) -> u8 {
    match w {
        Width::W64 => class::JMP,
        Width::W32 => class::JMP32,
    }
}

/// `dst op= src`: the operation bits and `off` of each [`AluOp`].
fn alu(width: Width, op: AluOp, dst: Reg, src: Source) -> Insn {
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
    let cls = alu_class(width);
    match src {
        Source::Reg(s) => Insn::new(code | 0x08 | cls, dst.0, s.0, off, 0),
        Source::Imm(imm) => Insn::new(code | cls, dst.0, 0, off, imm),
    }
}

/// `if dst cond src goto +off`.
fn jump(width: Width, cond: Cond, dst: Reg, src: Source, off: i16) -> Insn {
    let op = cond.op();
    match src {
        Source::Reg(s) => Insn::new(op | 0x08 | jmp_class(width), dst.0, s.0, off, 0),
        Source::Imm(imm) => Insn::new(op | jmp_class(width), dst.0, 0, off, imm),
    }
}

/// The call instruction for each [`Call`].
fn call(c: Call) -> Insn {
    match c {
        Call::Helper(id) | Call::Local(id) => Insn::new(0x85, 0, c.src(), 0, id),
        Call::Kfunc { btf_id, module } => Insn::new(0x85, 0, c.src(), module, btf_id),
    }
}

impl Instruction {
    /// Encodes into one or two slots (see [`Instruction::slots`]); the
    /// second is all zero for one-slot instructions.
    pub fn encode(&self) -> [Insn; 2] {
        let second = match *self {
            Instruction::LdImm64 { value, .. } => Insn::new(0, 0, 0, 0, value.imms().1),
            _ => Insn::default(),
        };
        [self.first_slot(), second]
    }

    /// The first (for all but `ld_imm64` the only) slot.
    fn first_slot(&self) -> Insn {
        match *self {
            Instruction::Alu {
                width,
                op,
                dst,
                src,
            } => alu(width, op, dst, src),
            Instruction::Neg { width, dst } => Insn::new(0x80 | alu_class(width), dst.0, 0, 0, 0),
            Instruction::Endian { kind, bits, dst } => {
                let code = match kind {
                    Endian::ToLe => 0xd4,
                    Endian::ToBe => 0xdc,
                    Endian::Swap => 0xd7,
                };
                Insn::new(code, dst.0, 0, 0, bits as i32)
            }
            Instruction::AddrSpaceCast {
                dst,
                src,
                dst_as,
                src_as,
            } => Insn::new(
                0xbf,
                dst.0,
                src.0,
                1,
                ((dst_as as i32) << 16) | src_as as i32,
            ),
            Instruction::LdImm64 { dst, value } => {
                Insn::new(0x18, dst.0, value.src(), 0, value.imms().0)
            }
            Instruction::LdAbs { size, imm } => Insn::new(0x20 | size.bits(), 0, 0, 0, imm),
            Instruction::LdInd { size, src, imm } => {
                Insn::new(0x40 | size.bits(), 0, src.0, 0, imm)
            }
            Instruction::Load {
                size,
                sign_extend,
                dst,
                src,
                off,
            } => {
                let mode = if sign_extend { 0x80 } else { 0x60 };
                Insn::new(mode | size.bits() | class::LDX, dst.0, src.0, off, 0)
            }
            Instruction::StoreImm {
                size,
                dst,
                off,
                imm,
            } => Insn::new(0x60 | size.bits() | class::ST, dst.0, 0, off, imm),
            Instruction::Store {
                size,
                dst,
                src,
                off,
            } => Insn::new(0x60 | size.bits() | class::STX, dst.0, src.0, off, 0),
            Instruction::Atomic {
                size,
                op,
                dst,
                src,
                off,
            } => Insn::new(0xc0 | size.bits() | class::STX, dst.0, src.0, off, op.imm()),
            Instruction::Jump {
                width,
                cond,
                dst,
                src,
                off,
            } => jump(width, cond, dst, src, off),
            Instruction::Ja { off } => Insn::new(0x05, 0, 0, off, 0),
            Instruction::JaLong { imm } => Insn::new(0x06, 0, 0, 0, imm),
            Instruction::MayGoto { off } => Insn::new(0xe5, 0, 0, off, 0),
            Instruction::Call(c) => call(c),
            Instruction::CallX { reg } => Insn::new(0x8d, reg.0, 0, 0, 0),
            Instruction::Exit => Insn::new(0x95, 0, 0, 0, 0),
        }
    }

    /// Appends the encoded slots to `out`.
    pub fn encode_into(&self, out: &mut Vec<Insn>) {
        let e = self.encode();
        out.extend(e.iter().take(self.slots()));
    }
}

/// Encodes a sequence of instructions into slots.
pub fn encode(instructions: &[Instruction]) -> Vec<Insn> {
    let mut out = Vec::with_capacity(instructions.len().saturating_add(4));
    for i in instructions {
        i.encode_into(&mut out);
    }
    out
}
