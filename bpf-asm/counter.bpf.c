// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * A counter page in an arena, allocated by BPF on the first run.
 *
 * count: allocates the counter page on first use (its address is kept in
 *        .bss `counter`), adds `step` (.data, default 1) and returns the new
 *        value. Expect: retval 1, 2, 3, ... on successive runs with step 1;
 *        `counter` is a user-space pointer into the arena.
 * core_max_entries: reads the arena's max_entries through CO-RE
 *        (struct bpf_map's layout is relocated by the kernel). Expect:
 *        retval == the arena's page count.
 */
#include "arena.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 8);
} arena SEC(".maps");

__u64 __arena *counter;
__u64 step = 1;

SEC("syscall")
int count(void *ctx)
{
	if (!counter) {
		counter = bpf_arena_alloc_pages(&arena, NULL, 1, NUMA_NO_NODE, 0);
		if (!counter)
			return -1;
	}
	*counter += step;
	return *counter;
}

/* Only the field used; the kernel relocates its offset. */
struct bpf_map___core {
	__u32 max_entries;
} __core;

SEC("syscall")
int core_max_entries(void *ctx)
{
	struct bpf_map___core *m = (void *)&arena;

	return m->max_entries;
}

char _license[] SEC("license") = "GPL";
