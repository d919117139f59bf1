/* Awaiting many tasks, and one with a time limit: asyncio's gather,
 * wait, as_completed and wait_for (weft/gather.h, weft/scope.h), on the
 * waitset machinery (waitset.h). */
#include "flow/waitset.h"

#include <errno.h>
#include <string.h>

#include "core/atomic.h"
#include "sched/scope.h"
#include "sched/wait.h"

#include "weft/scope.h"
#include "weft/gather.h"

/* --- argument checks shared by gather, wait and as_completed --------------- */

static int check_tasks(const weft__task *self, weft_task *const *tasks,
                       size_t n, const char *api)
{
    if (n > 0 && tasks == NULL)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        weft__task *t = weft__task_check(tasks[i], api);
        if (t == NULL)
            return -EINVAL;
        if (t == self)
            return -EDEADLK;
    }
    return 0;
}

/* The record of tasks[i], checked already. */
#define REC(i) weft__handle_record(tasks[i])

static void record(weft_outcome *out, weft__task *t)
{
    out->err = weft__task_outcome(t, &out->result);
    if (out->err != 0)
        out->result = NULL;
}

/* --- gather ---------------------------------------------------------------- */

int weft_gather(weft_task *const *tasks, size_t n, weft_gather_mode mode,
                weft_outcome *out)
{
    weft__task *self = WEFT__TASK_ENTER();
    struct weft__waitset set;
    struct weft__wsnode *nodes;
    int interrupted = 0, first_err = 0;
    unsigned flags = 0;

    if (mode != WEFT_GATHER_FAIL_FAST && mode != WEFT_GATHER_COLLECT)
        return -EINVAL;
    if (n > 0 && out == NULL)
        return -EINVAL;
    if (self == NULL)
        return -EPERM;
    int rc = check_tasks(self, tasks, n, "weft_gather");
    if (rc < 0)
        return rc;
    /* A checkpoint, even if nothing is left to wait for: a pending
     * cancellation or passed deadline is delivered, and passed on to the
     * tasks as if it had come during the wait. */
    interrupted = weft__check_interrupt(self);
    if (n == 0)
        return interrupted;
    nodes = weft__calloc(n, sizeof *nodes);
    if (nodes == NULL)
        return -ENOMEM;
    weft__waitset_init(&set, self);
    for (size_t i = 0; i < n; i++)
        weft__waitset_add(&set, &nodes[i], REC(i));
    if (interrupted < 0) {
        flags = WEFT__WAIT_SHIELDED;
        for (size_t i = 0; i < n; i++)
            (void)weft__task_cancel(REC(i));
    }

    for (size_t remaining = n; remaining > 0;) {
        struct weft__wsnode *node = weft__waitset_take(&set);
        if (node == NULL) {
            rc = weft__waitset_wait(&set, flags);
            if (rc < 0) {
                /* The gatherer was cancelled or timed out: so are the
                 * tasks, which are then awaited to their end. */
                interrupted = rc;
                flags = WEFT__WAIT_SHIELDED;
                for (size_t i = 0; i < n; i++)
                    (void)weft__task_cancel(REC(i));
            }
            continue;
        }
        for (; node != NULL; node = node->done_next) {
            size_t i = (size_t)(node - nodes);
            remaining--;
            record(&out[i], REC(i));
            if (mode == WEFT_GATHER_FAIL_FAST && out[i].err != 0 &&
                first_err == 0 && !interrupted) {
                first_err = out[i].err;
                flags = WEFT__WAIT_SHIELDED;
                for (size_t j = 0; j < n; j++)
                    (void)weft__task_cancel(REC(j));
            }
        }
    }
    weft__waitset_fini(&set);
    weft__free(nodes);
    return interrupted != 0 ? interrupted : first_err;
}

/* --- wait ------------------------------------------------------------------ */

int weft_wait(weft_task **tasks, size_t n, weft_wait_mode mode, size_t *ndone,
              int64_t timeout_ms)
{
    weft__task *self = WEFT__TASK_ENTER();
    struct weft__waitset set;
    struct weft__wsnode *nodes;
    weft_scope scope;
    size_t done = 0;
    bool failed = false;
    int rc;

    if (ndone != NULL)
        *ndone = 0;
    if (ndone == NULL || (mode != WEFT_WAIT_FIRST_COMPLETED &&
                          mode != WEFT_WAIT_FIRST_EXCEPTION &&
                          mode != WEFT_WAIT_ALL_COMPLETED) ||
        (timeout_ms < 0 && timeout_ms != WEFT_FOREVER))
        return -EINVAL;
    if (self == NULL)
        return -EPERM;
    rc = check_tasks(self, tasks, n, "weft_wait");
    /* A checkpoint, even if the mode is met already: a pending
     * cancellation or passed deadline is delivered (the tasks keep
     * running, and are still sorted below). */
    if (rc == 0)
        rc = weft__check_interrupt(self);
    if (rc == -EINVAL || rc == -EDEADLK || n == 0)
        return rc;
    if (rc < 0)
        goto sort;
    nodes = weft__calloc(n, sizeof *nodes);
    if (nodes == NULL)
        return -ENOMEM;
    if (timeout_ms != WEFT_FOREVER)
        (void)weft_timeout_enter(&scope, timeout_ms);
    weft__waitset_init(&set, self);
    for (size_t i = 0; i < n; i++)
        weft__waitset_add(&set, &nodes[i], REC(i));

    rc = 0;
    while (done < n && !(mode == WEFT_WAIT_FIRST_COMPLETED && done > 0) &&
           !(mode == WEFT_WAIT_FIRST_EXCEPTION && failed)) {
        struct weft__wsnode *node = weft__waitset_take(&set);
        if (node == NULL) {
            rc = weft__waitset_wait(&set, 0);
            if (rc < 0)
                break;
            continue;
        }
        for (; node != NULL; node = node->done_next) {
            node->taken = true;
            done++;
            /* As in asyncio, a cancelled task has not failed. */
            int err = node->w.target->err;
            if (err != 0 && err != -ECANCELED)
                failed = true;
        }
    }
    /* The pending tasks keep running; only our nodes go. */
    weft__waitset_withdraw(&set, nodes, n);
    if (timeout_ms != WEFT_FOREVER && weft_scope_leave(&scope) == 1 &&
        rc == -ETIMEDOUT)
        rc = 0; /* our own time-out is not an error, as in asyncio */
    weft__free(nodes);

sort:;
    /* Done first, pending after, each in their original order. */
    size_t k = 0;
    for (size_t pass = 0; pass < 2; pass++) {
        for (size_t i = k; i < n; i++) {
            /* Pairs with the release of done in weft__task_complete. */
            bool is_done = weft__load_acquire_u32(&REC(i)->done) != 0;
            if (is_done == (pass == 0)) {
                weft_task *t = tasks[i];
                memmove(&tasks[k + 1], &tasks[k], (i - k) * sizeof *tasks);
                tasks[k++] = t;
            }
        }
        if (pass == 0)
            *ndone = k;
    }
    return rc;
}

/* --- as_completed ------------------------------------------------------------ */

struct weft_as_completed {
    struct weft__waitset set;
    size_t n;
    size_t handed;                 /* tasks handed out so far */
    struct weft__wsnode *ready;    /* delivered, not yet handed out */
    struct weft__wsnode nodes[];
};

int weft_as_completed_create(weft_as_completed **out, weft_task *const *tasks,
                            size_t n)
{
    weft__task *self = WEFT__TASK_ENTER();
    weft_as_completed *it;

    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (self == NULL)
        return -EPERM;
    int rc = check_tasks(self, tasks, n, "weft_as_completed_create");
    if (rc < 0)
        return rc;
    it = weft__calloc(1, sizeof *it + n * sizeof it->nodes[0]);
    if (it == NULL)
        return -ENOMEM;
    it->n = n;
    weft__waitset_init(&it->set, self);
    for (size_t i = 0; i < n; i++)
        weft__waitset_add(&it->set, &it->nodes[i], REC(i));
    *out = it;
    return 0;
}

int weft_as_completed_next(weft_as_completed *it, weft_task **task,
                           int64_t timeout_ms)
{
    weft_scope scope;
    int rc = 0;

    if (task != NULL)
        *task = NULL;
    if (it == NULL || task == NULL ||
        (timeout_ms < 0 && timeout_ms != WEFT_FOREVER))
        return -EINVAL;
    if (WEFT__TASK_ENTER() != it->set.owner)
        return -EPERM;
    if (it->handed == it->n)
        return -ENODATA;
    /* A checkpoint, even if a task is ready to be handed out. */
    rc = weft__check_interrupt(it->set.owner);
    if (rc < 0)
        return rc;
    if (timeout_ms != WEFT_FOREVER)
        (void)weft_timeout_enter(&scope, timeout_ms);
    while (it->ready == NULL) {
        it->ready = weft__waitset_take(&it->set);
        if (it->ready == NULL && (rc = weft__waitset_wait(&it->set, 0)) < 0)
            break;
    }
    if (timeout_ms != WEFT_FOREVER)
        (void)weft_scope_leave(&scope);
    if (it->ready == NULL)
        return rc;
    struct weft__wsnode *node = it->ready;
    it->ready = node->done_next;
    node->taken = true;
    it->handed++;
    *task = weft__task_handle(node->w.target);
    return 0;
}

int weft_as_completed_destroy(weft_as_completed *it)
{
    if (it == NULL)
        return -EINVAL;
    if (weft__task_self() != it->set.owner)
        return -EPERM;
    /* Nodes already delivered but not handed out count as withdrawn. */
    for (struct weft__wsnode *node = it->ready; node != NULL;
         node = node->done_next)
        node->taken = true;
    weft__waitset_withdraw(&it->set, it->nodes, it->n);
    weft__free(it);
    return 0;
}

/* --- wait_for ---------------------------------------------------------------- */

int weft_wait_for(weft_task *handle, void **result, int64_t timeout_ms)
{
    weft__task *self = WEFT__TASK_ENTER();
    weft_scope scope;
    int rc;

    if (result != NULL)
        *result = NULL;
    weft__task *task = weft__task_check(handle, "weft_wait_for");
    if (task == NULL || (timeout_ms < 0 && timeout_ms != WEFT_FOREVER))
        return -EINVAL;
    if (self == NULL)
        return -EPERM;
    if (task == self)
        return -EDEADLK;
    /* Like every await, a checkpoint for the caller's own cancellation
     * and enclosing deadlines; but the time limit given here applies only
     * if there is something to wait for: a finished task's outcome is
     * there, whatever the limit (asyncio's wait_for(done, 0)). */
    rc = weft__check_interrupt(self);
    if (rc < 0)
        return rc;
    /* Pairs with the release of done in weft__task_complete. */
    if (weft__load_acquire_u32(&task->done))
        return weft__task_outcome(task, result);
    if (timeout_ms == WEFT_FOREVER)
        return weft_await(handle, result);
    rc = weft_timeout_enter(&scope, timeout_ms);
    if (rc < 0)
        return rc;
    /* On expiry the await cancels the task and waits for it to finish. */
    rc = weft_await(handle, result);
    (void)weft_scope_leave(&scope);
    return rc;
}
