/* weft: plain callbacks on the current worker: asyncio's call_soon and
 * call_later. */
#ifndef WEFT_CALLBACK_H
#define WEFT_CALLBACK_H

#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A scheduled callback, for cancelling it: a reference-counted handle. */
typedef struct weft_handle weft_handle;

typedef void (*weft_callback)(void *arg);

/* Runs fn(arg) on the calling worker's own stack, after the ready tasks
 * have had their turn (call_soon) or delay_ms from now (call_later, delay
 * >= 0). fn is not a task: it must not suspend, and should be short. If
 * handle is not NULL it receives a handle holding one reference, to be
 * dropped with weft_handle_unref. Callbacks still pending when weft_run
 * returns are dropped. Returns 0, -EINVAL, -EPERM (not on a worker of a
 * running runtime) or -ENOMEM. */
WEFT_EXPORT int weft_call_soon(weft_handle **handle, weft_callback fn,
                               void *arg);
WEFT_EXPORT int weft_call_later(weft_handle **handle, int64_t delay_ms,
                                weft_callback fn, void *arg);

/* Cancels the callback unless it has run already. Returns 0 if it will
 * not run (cancelled now, or dropped at the end of its runtime),
 * -EALREADY if it has run or is running, or -EINVAL. The handle stays
 * valid until unref'd. Callable from any thread. */
WEFT_EXPORT int weft_handle_cancel(weft_handle *handle);

/* Adds a reference to handle and returns it (NULL stays NULL). */
WEFT_EXPORT weft_handle *weft_handle_ref(weft_handle *handle);

/* Drops a reference; the callback runs as scheduled unless cancelled.
 * NULL is ignored. Callable from any thread. */
WEFT_EXPORT void weft_handle_unref(weft_handle *handle);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_CALLBACK_H */
