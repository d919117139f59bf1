/* weft: locks and signals for tasks: Lock, RWLock, Semaphore (and its
 * bounded form), Event, Condition, Barrier, as asyncio's, but safe for
 * tasks on different worker threads.
 *
 * Every wait suspends the calling task, never its worker thread, and
 * serves waiters first come, first served: a releasing task hands the
 * lock, permit or signal straight to the first waiter, and cannot barge
 * back in ahead of it. Every wait takes timeout_ms last: WEFT_FOREVER, 0
 * (do not wait), or milliseconds; it fails with -ETIMEDOUT or -ECANCELED
 * (cancellation, or an enclosing timeout scope) and then leaves no trace:
 * a cancelled waiter never holds a lock afterwards and never swallows a
 * permit or a signal meant for another. The try_ forms never wait: they
 * fail with -EAGAIN where the wait would have waited.
 *
 * Objects live in caller storage (a struct of opaque words, like
 * pthread_mutex_t) set up by *_init; *_destroy refuses with -EBUSY while
 * tasks wait on the object (or, for the locks, while it is held), and
 * leaves it intact. A NULL, never set up or destroyed object gives
 * -EINVAL. A deadline rather than a time-out: put the call in a
 * weft_timeout_enter_at() scope.
 */
#ifndef WEFT_SYNC_H
#define WEFT_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- Lock (asyncio.Lock) ---------------------------------------------------- */

typedef struct weft_lock { uint64_t opaque[6]; } weft_lock;

WEFT_EXPORT int weft_lock_init(weft_lock *lock);
/* -EBUSY while held or waited on. */
WEFT_EXPORT int weft_lock_destroy(weft_lock *lock);
/* -EDEADLK if the caller holds it already (locks are not recursive). */
WEFT_EXPORT int weft_lock_acquire(weft_lock *lock, int64_t timeout_ms);
/* -EAGAIN if held by another task (a lock released to a waiter is that
 * waiter's), -EDEADLK if by the caller. */
WEFT_EXPORT int weft_lock_try_acquire(weft_lock *lock);
/* -EPERM unless the caller holds it. */
WEFT_EXPORT int weft_lock_release(weft_lock *lock);
/* 1 if held, 0 if not, -EINVAL. */
WEFT_EXPORT int weft_lock_is_locked(weft_lock *lock);

/* --- RWLock (readers share, writers exclude; writers first) ----------------- */

typedef struct weft_rwlock { uint64_t opaque[8]; } weft_rwlock;

WEFT_EXPORT int weft_rwlock_init(weft_rwlock *rw);
WEFT_EXPORT int weft_rwlock_destroy(weft_rwlock *rw);
/* A reader waits while a writer holds the lock or waits for it, so a
 * stream of readers cannot starve the writers. -EDEADLK if the caller
 * holds it for writing. Not recursive: a reader that takes it again
 * while a writer waits deadlocks (until its time-out). */
WEFT_EXPORT int weft_rwlock_acquire_read(weft_rwlock *rw, int64_t timeout_ms);
WEFT_EXPORT int weft_rwlock_try_acquire_read(weft_rwlock *rw);
/* -EPERM if no reader holds it (readers are counted, not named: any
 * task may release a read hold). */
WEFT_EXPORT int weft_rwlock_release_read(weft_rwlock *rw);
WEFT_EXPORT int weft_rwlock_acquire_write(weft_rwlock *rw, int64_t timeout_ms);
WEFT_EXPORT int weft_rwlock_try_acquire_write(weft_rwlock *rw);
/* -EPERM unless the caller holds it for writing. */
WEFT_EXPORT int weft_rwlock_release_write(weft_rwlock *rw);

/* --- Semaphore and BoundedSemaphore -------------------------------------------- */

typedef struct weft_semaphore { uint64_t opaque[8]; } weft_semaphore;

/* A semaphore of `value` permits (at most INT_MAX, else -EINVAL). The
 * bounded form also refuses a release that would exceed its initial
 * value, with -EOVERFLOW; any form refuses one beyond INT_MAX. */
WEFT_EXPORT int weft_semaphore_init(weft_semaphore *sem, unsigned value);
WEFT_EXPORT int weft_semaphore_init_bounded(weft_semaphore *sem,
                                            unsigned value);
WEFT_EXPORT int weft_semaphore_destroy(weft_semaphore *sem);
WEFT_EXPORT int weft_semaphore_acquire(weft_semaphore *sem, int64_t timeout_ms);
/* -EAGAIN if no permit is free (or others wait for one). Callable from
 * any thread. */
WEFT_EXPORT int weft_semaphore_try_acquire(weft_semaphore *sem);
/* Callable from any thread. -EOVERFLOW: a bounded semaphore is full. */
WEFT_EXPORT int weft_semaphore_release(weft_semaphore *sem);
/* The free permits (never negative), or -EINVAL. */
WEFT_EXPORT int weft_semaphore_value(weft_semaphore *sem);

/* --- Event ------------------------------------------------------------------------ */

typedef struct weft_event { uint64_t opaque[6]; } weft_event;

WEFT_EXPORT int weft_event_init(weft_event *ev);
WEFT_EXPORT int weft_event_destroy(weft_event *ev);
/* Sets the flag and wakes every waiter. Callable from any thread. */
WEFT_EXPORT int weft_event_set(weft_event *ev);
WEFT_EXPORT int weft_event_clear(weft_event *ev);
/* 1 if set, 0 if not, -EINVAL. */
WEFT_EXPORT int weft_event_is_set(weft_event *ev);
/* Returns at once if set (unless the caller has a cancellation or passed
 * deadline pending: every wait is a suspension point), else waits for
 * weft_event_set. */
WEFT_EXPORT int weft_event_wait(weft_event *ev, int64_t timeout_ms);

/* --- Condition ---------------------------------------------------------------- */

typedef struct weft_condition { uint64_t opaque[8]; } weft_condition;

/* A condition bound to lock, which every call but init and destroy must
 * hold (-EPERM otherwise). */
WEFT_EXPORT int weft_condition_init(weft_condition *cond, weft_lock *lock);
WEFT_EXPORT int weft_condition_destroy(weft_condition *cond);
/* Releases the lock, waits for a notify, and takes the lock back before
 * returning, also when it fails (as asyncio's Condition.wait). A
 * notification that reaches a waiter as it is cancelled is passed on to
 * the next waiter. */
WEFT_EXPORT int weft_condition_wait(weft_condition *cond, int64_t timeout_ms);
/* Waits until pred(arg) is true (checked first, and after each wake). */
WEFT_EXPORT int weft_condition_wait_for(weft_condition *cond,
                                        bool (*pred)(void *), void *arg,
                                        int64_t timeout_ms);
/* Wakes up to n waiters / all of them; they take the lock in turn. */
WEFT_EXPORT int weft_condition_notify(weft_condition *cond, unsigned n);
WEFT_EXPORT int weft_condition_notify_all(weft_condition *cond);

/* --- Barrier (asyncio.Barrier) -------------------------------------------------- */

typedef struct weft_barrier { uint64_t opaque[10]; } weft_barrier;

/* A barrier for `parties` tasks (1..INT_MAX). */
WEFT_EXPORT int weft_barrier_init(weft_barrier *b, unsigned parties);
WEFT_EXPORT int weft_barrier_destroy(weft_barrier *b);
/* Waits until `parties` tasks are waiting, then releases them all and
 * starts a new round. Returns this task's arrival index, 0..parties-1,
 * or -EPIPE if the barrier is or becomes broken (aborted). A waiter that
 * is cancelled or times out before the round is complete leaves it. */
WEFT_EXPORT int weft_barrier_wait(weft_barrier *b, int64_t timeout_ms);
/* Breaks the barrier: waiters, now and later, get -EPIPE. */
WEFT_EXPORT int weft_barrier_abort(weft_barrier *b);
/* Back to the empty state, mending a broken barrier; as in asyncio, the
 * tasks waiting in the current round get -EPIPE. */
WEFT_EXPORT int weft_barrier_reset(weft_barrier *b);
/* Tasks waiting in the current round, or -EINVAL. */
WEFT_EXPORT int weft_barrier_n_waiting(weft_barrier *b);
/* 1 if broken, 0 if not, -EINVAL. */
WEFT_EXPORT int weft_barrier_is_broken(weft_barrier *b);

/* --- Scoped acquire: `async with lock:` ------------------------------------------ */

/* A held lock, released when the variable goes out of scope, however the
 * block is left: its end, break, return, goto. The macros below declare
 * one with GCC's and clang's cleanup attribute:
 *
 *     int rc;
 *     WEFT_WITH_LOCK(&lock, rc) {
 *         if (balance < amount)
 *             return weft_fail(WEFT_EINVAL, "insufficient funds");
 *         balance -= amount;
 *     }
 *     if (rc < 0)              // the block did not run: not acquired
 *         return weft_fail(rc, "lock: %s", weft_strerror(rc));
 *
 * rc receives the acquire's result; the block runs only if it is 0.
 * `break` and `continue` in the block leave it (and release), but do not
 * reach a loop around it. The object argument is evaluated twice, and
 * two guards cannot share a line. Needs GCC or clang. */
typedef struct weft_guard {
    void *obj;      /* what to release, or NULL */
    int kind;       /* which release */
    int once;       /* the block has yet to run */
} weft_guard;

enum { WEFT__GUARD_LOCK, WEFT__GUARD_READ, WEFT__GUARD_WRITE, WEFT__GUARD_SEM };

static inline void weft_guard_release(weft_guard *g)
{
    if (g->obj == NULL)
        return;
    switch (g->kind) {
    case WEFT__GUARD_LOCK: weft_lock_release((weft_lock *)g->obj); break;
    case WEFT__GUARD_READ: weft_rwlock_release_read((weft_rwlock *)g->obj); break;
    case WEFT__GUARD_WRITE: weft_rwlock_release_write((weft_rwlock *)g->obj); break;
    default: weft_semaphore_release((weft_semaphore *)g->obj); break;
    }
    g->obj = NULL;
}

static inline weft_guard weft__guard(void *obj, int kind, int rc, int *rc_out)
{
    weft_guard g = { rc == 0 ? obj : NULL, kind, rc == 0 };
    *rc_out = rc;
    return g;
}

#define WEFT__CAT2(a, b) a##b
#define WEFT__CAT(a, b) WEFT__CAT2(a, b)
#define WEFT__GUARD_VAR WEFT__CAT(weft__guard_, __LINE__)
#define WEFT__WITH(obj, kind, acquire, rc)                                    \
    for (weft_guard WEFT__GUARD_VAR __attribute__((cleanup(weft_guard_release))) = \
             weft__guard((obj), (kind), (acquire), &(rc));                    \
         WEFT__GUARD_VAR.once; WEFT__GUARD_VAR.once = 0)

#define WEFT_WITH_LOCK(lock, rc)                                              \
    WEFT__WITH((lock), WEFT__GUARD_LOCK, weft_lock_acquire((lock), WEFT_FOREVER), rc)
#define WEFT_WITH_READ_LOCK(rw, rc)                                           \
    WEFT__WITH((rw), WEFT__GUARD_READ, weft_rwlock_acquire_read((rw), WEFT_FOREVER), rc)
#define WEFT_WITH_WRITE_LOCK(rw, rc)                                          \
    WEFT__WITH((rw), WEFT__GUARD_WRITE, weft_rwlock_acquire_write((rw), WEFT_FOREVER), rc)
#define WEFT_WITH_SEMAPHORE(sem, rc)                                          \
    WEFT__WITH((sem), WEFT__GUARD_SEM, weft_semaphore_acquire((sem), WEFT_FOREVER), rc)

#ifdef __cplusplus
}
#endif

#endif /* WEFT_SYNC_H */
