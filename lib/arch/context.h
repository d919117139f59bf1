/* Machine contexts: the few registers a coroutine switch must keep.
 *
 * One backend per architecture lives in lib/arch/<arch>/ (a switch in
 * assembly and a C function that builds the first frame); lib/arch/ucontext
 * is the portable fallback, chosen by configure where there is no assembly
 * or when --with-context=ucontext forces it.
 */
#ifndef WEFT_ARCH_CONTEXT_H
#define WEFT_ARCH_CONTEXT_H

#include <stddef.h>

#include "core/internal.h"

#ifdef WEFT_CONTEXT_UCONTEXT
#include <ucontext.h>
struct weft__ctx {
    ucontext_t uc;
};
#else
struct weft__ctx {
    void *sp; /* saved stack pointer; the registers are on that stack */
};
#endif

/* The stack pointer saved in ctx, below which nothing of the switched-out
 * context is live; NULL where it cannot be told. */
static inline void *weft__ctx_sp(const struct weft__ctx *ctx)
{
#ifndef WEFT_CONTEXT_UCONTEXT
    return ctx->sp;
#elif defined(__x86_64__)
    return (void *)ctx->uc.uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    return (void *)ctx->uc.uc_mcontext.sp;
#else
    (void)ctx;
    return NULL;
#endif
}

/* Prepares ctx so that switching to it calls entry(arg) on the stack
 * [stack_lo, stack_lo + size). entry must never return. */
void weft__ctx_make(struct weft__ctx *ctx, void *stack_lo, size_t size,
                    void (*entry)(void *), void *arg);

/* Saves the caller's callee-saved registers and floating-point control
 * words in from and resumes to. Returns when something switches back. */
void weft__ctx_switch(struct weft__ctx *from, struct weft__ctx *to);

#endif /* WEFT_ARCH_CONTEXT_H */
