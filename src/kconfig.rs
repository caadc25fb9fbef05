//! The running kernel's configuration, for `__kconfig` externs.
//!
//! Read from `/proc/config.gz` (gzip: decompressed by the small inflate
//! below — the crate takes no compression dependency) or, failing that,
//! `/boot/config-$(uname -r)`. Parsed once per process.

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

/// The parsed configuration. Cached once read; a failure (no file, an fd
/// limit, no permission) is not cached, so a later call tries again.
pub fn kernel_config() -> Result<&'static KernelConfig> {
    static C: OnceLock<KernelConfig> = OnceLock::new();
    if let Some(c) = C.get() {
        return Ok(c);
    }
    let c = load()?;
    Ok(C.get_or_init(|| c))
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
        Err(e) => failed.push((path, e)),
    }
    if let Some((path, e)) = failed
        .iter()
        .find(|(_, e)| e.kind() != std::io::ErrorKind::NotFound)
    {
        return Err(Error::Syscall {
            call: "read",
            what: path.clone(),
            errno: crate::sys::Errno::from_raw(e.raw_os_error().unwrap_or(5)),
        });
    }
    why.extend(failed.iter().map(|(p, e)| format!("{p}: {e}")));
    Err(Error::NotSupported {
        what: "reading the kernel configuration (/proc/config.gz or /boot/config-*)",
        since: "any, with CONFIG_IKCONFIG_PROC or a /boot config",
        detail: Some(why.join("; ")),
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
            if neg { -mag } else { mag }
        }
    };
    if !(1..=8).contains(&size) {
        return None;
    }
    let bits = size as u32 * 8;
    let fits = n >= -(1i128 << (bits - 1)) && n < (1i128 << bits);
    fits.then(|| n.to_le_bytes()[..size].to_vec())
}

/// Decompresses a gzip member (RFC 1952 around RFC 1951 DEFLATE).
pub fn gunzip(data: &[u8]) -> std::result::Result<Vec<u8>, &'static str> {
    if data.len() < 18 || data[0] != 0x1f || data[1] != 0x8b || data[2] != 8 {
        return Err("not a gzip (deflate) file");
    }
    let flags = data[3];
    let mut pos = 10;
    if flags & 4 != 0 {
        let xlen = u16::from_le_bytes([
            *data.get(pos).ok_or("truncated")?,
            *data.get(pos + 1).ok_or("truncated")?,
        ]);
        pos += 2 + xlen as usize;
    }
    for bit in [8u8, 16] {
        if flags & bit != 0 {
            pos += data
                .get(pos..)
                .ok_or("truncated")?
                .iter()
                .position(|&b| b == 0)
                .ok_or("truncated")?
                + 1;
        }
    }
    if flags & 2 != 0 {
        pos += 2;
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
    fn need(&mut self, n: u32) -> std::result::Result<u32, &'static str> {
        while self.nbits < n {
            let b = *self.data.get(self.pos).ok_or("truncated deflate stream")?;
            self.pos += 1;
            self.bit |= (b as u32) << self.nbits;
            self.nbits += 8;
        }
        let v = self.bit & ((1u64 << n) - 1) as u32;
        self.bit >>= n;
        self.nbits -= n;
        Ok(v)
    }
}

/// A canonical Huffman code: counts per length and symbols in code order.
struct Huffman {
    counts: [u16; 16],
    symbols: Vec<u16>,
}

impl Huffman {
    fn new(lengths: &[u8]) -> Huffman {
        let mut counts = [0u16; 16];
        for &l in lengths {
            counts[l as usize] += 1;
        }
        counts[0] = 0;
        let mut offs = [0u16; 16];
        for i in 1..16 {
            offs[i] = offs[i - 1] + counts[i - 1];
        }
        let mut symbols = vec![0u16; lengths.len()];
        for (s, &l) in lengths.iter().enumerate() {
            if l != 0 {
                symbols[offs[l as usize] as usize] = s as u16;
                offs[l as usize] += 1;
            }
        }
        Huffman { counts, symbols }
    }

    fn decode(&self, b: &mut Bits<'_>) -> std::result::Result<u16, &'static str> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16 {
            code |= b.need(1)? as i32;
            let count = self.counts[len] as i32;
            if code - first < count {
                return self
                    .symbols
                    .get((index + code - first) as usize)
                    .copied()
                    .ok_or("bad Huffman code");
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        Err("bad Huffman code")
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

/// Decompresses a raw DEFLATE stream.
pub fn inflate(data: &[u8]) -> std::result::Result<Vec<u8>, &'static str> {
    let mut b = Bits {
        data,
        pos: 0,
        bit: 0,
        nbits: 0,
    };
    let mut out = Vec::with_capacity(data.len() * 4);
    loop {
        let last = b.need(1)? == 1;
        match b.need(2)? {
            0 => {
                b.bit = 0;
                b.nbits = 0;
                let hdr = b
                    .data
                    .get(b.pos..b.pos + 4)
                    .ok_or("truncated stored block")?;
                let len = u16::from_le_bytes([hdr[0], hdr[1]]);
                if len != !u16::from_le_bytes([hdr[2], hdr[3]]) {
                    return Err("stored block length mismatch");
                }
                b.pos += 4;
                out.extend_from_slice(
                    b.data
                        .get(b.pos..b.pos + len as usize)
                        .ok_or("truncated stored block")?,
                );
                b.pos += len as usize;
            }
            1 => {
                let mut l = [0u8; 288];
                l[..144].fill(8);
                l[144..256].fill(9);
                l[256..280].fill(7);
                l[280..].fill(8);
                codes(&mut b, &mut out, &Huffman::new(&l), &Huffman::new(&[5; 30]))?;
            }
            2 => {
                let hlit = b.need(5)? as usize + 257;
                let hdist = b.need(5)? as usize + 1;
                let hclen = b.need(4)? as usize + 4;
                let mut cl = [0u8; 19];
                for &i in &CL_ORDER[..hclen] {
                    cl[i] = b.need(3)? as u8;
                }
                let clh = Huffman::new(&cl);
                let mut lens = vec![0u8; hlit + hdist];
                let mut i = 0;
                while i < lens.len() {
                    let sym = clh.decode(&mut b)?;
                    let (val, rep) = match sym {
                        0..=15 => (sym as u8, 1),
                        16 => (
                            *lens
                                .get(i.wrapping_sub(1))
                                .ok_or("repeat with no previous length")?,
                            3 + b.need(2)? as usize,
                        ),
                        17 => (0, 3 + b.need(3)? as usize),
                        _ => (0, 11 + b.need(7)? as usize),
                    };
                    if i + rep > lens.len() {
                        return Err("code lengths overflow");
                    }
                    lens[i..i + rep].fill(val);
                    i += rep;
                }
                codes(
                    &mut b,
                    &mut out,
                    &Huffman::new(&lens[..hlit]),
                    &Huffman::new(&lens[hlit..]),
                )?;
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
        let sym = lit.decode(b)? as usize;
        match sym {
            0..=255 => out.push(sym as u8),
            256 => return Ok(()),
            257..=285 => {
                let i = sym - 257;
                let len = LEN_BASE[i] as usize + b.need(LEN_EXTRA[i] as u32)? as usize;
                let d = dist.decode(b)? as usize;
                if d >= 30 {
                    return Err("bad distance code");
                }
                let dist = DIST_BASE[d] as usize + b.need(DIST_EXTRA[d] as u32)? as usize;
                if dist > out.len() {
                    return Err("distance before the start of output");
                }
                let start = out.len() - dist;
                for k in 0..len {
                    let c = out[start + k];
                    out.push(c);
                }
            }
            _ => return Err("bad length code"),
        }
    }
}

#[cfg(test)]
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
