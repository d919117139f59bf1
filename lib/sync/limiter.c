/* weft_limiter: a token bucket kept as a "theoretical arrival time" (the
 * generic cell rate algorithm): tat is when the bucket will be full again.
 * Taking n tokens moves tat on by n intervals; that is allowed at once if
 * the new tat is within burst intervals of now, else the task sleeps
 * until it is. Each acquire reserves its tokens as it asks, which serves
 * tasks in the order they ask.
 *
 * Times are int64_t nanoseconds. A full bucket must refill within
 * REFILL_MAX_S (create refuses slower ones), and no reservation may reach
 * more than HORIZON_NS past now (acquire refuses it with -EOVERFLOW), so
 * that every sum below stays far from INT64_MAX. */
#include "core/internal.h"

#include <errno.h>

#include "core/atomic.h"
#include "core/clock.h"
#include "sched/wait.h"
#include "sync/sync.h"
#include "sched/scope.h"
#include "sched/task.h"
#include "sched/time.h"

#include "weft/limiter.h"
#include "weft/time.h"

/* The longest refill of a full bucket (burst / rate), in seconds. */
#define REFILL_MAX_S 1e9
/* How far past now a reservation may reach: 2^62 ns, about 146 years. */
#define HORIZON_NS ((int64_t)1 << 62)

struct weft_limiter {
    weft__spinlock spin;
    int64_t interval_ns;   /* one token's refill time */
    int64_t burst_ns;      /* burst * interval_ns: a full bucket's */
    unsigned burst;
    int64_t tat_ns;        /* the bucket is full from then on */
    uint32_t waiting;      /* tasks sleeping on a reservation */
};

int weft_limiter_create(weft_limiter **out, double rate, unsigned burst)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    /* NaN fails every comparison. Past REFILL_MAX_S, burst * interval
     * would leave the nanosecond clock's range, or come near it. */
    if (!(rate > 0 && rate <= 1e9) || burst == 0 || burst > INT32_MAX ||
        !((double)burst / rate <= REFILL_MAX_S))
        return -EINVAL;
    weft_limiter *l = weft__malloc(sizeof *l);
    if (l == NULL)
        return -ENOMEM;
    l->spin = (weft__spinlock)WEFT__SPINLOCK_INIT;
    l->interval_ns = (int64_t)(1e9 / rate + 0.5);
    if (l->interval_ns < 1)
        l->interval_ns = 1;
    l->burst_ns = (int64_t)burst * l->interval_ns; /* <= about 1e18 */
    l->burst = burst;
    l->tat_ns = weft__now_ns(); /* full */
    l->waiting = 0;
    *out = l;
    return 0;
}

int weft_limiter_destroy(weft_limiter *l)
{
    if (l == NULL)
        return -EINVAL;
    weft__spin_lock(&l->spin);
    uint32_t waiting = l->waiting;
    weft__spin_unlock(&l->spin);
    if (waiting != 0)
        return -EBUSY;
    weft__free(l);
    return 0;
}

/* How long n tokens are away (*wait_ns), with the reservation they would
 * make; -EOVERFLOW if that would reach past the horizon. tat - now is
 * at most HORIZON_NS, n * interval_ns at most burst_ns. */
static int reserve(weft_limiter *l, unsigned n, int64_t now,
                   int64_t *new_tat, int64_t *wait_ns)
{
    int64_t ahead = (l->tat_ns > now ? l->tat_ns - now : 0) +
                    (int64_t)n * l->interval_ns;
    if (ahead > HORIZON_NS)
        return -EOVERFLOW;
    *new_tat = now + ahead;
    *wait_ns = ahead - l->burst_ns;
    return 0;
}

int weft_limiter_acquire(weft_limiter *l, unsigned n, int64_t timeout_ms)
{
    weft__task *self = WEFT__TASK_ENTER();
    int64_t new_tat;

    if (l == NULL || n == 0 || n > l->burst || weft__check_timeout(timeout_ms) < 0)
        return -EINVAL;
    if (self == NULL)
        return -EPERM;
    int rc = weft__check_interrupt(self);
    if (rc < 0)
        return rc;
    weft__spin_lock(&l->spin);
    int64_t wait_ns;
    if (reserve(l, n, weft__now_ns(), &new_tat, &wait_ns) < 0) {
        weft__spin_unlock(&l->spin);
        return -EOVERFLOW;
    }
    /* Compared in whole ms, rounded up, as timeout_ms * 1000000 could
     * overflow: wait_ns > timeout_ms ms exactly when this holds. */
    if (wait_ns > 0 && timeout_ms != WEFT_FOREVER &&
        wait_ns / 1000000 + (wait_ns % 1000000 != 0) > timeout_ms) {
        weft__spin_unlock(&l->spin);
        return -ETIMEDOUT; /* hopeless: take nothing rather than wait */
    }
    l->tat_ns = new_tat;
    if (wait_ns <= 0) {
        weft__spin_unlock(&l->spin);
        return 0;
    }
    l->waiting++;
    weft__spin_unlock(&l->spin);
    /* Rounded up: never early. */
    rc = weft__sleep(self, (wait_ns + 999999) / 1000000, WEFT__WAITING_LIMITER);
    weft__spin_lock(&l->spin);
    l->waiting--;
    if (rc < 0)
        l->tat_ns -= (int64_t)n * l->interval_ns; /* the tokens go back */
    weft__spin_unlock(&l->spin);
    return rc;
}

int weft_limiter_try_acquire(weft_limiter *l, unsigned n)
{
    int64_t new_tat, wait_ns;
    int rc = -EAGAIN;

    if (l == NULL || n == 0 || n > l->burst)
        return -EINVAL;
    weft__spin_lock(&l->spin);
    if (reserve(l, n, weft__now_ns(), &new_tat, &wait_ns) == 0 && wait_ns <= 0) {
        l->tat_ns = new_tat;
        rc = 0;
    }
    weft__spin_unlock(&l->spin);
    return rc;
}

int weft_limiter_available(weft_limiter *l)
{
    if (l == NULL)
        return -EINVAL;
    weft__spin_lock(&l->spin);
    int64_t now = weft__now_ns();
    int64_t full_at = l->tat_ns > now ? l->tat_ns : now;
    int64_t missing = (full_at - now + l->interval_ns - 1) / l->interval_ns;
    int64_t n = (int64_t)l->burst - missing;
    weft__spin_unlock(&l->spin);
    return n > 0 ? (int)n : 0;
}
