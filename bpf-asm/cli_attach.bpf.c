// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * Programs for `bpf-arena attach` (tests/cli.rs): they count the system
 * calls of one process, chosen with --set target_pid=PID.
 *
 * count_enter: tp_btf/sys_enter; counts the target's system calls numbered
 *              target_nr (--set target_nr=N; none by default) in `enters`.
 * on_getpid:   tracepoint syscalls/sys_enter_getpid; counts the target's
 *              getpid() calls in `count` (.bss) and `arena_count` (an
 *              __arena global), and writes one 8-byte record to the ring
 *              buffer `events` per call: { u32 pid; u32 n } (n: 1, 2, ...).
 * reset:       syscall; not attachable (never listed by attach).
 * Expect: after N getpid() calls by the target, count == arena_count == N,
 * enters == N with target_nr = the getpid number, and N records in
 * `events`, the k-th being the pid and k, little-endian.
 */
#include "arena.h"

#define BPF_MAP_TYPE_RINGBUF 27

struct {
	__uint(type, BPF_MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 4);
} arena SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

static long (*const bpf_ringbuf_output)(void *ringbuf, void *data, __u64 size, __u64 flags) = (void *)130;

__u32 target_pid;
__s64 target_nr = -1;
__u64 count;
__u64 enters;
__u64 __arena arena_count;

static __u32 current_pid(void)
{
	return bpf_get_current_pid_tgid() >> 32;
}

SEC("tp_btf/sys_enter")
int count_enter(__u64 *ctx)
{
	/* sys_enter(struct pt_regs *regs, long id) */
	if (current_pid() != target_pid || (__s64)ctx[1] != target_nr)
		return 0;
	__sync_fetch_and_add(&enters, 1);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getpid")
int on_getpid(void *ctx)
{
	struct {
		__u32 pid;
		__u32 n;
	} rec;

	if (current_pid() != target_pid)
		return 0;
	rec.pid = target_pid;
	rec.n = __sync_add_and_fetch(&count, 1);
	arena_count += 1;
	bpf_ringbuf_output(&events, &rec, sizeof(rec), 0);
	return 0;
}

SEC("syscall")
int reset(void *ctx)
{
	count = 0;
	enters = 0;
	arena_count = 0;
	return 0;
}

char _license[] SEC("license") = "GPL";
