// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * Expected outcome: the loader refuses each struct_ops map before creating
 * anything (tests/struct_ops.rs picks one with load_only):
 *
 * two_members (programs twice, avoid): one program for two members
 *   (ssthresh and undo_cwnd), which the kernel cannot take: a program is
 *   loaded for one member's index.
 * unknown_member (program extra_ssthresh): sets not_in_kernel, a member
 *   the kernel's struct tcp_congestion_ops does not have.
 * unknown_struct (program nothing): a struct the kernel cannot register.
 * orphan: a struct_ops program no map names.
 */
#include "../arena.h"

struct sock;

struct tcp_congestion_ops {
	__u32 (*ssthresh)(struct sock *sk);
	void (*cong_avoid)(struct sock *sk, __u32 ack, __u32 acked);
	__u32 (*undo_cwnd)(struct sock *sk);
	__u32 not_in_kernel;
	char name[16];
};

struct no_such_ops {
	void (*f)(void);
};

SEC("struct_ops/twice")
__u32 twice(__u64 *ctx)
{
	return 2;
}

SEC("struct_ops/avoid")
int avoid(__u64 *ctx)
{
	return 0;
}

SEC("struct_ops/extra_ssthresh")
__u32 extra_ssthresh(__u64 *ctx)
{
	return 2;
}

SEC("struct_ops/nothing")
int nothing(__u64 *ctx)
{
	return 0;
}

SEC("struct_ops/orphan")
int orphan(__u64 *ctx)
{
	return 0;
}

SEC(".struct_ops.link")
struct tcp_congestion_ops two_members = {
	.ssthresh = (void *)twice,
	.cong_avoid = (void *)avoid,
	.undo_cwnd = (void *)twice,
	.name = "bad_twice",
};

SEC(".struct_ops.link")
struct tcp_congestion_ops unknown_member = {
	.ssthresh = (void *)extra_ssthresh,
	.not_in_kernel = 1,
	.name = "bad_extra",
};

SEC(".struct_ops.link")
struct no_such_ops unknown_struct = {
	.f = (void *)nothing,
};

char _license[] SEC("license") = "GPL";
