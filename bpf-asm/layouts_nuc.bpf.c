// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * layouts.bpf.c with an arena created BPF_F_NO_USER_CONV (Linux 6.9): the
 * same types, globals, program and values, except that every arena pointer
 * BPF stores (next, flex, summary.tail/first_flex/first_item, flexes[],
 * head) holds the 32-bit kernel form (the low half of the user address)
 * instead of the user address; user space follows it with Arena::stored.
 */
#define LAYOUTS_MAP_FLAGS (BPF_F_MMAPABLE | BPF_F_NO_USER_CONV)
#include "layouts.bpf.c"
