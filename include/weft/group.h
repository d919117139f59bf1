/* weft: task groups (structured concurrency), as asyncio.TaskGroup and
 * Trio's nurseries. */
#ifndef WEFT_GROUP_H
#define WEFT_GROUP_H

#include <stddef.h>
#include <sys/types.h>

#include "common.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_group weft_group;

/* Creates an empty group. Created in a task, that task is the group's
 * body (asyncio's `async with TaskGroup()` block): when a child fails
 * before the body reaches weft_group_wait, the body is cancelled at its
 * next suspension point, as the siblings are, and weft_group_wait takes
 * that cancellation back. Returns 0, -EINVAL or -ENOMEM. */
WEFT_EXPORT int weft_group_create(weft_group **group);

/* Spawns a child into the group, from any task (a child included), as
 * weft_spawn_ex (opts may be NULL). task, if not NULL, receives a handle of
 * its own. Returns 0, the errors of weft_spawn_ex, -ECANCELED if the group
 * is cancelling its children (one failed, or its waiter was cancelled),
 * or -ESHUTDOWN if the group has been waited for. */
WEFT_EXPORT int weft_group_spawn(weft_group *group, weft_task **task,
                                 weft_fn fn, void *arg,
                                 const weft_spawn_opts *opts);

/* Waits until every child has finished, children they spawn into the
 * group included. The first child to fail cancels its siblings (and the
 * body, see weft_group_create). If the waiting task is cancelled or
 * times out, the children are cancelled and still awaited: none outlives
 * the wait. Returns 0 if no child failed, else the first child's error (a
 * child cancelled by the group is not a failure, and neither is the
 * body's cancellation by the group); else -ECANCELED or -ETIMEDOUT if the
 * waiter itself was interrupted; -EINVAL, -EPERM (not in a task), or
 * -EALREADY (waited for already). */
WEFT_EXPORT int weft_group_wait(weft_group *group);

/* The number of children that failed (every error is kept), or -EINVAL. */
WEFT_EXPORT ssize_t weft_group_error_count(weft_group *group);

/* The i-th failed child, in the order they failed: returns its error and
 * stores the child in *task (a borrowed handle; weft_task_errmsg gives
 * the message). Returns -EINVAL if i is out of range. */
WEFT_EXPORT int weft_group_error(weft_group *group, size_t i,
                                 weft_task **task);

/* Frees a group. Returns 0, -EINVAL, or -EBUSY (and frees nothing) while
 * children are running and it has not been waited for. */
WEFT_EXPORT int weft_group_destroy(weft_group *group);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_GROUP_H */
