/* Compact tasks (WEFT_SPAWN_COMPACT): their stacks' bytes survive each
 * sleep wherever they wake, their memory goes while they sleep, and a
 * pointer into a sleeping one's stack is reported in debug mode. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__)
#define COMPACTS 0 /* off under ASan (doc/scheduler.md) */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COMPACTS 0
#endif
#endif
#ifndef COMPACTS
#define COMPACTS 1
#endif
/* ThreadSanitizer's shadow memory swamps the resident set, as ASan's
 * allocator and shadow do. */
#if defined(__SANITIZE_THREAD__)
#define RSS_TELLS 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RSS_TELLS 0
#endif
#endif
#ifndef RSS_TELLS
#define RSS_TELLS COMPACTS
#endif

/* --- the stack's bytes come back --------------------------------------- */

#define SLEEPERS 2000
#define ROUNDS 3

struct node {
    struct node *next; /* into the same stack */
    uint32_t value;
};

static uint32_t bad, woke;

/* Fills a frame bigger than a page with bytes and pointers of its own,
 * sleeps, and checks them, ROUNDS times, yielding between rounds so that
 * it may move to another worker. */
static void *keeper(void *arg)
{
    uint32_t seed = (uint32_t)(uintptr_t)arg;
    volatile unsigned char bytes[5000];
    struct node chain[16];

    for (int round = 0; round < ROUNDS; round++) {
        for (size_t i = 0; i < sizeof bytes; i++)
            bytes[i] = (unsigned char)(seed * 31 + i + (unsigned)round);
        for (int i = 0; i < 16; i++) {
            chain[i].next = i < 15 ? &chain[i + 1] : NULL;
            chain[i].value = seed ^ (uint32_t)i;
        }
        int rc = weft_sleep(1 + (int64_t)(seed % 7));
        if (rc != 0)
            __atomic_fetch_add(&bad, 1, __ATOMIC_RELAXED);
        for (size_t i = 0; i < sizeof bytes; i++) {
            if (bytes[i] != (unsigned char)(seed * 31 + i + (unsigned)round)) {
                __atomic_fetch_add(&bad, 1, __ATOMIC_RELAXED);
                break;
            }
        }
        int n = 0;
        for (struct node *p = &chain[0]; p != NULL; p = p->next, n++) {
            if (p->value != (seed ^ (uint32_t)n))
                __atomic_fetch_add(&bad, 1, __ATOMIC_RELAXED);
        }
        if (n != 16)
            __atomic_fetch_add(&bad, 1, __ATOMIC_RELAXED);
        weft_yield();
    }
    __atomic_fetch_add(&woke, 1, __ATOMIC_RELAXED);
    return NULL;
}

static void *keepers_main(void *arg)
{
    static weft_task *t[SLEEPERS];
    weft_spawn_opts opts = { .flags = WEFT_SPAWN_COMPACT };

    (void)arg;
    for (int i = 0; i < SLEEPERS; i++)
        ck_assert_int_eq(weft_spawn_ex(&t[i], keeper, (void *)(uintptr_t)i,
                                       &opts), 0);
    for (int i = 0; i < SLEEPERS; i++) {
        ck_assert_int_eq(weft_await(t[i], NULL), 0);
        weft_task_unref(t[i]);
    }
    return NULL;
}

START_TEST(test_compact_tasks_keep_their_stacks)
{
    bad = woke = 0;
    ck_assert_int_eq(run_on(0, keepers_main, NULL), 0);
    ck_assert_uint_eq(woke, SLEEPERS);
    ck_assert_uint_eq(bad, 0);
}
END_TEST

/* --- memory, cancellation, scopes ---------------------------------------- */

#define NAPPERS 4000

static uint32_t asleep, cancelled, intact;

static long rss_kib(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Sleeps until cancelled, then checks its frame. */
static void *napper(void *arg)
{
    volatile unsigned char frame[600];
    unsigned char v = (unsigned char)(uintptr_t)arg;

    memset((void *)frame, v, sizeof frame);
    __atomic_fetch_add(&asleep, 1, __ATOMIC_RELEASE);
    if (weft_sleep(600000) == -ECANCELED)
        __atomic_fetch_add(&cancelled, 1, __ATOMIC_RELAXED);
    for (size_t i = 0; i < sizeof frame; i++) {
        if (frame[i] != v)
            return NULL;
    }
    __atomic_fetch_add(&intact, 1, __ATOMIC_RELAXED);
    return NULL;
}

/* The resident memory NAPPERS sleeping tasks add, in bytes per task. */
static long nap_cost(unsigned flags)
{
    static weft_task *t[NAPPERS];
    weft_spawn_opts opts = { .flags = flags };

    asleep = cancelled = intact = 0;
    long before = rss_kib();
    for (int i = 0; i < NAPPERS; i++)
        ck_assert_int_eq(weft_spawn_ex(&t[i], napper, (void *)(uintptr_t)i,
                                       &opts), 0);
    /* Every one has run up to its sleep; one more round lets the last
     * ones get off their stacks. */
    while (__atomic_load_n(&asleep, __ATOMIC_ACQUIRE) < NAPPERS)
        weft_sleep(1);
    weft_sleep(20);
    long during = rss_kib();
    for (int i = 0; i < NAPPERS; i++)
        weft_cancel(t[i]);
    for (int i = 0; i < NAPPERS; i++) {
        /* A task that was cancelled counts as cancelled, even if it
         * returned. */
        ck_assert_int_eq(weft_await(t[i], NULL), -ECANCELED);
        weft_task_unref(t[i]);
    }
    ck_assert_uint_eq(cancelled, NAPPERS);
    ck_assert_uint_eq(intact, NAPPERS);
    return (during - before) * 1024 / NAPPERS;
}

static void *memory_main(void *arg)
{
    long *cost = arg;

    /* Compact first: the stacks of the other run would stay resident in
     * the caches, and the compact run would reuse and drop them. */
    cost[1] = nap_cost(WEFT_SPAWN_COMPACT);
    cost[0] = nap_cost(0);
    return NULL;
}

START_TEST(test_compact_sleepers_give_their_pages_back)
{
    long cost[2];

    ck_assert_int_eq(run_on(2, memory_main, cost), 0);
    fprintf(stderr, "bytes per sleeping task: %ld, compact %ld\n", cost[0],
            cost[1]);
    /* A page each at least, against a copy of what is in use: about
     * 1.5 KiB here with the assembly switch, 2.5 KiB with ucontext's.
     * Less the top pages of stacks carved ahead (lib/sched/stack.c,
     * carve_more), resident before the count began: up to 31 a worker. */
    if (RSS_TELLS) {
        ck_assert_int_ge(cost[0], 4096 - 2 * 31 * 4096 / NAPPERS);
        ck_assert_int_lt(cost[1] * 4, cost[0] * 3);
    }
}
END_TEST

/* In a timeout scope the deadline's timer is on the stack, which then
 * stays: the sleep still ends at the deadline, and the frame is intact. */
static void *scoped(void *arg)
{
    weft_scope scope;
    volatile char frame[300];

    (void)arg;
    memset((void *)frame, 7, sizeof frame);
    ck_assert_int_eq(weft_timeout_enter(&scope, 5), 0);
    ck_assert_int_eq(weft_sleep(60000), -ETIMEDOUT);
    ck_assert_int_eq(weft_scope_leave(&scope), 1);
    for (size_t i = 0; i < sizeof frame; i++)
        ck_assert_int_eq(frame[i], 7);
    return NULL;
}

static void *scoped_main(void *arg)
{
    weft_task *t;
    weft_spawn_opts opts = { .flags = WEFT_SPAWN_COMPACT };

    (void)arg;
    ck_assert_int_eq(weft_spawn_ex(&t, scoped, NULL, &opts), 0);
    ck_assert_int_eq(weft_await(t, NULL), 0);
    weft_task_unref(t);
    /* An unknown flag is refused. */
    ck_assert_int_eq(weft_spawn_ex(&t, scoped, NULL,
                                   &(weft_spawn_opts){ .flags = 0x80 }),
                     -EINVAL);
    return NULL;
}

START_TEST(test_compact_sleep_in_a_timeout_scope)
{
    ck_assert_int_eq(run_on(0, scoped_main, NULL), 0);
}
END_TEST

/* --- a pointer into a sleeping compact task's stack, in debug mode ----- */

static volatile int *shared_slot;

static void *sleepy(void *arg)
{
    volatile int local = 42;

    (void)arg;
    __atomic_store_n(&shared_slot, &local, __ATOMIC_RELEASE);
    weft_sleep(30000);
    return NULL;
}

/* Reads through the pointer until the read faults: once sleepy is off
 * its stack, its pages are inaccessible. */
static void *prober(void *arg)
{
    volatile int *p;
    long sum = 0;

    (void)arg;
    while ((p = __atomic_load_n(&shared_slot, __ATOMIC_ACQUIRE)) == NULL)
        weft_sleep(1);
    for (int i = 0; i < 10000; i++) {
        sum += *p;
        weft_sleep(1);
    }
    return (void *)(intptr_t)sum; /* never reached when it works */
}

static void *violation_main(void *arg)
{
    weft_task *a, *b;

    (void)arg;
    weft_spawn_ex(&a, sleepy, NULL,
                  &(weft_spawn_opts){ .name = "sleepy",
                                      .flags = WEFT_SPAWN_COMPACT });
    weft_spawn_ex(&b, prober, NULL, &(weft_spawn_opts){ .name = "prober" });
    weft_await(b, NULL);
    weft_cancel(a);
    weft_await(a, NULL);
    return NULL;
}

START_TEST(test_debug_mode_reports_a_pointer_into_a_compact_stack)
{
    weft_run_opts opts = { .workers = 2, .debug = 1,
                           .slow_task_ms = WEFT_SLOW_TASK_OFF };
    struct outcome o;

    if (!COMPACTS)
        return;
    run_in_child(violation_main, &opts, &o);
    ck_assert_msg(o.signal == SIGABRT, "child did not abort; stderr: %s",
                  o.err);
    ck_assert_msg(strstr(o.err, "stack of compact task 'sleepy' was used "
                                "while it slept, by task 'prober'") != NULL,
                  "stderr: %s", o.err);
}
END_TEST

static Suite *compact_suite(void)
{
    Suite *s = suite_create("compact");
    TCase *tc = tcase_create("compact");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_compact_tasks_keep_their_stacks);
    tcase_add_test(tc, test_compact_sleepers_give_their_pages_back);
    tcase_add_test(tc, test_compact_sleep_in_a_timeout_scope);
    tcase_add_test(tc, test_debug_mode_reports_a_pointer_into_a_compact_stack);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(compact_suite)
