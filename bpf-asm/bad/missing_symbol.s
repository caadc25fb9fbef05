# Expected outcome: loading fails naming 'no_such_variable': the relocation
# points at a symbol defined nowhere (and known to no kernel).
	.section syscall,"ax",@progbits
	.globl use
	.type use,@function
use:
	r1 = no_such_variable ll
	r0 = 0
	exit
	.size use, .-use
	.section license,"aw",@progbits
	.asciz "GPL"
