/* weft: futures: a bare awaitable result (asyncio's loop.create_future(),
 * Tokio's oneshot channel).
 *
 * A future is completed exactly once, with a value or an error, from any
 * thread or callback; tasks await it. It is what wraps a callback-based C
 * library into a task:
 *
 *     static void on_reply(void *ctx, struct reply *r)    // any thread
 *     {
 *         weft_future *f = ctx;
 *         if (weft_future_set_result(f, r) < 0)   // nobody waits any more
 *             free_reply(r);
 *         weft_future_unref(f);                   // the callback's reference
 *     }
 *
 *     weft_future *f;
 *     weft_future_create(&f);
 *     lib_request(req, on_reply, weft_future_ref(f));
 *     int rc = weft_future_await(f, (void **)&reply, 5000);
 *     weft_future_unref(f);
 *
 * Futures are reference counted: weft_future_create gives one reference;
 * whoever may still complete or await the future holds one.
 */
#ifndef WEFT_FUTURE_H
#define WEFT_FUTURE_H

#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_future weft_future;

/* Creates a pending future holding one reference. Callable from any
 * thread. Returns 0, -EINVAL or -ENOMEM. */
WEFT_EXPORT int weft_future_create(weft_future **future);

/* Adds a reference and returns future (NULL stays NULL). */
WEFT_EXPORT weft_future *weft_future_ref(weft_future *future);

/* Drops a reference; the last one frees the future (a value it still
 * holds is not freed). NULL is ignored. */
WEFT_EXPORT void weft_future_unref(weft_future *future);

/* Completes the future with value, or with the error err (< 0), and
 * wakes its awaiters. Callable from any thread and from callbacks.
 * Returns 0; -EALREADY if it was completed already, or -ECANCELED if it
 * was cancelled: the value was not taken and is still the caller's;
 * -EINVAL. */
WEFT_EXPORT int weft_future_set_result(weft_future *future, void *value);
WEFT_EXPORT int weft_future_set_error(weft_future *future, int err);

/* Cancels a pending future: it completes with -ECANCELED, and a later
 * set_result or set_error fails with -ECANCELED. Returns 0, -EALREADY (it
 * was completed or cancelled already), -EINVAL. Callable from any
 * thread. */
WEFT_EXPORT int weft_future_cancel(weft_future *future);

/* Suspends the calling task until the future completes or timeout_ms
 * passes (WEFT_FOREVER: no limit; 0: do not wait). Returns 0 with its
 * value in *value (if value is not NULL), or its error (-ECANCELED if it
 * was cancelled). As awaiting a task does in asyncio, an await that ends
 * otherwise cancels the future: -ETIMEDOUT when timeout_ms passes,
 * -ECANCELED or -ETIMEDOUT when the caller is cancelled or an enclosing
 * deadline passes. Any number of tasks may await one future. -EINVAL,
 * -EPERM (not in a task). */
WEFT_EXPORT int weft_future_await(weft_future *future, void **value,
                                  int64_t timeout_ms);

/* The outcome of a completed future without waiting: 0 and its value, its
 * error, or -EINPROGRESS if it is still pending; -EINVAL. Callable from
 * any thread. */
WEFT_EXPORT int weft_future_result(weft_future *future, void **value);

/* 1 if the future is completed (with a value, an error, or cancelled), 0
 * if pending, -EINVAL. Callable from any thread. */
WEFT_EXPORT int weft_future_is_done(weft_future *future);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_FUTURE_H */
