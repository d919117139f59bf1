/* Every clock weft reads: one file, so that the choice of clock (and its
 * cost) is made once.
 *
 * All are CLOCK_MONOTONIC, whose origin is arbitrary: they measure
 * intervals and compute deadlines, never dates. The coarse clock reads in
 * a few ns with a few ms of resolution, for task dumps' "waiting since".
 */
#ifndef WEFT_CORE_CLOCK_H
#define WEFT_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

#include "core/internal.h"

/* Nanoseconds. */
int64_t weft__now_ns(void);

/* Milliseconds: weft_now(). */
int64_t weft__now_ms(void);

/* Milliseconds on CLOCK_MONOTONIC_COARSE. */
int64_t weft__coarse_now_ms(void);

/* The time ms milliseconds from now, as a timespec on CLOCK_MONOTONIC, for
 * the timed waits of condition variables set to that clock. ms is clamped
 * to what a timespec holds. */
void weft__abstime_after(struct timespec *ts, int64_t ms);

/* now_ms + ms, saturating at INT64_MAX instead of overflowing: the
 * deadline of a timeout that starts now. */
int64_t weft__deadline_after(int64_t now_ms, int64_t ms);

#endif /* WEFT_CORE_CLOCK_H */
