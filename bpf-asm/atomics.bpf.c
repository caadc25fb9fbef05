// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * Atomics on arena memory, from a raw tracepoint and a syscall program.
 *
 * atomics_raw_tp (raw_tp/sys_enter, run with BPF_PROG_TEST_RUN):
 *   add 2 to a64 and a32, sub 1 from s64, or 0x10 / and 0xf0 / xor 0xff on
 *   bits, xchg 99 into x (old value to old_x), cmpxchg c from 5 to 6.
 *   Expect: retval 0; starting from the initial values below:
 *   a64 = 12, a32 = 7, s64 = 9, bits = 0xe0 ^ ... (see the test), x = 99,
 *   old_x = 42, c = 6.
 * fetch_add: returns the value before adding `delta` (.rodata) to a64.
 *   Expect: retval == a64 before the run; a64 grows by delta.
 */
#include "arena.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 4);
} arena SEC(".maps");

__u64 __arena a64 = 10;
__u32 __arena a32 = 5;
__s64 __arena s64 = 10;
__u64 __arena bits = 0x0f;
__u64 __arena x = 42;
__u64 __arena c = 5;
__u64 old_x;                     /* .bss */
__u32 runs = 0x100;              /* .data */
const volatile __u64 delta = 3;  /* .rodata */

SEC("raw_tp/sys_enter")
int atomics_raw_tp(void *ctx)
{
	__sync_fetch_and_add(&a64, 2);
	__sync_fetch_and_add(&a32, 2);
	__sync_fetch_and_sub(&s64, 1);
	__sync_fetch_and_or(&bits, 0x10);
	__sync_fetch_and_and(&bits, 0xf0);
	__sync_fetch_and_xor(&bits, 0xff);
	old_x = __sync_lock_test_and_set(&x, 99);
	__sync_val_compare_and_swap(&c, 5, 6);
	runs++;
	return 0;
}

SEC("syscall")
int fetch_add(void *ctx)
{
	return __sync_fetch_and_add(&a64, delta);
}

char _license[] SEC("license") = "GPL";
