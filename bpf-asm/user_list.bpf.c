// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * A list user space builds in the arena, summed by BPF.
 *
 * User space allocates pages, writes nodes (next pointers in user form,
 * exactly as clang stores __arena pointers) and sets the __arena global
 * `head`. sum_list walks it.
 * Expect: retval == number of nodes; `sum` (.bss) == the sum of the values.
 * to_user: ctx = { u64 value }; converts the low 32 bits (a kernel-form
 *   arena pointer) back to a user pointer with an explicit
 *   addr_space_cast(.., 1, 0) written in inline asm, as hand-tuned arena
 *   code does. The program never names the arena: the loader binds the
 *   object's arena through fd_array. Expect: ctx.value == arena base's
 *   upper half | low 32 bits (0 stays 0).
 */
#include "arena.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 256);
} arena SEC(".maps");

struct node {
	struct node __arena *next;
	__u64 value;
};

struct node __arena *__arena head;
__u64 sum;

SEC("syscall")
int sum_list(void *ctx)
{
	struct node __arena *n;
	int count = 0;

	sum = 0;
	for (n = head; n && can_loop; n = n->next) {
		sum += n->value;
		count++;
	}
	return count;
}

SEC("syscall")
int to_user(__u64 *value)
{
	__u64 v = (__u32)*value;

	asm volatile("%[v] = addr_space_cast(%[v], 0x1, 0x0)" : [v] "+r"(v));
	*value = v;
	return 0;
}

char _license[] SEC("license") = "GPL";
