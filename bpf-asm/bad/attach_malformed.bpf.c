// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * A tracepoint section without its category (`tracepoint/NAME` instead of
 * `tracepoint/CATEGORY/NAME`) next to a good one: `bpf-arena attach` must
 * refuse the object rather than attach the good program and skip the other.
 */
#include "../arena.h"

__u64 count;

SEC("tracepoint/syscalls/sys_enter_getpid")
int good(void *ctx)
{
	count++;
	return 0;
}

SEC("tracepoint/sys_enter_getpid")
int typo(void *ctx)
{
	count++;
	return 0;
}

char _license[] SEC("license") = "GPL";
