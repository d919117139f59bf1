/* weft__ctx_switch for aarch64 (AAPCS64).
 *
 * void weft__ctx_switch(struct weft__ctx *from, struct weft__ctx *to)
 *
 * The ABI makes x19-x28, the frame pointer x29, the link register x30, the
 * low halves of v8-v15 (d8-d15) and FPCR callee-saved. They are stored in a
 * 176-byte frame on the current stack, whose address goes to from->sp; the
 * frame at to->sp is loaded and `ret` jumps to its x30. Frame layout:
 *
 *   0: x19 x20  16: x21 x22  32: x23 x24  48: x25 x26  64: x27 x28
 *  80: x29 x30  96: d8 d9  112: d10 d11  128: d12 d13  144: d14 d15
 * 160: FPCR  168: padding
 *
 * context.c builds the same frame for a new context, with x30 pointing at
 * weft__ctx_trampoline.
 */
/* BTI landing pad; a NOP on cores without BTI. */
#define WEFT_BTI_C hint 34

    .text
    .p2align 4
    .globl weft__ctx_switch
    .hidden weft__ctx_switch
    .type weft__ctx_switch, %function
weft__ctx_switch:
    .cfi_startproc
    WEFT_BTI_C
    sub sp, sp, #176
    .cfi_adjust_cfa_offset 176
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    mrs x9, fpcr
    str x9, [sp, #160]
    mov x9, sp
    str x9, [x0]
    ldr x9, [x1]
    mov sp, x9
    ldp x19, x20, [sp, #0]
    ldp x21, x22, [sp, #16]
    ldp x23, x24, [sp, #32]
    ldp x25, x26, [sp, #48]
    ldp x27, x28, [sp, #64]
    ldp x29, x30, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    ldr x9, [sp, #160]
    msr fpcr, x9
    add sp, sp, #176
    ret
    .cfi_endproc
    .size weft__ctx_switch, .-weft__ctx_switch

/* First code a new context runs: entry(arg), with arg in x19 and entry in
 * x20. Reached by `ret`, which BTI does not check. */
    .p2align 4
    .globl weft__ctx_trampoline
    .hidden weft__ctx_trampoline
    .type weft__ctx_trampoline, %function
weft__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined x30
    WEFT_BTI_C
    mov x0, x19
    blr x20
    brk #0
    .cfi_endproc
    .size weft__ctx_trampoline, .-weft__ctx_trampoline

    .section .note.GNU-stack,"",%progbits

/* Keep the library's BTI and PAC marking when it is built with
 * -mbranch-protection: both functions start with a landing pad and neither
 * signs a return address of its own. */
#if defined(__ARM_FEATURE_BTI_DEFAULT) || defined(__ARM_FEATURE_PAC_DEFAULT)
#define WEFT_FEATURE_BTI 1
#define WEFT_FEATURE_PAC 2
    .section .note.gnu.property,"a"
    .p2align 3
    .long 4
    .long 16
    .long 5             /* NT_GNU_PROPERTY_TYPE_0 */
    .asciz "GNU"
    .long 0xc0000000    /* GNU_PROPERTY_AARCH64_FEATURE_1_AND */
    .long 4
    .long (WEFT_FEATURE_BTI | WEFT_FEATURE_PAC)
    .long 0
#endif
