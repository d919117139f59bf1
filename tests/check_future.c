/* Futures: completion from tasks, plain threads and callbacks, exactly
 * once; awaiting with a timeout; cancellation both ways. */
#include <errno.h>
#include <stdint.h>

#include "testutil.h"

#define VALUE(n) ((void *)(intptr_t)(n))

/* --- completion and the outcome ------------------------------------------ */

static void *set_later(void *arg)
{
    weft_future *f = arg;
    weft_yield();
    CHECK(weft_future_set_result(f, VALUE(7)) == 0);
    weft_future_unref(f);
    return NULL;
}

static void *result_main(void *arg)
{
    weft_future *f;
    void *v = VALUE(1);
    (void)arg;
    ck_assert_int_eq(weft_future_create(&f), 0);
    ck_assert_int_eq(weft_future_is_done(f), 0);
    ck_assert_int_eq(weft_future_result(f, &v), -EINPROGRESS);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(weft_spawn(NULL, set_later, weft_future_ref(f)), 0);
    ck_assert_int_eq(weft_future_await(f, &v, WEFT_FOREVER), 0);
    ck_assert_ptr_eq(v, VALUE(7));
    ck_assert_int_eq(weft_future_is_done(f), 1);
    /* Completed once: the outcome stays, later completions are refused. */
    ck_assert_int_eq(weft_future_result(f, &v), 0);
    ck_assert_ptr_eq(v, VALUE(7));
    ck_assert_int_eq(weft_future_await(f, &v, 0), 0);
    ck_assert_ptr_eq(v, VALUE(7));
    ck_assert_int_eq(weft_future_set_result(f, VALUE(8)), -EALREADY);
    ck_assert_int_eq(weft_future_set_error(f, WEFT_EIO), -EALREADY);
    ck_assert_int_eq(weft_future_cancel(f), -EALREADY);
    weft_future_unref(f);
    return NULL;
}

START_TEST(test_result_reaches_the_awaiter_once)
{
    ck_assert_int_eq(run_on(2, result_main, NULL), 0);
}
END_TEST

static void *error_main(void *arg)
{
    weft_future *f;
    void *v = VALUE(1);
    (void)arg;
    ck_assert_int_eq(weft_future_create(&f), 0);
    ck_assert_int_eq(weft_future_set_error(f, 5), -EINVAL); /* not < 0 */
    ck_assert_int_eq(weft_future_set_error(f, WEFT_ECONNRESET), 0);
    ck_assert_int_eq(weft_future_await(f, &v, WEFT_FOREVER), WEFT_ECONNRESET);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(weft_future_result(f, &v), WEFT_ECONNRESET);
    ck_assert_int_eq(weft_future_set_result(f, VALUE(1)), -EALREADY);
    weft_future_unref(f);
    return NULL;
}

START_TEST(test_error_reaches_the_awaiter)
{
    ck_assert_int_eq(run_on(1, error_main, NULL), 0);
}
END_TEST

/* --- many awaiters, any completer ----------------------------------------- */

#define AWAITERS 32

struct many {
    weft_future *f;
    int got;        /* atomic: awaiters that saw the value */
};

static void *await_value(void *arg)
{
    struct many *m = arg;
    void *v;
    CHECK(weft_future_await(m->f, &v, WEFT_FOREVER) == 0);
    CHECK(v == VALUE(99));
    COUNT(m->got);
    return NULL;
}

static void *complete_from_thread(void *arg)
{
    struct many *m = arg;
    CHECK(weft_future_set_result(m->f, VALUE(99)) == 0);
    return NULL;
}

static void *many_main(void *arg)
{
    struct many *m = arg;
    weft_task *t[AWAITERS];
    struct test_thread th;
    ck_assert_int_eq(weft_future_create(&m->f), 0);
    for (int i = 0; i < AWAITERS; i++)
        ck_assert_int_eq(weft_spawn(&t[i], await_value, m), 0);
    /* Completed by a plain thread, while the awaiters wait or not yet. */
    test_thread_start(&th, complete_from_thread, m);
    for (int i = 0; i < AWAITERS; i++) {
        ck_assert_int_eq(weft_await(t[i], NULL), 0);
        weft_task_unref(t[i]);
    }
    test_thread_join(&th);
    ck_assert_int_eq(READ(m->got), AWAITERS);
    weft_future_unref(m->f);
    return NULL;
}

START_TEST(test_every_awaiter_on_every_worker_gets_it)
{
    struct many m = { 0 };
    ck_assert_int_eq(run_on(4, many_main, &m), 0);
}
END_TEST

/* A callback completes it, as a C library's completion callback would. */
static void complete_in_callback(void *arg)
{
    CHECK(weft_future_set_result(arg, VALUE(3)) == 0);
    weft_future_unref(arg);
}

static void *callback_main(void *arg)
{
    weft_future *f;
    void *v;
    (void)arg;
    ck_assert_int_eq(weft_future_create(&f), 0);
    ck_assert_int_eq(weft_call_soon(NULL, complete_in_callback,
                                    weft_future_ref(f)), 0);
    ck_assert_int_eq(weft_future_await(f, &v, WEFT_FOREVER), 0);
    ck_assert_ptr_eq(v, VALUE(3));
    weft_future_unref(f);
    return NULL;
}

START_TEST(test_a_callback_completes_it)
{
    ck_assert_int_eq(run_on(1, callback_main, NULL), 0);
}
END_TEST

/* --- giving up --------------------------------------------------------------- */

static void *timeout_main(void *arg)
{
    weft_future *f;
    void *v = VALUE(1);
    (void)arg;
    ck_assert_int_eq(weft_future_create(&f), 0);
    int64_t start = weft_now();
    ck_assert_int_eq(weft_future_await(f, &v, 20), -ETIMEDOUT);
    ck_assert_int_ge(weft_now() - start, 20);
    ck_assert_ptr_null(v);
    /* As asyncio's wait_for: the future was cancelled, and its completer
     * is told so, keeping its value. */
    ck_assert_int_eq(weft_future_is_done(f), 1);
    ck_assert_int_eq(weft_future_result(f, &v), -ECANCELED);
    ck_assert_int_eq(weft_future_set_result(f, VALUE(5)), -ECANCELED);
    weft_future_unref(f);

    /* 0: do not wait; it still cancels a pending future. */
    ck_assert_int_eq(weft_future_create(&f), 0);
    ck_assert_int_eq(weft_future_await(f, &v, 0), -ETIMEDOUT);
    ck_assert_int_eq(weft_future_set_error(f, WEFT_EIO), -ECANCELED);
    weft_future_unref(f);
    return NULL;
}

START_TEST(test_a_timeout_cancels_the_future)
{
    ck_assert_int_eq(run_on(1, timeout_main, NULL), 0);
}
END_TEST

struct cancelled_awaiter {
    weft_future *f;
    int rc;         /* atomic */
    int waiting;    /* atomic: the awaiter is about to wait */
};

static void *await_until_cancelled(void *arg)
{
    struct cancelled_awaiter *c = arg;
    SET(c->waiting, 1);
    SET(c->rc, weft_future_await(c->f, NULL, WEFT_FOREVER));
    return NULL;
}

static void *cancel_both_ways_main(void *arg)
{
    struct cancelled_awaiter c = { 0 };
    weft_task *t;
    (void)arg;
    /* The awaiting task is cancelled: the future is cancelled with it. */
    ck_assert_int_eq(weft_future_create(&c.f), 0);
    ck_assert_int_eq(weft_spawn(&t, await_until_cancelled, &c), 0);
    wait_until_waiting(t, "future");
    ck_assert_int_eq(weft_cancel(t), 0);
    ck_assert_int_eq(weft_await(t, NULL), -ECANCELED);
    ck_assert_int_eq(READ(c.rc), -ECANCELED);
    ck_assert_int_eq(weft_future_result(c.f, NULL), -ECANCELED);
    weft_task_unref(t);
    weft_future_unref(c.f);

    /* The future is cancelled: its awaiter gets -ECANCELED and goes on,
     * not cancelled itself. */
    c.rc = 1;
    ck_assert_int_eq(weft_future_create(&c.f), 0);
    ck_assert_int_eq(weft_spawn(&t, await_until_cancelled, &c), 0);
    wait_until_waiting(t, "future");
    ck_assert_int_eq(weft_future_cancel(c.f), 0);
    ck_assert_int_eq(weft_future_cancel(c.f), -EALREADY);
    ck_assert_int_eq(weft_await(t, NULL), 0);
    ck_assert_int_eq(READ(c.rc), -ECANCELED);
    weft_task_unref(t);
    weft_future_unref(c.f);
    return NULL;
}

START_TEST(test_cancellation_both_ways)
{
    ck_assert_int_eq(run_on(2, cancel_both_ways_main, NULL), 0);
}
END_TEST

/* A completion racing a time-out on 4 workers: whatever wins, the value
 * is delivered exactly once, or refused and kept by the completer. */
#define RACES 300

struct race {
    weft_future *f;
    int delivered;   /* atomic */
    int refused;     /* atomic */
};

static void *race_completer(void *arg)
{
    struct race *r = arg;
    weft_yield();
    int rc = weft_future_set_result(r->f, VALUE(1));
    CHECK(rc == 0 || rc == -ECANCELED);
    if (rc < 0)
        COUNT(r->refused);
    return NULL;
}

static void *race_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < RACES; i++) {
        struct race r = { 0 };
        weft_task *t;
        void *v;
        ck_assert_int_eq(weft_future_create(&r.f), 0);
        ck_assert_int_eq(weft_spawn(&t, race_completer, &r), 0);
        int rc = weft_future_await(r.f, &v, i % 3);
        CHECK(rc == 0 || rc == -ETIMEDOUT);
        if (rc == 0) {
            CHECK(v == VALUE(1));
            r.delivered++;
        }
        ck_assert_int_eq(weft_await(t, NULL), 0);
        /* Exactly one of: delivered, or refused to the completer. */
        ck_assert_int_eq(r.delivered + READ(r.refused), 1);
        weft_task_unref(t);
        weft_future_unref(r.f);
    }
    return NULL;
}

START_TEST(test_completion_racing_a_timeout_is_never_lost)
{
    ck_assert_int_eq(run_on(4, race_main, NULL), 0);
}
END_TEST

/* --- bad input ----------------------------------------------------------------- */

static void *bad_main(void *arg)
{
    weft_future *f;
    (void)arg;
    ck_assert_int_eq(weft_future_create(NULL), -EINVAL);
    ck_assert_int_eq(weft_future_set_result(NULL, NULL), -EINVAL);
    ck_assert_int_eq(weft_future_set_error(NULL, WEFT_EIO), -EINVAL);
    ck_assert_int_eq(weft_future_cancel(NULL), -EINVAL);
    ck_assert_int_eq(weft_future_await(NULL, NULL, 0), -EINVAL);
    ck_assert_int_eq(weft_future_result(NULL, NULL), -EINVAL);
    ck_assert_int_eq(weft_future_is_done(NULL), -EINVAL);
    ck_assert_ptr_null(weft_future_ref(NULL));
    weft_future_unref(NULL);
    ck_assert_int_eq(weft_future_create(&f), 0);
    ck_assert_int_eq(weft_future_await(f, NULL, -5), -EINVAL);
    /* A pending cancellation is delivered even if the future is done:
     * every await is a checkpoint. */
    ck_assert_int_eq(weft_future_set_result(f, NULL), 0);
    ck_assert_int_eq(weft_cancel(weft_current()), 0);
    ck_assert_int_eq(weft_future_await(f, NULL, WEFT_FOREVER), -ECANCELED);
    ck_assert_int_eq(weft_task_uncancel(weft_current()), 0);
    ck_assert_int_eq(weft_future_await(f, NULL, WEFT_FOREVER), 0);
    weft_future_unref(f);
    return NULL;
}

START_TEST(test_bad_input)
{
    weft_future *f;
    ck_assert_int_eq(run_on(1, bad_main, NULL), 0);
    /* Outside a task: create, complete and read, but not await. */
    ck_assert_int_eq(weft_future_create(&f), 0);
    ck_assert_int_eq(weft_future_await(f, NULL, 0), -EPERM);
    ck_assert_int_eq(weft_future_set_result(f, VALUE(2)), 0);
    void *v;
    ck_assert_int_eq(weft_future_result(f, &v), 0);
    ck_assert_ptr_eq(v, VALUE(2));
    weft_future_unref(f);
}
END_TEST

static Suite *future_suite(void)
{
    Suite *s = suite_create("future");
    TCase *tc = tcase_create("future");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_result_reaches_the_awaiter_once);
    tcase_add_test(tc, test_error_reaches_the_awaiter);
    tcase_add_test(tc, test_every_awaiter_on_every_worker_gets_it);
    tcase_add_test(tc, test_a_callback_completes_it);
    tcase_add_test(tc, test_a_timeout_cancels_the_future);
    tcase_add_test(tc, test_cancellation_both_ways);
    tcase_add_test(tc, test_completion_racing_a_timeout_is_never_lost);
    tcase_add_test(tc, test_bad_input);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(future_suite)
