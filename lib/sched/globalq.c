/* The global queue (see inject.h). */
#include "sched/globalq.h"

#include "core/atomic.h"
#include "sched/task.h"

int weft__inject_init(struct weft__inject *q)
{
    q->head = q->tail = NULL;
    q->len = 0;
    return -pthread_mutex_init(&q->lock, NULL);
}

void weft__inject_destroy(struct weft__inject *q)
{
    WEFT__ASSERT(q->head == NULL);
    pthread_mutex_destroy(&q->lock);
}

uint64_t weft__inject_len(const struct weft__inject *q)
{
    return weft__load_acquire_u64(&q->len);
}

void weft__inject_push(struct weft__inject *q, weft_task *const *tasks,
                       unsigned n)
{
    if (n == 0)
        return;
    for (unsigned i = 0; i + 1 < n; i++)
        tasks[i]->next = tasks[i + 1];
    tasks[n - 1]->next = NULL;
    pthread_mutex_lock(&q->lock);
    if (q->tail != NULL)
        q->tail->next = tasks[0];
    else
        q->head = tasks[0];
    q->tail = tasks[n - 1];
    weft__store_release_u64(&q->len, q->len + n);
    pthread_mutex_unlock(&q->lock);
}

unsigned weft__inject_pop(struct weft__inject *q, weft_task **out,
                          unsigned max)
{
    unsigned n = 0;

    if (weft__inject_len(q) == 0)
        return 0;
    pthread_mutex_lock(&q->lock);
    while (n < max && q->head != NULL) {
        weft_task *t = q->head;
        q->head = t->next;
        t->next = NULL;
        out[n++] = t;
    }
    if (q->head == NULL)
        q->tail = NULL;
    weft__store_release_u64(&q->len, q->len - n);
    pthread_mutex_unlock(&q->lock);
    return n;
}
