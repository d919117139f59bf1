/* Helpers for switch_test.c on aarch64: prove that weft__ctx_switch keeps
 * x19-x28, x29 and d8-d15 across a switch whose other side clobbers them. */
#define BTI_C hint 34
    .text

/* void regs_switch_known(uint64_t out[19], struct weft__ctx *from,
 *                        struct weft__ctx *to) */
    .globl regs_switch_known
    .type regs_switch_known, %function
regs_switch_known:
    BTI_C
    stp x29, x30, [sp, #-176]!
    stp x19, x20, [sp, #16]
    stp x21, x22, [sp, #32]
    stp x23, x24, [sp, #48]
    stp x25, x26, [sp, #64]
    stp x27, x28, [sp, #80]
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    str x0, [sp, #160]
    mov x19, #19
    mov x20, #20
    mov x21, #21
    mov x22, #22
    mov x23, #23
    mov x24, #24
    mov x25, #25
    mov x26, #26
    mov x27, #27
    mov x28, #28
    mov x29, #29
    fmov d8, #8.0
    fmov d9, #9.0
    fmov d10, #10.0
    fmov d11, #11.0
    fmov d12, #12.0
    fmov d13, #13.0
    fmov d14, #14.0
    fmov d15, #15.0
    mov x0, x1
    mov x1, x2
    bl weft__ctx_switch
    ldr x0, [sp, #160]
    stp x19, x20, [x0, #0]
    stp x21, x22, [x0, #16]
    stp x23, x24, [x0, #32]
    stp x25, x26, [x0, #48]
    stp x27, x28, [x0, #64]
    str x29, [x0, #80]
    stp d8, d9, [x0, #88]
    stp d10, d11, [x0, #104]
    stp d12, d13, [x0, #120]
    stp d14, d15, [x0, #136]
    ldp x19, x20, [sp, #16]
    ldp x21, x22, [sp, #32]
    ldp x23, x24, [sp, #48]
    ldp x25, x26, [sp, #64]
    ldp x27, x28, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    ldp x29, x30, [sp], #176
    ret
    .size regs_switch_known, .-regs_switch_known

/* void regs_clobber_and_switch(struct weft__ctx *from, struct weft__ctx *to) */
    .globl regs_clobber_and_switch
    .type regs_clobber_and_switch, %function
regs_clobber_and_switch:
    BTI_C
    stp x29, x30, [sp, #-160]!
    stp x19, x20, [sp, #16]
    stp x21, x22, [sp, #32]
    stp x23, x24, [sp, #48]
    stp x25, x26, [sp, #64]
    stp x27, x28, [sp, #80]
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    mov x9, #0xdead
    mov x19, x9
    mov x20, x9
    mov x21, x9
    mov x22, x9
    mov x23, x9
    mov x24, x9
    mov x25, x9
    mov x26, x9
    mov x27, x9
    mov x28, x9
    fmov d8, #-1.0
    fmov d9, d8
    fmov d10, d8
    fmov d11, d8
    fmov d12, d8
    fmov d13, d8
    fmov d14, d8
    fmov d15, d8
    bl weft__ctx_switch
    ldp x19, x20, [sp, #16]
    ldp x21, x22, [sp, #32]
    ldp x23, x24, [sp, #48]
    ldp x25, x26, [sp, #64]
    ldp x27, x28, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    ldp x29, x30, [sp], #160
    ret
    .size regs_clobber_and_switch, .-regs_clobber_and_switch

    .section .note.GNU-stack,"",%progbits

/* Keep the binary's BTI/PAC marking so that qemu enforces BTI. */
#if defined(__ARM_FEATURE_BTI_DEFAULT)
    .section .note.gnu.property,"a"
    .p2align 3
    .long 4
    .long 16
    .long 5
    .asciz "GNU"
    .long 0xc0000000
    .long 4
    .long 3
    .long 0
#endif
