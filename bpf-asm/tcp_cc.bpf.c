// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * A TCP congestion control written as a struct_ops map, with its
 * per-connection state in an arena.
 *
 * arena_cc (.struct_ops.link, a struct tcp_congestion_ops named
 * "bpf_arena_cc"): Reno — slow start up to ssthresh, then one segment per
 * window of acked segments; ssthresh halves the window on loss (at least
 * 2); undo restores the window from before the loss.
 *
 * arena_cc_nolink (.struct_ops): the same programs under the name
 * "bpf_arena_cc_nl", registered by the map update instead of a link (a
 * program may fill the same member of several maps).
 *
 * Per connection: cc_init claims the next slot of `slots` (an __arena
 * array) from `next_slot` (.bss, atomically) and keeps slot + 1 in the
 * socket's private congestion-control area (icsk_ca_priv[0]; 0 there
 * means untracked: more than SLOTS connections). Every callback then
 * counts itself in that slot and records the window. `struct cc_slot`
 * is the user-space view's layout (tests/struct_ops.rs mirrors it).
 *
 * Expect, for one connection that selected bpf_arena_cc and sent data:
 * inits == 1, cong_avoid_calls > 0, acked >= cong_avoid_calls, cwnd > 0,
 * local_port/remote_port naming the connection, and releases == 1 once
 * the socket is gone.
 *
 * Kernel structs are declared with only the fields used and
 * preserve_access_index (CO-RE): the kernel relocates each offset at load.
 */
#include "arena.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 4);
} arena SEC(".maps");

#define SLOTS 64

struct cc_slot {
	__u64 inits;
	__u64 releases;
	__u64 cong_avoid_calls;
	__u64 acked;
	__u64 ssthresh_calls;
	__u64 undo_calls;
	__u64 state_changes;
	__u64 cwnd_events;
	__u32 cwnd;
	__u32 max_cwnd;
	__u32 ssthresh;
	__u16 local_port;  /* host order */
	__u16 remote_port; /* host order */
};

struct cc_slot __arena slots[SLOTS];
/* Connections seen (slots claimed, possibly past SLOTS). */
__u32 next_slot;

/* The kernel's structs: only what is used, relocated by the kernel. */
struct sock_common {
	__u16 skc_dport; /* network order */
	__u16 skc_num;   /* host order */
} __core;

struct sock {
	struct sock_common __sk_common;
} __core;

struct inet_connection_sock {
	__u64 icsk_ca_priv[13];
} __core;

struct tcp_sock {
	__u32 snd_cwnd;
	__u32 snd_ssthresh;
	__u32 snd_cwnd_cnt;
	__u32 snd_cwnd_clamp;
	__u32 prior_cwnd;
	__u32 max_packets_out;
} __core;

/* The members of the kernel's struct tcp_congestion_ops that are set,
 * in another order than the kernel's: the loader matches them by name. */
struct tcp_congestion_ops {
	void (*init)(struct sock *sk);
	void (*release)(struct sock *sk);
	__u32 (*ssthresh)(struct sock *sk);
	void (*cong_avoid)(struct sock *sk, __u32 ack, __u32 acked);
	void (*set_state)(struct sock *sk, __u8 new_state);
	void (*cwnd_event)(struct sock *sk, int ev);
	__u32 (*undo_cwnd)(struct sock *sk);
	char name[16];
};

/* struct_ops programs see their arguments as an array of u64. */
#define ARG(ctx, i) ((ctx)[i])

static struct cc_slot __arena *slot_of(struct sock *sk)
{
	struct inet_connection_sock *icsk = (void *)sk;
	__u64 n = icsk->icsk_ca_priv[0];

	if (n == 0 || n > SLOTS)
		return NULL;
	return &slots[n - 1];
}

static void record_cwnd(struct cc_slot __arena *s, struct tcp_sock *tp)
{
	__u32 cwnd = tp->snd_cwnd;

	s->cwnd = cwnd;
	if (cwnd > s->max_cwnd)
		s->max_cwnd = cwnd;
	s->ssthresh = tp->snd_ssthresh;
}

SEC("struct_ops/cc_init")
int cc_init(__u64 *ctx)
{
	struct sock *sk = (void *)ARG(ctx, 0);
	struct inet_connection_sock *icsk = (void *)sk;
	__u32 n = __sync_fetch_and_add(&next_slot, 1);
	struct cc_slot __arena *s;

	if (n >= SLOTS) {
		icsk->icsk_ca_priv[0] = 0;
		return 0;
	}
	icsk->icsk_ca_priv[0] = n + 1;
	s = &slots[n];
	s->inits++;
	s->local_port = sk->__sk_common.skc_num;
	s->remote_port = __builtin_bswap16(sk->__sk_common.skc_dport);
	record_cwnd(s, (void *)sk);
	return 0;
}

SEC("struct_ops/cc_release")
int cc_release(__u64 *ctx)
{
	struct cc_slot __arena *s = slot_of((void *)ARG(ctx, 0));

	if (s)
		s->releases++;
	return 0;
}

SEC("struct_ops/cc_ssthresh")
__u32 cc_ssthresh(__u64 *ctx)
{
	struct sock *sk = (void *)ARG(ctx, 0);
	struct tcp_sock *tp = (void *)sk;
	struct cc_slot __arena *s = slot_of(sk);
	__u32 half = tp->snd_cwnd >> 1;

	if (s)
		s->ssthresh_calls++;
	return half < 2 ? 2 : half;
}

SEC("struct_ops/cc_cong_avoid")
int cc_cong_avoid(__u64 *ctx)
{
	struct sock *sk = (void *)ARG(ctx, 0);
	__u32 acked = ARG(ctx, 2);
	struct tcp_sock *tp = (void *)sk;
	struct cc_slot __arena *s = slot_of(sk);
	__u32 cwnd = tp->snd_cwnd, ssthresh = tp->snd_ssthresh;
	__u32 clamp = tp->snd_cwnd_clamp, cnt;

	if (s) {
		s->cong_avoid_calls++;
		s->acked += acked;
	}
	/* Grow only while the window is what limits the sender. */
	if (cwnd >= 2 * tp->max_packets_out)
		goto out;
	if (cwnd < ssthresh) {
		/* Slow start: one segment per segment acked, up to ssthresh. */
		__u32 next = cwnd + acked < ssthresh ? cwnd + acked : ssthresh;

		acked -= next - cwnd;
		cwnd = next;
	}
	if (acked && cwnd >= ssthresh) {
		/* Congestion avoidance: one segment per window acked. */
		cnt = tp->snd_cwnd_cnt;
		if (cnt >= cwnd) {
			cnt = 0;
			cwnd++;
		}
		cnt += acked;
		if (cwnd && cnt >= cwnd) {
			__u32 delta = cnt / cwnd;

			cnt -= delta * cwnd;
			cwnd += delta;
		}
		tp->snd_cwnd_cnt = cnt;
	}
	tp->snd_cwnd = cwnd < clamp ? cwnd : clamp;
out:
	if (s)
		record_cwnd(s, tp);
	return 0;
}

SEC("struct_ops/cc_set_state")
int cc_set_state(__u64 *ctx)
{
	struct cc_slot __arena *s = slot_of((void *)ARG(ctx, 0));

	if (s)
		s->state_changes++;
	return 0;
}

SEC("struct_ops/cc_cwnd_event")
int cc_cwnd_event(__u64 *ctx)
{
	struct cc_slot __arena *s = slot_of((void *)ARG(ctx, 0));

	if (s)
		s->cwnd_events++;
	return 0;
}

SEC("struct_ops/cc_undo_cwnd")
__u32 cc_undo_cwnd(__u64 *ctx)
{
	struct sock *sk = (void *)ARG(ctx, 0);
	struct tcp_sock *tp = (void *)sk;
	struct cc_slot __arena *s = slot_of(sk);
	__u32 cwnd = tp->snd_cwnd, prior = tp->prior_cwnd;

	if (s)
		s->undo_calls++;
	return cwnd > prior ? cwnd : prior;
}

SEC(".struct_ops.link")
struct tcp_congestion_ops arena_cc = {
	.init = (void *)cc_init,
	.release = (void *)cc_release,
	.ssthresh = (void *)cc_ssthresh,
	.cong_avoid = (void *)cc_cong_avoid,
	.set_state = (void *)cc_set_state,
	.cwnd_event = (void *)cc_cwnd_event,
	.undo_cwnd = (void *)cc_undo_cwnd,
	.name = "bpf_arena_cc",
};

/* The same programs as a .struct_ops map, registered by its update
 * (LoadedObject::register_struct_ops) rather than a link. */
SEC(".struct_ops")
struct tcp_congestion_ops arena_cc_nolink = {
	.init = (void *)cc_init,
	.release = (void *)cc_release,
	.ssthresh = (void *)cc_ssthresh,
	.cong_avoid = (void *)cc_cong_avoid,
	.set_state = (void *)cc_set_state,
	.cwnd_event = (void *)cc_cwnd_event,
	.undo_cwnd = (void *)cc_undo_cwnd,
	.name = "bpf_arena_cc_nl",
};

char _license[] SEC("license") = "GPL";
