/* weft_rwlock: readers share, writers exclude, FIFO with writer
 * preference (see sync.h). */
#include "core/internal.h"

#include <errno.h>

#include "sched/wait.h"
#include "sync/sync.h"
#include "sched/task.h"

_Static_assert(sizeof(struct weft__rwlock) <= sizeof(weft_rwlock),
               "weft_rwlock is too small");
_Static_assert(_Alignof(struct weft__rwlock) <= _Alignof(weft_rwlock),
               "weft_rwlock is not aligned enough");

/* What a node asks for, in its want. */
enum { WANT_READ = 0, WANT_WRITE = 1 };

static struct weft__rwlock *rwlock_of(weft_rwlock *pub)
{
    struct weft__rwlock *rw = (struct weft__rwlock *)(void *)pub;

    if (pub == NULL || rw->magic != WEFT__RWLOCK_MAGIC)
        return NULL;
    return rw;
}

int weft_rwlock_init(weft_rwlock *pub)
{
    struct weft__rwlock *rw = (struct weft__rwlock *)(void *)pub;

    if (pub == NULL)
        return -EINVAL;
    rw->spin = (weft__spinlock)WEFT__SPINLOCK_INIT;
    rw->readers = 0;
    rw->writer = 0;
    weft__waitq_init(&rw->q, WEFT__WAITING_LOCK);
    rw->magic = WEFT__RWLOCK_MAGIC;
    return 0;
}

int weft_rwlock_destroy(weft_rwlock *pub)
{
    struct weft__rwlock *rw = rwlock_of(pub);

    if (rw == NULL)
        return -EINVAL;
    weft__spin_lock(&rw->spin);
    if (rw->readers != 0 || rw->writer != 0 || !weft__waitq_empty(&rw->q)) {
        weft__spin_unlock(&rw->spin);
        return -EBUSY;
    }
    rw->magic = 0;
    weft__spin_unlock(&rw->spin);
    return 0;
}

/* Grants the lock to the waiters at the head that can have it now: one
 * writer once it is free, or every reader up to the first writer. A reader
 * behind a waiting writer waits: that is the writers' preference. Spinlock
 * held. */
static void grant_next(struct weft__rwlock *rw)
{
    struct weft__wqnode *head;

    while ((head = weft__waitq_first(&rw->q)) != NULL && rw->writer == 0) {
        if (head->want == WANT_WRITE) {
            if (rw->readers == 0) {
                rw->writer = head->h.task->id;
                weft__waitq_wake_locked(&rw->q, head);
            }
            return;
        }
        rw->readers++;
        weft__waitq_wake_locked(&rw->q, head);
    }
}

/* Queues self for want and waits. On failure, gives back a grant that came
 * as it was interrupted, and lets those behind it go if they now can. */
static int wait_turn(struct weft__rwlock *rw, unsigned want, int64_t timeout_ms)
{
    struct weft__wqnode node;
    bool late;

    node.want = want;
    int rc = weft__waitq_wait(&rw->q, &rw->spin, &node, timeout_ms, 0, &late);
    if (rc == 0) {
        if (want == WANT_WRITE)
            node.h.task->locks_held++;
        return 0;
    }
    if (late) {
        if (want == WANT_WRITE)
            rw->writer = 0;
        else
            rw->readers--;
    }
    grant_next(rw);
    weft__spin_unlock(&rw->spin);
    return rc;
}

/* Takes the lock for want if nobody need be waited for: 0, -EAGAIN
 * (someone must be), or -EDEADLK (self holds it for writing). Spinlock
 * held. */
static int take_now(struct weft__rwlock *rw, weft__task *self, unsigned want)
{
    if (rw->writer == self->id)
        return -EDEADLK;
    if (rw->writer != 0 || !weft__waitq_empty(&rw->q) ||
        (want == WANT_WRITE && rw->readers != 0))
        return -EAGAIN;
    if (want == WANT_WRITE) {
        rw->writer = self->id;
        self->locks_held++;
    } else {
        rw->readers++;
    }
    return 0;
}

static int acquire(weft_rwlock *pub, unsigned want, int64_t timeout_ms)
{
    struct weft__rwlock *rw = rwlock_of(pub);
    weft__task *self;
    int rc = weft__wait_checks(rw, timeout_ms, &self);

    if (rc < 0)
        return rc;
    weft__spin_lock(&rw->spin);
    rc = take_now(rw, self, want);
    if (rc != -EAGAIN) {
        weft__spin_unlock(&rw->spin);
        return rc;
    }
    return wait_turn(rw, want, timeout_ms);
}

static int try_acquire(weft_rwlock *pub, unsigned want)
{
    struct weft__rwlock *rw = rwlock_of(pub);
    weft__task *self = weft__task_self();

    if (rw == NULL)
        return -EINVAL;
    if (self == NULL)
        return -EPERM;
    weft__spin_lock(&rw->spin);
    int rc = take_now(rw, self, want);
    weft__spin_unlock(&rw->spin);
    return rc;
}

int weft_rwlock_acquire_read(weft_rwlock *pub, int64_t timeout_ms)
{
    return acquire(pub, WANT_READ, timeout_ms);
}

int weft_rwlock_try_acquire_read(weft_rwlock *pub)
{
    return try_acquire(pub, WANT_READ);
}

int weft_rwlock_release_read(weft_rwlock *pub)
{
    struct weft__rwlock *rw = rwlock_of(pub);
    int rc = 0;

    if (rw == NULL)
        return -EINVAL;
    if (weft__task_self() == NULL)
        return -EPERM;
    weft__spin_lock(&rw->spin);
    if (rw->readers == 0) {
        rc = -EPERM;
    } else {
        rw->readers--;
        grant_next(rw);
    }
    weft__spin_unlock(&rw->spin);
    return rc;
}

int weft_rwlock_acquire_write(weft_rwlock *pub, int64_t timeout_ms)
{
    return acquire(pub, WANT_WRITE, timeout_ms);
}

int weft_rwlock_try_acquire_write(weft_rwlock *pub)
{
    return try_acquire(pub, WANT_WRITE);
}

int weft_rwlock_release_write(weft_rwlock *pub)
{
    struct weft__rwlock *rw = rwlock_of(pub);
    weft__task *self = weft__task_self();
    int rc = 0;

    if (rw == NULL)
        return -EINVAL;
    if (self == NULL)
        return -EPERM;
    weft__spin_lock(&rw->spin);
    if (rw->writer != self->id) {
        rc = -EPERM;
    } else {
        rw->writer = 0;
        self->locks_held--;
        grant_next(rw);
    }
    weft__spin_unlock(&rw->spin);
    return rc;
}
