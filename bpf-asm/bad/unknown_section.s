# Expected outcome: parsing fails naming section 'not_a_program_type'.
	.section not_a_program_type,"ax",@progbits
	.globl use
	.type use,@function
use:
	r0 = 0
	exit
	.size use, .-use
	.section license,"aw",@progbits
	.asciz "GPL"
