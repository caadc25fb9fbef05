// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * benches/events.rs: what counting one event costs, by where the counter
 * lives, and a 10,000-entry table for user space to read back.
 *
 * Four tp_btf/sys_enter programs (ctx = { struct pt_regs *regs, long id }),
 * attached one at a time. Each first keeps only the events of interest: the
 * system call `syscall_nr` made by thread `target_tid` (both .rodata, set
 * before load); the filter is the same code in all four.
 *   ev_filter: the filter alone (counts nothing).
 *   ev_arena:  atomic add on an __arena counter, `arena_count`.
 *   ev_hash:   bpf_map_lookup_elem in hash map `hash_count` (key: the
 *              thread id); an atomic add on the value when there, else
 *              bpf_map_update_elem with 1.
 *   ev_array:  bpf_map_lookup_elem of element 0 of array map `array_count`,
 *              then an atomic add on it.
 *   Expect: after K matching calls, the variant's counter grew by K.
 *
 * ev_fill (syscall, sleepable): allocates the EV_SLOTS-slot open-addressing
 *   table on its first run (bpf_arena_alloc_pages; its address goes to
 *   .bss `table`), then inserts keys 1..fill_n (.bss) with value 3 * k.
 *   Same layout and insert as syscall_top.bpf.c: slots of
 *   { u64 key; u64 value }, key 0 = empty, claimed by compare-and-swap.
 *   (Allocated rather than an __arena global, which the object file would
 *   carry as 256 KiB of zeros.) Expect: retval 0; `fill_overflow` 0.
 */
#include "arena.h"

#define EV_SLOTS 16384 /* a power of two: the index is masked */
#define EV_TABLE_PAGES (EV_SLOTS * 16 / PAGE_SIZE)
#define EV_PROBES 64

struct {
	__uint(type, BPF_MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 80); /* the table: 64 pages */
} arena SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} hash_count SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} array_count SEC(".maps");

static void *(*const bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*const bpf_map_update_elem)(void *map, const void *key, const void *value,
					 __u64 flags) = (void *)2;
#define BPF_NOEXIST 1

const volatile __u32 target_tid;
const volatile __u64 syscall_nr = 39; /* getpid on x86-64 */

__u64 __arena arena_count;

/* The thread id when the event is one to count, else 0. */
static inline __attribute__((always_inline)) __u32 wanted(unsigned long long *ctx)
{
	__u32 tid = bpf_get_current_pid_tgid();

	if (ctx[1] != syscall_nr || tid != target_tid)
		return 0;
	return tid;
}

SEC("tp_btf/sys_enter")
int ev_filter(unsigned long long *ctx)
{
	wanted(ctx);
	return 0;
}

SEC("tp_btf/sys_enter")
int ev_arena(unsigned long long *ctx)
{
	if (wanted(ctx))
		__sync_fetch_and_add(&arena_count, 1);
	return 0;
}

SEC("tp_btf/sys_enter")
int ev_hash(unsigned long long *ctx)
{
	__u32 tid = wanted(ctx);
	__u64 one = 1, *v;

	if (!tid)
		return 0;
	v = bpf_map_lookup_elem(&hash_count, &tid);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&hash_count, &tid, &one, BPF_NOEXIST);
	return 0;
}

SEC("tp_btf/sys_enter")
int ev_array(unsigned long long *ctx)
{
	__u32 zero = 0;
	__u64 *v;

	if (!wanted(ctx))
		return 0;
	v = bpf_map_lookup_elem(&array_count, &zero);
	if (v)
		__sync_fetch_and_add(v, 1);
	return 0;
}

struct slot {
	__u64 key;
	__u64 value;
};

struct slot __arena *table;
__u32 fill_n;
__u32 fill_overflow;

/* Inserts `key` with `value`; 0, or 1 when EV_PROBES slots were taken. */
static inline __attribute__((always_inline)) int insert(struct slot __arena *t, __u64 key,
							 __u64 value)
{
	__u32 h = (key * 0x9E3779B97F4A7C15ull) >> 40;
	int i;

	for (i = 0; i < EV_PROBES && can_loop; i++) {
		struct slot __arena *s = &t[(h + i) & (EV_SLOTS - 1)];
		__u64 cur = *(volatile __u64 __arena *)&s->key;

		if (cur == 0)
			cur = __sync_val_compare_and_swap(&s->key, 0, key) ?: key;
		if (cur == key) {
			s->value = value;
			return 0;
		}
	}
	return 1;
}

SEC("syscall")
int ev_fill(void *ctx)
{
	struct slot __arena *t = table;
	__u32 k;

	if (!t) {
		t = bpf_arena_alloc_pages(&arena, NULL, EV_TABLE_PAGES, NUMA_NO_NODE, 0);
		if (!t)
			return 1;
		table = t;
	}
	for (k = 1; k <= fill_n && can_loop; k++)
		fill_overflow += insert(t, k, 3 * (__u64)k);
	return 0;
}

char _license[] SEC("license") = "GPL";
