//! The crate's layering, checked on its sources (`src/`, read with
//! `std::fs`): which top-level module may name which, where `unsafe` may
//! appear, and that the pure layer does not use `libc`.
//!
//! ```text
//! pure:  abi  <  insn, btf  <  obj  <  codegen
//! live:  sys  <  error  <  kfunc, kconfig  <  map, prog  <  arena  <  features  <  loader
//!        map  <  ringbuf
//! ```
//!
//! Every live module may use every pure one; `sys` only `abi`. `error`
//! holds the conversions from the other layers' error types. One file
//! crosses a line on purpose, listed in `FILE_EXCEPTIONS`: `arena::pages`
//! loads the SYSCALL programs behind the page kfuncs with `prog`. `guide`
//! is documentation only.
//!
//! Comments, string and character literals are blanked before anything is
//! looked for, so prose and messages may name any module.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The pure modules: plain data and parsing, no system calls.
const PURE: &[&str] = &["abi", "insn", "btf", "obj", "codegen"];

/// For each top-level module, the crate modules it may reference
/// (`crate::x`, `super::x` reaching the crate root, `use crate::{x, …}`),
/// besides itself. A module not in this table fails the test: place it.
const ALLOWED: &[(&str, &[&str])] = &[
    // Pure layer.
    ("abi", &[]),
    ("insn", &["abi"]),
    ("btf", &["abi"]),
    ("obj", &["abi", "insn", "btf"]),
    // Rust source from an object's BTF.
    ("codegen", &["abi", "insn", "btf", "obj"]),
    // Live layer: the system call boundary, then the crate error.
    ("sys", &["abi"]),
    ("error", &["abi", "insn", "btf", "obj", "codegen", "sys"]),
    // Kernel facts read from files (vmlinux BTF, kernel config).
    ("kfunc", &["abi", "insn", "btf", "obj", "sys", "error"]),
    ("kconfig", &["abi", "insn", "btf", "obj", "sys", "error"]),
    // Live kernel objects.
    ("map", &["abi", "insn", "btf", "obj", "sys", "error"]),
    ("prog", &["abi", "insn", "btf", "obj", "sys", "error"]),
    (
        "arena",
        &["abi", "insn", "btf", "obj", "sys", "error", "kfunc"],
    ),
    // Links attach programs (and struct_ops maps).
    (
        "link",
        &["abi", "insn", "btf", "obj", "sys", "error", "map", "prog"],
    ),
    // Ring buffers: mapped through sys, opened from a map.
    (
        "ringbuf",
        &["abi", "insn", "btf", "obj", "sys", "error", "map"],
    ),
    // Feature probes create arenas and maps and load programs.
    (
        "features",
        &[
            "abi", "insn", "btf", "obj", "sys", "error", "kfunc", "kconfig", "arena", "map", "prog",
        ],
    ),
    // Documentation only (rustdoc pages); its links are comments.
    ("guide", &[]),
    // The object loader sits on top of everything.
    (
        "loader",
        &[
            "abi", "insn", "btf", "obj", "sys", "error", "kfunc", "kconfig", "arena", "map",
            "prog", "features", "link",
        ],
    ),
];

/// References one file may make beyond its module's row of [`ALLOWED`],
/// each with the reason.
const FILE_EXCEPTIONS: &[(&str, &str, &str)] = &[(
    "src/arena/pages.rs",
    "prog",
    "the arena's page kfuncs run in SYSCALL programs it loads and caches",
)];

/// The only places `unsafe` may appear.
const UNSAFE_ALLOWED: &[&str] = &["src/sys/", "src/arena/"];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `path` relative to the crate root, with `/` separators.
fn shown(path: &Path) -> String {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// The source with comments and the insides of string and character
/// literals replaced by spaces; newlines are kept, so line numbers hold.
fn code_only(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        // Line comment (also `///` and `//!`).
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                blank(&mut out, b[i]);
                i += 1;
            }
            continue;
        }
        // Block comment, nested.
        if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
            continue;
        }
        let ident_before = i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_');
        // Raw string: r"…", r#"…"#, br"…" (the `b` is copied as code).
        if c == 'r' && !ident_before && matches!(next, Some('"') | Some('#')) {
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) == Some(&'"') {
                out.push(' ');
                for _ in 0..=hashes {
                    out.push(' ');
                }
                i = j + 1;
                loop {
                    if i >= b.len() {
                        break;
                    }
                    if b[i] == '"' && (1..=hashes).all(|k| b.get(i + k) == Some(&'#')) {
                        for _ in 0..=hashes {
                            out.push(' ');
                        }
                        i += 1 + hashes;
                        break;
                    }
                    blank(&mut out, b[i]);
                    i += 1;
                }
                continue;
            }
        }
        // String literal.
        if c == '"' {
            out.push(' ');
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    blank(&mut out, b[i]);
                    i += 1;
                }
                if i < b.len() {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
            continue;
        }
        // Character literal ('x', '\n', '\u{..}'); a lifetime is left alone.
        if c == '\'' {
            if next == Some('\\') {
                let mut j = i + 2;
                while j < b.len() && b[j] != '\'' && b[j] != '\n' {
                    j += 1;
                }
                if b.get(j) == Some(&'\'') {
                    for _ in i..=j {
                        out.push(' ');
                    }
                    i = j + 1;
                    continue;
                }
            } else if next.is_some() && b.get(i + 2) == Some(&'\'') {
                out.push_str("   ");
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether `word` occurs in `line` as a whole identifier.
fn has_word(line: &str, word: &str) -> bool {
    line.match_indices(word).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

/// The identifier at the start of `s` (after spaces).
fn ident_at(s: &str) -> &str {
    let s = s.trim_start();
    let end = s.find(|c: char| !is_ident(c)).unwrap_or(s.len());
    &s[..end]
}

/// The first path segments of the items in a `{…}` group starting at `s`
/// (just after the `{`), nested groups skipped.
fn group_heads(s: &str) -> Vec<&str> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut at_item = true;
    let mut i = 0;
    let bytes = s.as_bytes();
    while i < bytes.len() {
        match bytes[i] {
            b'{' => depth += 1,
            b'}' if depth == 0 => break,
            b'}' => depth -= 1,
            b',' if depth == 0 => at_item = true,
            c if at_item && depth == 0 && !c.is_ascii_whitespace() => {
                let id = ident_at(&s[i..]);
                if !id.is_empty() {
                    heads.push(id);
                }
                at_item = false;
            }
            _ => {}
        }
        i += 1;
    }
    heads
}

/// The crate's top-level modules named in `code` (blanked source) of a
/// file `depth` modules deep (`src/x.rs` and `src/x/mod.rs`: 1,
/// `src/x/y.rs`: 2), with their 1-based lines.
/// Items of the crate root named through `super::` are not reported (an
/// inline `mod tests` makes `super::` mean the file's own module).
fn references(code: &str, depth: usize) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let flat: String = code.to_string();
    let line_of = |at: usize| flat[..at].matches('\n').count() + 1;
    let mut push = |at: usize, rest: &str, root_items: bool| {
        let rest = rest.trim_start();
        let heads = match rest.strip_prefix('{') {
            Some(group) => group_heads(group),
            None => vec![ident_at(rest)],
        };
        for h in heads {
            let module_like = h.starts_with(|c: char| c.is_ascii_lowercase());
            if !h.is_empty() && (root_items || module_like) {
                found.push((line_of(at), h.to_string()));
            }
        }
    };
    for (at, _) in flat.match_indices("crate") {
        let before = flat[..at].chars().next_back();
        if before.is_some_and(|c| is_ident(c) || c == '$') {
            continue;
        }
        let rest = &flat[at + "crate".len()..];
        if let Some(rest) = rest.trim_start().strip_prefix("::") {
            push(at, rest, true);
        }
    }
    // `super::super::…::x` that climbs to the crate root.
    for (at, _) in flat.match_indices("super") {
        let before = flat[..at].chars().next_back();
        if before.is_some_and(|c| is_ident(c) || c == ':') {
            continue;
        }
        let mut rest = &flat[at..];
        let mut ups = 0;
        while let Some(r) = rest.strip_prefix("super") {
            match r.trim_start().strip_prefix("::") {
                Some(r) => {
                    ups += 1;
                    rest = r.trim_start();
                }
                None => break,
            }
        }
        if ups >= depth && ups > 0 {
            push(at, rest, false);
        }
    }
    found
}

/// Every source file under `src/` with its top-level module (`None` for
/// `lib.rs` and the CLI), depth and blanked code.
fn sources() -> Vec<(PathBuf, Option<String>, usize, String)> {
    let src = src_dir();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files
        .into_iter()
        .map(|p| {
            let rel: Vec<String> = p
                .strip_prefix(&src)
                .unwrap()
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            let (module, depth) = match rel.as_slice() {
                [f] if f == "lib.rs" => (None, 0),
                [d, ..] if d == "bin" => (None, 0),
                [f] => (Some(f.trim_end_matches(".rs").to_string()), 1),
                [d, f] if f == "mod.rs" => (Some(d.clone()), 1),
                [d, rest @ ..] => (Some(d.clone()), rest.len() + 1),
                [] => unreachable!(),
            };
            let text =
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, module, depth, code_only(&text))
        })
        .collect()
}

#[test]
fn modules_import_only_downwards() {
    let known: BTreeSet<&str> = ALLOWED.iter().map(|(m, _)| *m).collect();
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for (path, module, depth, code) in sources() {
        let Some(module) = module else { continue };
        seen.insert(module.clone());
        let Some((_, allowed)) = ALLOWED.iter().find(|(m, _)| *m == module) else {
            problems.push(format!(
                "{}: module '{module}' is not in tests/layering.rs' ALLOWED table: place it in the layering",
                shown(&path)
            ));
            continue;
        };
        for (line, target) in references(&code, depth) {
            if target == module || !known.contains(target.as_str()) {
                // Itself, or an item of the crate root (`crate::Error`).
                if (target == "Error" || target == "Result")
                    && (PURE.contains(&module.as_str()) || module == "sys")
                {
                    problems.push(format!(
                        "{}:{line}: {module} may not use the crate's {target} (it is above {module})",
                        shown(&path)
                    ));
                }
                continue;
            }
            let excepted = FILE_EXCEPTIONS
                .iter()
                .any(|(f, t, _)| *f == shown(&path) && *t == target);
            if !allowed.contains(&target.as_str()) && !excepted {
                problems.push(format!(
                    "{}:{line}: {module} may not use {target} (allowed: {})",
                    shown(&path),
                    if allowed.is_empty() {
                        "nothing".to_string()
                    } else {
                        allowed.join(", ")
                    }
                ));
            }
        }
    }
    for m in known.iter().filter(|m| !seen.contains(**m)) {
        problems.push(format!(
            "tests/layering.rs: no source file under src/ for module '{m}'"
        ));
    }
    assert!(
        problems.is_empty(),
        "layering broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn unsafe_only_in_sys_and_arena() {
    let mut problems = Vec::new();
    for (path, _, _, code) in sources() {
        let rel = shown(&path);
        if UNSAFE_ALLOWED.iter().any(|d| rel.starts_with(d)) {
            continue;
        }
        for (n, line) in code.lines().enumerate() {
            if has_word(line, "unsafe") {
                problems.push(format!(
                    "{rel}:{}: unsafe outside src/sys and src/arena",
                    n + 1
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn pure_modules_use_no_libc() {
    let mut problems = Vec::new();
    for (path, module, _, code) in sources() {
        if !module.as_deref().is_some_and(|m| PURE.contains(&m)) {
            continue;
        }
        for (n, line) in code.lines().enumerate() {
            if has_word(line, "libc") {
                problems.push(format!("{}:{}: libc in a pure module", shown(&path), n + 1));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The scanner itself: what it must see and what it must not.
#[test]
fn scanner_sees_code_only() {
    let code = code_only(
        "use crate::prog::X; // crate::sys\n\
         /* crate::arena /* nested */ crate::map */ let s = \"crate::loader\";\n\
         let r = r#\"crate::features \"q\" \"#; let c = '\"'; fn f<'a>(x: &'a u8) {}\n\
         use crate::{abi::A, sys::{self, B}};\n\
         unsafe_code; unsafe_op_in_unsafe_fn; $crate::kfunc; mycrate::kconfig;\n",
    );
    let refs: Vec<(usize, String)> = references(&code, 1);
    let refs: Vec<(usize, &str)> = refs.iter().map(|(l, m)| (*l, m.as_str())).collect();
    assert_eq!(refs, [(1, "prog"), (4, "abi"), (4, "sys")]);
    assert!(code.contains("fn f<'a>(x: &'a u8)"), "{code}");
    assert!(!code.lines().any(|l| has_word(l, "unsafe")));
    assert!(has_word("    unsafe { x }", "unsafe"));
    // `super::` reaches the crate root from src/x.rs with one step, from
    // src/x/y.rs with two.
    assert_eq!(references("use super::sys;", 1), [(1, "sys".to_string())]);
    assert!(references("use super::Btf;", 2).is_empty());
    assert!(references("use super::{Error, Btf};", 1).is_empty());
    assert_eq!(
        references("use super::super::prog::P;", 2),
        [(1, "prog".to_string())]
    );
}
