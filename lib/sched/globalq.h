/* The global queue: tasks made ready outside the workers, and
 * the overflow of full local queues.
 *
 * A mutex over an intrusive FIFO (through weft__task.qlink): feasibility.md
 * measured it cheaper than ck_fifo_mpmc, which needs a node per enqueue.
 * Batches keep the lock rare: overflow pushes 129 tasks at once, workers
 * take several at a time. The length is kept in an atomic so that the
 * common "is it empty?" check takes no lock.
 */
#ifndef WEFT_SCHED_GLOBALQ_H
#define WEFT_SCHED_GLOBALQ_H

#include <pthread.h>
#include <stdint.h>

#include "core/internal.h"

typedef struct weft__task weft__task; /* sched/task.h */
#include "core/list.h"

struct weft__globalq {
    pthread_mutex_t lock;
    struct weft__fifo tasks;
    uint64_t len; /* atomic; changed under the lock */
};

int weft__globalq_init(struct weft__globalq *q);
void weft__globalq_destroy(struct weft__globalq *q);

/* Tasks queued; a hint, read without the lock. */
uint64_t weft__globalq_len(const struct weft__globalq *q);

/* Appends the n tasks of tasks[]. */
void weft__globalq_push(struct weft__globalq *q, weft__task *const *tasks,
                       unsigned n);

/* Takes up to max tasks from the front into out[]; returns the count. */
unsigned weft__globalq_pop(struct weft__globalq *q, weft__task **out,
                          unsigned max);

#endif /* WEFT_SCHED_GLOBALQ_H */
