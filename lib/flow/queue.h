/* The queue behind weft_queue and weft_channel (queue.c, channel.c): items
 * in a ring (FIFO, LIFO) or a binary heap (priority), guarded by a
 * spinlock, with FIFO wait queues of getters, putters and joiners. A
 * waiter's node points at a slot on its stack: a putter's holds the item
 * it offers, a getter's receives the item handed to it; the node's want
 * carries the outcome (0, or the closed error). */
#ifndef WEFT_FLOW_QUEUE_H
#define WEFT_FLOW_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/atomic.h"
#include "core/internal.h"

#include "weft/queue.h"
#include "sync/waitq.h"

#define WEFT__QUEUE_MAGIC 0x71756575u /* "queu" */
#define WEFT__QUEUE_UNBOUNDED SIZE_MAX

struct weft__qslot {
    void *item;
    int64_t prio;
    uint64_t seq;       /* put order: FIFO among equal priorities */
};

struct weft__queue {
    uint32_t magic;
    weft__spinlock spin;
    weft_queue_order order;
    size_t cap;                  /* items held before put waits; 0: hand
                                    over only (unbuffered channel) */
    int (*compare)(const void *, const void *);
    void (*dispose)(void *);
    bool shut;
    bool dropping;               /* shut down immediately: items given
                                    back are dropped too */
    struct weft__qslot *slots;   /* ring from head, or heap from 0 */
    size_t alloc;
    size_t head;
    size_t count;                /* may pass cap by items given back */
    uint64_t seq;
    uint64_t unfinished;         /* put, and not yet task_done */
    struct weft__waitq getters;
    struct weft__waitq putters;
    struct weft__waitq joiners;
};

int weft__queue_init(struct weft__queue *q, weft_queue_order order, size_t cap,
                     int (*compare)(const void *, const void *),
                     void (*dispose)(void *), uint32_t what);
/* -EBUSY while anyone waits; else disposes of the items left and frees
 * the buffer. */
int weft__queue_fini(struct weft__queue *q);
/* put and get flags: the try variants, which fail with -EAGAIN instead of
 * waiting, and need no task. */
#define WEFT__QUEUE_TRY 0x1u
int weft__queue_put(struct weft__queue *q, void *item, int64_t prio,
                    int64_t timeout_ms, unsigned flags);
int weft__queue_get(struct weft__queue *q, void **item, int64_t timeout_ms,
                    unsigned flags);
/* flags: WEFT_QUEUE_SHUTDOWN_IMMEDIATE or 0. */
void weft__queue_shutdown(struct weft__queue *q, unsigned flags);

#endif /* WEFT_FLOW_QUEUE_H */
