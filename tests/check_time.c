/* Timers: weft_sleep and weft_now. */
#include <errno.h>
#include <stdint.h>

#include "testutil.h"

static void *sleep_lower_bound_main(void *arg)
{
    (void)arg;
    int64_t t0 = mono_ms(), w0 = weft_now();
    ck_assert_int_eq(weft_sleep(50), 0);
    int64_t t1 = mono_ms(), w1 = weft_now();
    ck_assert_int_ge(t1 - t0, 50);
    ck_assert_int_ge(w1 - w0, 50);
    return NULL;
}

START_TEST(test_sleep_lasts_at_least_its_time)
{
    ck_assert_int_eq(run_clean(sleep_lower_bound_main, NULL), 0);
}
END_TEST

/* Sleep sort: tasks started in one order finish in the order of their
 * sleeps. That is decided only in a round where each task resumed before
 * the next deadline could pass: a worker held up past two deadlines fires
 * both timers in one go and runs the later woken first (its LIFO slot).
 * So rounds are run until one is decided (Check's time-out bounds it: a
 * timer that fired late every round would hang the test); any round
 * checks that no sleep was short. */
#define SORTED 5
static const int sort_ms[SORTED] = { 40, 10, 30, 20, 50 };

struct sorter {
    struct event_log *log;
    int ms;
    int64_t before;     /* weft_now() before the sleep */
    int64_t after;      /* weft_now() once logged */
};

static void *sleep_then_log(void *arg)
{
    struct sorter *s = arg;
    char ev[16];
    s->before = weft_now();
    ck_assert_int_eq(weft_sleep(s->ms), 0);
    snprintf(ev, sizeof ev, "%d", s->ms);
    log_event(s->log, ev);
    s->after = weft_now();
    ck_assert_int_ge(s->after - s->before, s->ms);
    return NULL;
}

/* One round; true if it decided the order (and then checked it). */
static bool sleep_sort_round(void)
{
    struct event_log log = { .len = 0 };
    struct sorter s[SORTED], *by_ms[SORTED];
    weft_task *t[SORTED];

    for (int i = 0; i < SORTED; i++) {
        s[i] = (struct sorter){ &log, sort_ms[i], 0, 0 };
        ck_assert_int_eq(weft_spawn(&t[i], sleep_then_log, &s[i]), 0);
    }
    for (int i = 0; i < SORTED; i++) {
        ck_assert_int_eq(weft_await(t[i], NULL), 0);
        weft_task_unref(t[i]);
    }
    for (int i = 0; i < SORTED; i++) {
        int k = 0;
        for (int j = 0; j < SORTED; j++)
            k += s[j].ms < s[i].ms;
        by_ms[k] = &s[i];
    }
    /* weft_now() truncates: the real time is below after + 1. One
     * worker logs in turn, so a task that logged before the next one's
     * earliest deadline logged first. */
    for (int k = 0; k + 1 < SORTED; k++)
        if (by_ms[k]->after + 1 > by_ms[k + 1]->before + by_ms[k + 1]->ms)
            return false;
    ck_assert_str_eq(log.text, "10 20 30 40 50");
    return true;
}

static void *sleep_sort_main(void *arg)
{
    (void)arg;
    while (!sleep_sort_round())
        ;
    return NULL;
}

START_TEST(test_sleepers_wake_in_deadline_order)
{
    ck_assert_int_eq(run_on(1, sleep_sort_main, NULL), 0);
}
END_TEST

static void *log_once(void *arg)
{
    log_event(arg, "other");
    return NULL;
}

static void *sleep_zero_main(void *arg)
{
    struct event_log *log = arg;
    ck_assert_int_eq(weft_spawn(NULL, log_once, log), 0);
    log_event(log, "before");
    /* sleep(0) is a yield: the ready task runs before we return. */
    ck_assert_int_eq(weft_sleep(0), 0);
    log_event(log, "after");
    return NULL;
}

START_TEST(test_sleep_zero_yields)
{
    struct event_log log = { .len = 0 };
    ck_assert_int_eq(run_on(1, sleep_zero_main, &log), 0);
    ck_assert_str_eq(log.text, "before other after");
}
END_TEST

static void *bad_sleep_main(void *arg)
{
    (void)arg;
    ck_assert_int_eq(weft_sleep(-1), -EINVAL);
    ck_assert_int_eq(weft_sleep(INT64_MIN), -EINVAL);
    return NULL;
}

START_TEST(test_sleep_bad_arguments)
{
    ck_assert_int_eq(run_clean(bad_sleep_main, NULL), 0);
    ck_assert_int_eq(weft_sleep(10), -EPERM);
    ck_assert_int_eq(weft_sleep(-1), -EINVAL);
}
END_TEST

START_TEST(test_now_is_monotonic_and_callable_anywhere)
{
    int64_t a = weft_now();
    int64_t b = weft_now();
    ck_assert_int_ge(b, a);
    ck_assert_int_ge(a, 0);
}
END_TEST

/* A task that spins on yield must not starve the timers: the worker polls
 * libevent every few dozen switches even when tasks keep it busy. */
struct spin_state {
    int flag;
    long spins;
};

static void *set_flag_after_sleep(void *arg)
{
    struct spin_state *s = arg;
    ck_assert_int_eq(weft_sleep(5), 0);
    SET(s->flag, 1);
    return NULL;
}

static void *spin_main(void *arg)
{
    struct spin_state *s = arg;
    ck_assert_int_eq(weft_spawn(NULL, set_flag_after_sleep, s), 0);
    /* Bounded: 100 million yields is minutes; the flag takes ~5 ms. */
    while (!READ(s->flag) && s->spins < 100000000L) {
        weft_yield();
        s->spins++;
    }
    ck_assert_int_eq(READ(s->flag), 1);
    return NULL;
}

START_TEST(test_yield_loop_does_not_starve_timers)
{
    struct spin_state s = { 0, 0 };
    ck_assert_int_eq(run_clean(spin_main, &s), 0);
    ck_assert_int_eq(s.flag, 1);
}
END_TEST

/* Many concurrent sleepers each wake exactly once. 40 durations: more
 * than a worker gives a common timeout each (reactor.h), so some of
 * these timers are in libevent's heap and some in its queues. */
static long woken;
#define SLEEPERS (TEST_MAX_LIVE_TASKS < 10000 ? TEST_MAX_LIVE_TASKS : 10000)

static void *short_sleep(void *arg)
{
    CHECK(weft_sleep((int64_t)(intptr_t)arg) == 0);
    COUNT(woken);
    return NULL;
}

static void *many_sleepers_main(void *arg)
{
    weft_group *g;
    (void)arg;
    ck_assert_int_eq(weft_group_create(&g), 0);
    for (int i = 0; i < SLEEPERS; i++)
        CHECK(weft_group_spawn(g, NULL, short_sleep,
                               (void *)(intptr_t)(1 + i % 40), NULL) == 0);
    ck_assert_int_eq(weft_group_wait(g), 0);
    ck_assert_int_eq(weft_group_destroy(g), 0);
    return NULL;
}

START_TEST(test_many_sleepers_each_wake_once)
{
    woken = 0;
    ck_assert_int_eq(run_clean(many_sleepers_main, NULL), 0);
    ck_assert_int_eq(woken, SLEEPERS);
}
END_TEST

/* The longest times the API takes mean "until interrupted": nothing in
 * their arithmetic wraps round to a time that has passed. One worker, so
 * that each task has suspended when main goes on. */
static const int64_t huge[] = { INT64_MAX, INT64_MAX - 1, INT64_MAX / 1000,
                                INT64_MAX / 1000000 + 1 };

static void *sleep_huge(void *arg)
{
    return (void *)(intptr_t)weft_sleep(*(const int64_t *)arg);
}

static int fired; /* atomic */

static void note_fired(void *arg)
{
    (void)arg;
    COUNT(fired);
}

static void *join_from_thread(void *arg)
{
    void *r = NULL;
    CHECK(weft_task_join(arg, &r, INT64_MAX) == 0);
    CHECK(r == (void *)7);
    return NULL;
}

static void *returns_seven(void *arg)
{
    (void)arg;
    CHECK(weft_sleep(10) == 0);
    return (void *)7;
}

static void *join_thread(void *arg)
{
    test_thread_join(arg);
    return NULL;
}

static void *huge_times_main(void *arg)
{
    (void)arg;
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        weft_task *t;
        weft_handle *h;
        weft_scope scope;
        void *r;

        ck_assert_int_eq(weft_spawn(&t, sleep_huge, (void *)&huge[i]), 0);
        ck_assert_int_eq(weft_call_later(&h, huge[i], note_fired, NULL), 0);
        ck_assert_int_eq(weft_timeout_enter(&scope, huge[i]), 0);
        ck_assert_int_eq(weft_sleep(20), 0); /* the scope did not expire */
        ck_assert_int_eq(weft_scope_leave(&scope), 0);
        ck_assert_int_eq(weft_task_is_done(t), 0);
        ck_assert_int_eq(weft_cancel(t), 0);
        ck_assert_int_eq(weft_await(t, &r), -ECANCELED);
        weft_task_unref(t);
        ck_assert_int_eq(weft_handle_cancel(h), 0); /* had not run */
        weft_handle_unref(h);
        ck_assert_int_eq(READ(fired), 0);
        ck_assert_int_eq(weft_spawn(&t, returns_seven, NULL), 0);
        ck_assert_int_eq(weft_wait_for(t, &r, huge[i]), 0);
        ck_assert_ptr_eq(r, (void *)7);
        weft_task_unref(t);
    }
    /* A plain thread's join. */
    weft_task *t;
    struct test_thread th;
    ck_assert_int_eq(weft_spawn(&t, returns_seven, NULL), 0);
    test_thread_start(&th, join_from_thread, t);
    ck_assert_int_eq(weft_to_thread(join_thread, &th, NULL), 0);
    weft_task_unref(t);
    return NULL;
}

START_TEST(test_huge_times_wait_until_interrupted)
{
    fired = 0;
    ck_assert_int_eq(run_on(1, huge_times_main, NULL), 0);
}
END_TEST

static Suite *time_suite(void)
{
    Suite *s = suite_create("time");
    TCase *tc = tcase_create("time");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_sleep_lasts_at_least_its_time);
    tcase_add_test(tc, test_sleepers_wake_in_deadline_order);
    tcase_add_test(tc, test_sleep_zero_yields);
    tcase_add_test(tc, test_sleep_bad_arguments);
    tcase_add_test(tc, test_now_is_monotonic_and_callable_anywhere);
    tcase_add_test(tc, test_yield_loop_does_not_starve_timers);
    tcase_add_test(tc, test_many_sleepers_each_wake_once);
    tcase_add_test(tc, test_huge_times_wait_until_interrupted);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(time_suite)
