/* The portable context backend: makecontext and swapcontext.
 *
 * About fifteen times slower than the assembly (swapcontext saves the
 * signal mask with a system call on every switch), but it runs wherever
 * libc has ucontext. configure picks it for architectures without assembly
 * and when --with-context=ucontext forces it.
 */
#include "arch/context.h"

#include <fenv.h>
#include <stdint.h>

/* makecontext passes int arguments only, so each pointer travels as two
 * 32-bit halves. */
static void ucontext_entry(unsigned entry_hi, unsigned entry_lo,
                           unsigned arg_hi, unsigned arg_lo)
{
    uintptr_t entry_bits = ((uint64_t)entry_hi << 32) | entry_lo;
    uintptr_t arg_bits = ((uint64_t)arg_hi << 32) | arg_lo;
    void (*entry)(void *);

    /* POSIX guarantees that a function pointer survives the round trip
     * through an integer of pointer width. */
    entry = (void (*)(void *))entry_bits;
    /* getcontext captured the creator's floating-point modes; start from
     * the defaults, as the assembly backends do. */
    fesetenv(FE_DFL_ENV);
    entry((void *)arg_bits);
    WEFT__ASSERT(!"context entry returned");
}

void weft__ctx_make(struct weft__ctx *ctx, void *stack_lo, size_t size,
                    void (*entry)(void *), void *arg)
{
    uint64_t e = (uint64_t)(uintptr_t)entry;
    uint64_t a = (uint64_t)(uintptr_t)arg;

    /* getcontext fails only on invalid arguments. */
    int rc = getcontext(&ctx->uc);
    WEFT__ASSERT(rc == 0);
    ctx->uc.uc_stack.ss_sp = stack_lo;
    ctx->uc.uc_stack.ss_size = size;
    ctx->uc.uc_link = NULL;
    makecontext(&ctx->uc, (void (*)(void))ucontext_entry, 4,
                (unsigned)(e >> 32), (unsigned)e, (unsigned)(a >> 32),
                (unsigned)a);
}

void weft__ctx_switch(struct weft__ctx *from, struct weft__ctx *to)
{
    int rc = swapcontext(&from->uc, &to->uc);
    WEFT__ASSERT(rc == 0);
}
