/* weft_condition: wait for a notification with a lock released meanwhile
 * (see sync.h). */
#include "core/internal.h"

#include <errno.h>
#include <limits.h>

#include "sched/wait.h"
#include "sync/sync.h"
#include "sched/task.h"

#include "weft/scope.h"

_Static_assert(sizeof(struct weft__condition) <= sizeof(weft_condition),
               "weft_condition is too small");
_Static_assert(_Alignof(struct weft__condition) <= _Alignof(weft_condition),
               "weft_condition is not aligned enough");

static struct weft__condition *condition_of(weft_condition *pub)
{
    struct weft__condition *c = (struct weft__condition *)(void *)pub;

    if (pub == NULL || c->magic != WEFT__CONDITION_MAGIC)
        return NULL;
    return c;
}

int weft_condition_init(weft_condition *pub, weft_lock *lock)
{
    struct weft__condition *c = (struct weft__condition *)(void *)pub;
    struct weft__lock *l = weft__lock_of(lock);

    if (pub == NULL || l == NULL)
        return -EINVAL;
    c->spin = (weft__spinlock)WEFT__SPINLOCK_INIT;
    c->lock = l;
    weft__waitq_init(&c->q, WEFT__WAITING_CONDITION);
    c->magic = WEFT__CONDITION_MAGIC;
    return 0;
}

int weft_condition_destroy(weft_condition *pub)
{
    struct weft__condition *c = condition_of(pub);

    if (c == NULL)
        return -EINVAL;
    return weft__sync_retire(&c->magic, &c->spin, &c->q);
}

/* The checks every call but init and destroy shares. */
static inline __attribute__((always_inline)) int
begin(struct weft__condition *c, weft__task **self)
{
    if (c == NULL)
        return -EINVAL;
    /* Inlined: the frame is the public function's. */
    *self = WEFT__TASK_ENTER();
    if (*self == NULL || !weft__lock_held_by(c->lock, *self))
        return -EPERM;
    return 0;
}

/* Where a waiter's node is, in its want: on the condition's queue, or
 * moved by a notify to the lock's. Changed under the condition's
 * spinlock. */
enum { ON_CONDITION = 0, MOVED_TO_LOCK = 1 };

/* Notifies the first waiter: its node moves to the lock's queue, where it
 * waits its turn for the lock as if it had asked for it then (wait
 * morphing). So notified waiters reacquire the lock in the order they
 * began to wait, and none wakes only to find the lock held. Both
 * spinlocks held, the condition's first. */
static void notify_first(struct weft__condition *c)
{
    struct weft__wqnode *node = weft__waitq_first(&c->q);

    weft__waitq_unlink(&c->q, node);
    node->want = MOVED_TO_LOCK;
    weft__lock_enqueue_locked(c->lock, node);
}

/* One wait, with self holding the lock, under the caller's time-out scope
 * if any. The lock is released once self is queued, so no notify sent
 * after the release can miss it, and held again before returning,
 * whatever happened: granted by the lock once notified, or taken back
 * (shielded: it cannot fail) if the wait was cut short first. */
static int wait_once(struct weft__condition *c, weft__task *self)
{
    struct weft__lock *lock = c->lock;
    struct weft__wqnode node;
    int rc;

    node.want = ON_CONDITION;
    weft__spin_lock(&c->spin);
    rc = weft__waitq_prepare(&c->q, &node, 0);
    if (rc < 0) {
        weft__spin_unlock(&c->spin);
        return rc; /* cancelled or timed out: the lock stays held */
    }
    /* The condition's spinlock is taken before the lock's, never after. */
    weft__lock_release(lock, self);
    weft__spin_unlock(&c->spin);
    weft__task_waiting(self, WEFT__WAITING_CONDITION, NULL);
    rc = weft__wake_error(weft__wait_commit(self));
    weft__task_waiting(self, WEFT__WAITING_NOTHING, NULL);
    if (rc == 0) {
        /* Only the lock's grant wakes a waiter (a notify moves it): it
         * owns the lock now. */
        weft__waitq_wait_released(&node);
        self->locks_held++;
        return 0;
    }
    weft__spin_lock(&c->spin);
    if (node.want == ON_CONDITION) {
        /* Not notified: it leaves the queue, and takes the lock back. */
        weft__waitq_unlink(&c->q, &node);
        weft__spin_unlock(&c->spin);
        (void)weft__lock_acquire(lock, self, WEFT_FOREVER, WEFT__WAIT_SHIELDED);
        return rc;
    }
    /* Notified as it was interrupted: it keeps its place in the lock's
     * queue, and the notification goes on to the next waiter, which
     * would otherwise have been passed over. */
    weft__spin_lock(&lock->spin);
    if (!weft__waitq_empty(&c->q))
        notify_first(c);
    weft__spin_unlock(&c->spin);
    weft__lock_wait_granted(lock, self, &node);
    return rc;
}

int weft_condition_wait(weft_condition *pub, int64_t timeout_ms)
{
    return weft_condition_wait_for(pub, NULL, NULL, timeout_ms);
}

int weft_condition_wait_for(weft_condition *pub, bool (*pred)(void *),
                            void *arg, int64_t timeout_ms)
{
    struct weft__condition *c = condition_of(pub);
    weft__task *self;
    weft_scope scope;
    int rc;

    if (c != NULL && weft__check_timeout(timeout_ms) < 0)
        return -EINVAL;
    rc = begin(c, &self);
    if (rc < 0)
        return rc;
    rc = weft__check_interrupt(self);
    if (rc < 0)
        return rc;
    if (pred != NULL && pred(arg))
        return 0;
    /* One time-out for the whole wait, however many wakes it takes. */
    if (timeout_ms != WEFT_FOREVER) {
        rc = weft_timeout_enter(&scope, timeout_ms);
        if (rc < 0)
            return rc;
    }
    do {
        rc = wait_once(c, self);
    } while (rc == 0 && pred != NULL && !pred(arg));
    if (timeout_ms != WEFT_FOREVER)
        (void)weft_scope_leave(&scope);
    return rc;
}

int weft_condition_notify(weft_condition *pub, unsigned n)
{
    struct weft__condition *c = condition_of(pub);
    weft__task *self;
    int woken = 0;
    int rc = begin(c, &self);

    if (rc < 0)
        return rc;
    weft__spin_lock(&c->spin);
    if (!weft__waitq_empty(&c->q)) {
        weft__spin_lock(&c->lock->spin);
        while ((unsigned)woken < n && woken < INT_MAX &&
               !weft__waitq_empty(&c->q)) {
            notify_first(c);
            woken++;
        }
        weft__spin_unlock(&c->lock->spin);
    }
    weft__spin_unlock(&c->spin);
    return woken;
}

int weft_condition_notify_all(weft_condition *pub)
{
    return weft_condition_notify(pub, UINT_MAX);
}
