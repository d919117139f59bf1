/* A self-contained test of one architecture's context switch, for running
 * a cross-built binary under qemu-user where the rest of weft (libevent,
 * concurrencykit, Check) is not built: tests/arch/cross-test.sh.
 * The same checks as tests/check_context.c, plus register preservation. */
#include <fenv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "arch/context.h"

/* context.h asserts through this; the library's lives in diag.c. */
void weft__assert_fail(const char *expr, const char *file, int line,
                       const char *func)
{
    fprintf(stderr, "%s:%d: %s: assertion '%s' failed\n", file, line, func,
            expr);
    abort();
}

#define STACK (256 << 10)
#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);   \
            exit(1);                                                          \
        }                                                                     \
        checks++;                                                             \
    } while (0)

static int checks;
static struct weft__ctx main_ctx, side_ctx;
static long counter;
static uintptr_t entry_frame;
static int side_round;

static void *new_stack(void)
{
    void *p = mmap(NULL, STACK, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    CHECK(p != MAP_FAILED);
    return p;
}

static void count_forever(void *arg)
{
    entry_frame = (uintptr_t)__builtin_frame_address(0);
    for (;;) {
        counter += (long)(intptr_t)arg;
        weft__ctx_switch(&side_ctx, &main_ctx);
    }
}

static void rounding(void *arg)
{
    (void)arg;
    side_round = fegetround();
    fesetround(FE_UPWARD);
    weft__ctx_switch(&side_ctx, &main_ctx);
    side_round = fegetround();
    weft__ctx_switch(&side_ctx, &main_ctx);
}

void regs_switch_known(uint64_t out[19], struct weft__ctx *from,
                       struct weft__ctx *to);
void regs_clobber_and_switch(struct weft__ctx *from, struct weft__ctx *to);

static void clobber_forever(void *arg)
{
    (void)arg;
    for (;;)
        regs_clobber_and_switch(&side_ctx, &main_ctx);
}

int main(void)
{
    void *stack = new_stack();

    /* Round trips carry control and the entry argument. */
    weft__ctx_make(&side_ctx, stack, STACK, count_forever, (void *)3);
    for (int i = 0; i < 100000; i++) {
        weft__ctx_switch(&main_ctx, &side_ctx);
        CHECK(counter == 3L * (i + 1));
    }
    CHECK(entry_frame % 16 == 0);
    CHECK(entry_frame > (uintptr_t)stack && entry_frame < (uintptr_t)stack + STACK);

    /* Floating-point modes are per context; a new one starts at default. */
    fesetround(FE_DOWNWARD);
    weft__ctx_make(&side_ctx, stack, STACK, rounding, NULL);
    weft__ctx_switch(&main_ctx, &side_ctx);
    CHECK(side_round == FE_TONEAREST);
    CHECK(fegetround() == FE_DOWNWARD);
    weft__ctx_switch(&main_ctx, &side_ctx);
    CHECK(side_round == FE_UPWARD);
    CHECK(fegetround() == FE_DOWNWARD);
    fesetround(FE_TONEAREST);

    /* Every callee-saved register survives the other side's clobbering. */
    uint64_t regs[19];
    weft__ctx_make(&side_ctx, stack, STACK, clobber_forever, NULL);
    for (int round = 0; round < 3; round++) {
        regs_switch_known(regs, &main_ctx, &side_ctx);
        for (int r = 0; r < 11; r++)
            CHECK(regs[r] == (uint64_t)(19 + r));
        for (int d = 0; d < 8; d++) {
            double v;
            __builtin_memcpy(&v, &regs[11 + d], sizeof v);
            CHECK(v == 8.0 + d);
        }
    }
    munmap(stack, STACK);
    printf("switch_test: %d checks passed\n", checks);
    return 0;
}
