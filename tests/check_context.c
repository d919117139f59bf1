/* The context switch itself: entry, round trips, stack alignment, and the
 * registers and floating-point control words the ABI says survive. */
#include "config.h" /* first: _GNU_SOURCE */

#include <fenv.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>

#include "arch/context.h"
#include "testutil.h"

#ifdef WEFT__ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef WEFT__TSAN
#include <sanitizer/tsan_interface.h>
#endif

#define CO_STACK (256 << 10)

/* One coroutine plus the test's own context, with what the sanitizers
 * need to follow the switches. */
struct co {
    struct weft__ctx ctx;
    void *stack;
    size_t size;
    void *tsan_fiber;
    void *asan_fake;
};

static struct co main_co, side_co;

/* Tell the sanitizers which stack is about to run, and that we are back. */
static void co_leaving(struct co *from, struct co *to)
{
#ifdef WEFT__TSAN
    __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
#ifdef WEFT__ASAN
    __sanitizer_start_switch_fiber(&from->asan_fake, to->stack, to->size);
#endif
    (void)from;
    (void)to;
}

static void co_back(struct co *self)
{
#ifdef WEFT__ASAN
    __sanitizer_finish_switch_fiber(self->asan_fake, NULL, NULL);
#endif
    (void)self;
}

static void co_switch(struct co *from, struct co *to)
{
    co_leaving(from, to);
    weft__ctx_switch(&from->ctx, &to->ctx);
    co_back(from);
}

static void co_start(struct co *co, void (*entry)(void *), void *arg)
{
    /* The test's own context runs on the thread's stack. */
    pthread_attr_t attr;
    ck_assert_int_eq(pthread_getattr_np(pthread_self(), &attr), 0);
    pthread_attr_getstack(&attr, &main_co.stack, &main_co.size);
    pthread_attr_destroy(&attr);
    co->size = CO_STACK;
    co->stack = mmap(NULL, CO_STACK, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    ck_assert_ptr_ne(co->stack, MAP_FAILED);
    weft__ctx_make(&co->ctx, co->stack, CO_STACK, entry, arg);
#ifdef WEFT__TSAN
    co->tsan_fiber = __tsan_create_fiber(0);
    main_co.tsan_fiber = __tsan_get_current_fiber();
#endif
}

static void co_entered(void)
{
#ifdef WEFT__ASAN
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
}

static void co_stop(struct co *co)
{
#ifdef WEFT__TSAN
    __tsan_destroy_fiber(co->tsan_fiber);
#endif
    munmap(co->stack, CO_STACK);
}

/* --- round trips --------------------------------------------------------- */

static long counter;

static void count_forever(void *arg)
{
    long step = (long)(intptr_t)arg;
    co_entered();
    for (;;) {
        counter += step;
        co_switch(&side_co, &main_co);
    }
}

START_TEST(test_round_trips_pass_control_and_arg)
{
    counter = 0;
    co_start(&side_co, count_forever, (void *)3);
    for (int i = 0; i < 100000; i++) {
        co_switch(&main_co, &side_co);
        ck_assert_int_eq(counter, 3L * (i + 1));
    }
    co_stop(&side_co);
}
END_TEST

/* --- stack alignment at entry -------------------------------------------- */

static uintptr_t entry_frame;

static void note_frame(void *arg)
{
    (void)arg;
    co_entered();
    entry_frame = (uintptr_t)__builtin_frame_address(0);
    co_switch(&side_co, &main_co);
}

START_TEST(test_entry_frame_is_16_byte_aligned)
{
    co_start(&side_co, note_frame, NULL);
    co_switch(&main_co, &side_co);
    ck_assert_uint_eq(entry_frame % 16, 0);
    ck_assert_uint_gt(entry_frame, (uintptr_t)side_co.stack);
    ck_assert_uint_lt(entry_frame, (uintptr_t)side_co.stack + CO_STACK);
    co_stop(&side_co);
}
END_TEST

/* --- floating-point control words ---------------------------------------- */

static int side_round_seen;

static void round_upward(void *arg)
{
    (void)arg;
    co_entered();
    /* A new context starts with the ABI default. */
    side_round_seen = fegetround();
    fesetround(FE_UPWARD);
    co_switch(&side_co, &main_co);
    side_round_seen = fegetround();
    co_switch(&side_co, &main_co);
}

START_TEST(test_rounding_mode_is_per_context)
{
    fesetround(FE_DOWNWARD);
    co_start(&side_co, round_upward, NULL);
    co_switch(&main_co, &side_co);
    ck_assert_int_eq(side_round_seen, FE_TONEAREST);
    ck_assert_int_eq(fegetround(), FE_DOWNWARD);
    co_switch(&main_co, &side_co);
    ck_assert_int_eq(side_round_seen, FE_UPWARD);
    ck_assert_int_eq(fegetround(), FE_DOWNWARD);
    fesetround(FE_TONEAREST);
    co_stop(&side_co);
}
END_TEST

#if defined(__x86_64__)
static uint16_t side_x87_cw;

static void x87_single_precision(void *arg)
{
    uint16_t cw;
    (void)arg;
    co_entered();
    __asm__ volatile("fnstcw %0" : "=m"(cw));
    side_x87_cw = cw;
    cw = (uint16_t)(cw & ~0x0300u); /* precision control: single */
    __asm__ volatile("fldcw %0" : : "m"(cw));
    co_switch(&side_co, &main_co);
    co_switch(&side_co, &main_co);
}

START_TEST(test_x87_control_word_is_per_context)
{
    uint16_t before, after;
    __asm__ volatile("fnstcw %0" : "=m"(before));
    co_start(&side_co, x87_single_precision, NULL);
    co_switch(&main_co, &side_co);
    __asm__ volatile("fnstcw %0" : "=m"(after));
    ck_assert_uint_eq(side_x87_cw, 0x037f); /* the ABI default */
    ck_assert_uint_eq(after, before);
    co_stop(&side_co);
}
END_TEST
#endif

/* --- callee-saved registers ---------------------------------------------- */

#if defined(__x86_64__) && !defined(WEFT_CONTEXT_UCONTEXT)
void regs_switch_known(uint64_t out[6], struct weft__ctx *from,
                       struct weft__ctx *to);
void regs_clobber_and_switch(struct weft__ctx *from, struct weft__ctx *to);

static void clobber_forever(void *arg)
{
    (void)arg;
    co_entered();
    for (;;) {
        co_leaving(&side_co, &main_co);
        regs_clobber_and_switch(&side_co.ctx, &main_co.ctx);
        co_back(&side_co);
    }
}

START_TEST(test_callee_saved_registers_survive)
{
    uint64_t regs[6];
    co_start(&side_co, clobber_forever, NULL);
    for (int round = 0; round < 3; round++) {
        co_leaving(&main_co, &side_co);
        regs_switch_known(regs, &main_co.ctx, &side_co.ctx);
        co_back(&main_co);
        ck_assert_uint_eq(regs[0], 0x1111111111111111ull);
        ck_assert_uint_eq(regs[1], 0x2222222222222222ull);
        ck_assert_uint_eq(regs[2], 0x3333333333333333ull);
        ck_assert_uint_eq(regs[3], 0x4444444444444444ull);
        ck_assert_uint_eq(regs[4], 0x5555555555555555ull);
        ck_assert_uint_eq(regs[5], 0x6666666666666666ull);
    }
    co_stop(&side_co);
}
END_TEST
#endif

/* Live values the compiler keeps in callee-saved registers across a
 * switch survive, on every backend. */
static void busy_side(void *arg)
{
    (void)arg;
    co_entered();
    for (;;) {
        volatile double sink = 0;
        (void)sink;
        for (int i = 0; i < 16; i++)
            sink += i * 1.5;
        co_switch(&side_co, &main_co);
    }
}

START_TEST(test_live_values_survive_on_any_backend)
{
    uint64_t a = 1, b = 2, c = 3, d = 5, e = 8, f = 13;
    double x = 0.5, y = 0.25;
    co_start(&side_co, busy_side, NULL);
    for (int i = 0; i < 1000; i++) {
        co_switch(&main_co, &side_co);
        a += b; b += c; c += d; d += e; e += f; f += a;
        x *= 1.0001; y += x;
    }
    /* Same arithmetic without switches. */
    uint64_t a2 = 1, b2 = 2, c2 = 3, d2 = 5, e2 = 8, f2 = 13;
    double x2 = 0.5, y2 = 0.25;
    for (int i = 0; i < 1000; i++) {
        __asm__ volatile("" ::: "memory");
        a2 += b2; b2 += c2; c2 += d2; d2 += e2; e2 += f2; f2 += a2;
        x2 *= 1.0001; y2 += x2;
    }
    ck_assert_uint_eq(a, a2);
    ck_assert_uint_eq(f, f2);
    ck_assert(x == x2 && y == y2);
    co_stop(&side_co);
}
END_TEST

static Suite *context_suite(void)
{
    Suite *s = suite_create("context");
    TCase *tc = tcase_create("context");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_round_trips_pass_control_and_arg);
    tcase_add_test(tc, test_entry_frame_is_16_byte_aligned);
    tcase_add_test(tc, test_rounding_mode_is_per_context);
#if defined(__x86_64__)
    tcase_add_test(tc, test_x87_control_word_is_per_context);
#endif
#if defined(__x86_64__) && !defined(WEFT_CONTEXT_UCONTEXT)
    tcase_add_test(tc, test_callee_saved_registers_survive);
#endif
    tcase_add_test(tc, test_live_values_survive_on_any_backend);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(context_suite)
