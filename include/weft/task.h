/* weft: tasks.
 *
 * A task is a stackful coroutine: a function running on its own stack that
 * suspends at await, sleep and yield while other tasks run. A task may
 * resume on a different worker thread from the one it suspended on, so
 * errno and thread identity are not stable across a suspension point (see
 * weft(7), "Migration").
 *
 * Task handles are reference counted. weft_spawn() gives the caller one
 * reference, released with weft_task_unref(). The runtime keeps its own
 * reference while the task runs, so dropping the handle early detaches the
 * task; it is not cancelled.
 */
#ifndef WEFT_TASK_H
#define WEFT_TASK_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_task weft_task;

/* A task body. Its return value is the task's result; to fail instead,
 * return weft_fail(err, fmt, ...). */
typedef void *(*weft_fn)(void *arg);

/* Smallest and largest stack a task may ask for, in bytes. */
#define WEFT_STACK_MIN ((size_t)16 << 10)
#define WEFT_STACK_MAX ((size_t)1 << 30)

/* The longest task name kept, in bytes; longer names are truncated. */
#define WEFT_TASK_NAME_MAX 47

/* weft_spawn_opts.flags: keep the task on the worker thread that spawned
 * it, for code that relies on thread-local state (OpenSSL's error queue,
 * for example). A pinned task is never stolen, and wakes from elsewhere
 * are sent back to its worker. */
#define WEFT_SPAWN_PINNED 0x1u

/* Options for weft_spawn_ex(). Zero-initialise it: every zero field means
 * "the default". */
typedef struct weft_spawn_opts {
    const char *name;   /* copied; NULL gives "task-<id>" */
    size_t stack_size;  /* bytes; 0 takes the runtime default. Rounded up
                           to a power of two, WEFT_STACK_MIN..WEFT_STACK_MAX */
    unsigned flags;     /* WEFT_SPAWN_PINNED, or 0 */
    void *reserved[5];  /* must be zero */
} weft_spawn_opts;

/* Starts fn(arg) as a new task and returns at once; the task first runs
 * when the caller next suspends, or sooner on another worker. If task is
 * not NULL it receives a handle holding one reference, stored before the
 * new task can start. Must be called from a task (or a callback of
 * weft_call_soon). Returns 0, -EINVAL, -EPERM (not in a task), -ENOMEM,
 * or -ESHUTDOWN (the runtime is ending). */
WEFT_EXPORT int weft_spawn(weft_task **task, weft_fn fn, void *arg);

/* weft_spawn() with options; opts may be NULL. */
WEFT_EXPORT int weft_spawn_ex(weft_task **task, weft_fn fn, void *arg,
                              const weft_spawn_opts *opts);

/* Suspends the calling task until task finishes. Returns 0 and stores the
 * task's result in *result (if result is not NULL), or returns the task's
 * error (*result is then NULL; weft_task_errmsg() gives the message).
 * A finished task may be awaited any number of times, by any task.
 * Errors: -EINVAL, -EPERM (not in a task), -EDEADLK (awaiting yourself),
 * -ECANCELED or -ETIMEDOUT (the caller was cancelled or its deadline
 * passed: task is then cancelled and awaited to its end, as asyncio's
 * await does; weft_await_shielded() leaves it running). */
WEFT_EXPORT int weft_await(weft_task *task, void **result);

/* Lets every other ready task run once, then resumes. Returns 0, -EPERM,
 * or -ECANCELED / -ETIMEDOUT (a pending cancellation or passed deadline). */
WEFT_EXPORT int weft_yield(void);

/* Records that the calling task failed with err (a negative error code)
 * and a printf-style message, and returns NULL so that a task body can end
 * with `return weft_fail(...)`. Awaiters get err and the message. A
 * non-negative err is recorded as -EINVAL. In a blocking function run by
 * weft_to_thread it fails that job (the message is dropped); elsewhere
 * outside a task it does nothing. */
WEFT_EXPORT void *weft_fail(int err, const char *fmt, ...) WEFT_PRINTF_LIKE(2, 3);

/* The calling task, or NULL outside a task. The handle is borrowed: take a
 * reference with weft_task_ref() to keep it. */
WEFT_EXPORT weft_task *weft_current(void);

/* Adds a reference to task and returns it (NULL stays NULL). */
WEFT_EXPORT weft_task *weft_task_ref(weft_task *task);

/* Drops a reference; the last one frees the task. NULL is ignored. */
WEFT_EXPORT void weft_task_unref(weft_task *task);

/* The task's name, or NULL if task is NULL. The string stays valid until
 * the name is changed or the last reference is dropped. */
WEFT_EXPORT const char *weft_task_name(weft_task *task);

/* Renames a task (truncated to WEFT_TASK_NAME_MAX bytes). Returns 0,
 * -EINVAL or -ENOMEM (the old name stays). Not safe against a concurrent weft_task_name() of the same task
 * from another thread. */
WEFT_EXPORT int weft_task_set_name(weft_task *task, const char *name);

/* The task's id: unique in the process, never 0. 0 for NULL. */
WEFT_EXPORT uint64_t weft_task_id(const weft_task *task);

/* 1 if the task has finished (returned or failed), 0 if not, -EINVAL for
 * NULL. */
WEFT_EXPORT int weft_task_done(weft_task *task);

/* The message a failed task gave weft_fail(), or NULL if it has not failed
 * or gave none. Valid while you hold a reference. */
WEFT_EXPORT const char *weft_task_errmsg(weft_task *task);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_TASK_H */
