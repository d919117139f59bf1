/* weft_sleep(): a timer on the worker's reactor. */
#include "core/internal.h"

#include <errno.h>
#include <stdlib.h>

#include "reactor/reactor.h"
#include "sched/compact.h"
#include "sched/scope.h"
#include "sched/task.h"
#include "sched/time.h"
#include "sched/wait.h"
#include "sched/worker.h"

/* A sleep in progress. It lives on the sleeping task's stack, which stays
 * put while the task is suspended, so a task costs no timer memory when it
 * is not sleeping; a compact task's is on the heap, since its stack's
 * pages go while it sleeps (sched/compact.h). */
struct sleep_timer {
    struct weft__watch watch;
    weft__task *task;
    uint32_t seq;
};

static void timer_fired(struct weft__watch *watch)
{
    struct sleep_timer *timer =
        WEFT__CONTAINER_OF(watch, struct sleep_timer, watch);

    weft__wake(timer->task, timer->seq, WEFT__WAKE_TIMER);
}

int weft_sleep(int64_t ms)
{
    weft__task *self = WEFT__TASK_ENTER();

    if (ms < 0)
        return -EINVAL;
    if (self == NULL)
        return -EPERM;
    if (ms == 0)
        return weft_yield();
    return weft__sleep(self, ms, WEFT__WAITING_SLEEP);
}

int weft__sleep(weft__task *self, int64_t ms, unsigned what)
{
    struct sleep_timer on_stack, *timer = &on_stack;
    uint32_t seq;
    int rc = weft__wait_begin(self, 0, &seq);
    if (rc < 0)
        return rc; /* cancelled, or a deadline already passed */
    /* A deadline's timer lives in its scope, on the stack: then the
     * stack stays. */
    bool compact = self->compact && self->armed_scope == NULL &&
                   weft__compact_supported();
    if (compact && (timer = malloc(sizeof *timer)) == NULL) {
        timer = &on_stack;
        compact = false;
    }
    struct weft__worker *w = weft__worker_self();
    timer->task = self;
    timer->seq = seq;
    /* The timer belongs to this worker's base. Until it is disarmed, a
     * wake from elsewhere sends the task back here (task->armed_on).
     * A program's sleeps tend to repeat their durations; a limiter's
     * computed waits do not, and would crowd the common timeouts. */
    rc = what == WEFT__WAITING_SLEEP
                 ? weft__watch_timer_common(&w->reactor, &timer->watch, ms,
                                            timer_fired)
                 : weft__watch_timer(&w->reactor, &timer->watch, ms,
                                     timer_fired);
    if (rc < 0) {
        (void)weft__wait_abort(self);
        if (timer != &on_stack)
            free(timer);
        return -ENOMEM;
    }
    self->armed_on = w;
    self->compact_wait = compact;
    weft__task_waiting(self, (enum weft__waiting)what, NULL);
    int reason = weft__wait_commit(self);
    weft__task_waiting(self, WEFT__WAITING_NOTHING, NULL);
    self->compact_wait = false;
    /* Resumed on w, where the timer is: disarm it if it did not fire. */
    WEFT__ASSERT(weft__worker_self() == w);
    weft__watch_cancel(&timer->watch);
    self->armed_on = NULL;
    if (timer != &on_stack)
        free(timer);
    return reason == WEFT__WAKE_TIMER ? 0 : weft__wake_error(reason);
}
