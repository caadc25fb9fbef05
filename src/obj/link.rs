//! Linking and relocation: turns one program of an [`ObjectSpec`] into the
//! final instructions and BTF records for `BPF_PROG_LOAD`.
//!
//! Pure. Kernel facts come in as [`KernelFacts`]: map fds, where the arena
//! globals are placed, and what each extern resolved to.
//!
//! Linking follows libbpf: the program's own instructions first, then every
//! subprogram it reaches (directly or through other subprograms), each
//! appended once, in the order first reached; call offsets are patched to the
//! appended copies, and func_info / line_info / CO-RE records travel with the
//! code (func/line info in instruction indexes, CO-RE in bytes).

use super::{ExternKind, MapOrigin, ObjError, ObjectSpec, RelocTarget};
use crate::insn::{Insn, pseudo};

/// `imm` of the helper call that replaces a call to a missing weak kfunc
/// (libbpf's convention: base + extern index). The verifier rejects it only
/// if the call is reachable.
pub const POISON_KFUNC_CALL_BASE: i32 = 2_002_000_000;

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
pub struct LinkedProgram {
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

/// The two slots of the `ld_imm64` at output index `at`, or why not.
/// Both must lie inside function `f` (else the second slot would be the
/// next function's first instruction).
fn ld_slots<'i>(
    insns: &'i mut [Insn],
    at: usize,
    f: &Placed<'_>,
) -> Result<(&'i mut Insn, &'i mut Insn), String> {
    let end = at.checked_add(2).ok_or("instruction index overflows")?;
    let f_end = f
        .out
        .checked_add(f.len)
        .ok_or("instruction index overflows")?;
    match insns.get_mut(at..end) {
        Some([first, second]) if end <= f_end => Ok((first, second)),
        _ => Err(format!(
            "ld_imm64 is cut off by the end of function '{}'",
            f.name
        )),
    }
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
/// (`BPF_PSEUDO_MAP_VALUE`) of map `fd` at `base + imm + offset`, where
/// `imm` is the addend the instruction already holds. `what` names the
/// kind of value in an offset that does not fit ("arena ", or "").
fn set_map_value(
    insns: &mut [Insn],
    at: usize,
    f: &Placed<'_>,
    fd: i32,
    (base, offset): (u64, u64),
    what: &str,
) -> Result<(), String> {
    let (ins, next) = ld_slots(insns, at, f)?;
    let imm = ins.imm;
    let value_off = i64::try_from(base)
        .ok()
        .zip(i64::try_from(offset).ok())
        .and_then(|(b, o)| b.checked_add(i64::from(imm))?.checked_add(o))
        .filter(|v| *v >= 0)
        .and_then(|v| i32::try_from(v).ok())
        .ok_or_else(|| {
            format!("{what}offset {base:#x} + {imm:#x} + {offset:#x} does not fit an ld_imm64")
        })?;
    ins.set_src(pseudo::MAP_VALUE);
    ins.imm = fd;
    next.imm = value_off;
    Ok(())
}

/// The fd given for map `m`.
fn map_fd(facts: &KernelFacts<'_>, m: usize) -> Result<i32, String> {
    facts
        .map_fds
        .get(m)
        .copied()
        .ok_or_else(|| format!("no fd given for map #{m}"))
}

/// Links program `prog` of `spec` and applies its relocations.
pub fn link(
    spec: &ObjectSpec,
    prog: usize,
    facts: &KernelFacts<'_>,
) -> Result<LinkedProgram, ObjError> {
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
    let mut out = LinkedProgram::default();
    let mut placed: Vec<Placed<'_>> = vec![Placed {
        name: &p.name,
        code: p.code,
        start: p.start,
        len: p.len,
        out: 0,
    }];
    out.insns.extend_from_slice(first);
    let arena_map = spec.arena_map();
    let mut i = 0;
    while let Some(&f) = placed.get(i) {
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
            let e = |reason: String| err(r.insn, &r.symbol, reason);
            let at = f
                .out_index(r.insn)
                .ok_or_else(|| e("instruction index overflows".into()))?;
            if let Some(d) = r
                .insn
                .checked_sub(f.start)
                .and_then(|k| relocated.get_mut(k))
            {
                *d = true;
            }
            match r.target {
                RelocTarget::Call { code: tc, insn } | RelocTarget::FuncAddr { code: tc, insn } => {
                    let dest = place(spec, &mut placed, &mut out, tc, insn).map_err(e)?;
                    let imm = call_offset(dest, at).map_err(e)?;
                    let ins = out
                        .insns
                        .get_mut(at)
                        .ok_or_else(|| e("instruction index out of range".into()))?;
                    if ins.is_call() {
                        ins.imm = imm;
                        ins.set_src(pseudo::CALL);
                    } else {
                        let (ins, next) = ld_slots(&mut out.insns, at, &f).map_err(e)?;
                        ins.imm = imm;
                        ins.set_src(pseudo::FUNC);
                        next.imm = 0;
                    }
                }
                RelocTarget::Map(m) => {
                    let fd = map_fd(facts, m).map_err(e)?;
                    let (ins, next) = ld_slots(&mut out.insns, at, &f).map_err(e)?;
                    ins.set_src(pseudo::MAP_FD);
                    ins.imm = fd;
                    next.imm = 0;
                    out.names_arena |= Some(m) == arena_map;
                }
                RelocTarget::Data { data, offset } => {
                    let m = spec
                        .maps
                        .iter()
                        .position(|m| m.origin == MapOrigin::Data(data))
                        .ok_or_else(|| e("no map for its data section".into()))?;
                    let fd = map_fd(facts, m).map_err(e)?;
                    set_map_value(&mut out.insns, at, &f, fd, (0, offset), "").map_err(e)?;
                }
                RelocTarget::Arena { offset } => {
                    let m =
                        arena_map.ok_or_else(|| e("__arena global without an arena map".into()))?;
                    let fd = map_fd(facts, m).map_err(e)?;
                    let at_arena = (facts.arena_offset, offset);
                    set_map_value(&mut out.insns, at, &f, fd, at_arena, "arena ").map_err(e)?;
                    out.names_arena = true;
                }
                RelocTarget::Extern(x) => {
                    let (Some(ext), Some(&res)) = (spec.externs.get(x), facts.externs.get(x))
                    else {
                        return Err(e(format!("no extern #{x} resolved")));
                    };
                    let is_call = out.insns.get(at).is_some_and(Insn::is_call);
                    match (ext.kind, res, is_call) {
                        (ExternKind::Kfunc, Resolved::BtfId { id, fd_index }, true) => {
                            let c = out
                                .insns
                                .get_mut(at)
                                .ok_or_else(|| e("instruction index out of range".into()))?;
                            c.set_src(pseudo::KFUNC_CALL);
                            c.imm = id as i32;
                            c.off = fd_index;
                        }
                        (_, Resolved::Missing, true) if ext.weak => {
                            let poison = i32::try_from(x)
                                .ok()
                                .and_then(|x| POISON_KFUNC_CALL_BASE.checked_add(x))
                                .ok_or_else(|| e("too many externs".into()))?;
                            let c = out
                                .insns
                                .get_mut(at)
                                .ok_or_else(|| e("instruction index out of range".into()))?;
                            *c = Insn::new(0x85, 0, 0, 0, poison);
                        }
                        (_, _, true) if ext.kind != ExternKind::Kfunc => {
                            return Err(e("call to an extern that is not a function".into()));
                        }
                        (
                            ExternKind::Kfunc | ExternKind::Ksym,
                            Resolved::BtfId { id, fd_index },
                            false,
                        ) => {
                            let (c, next) = ld_slots(&mut out.insns, at, &f).map_err(e)?;
                            c.set_src(pseudo::BTF_ID);
                            c.imm = id as i32;
                            next.imm = i32::from(fd_index);
                        }
                        (ExternKind::Kfunc | ExternKind::Ksym, Resolved::Missing, false)
                            if ext.weak =>
                        {
                            let (c, next) = ld_slots(&mut out.insns, at, &f).map_err(e)?;
                            c.set_src(0);
                            c.imm = 0;
                            next.imm = 0;
                        }
                        (ExternKind::Kconfig { offset, .. }, _, false) => {
                            let m = spec
                                .maps
                                .iter()
                                .position(|m| m.origin == MapOrigin::Kconfig)
                                .ok_or_else(|| e("no .kconfig map".into()))?;
                            let fd = map_fd(facts, m).map_err(e)?;
                            set_map_value(&mut out.insns, at, &f, fd, (0, offset), "")
                                .map_err(e)?;
                        }
                        (_, Resolved::Missing, _) => {
                            return Err(e("strong extern not found in the running kernel".into()));
                        }
                        _ => {
                            return Err(e("extern resolved to the wrong kind".into()));
                        }
                    }
                }
            }
        }
        // Calls inside a section without a relocation (static functions).
        for (k, done) in relocated.iter().enumerate() {
            let Some(idx) = f.start.checked_add(k) else {
                break;
            };
            let Some(&ins) = code.insns.get(idx) else {
                break;
            };
            if !ins.is_call() || ins.src() != pseudo::CALL || *done {
                continue;
            }
            let e = |reason: String| err(idx, "?", reason);
            let target = i64::try_from(idx)
                .ok()
                .and_then(|i| i.checked_add(i64::from(ins.imm))?.checked_add(1))
                .and_then(|t| usize::try_from(t).ok())
                .filter(|&t| t < code.insns.len())
                .ok_or_else(|| e("call target outside its section".into()))?;
            let dest = place(spec, &mut placed, &mut out, f.code, target).map_err(e)?;
            let at = f
                .out_index(idx)
                .ok_or_else(|| e("instruction index overflows".into()))?;
            let imm = call_offset(dest, at).map_err(e)?;
            out.insns
                .get_mut(at)
                .ok_or_else(|| e("instruction index out of range".into()))?
                .imm = imm;
        }
    }
    out.uses_arena_cast = out.insns.iter().any(|i| i.code == 0xbf && i.off == 1);
    // BTF records travel with their code.
    if let Some(ext) = &spec.btf_ext {
        for f in &placed {
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
    Ok(out)
}

/// Ensures the function containing `insn` of code section `code` is placed;
/// returns the output index of `insn`.
fn place<'a>(
    spec: &'a ObjectSpec,
    placed: &mut Vec<Placed<'a>>,
    out: &mut LinkedProgram,
    code: usize,
    insn: usize,
) -> Result<usize, String> {
    if let Some(p) = placed.iter().find(|p| p.code == code && p.contains(insn)) {
        return p
            .out_index(insn)
            .ok_or_else(|| "instruction index overflows".into());
    }
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
    let start = out.insns.len();
    out.insns.extend_from_slice(body);
    out.subprograms.push(f.name.clone());
    let p = Placed {
        name: &f.name,
        code,
        start: f.start,
        len: f.len,
        out: start,
    };
    placed.push(p);
    p.out_index(insn)
        .ok_or_else(|| "instruction index overflows".into())
}
