//! The running kernel's configuration, for `__kconfig` externs.
//!
//! Read from `/proc/config.gz` (gzip: decompressed by the small inflate
//! below — the crate takes no compression dependency) or, failing that,
//! `/boot/config-$(uname -r)`. Parsed once per process.

#![forbid(unsafe_code)]
#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::OnceLock;

/// Where the configuration was found, and its `CONFIG_*` values (as written,
/// quotes included for strings).
#[derive(Debug)]
pub struct KernelConfig {
    /// The file it came from.
    pub source: String,
    /// `CONFIG_NAME` → value (`y`, `m`, `1000`, `"string"`).
    pub values: HashMap<String, String>,
}

/// The parsed configuration of the running kernel: `/proc/config.gz`
/// (`CONFIG_IKCONFIG_PROC`), else `/boot/config-$(uname -r)`. Reads files
/// only (no `bpf(2)` call). Cached once read; a failure (no file, an fd
/// limit, no permission: [`crate::Error::Syscall`] with the errno, or
/// [`crate::Error::Unresolved`] when neither file exists) is not cached,
/// so a later call tries again.
pub fn kernel_config() -> Result<&'static KernelConfig> {
    static C: OnceLock<KernelConfig> = OnceLock::new();
    crate::sys::cache_success(&C, load)
}

fn load() -> Result<KernelConfig> {
    // Missing files mean a kernel built without the config exposed; any
    // other failure (EMFILE, EACCES) is this process's, reported as such.
    let mut why = Vec::new();
    let mut failed: Vec<(String, std::io::Error)> = Vec::new();
    match std::fs::read("/proc/config.gz") {
        Ok(gz) => match gunzip(&gz) {
            Ok(text) => return Ok(parse("/proc/config.gz", &String::from_utf8_lossy(&text))),
            Err(e) => why.push(format!("/proc/config.gz: {e}")),
        },
        Err(e) => failed.push(("/proc/config.gz".into(), e)),
    }
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let path = format!("/boot/config-{}", release.trim());
    match std::fs::read_to_string(&path) {
        Ok(text) => return Ok(parse(&path, &text)),
        Err(e) => failed.push((path.clone(), e)),
    }
    if let Some((path, e)) = failed
        .iter()
        .find(|(_, e)| e.kind() != std::io::ErrorKind::NotFound)
    {
        return Err(Error::Syscall {
            call: "read",
            what: path.clone(),
            errno: crate::sys::Errno::from_io(e),
        });
    }
    why.extend(failed.iter().map(|(p, e)| format!("{p}: {e}")));
    Err(Error::Unresolved {
        what: "kernel configuration",
        name: format!("/proc/config.gz (CONFIG_IKCONFIG_PROC) or {path}"),
        detail: why.join("; "),
    })
}

/// Parses `CONFIG_X=value` lines (`# CONFIG_X is not set` means absent).
pub fn parse(source: &str, text: &str) -> KernelConfig {
    let values = text
        .lines()
        .filter(|l| l.starts_with("CONFIG_"))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect();
    KernelConfig {
        source: source.to_string(),
        values,
    }
}

/// Encodes a config value for an extern of `size` bytes: `y`/`m`/`n` as
/// 1/2/0, numbers (decimal or 0x-hex, signed) little-endian, strings (for
/// char arrays) NUL-padded. `None` when the value does not fit.
pub fn encode_value(value: &str, size: usize, char_array: bool) -> Option<Vec<u8>> {
    if char_array {
        let s = value.strip_prefix('"')?.strip_suffix('"')?;
        if s.len() >= size {
            return None;
        }
        let mut v = s.as_bytes().to_vec();
        v.resize(size, 0);
        return Some(v);
    }
    let n: i128 = match value {
        "y" => 1,
        "m" => 2,
        "n" => 0,
        _ => {
            let (neg, digits) = value
                .strip_prefix('-')
                .map_or((false, value), |d| (true, d));
            let mag = match digits
                .strip_prefix("0x")
                .or_else(|| digits.strip_prefix("0X"))
            {
                Some(h) => i128::from_str_radix(h, 16).ok()?,
                None => digits.parse::<i128>().ok()?,
            };
            if neg { mag.checked_neg()? } else { mag }
        }
    };
    if !(1..=8).contains(&size) {
        return None;
    }
    // size is 1..=8: bits is 8..=64, far from i128's limits.
    let bits = u32::try_from(size).ok()?.checked_mul(8)?;
    let min = 1i128.checked_shl(bits.checked_sub(1)?)?.checked_neg()?;
    let max = 1i128.checked_shl(bits)?;
    let fits = n >= min && n < max;
    fits.then(|| n.to_le_bytes().get(..size).map(<[u8]>::to_vec))
        .flatten()
}

/// The most a configuration may decompress to (a kernel config is a few
/// hundred KiB): a corrupt or hostile file cannot make inflating it use
/// more memory than this.
const MAX_INFLATED: usize = 64 << 20;

/// The decompressor, for the fuzz targets (`fuzz/fuzz_targets/kconfig.rs`)
/// only: not part of the crate's API, and free to change.
#[doc(hidden)]
pub mod fuzzing {
    /// Decompresses a gzip member (at most 64 MiB of output).
    pub fn gunzip(data: &[u8]) -> Result<Vec<u8>, &'static str> {
        super::gunzip(data)
    }

    /// Decompresses a raw DEFLATE stream (at most 64 MiB of output).
    pub fn inflate(data: &[u8]) -> Result<Vec<u8>, &'static str> {
        super::inflate(data)
    }
}

/// Decompresses a gzip member (RFC 1952 around RFC 1951 DEFLATE).
pub(crate) fn gunzip(data: &[u8]) -> std::result::Result<Vec<u8>, &'static str> {
    let Some(hdr) = data.first_chunk::<10>() else {
        return Err("not a gzip (deflate) file");
    };
    if data.len() < 18 || hdr[0] != 0x1f || hdr[1] != 0x8b || hdr[2] != 8 {
        return Err("not a gzip (deflate) file");
    }
    let flags = hdr[3];
    let mut pos = 10usize;
    if flags & 4 != 0 {
        let xlen = data
            .get(pos..)
            .and_then(|r| r.first_chunk::<2>())
            .ok_or("truncated")?;
        pos = pos
            .saturating_add(2)
            .saturating_add(usize::from(u16::from_le_bytes(*xlen)));
    }
    for bit in [8u8, 16] {
        if flags & bit != 0 {
            let n = data
                .get(pos..)
                .ok_or("truncated")?
                .iter()
                .position(|&b| b == 0)
                .ok_or("truncated")?;
            pos = pos.saturating_add(n).saturating_add(1);
        }
    }
    if flags & 2 != 0 {
        pos = pos.saturating_add(2);
    }
    inflate(data.get(pos..).ok_or("truncated")?)
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    bit: u32,
    nbits: u32,
}

impl Bits<'_> {
    /// The next `n` bits (`n` <= 16), least significant first.
    fn need(&mut self, n: u32) -> std::result::Result<u32, &'static str> {
        while self.nbits < n {
            let b = *self.data.get(self.pos).ok_or("truncated deflate stream")?;
            self.pos = self.pos.saturating_add(1);
            self.bit |= u32::from(b).checked_shl(self.nbits).unwrap_or(0);
            self.nbits = self.nbits.saturating_add(8);
        }
        let mask = 1u32.checked_shl(n).map_or(u32::MAX, |m| m.wrapping_sub(1));
        let v = self.bit & mask;
        self.bit = self.bit.checked_shr(n).unwrap_or(0);
        self.nbits = self.nbits.saturating_sub(n);
        Ok(v)
    }
}

/// A canonical Huffman code: counts per length and symbols in code order.
struct Huffman {
    counts: [u16; 16],
    symbols: Vec<u16>,
}

const BAD_CODE: &str = "bad Huffman code";

impl Huffman {
    fn new(lengths: &[u8]) -> Huffman {
        let mut counts = [0u16; 16];
        for &l in lengths {
            if let Some(c) = counts.get_mut(usize::from(l)) {
                *c = c.saturating_add(1);
            }
        }
        counts[0] = 0;
        // offs[l]: where the symbols of length l start.
        let mut offs = [0u16; 16];
        let mut acc = 0u16;
        for (o, &c) in offs.iter_mut().zip(&counts) {
            *o = acc;
            acc = acc.saturating_add(c);
        }
        let mut symbols = vec![0u16; lengths.len()];
        for (s, &l) in lengths.iter().enumerate() {
            if l == 0 {
                continue;
            }
            if let Some(o) = offs.get_mut(usize::from(l)) {
                if let Some(slot) = symbols.get_mut(usize::from(*o)) {
                    *slot = u16::try_from(s).unwrap_or(u16::MAX);
                }
                *o = o.saturating_add(1);
            }
        }
        Huffman { counts, symbols }
    }

    fn decode(&self, b: &mut Bits<'_>) -> std::result::Result<u16, &'static str> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for &count in self.counts.iter().skip(1) {
            code |= i32::from(b.need(1)? != 0);
            let count = i32::from(count);
            let rel = code.checked_sub(first).ok_or(BAD_CODE)?;
            if rel < count {
                return index
                    .checked_add(rel)
                    .and_then(|i| usize::try_from(i).ok())
                    .and_then(|i| self.symbols.get(i))
                    .copied()
                    .ok_or(BAD_CODE);
            }
            index = index.checked_add(count).ok_or(BAD_CODE)?;
            first = first
                .checked_add(count)
                .and_then(|f| f.checked_mul(2))
                .ok_or(BAD_CODE)?;
            code = code.checked_mul(2).ok_or(BAD_CODE)?;
        }
        Err(BAD_CODE)
    }
}

const LEN_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LEN_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];
const CL_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

const TOO_BIG: &str = "decompresses to more than 64 MiB";

/// Decompresses a raw DEFLATE stream (at most 64 MiB of output).
pub(crate) fn inflate(data: &[u8]) -> std::result::Result<Vec<u8>, &'static str> {
    let mut b = Bits {
        data,
        pos: 0,
        bit: 0,
        nbits: 0,
    };
    let mut out = Vec::with_capacity(data.len().saturating_mul(4).min(MAX_INFLATED));
    loop {
        let last = b.need(1)? == 1;
        match b.need(2)? {
            0 => {
                b.bit = 0;
                b.nbits = 0;
                let hdr = b
                    .data
                    .get(b.pos..)
                    .and_then(|r| r.first_chunk::<4>())
                    .ok_or("truncated stored block")?;
                let len = u16::from_le_bytes([hdr[0], hdr[1]]);
                if len != !u16::from_le_bytes([hdr[2], hdr[3]]) {
                    return Err("stored block length mismatch");
                }
                let start = b.pos.saturating_add(4);
                let end = start.saturating_add(usize::from(len));
                if out.len().saturating_add(usize::from(len)) > MAX_INFLATED {
                    return Err(TOO_BIG);
                }
                out.extend_from_slice(b.data.get(start..end).ok_or("truncated stored block")?);
                b.pos = end;
            }
            1 => {
                let mut l = [8u8; 288];
                for (sym, len) in l.iter_mut().enumerate() {
                    *len = match sym {
                        0..=143 => 8,
                        144..=255 => 9,
                        256..=279 => 7,
                        _ => 8,
                    };
                }
                codes(&mut b, &mut out, &Huffman::new(&l), &Huffman::new(&[5; 30]))?;
            }
            2 => {
                let hlit = (b.need(5)? as usize).saturating_add(257);
                let hdist = (b.need(5)? as usize).saturating_add(1);
                let hclen = (b.need(4)? as usize).saturating_add(4);
                let mut cl = [0u8; 19];
                for &i in CL_ORDER.iter().take(hclen) {
                    let v = u8::try_from(b.need(3)?).unwrap_or(0);
                    if let Some(c) = cl.get_mut(i) {
                        *c = v;
                    }
                }
                let clh = Huffman::new(&cl);
                let mut lens = vec![0u8; hlit.saturating_add(hdist)];
                let mut i = 0usize;
                while i < lens.len() {
                    let sym = clh.decode(&mut b)?;
                    let (val, rep) = match sym {
                        0..=15 => (u8::try_from(sym).unwrap_or(0), 1usize),
                        16 => (
                            *i.checked_sub(1)
                                .and_then(|p| lens.get(p))
                                .ok_or("repeat with no previous length")?,
                            (b.need(2)? as usize).saturating_add(3),
                        ),
                        17 => (0, (b.need(3)? as usize).saturating_add(3)),
                        _ => (0, (b.need(7)? as usize).saturating_add(11)),
                    };
                    let end = i.saturating_add(rep);
                    lens.get_mut(i..end)
                        .ok_or("code lengths overflow")?
                        .fill(val);
                    i = end;
                }
                let (lit, dist) = lens.split_at_checked(hlit).ok_or("code lengths overflow")?;
                codes(&mut b, &mut out, &Huffman::new(lit), &Huffman::new(dist))?;
            }
            _ => return Err("invalid block type"),
        }
        if last {
            return Ok(out);
        }
    }
}

fn codes(
    b: &mut Bits<'_>,
    out: &mut Vec<u8>,
    lit: &Huffman,
    dist: &Huffman,
) -> std::result::Result<(), &'static str> {
    loop {
        let sym = usize::from(lit.decode(b)?);
        match sym {
            0..=255 => {
                if out.len() >= MAX_INFLATED {
                    return Err(TOO_BIG);
                }
                out.push(u8::try_from(sym).unwrap_or(0));
            }
            256 => return Ok(()),
            257..=285 => {
                let i = sym.saturating_sub(257);
                let (Some(&base), Some(&extra)) = (LEN_BASE.get(i), LEN_EXTRA.get(i)) else {
                    return Err("bad length code");
                };
                let len = usize::from(base).saturating_add(b.need(u32::from(extra))? as usize);
                let d = usize::from(dist.decode(b)?);
                let (Some(&dbase), Some(&dextra)) = (DIST_BASE.get(d), DIST_EXTRA.get(d)) else {
                    return Err("bad distance code");
                };
                let back = usize::from(dbase).saturating_add(b.need(u32::from(dextra))? as usize);
                let start = out
                    .len()
                    .checked_sub(back)
                    .ok_or("distance before the start of output")?;
                if out.len().saturating_add(len) > MAX_INFLATED {
                    return Err(TOO_BIG);
                }
                // The copy may overlap what it appends (back < len).
                for k in start..start.saturating_add(len) {
                    let c = *out.get(k).ok_or("distance before the start of output")?;
                    out.push(c);
                }
            }
            _ => return Err("bad length code"),
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "unit tests"
)]
mod tests {
    use super::*;

    #[test]
    fn values_encode_like_libbpf() {
        assert_eq!(encode_value("y", 1, false), Some(vec![1]));
        assert_eq!(encode_value("m", 4, false), Some(vec![2, 0, 0, 0]));
        assert_eq!(
            encode_value("1000", 4, false),
            Some(1000u32.to_le_bytes().to_vec())
        );
        assert_eq!(
            encode_value("0x10", 8, false),
            Some(16u64.to_le_bytes().to_vec())
        );
        assert_eq!(encode_value("-1", 4, false), Some(vec![0xff; 4]));
        assert_eq!(encode_value("300", 1, false), None);
        assert_eq!(
            encode_value("\"abc\"", 8, true),
            Some(b"abc\0\0\0\0\0".to_vec())
        );
        assert_eq!(encode_value("\"abcdefgh\"", 8, true), None);
    }

    #[test]
    fn inflate_stored_and_fixed_blocks() {
        // A stored block holding "hi".
        assert_eq!(
            inflate(&[0x01, 0x02, 0x00, 0xfd, 0xff, b'h', b'i']).unwrap(),
            b"hi"
        );
        // Fixed Huffman "a" + end (zlib output for "a" with -15 window bits).
        assert_eq!(inflate(&[0x4b, 0x04, 0x00]).unwrap(), b"a");
        assert!(inflate(&[0x07]).is_err());
        assert!(gunzip(b"not gzip at all, clearly").is_err());
    }
}
