//! Feature probes against the running kernel: each probe must say "yes" on a
//! kernel at least as new as the release that added the feature (with
//! privileges), "no" on older ones, and never be inconclusive as root.

mod common;

use bpf_arena::features::{Feature, Support, probe, probe_all};

/// `(major, minor)` of the running kernel.
fn kernel_version() -> (u32, u32) {
    let s = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut it = s
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse().ok());
    (it.next().unwrap(), it.next().unwrap())
}

fn parse(v: &str) -> (u32, u32) {
    let (a, b) = v.split_once('.').unwrap();
    (a.parse().unwrap(), b.parse().unwrap())
}

#[test]
fn probes_agree_with_the_kernel_version() {
    require!(Feature::CapSysAdmin);
    let k = kernel_version();
    for (f, s) in probe_all() {
        // Release of this one is not confirmed (bpf-next, Dec 2025); probe only.
        if f == Feature::FullRangeDirectValue {
            assert!(
                !matches!(s, Support::Inconclusive { .. }),
                "{}: {s}",
                f.name()
            );
            continue;
        }
        let new_enough = k >= parse(f.since());
        match (&s, new_enough) {
            (Support::Yes, true) | (Support::No { .. }, false) => {}
            _ => panic!(
                "{}: {s} on Linux {}.{} (added in {})",
                f.name(),
                k.0,
                k.1,
                f.since()
            ),
        }
    }
}

#[test]
fn probes_are_cached_and_printable() {
    let first = probe(Feature::KfuncAllocPages);
    assert_eq!(
        probe(Feature::KfuncAllocPages),
        first,
        "same answer from the cache"
    );
    assert_eq!(
        Support::No { since: "6.17" }.to_string(),
        "no (added in Linux 6.17)"
    );
    assert_eq!(Support::Yes.to_string(), "yes");
    let names: std::collections::HashSet<_> = Feature::ALL.iter().map(|f| f.name()).collect();
    assert_eq!(names.len(), Feature::ALL.len(), "names are unique");
}
