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

/// Runs the example; `Ok((its pid, its stdout))` when it succeeded, else
/// its one-line error after checking that the line says which newer Linux
/// release it needs.
fn run(name: &str, args: &[&str]) -> Result<(u32, String), String> {
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
    let child = std::process::Command::new(&path)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        return Ok((pid, String::from_utf8_lossy(&out.stdout).to_string()));
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
        ("syscall_top", &["1"][..]),
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
        assert_eq!(missing.len(), 6, "{missing:?}");
        assert!(
            missing.iter().all(|l| l.contains("needs Linux 6.9")),
            "{missing:?}"
        );
    }
}

/// syscall_top for one second: one table of the busiest (pid, syscall)
/// pairs, in which its own getpid load leads, then its final check.
#[test]
fn syscall_top_shows_its_own_getpid_load() {
    require!(
        Feature::CapBpf,
        Feature::CapPerfmon,
        Feature::ArenaMap,
        Feature::ArenaAtomics
    );
    let (pid, out) = match run("syscall_top", &["1"]) {
        Ok(r) => r,
        Err(line) if line.starts_with("SKIP ") => {
            common::report("SKIP", &common::test_name(), &line[5..]);
            return;
        }
        Err(line) => panic!("syscall_top failed on a kernel with arena atomics: {line}"),
    };
    let lines: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
    assert!(
        lines[0].starts_with("syscall_top: counting every system call for 1 s"),
        "{out}"
    );
    let at = lines
        .iter()
        .position(|l| l.starts_with("[1 s] ") && l.contains(" entries, "))
        .unwrap_or_else(|| panic!("no [1 s] table:\n{out}"));
    let header: Vec<&str> = lines[at + 1].split_whitespace().collect();
    assert_eq!(
        header,
        ["PID", "COMM", "NR", "SYSCALL", "LAST", "1", "s", "TOTAL"],
        "{out}"
    );
    // Rows: PID COMM NR [NAME] LAST TOTAL, at most ten, busiest first.
    let rows: Vec<Vec<&str>> = lines[at + 2..]
        .iter()
        .take_while(|l| !l.starts_with("ok: "))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!((1..=10).contains(&rows.len()), "{out}");
    // The busiest row is a getpid load: its own, or (when another test of
    // this binary runs syscall_top at the same moment) the other one's,
    // which then shows its own row too.
    assert_eq!(
        rows[0][3], "getpid",
        "the busiest row is not a getpid load:\n{out}"
    );
    let own = rows
        .iter()
        .find(|r| r[0] == pid.to_string() && r[3] == "getpid")
        .unwrap_or_else(|| panic!("its own getpid load is not among the busiest:\n{out}"));
    let last: u64 = own[4].parse().unwrap();
    let total: u64 = own[5].parse().unwrap();
    assert!(last > 1000 && total == last, "{out}");
    let done = lines.last().unwrap();
    assert!(
        done.starts_with("ok: the load thread's ")
            || (done.starts_with("ok: ") && done.contains("the kernel skipped")),
        "{out}"
    );
}
