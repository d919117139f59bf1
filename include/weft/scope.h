/* weft: timeouts and shields: cancellation scopes.
 *
 * Timeouts are scopes, like asyncio.timeout(): once the deadline of an
 * open timeout scope passes, every suspension inside it fails with
 * -ETIMEDOUT. A shield scope suspends the cancellation of the task and the
 * deadlines of enclosing scopes, so cleanup code can await. Scopes live in
 * caller storage (a weft_scope, usually on the stack), nest, and are left
 * in the reverse order they were entered, before the function that
 * entered them returns; the WEFT_WITH_* macros below make that automatic.
 * See doc/cancellation.md. Cancelling a task is in weft/task.h.
 */
#ifndef WEFT_SCOPE_H
#define WEFT_SCOPE_H

#include <stdint.h>

#include "common.h"
#include "errno.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Storage for one open scope; its contents are private. */
typedef struct weft_scope {
    uint64_t opaque[32];
} weft_scope;

/* Opens a timeout scope whose deadline is timeout_ms from now (asyncio's
 * timeout()) or deadline_ms on weft_now()'s clock (timeout_at());
 * WEFT_FOREVER: no deadline, for one set later. Returns 0, -EINVAL (NULL
 * scope, a negative time other than WEFT_FOREVER) or -EPERM (not in a
 * task). */
WEFT_EXPORT int weft_timeout_enter(weft_scope *scope, int64_t timeout_ms);
WEFT_EXPORT int weft_timeout_enter_at(weft_scope *scope, int64_t deadline_ms);

/* Moves the deadline of an open timeout scope of the calling task to
 * deadline_ms (WEFT_FOREVER: none). Returns 0, -EINVAL or -EPERM. */
WEFT_EXPORT int weft_timeout_reschedule(weft_scope *scope, int64_t deadline_ms);

/* Opens a shield scope: inside it, suspensions neither see the task's
 * cancellation nor the deadlines of enclosing scopes (those opened inside
 * still apply). Returns 0, -EINVAL or -EPERM. */
WEFT_EXPORT int weft_shield_enter(weft_scope *scope);

/* Leaves the calling task's innermost scope, which must be scope. Returns
 * 1 if it was a timeout scope whose deadline failed a suspension inside
 * it, 0 otherwise, or -EINVAL (not the innermost open scope) or -EPERM. */
WEFT_EXPORT int weft_scope_leave(weft_scope *scope);

/* --- scoped blocks: `async with asyncio.timeout(s):` -------------------------
 *
 *     int rc;
 *     WEFT_WITH_TIMEOUT(500, rc) {
 *         rc = fetch(url);          // suspensions here fail with
 *     }                             // -ETIMEDOUT after 500 ms
 *     if (rc == -ETIMEDOUT) ...     // fetch was cut short
 *
 * The scope is entered before the block and left however the block is
 * left: its end, break, continue, return, goto. rc receives the enter's
 * result, and the block runs only if it is 0; what the block does with
 * rc after that is its own (the deadline shows as -ETIMEDOUT from the
 * suspensions it cut short). `break` and `continue` leave the block, not
 * a loop around it. Needs GCC or clang (cleanup attribute). */
typedef struct weft_scope_guard {
    weft_scope scope;
    int entered;    /* the scope is open */
    int once;       /* the block has yet to run */
} weft_scope_guard;

static inline void weft_scope_guard_leave(weft_scope_guard *g)
{
    if (g->entered) {
        g->entered = 0;
        (void)weft_scope_leave(&g->scope);
    }
}

#define WEFT__SCOPE_CAT2(a, b) a##b
#define WEFT__SCOPE_CAT(a, b) WEFT__SCOPE_CAT2(a, b)
#define WEFT__SCOPE_VAR WEFT__SCOPE_CAT(weft__scope_guard_, __LINE__)
/* rc is set to 0 first so that it is set on every path a compiler can
 * see (clang's -Wsometimes-uninitialized cannot tell that the condition
 * runs at least once); the enter's result then replaces it. */
#define WEFT__WITH_SCOPE(enter, weft__rc)                                     \
    for (weft_scope_guard WEFT__SCOPE_VAR                                     \
             __attribute__((cleanup(weft_scope_guard_leave))) =               \
                 { .once = ((weft__rc) = 0, 1) };                             \
         WEFT__SCOPE_VAR.once &&                                              \
         (WEFT__SCOPE_VAR.entered = ((weft__rc) = (enter)) == 0);             \
         WEFT__SCOPE_VAR.once = 0)

/* The block under a timeout of timeout_ms, or a deadline at deadline_ms. */
#define WEFT_WITH_TIMEOUT(timeout_ms, weft__rc)                               \
    WEFT__WITH_SCOPE(weft_timeout_enter(&WEFT__SCOPE_VAR.scope, (timeout_ms)), \
                     weft__rc)
#define WEFT_WITH_TIMEOUT_AT(deadline_ms, weft__rc)                           \
    WEFT__WITH_SCOPE(weft_timeout_enter_at(&WEFT__SCOPE_VAR.scope,            \
                                           (deadline_ms)), weft__rc)
/* The block shielded from cancellation and enclosing deadlines: cleanup
 * that must finish (asyncio's `await shield(...)` for a whole block). */
#define WEFT_WITH_SHIELD(weft__rc)                                            \
    WEFT__WITH_SCOPE(weft_shield_enter(&WEFT__SCOPE_VAR.scope), weft__rc)

#ifdef __cplusplus
}
#endif

#endif /* WEFT_SCOPE_H */
