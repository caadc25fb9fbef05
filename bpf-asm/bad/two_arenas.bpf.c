// SPDX-License-Identifier: MIT OR Apache-2.0
/* Expected outcome: the loader refuses it: only one arena per object. */
#include "../arena.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 2);
} first SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 2);
} second SEC(".maps");

SEC("syscall")
int use(void *ctx)
{
	return 0;
}

char _license[] SEC("license") = "GPL";
