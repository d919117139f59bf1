/* weft_barrier: asyncio.Barrier, parties tasks meeting in rounds (see
 * sync.h). */
#include "core/internal.h"

#include <errno.h>
#include <limits.h>

#include "sched/wait.h"
#include "sync/sync.h"
#include "sched/task.h"

_Static_assert(sizeof(struct weft__barrier) <= sizeof(weft_barrier),
               "weft_barrier is too small");
_Static_assert(_Alignof(struct weft__barrier) <= _Alignof(weft_barrier),
               "weft_barrier is not aligned enough");

static struct weft__barrier *barrier_of(weft_barrier *pub)
{
    struct weft__barrier *b = (struct weft__barrier *)(void *)pub;

    if (pub == NULL || b->magic != WEFT__BARRIER_MAGIC)
        return NULL;
    return b;
}

int weft_barrier_init(weft_barrier *pub, unsigned parties)
{
    struct weft__barrier *b = (struct weft__barrier *)(void *)pub;

    if (pub == NULL || parties == 0 || parties > INT_MAX)
        return -EINVAL;
    b->spin = (weft__spinlock)WEFT__SPINLOCK_INIT;
    b->parties = parties;
    b->count = 0;
    b->broken = 0;
    weft__waitq_init(&b->q, WEFT__WAITING_BARRIER);
    b->magic = WEFT__BARRIER_MAGIC;
    return 0;
}

int weft_barrier_destroy(weft_barrier *pub)
{
    struct weft__barrier *b = barrier_of(pub);

    if (b == NULL)
        return -EINVAL;
    return weft__sync_retire(&b->magic, &b->spin, &b->q);
}

/* Releases every waiter of the round, telling each its index in arrival
 * order, or that the barrier broke. Spinlock held. */
static void release_round(struct weft__barrier *b, bool broken)
{
    int index = 0;
    struct weft__wqnode *node;

    while ((node = weft__waitq_first(&b->q)) != NULL) {
        node->result = broken ? -EPIPE : index++;
        weft__waitq_wake_locked(&b->q, node);
    }
    b->count = 0;
}

int weft_barrier_wait(weft_barrier *pub, int64_t timeout_ms)
{
    struct weft__barrier *b = barrier_of(pub);
    weft__task *self;
    struct weft__wqnode node;
    bool late;
    int rc;

    rc = weft__wait_checks(b, timeout_ms, &self);
    if (rc < 0)
        return rc;
    weft__spin_lock(&b->spin);
    if (b->broken) {
        weft__spin_unlock(&b->spin);
        return -EPIPE;
    }
    if (b->count + 1 == b->parties) {
        int last = (int)b->count; /* the others arrived first */
        release_round(b, false);
        weft__spin_unlock(&b->spin);
        return last;
    }
    b->count++;
    rc = weft__waitq_wait(&b->q, &b->spin, &node, timeout_ms, 0, &late);
    if (rc == 0)
        return node.result; /* its index, or -EPIPE */
    /* Left before the round was complete: no longer counted. (Interrupted
     * as the round ended, it was counted and released with the others.) */
    if (!late)
        b->count--;
    weft__spin_unlock(&b->spin);
    return rc;
}

int weft_barrier_abort(weft_barrier *pub)
{
    struct weft__barrier *b = barrier_of(pub);

    if (b == NULL)
        return -EINVAL;
    weft__spin_lock(&b->spin);
    b->broken = 1;
    release_round(b, true);
    weft__spin_unlock(&b->spin);
    return 0;
}

int weft_barrier_reset(weft_barrier *pub)
{
    struct weft__barrier *b = barrier_of(pub);

    if (b == NULL)
        return -EINVAL;
    weft__spin_lock(&b->spin);
    release_round(b, true);
    b->broken = 0;
    weft__spin_unlock(&b->spin);
    return 0;
}

int weft_barrier_n_waiting(weft_barrier *pub)
{
    struct weft__barrier *b = barrier_of(pub);

    if (b == NULL)
        return -EINVAL;
    weft__spin_lock(&b->spin);
    int n = (int)b->count;
    weft__spin_unlock(&b->spin);
    return n;
}

int weft_barrier_is_broken(weft_barrier *pub)
{
    struct weft__barrier *b = barrier_of(pub);

    if (b == NULL)
        return -EINVAL;
    weft__spin_lock(&b->spin);
    int broken = (int)b->broken;
    weft__spin_unlock(&b->spin);
    return broken;
}
