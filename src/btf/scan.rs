//! Finding types of one kind by name in a whole BTF blob, without indexing
//! it: the kfunc fast path over the 5.5 MB vmlinux BTF.
//!
//! Type records have variable lengths, so the id of a record is known only
//! by walking every record before it. One walk is a chain of dependent
//! loads (the next record's offset needs this record's `info` word): about
//! 4 ns a record, and vmlinux's kfuncs sit near id 63,000 of 126,000. So
//! the walk here keeps four chains ("lanes") in flight at once, each over
//! its own stretch of the type section, and the core overlaps them. Every
//! lane but the first starts at a guess — the start of its stretch, which
//! usually falls inside a record — and walks on from there: a word inside a
//! record seldom decodes as a known kind (an unknown one moves the lane on
//! by one word), and two walks that stand at one offset go on together.
//!
//! Nothing is taken on trust. After each round the exact walk is carried
//! through the lanes in order: from where it stands, it and the lane's path
//! (retraced from the lane's start) catch up with each other until they
//! stand at one offset; from there on the lane's records are the exact
//! walk's own (same offsets, same bytes), and are taken whole. The exact
//! walk goes on by itself, a record at a time, where a lane never meets it,
//! and the plain serial walk takes over where a lane met a malformed record
//! after that point — so results and errors are the serial walk's in every
//! case.
//!
//! Names are not looked at until records of the wanted kind show up (in
//! vmlinux, functions come after all other types): lanes first only count
//! such records; a lane that saw any is left to the exact walk, which
//! compares names, and later rounds look at names too. Looking costs an
//! 8-byte load from the start of the record's name and one probe of a
//! 256-bit filter of the wanted names' starts; only filter hits compare
//! whole strings.
//!
//! Lanes keep nothing per record (a lane's path is retraced, not stored):
//! in a fresh process, new heap pages cost more than the walk saves.

use super::{BtfError, record_len, record_size, sections};

/// Bytes of type section per lane per round: large enough that meeting
/// the exact walk (a record or two) is noise — vmlinux has 500 to 1,000
/// records in one — and small enough that a round past the last wanted
/// name costs little.
const STRETCH: usize = 16 << 10;

/// Lanes walked at once: enough independent chains to keep the core busy,
/// few enough to stay in registers (`run_round` names each one).
const LANES: usize = 4;

/// Finds types of `kind` named `names[i]` in a (non-split) BTF blob without
/// building the type index [`super::Btf::parse`] builds: the first matching
/// id per name, `None` when there is none (and for an empty name). Stops as
/// soon as every name is found, so malformed records after the last match
/// go unnoticed; a malformed record met before that is an error.
///
/// This is the fast path for kfunc lookups in the 5.5 MB vmlinux BTF: the
/// walk over the records is spread over several independent chains of
/// loads, and names are compared only where records of `kind` are.
pub fn scan_by_names(data: &[u8], kind: u32, names: &[&str]) -> Result<Vec<Option<u32>>, BtfError> {
    scan_in_stretches(data, kind, names, STRETCH)
}

/// [`scan_by_names`] with lanes of `stretch` bytes (rounded down to a whole
/// number of 4-byte words): the same answers for every `stretch`. Tests and
/// fuzzing use small stretches to exercise the lanes on small blobs.
pub fn scan_in_stretches(
    data: &[u8],
    kind: u32,
    names: &[&str],
    stretch: usize,
) -> Result<Vec<Option<u32>>, BtfError> {
    let (types, strings) = sections(data)?;
    let mut wanted = Wanted::new(names);
    if wanted.left == 0 {
        return Ok(wanted.slots);
    }
    let scan = Scan {
        types,
        strings,
        kind,
        filter: Filter::new(names),
        stretch: stretch.max(4) & !3,
    };
    let at = scan.in_lanes(&mut wanted)?;
    if wanted.left > 0 {
        scan.serial(&mut wanted, at)?;
    }
    Ok(wanted.slots)
}

/// The names still looked for, and what was found.
struct Wanted<'n> {
    names: &'n [&'n str],
    slots: Vec<Option<u32>>,
    /// Slots of non-empty names still empty.
    left: usize,
}

impl<'n> Wanted<'n> {
    fn new(names: &'n [&'n str]) -> Self {
        Wanted {
            names,
            slots: vec![None; names.len()],
            left: names.iter().filter(|n| !n.is_empty()).count(),
        }
    }

    /// Type `id`, named at `name_off`, fills every empty slot of that name.
    fn offer(&mut self, strings: &[u8], id: u32, name_off: u32) {
        let Some(rest) = strings.get(name_off as usize..) else {
            return;
        };
        for (slot, name) in self.slots.iter_mut().zip(self.names) {
            let nb = name.as_bytes();
            if slot.is_none()
                && !nb.is_empty()
                && rest.get(nb.len()) == Some(&0)
                && rest.starts_with(nb)
            {
                *slot = Some(id);
                self.left = self.left.saturating_sub(1);
            }
        }
    }
}

/// A 256-bit filter of the first `w` bytes of every wanted name (its NUL
/// counted), `w` being the shortest such length, at most 8. A string that
/// is a wanted name always passes; most others do not.
struct Filter {
    mask: u64,
    bits: [u64; 4],
}

impl Filter {
    fn new(names: &[&str]) -> Filter {
        let w = names
            .iter()
            .filter(|n| !n.is_empty())
            .map(|n| n.len().saturating_add(1))
            .min()
            .unwrap_or(8)
            .min(8);
        // 2 <= w <= 8: the shift is at most 48.
        let mask = u64::MAX >> (64usize.saturating_sub(w.saturating_mul(8)) & 63);
        let mut f = Filter { mask, bits: [0; 4] };
        for n in names.iter().filter(|n| !n.is_empty()) {
            // Bytes past the name (its NUL among them) stay 0.
            let mut start = [0u8; 8];
            for (d, s) in start.iter_mut().zip(n.bytes()) {
                *d = s;
            }
            let h = hash(u64::from_le_bytes(start) & mask);
            if let Some(word) = f.bits.get_mut(h >> 6) {
                *word |= 1 << (h & 63);
            }
        }
        f
    }

    /// Whether the string at `off` may be a wanted name.
    #[inline(always)]
    fn may_be_wanted(&self, strings: &[u8], off: u32) -> bool {
        let h = hash(start8(strings, off as usize) & self.mask);
        self.bits
            .get(h >> 6)
            .is_some_and(|word| (word >> (h & 63)) & 1 != 0)
    }
}

/// 8 bits of a multiplicative hash.
#[inline(always)]
fn hash(v: u64) -> usize {
    (v.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as usize
}

/// The 8 bytes of `strings` at `off`, as a little-endian word; bytes past
/// the end of `strings` read as 0.
#[inline(always)]
fn start8(strings: &[u8], off: usize) -> u64 {
    match strings.get(off..).and_then(<[u8]>::first_chunk::<8>) {
        Some(b) => u64::from_le_bytes(*b),
        None => start8_at_end(strings, off),
    }
}

#[cold]
fn start8_at_end(strings: &[u8], off: usize) -> u64 {
    let mut b = [0u8; 8];
    for (d, s) in b.iter_mut().zip(strings.get(off..).unwrap_or_default()) {
        *d = *s;
    }
    u64::from_le_bytes(b)
}

/// One chain of the walk.
#[derive(Clone, Copy, Default)]
struct Lane {
    /// Where the lane started.
    start: usize,
    /// Offset of the next record.
    pos: usize,
    /// The lane stops at the first record that starts here or later.
    end: usize,
    /// Records walked.
    steps: u32,
    /// 1 + the step of the last record of an unknown kind; 0: none.
    bad: u32,
    /// Records of the wanted kind seen while names were not looked at.
    unlooked: u32,
}

/// A lane's record of the wanted kind whose name passed the filter: the
/// lane's step, and the name offset.
type Hit = (u32, u32);

/// A record boundary of the exact walk, and how many records precede it.
#[derive(Clone, Copy)]
struct At {
    pos: usize,
    records: u32,
}

/// What the walk looks at, and for what.
struct Scan<'a> {
    types: &'a [u8],
    strings: &'a [u8],
    kind: u32,
    filter: Filter,
    stretch: usize,
}

impl Scan<'_> {
    /// The name offset and `info` word of the record at `pos`, if a whole
    /// record header is there.
    #[inline(always)]
    fn header(&self, pos: usize) -> Option<(u32, u32)> {
        let &[n0, n1, n2, n3, i0, i1, i2, i3, ..] = self.types.get(pos..pos.wrapping_add(12))?
        else {
            return None;
        };
        Some((
            u32::from_le_bytes([n0, n1, n2, n3]),
            u32::from_le_bytes([i0, i1, i2, i3]),
        ))
    }

    /// Where a lane goes from `pos`: past the record there, or one word on
    /// if its kind is unknown (as where a lane starts inside a record).
    /// Offsets stay below `types.len() + 2^20` (no record is longer than
    /// 24 + 65535 * 12 bytes): no wrap.
    #[inline(always)]
    fn next(pos: usize, info: u32) -> usize {
        pos.wrapping_add(record_len(info).max(4))
    }

    /// One record of a lane, at `lane.pos`: moves past it; with `LOOK`,
    /// notes a hit, without, counts a record of the wanted kind.
    #[inline(always)]
    fn step<const LOOK: bool>(&self, lane: &mut Lane, hits: &mut Vec<Hit>) {
        let Some((name_off, info)) = self.header(lane.pos) else {
            // No whole record header here: a guessed path ran off the end,
            // or a real record runs past it. Either way the lane stops at
            // an offset the exact walk never accepts from a lane.
            lane.pos = usize::MAX;
            return;
        };
        lane.pos = Self::next(lane.pos, info);
        // Steps stay below types.len() / 4: no wrap.
        lane.bad = if record_len(info) == 0 {
            lane.steps.wrapping_add(1)
        } else {
            lane.bad
        };
        let of_kind = (info >> 24) & 0x1f == self.kind;
        if LOOK {
            // No branch on the kind: where records of the wanted kind are,
            // they alternate with others unpredictably. Other records probe
            // the filter with the string at offset 0, and the answer is
            // dropped.
            let looked_at = of_kind && name_off != 0;
            let off = if looked_at { name_off } else { 0 };
            if self.filter.may_be_wanted(self.strings, off) & looked_at {
                hits.push((lane.steps, name_off));
            }
        } else {
            lane.unlooked = lane.unlooked.wrapping_add(u32::from(of_kind));
        }
        lane.steps = lane.steps.wrapping_add(1);
    }

    /// Walks rounds of [`LANES`] stretches from offset 0 until every name is
    /// found or the section ends, offering the exact walk's records in id
    /// order. Returns where the lanes left off: the serial walk goes on
    /// from there when names are left.
    fn in_lanes(&self, wanted: &mut Wanted<'_>) -> Result<At, BtfError> {
        let mut at = At { pos: 0, records: 0 };
        let mut lanes = [Lane::default(); LANES];
        let mut hits: [Vec<Hit>; LANES] = Default::default();
        let mut look = false;
        while at.pos < self.types.len() && wanted.left > 0 {
            if self.start_round(at.pos, &mut lanes, &mut hits) < 2 {
                // One stretch left: that is the serial walk.
                break;
            }
            if look {
                self.run_round::<true>(&mut lanes, &mut hits);
            } else {
                self.run_round::<false>(&mut lanes, &mut hits);
                look = lanes.iter().any(|l| l.unlooked > 0);
            }
            if !self.join_round(&mut at, &lanes, &hits, wanted)? {
                break;
            }
        }
        Ok(at)
    }

    /// Places the lanes of a round starting at record boundary `pos`, one
    /// stretch each. Returns how many lanes have a stretch (the others
    /// start at their end, the end of the section).
    fn start_round(
        &self,
        pos: usize,
        lanes: &mut [Lane; LANES],
        hits: &mut [Vec<Hit>; LANES],
    ) -> usize {
        let mut start = pos;
        for (lane, h) in lanes.iter_mut().zip(hits.iter_mut()) {
            let end = start.saturating_add(self.stretch).min(self.types.len());
            *lane = Lane {
                start,
                pos: start,
                end,
                ..Lane::default()
            };
            h.clear();
            start = end;
        }
        lanes.iter().filter(|l| l.start < l.end).count()
    }

    /// Walks every lane to the end of its stretch, a record of each lane in
    /// turn, so that the lanes' chains of loads overlap. The lanes are
    /// local variables here, not array elements, so that they live in
    /// registers.
    fn run_round<const LOOK: bool>(&self, lanes: &mut [Lane; LANES], hits: &mut [Vec<Hit>; LANES]) {
        let [mut a, mut b, mut c, mut d] = *lanes;
        let [ha, hb, hc, hd] = hits;
        while a.pos < a.end && b.pos < b.end && c.pos < c.end && d.pos < d.end {
            self.step::<LOOK>(&mut a, ha);
            self.step::<LOOK>(&mut b, hb);
            self.step::<LOOK>(&mut c, hc);
            self.step::<LOOK>(&mut d, hd);
        }
        // Stretches hold different numbers of records: the lanes left go on
        // together.
        loop {
            let mut any = false;
            for (lane, h) in [(&mut a, &mut *ha), (&mut b, hb), (&mut c, hc), (&mut d, hd)] {
                if lane.pos < lane.end {
                    self.step::<LOOK>(lane, h);
                    any = true;
                }
            }
            if !any {
                break;
            }
        }
        *lanes = [a, b, c, d];
    }

    /// Carries the exact walk from `at` through a round's stretches. In
    /// each, the exact walk (a record at a time) and the lane's path
    /// (retraced from its start) catch up with each other until they stand
    /// at one offset; from there the lane's records are the exact walk's,
    /// and are taken whole — unless the lane met an unknown kind or ran
    /// past the section after that point, where the serial walk must say
    /// what is wrong. A lane that saw records of the wanted kind without
    /// looking at their names is left to the exact walk. Offers every record
    /// in order. Returns whether to go on with lanes (`false`: every name is
    /// found, or the serial walk goes on from `at`).
    fn join_round(
        &self,
        at: &mut At,
        lanes: &[Lane; LANES],
        hits: &[Vec<Hit>; LANES],
        wanted: &mut Wanted<'_>,
    ) -> Result<bool, BtfError> {
        for (lane, h) in lanes.iter().zip(hits) {
            let usable = lane.unlooked == 0;
            // The lane's path, retraced: offset, steps.
            let (mut pos, mut steps) = (lane.start, 0u32);
            while at.pos < lane.end {
                if wanted.left == 0 {
                    return Ok(false);
                }
                if usable && pos == at.pos {
                    if lane.bad > steps || lane.pos > self.types.len() {
                        return Ok(false);
                    }
                    for &(step, name_off) in h.iter().filter(|(s, _)| *s >= steps) {
                        let id = at
                            .records
                            .saturating_add(step.saturating_sub(steps))
                            .saturating_add(1);
                        wanted.offer(self.strings, id, name_off);
                        if wanted.left == 0 {
                            return Ok(false);
                        }
                    }
                    at.records = at.records.saturating_add(lane.steps.saturating_sub(steps));
                    at.pos = lane.pos;
                    break;
                }
                if usable && pos < at.pos && steps < lane.steps {
                    // As the lane went (it found a header at each step).
                    pos = match self.header(pos) {
                        Some((_, info)) => Self::next(pos, info),
                        None => usize::MAX,
                    };
                    steps = steps.saturating_add(1);
                } else if !self.exact_step(at, wanted)? {
                    return Ok(false);
                }
            }
        }
        Ok(wanted.left > 0)
    }

    /// One record of the exact walk, at `at.pos`: offers it and moves past
    /// it. `false` when no whole record header is left there.
    fn exact_step(&self, at: &mut At, wanted: &mut Wanted<'_>) -> Result<bool, BtfError> {
        let Some((name_off, info)) = self.header(at.pos) else {
            return Ok(false);
        };
        at.records = at.records.saturating_add(1);
        if (info >> 24) & 0x1f == self.kind && name_off != 0 {
            wanted.offer(self.strings, at.records, name_off);
        }
        at.pos = at.pos.saturating_add(record_size(at.records, info)?);
        Ok(true)
    }

    /// The exact walk from `at` until every name is found or no record is
    /// left; a record that runs past the section is an error while names
    /// are left.
    fn serial(&self, wanted: &mut Wanted<'_>, mut at: At) -> Result<(), BtfError> {
        while wanted.left > 0 && self.exact_step(&mut at, wanted)? {}
        if wanted.left > 0 && at.pos != self.types.len() {
            return Err(BtfError::BadType {
                id: at.records,
                reason: "record runs past the type section".into(),
            });
        }
        Ok(())
    }
}
