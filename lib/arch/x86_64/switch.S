/* weft__ctx_switch for x86_64 (System V ABI).
 *
 * void weft__ctx_switch(struct weft__ctx *from, struct weft__ctx *to)
 *
 * The ABI makes rbx, rbp, r12-r15, the MXCSR control bits and the x87
 * control word callee-saved. They are pushed on the current stack, the
 * stack pointer is stored in from->sp, and the same frame is popped from
 * to->sp. The frame, from the saved stack pointer up:
 *
 *   0: MXCSR (4 bytes), x87 control word (2), padding (2)
 *   8: r15  16: r14  24: r13  32: r12  40: rbx  48: rbp  56: return address
 *
 * context.c builds the same frame for a context that has never run, with
 * the return address pointing at weft__ctx_trampoline.
 */
#if defined(__CET__) && (__CET__ & 1)
#define WEFT_ENDBR endbr64
#else
#define WEFT_ENDBR
#endif

    .text
    .p2align 4
    .globl weft__ctx_switch
    .hidden weft__ctx_switch
    .type weft__ctx_switch, @function
weft__ctx_switch:
    .cfi_startproc
    WEFT_ENDBR
    pushq %rbp
    .cfi_adjust_cfa_offset 8
    pushq %rbx
    .cfi_adjust_cfa_offset 8
    pushq %r12
    .cfi_adjust_cfa_offset 8
    pushq %r13
    .cfi_adjust_cfa_offset 8
    pushq %r14
    .cfi_adjust_cfa_offset 8
    pushq %r15
    .cfi_adjust_cfa_offset 8
    subq $8, %rsp
    .cfi_adjust_cfa_offset 8
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq (%rsi), %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .cfi_endproc
    .size weft__ctx_switch, .-weft__ctx_switch

/* First code a new context runs: entry(arg), with arg in r12 and entry in
 * r13. The stack pointer is 16-byte aligned here, so the call leaves entry
 * with the alignment the ABI promises. entry never returns. The undefined
 * return address ends debugger backtraces here. */
    .p2align 4
    .globl weft__ctx_trampoline
    .hidden weft__ctx_trampoline
    .type weft__ctx_trampoline, @function
weft__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    WEFT_ENDBR
    movq %r12, %rdi
    callq *%r13
    ud2
    .cfi_endproc
    .size weft__ctx_trampoline, .-weft__ctx_trampoline

    .section .note.GNU-stack,"",@progbits

/* Claim indirect-branch tracking (every entry has endbr64) but never shadow
 * stacks: a coroutine switch moves the stack pointer without the matching
 * shadow stack, so SHSTK must stay off for any process using weft. */
#if defined(__CET__) && (__CET__ & 1)
    .section .note.gnu.property,"a"
    .p2align 3
    .long 4             /* name size */
    .long 16            /* descriptor size */
    .long 5             /* NT_GNU_PROPERTY_TYPE_0 */
    .asciz "GNU"
    .long 0xc0000002    /* GNU_PROPERTY_X86_FEATURE_1_AND */
    .long 4
    .long 1             /* GNU_PROPERTY_X86_FEATURE_1_IBT */
    .p2align 3
#endif
