/* The wait-queue guarantees every primitive shares: first come, first
 * served; direct hand-over (no barging); and a waiter interrupted as it
 * is granted gives the grant on. The interrupted-while-granted case is
 * made deterministic on one worker: the waiter is cancelled, then granted
 * before it has run. */
#include <errno.h>
#include <stdint.h>

#include "testutil.h"

/* A waiter task: which primitive, and what it got. */
enum what { LOCK, SEMAPHORE, EVENT, CONDITION, QUEUE_GET, RWLOCK_WRITE };

struct shared {
    weft_lock lock;
    weft_semaphore sem;
    weft_event ev;
    weft_condition cond;
    weft_rwlock rw;
    weft_queue *q;
    int order[8];
    int norder;
};

struct waiter {
    struct shared *sh;
    enum what what;
    int id;
    int rc;
    void *item;
    int returned;
};

static void *waiter(void *arg)
{
    struct waiter *w = arg;
    struct shared *sh = w->sh;

    switch (w->what) {
    case LOCK:
        w->rc = weft_lock_acquire(&sh->lock, WEFT_FOREVER);
        if (w->rc == 0) {
            sh->order[sh->norder++] = w->id;
            ck_assert_int_eq(weft_lock_release(&sh->lock), 0);
        }
        break;
    case SEMAPHORE:
        w->rc = weft_semaphore_acquire(&sh->sem, WEFT_FOREVER);
        if (w->rc == 0)
            sh->order[sh->norder++] = w->id;
        break;
    case EVENT:
        w->rc = weft_event_wait(&sh->ev, WEFT_FOREVER);
        break;
    case CONDITION:
        ck_assert_int_eq(weft_lock_acquire(&sh->lock, WEFT_FOREVER), 0);
        w->rc = weft_condition_wait(&sh->cond, WEFT_FOREVER);
        /* Held again, whatever happened. */
        ck_assert_int_eq(weft_lock_release(&sh->lock), 0);
        break;
    case QUEUE_GET:
        w->rc = weft_queue_get(sh->q, &w->item, WEFT_FOREVER);
        break;
    case RWLOCK_WRITE:
        w->rc = weft_rwlock_acquire_write(&sh->rw, WEFT_FOREVER);
        if (w->rc == 0)
            ck_assert_int_eq(weft_rwlock_release_write(&sh->rw), 0);
        break;
    }
    w->returned = 1;
    return NULL;
}

static void shared_init(struct shared *sh)
{
    memset(sh, 0, sizeof *sh);
    ck_assert_int_eq(weft_lock_init(&sh->lock), 0);
    ck_assert_int_eq(weft_semaphore_init(&sh->sem, 0), 0);
    ck_assert_int_eq(weft_event_init(&sh->ev), 0);
    ck_assert_int_eq(weft_condition_init(&sh->cond, &sh->lock), 0);
    ck_assert_int_eq(weft_rwlock_init(&sh->rw), 0);
    ck_assert_int_eq(weft_queue_create(&sh->q, NULL), 0);
}

static void shared_destroy(struct shared *sh)
{
    ck_assert_int_eq(weft_lock_destroy(&sh->lock), 0);
    ck_assert_int_eq(weft_semaphore_destroy(&sh->sem), 0);
    ck_assert_int_eq(weft_event_destroy(&sh->ev), 0);
    ck_assert_int_eq(weft_condition_destroy(&sh->cond), 0);
    ck_assert_int_eq(weft_rwlock_destroy(&sh->rw), 0);
    ck_assert_int_eq(weft_queue_destroy(sh->q), 0);
}

/* Spawns waiters[0..n) in order; on one worker each has queued when its
 * spawn's yield returns. */
static void start_waiters(struct waiter *w, int n, weft_task **t)
{
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(weft_spawn(&t[i], waiter, &w[i]), 0);
        ck_assert_int_eq(weft_yield(), 0);
        ck_assert_int_eq(w[i].returned, 0);
    }
}

/* A waiter whose cancellation was requested ends cancelled, whatever it
 * returned (cancellation is never swallowed). */
static void finish_waiters(struct waiter *w, int n, weft_task **t)
{
    for (int i = 0; i < n; i++) {
        int rc = weft_await(t[i], NULL);
        ck_assert_int_eq(rc, weft_task_cancelling(t[i]) == 1 ? -ECANCELED : 0);
        ck_assert_int_eq(w[i].returned, 1);
        weft_task_unref(t[i]);
    }
}

/* --- first come, first served; no barging ------------------------------- */

static void *fifo_main(void *arg)
{
    struct shared sh;
    struct waiter w[5];
    weft_task *t[5];
    (void)arg;

    shared_init(&sh);
    ck_assert_int_eq(weft_lock_acquire(&sh.lock, WEFT_FOREVER), 0);
    for (int i = 0; i < 5; i++)
        w[i] = (struct waiter){ &sh, LOCK, i, 1, NULL, 0 };
    start_waiters(w, 5, t);
    ck_assert_int_eq(weft_lock_release(&sh.lock), 0);
    /* Handed to waiter 0: the releaser cannot take it back. */
    ck_assert_int_eq(weft_lock_try_acquire(&sh.lock), -EAGAIN);
    ck_assert_int_eq(weft_lock_is_locked(&sh.lock), 1);
    finish_waiters(w, 5, t);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(sh.order[i], i);
    ck_assert_int_eq(weft_lock_is_locked(&sh.lock), 0);

    /* Semaphore permits, in the same order. */
    sh.norder = 0;
    for (int i = 0; i < 5; i++)
        w[i] = (struct waiter){ &sh, SEMAPHORE, i, 1, NULL, 0 };
    start_waiters(w, 5, t);
    /* One permit at a time, each let run: the order of the grants. */
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(weft_semaphore_release(&sh.sem), 0);
        ck_assert_int_eq(weft_semaphore_try_acquire(&sh.sem), -EAGAIN);
        ck_assert_int_eq(weft_yield(), 0);
        ck_assert_int_eq(sh.norder, i + 1);
    }
    finish_waiters(w, 5, t);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(sh.order[i], i);
    ck_assert_int_eq(weft_semaphore_value(&sh.sem), 0);
    shared_destroy(&sh);
    return NULL;
}

START_TEST(test_waiters_served_in_order_without_barging)
{
    ck_assert_int_eq(run_on(1, fifo_main, NULL), 0);
}
END_TEST

/* --- cancelled as granted: the grant goes on ----------------------------- */

struct race_case {
    enum what what;
};

static void *granted_while_cancelled_main(void *arg)
{
    struct race_case *rc = arg;
    struct shared sh;
    struct waiter w[2];
    weft_task *t[2];
    int x = 42;

    shared_init(&sh);
    if (rc->what == LOCK)
        ck_assert_int_eq(weft_lock_acquire(&sh.lock, WEFT_FOREVER), 0);
    if (rc->what == RWLOCK_WRITE)
        ck_assert_int_eq(weft_rwlock_acquire_read(&sh.rw, WEFT_FOREVER), 0);
    for (int i = 0; i < 2; i++)
        w[i] = (struct waiter){ &sh, rc->what, i, 1, NULL, 0 };
    start_waiters(w, 2, t);

    /* W (waiter 0) is woken by the cancel but has not run: it is still
     * first in the queue when the grant comes. */
    ck_assert_int_eq(weft_cancel(t[0]), 0);
    switch (rc->what) {
    case LOCK:
        ck_assert_int_eq(weft_lock_release(&sh.lock), 0);
        break;
    case SEMAPHORE:
        ck_assert_int_eq(weft_semaphore_release(&sh.sem), 0);
        break;
    case EVENT:
        ck_assert_int_eq(weft_event_set(&sh.ev), 0);
        break;
    case CONDITION:
        ck_assert_int_eq(weft_lock_acquire(&sh.lock, WEFT_FOREVER), 0);
        ck_assert_int_eq(weft_condition_notify(&sh.cond, 1), 1);
        ck_assert_int_eq(weft_lock_release(&sh.lock), 0);
        break;
    case QUEUE_GET:
        ck_assert_int_eq(weft_queue_put(sh.q, &x, WEFT_FOREVER), 0);
        break;
    case RWLOCK_WRITE:
        ck_assert_int_eq(weft_rwlock_release_read(&sh.rw), 0);
        break;
    }
    finish_waiters(w, 2, t);
    ck_assert_int_eq(w[0].rc, -ECANCELED);
    ck_assert_int_eq(w[1].rc, 0); /* what W was given went on to X */
    switch (rc->what) {
    case LOCK:
        ck_assert_int_eq(sh.norder, 1);
        ck_assert_int_eq(sh.order[0], 1);
        ck_assert_int_eq(weft_lock_is_locked(&sh.lock), 0);
        break;
    case SEMAPHORE:
        ck_assert_int_eq(sh.order[0], 1);
        ck_assert_int_eq(weft_semaphore_value(&sh.sem), 0);
        break;
    case EVENT:
        ck_assert_int_eq(weft_event_is_set(&sh.ev), 1);
        break;
    case QUEUE_GET:
        ck_assert_ptr_eq(w[1].item, &x);
        ck_assert_int_eq(weft_queue_size(sh.q), 0);
        break;
    default:
        break;
    }
    shared_destroy(&sh);
    return NULL;
}

START_TEST(test_grant_to_cancelled_waiter_goes_on)
{
    static const enum what cases[] = { LOCK, SEMAPHORE, EVENT, CONDITION,
                                       QUEUE_GET, RWLOCK_WRITE };
    struct race_case rc = { cases[_i] };
    ck_assert_int_eq(run_on(1, granted_while_cancelled_main, &rc), 0);
}
END_TEST

/* A putter cancelled as its item is admitted: the put happened (0), and
 * every item put is received exactly once. */
struct put_waiter {
    weft_queue *q;
    int item;
    int rc;
};

static void *put_waiter(void *arg)
{
    struct put_waiter *p = arg;
    p->rc = weft_queue_put(p->q, &p->item, WEFT_FOREVER);
    return NULL;
}

static void *putter_race_main(void *arg)
{
    weft_queue *q;
    weft_task *t[2];
    struct put_waiter p[2];
    int first = 0;
    void *v;
    (void)arg;

    ck_assert_int_eq(weft_queue_create(&q, &(weft_queue_opts){ .maxsize = 1 }), 0);
    ck_assert_int_eq(weft_queue_put(q, &first, 0), 0);
    for (int i = 0; i < 2; i++) {
        p[i] = (struct put_waiter){ q, i + 1, 1 };
        ck_assert_int_eq(weft_spawn(&t[i], put_waiter, &p[i]), 0);
        ck_assert_int_eq(weft_yield(), 0);
    }
    ck_assert_int_eq(weft_cancel(t[0]), 0);
    ck_assert_int_eq(weft_queue_get(q, &v, 0), 0); /* admits P1's item */
    ck_assert_ptr_eq(v, &first);
    ck_assert_int_eq(weft_await(t[0], NULL), -ECANCELED);
    ck_assert_int_eq(p[0].rc, 0);
    ck_assert_int_eq(weft_queue_get(q, &v, 0), 0);
    ck_assert_ptr_eq(v, &p[0].item);
    ck_assert_int_eq(weft_queue_get(q, &v, WEFT_FOREVER), 0);
    ck_assert_ptr_eq(v, &p[1].item);
    ck_assert_int_eq(weft_await(t[1], NULL), 0);
    ck_assert_int_eq(p[1].rc, 0);
    ck_assert_int_eq(weft_queue_size(q), 0);
    for (int i = 0; i < 2; i++)
        weft_task_unref(t[i]);
    ck_assert_int_eq(weft_queue_destroy(q), 0);
    return NULL;
}

START_TEST(test_putter_cancelled_as_admitted)
{
    ck_assert_int_eq(run_on(1, putter_race_main, NULL), 0);
}
END_TEST

/* A barrier party cancelled just before the round completes was counted
 * in it: it reports its cancellation, the others pass. */
struct party {
    weft_barrier *b;
    int rc;
};

static void *barrier_party(void *arg)
{
    struct party *p = arg;
    p->rc = weft_barrier_wait(p->b, WEFT_FOREVER);
    return NULL;
}

static void *barrier_race_main(void *arg)
{
    weft_barrier b;
    weft_task *t[2];
    struct party p[2];
    (void)arg;

    ck_assert_int_eq(weft_barrier_init(&b, 3), 0);
    for (int i = 0; i < 2; i++) {
        p[i] = (struct party){ &b, 99 };
        ck_assert_int_eq(weft_spawn(&t[i], barrier_party, &p[i]), 0);
        ck_assert_int_eq(weft_yield(), 0);
    }
    ck_assert_int_eq(weft_cancel(t[0]), 0);
    ck_assert_int_eq(weft_barrier_wait(&b, WEFT_FOREVER), 2);
    ck_assert_int_eq(weft_await(t[0], NULL), -ECANCELED);
    ck_assert_int_eq(weft_await(t[1], NULL), 0);
    ck_assert_int_eq(p[0].rc, -ECANCELED);
    ck_assert_int_eq(p[1].rc, 1);
    ck_assert_int_eq(weft_barrier_n_waiting(&b), 0);
    for (int i = 0; i < 2; i++)
        weft_task_unref(t[i]);
    ck_assert_int_eq(weft_barrier_destroy(&b), 0);
    return NULL;
}

START_TEST(test_barrier_party_cancelled_as_round_completes)
{
    ck_assert_int_eq(run_on(1, barrier_race_main, NULL), 0);
}
END_TEST

/* --- the same race, free-running on four workers ------------------------- */

struct stress {
    weft_lock lock;
    weft_semaphore sem;
    long in_lock;       /* tasks inside the lock: 0 or 1 */
    long acquired;
    long failed;
    int violations;
};

static void *contender(void *arg)
{
    struct stress *st = arg;
    for (int i = 0; i < 50; i++) {
        /* 0 or 1 ms: many time out just as the lock is handed over. */
        int rc = weft_lock_acquire(&st->lock, i & 1);
        if (rc == 0) {
            if (__atomic_fetch_add(&st->in_lock, 1, __ATOMIC_RELAXED) != 0)
                st->violations++;
            __atomic_fetch_add(&st->acquired, 1, __ATOMIC_RELAXED);
            if (i % 5 == 0)
                weft_yield();
            __atomic_fetch_sub(&st->in_lock, 1, __ATOMIC_RELAXED);
            CHECK(weft_lock_release(&st->lock) == 0);
        } else {
            CHECK(rc == -ETIMEDOUT);
            __atomic_fetch_add(&st->failed, 1, __ATOMIC_RELAXED);
        }
        rc = weft_semaphore_acquire(&st->sem, i & 1);
        if (rc == 0)
            CHECK(weft_semaphore_release(&st->sem) == 0);
        else
            CHECK(rc == -ETIMEDOUT);
    }
    return NULL;
}

static void *stress_main(void *arg)
{
    enum { N = 64 };
    struct stress st;
    weft_task *t[N];
    (void)arg;

    memset(&st, 0, sizeof st);
    ck_assert_int_eq(weft_lock_init(&st.lock), 0);
    ck_assert_int_eq(weft_semaphore_init(&st.sem, 2), 0);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(weft_spawn(&t[i], contender, &st), 0);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(weft_await(t[i], NULL), 0);
        weft_task_unref(t[i]);
    }
    ck_assert_int_eq(st.violations, 0);
    ck_assert_int_eq(st.acquired + st.failed, N * 50);
    /* Nothing kept by a waiter that gave up: all free again. */
    ck_assert_int_eq(weft_lock_is_locked(&st.lock), 0);
    ck_assert_int_eq(weft_semaphore_value(&st.sem), 2);
    ck_assert_int_eq(weft_lock_destroy(&st.lock), 0);
    ck_assert_int_eq(weft_semaphore_destroy(&st.sem), 0);
    return NULL;
}

START_TEST(test_timeouts_racing_hand_overs_leave_no_trace)
{
    ck_assert_int_eq(run_on(4, stress_main, NULL), 0);
}
END_TEST

/* --- scoped acquire -------------------------------------------------------- */

static int early_return(weft_lock *lock)
{
    int rc;
    WEFT_WITH_LOCK(lock, rc) {
        ck_assert_int_eq(weft_lock_is_locked(lock), 1);
        return 7;
    }
    return rc;
}

static void *cancelled_guard(void *arg)
{
    weft_semaphore *sem = arg;
    int rc, ran = 0;

    ck_assert_int_eq(weft_cancel(weft_current()), 0);
    WEFT_WITH_SEMAPHORE(sem, rc) {
        ran = 1;
    }
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(ran, 0);
    return NULL;
}

static void *guard_main(void *arg)
{
    weft_lock lock;
    weft_semaphore sem;
    int rc, ran = 0;
    (void)arg;

    ck_assert_int_eq(weft_lock_init(&lock), 0);
    ck_assert_int_eq(weft_semaphore_init(&sem, 1), 0);
    ck_assert_int_eq(early_return(&lock), 7);
    ck_assert_int_eq(weft_lock_is_locked(&lock), 0);
    for (int i = 0; i < 3; i++) {
        WEFT_WITH_SEMAPHORE(&sem, rc) {
            ck_assert_int_eq(weft_semaphore_value(&sem), 0);
            if (i == 1)
                break; /* leaves the guard only */
            ran++;
        }
        ck_assert_int_eq(rc, 0);
        ck_assert_int_eq(weft_semaphore_value(&sem), 1);
    }
    ck_assert_int_eq(ran, 2);
    /* The acquire fails: the block does not run and nothing is released. */
    weft_task *t;
    ck_assert_int_eq(weft_spawn(&t, cancelled_guard, &sem), 0);
    ck_assert_int_eq(weft_await(t, NULL), -ECANCELED);
    weft_task_unref(t);
    ck_assert_int_eq(weft_semaphore_value(&sem), 1);
    ck_assert_int_eq(weft_lock_destroy(&lock), 0);
    ck_assert_int_eq(weft_semaphore_destroy(&sem), 0);
    return NULL;
}

START_TEST(test_guards_release_on_every_way_out)
{
    ck_assert_int_eq(run_on(1, guard_main, NULL), 0);
}
END_TEST

static Suite *waitq_suite(void)
{
    Suite *s = suite_create("waitq");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_waiters_served_in_order_without_barging);
    tcase_add_loop_test(tc, test_grant_to_cancelled_waiter_goes_on, 0, 6);
    tcase_add_test(tc, test_putter_cancelled_as_admitted);
    tcase_add_test(tc, test_barrier_party_cancelled_as_round_completes);
    tcase_add_test(tc, test_timeouts_racing_hand_overs_leave_no_trace);
    tcase_add_test(tc, test_guards_release_on_every_way_out);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(waitq_suite)
