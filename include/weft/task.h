/* weft: tasks: spawning, awaiting, cancelling, and what a task is.
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
 * task; it is not cancelled. A handle carries its task's generation: one
 * used after its last reference was dropped is reported, never mistaken
 * for the task that reuses its memory.
 *
 * Cancellation is asyncio's: weft_cancel() asks a task to stop, and the
 * request arrives as -ECANCELED at the task's next suspension point, and
 * again at every later one, until the task ends or takes the request back
 * with weft_task_uncancel().
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

/* weft_spawn_opts.flags: a compact task gives its stack's memory back
 * while it sleeps in weft_sleep(), keeping only the bytes in use (copied
 * out, and back in when it wakes): for many tasks that sleep for long
 * periods. While it sleeps, no other task or thread may use a pointer
 * into its stack. See weft_spawn(3). */
#define WEFT_SPAWN_COMPACT 0x2u

/* Options for weft_spawn_ex(). Zero-initialise it: every zero field means
 * "the default". */
typedef struct weft_spawn_opts {
    const char *name;   /* copied; NULL gives "task-<id>" */
    size_t stack_size;  /* bytes; 0 takes the runtime default. Rounded up
                           to a power of two, WEFT_STACK_MIN..WEFT_STACK_MAX */
    unsigned flags;     /* WEFT_SPAWN_PINNED, WEFT_SPAWN_COMPACT, or 0 */
    void *reserved[5];  /* must be zero */
} weft_spawn_opts;

/* --- spawning ------------------------------------------------------------ */

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

/* weft_spawn_ex() from any thread (asyncio's run_coroutine_threadsafe):
 * starts fn(arg) as a task of the running runtime. From a worker it is
 * weft_spawn_ex. Returns 0, -EINVAL, -ESRCH (no runtime is running),
 * -ESHUTDOWN (it is ending) or -ENOMEM. */
WEFT_EXPORT int weft_spawn_threadsafe(weft_task **task, weft_fn fn, void *arg,
                                      const weft_spawn_opts *opts);

/* --- awaiting -------------------------------------------------------------- */

/* Suspends the calling task until task finishes. Returns 0 and stores the
 * task's result in *result (if result is not NULL), or returns the task's
 * error (*result is then NULL; weft_task_errmsg() gives the message).
 * A finished task may be awaited any number of times, by any task.
 * Errors: -EINVAL, -EPERM (not in a task), -EDEADLK (awaiting yourself),
 * -ECANCELED or -ETIMEDOUT (the caller was cancelled or its deadline
 * passed: task is then cancelled and awaited to its end, as asyncio's
 * await does; weft_await_shielded() leaves it running). */
WEFT_EXPORT int weft_await(weft_task *task, void **result);

/* asyncio.shield(): awaits task, but if the caller is cancelled or times
 * out meanwhile, returns -ECANCELED or -ETIMEDOUT at once and leaves task
 * running, its result kept for anyone else who awaits it. */
WEFT_EXPORT int weft_await_shielded(weft_task *task, void **result);

/* asyncio.wait_for(): weft_await() with a time limit. If the task has not
 * finished within timeout_ms, cancels it, waits for it to finish, and
 * returns -ETIMEDOUT. A task that has finished already gives its outcome
 * whatever the timeout, 0 included. Otherwise as weft_await(). */
WEFT_EXPORT int weft_wait_for(weft_task *task, void **result,
                              int64_t timeout_ms);

/* Blocks the calling thread, which must not be one of the runtime's
 * workers, until task finishes or timeout_ms (WEFT_FOREVER: no limit)
 * passes; the task is not cancelled by a timeout. Returns as weft_await,
 * or -ETIMEDOUT, -EINVAL, or -EPERM (called on a worker: use weft_await
 * there). */
WEFT_EXPORT int weft_task_join(weft_task *task, void **result,
                               int64_t timeout_ms);

/* The outcome of a finished task without waiting (asyncio's
 * task.result() and task.exception()): 0 and its result in *result, or
 * its error; -EINPROGRESS if it has not finished (then nothing is
 * retrieved), -EINVAL. */
WEFT_EXPORT int weft_task_result(weft_task *task, void **result);

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

/* --- cancelling ------------------------------------------------------------ */

/* Asks task to stop: it gets -ECANCELED at its next suspension point, or
 * never starts if it has not yet. Unless it fails with another error, or
 * takes every request back (weft_task_uncancel), it then ends cancelled
 * and its awaiters get -ECANCELED. Each call is one more request (as
 * asyncio's cancel()). Returns 0, -EALREADY if the task had finished
 * (nothing changes), or -EINVAL. Callable from any thread. */
WEFT_EXPORT int weft_cancel(weft_task *task);

/* The cancellation requests made of task and not taken back (asyncio's
 * task.cancelling()): 0 if none, or -EINVAL. Callable from any thread. */
WEFT_EXPORT int weft_task_cancelling(weft_task *task);

/* Takes one cancellation request back (asyncio's task.uncancel()), for a
 * task that handled its cancellation and goes on: once none is left, its
 * suspensions no longer fail with -ECANCELED and it ends as it returns.
 * Returns the requests left, or -EINVAL. Meant for the task itself (and
 * for what manages its scopes); callable from any thread. */
WEFT_EXPORT int weft_task_uncancel(weft_task *task);

/* --- the task record ------------------------------------------------------ */

/* The calling task, or NULL outside a task. The handle is borrowed: take a
 * reference with weft_task_ref() to keep it. */
WEFT_EXPORT weft_task *weft_current(void);

/* Adds a reference to task and returns it; NULL for NULL or a stale
 * handle (reported). */
WEFT_EXPORT weft_task *weft_task_ref(weft_task *task);

/* Drops a reference; the last one frees the task. NULL is ignored.
 * Returns 0, or -EINVAL for a handle whose references were all dropped
 * already (a double release; the mistake is reported on stderr). */
WEFT_EXPORT int weft_task_unref(weft_task *task);

/* The task's name, or NULL if task is NULL or stale. The string stays
 * valid until the name is changed or the last reference is dropped. */
WEFT_EXPORT const char *weft_task_name(weft_task *task);

/* Renames a task (truncated to WEFT_TASK_NAME_MAX bytes). Returns 0,
 * -EINVAL or -ENOMEM (the old name stays). Not safe against a concurrent
 * weft_task_name() of the same task from another thread. */
WEFT_EXPORT int weft_task_set_name(weft_task *task, const char *name);

/* The task's id: unique in the process, never 0. 0 for NULL or a stale
 * handle. */
WEFT_EXPORT uint64_t weft_task_id(weft_task *task);

/* 1 if the task has finished (returned, failed or was cancelled), 0 if
 * not, -EINVAL. */
WEFT_EXPORT int weft_task_is_done(weft_task *task);

/* 1 if the task has finished cancelled (asyncio's task.cancelled()), 0 if
 * not, -EINVAL. */
WEFT_EXPORT int weft_task_is_cancelled(weft_task *task);

/* The message a failed task gave weft_fail(), or NULL if it has not failed
 * or gave none. Valid while you hold a reference. */
WEFT_EXPORT const char *weft_task_errmsg(weft_task *task);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_TASK_H */
