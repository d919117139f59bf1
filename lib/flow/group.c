/* Task groups (weft/group.h).
 *
 * Each child carries a wait node whose on_finish hook runs when the child
 * finishes, on whichever worker that happens: it drops the child from the
 * group, keeps its error if it failed, cancels its siblings on the first
 * failure, and wakes the waiter once no child is left. So a long-lived
 * group holds only its running children and its failures, and a failure
 * cancels the siblings at once, as asyncio.TaskGroup's done callbacks do.
 */
#include "core/internal.h"

#include <errno.h>
#include <pthread.h>

#include "core/atomic.h"
#include "core/thread.h"
#include "sched/wait.h"
#include "sched/scope.h"
#include "sched/task.h"
#include "sched/worker.h"

struct weft_group;

/* One running child. */
struct child {
    struct weft__waiter node;   /* in the task's waits; its hook gets it */
    struct weft_group *group;
    weft__task *task;            /* the group's reference */
    struct weft__list link;     /* in the group's list of running ones */
};

struct weft_group {
    /* Guards all below. A mutex, not a spinlock: it is held across a
     * spawn, and children on every worker spawn into the same group. Never
     * held across a suspension. */
    pthread_mutex_t lock;
    struct weft__list running;  /* struct child.link */
    size_t nrunning;
    bool cancelling;            /* a child failed, or the waiter stopped */
    bool waiting;               /* weft_group_wait is running */
    bool waited;                /* weft_group_wait has returned */
    weft__task *waiter;         /* the waiting task, while suspended */
    uint32_t waiter_seq;        /* ... its suspension, or 0 */
    weft__task *body;           /* the task that created the group (a
                                   reference), or NULL */
    bool body_cancelled;        /* the group cancelled the body, and has
                                   yet to take it back */
    int first_err;
    weft__task **errors;         /* failed children, in order */
    size_t nerrors;
    size_t cap;
};

int weft_group_create(weft_group **out)
{
    weft_group *g;

    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    g = weft__calloc(1, sizeof *g);
    if (g == NULL)
        return -ENOMEM;
    weft__list_init(&g->running);
    g->body = weft__task_self();
    /* The group's reference on its body, taken by the body itself: no
     * ordering is needed. */
    if (g->body != NULL)
        weft__faa_u32(&g->body->refs, 1);
    int rc = pthread_mutex_init(&g->lock, NULL);
    if (rc != 0) {
        weft__free(g);
        return -rc;
    }
    *out = g;
    return 0;
}

/* Cancels every running child. Called with the lock held. */
static void cancel_children(weft_group *g)
{
    struct weft__list *it;

    g->cancelling = true;
    weft__list_foreach(it, &g->running)
        (void)weft__task_cancel(weft__list_entry(it, struct child, link)->task);
}

static void keep_error(weft_group *g, weft__task *t)
{
    if (g->nerrors == g->cap) {
        size_t cap = g->cap == 0 ? 4 : g->cap * 2;
        weft__task **bigger = weft__realloc(g->errors, cap * sizeof *bigger);
        if (bigger == NULL) {
            /* Out of memory: the error cannot be kept, so it is said. */
            weft__log("task group: no memory to keep an error (%s)",
                      weft_err_name(t->err));
            weft__task_unref(t);
            return;
        }
        g->errors = bigger;
        g->cap = cap;
    }
    g->errors[g->nerrors++] = t;
}

/* A child finished (called by its finisher, on any worker). */
static void child_finished(struct weft__waiter *node)
{
    struct child *c = WEFT__CONTAINER_OF(node, struct child, node);
    weft_group *g = c->group;
    weft__task *t = c->task;

    weft__mutex_lock(&g->lock);
    weft__list_remove(&c->link);
    g->nrunning--;
    /* A child the group cancelled did not fail; any other error is kept,
     * and the first one cancels the siblings. */
    if (t->err != 0 && t->err != -ECANCELED) {
        weft__store_relaxed_u32(&t->retrieved, 1);
        if (g->first_err == 0)
            g->first_err = t->err;
        keep_error(g, t);
        if (!g->cancelling)
            cancel_children(g);
        /* As asyncio's TaskGroup cancels its parent: the body, if it has
         * not reached weft_group_wait, is cancelled at its next
         * suspension, and the wait takes that back. */
        if (g->body != NULL && !g->waiting && !g->waited &&
            !g->body_cancelled && weft__task_cancel(g->body) == 0)
            g->body_cancelled = true;
    } else {
        weft__task_unref(t);
    }
    if (g->nrunning == 0 && g->waiter_seq != 0)
        weft__wake(g->waiter, g->waiter_seq, WEFT__WAKE_DONE);
    weft__mutex_unlock(&g->lock);
    weft__free(c);
}

int weft_group_spawn(weft_group *g, weft_task **task, weft_fn fn, void *arg,
                     const weft_spawn_opts *opts)
{
    struct child *c;
    weft_task *h;
    int rc;

    if (task != NULL)
        *task = NULL;
    if (g == NULL || fn == NULL)
        return -EINVAL;
    c = weft__calloc(1, sizeof *c);
    if (c == NULL)
        return -ENOMEM;
    weft__mutex_lock(&g->lock);
    rc = g->waited ? -ESHUTDOWN : g->cancelling ? -ECANCELED : 0;
    /* Spawned and counted under the lock, so that a wait that sees no
     * running child cannot miss it. */
    if (rc == 0)
        rc = weft_spawn_ex(&h, fn, arg, opts);
    if (rc < 0) {
        weft__mutex_unlock(&g->lock);
        weft__free(c);
        return rc;
    }
    weft__task *t = weft__handle_record(h);
    c->group = g;
    c->task = t;
    weft__list_push_back(&g->running, &c->link);
    g->nrunning++;
    if (task != NULL)
        *task = weft_task_ref(h);
    c->node.target = t;
    c->node.on_finish = child_finished;
    bool added = weft__waiter_add(t, &c->node);
    weft__mutex_unlock(&g->lock);
    if (!added)
        child_finished(&c->node); /* it finished already */
    return 0;
}

int weft_group_wait(weft_group *g)
{
    weft__task *self = WEFT__TASK_ENTER();
    int interrupted = 0;
    unsigned flags = 0;

    if (g == NULL)
        return -EINVAL;
    if (self == NULL)
        return -EPERM;
    weft__mutex_lock(&g->lock);
    if (g->waited || g->waiting) {
        weft__mutex_unlock(&g->lock);
        return -EALREADY;
    }
    g->waiting = true;
    /* The group cancelled its body (a child failed): the body, waiting
     * now, has the cancellation taken back, as asyncio's TaskGroup does
     * in __aexit__; one of anybody else's stays. */
    if (g->body_cancelled && self == g->body) {
        (void)weft__task_uncancel(self);
        g->body_cancelled = false;
    }
    /* A checkpoint, even with no child left: an interruption pending now
     * is handled as one during the wait. */
    int pending = weft__check_interrupt(self);
    if (pending < 0) {
        interrupted = pending;
        flags = WEFT__WAIT_SHIELDED;
        cancel_children(g);
    }
    while (g->nrunning > 0) {
        uint32_t seq;
        int rc = weft__wait_begin(self, flags, &seq);
        if (rc == 0) {
            g->waiter = self;
            g->waiter_seq = seq;
            weft__mutex_unlock(&g->lock);
            weft__task_waiting(self, WEFT__WAITING_GROUP, NULL);
            rc = weft__wake_error(weft__wait_commit(self));
            weft__task_waiting(self, WEFT__WAITING_NOTHING, NULL);
            weft__mutex_lock(&g->lock);
            g->waiter_seq = 0;
        }
        if (rc < 0) {
            /* No child outlives the wait: cancel them all, and wait on,
             * shielded, for them to finish. */
            interrupted = rc;
            flags = WEFT__WAIT_SHIELDED;
            cancel_children(g);
        }
    }
    g->waiting = false;
    g->waited = true;
    int first_err = g->first_err;
    weft__mutex_unlock(&g->lock);
    /* A child's error comes first, as asyncio raises the ExceptionGroup
     * before a propagated cancellation. */
    return first_err != 0 ? first_err : interrupted;
}

ssize_t weft_group_error_count(weft_group *g)
{
    if (g == NULL)
        return -EINVAL;
    weft__mutex_lock(&g->lock);
    size_t n = g->nerrors;
    weft__mutex_unlock(&g->lock);
    return (ssize_t)n;
}

int weft_group_error(weft_group *g, size_t i, weft_task **task)
{
    int rc = -EINVAL;

    if (task != NULL)
        *task = NULL;
    if (g == NULL)
        return -EINVAL;
    weft__mutex_lock(&g->lock);
    if (i < g->nerrors) {
        if (task != NULL)
            *task = weft__task_handle(g->errors[i]);
        rc = g->errors[i]->err;
    }
    weft__mutex_unlock(&g->lock);
    return rc;
}

int weft_group_destroy(weft_group *g)
{
    if (g == NULL)
        return -EINVAL;
    weft__mutex_lock(&g->lock);
    bool busy = g->nrunning > 0 || g->waiting;
    weft__mutex_unlock(&g->lock);
    if (busy)
        return -EBUSY;
    for (size_t i = 0; i < g->nerrors; i++)
        weft__task_unref(g->errors[i]);
    if (g->body != NULL)
        weft__task_unref(g->body);
    weft__free(g->errors);
    weft__mutex_destroy(&g->lock);
    weft__free(g);
    return 0;
}
