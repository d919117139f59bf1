/* gather, wait and as_completed. */
#include <errno.h>
#include <stdint.h>

#include "testutil.h"

/* A job: sleep ms, then succeed with `value` or fail with `err`. Tests
 * that need an order of events add a `go` event the job waits for before
 * its sleep, or a `started` semaphore it releases just before it. */
struct job {
    int ms;
    int err;
    intptr_t value;
    int sleep_rc;   /* what its sleep (or its wait for go) returned */
    weft_event *go;
    weft_semaphore *started;
};

static void *run_job(void *arg)
{
    struct job *j = arg;
    j->sleep_rc = j->go != NULL ? weft_event_wait(j->go, WEFT_FOREVER) : 0;
    if (j->started != NULL)
        ck_assert_int_eq(weft_semaphore_release(j->started), 0);
    if (j->sleep_rc == 0)
        j->sleep_rc = weft_sleep(j->ms);
    if (j->sleep_rc < 0)
        return weft_fail(j->sleep_rc, "interrupted");
    if (j->err != 0)
        return weft_fail(j->err, "job of %d ms failed", j->ms);
    return (void *)j->value;
}

static void spawn_jobs(weft_task **t, struct job *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(weft_spawn(&t[i], run_job, &jobs[i]), 0);
}

static void unref_all(weft_task **t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        weft_task_unref(t[i]);
}

/* Seed 002, Q4 and Q6: handle errors per task; return_exceptions=True. */
static void *collect_main(void *arg)
{
    struct job jobs[4] = { { 20, 0, 1, 0, NULL, NULL },
                           { 5, WEFT_ECONNREFUSED, 0, 0, NULL, NULL },
                           { 10, 0, 3, 0, NULL, NULL },
                           { 15, WEFT_EIO, 0, 0, NULL, NULL } };
    weft_task *t[4];
    weft_outcome out[4];
    (void)arg;
    spawn_jobs(t, jobs, 4);
    ck_assert_int_eq(weft_gather(t, 4, WEFT_GATHER_COLLECT, out), 0);
    ck_assert_ptr_eq(out[0].result, (void *)1);
    ck_assert_int_eq(out[0].err, 0);
    ck_assert_int_eq(out[1].err, WEFT_ECONNREFUSED);
    ck_assert_ptr_null(out[1].result);
    ck_assert_str_eq(weft_task_errmsg(t[1]), "job of 5 ms failed");
    ck_assert_ptr_eq(out[2].result, (void *)3);
    ck_assert_int_eq(out[3].err, WEFT_EIO);
    unref_all(t, 4);
    return NULL;
}

START_TEST(test_gather_collect_returns_every_outcome)
{
    char err[1024];
    ck_assert_int_eq(run_capturing_stderr(0, collect_main, NULL, err,
                                          sizeof err), 0);
    /* Errors handed out by gather count as retrieved. */
    ck_assert_ptr_null(strstr(err, "never retrieved"));
}
END_TEST

static void *fail_fast_main(void *arg)
{
    struct job *jobs = arg;
    weft_task *t[4];
    weft_outcome out[4];
    weft_event go;
    weft_semaphore started;
    ck_assert_int_eq(weft_event_init(&go), 0);
    ck_assert_int_eq(weft_semaphore_init(&started, 0), 0);
    /* The failure comes once the long jobs are in their sleeps. */
    jobs[0].started = jobs[2].started = &started;
    jobs[1].go = &go;
    spawn_jobs(t, jobs, 4);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(weft_semaphore_acquire(&started, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_event_set(&go), 0);
    ck_assert_int_eq(weft_gather(t, 4, WEFT_GATHER_FAIL_FAST, out), WEFT_EPIPE);
    /* The others were cancelled and awaited before gather returned. */
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(weft_task_is_done(t[i]), 1);
    ck_assert_int_eq(out[1].err, WEFT_EPIPE);
    ck_assert_int_eq(out[0].err, -ECANCELED);
    ck_assert_int_eq(out[2].err, -ECANCELED);
    unref_all(t, 4);
    ck_assert_int_eq(weft_semaphore_destroy(&started), 0);
    ck_assert_int_eq(weft_event_destroy(&go), 0);
    return NULL;
}

START_TEST(test_gather_fail_fast_cancels_the_rest)
{
    struct job jobs[4] = { { TEST_LONG_MS, 0, 1, 0, NULL, NULL },
                           { 5, WEFT_EPIPE, 0, 0, NULL, NULL },
                           { TEST_LONG_MS, 0, 3, 0, NULL, NULL },
                           { 0, 0, 4, 0, NULL, NULL } };
    ck_assert_int_eq(run_clean(fail_fast_main, jobs), 0);
    ck_assert_int_eq(jobs[0].sleep_rc, -ECANCELED);
    ck_assert_int_eq(jobs[2].sleep_rc, -ECANCELED);
}
END_TEST

static void *gatherer(void *arg)
{
    struct job *jobs = arg;
    weft_task *t[3];
    weft_outcome out[3];
    spawn_jobs(t, jobs, 3);
    int rc = weft_gather(t, 3, WEFT_GATHER_COLLECT, out);
    unref_all(t, 3);
    return (void *)(intptr_t)rc;
}

static void *cancel_gatherer_main(void *arg)
{
    struct job *jobs = arg;
    weft_semaphore started;
    weft_task *g;
    void *rc;
    ck_assert_int_eq(weft_semaphore_init(&started, 0), 0);
    for (int i = 0; i < 3; i++)
        jobs[i].started = &started;
    ck_assert_int_eq(weft_spawn(&g, gatherer, jobs), 0);
    /* Cancelled once every child has started, so each one's sleep is
     * what the cancellation ends. */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(weft_semaphore_acquire(&started, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_cancel(g), 0);
    ck_assert_int_eq(weft_await(g, &rc), -ECANCELED);
    weft_task_unref(g);
    ck_assert_int_eq(weft_semaphore_destroy(&started), 0);
    return NULL;
}

START_TEST(test_cancelling_the_gatherer_cancels_its_children)
{
    struct job jobs[3] = { { TEST_LONG_MS, 0, 1, 1, NULL, NULL },
                           { TEST_LONG_MS, 0, 2, 1, NULL, NULL },
                           { TEST_LONG_MS, 0, 3, 1, NULL, NULL } };
    ck_assert_int_eq(run_clean(cancel_gatherer_main, jobs), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(jobs[i].sleep_rc, -ECANCELED);
}
END_TEST

/* Gather many tasks spread over several workers. */
#define MANY 2000

static void *many_main(void *arg)
{
    static struct job jobs[MANY];
    static weft_task *t[MANY];
    static weft_outcome out[MANY];
    (void)arg;
    for (int i = 0; i < MANY; i++)
        jobs[i] = (struct job){ i % 3, 0, i + 1, 0, NULL, NULL };
    spawn_jobs(t, jobs, MANY);
    ck_assert_int_eq(weft_gather(t, MANY, WEFT_GATHER_FAIL_FAST, out), 0);
    for (int i = 0; i < MANY; i++)
        CHECK(out[i].err == 0 && out[i].result == (void *)(intptr_t)(i + 1));
    unref_all(t, MANY);
    return NULL;
}

START_TEST(test_gather_many_on_several_workers)
{
    ck_assert_int_eq(run_on(4, many_main, NULL), 0);
}
END_TEST

static void *gather_args_main(void *arg)
{
    weft_task *t[2] = { weft_current(), NULL };
    weft_outcome out[2];
    (void)arg;
    ck_assert_int_eq(weft_gather(NULL, 0, WEFT_GATHER_COLLECT, NULL), 0);
    ck_assert_int_eq(weft_gather(t, 1, WEFT_GATHER_COLLECT, out), -EDEADLK);
    ck_assert_int_eq(weft_gather(t + 1, 1, WEFT_GATHER_COLLECT, out), -EINVAL);
    ck_assert_int_eq(weft_gather(NULL, 2, WEFT_GATHER_COLLECT, out), -EINVAL);
    ck_assert_int_eq(weft_gather(t, 1, 7, out), -EINVAL);
    ck_assert_int_eq(weft_gather(t, 1, WEFT_GATHER_COLLECT, NULL), -EINVAL);
    return NULL;
}

START_TEST(test_gather_bad_arguments)
{
    weft_outcome out[1];
    weft_task *t[1] = { NULL };
    ck_assert_int_eq(run_clean(gather_args_main, NULL), 0);
    ck_assert_int_eq(weft_gather(t, 1, WEFT_GATHER_COLLECT, out), -EPERM);
}
END_TEST

/* --- wait -------------------------------------------------------------------- */

static void *wait_modes_main(void *arg)
{
    weft_event go[3];
    struct job jobs[3] = { { TEST_LONG_MS, 0, 1, 0, NULL, NULL },
                           { 5, 0, 2, 0, &go[1], NULL },
                           { 30, WEFT_EIO, 0, 0, &go[2], NULL } };
    weft_task *t[3], *orig[3];
    size_t ndone = 99;
    (void)arg;
    for (int i = 1; i < 3; i++)
        ck_assert_int_eq(weft_event_init(&go[i]), 0);
    spawn_jobs(t, jobs, 3);
    memcpy(orig, t, sizeof t);

    /* First completed: job 1, the only one let go; the others keep
     * running. */
    ck_assert_int_eq(weft_event_set(&go[1]), 0);
    ck_assert_int_eq(weft_wait(t, 3, WEFT_WAIT_FIRST_COMPLETED, &ndone, WEFT_FOREVER), 0);
    ck_assert_uint_eq(ndone, 1);
    ck_assert_ptr_eq(t[0], orig[1]);
    ck_assert_ptr_eq(t[1], orig[0]);   /* pending, in their order */
    ck_assert_ptr_eq(t[2], orig[2]);
    ck_assert_int_eq(weft_task_is_done(orig[0]), 0);
    ck_assert_int_eq(weft_task_is_done(orig[2]), 0);

    /* First exception: returns when the failing job ends. */
    ck_assert_int_eq(weft_event_set(&go[2]), 0);
    ck_assert_int_eq(weft_wait(t, 3, WEFT_WAIT_FIRST_EXCEPTION, &ndone, WEFT_FOREVER), 0);
    ck_assert_uint_eq(ndone, 2);
    ck_assert_int_eq(weft_task_is_done(orig[2]), 1);

    /* All completed, with a time-out: comes back after it, nothing
     * cancelled. */
    int64_t t0 = mono_ms();
    ck_assert_int_eq(weft_wait(t, 3, WEFT_WAIT_ALL_COMPLETED, &ndone, 20), 0);
    ck_assert_int_ge(mono_ms() - t0, 20);
    ck_assert_uint_eq(ndone, 2);
    ck_assert_ptr_eq(t[2], orig[0]);
    ck_assert_int_eq(weft_task_is_done(orig[0]), 0);
    ck_assert_int_eq(weft_task_cancelling(orig[0]), 0);

    weft_cancel(orig[0]);
    ck_assert_int_eq(weft_wait(t, 3, WEFT_WAIT_ALL_COMPLETED, &ndone, WEFT_FOREVER), 0);
    ck_assert_uint_eq(ndone, 3);
    ck_assert_int_eq(weft_await(orig[2], NULL), WEFT_EIO);
    unref_all(orig, 3);
    for (int i = 1; i < 3; i++)
        ck_assert_int_eq(weft_event_destroy(&go[i]), 0);
    return NULL;
}

START_TEST(test_wait_modes_and_timeout)
{
    ck_assert_int_eq(run_clean(wait_modes_main, NULL), 0);
}
END_TEST

static void *wait_args_main(void *arg)
{
    size_t ndone = 5;
    weft_task *t[1] = { weft_current() };
    (void)arg;
    ck_assert_int_eq(weft_wait(NULL, 0, WEFT_WAIT_ALL_COMPLETED, &ndone, WEFT_FOREVER), 0);
    ck_assert_uint_eq(ndone, 0);
    ck_assert_int_eq(weft_wait(t, 1, WEFT_WAIT_ALL_COMPLETED, &ndone, -5), -EINVAL);
    ck_assert_int_eq(weft_wait(t, 1, 9, &ndone, WEFT_FOREVER), -EINVAL);
    ck_assert_int_eq(weft_wait(t, 1, WEFT_WAIT_ALL_COMPLETED, NULL, WEFT_FOREVER), -EINVAL);
    ck_assert_int_eq(weft_wait(t, 1, WEFT_WAIT_ALL_COMPLETED, &ndone, WEFT_FOREVER), -EDEADLK);
    return NULL;
}

START_TEST(test_wait_bad_arguments)
{
    ck_assert_int_eq(run_clean(wait_args_main, NULL), 0);
}
END_TEST

/* --- as_completed --------------------------------------------------------------- */

/* Jobs finish when main lets them go, in an order unlike their order in
 * the array (and unlike their sleeps'); the iterator follows it, whether
 * a job ends while it waits or ended before it is asked. */
static void *as_completed_main(void *arg)
{
    weft_event go[4];
    struct job jobs[4] = { { 1, 0, 40, 0, &go[0], NULL },
                           { 4, 0, 10, 0, &go[1], NULL },
                           { 2, WEFT_EIO, 0, 0, &go[2], NULL },
                           { 3, 0, 20, 0, &go[3], NULL } };
    static const int finish_order[4] = { 1, 3, 2, 0 };
    weft_task *t[4], *next;
    weft_as_completed *it;
    (void)arg;
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(weft_event_init(&go[i]), 0);
    spawn_jobs(t, jobs, 4);
    ck_assert_int_eq(weft_as_completed_create(&it, t, 4), 0);
    /* Nothing is let go: nothing finishes. */
    ck_assert_int_eq(weft_as_completed_next(it, &next, 1), -ETIMEDOUT);
    /* The first two end before they are asked for... */
    for (int k = 0; k < 2; k++) {
        ck_assert_int_eq(weft_event_set(&go[finish_order[k]]), 0);
        ck_assert_int_eq(weft_await(t[finish_order[k]], NULL), 0);
    }
    for (int k = 0; k < 2; k++) {
        ck_assert_int_eq(weft_as_completed_next(it, &next, WEFT_FOREVER), 0);
        ck_assert_ptr_eq(next, t[finish_order[k]]);
    }
    /* ... the others while the iterator waits. */
    for (int k = 2; k < 4; k++) {
        ck_assert_int_eq(weft_event_set(&go[finish_order[k]]), 0);
        ck_assert_int_eq(weft_as_completed_next(it, &next, WEFT_FOREVER), 0);
        ck_assert_ptr_eq(next, t[finish_order[k]]);
    }
    ck_assert_int_eq(weft_as_completed_next(it, &next, WEFT_FOREVER), -ENODATA);
    weft_as_completed_destroy(it);
    ck_assert_int_eq(weft_await(t[2], NULL), WEFT_EIO);
    unref_all(t, 4);

    /* Ending early leaves the rest running. */
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(weft_event_clear(&go[i]), 0);
    spawn_jobs(t, jobs, 4);
    ck_assert_int_eq(weft_as_completed_create(&it, t, 4), 0);
    ck_assert_int_eq(weft_event_set(&go[1]), 0);
    ck_assert_int_eq(weft_as_completed_next(it, &next, WEFT_FOREVER), 0);
    ck_assert_ptr_eq(next, t[1]);
    weft_as_completed_destroy(it);
    ck_assert_int_eq(weft_task_is_done(t[0]), 0);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(weft_event_set(&go[i]), 0);
    ck_assert_int_eq(weft_await(t[0], NULL), 0);
    ck_assert_int_eq(weft_await(t[2], NULL), WEFT_EIO);
    ck_assert_int_eq(weft_await(t[3], NULL), 0);
    unref_all(t, 4);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(weft_event_destroy(&go[i]), 0);

    ck_assert_int_eq(weft_as_completed_create(NULL, t, 4), -EINVAL);
    ck_assert_int_eq(weft_as_completed_create(&it, NULL, 0), 0);
    ck_assert_int_eq(weft_as_completed_next(it, &next, WEFT_FOREVER), -ENODATA);
    ck_assert_int_eq(weft_as_completed_next(NULL, &next, WEFT_FOREVER), -EINVAL);
    ck_assert_int_eq(weft_as_completed_next(it, &next, -7), -EINVAL);
    weft_as_completed_destroy(it);
    weft_as_completed_destroy(NULL);
    return NULL;
}

START_TEST(test_as_completed_in_finishing_order)
{
    ck_assert_int_eq(run_clean(as_completed_main, NULL), 0);
}
END_TEST

/* asyncio.wait(FIRST_EXCEPTION) does not count a cancelled task as an
 * exception: the wait goes on until one fails. */
static void *cancel_me(void *arg)
{
    (void)arg;
    weft_sleep(TEST_TIMEOUT * 1000);
    return NULL;
}

static void *fail_soon(void *arg)
{
    (void)arg;
    return weft_fail(WEFT_EIO, "failed");
}

static void *first_exception_main(void *arg)
{
    weft_task *t[3], *order[3];
    size_t ndone = 0;
    (void)arg;
    ck_assert_int_eq(weft_spawn(&t[0], cancel_me, NULL), 0);
    ck_assert_int_eq(weft_yield(), 0);
    ck_assert_int_eq(weft_cancel(t[0]), 0);
    ck_assert_int_eq(weft_await(t[0], NULL), -ECANCELED);
    ck_assert_int_eq(weft_spawn(&t[1], fail_soon, NULL), 0);
    ck_assert_int_eq(weft_spawn(&t[2], cancel_me, NULL), 0);
    for (int i = 0; i < 3; i++)
        order[i] = t[i];
    ck_assert_int_eq(weft_wait(order, 3, WEFT_WAIT_FIRST_EXCEPTION, &ndone,
                               WEFT_FOREVER), 0);
    ck_assert_uint_eq(ndone, 2);
    ck_assert_ptr_eq(order[0], t[0]);
    ck_assert_ptr_eq(order[1], t[1]);
    ck_assert_ptr_eq(order[2], t[2]);
    ck_assert_int_eq(weft_await(t[1], NULL), WEFT_EIO);
    ck_assert_int_eq(weft_cancel(t[2]), 0);
    ck_assert_int_eq(weft_await(t[2], NULL), -ECANCELED);
    for (int i = 0; i < 3; i++)
        weft_task_unref(t[i]);
    return NULL;
}

START_TEST(test_first_exception_is_not_a_cancellation)
{
    ck_assert_int_eq(run_on(1, first_exception_main, NULL), 0);
}
END_TEST

static Suite *gather_suite(void)
{
    Suite *s = suite_create("gather");
    TCase *tc = tcase_create("gather");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_gather_collect_returns_every_outcome);
    tcase_add_test(tc, test_gather_fail_fast_cancels_the_rest);
    tcase_add_test(tc, test_cancelling_the_gatherer_cancels_its_children);
    tcase_add_test(tc, test_gather_many_on_several_workers);
    tcase_add_test(tc, test_gather_bad_arguments);
    tcase_add_test(tc, test_wait_modes_and_timeout);
    tcase_add_test(tc, test_wait_bad_arguments);
    tcase_add_test(tc, test_as_completed_in_finishing_order);
    tcase_add_test(tc, test_first_exception_is_not_a_cancellation);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(gather_suite)
