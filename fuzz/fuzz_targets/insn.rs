//! Instructions: every slot that decodes must encode back to the same
//! slots, byte for byte; `Display` of each instruction and the `Listing` of
//! the whole program must not panic.
//!
//! Input, by `data[0]`:
//! - odd (structure-aware): `data[1]` picks a code section of the committed
//!   `bpf-asm` objects, edited by `data[2..]` (see
//!   `bpf_arena_fuzz::apply_edits`);
//! - even: `data[1..]` is the slots themselves (a trailing partial slot is
//!   ignored).
#![no_main]

use bpf_arena::insn::{self, Insn, Instruction, Listing};
use bpf_arena_fuzz::{Bytes, OBJECTS, apply_edits, code_sections};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static CODE: LazyLock<Vec<&'static [u8]>> = LazyLock::new(|| {
    OBJECTS
        .iter()
        .flat_map(|(_, bytes)| code_sections(bytes))
        .collect()
});

fn check(bytes: &[u8]) {
    let bytes = &bytes[..bytes.len() / 8 * 8];
    let slots = insn::from_bytes(bytes).expect("a multiple of 8 bytes");
    assert_eq!(insn::to_bytes(&slots), bytes);
    for i in 0..slots.len() {
        assert_eq!(
            Insn::from_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap()),
            slots[i]
        );
        if let Ok(ins) = Instruction::decode_at(&slots, i) {
            let n = ins.slots();
            let enc = ins.encode();
            assert_eq!(
                &enc[..n],
                &slots[i..i + n],
                "slot {i}: {ins:?} encodes differently"
            );
            let mut out = Vec::new();
            ins.encode_into(&mut out);
            assert_eq!(&out[..], &slots[i..i + n]);
            let _ = ins.to_string();
        }
    }
    if let Ok(all) = insn::decode(&slots) {
        let list: Vec<Instruction> = all.iter().map(|&(_, ins)| ins).collect();
        assert_eq!(insn::encode(&list), slots);
    }
    let _ = Listing(&slots).to_string();
}

fuzz_target!(|data: &[u8]| {
    let mut d = Bytes(data);
    if d.u8() & 1 == 1 {
        let code = &*CODE;
        let mut buf = code[d.u8() as usize % code.len()].to_vec();
        apply_edits(&mut buf, d.0);
        check(&buf);
    } else {
        check(d.0);
    }
});
