/* A task's wait for a file descriptor (see fdwait.h). */
#include "sched/fdwait.h"

#include <errno.h>

#include "reactor/reactor.h"
#include "sched/task.h"
#include "sched/wait.h"
#include "sched/worker.h"

_Static_assert(WEFT__FD_READ == WEFT__WATCH_READ &&
                   WEFT__FD_WRITE == WEFT__WATCH_WRITE,
               "fd wait flags must be the reactor's");

/* A wait in progress; on the waiting task's stack, as a sleep's timer. */
struct fd_wait {
    struct weft__watch watch;
    weft__task *task;
    uint32_t seq;
};

static void fd_ready(struct weft__watch *watch)
{
    struct fd_wait *wait = WEFT__CONTAINER_OF(watch, struct fd_wait, watch);

    weft__wake(wait->task, wait->seq, WEFT__WAKE_DONE);
}

int weft__fd_wait(weft__task *self, int fd, short events, unsigned flags,
                  unsigned what)
{
    struct fd_wait wait;
    int rc = weft__wait_begin(self, flags, &wait.seq);

    if (rc < 0)
        return rc;
    struct weft__worker *w = weft__worker_self();
    wait.task = self;
    /* The scheduler polls the reactor while the watch is armed. */
    if (weft__watch_fd(&w->reactor, &wait.watch, fd, events, fd_ready) < 0) {
        (void)weft__wait_abort(self);
        return -ENOMEM;
    }
    self->armed_on = w;
    weft__task_waiting(self, (enum weft__waiting)what, NULL);
    int reason = weft__wait_commit(self);
    weft__task_waiting(self, WEFT__WAITING_NOTHING, NULL);
    WEFT__ASSERT(weft__worker_self() == w);
    weft__watch_cancel(&wait.watch);
    self->armed_on = NULL;
    return weft__wake_error(reason);
}
