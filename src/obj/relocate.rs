//! Relocation: turns one program of an [`ObjectSpec`] into the final
//! instructions and BTF records for `BPF_PROG_LOAD`.
//!
//! Pure. Kernel facts come in as [`KernelFacts`]: map fds, where the arena
//! globals are placed, and what each extern resolved to.
//!
//! Subprograms are gathered as libbpf does: the program's own instructions
//! first, then every subprogram it reaches (directly or through other
//! subprograms), each appended once, in the order first reached; call
//! offsets are patched to the appended copies, and func_info / line_info /
//! CO-RE records travel with the code (func/line info in instruction
//! indexes, CO-RE in bytes).
//!
//! Every relocated instruction is decoded and rewritten as a typed
//! [`Instruction`]; one that does not decode is an [`ObjError::Relocation`].

use super::{CodeSection, ExternKind, MapOrigin, ObjError, ObjectSpec, Reloc, RelocTarget};
use crate::insn::{self, Call, Imm64, Insn, Instruction, Reg};

/// `imm` of the helper call that replaces a call to a missing weak kfunc
/// (libbpf's convention: base + extern index). The verifier rejects it only
/// if the call is reachable.
pub(crate) const POISON_KFUNC_CALL_BASE: i32 = 2_002_000_000;

/// What an extern resolved to in the running kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// A kernel BTF id; `fd_index` is 0 for vmlinux or the `fd_array` index
    /// of the module BTF fd.
    BtfId {
        /// BTF type id.
        id: u32,
        /// `fd_array` index (0: vmlinux).
        fd_index: i16,
    },
    /// Not found (allowed for weak externs only).
    Missing,
    /// A kconfig value, stored in the `.kconfig` map.
    Kconfig,
}

/// Kernel facts the relocations need.
#[derive(Clone, Copy, Debug)]
pub struct KernelFacts<'a> {
    /// The fd of each map in `spec.maps` (by index).
    pub map_fds: &'a [i32],
    /// Offset of the `.addr_space.1` image inside the arena.
    pub arena_offset: u64,
    /// Resolution of each extern in `spec.externs` (by index).
    pub externs: &'a [Resolved],
}

/// A program ready for `BPF_PROG_LOAD`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RelocatedProgram {
    /// Final instructions.
    pub insns: Vec<Insn>,
    /// `bpf_func_info` records (8 bytes each, instruction indexes).
    pub func_info: Vec<u8>,
    /// `bpf_line_info` records (16 bytes each, instruction indexes).
    pub line_info: Vec<u8>,
    /// `bpf_core_relo` records (16 bytes each, byte offsets).
    pub core_relos: Vec<u8>,
    /// An instruction refers to the arena map (so the kernel associates it).
    pub names_arena: bool,
    /// The program contains `addr_space_cast` instructions.
    pub uses_arena_cast: bool,
    /// Subprograms appended, by name, in order.
    pub subprograms: Vec<String>,
}

/// A placed function: code section, first instruction, length, output start.
#[derive(Clone, Copy)]
struct Placed<'a> {
    name: &'a str,
    code: usize,
    start: usize,
    len: usize,
    out: usize,
}

impl Placed<'_> {
    /// The end of the function in its section (checked when placed).
    fn end(&self) -> usize {
        self.start.saturating_add(self.len)
    }

    /// Whether section instruction `insn` lies inside the function.
    fn contains(&self, insn: usize) -> bool {
        insn >= self.start && insn < self.end()
    }

    /// The output index of section instruction `insn` (inside the function).
    fn out_index(&self, insn: usize) -> Option<usize> {
        self.out.checked_add(insn.checked_sub(self.start)?)
    }
}

fn push_u32s(v: &mut Vec<u8>, ws: &[u32]) {
    for w in ws {
        v.extend_from_slice(&w.to_le_bytes());
    }
}

/// The instruction at output index `at`, decoded from the slots of
/// function `f` alone (else an `ld_imm64` at its end would take the next
/// function's first instruction as its second slot).
fn site(insns: &[Insn], at: usize, f: &Placed<'_>) -> Result<Instruction, String> {
    let end = f
        .out
        .checked_add(f.len)
        .ok_or("instruction index overflows")?;
    let (Some(body), Some(k)) = (insns.get(f.out..end), at.checked_sub(f.out)) else {
        return Err("instruction index out of range".into());
    };
    let first = body.get(k).ok_or("instruction index out of range")?;
    if first.is_ld_imm64() && k.checked_add(2).is_none_or(|e| e > body.len()) {
        return Err(format!(
            "ld_imm64 is cut off by the end of function '{}'",
            f.name
        ));
    }
    Instruction::decode_at(body, k).map_err(|e| format!("relocated instruction: {}", e.reason))
}

/// The destination register of `ins`, which must be an `ld_imm64`, and
/// the value it loads.
fn ld_imm64(ins: Instruction) -> Result<(Reg, Imm64), String> {
    match ins {
        Instruction::LdImm64 { dst, value } => Ok((dst, value)),
        other => Err(format!("relocation on '{other}', which is not an ld_imm64")),
    }
}

/// Writes `ins` over the slots at output index `at` (as many as it takes;
/// [`site`] checked that they lie inside the function).
fn put(insns: &mut [Insn], at: usize, ins: Instruction) -> Result<(), String> {
    let n = ins.slots();
    let slots = ins.encode();
    let dst = at
        .checked_add(n)
        .and_then(|end| insns.get_mut(at..end))
        .ok_or("instruction index out of range")?;
    for (d, s) in dst.iter_mut().zip(&slots) {
        *d = *s;
    }
    Ok(())
}

/// The call's `imm` for a jump from output index `at` to `dest`.
fn call_offset(dest: usize, at: usize) -> Result<i32, String> {
    let (Ok(dest), Ok(at)) = (i64::try_from(dest), i64::try_from(at)) else {
        return Err("instruction index out of range".into());
    };
    dest.checked_sub(at)
        .and_then(|d| d.checked_sub(1))
        .and_then(|d| i32::try_from(d).ok())
        .ok_or_else(|| "call offset does not fit an instruction".into())
}

/// Turns the `ld_imm64` at output index `at` into a map-value load
/// ([`Imm64::MapValue`]) of map `fd` at `base + imm + offset`, where `imm`
/// is the addend the instruction already holds (its first slot's `imm`).
/// `what` names the kind of value in an offset that does not fit ("arena ",
/// or "").
fn set_map_value(
    insns: &mut [Insn],
    at: usize,
    f: &Placed<'_>,
    fd: i32,
    (base, offset): (u64, u64),
    what: &str,
) -> Result<(), String> {
    let (dst, value) = ld_imm64(site(insns, at, f)?)?;
    let imm = value.imms().0;
    let off = i64::try_from(base)
        .ok()
        .zip(i64::try_from(offset).ok())
        .and_then(|(b, o)| b.checked_add(i64::from(imm))?.checked_add(o))
        .filter(|v| *v >= 0)
        .and_then(|v| i32::try_from(v).ok())
        .ok_or_else(|| {
            format!("{what}offset {base:#x} + {imm:#x} + {offset:#x} does not fit an ld_imm64")
        })?;
    let value = Imm64::MapValue { fd, off };
    put(insns, at, Instruction::LdImm64 { dst, value })
}

/// The fd given for map `m`.
fn map_fd(facts: &KernelFacts<'_>, m: usize) -> Result<i32, String> {
    facts
        .map_fds
        .get(m)
        .copied()
        .ok_or_else(|| format!("no fd given for map #{m}"))
}

/// The map made for the data section, arena or `.kconfig` `origin`.
fn map_of(spec: &ObjectSpec, origin: MapOrigin, what: &str) -> Result<usize, String> {
    spec.maps
        .iter()
        .position(|m| m.origin == origin)
        .ok_or_else(|| format!("no {what}"))
}

/// The program being relocated: the functions placed so far and the output.
struct Relocator<'a> {
    spec: &'a ObjectSpec,
    placed: Vec<Placed<'a>>,
    out: RelocatedProgram,
}

/// Relocates program `prog` of `spec`: appends the subprograms it calls
/// and applies every relocation of its code.
pub fn relocate(
    spec: &ObjectSpec,
    prog: usize,
    facts: &KernelFacts<'_>,
) -> Result<RelocatedProgram, ObjError> {
    let p = spec.programs.get(prog).ok_or_else(|| ObjError::Symbol {
        symbol: format!("program #{prog}"),
        reason: "no such program".into(),
    })?;
    let first = spec
        .code
        .get(p.code)
        .and_then(|c| c.insns.get(p.start..p.start.checked_add(p.len)?))
        .ok_or_else(|| ObjError::Symbol {
            symbol: p.name.clone(),
            reason: format!("runs past the end of section '{}'", p.section),
        })?;
    let mut l = Relocator {
        spec,
        placed: vec![Placed {
            name: &p.name,
            code: p.code,
            start: p.start,
            len: p.len,
            out: 0,
        }],
        out: RelocatedProgram::default(),
    };
    l.out.insns.extend_from_slice(first);
    let mut i = 0;
    while let Some(&f) = l.placed.get(i) {
        i = i.saturating_add(1);
        let Some(code) = spec.code.get(f.code) else {
            continue;
        };
        let err = |insn: usize, symbol: &str, reason: String| ObjError::Relocation {
            section: code.name.clone(),
            insn,
            symbol: symbol.to_string(),
            reason,
        };
        let mut relocated = vec![false; f.len];
        for r in code.relocs.iter().filter(|r| f.contains(r.insn)) {
            if let Some(d) = r
                .insn
                .checked_sub(f.start)
                .and_then(|k| relocated.get_mut(k))
            {
                *d = true;
            }
            l.apply(facts, &f, r)
                .map_err(|reason| err(r.insn, &r.symbol, reason))?;
        }
        // Calls inside a section without a relocation (static functions).
        for (k, _) in relocated.iter().enumerate().filter(|(_, done)| !**done) {
            let Some(idx) = f.start.checked_add(k) else {
                break;
            };
            l.static_call(code, &f, idx)
                .map_err(|reason| err(idx, "?", reason))?;
        }
    }
    let mut out = l.out;
    out.uses_arena_cast = insn::instructions(&out.insns)
        .any(|(_, i)| matches!(i, Ok(Instruction::AddrSpaceCast { .. })));
    copy_btf_records(spec, &l.placed, &mut out);
    Ok(out)
}

impl<'a> Relocator<'a> {
    /// Applies relocation `r` of function `f`.
    fn apply(&mut self, facts: &KernelFacts<'_>, f: &Placed<'_>, r: &Reloc) -> Result<(), String> {
        let at = f.out_index(r.insn).ok_or("instruction index overflows")?;
        let insns = &mut self.out.insns;
        match r.target {
            RelocTarget::Call { code: tc, insn } | RelocTarget::FuncAddr { code: tc, insn } => {
                let dest = self.place(tc, insn)?;
                let rel = call_offset(dest, at)?;
                let insns = &mut self.out.insns;
                match site(insns, at, f)? {
                    Instruction::Call(_) => put(insns, at, Instruction::Call(Call::Local(rel))),
                    ins => {
                        let (dst, _) = ld_imm64(ins)?;
                        let value = Imm64::Func(rel);
                        put(insns, at, Instruction::LdImm64 { dst, value })
                    }
                }
            }
            RelocTarget::Map(m) => {
                let fd = map_fd(facts, m)?;
                let (dst, _) = ld_imm64(site(insns, at, f)?)?;
                let value = Imm64::MapFd(fd);
                put(insns, at, Instruction::LdImm64 { dst, value })?;
                self.out.names_arena |= Some(m) == self.spec.arena_map();
                Ok(())
            }
            RelocTarget::Data { data, offset } => {
                let m = map_of(self.spec, MapOrigin::Data(data), "map for its data section")?;
                let fd = map_fd(facts, m)?;
                set_map_value(insns, at, f, fd, (0, offset), "")
            }
            RelocTarget::Arena { offset } => {
                let m = self
                    .spec
                    .arena_map()
                    .ok_or("__arena global without an arena map")?;
                let fd = map_fd(facts, m)?;
                set_map_value(insns, at, f, fd, (facts.arena_offset, offset), "arena ")?;
                self.out.names_arena = true;
                Ok(())
            }
            RelocTarget::Extern(x) => self.apply_extern(facts, f, at, x),
        }
    }

    /// Applies a relocation against extern `x` to the instruction at
    /// output index `at` of function `f`: a kfunc call, a ksym address, a
    /// `.kconfig` value, or the stand-ins for missing weak externs.
    fn apply_extern(
        &mut self,
        facts: &KernelFacts<'_>,
        f: &Placed<'_>,
        at: usize,
        x: usize,
    ) -> Result<(), String> {
        let (Some(ext), Some(&res)) = (self.spec.externs.get(x), facts.externs.get(x)) else {
            return Err(format!("no extern #{x} resolved"));
        };
        let insns = &mut self.out.insns;
        let ins = site(insns, at, f)?;
        let is_call = matches!(ins, Instruction::Call(_));
        match (ext.kind, res, is_call) {
            (ExternKind::Kfunc, Resolved::BtfId { id, fd_index }, true) => {
                let call = Call::Kfunc {
                    btf_id: id as i32,
                    module: fd_index,
                };
                put(insns, at, Instruction::Call(call))
            }
            (_, Resolved::Missing, true) if ext.weak => {
                let poison = i32::try_from(x)
                    .ok()
                    .and_then(|x| POISON_KFUNC_CALL_BASE.checked_add(x))
                    .ok_or("too many externs")?;
                put(insns, at, Instruction::Call(Call::Helper(poison)))
            }
            (_, _, true) if ext.kind != ExternKind::Kfunc => {
                Err("call to an extern that is not a function".into())
            }
            (ExternKind::Kfunc | ExternKind::Ksym, Resolved::BtfId { id, fd_index }, false) => {
                let (dst, _) = ld_imm64(ins)?;
                let value = Imm64::BtfId {
                    id: id as i32,
                    module: i32::from(fd_index),
                };
                put(insns, at, Instruction::LdImm64 { dst, value })
            }
            (ExternKind::Kfunc | ExternKind::Ksym, Resolved::Missing, false) if ext.weak => {
                let (dst, _) = ld_imm64(ins)?;
                put(insns, at, Instruction::ld_imm64(dst, 0))
            }
            (ExternKind::Kconfig { offset, .. }, _, false) => {
                let m = map_of(self.spec, MapOrigin::Kconfig, ".kconfig map")?;
                let fd = map_fd(facts, m)?;
                set_map_value(insns, at, f, fd, (0, offset), "")
            }
            (_, Resolved::Missing, _) => {
                Err("strong extern not found in the running kernel".into())
            }
            _ => Err("extern resolved to the wrong kind".into()),
        }
    }

    /// Patches a bpf-to-bpf call without a relocation at section
    /// instruction `idx` of `code` (a call to a static function in the same
    /// section), placing its target. Anything else is left alone.
    fn static_call(
        &mut self,
        code: &'a CodeSection,
        f: &Placed<'_>,
        idx: usize,
    ) -> Result<(), String> {
        let Ok(Instruction::Call(Call::Local(rel))) = Instruction::decode_at(&code.insns, idx)
        else {
            return Ok(());
        };
        let target = i64::try_from(idx)
            .ok()
            .and_then(|i| i.checked_add(i64::from(rel))?.checked_add(1))
            .and_then(|t| usize::try_from(t).ok())
            .filter(|&t| t < code.insns.len())
            .ok_or("call target outside its section")?;
        let dest = self.place(f.code, target)?;
        let at = f.out_index(idx).ok_or("instruction index overflows")?;
        let rel = call_offset(dest, at)?;
        put(&mut self.out.insns, at, Instruction::Call(Call::Local(rel)))
    }

    /// Ensures the function containing `insn` of code section `code` is
    /// placed; returns the output index of `insn`.
    fn place(&mut self, code: usize, insn: usize) -> Result<usize, String> {
        if let Some(p) = self
            .placed
            .iter()
            .find(|p| p.code == code && p.contains(insn))
        {
            return p
                .out_index(insn)
                .ok_or_else(|| "instruction index overflows".into());
        }
        let spec = self.spec;
        let c = spec
            .code
            .get(code)
            .ok_or_else(|| format!("call target in code section #{code}, which does not exist"))?;
        let f = c
            .funcs
            .iter()
            .find(|f| insn >= f.start && f.start.checked_add(f.len).is_some_and(|end| insn < end))
            .ok_or_else(|| {
                format!(
                    "call target {insn} in '{}' is not inside a function",
                    c.name
                )
            })?;
        let body = f
            .start
            .checked_add(f.len)
            .and_then(|end| c.insns.get(f.start..end))
            .ok_or_else(|| format!("function '{}' runs past the end of '{}'", f.name, c.name))?;
        let start = self.out.insns.len();
        self.out.insns.extend_from_slice(body);
        self.out.subprograms.push(f.name.clone());
        let p = Placed {
            name: &f.name,
            code,
            start: f.start,
            len: f.len,
            out: start,
        };
        self.placed.push(p);
        p.out_index(insn)
            .ok_or_else(|| "instruction index overflows".into())
    }
}

/// Copies the func_info, line_info and CO-RE records of every placed
/// function to the output, at the functions' output indexes.
fn copy_btf_records(spec: &ObjectSpec, placed: &[Placed<'_>], out: &mut RelocatedProgram) {
    let Some(ext) = &spec.btf_ext else {
        return;
    };
    for f in placed {
        let Some(sec) = spec.code.get(f.code).and_then(|c| ext.section(&c.name)) else {
            continue;
        };
        let within = |off: u32| {
            let idx = usize::try_from(off / 8).ok()?;
            if off % 8 != 0 || !f.contains(idx) {
                return None;
            }
            u32::try_from(f.out_index(idx)?).ok()
        };
        for fi in &sec.func_info {
            if let Some(idx) = within(fi.insn_off) {
                push_u32s(&mut out.func_info, &[idx, fi.type_id]);
            }
        }
        for li in &sec.line_info {
            if let Some(idx) = within(li.insn_off) {
                push_u32s(
                    &mut out.line_info,
                    &[idx, li.file_name_off, li.line_off, li.line_col],
                );
            }
        }
        for cr in &sec.core_relos {
            if let Some(off) = within(cr.insn_off).and_then(|idx| idx.checked_mul(8)) {
                push_u32s(
                    &mut out.core_relos,
                    &[off, cr.type_id, cr.access_str_off, cr.kind],
                );
            }
        }
    }
}
