//! A small BTF editor: patch words of existing records, append strings and
//! types, and write the blob back out. Used for the fix-ups an object's BTF
//! needs before `BPF_BTF_LOAD` (DATASEC sizes and offsets, extern rewrites).

use super::{Btf, MAGIC};

/// A mutable copy of a BTF blob.
#[derive(Clone, Debug)]
pub struct BtfEditor {
    types: Vec<u8>,
    strings: Vec<u8>,
    offsets: Vec<u32>,
}

impl BtfEditor {
    /// Copies `btf`'s types and strings.
    pub fn new(btf: &Btf<'_>) -> BtfEditor {
        BtfEditor {
            types: btf.types.to_vec(),
            strings: btf.strings.to_vec(),
            offsets: btf.offsets.clone(),
        }
    }

    /// Overwrites 32-bit word `word` of type `id`'s record (0: name_off,
    /// 1: info, 2: size/type, 3..: kind-specific data). Returns false if out
    /// of range.
    pub fn set_word(&mut self, id: u32, word: usize, value: u32) -> bool {
        let Some(at) = self.word_at(id, word) else {
            return false;
        };
        let end = self
            .offsets
            .get(id as usize)
            .map_or(self.types.len(), |&o| o as usize);
        let Some(slot) = at
            .checked_add(4)
            .filter(|&e| e <= end)
            .and_then(|e| self.types.get_mut(at..e))
        else {
            return false;
        };
        slot.copy_from_slice(&value.to_le_bytes());
        true
    }

    /// Byte offset of word `word` of type `id`'s record.
    fn word_at(&self, id: u32, word: usize) -> Option<usize> {
        let start = *self.offsets.get((id as usize).checked_sub(1)?)? as usize;
        start.checked_add(word.checked_mul(4)?)
    }

    /// Reads word `word` of type `id`'s record.
    pub fn word(&self, id: u32, word: usize) -> Option<u32> {
        super::u32_at(&self.types, self.word_at(id, word)?)
    }

    /// Appends a NUL-terminated string; returns its offset.
    pub fn add_string(&mut self, s: &str) -> u32 {
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        off
    }

    /// Appends a type record given as words; returns its id.
    pub fn add_type(&mut self, words: &[u32]) -> u32 {
        self.offsets.push(self.types.len() as u32);
        for w in words {
            self.types.extend_from_slice(&w.to_le_bytes());
        }
        self.offsets.len() as u32
    }

    /// Number of types.
    pub fn type_count(&self) -> u32 {
        u32::try_from(self.offsets.len()).unwrap_or(u32::MAX)
    }

    /// The blob: a 24-byte header, the types, the strings.
    pub fn finish(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(
            self.types
                .len()
                .saturating_add(self.strings.len())
                .saturating_add(24),
        );
        v.extend_from_slice(&MAGIC.to_le_bytes());
        v.extend_from_slice(&[1, 0]);
        for w in [
            24u32,
            0,
            self.types.len() as u32,
            self.types.len() as u32,
            self.strings.len() as u32,
        ] {
            v.extend_from_slice(&w.to_le_bytes());
        }
        v.extend_from_slice(&self.types);
        v.extend_from_slice(&self.strings);
        v
    }
}
