/* weft: queues and channels between tasks, as asyncio.Queue,
 * PriorityQueue and LifoQueue, and Go's channels; safe for tasks on
 * different worker threads.
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
enum weft_queue_order {
    WEFT_QUEUE_FIFO = 0,     /* asyncio.Queue: oldest first */
    WEFT_QUEUE_LIFO = 1,     /* asyncio.LifoQueue: newest first */
    WEFT_QUEUE_PRIORITY = 2, /* asyncio.PriorityQueue: smallest first,
                                oldest first among equals */
};

typedef struct weft_queue_opts {
    int order;      /* enum weft_queue_order; 0 is FIFO */
    size_t maxsize; /* put waits while this many items are queued; 0: no
                       limit */
    /* Priority order: compares two items (< 0: a goes first). NULL: items
     * are ordered by the integer priority given to weft_queue_put_prio
     * (weft_queue_put gives 0), smallest first. */
    int (*compare)(const void *a, const void *b);
    /* Called on each item the queue still holds when destroyed, or drops
     * in an immediate shutdown; NULL: they are forgotten. */
    void (*dispose)(void *item);
} weft_queue_opts;

/* Creates a queue; opts may be NULL (FIFO, unbounded). Returns 0, -EINVAL
 * or -ENOMEM. */
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

/* Python 3.13's Queue.shutdown: put fails with -ESHUTDOWN from now on,
 * waiting putters at once; get takes what is left, then fails with
 * -ESHUTDOWN. immediate: the items left are dropped (disposed of, and
 * counted as done for join) and waiting getters fail at once. Callable
 * from any thread; a second call may make a shutdown immediate. */
WEFT_EXPORT int weft_queue_shutdown(weft_queue *queue, bool immediate);

/* The number of items queued, or -EINVAL. */
WEFT_EXPORT ssize_t weft_queue_size(weft_queue *queue);
/* 1 or 0, or -EINVAL. full is never 1 for an unbounded queue. */
WEFT_EXPORT int weft_queue_empty(weft_queue *queue);
WEFT_EXPORT int weft_queue_full(weft_queue *queue);

/* --- Channel ------------------------------------------------------------------ */

/* A FIFO pipe between tasks, closable, with capacity items of buffer;
 * capacity 0 makes it unbuffered: send waits until a receiver takes the
 * item. Closing lets receivers drain it, then tells them it is closed. */
typedef struct weft_chan weft_chan;

/* Returns 0, -EINVAL or -ENOMEM. dispose: as weft_queue_opts' (NULL:
 * forget items left at destroy). */
WEFT_EXPORT int weft_chan_create(weft_chan **chan, size_t capacity,
                                 void (*dispose)(void *item));
/* -EBUSY while a task waits on it. */
WEFT_EXPORT int weft_chan_destroy(weft_chan *chan);
/* Returns 0, -EPIPE (closed), -ETIMEDOUT, -ECANCELED, -ENOMEM (the
 * buffer could not grow), -EINVAL, -EPERM. */
WEFT_EXPORT int weft_chan_send(weft_chan *chan, void *item, int64_t timeout_ms);
/* -EAGAIN if it would wait. Callable from any thread. */
WEFT_EXPORT int weft_chan_try_send(weft_chan *chan, void *item);
/* Returns 0, -EPIPE (closed and drained), -ETIMEDOUT, -ECANCELED,
 * -EINVAL, -EPERM. */
WEFT_EXPORT int weft_chan_recv(weft_chan *chan, void **item, int64_t timeout_ms);
/* -EAGAIN if it would wait. Callable from any thread. */
WEFT_EXPORT int weft_chan_try_recv(weft_chan *chan, void **item);
/* Closes the channel: senders fail with -EPIPE, waiting ones at once and
 * keeping their items; receivers drain what is buffered, then get -EPIPE.
 * Closing twice is harmless. Callable from any thread. */
WEFT_EXPORT int weft_chan_close(weft_chan *chan);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_QUEUE_H */
