// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * Programs for `bpf-arena attach` that need a target the section cannot
 * name (tests/cli.rs): an interface (--iface) or a cgroup (--cgroup).
 *
 * xdp_count: xdp; counts packets in `packets`, passes them (XDP_PASS).
 * skb_in:    cgroup_skb/ingress; counts packets in `packets`, allows them.
 * Expect: both attach only with their option; the traffic is let through.
 */
#include "arena.h"

__u64 packets;

SEC("xdp")
int xdp_count(void *ctx)
{
	__sync_fetch_and_add(&packets, 1);
	return 2; /* XDP_PASS */
}

SEC("cgroup_skb/ingress")
int skb_in(void *ctx)
{
	__sync_fetch_and_add(&packets, 1);
	return 1; /* allow */
}

char _license[] SEC("license") = "GPL";
