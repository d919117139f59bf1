/* call_soon and call_later. */
#include <errno.h>
#include <stdint.h>

#include "testutil.h"

static struct event_log cb_log;

static void log_arg(void *arg)
{
    log_event(&cb_log, arg);
}

static void *soon_order_main(void *arg)
{
    (void)arg;
    ck_assert_int_eq(weft_call_soon(NULL, log_arg, "a"), 0);
    ck_assert_int_eq(weft_call_soon(NULL, log_arg, "b"), 0);
    ck_assert_int_eq(weft_call_soon(NULL, log_arg, "c"), 0);
    log_event(&cb_log, "queued");
    /* They run, in order, at the next suspension. */
    ck_assert_int_eq(weft_yield(), 0);
    log_event(&cb_log, "resumed");
    return NULL;
}

START_TEST(test_call_soon_runs_in_order_at_next_suspension)
{
    cb_log.len = 0;
    ck_assert_int_eq(run_on(1, soon_order_main, NULL), 0);
    ck_assert_str_eq(cb_log.text, "queued a b c resumed");
}
END_TEST

static int64_t fired_at; /* atomic */

static void note_time(void *arg)
{
    SET(fired_at, mono_ms());
    CHECK(weft_event_set(arg) == 0);
}

static void *later_main(void *arg)
{
    weft_handle *h;
    weft_event fired;
    (void)arg;
    ck_assert_int_eq(weft_event_init(&fired), 0);
    int64_t t0 = mono_ms();
    ck_assert_int_eq(weft_call_later(&h, 30, note_time, &fired), 0);
    weft_handle_unref(h);
    ck_assert_int_eq(weft_event_wait(&fired, WEFT_FOREVER), 0);
    ck_assert_int_ge(READ(fired_at) - t0, 30);
    ck_assert_int_eq(weft_event_destroy(&fired), 0);
    return NULL;
}

START_TEST(test_call_later_waits_its_delay)
{
    fired_at = 0;
    ck_assert_int_eq(run_clean(later_main, NULL), 0);
}
END_TEST

static int ran; /* atomic */

static void count_run(void *arg)
{
    (void)arg;
    COUNT(ran);
}

static void *cancel_main(void *arg)
{
    weft_handle *later, *soon, *gone;
    (void)arg;
    ck_assert_int_eq(weft_call_later(&later, 10, count_run, NULL), 0);
    ck_assert_int_eq(weft_call_soon(&soon, count_run, NULL), 0);
    ck_assert_int_eq(weft_handle_cancel(later), 0);
    ck_assert_int_eq(weft_handle_cancel(soon), 0);
    /* Cancelling again: still "it will not run"; the handle stays valid
     * until it is unref'd. */
    ck_assert_int_eq(weft_handle_cancel(soon), 0);
    ck_assert_int_eq(weft_call_soon(&gone, count_run, NULL), 0);
    ck_assert_ptr_eq(weft_handle_ref(gone), gone);
    weft_sleep(30); /* both would have run by now */
    ck_assert_int_eq(READ(ran), 1);
    ck_assert_int_eq(weft_handle_cancel(gone), -EALREADY);
    weft_handle_unref(gone); /* the reference taken above */
    ck_assert_int_eq(weft_handle_cancel(gone), -EALREADY);
    ck_assert_int_eq(weft_handle_cancel(NULL), -EINVAL);
    ck_assert_ptr_null(weft_handle_ref(NULL));
    weft_handle_unref(NULL);
    weft_handle_unref(later);
    weft_handle_unref(soon);
    weft_handle_unref(gone);
    return NULL;
}

START_TEST(test_cancelled_callbacks_never_run)
{
    ran = 0;
    ck_assert_int_eq(run_on(1, cancel_main, NULL), 0);
    ck_assert_int_eq(ran, 1);
}
END_TEST

/* Cancelled from a plain thread: only marked, then skipped. */
static void *cancel_handle(void *arg)
{
    CHECK(weft_handle_cancel(arg) == 0);
    return NULL;
}

static void *foreign_cancel_main(void *arg)
{
    weft_handle *h;
    struct test_thread th;
    (void)arg;
    ck_assert_int_eq(weft_call_later(&h, 20, count_run, NULL), 0);
    test_thread_start(&th, cancel_handle, h);
    test_thread_join(&th);
    weft_handle_unref(h);
    weft_sleep(40);
    ck_assert_int_eq(READ(ran), 0);
    return NULL;
}

START_TEST(test_cancel_a_callback_from_a_plain_thread)
{
    ran = 0;
    ck_assert_int_eq(run_on(1, foreign_cancel_main, NULL), 0);
    ck_assert_int_eq(ran, 0);
}
END_TEST

/* A callback may spawn a task (as loop.call_soon(loop.create_task, ...)). */
struct spawned {
    int runs;           /* atomic */
    weft_event ran;
};

static void *spawned_by_callback(void *arg)
{
    struct spawned *sp = arg;
    COUNT(sp->runs);
    CHECK(weft_event_set(&sp->ran) == 0);
    return NULL;
}

static void spawn_from_callback(void *arg)
{
    CHECK(weft_spawn(NULL, spawned_by_callback, arg) == 0);
}

static void *callback_spawn_main(void *arg)
{
    struct spawned *sp = arg;
    ck_assert_int_eq(weft_event_init(&sp->ran), 0);
    ck_assert_int_eq(weft_call_soon(NULL, spawn_from_callback, sp), 0);
    ck_assert_int_eq(weft_event_wait(&sp->ran, WEFT_FOREVER), 0);
    return NULL;
}

START_TEST(test_a_callback_can_spawn_a_task)
{
    struct spawned sp = { 0, { { 0 } } };
    ck_assert_int_eq(run_clean(callback_spawn_main, &sp), 0);
    ck_assert_int_eq(sp.runs, 1);
    ck_assert_int_eq(weft_event_destroy(&sp.ran), 0);
}
END_TEST

static void *pending_at_exit_main(void *arg)
{
    (void)arg;
    /* Still pending when weft_run returns: dropped, and freed. */
    ck_assert_int_eq(weft_call_later(NULL, TEST_LONG_MS, count_run, NULL), 0);
    return NULL;
}

START_TEST(test_pending_callbacks_are_dropped_at_exit)
{
    ran = 0;
    ck_assert_int_eq(run_clean(pending_at_exit_main, NULL), 0);
    ck_assert_int_eq(ran, 0);
}
END_TEST

/* A handle whose callback was dropped as weft_run ended: cancelling it
 * says it will not run (0), as for any callback that never ran. */
static weft_handle *dropped;

static void *drop_at_exit_main(void *arg)
{
    (void)arg;
    ck_assert_int_eq(weft_call_later(&dropped, 60000, count_run, NULL), 0);
    return NULL;
}

START_TEST(test_cancel_a_dropped_callback)
{
    ran = 0;
    ck_assert_int_eq(run_clean(drop_at_exit_main, NULL), 0);
    ck_assert_int_eq(weft_handle_cancel(dropped), 0);
    ck_assert_int_eq(weft_handle_cancel(dropped), 0);
    weft_handle_unref(dropped);
    ck_assert_int_eq(ran, 0);
}
END_TEST

/* Each round of callbacks runs only those queued before it began, even
 * when one of them cancels the last queued: a callback that queues itself
 * again cannot hold the worker. */
#define REQUEUE_MAX 100000
static int requeued;      /* runs of the callback that requeues itself */
static bool stop_requeue;
static weft_handle *last_queued;

static void requeue_self(void *arg)
{
    requeued++;
    if (!stop_requeue && requeued < REQUEUE_MAX)
        CHECK(weft_call_soon(NULL, requeue_self, arg) == 0);
}

static void cancel_last_and_requeue(void *arg)
{
    CHECK(weft_handle_cancel(last_queued) == 0);
    CHECK(weft_call_soon(NULL, requeue_self, arg) == 0);
}

static void *cancel_last_main(void *arg)
{
    (void)arg;
    requeued = 0;
    stop_requeue = false;
    ck_assert_int_eq(weft_call_soon(NULL, cancel_last_and_requeue, NULL), 0);
    ck_assert_int_eq(weft_call_soon(&last_queued, count_run, NULL), 0);
    ck_assert_int_eq(weft_yield(), 0);
    /* The round had the first two; the requeued one is for the next. */
    ck_assert_int_le(requeued, 1);
    stop_requeue = true;
    ck_assert_int_eq(weft_yield(), 0);
    ck_assert_int_eq(ran, 0);
    weft_handle_unref(last_queued);
    return NULL;
}

/* Frees are held until the run is over, so that no new handle can take
 * the address of a freed one (which would hide a stale pointer). */
static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;
static void *held[4096];
static size_t nheld;

static void holding_free(void *p)
{
    pthread_mutex_lock(&held_lock);
    if (nheld < sizeof held / sizeof held[0]) {
        held[nheld++] = p;
        p = NULL;
    }
    pthread_mutex_unlock(&held_lock);
    free(p);
}

START_TEST(test_a_cancel_keeps_the_round_bounded)
{
    ran = 0;
    ck_assert_int_eq(weft_replace_allocator(malloc, realloc, calloc,
                                            holding_free), 0);
    ck_assert_int_eq(run_on(1, cancel_last_main, NULL), 0);
    ck_assert_int_eq(weft_replace_allocator(malloc, realloc, calloc, free), 0);
    while (nheld > 0)
        free(held[--nheld]);
    ck_assert_int_lt(requeued, REQUEUE_MAX);
}
END_TEST

START_TEST(test_callback_bad_arguments)
{
    weft_handle *h = (weft_handle *)&h;
    ck_assert_int_eq(weft_call_soon(&h, count_run, NULL), -EPERM);
    ck_assert_ptr_null(h);
    ck_assert_int_eq(weft_call_soon(NULL, NULL, NULL), -EINVAL);
    ck_assert_int_eq(weft_call_later(NULL, -1, count_run, NULL), -EINVAL);
    ck_assert_int_eq(weft_call_later(NULL, 5, count_run, NULL), -EPERM);
}
END_TEST

static Suite *callback_suite(void)
{
    Suite *s = suite_create("callback");
    TCase *tc = tcase_create("callback");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_call_soon_runs_in_order_at_next_suspension);
    tcase_add_test(tc, test_call_later_waits_its_delay);
    tcase_add_test(tc, test_cancelled_callbacks_never_run);
    tcase_add_test(tc, test_cancel_a_callback_from_a_plain_thread);
    tcase_add_test(tc, test_a_callback_can_spawn_a_task);
    tcase_add_test(tc, test_pending_callbacks_are_dropped_at_exit);
    tcase_add_test(tc, test_callback_bad_arguments);
    tcase_add_test(tc, test_cancel_a_dropped_callback);
    tcase_add_test(tc, test_a_cancel_keeps_the_round_bounded);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(callback_suite)
