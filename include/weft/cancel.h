/* weft: cancellation, timeouts and shields.
 *
 * Cancellation in weft is asyncio's: weft_cancel() asks a task to stop,
 * and the request arrives as -ECANCELED at the task's next suspension
 * point (await, sleep, yield, and every wait), and again at every later
 * one until the task ends. A task awaiting other tasks passes its
 * cancellation on to them and waits for them to finish; weft_await_shielded
 * awaits without passing it on.
 *
 * Timeouts are scopes, like asyncio.timeout(): once the deadline of an
 * open timeout scope passes, every suspension inside it fails with
 * -ETIMEDOUT. A shield scope suspends the cancellation of the task and the
 * deadlines of enclosing scopes, so cleanup code can await. Scopes live in
 * caller storage (a weft_scope, usually on the stack), nest, and are left
 * in the reverse order they were entered. See doc/cancellation.md.
 */
#ifndef WEFT_CANCEL_H
#define WEFT_CANCEL_H

#include <stdint.h>

#include "common.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Storage for one open scope; its contents are private. */
typedef struct weft_scope {
    uint64_t opaque[32];
} weft_scope;

/* A deadline that never comes, for weft_timeout_reschedule(). */
#define WEFT_NEVER INT64_MAX

/* Asks task to stop: it gets -ECANCELED at its next suspension point, or
 * never starts if it has not yet. Unless it fails with another error, it
 * then ends cancelled, and its awaiters get -ECANCELED. Returns 0, or
 * -EALREADY if the task had already finished (nothing changes), or
 * -EINVAL. Callable from any thread. */
WEFT_EXPORT int weft_cancel(weft_task *task);

/* 1 if weft_cancel() has been called on task, 0 if not, -EINVAL. */
WEFT_EXPORT int weft_task_cancelled(weft_task *task);

/* Opens a timeout scope whose deadline is timeout_ms from now (asyncio's
 * timeout()) or at deadline_ms on weft_now()'s clock (timeout_at()).
 * Returns 0, -EINVAL (NULL scope, negative timeout) or -EPERM (not in a
 * task). */
WEFT_EXPORT int weft_timeout_enter(weft_scope *scope, int64_t timeout_ms);
WEFT_EXPORT int weft_timeout_enter_at(weft_scope *scope, int64_t deadline_ms);

/* Moves the deadline of an open timeout scope of the calling task
 * (WEFT_NEVER: no deadline). Returns 0, -EINVAL or -EPERM. */
WEFT_EXPORT int weft_timeout_reschedule(weft_scope *scope, int64_t deadline_ms);

/* Opens a shield scope: inside it, suspensions neither see the task's
 * cancellation nor the deadlines of enclosing scopes (those opened inside
 * still apply). Returns 0, -EINVAL or -EPERM. */
WEFT_EXPORT int weft_shield_enter(weft_scope *scope);

/* Leaves the calling task's innermost scope, which must be scope. Returns
 * 1 if it was a timeout scope whose deadline failed a suspension inside
 * it, 0 otherwise, or -EINVAL (not the innermost open scope) or -EPERM. */
WEFT_EXPORT int weft_scope_leave(weft_scope *scope);

/* asyncio.wait_for(): weft_await() with a timeout. If the task has not
 * finished within timeout_ms, cancels it, waits for it to finish, and
 * returns -ETIMEDOUT. Otherwise as weft_await(). */
WEFT_EXPORT int weft_wait_for(weft_task *task, int64_t timeout_ms,
                              void **result);

/* asyncio.shield(): awaits task, but if the caller is cancelled or times
 * out meanwhile, returns -ECANCELED or -ETIMEDOUT at once and leaves task
 * running, its result kept for anyone else who awaits it. */
WEFT_EXPORT int weft_await_shielded(weft_task *task, void **result);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_CANCEL_H */
