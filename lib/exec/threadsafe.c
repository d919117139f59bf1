/* Threads outside the runtime: spawning a task from one, and blocking one
 * until a task ends (weft_spawn_threadsafe, weft_task_join). */
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
    bool done;             /* under mu */
};

/* Run by the task's finisher, which owns the node from then on. The
 * joiner destroys mu and cv only after it has seen done under mu, so
 * they outlive this call. */
static void joiner_wake(struct weft__waiter *node)
{
    struct joiner *j = WEFT__CONTAINER_OF(node, struct joiner, node);

    weft__mutex_lock(&j->mu);
    j->done = true;
    weft__cond_signal(&j->cv);
    weft__mutex_unlock(&j->mu);
}

/* Blocks until task is done (0) or the time is up (-ETIMEDOUT); -errno
 * if the thread could not make its condition variable. */
static int join_wait(weft__task *task, int64_t timeout_ms)
{
    struct joiner j = { .node = { .target = task, .on_finish = joiner_wake } };
    struct timespec deadline;
    bool done = true;
    int rc;

    if (timeout_ms == 0)
        return -ETIMEDOUT;
    rc = -pthread_mutex_init(&j.mu, NULL);
    if (rc < 0)
        return rc;
    rc = weft__cond_init(&j.cv);
    if (rc < 0) {
        weft__mutex_destroy(&j.mu);
        return rc;
    }
    if (timeout_ms > 0)
        weft__abstime_after(&deadline, timeout_ms);
    if (weft__waiter_add(task, &j.node)) {
        weft__mutex_lock(&j.mu);
        while (!j.done) {
            if (timeout_ms < 0)
                weft__cond_wait(&j.cv, &j.mu);
            else if (weft__cond_timedwait(&j.cv, &j.mu, &deadline) < 0)
                break;
        }
        done = j.done;
        weft__mutex_unlock(&j.mu);
        if (!done && !weft__waiter_remove(task, &j.node)) {
            /* It finished as we gave up: its finisher holds the node
             * until joiner_wake has run. */
            weft__mutex_lock(&j.mu);
            while (!j.done)
                weft__cond_wait(&j.cv, &j.mu);
            weft__mutex_unlock(&j.mu);
            done = true;
        }
    }
    weft__cond_destroy(&j.cv);
    weft__mutex_destroy(&j.mu);
    return done ? 0 : -ETIMEDOUT;
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
    /* Acquire: pairs with the finisher's release of done, so the
     * outcome read below is the final one. */
    if (!weft__load_acquire_u32(&task->done)) {
        int rc = join_wait(task, timeout_ms);
        if (rc < 0)
            return rc;
    }
    return weft__task_outcome(task, result);
}
