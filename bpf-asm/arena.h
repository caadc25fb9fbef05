/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * The little the bpf-arena project's BPF programs need from a header:
 * fixed-width types, the section and map-definition conventions the ELF
 * loaders agree on, the arena kfuncs, and a few helpers by id.
 * No vmlinux.h, no libbpf headers.
 */
#ifndef BPF_ARENA_H
#define BPF_ARENA_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;

#define NULL ((void *)0)

/* Place a definition in an ELF section. */
#define SEC(name) __attribute__((section(name), used))

/*
 * BTF-defined map attributes. The loader reads them back from the type of
 * the map variable in .maps:
 *   __uint:  pointer to an array whose element count is the value;
 *   __type:  pointer to the type;
 *   __ulong: an anonymous enum with one enumerator (64-bit capable);
 *   __array: flexible array of pointers to an inner-map definition.
 */
#define __uint(name, val) int(*name)[val]
#define __type(name, val) typeof(val) *name
#define __array(name, val) typeof(val) *name[]
#define ___ba_cat(a, b) a##b
#define ___ba_ulong(name, val, n) enum { ___ba_cat(__ba_enum_, n) = (val) } name
#define __ulong(name, val) ___ba_ulong(name, val, __COUNTER__)

#define BPF_MAP_TYPE_HASH 1
#define BPF_MAP_TYPE_ARRAY 2
#define BPF_MAP_TYPE_ARRAY_OF_MAPS 12
#define BPF_MAP_TYPE_ARENA 33
#define BPF_F_MMAPABLE (1U << 10)
#define BPF_F_SEGV_ON_FAULT (1U << 17)
#define BPF_F_NO_USER_CONV (1U << 18)
#define PIN_BY_NAME 1
#define NUMA_NO_NODE (-1)

/* Arena memory: clang's address space 1. */
#define __arena __attribute__((address_space(1)))

/* Externs resolved by the loader. */
#define __ksym __attribute__((section(".ksyms")))
#define __kconfig __attribute__((section(".kconfig")))
#define __weak __attribute__((weak))
#define __hidden __attribute__((visibility("hidden")))

/* CO-RE: field accesses through such types are relocated by the kernel. */
#define __core __attribute__((preserve_access_index))

/* Arena kfuncs (Linux 6.9; reserve 6.17). Sleepable programs only up to 6.18. */
extern void __arena *bpf_arena_alloc_pages(void *map, void __arena *addr, __u32 page_cnt, int node_id,
					   __u64 flags) __ksym __weak;
extern void bpf_arena_free_pages(void *map, void __arena *ptr, __u32 page_cnt) __ksym __weak;
extern int bpf_arena_reserve_pages(void *map, void __arena *ptr, __u32 page_cnt) __ksym __weak;

/* Helpers by id (enum bpf_func_id). */
static long (*const bpf_get_smp_processor_id)(void) = (void *)8;
static long (*const bpf_get_current_pid_tgid)(void) = (void *)14;

/* A loop bound the verifier accepts without unrolling: may_goto (6.9). */
#define can_loop                                                                                   \
	({                                                                                         \
		__label__ l_break, l_continue;                                                     \
		int ok = 1;                                                                        \
		asm volatile goto("may_goto %l[l_break]" :: ::l_break);                           \
		goto l_continue;                                                                   \
	l_break:                                                                                   \
		ok = 0;                                                                            \
	l_continue:;                                                                               \
		ok;                                                                                \
	})

#define PAGE_SIZE 4096

/* Whether a __weak __ksym resolved: the loader turns a missing one into 0. */
#define bpf_ksym_exists(sym)                                                                       \
	({                                                                                         \
		_Static_assert(!__builtin_constant_p(!!sym), #sym " should be marked as __weak"); \
		!!sym;                                                                             \
	})

#endif
