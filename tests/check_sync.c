/* Locks and signals: each primitive's operations, the rwlock's writer
 * preference, barrier rounds, condition ping-pong, counters under a lock
 * on four workers, and bad input. (The wait-queue guarantees they share
 * are in check_waitq.c.) */
#include <errno.h>
#include <stdint.h>

#include "testutil.h"

/* --- rwlock ------------------------------------------------------------------- */

struct rw_user {
    weft_rwlock *rw;
    int writer;
    int *log;
    int *nlog;
    int id;
};

static void *rw_user(void *arg)
{
    struct rw_user *u = arg;
    int rc = u->writer ? weft_rwlock_acquire_write(u->rw, WEFT_FOREVER)
                       : weft_rwlock_acquire_read(u->rw, WEFT_FOREVER);
    if (rc < 0)
        return weft_fail(rc, "acquire");
    u->log[(*u->nlog)++] = u->id;
    weft_yield(); /* hold it across a suspension */
    return (u->writer ? weft_rwlock_release_write(u->rw)
                      : weft_rwlock_release_read(u->rw)) == 0
               ? NULL
               : weft_fail(WEFT_EIO, "release");
}

static void *rwlock_main(void *arg)
{
    weft_rwlock rw;
    int log[4], nlog = 0;
    weft_task *t[2];
    (void)arg;

    ck_assert_int_eq(weft_rwlock_init(&rw), 0);
    /* Readers share. */
    ck_assert_int_eq(weft_rwlock_acquire_read(&rw, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_rwlock_try_acquire_read(&rw), 0);
    ck_assert_int_eq(weft_rwlock_try_acquire_write(&rw), -EAGAIN);
    ck_assert_int_eq(weft_rwlock_destroy(&rw), -EBUSY);
    ck_assert_int_eq(weft_rwlock_release_read(&rw), 0);
    /* A writer queues; a reader behind it waits although only readers
     * hold the lock: writers first. */
    struct rw_user w = { &rw, 1, log, &nlog, 1 }, r = { &rw, 0, log, &nlog, 2 };
    ck_assert_int_eq(weft_spawn(&t[0], rw_user, &w), 0);
    ck_assert_int_eq(weft_yield(), 0);
    ck_assert_int_eq(weft_spawn(&t[1], rw_user, &r), 0);
    ck_assert_int_eq(weft_yield(), 0);
    ck_assert_int_eq(nlog, 0);
    ck_assert_int_eq(weft_rwlock_try_acquire_read(&rw), -EAGAIN);
    ck_assert_int_eq(weft_rwlock_release_read(&rw), 0);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(weft_await(t[i], NULL), 0);
        weft_task_unref(t[i]);
    }
    ck_assert_int_eq(nlog, 2);
    ck_assert_int_eq(log[0], 1);
    ck_assert_int_eq(log[1], 2);
    /* Writer: exclusive, not recursive. */
    ck_assert_int_eq(weft_rwlock_try_acquire_write(&rw), 0);
    ck_assert_int_eq(weft_rwlock_acquire_write(&rw, 0), -EDEADLK);
    ck_assert_int_eq(weft_rwlock_try_acquire_read(&rw), -EDEADLK);
    ck_assert_int_eq(weft_rwlock_acquire_read(&rw, 5), -EDEADLK);
    ck_assert_int_eq(weft_rwlock_release_write(&rw), 0);
    ck_assert_int_eq(weft_rwlock_release_write(&rw), -EPERM);
    ck_assert_int_eq(weft_rwlock_release_read(&rw), -EPERM);
    ck_assert_int_eq(weft_rwlock_destroy(&rw), 0);
    ck_assert_int_eq(weft_rwlock_try_acquire_read(&rw), -EINVAL);
    return NULL;
}

START_TEST(test_rwlock_writer_preference)
{
    ck_assert_int_eq(run_on(1, rwlock_main, NULL), 0);
}
END_TEST

/* --- semaphore, event ----------------------------------------------------------- */

static void *event_setter(void *arg)
{
    ck_assert_int_eq(weft_event_set(arg), 0); /* from a plain thread */
    return NULL;
}

static void *event_waiter(void *arg)
{
    return weft_event_wait(arg, WEFT_FOREVER) == 0 ? NULL : weft_fail(WEFT_EIO, "wait");
}

static void *semaphore_event_main(void *arg)
{
    weft_semaphore sem;
    weft_event ev;
    weft_task *t[3];
    struct test_thread th;
    (void)arg;

    ck_assert_int_eq(weft_semaphore_init_bounded(&sem, 2), 0);
    ck_assert_int_eq(weft_semaphore_release(&sem), -EOVERFLOW);
    ck_assert_int_eq(weft_semaphore_value(&sem), 2);
    ck_assert_int_eq(weft_semaphore_acquire(&sem, 0), 0);
    ck_assert_int_eq(weft_semaphore_try_acquire(&sem), 0);
    ck_assert_int_eq(weft_semaphore_acquire(&sem, 0), -ETIMEDOUT);
    int64_t t0 = weft_now();
    ck_assert_int_eq(weft_semaphore_acquire(&sem, 15), -ETIMEDOUT);
    ck_assert_int_ge(weft_now() - t0, 15);
    ck_assert_int_eq(weft_semaphore_release(&sem), 0);
    ck_assert_int_eq(weft_semaphore_release(&sem), 0);
    ck_assert_int_eq(weft_semaphore_release(&sem), -EOVERFLOW);
    ck_assert_int_eq(weft_semaphore_destroy(&sem), 0);

    ck_assert_int_eq(weft_event_init(&ev), 0);
    ck_assert_int_eq(weft_event_is_set(&ev), 0);
    ck_assert_int_eq(weft_event_wait(&ev, 5), -ETIMEDOUT);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(weft_spawn(&t[i], event_waiter, &ev), 0);
    /* On two workers, a yield need not have let them start. */
    for (int i = 0; i < 3; i++)
        wait_until_waiting(t[i], "event");
    ck_assert_int_eq(weft_event_destroy(&ev), -EBUSY);
    test_thread_start(&th, event_setter, &ev);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(weft_await(t[i], NULL), 0);
        weft_task_unref(t[i]);
    }
    test_thread_join(&th);
    ck_assert_int_eq(weft_event_is_set(&ev), 1);
    ck_assert_int_eq(weft_event_wait(&ev, 0), 0);
    ck_assert_int_eq(weft_event_clear(&ev), 0);
    ck_assert_int_eq(weft_event_wait(&ev, 0), -ETIMEDOUT);
    ck_assert_int_eq(weft_event_destroy(&ev), 0);
    return NULL;
}

START_TEST(test_semaphore_and_event)
{
    ck_assert_int_eq(run_on(2, semaphore_event_main, NULL), 0);
}
END_TEST

/* --- condition ---------------------------------------------------------------- */

struct pingpong {
    weft_lock lock;
    weft_condition cond;
    int turn;
    int rounds;
    int count;
};

static bool my_turn_0(void *arg) { return ((struct pingpong *)arg)->turn == 0; }
static bool my_turn_1(void *arg) { return ((struct pingpong *)arg)->turn == 1; }

static void *player(void *arg)
{
    struct pingpong *p = ((void **)arg)[0];
    int me = (int)(intptr_t)((void **)arg)[1];
    for (int i = 0; i < p->rounds; i++) {
        CHECK(weft_lock_acquire(&p->lock, WEFT_FOREVER) == 0);
        CHECK(weft_condition_wait_for(&p->cond, me ? my_turn_1 : my_turn_0, p,
                                      WEFT_FOREVER) == 0);
        CHECK(p->turn == me);
        p->turn = !me;
        p->count++;
        CHECK(weft_condition_notify_all(&p->cond) >= 0);
        CHECK(weft_lock_release(&p->lock) == 0);
    }
    return NULL;
}

static void *condition_main(void *arg)
{
    struct pingpong p = { .rounds = *(int *)arg };
    weft_task *t[2];
    void *args[2][2] = { { &p, (void *)0 }, { &p, (void *)1 } };

    ck_assert_int_eq(weft_lock_init(&p.lock), 0);
    ck_assert_int_eq(weft_condition_init(&p.cond, &p.lock), 0);
    ck_assert_int_eq(weft_condition_notify(&p.cond, 1), -EPERM); /* unlocked */
    ck_assert_int_eq(weft_condition_wait(&p.cond, 0), -EPERM);
    ck_assert_int_eq(weft_lock_acquire(&p.lock, WEFT_FOREVER), 0);
    int64_t t0 = weft_now();
    ck_assert_int_eq(weft_condition_wait(&p.cond, 10), -ETIMEDOUT);
    ck_assert_int_ge(weft_now() - t0, 10);
    ck_assert_int_eq(weft_lock_is_locked(&p.lock), 1); /* taken back */
    ck_assert_int_eq(weft_condition_notify_all(&p.cond), 0); /* nobody waits */
    ck_assert_int_eq(weft_lock_release(&p.lock), 0);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(weft_spawn(&t[i], player, args[i]), 0);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(weft_await(t[i], NULL), 0);
        weft_task_unref(t[i]);
    }
    ck_assert_int_eq(p.count, 2 * p.rounds);
    ck_assert_int_eq(weft_condition_destroy(&p.cond), 0);
    ck_assert_int_eq(weft_lock_destroy(&p.lock), 0);
    return NULL;
}

START_TEST(test_condition_ping_pong)
{
    int rounds = 10000;
    ck_assert_int_eq(run_on(4, condition_main, &rounds), 0);
}
END_TEST

/* --- barrier ------------------------------------------------------------------ */

enum { PARTIES = 8, ROUNDS = 200 };

struct rounds {
    weft_barrier b;
    int arrived[ROUNDS];
    unsigned index_seen[ROUNDS]; /* a bit per index */
    int errors;
};

static void *party(void *arg)
{
    struct rounds *r = arg;
    for (int round = 0; round < ROUNDS; round++) {
        __atomic_fetch_add(&r->arrived[round], 1, __ATOMIC_RELAXED);
        int idx = weft_barrier_wait(&r->b, WEFT_FOREVER);
        if (idx < 0 || idx >= PARTIES ||
            __atomic_load_n(&r->arrived[round], __ATOMIC_RELAXED) != PARTIES) {
            __atomic_fetch_add(&r->errors, 1, __ATOMIC_RELAXED);
            continue;
        }
        __atomic_fetch_or(&r->index_seen[round], 1u << idx, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void *barrier_rounds_main(void *arg)
{
    struct rounds *r = arg;
    weft_task *t[PARTIES];

    ck_assert_int_eq(weft_barrier_init(&r->b, PARTIES), 0);
    for (int i = 0; i < PARTIES; i++)
        ck_assert_int_eq(weft_spawn(&t[i], party, r), 0);
    for (int i = 0; i < PARTIES; i++) {
        ck_assert_int_eq(weft_await(t[i], NULL), 0);
        weft_task_unref(t[i]);
    }
    ck_assert_int_eq(r->errors, 0);
    for (int i = 0; i < ROUNDS; i++)
        CHECK(r->index_seen[i] == (1u << PARTIES) - 1); /* a permutation */
    ck_assert_int_eq(weft_barrier_n_waiting(&r->b), 0);
    ck_assert_int_eq(weft_barrier_destroy(&r->b), 0);
    return NULL;
}

START_TEST(test_barrier_rounds)
{
    static struct rounds r;
    memset(&r, 0, sizeof r);
    ck_assert_int_eq(run_on(4, barrier_rounds_main, &r), 0);
}
END_TEST

struct arrival {
    weft_barrier *b;
    int64_t timeout;
    int rc;
};

static void *arrive(void *arg)
{
    struct arrival *a = arg;
    a->rc = weft_barrier_wait(a->b, a->timeout);
    return NULL;
}

static void *barrier_abort_main(void *arg)
{
    weft_barrier b;
    weft_task *t[3];
    struct arrival a[3];
    (void)arg;

    ck_assert_int_eq(weft_barrier_init(&b, 3), 0);
    for (int i = 0; i < 2; i++) {
        a[i] = (struct arrival){ &b, WEFT_FOREVER, 99 };
        ck_assert_int_eq(weft_spawn(&t[i], arrive, &a[i]), 0);
        ck_assert_int_eq(weft_yield(), 0);
    }
    ck_assert_int_eq(weft_barrier_n_waiting(&b), 2);
    ck_assert_int_eq(weft_barrier_destroy(&b), -EBUSY);
    /* The last arriver completes the round with the last index. */
    ck_assert_int_eq(weft_barrier_wait(&b, WEFT_FOREVER), 2);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(weft_await(t[i], NULL), 0);
        weft_task_unref(t[i]);
        ck_assert_int_eq(a[i].rc, i);
    }
    /* A waiter that times out leaves the round. */
    a[0] = (struct arrival){ &b, 5, 99 };
    ck_assert_int_eq(weft_spawn(&t[0], arrive, &a[0]), 0);
    ck_assert_int_eq(weft_await(t[0], NULL), 0);
    weft_task_unref(t[0]);
    ck_assert_int_eq(a[0].rc, -ETIMEDOUT);
    ck_assert_int_eq(weft_barrier_n_waiting(&b), 0);
    /* Abort: waiters now and later get -EPIPE; reset mends it. */
    a[0] = (struct arrival){ &b, WEFT_FOREVER, 99 };
    ck_assert_int_eq(weft_spawn(&t[0], arrive, &a[0]), 0);
    ck_assert_int_eq(weft_yield(), 0);
    ck_assert_int_eq(weft_barrier_abort(&b), 0);
    ck_assert_int_eq(weft_barrier_is_broken(&b), 1);
    ck_assert_int_eq(weft_await(t[0], NULL), 0);
    weft_task_unref(t[0]);
    ck_assert_int_eq(a[0].rc, -EPIPE);
    ck_assert_int_eq(weft_barrier_wait(&b, 0), -EPIPE);
    ck_assert_int_eq(weft_barrier_reset(&b), 0);
    ck_assert_int_eq(weft_barrier_is_broken(&b), 0);
    ck_assert_int_eq(weft_barrier_destroy(&b), 0);
    return NULL;
}

START_TEST(test_barrier_abort_and_timeout)
{
    ck_assert_int_eq(run_on(1, barrier_abort_main, NULL), 0);
}
END_TEST

/* --- counters under a lock, every worker -------------------------------------- */

struct counted {
    weft_lock lock;
    long counter;
};

static void *incrementer(void *arg)
{
    struct counted *c = arg;
    for (int i = 0; i < 100; i++) {
        int rc;
        WEFT_WITH_LOCK(&c->lock, rc) {
            long v = c->counter;
            if (i % 10 == 0)
                weft_yield(); /* another task may run, and wait here */
            c->counter = v + 1;
        }
        CHECK(rc == 0);
    }
    return NULL;
}

static void *counters_main(void *arg)
{
    int n = *(int *)arg;
    struct counted c = { .counter = 0 };
    weft_task **t = malloc((size_t)n * sizeof *t);

    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(weft_lock_init(&c.lock), 0);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(weft_spawn(&t[i], incrementer, &c), 0);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(weft_await(t[i], NULL), 0);
        weft_task_unref(t[i]);
    }
    free(t);
    ck_assert_int_eq(c.counter, 100L * n);
    ck_assert_int_eq(weft_lock_destroy(&c.lock), 0);
    return NULL;
}

START_TEST(test_lock_counters_on_every_worker)
{
    int n = TEST_MAX_LIVE_TASKS < 2000 ? TEST_MAX_LIVE_TASKS / 2 : 2000;
    ck_assert_int_eq(run_on(4, counters_main, &n), 0);
}
END_TEST

/* --- bad input ---------------------------------------------------------------- */

static void *other_task_releases(void *arg)
{
    return weft_lock_release(arg) == -EPERM ? NULL : weft_fail(WEFT_EIO, "release");
}

static void *bad_input_main(void *arg)
{
    weft_lock l;
    weft_task *t;
    (void)arg;

    ck_assert_int_eq(weft_lock_init(&l), 0);
    ck_assert_int_eq(weft_lock_acquire(&l, -2), -EINVAL);
    ck_assert_int_eq(weft_lock_acquire(&l, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_lock_acquire(&l, WEFT_FOREVER), -EDEADLK);
    ck_assert_int_eq(weft_lock_try_acquire(&l), -EDEADLK);
    ck_assert_int_eq(weft_lock_destroy(&l), -EBUSY);
    ck_assert_int_eq(weft_spawn(&t, other_task_releases, &l), 0);
    ck_assert_int_eq(weft_await(t, NULL), 0);
    weft_task_unref(t);
    ck_assert_int_eq(weft_lock_release(&l), 0);
    ck_assert_int_eq(weft_lock_release(&l), -EPERM);
    ck_assert_int_eq(weft_lock_destroy(&l), 0);
    ck_assert_int_eq(weft_lock_acquire(&l, 0), -EINVAL); /* destroyed */
    return NULL;
}

START_TEST(test_bad_input)
{
    weft_lock l;
    weft_semaphore s;
    weft_event e;
    weft_condition c;
    weft_barrier b;
    weft_rwlock rw;

    ck_assert_int_eq(weft_lock_init(NULL), -EINVAL);
    ck_assert_int_eq(weft_lock_acquire(NULL, 0), -EINVAL);
    ck_assert_int_eq(weft_lock_is_locked(NULL), -EINVAL);
    ck_assert_int_eq(weft_rwlock_init(NULL), -EINVAL);
    ck_assert_int_eq(weft_rwlock_acquire_read(NULL, 0), -EINVAL);
    ck_assert_int_eq(weft_semaphore_init(NULL, 1), -EINVAL);
    ck_assert_int_eq(weft_semaphore_init(&s, (unsigned)INT32_MAX + 1), -EINVAL);
    ck_assert_int_eq(weft_semaphore_acquire(NULL, 0), -EINVAL);
    ck_assert_int_eq(weft_semaphore_value(NULL), -EINVAL);
    ck_assert_int_eq(weft_event_init(NULL), -EINVAL);
    ck_assert_int_eq(weft_event_set(NULL), -EINVAL);
    ck_assert_int_eq(weft_condition_init(&c, NULL), -EINVAL);
    ck_assert_int_eq(weft_barrier_init(&b, 0), -EINVAL);
    ck_assert_int_eq(weft_barrier_wait(NULL, 0), -EINVAL);
    /* Outside a task: the waits refuse, the any-thread calls work. */
    ck_assert_int_eq(weft_lock_init(&l), 0);
    ck_assert_int_eq(weft_lock_acquire(&l, 0), -EPERM);
    ck_assert_int_eq(weft_lock_try_acquire(&l), -EPERM);
    ck_assert_int_eq(weft_lock_destroy(&l), 0);
    ck_assert_int_eq(weft_rwlock_init(&rw), 0);
    ck_assert_int_eq(weft_rwlock_acquire_write(&rw, 0), -EPERM);
    ck_assert_int_eq(weft_rwlock_destroy(&rw), 0);
    ck_assert_int_eq(weft_semaphore_init(&s, 0), 0);
    ck_assert_int_eq(weft_semaphore_acquire(&s, 0), -EPERM);
    ck_assert_int_eq(weft_semaphore_release(&s), 0);
    ck_assert_int_eq(weft_semaphore_try_acquire(&s), 0);
    ck_assert_int_eq(weft_semaphore_destroy(&s), 0);
    ck_assert_int_eq(weft_event_init(&e), 0);
    ck_assert_int_eq(weft_event_wait(&e, 0), -EPERM);
    ck_assert_int_eq(weft_event_set(&e), 0);
    ck_assert_int_eq(weft_event_destroy(&e), 0);
    ck_assert_int_eq(weft_barrier_init(&b, 2), 0);
    ck_assert_int_eq(weft_barrier_wait(&b, 0), -EPERM);
    ck_assert_int_eq(weft_barrier_destroy(&b), 0);
    ck_assert_int_eq(run_on(1, bad_input_main, NULL), 0);
}
END_TEST

static Suite *sync_suite(void)
{
    Suite *s = suite_create("sync");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_rwlock_writer_preference);
    tcase_add_test(tc, test_semaphore_and_event);
    tcase_add_test(tc, test_condition_ping_pong);
    tcase_add_test(tc, test_barrier_rounds);
    tcase_add_test(tc, test_barrier_abort_and_timeout);
    tcase_add_test(tc, test_lock_counters_on_every_worker);
    tcase_add_test(tc, test_bad_input);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(sync_suite)
