	.text
# Every instruction encoding llvm-objdump-19 can print, once.
# Not loaded into the kernel (callx, and jumps out of range, would be
# rejected): tests/insn_objdump.rs decodes each slot with bpf_arena::insn and
# checks the printed text against llvm-objdump-19's listing (insns.objdump).
# Expected outcome: decode + display agree with objdump on every line.
	.globl	all_insns
	.type	all_insns,@function
all_insns:
	r1 = r2
	r1 = 5
	r1 = -7
	w1 = w2
	w1 = 3
	r1 += r2
	r1 -= 1
	r1 *= r2
	r1 /= 3
	r1 |= r2
	r1 &= 1
	r1 <<= 3
	r1 >>= r2
	r1 s>>= 2
	r1 %= r2
	r1 ^= 3
	r1 = -r1
	w1 = -w1
	w1 += w2
	w1 s>>= 2
	r1 s/= r2
	r1 s%= 3
	w1 s/= w2
	r1 = (s8)r2
	r1 = (s16)r2
	r1 = (s32)r2
	w1 = (s8)w2
	w1 = (s16)w2
	r1 = be16 r1
	r1 = le32 r1
	r1 = be64 r1
	r1 = bswap16 r1
	r1 = bswap64 r1
	r1 = 0x123456789 ll
	r1 = -1 ll
	r1 = 0 ll
	if w1 > w2 goto +1
	if w1 s>= 7 goto +1
	w1 *= w2
	w1 %= 3
	w1 = (s8)w1
	r0 = *(u8 *)(r1 + 0)
	r0 = *(u16 *)(r1 - 2)
	r0 = *(u32 *)(r1 + 4)
	r0 = *(u64 *)(r10 - 8)
	w0 = *(u32 *)(r1 + 4)
	w0 = *(u8 *)(r1 + 4)
	r0 = *(s8 *)(r1 + 0)
	r0 = *(s16 *)(r1 + 0)
	r0 = *(s32 *)(r1 + 0)
	*(u8 *)(r1 + 0) = r2
	*(u16 *)(r1 + 2) = r2
	*(u32 *)(r1 + 4) = r2
	*(u64 *)(r10 - 8) = r2
	*(u32 *)(r1 + 4) = w2
	*(u8 *)(r1 + 0) = 1
	*(u64 *)(r10 - 8) = -1
	*(u32 *)(r1 + 4) = 7
	lock *(u32 *)(r1 + 0) += w2
	lock *(u64 *)(r1 + 0) += r2
	lock *(u64 *)(r1 + 0) |= r2
	lock *(u64 *)(r1 + 0) &= r2
	lock *(u64 *)(r1 + 0) ^= r2
	lock *(u32 *)(r1 + 0) |= w2
	r2 = atomic_fetch_add((u64 *)(r1 + 0), r2)
	w2 = atomic_fetch_add((u32 *)(r1 + 0), w2)
	r2 = atomic_fetch_and((u64 *)(r1 + 0), r2)
	r2 = atomic_fetch_or((u64 *)(r1 + 0), r2)
	r2 = atomic_fetch_xor((u64 *)(r1 + 0), r2)
	r2 = xchg_64(r1 + 0, r2)
	w2 = xchg32_32(r1 + 0, w2)
	r0 = cmpxchg_64(r1 + 0, r0, r2)
	w0 = cmpxchg32_32(r1 + 0, w0, w2)
	r1 = addr_space_cast(r1, 0, 1)
	r1 = addr_space_cast(r2, 1, 0)
	r0 = *(u8 *)skb[4]
	r0 = *(u16 *)skb[r1]
	r0 = *(u32 *)skb[8]
	if r1 == r2 goto +1
	if r1 != 5 goto -1
	if r1 > r2 goto +1
	if r1 >= r2 goto +1
	if r1 < r2 goto +1
	if r1 <= r2 goto +1
	if r1 s> r2 goto +1
	if r1 s>= r2 goto +1
	if r1 s< r2 goto +1
	if r1 s<= r2 goto +1
	if r1 & r2 goto +1
	if w1 == w2 goto +1
	if w1 s< -3 goto +1
	if w1 & 4 goto +1
	goto +2
	gotol +3
	may_goto +1
	call 5
	call -1
	callx r2
	exit
