/* Task handles: what a task's outcome looks like without waiting, taking
 * a cancellation back, and handles used after their task was released. */
#include <errno.h>
#include <stdint.h>

#include "testutil.h"

static void *nothing(void *arg)
{
    return arg;
}

static void *fail_eio(void *arg)
{
    (void)arg;
    return weft_fail(WEFT_EIO, "broken");
}

static void *sleep_long(void *arg)
{
    (void)arg;
    weft_sleep(TEST_TIMEOUT * 1000);
    return NULL;
}

/* --- the outcome without waiting (task.result(), task.exception()) ------ */

static void *result_main(void *arg)
{
    weft_task *ok, *bad, *slow;
    void *r = (void *)1;
    (void)arg;
    ck_assert_int_eq(weft_spawn(&ok, nothing, (void *)42), 0);
    ck_assert_int_eq(weft_spawn(&bad, fail_eio, NULL), 0);
    ck_assert_int_eq(weft_spawn(&slow, sleep_long, NULL), 0);
    /* Not run yet (one worker, the caller has not suspended). */
    ck_assert_int_eq(weft_task_result(ok, &r), -EINPROGRESS);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(weft_await(ok, NULL), 0);
    ck_assert_int_eq(weft_await(bad, NULL), WEFT_EIO);
    ck_assert_int_eq(weft_task_result(ok, &r), 0);
    ck_assert_ptr_eq(r, (void *)42);
    ck_assert_int_eq(weft_task_result(ok, NULL), 0);
    ck_assert_int_eq(weft_task_result(bad, &r), WEFT_EIO);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(weft_task_result(slow, &r), -EINPROGRESS);
    /* is_cancelled: finished, and cancelled. */
    ck_assert_int_eq(weft_task_is_cancelled(ok), 0);
    ck_assert_int_eq(weft_task_is_cancelled(bad), 0);
    ck_assert_int_eq(weft_cancel(slow), 0);
    ck_assert_int_eq(weft_task_is_cancelled(slow), 0); /* not yet ended */
    ck_assert_int_eq(weft_await(slow, NULL), -ECANCELED);
    ck_assert_int_eq(weft_task_is_cancelled(slow), 1);
    ck_assert_int_eq(weft_task_result(slow, &r), -ECANCELED);
    ck_assert_int_eq(weft_task_result(NULL, &r), -EINVAL);
    ck_assert_int_eq(weft_task_is_cancelled(NULL), -EINVAL);
    weft_task_unref(ok);
    weft_task_unref(bad);
    weft_task_unref(slow);
    return NULL;
}

START_TEST(test_result_without_waiting)
{
    ck_assert_int_eq(run_on(1, result_main, NULL), 0);
}
END_TEST

/* --- taking a cancellation back (uncancel, cancelling) --------------------- */

static void *uncancel_self(void *arg)
{
    int *log = arg;
    weft_task *self = weft_current();
    /* Cancelled while asleep: handle it, take it back, go on. */
    log[0] = weft_sleep(TEST_TIMEOUT * 1000);
    log[1] = weft_task_cancelling(self);
    log[2] = weft_task_uncancel(self);
    log[3] = weft_task_cancelling(self);
    log[4] = weft_sleep(1); /* suspensions work again */
    return (void *)7;
}

static void *uncancel_main(void *arg)
{
    int *log = arg;
    weft_task *t;
    void *r;
    ck_assert_int_eq(weft_spawn(&t, uncancel_self, log), 0);
    ck_assert_int_eq(weft_yield(), 0); /* it starts and sleeps */
    ck_assert_int_eq(weft_task_cancelling(t), 0);
    ck_assert_int_eq(weft_cancel(t), 0);
    ck_assert_int_eq(weft_task_cancelling(t), 1);
    /* Taken back, it ends as it returns: not cancelled. */
    ck_assert_int_eq(weft_await(t, &r), 0);
    ck_assert_ptr_eq(r, (void *)7);
    ck_assert_int_eq(weft_task_is_cancelled(t), 0);
    weft_task_unref(t);
    ck_assert_int_eq(weft_task_uncancel(NULL), -EINVAL);
    ck_assert_int_eq(weft_task_cancelling(NULL), -EINVAL);
    return NULL;
}

START_TEST(test_uncancel_takes_a_cancellation_back)
{
    int log[5] = { 1, 1, 1, 1, 1 };
    ck_assert_int_eq(run_on(1, uncancel_main, log), 0);
    ck_assert_int_eq(log[0], -ECANCELED);
    ck_assert_int_eq(log[1], 1);
    ck_assert_int_eq(log[2], 0);
    ck_assert_int_eq(log[3], 0);
    ck_assert_int_eq(log[4], 0);
}
END_TEST

static void *count_requests_main(void *arg)
{
    weft_task *self = weft_current();
    (void)arg;
    /* Each cancel is one more request; each uncancel takes one back. */
    ck_assert_int_eq(weft_cancel(self), 0);
    ck_assert_int_eq(weft_cancel(self), 0);
    ck_assert_int_eq(weft_task_cancelling(self), 2);
    ck_assert_int_eq(weft_yield(), -ECANCELED);
    ck_assert_int_eq(weft_task_uncancel(self), 1);
    ck_assert_int_eq(weft_yield(), -ECANCELED); /* one is left */
    ck_assert_int_eq(weft_task_uncancel(self), 0);
    ck_assert_int_eq(weft_task_uncancel(self), 0); /* none left: stays 0 */
    ck_assert_int_eq(weft_yield(), 0);
    return NULL;
}

START_TEST(test_cancellation_requests_are_counted)
{
    ck_assert_int_eq(run_on(1, count_requests_main, NULL), 0);
}
END_TEST

/* --- stale handles ------------------------------------------------------------ */

static void *stale_main(void *arg)
{
    weft_task *t, *other;
    (void)arg;
    ck_assert_int_eq(weft_spawn_ex(&t, nothing, NULL,
                                   &(weft_spawn_opts){ .name = "victim" }),
                     0);
    ck_assert_int_eq(weft_await(t, NULL), 0);
    ck_assert_int_eq(weft_task_unref(t), 0);
    /* Released: every use of the handle is refused, the first named. */
    ck_assert_int_eq(weft_task_unref(t), -EINVAL);
    ck_assert_int_eq(weft_task_is_done(t), -EINVAL);
    /* A new task very likely takes the freed record (the cache is a
     * stack): the stale handle must not reach it. */
    ck_assert_int_eq(weft_spawn_ex(&other, sleep_long, NULL,
                                   &(weft_spawn_opts){ .name = "bystander" }),
                     0);
    ck_assert_int_eq(weft_task_unref(t), -EINVAL);
    ck_assert_int_eq(weft_cancel(t), -EINVAL);
    ck_assert_int_eq(weft_await(t, NULL), -EINVAL);
    ck_assert_ptr_null(weft_task_ref(t));
    ck_assert_ptr_null(weft_task_name(t));
    ck_assert_uint_eq(weft_task_id(t), 0);
    /* The bystander kept its reference and was not cancelled. */
    ck_assert_int_eq(weft_task_cancelling(other), 0);
    ck_assert_str_eq(weft_task_name(other), "bystander");
    ck_assert_int_eq(weft_cancel(other), 0);
    ck_assert_int_eq(weft_await(other, NULL), -ECANCELED);
    ck_assert_int_eq(weft_task_unref(other), 0);
    return NULL;
}

START_TEST(test_a_stale_handle_is_reported_and_touches_nothing)
{
    char err[4096];
    ck_assert_int_eq(run_capturing_stderr(1, stale_main, NULL, err, sizeof err),
                     0);
    ck_assert_msg(strstr(err, "weft_task_unref: the handle of task 'victim' "
                              "whose last reference was dropped") != NULL,
                  "stderr: %s", err);
    ck_assert_msg(strstr(err, "double release") != NULL, "stderr: %s", err);
    ck_assert_msg(strstr(err, "weft_cancel: ") != NULL, "stderr: %s", err);
    ck_assert_msg(strstr(err, "internal error") == NULL, "stderr: %s", err);
}
END_TEST

static Suite *handle_suite(void)
{
    Suite *s = suite_create("handle");
    TCase *tc = tcase_create("handle");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_result_without_waiting);
    tcase_add_test(tc, test_uncancel_takes_a_cancellation_back);
    tcase_add_test(tc, test_cancellation_requests_are_counted);
    tcase_add_test(tc, test_a_stale_handle_is_reported_and_touches_nothing);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(handle_suite)
