/* weft: starting and stopping the runtime. */
#ifndef WEFT_RUNTIME_H
#define WEFT_RUNTIME_H

#include <stddef.h>

#include "common.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Options for weft_run(). Zero-initialise it: every zero field means "the
 * default", and a NULL opts means all defaults. */
typedef struct weft_run_opts {
    unsigned workers;   /* worker threads; 0: $WEFT_WORKERS, else 1 */
    size_t stack_size;  /* default task stack in bytes; 0: $WEFT_STACK_SIZE,
                           else 64 KiB */
    void *reserved[8];  /* must be zero */
} weft_run_opts;

/* Runs main(arg) as the first task on the calling thread, which becomes
 * worker 0, and returns when main and every task it left running have
 * finished. Returns main's status: 0 if it returned, its error if it
 * failed. Before main runs it may also return -EINVAL (bad option or
 * environment variable), -EBUSY (a runtime is already running in this
 * process), -ENOTSUP or -ENOMEM. Once it has returned it can be called
 * again. */
WEFT_EXPORT int weft_run(weft_fn main, void *arg, const weft_run_opts *opts);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_RUNTIME_H */
