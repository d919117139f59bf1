/* weft_queue: FIFO, LIFO and priority queues between tasks, with direct
 * hand-over to waiters (see queue.h). */
#include "flow/queue.h"

#include <errno.h>
#include <string.h>

#include "sched/wait.h"
#include "sync/sync.h"
#include "sched/scope.h"
#include "sched/task.h"

#include "weft/queue.h"

/* --- the buffer ---------------------------------------------------------- */

/* Priority order: smaller first, then older first. */
static bool before(const struct weft__queue *q, const struct weft__qslot *a,
                   const struct weft__qslot *b)
{
    if (q->compare != NULL) {
        int c = q->compare(a->item, b->item);
        if (c != 0)
            return c < 0;
    } else if (a->prio != b->prio) {
        return a->prio < b->prio;
    }
    return a->seq < b->seq;
}

static int grow(struct weft__queue *q)
{
    size_t n = q->alloc != 0 ? q->alloc * 2 : 8;
    if (n < q->alloc || n > SIZE_MAX / sizeof *q->slots)
        return -ENOMEM;
    struct weft__qslot *slots = weft__malloc(n * sizeof *slots);
    if (slots == NULL)
        return -ENOMEM;
    /* The ring is unrolled from head; a heap keeps its layout. */
    for (size_t i = 0; i < q->count; i++)
        slots[i] = q->slots[(q->head + i) % q->alloc];
    weft__free(q->slots);
    q->slots = slots;
    q->alloc = n;
    q->head = 0;
    return 0;
}

static void heap_push(struct weft__queue *q, struct weft__qslot slot)
{
    size_t i = q->count++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(q, &slot, &q->slots[parent]))
            break;
        q->slots[i] = q->slots[parent];
        i = parent;
    }
    q->slots[i] = slot;
}

static struct weft__qslot heap_pop(struct weft__queue *q)
{
    struct weft__qslot top = q->slots[0];
    struct weft__qslot last = q->slots[--q->count];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= q->count)
            break;
        if (child + 1 < q->count && before(q, &q->slots[child + 1], &q->slots[child]))
            child++;
        if (!before(q, &q->slots[child], &last))
            break;
        q->slots[i] = q->slots[child];
        i = child;
    }
    if (q->count > 0)
        q->slots[i] = last;
    return top;
}

/* Adds a slot behind the others (front: ahead of them, for an item given
 * back). A priority queue places it by priority and seq either way. */
static int insert(struct weft__queue *q, struct weft__qslot slot, bool front)
{
    if (q->count == q->alloc) {
        int rc = grow(q);
        if (rc < 0)
            return rc;
    }
    if (q->order == WEFT_QUEUE_PRIORITY) {
        heap_push(q, slot);
    } else if (front) {
        q->head = (q->head + q->alloc - 1) % q->alloc;
        q->slots[q->head] = slot;
        q->count++;
    } else {
        q->slots[(q->head + q->count) % q->alloc] = slot;
        q->count++;
    }
    return 0;
}

static struct weft__qslot take(struct weft__queue *q)
{
    struct weft__qslot slot;

    if (q->order == WEFT_QUEUE_PRIORITY)
        return heap_pop(q);
    if (q->order == WEFT_QUEUE_LIFO) {
        slot = q->slots[(q->head + q->count - 1) % q->alloc];
    } else {
        slot = q->slots[q->head];
        q->head = (q->head + 1) % q->alloc;
    }
    q->count--;
    return slot;
}

/* --- set-up -------------------------------------------------------------- */

int weft__queue_init(struct weft__queue *q, weft_queue_order order, size_t cap,
                     int (*compare)(const void *, const void *),
                     void (*dispose)(void *), uint32_t what)
{
    q->spin = (weft__spinlock)WEFT__SPINLOCK_INIT;
    q->order = order;
    q->cap = cap;
    q->compare = compare;
    q->dispose = dispose;
    q->shut = false;
    q->dropping = false;
    q->slots = NULL;
    q->alloc = q->head = q->count = 0;
    q->seq = 0;
    q->unfinished = 0;
    weft__waitq_init(&q->getters, what);
    weft__waitq_init(&q->putters, what);
    weft__waitq_init(&q->joiners, what);
    /* A first buffer now, so that an item given back by an interrupted
     * getter of an empty queue always has a place. */
    int rc = grow(q);
    if (rc < 0)
        return rc;
    q->magic = WEFT__QUEUE_MAGIC;
    return 0;
}

static void dispose_all(void (*dispose)(void *), struct weft__qslot *slots,
                        size_t alloc, size_t head, size_t count)
{
    if (dispose != NULL) {
        for (size_t i = 0; i < count; i++)
            dispose(slots[(head + i) % alloc].item);
    }
    weft__free(slots);
}

int weft__queue_fini(struct weft__queue *q)
{
    weft__spin_lock(&q->spin);
    if (!weft__waitq_empty(&q->getters) || !weft__waitq_empty(&q->putters) ||
        !weft__waitq_empty(&q->joiners)) {
        weft__spin_unlock(&q->spin);
        return -EBUSY;
    }
    q->magic = 0;
    weft__spin_unlock(&q->spin);
    dispose_all(q->dispose, q->slots, q->alloc, q->head, q->count);
    q->slots = NULL;
    return 0;
}

/* --- put and get --------------------------------------------------------- */

/* After an item left a full queue: the first waiting putter's item takes
 * its place. Spinlock held; the putter's wake goes to *g. */
static void admit_putter(struct weft__queue *q, struct weft__grant *g)
{
    if (weft__waitq_empty(&q->putters) || q->count >= q->cap)
        return;
    struct weft__wqnode *node = weft__waitq_first(&q->putters);
    /* Room was made by a take, and grow keeps what it had on failure. */
    if (insert(q, *(struct weft__qslot *)node->item, false) < 0)
        return;
    node->result = 0;
    q->unfinished++;
    (void)weft__waitq_grant(&q->putters, g);
}

/* Hands slot to the first waiting getter (its wake goes to *g), or adds
 * it to the buffer. Spinlock held. */
static int deliver(struct weft__queue *q, struct weft__qslot slot, bool front,
                   struct weft__grant *g)
{
    if (!weft__waitq_empty(&q->getters)) {
        struct weft__wqnode *node = weft__waitq_first(&q->getters);
        *(struct weft__qslot *)node->item = slot;
        node->result = 0;
        (void)weft__waitq_grant(&q->getters, g);
        return 0;
    }
    return insert(q, slot, front);
}

static inline __attribute__((always_inline)) int
check_wait(const struct weft__queue *q, int64_t timeout_ms, unsigned flags)
{
    if (q == NULL)
        return -EINVAL;
    if (flags & WEFT__QUEUE_TRY)
        return 0;
    if (weft__check_timeout(timeout_ms) < 0)
        return -EINVAL;
    weft__task *self = WEFT__TASK_ENTER();
    if (self == NULL)
        return -EPERM;
    return weft__check_interrupt(self);
}

int weft__queue_put(struct weft__queue *q, void *item, int64_t prio,
                    int64_t timeout_ms, unsigned flags)
{
    struct weft__grant g = { NULL };
    struct weft__wqnode node;
    bool late;
    int rc = check_wait(q, timeout_ms, flags);

    if (rc < 0)
        return rc;
    weft__spin_lock(&q->spin);
    if (q->shut) {
        weft__spin_unlock(&q->spin);
        return -ESHUTDOWN;
    }
    struct weft__qslot slot = { item, prio, q->seq };
    /* Getters wait only on an empty buffer, so the hand-over keeps FIFO. */
    if (!weft__waitq_empty(&q->getters) || q->count < q->cap) {
        rc = deliver(q, slot, false, &g);
        if (rc == 0) {
            q->seq++;
            q->unfinished++;
        }
        weft__spin_unlock(&q->spin);
        weft__grant_send(&g);
        return rc;
    }
    if (flags & WEFT__QUEUE_TRY) {
        weft__spin_unlock(&q->spin);
        return -EAGAIN;
    }
    q->seq++;
    node.item = &slot;
    rc = weft__waitq_wait(&q->putters, &q->spin, &node, timeout_ms, 0, &late);
    if (rc == 0)
        return node.result;
    weft__spin_unlock(&q->spin);
    /* Taken into the queue as the putter was interrupted: it is put, and
     * the item is the queue's now; the cancellation stays pending. */
    if (late && node.result == 0)
        return 0;
    return rc;
}

int weft__queue_get(struct weft__queue *q, void **item, int64_t timeout_ms,
                    unsigned flags)
{
    struct weft__grant g = { NULL };
    struct weft__qslot slot;
    struct weft__wqnode node;
    bool late;
    int rc;

    if (item != NULL)
        *item = NULL;
    rc = check_wait(q, timeout_ms, flags);
    if (rc < 0)
        return rc;
    if (item == NULL)
        return -EINVAL;
    weft__spin_lock(&q->spin);
    if (q->count > 0) {
        slot = take(q);
        admit_putter(q, &g);
        weft__spin_unlock(&q->spin);
        weft__grant_send(&g);
        *item = slot.item;
        return 0;
    }
    if (!weft__waitq_empty(&q->putters)) {
        /* Unbuffered: take the first putter's item from its hands. */
        struct weft__wqnode *node_p = weft__waitq_first(&q->putters);
        slot = *(struct weft__qslot *)node_p->item;
        node_p->result = 0;
        q->unfinished++;
        (void)weft__waitq_grant(&q->putters, &g);
        weft__spin_unlock(&q->spin);
        weft__grant_send(&g);
        *item = slot.item;
        return 0;
    }
    if (q->shut || (flags & WEFT__QUEUE_TRY)) {
        weft__spin_unlock(&q->spin);
        return q->shut ? -ESHUTDOWN : -EAGAIN;
    }
    node.item = &slot;
    rc = weft__waitq_wait(&q->getters, &q->spin, &node, timeout_ms, 0, &late);
    if (rc == 0) {
        if (node.result != 0)
            return node.result;
        *item = slot.item;
        return 0;
    }
    if (late && node.result == 0 && q->dropping) {
        /* Handed an item as it was interrupted, and the queue was shut
         * down immediately since: the item goes as those left in it went,
         * counted as done and disposed of, rather than back into a queue
         * that must stay empty. */
        void (*dispose)(void *) = q->dispose;
        if (q->unfinished > 0 && --q->unfinished == 0) {
            weft__waitq_wake_all(&q->joiners, 0);
        }
        weft__spin_unlock(&q->spin);
        if (dispose != NULL)
            dispose(slot.item);
        return rc;
    }
    if (late && node.result == 0) {
        /* Handed an item as it was interrupted: it goes back to the front
         * of the queue, for the next getter. A ring with no room left and
         * no memory to grow keeps it here instead: it is not lost. */
        if (deliver(q, slot, true, &g) < 0) {
            weft__spin_unlock(&q->spin);
            *item = slot.item;
            return 0;
        }
    }
    weft__spin_unlock(&q->spin);
    weft__grant_send(&g);
    return rc;
}

void weft__queue_shutdown(struct weft__queue *q, unsigned flags)
{
    bool immediate = (flags & WEFT_QUEUE_SHUTDOWN_IMMEDIATE) != 0;
    struct weft__qslot *dropped = NULL;
    size_t alloc = 0, head = 0, count = 0;

    weft__spin_lock(&q->spin);
    q->shut = true;
    if (immediate)
        q->dropping = true;
    weft__waitq_wake_all(&q->putters, -ESHUTDOWN);
    if (immediate && q->count > 0) {
        /* The items go, counted as done for join; a fresh buffer keeps
         * the room an interrupted getter may need. */
        struct weft__qslot *fresh = weft__malloc(8 * sizeof *fresh);
        if (fresh != NULL) {
            dropped = q->slots;
            alloc = q->alloc;
            head = q->head;
            count = q->count;
            q->slots = fresh;
            q->alloc = 8;
            q->head = 0;
        } else {
            /* No memory for a new buffer: empty this one in place. */
            for (size_t i = 0; i < q->count && q->dispose != NULL; i++)
                q->dispose(q->slots[(q->head + i) % q->alloc].item);
            count = q->count;
        }
        q->count = 0;
        q->unfinished = q->unfinished > count ? q->unfinished - count : 0;
        if (q->unfinished == 0) {
            weft__waitq_wake_all(&q->joiners, 0);
        }
    }
    /* Getters wait only on an empty queue: nothing is left for them. */
    weft__waitq_wake_all(&q->getters, -ESHUTDOWN);
    weft__spin_unlock(&q->spin);
    if (dropped != NULL)
        dispose_all(q->dispose, dropped, alloc, head, count);
}

/* --- the public queue ----------------------------------------------------- */

struct weft_queue {
    struct weft__queue q;
};

/* The queue behind a public handle, or NULL if it is not a live one. */
static struct weft__queue *queue_of(weft_queue *queue)
{
    return queue != NULL && queue->q.magic == WEFT__QUEUE_MAGIC ? &queue->q
                                                                : NULL;
}

int weft_queue_create(weft_queue **queue, const weft_queue_opts *opts)
{
    weft_queue_opts o = { 0 };

    if (queue == NULL)
        return -EINVAL;
    *queue = NULL;
    if (opts != NULL)
        o = *opts;
    if (o.order != WEFT_QUEUE_FIFO && o.order != WEFT_QUEUE_LIFO &&
        o.order != WEFT_QUEUE_PRIORITY)
        return -EINVAL;
    for (size_t i = 0; i < WEFT__ARRAY_SIZE(o.reserved); i++) {
        if (o.reserved[i] != NULL)
            return -EINVAL;
    }
    weft_queue *wq = weft__malloc(sizeof *wq);
    if (wq == NULL)
        return -ENOMEM;
    int rc = weft__queue_init(&wq->q, o.order,
                              o.maxsize != 0 ? o.maxsize : WEFT__QUEUE_UNBOUNDED,
                              o.compare, o.dispose, WEFT__WAITING_QUEUE);
    if (rc < 0) {
        weft__free(wq);
        return rc;
    }
    *queue = wq;
    return 0;
}

int weft_queue_destroy(weft_queue *queue)
{
    struct weft__queue *q = queue_of(queue);

    if (q == NULL)
        return -EINVAL;
    int rc = weft__queue_fini(q);
    if (rc == 0)
        weft__free(queue);
    return rc;
}

int weft_queue_put(weft_queue *queue, void *item, int64_t timeout_ms)
{
    return weft__queue_put(queue_of(queue), item, 0, timeout_ms, 0);
}

int weft_queue_put_prio(weft_queue *queue, void *item, int64_t priority,
                        int64_t timeout_ms)
{
    return weft__queue_put(queue_of(queue), item, priority, timeout_ms, 0);
}

int weft_queue_try_put(weft_queue *queue, void *item)
{
    return weft__queue_put(queue_of(queue), item, 0, 0, WEFT__QUEUE_TRY);
}

int weft_queue_try_put_prio(weft_queue *queue, void *item, int64_t priority)
{
    return weft__queue_put(queue_of(queue), item, priority, 0, WEFT__QUEUE_TRY);
}

int weft_queue_get(weft_queue *queue, void **item, int64_t timeout_ms)
{
    return weft__queue_get(queue_of(queue), item, timeout_ms, 0);
}

int weft_queue_try_get(weft_queue *queue, void **item)
{
    return weft__queue_get(queue_of(queue), item, 0, WEFT__QUEUE_TRY);
}

int weft_queue_task_done(weft_queue *queue)
{
    struct weft__queue *q = queue_of(queue);
    int rc = 0;

    if (q == NULL)
        return -EINVAL;
    weft__spin_lock(&q->spin);
    if (q->unfinished == 0) {
        rc = -ERANGE;
    } else if (--q->unfinished == 0) {
        weft__waitq_wake_all(&q->joiners, 0);
    }
    weft__spin_unlock(&q->spin);
    return rc;
}

int weft_queue_join(weft_queue *queue, int64_t timeout_ms)
{
    struct weft__queue *q = queue_of(queue);
    struct weft__wqnode node;
    bool late;
    int rc = check_wait(q, timeout_ms, 0);

    if (rc < 0)
        return rc;
    weft__spin_lock(&q->spin);
    if (q->unfinished == 0) {
        weft__spin_unlock(&q->spin);
        return 0;
    }
    /* Every joiner is woken at once: one interrupted takes nothing from
     * the others. */
    rc = weft__waitq_wait(&q->joiners, &q->spin, &node, timeout_ms, 0, &late);
    if (rc < 0)
        weft__spin_unlock(&q->spin);
    return rc;
}

int weft_queue_shutdown(weft_queue *queue, unsigned flags)
{
    struct weft__queue *q = queue_of(queue);

    if (q == NULL || (flags & ~WEFT_QUEUE_SHUTDOWN_IMMEDIATE) != 0)
        return -EINVAL;
    weft__queue_shutdown(q, flags);
    return 0;
}

ssize_t weft_queue_size(weft_queue *queue)
{
    struct weft__queue *q = queue_of(queue);

    if (q == NULL)
        return -EINVAL;
    weft__spin_lock(&q->spin);
    size_t n = q->count;
    weft__spin_unlock(&q->spin);
    return (ssize_t)n;
}

int weft_queue_is_empty(weft_queue *queue)
{
    ssize_t n = weft_queue_size(queue);
    return n < 0 ? (int)n : n == 0;
}

int weft_queue_is_full(weft_queue *queue)
{
    struct weft__queue *q = queue_of(queue);

    if (q == NULL)
        return -EINVAL;
    weft__spin_lock(&q->spin);
    int full = q->cap != WEFT__QUEUE_UNBOUNDED && q->count >= q->cap;
    weft__spin_unlock(&q->spin);
    return full;
}
