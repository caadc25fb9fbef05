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
struct Placed {
    code: usize,
    start: usize,
    len: usize,
    out: usize,
}

fn push_u32s(v: &mut Vec<u8>, ws: &[u32]) {
    for w in ws {
        v.extend_from_slice(&w.to_le_bytes());
    }
}

/// Links program `prog` of `spec` and applies its relocations.
pub fn link(
    spec: &ObjectSpec,
    prog: usize,
    facts: &KernelFacts<'_>,
) -> Result<LinkedProgram, ObjError> {
    let p = &spec.programs[prog];
    let mut out = LinkedProgram::default();
    let mut placed: Vec<Placed> = vec![Placed {
        code: p.code,
        start: p.start,
        len: p.len,
        out: 0,
    }];
    out.insns
        .extend_from_slice(&spec.code[p.code].insns[p.start..p.start + p.len]);
    let arena_map = spec.arena_map();
    let mut i = 0;
    while i < placed.len() {
        let f = placed[i];
        let code = &spec.code[f.code];
        let err = |insn: usize, symbol: &str, reason: String| ObjError::Relocation {
            section: code.name.clone(),
            insn,
            symbol: symbol.to_string(),
            reason,
        };
        let range = f.start..f.start + f.len;
        let mut relocated = vec![false; f.len];
        for r in code.relocs.iter().filter(|r| range.contains(&r.insn)) {
            let at = f.out + r.insn - f.start;
            relocated[r.insn - f.start] = true;
            match r.target {
                RelocTarget::Call { code: tc, insn } | RelocTarget::FuncAddr { code: tc, insn } => {
                    let dest = place(spec, &mut placed, &mut out, tc, insn)
                        .map_err(|e| err(r.insn, &r.symbol, e))?;
                    let ins = &mut out.insns[at];
                    ins.imm = dest as i32 - at as i32 - 1;
                    if ins.is_call() {
                        ins.set_src(pseudo::CALL);
                    } else {
                        ins.set_src(pseudo::FUNC);
                        out.insns[at + 1].imm = 0;
                    }
                }
                RelocTarget::Map(m) => {
                    let ins = &mut out.insns[at];
                    ins.set_src(pseudo::MAP_FD);
                    ins.imm = facts.map_fds[m];
                    out.insns[at + 1].imm = 0;
                    out.names_arena |= Some(m) == arena_map;
                }
                RelocTarget::Data { data, offset } => {
                    let m = spec
                        .maps
                        .iter()
                        .position(|m| m.origin == MapOrigin::Data(data))
                        .ok_or_else(|| {
                            err(r.insn, &r.symbol, "no map for its data section".into())
                        })?;
                    let ins = &mut out.insns[at];
                    let value_off = ins.imm as i64 + offset as i64;
                    ins.set_src(pseudo::MAP_VALUE);
                    ins.imm = facts.map_fds[m];
                    out.insns[at + 1].imm = value_off as i32;
                }
                RelocTarget::Arena { offset } => {
                    let m = arena_map.ok_or_else(|| {
                        err(
                            r.insn,
                            &r.symbol,
                            "__arena global without an arena map".into(),
                        )
                    })?;
                    let ins = &mut out.insns[at];
                    let value_off = facts.arena_offset as i64 + ins.imm as i64 + offset as i64;
                    if !(0..=i32::MAX as i64).contains(&value_off) {
                        return Err(err(
                            r.insn,
                            &r.symbol,
                            format!("arena offset {value_off:#x} does not fit an ld_imm64"),
                        ));
                    }
                    ins.set_src(pseudo::MAP_VALUE);
                    ins.imm = facts.map_fds[m];
                    out.insns[at + 1].imm = value_off as i32;
                    out.names_arena = true;
                }
                RelocTarget::Extern(e) => {
                    let ext = &spec.externs[e];
                    let res = facts.externs[e];
                    let ins = out.insns[at];
                    match (ext.kind, res, ins.is_call()) {
                        (ExternKind::Kfunc, Resolved::BtfId { id, fd_index }, true) => {
                            let c = &mut out.insns[at];
                            c.set_src(pseudo::KFUNC_CALL);
                            c.imm = id as i32;
                            c.off = fd_index;
                        }
                        (_, Resolved::Missing, true) if ext.weak => {
                            out.insns[at] =
                                Insn::new(0x85, 0, 0, 0, POISON_KFUNC_CALL_BASE + e as i32);
                        }
                        (_, _, true) if ext.kind != ExternKind::Kfunc => {
                            return Err(err(
                                r.insn,
                                &r.symbol,
                                "call to an extern that is not a function".into(),
                            ));
                        }
                        (
                            ExternKind::Kfunc | ExternKind::Ksym,
                            Resolved::BtfId { id, fd_index },
                            false,
                        ) => {
                            let c = &mut out.insns[at];
                            c.set_src(pseudo::BTF_ID);
                            c.imm = id as i32;
                            out.insns[at + 1].imm = fd_index as i32;
                        }
                        (ExternKind::Kfunc | ExternKind::Ksym, Resolved::Missing, false)
                            if ext.weak =>
                        {
                            out.insns[at].set_src(0);
                            out.insns[at].imm = 0;
                            out.insns[at + 1].imm = 0;
                        }
                        (ExternKind::Kconfig { offset, .. }, _, false) => {
                            let m = spec
                                .maps
                                .iter()
                                .position(|m| m.origin == MapOrigin::Kconfig)
                                .ok_or_else(|| err(r.insn, &r.symbol, "no .kconfig map".into()))?;
                            let c = &mut out.insns[at];
                            let value_off = c.imm as i64 + offset as i64;
                            c.set_src(pseudo::MAP_VALUE);
                            c.imm = facts.map_fds[m];
                            out.insns[at + 1].imm = value_off as i32;
                        }
                        (_, Resolved::Missing, _) => {
                            return Err(err(
                                r.insn,
                                &r.symbol,
                                "strong extern not found in the running kernel".into(),
                            ));
                        }
                        _ => {
                            return Err(err(
                                r.insn,
                                &r.symbol,
                                "extern resolved to the wrong kind".into(),
                            ));
                        }
                    }
                }
            }
        }
        // Calls inside a section without a relocation (static functions).
        for (k, done) in relocated.iter().enumerate() {
            let ins = spec.code[f.code].insns[f.start + k];
            if ins.is_call() && ins.src() == pseudo::CALL && !done {
                let target = (f.start + k) as i64 + ins.imm as i64 + 1;
                if target < 0 || target as usize >= spec.code[f.code].insns.len() {
                    return Err(err(
                        f.start + k,
                        "?",
                        "call target outside its section".into(),
                    ));
                }
                let dest = place(spec, &mut placed, &mut out, f.code, target as usize)
                    .map_err(|e| err(f.start + k, "?", e))?;
                let at = f.out + k;
                out.insns[at].imm = dest as i32 - at as i32 - 1;
            }
        }
        i += 1;
    }
    out.uses_arena_cast = out.insns.iter().any(|i| i.code == 0xbf && i.off == 1);
    // BTF records travel with their code.
    if let Some(ext) = &spec.btf_ext {
        for f in &placed {
            let Some(sec) = ext.section(&spec.code[f.code].name) else {
                continue;
            };
            let within = |off: u32| {
                let idx = off as usize / 8;
                (off % 8 == 0 && idx >= f.start && idx < f.start + f.len)
                    .then(|| (f.out + idx - f.start) as u32)
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
                if let Some(idx) = within(cr.insn_off) {
                    push_u32s(
                        &mut out.core_relos,
                        &[idx * 8, cr.type_id, cr.access_str_off, cr.kind],
                    );
                }
            }
        }
    }
    Ok(out)
}

/// Ensures the function containing `insn` of code section `code` is placed;
/// returns the output index of `insn`.
fn place(
    spec: &ObjectSpec,
    placed: &mut Vec<Placed>,
    out: &mut LinkedProgram,
    code: usize,
    insn: usize,
) -> Result<usize, String> {
    if let Some(p) = placed
        .iter()
        .find(|p| p.code == code && (p.start..p.start + p.len).contains(&insn))
    {
        return Ok(p.out + insn - p.start);
    }
    let c = &spec.code[code];
    let f = c
        .funcs
        .iter()
        .find(|f| (f.start..f.start + f.len).contains(&insn))
        .ok_or_else(|| {
            format!(
                "call target {insn} in '{}' is not inside a function",
                c.name
            )
        })?;
    let start = out.insns.len();
    out.insns
        .extend_from_slice(&c.insns[f.start..f.start + f.len]);
    out.subprograms.push(f.name.clone());
    placed.push(Placed {
        code,
        start: f.start,
        len: f.len,
        out: start,
    });
    Ok(start + insn - f.start)
}
