// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * Names that collide with Rust, for `bpf-arena gen`: types named like Rust
 * keywords, primitives, prelude items and the generated module's own items,
 * members named like keywords and like the generator's own fields, an
 * enum with aliases and extreme values, a typedef'd enum, an empty struct,
 * a struct only declared, a function pointer and a pointer outside the
 * arena; enums named like the generated code's parameters and locals
 * (`value`, `spec`), two members whose Rust names meet (`self`, `self_`),
 * a bitfield named like a flexible array's accessor, a global named like a
 * method of the Loader (`load`); and names long enough to push every
 * generated line past rustfmt's widths (the generated text must still be
 * what rustfmt leaves). tests/codegen.rs compiles what is generated for
 * it; the program only touches the globals.
 */
#include "arena.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 4);
} arena SEC(".maps");

typedef __u32 u32;
typedef __u64 Result;
struct type { u32 value; };
struct Default { int fn; int self; int Self; int _; int __pad_0; int self_; };
struct Ok { struct Default d; Result r; };
struct Loader { struct type t; };
struct size_of { char c; };
struct empty {};
typedef struct same same;
struct same { int x; };
struct opaque;
enum Some { None = 0, Some_alias = 0, MIN = -2147483647 - 1, MAX = 2147483647 };
typedef enum { E_A = 1, E_B = 2 } e_t;
enum u8 : unsigned char { small = 255 };
enum value { V0 = 0 };
enum spec { S0 = 0 };
enum name { NAME0 = 0 };
enum target { TARGET0 = 0 };
enum iface { IFACE0 = 0 };
enum cgroup { CGROUP0 = 0 };
struct flexy { int items_at:3; int n; int items[]; };

#define LONG_STRUCT a_struct_whose_name_is_long_enough_to_push_generated_lines_past_their_widths
struct LONG_STRUCT {
	int a_field_whose_name_is_long_enough_to_push_the_assertion_past_sixty_columns;
	char short_one;
	long long a_field_whose_name_is_so_long_that_even_the_offset_of_arguments_alone_are_past_sixty;
	unsigned int a_bitfield_with_a_long_name_that_pushes_the_accessor_signature_past_width : 3;
	union {
		int a_union_member_whose_name_is_long_enough_to_break_the_debug_field_call;
		char b;
	} u;
};
enum a_long_enum_name_for_generated_constants_to_be_long {
	AN_ENUMERATOR_WHOSE_NAME_IS_LONG_ENOUGH_TO_PUSH_THE_CONSTANT_PAST_THE_WIDTH = 1,
};

struct holder {
	struct Ok ok;
	struct Loader loader;
	struct size_of so;
	struct empty nothing;
	struct opaque *op;
	int (*callback)(int);
	enum Some some;
	e_t e;
	enum u8 tiny;
	u32 plain;
	same s;
	enum value v;
	enum spec sp;
	enum name nm;
	enum target tg;
	enum iface ifc;
	enum cgroup cg;
};

struct holder __arena in_arena;
struct holder in_bss;
struct holder __arena *__arena holder_ptr;
struct LONG_STRUCT __arena a_global_variable_whose_name_is_long_enough_for_the_chain_width;
enum a_long_enum_name_for_generated_constants_to_be_long long_enum_global;
struct flexy __arena fx;
__u64 load;

SEC("syscall")
int a_program_whose_name_is_long_enough_to_break_its_lines(void *ctx)
{
	return 0;
}

/* Programs whose attach methods take an interface or a cgroup. */
SEC("xdp")
int on_xdp(void *ctx)
{
	return 2; /* XDP_PASS */
}

SEC("cgroup_skb/ingress")
int on_skb(void *ctx)
{
	return 1;
}

SEC("syscall")
int touch(void *ctx)
{
	in_bss.plain = 1;
	in_arena.plain = 2;
	fx.n = 4;
	load = 3;
	return 0;
}

char _license[] SEC("license") = "GPL";
