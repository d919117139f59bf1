/* The global queue (see globalq.h). */
#include "sched/globalq.h"

#include "core/atomic.h"
#include "core/thread.h"
#include "sched/task.h"

int weft__globalq_init(struct weft__globalq *q)
{
    weft__fifo_init(&q->tasks);
    q->len = 0;
    return -pthread_mutex_init(&q->lock, NULL);
}

void weft__globalq_destroy(struct weft__globalq *q)
{
    WEFT__ASSERT(weft__fifo_empty(&q->tasks));
    weft__mutex_destroy(&q->lock);
}

uint64_t weft__globalq_len(const struct weft__globalq *q)
{
    /* A hint, read without the lock; pairs with the release stores below,
     * so a reader that sees a length also sees the tasks' links (it takes
     * them under the lock anyway). */
    return weft__load_acquire_u64(&q->len);
}

void weft__globalq_push(struct weft__globalq *q, weft__task *const *tasks,
                       unsigned n)
{
    if (n == 0)
        return;
    /* Chained before the lock is taken, to keep the critical section short. */
    for (unsigned i = 0; i + 1 < n; i++)
        tasks[i]->qlink.next = &tasks[i + 1]->qlink;
    weft__mutex_lock(&q->lock);
    weft__fifo_push_chain(&q->tasks, &tasks[0]->qlink, &tasks[n - 1]->qlink);
    /* Pairs with the acquire in weft__globalq_len. */
    weft__store_release_u64(&q->len, q->len + n);
    weft__mutex_unlock(&q->lock);
}

unsigned weft__globalq_pop(struct weft__globalq *q, weft__task **out,
                          unsigned max)
{
    unsigned n = 0;

    if (weft__globalq_len(q) == 0)
        return 0;
    weft__mutex_lock(&q->lock);
    struct weft__slink *link;
    while (n < max && (link = weft__fifo_pop(&q->tasks)) != NULL)
        out[n++] = weft__task_of_qlink(link);
    /* Pairs with the acquire in weft__globalq_len. */
    weft__store_release_u64(&q->len, q->len - n);
    weft__mutex_unlock(&q->lock);
    return n;
}
