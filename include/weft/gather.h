/* weft: waiting for many tasks: gather, wait, as_completed. */
#ifndef WEFT_GATHER_H
#define WEFT_GATHER_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What one task ended with. */
typedef struct weft_outcome {
    void *result;   /* its result, or NULL if it failed */
    int err;        /* 0, or its error (-ECANCELED if cancelled) */
} weft_outcome;

/* weft_gather modes, as asyncio.gather's return_exceptions=. */
typedef enum weft_gather_mode {
    WEFT_GATHER_FAIL_FAST = 0, /* the first error cancels the others */
    WEFT_GATHER_COLLECT = 1,   /* every result and error, per task */
} weft_gather_mode;

/* asyncio.gather(): waits for the n tasks and stores each one's outcome
 * in out[i]. WEFT_GATHER_FAIL_FAST: the first task to fail cancels the
 * others, which are awaited, and its error is returned. COLLECT: returns
 * 0; errors are in out[]. Cancelling (or timing out) the gathering task
 * cancels the tasks and waits for them, then returns -ECANCELED (or
 * -ETIMEDOUT). Returns at once for n == 0. Errors: -EINVAL, -EPERM (not
 * in a task), -EDEADLK (the caller is among the tasks), -ENOMEM. */
WEFT_EXPORT int weft_gather(weft_task *const *tasks, size_t n,
                            weft_gather_mode mode, weft_outcome *out);

/* weft_wait modes, as asyncio.wait's return_when=. */
typedef enum weft_wait_mode {
    WEFT_WAIT_FIRST_COMPLETED = 0,
    WEFT_WAIT_FIRST_EXCEPTION = 1, /* the first to fail (a cancelled task
                                      did not fail), or all completed */
    WEFT_WAIT_ALL_COMPLETED = 2,
} weft_wait_mode;

/* asyncio.wait(): waits until mode is met or timeout_ms passes
 * (WEFT_FOREVER: no limit), then reorders tasks[] so that the *ndone
 * finished ones come first and the pending ones after; pending tasks are
 * not cancelled. Returns 0 (also on time-out), -ECANCELED or -ETIMEDOUT if
 * the caller was cancelled or an enclosing timeout expired (tasks[] is
 * still reordered), -EINVAL, -EPERM, -EDEADLK, -ENOMEM. Returns at once
 * for n == 0. */
WEFT_EXPORT int weft_wait(weft_task **tasks, size_t n, weft_wait_mode mode,
                          size_t *ndone, int64_t timeout_ms);

/* asyncio.as_completed(): an iterator over tasks in the order they finish. */
typedef struct weft_as_completed weft_as_completed;

/* Starts iterating over n tasks (n may be 0). The iterator belongs to the
 * calling task. Returns 0, -EINVAL, -EPERM, -EDEADLK or -ENOMEM. */
WEFT_EXPORT int weft_as_completed_create(weft_as_completed **it,
                                         weft_task *const *tasks, size_t n);

/* The next task to finish (a borrowed handle), waiting up to timeout_ms
 * (WEFT_FOREVER: no limit). Returns 0, -ENODATA once every task has been
 * handed out, -ETIMEDOUT, -ECANCELED, -EINVAL or -EPERM. */
WEFT_EXPORT int weft_as_completed_next(weft_as_completed *it,
                                       weft_task **task, int64_t timeout_ms);

/* Ends the iteration (at any point) and frees the iterator. The tasks not
 * yet handed out keep running. Returns 0, -EINVAL, or -EPERM (not the
 * iterator's task). */
WEFT_EXPORT int weft_as_completed_destroy(weft_as_completed *it);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_GATHER_H */
