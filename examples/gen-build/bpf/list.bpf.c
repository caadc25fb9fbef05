// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * The BPF side of the build.rs demo (examples/gen-build): a syscall program
 * that builds a short linked list of items in an arena, for user space to
 * walk through the Rust types build.rs generates from this object's BTF.
 *
 * count (.data, 3 unless user space sets it before the load): how many
 *       items build_list appends (at most MAX_ITEMS: they share one page).
 * build_list: allocates one arena page, appends `count` items to `items`
 *       (item i has id i + 1, at = (i, -i), square = id * id) and adds each
 *       square into `sum` (.bss). Returns 0; 1 when count is too large, 2
 *       when no page could be allocated.
 */
#include "arena.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 4); /* the item page and the globals' page, and slack */
} arena SEC(".maps");

struct point {
	__s32 x;
	__s32 y;
};

struct item {
	struct item __arena *next;
	__u32 id;
	__u32 square;
	struct point at;
};

struct item_list {
	struct item __arena *first;
	__u32 len;
};

#define MAX_ITEMS (PAGE_SIZE / sizeof(struct item))

/* Ordinary globals: the input (.data) and a result (.bss). */
__u32 count = 3;
__u64 sum;

/*
 * __arena globals. `last` (the tail, for appending) also makes clang
 * describe struct item in full in the BTF, not as a forward declaration.
 */
struct item_list __arena items;
struct item __arena *__arena last;

SEC("syscall")
int build_list(void *ctx)
{
	struct item __arena *page;
	__u32 i, n = count;

	if (n > MAX_ITEMS)
		return 1;
	page = bpf_arena_alloc_pages(&arena, NULL, 1, NUMA_NO_NODE, 0);
	if (!page)
		return 2;
	for (i = 0; i < n && can_loop; i++) {
		struct item __arena *it = &page[i];

		it->next = NULL;
		it->id = i + 1;
		it->square = it->id * it->id;
		it->at.x = i;
		it->at.y = -(__s32)i;
		if (last)
			last->next = it;
		else
			items.first = it;
		last = it;
		items.len++;
		sum += it->square;
	}
	return 0;
}

char _license[] SEC("license") = "GPL";
