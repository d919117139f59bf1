/* weft_lock: a FIFO mutex for tasks, handed directly to its next waiter
 * (see sync.h). */
#include "core/internal.h"

#include <errno.h>

#include "sched/wait.h"
#include "sync/sync.h"
#include "sched/task.h"

_Static_assert(sizeof(struct weft__lock) <= sizeof(weft_lock),
               "weft_lock is too small");
_Static_assert(_Alignof(struct weft__lock) <= _Alignof(weft_lock),
               "weft_lock is not aligned enough");

static inline uintptr_t word_load(struct weft__lock *lock)
{
    return (uintptr_t)weft__load_acquire_ptr((void *const *)&lock->word);
}

static inline bool word_cas(struct weft__lock *lock, uintptr_t expect,
                            uintptr_t desired)
{
    return weft__cas_ptr((void **)&lock->word, (void *)expect, (void *)desired);
}

static inline void word_store(struct weft__lock *lock, uintptr_t word)
{
    weft__store_release_ptr((void **)&lock->word, (void *)word);
}

struct weft__lock *weft__lock_of(weft_lock *pub)
{
    struct weft__lock *lock = (struct weft__lock *)(void *)pub;

    if (pub == NULL || lock->magic != WEFT__LOCK_MAGIC)
        return NULL;
    return lock;
}

int weft_lock_init(weft_lock *pub)
{
    struct weft__lock *lock = (struct weft__lock *)(void *)pub;

    if (pub == NULL)
        return -EINVAL;
    lock->spin = (weft__spinlock)WEFT__SPINLOCK_INIT;
    lock->word = 0;
    weft__waitq_init(&lock->q, WEFT__WAITING_LOCK);
    lock->magic = WEFT__LOCK_MAGIC;
    return 0;
}

int weft_lock_destroy(weft_lock *pub)
{
    struct weft__lock *lock = weft__lock_of(pub);

    if (lock == NULL)
        return -EINVAL;
    weft__spin_lock(&lock->spin);
    if (word_load(lock) != 0 || !weft__waitq_empty(&lock->q)) {
        weft__spin_unlock(&lock->spin);
        return -EBUSY;
    }
    lock->magic = 0;
    weft__spin_unlock(&lock->spin);
    return 0;
}

/* Passes a held lock to its first waiter, or frees it. Spinlock held; the
 * wake to send after unlocking goes to *g. */
static void hand_on(struct weft__lock *lock, struct weft__grant *g)
{
    g->node = NULL;
    if (weft__waitq_empty(&lock->q)) {
        word_store(lock, 0);
        return;
    }
    struct weft__wqnode *next = weft__waitq_grant(&lock->q, g);
    word_store(lock, (uintptr_t)next->task |
                         (weft__waitq_empty(&lock->q) ? 0 : WEFT__LOCK_WAITERS));
}

int weft__lock_acquire(struct weft__lock *lock, weft__task *self,
                       int64_t timeout_ms, unsigned flags)
{
    struct weft__wqnode node;
    struct weft__grant g = { NULL, NULL, 0 };
    bool late;
    int rc;

    if (word_cas(lock, 0, (uintptr_t)self))
        return 0;
    weft__spin_lock(&lock->spin);
    for (;;) {
        uintptr_t word = word_load(lock);
        if (word == 0) {
            /* Freed since; no one waits, or it would have been handed on. */
            if (word_cas(lock, 0, (uintptr_t)self)) {
                weft__spin_unlock(&lock->spin);
                return 0;
            }
            continue;
        }
        if ((weft__task *)(word & ~WEFT__LOCK_WAITERS) == self) {
            weft__spin_unlock(&lock->spin);
            return -EDEADLK;
        }
        /* With WAITERS set the owner's release comes through the
         * spinlock, so the word stays as it is while it is held. */
        if ((word & WEFT__LOCK_WAITERS) ||
            word_cas(lock, word, word | WEFT__LOCK_WAITERS))
            break;
    }
    rc = weft__waitq_wait(&lock->q, &lock->spin, &node, timeout_ms, flags, &late);
    if (rc == 0)
        return 0; /* the releaser made self the owner */
    if (late)
        hand_on(lock, &g); /* made owner as it was interrupted: pass it on */
    else if (weft__waitq_empty(&lock->q))
        word_store(lock, word_load(lock) & ~WEFT__LOCK_WAITERS);
    weft__spin_unlock(&lock->spin);
    weft__grant_send(&g);
    return rc;
}

void weft__lock_release(struct weft__lock *lock, weft__task *self)
{
    struct weft__grant g;

    if (word_cas(lock, (uintptr_t)self, 0))
        return;
    weft__spin_lock(&lock->spin);
    hand_on(lock, &g);
    weft__spin_unlock(&lock->spin);
    weft__grant_send(&g);
}

int weft_lock_acquire(weft_lock *pub, int64_t timeout_ms)
{
    struct weft__lock *lock = weft__lock_of(pub);
    weft__task *self;
    int rc = weft__wait_checks(lock, timeout_ms, &self);

    if (rc < 0)
        return rc;
    return weft__lock_acquire(lock, self, timeout_ms, 0);
}

int weft_lock_try_acquire(weft_lock *pub)
{
    struct weft__lock *lock = weft__lock_of(pub);
    weft__task *self = weft__task_self();

    if (lock == NULL)
        return -EINVAL;
    if (self == NULL)
        return -EPERM;
    if (word_cas(lock, 0, (uintptr_t)self))
        return 0;
    return weft__lock_owner(lock) == self ? -EDEADLK : -EAGAIN;
}

int weft_lock_release(weft_lock *pub)
{
    struct weft__lock *lock = weft__lock_of(pub);
    weft__task *self = weft__task_self();

    if (lock == NULL)
        return -EINVAL;
    if (self == NULL || weft__lock_owner(lock) != self)
        return -EPERM;
    weft__lock_release(lock, self);
    return 0;
}

int weft_lock_is_locked(weft_lock *pub)
{
    struct weft__lock *lock = weft__lock_of(pub);

    if (lock == NULL)
        return -EINVAL;
    return word_load(lock) != 0;
}
