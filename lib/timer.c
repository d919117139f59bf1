/* weft_sleep() on the worker's libevent timers, and weft_now(). */
#include "internal.h"

#include <errno.h>
#include <event2/event.h>
#include <time.h>

#include "sched.h"
#include "task.h"
#include "worker.h"

int64_t weft_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void timer_fired(evutil_socket_t fd, short what, void *arg)
{
    weft_task *t = arg;
    struct weft__worker *w = weft__worker_self();

    (void)fd;
    (void)what;
    w->armed_timers--;
    weft__wake(t, t->timer_seq, WEFT__WAKE_TIMER);
}

int weft_sleep(int64_t ms)
{
    weft_task *self = weft_current();

    if (ms < 0)
        return -EINVAL;
    if (self == NULL)
        return -EPERM;
    if (ms == 0)
        return weft_yield();

    struct weft__worker *w = weft__worker_self();
    struct timeval tv = { .tv_sec = (time_t)(ms / 1000),
                          .tv_usec = (suseconds_t)(ms % 1000) * 1000 };

    self->timer_seq = weft__wait_begin(self);
    /* The timer belongs to this worker's base; the callback runs on this
     * worker's thread. */
    event_assign(&self->timer, w->base, -1, 0, timer_fired, self);
    if (event_add(&self->timer, &tv) < 0) {
        (void)weft__wait_abort(self);
        return -ENOMEM;
    }
    w->armed_timers++;
    int reason = weft__wait_commit(self);
    WEFT__ASSERT(reason == WEFT__WAKE_TIMER);
    return 0;
}
