//! Every example, run as a user would: it either works on this kernel, or
//! it stops with one line that names the missing feature and a Linux
//! release newer than this kernel — never a `Debug` dump.

mod common;

use bpf_arena::features::Feature;

/// `target/<profile>/examples/NAME`, beside this test binary's `deps/`.
fn example(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    profile_dir.join("examples").join(name)
}

/// Runs the example; `Ok` when it succeeded, else its one-line error after
/// checking that the line says which newer Linux release it needs.
fn run(name: &str, args: &[&str]) -> Result<(), String> {
    let path = example(name);
    assert!(
        path.exists(),
        "{} is missing (cargo test builds the examples)",
        path.display()
    );
    let out = std::process::Command::new(&path)
        .args(args)
        .output()
        .unwrap();
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{name} failed with more than one line:\n{err}"
    );
    assert!(lines[0].starts_with(&format!("{name}: ")), "{err}");
    let since = lines[0]
        .split("needs Linux ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .unwrap_or_else(|| panic!("{name} failed without naming a release: {err}"));
    assert!(
        !common::kernel_at_least(since),
        "{name} says it needs Linux {since}, but this kernel is {}: {err}",
        common::kernel_release()
    );
    Err(lines[0].to_string())
}

#[test]
fn examples_work_or_name_what_is_missing() {
    let mut missing = Vec::new();
    for (name, args) in [
        ("arena_list", &["1000"][..]),
        ("shared_counter", &[][..]),
        ("user_list", &["500"][..]),
        ("arena_pages", &[][..]),
    ] {
        if let Err(line) = run(name, args) {
            missing.push(line);
        }
    }
    if !missing.is_empty() {
        // Each failure named a release newer than this kernel; without
        // arenas at all, every example must fail that way.
        common::report("SKIP", &common::test_name(), &missing.join(" | "));
    } else {
        assert!(
            bpf_arena::features::probe(Feature::ArenaMap).is_yes(),
            "the examples ran without arenas"
        );
    }
    if !bpf_arena::features::probe(Feature::ArenaMap).is_yes() {
        assert_eq!(missing.len(), 4, "{missing:?}");
        assert!(
            missing.iter().all(|l| l.contains("needs Linux 6.9")),
            "{missing:?}"
        );
    }
}
