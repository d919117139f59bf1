/* First frame of a new context on aarch64; see switch.S for its layout. */
#include "arch/context.h"

#include <stdint.h>
#include <string.h>

void weft__ctx_trampoline(void);

void weft__ctx_make(struct weft__ctx *ctx, void *stack_lo, size_t size,
                    void (*entry)(void *), void *arg)
{
    uintptr_t top = ((uintptr_t)stack_lo + size) & ~(uintptr_t)15;
    uint64_t *frame = (uint64_t *)(top - 176);

    memset(frame, 0, 176); /* zero x21-x29, d8-d15 and FPCR (the default) */
    frame[0] = (uint64_t)(uintptr_t)arg;    /* x19 */
    frame[1] = (uint64_t)(uintptr_t)entry;  /* x20 */
    frame[11] = (uint64_t)(uintptr_t)weft__ctx_trampoline; /* x30 */
    ctx->sp = frame;
}
