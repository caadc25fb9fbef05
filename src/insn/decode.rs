//! Slots to [`Instruction`]s: strict decoding, reserved fields checked as
//! the verifier checks them.

use super::*;

fn err(index: usize, insn: Insn, reason: &'static str) -> DecodeError {
    DecodeError {
        index,
        insn,
        reason,
    }
}

/// The slot being decoded and its index, for errors.
#[derive(Clone, Copy)]
struct Slot {
    index: usize,
    i: Insn,
}

impl Slot {
    fn err(&self, reason: &'static str) -> DecodeError {
        err(self.index, self.i, reason)
    }

    fn reg(&self, n: u8) -> Result<Reg, DecodeError> {
        Reg::new(n).ok_or_else(|| self.err("register number above 10"))
    }

    /// `BPF_ALU` and `BPF_ALU64`.
    fn alu(&self, dst: Reg) -> Result<Instruction, DecodeError> {
        let i = self.i;
        let e = |reason| self.err(reason);
        let width = if i.class() == class::ALU64 {
            Width::W64
        } else {
            Width::W32
        };
        let op = i.code & 0xf0;
        let x = i.code & 0x08 != 0;
        if op == 0xd0 {
            return self.endian(width, x, dst);
        }
        let src = if x {
            Source::Reg(self.reg(i.src())?)
        } else {
            if i.src() != 0 {
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
            0xb0 => self.mov(width, x, dst, src),
            0xc0 => plain(AluOp::Arsh),
            _ => Err(e("unknown ALU operation")),
        }
    }

    /// The byte swaps (`BPF_END`, ALU op 0xd0).
    fn endian(&self, width: Width, x: bool, dst: Reg) -> Result<Instruction, DecodeError> {
        let i = self.i;
        if i.src() != 0 || i.off != 0 {
            return Err(self.err("byte swap uses reserved fields"));
        }
        let kind = match (width, x) {
            (Width::W32, false) => Endian::ToLe,
            (Width::W32, true) => Endian::ToBe,
            (Width::W64, false) => Endian::Swap,
            (Width::W64, true) => return Err(self.err("invalid byte swap opcode")),
        };
        match i.imm {
            16 | 32 | 64 => Ok(Instruction::Endian {
                kind,
                bits: i.imm as u8,
                dst,
            }),
            _ => Err(self.err("byte swap of other than 16, 32 or 64 bits")),
        }
    }

    /// `BPF_MOV`: plain, sign-extending (`off` 8, 16, 32) or
    /// `addr_space_cast` (`off` 1).
    fn mov(
        &self,
        width: Width,
        x: bool,
        dst: Reg,
        src: Source,
    ) -> Result<Instruction, DecodeError> {
        let i = self.i;
        let alu = |op| {
            Ok(Instruction::Alu {
                width,
                op,
                dst,
                src,
            })
        };
        match (x, i.off) {
            (_, 0) => alu(AluOp::Mov),
            (true, 8 | 16) => alu(AluOp::MovSx(i.off as u8)),
            (true, 32) if width == Width::W64 => alu(AluOp::MovSx(32)),
            (true, 1) if width == Width::W64 => match i.imm {
                1 | 0x10000 => Ok(Instruction::AddrSpaceCast {
                    dst,
                    src: self.reg(i.src())?,
                    dst_as: (i.imm >> 16) as u16,
                    src_as: i.imm as u16,
                }),
                _ => {
                    Err(self.err("addr_space_cast can only convert between address space 1 and 0"))
                }
            },
            _ => Err(self.err("mov with invalid off")),
        }
    }

    /// `BPF_JMP` and `BPF_JMP32`.
    fn jmp(&self, dst: Reg) -> Result<Instruction, DecodeError> {
        let i = self.i;
        let e = |reason| self.err(reason);
        let cls = i.class();
        let width = if cls == class::JMP {
            Width::W64
        } else {
            Width::W32
        };
        let op = i.code & 0xf0;
        let x = i.code & 0x08 != 0;
        match (op, cls) {
            (0x00, _) => self.ja(x),
            (0x80, class::JMP) => self.call(x, dst),
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
                    Source::Reg(self.reg(i.src())?)
                } else {
                    if i.src() != 0 {
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

    /// `goto` (JMP) and `gotol` (JMP32).
    fn ja(&self, x: bool) -> Result<Instruction, DecodeError> {
        let i = self.i;
        if x || i.src() != 0 || i.dst() != 0 {
            return Err(self.err("ja uses reserved fields"));
        }
        if i.class() == class::JMP {
            if i.imm != 0 {
                return Err(self.err("ja with non-zero imm"));
            }
            Ok(Instruction::Ja { off: i.off })
        } else {
            if i.off != 0 {
                return Err(self.err("gotol with non-zero off"));
            }
            Ok(Instruction::JaLong { imm: i.imm })
        }
    }

    /// `call` (helper, local, kfunc) and `callx`.
    fn call(&self, x: bool, dst: Reg) -> Result<Instruction, DecodeError> {
        let i = self.i;
        if x {
            if i.src() != 0 || i.off != 0 || i.imm != 0 {
                return Err(self.err("callx uses reserved fields"));
            }
            return Ok(Instruction::CallX { reg: dst });
        }
        if i.dst() != 0 {
            return Err(self.err("call with non-zero dst_reg"));
        }
        match i.src() {
            0 if i.off == 0 => Ok(Instruction::Call(Call::Helper(i.imm))),
            1 if i.off == 0 => Ok(Instruction::Call(Call::Local(i.imm))),
            2 => Ok(Instruction::Call(Call::Kfunc {
                btf_id: i.imm,
                module: i.off,
            })),
            _ => Err(self.err("call uses reserved fields")),
        }
    }

    /// `BPF_LD`: `ld_imm64` (two slots) and the legacy packet loads.
    fn ld(&self, insns: &[Insn], dst: Reg) -> Result<Instruction, DecodeError> {
        let i = self.i;
        let size = Size::from_bits(i.code);
        match i.code & 0xe0 {
            0x00 if i.code == 0x18 => self.ld_imm64(insns, dst),
            0x20 if size != Size::DW && i.regs == 0 && i.off == 0 => {
                Ok(Instruction::LdAbs { size, imm: i.imm })
            }
            0x40 if size != Size::DW && i.dst() == 0 && i.off == 0 => Ok(Instruction::LdInd {
                size,
                src: self.reg(i.src())?,
                imm: i.imm,
            }),
            _ => Err(self.err("invalid BPF_LD instruction")),
        }
    }

    /// `ld_imm64`, whose second slot is `insns[index + 1]`.
    fn ld_imm64(&self, insns: &[Insn], dst: Reg) -> Result<Instruction, DecodeError> {
        let i = self.i;
        let Some(next) = self.index.checked_add(1).and_then(|n| insns.get(n)) else {
            return Err(self.err("ld_imm64 without its second slot"));
        };
        if next.code != 0 || next.regs != 0 || next.off != 0 {
            return Err(err(
                self.index.saturating_add(1),
                *next,
                "ld_imm64 second slot uses reserved fields",
            ));
        }
        if i.off != 0 {
            return Err(self.err("ld_imm64 uses reserved fields"));
        }
        let value = Imm64::from_parts(i.src(), i.imm, next.imm).map_err(|r| self.err(r))?;
        Ok(Instruction::LdImm64 { dst, value })
    }

    /// `BPF_LDX`: loads, plain or sign-extending.
    fn ldx(&self, dst: Reg) -> Result<Instruction, DecodeError> {
        let i = self.i;
        let size = Size::from_bits(i.code);
        if i.imm != 0 {
            return Err(self.err("load with non-zero imm"));
        }
        let sign_extend = match i.code & 0xe0 {
            0x60 => false,
            0x80 if size != Size::DW => true,
            _ => return Err(self.err("invalid BPF_LDX mode")),
        };
        Ok(Instruction::Load {
            size,
            sign_extend,
            dst,
            src: self.reg(i.src())?,
            off: i.off,
        })
    }

    /// `BPF_ST`: stores of an immediate.
    fn st(&self, dst: Reg) -> Result<Instruction, DecodeError> {
        let i = self.i;
        if i.code & 0xe0 != 0x60 || i.src() != 0 {
            return Err(self.err("invalid BPF_ST instruction"));
        }
        Ok(Instruction::StoreImm {
            size: Size::from_bits(i.code),
            dst,
            off: i.off,
            imm: i.imm,
        })
    }

    /// `BPF_STX`: stores of a register, and atomics.
    fn stx(&self, dst: Reg) -> Result<Instruction, DecodeError> {
        let i = self.i;
        let size = Size::from_bits(i.code);
        let src = self.reg(i.src())?;
        match i.code & 0xe0 {
            0x60 => {
                if i.imm != 0 {
                    return Err(self.err("store with non-zero imm"));
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
                    .ok_or_else(|| self.err("unknown atomic operation"))?;
                let acq_rel = matches!(op, AtomicOp::LoadAcquire | AtomicOp::StoreRelease);
                if !acq_rel && !matches!(size, Size::W | Size::DW) {
                    return Err(self.err("invalid atomic operand size"));
                }
                Ok(Instruction::Atomic {
                    size,
                    op,
                    dst,
                    src,
                    off: i.off,
                })
            }
            _ => Err(self.err("invalid BPF_STX mode")),
        }
    }
}

impl Instruction {
    /// Decodes the instruction starting at `insns[index]`.
    pub fn decode_at(insns: &[Insn], index: usize) -> Result<Instruction, DecodeError> {
        let Some(&i) = insns.get(index) else {
            return Err(err(
                index,
                Insn::default(),
                "index past the end of the program",
            ));
        };
        let s = Slot { index, i };
        let dst = s.reg(i.dst())?;
        match i.class() {
            class::ALU | class::ALU64 => s.alu(dst),
            class::JMP | class::JMP32 => s.jmp(dst),
            class::LD => s.ld(insns, dst),
            class::LDX => s.ldx(dst),
            class::ST => s.st(dst),
            // class::STX, the last of the eight classes.
            _ => s.stx(dst),
        }
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

/// Walks a program the way the verifier reads it: each instruction with its
/// slot index, or the error for a slot that does not decode (the walk then
/// goes on at the next slot). Never fails and never panics, so it suits
/// listings and scans of untrusted code.
pub fn instructions(insns: &[Insn]) -> Instructions<'_> {
    Instructions { insns, next: 0 }
}

/// The iterator of [`instructions`].
#[derive(Clone, Debug)]
pub struct Instructions<'a> {
    insns: &'a [Insn],
    next: usize,
}

impl Iterator for Instructions<'_> {
    type Item = (usize, Result<Instruction, DecodeError>);

    fn next(&mut self) -> Option<Self::Item> {
        let i = self.next;
        if i >= self.insns.len() {
            return None;
        }
        let r = Instruction::decode_at(self.insns, i);
        self.next = i.saturating_add(r.as_ref().map_or(1, Instruction::slots));
        Some((i, r))
    }
}
