/* weft: queues between tasks, as asyncio.Queue, PriorityQueue and
 * LifoQueue; safe for tasks on different worker threads. (Go's channels
 * are in weft/channel.h.)
 *
 * Items are void pointers. Ownership: a successful put passes the item to
 * the queue, and a successful get passes it to the getter; a put that
 * fails leaves it with the putter. Items the queue still holds when it is
 * destroyed, or drops in an immediate shutdown, go to opts.dispose if one
 * was given, else they are simply forgotten.
 *
 * Waiters are served first come, first served: an item goes straight to
 * the first waiting getter, and a slot freed in a full queue to the first
 * waiting putter, whose item is added for it. Every wait takes timeout_ms:
 * WEFT_FOREVER, 0 (do not wait) or milliseconds, and fails with
 * -ETIMEDOUT or -ECANCELED leaving no trace: an item handed to a getter
 * as it was interrupted goes back where it was (the head of a FIFO queue;
 * under the items put since in a LIFO one; its place by priority), for
 * the next getter, even if that briefly holds one more than maxsize. A
 * put whose item the queue took as its putter was interrupted returns 0
 * (the item is in the queue); the cancellation stays pending.
 */
#ifndef WEFT_QUEUE_H
#define WEFT_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- Queue ------------------------------------------------------------------ */

typedef struct weft_queue weft_queue;

/* The order get takes items in. */
typedef enum weft_queue_order {
    WEFT_QUEUE_FIFO = 0,     /* asyncio.Queue: oldest first */
    WEFT_QUEUE_LIFO = 1,     /* asyncio.LifoQueue: newest first */
    WEFT_QUEUE_PRIORITY = 2, /* asyncio.PriorityQueue: smallest first,
                                oldest first among equals */
} weft_queue_order;

/* Options for weft_queue_create(). Zero-initialise it: every zero field
 * means "the default", and a NULL opts means all defaults. */
typedef struct weft_queue_opts {
    weft_queue_order order; /* 0 is FIFO */
    size_t maxsize; /* put waits while this many items are queued; 0: no
                       limit */
    /* Priority order: compares two items (< 0: a goes first). NULL: items
     * are ordered by the integer priority given to weft_queue_put_prio
     * (weft_queue_put gives 0), smallest first. */
    int (*compare)(const void *a, const void *b);
    /* Called on each item the queue still holds when destroyed, or drops
     * in an immediate shutdown; NULL: they are forgotten. */
    void (*dispose)(void *item);
    void *reserved[4]; /* must be zero */
} weft_queue_opts;

/* Creates a queue; opts may be NULL (FIFO, unbounded). Returns 0, -EINVAL
 * (an unknown order, reserved fields not zero) or -ENOMEM. */
WEFT_EXPORT int weft_queue_create(weft_queue **queue, const weft_queue_opts *opts);

/* Frees the queue, disposing of the items left. -EBUSY (and nothing
 * done) while a task waits on it. */
WEFT_EXPORT int weft_queue_destroy(weft_queue *queue);

/* Adds item, waiting while the queue is full. Returns 0, -ETIMEDOUT,
 * -ECANCELED, -ESHUTDOWN (shut down), -ENOMEM, -EINVAL or -EPERM (not in
 * a task). */
WEFT_EXPORT int weft_queue_put(weft_queue *queue, void *item, int64_t timeout_ms);
/* put with an integer priority, for priority queues without compare;
 * other queues ignore it. */
WEFT_EXPORT int weft_queue_put_prio(weft_queue *queue, void *item,
                                    int64_t priority, int64_t timeout_ms);
/* put without waiting: -EAGAIN if full. Callable from any thread. */
WEFT_EXPORT int weft_queue_try_put(weft_queue *queue, void *item);
WEFT_EXPORT int weft_queue_try_put_prio(weft_queue *queue, void *item,
                                        int64_t priority);

/* Takes the next item into *item, waiting while the queue is empty.
 * Returns 0, -ETIMEDOUT, -ECANCELED, -ESHUTDOWN (shut down and drained),
 * -EINVAL or -EPERM. */
WEFT_EXPORT int weft_queue_get(weft_queue *queue, void **item, int64_t timeout_ms);
/* get without waiting: -EAGAIN if empty. Callable from any thread. */
WEFT_EXPORT int weft_queue_try_get(weft_queue *queue, void **item);

/* Counts one item taken by get as processed. -ERANGE if called more times
 * than items were put. Callable from any thread. */
WEFT_EXPORT int weft_queue_task_done(weft_queue *queue);
/* Waits until every item put has been counted by task_done. */
WEFT_EXPORT int weft_queue_join(weft_queue *queue, int64_t timeout_ms);

/* weft_queue_shutdown flags: drop the items left (Queue.shutdown's
 * immediate=True). */
#define WEFT_QUEUE_SHUTDOWN_IMMEDIATE 0x1u

/* Python 3.13's Queue.shutdown: put fails with -ESHUTDOWN from now on,
 * waiting putters at once; get takes what is left, then fails with
 * -ESHUTDOWN. WEFT_QUEUE_SHUTDOWN_IMMEDIATE: the items left are dropped
 * (disposed of, and counted as done for join) and waiting getters fail at
 * once. Returns 0 or -EINVAL. Callable from any thread; a second call may
 * make a shutdown immediate. */
WEFT_EXPORT int weft_queue_shutdown(weft_queue *queue, unsigned flags);

/* The number of items queued, or -EINVAL. */
WEFT_EXPORT ssize_t weft_queue_size(weft_queue *queue);
/* 1 or 0, or -EINVAL. is_full is never 1 for an unbounded queue. */
WEFT_EXPORT int weft_queue_is_empty(weft_queue *queue);
WEFT_EXPORT int weft_queue_is_full(weft_queue *queue);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_QUEUE_H */
