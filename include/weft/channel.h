/* weft: channels between tasks, as Go's: a closable FIFO pipe, buffered
 * or not; safe for tasks on different worker threads.
 *
 * A channel is a FIFO queue (weft/queue.h) whose capacity may be 0
 * (unbuffered: a send waits until a receiver takes the item) and whose
 * shutdown is its close: senders fail from then on, receivers drain what
 * is buffered, then fail. Items are void pointers, owned as a queue's
 * are. Every wait takes timeout_ms last (WEFT_FOREVER, 0 or milliseconds)
 * and leaves no trace when it fails.
 */
#ifndef WEFT_CHANNEL_H
#define WEFT_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_channel weft_channel;

/* Options for weft_channel_create(). Zero-initialise it; NULL means all
 * defaults. */
typedef struct weft_channel_opts {
    /* Called on each item still buffered when the channel is destroyed;
     * NULL: they are forgotten. */
    void (*dispose)(void *item);
    void *reserved[4]; /* must be zero */
} weft_channel_opts;

/* Creates a channel buffering up to capacity items (0: unbuffered).
 * Returns 0, -EINVAL or -ENOMEM. */
WEFT_EXPORT int weft_channel_create(weft_channel **chan, size_t capacity,
                                    const weft_channel_opts *opts);
/* -EBUSY while a task waits on it. */
WEFT_EXPORT int weft_channel_destroy(weft_channel *chan);
/* Returns 0, -ESHUTDOWN (closed), -ETIMEDOUT, -ECANCELED, -ENOMEM (the
 * buffer could not grow), -EINVAL, -EPERM. */
WEFT_EXPORT int weft_channel_send(weft_channel *chan, void *item,
                                  int64_t timeout_ms);
/* -EAGAIN if it would wait. Callable from any thread. */
WEFT_EXPORT int weft_channel_try_send(weft_channel *chan, void *item);
/* Returns 0, -ESHUTDOWN (closed and drained), -ETIMEDOUT, -ECANCELED,
 * -EINVAL, -EPERM. */
WEFT_EXPORT int weft_channel_recv(weft_channel *chan, void **item,
                                  int64_t timeout_ms);
/* -EAGAIN if it would wait. Callable from any thread. */
WEFT_EXPORT int weft_channel_try_recv(weft_channel *chan, void **item);
/* Closes the channel: senders fail with -ESHUTDOWN, waiting ones at once
 * and keeping their items; receivers drain what is buffered, then get
 * -ESHUTDOWN. Closing twice is harmless. Callable from any thread. */
WEFT_EXPORT int weft_channel_close(weft_channel *chan);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_CHANNEL_H */
