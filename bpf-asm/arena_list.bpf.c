// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * A linked list built by BPF in an arena, walked by user space.
 *
 * arena_list_add: pushes `cnt` nodes with values 0..cnt-1 (cnt in .bss,
 *                 set by user space). Expect: retval 0; list_len == cnt.
 * arena_list_sum: walks the list. Expect: retval 0; list_sum and arena_sum
 *                 == cnt*(cnt-1)/2.
 * arena_list_del: unlinks every node and frees the pages behind them.
 *                 Expect: retval 0; afterwards the list is empty and
 *                 arena_list_sum gives 0.
 * test_val is an initialised __arena global (1): the loader copies it.
 */
#include "arena.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 64); /* pages; user space may grow it before load */
} arena SEC(".maps");

struct node {
	struct node __arena *next;
	__u64 value;
};

struct list_head {
	struct node __arena *first;
	__u64 len;
};

/* __arena globals (.addr_space.1), placed by the loader. */
int __arena test_val = 1;
struct list_head __arena list;
__u64 __arena arena_sum;

/* Ordinary globals (.bss). */
__u32 cnt;
__u64 list_sum;
__u64 list_len;

/*
 * Page-fragment allocator: carves nodes from the top of the current page
 * downwards. The first 16 bytes of every page link it to the page allocated
 * before it, so arena_list_del can free them all by walking the chain
 * (arena pointers are plain scalars to the verifier, so that loop is
 * verified once, not once per page).
 */
struct page_link {
	void __arena *prev;
	__u64 unused;
};

static void __arena *__arena cur_page;
static __u32 __arena npages;
static __u32 __arena frag_left;

/*
 * The node pushed last. It also makes clang describe struct node in full in
 * the BTF: a struct reached only through a pointer member is written there
 * as a forward declaration, which generated Rust types cannot lay out.
 */
struct node __arena *__arena newest;

static void __arena *alloc_node(__u32 size)
{
	void __arena *page;

	if (frag_left < size + sizeof(struct page_link)) {
		page = bpf_arena_alloc_pages(&arena, NULL, 1, NUMA_NO_NODE, 0);
		if (!page)
			return NULL;
		((struct page_link __arena *)page)->prev = cur_page;
		cur_page = page;
		npages++;
		frag_left = PAGE_SIZE;
	}
	frag_left -= size;
	return cur_page + frag_left;
}

SEC("syscall")
int arena_list_add(void *ctx)
{
	__u64 i;

	for (i = 0; i < cnt && can_loop; i++) {
		struct node __arena *n = alloc_node(sizeof(*n));

		if (!n)
			return 1;
		n->value = i;
		n->next = list.first;
		list.first = n;
		list.len++;
		newest = n;
	}
	list_len = list.len;
	return 0;
}

SEC("syscall")
int arena_list_sum(void *ctx)
{
	struct node __arena *n;
	__u64 sum = 0;

	for (n = list.first; n && can_loop; n = n->next)
		sum += n->value;
	arena_sum = sum;
	list_sum = sum;
	return 0;
}

SEC("syscall")
int arena_list_del(void *ctx)
{
	while (list.first && can_loop) {
		struct node __arena *n = list.first;

		list.first = n->next;
		list.len--;
	}
	while (cur_page && can_loop) {
		void __arena *prev = ((struct page_link __arena *)cur_page)->prev;

		bpf_arena_free_pages(&arena, cur_page, 1);
		cur_page = prev;
		npages--;
	}
	frag_left = 0;
	newest = NULL;
	list_len = list.len;
	return 0;
}

char _license[] SEC("license") = "GPL";
