//! Section images that store only the bytes that exist.

/// `n` zero bytes, allocated fallibly: `None` when the allocator refuses
/// (a huge declared size must be an error, not an abort).
pub(crate) fn zeroed_vec(n: usize) -> Option<Vec<u8>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).ok()?;
    v.resize(n, 0);
    Some(v)
}

/// The initial image of a global data section (or of the arena globals):
/// its declared length, the bytes the file really holds (a prefix, empty for
/// a NOBITS section or `.kconfig`), and the values written since
/// ([`Image::write`], e.g. by `ObjectLoader::set_global_bytes`). Every other byte
/// is zero.
///
/// Parsing allocates nothing for a declared size, so memory stays
/// proportional to the file however large a corrupt header says a section
/// is. The whole image is built only when a map is really created
/// ([`Image::to_vec`], a fallible allocation); arena globals need not be
/// built at all ([`Image::chunks`]), since arena pages start zeroed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Image {
    /// Declared length.
    len: u64,
    /// The bytes the file holds, from offset 0 (`prefix.len() <= len`).
    prefix: Vec<u8>,
    /// Writes past the prefix, `(offset, bytes)`, applied in order; each
    /// starts at or after `prefix.len()` and ends at or before `len`.
    writes: Vec<(u64, Vec<u8>)>,
}

impl Image {
    /// An image of `len` zero bytes (a NOBITS section), stored as nothing.
    pub fn zeroed(len: u64) -> Image {
        Image {
            len,
            prefix: Vec::new(),
            writes: Vec::new(),
        }
    }

    /// An image holding exactly `bytes` (a PROGBITS section).
    pub fn from_bytes(bytes: Vec<u8>) -> Image {
        Image {
            len: bytes.len() as u64,
            prefix: bytes,
            writes: Vec::new(),
        }
    }

    /// The declared length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the declared length is 0.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes that are stored rather than implied zeros, in the order
    /// they apply: `(offset, bytes)`, the file's bytes first, then each
    /// write. Writing them in this order over zeroed memory of
    /// [`Image::len`] bytes gives the image.
    pub fn chunks(&self) -> impl Iterator<Item = (u64, &[u8])> {
        std::iter::once((0, self.prefix.as_slice()))
            .filter(|(_, b)| !b.is_empty())
            .chain(self.writes.iter().map(|(o, b)| (*o, b.as_slice())))
    }

    /// Writes `bytes` at `offset`. `None` (and nothing written) when the
    /// range does not lie inside the image.
    pub fn write(&mut self, offset: u64, bytes: &[u8]) -> Option<()> {
        let end = offset.checked_add(bytes.len() as u64)?;
        if end > self.len {
            return None;
        }
        // The part inside the file's bytes is written in place.
        let stored = self.prefix.len() as u64;
        let (inside, rest) = bytes.split_at(
            usize::try_from(stored.saturating_sub(offset))
                .ok()?
                .min(bytes.len()),
        );
        if !inside.is_empty() {
            let start = usize::try_from(offset).ok()?;
            self.prefix
                .get_mut(start..start.checked_add(inside.len())?)?
                .copy_from_slice(inside);
        }
        if !rest.is_empty() {
            let at = offset.max(stored);
            let rest_end = end;
            // A write that covers an earlier one replaces it, so setting
            // the same variable again does not grow the image.
            self.writes.retain(|(o, b)| {
                let e = o.saturating_add(b.len() as u64);
                !(*o >= at && e <= rest_end)
            });
            self.writes.push((at, rest.to_vec()));
        }
        Some(())
    }

    /// `len` bytes at `offset`, or `None` when the range is outside the
    /// image or cannot be allocated.
    pub fn read(&self, offset: u64, len: u64) -> Option<Vec<u8>> {
        let end = offset.checked_add(len)?;
        if end > self.len {
            return None;
        }
        let mut out = zeroed_vec(usize::try_from(len).ok()?)?;
        for (o, b) in self.chunks() {
            copy_overlap(&mut out, offset, o, b);
        }
        Some(out)
    }

    /// The whole image, built now; `None` when that much memory cannot be
    /// allocated.
    pub fn to_vec(&self) -> Option<Vec<u8>> {
        self.read(0, self.len)
    }
}

/// Copies the part of `src` (at image offset `at`) that overlaps `dst` (at
/// image offset `base`).
fn copy_overlap(dst: &mut [u8], base: u64, at: u64, src: &[u8]) {
    let dst_end = base.saturating_add(dst.len() as u64);
    let src_end = at.saturating_add(src.len() as u64);
    let (lo, hi) = (base.max(at), dst_end.min(src_end));
    if lo >= hi {
        return;
    }
    let (Some(d0), Some(s0)) = (lo.checked_sub(base), lo.checked_sub(at)) else {
        return;
    };
    let (Ok(d0), Ok(s0), Ok(n)) = (
        usize::try_from(d0),
        usize::try_from(s0),
        usize::try_from(hi.saturating_sub(lo)),
    ) else {
        return;
    };
    let (Some(d), Some(s)) = (
        d0.checked_add(n).and_then(|e| dst.get_mut(d0..e)),
        s0.checked_add(n).and_then(|e| src.get(s0..e)),
    ) else {
        return;
    };
    d.copy_from_slice(s);
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    reason = "unit tests"
)]
mod tests {
    use super::*;

    #[test]
    fn declared_bytes_are_not_stored() {
        let mut i = Image::zeroed(1 << 40);
        assert_eq!(i.len(), 1 << 40);
        assert_eq!(i.chunks().count(), 0);
        i.write((1 << 40) - 4, &[1, 2, 3, 4]).unwrap();
        i.write((1 << 40) - 4, &[5, 6, 7, 8]).unwrap();
        assert_eq!(i.writes.len(), 1, "a rewrite replaces");
        assert_eq!(i.read((1 << 40) - 6, 6).unwrap(), [0, 0, 5, 6, 7, 8]);
        assert!(i.write((1 << 40) - 3, &[0; 4]).is_none());
        assert!(i.write(u64::MAX, &[0; 4]).is_none());
        assert!(i.read(u64::MAX, 2).is_none());
    }

    #[test]
    fn writes_across_the_file_bytes() {
        let mut i = Image::from_bytes(vec![1, 2, 3, 4]);
        i.len = 8;
        i.write(2, &[9, 9, 9, 9]).unwrap();
        assert_eq!(i.to_vec().unwrap(), [1, 2, 9, 9, 9, 9, 0, 0]);
        i.write(6, &[7]).unwrap();
        i.write(5, &[8, 8]).unwrap();
        assert_eq!(i.to_vec().unwrap(), [1, 2, 9, 9, 9, 8, 8, 0]);
        i.write(0, &[0; 8]).unwrap();
        assert_eq!(i.to_vec().unwrap(), [0; 8]);
    }
}
