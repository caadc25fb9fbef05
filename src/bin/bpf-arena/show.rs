//! `bpf-arena show`: loads programs without running them and prints what
//! the kernel made of each — its identity, sizes and the translated
//! instructions it runs.

use crate::args::ShowArgs;
use crate::load::{Options, load_object};
use crate::{Fail, emit, object};
use bpf_arena::insn::Listing;
use bpf_arena::prog::{Program, ProgramInfo};
use std::fmt::Write as _;

pub const HELP: &str = "\
Usage: bpf-arena show OBJECT [--set NAME=VALUE]... [--pages N] [PROGRAM...]

Loads OBJECT as run does (creating its maps, mapping its arena, loading its
programs) but runs nothing, and prints the kernel's view of each PROGRAM
named, in the order given (of every program, in the object's order, if
none is named; only the named ones are loaded). Needs the privileges
loading needs.

Options:
  --set NAME=VALUE  before loading, set global NAME, as for run
  --pages N         set the arena's max_entries before it is created

Output, for each program: one header line,
  PROGRAM: type TYPE (N), tag TAG, xlated_insns X, jited_bytes J, verified_insns V, map_ids IDS
(TAG: 16 hex digits; X: 8-byte slots of translated code; J: 0 when not
JIT-compiled; V: `unknown` before Linux 5.16; IDS: the kernel's map ids,
comma-separated, or `none`), then the translated instructions, one per line
as `inspect --disasm` prints them (`     N: TEXT`): maps by kernel id, arena
globals as addresses, calls by the target the kernel computed (0x0 when it
hides its addresses), slots of the kernel's own register r11 as
`<invalid: ...>`. When the kernel withholds the instructions, one line
`  <withheld: REASON>` instead.
";

/// Loads and prints the kernel's view of the programs.
pub fn show(a: ShowArgs) -> Result<(), Fail> {
    let ShowArgs {
        object: path,
        sets,
        pages,
        programs,
    } = a;
    let shown = path.display().to_string();
    let obj = load_object(
        &path,
        &Options {
            sets: &sets,
            gets: &[],
            pages,
            pin_root: None,
            programs: &programs,
        },
    )?;
    let chosen: Vec<(&str, &Program)> = if programs.is_empty() {
        obj.programs().collect()
    } else {
        programs
            .iter()
            .map(|n| {
                obj.program(n)
                    .map(|p| (n.as_str(), p))
                    .map_err(|e| object(format!("{shown}: {e}")))
            })
            .collect::<Result<_, _>>()?
    };
    let mut out = String::new();
    for (name, prog) in chosen {
        let info = prog.info().map_err(|e| object(format!("{shown}: {e}")))?;
        out.push_str(&header(name, &info));
        match &info.xlated_insns {
            Ok(insns) => out.push_str(&Listing(insns).to_string()),
            Err(w) => {
                let _ = writeln!(out, "  <{w}>");
            }
        }
    }
    emit(&out);
    Ok(())
}

/// `NAME: type TYPE (N), tag TAG, xlated_insns X, jited_bytes J,
/// verified_insns V, map_ids IDS` and a newline.
fn header(name: &str, i: &ProgramInfo) -> String {
    let ids: Vec<String> = i.map_ids.iter().map(u32::to_string).collect();
    format!(
        "{name}: type {} ({}), tag {}, xlated_insns {}, jited_bytes {}, verified_insns {}, map_ids {}\n",
        i.program_type,
        i.program_type.0,
        i.tag,
        i.xlated_insn_count(),
        i.jited_len,
        i.verified_insns
            .map_or_else(|| "unknown".to_string(), |v| v.to_string()),
        if ids.is_empty() {
            "none".to_string()
        } else {
            ids.join(",")
        }
    )
}
