// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * Reads and updates another object's counter page. This object declares no
 * arena map: the program only receives an arena pointer in its context, so
 * the loader binds the shared arena through fd_array (Linux 6.14+).
 *
 * bump: ctx = { u64 counter pointer (user form), u64 add }. Adds `add` to
 *       the counter and returns the new value. Expect: retval == old + add.
 */
#include "arena.h"

struct args {
	__u64 __arena *counter;
	__u64 add;
};

SEC("syscall")
int bump(struct args *args)
{
	__u64 __arena *c = args->counter;

	if (!c)
		return -1;
	*c += args->add;
	return *c;
}

char _license[] SEC("license") = "GPL";
