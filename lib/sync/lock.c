/* weft_lock: a FIFO mutex for tasks, handed directly to its next waiter
 * (see sync.h). */
#include "core/internal.h"

#include <errno.h>

#include "sched/task.h"
#include "sched/wait.h"
#include "sync/sync.h"

_Static_assert(sizeof(struct weft__lock) <= sizeof(weft_lock),
               "weft_lock is too small");
_Static_assert(_Alignof(struct weft__lock) <= _Alignof(weft_lock),
               "weft_lock is not aligned enough");

/* The lock word's atomics. An owner's release (the CAS to 0, or the
 * release store of hand_on) pairs with the next owner's acquire (its CAS
 * from 0, or its acquire load after the grant): what one owner wrote in
 * the critical section is seen by the next. */
static inline uint64_t word_load(struct weft__lock *lock)
{
    return weft__load_acquire_u64(&lock->word);
}

static inline bool word_cas(struct weft__lock *lock, uint64_t expect,
                            uint64_t desired)
{
    return weft__cas_u64(&lock->word, expect, desired);
}

static inline void word_store(struct weft__lock *lock, uint64_t word)
{
    weft__store_release_u64(&lock->word, word);
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
    word_store(lock, weft__lock_word_of(next->h.task->id) |
                         (weft__waitq_empty(&lock->q) ? 0 : WEFT__LOCK_WAITERS));
}

/* Sets WAITERS in the word of a held lock, unless it is set. Spinlock
 * held; false if the lock turned out to be free. */
static bool mark_waiters(struct weft__lock *lock)
{
    for (;;) {
        uint64_t word = word_load(lock);
        if (word == 0)
            return false;
        /* With WAITERS set the owner's release comes through the
         * spinlock, so the word stays as it is while it is held. */
        if ((word & WEFT__LOCK_WAITERS) ||
            word_cas(lock, word, word | WEFT__LOCK_WAITERS))
            return true;
    }
}

/* The acquire is done: one more lock the task holds, for the report of a
 * task that ends holding one. */
static int acquired(weft__task *self)
{
    self->locks_held++;
    return 0;
}

int weft__lock_acquire(struct weft__lock *lock, weft__task *self,
                       int64_t timeout_ms, unsigned flags)
{
    struct weft__wqnode node;
    struct weft__grant g = { NULL };
    uint64_t mine = weft__lock_word_of(self->id);
    bool late;
    int rc;

    if (word_cas(lock, 0, mine))
        return acquired(self);
    weft__spin_lock(&lock->spin);
    for (;;) {
        uint64_t word = word_load(lock);
        if ((word & ~WEFT__LOCK_WAITERS) == mine) {
            weft__spin_unlock(&lock->spin);
            return -EDEADLK;
        }
        if (mark_waiters(lock))
            break;
        /* Freed since; no one waits, or it would have been handed on. */
        if (word_cas(lock, 0, mine)) {
            weft__spin_unlock(&lock->spin);
            return acquired(self);
        }
    }
    rc = weft__waitq_wait(&lock->q, &lock->spin, &node, timeout_ms, flags, &late);
    if (rc == 0)
        return acquired(self); /* the releaser made self the owner */
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

    self->locks_held--;
    if (word_cas(lock, weft__lock_word_of(self->id), 0))
        return;
    weft__spin_lock(&lock->spin);
    hand_on(lock, &g);
    weft__spin_unlock(&lock->spin);
    weft__grant_send(&g);
}

void weft__lock_enqueue_locked(struct weft__lock *lock,
                               struct weft__wqnode *node)
{
    bool held = mark_waiters(lock);
    WEFT__ASSERT(held); /* the notifier holds it */
    node->granted = false;
    node->h.released = 0;
    weft__waitq_push(&lock->q, node);
}

void weft__lock_wait_granted(struct weft__lock *lock, weft__task *self,
                             struct weft__wqnode *node)
{
    while (!node->granted) {
        /* A new suspension, shielded: only the grant ends it. The granter
         * reads (task, seq) under the spinlock, so it wakes this one. */
        int rc = weft__wait_begin(self, WEFT__WAIT_SHIELDED, &node->h.seq);
        WEFT__ASSERT(rc == 0);
        weft__spin_unlock(&lock->spin);
        (void)weft__wait_commit(self);
        weft__spin_lock(&lock->spin);
    }
    weft__spin_unlock(&lock->spin);
    weft__waitq_wait_released(node);
    (void)acquired(self);
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
    if (word_cas(lock, 0, weft__lock_word_of(self->id)))
        return acquired(self);
    return weft__lock_held_by(lock, self) ? -EDEADLK : -EAGAIN;
}

int weft_lock_release(weft_lock *pub)
{
    struct weft__lock *lock = weft__lock_of(pub);
    weft__task *self = weft__task_self();

    if (lock == NULL)
        return -EINVAL;
    if (self == NULL || !weft__lock_held_by(lock, self))
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
