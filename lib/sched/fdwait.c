/* A task's wait for a file descriptor (see fdwait.h). */
#include "sched/fdwait.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>

#include "sched/wait.h"
#include "sched/task.h"
#include "sched/worker.h"

_Static_assert(WEFT__FD_READ == EV_READ && WEFT__FD_WRITE == EV_WRITE,
               "fd wait flags must be libevent's");

/* A wait in progress; on the waiting task's stack, as a sleep's timer. */
struct fd_wait {
    struct event ev;
    weft_task *task;
    uint32_t seq;
    bool pending;
};

static void fd_ready(evutil_socket_t fd, short what, void *arg)
{
    struct fd_wait *wait = arg;

    (void)fd;
    (void)what;
    weft__worker_self()->armed_timers--;
    wait->pending = false;
    weft__wake(wait->task, wait->seq, WEFT__WAKE_DONE);
}

int weft__fd_wait(weft_task *self, int fd, short events, unsigned flags,
                  unsigned what)
{
    struct fd_wait wait;
    int rc = weft__wait_begin(self, flags, &wait.seq);

    if (rc < 0)
        return rc;
    struct weft__worker *w = weft__worker_self();
    wait.task = self;
    event_assign(&wait.ev, w->base, fd, events, fd_ready, &wait);
    if (event_add(&wait.ev, NULL) < 0) {
        (void)weft__wait_abort(self);
        return -ENOMEM;
    }
    wait.pending = true;
    w->armed_timers++; /* the scheduler polls the base while it is > 0 */
    self->armed_on = w;
    weft__task_waiting(self, (enum weft__waiting)what, NULL);
    int reason = weft__wait_commit(self);
    weft__task_waiting(self, WEFT__WAITING_NOTHING, NULL);
    WEFT__ASSERT(weft__worker_self() == w);
    if (wait.pending) {
        event_del(&wait.ev);
        w->armed_timers--;
    }
    self->armed_on = NULL;
    return weft__wake_error(reason);
}
