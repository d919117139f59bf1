/* First frame of a new context on x86_64; see switch.S for its layout. */
#include "arch/context.h"

#include <stdint.h>
#include <string.h>

void weft__ctx_trampoline(void);

/* The ABI's initial control words: all exceptions masked, round to nearest,
 * and for x87 double-extended precision. */
#define WEFT__MXCSR_DEFAULT 0x1f80u
#define WEFT__X87_CW_DEFAULT 0x037fu

void weft__ctx_make(struct weft__ctx *ctx, void *stack_lo, size_t size,
                    void (*entry)(void *), void *arg)
{
    uintptr_t top = ((uintptr_t)stack_lo + size) & ~(uintptr_t)15;
    uint64_t *frame = (uint64_t *)(top - 64);

    frame[0] = WEFT__MXCSR_DEFAULT | ((uint64_t)WEFT__X87_CW_DEFAULT << 32);
    frame[1] = 0;                         /* r15 */
    frame[2] = 0;                         /* r14 */
    frame[3] = (uint64_t)(uintptr_t)entry; /* r13 */
    frame[4] = (uint64_t)(uintptr_t)arg;   /* r12 */
    frame[5] = 0;                         /* rbx */
    frame[6] = 0;                         /* rbp: ends frame-pointer walks */
    frame[7] = (uint64_t)(uintptr_t)weft__ctx_trampoline;
    ctx->sp = frame;
}
