// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * libbpf-style map definitions with every attribute kind:
 * an arena at a fixed address (map_extra = 1 << 44, an ENUM64 __ulong),
 * a hash map pinned by name, and an array of maps with an __array inner
 * definition.
 *
 * touch: writes 0x5a to the first byte of the arena page at offset 4096
 *        (allocated from BPF), bumps the pinned map's counter, and returns
 *        the counter. Expect: retval 1 on a fresh pin, 2 on the next load.
 * Loading with the fixed address already mapped fails cleanly (test).
 */
#include "arena.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 4);
	__ulong(map_extra, 1ull << 44);
} fixed_arena SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, PIN_BY_NAME);
} pinned_counts SEC(".maps");

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner);
} outer SEC(".maps");

static long (*const bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*const bpf_map_update_elem)(void *map, const void *key, const void *value, __u64 flags) = (void *)2;

SEC("syscall")
int touch(void *ctx)
{
	char __arena *p = bpf_arena_alloc_pages(&fixed_arena, (void __arena *)((1ull << 44) + PAGE_SIZE), 1,
						NUMA_NO_NODE, 0);
	__u32 key = 0;
	__u64 one = 1, *v;

	if (p)
		*p = 0x5a;
	v = (__u64 *)bpf_map_lookup_elem(&pinned_counts, &key);
	if (v) {
		*v += 1;
		return *v;
	}
	bpf_map_update_elem(&pinned_counts, &key, &one, 0);
	return 1;
}

char _license[] SEC("license") = "GPL";
