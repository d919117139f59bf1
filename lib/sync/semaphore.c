/* weft_semaphore and its bounded form: counted permits, handed to waiters
 * in arrival order (see sync.h). */
#include "core/internal.h"

#include <errno.h>
#include <limits.h>

#include "sched/wait.h"
#include "sync/sync.h"
#include "sched/task.h"

_Static_assert(sizeof(struct weft__semaphore) <= sizeof(weft_semaphore),
               "weft_semaphore is too small");
_Static_assert(_Alignof(struct weft__semaphore) <= _Alignof(weft_semaphore),
               "weft_semaphore is not aligned enough");

static struct weft__semaphore *semaphore_of(weft_semaphore *pub)
{
    struct weft__semaphore *sem = (struct weft__semaphore *)(void *)pub;

    if (pub == NULL || sem->magic != WEFT__SEMAPHORE_MAGIC)
        return NULL;
    return sem;
}

static int init(weft_semaphore *pub, unsigned value, bool bounded)
{
    struct weft__semaphore *sem = (struct weft__semaphore *)(void *)pub;

    if (pub == NULL || value > INT_MAX)
        return -EINVAL;
    sem->spin = (weft__spinlock)WEFT__SPINLOCK_INIT;
    sem->value = value;
    sem->bounded = bounded;
    sem->bound = value;
    weft__waitq_init(&sem->q, WEFT__WAITING_SEMAPHORE);
    sem->magic = WEFT__SEMAPHORE_MAGIC;
    return 0;
}

int weft_semaphore_init(weft_semaphore *pub, unsigned value)
{
    return init(pub, value, false);
}

int weft_semaphore_init_bounded(weft_semaphore *pub, unsigned value)
{
    return init(pub, value, true);
}

int weft_semaphore_destroy(weft_semaphore *pub)
{
    struct weft__semaphore *sem = semaphore_of(pub);

    if (sem == NULL)
        return -EINVAL;
    return weft__sync_retire(&sem->magic, &sem->spin, &sem->q);
}

/* Adds a permit: to the first waiter if there is one (its wake goes to
 * *g), else to the count. Spinlock held. */
static int put_permit(struct weft__semaphore *sem, struct weft__grant *g)
{
    g->node = NULL;
    if (!weft__waitq_empty(&sem->q)) {
        (void)weft__waitq_grant(&sem->q, g);
        return 0;
    }
    if ((sem->bounded && sem->value >= sem->bound) || sem->value >= INT_MAX)
        return -EOVERFLOW;
    sem->value++;
    return 0;
}

int weft_semaphore_acquire(weft_semaphore *pub, int64_t timeout_ms)
{
    struct weft__semaphore *sem = semaphore_of(pub);
    weft__task *self;
    struct weft__wqnode node;
    struct weft__grant g;
    bool late;
    int rc;

    rc = weft__wait_checks(sem, timeout_ms, &self);
    if (rc < 0)
        return rc;
    weft__spin_lock(&sem->spin);
    /* value is 0 while anyone waits: a free permit means no queue. */
    if (sem->value > 0) {
        sem->value--;
        weft__spin_unlock(&sem->spin);
        return 0;
    }
    rc = weft__waitq_wait(&sem->q, &sem->spin, &node, timeout_ms, 0, &late);
    if (rc == 0)
        return 0;
    g.node = NULL;
    if (late)
        (void)put_permit(sem, &g); /* not for us after all: the next one's */
    weft__spin_unlock(&sem->spin);
    weft__grant_send(&g);
    return rc;
}

int weft_semaphore_try_acquire(weft_semaphore *pub)
{
    struct weft__semaphore *sem = semaphore_of(pub);
    int rc = -EAGAIN;

    if (sem == NULL)
        return -EINVAL;
    weft__spin_lock(&sem->spin);
    if (sem->value > 0) {
        sem->value--;
        rc = 0;
    }
    weft__spin_unlock(&sem->spin);
    return rc;
}

int weft_semaphore_release(weft_semaphore *pub)
{
    struct weft__semaphore *sem = semaphore_of(pub);
    struct weft__grant g;

    if (sem == NULL)
        return -EINVAL;
    weft__spin_lock(&sem->spin);
    int rc = put_permit(sem, &g);
    weft__spin_unlock(&sem->spin);
    weft__grant_send(&g);
    return rc;
}

int weft_semaphore_value(weft_semaphore *pub)
{
    struct weft__semaphore *sem = semaphore_of(pub);

    if (sem == NULL)
        return -EINVAL;
    weft__spin_lock(&sem->spin);
    int value = (int)sem->value;
    weft__spin_unlock(&sem->spin);
    return value;
}
