// SPDX-License-Identifier: MIT OR Apache-2.0
/* Expected outcome: the loader refuses it: 12 KiB of __arena globals in a 2-page arena. */
#include "../arena.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 2);
} arena SEC(".maps");

char __arena big[3 * 4096];

SEC("syscall")
int use(void *ctx)
{
	return big[5];
}

char _license[] SEC("license") = "GPL";
