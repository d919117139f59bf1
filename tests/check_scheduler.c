/* The work-stealing scheduler on 4-8 workers (more than this machine has
 * cores, so that preemption interleaves them): spawn trees, migration,
 * wake-ups from other threads, parking, pinned tasks and the counters.
 * Every test ends by counting events; none waits by sleeping. */
#include "config.h" /* first: _GNU_SOURCE */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sched/idle.h"
#include "sched/records.h"
#include "sched/runtime.h"
#include "sched/wait.h"
#include "sched/task.h"
#include "sched/testhooks.h"
#include "flow/waitset.h"
#include "testutil.h"
#include "sched/worker.h"

/* The worker the calling task runs on, read fresh (not cached). */
static unsigned worker_index(void)
{
    return weft__worker_self()->index;
}

/* --- a spawn tree of a million tasks ----------------------------------- */

#define TREE_TASKS (TEST_MAX_LIVE_TASKS >= 1000000 ? 1000000 : 100000)
static unsigned char *seen;  /* seen[i]: times node i ran */
static long tree_ran;        /* atomic */

static weft_group *tree_group;

/* Node i spawns nodes 2i+1 and 2i+2 into the group, and returns at once:
 * only running tasks hold a stack. */
static void *tree_node(void *arg)
{
    long i = (long)(intptr_t)arg;
    __atomic_fetch_add(&seen[i], 1, __ATOMIC_RELAXED);
    COUNT(tree_ran);
    for (long child = 2 * i + 1; child <= 2 * i + 2; child++) {
        if (child < TREE_TASKS)
            CHECK(weft_group_spawn(tree_group, NULL, tree_node,
                                   (void *)(intptr_t)child, NULL) == 0);
    }
    return NULL;
}

static void *tree_main(void *arg)
{
    (void)arg;
    ck_assert_int_eq(weft_group_create(&tree_group), 0);
    ck_assert_int_eq(weft_group_spawn(tree_group, NULL, tree_node, (void *)0,
                                      NULL), 0);
    ck_assert_int_eq(weft_group_wait(tree_group), 0);
    ck_assert_int_eq(weft_group_destroy(tree_group), 0);
    return NULL;
}

START_TEST(test_million_task_tree_runs_each_task_once)
{
    seen = calloc(TREE_TASKS, 1);
    tree_ran = 0;
    ck_assert_int_eq(run_on(4, tree_main, NULL), 0);
    ck_assert_int_eq(tree_ran, TREE_TASKS);
    for (long i = 0; i < TREE_TASKS; i++)
        CHECK(seen[i] == 1);
    free(seen);

    unsigned n;
    weft_worker_stats st[4];
    ck_assert_int_eq(weft_runtime_get_stats(st, 4, &n), 0);
    ck_assert_uint_eq(n, 4);
    uint64_t polled = 0, steals = 0, stolen_from = 0;
    for (unsigned w = 0; w < n; w++) {
        polled += st[w].polled;
        steals += st[w].steals;
        stolen_from += st[w].stolen_from;
        ck_assert_uint_ge(st[w].tasks_stolen, st[w].steals);
        ck_assert_uint_le(st[w].max_queue_depth, 256);
    }
    ck_assert_uint_ge(polled, TREE_TASKS + 1);
    ck_assert_uint_eq(steals, stolen_from);
}
END_TEST

/* --- migration keeps stacks intact ---------------------------------------- */

#define MOVERS 64
static long migrations; /* atomic */

static void *mover(void *arg)
{
    unsigned char data[700];
    unsigned seed = (unsigned)(uintptr_t)arg;
    pid_t tid = (pid_t)syscall(SYS_gettid);

    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(seed * 31 + i);
    for (int round = 0; round < 200; round++) {
        if (round % 3 == 0)
            CHECK(weft_sleep(round % 2) == 0);
        else
            CHECK(weft_yield() == 0);
        /* A fresh system call each time: the thread may have changed. */
        pid_t now = (pid_t)syscall(SYS_gettid);
        if (now != tid) {
            COUNT(migrations);
            tid = now;
        }
        for (size_t i = 0; i < sizeof data; i++)
            CHECK(data[i] == (unsigned char)(seed * 31 + i));
    }
    return NULL;
}

static void *movers_main(void *arg)
{
    weft_group *g;
    (void)arg;
    ck_assert_int_eq(weft_group_create(&g), 0);
    for (uintptr_t i = 0; i < MOVERS; i++)
        ck_assert_int_eq(weft_group_spawn(g, NULL, mover, (void *)i, NULL), 0);
    ck_assert_int_eq(weft_group_wait(g), 0);
    ck_assert_int_eq(weft_group_destroy(g), 0);
    return NULL;
}

START_TEST(test_tasks_migrate_with_stacks_intact)
{
    migrations = 0;
    /* 64 tasks, 200 suspensions each, started on one of 8 workers: the
     * others steal them, unless the system kept them off the CPUs the
     * whole run; then again, until some task has moved. */
    while (READ(migrations) == 0)
        ck_assert_int_eq(run_on(8, movers_main, NULL), 0);
}
END_TEST

/* A wake from a worker moves the task to that worker's LIFO slot: a task
 * woken by a task pinned to another worker resumes there. */
struct handoff {
    weft_task *sleeper;
    uint32_t seq;        /* atomic: its suspension, once published */
    unsigned before;     /* atomic: its worker before suspending, + 1 */
    unsigned after;      /* its worker after being woken */
    int reason;
};

static void *suspend_once(void *arg)
{
    struct handoff *h = arg;
    uint32_t seq;
    CHECK(weft__wait_begin(weft__task_self(), 0, &seq) == 0);
    SET(h->before, worker_index() + 1);
    SET(h->seq, seq);
    h->reason = weft__wait_commit(weft__task_self());
    h->after = worker_index();
    return NULL;
}

static void *wake_it(void *arg)
{
    struct handoff *h = arg;
    /* Wake it once it is off its stack: a wake while it is still
     * suspending is finished by its own worker, which keeps it. */
    while (weft__wait_state_of(weft__handle_record(h->sleeper)) !=
           WEFT__WAIT_SUSPENDED)
        sched_yield();
    ck_assert(weft__wake(weft__handle_record(h->sleeper), READ(h->seq),
                         WEFT__WAKE_DONE));
    /* A second wake of the same suspension does nothing. */
    ck_assert(!weft__wake(weft__handle_record(h->sleeper), READ(h->seq), WEFT__WAKE_DONE));
    return NULL;
}

static void *handoff_main(void *arg)
{
    struct handoff *h = arg;
    struct weft__worker *self = weft__worker_self();
    weft_task *waker;

    ck_assert_int_eq(weft_spawn(&h->sleeper, suspend_once, h), 0);
    /* The sleeper may have been stolen: wait for it, however long the
     * other worker takes to run it. */
    while (READ(h->seq) == 0)
        weft_yield();
    unsigned other = (READ(h->before) - 1 + 1) % self->rt->nworkers;
    ck_assert_int_eq(weft__task_create_on(self, self->rt->workers[other],
                                          wake_it, h, NULL, &waker), 0);
    /* The sleeper first: a waiter woken when the waker ends would take
     * the LIFO slot and push the sleeper where it can be stolen. */
    ck_assert_int_eq(weft_await(h->sleeper, NULL), 0);
    ck_assert_int_eq(weft_await(waker, NULL), 0);
    ck_assert_uint_eq(h->after, other);
    ck_assert_uint_ne(h->after, READ(h->before) - 1);
    weft_task_unref(waker);
    weft_task_unref(h->sleeper);
    return NULL;
}

START_TEST(test_woken_task_moves_to_the_waking_worker)
{
    for (int round = 0; round < 20; round++) {
        struct handoff h = { 0 };
        ck_assert_int_eq(run_on(2, handoff_main, &h), 0);
        ck_assert_int_eq(h.reason, WEFT__WAKE_DONE);
    }
}
END_TEST

/* --- wake-ups from plain threads, and parking ----------------------------- */

#define FOREIGN_TASKS 8
#define FOREIGN_ROUNDS (TEST_MAX_LIVE_TASKS >= 1000000 ? 4000 : 1000)

struct foreign {
    weft_task *task[FOREIGN_TASKS];
    uint32_t seq[FOREIGN_TASKS];   /* atomic: the suspension to wake */
    long woken[FOREIGN_TASKS];     /* rounds each task saw */
    long wakes;                    /* atomic: wakes the thread made */
    int ready;                     /* atomic: handles are published */
};

static void *wait_for_thread(void *arg)
{
    struct foreign *f = arg;
    weft__task *self = weft__task_self();
    int me = -1;

    while (!READ(f->ready))
        weft_yield();
    for (int i = 0; i < FOREIGN_TASKS; i++)
        if (weft__handle_record(f->task[i]) == self)
            me = i;
    ck_assert_int_ge(me, 0);
    for (long r = 0; r < FOREIGN_ROUNDS; r++) {
        uint32_t seq;
        CHECK(weft__wait_begin(self, 0, &seq) == 0);
        SET(f->seq[me], seq);
        CHECK(weft__wait_commit(self) == WEFT__WAKE_DONE);
        f->woken[me]++;
    }
    return NULL;
}

/* A plain pthread, not a worker: wakes each task as soon as it has
 * suspended again, so the workers keep parking and being woken. */
static void *waking_thread(void *arg)
{
    struct foreign *f = arg;
    uint32_t last[FOREIGN_TASKS] = { 0 };
    long total = (long)FOREIGN_TASKS * FOREIGN_ROUNDS;

    /* A lost wake-up hangs here until Check kills the test. */
    while (READ(f->wakes) < total) {
        int progress = 0;
        for (int i = 0; i < FOREIGN_TASKS; i++) {
            uint32_t seq = READ(f->seq[i]);
            if (seq != last[i] && weft__wake(weft__handle_record(f->task[i]), seq, WEFT__WAKE_DONE)) {
                last[i] = seq;
                COUNT(f->wakes);
                progress = 1;
            }
        }
        if (!progress)
            sched_yield();
    }
    return NULL;
}

static void *foreign_main(void *arg)
{
    struct foreign *f = arg;

    for (int i = 0; i < FOREIGN_TASKS; i++)
        ck_assert_int_eq(weft_spawn(&f->task[i], wait_for_thread, f), 0);
    SET(f->ready, 1);
    struct test_thread th;
    test_thread_start(&th, waking_thread, f);
    for (int i = 0; i < FOREIGN_TASKS; i++) {
        ck_assert_int_eq(weft_await(f->task[i], NULL), 0);
        weft_task_unref(f->task[i]);
    }
    test_thread_join(&th);
    return NULL;
}

START_TEST(test_wakes_from_plain_threads)
{
    static struct foreign f;
    memset(&f, 0, sizeof f);
    ck_assert_int_eq(run_on(4, foreign_main, &f), 0);
    ck_assert_int_eq(f.wakes, (long)FOREIGN_TASKS * FOREIGN_ROUNDS);
    for (int i = 0; i < FOREIGN_TASKS; i++)
        ck_assert_int_eq(f.woken[i], FOREIGN_ROUNDS);
}
END_TEST

/* The case a lost wake-up would hit: every worker is parked in epoll when
 * a plain thread makes a task ready. Each round waits until all are. */
#define PARKED_ROUNDS 2000

struct all_parked {
    bool pinned;               /* the task lives on worker 1 */
    weft_task *task;
    struct weft__runtime *rt;  /* atomic: published by the task */
    uint32_t seq;              /* atomic */
    long rounds;
};

static void *wait_parked_rounds(void *arg)
{
    struct all_parked *a = arg;
    weft__task *self = weft__task_self();

    SET(a->rt, weft__worker_self()->rt);
    for (long r = 0; r < PARKED_ROUNDS; r++) {
        uint32_t seq;
        CHECK(weft__wait_begin(self, 0, &seq) == 0);
        SET(a->seq, seq);
        CHECK(weft__wait_commit(self) == WEFT__WAKE_DONE);
        a->rounds++;
    }
    return NULL;
}

static bool all_workers_parked(struct weft__runtime *rt)
{
    for (unsigned i = 0; i < rt->nworkers; i++)
        if (!weft__idle_is_parked(rt->workers[i]))
            return false;
    return true;
}

static void *wake_parked_thread(void *arg)
{
    struct all_parked *a = arg;
    uint32_t last = 0;

    for (long r = 0; r < PARKED_ROUNDS; r++) {
        struct weft__runtime *rt;
        uint32_t seq;
        for (;;) {
            rt = READ(a->rt);
            seq = READ(a->seq);
            if (rt != NULL && seq != last && all_workers_parked(rt))
                break;
            sched_yield();
        }
        CHECK(weft__wake(weft__handle_record(a->task), seq, WEFT__WAKE_DONE));
        last = seq;
    }
    return NULL;
}

static void *all_parked_main(void *arg)
{
    struct all_parked *a = arg;
    struct weft__worker *self = weft__worker_self();
    struct test_thread th;

    if (a->pinned)
        ck_assert_int_eq(weft__task_create_on(self, self->rt->workers[1],
                                              wait_parked_rounds, a, NULL,
                                              &a->task), 0);
    else
        ck_assert_int_eq(weft_spawn(&a->task, wait_parked_rounds, a), 0);
    test_thread_start(&th, wake_parked_thread, a);
    ck_assert_int_eq(weft_await(a->task, NULL), 0);
    test_thread_join(&th);
    weft_task_unref(a->task);
    return NULL;
}

static void run_all_parked(bool pinned, uint64_t *unparks)
{
    struct all_parked a = { .pinned = pinned };
    weft_worker_stats st[4];
    unsigned n;

    ck_assert_int_eq(run_on(4, all_parked_main, &a), 0);
    ck_assert_int_eq(a.rounds, PARKED_ROUNDS);
    ck_assert_int_eq(weft_runtime_get_stats(st, 4, &n), 0);
    *unparks = 0;
    for (unsigned i = 0; i < n; i++)
        *unparks += st[i].unparks;
}

START_TEST(test_wake_when_every_worker_is_parked)
{
    uint64_t unparks;

    /* A pinned task: the wake goes to its worker's inbox and eventfd. */
    run_all_parked(true, &unparks);
    /* An unpinned one: to the global queue, and a parked worker must be
     * woken for it every round. */
    run_all_parked(false, &unparks);
    ck_assert_uint_ge(unparks, PARKED_ROUNDS);
}
END_TEST

/* Two tasks pinned to different workers hand a token back and forth; each
 * hand-off lands in the inbox of a worker that is usually parking. A lost
 * wake-up would hang the test until Check kills it. */
#define PINGPONG_ROUNDS (TEST_MAX_LIVE_TASKS >= 1000000 ? 20000 : 5000)

struct pinned_pair {
    weft_task *task[2];
    uint32_t seq[2];    /* atomic */
    long rounds[2];
    unsigned home[2];
};

/* Wakes the other player's suspension once it has published one that can
 * be woken. */
static void wake_other(struct pinned_pair *p, int other)
{
    for (;;) {
        uint32_t seq = READ(p->seq[other]);
        if (seq != 0 && weft__wake(weft__handle_record(p->task[other]), seq, WEFT__WAKE_DONE))
            return;
        sched_yield();
    }
}

/* Round r: player 0 wakes player 1's round-r suspension, player 1 wakes
 * player 0's round r-1 one; player 0's last round wakes and leaves. */
static void *pinned_player(void *arg)
{
    struct pinned_pair *p = ((void **)arg)[0];
    int me = (int)(intptr_t)((void **)arg)[1];
    weft__task *self = weft__task_self();

    p->home[me] = worker_index();
    for (long r = 0; r < PINGPONG_ROUNDS; r++) {
        uint32_t seq;
        CHECK(weft__wait_begin(self, 0, &seq) == 0);
        SET(p->seq[me], seq);
        if (me == 0 || r > 0)
            wake_other(p, !me);
        if (me == 0 && r == PINGPONG_ROUNDS - 1)
            (void)weft__wait_abort(self);
        else
            CHECK(weft__wait_commit(self) == WEFT__WAKE_DONE);
        CHECK(worker_index() == p->home[me]);
        p->rounds[me] = r + 1;
    }
    return NULL;
}

static void *pinned_pair_main(void *arg)
{
    struct pinned_pair *p = arg;
    struct weft__worker *self = weft__worker_self();
    void *args[2][2] = { { p, (void *)0 }, { p, (void *)1 } };

    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(weft__task_create_on(self, self->rt->workers[i + 1],
                                              pinned_player, args[i], NULL,
                                              &p->task[i]), 0);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(weft_await(p->task[i], NULL), 0);
        weft_task_unref(p->task[i]);
    }
    return NULL;
}

START_TEST(test_no_lost_wakeups_between_parking_workers)
{
    static struct pinned_pair p;
    memset(&p, 0, sizeof p);
    ck_assert_int_eq(run_on(4, pinned_pair_main, &p), 0);
    ck_assert_int_eq(p.rounds[0], PINGPONG_ROUNDS);
    ck_assert_int_eq(p.rounds[1], PINGPONG_ROUNDS);
    ck_assert_uint_eq(p.home[0], 1);
    ck_assert_uint_eq(p.home[1], 2);
}
END_TEST

/* Spawn one task, await it, repeat: every task is a chance for a parked
 * worker to be woken, steal it, and wake main across workers. */
static void *tiny(void *arg)
{
    return arg;
}

static void *burst_main(void *arg)
{
    long *done = arg;
    for (long i = 0; i < 20000; i++) {
        weft_task *t;
        void *r;
        CHECK(weft_spawn(&t, tiny, (void *)(intptr_t)i) == 0);
        if (i % 7 == 0)
            weft_yield(); /* sometimes let it be stolen first */
        CHECK(weft_await(t, &r) == 0);
        CHECK(r == (void *)(intptr_t)i);
        weft_task_unref(t);
        (*done)++;
    }
    return NULL;
}

START_TEST(test_spawn_await_loop_across_workers)
{
    long done = 0;
    ck_assert_int_eq(run_on(4, burst_main, &done), 0);
    ck_assert_int_eq(done, 20000);
}
END_TEST

/* --- pinned tasks ----------------------------------------------------------- */

static long pinned_checks; /* atomic */

static void *child_of_pinned(void *arg)
{
    weft_sleep(1);
    return arg;
}

static void *stay_home(void *arg)
{
    unsigned home = worker_index();
    (void)arg;
    for (int round = 0; round < 100; round++) {
        switch (round % 3) {
        case 0:
            CHECK(weft_yield() == 0);
            break;
        case 1:
            CHECK(weft_sleep(round % 2) == 0);
            break;
        default: {
            /* Woken by a child that may end on another worker. */
            weft_task *c;
            CHECK(weft_spawn(&c, child_of_pinned, NULL) == 0);
            CHECK(weft_await(c, NULL) == 0);
            weft_task_unref(c);
        }
        }
        CHECK(worker_index() == home);
        COUNT(pinned_checks);
    }
    return NULL;
}

/* Unpinned tasks spawn pinned ones, so they are pinned all over. */
static void *spawn_pinned(void *arg)
{
    weft_group *g = arg;
    weft_yield();
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(weft_group_spawn(g, NULL, stay_home, NULL,
                                          &(weft_spawn_opts){
                                              .flags = WEFT_SPAWN_PINNED }), 0);
    return NULL;
}

static void *pinned_main(void *arg)
{
    weft_group *g;
    (void)arg;
    ck_assert_int_eq(weft_group_create(&g), 0);
    for (int i = 0; i < 16; i++)
        ck_assert_int_eq(weft_group_spawn(g, NULL, spawn_pinned, g, NULL), 0);
    /* main is pinned to the calling thread, worker 0. */
    for (int i = 0; i < 50; i++) {
        weft_yield();
        ck_assert_uint_eq(worker_index(), 0);
    }
    ck_assert_int_eq(weft_group_wait(g), 0);
    ck_assert_int_eq(weft_group_destroy(g), 0);
    return NULL;
}

START_TEST(test_pinned_tasks_stay_on_their_worker)
{
    pinned_checks = 0;
    ck_assert_int_eq(run_on(4, pinned_main, NULL), 0);
    ck_assert_int_eq(pinned_checks, 16 * 4 * 100);
}
END_TEST

/* --- worker count and counters --------------------------------------------- */

static void *stats_inside(void *arg)
{
    weft_worker_stats st[8];
    unsigned n = 0;
    ck_assert_int_eq(weft_runtime_get_stats(st, 8, &n), 0);
    ck_assert_uint_eq(n, *(unsigned *)arg);
    /* main itself has been polled at least once, on worker 0. */
    ck_assert_uint_ge(st[0].polled, 1);
    return NULL;
}

START_TEST(test_stats_and_worker_count)
{
    weft_worker_stats st[8];
    unsigned n = 99;

    ck_assert_int_eq(weft_runtime_get_stats(st, 8, &n), -ESRCH); /* nothing ran yet */
    ck_assert_int_eq(weft_runtime_get_stats(NULL, 8, &n), -EINVAL);
    ck_assert_int_eq(weft_runtime_get_stats(st, 8, NULL), -EINVAL);
    unsigned want = 5;
    ck_assert_int_eq(run_on(5, stats_inside, &want), 0);
    /* After the run: the last runtime's counters, even with max 0. */
    ck_assert_int_eq(weft_runtime_get_stats(NULL, 0, NULL), 0);
    ck_assert_int_eq(weft_runtime_get_stats(st, 2, &n), 0);
    ck_assert_uint_eq(n, 5);

    ck_assert_int_eq(setenv("WEFT_WORKERS", "3", 1), 0);
    want = 3;
    ck_assert_int_eq(run_clean(stats_inside, &want), 0);
    /* The option wins over the environment. */
    want = 2;
    ck_assert_int_eq(run_on(2, stats_inside, &want), 0);
    static const char *bad[] = { "0", "abc", "1025", "4k", "-1", "2 " };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(setenv("WEFT_WORKERS", bad[i], 1), 0);
        ck_assert_int_eq(weft_run(stats_inside, &want, NULL, NULL), -EINVAL);
    }
    unsetenv("WEFT_WORKERS");
}
END_TEST

/* Task records (sched/records.c): a run's records serve the next run,
 * which carves nothing new, and a record given back off the workers is
 * the next one handed out there. */
static void *return_arg(void *arg)
{
    return arg;
}

static void *spawn_and_await(void *arg)
{
    intptr_t n = (intptr_t)arg;
    weft_task **t = malloc((size_t)n * sizeof *t);
    ck_assert_ptr_nonnull(t);
    for (intptr_t i = 0; i < n; i++)
        ck_assert_int_eq(weft_spawn(&t[i], return_arg, (void *)i), 0);
    for (intptr_t i = 0; i < n; i++) {
        void *r;
        ck_assert_int_eq(weft_await(t[i], &r), 0);
        ck_assert_int_eq((intptr_t)r, i);
        weft_task_unref(t[i]);
    }
    free(t);
    return NULL;
}

START_TEST(test_task_records_are_reused)
{
    size_t chunks1, spare1, chunks2, spare2;

    if (!weft__records_mapped())
        return; /* ASan: every record is a heap block of its own */
    /* 20,000 records fill more than two 2 MiB chunks. */
    ck_assert_int_eq(run_on(2, spawn_and_await, (void *)20000), 0);
    weft__records_counts(&chunks1, &spare1);
    ck_assert_uint_ge(spare1, 20000);
    ck_assert_int_eq(run_on(2, spawn_and_await, (void *)20000), 0);
    weft__records_counts(&chunks2, &spare2);
    ck_assert_uint_eq(chunks2, chunks1);
    ck_assert_uint_ge(spare2, 20000);

    weft__task *a = weft__record_new(NULL);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_null(a->name);
    weft__record_release(a);
    ck_assert_ptr_eq(weft__record_new(NULL), a);
    weft__record_release(a);
}
END_TEST

/* With one worker, woken tasks run in the order they were woken, as in
 * asyncio's single loop (no LIFO slot jumps the queue). */
struct wake_order {
    weft_event ev;
    struct event_log log;
    int waiting;
};

static void *order_waiter(void *arg)
{
    struct wake_order *o = ((void **)arg)[0];
    const char *name = ((void **)arg)[1];
    o->waiting++;
    CHECK(weft_event_wait(&o->ev, WEFT_FOREVER) == 0);
    log_event(&o->log, name);
    return NULL;
}

static void *wake_order_main(void *arg)
{
    struct wake_order *o = arg;
    void *args[3][2] = { { o, "1" }, { o, "2" }, { o, "3" } };
    weft_task *t[3];
    ck_assert_int_eq(weft_event_init(&o->ev), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(weft_spawn(&t[i], order_waiter, args[i]), 0);
    while (o->waiting < 3)
        ck_assert_int_eq(weft_yield(), 0);
    ck_assert_int_eq(weft_yield(), 0); /* the last one is queued now */
    log_event(&o->log, "set");
    ck_assert_int_eq(weft_event_set(&o->ev), 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(weft_await(t[i], NULL), 0);
        weft_task_unref(t[i]);
    }
    ck_assert_int_eq(weft_event_destroy(&o->ev), 0);
    return NULL;
}

START_TEST(test_one_worker_runs_woken_tasks_in_wake_order)
{
    static struct wake_order o;
    memset(&o, 0, sizeof o);
    ck_assert_int_eq(run_on(1, wake_order_main, &o), 0);
    ck_assert_str_eq(o.log.text, "set 1 2 3");
}
END_TEST

/* --- handing back the wait nodes of a finished task ---------------------- */

static int hook_ran;

static void note_finish(struct weft__waiter *node)
{
    (void)node;
    hook_ran++;
}

static void *returns_at_once(void *arg)
{
    return arg;
}

/* A wait that gives up as its target finishes finds the node in the
 * finisher's hands: removing it returns false, and must return, for each
 * kind of node (weft_task_join's on_finish node hung here). One worker:
 * each target runs only once main awaits it, after the node is added. */
static void *remove_after_finish_main(void *arg)
{
    weft__task *self = weft__task_self();
    weft_task *t;
    (void)arg;

    /* on_finish: the hook has run; the node is its owner's again. */
    hook_ran = 0;
    ck_assert_int_eq(weft_spawn(&t, returns_at_once, NULL), 0);
    struct weft__waiter hooked = { .target = weft__handle_record(t),
                                   .on_finish = note_finish };
    ck_assert(weft__waiter_add(weft__handle_record(t), &hooked));
    ck_assert_int_eq(weft_await(t, NULL), 0);
    ck_assert_int_eq(hook_ran, 1);
    ck_assert(!weft__waiter_remove(weft__handle_record(t), &hooked));
    weft_task_unref(t);

    /* A single wait: released by the finisher (its wake of a task that
     * is not suspended is a no-op). */
    ck_assert_int_eq(weft_spawn(&t, returns_at_once, NULL), 0);
    struct weft__waiter single = { .target = weft__handle_record(t),
                                   .h = { .task = self } };
    ck_assert(weft__waiter_add(weft__handle_record(t), &single));
    ck_assert_int_eq(weft_await(t, NULL), 0);
    ck_assert(!weft__waiter_remove(weft__handle_record(t), &single));
    ck_assert_uint_eq(single.h.released, 1);
    weft_task_unref(t);

    /* A set's node: delivered to the set. */
    struct weft__waitset set;
    struct weft__wsnode in_set;
    weft__waitset_init(&set, self);
    ck_assert_int_eq(weft_spawn(&t, returns_at_once, NULL), 0);
    weft__waitset_add(&set, &in_set, weft__handle_record(t));
    ck_assert_int_eq(weft_await(t, NULL), 0);
    ck_assert(!weft__waiter_remove(weft__handle_record(t), &in_set.w));
    ck_assert_ptr_eq(weft__waitset_take(&set), &in_set);
    weft__waitset_fini(&set);
    weft_task_unref(t);
    return NULL;
}

/* A worker stuck in a long task must not hold up the tasks waiting on its
 * descriptors: an idle worker collects their readiness and runs them
 * (sched/iowait.h). The hog, pinned to worker 1, registers a pipe there,
 * lets the reader link its wait there, then spins without yielding until
 * the reader is done; only a visit by worker 0 can wake the reader. */
#define VISIT_BOUND_MS 20000

struct visit {
    int fds[2];
    bool parked; /* main parks worker 0 at once; a thread writes */
    uint32_t registered, spinning, reader_done, hog_timed_out;
    unsigned reader_on;
    int reader_rc;
};

static void *visit_reader(void *arg)
{
    struct visit *v = arg;

    while (READ(v->registered) == 0)
        weft_yield();
    v->reader_rc = weft_fd_wait(v->fds[0], POLLIN, WEFT_FOREVER);
    v->reader_on = weft__worker_self()->index;
    weft__store_release_u32(&v->reader_done, 1);
    return NULL;
}

static void *visit_hog(void *arg)
{
    struct visit *v = arg;
    struct weft__worker *self = weft__worker_self();

    /* Registers the pipe here, on worker 1: the wait must really run, so
     * a long time-out (a stall between its clock reads would skip it). */
    ck_assert_int_eq(weft_fd_wait(v->fds[0], POLLIN, 300), -ETIMEDOUT);
    weft__store_release_u32(&v->registered, 1);
    /* The reader hops here to wait: let it run until it has linked. */
    while (weft__load_acquire_u32(&self->reactor.held) == 0)
        weft_yield();
    weft__store_release_u32(&v->spinning, 1);
    int64_t end = weft_now() + VISIT_BOUND_MS;
    while (READ(v->reader_done) == 0) {
        if (weft_now() > end) {
            v->hog_timed_out = 1;
            break;
        }
    }
    return NULL;
}

/* The byte's writer when main must not wake worker 0 itself: a plain
 * thread, which waits for the hog to spin. */
static void *visit_writer(void *arg)
{
    struct visit *v = arg;
    struct timespec ms = { 0, 1000000 };

    for (int i = 0; i < 20000 && READ(v->spinning) == 0; i++)
        nanosleep(&ms, NULL);
    ck_assert_int_eq(write(v->fds[1], "x", 1), 1);
    return NULL;
}

static void *visit_main(void *arg)
{
    struct visit *v = arg;
    struct weft__worker *self = weft__worker_self();
    weft_task *hog, *reader;
    struct test_thread th;

    ck_assert_int_eq(pipe2(v->fds, O_NONBLOCK | O_CLOEXEC), 0);
    ck_assert_int_eq(weft__task_create_on(self, self->rt->workers[1],
                                          visit_hog, v, NULL, &hog), 0);
    ck_assert_int_eq(weft_spawn(&reader, visit_reader, v), 0);
    if (v->parked) {
        /* Worker 0 parks at once, perhaps before any task waits on the
         * pipe: it must still come back to look. */
        test_thread_start(&th, visit_writer, v);
    } else {
        for (int i = 0; i < 20000 && READ(v->spinning) == 0; i++)
            weft_sleep(1);
        ck_assert_uint_eq(READ(v->spinning), 1);
        ck_assert_int_eq(write(v->fds[1], "x", 1), 1);
    }
    ck_assert_int_eq(weft_await(reader, NULL), 0);
    if (v->parked)
        test_thread_join(&th);
    ck_assert_int_eq(weft_await(hog, NULL), 0);
    weft_task_unref(reader);
    weft_task_unref(hog);
    ck_assert_int_eq(weft_fd_forget(v->fds[0]), 0);
    close(v->fds[0]);
    close(v->fds[1]);
    return NULL;
}

static void check_visit(bool parked)
{
    struct visit v = { .fds = { -1, -1 }, .parked = parked };
    weft_run_opts opts = { .workers = 2, .slow_task_ms = WEFT_SLOW_TASK_OFF };
    weft_worker_stats st[2];
    unsigned n;

    ck_assert_int_eq(run_with(&opts, visit_main, &v), 0);
    ck_assert_int_eq(v.reader_rc, POLLIN);
    ck_assert_uint_eq(v.hog_timed_out, 0);
    ck_assert_uint_eq(v.reader_on, 0); /* it ran where it was woken */
    ck_assert_int_eq(weft_runtime_get_stats(st, 2, &n), 0);
    ck_assert_uint_ge(st[0].io_visits, 1);
}

/* A descriptor's timeout timer stays armed after a wait served in time
 * (sched/iowait.h's lazy timeouts), but must not count as pending on its
 * reactor: a worker with nothing else armed would poll every few task
 * switches for it, and yields would lose their shortcut. */
static void *lazy_timer_uncounted_main(void *arg)
{
    struct weft__reactor *r = &weft__worker_self()->reactor;
    int fds[2];
    weft_task *t;
    char c;

    (void)arg;
    ck_assert_int_eq(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    unsigned before = r->pending;
    ck_assert_int_eq(weft_spawn(&t, write_one_byte, (void *)(intptr_t)fds[1]), 0);
    /* One worker: the writer runs only once this wait has armed its
     * timer and suspended. */
    ck_assert_int_eq(weft_fd_wait(fds[0], POLLIN, 60000), POLLIN);
    ck_assert_int_eq(read(fds[0], &c, 1), 1);
    ck_assert_int_eq(weft_await(t, NULL), 0);
    weft_task_unref(t);
    ck_assert_uint_eq(r->pending, before);
    ck_assert_int_eq(weft_fd_forget(fds[0]), 0);
    close(fds[0]);
    close(fds[1]);
    return NULL;
}

START_TEST(test_lazy_io_timer_is_not_pending)
{
    ck_assert_int_eq(run_on(1, lazy_timer_uncounted_main, NULL), 0);
}
END_TEST

/* Sleeps and call_later delays that repeat share one of libevent's
 * common timeouts per duration (reactor.h): arming and cancelling them
 * is a list operation. Past WEFT__COMMON_MAX durations the heap serves,
 * and every timer still fires on time, or never once cancelled. */
#define COMMON_SLEEPERS 100
#define COMMON_SLEEP_MS 20
#define COMMON_DISTINCT (WEFT__COMMON_MAX + 8)

static long common_started, common_fired;

static void *common_sleeper(void *arg)
{
    int64_t ms = (int64_t)(intptr_t)arg;
    int64_t before = weft_now();

    common_started++; /* one worker: no lock */
    int rc = weft_sleep(ms);
    if (rc == 0)
        CHECK(weft_now() - before >= ms);
    return (void *)(intptr_t)rc;
}

static void common_callback(void *arg)
{
    (void)arg;
    common_fired++;
}

/* What a common_sleeper's weft_sleep returned: a cancelled task's
 * await returns -ECANCELED itself. */
static int await_rc(weft_task *t)
{
    void *res = NULL;
    int rc = weft_await(t, &res);

    weft_task_unref(t);
    return rc < 0 ? rc : (int)(intptr_t)res;
}

static void *common_timeouts_main(void *arg)
{
    struct weft__reactor *r = &weft__worker_self()->reactor;
    weft_task *due[COMMON_SLEEPERS], *never[COMMON_SLEEPERS];
    weft_task *distinct[COMMON_DISTINCT];

    (void)arg;
    unsigned before = weft__reactor_common_count(r);
    common_started = common_fired = 0;
    for (int i = 0; i < COMMON_SLEEPERS; i++) {
        CHECK(weft_spawn(&due[i], common_sleeper,
                         (void *)(intptr_t)COMMON_SLEEP_MS) == 0);
        CHECK(weft_spawn(&never[i], common_sleeper,
                         (void *)(intptr_t)3600000) == 0);
    }
    while (common_started < 2 * COMMON_SLEEPERS)
        weft_yield();
    /* Every hour-long sleeper is asleep: cancel them in spawn order,
     * which takes their queue's head most of the time. */
    for (int i = 0; i < COMMON_SLEEPERS; i++)
        CHECK(weft_cancel(never[i]) == 0);
    for (int i = 0; i < COMMON_SLEEPERS; i++) {
        CHECK(await_rc(never[i]) == -ECANCELED);
        CHECK(await_rc(due[i]) == 0);
    }
    ck_assert_uint_eq(weft__reactor_common_count(r), before + 2);
    for (int i = 0; i < 10; i++)
        CHECK(weft_call_later(NULL, 5, common_callback, NULL) == 0);
    /* One worker: the callbacks run only once main suspends, so it
     * sleeps at least once, and 1 ms takes a fourth queue. */
    while (common_fired < 10)
        CHECK(weft_sleep(1) == 0);
    ck_assert_uint_eq(weft__reactor_common_count(r), before + 4);
    /* Computed durations stay out of the table: a scope's deadline, armed
     * anew with what is left at each suspension, and a limiter's wait. */
    weft_scope scope;
    weft_limiter *l;
    CHECK(weft_timeout_enter(&scope, 100000) == 0);
    for (int i = 0; i < 3; i++)
        CHECK(weft_sleep(COMMON_SLEEP_MS) == 0);
    CHECK(weft_scope_leave(&scope) == 0);
    CHECK(weft_limiter_create(&l, 1000, 1) == 0);
    for (int i = 0; i < 3; i++)
        CHECK(weft_limiter_acquire(l, 1, WEFT_FOREVER) == 0);
    CHECK(weft_limiter_destroy(l) == 0);
    ck_assert_uint_eq(weft__reactor_common_count(r), before + 4);
    /* More durations than the table takes: the rest go to the heap. */
    for (int i = 0; i < COMMON_DISTINCT; i++)
        CHECK(weft_spawn(&distinct[i], common_sleeper,
                         (void *)(intptr_t)(30 + i)) == 0);
    for (int i = 0; i < COMMON_DISTINCT; i++)
        CHECK(await_rc(distinct[i]) == 0);
    ck_assert_uint_eq(weft__reactor_common_count(r), WEFT__COMMON_MAX);
    return NULL;
}

START_TEST(test_repeated_durations_share_common_timeouts)
{
    ck_assert_int_eq(run_on(1, common_timeouts_main, NULL), 0);
}
END_TEST

/* Timers due in one loop run their fns once it returns, in deadline
 * order (reactor.c, fired). A fn that cancels another due with it
 * stops that one's fn from running, and the reactor's count of armed
 * watches stays right. */
static weft_handle *due_victim;
static int due_cancel_rc = 1, due_victim_ran;

static void cancel_the_victim(void *arg)
{
    (void)arg;
    due_cancel_rc = weft_handle_cancel(due_victim);
}

static void victim_runs(void *arg)
{
    (void)arg;
    due_victim_ran++;
}

static void *due_cancel_main(void *arg)
{
    struct weft__reactor *r = &weft__worker_self()->reactor;
    weft_handle *first;

    (void)arg;
    unsigned pending = r->pending;
    /* The same delay, armed in this order: the first is due first. */
    CHECK(weft_call_later(&first, 5, cancel_the_victim, NULL) == 0);
    CHECK(weft_call_later(&due_victim, 5, victim_runs, NULL) == 0);
    /* No suspension, so no poll: both are due when the next one runs. */
    int64_t t0 = mono_ms();
    while (mono_ms() - t0 < 20)
        ;
    CHECK(weft_sleep(10) == 0);
    ck_assert_int_eq(due_cancel_rc, 0);
    ck_assert_int_eq(due_victim_ran, 0);
    ck_assert_uint_eq(r->pending, pending);
    weft_handle_unref(first);
    weft_handle_unref(due_victim);
    return NULL;
}

START_TEST(test_a_due_timer_cancelled_by_an_earlier_one_does_not_run)
{
    ck_assert_int_eq(run_on(1, due_cancel_main, NULL), 0);
}
END_TEST

/* A call_later delay waits in a common timeout's queue, a timer armed
 * with weft__watch_timer in the heap; libevent runs the queue's after
 * the heap's that are due in the same loop. Armed in this order with
 * the same delay, the queued one is due first, and its fn runs first. */
static struct event_log due_log;

static void log_queued(void *arg)
{
    (void)arg;
    log_event(&due_log, "queued");
}

static void log_heap(struct weft__watch *watch)
{
    (void)watch;
    log_event(&due_log, "heap");
}

static void *due_order_main(void *arg)
{
    struct weft__reactor *r = &weft__worker_self()->reactor;
    struct weft__watch heap;

    (void)arg;
    due_log.len = 0;
    CHECK(weft_call_later(NULL, 5, log_queued, NULL) == 0);
    CHECK(weft__watch_timer(r, &heap, 5, log_heap) == 0);
    /* No suspension, so no poll: both are due when the next one runs. */
    int64_t t0 = mono_ms();
    while (mono_ms() - t0 < 20)
        ;
    CHECK(weft_sleep(10) == 0);
    ck_assert_str_eq(due_log.text, "queued heap");
    ck_assert(!weft__watch_armed(&heap));
    return NULL;
}

START_TEST(test_due_timers_run_in_deadline_order)
{
    ck_assert_int_eq(run_on(1, due_order_main, NULL), 0);
}
END_TEST

START_TEST(test_idle_worker_collects_a_stuck_workers_readiness)
{
    check_visit(false);
}
END_TEST

/* The same with worker 0 parked before the reader waits, and nothing but
 * the pipe's byte (written by a plain thread) to wake anyone. */
START_TEST(test_parked_worker_comes_back_for_a_stuck_worker)
{
    check_visit(true);
}
END_TEST

START_TEST(test_wait_nodes_removed_after_finish)
{
    ck_assert_int_eq(run_on(1, remove_after_finish_main, NULL), 0);
}
END_TEST

static Suite *scheduler_suite(void)
{
    Suite *s = suite_create("scheduler");
    TCase *tc = tcase_create("scheduler");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_million_task_tree_runs_each_task_once);
    tcase_add_test(tc, test_tasks_migrate_with_stacks_intact);
    tcase_add_test(tc, test_woken_task_moves_to_the_waking_worker);
    tcase_add_test(tc, test_wakes_from_plain_threads);
    tcase_add_test(tc, test_wake_when_every_worker_is_parked);
    tcase_add_test(tc, test_no_lost_wakeups_between_parking_workers);
    tcase_add_test(tc, test_spawn_await_loop_across_workers);
    tcase_add_test(tc, test_pinned_tasks_stay_on_their_worker);
    tcase_add_test(tc, test_stats_and_worker_count);
    tcase_add_test(tc, test_one_worker_runs_woken_tasks_in_wake_order);
    tcase_add_test(tc, test_task_records_are_reused);
    tcase_add_test(tc, test_lazy_io_timer_is_not_pending);
    tcase_add_test(tc, test_repeated_durations_share_common_timeouts);
    tcase_add_test(tc, test_a_due_timer_cancelled_by_an_earlier_one_does_not_run);
    tcase_add_test(tc, test_due_timers_run_in_deadline_order);
    tcase_add_test(tc, test_idle_worker_collects_a_stuck_workers_readiness);
    tcase_add_test(tc, test_parked_worker_comes_back_for_a_stuck_worker);
    suite_add_tcase(s, tc);
    /* A hang here is a failure: a short timeout. */
    tc = tcase_create("waiters");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_wait_nodes_removed_after_finish);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(scheduler_suite)
