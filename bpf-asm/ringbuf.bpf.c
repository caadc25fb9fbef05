// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * BPF producers for a BPF_MAP_TYPE_RINGBUF (Linux 5.8) that user space
 * consumes (tests/ringbuf.rs, with bpf_arena::ringbuf::RingBuf).
 *
 * ringbuf_output: bpf_ringbuf_output of the first ringbuf_len bytes of
 *        ringbuf_payload (both set from user space) with ringbuf_flags.
 *        Expect: retval 0 and ringbuf_sent + 1; when the ring has no room,
 *        retval 1, ringbuf_failed + 1 and ringbuf_last_err = -EAGAIN (-11).
 *        A ringbuf_len past the payload: retval 2, nothing written.
 * ringbuf_reserve: bpf_ringbuf_reserve of a struct ringbuf_event with
 *        seq = ++ringbuf_seq and tag = ringbuf_tag, then
 *        bpf_ringbuf_discard when ringbuf_discard is non-zero, else
 *        bpf_ringbuf_submit (both with ringbuf_flags). Expect: retval 0;
 *        the consumer sees the submitted events only, in order; retval 1
 *        and ringbuf_failed + 1 when the ring has no room.
 * ringbuf_array: a plain array map (user space refuses it as a ring).
 */
#include "arena.h"

#define BPF_MAP_TYPE_RINGBUF 27

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096 * 4);
} ringbuf_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} ringbuf_array SEC(".maps");

/* Helpers by id (enum bpf_func_id). */
static long (*const bpf_ringbuf_output)(void *ringbuf, void *data, __u64 size, __u64 flags) = (void *)130;
static void *(*const bpf_ringbuf_reserve)(void *ringbuf, __u64 size, __u64 flags) = (void *)131;
static void (*const bpf_ringbuf_submit)(void *data, __u64 flags) = (void *)132;
static void (*const bpf_ringbuf_discard)(void *data, __u64 flags) = (void *)133;

/* Inputs, set from user space. */
__u8 ringbuf_payload[4096];
__u32 ringbuf_len;
__u32 ringbuf_discard;
__u64 ringbuf_flags;
__u64 ringbuf_tag;

/* Outputs. */
__u64 ringbuf_sent;
__u64 ringbuf_failed;
__u64 ringbuf_seq;
long ringbuf_last_err;

struct ringbuf_event {
	__u64 seq;
	__u64 tag;
};

SEC("syscall")
int ringbuf_output(void *ctx)
{
	__u32 len = ringbuf_len;
	long err;

	if (len > sizeof(ringbuf_payload))
		return 2;
	err = bpf_ringbuf_output(&ringbuf_events, ringbuf_payload, len, ringbuf_flags);
	if (err) {
		ringbuf_failed++;
		ringbuf_last_err = err;
		return 1;
	}
	ringbuf_sent++;
	return 0;
}

SEC("syscall")
int ringbuf_reserve(void *ctx)
{
	struct ringbuf_event *e;

	e = bpf_ringbuf_reserve(&ringbuf_events, sizeof(*e), 0);
	if (!e) {
		ringbuf_failed++;
		return 1;
	}
	e->seq = ++ringbuf_seq;
	e->tag = ringbuf_tag;
	if (ringbuf_discard)
		bpf_ringbuf_discard(e, ringbuf_flags);
	else
		bpf_ringbuf_submit(e, ringbuf_flags);
	return 0;
}

char _license[] SEC("license") = "GPL";
