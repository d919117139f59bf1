/* weft: introspection: task dumps. Debug mode is a run option (see
 * weft/runtime.h) or WEFT_DEBUG=1. */
#ifndef WEFT_DEBUG_H
#define WEFT_DEBUG_H

#include <stdio.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes one line per live task of the running runtime to out: id, name,
 * state (pending, ready, running, waiting), the worker it is on or last
 * ran on, what it waits on (sleep, task, tasks, group, lock, queue, fd,
 * to_thread, ...) and for how long. asyncio's all_tasks(), printed. Returns the
 * number of tasks written, -EINVAL (out is NULL) or -ESRCH (no runtime
 * is running). Callable from any thread; in debug mode, SIGUSR1 writes it
 * to stderr. */
WEFT_EXPORT int weft_dump(FILE *out);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_DEBUG_H */
