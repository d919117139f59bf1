/* The records behind weft/sync.h's opaque types, for the files that
 * implement them (lock.c, rwlock.c, semaphore.c, event.c, condition.c,
 * barrier.c). Each guards its state with its own spinlock and queues its
 * waiters in a waitq (waitq.h). */
#ifndef WEFT_SYNC_SYNC_H
#define WEFT_SYNC_SYNC_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/atomic.h"
#include "core/internal.h"

#include "sched/scope.h"
#include "sched/task.h"
#include "sched/wait.h"
#include "sync/waitq.h"

#include "weft/task.h"

/* Set in the magic word by *_init, cleared by *_destroy: a call on an
 * object that was never set up, or was destroyed, fails with -EINVAL
 * (unless its memory happens to hold the magic). */
#define WEFT__LOCK_MAGIC 0x6c6f636bu      /* "lock" */
#define WEFT__RWLOCK_MAGIC 0x72776c6bu    /* "rwlk" */
#define WEFT__SEMAPHORE_MAGIC 0x73656d61u /* "sema" */
#define WEFT__EVENT_MAGIC 0x6576656eu     /* "even" */
#define WEFT__CONDITION_MAGIC 0x636f6e64u /* "cond" */
#define WEFT__BARRIER_MAGIC 0x62617272u   /* "barr" */

/* The lock word: the owning task's id shifted left by one, with WAITERS
 * set while its waitq is not empty; free is 0. The owner is named by its
 * id, never by its record, so a record reused by another task cannot
 * inherit a lock its previous task held. Uncontended acquire and release
 * are one compare-and-swap each; with WAITERS set, both go through the
 * spinlock, under which the word is stable. */
#define WEFT__LOCK_WAITERS ((uint64_t)1)

struct weft__lock {
    uint32_t magic;
    weft__spinlock spin;
    uint64_t word;             /* atomic */
    struct weft__waitq q;
};

/* Acquires lock for self, which has been checked: with flags 0, as
 * weft_lock_acquire; with WEFT__WAIT_SHIELDED it cannot fail. */
int weft__lock_acquire(struct weft__lock *lock, weft__task *self,
                       int64_t timeout_ms, unsigned flags);
/* Releases lock, which self holds. */
void weft__lock_release(struct weft__lock *lock, weft__task *self);
/* The record behind a public lock, if it is one; else NULL. */
struct weft__lock *weft__lock_of(weft_lock *lock);

/* Queues node, a suspended waiter of a condition that the notifier moves
 * here instead of waking it (no barging: it reacquires in its turn), to
 * be granted the lock as if it had asked. The caller holds the lock, and
 * the lock's spinlock. */
void weft__lock_enqueue_locked(struct weft__lock *lock,
                               struct weft__wqnode *node);

/* For a node weft__lock_enqueue_locked queued whose task was woken
 * otherwise (cancelled, a deadline): waits, shielded, until the lock is
 * granted to it. Called with the lock's spinlock held; drops it. */
void weft__lock_wait_granted(struct weft__lock *lock, weft__task *self,
                             struct weft__wqnode *node);

static inline uint64_t weft__lock_word_of(uint64_t id)
{
    return id << 1;
}

/* True if self holds lock. */
static inline bool weft__lock_held_by(struct weft__lock *lock,
                                      const weft__task *self)
{
    /* Pairs with the CAS or release store that made self the owner; self
     * reads its own writes, so any order would do. */
    uint64_t word = weft__load_acquire_u64(&lock->word);
    return (word & ~WEFT__LOCK_WAITERS) == weft__lock_word_of(self->id);
}

struct weft__rwlock {
    uint32_t magic;
    weft__spinlock spin;
    uint32_t readers;          /* tasks holding it for reading */
    uint64_t writer;           /* the id of the task holding it for
                                  writing, or 0 */
    struct weft__waitq q;      /* readers and writers, in arrival order */
};

struct weft__semaphore {
    uint32_t magic;
    weft__spinlock spin;
    uint32_t value;            /* free permits; 0 while anyone waits */
    bool bounded;              /* releases beyond bound are refused */
    uint32_t bound;            /* the initial value */
    struct weft__waitq q;
};

struct weft__event {
    uint32_t magic;
    weft__spinlock spin;
    uint32_t set;              /* atomic: the flag */
    struct weft__waitq q;
};

struct weft__condition {
    uint32_t magic;
    weft__spinlock spin;       /* taken before the lock's, never after */
    struct weft__lock *lock;
    struct weft__waitq q;
};

struct weft__barrier {
    uint32_t magic;
    weft__spinlock spin;
    uint32_t parties;
    uint32_t count;            /* tasks waiting in this round */
    uint32_t broken;
    struct weft__waitq q;
};

/* destroy for the primitives that are busy only while tasks wait on
 * them: -EBUSY then, leaving the object as it is. */
static inline int weft__sync_retire(uint32_t *magic, weft__spinlock *spin,
                                    const struct weft__waitq *q)
{
    weft__spin_lock(spin);
    if (!weft__waitq_empty(q)) {
        weft__spin_unlock(spin);
        return -EBUSY;
    }
    *magic = 0;
    weft__spin_unlock(spin);
    return 0;
}

/* Checks a wait's time-out argument. */
static inline int weft__check_timeout(int64_t timeout_ms)
{
    return timeout_ms < 0 && timeout_ms != WEFT_FOREVER ? -EINVAL : 0;
}

/* What every wait checks first: the object (NULL if not a live one) and
 * the time-out (-EINVAL), a task to suspend (-EPERM), and a pending
 * cancellation or passed deadline: every wait is a suspension point,
 * even one that need not wait. */
static inline __attribute__((always_inline)) int
weft__wait_checks(const void *obj, int64_t timeout_ms, weft__task **self)
{
    if (obj == NULL || weft__check_timeout(timeout_ms) < 0)
        return -EINVAL;
    /* Inlined: the frame is the public function's. */
    *self = WEFT__TASK_ENTER();
    if (*self == NULL)
        return -EPERM;
    return weft__check_interrupt(*self);
}

#endif /* WEFT_SYNC_SYNC_H */
