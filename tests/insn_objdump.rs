//! `insn` against llvm-objdump-19: every instruction in `bpf-asm/insns.o`,
//! decoded from the object's bytes by `bpf_arena::insn`, prints exactly the
//! text llvm-objdump-19 printed for it (`bpf-asm/insns.objdump`, regenerated
//! by `bpf-asm/build.sh`), and encodes back to the same bytes.

use bpf_arena::insn::{self, Instruction};
use object::{Object, ObjectSection};

const OBJECT: &[u8] = include_bytes!("../bpf-asm/insns.o");
const LISTING: &str = include_str!("../bpf-asm/insns.objdump");

/// `(slot index, raw bytes, text)` for each instruction line of the listing.
fn objdump_lines() -> Vec<(usize, Vec<u8>, String)> {
    let mut out = Vec::new();
    for line in LISTING.lines() {
        let parts: Vec<&str> = line.split('\t').collect();
        if parts.len() != 3 || !parts[0].trim_end().ends_with(':') {
            continue;
        }
        let Ok(index) = parts[0].trim().trim_end_matches(':').parse::<usize>() else {
            continue;
        };
        let bytes = parts[1]
            .split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).expect("hex byte"))
            .collect();
        // Jump lines end with a symbolic target, e.g. " <all_insns+0x250>".
        let text = match parts[2].rfind(" <") {
            Some(i) if parts[2].ends_with('>') => &parts[2][..i],
            _ => parts[2],
        };
        out.push((index, bytes, text.to_string()));
    }
    out
}

#[test]
fn decode_and_print_agree_with_llvm_objdump_19() {
    let lines = objdump_lines();
    assert!(lines.len() > 90, "listing has {} instructions", lines.len());
    let mut mismatches = Vec::new();
    for (index, bytes, text) in &lines {
        let slots = insn::from_bytes(bytes).expect("whole slots");
        let ins = Instruction::decode_at(&slots, 0)
            .unwrap_or_else(|e| panic!("slot {index} ({text}): {e}"));
        assert_eq!(ins.slots() * 8, bytes.len(), "slot {index}: {text}");
        if ins.to_string() != *text {
            mismatches.push(format!("slot {index}: objdump `{text}`, insn `{ins}`"));
        }
        assert_eq!(
            insn::to_bytes(&ins.encode()[..ins.slots()]),
            *bytes,
            "re-encoding slot {index}: {text}"
        );
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn listing_covers_the_whole_text_section() {
    let file = object::File::parse(OBJECT).expect("ELF");
    let text = file
        .section_by_name(".text")
        .expect(".text")
        .data()
        .expect("data");
    let slots = insn::from_bytes(text).expect("whole slots");
    let decoded = insn::decode(&slots).expect("every slot decodes");
    let lines = objdump_lines();
    assert_eq!(decoded.len(), lines.len());
    for ((i, ins), (index, _, text)) in decoded.iter().zip(&lines) {
        assert_eq!((i, ins.to_string()), (index, text.clone()));
    }
}
