/* weft_sleep() on the worker's libevent timers, and weft_now(). */
#include "internal.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <time.h>

#include "scheduler.h"
#include "task.h"
#include "worker.h"

/* A sleep in progress. It lives on the sleeping task's stack, which stays
 * put while the task is suspended, so a task costs no timer memory when it
 * is not sleeping. */
struct sleep_timer {
    struct event ev;
    weft_task *task;
    uint32_t seq;
};

int64_t weft_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void timer_fired(evutil_socket_t fd, short what, void *arg)
{
    struct sleep_timer *timer = arg;
    struct weft__worker *w = weft__worker_self();

    (void)fd;
    (void)what;
    w->armed_timers--;
    weft__wake(timer->task, timer->seq, WEFT__WAKE_TIMER);
}

int weft_sleep(int64_t ms)
{
    weft_task *self = weft_current();
    struct sleep_timer timer;

    if (ms < 0)
        return -EINVAL;
    if (self == NULL)
        return -EPERM;
    if (ms == 0)
        return weft_yield();

    struct weft__worker *w = weft__worker_self();
    struct timeval tv = { .tv_sec = (time_t)(ms / 1000),
                          .tv_usec = (suseconds_t)(ms % 1000) * 1000 };

    timer.task = self;
    timer.seq = weft__wait_begin(self);
    /* The timer belongs to this worker's base; the callback runs on this
     * worker's thread. */
    event_assign(&timer.ev, w->base, -1, 0, timer_fired, &timer);
    if (event_add(&timer.ev, &tv) < 0) {
        (void)weft__wait_abort(self);
        return -ENOMEM;
    }
    w->armed_timers++;
    int reason = weft__wait_commit(self);
    WEFT__ASSERT(reason == WEFT__WAKE_TIMER);
    return 0;
}
