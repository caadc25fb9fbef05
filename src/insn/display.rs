//! LLVM-style text for [`Instruction`] (what `llvm-objdump-19 -d --mcpu=v4` prints).

use super::*;
use std::fmt;

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

/// `dst op= src`, and the sign-extending `dst = (sN)src`.
fn alu(f: &mut fmt::Formatter<'_>, width: Width, op: AluOp, dst: Reg, src: Source) -> fmt::Result {
    match (op, src) {
        (AluOp::MovSx(bits), Source::Reg(s)) => {
            write!(f, "{} = (s{bits}){}", R(width, dst), R(width, s))
        }
        (_, Source::Reg(s)) => write!(f, "{} {} {}", R(width, dst), op.symbol(), R(width, s)),
        (_, Source::Imm(i)) => {
            write!(f, "{} {} {}", R(width, dst), op.symbol(), Hex(i as i64))
        }
    }
}

/// `r1 = 0x5 ll`, `r1 = map_fd(3) ll`, ….
fn ld_imm64(f: &mut fmt::Formatter<'_>, dst: Reg, value: Imm64) -> fmt::Result {
    let d = dst.0;
    match value {
        Imm64::Const(v) => write!(f, "r{d} = {} ll", Hex(v)),
        Imm64::MapFd(fd) => write!(f, "r{d} = map_fd({fd}) ll"),
        Imm64::MapValue { fd, off } => {
            write!(f, "r{d} = map_value({fd}, {}) ll", Hex(off as i64))
        }
        Imm64::BtfId { id, module } => write!(f, "r{d} = btf_id({id}, {module}) ll"),
        Imm64::Func(rel) => write!(f, "r{d} = func({}) ll", Rel(rel as i64)),
        Imm64::MapIdx(idx) => write!(f, "r{d} = map_idx({idx}) ll"),
        Imm64::MapIdxValue { idx, off } => {
            write!(f, "r{d} = map_idx_value({idx}, {}) ll", Hex(off as i64))
        }
    }
}

/// `r0 = *(u8 *)skb[0x5]`, `r0 = *(u8 *)skb[r1 + 0x5]`.
fn ld_packet(f: &mut fmt::Formatter<'_>, size: Size, src: Option<Reg>, imm: i32) -> fmt::Result {
    let t = utype(size);
    match src {
        None => write!(f, "r0 = *({t} *)skb[{}]", Hex(imm as i64)),
        Some(src) if imm == 0 => write!(f, "r0 = *({t} *)skb[r{}]", src.0),
        Some(src) => write!(f, "r0 = *({t} *)skb[r{} + {}]", src.0, Hex(imm as i64)),
    }
}

/// `w0 = *(u32 *)(r1 + 0x4)`, `r0 = *(s32 *)(r1 + 0x4)`.
fn load(
    f: &mut fmt::Formatter<'_>,
    size: Size,
    sign_extend: bool,
    dst: Reg,
    (src, off): (Reg, i16),
) -> fmt::Result {
    if sign_extend {
        write!(f, "r{} = *({} *){}", dst.0, stype(size), Addr(src, off))
    } else {
        write!(
            f,
            "{} = *({} *){}",
            R(mem_width(size), dst),
            utype(size),
            Addr(src, off)
        )
    }
}

/// The atomics, in LLVM's (and for acquire/release LLVM 21's) syntax.
fn atomic(
    f: &mut fmt::Formatter<'_>,
    size: Size,
    op: AtomicOp,
    (dst, src): (Reg, Reg),
    off: i16,
) -> fmt::Result {
    let w = mem_width(size);
    let (t, a) = (utype(size), Addr(dst, off));
    let lock =
        |f: &mut fmt::Formatter<'_>, sym: &str| write!(f, "lock *({t} *){a} {sym} {}", R(w, src));
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

/// `if r1 s> 0x5 goto +0x3`.
fn jump(
    f: &mut fmt::Formatter<'_>,
    width: Width,
    cond: Cond,
    (dst, src): (Reg, Source),
    off: i16,
) -> fmt::Result {
    write!(f, "if {} {} ", R(width, dst), cond.symbol())?;
    match src {
        Source::Reg(s) => write!(f, "{}", R(width, s))?,
        Source::Imm(i) => write!(f, "{}", Hex(i as i64))?,
    }
    write!(f, " goto {}", Rel(off as i64))
}

/// `call 0x5`, `call kfunc(0xf825)`, `call kfunc(0xf825, fd_array[1])`.
fn call(f: &mut fmt::Formatter<'_>, c: Call) -> fmt::Result {
    match c {
        Call::Helper(id) | Call::Local(id) => write!(f, "call {}", Hex(id as i64)),
        Call::Kfunc { btf_id, module: 0 } => write!(f, "call kfunc({})", Hex(btf_id as i64)),
        Call::Kfunc { btf_id, module } => {
            write!(f, "call kfunc({}, fd_array[{module}])", Hex(btf_id as i64))
        }
    }
}

impl fmt::Display for Instruction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Instruction::Alu {
                width,
                op,
                dst,
                src,
            } => alu(f, width, op, dst, src),
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
            } => write!(
                f,
                "r{} = addr_space_cast(r{}, {}, {})",
                dst.0,
                src.0,
                Hex(dst_as as i64),
                Hex(src_as as i64)
            ),
            Instruction::LdImm64 { dst, value } => ld_imm64(f, dst, value),
            Instruction::LdAbs { size, imm } => ld_packet(f, size, None, imm),
            Instruction::LdInd { size, src, imm } => ld_packet(f, size, Some(src), imm),
            Instruction::Load {
                size,
                sign_extend,
                dst,
                src,
                off,
            } => load(f, size, sign_extend, dst, (src, off)),
            Instruction::StoreImm {
                size,
                dst,
                off,
                imm,
            } => write!(
                f,
                "*({} *){} = {}",
                utype(size),
                Addr(dst, off),
                Hex(imm as i64)
            ),
            Instruction::Store {
                size,
                dst,
                src,
                off,
            } => write!(
                f,
                "*({} *){} = {}",
                utype(size),
                Addr(dst, off),
                R(mem_width(size), src)
            ),
            Instruction::Atomic {
                size,
                op,
                dst,
                src,
                off,
            } => atomic(f, size, op, (dst, src), off),
            Instruction::Jump {
                width,
                cond,
                dst,
                src,
                off,
            } => jump(f, width, cond, (dst, src), off),
            Instruction::Ja { off } => write!(f, "goto {}", Rel(off as i64)),
            Instruction::JaLong { imm } => write!(f, "gotol {}", Rel(imm as i64)),
            Instruction::MayGoto { off } => write!(f, "may_goto {}", Rel(off as i64)),
            Instruction::Call(c) => call(f, c),
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
        for (i, r) in instructions(self.0) {
            match r {
                Ok(ins) => writeln!(f, "{i:>6}: {ins}")?,
                Err(e) => writeln!(f, "{i:>6}: <invalid: {}>", e.reason)?,
            }
        }
        Ok(())
    }
}
