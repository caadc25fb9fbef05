// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * System calls per (process, syscall number), counted into a hash table
 * that lives in an arena (examples/syscall_top.rs reads it in place).
 *
 * The table is an __arena global: SYSCALL_TOP_SLOTS slots of
 * { u32 pid; u32 nr; u64 count }, open addressing with linear probing.
 * A slot is empty while its first 8 bytes (pid and nr, the key) are 0; a
 * CPU claims an empty slot with one compare-and-swap of that word from 0
 * to its key, so two CPUs inserting at once never share a slot, and then
 * counts with an atomic add. Probing stops after SYSCALL_TOP_PROBES slots:
 * an event that finds neither its key nor an empty slot there counts into
 * `overflow`. Keys never leave the table (there is no deletion).
 *
 * No bpf_arena_alloc_pages here: tp_btf programs are not sleepable, and the
 * kfunc is sleepable-only before Linux 7.0. The loader allocates and fills
 * the pages of the __arena globals before the program runs. (They are
 * stored in the object file, zeros included: 64 KiB for this table.)
 *
 * syscall_top (tp_btf/sys_enter, ctx = { struct pt_regs *regs, long id }):
 *   counts the call into table[] under (current tgid, id). Calls from
 *   pid 0 are not counted (no user task has it; the key 0 marks empty
 *   slots). Needs arena atomics (Linux 6.10 on x86-64 and arm64).
 */
#include "arena.h"

#define SYSCALL_TOP_SLOTS 4096 /* a power of two: the index is masked */
#define SYSCALL_TOP_PROBES 64

struct {
	__uint(type, BPF_MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 24); /* the table is 16 pages */
} arena SEC(".maps");

struct slot {
	__u32 pid;
	__u32 nr;
	__u64 count;
};

struct slot __arena table[SYSCALL_TOP_SLOTS];
__u64 __arena overflow;

SEC("tp_btf/sys_enter")
int syscall_top(unsigned long long *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	__u32 nr = ctx[1];
	/* The first 8 bytes of a slot, as little-endian memory holds them. */
	__u64 key = (__u64)nr << 32 | pid;
	/* Fibonacci hashing: the multiplier's high bits mix the whole key. */
	__u32 h = (key * 0x9E3779B97F4A7C15ull) >> 40;
	int i;

	if (!pid)
		return 0;
	for (i = 0; i < SYSCALL_TOP_PROBES && can_loop; i++) {
		struct slot __arena *s = &table[(h + i) & (SYSCALL_TOP_SLOTS - 1)];
		__u64 __arena *k = (__u64 __arena *)s;
		__u64 cur = *(volatile __u64 __arena *)k;

		/* Empty: claim it. The old value says who won: 0 is us. */
		if (cur == 0)
			cur = __sync_val_compare_and_swap(k, 0, key) ?: key;
		if (cur == key) {
			__sync_fetch_and_add(&s->count, 1);
			return 0;
		}
	}
	__sync_fetch_and_add(&overflow, 1);
	return 0;
}

char _license[] SEC("license") = "GPL";
