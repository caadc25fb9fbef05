// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * A rich structure built by BPF in an arena, for `bpf-arena gen`: user space
 * reads it back through the Rust types generated from this object's BTF and
 * compares every field with the values below.
 *
 * Types (every one reachable from a global's type, so the generator sees it):
 * nested struct, union of members of different sizes, fixed, struct and 2-D
 * arrays, bitfields (one crossing a byte, a signed one, an unsigned long long
 * one sharing its 8 bytes with u32 bitfields), _Bool/char/signed char/short/
 * float/double, a 32-bit enum with a negative value, a 64-bit enum, an
 * anonymous struct and an anonymous union member, members named like Rust
 * keywords (type, match, fn, self, loop), a padding hole (a char followed by
 * a u64), a typedef of an anonymous struct, a packed struct, a struct ending
 * in a flexible array, arena pointers to the same and to other types.
 *
 * Globals:
 *   head    (__arena, .addr_space.1)  struct lay_node __arena *: node 0
 *   summary (__arena, .addr_space.1)  struct lay_summary
 *   flexes  (__arena, .addr_space.1)  struct lay_flex __arena *[3]: flex
 *             block i (a global pointing at lay_flex directly: clang's
 *             BTF has only a FWD for a struct reached solely through
 *             pointers inside structs)
 *   build_runs (.bss)                 __u32: runs of `build` so far
 *   config  (.data)                   struct lay_config, initialised:
 *             magic 0xC0FFEE11, color LAY_NEG (-3), wide LAY_WIDE_BIG
 *             (0x500000007), origin {x 3, y -4}, pk {a 9, b 0x0A0B0C0D,
 *             c 0x0E0F}, td {id 0x7D7D, kind 0x1234, flags 0x56}
 *
 * build (SEC("syscall")): allocates one arena page; node i (i = 0, 1, 2)
 * sits at page + i * sizeof(struct lay_node), the flexible-array block of
 * node i at page + 2048 + i * 64. Returns 0 (1 if the page allocation
 * failed). Every run allocates a fresh page and rebuilds everything.
 * Node i gets:
 *   next          node i+1; NULL for node 2
 *   flex          flex block i
 *   hole_c        'a' + i                         (0x61, 0x62, 0x63)
 *   after_hole    0x1000000000000001 * (i+1)
 *   pos.x         -10 * (i+1)                     (-10, -20, -30)
 *   pos.y         100 * (i+1)
 *   u.quad        0x8877665544332211 + i  (written as quad; so
 *                 u.byte = 0x11+i, u.word = 0x44332211+i,
 *                 u.pair.lo = 0x2211+i, u.pair.hi = 0x4433)
 *   arr[k]        0x100 * (i+1) + k               (k = 0..3)
 *   smalls[k].tag 16 * i + k + 1                  (k = 0..1)
 *   smalls[k].val 0xF000 + 0x100 * i + k
 *   grid[r][c]    100 * i + 10 * r + c            (r = 0..1, c = 0..2)
 *   bf_a  (u32:3)  5 + i                          (5, 6, 7)
 *   bf_b  (u32:7)  100 + i                        (crosses a byte)
 *   bf_s  (s32:5)  -5 * (i+1)                     (-5, -10, -15)
 *   bf_c  (u32:1)  i & 1                          (0, 1, 0)
 *   bf_ll (unsigned long long:40)  0xAB00000000 + i * 0x100000001
 *   bf_d  (u16:12) 0xFFF - i
 *   flag  (_Bool)  i % 2 == 0                     (1, 0, 1)
 *   ch    (char)   'A' + i
 *   sc    (signed char) -100 - i
 *   sh    (short)  -30000 + i
 *   f     (float)  1.5 + i                        (1.5, 2.5, 3.5)
 *   d     (double) -1000.125 * (i+1)              (-1000.125, -2000.25, -3000.375)
 *   color (enum lay_color)  LAY_NEG (-3), LAY_RED (1), LAY_BLUE (0x7fff)
 *   wide  (enum lay_wide, 64-bit)  LAY_WIDE_BIG + i = 0x500000007 + i
 *   anon_a, anon_b (anonymous struct)  0xA000 + i, 0xB000 + i
 *   anon_word (anonymous union, written as the word)  0xDEAD0000 + i
 *                 (so anon_bytes = {i, 0x00, 0xAD, 0xDE})
 *   td.id 7000 + i, td.kind 300 + i, td.flags 0x80 | i
 *   pk.a  0xE0 + i, pk.b 0x12345678 + i, pk.c 0xCAFE - i
 *   type  (u8)  0x70 + i
 *   match (u16) 0x4D00 + i
 *   fn    (u32) 0xF0F0F000 + i
 *   self  (u64) 0x5E1F00000000 + i
 *   loop  (s32) -1000 - i
 * Padding bytes are zero (the page comes zeroed and is never written there).
 * Flex block i: tag 0xF1E0000000000000 + i, count i + 2,
 *   items[k] = 1000 * (i+1) + k for k < count.
 * summary: nodes 3, last_color LAY_BLUE, origin {x -1, y -2},
 *   u.quad 0xFEDCBA9876543210, td {id 42, kind 43, flags 44},
 *   pk {a 1, b 0x01020304, c 0xBEEF}, tail = node 2, first_flex = flex
 *   block 0, first_item = &flex block 0's items[0], magic = config.magic.
 * build_runs: incremented by every run (1 after the first).
 *
 * Stored arena pointers (next, flex, summary.tail/first_flex/first_item,
 * flexes[], head) go through stored(): cast_kern then cast_user in inline
 * asm. On this arena that gives back the user address. layouts_nuc.bpf.c
 * builds this source with BPF_F_NO_USER_CONV, where cast_user is a 32-bit
 * move, so the stored value is the kernel form (the low 32 bits) that user
 * space turns back with Arena::stored. Plain C would store the user address
 * under either flag: bpf_arena_alloc_pages and the address of an __arena
 * global are user addresses, and clang casts only the address it loads or
 * stores through, never the pointer value stored.
 * (clang's BTF marks no address space: these are plain BTF PTRs.)
 */
#include "arena.h"

#ifndef LAYOUTS_MAP_FLAGS
#define LAYOUTS_MAP_FLAGS BPF_F_MMAPABLE
#endif

struct {
	__uint(type, BPF_MAP_TYPE_ARENA);
	__uint(map_flags, LAYOUTS_MAP_FLAGS);
	__uint(max_entries, 16);
} arena SEC(".maps");

enum lay_color {
	LAY_NEG = -3,
	LAY_ZERO = 0,
	LAY_RED = 1,
	LAY_BLUE = 0x7fff,
};

enum lay_wide {
	LAY_WIDE_SMALL = 1,
	LAY_WIDE_BIG = 0x500000007ULL,
};

struct lay_point {
	__s32 x;
	__s32 y;
};

struct lay_pair16 {
	__u16 lo;
	__u16 hi;
};

union lay_multi {
	__u8 byte;
	__u32 word;
	__u64 quad;
	struct lay_pair16 pair;
};

struct lay_small {
	__u8 tag;
	__u16 val;
};

typedef struct {
	__u32 id;
	__u16 kind;
	__u8 flags;
} lay_td_t;

struct lay_packed {
	__u8 a;
	__u32 b;
	__u16 c;
} __attribute__((packed));

struct lay_flex {
	__u64 tag;
	__u16 count;
	__u32 items[];
};

struct lay_node {
	struct lay_node __arena *next;
	struct lay_flex __arena *flex;
	char hole_c;
	__u64 after_hole;
	struct lay_point pos;
	union lay_multi u;
	__u32 bf_a : 3;
	__u32 bf_b : 7;
	__s32 bf_s : 5;
	__u32 bf_c : 1;
	unsigned long long bf_ll : 40;
	__u16 bf_d : 12;
	__u32 arr[4];
	struct lay_small smalls[2];
	__u16 grid[2][3];
	_Bool flag;
	char ch;
	signed char sc;
	short sh;
	float f;
	double d;
	enum lay_color color;
	enum lay_wide wide;
	struct {
		__u16 anon_a;
		__u16 anon_b;
	};
	union {
		__u32 anon_word;
		__u8 anon_bytes[4];
	};
	lay_td_t td;
	struct lay_packed pk;
	__u8 type;
	__u16 match;
	__u32 fn;
	__u64 self;
	__s32 loop;
};

struct lay_summary {
	__u32 nodes;
	enum lay_color last_color;
	struct lay_point origin;
	union lay_multi u;
	lay_td_t td;
	struct lay_packed pk;
	struct lay_node __arena *tail;
	struct lay_flex __arena *first_flex;
	__u32 __arena *first_item;
	__u32 magic;
};

struct lay_config {
	__u32 magic;
	enum lay_color color;
	enum lay_wide wide;
	struct lay_point origin;
	struct lay_packed pk;
	lay_td_t td;
};

struct lay_node __arena *__arena head;
struct lay_summary __arena summary;
struct lay_flex __arena *__arena flexes[3];
__u32 build_runs;
struct lay_config config = {
	.magic = 0xC0FFEE11,
	.color = LAY_NEG,
	.wide = LAY_WIDE_BIG,
	.origin = { .x = 3, .y = -4 },
	.pk = { .a = 9, .b = 0x0A0B0C0D, .c = 0x0E0F },
	.td = { .id = 0x7D7D, .kind = 0x1234, .flags = 0x56 },
};

#define NODES 3
#define FLEX_AREA 2048
#define FLEX_STRIDE 64

/*
 * The form in which a pointer is stored: cast to the kernel form (the low
 * 32 bits) and back to an arena pointer. Without BPF_F_NO_USER_CONV the way
 * back restores the user address (0 stays 0), so nothing changes; with it
 * the way back is a 32-bit move and the low half is what gets stored.
 */
static inline __attribute__((always_inline)) void __arena *stored(void __arena *p)
{
	asm volatile("%[p] = addr_space_cast(%[p], 0x0, 0x1)" : [p] "+r"(p));
	asm volatile("%[p] = addr_space_cast(%[p], 0x1, 0x0)" : [p] "+r"(p));
	return p;
}

static inline __attribute__((always_inline)) void fill_flex(struct lay_flex __arena *fl, __u32 i)
{
	__u32 k;

	fl->tag = 0xF1E0000000000000ULL + i;
	fl->count = i + 2;
	for (k = 0; k < i + 2 && can_loop; k++)
		fl->items[k] = 1000 * (i + 1) + k;
}

static inline __attribute__((always_inline)) void fill_node(struct lay_node __arena *n, struct lay_node __arena *next,
				      struct lay_flex __arena *fl, __u32 i)
{
	static const enum lay_color colors[NODES] = { LAY_NEG, LAY_RED, LAY_BLUE };
	int k, r, c;

	n->next = stored(next);
	n->flex = stored(fl);
	n->hole_c = 'a' + i;
	n->after_hole = 0x1000000000000001ULL * (i + 1);
	n->pos.x = -10 * (int)(i + 1);
	n->pos.y = 100 * (i + 1);
	n->u.quad = 0x8877665544332211ULL + i;
	for (k = 0; k < 4; k++)
		n->arr[k] = 0x100 * (i + 1) + k;
	for (k = 0; k < 2; k++) {
		n->smalls[k].tag = 16 * i + k + 1;
		n->smalls[k].val = 0xF000 + 0x100 * i + k;
	}
	for (r = 0; r < 2; r++)
		for (c = 0; c < 3; c++)
			n->grid[r][c] = 100 * i + 10 * r + c;
	n->bf_a = 5 + i;
	n->bf_b = 100 + i;
	n->bf_s = -5 * (int)(i + 1);
	n->bf_c = i & 1;
	n->bf_ll = 0xAB00000000ULL + i * 0x100000001ULL;
	n->bf_d = 0xFFF - i;
	n->flag = i % 2 == 0;
	n->ch = 'A' + i;
	n->sc = -100 - (int)i;
	n->sh = -30000 + (int)i;
	n->f = 1.5f + i;
	n->d = -1000.125 * (i + 1);
	n->color = colors[i];
	n->wide = LAY_WIDE_BIG + i;
	n->anon_a = 0xA000 + i;
	n->anon_b = 0xB000 + i;
	n->anon_word = 0xDEAD0000 + i;
	n->td.id = 7000 + i;
	n->td.kind = 300 + i;
	n->td.flags = 0x80 | i;
	n->pk.a = 0xE0 + i;
	n->pk.b = 0x12345678 + i;
	n->pk.c = 0xCAFE - i;
	n->type = 0x70 + i;
	n->match = 0x4D00 + i;
	n->fn = 0xF0F0F000 + i;
	n->self = 0x5E1F00000000ULL + i;
	n->loop = -1000 - (int)i;
}

SEC("syscall")
int build(void *ctx)
{
	char __arena *page;
	struct lay_node __arena *n0, *n1, *n2;
	struct lay_flex __arena *f0, *f1, *f2;

	build_runs++;
	page = bpf_arena_alloc_pages(&arena, NULL, 1, NUMA_NO_NODE, 0);
	if (!page)
		return 1;
	n0 = (struct lay_node __arena *)page;
	n1 = n0 + 1;
	n2 = n0 + 2;
	f0 = (struct lay_flex __arena *)(page + FLEX_AREA);
	f1 = (struct lay_flex __arena *)(page + FLEX_AREA + FLEX_STRIDE);
	f2 = (struct lay_flex __arena *)(page + FLEX_AREA + 2 * FLEX_STRIDE);

	fill_flex(f0, 0);
	fill_flex(f1, 1);
	fill_flex(f2, 2);
	fill_node(n0, n1, f0, 0);
	fill_node(n1, n2, f1, 1);
	fill_node(n2, NULL, f2, 2);

	summary.nodes = NODES;
	summary.last_color = LAY_BLUE;
	summary.origin.x = -1;
	summary.origin.y = -2;
	summary.u.quad = 0xFEDCBA9876543210ULL;
	summary.td.id = 42;
	summary.td.kind = 43;
	summary.td.flags = 44;
	summary.pk.a = 1;
	summary.pk.b = 0x01020304;
	summary.pk.c = 0xBEEF;
	summary.tail = stored(n2);
	summary.first_flex = stored(f0);
	summary.first_item = stored(&f0->items[0]);
	summary.magic = config.magic;
	flexes[0] = stored(f0);
	flexes[1] = stored(f1);
	flexes[2] = stored(f2);
	head = stored(n0);
	return 0;
}

char _license[] SEC("license") = "GPL";
