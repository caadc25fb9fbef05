//! Helpers shared by the fuzz targets: the committed `bpf-asm` objects
//! (embedded, so a target runs the same from any directory), their sections,
//! and a small "edit a seed" input format for structure-aware targets.

use object::{Object, ObjectSection, SectionKind};

macro_rules! objects {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_bytes!(concat!("../../bpf-asm/", $path)) as &[u8])),*]
    };
}

/// Every committed object: `(path under bpf-asm/, bytes)`.
pub static OBJECTS: &[(&str, &[u8])] = objects![
    "arena_list.bpf.o",
    "asm_legacy.o",
    "atomics.bpf.o",
    "counter.bpf.o",
    "counter_reader.bpf.o",
    "externs.bpf.o",
    "fixed_addr.bpf.o",
    "htab.bpf.o",
    "insns.o",
    "pages.bpf.o",
    "tcp_cc.bpf.o",
    "user_list.bpf.o",
    "bad/globals_too_big.bpf.o",
    "bad/kconfig_missing.bpf.o",
    "bad/missing_symbol.o",
    "bad/no_arena_map.bpf.o",
    "bad/tcp_cc_mismatch.bpf.o",
    "bad/two_arenas.bpf.o",
    "bad/unknown_section.o",
    "bad/verifier_reject.bpf.o",
];

/// The object's name as `ObjectSpec::from_file` would give it.
pub fn stem(path: &str) -> &str {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.split('.').next().unwrap_or("obj")
}

/// The bytes of section `name` of ELF `obj`.
pub fn section<'a>(obj: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let file = object::File::parse(obj).ok()?;
    file.section_by_name(name)?.data().ok()
}

/// The bytes of every executable section of ELF `obj`.
pub fn code_sections(obj: &[u8]) -> Vec<&[u8]> {
    let Ok(file) = object::File::parse(obj) else {
        return Vec::new();
    };
    file.sections()
        .filter(|s| s.kind() == SectionKind::Text)
        .filter_map(|s| s.data().ok())
        .filter(|d| !d.is_empty())
        .collect()
}

/// Applies `edits` to `buf`, 4 bytes per edit: `[op, pos_lo, pos_hi, val]`,
/// `pos` taken modulo the current length. Ops (by `op % 6`): set a byte,
/// xor a byte, write a little-endian u32 that is a boundary value (0, 1,
/// `val`, `val << 24`, `u32::MAX`, `0x7fff_ffff`, `len`, `len + val`),
/// truncate at `pos`, append `val` zero bytes, duplicate 4 bytes in place.
pub fn apply_edits(buf: &mut Vec<u8>, edits: &[u8]) {
    for e in edits.chunks_exact(4) {
        let (op, val) = (e[0], e[3]);
        let len = buf.len();
        if len == 0 {
            buf.resize(val as usize, 0);
            continue;
        }
        let pos = u16::from_le_bytes([e[1], e[2]]) as usize % len;
        match op % 6 {
            0 => buf[pos] = val,
            1 => buf[pos] ^= val,
            2 => {
                let w: u32 = match op / 6 % 8 {
                    0 => 0,
                    1 => 1,
                    2 => val as u32,
                    3 => (val as u32) << 24,
                    4 => u32::MAX,
                    5 => 0x7fff_ffff,
                    6 => len as u32,
                    _ => len as u32 + val as u32,
                };
                for (i, b) in w.to_le_bytes().into_iter().enumerate() {
                    if let Some(slot) = buf.get_mut(pos + i) {
                        *slot = b;
                    }
                }
            }
            3 => buf.truncate(pos),
            4 => buf.extend(std::iter::repeat_n(0, val as usize)),
            _ => {
                let end = (pos + 4).min(len);
                let chunk = buf[pos..end].to_vec();
                buf.splice(pos..pos, chunk);
            }
        }
    }
}

/// Reads `data` as a stream of small values; yields zeros once exhausted.
pub struct Bytes<'a>(pub &'a [u8]);

impl<'a> Bytes<'a> {
    /// The next byte (0 when exhausted).
    pub fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    /// The next little-endian u16.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// The next little-endian u32.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// The next `n` bytes (fewer when exhausted).
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a
    }

    /// Whether nothing is left.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
