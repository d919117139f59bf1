/* Scoped blocks (WEFT_WITH_TIMEOUT, _AT, WEFT_WITH_SHIELD), scopes a
 * task forgets to leave, and timeouts on what has finished already. */
#include <errno.h>
#include <stdint.h>

#include "testutil.h"

/* --- WEFT_WITH_TIMEOUT ------------------------------------------------------ */

/* Leaves the block by `return` from inside it: the scope must be left. */
static int sleep_in_scope_and_return(int64_t timeout_ms)
{
    int rc;
    WEFT_WITH_TIMEOUT(timeout_ms, rc) {
        return weft_sleep(1);
    }
    return rc;
}

static void *with_timeout_main(void *arg)
{
    int rc, ran = 0;
    (void)arg;
    /* The deadline passes inside: the suspension fails; rc is what the
     * body made of it (a call that succeeded as it was interrupted keeps
     * its 0: the macro does not overwrite it). */
    WEFT_WITH_TIMEOUT(10, rc) {
        ran++;
        rc = weft_sleep(TEST_TIMEOUT * 1000);
    }
    ck_assert_int_eq(ran, 1);
    ck_assert_int_eq(rc, -ETIMEDOUT);
    WEFT_WITH_TIMEOUT(10, rc) {
        ck_assert_int_eq(weft_sleep(TEST_TIMEOUT * 1000), -ETIMEDOUT);
        rc = 0; /* handled */
    }
    ck_assert_int_eq(rc, 0);
    /* Done in time: 0. */
    WEFT_WITH_TIMEOUT(TEST_TIMEOUT * 1000, rc) {
        rc = weft_sleep(1);
    }
    ck_assert_int_eq(rc, 0);
    /* A bad timeout: the block does not run. */
    ran = 0;
    WEFT_WITH_TIMEOUT(-5, rc) {
        ran++;
    }
    ck_assert_int_eq(ran, 0);
    ck_assert_int_eq(rc, -EINVAL);
    /* break and return leave the scope: no deadline applies after. */
    WEFT_WITH_TIMEOUT(10, rc) {
        break;
    }
    ck_assert_int_eq(sleep_in_scope_and_return(10), 0);
    ck_assert_int_eq(weft_sleep(30), 0); /* would fail if a scope stayed */
    /* An absolute deadline, nested inside another. */
    WEFT_WITH_TIMEOUT(TEST_TIMEOUT * 1000, rc) {
        int inner;
        WEFT_WITH_TIMEOUT_AT(weft_now() + 10, inner) {
            inner = weft_sleep(TEST_TIMEOUT * 1000);
        }
        ck_assert_int_eq(inner, -ETIMEDOUT);
        rc = weft_sleep(1); /* the outer one has not expired */
    }
    ck_assert_int_eq(rc, 0);
    return NULL;
}

START_TEST(test_with_timeout)
{
    ck_assert_int_eq(run_on(1, with_timeout_main, NULL), 0);
}
END_TEST

/* --- WEFT_WITH_SHIELD ----------------------------------------------------------- */

struct shielded {
    int inside;    /* what the sleep in the shield gave */
    int after;     /* ... and the suspension after it */
};

static void *cleanup_after_cancel(void *arg)
{
    struct shielded *s = arg;
    int rc;
    if (weft_sleep(TEST_TIMEOUT * 1000) != -ECANCELED)
        return NULL;
    WEFT_WITH_SHIELD(rc) {
        s->inside = weft_sleep(1); /* cleanup that must wait */
    }
    ck_assert_int_eq(rc, 0);
    s->after = weft_yield();
    return NULL;
}

static void *with_shield_main(void *arg)
{
    weft_task *t;
    ck_assert_int_eq(weft_spawn(&t, cleanup_after_cancel, arg), 0);
    ck_assert_int_eq(weft_yield(), 0);
    ck_assert_int_eq(weft_cancel(t), 0);
    ck_assert_int_eq(weft_await(t, NULL), -ECANCELED);
    weft_task_unref(t);
    return NULL;
}

START_TEST(test_with_shield)
{
    struct shielded s = { 1, 1 };
    ck_assert_int_eq(run_on(1, with_shield_main, &s), 0);
    ck_assert_int_eq(s.inside, 0);
    ck_assert_int_eq(s.after, -ECANCELED);
}
END_TEST

/* --- scopes left open -------------------------------------------------------- */

static void *returns_inside_scopes(void *arg)
{
    static weft_scope timeout, shield; /* off the stack: survives anyway */
    (void)arg;
    ck_assert_int_eq(weft_timeout_enter(&timeout, TEST_TIMEOUT * 1000), 0);
    ck_assert_int_eq(weft_shield_enter(&shield), 0);
    return NULL; /* a mistake: neither is left */
}

static void *ends_with_scopes_main(void *arg)
{
    weft_task *t;
    (void)arg;
    ck_assert_int_eq(weft_spawn_ex(&t, returns_inside_scopes, NULL,
                                   &(weft_spawn_opts){ .name = "forgetful" }),
                     0);
    ck_assert_int_eq(weft_await(t, NULL), 0);
    weft_task_unref(t);
    return NULL;
}

START_TEST(test_a_task_that_ends_inside_scopes_is_reported)
{
    char err[2048];
    ck_assert_int_eq(run_capturing_stderr(1, ends_with_scopes_main, NULL, err,
                                          sizeof err), 0);
    ck_assert_msg(strstr(err, "task 'forgetful' returned inside 1 timeout "
                              "scope and 1 shield scope it never left") != NULL,
                  "stderr: %s", err);
}
END_TEST

/* Enters a scope on its own frame and returns without leaving it. */
static __attribute__((noinline)) void enter_and_forget(int64_t timeout_ms)
{
    weft_scope scope;
    ck_assert_int_eq(weft_timeout_enter(&scope, timeout_ms), 0);
}

/* Uses more stack than enter_and_forget did, over its dead frame. */
static __attribute__((noinline)) int scribble(void)
{
    volatile char junk[1024];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)0xa5;
    return junk[7];
}

static void *function_leaves_scope_open(void *arg)
{
    int *rc = arg;
    enter_and_forget(5);
    (void)scribble();
    /* The next suspension finds the scope gone, says so, and goes on
     * without it: no crash, and no deadline from a dead frame. */
    rc[0] = weft_sleep(20);
    rc[1] = weft_sleep(1);
    return NULL;
}

static void *leaves_open_main(void *arg)
{
    weft_task *t;
    ck_assert_int_eq(weft_spawn_ex(&t, function_leaves_scope_open, arg,
                                   &(weft_spawn_opts){ .name = "leaky" }),
                     0);
    ck_assert_int_eq(weft_await(t, NULL), 0);
    weft_task_unref(t);
    return NULL;
}

START_TEST(test_a_scope_left_by_a_returned_function_is_reported)
{
    char err[2048];
    int rc[2] = { 1, 1 };
    ck_assert_int_eq(run_capturing_stderr(1, leaves_open_main, rc, err,
                                          sizeof err), 0);
    ck_assert_msg(strstr(err, "task 'leaky': a timeout or shield scope was "
                              "left open by a function that has returned") !=
                      NULL,
                  "stderr: %s", err);
    ck_assert_int_eq(rc[0], 0);
    ck_assert_int_eq(rc[1], 0);
}
END_TEST

/* --- timeouts on what has finished ------------------------------------------ */

static void *quick(void *arg)
{
    return arg;
}

static void *wait_for_done_main(void *arg)
{
    weft_task *t;
    void *r = NULL;
    (void)arg;
    ck_assert_int_eq(weft_spawn(&t, quick, (void *)5), 0);
    ck_assert_int_eq(weft_await(t, NULL), 0);
    /* asyncio's wait_for(done, 0): the outcome, not a time-out. */
    ck_assert_int_eq(weft_wait_for(t, &r, 0), 0);
    ck_assert_ptr_eq(r, (void *)5);
    /* Still a checkpoint: a pending cancellation is delivered. */
    ck_assert_int_eq(weft_cancel(weft_current()), 0);
    ck_assert_int_eq(weft_wait_for(t, &r, 0), -ECANCELED);
    ck_assert_int_eq(weft_task_uncancel(weft_current()), 0);
    weft_task_unref(t);
    return NULL;
}

START_TEST(test_wait_for_a_finished_task_with_no_time)
{
    ck_assert_int_eq(run_on(1, wait_for_done_main, NULL), 0);
}
END_TEST

/* Every call that may suspend is a checkpoint, even when it has nothing
 * to wait for: a pending cancellation is delivered. */
static void *checkpoints_main(void *arg)
{
    weft_task *self = weft_current(), *t;
    weft_outcome out[1];
    weft_as_completed *it;
    weft_task *next;
    weft_group *g;
    size_t ndone;
    (void)arg;
    ck_assert_int_eq(weft_spawn(&t, quick, (void *)1), 0);
    ck_assert_int_eq(weft_await(t, NULL), 0);
    ck_assert_int_eq(weft_as_completed_create(&it, &t, 1), 0);
    ck_assert_int_eq(weft_group_create(&g), 0);

    ck_assert_int_eq(weft_cancel(self), 0);
    ck_assert_int_eq(weft_gather(NULL, 0, WEFT_GATHER_COLLECT, NULL), -ECANCELED);
    ck_assert_int_eq(weft_gather(&t, 1, WEFT_GATHER_COLLECT, out), -ECANCELED);
    ck_assert_int_eq(out[0].err, 0); /* the finished task's outcome */
    ck_assert_int_eq(weft_wait(&t, 1, WEFT_WAIT_ALL_COMPLETED, &ndone,
                               WEFT_FOREVER), -ECANCELED);
    ck_assert_uint_eq(ndone, 1);
    ck_assert_int_eq(weft_as_completed_next(it, &next, WEFT_FOREVER),
                     -ECANCELED);
    ck_assert_int_eq(weft_group_wait(g), -ECANCELED);
    ck_assert_int_eq(weft_task_uncancel(self), 0);

    /* Taken back: the same calls go through. */
    ck_assert_int_eq(weft_as_completed_next(it, &next, WEFT_FOREVER), 0);
    ck_assert_ptr_eq(next, t);
    ck_assert_int_eq(weft_as_completed_destroy(it), 0);
    ck_assert_int_eq(weft_gather(&t, 1, WEFT_GATHER_COLLECT, out), 0);
    ck_assert_int_eq(weft_group_destroy(g), 0);
    weft_task_unref(t);
    return NULL;
}

START_TEST(test_waits_with_nothing_to_wait_for_are_checkpoints)
{
    ck_assert_int_eq(run_on(1, checkpoints_main, NULL), 0);
}
END_TEST

static Suite *scope_suite(void)
{
    Suite *s = suite_create("scope");
    TCase *tc = tcase_create("scope");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_with_timeout);
    tcase_add_test(tc, test_with_shield);
    tcase_add_test(tc, test_a_task_that_ends_inside_scopes_is_reported);
    tcase_add_test(tc, test_a_scope_left_by_a_returned_function_is_reported);
    tcase_add_test(tc, test_wait_for_a_finished_task_with_no_time);
    tcase_add_test(tc, test_waits_with_nothing_to_wait_for_are_checkpoints);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(scope_suite)
