/* The replaceable allocator: validation, balance, and out-of-memory at
 * every allocation weft makes in a small program. */
#include <errno.h>
#include <stdint.h>

#include "testutil.h"

/* A counting allocator that fails once its budget is spent. */
static long budget = -1; /* allocations left; -1: unlimited */
static long live;        /* outstanding allocations */
static long made;

/* Called from every worker thread at once: atomics throughout. */
static int spend(void)
{
    long b = __atomic_load_n(&budget, __ATOMIC_RELAXED);
    for (;;) {
        if (b == 0)
            return 0;
        if (b < 0 || __atomic_compare_exchange_n(&budget, &b, b - 1, 0,
                                                 __ATOMIC_RELAXED,
                                                 __ATOMIC_RELAXED))
            break;
    }
    COUNT(made);
    COUNT(live);
    return 1;
}

static void *counting_malloc(size_t n)
{
    return spend() ? malloc(n) : NULL;
}

static void *counting_calloc(size_t n, size_t size)
{
    return spend() ? calloc(n, size) : NULL;
}

static void *counting_realloc(void *p, size_t n)
{
    if (p == NULL)
        return counting_malloc(n);
    return __atomic_load_n(&budget, __ATOMIC_RELAXED) == 0 ? NULL : realloc(p, n);
}

static void counting_free(void *p)
{
    if (p != NULL)
        __atomic_fetch_sub(&live, 1, __ATOMIC_RELAXED);
    free(p);
}

static void use_counting_allocator(void)
{
    ck_assert_int_eq(weft_replace_allocator(counting_malloc, counting_realloc,
                                            counting_calloc, counting_free),
                     0);
}

START_TEST(test_replace_rejects_null)
{
    ck_assert_int_eq(weft_replace_allocator(NULL, realloc, calloc, free), -EINVAL);
    ck_assert_int_eq(weft_replace_allocator(malloc, NULL, calloc, free), -EINVAL);
    ck_assert_int_eq(weft_replace_allocator(malloc, realloc, NULL, free), -EINVAL);
    ck_assert_int_eq(weft_replace_allocator(malloc, realloc, calloc, NULL), -EINVAL);
}
END_TEST

static void *try_replace_main(void *arg)
{
    (void)arg;
    ck_assert_int_eq(weft_replace_allocator(malloc, realloc, calloc, free), -EBUSY);
    return NULL;
}

START_TEST(test_replace_while_running_is_busy)
{
    ck_assert_int_eq(run_clean(try_replace_main, NULL), 0);
}
END_TEST

/* A small program touching every allocation weft makes: named tasks, a
 * failure message, lazily formatted names, sleeps. */
static void *child(void *arg)
{
    weft_sleep(1);
    if (arg != NULL)
        return weft_fail(WEFT_EIO, "child %s failed", (const char *)arg);
    return NULL;
}

static void *program(void *arg)
{
    weft_task *t[3] = { 0 };
    int rc;
    (void)arg;
    rc = weft_spawn_ex(&t[0], child, NULL, &(weft_spawn_opts){ .name = "a" });
    if (rc < 0)
        return weft_fail(rc, "spawn a");
    rc = weft_spawn(&t[1], child, "b");
    if (rc == 0)
        rc = weft_spawn(&t[2], child, NULL);
    for (int i = 0; i < 3; i++) {
        if (t[i] == NULL)
            continue;
        int err = weft_await(t[i], NULL);
        /* Either the planned failure, or a stack that could not be had. */
        ck_assert(err == 0 || err == WEFT_EIO || err == WEFT_ENOMEM);
        (void)weft_task_name(t[i]);
        weft_task_unref(t[i]);
    }
    return rc < 0 ? weft_fail(rc, "spawn") : NULL;
}

START_TEST(test_every_allocation_failure_is_an_error_not_a_crash)
{
    use_counting_allocator();
    /* Find how many allocations a clean run makes. */
    budget = -1;
    made = live = 0;
    ck_assert_int_eq(run_clean(program, NULL), 0);
    ck_assert_int_eq(live, 0);
    long needed = made;
    ck_assert_int_gt(needed, 3);
    /* Fail each allocation in turn: an error comes back, nothing leaks. */
    for (long k = 0; k < needed; k++) {
        budget = k;
        live = 0;
        int rc = run_clean(program, NULL);
        ck_assert_msg(rc == 0 || rc == -ENOMEM,
                      "budget %ld: weft_run returned %d", k, rc);
        ck_assert_msg(live == 0, "budget %ld: %ld allocations leaked", k, live);
    }
    budget = -1;
    ck_assert_int_eq(weft_replace_allocator(malloc, realloc, calloc, free), 0);
}
END_TEST

static Suite *alloc_suite(void)
{
    Suite *s = suite_create("alloc");
    TCase *tc = tcase_create("alloc");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_replace_rejects_null);
    tcase_add_test(tc, test_replace_while_running_is_busy);
    tcase_add_test(tc, test_every_allocation_failure_is_an_error_not_a_crash);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(alloc_suite)
