/* Conditions: waiters woken by a notify reacquire the lock in the order
 * they began to wait (asyncio's test_notify), whatever the workers. */
#include <errno.h>
#include <stdint.h>

#include "testutil.h"

#define WAITERS 6

struct fifo {
    weft_lock lock;
    weft_condition cond;
    int arrived;            /* under the lock: waiters queued so far */
    int order[WAITERS];     /* under the lock: who came back, in order */
    int back;
};

struct waiter_arg {
    struct fifo *f;
    int arrival;            /* set under the lock as it arrives */
};

static void *waiter(void *arg)
{
    struct waiter_arg *w = arg;
    struct fifo *f = w->f;
    CHECK(weft_lock_acquire(&f->lock, WEFT_FOREVER) == 0);
    w->arrival = f->arrived++;
    /* Queued on the condition and the lock released in one step: once the
     * notifier holds the lock and counts every arrival, all are queued. */
    CHECK(weft_condition_wait(&f->cond, WEFT_FOREVER) == 0);
    f->order[f->back++] = w->arrival;
    CHECK(weft_lock_release(&f->lock) == 0);
    return NULL;
}

/* Holds the lock once every waiter is queued (they count themselves). */
static void lock_when_all_wait(struct fifo *f, int n)
{
    for (;;) {
        ck_assert_int_eq(weft_lock_acquire(&f->lock, WEFT_FOREVER), 0);
        if (f->arrived == n)
            return;
        ck_assert_int_eq(weft_lock_release(&f->lock), 0);
        ck_assert_int_eq(weft_yield(), 0);
    }
}

static void *fifo_main(void *arg)
{
    int notify_in = *(int *)arg; /* notify(n) in steps of this many */
    struct fifo f = { .arrived = 0, .back = 0 };
    struct waiter_arg args[WAITERS];
    weft_task *t[WAITERS];

    ck_assert_int_eq(weft_lock_init(&f.lock), 0);
    ck_assert_int_eq(weft_condition_init(&f.cond, &f.lock), 0);
    for (int i = 0; i < WAITERS; i++) {
        args[i].f = &f;
        ck_assert_int_eq(weft_spawn(&t[i], waiter, &args[i]), 0);
    }
    lock_when_all_wait(&f, WAITERS);
    if (notify_in == 0) {
        ck_assert_int_eq(weft_condition_notify_all(&f.cond), WAITERS);
    } else {
        for (int done = 0; done < WAITERS; done += notify_in)
            ck_assert_int_eq(weft_condition_notify(&f.cond, (unsigned)notify_in),
                             notify_in);
    }
    /* Nobody runs ahead while the lock is held here. */
    ck_assert_int_eq(f.back, 0);
    ck_assert_int_eq(weft_lock_release(&f.lock), 0);
    for (int i = 0; i < WAITERS; i++) {
        ck_assert_int_eq(weft_await(t[i], NULL), 0);
        weft_task_unref(t[i]);
    }
    ck_assert_int_eq(f.back, WAITERS);
    for (int i = 0; i < WAITERS; i++)
        ck_assert_int_eq(f.order[i], i);
    ck_assert_int_eq(weft_condition_destroy(&f.cond), 0);
    ck_assert_int_eq(weft_lock_destroy(&f.lock), 0);
    return NULL;
}

START_TEST(test_notify_all_reacquires_in_waiting_order_on_one_worker)
{
    int all = 0;
    ck_assert_int_eq(run_on(1, fifo_main, &all), 0);
}
END_TEST

START_TEST(test_notify_all_reacquires_in_waiting_order_on_four_workers)
{
    int all = 0;
    ck_assert_int_eq(run_on(4, fifo_main, &all), 0);
}
END_TEST

START_TEST(test_notify_n_reacquires_in_waiting_order)
{
    int two = 2;
    ck_assert_int_eq(run_on(4, fifo_main, &two), 0);
}
END_TEST

/* A notified waiter cancelled before it runs: it still comes back holding
 * the lock, with -ECANCELED, and the notification goes to the next. */
struct cancelled {
    weft_lock lock;
    weft_condition cond;
    int arrived;          /* under the lock */
    int rc[2];            /* what each waiter's wait gave */
    int held_after[2];    /* 1 if it held the lock when the wait returned */
};

struct cancelled_arg {
    struct cancelled *c;
    int i;
};

static void *cancellable_waiter(void *arg)
{
    struct cancelled_arg *a = arg;
    struct cancelled *c = a->c;
    CHECK(weft_lock_acquire(&c->lock, WEFT_FOREVER) == 0);
    c->arrived++;
    c->rc[a->i] = weft_condition_wait(&c->cond, WEFT_FOREVER);
    c->held_after[a->i] = weft_lock_try_acquire(&c->lock) == -EDEADLK;
    CHECK(weft_lock_release(&c->lock) == 0);
    return NULL;
}

static void *cancelled_main(void *arg)
{
    struct cancelled c = { .arrived = 0 };
    struct cancelled_arg args[2] = { { &c, 0 }, { &c, 1 } };
    weft_task *t[2];
    (void)arg;
    ck_assert_int_eq(weft_lock_init(&c.lock), 0);
    ck_assert_int_eq(weft_condition_init(&c.cond, &c.lock), 0);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(weft_spawn(&t[i], cancellable_waiter, &args[i]), 0);
    for (;;) {
        ck_assert_int_eq(weft_lock_acquire(&c.lock, WEFT_FOREVER), 0);
        if (c.arrived == 2)
            break;
        ck_assert_int_eq(weft_lock_release(&c.lock), 0);
        ck_assert_int_eq(weft_yield(), 0);
    }
    /* The first is notified, then cancelled while the lock is still held
     * here: its notification must go on to the second. */
    ck_assert_int_eq(weft_condition_notify(&c.cond, 1), 1);
    ck_assert_int_eq(weft_cancel(t[0]), 0);
    ck_assert_int_eq(weft_lock_release(&c.lock), 0);
    ck_assert_int_eq(weft_await(t[0], NULL), -ECANCELED);
    ck_assert_int_eq(weft_await(t[1], NULL), 0);
    ck_assert_int_eq(c.rc[0], -ECANCELED);
    ck_assert_int_eq(c.rc[1], 0);
    ck_assert_int_eq(c.held_after[0], 1);
    ck_assert_int_eq(c.held_after[1], 1);
    for (int i = 0; i < 2; i++)
        weft_task_unref(t[i]);
    ck_assert_int_eq(weft_condition_destroy(&c.cond), 0);
    ck_assert_int_eq(weft_lock_destroy(&c.lock), 0);
    return NULL;
}

START_TEST(test_a_notified_waiter_cancelled_passes_the_notification_on)
{
    ck_assert_int_eq(run_on(1, cancelled_main, NULL), 0);
    ck_assert_int_eq(run_on(4, cancelled_main, NULL), 0);
}
END_TEST

static Suite *condition_suite(void)
{
    Suite *s = suite_create("condition");
    TCase *tc = tcase_create("condition");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_notify_all_reacquires_in_waiting_order_on_one_worker);
    tcase_add_test(tc, test_notify_all_reacquires_in_waiting_order_on_four_workers);
    tcase_add_test(tc, test_notify_n_reacquires_in_waiting_order);
    tcase_add_test(tc, test_a_notified_waiter_cancelled_passes_the_notification_on);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(condition_suite)
