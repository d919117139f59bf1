/* Thread pools for blocking functions: weft_executor, weft_to_thread and
 * weft_run_in_executor.
 *
 * One mutex guards an executor's queues and its thread bookkeeping. Jobs
 * wait in two FIFO queues, quick and slow, and a thread takes the older
 * head of the two, skipping the slow one while max_slow slow jobs run.
 *
 * Threads start on demand: a submitter that finds no idle thread starts
 * one, up to max_threads. An idle thread first spins for a short while
 * (one at a time per two CPUs), which is what makes a round trip a few
 * microseconds instead of the 14-35 us of waking a parked vCPU, then
 * sleeps on a condition variable of its own, and exits after idle_ms.
 * Idle threads are a LIFO list: the submitter claims the most recently
 * idle one, so surplus threads age out at the other end.
 *
 * A job's life is an atomic state. QUEUED -> RUNNING under the mutex, by
 * the thread that takes it; RUNNING -> DONE by that thread when fn
 * returns, or RUNNING -> ABANDONED by the caller when it stops waiting
 * (cancelled, deadline). Whoever wins that race owns the job: the caller
 * frees a DONE job, the thread an ABANDONED one (after its cleanup). A
 * queued job whose caller stops waiting is simply unlinked and freed.
 *
 * The executor is reference counted: its creator holds one reference
 * (the runtime, for the default pool), each caller one from submitting
 * its job until it has collected or given it up, and a reader of the
 * default pool's counters one while it reads. The last one frees it, so
 * a caller cancelled as its job finished can still give it up after
 * weft_executor_destroy has returned. Pool threads hold none: shutdown
 * joins them before the creator lets go.
 */
#include "exec/executor.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/atomic.h"
#include "core/clock.h"
#include "core/sys.h"
#include "sched/debug.h"
#include "sched/runtime.h"
#include "sched/wait.h"
#include "sched/scope.h"
#include "sched/task.h"
#include "core/thread.h"

#define EXECUTOR_MAGIC 0x65786563u /* "exec" */

#define DEFAULT_IDLE_MS 10000u
#define DEFAULT_STACK_SIZE ((size_t)2 << 20)
#define STACK_SIZE_MIN ((size_t)64 << 10)
#define STACK_SIZE_MAX ((size_t)1 << 30)
/* How long an idle thread spins before it sleeps. */
#define SPIN_NS 50000

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_ABANDONED };

struct job {
    struct weft__list link;    /* in its queue, under the mutex; or, once
                                  dropped, in a list of dropped jobs */
    uint64_t order;            /* submission order, across both queues */
    weft_fn fn;
    void *arg;
    weft_job_cleanup cleanup;
    bool slow;
    bool detached;             /* nobody waits: cleanup ends it */
    uint32_t state;            /* atomic, enum job_state */
    void *result;
    int err;
    struct weft__handoff h;    /* the waiting caller; released when the
                                  thread is done with a DONE job */
};

struct job_queue {
    struct weft__list jobs;    /* struct job.link, oldest first */
    unsigned n;
};

struct pool_thread {
    struct weft__thread thread;
    struct weft_executor *ex;
    pthread_cond_t cv;         /* it sleeps on this, with the mutex */
    uint32_t claimed;          /* atomic: a submitter picked it */
    bool sleeping;             /* under the mutex: needs a signal */
    struct weft__list idle_link; /* in the idle list, under the mutex */
    struct pool_thread *retired_next;
};

struct weft_executor {
    uint32_t magic;
    uint32_t refs;             /* atomic: see the top of the file */
    pthread_mutex_t mu;
    pthread_cond_t drained;    /* blocking shutdowns wait here */
    weft_event drained_event;  /* shutdowns in a task wait here */
    struct job_queue quick;
    struct job_queue slow;
    uint64_t next_order;
    unsigned max_threads;
    unsigned max_slow;
    unsigned max_spinning;
    int64_t idle_ms;
    size_t stack_size;
    unsigned nthreads;         /* started (or starting) and not exited */
    unsigned nidle;
    unsigned running;
    unsigned running_slow;
    unsigned spinning;
    uint32_t shutdown;         /* atomic (spinners read it unlocked) */
    struct weft__list idle;    /* pool_thread.idle_link, most recently
                                  idle first */
    struct pool_thread *retired; /* exited, not yet joined */
    weft_executor_stats stats; /* the counters, under the mutex */
};

/* --- queues ------------------------------------------------------------- */

static void queue_push(struct job_queue *q, struct job *job)
{
    weft__list_push_back(&q->jobs, &job->link);
    q->n++;
}

static void queue_unlink(struct job_queue *q, struct job *job)
{
    weft__list_remove(&job->link);
    q->n--;
}

/* The oldest job of q, or NULL. */
static struct job *queue_first(const struct job_queue *q)
{
    struct weft__list *link = weft__list_first(&q->jobs);
    return link != NULL ? weft__list_entry(link, struct job, link) : NULL;
}

static bool slow_allowed(const struct weft_executor *ex)
{
    return ex->running_slow < ex->max_slow;
}

/* Takes the oldest job a thread may run now and marks it running; mutex
 * held. */
static struct job *take_job(struct weft_executor *ex)
{
    struct job *quick = queue_first(&ex->quick);
    struct job *slow = slow_allowed(ex) ? queue_first(&ex->slow) : NULL;
    struct job *job;

    if (quick != NULL && (slow == NULL || quick->order < slow->order))
        job = quick;
    else
        job = slow;
    if (job == NULL)
        return NULL;
    queue_unlink(job->slow ? &ex->slow : &ex->quick, job);
    /* Relaxed: a caller reads QUEUED vs RUNNING under the mutex, and
     * RUNNING is left only by CAS (finish_job, give_up). */
    weft__store_relaxed_u32(&job->state, JOB_RUNNING);
    ex->running++;
    if (job->slow)
        ex->running_slow++;
    return job;
}

/* --- pool threads ----------------------------------------------------------- */

static void idle_push(struct weft_executor *ex, struct pool_thread *t)
{
    weft__list_push_front(&ex->idle, &t->idle_link);
    ex->nidle++;
}

static void idle_unlink(struct weft_executor *ex, struct pool_thread *t)
{
    weft__list_remove(&t->idle_link);
    ex->nidle--;
}

/* Hands the most recently idle thread a job to look for; mutex held. */
static void claim_idle(struct weft_executor *ex)
{
    struct pool_thread *t = weft__list_entry(weft__list_first(&ex->idle),
                                             struct pool_thread, idle_link);

    idle_unlink(ex, t);
    /* Release: pairs with the spinning thread's acquire in
     * wait_for_claim, which then sees the queue as we left it (it also
     * retakes the mutex before it looks). */
    weft__store_release_u32(&t->claimed, 1);
    if (t->sleeping)
        weft__cond_signal(&t->cv);
}

/* Waits, mutex held, until the thread is claimed (true) or has been idle
 * for idle_ms (false: it should exit). Shutdown counts as a claim. */
static bool wait_for_claim(struct weft_executor *ex, struct pool_thread *me)
{
    struct timespec deadline;

    /* Relaxed: only claim_idle sets it, under the mutex we hold. */
    weft__store_relaxed_u32(&me->claimed, 0);
    idle_push(ex, me);
    if (ex->spinning < ex->max_spinning) {
        ex->spinning++;
        weft__mutex_unlock(&ex->mu);
        int64_t until = weft__now_ns() + SPIN_NS;
        for (unsigned i = 1;; i++) {
            /* Acquire: pairs with the release in claim_idle. */
            if (weft__load_acquire_u32(&me->claimed) ||
                weft__load_relaxed_u32(&ex->shutdown))
                break;
            weft__cpu_relax();
            if ((i & 63) == 0 && weft__now_ns() >= until)
                break;
        }
        weft__mutex_lock(&ex->mu);
        ex->spinning--;
    }
    weft__abstime_after(&deadline, ex->idle_ms);
    /* Relaxed loads: both flags are written under the mutex we hold. */
    while (!weft__load_relaxed_u32(&me->claimed) &&
           !weft__load_relaxed_u32(&ex->shutdown)) {
        me->sleeping = true;
        int rc = weft__cond_timedwait(&me->cv, &ex->mu, &deadline);
        me->sleeping = false;
        if (rc == -ETIMEDOUT && !weft__load_relaxed_u32(&me->claimed) &&
            !weft__load_relaxed_u32(&ex->shutdown)) {
            idle_unlink(ex, me);
            ex->stats.retired++;
            return false;
        }
    }
    if (!weft__load_relaxed_u32(&me->claimed))
        idle_unlink(ex, me); /* shutdown */
    return true;
}

/* Ends a job that ran: hands the result to its caller, or, if the caller
 * left, to the cleanup (then returns true). */
static bool finish_job(struct job *job, void *result, int err)
{
    if (job->detached) {
        job->cleanup(job->arg, result, err);
        weft__free(job);
        return false;
    }
    job->result = result;
    job->err = err;
    /* The CAS decides the race with give_up's (see the top); it is a
     * full barrier, so the caller that collects a DONE job sees result
     * and err (pairing with its acquire in weft__handoff_wait). */
    if (weft__cas_u32(&job->state, JOB_RUNNING, JOB_DONE)) {
        weft__handoff_wake(&job->h, WEFT__WAKE_DONE);
        return false;
    }
    if (job->cleanup != NULL)
        job->cleanup(job->arg, result, err);
    weft__free(job);
    return true;
}

static void run_job(struct weft_executor *ex, struct job *job)
{
    bool slow = job->slow;

    weft__mutex_unlock(&ex->mu);
    job->err = 0;
    weft__thread_job_err = &job->err; /* for weft_fail */
    void *result = job->fn(job->arg);
    weft__thread_job_err = NULL;
    int err = job->err;
    bool abandoned = finish_job(job, err == 0 ? result : NULL, err);
    weft__mutex_lock(&ex->mu);
    ex->running--;
    if (slow)
        ex->running_slow--;
    ex->stats.completed++;
    if (abandoned)
        ex->stats.abandoned++;
}

static void *pool_thread_main(void *arg)
{
    struct pool_thread *me = arg;
    struct weft_executor *ex = me->ex;

    (void)pthread_setname_np(pthread_self(), "weft-blocking");
    weft__mutex_lock(&ex->mu);
    for (;;) {
        struct job *job = take_job(ex);
        if (job != NULL) {
            run_job(ex, job);
            continue;
        }
        if (weft__load_relaxed_u32(&ex->shutdown))
            break;
        if (!wait_for_claim(ex, me))
            break;
    }
    ex->nthreads--;
    me->retired_next = ex->retired;
    ex->retired = me;
    if (ex->nthreads == 0 && weft__load_relaxed_u32(&ex->shutdown)) {
        weft__cond_broadcast(&ex->drained);
        (void)weft_event_set(&ex->drained_event);
    }
    /* The last touch of ex: whoever frees it joins this thread first. */
    weft__mutex_unlock(&ex->mu);
    return NULL;
}

/* Joins the threads that have exited; mutex not held. */
static void join_retired(struct pool_thread *list)
{
    while (list != NULL) {
        struct pool_thread *next = list->retired_next;
        weft__thread_join(&list->thread);
        weft__cond_destroy(&list->cv);
        weft__free(list);
        list = next;
    }
}

static struct pool_thread *take_retired(struct weft_executor *ex)
{
    struct pool_thread *list = ex->retired;
    ex->retired = NULL;
    return list;
}

static int start_thread(struct weft_executor *ex)
{
    struct pool_thread *t = weft__calloc(1, sizeof *t);
    int rc;

    if (t == NULL)
        return -ENOMEM;
    t->ex = ex;
    rc = weft__cond_init(&t->cv);
    if (rc < 0) {
        weft__free(t);
        return rc;
    }
    rc = weft__thread_start(&t->thread, ex->stack_size, pool_thread_main, t);
    if (rc < 0) {
        weft__cond_destroy(&t->cv);
        weft__free(t);
        return rc == -ENOMEM ? -ENOMEM : -EAGAIN;
    }
    return 0;
}

/* --- creating and shutting down ------------------------------------------- */

static int check_opts(const weft_executor_opts *opts)
{
    if (opts == NULL)
        return 0;
    for (size_t i = 0; i < WEFT__ARRAY_SIZE(opts->reserved); i++) {
        if (opts->reserved[i] != NULL)
            return -EINVAL;
    }
    if (opts->max_threads > WEFT_EXECUTOR_THREADS_MAX || opts->idle_ms < 0)
        return -EINVAL;
    if (opts->stack_size != 0 && (opts->stack_size < STACK_SIZE_MIN ||
                                  opts->stack_size > STACK_SIZE_MAX))
        return -EINVAL;
    return 0;
}

static int executor_new(struct weft_executor **out,
                        const weft_executor_opts *opts, unsigned max_default)
{
    struct weft_executor *ex;
    int rc = check_opts(opts);

    if (rc < 0)
        return rc;
    unsigned max = opts != NULL && opts->max_threads != 0 ? opts->max_threads
                                                          : max_default;
    unsigned max_slow = opts != NULL ? opts->max_slow : 0;
    if (max_slow > max)
        return -EINVAL;
    ex = weft__calloc(1, sizeof *ex);
    if (ex == NULL)
        return -ENOMEM;
    weft__list_init(&ex->quick.jobs);
    weft__list_init(&ex->slow.jobs);
    weft__list_init(&ex->idle);
    ex->max_threads = max;
    ex->max_slow = max_slow != 0 ? max_slow : (max + 1) / 2;
    ex->max_spinning = weft__online_cpus() / 2 > 0 ? weft__online_cpus() / 2 : 1;
    ex->idle_ms = opts != NULL && opts->idle_ms != 0 ? opts->idle_ms
                                                     : DEFAULT_IDLE_MS;
    ex->stack_size = opts != NULL && opts->stack_size != 0
                         ? opts->stack_size : DEFAULT_STACK_SIZE;
    rc = -pthread_mutex_init(&ex->mu, NULL);
    if (rc < 0)
        goto fail_mutex;
    rc = weft__cond_init(&ex->drained);
    if (rc < 0)
        goto fail_cond;
    (void)weft_event_init(&ex->drained_event);
    ex->magic = EXECUTOR_MAGIC;
    ex->refs = 1; /* the creator's */
    *out = ex;
    return 0;
fail_cond:
    weft__mutex_destroy(&ex->mu);
fail_mutex:
    weft__free(ex);
    return rc;
}

int weft_executor_create(weft_executor **ex, const weft_executor_opts *opts)
{
    unsigned cpus = weft__online_cpus();

    if (ex == NULL)
        return -EINVAL;
    *ex = NULL;
    return executor_new(ex, opts, cpus + 4 < 32 ? cpus + 4 : 32);
}

static struct weft_executor *executor_of(weft_executor *ex)
{
    if (ex == NULL || ex->magic != EXECUTOR_MAGIC)
        return NULL;
    return ex;
}

/* Fails every queued job with err; mutex held. Their callers are woken
 * once the mutex is dropped, from the list dropped (wake_dropped). */
static void drop_queued(struct weft_executor *ex, int err,
                        struct weft__list *dropped)
{
    struct job_queue *queues[2] = { &ex->quick, &ex->slow };

    for (int i = 0; i < 2; i++) {
        struct job *job;
        while ((job = queue_first(queues[i])) != NULL) {
            queue_unlink(queues[i], job);
            job->result = NULL;
            job->err = err;
            /* Under the mutex a caller giving up sees DONE, not QUEUED,
             * and waits for the release in wake_dropped. */
            weft__store_relaxed_u32(&job->state, JOB_DONE);
            weft__list_push_back(dropped, &job->link);
            ex->stats.dropped++;
        }
    }
}

/* Wakes the callers of the jobs drop_queued took, the mutex dropped. */
static void wake_dropped(struct weft__list *dropped)
{
    struct weft__list *it, *next;

    /* The caller frees its job once released: read the link first. */
    weft__list_foreach_safe(it, next, dropped) {
        struct job *job = weft__list_entry(it, struct job, link);
        if (job->detached) {
            job->cleanup(job->arg, NULL, job->err);
            weft__free(job);
        } else {
            weft__handoff_wake(&job->h, WEFT__WAKE_DONE);
        }
    }
}

int weft_executor_shutdown(weft_executor *pub, unsigned flags)
{
    struct weft_executor *ex = executor_of(pub);
    struct weft__list dropped, *it;

    if (ex == NULL || (flags & ~WEFT_EXECUTOR_CANCEL_QUEUED) != 0)
        return -EINVAL;
    weft__list_init(&dropped);
    weft__mutex_lock(&ex->mu);
    /* Release: pairs with nothing ordered; spinners poll it relaxed and
     * retake the mutex, which orders what they read after. */
    weft__store_release_u32(&ex->shutdown, 1);
    /* Without threads nothing would run what is queued. */
    if ((flags & WEFT_EXECUTOR_CANCEL_QUEUED) || ex->nthreads == 0)
        drop_queued(ex, -ESHUTDOWN, &dropped);
    weft__list_foreach(it, &ex->idle) {
        struct pool_thread *t = weft__list_entry(it, struct pool_thread,
                                                 idle_link);
        if (t->sleeping)
            weft__cond_signal(&t->cv);
    }
    if (ex->nthreads == 0)
        (void)weft_event_set(&ex->drained_event);
    weft__mutex_unlock(&ex->mu);
    wake_dropped(&dropped);

    if (weft__task_self() != NULL) {
        weft_scope shield;
        (void)weft_shield_enter(&shield);
        (void)weft_event_wait(&ex->drained_event, WEFT_FOREVER);
        (void)weft_scope_leave(&shield);
        weft__mutex_lock(&ex->mu);
    } else {
        weft__mutex_lock(&ex->mu);
        while (ex->nthreads > 0)
            weft__cond_wait(&ex->drained, &ex->mu);
    }
    struct pool_thread *retired = take_retired(ex);
    weft__mutex_unlock(&ex->mu);
    join_retired(retired);
    return 0;
}

static void executor_free(struct weft_executor *ex)
{
    ex->magic = 0;
    (void)weft_event_destroy(&ex->drained_event);
    weft__cond_destroy(&ex->drained);
    weft__mutex_destroy(&ex->mu);
    weft__free(ex);
}

static void executor_ref(struct weft_executor *ex)
{
    /* Nothing to order: the caller holds a reference, or the runtime
     * lock that keeps the runtime's, or is a task using the default pool,
     * which the runtime frees only after every task has ended. */
    weft__faa_u32(&ex->refs, 1);
}

/* The add is a full barrier, and pairs with the same add of every other
 * holder: whoever drops the last reference sees every write the others
 * made before dropping theirs. */
static void executor_unref(struct weft_executor *ex)
{
    if (weft__faa_u32(&ex->refs, (uint32_t)-1) == 1)
        executor_free(ex);
}

int weft_executor_destroy(weft_executor *pub)
{
    struct weft_executor *ex = executor_of(pub);
    struct weft__runtime *rt;
    bool is_default = false;

    if (ex == NULL)
        return -EINVAL;
    rt = weft__runtime_acquire();
    /* Acquire: pairs with the publishing CAS in weft__executor_default. */
    if (rt != NULL && weft__load_acquire_ptr((void *const *)&rt->blocking) == ex)
        is_default = true;
    weft__runtime_release();
    if (is_default)
        return -EINVAL;
    /* destroy never waits for a job: weft_executor_shutdown does. */
    weft__mutex_lock(&ex->mu);
    bool busy = ex->running > 0 || ex->quick.n > 0 || ex->slow.n > 0;
    weft__mutex_unlock(&ex->mu);
    if (busy)
        return -EBUSY;
    (void)weft_executor_shutdown(ex, 0);
    ex->magic = 0; /* the handle is dead, even if callers still hold it */
    executor_unref(ex);
    return 0;
}

int weft_executor_get_stats(weft_executor *pub, weft_executor_stats *stats)
{
    struct weft_executor *ex;

    if (stats == NULL)
        return -EINVAL;
    memset(stats, 0, sizeof *stats);
    if (pub == NULL) {
        struct weft__runtime *rt = weft__runtime_acquire();
        /* Acquire: pairs with the publishing CAS. */
        ex = rt != NULL ? weft__load_acquire_ptr((void *const *)&rt->blocking)
                        : NULL;
        /* The runtime unpublishes its pool under this lock before it
         * drops its reference, so the pool is alive to take one. */
        if (ex != NULL)
            executor_ref(ex);
        weft__runtime_release();
        if (rt == NULL)
            return -ESRCH;
        if (ex == NULL)
            return 0;
        weft__mutex_lock(&ex->mu);
    } else {
        ex = executor_of(pub);
        if (ex == NULL)
            return -EINVAL;
        weft__mutex_lock(&ex->mu);
    }
    *stats = ex->stats;
    stats->threads = ex->nthreads;
    stats->idle = ex->nidle;
    stats->running = ex->running;
    stats->running_slow = ex->running_slow;
    stats->queued = ex->quick.n + ex->slow.n;
    stats->shutdown = weft__load_relaxed_u32(&ex->shutdown);
    weft__mutex_unlock(&ex->mu);
    if (pub == NULL)
        executor_unref(ex);
    return 0;
}

/* --- the default pool -------------------------------------------------------- */

struct weft_executor *weft__executor_default(struct weft__runtime *rt)
{
    /* Acquire: pairs with the CAS below that publishes a new pool, so its
     * user sees the pool initialised. */
    struct weft_executor *ex =
        weft__load_acquire_ptr((void *const *)&rt->blocking);

    if (WEFT__LIKELY(ex != NULL))
        return ex;
    if (executor_new(&ex, NULL, rt->blocking_threads) < 0)
        return NULL;
    /* Another task may have raced us to it; its pool wins. The CAS is a
     * full barrier: it publishes the initialised pool (pairs with the
     * acquire loads of rt->blocking). */
    if (!weft__cas_ptr((void **)&rt->blocking, NULL, ex)) {
        executor_unref(ex);
        ex = weft__load_acquire_ptr((void *const *)&rt->blocking);
    }
    return ex;
}

void weft__executor_default_destroy(struct weft__runtime *rt)
{
    struct weft_executor *ex;

    /* Unpublished under the lock that a reader of its counters holds
     * while it takes its reference (weft_executor_get_stats). */
    (void)weft__runtime_acquire();
    ex = rt->blocking;
    /* Relaxed: the runtime lock orders it for readers that take one;
     * tasks, which read it without, have all ended by now. */
    weft__store_relaxed_ptr((void **)&rt->blocking, NULL);
    weft__runtime_release();
    if (ex == NULL)
        return;
    (void)weft_executor_shutdown(ex, 0);
    executor_unref(ex);
}

/* --- submitting ---------------------------------------------------------------- */

static int check_job_opts(const weft_job_opts *opts)
{
    if (opts == NULL)
        return 0;
    if ((opts->flags & ~WEFT_JOB_SLOW) != 0)
        return -EINVAL;
    for (size_t i = 0; i < WEFT__ARRAY_SIZE(opts->reserved); i++) {
        if (opts->reserved[i] != NULL)
            return -EINVAL;
    }
    return 0;
}

static struct job *job_new(weft_fn fn, void *arg, weft_job_cleanup cleanup,
                           bool slow, bool detached)
{
    struct job *job = weft__malloc(sizeof *job);

    if (job == NULL)
        return NULL;
    *job = (struct job){ .fn = fn, .arg = arg, .cleanup = cleanup,
                         .slow = slow, .detached = detached };
    return job;
}

/* Whether job is in one of ex's queues; mutex held. */
static bool is_queued(const struct weft_executor *ex, const struct job *job)
{
    const struct weft__list *it;
    const struct job_queue *q = job->slow ? &ex->slow : &ex->quick;

    weft__list_foreach(it, &q->jobs) {
        if (it == &job->link)
            return true;
    }
    return false;
}

/* Queues job, whose caller has begun its wait, and makes sure a thread
 * will look for it. Returns 0, or -ESHUTDOWN / a thread start error with
 * the job not queued. */
static int submit(struct weft_executor *ex, struct job *job)
{
    bool start = false;
    int rc = 0;

    weft__mutex_lock(&ex->mu);
    if (weft__load_relaxed_u32(&ex->shutdown)) {
        weft__mutex_unlock(&ex->mu);
        return -ESHUTDOWN;
    }
    job->order = ex->next_order++;
    job->state = JOB_QUEUED;
    queue_push(job->slow ? &ex->slow : &ex->quick, job);
    /* A slow job beyond the cap waits for a slow job's thread to loop. */
    if (!job->slow || slow_allowed(ex)) {
        if (!weft__list_empty(&ex->idle)) {
            claim_idle(ex);
        } else if (ex->nthreads < ex->max_threads) {
            ex->nthreads++;
            ex->stats.started++;
            if (ex->nthreads > ex->stats.peak_threads)
                ex->stats.peak_threads = ex->nthreads;
            start = true;
        }
    }
    struct pool_thread *retired = take_retired(ex);
    weft__mutex_unlock(&ex->mu);
    join_retired(retired);
    if (!start)
        return 0;
    rc = start_thread(ex);
    if (rc == 0)
        return 0;
    struct weft__list stranded;
    weft__list_init(&stranded);
    weft__mutex_lock(&ex->mu);
    ex->nthreads--;
    ex->stats.started--;
    /* Other threads will get to the queue; with none, nothing would:
     * this job fails, and so do those queued behind a thread that
     * another submitter counted on starting. */
    /* Whether it is still queued: not from its state, which a detached
     * job that a thread took, ran and freed no longer has. */
    if (ex->nthreads > 0 || !is_queued(ex, job)) {
        rc = 0;
    } else {
        queue_unlink(job->slow ? &ex->slow : &ex->quick, job);
        drop_queued(ex, rc, &stranded);
        if (weft__load_relaxed_u32(&ex->shutdown)) {
            weft__cond_broadcast(&ex->drained);
            (void)weft_event_set(&ex->drained_event);
        }
    }
    weft__mutex_unlock(&ex->mu);
    wake_dropped(&stranded);
    return rc;
}

/* The caller stopped waiting (rc): drops a queued job, abandons a running
 * one, or collects one that finished meanwhile (returns 1 then). */
static int give_up(struct weft_executor *ex, struct job *job, int rc)
{
    weft__mutex_lock(&ex->mu);
    if (weft__load_relaxed_u32(&job->state) == JOB_QUEUED) {
        queue_unlink(job->slow ? &ex->slow : &ex->quick, job);
        ex->stats.dropped++;
        weft__mutex_unlock(&ex->mu);
        if (job->cleanup != NULL)
            job->cleanup(job->arg, NULL, rc);
        weft__free(job);
        return 0;
    }
    weft__mutex_unlock(&ex->mu);
    /* The CAS decides the race with finish_job's; full barrier. */
    if (weft__cas_u32(&job->state, JOB_RUNNING, JOB_ABANDONED))
        return 0; /* the thread frees it */
    return 1;     /* DONE: finished, or dropped by a shutdown */
}

static int collect(struct job *job, void **result)
{
    /* The thread, or a shutdown that dropped it, is a few instructions
     * from letting go of the job. */
    weft__handoff_wait(&job->h);
    int err = job->err;
    if (result != NULL)
        *result = err == 0 ? job->result : NULL;
    weft__free(job);
    return err;
}

int weft_run_in_executor(weft_executor *pub, weft_fn fn, void *arg,
                         void **result, const weft_job_opts *opts)
{
    weft__task *self = WEFT__TASK_ENTER();
    struct weft_executor *ex;
    struct job *job;
    int rc;

    if (result != NULL)
        *result = NULL;
    if (fn == NULL || check_job_opts(opts) < 0)
        return -EINVAL;
    if (pub != NULL && (ex = executor_of(pub)) == NULL)
        return -EINVAL;
    if (self == NULL)
        return -EPERM;
    if (pub == NULL && (ex = weft__executor_default(self->rt)) == NULL)
        return -ENOMEM;
    job = job_new(fn, arg, opts != NULL ? opts->cleanup : NULL,
                  opts != NULL && (opts->flags & WEFT_JOB_SLOW) != 0, false);
    if (job == NULL)
        return -ENOMEM;
    uint32_t seq;
    rc = weft__wait_begin(self, 0, &seq);
    if (rc < 0) {
        /* Interrupted before it was queued: as for a job dropped from the
         * queue, -ECANCELED or -ETIMEDOUT hands arg to the cleanup, so
         * the caller never has to guess who owns it. */
        if (job->cleanup != NULL)
            job->cleanup(arg, NULL, rc);
        weft__free(job);
        return rc;
    }
    weft__handoff_init(&job->h, self, seq);
    /* Held until the caller is done with the job: see the top. */
    executor_ref(ex);
    rc = submit(ex, job);
    if (rc < 0) {
        (void)weft__wait_abort(self);
        weft__free(job);
        executor_unref(ex);
        return rc;
    }
    weft__task_waiting(self, WEFT__WAITING_THREAD, NULL);
    int reason = weft__wait_commit(self);
    weft__task_waiting(self, WEFT__WAITING_NOTHING, NULL);
    if (reason == WEFT__WAKE_DONE) {
        rc = collect(job, result);
    } else {
        rc = weft__wake_error(reason);
        /* Finished as the caller was interrupted: the result is delivered
         * and the interruption stays pending for the next suspension. */
        if (give_up(ex, job, rc) == 1)
            rc = collect(job, result);
    }
    executor_unref(ex);
    return rc;
}

int weft__executor_detach(struct weft_executor *ex, weft_fn fn, void *arg,
                          weft_job_cleanup cleanup, bool slow)
{
    struct job *job = job_new(fn, arg, cleanup, slow, true);

    if (job == NULL)
        return -ENOMEM;
    /* No reference on ex: a shutdown runs (or drops) every queued job
     * and joins the threads before ex can go. */
    int rc = submit(ex, job);
    if (rc < 0)
        weft__free(job);
    return rc;
}

int weft_to_thread(weft_fn fn, void *arg, void **result)
{
    return weft_run_in_executor(NULL, fn, arg, result, NULL);
}
