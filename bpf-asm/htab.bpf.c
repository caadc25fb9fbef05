// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * A hash table with chaining in an arena: buckets are an __arena global
 * array, entries come from a bump allocator over pages BPF allocates.
 * htab_bucket() is a global (non-static) function in .text, verified on its
 * own; htab_find() and new_entry() are static subprograms (new_entry uses a
 * static __arena variable, so .rel.text relocates against the .addr_space.1
 * section symbol with the addend in the instruction).
 *
 * htab_fill:   inserts keys 0..n-1 (n in .bss) with value key * 3.
 *              Expect: retval 0; `entries` == n.
 * htab_lookup: ctx = { u32 key }. Expect: retval == key * 3 for a key that
 *              was inserted, -1 otherwise.
 * User space walks the same buckets through the arena mapping.
 */
#include "arena.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 128);
} arena SEC(".maps");

#define NBUCKETS 64

struct entry {
	struct entry __arena *next;
	__u32 key;
	__u32 value;
};

struct entry __arena *__arena buckets[NBUCKETS];
__u32 n;
__u32 entries;

static char __arena *bump;
static __u32 __arena bump_left; /* a static __arena variable: section-symbol relocations */

__attribute__((noinline)) int htab_bucket(__u32 key)
{
	return (key * 2654435761u) % NBUCKETS;
}

static __attribute__((noinline)) struct entry __arena *new_entry(void)
{
	struct entry __arena *e;

	if (bump_left < sizeof(*e)) {
		bump = bpf_arena_alloc_pages(&arena, NULL, 1, NUMA_NO_NODE, 0);
		if (!bump)
			return NULL;
		bump_left = PAGE_SIZE;
	}
	e = (struct entry __arena *)bump;
	bump += sizeof(*e);
	bump_left -= sizeof(*e);
	return e;
}

static __attribute__((noinline)) struct entry __arena *htab_find(__u32 key)
{
	int b = htab_bucket(key);
	struct entry __arena *e;

	if (b < 0 || b >= NBUCKETS)
		return NULL;
	for (e = buckets[b]; e && can_loop; e = e->next)
		if (e->key == key)
			return e;
	return NULL;
}

SEC("syscall")
int htab_fill(void *ctx)
{
	__u32 i;

	for (i = 0; i < n && can_loop; i++) {
		struct entry __arena *e = new_entry();
		int b = htab_bucket(i);

		if (!e || b < 0 || b >= NBUCKETS)
			return 1;
		e->key = i;
		e->value = i * 3;
		e->next = buckets[b];
		buckets[b] = e;
		entries++;
	}
	return 0;
}

SEC("syscall")
int htab_lookup(__u32 *key)
{
	struct entry __arena *e = htab_find(*key);

	return e ? e->value : -1;
}

char _license[] SEC("license") = "GPL";
