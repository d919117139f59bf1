/* weft_sleep() on the worker's libevent timers. */
#include "core/internal.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <time.h>

#include "sched/wait.h"
#include "sched/task.h"
#include "sched/worker.h"

/* A sleep in progress. It lives on the sleeping task's stack, which stays
 * put while the task is suspended, so a task costs no timer memory when it
 * is not sleeping. */
struct sleep_timer {
    struct event ev;
    weft_task *task;
    uint32_t seq;
    bool pending;   /* ev is still in the base */
};

static void timer_fired(evutil_socket_t fd, short what, void *arg)
{
    struct sleep_timer *timer = arg;
    struct weft__worker *w = weft__worker_self();

    (void)fd;
    (void)what;
    w->armed_timers--;
    timer->pending = false;
    weft__wake(timer->task, timer->seq, WEFT__WAKE_TIMER);
}

int weft_sleep(int64_t ms)
{
    weft_task *self = weft_current();
    struct sleep_timer timer;
    int rc;

    if (ms < 0)
        return -EINVAL;
    if (self == NULL)
        return -EPERM;
    if (ms == 0)
        return weft_yield();

    struct timeval tv = { .tv_sec = (time_t)(ms / 1000),
                          .tv_usec = (suseconds_t)(ms % 1000) * 1000 };
    rc = weft__wait_begin(self, 0, &timer.seq);
    if (rc < 0)
        return rc; /* cancelled, or a deadline already passed */
    struct weft__worker *w = weft__worker_self();
    timer.task = self;
    /* The timer belongs to this worker's base. Until it is disarmed, a
     * wake from elsewhere sends the task back here (task->armed_on). */
    event_assign(&timer.ev, w->base, -1, 0, timer_fired, &timer);
    if (event_add(&timer.ev, &tv) < 0) {
        (void)weft__wait_abort(self);
        return -ENOMEM;
    }
    timer.pending = true;
    w->armed_timers++;
    self->armed_on = w;
    weft__task_waiting(self, WEFT__WAITING_SLEEP, NULL);
    int reason = weft__wait_commit(self);
    weft__task_waiting(self, WEFT__WAITING_NOTHING, NULL);
    /* Resumed on w, where the timer is: disarm it if it did not fire. */
    WEFT__ASSERT(weft__worker_self() == w);
    if (timer.pending) {
        event_del(&timer.ev);
        w->armed_timers--;
    }
    self->armed_on = NULL;
    return reason == WEFT__WAKE_TIMER ? 0 : weft__wake_error(reason);
}
