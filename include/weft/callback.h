/* weft: plain callbacks on the current worker: asyncio's call_soon and
 * call_later. */
#ifndef WEFT_CALLBACK_H
#define WEFT_CALLBACK_H

#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A scheduled callback, for cancelling it. */
typedef struct weft_handle weft_handle;

typedef void (*weft_callback)(void *arg);

/* Runs fn(arg) on the calling worker's own stack, after the ready tasks
 * have had their turn (call_soon) or delay_ms from now (call_later). fn is
 * not a task: it must not suspend, and should be short. If handle is not
 * NULL it receives a handle, which weft_handle_cancel or
 * weft_handle_release must be given once. Callbacks still pending when
 * weft_run returns are dropped. Returns 0, -EINVAL, -EPERM (not on a
 * worker of a running runtime) or -ENOMEM. */
WEFT_EXPORT int weft_call_soon(weft_callback fn, void *arg,
                               weft_handle **handle);
WEFT_EXPORT int weft_call_later(int64_t delay_ms, weft_callback fn, void *arg,
                                weft_handle **handle);

/* Cancels the callback unless it has run already, and releases handle.
 * Returns 0 if it will not run (cancelled now, or dropped when weft_run
 * returned), -EALREADY if it had run (or is running), or -EINVAL.
 * Callable from any thread. */
WEFT_EXPORT int weft_handle_cancel(weft_handle *handle);

/* Releases handle without cancelling; the callback runs as scheduled.
 * NULL is ignored. Callable from any thread. */
WEFT_EXPORT void weft_handle_release(weft_handle *handle);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_CALLBACK_H */
