/* Helpers for check_context: prove that weft__ctx_switch keeps every
 * callee-saved register of x86_64 across a switch whose other side
 * clobbers them all. */
    .text

/* void regs_switch_known(uint64_t out[6], struct weft__ctx *from,
 *                        struct weft__ctx *to)
 * Loads known values into rbx, rbp, r12-r15, switches from -> to, and when
 * switched back stores what those registers hold into out[0..5]. */
    .globl regs_switch_known
    .type regs_switch_known, @function
regs_switch_known:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    pushq %rdi              /* out; also keeps the stack 16-byte aligned */
    movabsq $0x1111111111111111, %rbx
    movabsq $0x2222222222222222, %rbp
    movabsq $0x3333333333333333, %r12
    movabsq $0x4444444444444444, %r13
    movabsq $0x5555555555555555, %r14
    movabsq $0x6666666666666666, %r15
    movq %rsi, %rdi
    movq %rdx, %rsi
    call weft__ctx_switch
    popq %rdi
    movq %rbx, 0(%rdi)
    movq %rbp, 8(%rdi)
    movq %r12, 16(%rdi)
    movq %r13, 24(%rdi)
    movq %r14, 32(%rdi)
    movq %r15, 40(%rdi)
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size regs_switch_known, .-regs_switch_known

/* void regs_clobber_and_switch(struct weft__ctx *from, struct weft__ctx *to)
 * Fills every callee-saved register with garbage, then switches. */
    .globl regs_clobber_and_switch
    .type regs_clobber_and_switch, @function
regs_clobber_and_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    movabsq $0xdeaddeaddeaddead, %rbx
    movq %rbx, %rbp
    movq %rbx, %r12
    movq %rbx, %r13
    movq %rbx, %r14
    movq %rbx, %r15
    call weft__ctx_switch
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size regs_clobber_and_switch, .-regs_clobber_and_switch

    .section .note.GNU-stack,"",@progbits
