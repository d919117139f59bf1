/* weft: a token-bucket rate limiter that tasks wait on.
 *
 * The bucket holds up to `burst` tokens and refills at `rate` tokens a
 * second. weft_limiter_acquire(l, n, ...) takes n tokens, waiting (the
 * task, not its worker) until they have refilled. Tasks are served in the
 * order they ask; a task that asks first gets its tokens first even if
 * it asks for more. A wait that is cancelled or times out gives its
 * tokens back, to whoever asks next (those already waiting keep their
 * turns).
 */
#ifndef WEFT_LIMITER_H
#define WEFT_LIMITER_H

#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_limiter weft_limiter;

/* rate: tokens per second (> 0, at most 1e9); burst: the bucket's size
 * (1..INT32_MAX), full at first; a full bucket must refill within 1e9
 * seconds (burst / rate <= 1e9). Returns 0, -EINVAL or -ENOMEM. */
WEFT_EXPORT int weft_limiter_create(weft_limiter **limiter, double rate,
                                    unsigned burst);
/* -EBUSY (and nothing done) while a task waits on it. */
WEFT_EXPORT int weft_limiter_destroy(weft_limiter *limiter);

/* Takes n tokens (1..burst), waiting until they are there. timeout_ms:
 * WEFT_FOREVER, 0, or milliseconds; when the tokens cannot be there in
 * time it fails at once with -ETIMEDOUT, taking none. Returns 0,
 * -ETIMEDOUT, -ECANCELED, -ENOMEM (no timer), -EINVAL (n or timeout out
 * of range), -EPERM (not in a task), -EOVERFLOW (the tokens would be
 * there more than 2^62 ns, about 146 years, from now: reserved by the
 * tasks already waiting). */
WEFT_EXPORT int weft_limiter_acquire(weft_limiter *limiter, unsigned n,
                                     int64_t timeout_ms);
/* Takes n tokens if they are there now (and nobody waits): -EAGAIN if
 * not. Callable from any thread. */
WEFT_EXPORT int weft_limiter_try_acquire(weft_limiter *limiter, unsigned n);
/* Tokens in the bucket now (0 while tasks wait), or -EINVAL. */
WEFT_EXPORT int weft_limiter_available(weft_limiter *limiter);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_LIMITER_H */
