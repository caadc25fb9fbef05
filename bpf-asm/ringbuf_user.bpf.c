// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * A BPF consumer of a BPF_MAP_TYPE_USER_RINGBUF (Linux 6.1) that user
 * space produces into (tests/ringbuf.rs, with
 * bpf_arena::ringbuf::UserRingBuf).
 *
 * Each record starts with a struct ringbuf_user_head { u64 value; u32 len;
 * u32 pad; }, where len repeats the record's length, and the record's
 * last byte is the low byte of value.
 *
 * ringbuf_drain: bpf_user_ringbuf_drain(&ringbuf_user, callback, NULL, 0).
 *        The callback checks a record (its head is readable, its byte
 *        len - 1 is the low byte of value, and it has no byte len) and
 *        then adds value to ringbuf_user_sum, len to ringbuf_user_bytes and
 *        1 to ringbuf_user_records; a record failing the checks counts in
 *        ringbuf_user_bad instead. Expect: retval 0, ringbuf_user_drained
 *        = the drain's answer (records drained, discarded ones not
 *        counted; a negative errno on a malformed ring), the sums those of
 *        what user space submitted, ringbuf_user_bad 0.
 */
#include "arena.h"

#define BPF_MAP_TYPE_USER_RINGBUF 31

struct {
	__uint(type, BPF_MAP_TYPE_USER_RINGBUF);
	__uint(max_entries, 4096 * 4);
} ringbuf_user SEC(".maps");

/* Opaque to programs; the kernel's struct bpf_dynptr. */
struct bpf_dynptr {
	__u64 __opaque[2];
} __attribute__((aligned(8)));

/* Helpers by id (enum bpf_func_id). */
static long (*const bpf_dynptr_read)(void *dst, __u32 len, const struct bpf_dynptr *src, __u32 offset,
				     __u64 flags) = (void *)201;
static long (*const bpf_user_ringbuf_drain)(void *map, void *callback_fn, void *ctx, __u64 flags) = (void *)209;

__u64 ringbuf_user_sum;
__u64 ringbuf_user_bytes;
__u64 ringbuf_user_records;
__u64 ringbuf_user_bad;
long ringbuf_user_drained;

struct ringbuf_user_head {
	__u64 value;
	__u32 len;
	__u32 pad;
};

static long ringbuf_user_record(struct bpf_dynptr *dynptr, void *ctx)
{
	struct ringbuf_user_head h;
	__u8 last, past;

	if (bpf_dynptr_read(&h, sizeof(h), dynptr, 0, 0) || h.len < sizeof(h) ||
	    bpf_dynptr_read(&last, 1, dynptr, h.len - 1, 0) || last != (__u8)h.value ||
	    !bpf_dynptr_read(&past, 1, dynptr, h.len, 0)) {
		ringbuf_user_bad++;
		return 0;
	}
	ringbuf_user_sum += h.value;
	ringbuf_user_bytes += h.len;
	ringbuf_user_records++;
	return 0;
}

SEC("syscall")
int ringbuf_drain(void *ctx)
{
	ringbuf_user_drained = bpf_user_ringbuf_drain(&ringbuf_user, ringbuf_user_record, NULL, 0);
	return 0;
}

char _license[] SEC("license") = "GPL";
