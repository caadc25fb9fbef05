//! Rust identifiers for C names: keywords escaped, anything a Rust
//! identifier cannot hold replaced, and clashes in one scope resolved the
//! same way on every run.

use std::collections::{BTreeMap, BTreeSet};

/// Rust's strict and reserved keywords (2015 to 2024 editions).
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "gen", "macro",
    "override", "priv", "try", "typeof", "unsized", "virtual", "yield",
];

/// Keywords that cannot be raw identifiers: `name_` instead.
const NOT_RAW: &[&str] = &["crate", "self", "Self", "super"];

/// Primitive type names: a type of that name would shadow the primitive
/// in the generated module, so C types named so get a `_` appended.
const PRIMITIVES: &[&str] = &[
    "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize", "f32",
    "f64", "bool", "char", "str",
];

/// `name` with every character a Rust identifier cannot hold replaced by
/// `_`, a `_` put before a leading digit, and `_` itself (a pattern, not
/// a name) made `__`. Empty stays empty.
fn sanitize(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    if s == "_" {
        s.push('_');
    }
    s
}

/// The Rust spelling of a C name used as a field, method or constant:
/// keywords become raw identifiers (`r#type`), or get a `_` appended
/// where Rust allows no raw form (`self_`).
pub(crate) fn ident(name: &str) -> String {
    let s = sanitize(name);
    if NOT_RAW.contains(&s.as_str()) {
        format!("{s}_")
    } else if KEYWORDS.contains(&s.as_str()) {
        format!("r#{s}")
    } else {
        s
    }
}

/// The Rust spelling of a C type name: as [`ident`], and a primitive's
/// name (`typedef __u32 u32`) gets a `_` appended.
pub(crate) fn type_ident(name: &str) -> String {
    let s = ident(name);
    if PRIMITIVES.contains(&s.as_str()) {
        format!("{s}_")
    } else {
        s
    }
}

/// The bare name of an identifier (`r#type` → `type`), to build other
/// names from (`set_type`).
pub(crate) fn bare(ident: &str) -> &str {
    ident.strip_prefix("r#").unwrap_or(ident)
}

/// Names taken in one scope (a module's types, a struct's fields, an
/// impl's methods).
#[derive(Default)]
pub(crate) struct Scope {
    taken: BTreeSet<String>,
    /// Per base name, the first suffix not tried yet: claiming the same
    /// name many times stays linear (hostile BTF can repeat a name, or
    /// have thousands that sanitise to one).
    next: BTreeMap<String, u32>,
}

impl Scope {
    /// A scope in which `reserved` are already taken.
    pub(crate) fn with(reserved: &[&str]) -> Scope {
        Scope {
            taken: reserved.iter().map(|s| s.to_string()).collect(),
            next: BTreeMap::new(),
        }
    }

    fn is_free(&self, name: &str) -> bool {
        !self.taken.contains(name)
    }

    /// `want` if it is free, else `want` with `_2`, `_3`, … appended
    /// (the first free one); the name returned is taken from then on.
    pub(crate) fn claim(&mut self, want: String) -> String {
        let name = first_free(want, &[&*self]);
        self.taken.insert(name.0.clone());
        self.note(name.1, name.2);
        name.0
    }

    /// As [`Scope::claim`], for a name that must be free in both scopes
    /// (a global's accessor, which both handles have); taken in both.
    pub(crate) fn claim_both(a: &mut Scope, b: &mut Scope, want: String) -> String {
        let name = first_free(want, &[&*a, &*b]);
        for s in [&mut *a, &mut *b] {
            s.taken.insert(name.0.clone());
            s.note(name.1.clone(), name.2);
        }
        name.0
    }

    fn note(&mut self, base: Option<String>, n: u32) {
        if let Some(base) = base {
            self.next.insert(base, n.saturating_add(1));
        }
    }
}

/// The first of `want`, `base_2`, `base_3`, … free in every scope, with
/// its base and suffix when it has one.
fn first_free(want: String, scopes: &[&Scope]) -> (String, Option<String>, u32) {
    if scopes.iter().all(|s| s.is_free(&want)) {
        return (want, None, 0);
    }
    let base = bare(&want).to_string();
    let start = scopes
        .iter()
        .filter_map(|s| s.next.get(&base).copied())
        .max()
        .unwrap_or(2);
    for n in start..=u32::MAX {
        let next = format!("{base}_{n}");
        if scopes.iter().all(|s| s.is_free(&next)) {
            return (next, Some(base), n);
        }
    }
    (want, None, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_and_odd_names() {
        assert_eq!(ident("type"), "r#type");
        assert_eq!(ident("self"), "self_");
        assert_eq!(ident("Self"), "Self_");
        assert_eq!(ident("value"), "value");
        assert_eq!(ident("func.local"), "func_local");
        assert_eq!(ident("9lives"), "_9lives");
        assert_eq!(ident("_"), "__");
        assert_eq!(ident("café"), "caf_");
        assert_eq!(type_ident("u32"), "u32_");
        assert_eq!(type_ident("node"), "node");
        assert_eq!(bare("r#type"), "type");
    }

    #[test]
    fn clashes_are_numbered() {
        let mut s = Scope::with(&["Loader"]);
        assert_eq!(s.claim("node".into()), "node");
        assert_eq!(s.claim("node".into()), "node_2");
        assert_eq!(s.claim("node".into()), "node_3");
        assert_eq!(s.claim("Loader".into()), "Loader_2");
        assert_eq!(s.claim("r#type".into()), "r#type");
        assert_eq!(s.claim("r#type".into()), "type_2");
    }

    #[test]
    fn many_clashes_stay_numbered_in_order() {
        let mut s = Scope::with(&["x_3"]);
        assert_eq!(s.claim("x".into()), "x");
        assert_eq!(s.claim("x".into()), "x_2");
        assert_eq!(s.claim("x".into()), "x_4", "x_3 is taken");
        assert_eq!(s.claim("x_5".into()), "x_5");
        assert_eq!(s.claim("x".into()), "x_6");
        // Linear: 50,000 claims of one name (quadratic took minutes).
        for n in 7..50_000u32 {
            assert_eq!(s.claim("x".into()), format!("x_{n}"));
        }
    }

    #[test]
    fn claim_both_finds_a_name_free_in_both() {
        let mut a = Scope::with(&["load"]);
        let mut b = Scope::with(&["inner"]);
        assert_eq!(Scope::claim_both(&mut a, &mut b, "load".into()), "load_2");
        assert_eq!(Scope::claim_both(&mut a, &mut b, "inner".into()), "inner_2");
        assert_eq!(a.claim("load".into()), "load_3");
        assert_eq!(b.claim("inner".into()), "inner_3");
    }
}
