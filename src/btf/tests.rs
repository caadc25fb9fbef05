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
