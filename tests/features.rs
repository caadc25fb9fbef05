//! Feature probes against the running kernel: each probe must say "yes" on a
//! kernel at least as new as the release that added the feature (with
//! privileges), "no" on older ones, and never be inconclusive as root.

mod common;

use bpf_arena::features::{Feature, Support, probe, probe_all};

#[test]
fn probes_agree_with_the_kernel_version() {
    require!(Feature::CapSysAdmin);
    let k = common::kernel_version();
    for (f, s) in probe_all() {
        let since = common::parse_version(f.since()).unwrap();
        match &s {
            Support::Yes if k >= since => {}
            Support::No { since: named } if k < since => {
                assert_eq!(*named, f.since(), "{}: the release a 'no' names", f.name())
            }
            _ => panic!(
                "{}: {s} on Linux {} (added in {})",
                f.name(),
                common::kernel_release(),
                f.since()
            ),
        }
    }
}

/// Release strings as kernels and distributions write them.
#[test]
fn kernel_releases_parse() {
    use common::{parse_version, version_from};
    assert_eq!(
        parse_version("6.18.15+deb13-cloud-amd64"),
        Some((6, 18, 15))
    );
    assert_eq!(parse_version("7.3.4+deb13-cloud-amd64"), Some((7, 3, 4)));
    assert_eq!(parse_version("6.18.44-fc-v769"), Some((6, 18, 44)));
    assert_eq!(parse_version("6.1.0-56-cloud-amd64"), Some((6, 1, 0)));
    assert_eq!(parse_version("6.10-rc1"), Some((6, 10, 0)));
    assert_eq!(parse_version("6.9"), Some((6, 9, 0)));
    assert_eq!(parse_version("linux"), None);
    // Debian 12's 6.1: the gcc and binutils versions come first.
    let debian = "Linux version 6.1.0-56-cloud-amd64 (debian-kernel@lists.debian.org) \
        (x86_64-linux-gnu-gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0, GNU ld (GNU Binutils for \
        Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-10-01)";
    assert_eq!(
        version_from("6.1.0-56-cloud-amd64", debian, ""),
        Some((6, 1, 192))
    );
    // Ubuntu: the upstream version ends /proc/version_signature.
    assert_eq!(
        version_from(
            "6.8.0-45-generic",
            "Linux version 6.8.0-45-generic",
            "Ubuntu 6.8.0-45.45-generic 6.8.12"
        ),
        Some((6, 8, 12))
    );
    // Nothing better known: the release as it is.
    assert_eq!(version_from("6.12.0", "", ""), Some((6, 12, 0)));
    assert_eq!(version_from("", "", ""), None);
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
