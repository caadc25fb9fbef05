//! LLVM-style text for [`Instruction`] (what `llvm-objdump-19 -d --mcpu=v4` prints).

use super::*;

/// An immediate as LLVM prints it: `0x5`, `-0x7`.
struct Hex(i64);

impl fmt::Display for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 0 {
            write!(f, "-{:#x}", (self.0 as i128).unsigned_abs())
        } else {
            write!(f, "{:#x}", self.0)
        }
    }
}

/// A jump offset: `+0x5`, `-0x1`, `+0x0`.
struct Rel(i64);

impl fmt::Display for Rel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 0 {
            write!(f, "{}", Hex(self.0))
        } else {
            write!(f, "+{}", Hex(self.0))
        }
    }
}

/// `(r1 + 0x8)` / `(r10 - 0x8)`.
struct Addr(Reg, i16);

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let off = i64::from(self.1);
        if off < 0 {
            write!(f, "(r{} - {})", self.0.0, Hex(off.saturating_neg()))
        } else {
            write!(f, "(r{} + {})", self.0.0, Hex(off))
        }
    }
}

/// A register in the given width: `r1` or `w1`.
struct R(Width, Reg);

impl fmt::Display for R {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Width::W64 => write!(f, "r{}", self.1.0),
            Width::W32 => write!(f, "w{}", self.1.0),
        }
    }
}

fn mem_width(size: Size) -> Width {
    if size == Size::DW {
        Width::W64
    } else {
        Width::W32
    }
}

fn utype(size: Size) -> &'static str {
    match size {
        Size::B => "u8",
        Size::H => "u16",
        Size::W => "u32",
        Size::DW => "u64",
    }
}

fn stype(size: Size) -> &'static str {
    match size {
        Size::B => "s8",
        Size::H => "s16",
        Size::W => "s32",
        Size::DW => "s64",
    }
}

impl AluOp {
    fn symbol(self) -> &'static str {
        match self {
            AluOp::Add => "+=",
            AluOp::Sub => "-=",
            AluOp::Mul => "*=",
            AluOp::Div => "/=",
            AluOp::SDiv => "s/=",
            AluOp::Or => "|=",
            AluOp::And => "&=",
            AluOp::Lsh => "<<=",
            AluOp::Rsh => ">>=",
            AluOp::Mod => "%=",
            AluOp::SMod => "s%=",
            AluOp::Xor => "^=",
            AluOp::Mov | AluOp::MovSx(_) => "=",
            AluOp::Arsh => "s>>=",
        }
    }
}

impl fmt::Display for Instruction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Instruction::Alu {
                width,
                op: AluOp::MovSx(bits),
                dst,
                src: Source::Reg(s),
            } => {
                write!(f, "{} = (s{bits}){}", R(width, dst), R(width, s))
            }
            Instruction::Alu {
                width,
                op,
                dst,
                src,
            } => {
                write!(f, "{} {} ", R(width, dst), op.symbol())?;
                match src {
                    Source::Reg(s) => write!(f, "{}", R(width, s)),
                    Source::Imm(i) => write!(f, "{}", Hex(i as i64)),
                }
            }
            Instruction::Neg { width, dst } => write!(f, "{} = -{}", R(width, dst), R(width, dst)),
            Instruction::Endian { kind, bits, dst } => {
                let name = match kind {
                    Endian::ToLe => "le",
                    Endian::ToBe => "be",
                    Endian::Swap => "bswap",
                };
                write!(f, "r{} = {name}{bits} r{}", dst.0, dst.0)
            }
            Instruction::AddrSpaceCast {
                dst,
                src,
                dst_as,
                src_as,
            } => {
                write!(
                    f,
                    "r{} = addr_space_cast(r{}, {}, {})",
                    dst.0,
                    src.0,
                    Hex(dst_as as i64),
                    Hex(src_as as i64)
                )
            }
            Instruction::LdImm64 {
                dst,
                pseudo,
                imm,
                next_imm,
            } => {
                let d = dst.0;
                match pseudo {
                    pseudo::NONE => {
                        write!(f, "r{d} = {} ll", Hex(Instruction::imm64(imm, next_imm)))
                    }
                    pseudo::MAP_FD => write!(f, "r{d} = map_fd({imm}) ll"),
                    pseudo::MAP_VALUE => {
                        write!(f, "r{d} = map_value({imm}, {}) ll", Hex(next_imm as i64))
                    }
                    pseudo::BTF_ID => write!(f, "r{d} = btf_id({imm}, {next_imm}) ll"),
                    pseudo::FUNC => write!(f, "r{d} = func({}) ll", Rel(imm as i64)),
                    pseudo::MAP_IDX => write!(f, "r{d} = map_idx({imm}) ll"),
                    _ => write!(
                        f,
                        "r{d} = map_idx_value({imm}, {}) ll",
                        Hex(next_imm as i64)
                    ),
                }
            }
            Instruction::LdAbs { size, imm } => {
                write!(f, "r0 = *({} *)skb[{}]", utype(size), Hex(imm as i64))
            }
            Instruction::LdInd { size, src, imm } => {
                if imm == 0 {
                    write!(f, "r0 = *({} *)skb[r{}]", utype(size), src.0)
                } else {
                    write!(
                        f,
                        "r0 = *({} *)skb[r{} + {}]",
                        utype(size),
                        src.0,
                        Hex(imm as i64)
                    )
                }
            }
            Instruction::Load {
                size,
                sign_extend: false,
                dst,
                src,
                off,
            } => {
                write!(
                    f,
                    "{} = *({} *){}",
                    R(mem_width(size), dst),
                    utype(size),
                    Addr(src, off)
                )
            }
            Instruction::Load {
                size,
                sign_extend: true,
                dst,
                src,
                off,
            } => {
                write!(f, "r{} = *({} *){}", dst.0, stype(size), Addr(src, off))
            }
            Instruction::StoreImm {
                size,
                dst,
                off,
                imm,
            } => {
                write!(
                    f,
                    "*({} *){} = {}",
                    utype(size),
                    Addr(dst, off),
                    Hex(imm as i64)
                )
            }
            Instruction::Store {
                size,
                dst,
                src,
                off,
            } => {
                write!(
                    f,
                    "*({} *){} = {}",
                    utype(size),
                    Addr(dst, off),
                    R(mem_width(size), src)
                )
            }
            Instruction::Atomic {
                size,
                op,
                dst,
                src,
                off,
            } => {
                let w = mem_width(size);
                let (t, a) = (utype(size), Addr(dst, off));
                let lock = |f: &mut fmt::Formatter<'_>, sym: &str| {
                    write!(f, "lock *({t} *){a} {sym} {}", R(w, src))
                };
                let fetch = |f: &mut fmt::Formatter<'_>, name: &str| {
                    write!(
                        f,
                        "{} = atomic_fetch_{name}(({t} *){a}, {})",
                        R(w, src),
                        R(w, src)
                    )
                };
                let sfx = if w == Width::W64 { "_64" } else { "32_32" };
                match op {
                    AtomicOp::Add { fetch: false } => lock(f, "+="),
                    AtomicOp::Or { fetch: false } => lock(f, "|="),
                    AtomicOp::And { fetch: false } => lock(f, "&="),
                    AtomicOp::Xor { fetch: false } => lock(f, "^="),
                    AtomicOp::Add { fetch: true } => fetch(f, "add"),
                    AtomicOp::Or { fetch: true } => fetch(f, "or"),
                    AtomicOp::And { fetch: true } => fetch(f, "and"),
                    AtomicOp::Xor { fetch: true } => fetch(f, "xor"),
                    AtomicOp::Xchg => write!(
                        f,
                        "{} = xchg{sfx}(r{} + {}, {})",
                        R(w, src),
                        dst.0,
                        Hex(off as i64),
                        R(w, src)
                    ),
                    AtomicOp::Cmpxchg => write!(
                        f,
                        "{} = cmpxchg{sfx}(r{} + {}, {}, {})",
                        R(w, Reg::R0),
                        dst.0,
                        Hex(off as i64),
                        R(w, Reg::R0),
                        R(w, src)
                    ),
                    AtomicOp::LoadAcquire => {
                        write!(f, "{} = load_acquire(({t} *){})", R(w, dst), Addr(src, off))
                    }
                    AtomicOp::StoreRelease => write!(f, "store_release(({t} *){a}, {})", R(w, src)),
                }
            }
            Instruction::Jump {
                width,
                cond,
                dst,
                src,
                off,
            } => {
                write!(f, "if {} {} ", R(width, dst), cond.symbol())?;
                match src {
                    Source::Reg(s) => write!(f, "{}", R(width, s))?,
                    Source::Imm(i) => write!(f, "{}", Hex(i as i64))?,
                }
                write!(f, " goto {}", Rel(off as i64))
            }
            Instruction::Ja { off } => write!(f, "goto {}", Rel(off as i64)),
            Instruction::JaLong { imm } => write!(f, "gotol {}", Rel(imm as i64)),
            Instruction::MayGoto { off } => write!(f, "may_goto {}", Rel(off as i64)),
            Instruction::Call(Call::Helper(id)) | Instruction::Call(Call::Local(id)) => {
                write!(f, "call {}", Hex(id as i64))
            }
            Instruction::Call(Call::Kfunc { btf_id, module: 0 }) => {
                write!(f, "call kfunc({})", Hex(btf_id as i64))
            }
            Instruction::Call(Call::Kfunc { btf_id, module }) => {
                write!(f, "call kfunc({}, fd_array[{module}])", Hex(btf_id as i64))
            }
            Instruction::CallX { reg } => write!(f, "callx r{}", reg.0),
            Instruction::Exit => f.write_str("exit"),
        }
    }
}

/// A whole program as text, one instruction per line: `   N: text`.
///
/// Slots that do not decode are printed as `<invalid: reason>` so a listing
/// never fails.
pub struct Listing<'a>(pub &'a [Insn]);

impl fmt::Display for Listing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut i = 0;
        while i < self.0.len() {
            match Instruction::decode_at(self.0, i) {
                Ok(ins) => {
                    writeln!(f, "{i:>6}: {ins}")?;
                    i = i.saturating_add(ins.slots());
                }
                Err(e) => {
                    writeln!(f, "{i:>6}: <invalid: {}>", e.reason)?;
                    i = i.saturating_add(1);
                }
            }
        }
        Ok(())
    }
}
