/* The global (injection) queue: tasks made ready outside the workers, and
 * the overflow of full local queues.
 *
 * A mutex over an intrusive list (through weft_task.next): feasibility.md
 * measured it cheaper than ck_fifo_mpmc, which needs a node per enqueue.
 * Batches keep the lock rare: overflow pushes 129 tasks at once, workers
 * take several at a time. The length is kept in an atomic so that the
 * common "is it empty?" check takes no lock.
 */
#ifndef WEFT_INJECT_H
#define WEFT_INJECT_H

#include <pthread.h>
#include <stdint.h>

#include "core/internal.h"

struct weft__inject {
    pthread_mutex_t lock;
    weft_task *head;
    weft_task *tail;
    uint64_t len; /* atomic; changed under the lock */
};

int weft__inject_init(struct weft__inject *q);
void weft__inject_destroy(struct weft__inject *q);

/* Tasks queued; a hint, read without the lock. */
uint64_t weft__inject_len(const struct weft__inject *q);

/* Appends the n tasks of tasks[]. */
void weft__inject_push(struct weft__inject *q, weft_task *const *tasks,
                       unsigned n);

/* Takes up to max tasks from the front into out[]; returns the count. */
unsigned weft__inject_pop(struct weft__inject *q, weft_task **out,
                          unsigned max);

#endif /* WEFT_INJECT_H */
