/* weft_retry: attempts with exponential back-off and jitter, under an
 * optional overall deadline (see weft/retry.h). */
#include "core/internal.h"

#include <errno.h>
#include <stdint.h>

#include "core/clock.h"
#include "sched/wait.h"
#include "sched/scope.h"
#include "sched/task.h"

#include "weft/scope.h"
#include "weft/retry.h"
#include "weft/time.h"

/* A per-thread xorshift64*: jitter needs spread, not secrecy, and a
 * shared generator would be a contended cache line. */
static uint64_t next_random(void)
{
    static __thread uint64_t state;
    if (state == 0) {
        state = ((uint64_t)weft__now_ns() << 20) ^ (uint64_t)(uintptr_t)&state;
        if (state == 0)
            state = 0x9e3779b97f4a7c15u;
    }
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545f4914f6cdd1du;
}

static bool default_retry_if(int err, void *arg)
{
    (void)arg;
    return err != -ECANCELED && err != -ETIMEDOUT;
}

int weft_retry(weft_attempt_fn attempt, void *arg, const weft_retry_opts *opts)
{
    weft_retry_opts o = { 0 };
    weft_scope scope;
    bool scoped = false;
    int rc;

    if (opts != NULL)
        o = *opts;
    if (o.attempts == 0)
        o.attempts = 3;
    if (o.initial_ms == 0)
        o.initial_ms = 100;
    if (o.multiplier == 0)
        o.multiplier = 2;
    if (o.timeout_ms == 0)
        o.timeout_ms = WEFT_FOREVER;
    for (size_t i = 0; i < WEFT__ARRAY_SIZE(o.reserved); i++) {
        if (o.reserved[i] != NULL)
            return -EINVAL;
    }
    if (o.retry_if == NULL)
        o.retry_if = default_retry_if;
    if (attempt == NULL || o.initial_ms < 0 || o.max_ms < 0 ||
        !(o.multiplier >= 1 && o.multiplier <= 1000) ||
        !(o.jitter >= 0 && o.jitter <= 1) ||
        (o.timeout_ms < 0 && o.timeout_ms != WEFT_FOREVER))
        return -EINVAL;
    weft__task *self = WEFT__TASK_ENTER();
    if (self == NULL)
        return -EPERM;
    rc = weft__check_interrupt(self);
    if (rc < 0)
        return rc; /* cancelled already: not even a first attempt */
    if (o.timeout_ms != WEFT_FOREVER) {
        rc = weft_timeout_enter(&scope, o.timeout_ms);
        if (rc < 0)
            return rc;
        scoped = true;
    }
    double delay = (double)o.initial_ms;
    for (unsigned n = 1;; n++) {
        rc = attempt(arg);
        if (rc >= 0) {
            rc = 0;
            break;
        }
        /* Cancelled, or the deadline passed, during the attempt: that
         * ends the retry, whatever error the attempt made of it. */
        int interrupted = weft__check_interrupt(self);
        if (interrupted < 0) {
            rc = interrupted;
            break;
        }
        if (n == o.attempts || !o.retry_if(rc, o.arg))
            break;
        double d = o.max_ms > 0 && delay > (double)o.max_ms ? (double)o.max_ms : delay;
        d -= d * o.jitter * ((double)(next_random() >> 11) / 9007199254740992.0);
        /* initial_ms or max_ms near INT64_MAX become 2^63 as doubles,
         * which no int64_t holds: the longest delay that can be said. */
        int64_t ms = d < 0x1p63 ? (int64_t)d : INT64_MAX;
        if ((double)ms < d)
            ms++; /* rounded up, without libm */
        if (o.on_retry != NULL)
            o.on_retry(n, rc, ms, o.arg);
        int slept = weft_sleep(ms);
        if (slept < 0) {
            rc = slept;
            break;
        }
        delay *= o.multiplier;
        if (delay > 0x1p63)
            delay = 0x1p63; /* finite; a delay never shrinks as it grows */
    }
    if (scoped) {
        /* An attempt cut short by this deadline may have reported
         * something else; the deadline is what happened. */
        if (weft_scope_leave(&scope) == 1 && rc < 0)
            rc = -ETIMEDOUT;
    }
    return rc;
}
