/* weft: time and timers. */
#ifndef WEFT_TIME_H
#define WEFT_TIME_H

#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Suspends the calling task for at least ms milliseconds; the worker runs
 * other tasks meanwhile. weft_sleep(0) is weft_yield().
 * Returns 0, -EINVAL (ms < 0), -EPERM (not in a task), -ENOMEM, or
 * -ECANCELED / -ETIMEDOUT (cancelled, or a deadline passed, meanwhile). */
WEFT_EXPORT int weft_sleep(int64_t ms);

/* Milliseconds on a monotonic clock with an arbitrary origin, for
 * measuring intervals and computing deadlines. Callable from any thread. */
WEFT_EXPORT int64_t weft_now(void);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_TIME_H */
