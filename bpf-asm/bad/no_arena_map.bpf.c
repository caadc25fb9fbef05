// SPDX-License-Identifier: MIT OR Apache-2.0
/* Expected outcome: the loader refuses it: __arena globals without an arena map. */
#include "../arena.h"

__u64 __arena orphan = 1;

SEC("syscall")
int use(void *ctx)
{
	return orphan;
}

char _license[] SEC("license") = "GPL";
