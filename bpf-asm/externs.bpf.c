// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * kconfig externs (strong and weak), read-only data, a merged string
 * literal, and a tc program run with a packet.
 *
 * hz: returns CONFIG_HZ. Expect: retval == CONFIG_HZ from /proc/config.gz.
 * missing_weak: returns the weak CONFIG_BPF_ARENA_NOT_A_REAL_OPTION.
 *   Expect: retval 0.
 * bpf_on: returns CONFIG_BPF_SYSCALL (a bool: y = 1). Expect: retval 1.
 * greeting_char: ctx = { u32 i }; returns byte i of a string literal
 *   (clang puts it in the merged-string section .rodata.str1.1).
 *   Expect: retval 'e' (101) for i = 1, -1 for i >= 6.
 * classify (tc): returns the packet length plus `bias` (.rodata).
 *   Expect: retval == len + 1000.
 * iter_sum: sums 0..9 with the bpf_iter_num kfuncs (strong externs).
 *   Expect: retval 45.
 * maybe_kfunc: calls a weak kfunc this kernel lacks, guarded by
 *   bpf_ksym_exists; the loader resolves the guard to 0 and poisons the
 *   (unreachable) call. Expect: loads; retval 7. With an existing kfunc
 *   (bpf_arena_free_pages) the guard is 1: retval 7 + 1 = 8 is not asked.
 */
#include "arena.h"

extern int CONFIG_HZ __kconfig;
extern int CONFIG_BPF_ARENA_NOT_A_REAL_OPTION __kconfig __weak;
extern _Bool CONFIG_BPF_SYSCALL __kconfig;

extern void bpf_kfunc_this_kernel_does_not_have(void) __ksym __weak;

/* Open-coded iterator kfuncs (Linux 6.4), strong externs. */
struct bpf_iter_num {
	__u64 opaque[1];
} __attribute__((aligned(8)));
extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __ksym;

const volatile __u32 bias = 1000;
static const char *const greeting = "hello";

struct __sk_buff___min {
	__u32 len;
};

SEC("syscall")
int hz(void *ctx)
{
	return CONFIG_HZ;
}

SEC("syscall")
int missing_weak(void *ctx)
{
	return CONFIG_BPF_ARENA_NOT_A_REAL_OPTION;
}

SEC("syscall")
int bpf_on(void *ctx)
{
	return CONFIG_BPF_SYSCALL;
}

SEC("syscall")
int greeting_char(__u32 *i)
{
	__u32 k = *i;

	if (k >= 6)
		return -1;
	return greeting[k];
}

SEC("tc")
int classify(struct __sk_buff___min *skb)
{
	return skb->len + bias;
}

SEC("syscall")
int iter_sum(void *ctx)
{
	struct bpf_iter_num it;
	int sum = 0, *v;

	bpf_iter_num_new(&it, 0, 10);
	while ((v = bpf_iter_num_next(&it)))
		sum += *v;
	bpf_iter_num_destroy(&it);
	return sum;
}

SEC("syscall")
int maybe_kfunc(void *ctx)
{
	if (bpf_ksym_exists(bpf_kfunc_this_kernel_does_not_have)) {
		bpf_kfunc_this_kernel_does_not_have();
		return 1;
	}
	return 7;
}

char _license[] SEC("license") = "GPL";
