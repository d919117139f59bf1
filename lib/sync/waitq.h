/* A FIFO queue of suspended tasks, the core of every synchronisation
 * primitive (locks, semaphores, events, conditions, barriers, queues).
 *
 * The primitive's own spinlock guards its state and its waitq. A task
 * that must wait appends a node (on its stack) and suspends. The task
 * that makes progress possible takes the node at the head, grants it what
 * it waited for (the lock, a permit, an item) and wakes it: ownership is
 * handed over directly, so a waiter never competes again, and a releasing
 * task cannot barge in ahead of the queue.
 *
 * A waiter may be woken otherwise (cancelled, timed out) while, or just
 * after, it is granted. weft__waitq_wait tells the caller which: not
 * granted (the node has been removed: it leaves no trace), or granted
 * although interrupted, in which case the caller gives back what it was
 * granted (passing the lock on, returning the permit) before failing. So
 * a cancelled waiter never holds a lock afterwards and never swallows a
 * permit, an item or a notification. The grant is a hand-off (wait.h):
 * the granter wakes the waiter after dropping the spinlock, then lets go
 * of the node, which the waiter waits for before its frame may go.
 */
#ifndef WEFT_SYNC_WAITQ_H
#define WEFT_SYNC_WAITQ_H

#include <stdbool.h>
#include <stdint.h>

#include "core/atomic.h"
#include "core/internal.h"
#include "core/list.h"
#include "sched/task.h"

struct weft__wqnode {
    struct weft__list link; /* in the queue, oldest first */
    struct weft__handoff h; /* the waiting task and its suspension */
    bool granted;          /* under the spinlock: it got what it waited for */
    unsigned want;         /* what it asks for (the primitive's meaning) */
    int result;            /* what it is told with its grant: 0, a
                              negative error, or an index (barriers) */
    void *item;            /* an item handed to or from it (queues) */
};

struct weft__waitq {
    struct weft__list nodes; /* struct weft__wqnode.link */
    uint32_t n;            /* nodes queued */
    uint32_t what;         /* enum weft__waiting, for task dumps */
};

static inline void weft__waitq_init(struct weft__waitq *q, uint32_t what)
{
    weft__list_init(&q->nodes);
    q->n = 0;
    q->what = what;
}

/* A wake the caller sends once its spinlock is released. */
struct weft__grant {
    struct weft__wqnode *node; /* or NULL: nothing to send */
};

static inline bool weft__waitq_empty(const struct weft__waitq *q)
{
    return weft__list_empty(&q->nodes);
}

/* The oldest node, or NULL. Spinlock held. */
static inline struct weft__wqnode *weft__waitq_first(const struct weft__waitq *q)
{
    struct weft__list *link = weft__list_first(&q->nodes);
    return link != NULL ? weft__list_entry(link, struct weft__wqnode, link)
                        : NULL;
}

/* Appends / removes a node. Spinlock held. */
void weft__waitq_push(struct weft__waitq *q, struct weft__wqnode *node);
void weft__waitq_unlink(struct weft__waitq *q, struct weft__wqnode *node);

/* Takes the head node, marks it granted and stores in *g the wake to send
 * after unlocking (weft__grant_send): waking outside the spinlock keeps
 * its hold short. Spinlock held; q not empty. */
struct weft__wqnode *weft__waitq_grant(struct weft__waitq *q,
                                       struct weft__grant *g);

/* Sends a wake prepared by weft__waitq_grant, then releases the node to
 * its waiter, which waits for that before it returns (its node, and
 * maybe its task, may be gone after). g->node NULL is ignored. */
void weft__grant_send(const struct weft__grant *g);

/* The two halves of a wait, for callers that must do something between
 * queueing and suspending (a condition releases its lock there). prepare:
 * spinlock held; begins the suspension (flags as weft__wait_begin) and
 * queues node, or returns -ECANCELED / -ETIMEDOUT with nothing queued.
 * sleep: spinlock held; drops it, suspends, takes it back; results as
 * weft__waitq_wait. */
int weft__waitq_prepare(struct weft__waitq *q, struct weft__wqnode *node,
                        unsigned flags);
int weft__waitq_sleep(struct weft__waitq *q, weft__spinlock *spin,
                      struct weft__wqnode *node, bool *granted_late);

/* Grants node (not necessarily the head) and wakes it at once, with the
 * spinlock held: for waking several waiters in one go. */
void weft__waitq_wake_locked(struct weft__waitq *q, struct weft__wqnode *node);

/* A granter may still be waking the task of a granted node: waits until
 * it lets go of the node (a few instructions away, unless its thread was
 * preempted there). */
static inline void weft__waitq_wait_released(struct weft__wqnode *node)
{
    weft__handoff_wait(&node->h);
}

/* Grants every node, each told result, and wakes them. Spinlock held. */
void weft__waitq_wake_all(struct weft__waitq *q, int result);

/* Waits on q: called with *spin held. timeout_ms: WEFT_FOREVER, or
 * milliseconds (0: fails with -ETIMEDOUT at once). Returns 0 once the
 * node was granted, with *spin released: the granter has passed on what
 * was asked for (through want or item). Returns -ECANCELED or -ETIMEDOUT
 * with *spin held if the wait was interrupted; the node is then out of
 * the queue, and *granted_late tells whether it was granted at the same
 * moment: then the caller must give the grant back (pass the lock on,
 * return the permit), and fail. flags: as weft__wait_begin's
 * (WEFT__WAIT_SHIELDED: never interrupted). */
int weft__waitq_wait(struct weft__waitq *q, weft__spinlock *spin,
                     struct weft__wqnode *node, int64_t timeout_ms,
                     unsigned flags, bool *granted_late);

#endif /* WEFT_SYNC_WAITQ_H */
