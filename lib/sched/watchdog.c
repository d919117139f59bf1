/* Slow-task detection (see watchdog.h).
 *
 * One thread per runtime wakes every quarter of the threshold (at most
 * every 25 ms), and for each worker reads its current task and its count
 * of task switches. A worker seen on a task with the same count as at
 * an earlier look, a threshold or more before, has run that task for at
 * least that long: the watchdog flags the count, and the worker names
 * the task when it next switches. A task that never switches is
 * reported by the watchdog itself, without its name, at ten times the
 * threshold (a second at least), so an endless loop is not silent.
 *
 * The durations reported are lower bounds: from the watchdog's first
 * look at the slice, not from its start, so a watchdog thread that the
 * system kept off its CPU reports less, never a task that did not run
 * that long.
 */
#include "sched/watchdog.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include "core/clock.h"
#include "core/thread.h"
#include "sched/runtime.h"
#include "sched/task.h"

/* What the watchdog last saw of one worker. */
struct look {
    uint64_t seq;        /* stats.polled */
    const void *task;    /* current, compared, never read through */
    int64_t since_ms;    /* first seen with this seq and task */
    bool flagged;        /* slow_seq set for this seq */
    bool told;           /* reported as stuck for this seq */
};

struct watchdog {
    struct weft__runtime *rt;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;           /* under lock */
    struct look *looks;  /* one per worker: the watchdog thread's own */
};

/* Looks at worker i; now: read before the loads, so that a slice seen
 * again ran at least now - since. */
static void look_at(struct watchdog *wd, unsigned i, int64_t now)
{
    struct weft__worker *w = wd->rt->workers[i];
    struct look *l = &wd->looks[i];
    const void *task = weft__load_relaxed_ptr((void *const *)&w->current);
    uint64_t seq = weft__load_relaxed_u64(&w->stats.polled);

    if (task == NULL || seq != l->seq || task != l->task) {
        /* A new slice: it began before this clock read, which comes
         * after the loads (not before them, as now did). */
        *l = (struct look){ .seq = seq, .task = task,
                            .since_ms = weft__now_ms() };
        return;
    }
    int64_t ran = now - l->since_ms;
    int64_t threshold = wd->rt->slow_task_ms; /* at most a day */
    if (!l->flagged && ran >= threshold) {
        weft__store_relaxed_u64((uint64_t *)&w->slow_since_ms,
                                (uint64_t)l->since_ms);
        /* Pairs with the acquire load of weft__watchdog_report: a
         * worker that sees its count here sees since_ms too. */
        weft__store_release_u64(&w->slow_seq, seq);
        l->flagged = true;
    }
    int64_t stuck = threshold * 10 > 1000 ? threshold * 10 : 1000;
    if (!l->told && ran >= stuck) {
        l->told = true;
        weft__log("worker %u has run one task for %.1f s without a switch, "
                  "and it is still running (its name comes when it "
                  "suspends; weft_dump lists it as running)",
                  i, (double)ran / 1e3);
    }
}

static void *watchdog_main(void *arg)
{
    struct watchdog *wd = arg;
    int64_t period = wd->rt->slow_task_ms / 4;

    if (period < 1)
        period = 1;
    if (period > 25)
        period = 25;
    (void)pthread_setname_np(pthread_self(), "weft-watchdog");
    weft__mutex_lock(&wd->lock);
    while (!wd->stop) {
        struct timespec until;
        weft__abstime_after(&until, period);
        (void)weft__cond_timedwait(&wd->cond, &wd->lock, &until);
        if (wd->stop)
            break;
        /* Unlocked: a report on a stderr that is a full pipe must not
         * hold up weft__watchdog_stop. */
        weft__mutex_unlock(&wd->lock);
        int64_t now = weft__now_ms();
        for (unsigned i = 0; i < wd->rt->nworkers; i++)
            look_at(wd, i, now);
        weft__mutex_lock(&wd->lock);
    }
    weft__mutex_unlock(&wd->lock);
    return NULL;
}

void weft__watchdog_report(struct weft__worker *w, weft__task *t)
{
    /* Pairs with the release store of slow_seq in look_at: read again,
     * with acquire, the value the check saw; since_ms was stored before
     * it. */
    (void)weft__load_acquire_u64(&w->slow_seq);
    int64_t since = (int64_t)weft__load_relaxed_u64((const uint64_t *)&w->slow_since_ms);
    double ran = (double)(weft__now_ms() - since);
    char fallback[32];

    snprintf(fallback, sizeof fallback, "task-%" PRIu64, t->id);
    weft__log("task '%s' ran %.1f ms without suspending, holding up worker "
              "%u and the tasks queued on it (move blocking calls to "
              "weft_to_thread, CPU-bound work to weft_process_call)",
              t->name != NULL ? t->name : fallback, ran, w->index);
}

int weft__watchdog_start(struct weft__runtime *rt)
{
    if (rt->slow_task_ms <= 0)
        return 0;
    struct watchdog *wd = weft__calloc(1, sizeof *wd);
    if (wd == NULL)
        return -ENOMEM;
    wd->rt = rt;
    wd->looks = weft__calloc(rt->nworkers, sizeof *wd->looks);
    int rc = wd->looks == NULL ? -ENOMEM : -pthread_mutex_init(&wd->lock, NULL);
    if (rc == 0 && (rc = weft__cond_init(&wd->cond)) < 0)
        weft__mutex_destroy(&wd->lock);
    if (rc == 0) {
        /* 1 MiB, as the dump thread: ThreadSanitizer refuses less. */
        rc = weft__thread_start(&rt->watchdog_thread, (size_t)1 << 20,
                                watchdog_main, wd);
        if (rc < 0) {
            weft__cond_destroy(&wd->cond);
            weft__mutex_destroy(&wd->lock);
        }
    }
    if (rc < 0) {
        weft__free(wd->looks);
        weft__free(wd);
        return rc;
    }
    rt->watchdog = wd;
    return 0;
}

void weft__watchdog_stop(struct weft__runtime *rt)
{
    struct watchdog *wd = rt->watchdog;

    if (wd == NULL)
        return;
    weft__mutex_lock(&wd->lock);
    wd->stop = true;
    weft__cond_signal(&wd->cond);
    weft__mutex_unlock(&wd->lock);
    weft__thread_join(&rt->watchdog_thread);
    weft__cond_destroy(&wd->cond);
    weft__mutex_destroy(&wd->lock);
    weft__free(wd->looks);
    weft__free(wd);
    rt->watchdog = NULL;
}
