# A hand-written BPF assembly object without BTF: a legacy `maps` record
# declares the arena, `.addr_space.1` holds one arena global, and a
# SYSCALL program increments it through addr_space_cast, calls a static
# subprogram, and allocates a page with an extern kfunc (resolved by name,
# no BTF in the object).
#
# bump (syscall): asm_val += 1; returns asm_val + (page allocated ? 1000 : 0)
#   Expect: retval 1008 on the first run (asm_val starts at 7).

	.section maps,"aw",@progbits
	.globl arena
	.p2align 2
arena:
	.long 33          # BPF_MAP_TYPE_ARENA
	.long 0           # key_size
	.long 0           # value_size
	.long 4           # max_entries (pages)
	.long 1024        # BPF_F_MMAPABLE
	.size arena, 20

	.section .addr_space.1,"aw",@progbits
	.globl asm_val
	.p2align 3
asm_val:
	.quad 7
	.size asm_val, 8

	.section syscall,"ax",@progbits
	.globl bump
	.type bump,@function
bump:
	r1 = asm_val ll
	r1 = addr_space_cast(r1, 0x0, 0x1)
	r6 = *(u64 *)(r1 + 0x0)
	r6 += 1
	*(u64 *)(r1 + 0x0) = r6
	call plus_alloc
	r0 += r6
	exit
	.size bump, .-bump

	.text
	.type plus_alloc,@function
plus_alloc:
	r1 = arena ll
	r2 = 0
	r3 = 1
	r4 = -1
	r5 = 0
	call bpf_arena_alloc_pages
	if r0 == 0x0 goto +2
	r0 = 1000
	exit
	r0 = 0
	exit
	.size plus_alloc, .-plus_alloc

	.section license,"aw",@progbits
	.asciz "GPL"
