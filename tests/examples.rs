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
    if !path.exists() {
        // `cargo test` builds the examples; `cargo test --test examples`
        // alone does not.
        let why = format!(
            "{} is not built (run the whole `cargo test`)",
            path.display()
        );
        assert!(!common::strict(), "{why}");
        return Err(format!("SKIP {why}"));
    }
    let out = std::process::Command::new(&path)
        .args(args)
        .output()
        .unwrap();
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    Err(common::assert_one_line_naming_a_newer_release(
        &format!("{name}: "),
        &err,
    ))
}

#[test]
fn examples_work_or_name_what_is_missing() {
    // CAP_SYS_ADMIN: net_protocols makes network namespaces.
    require!(Feature::CapBpf, Feature::CapPerfmon, Feature::CapSysAdmin);
    let mut missing = Vec::new();
    for (name, args) in [
        ("arena_list", &["1000"][..]),
        ("shared_counter", &[][..]),
        ("user_list", &["500"][..]),
        ("arena_pages", &[][..]),
        ("net_protocols", &["50"][..]),
    ] {
        if let Err(line) = run(name, args) {
            missing.push(line);
        }
    }
    if let Some(unbuilt) = missing.iter().find(|l| l.starts_with("SKIP ")) {
        common::report("SKIP", &common::test_name(), &unbuilt[5..]);
        return;
    }
    if !missing.is_empty() {
        // Each failure named a release newer than this kernel; without
        // arenas at all, every example must fail that way.
        common::report("SKIP", &common::test_name(), &missing.join(" | "));
    }
    if matches!(
        bpf_arena::features::probe(Feature::ArenaMap),
        bpf_arena::features::Support::No { .. }
    ) {
        assert_eq!(missing.len(), 5, "{missing:?}");
        assert!(
            missing.iter().all(|l| l.contains("needs Linux 6.9")),
            "{missing:?}"
        );
    }
}
