// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * One program per tracing attach kind, each counting the events of one
 * thread (`target_tid`, set by user space) into the arena, so a test can
 * trigger the real event and read the effect at memory speed.
 *
 * raw_tp/sys_enter, tp_btf/sys_enter, tracepoint/syscalls/sys_enter_getppid:
 *        count the thread's getppid() calls (`syscall_nr` holds its number).
 * fentry/security_file_open, fexit/security_file_open: count open() calls
 *        (an LSM entry point: kept across releases where inner functions
 *        such as do_unlinkat come and go, and in vmlinux BTF where syscall
 *        wrappers are not); fexit keeps the return value.
 * fmod_ret/security_file_open: while `fmod_ret_deny` is set, the thread's
 *        open() calls fail with EACCES without running the function.
 * lsm/file_open: counts the thread's opens; while `lsm_deny` is set they
 *        fail with EPERM.
 * iter/task: writes (tgid, tid) of every task; counts them.
 * uprobe, uretprobe (no target in the section: attached by hand): count
 *        calls of a user function and keep its first argument and return
 *        value (x86-64 pt_regs).
 * kprobe/security_file_open, kretprobe/security_file_open: count open()
 *        calls; the return probe keeps the return value (kernels with
 *        CONFIG_KPROBES).
 */
#include "arena.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 4);
} arena SEC(".maps");

static long (*const bpf_seq_write)(void *m, const void *data, __u32 len) = (void *)127;

__u32 target_tid;
__u64 syscall_nr;
__u32 fmod_ret_deny;
__u32 lsm_deny;

__u64 __arena raw_tp_hits;
__u64 __arena tp_btf_hits;
__u64 __arena tracepoint_hits;
__u64 __arena fentry_hits;
__u64 __arena fexit_hits;
__s64 __arena fexit_ret;
__u64 __arena fmod_ret_hits;
__u64 __arena lsm_hits;
__u64 __arena iter_tasks;
__u64 __arena uprobe_hits;
__u64 __arena uprobe_arg;
__u64 __arena uretprobe_hits;
__u64 __arena uretprobe_ret;
__u64 __arena kprobe_hits;
__u64 __arena kretprobe_hits;
__s64 __arena kretprobe_ret;

static __attribute__((always_inline)) int mine(void)
{
	return (__u32)bpf_get_current_pid_tgid() == target_tid;
}

SEC("raw_tp/sys_enter")
int on_raw_tp(unsigned long long *ctx)
{
	if (mine() && ctx[1] == syscall_nr)
		raw_tp_hits++;
	return 0;
}

SEC("tp_btf/sys_enter")
int on_tp_btf(unsigned long long *ctx)
{
	if (mine() && ctx[1] == syscall_nr)
		tp_btf_hits++;
	return 0;
}

/* The tracefs layout of a syscall-entry event: 8 bytes of common fields,
 * then the syscall number. */
struct sys_enter_event {
	__u64 common;
	int nr;
};

SEC("tracepoint/syscalls/sys_enter_getppid")
int on_tracepoint(struct sys_enter_event *ctx)
{
	if (mine() && ctx->nr == syscall_nr)
		tracepoint_hits++;
	return 0;
}

SEC("fentry/security_file_open")
int on_fentry(unsigned long long *ctx)
{
	if (mine())
		fentry_hits++;
	return 0;
}

/* security_file_open(struct file *file): the return value follows the one
 * argument. */
SEC("fexit/security_file_open")
int on_fexit(unsigned long long *ctx)
{
	if (mine()) {
		fexit_hits++;
		fexit_ret = (int)ctx[1];
	}
	return 0;
}

/* security_file_open(struct file *file): a non-zero return replaces the
 * function's. */
SEC("fmod_ret/security_file_open")
int on_fmod_ret(unsigned long long *ctx)
{
	if (!mine())
		return 0;
	fmod_ret_hits++;
	return fmod_ret_deny ? -13 /* EACCES */ : 0;
}

SEC("lsm/file_open")
int on_lsm(unsigned long long *ctx)
{
	if (!mine())
		return 0;
	lsm_hits++;
	return lsm_deny ? -1 /* EPERM */ : 0;
}

struct seq_file;
struct bpf_iter_meta {
	struct seq_file *seq;
} __core;
struct task_struct {
	int pid;
	int tgid;
} __core;
struct bpf_iter__task {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
} __core;

SEC("iter/task")
int on_iter(struct bpf_iter__task *ctx)
{
	struct task_struct *t = ctx->task;
	__u32 ids[2];

	if (!t)
		return 0;
	ids[0] = t->tgid;
	ids[1] = t->pid;
	bpf_seq_write(ctx->meta->seq, ids, sizeof(ids));
	iter_tasks++;
	return 0;
}

/* x86-64 struct pt_regs, as 8-byte words: rax is word 10, rdi word 14. */
SEC("uprobe")
int on_uprobe(unsigned long *regs)
{
	if (mine()) {
		uprobe_hits++;
		uprobe_arg = regs[14];
	}
	return 0;
}

SEC("uretprobe")
int on_uretprobe(unsigned long *regs)
{
	if (mine()) {
		uretprobe_hits++;
		uretprobe_ret = regs[10];
	}
	return 0;
}

SEC("kprobe/security_file_open")
int on_kprobe(void *regs)
{
	if (mine())
		kprobe_hits++;
	return 0;
}

SEC("kretprobe/security_file_open")
int on_kretprobe(unsigned long *regs)
{
	if (mine()) {
		kretprobe_hits++;
		kretprobe_ret = (int)regs[10];
	}
	return 0;
}

char _license[] SEC("license") = "GPL";
