/* Threads outside the runtime: spawning a task from one, and blocking one
 * until a task ends (weft/threadsafe.h). */
#include "core/internal.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "core/atomic.h"
#include "core/clock.h"
#include "sched/runtime.h"
#include "sched/task.h"
#include "core/thread.h"
#include "sched/worker.h"

int weft_spawn_threadsafe(weft_task **task, weft_fn fn, void *arg,
                          const weft_spawn_opts *opts)
{
    struct weft__worker *w = weft__worker_self();
    struct weft__runtime *rt;
    int rc;

    if (task != NULL)
        *task = NULL;
    if (fn == NULL)
        return -EINVAL;
    if (w != NULL)
        return weft_spawn_ex(task, fn, arg, opts);
    /* The lock keeps the runtime from being torn down while the task is
     * made; once it is live, the runtime waits for it. */
    rt = weft__runtime_acquire();
    rc = rt != NULL ? weft__task_create_foreign(rt, fn, arg, opts, task)
                    : -ESRCH;
    weft__runtime_release();
    return rc;
}

/* A thread blocked in weft_task_join. */
struct joiner {
    struct weft__waiter node;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
};

/* Run by the task's finisher, which owns the node from then on. */
static void joiner_wake(struct weft__waiter *node)
{
    struct joiner *j = WEFT__CONTAINER_OF(node, struct joiner, node);

    pthread_mutex_lock(&j->mu);
    j->done = true;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

/* Blocks until task is done or the time is up; false on a timeout. */
static bool join_wait(weft__task *task, int64_t timeout_ms)
{
    struct joiner j = { .node = { .target = task, .on_finish = joiner_wake } };
    struct timespec deadline;
    pthread_condattr_t attr;
    bool done = true;

    if (timeout_ms == 0)
        return false;
    pthread_mutex_init(&j.mu, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&j.cv, &attr);
    pthread_condattr_destroy(&attr);
    if (timeout_ms > 0)
        weft__abstime_after(&deadline, timeout_ms);
    if (weft__waiter_add(task, &j.node)) {
        pthread_mutex_lock(&j.mu);
        while (!j.done) {
            if (timeout_ms < 0) {
                pthread_cond_wait(&j.cv, &j.mu);
            } else if (pthread_cond_timedwait(&j.cv, &j.mu, &deadline) ==
                       ETIMEDOUT) {
                break;
            }
        }
        done = j.done;
        pthread_mutex_unlock(&j.mu);
        if (!done && !weft__waiter_remove(task, &j.node)) {
            /* It finished as we gave up: its finisher holds the node
             * until joiner_wake has run. */
            pthread_mutex_lock(&j.mu);
            while (!j.done)
                pthread_cond_wait(&j.cv, &j.mu);
            pthread_mutex_unlock(&j.mu);
            done = true;
        }
    }
    pthread_cond_destroy(&j.cv);
    pthread_mutex_destroy(&j.mu);
    return done;
}

int weft_task_join(weft_task *handle, void **result, int64_t timeout_ms)
{
    if (result != NULL)
        *result = NULL;
    weft__task *task = weft__task_check(handle, "weft_task_join");
    if (task == NULL || timeout_ms < WEFT_FOREVER)
        return -EINVAL;
    /* A worker blocked here would hold up the tasks queued on it, maybe
     * the very one awaited. */
    if (weft__worker_self() != NULL)
        return -EPERM;
    if (!weft__load_acquire_u32(&task->done) && !join_wait(task, timeout_ms))
        return -ETIMEDOUT;
    return weft__task_outcome(task, result);
}
