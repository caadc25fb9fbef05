// SPDX-License-Identifier: MIT OR Apache-2.0
/* Expected outcome: the verifier rejects `oob` (unbounded index into .bss);
 * the error shows this file's source line from line info. */
#include "../arena.h"

__u64 table[4];
__u32 index_from_user;

SEC("syscall")
int oob(void *ctx)
{
	return table[index_from_user];
}

char _license[] SEC("license") = "GPL";
