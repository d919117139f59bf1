/* Thread pools: weft_to_thread, weft_run_in_executor, executors, and
 * reaching the runtime from other threads (weft_spawn_threadsafe,
 * weft_task_join). */
#include <errno.h>
#include <stdint.h>

#include "testutil.h"

/* A gate that blocking jobs wait at until the test opens it; it counts
 * them and remembers the order they started in. */
struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open;
    int started;
    int running;
    int max_running;
    int threshold;        /* `reached` is set when this many have started */
    weft_event reached;
    int order[64];
    int norder;
};

struct job {
    struct gate *gate;
    int id;
};

static void gate_init(struct gate *g, int threshold)
{
    memset(g, 0, sizeof *g);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->threshold = threshold;
    ck_assert_int_eq(weft_event_init(&g->reached), 0);
}

static void gate_open(struct gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static int gate_count(struct gate *g, int *field)
{
    pthread_mutex_lock(&g->mu);
    int v = *field;
    pthread_mutex_unlock(&g->mu);
    return v;
}

static void gate_destroy(struct gate *g)
{
    ck_assert_int_eq(weft_event_destroy(&g->reached), 0);
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
}

/* A blocking function: waits at the gate, returns id + 100. */
static void *gated(void *arg)
{
    struct job *j = arg;
    struct gate *g = j->gate;

    pthread_mutex_lock(&g->mu);
    g->started++;
    g->running++;
    if (g->running > g->max_running)
        g->max_running = g->running;
    if (g->norder < 64)
        g->order[g->norder++] = j->id;
    if (g->started == g->threshold)
        weft_event_set(&g->reached);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    g->running--;
    pthread_mutex_unlock(&g->mu);
    return (void *)(intptr_t)(j->id + 100);
}

/* A task offloading one gated job to the executor in its job. */
struct offloader {
    weft_executor *ex;
    struct job job;
    unsigned flags;
    int rc;
    void *result;
};

static void *offload_task(void *arg)
{
    struct offloader *o = arg;
    weft_job_opts jo = { .flags = o->flags };
    o->rc = weft_run_in_executor(o->ex, gated, &o->job, &o->result, &jo);
    return NULL;
}

/* Polls cond, napping 1 ms at a time, for states a test must wait to
 * see (a count reached) and that nothing signals; never as a timing
 * assertion. Unbounded: how long a pool thread takes to get there is the
 * system's business, and Check's time-out catches a state never reached. */
#define WAIT_UNTIL(cond)                                                      \
    do {                                                                      \
        while (!(cond))                                                       \
            ck_assert_int_eq(weft_sleep(1), 0);                               \
    } while (0)

static weft_executor_stats stats_of(weft_executor *ex)
{
    weft_executor_stats st;
    ck_assert_int_eq(weft_executor_get_stats(ex, &st), 0);
    return st;
}

/* --- results and errors ------------------------------------------------------ */

static void *add_one(void *arg)
{
    return (void *)((intptr_t)arg + 1);
}

static void *fails_with_eio(void *arg)
{
    (void)arg;
    errno = EPERM; /* errno stays on its thread */
    return weft_fail(-EIO, "disk on fire");
}

static void *returns_then_fails(void *arg)
{
    (void)arg;
    weft_fail(-ERANGE, NULL);
    return (void *)1; /* a failed job's result is not delivered */
}

static void *results_main(void *arg)
{
    void *r = (void *)1;
    (void)arg;

    ck_assert_int_eq(weft_to_thread(add_one, (void *)41, &r), 0);
    ck_assert_ptr_eq(r, (void *)42);
    ck_assert_int_eq(weft_to_thread(add_one, (void *)1, NULL), 0);
    ck_assert_int_eq(weft_to_thread(fails_with_eio, NULL, &r), -EIO);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(weft_to_thread(returns_then_fails, NULL, &r), -ERANGE);
    ck_assert_ptr_null(r);
    /* The task itself did not fail. */
    ck_assert_ptr_null(weft_task_errmsg(weft_current()));
    return NULL;
}

START_TEST(test_results_and_errors)
{
    ck_assert_int_eq(run_on(2, results_main, NULL), 0);
}
END_TEST

static void *bad_input_main(void *arg)
{
    weft_executor *ex;
    weft_job_opts bad_flags = { .flags = 0x80 };
    weft_job_opts bad_reserved = { .reserved = { (void *)1 } };
    void *r = (void *)1;
    (void)arg;

    ck_assert_int_eq(weft_to_thread(NULL, NULL, &r), -EINVAL);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(weft_run_in_executor(NULL, add_one, NULL, NULL,
                                          &bad_flags), -EINVAL);
    ck_assert_int_eq(weft_run_in_executor(NULL, add_one, NULL, NULL,
                                          &bad_reserved), -EINVAL);
    ck_assert_int_eq(weft_executor_create(&ex, NULL), 0);
    ck_assert_int_eq(weft_executor_shutdown(ex, 0x80), -EINVAL);
    ck_assert_int_eq(weft_executor_destroy(ex), 0);
    ck_assert_int_eq(weft_executor_get_stats(NULL, NULL), -EINVAL);
    return NULL;
}

START_TEST(test_bad_input)
{
    weft_executor *ex = (weft_executor *)1;
    weft_executor_opts too_many = { .max_threads = WEFT_EXECUTOR_THREADS_MAX + 1 };
    weft_executor_opts slow_over = { .max_threads = 2, .max_slow = 3 };
    weft_executor_opts tiny_stack = { .stack_size = 4096 };
    weft_executor_opts reserved = { .reserved = { (void *)1 } };
    weft_executor_stats st;

    ck_assert_int_eq(weft_executor_create(NULL, NULL), -EINVAL);
    ck_assert_int_eq(weft_executor_create(&ex, &too_many), -EINVAL);
    ck_assert_int_eq(weft_executor_create(&ex, &slow_over), -EINVAL);
    ck_assert_int_eq(weft_executor_create(&ex, &tiny_stack), -EINVAL);
    ck_assert_int_eq(weft_executor_create(&ex, &reserved), -EINVAL);
    ck_assert_int_eq(weft_executor_shutdown(NULL, 0), -EINVAL);
    ck_assert_int_eq(weft_executor_destroy(NULL), -EINVAL);
    /* Outside a task. */
    ck_assert_int_eq(weft_to_thread(add_one, NULL, NULL), -EPERM);
    ck_assert_int_eq(weft_executor_get_stats(NULL, &st), -ESRCH);
    ck_assert_int_eq(run_on(1, bad_input_main, NULL), 0);
    /* Option checks of weft_run. */
    weft_run_opts ro = { .blocking_threads = WEFT_EXECUTOR_THREADS_MAX + 1 };
    ck_assert_int_eq(weft_run(bad_input_main, NULL, NULL, &ro), -EINVAL);
    setenv("WEFT_BLOCKING_THREADS", "0", 1);
    ck_assert_int_eq(weft_run(bad_input_main, NULL, NULL, NULL), -EINVAL);
    setenv("WEFT_BLOCKING_THREADS", "many", 1);
    ck_assert_int_eq(weft_run(bad_input_main, NULL, NULL, NULL), -EINVAL);
    unsetenv("WEFT_BLOCKING_THREADS");
}
END_TEST

/* --- growth, limits, order -------------------------------------------------- */

static void *lazy_main(void *arg)
{
    (void)arg;
    weft_executor_stats st = stats_of(NULL);
    /* Nothing started before the first job. */
    ck_assert_uint_eq(st.threads, 0);
    ck_assert_uint_eq(st.started, 0);
    ck_assert_int_eq(weft_to_thread(add_one, NULL, NULL), 0);
    WAIT_UNTIL(stats_of(NULL).completed == 1);
    st = stats_of(NULL);
    ck_assert_uint_eq(st.started, 1);
    ck_assert_uint_eq(st.completed, 1);
    ck_assert_uint_eq(st.peak_threads, 1);
    return NULL;
}

START_TEST(test_default_pool_starts_on_demand)
{
    ck_assert_int_eq(run_on(2, lazy_main, NULL), 0);
}
END_TEST

/* 12 jobs on a pool of `max` threads: exactly max run at once. */
static void grow_to(weft_executor *ex, unsigned max)
{
    enum { N = 12 };
    struct gate g;
    struct offloader o[N];
    weft_task *t[N];

    gate_init(&g, (int)max);
    for (int i = 0; i < N; i++) {
        o[i] = (struct offloader){ .ex = ex, .job = { &g, i } };
        ck_assert_int_eq(weft_spawn(&t[i], offload_task, &o[i]), 0);
    }
    ck_assert_int_eq(weft_event_wait(&g.reached, WEFT_FOREVER), 0);
    WAIT_UNTIL(stats_of(ex).queued == N - max);
    weft_executor_stats st = stats_of(ex);
    ck_assert_uint_eq(st.threads, max);
    ck_assert_uint_eq(st.running, max);
    ck_assert_int_eq(gate_count(&g, &g.started), (int)max);
    gate_open(&g);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(weft_await(t[i], NULL), 0);
        weft_task_unref(t[i]);
        ck_assert_int_eq(o[i].rc, 0);
        ck_assert_ptr_eq(o[i].result, (void *)(intptr_t)(i + 100));
    }
    ck_assert_int_eq(g.max_running, (int)max);
    /* A job is counted a moment after its caller has its result. */
    WAIT_UNTIL(stats_of(ex).completed == N);
    st = stats_of(ex);
    ck_assert_uint_eq(st.peak_threads, max);
    ck_assert_uint_eq(st.started, max);
    ck_assert_uint_eq(st.completed, N);
    gate_destroy(&g);
}

static void *grow_main(void *arg)
{
    weft_executor *ex;
    weft_executor_opts eo = { .max_threads = 4 };
    (void)arg;

    ck_assert_int_eq(weft_executor_create(&ex, &eo), 0);
    grow_to(ex, 4);
    ck_assert_int_eq(weft_executor_destroy(ex), 0);
    /* The default pool, sized by the run option. */
    grow_to(NULL, 3);
    return NULL;
}

START_TEST(test_pool_grows_to_its_maximum)
{
    struct leak_check lc;
    weft_run_opts ro = { .workers = 2, .blocking_threads = 3 };
    leak_check_begin(&lc);
    ck_assert_int_eq(weft_run(grow_main, NULL, NULL, &ro), 0);
    leak_check_end(&lc);
}
END_TEST

static void *retire_main(void *arg)
{
    weft_executor *ex;
    weft_executor_opts eo = { .max_threads = 3, .idle_ms = 20 };
    (void)arg;

    ck_assert_int_eq(weft_executor_create(&ex, &eo), 0);
    grow_to(ex, 3);
    /* Idle for 20 ms, each thread exits. */
    WAIT_UNTIL(stats_of(ex).threads == 0);
    weft_executor_stats st = stats_of(ex);
    ck_assert_uint_eq(st.retired, 3);
    ck_assert_uint_eq(st.idle, 0);
    /* And the pool starts threads again when needed. */
    ck_assert_int_eq(weft_run_in_executor(ex, add_one, NULL, NULL, NULL), 0);
    ck_assert_uint_eq(stats_of(ex).started, 4);
    ck_assert_int_eq(weft_executor_destroy(ex), 0);
    return NULL;
}

START_TEST(test_idle_threads_retire)
{
    ck_assert_int_eq(run_on(2, retire_main, NULL), 0);
}
END_TEST

static void *fifo_main(void *arg)
{
    enum { N = 6 };
    weft_executor *ex;
    weft_executor_opts eo = { .max_threads = 1 };
    struct gate g;
    struct offloader o[N];
    weft_task *t[N];
    (void)arg;

    ck_assert_int_eq(weft_executor_create(&ex, &eo), 0);
    gate_init(&g, 1);
    for (int i = 0; i < N; i++) {
        o[i] = (struct offloader){ .ex = ex, .job = { &g, i } };
        ck_assert_int_eq(weft_spawn(&t[i], offload_task, &o[i]), 0);
        /* One at a time, so the submission order is known. */
        if (i == 0)
            ck_assert_int_eq(weft_event_wait(&g.reached, WEFT_FOREVER), 0);
        else
            WAIT_UNTIL(stats_of(ex).queued == (unsigned)i);
    }
    gate_open(&g);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(weft_await(t[i], NULL), 0);
        weft_task_unref(t[i]);
        ck_assert_int_eq(g.order[i], i);
    }
    ck_assert_int_eq(g.max_running, 1);
    gate_destroy(&g);
    ck_assert_int_eq(weft_executor_destroy(ex), 0);
    return NULL;
}

START_TEST(test_jobs_run_fifo)
{
    ck_assert_int_eq(run_on(2, fifo_main, NULL), 0);
}
END_TEST

static void *slow_main(void *arg)
{
    weft_executor *ex;
    weft_executor_opts eo = { .max_threads = 3, .max_slow = 1 };
    struct gate g;
    struct offloader slow[2];
    weft_task *t[2];
    (void)arg;

    ck_assert_int_eq(weft_executor_create(&ex, &eo), 0);
    gate_init(&g, 1);
    for (int i = 0; i < 2; i++) {
        slow[i] = (struct offloader){ .ex = ex, .job = { &g, i },
                                      .flags = WEFT_JOB_SLOW };
        ck_assert_int_eq(weft_spawn(&t[i], offload_task, &slow[i]), 0);
    }
    ck_assert_int_eq(weft_event_wait(&g.reached, WEFT_FOREVER), 0);
    WAIT_UNTIL(stats_of(ex).queued == 1);
    weft_executor_stats st = stats_of(ex);
    ck_assert_uint_eq(st.running_slow, 1);
    /* Quick jobs still get threads while the slow one waits. */
    for (int i = 0; i < 5; i++) {
        void *r;
        ck_assert_int_eq(weft_run_in_executor(ex, add_one, (void *)1, &r,
                                              NULL), 0);
        ck_assert_ptr_eq(r, (void *)2);
    }
    ck_assert_uint_eq(stats_of(ex).queued, 1);
    ck_assert_int_eq(gate_count(&g, &g.started), 1);
    gate_open(&g);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(weft_await(t[i], NULL), 0);
        weft_task_unref(t[i]);
        ck_assert_int_eq(slow[i].rc, 0);
    }
    ck_assert_int_eq(g.max_running, 1);
    gate_destroy(&g);
    ck_assert_int_eq(weft_executor_destroy(ex), 0);
    return NULL;
}

START_TEST(test_slow_jobs_are_capped)
{
    ck_assert_int_eq(run_on(2, slow_main, NULL), 0);
}
END_TEST

/* --- cancellation and deadlines ------------------------------------------------ */

struct cleanup_log {
    int calls;
    void *arg;
    void *result;
    int err;
    bool on_pool_thread;
    weft_event done;
};

static struct cleanup_log cleanups;

static void record_cleanup(void *arg, void *result, int err)
{
    COUNT(cleanups.calls);
    cleanups.arg = arg;
    cleanups.result = result;
    cleanups.err = err;
    cleanups.on_pool_thread = weft_current() == NULL;
    weft_event_set(&cleanups.done);
}

/* A heap argument, as a job that may be abandoned needs. */
struct owned_job {
    struct job job;
    int *freed;
};

static void *owned_gated(void *arg)
{
    struct owned_job *oj = arg;
    return gated(&oj->job);
}

struct canceller_task {
    weft_executor *ex;
    void *arg;
    int rc;
    int64_t timeout_ms; /* > 0: a deadline scope around the call */
};

static void *call_with_cleanup(void *arg)
{
    struct canceller_task *c = arg;
    weft_job_opts jo = { .cleanup = record_cleanup };
    weft_scope scope;

    if (c->timeout_ms > 0)
        ck_assert_int_eq(weft_timeout_enter(&scope, c->timeout_ms), 0);
    c->rc = weft_run_in_executor(c->ex, owned_gated, c->arg, NULL, &jo);
    if (c->timeout_ms > 0)
        weft_scope_leave(&scope);
    return NULL;
}

static void *cancel_queued_main(void *arg)
{
    weft_executor *ex;
    weft_executor_opts eo = { .max_threads = 1 };
    struct gate g;
    struct offloader blocker;
    struct owned_job oj;
    struct canceller_task c;
    weft_task *tb, *tc;
    (void)arg;

    memset(&cleanups, 0, sizeof cleanups);
    weft_event_init(&cleanups.done);
    ck_assert_int_eq(weft_executor_create(&ex, &eo), 0);
    gate_init(&g, 1);
    blocker = (struct offloader){ .ex = ex, .job = { &g, 0 } };
    ck_assert_int_eq(weft_spawn(&tb, offload_task, &blocker), 0);
    ck_assert_int_eq(weft_event_wait(&g.reached, WEFT_FOREVER), 0);
    oj = (struct owned_job){ .job = { &g, 1 } };
    c = (struct canceller_task){ .ex = ex, .arg = &oj };
    ck_assert_int_eq(weft_spawn(&tc, call_with_cleanup, &c), 0);
    WAIT_UNTIL(stats_of(ex).queued == 1);
    ck_assert_int_eq(weft_cancel(tc), 0);
    ck_assert_int_eq(weft_await(tc, NULL), -ECANCELED);
    weft_task_unref(tc);
    ck_assert_int_eq(c.rc, -ECANCELED);
    /* Dropped unrun: the cleanup ran once, on the caller's side. */
    ck_assert_int_eq(cleanups.calls, 1);
    ck_assert_ptr_eq(cleanups.arg, &oj);
    ck_assert_ptr_null(cleanups.result);
    ck_assert_int_eq(cleanups.err, -ECANCELED);
    ck_assert(!cleanups.on_pool_thread);
    weft_executor_stats st = stats_of(ex);
    ck_assert_uint_eq(st.queued, 0);
    ck_assert_uint_eq(st.dropped, 1);
    gate_open(&g);
    ck_assert_int_eq(weft_await(tb, NULL), 0);
    weft_task_unref(tb);
    ck_assert_int_eq(g.started, 1); /* job 1 never ran */
    ck_assert_int_eq(weft_executor_destroy(ex), 0);
    ck_assert_int_eq(cleanups.calls, 1);
    gate_destroy(&g);
    weft_event_destroy(&cleanups.done);
    return NULL;
}

START_TEST(test_cancel_before_the_job_starts)
{
    ck_assert_int_eq(run_on(2, cancel_queued_main, NULL), 0);
}
END_TEST

/* Cancelled (or timed out) while its job runs: the caller returns at
 * once; the job finishes later and its result reaches the cleanup. A
 * cancel waits until the job runs; a deadline cannot, and one that passes
 * before a thread has taken the job drops it unrun (as in
 * test_cancel_before_the_job_starts): then this returns false, for a try
 * with a longer time-out. */
static bool abandon_running_once(weft_executor *ex, int64_t timeout_ms,
                                 int expect)
{
    struct gate g;
    struct owned_job *oj = malloc(sizeof *oj);
    struct canceller_task c;
    weft_task *tc;
    bool ran;

    memset(&cleanups, 0, sizeof cleanups);
    weft_event_init(&cleanups.done);
    gate_init(&g, 1);
    *oj = (struct owned_job){ .job = { &g, 7 } };
    c = (struct canceller_task){ .ex = ex, .arg = oj,
                                 .timeout_ms = timeout_ms };
    ck_assert_int_eq(weft_spawn(&tc, call_with_cleanup, &c), 0);
    if (timeout_ms == 0) {
        ck_assert_int_eq(weft_event_wait(&g.reached, WEFT_FOREVER), 0);
        ck_assert_int_eq(weft_cancel(tc), 0);
    }
    ck_assert_int_eq(weft_await(tc, NULL), expect == -ECANCELED ? -ECANCELED : 0);
    weft_task_unref(tc);
    ck_assert_int_eq(c.rc, expect);
    /* A job dropped unrun had its cleanup called by the caller. */
    ran = READ(cleanups.calls) == 0;
    if (ran) {
        /* The job is still blocked at the gate: the caller did not wait. */
        ck_assert_int_eq(weft_event_wait(&g.reached, WEFT_FOREVER), 0);
        ck_assert_int_eq(gate_count(&g, &g.running), 1);
        ck_assert_int_eq(READ(cleanups.calls), 0);
        gate_open(&g);
        ck_assert_int_eq(weft_event_wait(&cleanups.done, WEFT_FOREVER), 0);
        ck_assert_int_eq(READ(cleanups.calls), 1);
        ck_assert_ptr_eq(cleanups.arg, oj);
        ck_assert_ptr_eq(cleanups.result, (void *)107);
        ck_assert_int_eq(cleanups.err, 0);
        ck_assert(cleanups.on_pool_thread);
    } else {
        ck_assert_int_gt(timeout_ms, 0);
        ck_assert_int_eq(cleanups.err, -ETIMEDOUT);
        ck_assert(!cleanups.on_pool_thread);
        ck_assert_int_eq(gate_count(&g, &g.started), 0);
    }
    free(oj);
    gate_destroy(&g);
    weft_event_destroy(&cleanups.done);
    return ran;
}

static void abandon_running(weft_executor *ex, int64_t timeout_ms,
                            int expect)
{
    while (!abandon_running_once(ex, timeout_ms, expect))
        timeout_ms *= 2;
}

static void *cancel_running_main(void *arg)
{
    weft_executor *ex;
    (void)arg;

    ck_assert_int_eq(weft_executor_create(&ex, NULL), 0);
    abandon_running(ex, 0, -ECANCELED);
    abandon_running(ex, 30, -ETIMEDOUT);
    /* The same through the default pool. */
    abandon_running(NULL, 0, -ECANCELED);
    abandon_running(NULL, 30, -ETIMEDOUT);
    WAIT_UNTIL(stats_of(ex).abandoned == 2 && stats_of(NULL).abandoned == 2);
    weft_executor_stats st = stats_of(ex);
    ck_assert_uint_eq(st.abandoned, 2);
    ck_assert_uint_eq(st.completed, 2);
    ck_assert_int_eq(weft_executor_destroy(ex), 0);
    ck_assert_uint_eq(stats_of(NULL).abandoned, 2);
    return NULL;
}

START_TEST(test_cancel_while_the_job_runs)
{
    ck_assert_int_eq(run_on(2, cancel_running_main, NULL), 0);
}
END_TEST

static void *already_cancelled_main(void *arg)
{
    weft_job_opts jo = { .cleanup = record_cleanup };
    int owned;
    (void)arg;

    memset(&cleanups, 0, sizeof cleanups);
    weft_event_init(&cleanups.done);
    weft_cancel(weft_current());
    ck_assert_int_eq(weft_to_thread(add_one, NULL, NULL), -ECANCELED);
    /* Refused before it was queued, arg still goes to the cleanup. */
    ck_assert_int_eq(weft_run_in_executor(NULL, add_one, &owned, NULL, &jo),
                     -ECANCELED);
    ck_assert_int_eq(cleanups.calls, 1);
    ck_assert_ptr_eq(cleanups.arg, &owned);
    ck_assert_ptr_null(cleanups.result);
    ck_assert_int_eq(cleanups.err, -ECANCELED);
    weft_event_destroy(&cleanups.done);
    ck_assert_uint_eq(stats_of(NULL).started, 0);
    return NULL;
}

START_TEST(test_cancelled_caller_starts_nothing)
{
    ck_assert_int_eq(run_on(1, already_cancelled_main, NULL), -ECANCELED);
}
END_TEST

/* weft_run waits for an abandoned job of the default pool: its caller is
 * cancelled once the job runs, and the job goes on until main has
 * returned, and a little longer; its cleanup has run when weft_run
 * returns. */
static int late_cleanup_ran;   /* atomic */
static int main_returned;      /* atomic */

static void *outlives_main(void *arg)
{
    weft_event_set(arg); /* running */
    while (!READ(main_returned))
        nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
    nanosleep(&(struct timespec){ 0, 20 * 1000000 }, NULL);
    return NULL;
}

static void note_late_cleanup(void *arg, void *result, int err)
{
    (void)arg;
    (void)result;
    (void)err;
    SET(late_cleanup_ran, 1);
}

static void *abandons(void *arg)
{
    weft_job_opts jo = { .cleanup = note_late_cleanup };
    return (void *)(intptr_t)weft_run_in_executor(NULL, outlives_main, arg,
                                                  NULL, &jo);
}

static void *abandon_and_return_main(void *arg)
{
    static weft_event running;
    weft_task *t;
    void *rc;
    (void)arg;

    ck_assert_int_eq(weft_event_init(&running), 0);
    ck_assert_int_eq(weft_spawn(&t, abandons, &running), 0);
    ck_assert_int_eq(weft_event_wait(&running, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_cancel(t), 0);
    ck_assert_int_eq(weft_await(t, &rc), -ECANCELED);
    weft_task_unref(t);
    ck_assert_int_eq(READ(late_cleanup_ran), 0);
    SET(main_returned, 1);
    return NULL;
}

START_TEST(test_run_waits_for_abandoned_jobs)
{
    late_cleanup_ran = 0;
    main_returned = 0;
    ck_assert_int_eq(run_on(1, abandon_and_return_main, NULL), 0);
    ck_assert_int_eq(READ(late_cleanup_ran), 1);
}
END_TEST

/* A caller cancelled just as its job finishes gives the job up after
 * weft_executor_destroy has returned: the executor must outlive it, and
 * its memory be freed only then. One worker, which main blocks (joining
 * the destroying thread) so that the caller cannot run before the
 * destroy has returned. The allocator notes when the executor is freed
 * (ThreadSanitizer also sees a use after free as it happens). */
static void *watched_block;   /* atomic */
static int watched_freed;     /* atomic */

static void watching_free(void *p)
{
    if (p != NULL && p == READ(watched_block))
        SET(watched_freed, 1);
    free(p);
}

static void *destroy_executor(void *arg)
{
    ck_assert_int_eq(weft_executor_destroy(arg), 0);
    return NULL;
}

static void *destroy_under_cancelled_caller_main(void *arg)
{
    weft_executor *ex;
    weft_executor_opts eo = { .max_threads = 1 };
    struct gate g;
    struct offloader o;
    struct test_thread th;
    weft_task *t;
    (void)arg;

    ck_assert_int_eq(weft_executor_create(&ex, &eo), 0);
    SET(watched_block, (void *)ex);
    gate_init(&g, 1);
    o = (struct offloader){ .ex = ex, .job = { &g, 3 } };
    ck_assert_int_eq(weft_spawn(&t, offload_task, &o), 0);
    ck_assert_int_eq(weft_event_wait(&g.reached, WEFT_FOREVER), 0);
    /* Cancelled (queued to run on this worker, which main holds), then
     * the job finishes: its result waits for the caller. */
    ck_assert_int_eq(weft_cancel(t), 0);
    gate_open(&g);
    weft_executor_stats st = { 0 };
    for (int i = 0; i < 5000 && st.completed == 0; i++) {
        nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
        st = stats_of(ex);
    }
    ck_assert_uint_eq(st.completed, 1);
    test_thread_start(&th, destroy_executor, ex);
    test_thread_join(&th);
    ck_assert_int_eq(READ(watched_freed), 0); /* the caller holds it */
    /* Now the caller runs, and collects the result. */
    ck_assert_int_eq(weft_await(t, NULL), -ECANCELED);
    weft_task_unref(t);
    ck_assert_int_eq(o.rc, 0);
    ck_assert_ptr_eq(o.result, (void *)103);
    ck_assert_int_eq(READ(watched_freed), 1);
    gate_destroy(&g);
    return NULL;
}

START_TEST(test_destroy_before_a_cancelled_caller_gives_up)
{
    ck_assert_int_eq(weft_replace_allocator(malloc, realloc, calloc,
                                            watching_free), 0);
    ck_assert_int_eq(run_on(1, destroy_under_cancelled_caller_main, NULL), 0);
    ck_assert_int_eq(weft_replace_allocator(malloc, realloc, calloc, free), 0);
}
END_TEST

/* weft_executor_get_stats(NULL) from a plain thread while runtimes that
 * used the default pool end, again and again: each call gives 0 (a pool
 * was there) or -ESRCH (no runtime), never a freed pool's counters. */
struct stats_reader {
    int stop;     /* atomic */
    long calls;
};

static void *read_default_stats(void *arg)
{
    struct stats_reader *sr = arg;
    weft_executor_stats st;

    while (!READ(sr->stop)) {
        int rc = weft_executor_get_stats(NULL, &st);
        CHECK(rc == 0 || rc == -ESRCH);
        CHECK(rc < 0 || st.threads <= WEFT_BLOCKING_THREADS_DEFAULT);
        sr->calls++;
    }
    return NULL;
}

static void *use_default_pool(void *arg)
{
    void *r;
    ck_assert_int_eq(weft_to_thread(add_one, arg, &r), 0);
    return NULL;
}

START_TEST(test_default_stats_while_runtimes_end)
{
    struct stats_reader sr = { 0 };
    struct test_thread th;

    test_thread_start(&th, read_default_stats, &sr);
    for (int i = 0; i < 200; i++) {
        weft_run_opts o = { .workers = 1 };
        ck_assert_int_eq(weft_run(use_default_pool, NULL, NULL, &o), 0);
    }
    SET(sr.stop, 1);
    test_thread_join(&th);
    ck_assert_int_gt(sr.calls, 0);
}
END_TEST

/* --- shutdown ------------------------------------------------------------------ */

struct shutdown_task {
    weft_executor *ex;
    unsigned flags;
};

static void *shutdown_task(void *arg)
{
    struct shutdown_task *s = arg;
    ck_assert_int_eq(weft_executor_shutdown(s->ex, s->flags), 0);
    return NULL;
}

static void shutdown_with_queue(unsigned flags)
{
    enum { N = 4 };
    weft_executor *ex;
    weft_executor_opts eo = { .max_threads = 1 };
    struct gate g;
    struct offloader o[N];
    weft_task *t[N], *ts;
    struct shutdown_task s;

    ck_assert_int_eq(weft_executor_create(&ex, &eo), 0);
    gate_init(&g, 1);
    for (int i = 0; i < N; i++) {
        o[i] = (struct offloader){ .ex = ex, .job = { &g, i } };
        ck_assert_int_eq(weft_spawn(&t[i], offload_task, &o[i]), 0);
        if (i == 0)
            ck_assert_int_eq(weft_event_wait(&g.reached, WEFT_FOREVER), 0);
    }
    WAIT_UNTIL(stats_of(ex).queued == N - 1);
    s = (struct shutdown_task){ ex, flags };
    ck_assert_int_eq(weft_spawn(&ts, shutdown_task, &s), 0);
    if (flags & WEFT_EXECUTOR_CANCEL_QUEUED) {
        /* The queued ones fail at once; the running one is unaffected. */
        for (int i = 1; i < N; i++) {
            ck_assert_int_eq(weft_await(t[i], NULL), 0);
            ck_assert_int_eq(o[i].rc, -ESHUTDOWN);
            ck_assert_ptr_null(o[i].result);
        }
    }
    WAIT_UNTIL(stats_of(ex).shutdown == 1);
    ck_assert_int_eq(weft_run_in_executor(ex, add_one, NULL, NULL, NULL),
                     -ESHUTDOWN);
    ck_assert_int_eq(weft_task_is_done(ts), 0);
    gate_open(&g);
    ck_assert_int_eq(weft_await(ts, NULL), 0);
    weft_task_unref(ts);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(weft_await(t[i], NULL), 0);
        weft_task_unref(t[i]);
        if (i == 0 || !(flags & WEFT_EXECUTOR_CANCEL_QUEUED)) {
            ck_assert_int_eq(o[i].rc, 0);
            ck_assert_ptr_eq(o[i].result, (void *)(intptr_t)(i + 100));
        }
    }
    weft_executor_stats st = stats_of(ex);
    ck_assert_uint_eq(st.threads, 0);
    ck_assert_uint_eq(st.dropped,
                      flags & WEFT_EXECUTOR_CANCEL_QUEUED ? N - 1 : 0);
    /* Shutting down again is harmless. */
    ck_assert_int_eq(weft_executor_shutdown(ex, 0), 0);
    ck_assert_int_eq(weft_executor_destroy(ex), 0);
    gate_destroy(&g);
}

static void *shutdown_main(void *arg)
{
    (void)arg;
    shutdown_with_queue(0);
    shutdown_with_queue(WEFT_EXECUTOR_CANCEL_QUEUED);
    return NULL;
}

START_TEST(test_shutdown_while_jobs_are_queued)
{
    ck_assert_int_eq(run_on(2, shutdown_main, NULL), 0);
}
END_TEST

/* An executor used from two runtimes in turn, and destroyed outside. */
static void *use_executor(void *arg)
{
    void *r;
    ck_assert_int_eq(weft_run_in_executor(arg, add_one, (void *)1, &r, NULL),
                     0);
    ck_assert_ptr_eq(r, (void *)2);
    return NULL;
}

START_TEST(test_executor_outlives_runtimes)
{
    struct leak_check lc;
    weft_executor *ex;
    weft_executor_stats st;

    leak_check_begin(&lc);
    ck_assert_int_eq(weft_executor_create(&ex, NULL), 0);
    ck_assert_int_eq(weft_run(use_executor, ex, NULL, NULL), 0);
    ck_assert_int_eq(weft_run(use_executor, ex, NULL, NULL), 0);
    /* Counted once the threads are done with the jobs. */
    ck_assert_int_eq(weft_executor_shutdown(ex, 0), 0);
    ck_assert_int_eq(weft_executor_get_stats(ex, &st), 0);
    ck_assert_uint_eq(st.completed, 2);
    ck_assert_int_eq(weft_executor_destroy(ex), 0);
    leak_check_end(&lc);
}
END_TEST

/* Out of memory: callocs fail while `calloc_fails` is set. */
static int calloc_fails;

static void *failing_calloc(size_t n, size_t size)
{
    return READ(calloc_fails) ? NULL : calloc(n, size);
}

static void *oom_main(void *arg)
{
    weft_executor *ex;
    void *r;
    (void)arg;

    /* The default pool cannot be made, then can. */
    SET(calloc_fails, 1);
    ck_assert_int_eq(weft_to_thread(add_one, NULL, &r), -ENOMEM);
    SET(calloc_fails, 0);
    ck_assert_int_eq(weft_to_thread(add_one, NULL, &r), 0);
    ck_assert_ptr_eq(r, (void *)1);
    /* A thread cannot be started: the job fails, nothing is left queued,
     * and the executor works once memory is back. */
    ck_assert_int_eq(weft_executor_create(&ex, NULL), 0);
    SET(calloc_fails, 1);
    ck_assert_int_eq(weft_run_in_executor(ex, add_one, NULL, &r, NULL),
                     -ENOMEM);
    SET(calloc_fails, 0);
    weft_executor_stats st = stats_of(ex);
    ck_assert_uint_eq(st.queued, 0);
    ck_assert_uint_eq(st.threads, 0);
    ck_assert_uint_eq(st.started, 0);
    ck_assert_int_eq(weft_run_in_executor(ex, add_one, (void *)1, &r, NULL),
                     0);
    ck_assert_ptr_eq(r, (void *)2);
    ck_assert_int_eq(weft_executor_destroy(ex), 0);
    return NULL;
}

START_TEST(test_out_of_memory)
{
    ck_assert_int_eq(weft_replace_allocator(malloc, realloc, failing_calloc,
                                            free), 0);
    ck_assert_int_eq(run_on(2, oom_main, NULL), 0);
    ck_assert_int_eq(weft_replace_allocator(malloc, realloc, calloc, free), 0);
}
END_TEST

/* --- other threads reaching the runtime ------------------------------------------ */

static void *double_it(void *arg)
{
    weft_yield(); /* a real task: it may suspend */
    return (void *)((intptr_t)arg * 2);
}

static void *fail_task(void *arg)
{
    (void)arg;
    return weft_fail(-EDOM, "out of domain");
}

/* Runs on a pool thread: hands work back to the runtime and waits. */
static void *call_back_in(void *arg)
{
    weft_task *t;
    void *r = NULL;

    if (weft_spawn_threadsafe(&t, double_it, arg, NULL) < 0)
        return weft_fail(-EFAULT, "spawn");
    int rc = weft_task_join(t, &r, WEFT_FOREVER);
    weft_task_unref(t);
    return rc < 0 ? weft_fail(rc, "join") : r;
}

struct foreign {
    int spawned;
    void *result;
    int rc_fail;
    int rc_timeout;
    weft_event *release;
};

static void *waits_for_release(void *arg)
{
    weft_event_wait(arg, WEFT_FOREVER);
    return (void *)5;
}

/* A plain thread of the program's. */
static void *foreign_thread(void *arg)
{
    struct foreign *f = arg;
    weft_task *t;

    f->spawned = weft_spawn_threadsafe(&t, double_it, (void *)21, NULL);
    if (f->spawned == 0) {
        weft_task_join(t, &f->result, WEFT_FOREVER);
        weft_task_unref(t);
    }
    if (weft_spawn_threadsafe(&t, fail_task, NULL,
                              &(weft_spawn_opts){ .name = "f" }) == 0) {
        f->rc_fail = weft_task_join(t, NULL, WEFT_FOREVER);
        weft_task_unref(t);
    }
    if (weft_spawn_threadsafe(&t, waits_for_release, f->release, NULL) == 0) {
        void *r;
        f->rc_timeout = weft_task_join(t, NULL, 20);
        weft_event_set(f->release);
        ck_assert_int_eq(weft_task_join(t, &r, WEFT_FOREVER), 0);
        ck_assert_ptr_eq(r, (void *)5);
        weft_task_unref(t);
    }
    return NULL;
}

static void *join_test_thread(void *arg)
{
    struct test_thread *th = arg;
    pthread_join(th->id, NULL);
    munmap(th->stack, TEST_THREAD_STACK);
    return NULL;
}

static void *threadsafe_main(void *arg)
{
    struct foreign f = { 0 };
    weft_event release;
    struct test_thread th;
    void *r;
    (void)arg;

    /* From a pool thread. */
    ck_assert_int_eq(weft_to_thread(call_back_in, (void *)4, &r), 0);
    ck_assert_ptr_eq(r, (void *)8);
    /* From a thread the program started. */
    weft_event_init(&release);
    f.release = &release;
    test_thread_start(&th, foreign_thread, &f);
    /* Joined off the workers: the thread needs them to finish. */
    ck_assert_int_eq(weft_to_thread(join_test_thread, &th, NULL), 0);
    ck_assert_int_eq(f.spawned, 0);
    ck_assert_ptr_eq(f.result, (void *)42);
    ck_assert_int_eq(f.rc_fail, -EDOM);
    ck_assert_int_eq(f.rc_timeout, -ETIMEDOUT);
    weft_event_destroy(&release);
    /* Blocking a worker is refused. */
    weft_task *t;
    ck_assert_int_eq(weft_spawn_threadsafe(&t, double_it, (void *)1, NULL), 0);
    ck_assert_int_eq(weft_task_join(t, &r, WEFT_FOREVER), -EPERM);
    ck_assert_int_eq(weft_await(t, &r), 0);
    ck_assert_ptr_eq(r, (void *)2);
    weft_task_unref(t);
    return NULL;
}

START_TEST(test_foreign_threads_spawn_and_join)
{
    weft_task *t = (weft_task *)1;

    ck_assert_int_eq(weft_spawn_threadsafe(&t, double_it, NULL, NULL), -ESRCH);
    ck_assert_ptr_null(t);
    ck_assert_int_eq(weft_spawn_threadsafe(NULL, NULL, NULL, NULL), -EINVAL);
    ck_assert_int_eq(weft_task_join(NULL, NULL, 0), -EINVAL);
    ck_assert_int_eq(run_on(2, threadsafe_main, NULL), 0);
}
END_TEST

/* A plain thread joins tasks with a timeout that runs out just as they
 * finish: whichever wins, the join returns (0, or -ETIMEDOUT and then the
 * result on a second join). The task ends at the join's deadline plus an
 * offset that sweeps the window around it. */
struct join_race {
    int64_t end_ns;       /* atomic: when the task returns, 0 until set */
    int joined;
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *ends_on_time(void *arg)
{
    struct join_race *jr = arg;
    int64_t end;
    /* Spins (its worker is busy meanwhile), so the end is precise. */
    while ((end = READ(jr->end_ns)) == 0 || mono_ns() < end)
        ;
    return arg;
}

static void *join_racer(void *arg)
{
    struct join_race *jr = arg;

    for (int i = 0; i < 1000; i++) {
        weft_task *t;
        void *r;
        SET(jr->end_ns, 0);
        ck_assert_int_eq(weft_spawn_threadsafe(&t, ends_on_time, jr, NULL), 0);
        /* 1 ms from now, give or take up to 100 us. */
        SET(jr->end_ns, mono_ns() + 1000000 + (i % 100 - 50) * 2000);
        int rc = weft_task_join(t, &r, 1);
        if (rc == -ETIMEDOUT)
            rc = weft_task_join(t, &r, WEFT_FOREVER);
        ck_assert_int_eq(rc, 0);
        ck_assert_ptr_eq(r, jr);
        jr->joined++;
        weft_task_unref(t);
    }
    return NULL;
}

static void *join_race_main(void *arg)
{
    struct test_thread th;

    test_thread_start(&th, join_racer, arg);
    /* Joined off the workers: the thread needs them to finish. */
    ck_assert_int_eq(weft_to_thread(join_test_thread, &th, NULL), 0);
    return NULL;
}

START_TEST(test_join_timeout_races_the_end)
{
    struct join_race jr = { 0 };
    ck_assert_int_eq(run_on(2, join_race_main, &jr), 0);
    ck_assert_int_eq(jr.joined, 1000);
}
END_TEST

static Suite *executor_suite(void)
{
    Suite *s = suite_create("executor");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_results_and_errors);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_default_pool_starts_on_demand);
    tcase_add_test(tc, test_pool_grows_to_its_maximum);
    tcase_add_test(tc, test_idle_threads_retire);
    tcase_add_test(tc, test_jobs_run_fifo);
    tcase_add_test(tc, test_slow_jobs_are_capped);
    tcase_add_test(tc, test_cancel_before_the_job_starts);
    tcase_add_test(tc, test_cancel_while_the_job_runs);
    tcase_add_test(tc, test_cancelled_caller_starts_nothing);
    tcase_add_test(tc, test_run_waits_for_abandoned_jobs);
    tcase_add_test(tc, test_destroy_before_a_cancelled_caller_gives_up);
    tcase_add_test(tc, test_default_stats_while_runtimes_end);
    tcase_add_test(tc, test_shutdown_while_jobs_are_queued);
    tcase_add_test(tc, test_executor_outlives_runtimes);
    tcase_add_test(tc, test_foreign_threads_spawn_and_join);
    tcase_add_test(tc, test_join_timeout_races_the_end);
    tcase_add_test(tc, test_out_of_memory);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(executor_suite)
