/* Clocks (see clock.h). */
#include "core/clock.h"

int64_t weft__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t weft__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t weft__coarse_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t weft__deadline_after(int64_t now_ms, int64_t ms)
{
    return ms > INT64_MAX - now_ms ? INT64_MAX : now_ms + ms;
}

void weft__abstime_after(struct timespec *ts, int64_t ms)
{
    /* A year is as good as forever to a timed wait, and keeps tv_sec far
     * from overflowing. */
    const int64_t max_ms = (int64_t)366 * 24 * 3600 * 1000;

    if (ms > max_ms)
        ms = max_ms;
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int64_t weft_now(void)
{
    return weft__now_ms();
}
