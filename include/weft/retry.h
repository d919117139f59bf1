/* weft: retrying an operation with exponential back-off and jitter.
 *
 *     weft_retry_opts o = { .attempts = 5, .initial_ms = 100,
 *                           .max_ms = 2000, .timeout_ms = 10000 };
 *     int rc = weft_retry(fetch_once, &req, &o);
 *
 * The attempt runs in the calling task. After a failed attempt the task
 * sleeps initial_ms, then initial_ms x multiplier, ... (capped at max_ms),
 * each delay shortened by a random part of up to `jitter` of it, so that
 * many clients do not retry in lockstep.
 */
#ifndef WEFT_RETRY_H
#define WEFT_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One attempt: returns 0 on success or a negative error code. */
typedef int (*weft_attempt_fn)(void *arg);

/* Options for weft_retry(). Zero-initialise it: every zero field means
 * "the default", and a NULL opts means all defaults. */
typedef struct weft_retry_opts {
    unsigned attempts;    /* at most this many attempts; 0: 3 */
    int64_t initial_ms;   /* the first delay; 0: 100 (there is always one) */
    int64_t max_ms;       /* no delay is longer; 0: no cap */
    double multiplier;    /* each delay this times the last (1..1000); 0: 2 */
    double jitter;        /* 0..1: up to this fraction of each delay is
                             taken off at random; 0: none */
    int64_t timeout_ms;   /* the whole retry, attempts and delays, ends
                             after this long (-ETIMEDOUT); 0 (the default)
                             or WEFT_FOREVER: no limit */
    /* Whether an error is worth another attempt; NULL: every error but
     * -ECANCELED and -ETIMEDOUT. */
    bool (*retry_if)(int err, void *arg);
    /* Told about each failed attempt before its delay; may be NULL. */
    void (*on_retry)(unsigned attempt, int err, int64_t delay_ms, void *arg);
    void *arg;            /* for retry_if and on_retry */
    void *reserved[4];    /* must be zero */
} weft_retry_opts;

/* Calls attempt(arg) until it returns 0, the attempts are used up, an
 * error is not to be retried, or the deadline passes. Returns 0; the last
 * attempt's error; -ETIMEDOUT (deadline); -ECANCELED (the task was
 * cancelled, before the call, in an attempt or in a delay); -ENOMEM (no
 * timer for a delay); -EINVAL (attempt NULL, or an option out of range);
 * -EPERM (not in a task). opts may be NULL. */
WEFT_EXPORT int weft_retry(weft_attempt_fn attempt, void *arg,
                           const weft_retry_opts *opts);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_RETRY_H */
