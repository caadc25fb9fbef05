// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * Page alloc/free/reserve semantics, checked from BPF.
 *
 * page_rules: each check sets one bit of the return value when the kernel
 *   answers as documented (bpf_arena::guide::kernel, "Pages"):
 *   0x01 alloc of 2 pages at page 4 returns that address
 *   0x02 alloc over an allocated page returns NULL
 *   0x04 alloc of more pages than the arena returns NULL
 *   0x08 reserve of a free page returns 0
 *   0x10 alloc over the reserved page returns NULL
 *   0x20 reserve of an allocated page returns -EBUSY (-16)
 *   0x40 a write to a freed page is dropped and reads back 0
 *   0x80 free un-reserves: alloc at the formerly reserved page works
 *   Expect: retval 0xff.
 * map_iter (iter.s/bpf_map): a sleepable iterator, loaded but not run.
 *   Expect: loads.
 */
#include "arena.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 16);
} arena SEC(".maps");

__u64 maps_seen;

SEC("syscall")
int page_rules(void *ctx)
{
	char __arena *base = bpf_arena_alloc_pages(&arena, NULL, 1, NUMA_NO_NODE, 0);
	char __arena *p4, *p;
	volatile __u64 __arena *v;
	int ret = 0;

	if (!base)
		return -1;
	/* base is page 1 (the loader guards page 0). */
	p4 = base + 3 * PAGE_SIZE;
	p = bpf_arena_alloc_pages(&arena, p4, 2, NUMA_NO_NODE, 0);
	if (p == p4)
		ret |= 0x01;
	if (!bpf_arena_alloc_pages(&arena, p4 + PAGE_SIZE, 1, NUMA_NO_NODE, 0))
		ret |= 0x02;
	if (!bpf_arena_alloc_pages(&arena, NULL, 17, NUMA_NO_NODE, 0))
		ret |= 0x04;
	if (bpf_arena_reserve_pages(&arena, p4 + 2 * PAGE_SIZE, 1) == 0)
		ret |= 0x08;
	if (!bpf_arena_alloc_pages(&arena, p4 + 2 * PAGE_SIZE, 1, NUMA_NO_NODE, 0))
		ret |= 0x10;
	if (bpf_arena_reserve_pages(&arena, p4, 1) == -16)
		ret |= 0x20;
	bpf_arena_free_pages(&arena, p4, 2);
	v = (volatile __u64 __arena *)p4;
	*v = 7;
	if (*v == 0)
		ret |= 0x40;
	bpf_arena_free_pages(&arena, p4 + 2 * PAGE_SIZE, 1);
	if (bpf_arena_alloc_pages(&arena, p4 + 2 * PAGE_SIZE, 1, NUMA_NO_NODE, 0) == p4 + 2 * PAGE_SIZE)
		ret |= 0x80;
	return ret;
}

SEC("iter.s/bpf_map")
int map_iter(void *ctx)
{
	maps_seen++;
	return 0;
}

char _license[] SEC("license") = "GPL";
