use super::*;

/// Builds a BTF blob from raw type bytes and a string section.
fn blob(types: &[u8], strings: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&MAGIC.to_le_bytes());
    v.extend_from_slice(&[1, 0]);
    for x in [
        24u32,
        0,
        types.len() as u32,
        types.len() as u32,
        strings.len() as u32,
    ] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.extend_from_slice(types);
    v.extend_from_slice(strings);
    v
}

fn ty(out: &mut Vec<u8>, name_off: u32, kind: u32, vlen: u32, size_or_type: u32, extra: &[u32]) {
    for x in [name_off, (kind << 24) | vlen, size_or_type]
        .iter()
        .chain(extra)
    {
        out.extend_from_slice(&x.to_le_bytes());
    }
}

fn sample() -> Vec<u8> {
    // strings: "\0int\0foo\0bar_foo\0s\0a\0"
    let strings = b"\0int\0foo\0bar_foo\0s\0a\0";
    let mut t = Vec::new();
    ty(&mut t, 1, kind::INT, 0, 4, &[32]); // [1] int
    ty(&mut t, 0, kind::FUNC_PROTO, 1, 1, &[0, 1]); // [2] int (*)(int)
    ty(&mut t, 9, kind::FUNC, 0, 2, &[]); // [3] bar_foo
    ty(&mut t, 13, kind::FUNC, 0, 2, &[]); // [4] foo, name shared as a suffix of bar_foo
    ty(&mut t, 17, kind::STRUCT, 1, 8, &[19, 1, 32]); // [5] struct s { int a @32 }
    ty(&mut t, 0, kind::ENUM64, 1, 8, &[19, 0, 1]); // [6]
    blob(&t, strings)
}

#[test]
fn finds_funcs_by_name_including_suffix_shared_names() {
    let b = sample();
    let btf = Btf::parse(&b).unwrap();
    assert_eq!(btf.type_count(), 6);
    assert_eq!(
        btf.find_by_names(kind::FUNC, &["foo", "bar_foo", "nope", "int"]),
        vec![Some(4), Some(3), None, None]
    );
    assert_eq!(btf.find_by_name(kind::INT, "int"), Some(1));
    assert_eq!(btf.name(3).unwrap(), "bar_foo");
    assert_eq!(btf.members(5).unwrap(), vec![("a", 1, 32)]);
    assert!(btf.members(1).is_err());
}

#[test]
fn malformed_btf_is_an_error_not_a_panic() {
    let good = sample();
    assert!(matches!(
        Btf::parse(&good[..10]),
        Err(BtfError::Truncated(_))
    ));
    let mut bad = good.clone();
    bad[0] = 0;
    assert!(matches!(Btf::parse(&bad), Err(BtfError::BadMagic(_))));
    let mut bad = good.clone();
    bad[2] = 2;
    assert!(matches!(Btf::parse(&bad), Err(BtfError::BadVersion(2))));
    // Unknown kind 31 in the first record.
    let mut bad = good.clone();
    bad[24 + 7] = 31;
    assert!(matches!(
        Btf::parse(&bad),
        Err(BtfError::BadType { id: 1, .. })
    ));
    // A struct with a huge vlen runs past the section.
    let mut bad = good.clone();
    bad[24 + 60 + 4] = 0xff; // vlen of [5] struct s
    assert!(matches!(Btf::parse(&bad), Err(BtfError::BadType { .. })));
    // Section lengths beyond the blob.
    let mut bad = good.clone();
    bad[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(Btf::parse(&bad).is_err());
    // Every truncation of a valid blob parses or fails cleanly.
    for n in 0..good.len() {
        let _ = Btf::parse(&good[..n]);
    }
    // Arbitrary byte flips never panic.
    for i in 0..good.len() {
        for v in [0u8, 0x7f, 0xff] {
            let mut m = good.clone();
            m[i] = v;
            if let Ok(b) = Btf::parse(&m) {
                for id in 0..=b.type_count() + 1 {
                    let _ = b.name(id);
                    let _ = b.members(id);
                }
                let _ = b.find_by_names(kind::FUNC, &["foo"]);
            }
        }
    }
}

#[test]
fn split_btf_continues_ids_and_strings() {
    let base_blob = sample(); // 6 types; strings "\0int\0foo\0bar_foo\0s\0a\0" (21 bytes)
    let base = Btf::parse(&base_blob).unwrap();
    // Module: one FUNC named by its own string "modfn", one FUNC reusing the
    // base's "foo", both with proto [2] from the base.
    let own = b"modfn\0";
    let mut t = Vec::new();
    ty(&mut t, 21, kind::FUNC, 0, 2, &[]); // [7] modfn (offset 21 = base len + 0)
    ty(&mut t, 5, kind::FUNC, 0, 2, &[]); // [8] "foo" from the base strings
    let split_blob = blob(&t, own);
    let m = Btf::parse_split(&split_blob, &base).unwrap();
    assert_eq!(m.type_count(), 8);
    assert_eq!(m.name(7).unwrap(), "modfn");
    assert_eq!(m.name(8).unwrap(), "foo");
    assert_eq!(
        m.find_by_names(kind::FUNC, &["modfn", "foo", "int"]),
        vec![Some(7), Some(8), None]
    );
    assert!(
        m.header(3).is_none(),
        "base types are not part of the split view"
    );
}

#[test]
fn a_type_containing_itself_is_an_error_not_a_stack_overflow() {
    let strings = b"\0";
    let mut t = Vec::new();
    ty(&mut t, 0, kind::INT, 0, 4, &[32]); // [1] int
    ty(&mut t, 0, kind::ARRAY, 0, 0, &[2, 1, 4]); // [2] array of itself
    ty(&mut t, 0, kind::TYPEDEF, 0, 4, &[]); // [3] typedef -> [4]
    ty(&mut t, 0, kind::TYPEDEF, 0, 3, &[]); // [4] typedef -> [3]: a cycle
    let b = blob(&t, strings);
    let btf = Btf::parse(&b).unwrap();
    assert!(btf.resolve_size(2).is_err());
    assert!(btf.resolve_size(3).is_err());
    assert_eq!(btf.resolve_size(1).unwrap(), 4);
}

/// The serial scan as it was before the lanes (the reference the lanes must
/// match, results and errors alike), except that an empty name is never
/// found.
fn scan_serial_reference(
    data: &[u8],
    kind: u32,
    names: &[&str],
) -> Result<Vec<Option<u32>>, BtfError> {
    let (types, strings) = sections(data)?;
    let mut out = vec![None; names.len()];
    let mut left = names.iter().filter(|n| !n.is_empty()).count();
    let (mut pos, mut id) = (0usize, 0u32);
    while left > 0 {
        let Some(rec) = types.get(pos..).and_then(|t| t.first_chunk::<12>()) else {
            break;
        };
        let name_off = u32::from_le_bytes(rec[0..4].try_into().unwrap());
        let info = u32::from_le_bytes(rec[4..8].try_into().unwrap());
        id = id.saturating_add(1);
        if (info >> 24) & 0x1f == kind && name_off != 0 {
            if let Some(rest) = strings.get(name_off as usize..) {
                for (slot, n) in out.iter_mut().zip(names) {
                    let nb = n.as_bytes();
                    if slot.is_none()
                        && !nb.is_empty()
                        && rest.get(nb.len()) == Some(&0)
                        && rest.starts_with(nb)
                    {
                        *slot = Some(id);
                        left -= 1;
                    }
                }
            }
        }
        pos = pos.saturating_add(record_size(id, info)?);
    }
    if left > 0 && pos != types.len() {
        return Err(BtfError::BadType {
            id,
            reason: "record runs past the type section".into(),
        });
    }
    Ok(out)
}

/// Stretch sizes that put lane starts everywhere: inside headers, inside
/// member arrays, one record per lane, many records per lane.
const STRETCHES: [usize; 4] = [4, 12, 40, 1 << 20];

fn assert_scans_agree(data: &[u8], kind: u32, names: &[&str]) {
    let want = scan_serial_reference(data, kind, names);
    assert_eq!(scan_by_names(data, kind, names), want, "scan_by_names");
    for s in STRETCHES {
        assert_eq!(
            scan::scan_in_stretches(data, kind, names, s),
            want,
            "stretch {s}, names {names:?}"
        );
    }
}

/// A blob whose insides look like records: members whose type and offset
/// words decode as known kinds (bitfield offsets carry a size in their top
/// byte), enumerators with such values, functions between them.
fn tricky_sample() -> Vec<u8> {
    let mut strings = b"\0int\0foo\0bar_foo\0s\0a\0".to_vec();
    let mut t = Vec::new();
    ty(&mut t, 1, kind::INT, 0, 4, &[32]); // [1] int
    ty(&mut t, 0, kind::FUNC_PROTO, 1, 1, &[0, 1]); // [2]
    let mut func_names = Vec::new();
    for i in 0..40u32 {
        let off = strings.len() as u32;
        strings.extend_from_slice(format!("fn_{i}\0").as_bytes());
        func_names.push(off);
        match i % 4 {
            // A struct whose members read as FUNC / ENUM / STRUCT headers.
            0 => {
                let mut m = Vec::new();
                for j in 0..(3 + i) {
                    m.extend([19, (kind::FUNC << 24) | j, (6 << 24) | (j * 8)]);
                }
                ty(&mut t, 17, kind::STRUCT, 3 + i, 64, &m);
            }
            // An enum whose values read as headers.
            1 => {
                let mut m = Vec::new();
                for j in 0..(2 + i) {
                    m.extend([19, (kind::STRUCT << 24) | (j % 3)]);
                }
                ty(&mut t, 0, kind::ENUM, 2 + i, 4, &m);
            }
            2 => ty(&mut t, 0, kind::ARRAY, 0, 0, &[1, 1, kind::FUNC << 24]),
            _ => ty(&mut t, 0, kind::DECL_TAG, 0, 3, &[u32::MAX]),
        }
        ty(&mut t, off, kind::FUNC, 0, 2, &[]);
    }
    ty(&mut t, 13, kind::FUNC, 0, 2, &[]); // "foo", shared as a suffix
    blob(&t, &strings)
}

const TRICKY_NAMES: [&str; 7] = ["fn_0", "fn_17", "foo", "fn_39", "", "nope", "fn_17"];

#[test]
fn lanes_find_what_the_serial_walk_finds() {
    let b = tricky_sample();
    assert_eq!(
        scan_serial_reference(&b, kind::FUNC, &TRICKY_NAMES).unwrap(),
        vec![
            Some(4),
            Some(4 + 17 * 2),
            Some(83),
            Some(4 + 39 * 2),
            None,
            None,
            Some(4 + 17 * 2)
        ]
    );
    for k in [kind::FUNC, kind::INT, kind::STRUCT, kind::ENUM] {
        assert_scans_agree(&b, k, &TRICKY_NAMES);
        assert_scans_agree(&b, k, &["fn_3"]);
        assert_scans_agree(&b, k, &["int", "s"]);
    }
}

#[test]
fn lanes_fail_where_the_serial_walk_fails() {
    let good = tricky_sample();
    for n in 0..good.len() {
        assert_scans_agree(&good[..n], kind::FUNC, &TRICKY_NAMES);
    }
    // Every low byte (vlen, offsets) and top byte (kind, bitfield size),
    // and the middle bytes (lengths, offsets) with fewer values.
    for i in 24..good.len() {
        let values: &[u8] = match i % 4 {
            0 | 3 => &[0, 1, 4, 0x0c, 0x13, 0x7f, 0xff],
            _ => &[0x7f, 0xff],
        };
        for &v in values {
            let mut m = good.clone();
            m[i] = v;
            assert_scans_agree(&m, kind::FUNC, &TRICKY_NAMES);
            assert_scans_agree(&m, kind::FUNC, &["fn_39"]);
        }
    }
}

#[test]
fn lanes_agree_with_the_serial_walk_on_vmlinux() {
    // Kernel BTF when there is one (read, not mapped: pure code under test).
    let Ok(data) = std::fs::read("/sys/kernel/btf/vmlinux") else {
        return;
    };
    let btf = Btf::parse(&data).unwrap();
    let mut funcs = Vec::new();
    let mut structs = Vec::new();
    for id in 1..=btf.type_count() {
        let h = btf.header(id).unwrap();
        let name = btf.name(id).unwrap();
        if name.is_empty() {
            continue;
        }
        match h.kind() {
            kind::FUNC if id % 997 == 0 => funcs.push(name),
            kind::STRUCT if id % 331 == 0 => structs.push(name),
            _ => {}
        }
    }
    assert!(funcs.len() > 10);
    let mut names = funcs.clone();
    names.extend(["bpf_arena_alloc_pages", "no_such_kfunc_anywhere", ""]);
    let want = scan_serial_reference(&data, kind::FUNC, &names).unwrap();
    assert_eq!(btf.find_by_names(kind::FUNC, &names), want);
    assert_eq!(
        btf.find_by_names(kind::STRUCT, &structs),
        scan_serial_reference(&data, kind::STRUCT, &structs).unwrap()
    );
    for s in [4096, 16 << 10, 100_000] {
        assert_eq!(
            scan::scan_in_stretches(&data, kind::FUNC, &names, s).unwrap(),
            want
        );
        for name in funcs.iter().step_by(7) {
            assert_eq!(
                scan::scan_in_stretches(&data, kind::FUNC, &[name], s).unwrap(),
                scan_serial_reference(&data, kind::FUNC, &[name]).unwrap(),
            );
        }
        assert_eq!(
            scan::scan_in_stretches(&data, kind::STRUCT, &structs, s).unwrap(),
            scan_serial_reference(&data, kind::STRUCT, &structs).unwrap()
        );
    }
}
