// SPDX-License-Identifier: MIT OR Apache-2.0
/* Expected outcome: loading fails naming CONFIG_BPF_ARENA_NOT_A_REAL_OPTION,
 * a strong kconfig extern this kernel's configuration does not set. */
#include "../arena.h"

extern int CONFIG_BPF_ARENA_NOT_A_REAL_OPTION __kconfig;

SEC("syscall")
int use(void *ctx)
{
	return CONFIG_BPF_ARENA_NOT_A_REAL_OPTION;
}

char _license[] SEC("license") = "GPL";
