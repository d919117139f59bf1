/* Task groups: structured concurrency. */
#include <errno.h>
#include <stdint.h>

#include "testutil.h"

/* A child: sleeps ms, then succeeds or fails. For an order of events, it
 * may first wait for `wait_n` permits of `wait_for`, and release
 * `started` just before its sleep. */
struct kid {
    int ms;
    int err;            /* fail with this after sleeping */
    int sleep_rc;
    int err_if_cancelled; /* fail with this when cancelled, or end cancelled */
    weft_semaphore *started;
    weft_semaphore *wait_for;
    int wait_n;
};

static void *kid(void *arg)
{
    struct kid *k = arg;
    for (int i = 0; i < k->wait_n; i++)
        ck_assert_int_eq(weft_semaphore_acquire(k->wait_for, WEFT_FOREVER), 0);
    if (k->started != NULL)
        ck_assert_int_eq(weft_semaphore_release(k->started), 0);
    k->sleep_rc = weft_sleep(k->ms);
    if (k->sleep_rc < 0) {
        if (k->err_if_cancelled != 0)
            return weft_fail(k->err_if_cancelled, "kid failed cleaning up");
        return NULL; /* ends cancelled */
    }
    if (k->err != 0)
        return weft_fail(k->err, "kid of %d ms failed", k->ms);
    return NULL;
}

static void *all_succeed_main(void *arg)
{
    weft_group *g;
    struct kid kids[5];
    weft_task *first;
    (void)arg;
    ck_assert_int_eq(weft_group_create(&g), 0);
    for (int i = 0; i < 5; i++) {
        kids[i] = (struct kid){ .ms = 5 * i, .sleep_rc = 1 };
        ck_assert_int_eq(weft_group_spawn(g, i == 0 ? &first : NULL, kid,
                                          &kids[i], NULL), 0);
    }
    ck_assert_int_eq(weft_group_wait(g), 0);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(kids[i].sleep_rc, 0);
    ck_assert_uint_eq(weft_group_error_count(g), 0);
    ck_assert_int_eq(weft_task_is_done(first), 1);
    weft_task_unref(first);
    /* Once waited for, the group is closed. */
    ck_assert_int_eq(weft_group_spawn(g, NULL, kid, &kids[0], NULL), -ESHUTDOWN);
    ck_assert_int_eq(weft_group_wait(g), -EALREADY);
    ck_assert_int_eq(weft_group_destroy(g), 0);
    return NULL;
}

START_TEST(test_group_waits_for_all_children)
{
    ck_assert_int_eq(run_clean(all_succeed_main, NULL), 0);
}
END_TEST

/* One child fails; that cancels its siblings; one of them fails in turn
 * while cleaning up. Both errors are kept, in the order they happened. */
static void *failures_main(void *arg)
{
    struct kid *kids = arg;
    weft_group *g;
    weft_task *failed;
    weft_semaphore started;
    /* The first fails once the others sleep: they must be running to
     * clean up. */
    ck_assert_int_eq(weft_semaphore_init(&started, 0), 0);
    kids[1].started = kids[2].started = kids[0].wait_for = &started;
    kids[0].wait_n = 2;
    ck_assert_int_eq(weft_group_create(&g), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(weft_group_spawn(g, NULL, kid, &kids[i], NULL), 0);
    ck_assert_int_eq(weft_group_wait(g), WEFT_EIO); /* the first error */
    ck_assert_uint_eq(weft_group_error_count(g), 2);
    ck_assert_int_eq(weft_group_error(g, 0, &failed), WEFT_EIO);
    ck_assert_str_eq(weft_task_errmsg(failed), "kid of 10 ms failed");
    ck_assert_int_eq(weft_group_error(g, 1, &failed), WEFT_EPIPE);
    ck_assert_str_eq(weft_task_errmsg(failed), "kid failed cleaning up");
    ck_assert_int_eq(weft_group_error(g, 2, &failed), -EINVAL);
    ck_assert_ptr_null(failed);
    /* Cancelling: no more children. */
    ck_assert_int_eq(weft_group_destroy(g), 0);
    ck_assert_int_eq(weft_semaphore_destroy(&started), 0);
    return NULL;
}

START_TEST(test_first_failure_cancels_siblings_and_all_errors_are_kept)
{
    struct kid kids[3] = { { .ms = 10, .err = WEFT_EIO, .sleep_rc = 1 },
                           { .ms = TEST_LONG_MS, .sleep_rc = 1,
                             .err_if_cancelled = WEFT_EPIPE },
                           { .ms = TEST_LONG_MS, .sleep_rc = 1 } };
    ck_assert_int_eq(run_on(1, failures_main, kids), 0);
    ck_assert_int_eq(kids[1].sleep_rc, -ECANCELED);
    ck_assert_int_eq(kids[2].sleep_rc, -ECANCELED);
}
END_TEST

static void *cancelling_spawn_main(void *arg)
{
    weft_group *g;
    weft_semaphore started;
    struct kid fails = { .err = WEFT_EIO, .sleep_rc = 1,
                         .wait_for = &started, .wait_n = 1 };
    struct kid sleeps = { .ms = TEST_LONG_MS, .sleep_rc = 1,
                          .started = &started };
    (void)arg;
    ck_assert_int_eq(weft_semaphore_init(&started, 0), 0);
    ck_assert_int_eq(weft_group_create(&g), 0);
    ck_assert_int_eq(weft_group_spawn(g, NULL, kid, &sleeps, NULL), 0);
    ck_assert_int_eq(weft_group_spawn(g, NULL, kid, &fails, NULL), 0);
    /* The failure cancels at once, before anyone waits: the siblings, and
     * the body (this task), as asyncio's TaskGroup cancels its parent. */
    int rc;
    while ((rc = weft_sleep(1)) == 0)
        ;
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(weft_task_cancelling(weft_current()), 1);
    ck_assert_int_eq(weft_group_spawn(g, NULL, kid, &sleeps, NULL), -ECANCELED);
    /* The wait takes the group's cancellation back and reports the
     * child's error, not a cancellation. */
    ck_assert_int_eq(weft_group_wait(g), WEFT_EIO);
    ck_assert_int_eq(weft_task_cancelling(weft_current()), 0);
    ck_assert_int_eq(sleeps.sleep_rc, -ECANCELED);
    ck_assert_int_eq(weft_sleep(1), 0); /* the body goes on */
    ck_assert_int_eq(weft_group_destroy(g), 0);
    ck_assert_int_eq(weft_semaphore_destroy(&started), 0);
    return NULL;
}

START_TEST(test_a_failing_group_refuses_new_children)
{
    ck_assert_int_eq(run_on(1, cancelling_spawn_main, NULL), 0);
}
END_TEST

/* The parent is cancelled while it waits: every child is cancelled and
 * has finished before the wait returns. */
struct parent {
    struct kid kids[4];
    int wait_rc;
    int children_done_at_return; /* how many were done when wait returned */
    weft_task *handles[4];
    weft_semaphore started;
};

static void *parent(void *arg)
{
    struct parent *p = arg;
    weft_group *g;
    ck_assert_int_eq(weft_group_create(&g), 0);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(weft_group_spawn(g, &p->handles[i], kid, &p->kids[i],
                                          NULL), 0);
    p->wait_rc = weft_group_wait(g);
    for (int i = 0; i < 4; i++)
        p->children_done_at_return += weft_task_is_done(p->handles[i]);
    ck_assert_int_eq(weft_group_destroy(g), 0);
    return NULL;
}

static void *cancel_parent_main(void *arg)
{
    struct parent *p = arg;
    weft_task *t;
    ck_assert_int_eq(weft_semaphore_init(&p->started, 0), 0);
    for (int i = 0; i < 4; i++)
        p->kids[i].started = &p->started;
    ck_assert_int_eq(weft_spawn(&t, parent, p), 0);
    /* Every child has started: its sleep is what gets cancelled. */
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(weft_semaphore_acquire(&p->started, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_cancel(t), 0);
    ck_assert_int_eq(weft_await(t, NULL), -ECANCELED);
    for (int i = 0; i < 4; i++)
        weft_task_unref(p->handles[i]);
    weft_task_unref(t);
    ck_assert_int_eq(weft_semaphore_destroy(&p->started), 0);
    return NULL;
}

START_TEST(test_no_child_outlives_a_cancelled_parent)
{
    struct parent p = { 0 };
    for (int i = 0; i < 4; i++)
        p.kids[i] = (struct kid){ .ms = TEST_LONG_MS, .sleep_rc = 1 };
    ck_assert_int_eq(run_on(4, cancel_parent_main, &p), 0);
    ck_assert_int_eq(p.wait_rc, -ECANCELED);
    ck_assert_int_eq(p.children_done_at_return, 4);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(p.kids[i].sleep_rc, -ECANCELED);
}
END_TEST

/* Groups nest: a child runs a group of its own, whose failure is its
 * failure, and children spawn siblings into their own group. */
static void *sub_leader(void *arg)
{
    weft_group *sub;
    struct kid *kids = arg;
    ck_assert_int_eq(weft_group_create(&sub), 0);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(weft_group_spawn(sub, NULL, kid, &kids[i], NULL), 0);
    int rc = weft_group_wait(sub);
    ck_assert_int_eq(weft_group_destroy(sub), 0);
    return rc < 0 ? weft_fail(rc, "subgroup failed") : NULL;
}

static long spawned_by_children; /* atomic */

static void *spawns_sibling(void *arg)
{
    weft_group *g = arg;
    /* Once a sibling has failed, the group refuses new children. */
    if (COUNT(spawned_by_children) < 50) {
        int rc = weft_group_spawn(g, NULL, spawns_sibling, g, NULL);
        CHECK(rc == 0 || rc == -ECANCELED);
    }
    return NULL;
}

static void *nested_main(void *arg)
{
    struct kid *kids = arg;
    weft_group *outer;
    weft_semaphore started;
    /* The failure comes once both sleepers sleep, so each is cancelled
     * in its sleep. */
    ck_assert_int_eq(weft_semaphore_init(&started, 0), 0);
    kids[1].started = kids[2].started = kids[0].wait_for = &started;
    kids[0].wait_n = 2;
    ck_assert_int_eq(weft_group_create(&outer), 0);
    ck_assert_int_eq(weft_group_spawn(outer, NULL, sub_leader, kids, NULL), 0);
    ck_assert_int_eq(weft_group_spawn(outer, NULL, spawns_sibling, outer, NULL), 0);
    ck_assert_int_eq(weft_group_spawn(outer, NULL, kid, &kids[2], NULL), 0);
    ck_assert_int_eq(weft_group_wait(outer), WEFT_ENOSPC);
    ck_assert_uint_eq(weft_group_error_count(outer), 1);
    ck_assert_int_eq(weft_group_destroy(outer), 0);
    ck_assert_int_eq(weft_semaphore_destroy(&started), 0);
    return NULL;
}

START_TEST(test_groups_nest)
{
    struct kid kids[3] = { { .ms = 5, .err = WEFT_ENOSPC, .sleep_rc = 1 },
                           { .ms = TEST_LONG_MS, .sleep_rc = 1 },
                           { .ms = TEST_LONG_MS, .sleep_rc = 1 } };
    spawned_by_children = 0;
    ck_assert_int_eq(run_on(4, nested_main, kids), 0);
    /* The inner failure cancelled its sibling, and then the outer one. */
    ck_assert_int_eq(kids[1].sleep_rc, -ECANCELED);
    ck_assert_int_eq(kids[2].sleep_rc, -ECANCELED);
}
END_TEST

/* Seed 004: "use TaskGroup to run tasks concurrently and collect their
 * results" (Python 3.11+). */
static void *square_later(void *arg)
{
    intptr_t n = (intptr_t)arg;
    weft_sleep(n);
    return (void *)(n * n);
}

static void *seed_taskgroup_main(void *arg)
{
    weft_group *g;
    weft_task *t[5];
    void *r;
    intptr_t sum = 0;
    (void)arg;
    ck_assert_int_eq(weft_group_create(&g), 0);
    for (intptr_t i = 0; i < 5; i++)
        ck_assert_int_eq(weft_group_spawn(g, &t[i], square_later, (void *)(i + 1),
                                          NULL), 0);
    ck_assert_int_eq(weft_group_wait(g), 0);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(weft_await(t[i], &r), 0); /* done: no wait */
        sum += (intptr_t)r;
        weft_task_unref(t[i]);
    }
    ck_assert_int_eq(sum, 1 + 4 + 9 + 16 + 25);
    ck_assert_int_eq(weft_group_destroy(g), 0);
    return NULL;
}

START_TEST(test_seed_004_taskgroup)
{
    ck_assert_int_eq(run_clean(seed_taskgroup_main, NULL), 0);
}
END_TEST

static void *group_args_main(void *arg)
{
    weft_group *g;
    struct kid k = { .ms = TEST_LONG_MS, .sleep_rc = 1 };
    (void)arg;
    ck_assert_int_eq(weft_group_create(NULL), -EINVAL);
    ck_assert_int_eq(weft_group_spawn(NULL, NULL, kid, &k, NULL), -EINVAL);
    ck_assert_int_eq(weft_group_wait(NULL), -EINVAL);
    ck_assert_int_eq(weft_group_destroy(NULL), -EINVAL);
    ck_assert_uint_eq(weft_group_error_count(NULL), -EINVAL);
    ck_assert_int_eq(weft_group_error(NULL, 0, NULL), -EINVAL);
    ck_assert_int_eq(weft_group_create(&g), 0);
    ck_assert_int_eq(weft_group_spawn(g, NULL, NULL, &k, NULL), -EINVAL);
    weft_task *child;
    ck_assert_int_eq(weft_group_spawn(g, &child, kid, &k, NULL), 0);
    /* Busy while a child runs and nobody has waited. */
    ck_assert_int_eq(weft_group_destroy(g), -EBUSY);
    /* A child cancelled from outside is not a failure of the group. */
    weft_cancel(child);
    weft_task_unref(child);
    ck_assert_int_eq(weft_group_wait(g), 0);
    ck_assert_uint_eq(weft_group_error_count(g), 0);
    ck_assert_int_eq(weft_group_destroy(g), 0);
    return NULL;
}

START_TEST(test_group_bad_arguments)
{
    ck_assert_int_eq(run_clean(group_args_main, NULL), 0);
}
END_TEST

static Suite *group_suite(void)
{
    Suite *s = suite_create("group");
    TCase *tc = tcase_create("group");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_group_waits_for_all_children);
    tcase_add_test(tc, test_first_failure_cancels_siblings_and_all_errors_are_kept);
    tcase_add_test(tc, test_a_failing_group_refuses_new_children);
    tcase_add_test(tc, test_no_child_outlives_a_cancelled_parent);
    tcase_add_test(tc, test_groups_nest);
    tcase_add_test(tc, test_seed_004_taskgroup);
    tcase_add_test(tc, test_group_bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(group_suite)
