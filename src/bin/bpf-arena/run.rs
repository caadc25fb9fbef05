//! `bpf-arena run`: load an object, run programs, print values.

use crate::args::RunArgs;
use crate::load::{Options, load_object};
use crate::{Fail, emit, object};
use bpf_arena::prog::{ProgramType, TestRun};
use std::fmt::Write as _;

fn is_packet_program(t: ProgramType) -> bool {
    [
        ProgramType::SOCKET_FILTER,
        ProgramType::SCHED_CLS,
        ProgramType::SCHED_ACT,
        ProgramType::XDP,
        ProgramType::CGROUP_SKB,
        ProgramType::LWT_IN,
        ProgramType::LWT_OUT,
        ProgramType::LWT_XMIT,
        ProgramType::LWT_SEG6LOCAL,
        ProgramType::SK_SKB,
        ProgramType::FLOW_DISSECTOR,
    ]
    .contains(&t)
}

pub(crate) fn run(a: RunArgs) -> Result<(), Fail> {
    let shown = a.object.display().to_string();
    let obj = load_object(
        &a.object,
        &Options {
            sets: &a.sets,
            gets: &a.gets,
            pages: a.pages,
            pin_root: a.pin_root.as_deref(),
            programs: &a.programs,
        },
    )?;
    let mut out = String::new();
    for name in &a.programs {
        let prog = obj
            .program(name)
            .map_err(|_| object(format!("{shown}: program '{name}' was not loaded")))?;
        let mut last = 0;
        for _ in 0..a.times {
            last = run_once(prog, &a.ctx)
                .map_err(|e| object(format!("{shown}: running '{name}': {e}")))?;
        }
        let _ = writeln!(out, "{name} retval={}", last as i32);
    }
    for g in &a.gets {
        let text = get_value(&obj, g).map_err(|e| object(format!("--get {g}: {e}")))?;
        let _ = writeln!(out, "{g}={text}");
    }
    emit(&out);
    Ok(())
}

/// One run of `prog` with `ctx` (copied for each run): SYSCALL programs
/// through `run_syscall`, packet programs with a 64-byte zero packet.
fn run_once(prog: &bpf_arena::Program, ctx: &[u8]) -> bpf_arena::Result<u32> {
    let mut c = ctx.to_vec();
    if prog.program_type() == ProgramType::SYSCALL {
        return prog.run_syscall(&mut c);
    }
    let packet = [0u8; 64];
    let mut run = TestRun::new();
    if is_packet_program(prog.program_type()) {
        run.data_in(&packet);
    }
    if !c.is_empty() {
        run.ctx_in(&mut c);
    }
    prog.test_run(&mut run).map(|r| r.retval)
}

/// A global's value as `--get` prints it: pointers (by the object's BTF)
/// as 0x-hex, other 1/2/4/8-byte values as unsigned decimal, anything else
/// as 0x and its bytes in memory order.
pub(crate) fn get_value(obj: &bpf_arena::LoadedObject, name: &str) -> bpf_arena::Result<String> {
    let bytes = obj.global_bytes(name)?;
    let mut le = [0u8; 8];
    if let Some(head) = le.get_mut(..bytes.len()) {
        head.copy_from_slice(&bytes);
    }
    let value = u64::from_le_bytes(le);
    Ok(match bytes.len() {
        8 if obj.spec().is_pointer(name) => format!("{value:#x}"),
        1 | 2 | 4 | 8 => value.to_string(),
        _ => {
            let mut h = String::from("0x");
            for b in &bytes {
                let _ = write!(h, "{b:02x}");
            }
            h
        }
    })
}
