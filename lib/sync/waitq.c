/* The FIFO wait queue of the synchronisation primitives (see waitq.h). */
#include "sync/waitq.h"

#include <errno.h>
#include <sched.h>

#include "sched/wait.h"
#include "sched/task.h"

#include "weft/scope.h"

void weft__waitq_push(struct weft__waitq *q, struct weft__wqnode *node)
{
    weft__list_push_back(&q->nodes, &node->link);
    q->n++;
}

void weft__waitq_unlink(struct weft__waitq *q, struct weft__wqnode *node)
{
    weft__list_remove(&node->link);
    q->n--;
}

struct weft__wqnode *weft__waitq_grant(struct weft__waitq *q,
                                       struct weft__grant *g)
{
    struct weft__wqnode *node = weft__waitq_first(q);

    WEFT__ASSERT(node != NULL); /* callers check that q has a waiter */
    weft__waitq_unlink(q, node);
    node->granted = true;
    g->node = node;
    return node;
}

void weft__grant_send(const struct weft__grant *g)
{
    if (g->node != NULL)
        weft__handoff_wake(&g->node->h, WEFT__WAKE_DONE);
}

void weft__waitq_wake_locked(struct weft__waitq *q, struct weft__wqnode *node)
{
    weft__waitq_unlink(q, node);
    node->granted = true;
    weft__handoff_wake(&node->h, WEFT__WAKE_DONE);
}

void weft__waitq_wake_all(struct weft__waitq *q, int result)
{
    struct weft__wqnode *node;

    while ((node = weft__waitq_first(q)) != NULL) {
        node->result = result;
        weft__waitq_wake_locked(q, node);
    }
}

int weft__waitq_prepare(struct weft__waitq *q, struct weft__wqnode *node,
                        unsigned flags)
{
    weft__task *self = weft__task_self();
    uint32_t seq;
    int rc = weft__wait_begin(self, flags, &seq);

    if (rc < 0)
        return rc;
    weft__handoff_init(&node->h, self, seq);
    node->granted = false;
    weft__waitq_push(q, node);
    return 0;
}

int weft__waitq_sleep(struct weft__waitq *q, weft__spinlock *spin,
                      struct weft__wqnode *node, bool *granted_late)
{
    weft__task *self = node->h.task;
    int rc;

    *granted_late = false;
    weft__spin_unlock(spin);
    weft__task_waiting(self, (enum weft__waiting)q->what, NULL);
    rc = weft__wake_error(weft__wait_commit(self));
    weft__task_waiting(self, WEFT__WAITING_NOTHING, NULL);
    if (rc == 0) {
        /* Only a granter wakes with WEFT__WAKE_DONE. */
        weft__waitq_wait_released(node);
        return 0;
    }
    weft__spin_lock(spin);
    if (node->granted) {
        *granted_late = true; /* granted as it was interrupted */
        weft__waitq_wait_released(node);
    } else {
        weft__waitq_unlink(q, node);
    }
    return rc;
}

int weft__waitq_wait(struct weft__waitq *q, weft__spinlock *spin,
                     struct weft__wqnode *node, int64_t timeout_ms,
                     unsigned flags, bool *granted_late)
{
    weft_scope scope;
    int rc;

    *granted_late = false;
    if (timeout_ms != WEFT_FOREVER) {
        /* The wait's own time-out is a scope around it; entering one does
         * not suspend, so the spinlock may stay held. */
        rc = weft_timeout_enter(&scope, timeout_ms);
        if (rc < 0)
            return rc;
    }
    rc = weft__waitq_prepare(q, node, flags);
    if (rc == 0)
        rc = weft__waitq_sleep(q, spin, node, granted_late);
    if (timeout_ms != WEFT_FOREVER)
        (void)weft_scope_leave(&scope);
    return rc;
}
