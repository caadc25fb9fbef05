//! `bpf-arena run`: load an object, run programs, print values.

use crate::args::{self, RunArgs};
use crate::{Fail, emit, object};
use bpf_arena::loader::ObjectLoader;
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
    let loader = prepare(&a, &shown)?;
    let obj = loader.load().map_err(|e| match e {
        bpf_arena::Error::Verifier(v) => {
            eprintln!(
                "bpf-arena: {shown}: the verifier rejected program '{}': {}",
                v.program, v.errno
            );
            eprint!("{}", v.log());
            if !v.log().ends_with('\n') {
                eprintln!();
            }
            Fail::Reported
        }
        e => object(format!("{shown}: {e}")),
    })?;
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

/// The loader for `run`: pinning as asked, every `--set` applied, every
/// `--get` name checked, `--pages` and the programs to load set.
fn prepare(a: &RunArgs, shown: &str) -> Result<ObjectLoader, Fail> {
    let mut loader =
        ObjectLoader::from_file(&a.object).map_err(|e| object(format!("{shown}: {e}")))?;
    // Pinning is the user's choice: an object's `pinning` attributes are
    // honoured only under an explicit --pin-root, so running an untrusted
    // object never reuses or leaves maps in the host's bpffs.
    match &a.pin_root {
        Some(dir) => loader.pin_root(dir),
        None => loader.ignore_pinning(),
    };
    for s in &a.sets {
        apply_set(&mut loader, s)?;
    }
    for g in &a.gets {
        if loader.spec().variables().all(|v| v.name != *g) {
            return Err(object(format!(
                "--get {g}: the object has no global variable '{g}'"
            )));
        }
    }
    if let Some(p) = a.pages {
        if loader.spec().arena_map().is_none() {
            return Err(object("--pages: the object has no arena map"));
        }
        loader.set_arena_pages(p).map_err(object)?;
    }
    if !a.programs.is_empty() {
        loader.load_only(&a.programs).map_err(object)?;
    }
    Ok(loader)
}

/// One `--set NAME=VALUE`: the value stored little-endian in the
/// variable's 1, 2, 4 or 8 bytes.
fn apply_set(loader: &mut ObjectLoader, s: &args::SetArg) -> Result<(), Fail> {
    let (name, val) = (&s.name, &s.text);
    let size = loader
        .spec()
        .variables()
        .find(|v| v.name == *name)
        .map(|v| v.size)
        .ok_or_else(|| {
            object(format!(
                "--set {name}={val}: the object has no global variable '{name}'"
            ))
        })?;
    if !matches!(size, 1 | 2 | 4 | 8) {
        return Err(object(format!(
            "--set {name}={val}: '{name}' is {size} bytes; --set takes 1, 2, 4 or 8"
        )));
    }
    let bytes = args::encode_int(s.negative, s.magnitude, size as usize).ok_or_else(|| {
        object(format!(
            "--set {name}={val}: does not fit '{name}' ({size} bytes)"
        ))
    })?;
    loader.set_global_bytes(name, &bytes).map_err(object)?;
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
    let data_in: &[u8] = if is_packet_program(prog.program_type()) {
        &packet
    } else {
        &[]
    };
    let ctx_in = if c.is_empty() {
        None
    } else {
        Some(c.as_mut_slice())
    };
    prog.test_run(TestRun {
        data_in,
        ctx_in,
        ..Default::default()
    })
    .map(|r| r.retval)
}

/// A global's value as `--get` prints it: pointers (by the object's BTF)
/// as 0x-hex, other 1/2/4/8-byte values as unsigned decimal, anything else
/// as 0x and its bytes in memory order.
fn get_value(obj: &bpf_arena::LoadedObject, name: &str) -> bpf_arena::Result<String> {
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
