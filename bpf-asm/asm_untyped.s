# Hand-written BPF assembly as people often write it: global labels with
# no `.type NAME,@function` and no `.size`, so the symbols are STT_NOTYPE
# with size 0. Each global label is a program that runs to the next
# global label or the end of its section; `loop` and `.Ldone` are local
# labels, not programs.
#
# first (syscall):  returns 1
# second (syscall): counts r0 from 0 to 3 in a loop, returns 3 (99 if
#                   the loop ran wrong)
# third (syscall):  returns 42
# typed (syscall):  a typed function (`.type`, `.size`) with a global label
#                   `inner` inside it, which stays part of it; returns 7

	.section syscall,"ax",@progbits
	.globl first
first:
	r0 = 1
	exit

	.globl second
second:
	r0 = 0
loop:
	r0 += 1
	if r0 < 3 goto loop
	if r0 == 3 goto .Ldone
	r0 = 99
.Ldone:
	exit

	.globl third
third:
	r0 = 42
	exit

	.globl typed
	.type typed,@function
typed:
	r0 = 3
	.globl inner
inner:
	r0 += 4
	exit
	.size typed, .-typed

	.section license,"aw",@progbits
	.asciz "GPL"
