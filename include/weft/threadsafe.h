/* weft: reaching the runtime from threads that are not its workers (pool
 * threads running blocking functions, threads the program started):
 * asyncio's run_coroutine_threadsafe. */
#ifndef WEFT_THREADSAFE_H
#define WEFT_THREADSAFE_H

#include <stdint.h>

#include "common.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* weft_spawn_ex() from any thread: starts fn(arg) as a task of the running
 * runtime. From a worker it is weft_spawn_ex. If task is not NULL it
 * receives a handle holding one reference. Returns 0, -EINVAL, -ESRCH (no
 * runtime is running), -ESHUTDOWN (it is ending) or -ENOMEM. */
WEFT_EXPORT int weft_spawn_threadsafe(weft_task **task, weft_fn fn, void *arg,
                                      const weft_spawn_opts *opts);

/* Blocks the calling thread, which must not be one of the runtime's
 * workers, until task finishes or timeout_ms (WEFT_FOREVER: no limit)
 * passes; the task is not cancelled by a timeout. Returns 0 and stores
 * its result in *result (if not NULL), or returns its error, -ETIMEDOUT,
 * -EINVAL, or -EPERM (called on a worker: use weft_await there). */
WEFT_EXPORT int weft_task_join(weft_task *task, void **result,
                               int64_t timeout_ms);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_THREADSAFE_H */
