/* Thread pools for blocking functions (weft/executor.h): the internals
 * the runtime and weft_fail need. */
#ifndef WEFT_EXEC_EXECUTOR_H
#define WEFT_EXEC_EXECUTOR_H

#include <stdbool.h>

#include "core/internal.h"

struct weft__runtime;

/* The runtime's default pool, created on first use with
 * rt->blocking_threads threads at most. Returns NULL if it could not be
 * created (out of memory). */
struct weft_executor *weft__executor_default(struct weft__runtime *rt);

/* Shuts down and frees the default pool, if it was created: called by
 * weft_run once every task has ended, so it waits for abandoned jobs. */
void weft__executor_default_destroy(struct weft__runtime *rt);

/* Queues fn(arg) on ex as a job that nobody waits for (a file stream's
 * reads and writes, io/file.c), slow or quick. cleanup(arg, result, err)
 * ends it, exactly once: on its pool thread once fn has returned (err is
 * 0 unless fn failed with weft_fail); or, unrun, with result NULL and err
 * < 0: -ESHUTDOWN when a shutdown drops it, or a thread start's error
 * when no thread was left to run it (then on the thread of whichever
 * submitter found that). Returns 0, or -ENOMEM, -ESHUTDOWN, -EAGAIN with
 * nothing queued and cleanup not called. */
int weft__executor_detach(struct weft_executor *ex, weft_fn fn, void *arg,
                          weft_job_cleanup cleanup, bool slow);

#endif /* WEFT_EXEC_EXECUTOR_H */
