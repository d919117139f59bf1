/* A task's wait for a descriptor's readiness (see iowait.h). */
#include "sched/iowait.h"

#include <errno.h>

#include "sched/loop.h"
#include "sched/task.h"
#include "sched/wait.h"
#include "sched/worker.h"

/* The home of an io released before it ever had one: no wait may
 * register it any more. */
static char released_home;
#define RELEASED ((struct weft__worker *)(void *)&released_home)

struct weft__io_waiter {
    weft__task *task;
    uint32_t seq;
    bool released;               /* weft__io_release ended the wait */
    struct weft__watch timer;    /* its own timeout, if any */
};

void weft__io_init(struct weft__io *io, int fd)
{
    io->fd = fd;
    io->home = NULL;
    io->tick[0] = io->tick[1] = 0;
    io->inbound = 0;
    io->rdhup = 0;
    io->waiter[0] = io->waiter[1] = NULL;
    io->released = false;
    io->reg.reactor = NULL;
    io->wanted = NULL;
    io->on_writable = NULL;
    io->writable_set = 0;
}

/* An edge, on home's thread. */
static void edge(struct weft__reg *reg, short what)
{
    struct weft__io *io = WEFT__CONTAINER_OF(reg, struct weft__io, reg);
    static const short flag[2] = { WEFT__WATCH_READ, WEFT__WATCH_WRITE };

    /* Before the read tick's release store: a reader that sees the tick
     * sees this too. */
    if (what & WEFT__WATCH_CLOSED)
        weft__store_relaxed_u32(&io->rdhup, 1);
    for (int dir = 0; dir < 2; dir++) {
        if (!(what & flag[dir]))
            continue;
        /* Only home writes it. Release: pairs with the acquire of
         * weft__io_tick. */
        weft__store_release_u32(&io->tick[dir],
                                weft__load_relaxed_u32(&io->tick[dir]) + 1);
        struct weft__io_waiter *wt = io->waiter[dir];
        if (wt != NULL)
            (void)weft__wake(wt->task, wt->seq, WEFT__WAKE_DONE);
    }
    if (!(what & WEFT__WATCH_WRITE))
        return;
    /* Pairs with the release of weft__io_set_on_writable: a stream made
     * of a socket registered already is seen whole. */
    if (weft__load_acquire_u32(&io->writable_set)) {
        /* Pairs with the fence of a writer that queued bytes and then
         * looks at the tick (io/stream.c): the tick is stored before the
         * writer's lock is tried here. */
        weft__fence_full();
        io->on_writable(io);
    }
}

static void timed_out(struct weft__watch *watch)
{
    struct weft__io_waiter *wt =
        WEFT__CONTAINER_OF(watch, struct weft__io_waiter, timer);

    (void)weft__wake(wt->task, wt->seq, WEFT__WAKE_TIMER);
}

/* The worker io lives on (or RELEASED), registering it on w if it has
 * none yet; NULL, with *err set, if that registration failed. */
static struct weft__worker *home_of(struct weft__io *io, struct weft__worker *w,
                                    int *err)
{
    /* Pairs with the CAS and stores below: a task that reads the home
     * sees it registered, or arrives there after the winner registered,
     * since the winner registers before it can switch. */
    struct weft__worker *home = weft__load_acquire_ptr((void *const *)&io->home);

    *err = 0;
    if (home != NULL)
        return home;
    if (!weft__cas_ptr((void **)&io->home, NULL, w))
        return weft__load_acquire_ptr((void *const *)&io->home);
    *err = weft__reactor_register(&w->reactor, &io->reg, io->fd, edge);
    if (*err < 0) {
        /* Not registered: the next wait tries again. One that hopped
         * here meanwhile sees the home gone and retries too. */
        weft__store_release_ptr((void **)&io->home, NULL);
        return NULL;
    }
    return w;
}

/* The wait itself, on home. */
static int wait_home(weft__task *self, struct weft__worker *w,
                     struct weft__io *io, unsigned dirs, uint64_t ticks,
                     int64_t timeout_ms, unsigned flags, unsigned what)
{
    struct weft__io_waiter wt;

    if (io->released)
        return -EBADF;
    /* Its registration failed, or it was released and made fresh
     * (io/fd.c), while this task hopped here: try again. */
    if (weft__load_relaxed_ptr((void *const *)&io->home) != w)
        return 0;
    for (int dir = 0; dir < 2; dir++) {
        if (!(dirs & (1u << dir)))
            continue;
        /* An edge came after the call failed: try it again. */
        if (weft__load_relaxed_u32(&io->tick[dir]) != (uint32_t)(ticks >> (32 * dir)))
            return 0;
        if (io->waiter[dir] != NULL)
            return -EBUSY;
    }
    int rc = weft__wait_begin(self, flags, &wt.seq);
    if (rc < 0)
        return rc;
    wt.task = self;
    wt.released = false;
    wt.timer.armed = false;
    if (timeout_ms >= 0 &&
        weft__watch_timer(&w->reactor, &wt.timer, timeout_ms, timed_out) < 0) {
        int reason = weft__wait_abort(self);
        return reason != WEFT__WAKE_NONE ? weft__wake_error(reason) : -ENOMEM;
    }
    for (int dir = 0; dir < 2; dir++) {
        if (dirs & (1u << dir))
            io->waiter[dir] = &wt;
    }
    weft__reactor_hold(&w->reactor);
    self->armed_on = w; /* wakes from elsewhere come back here */
    self->io_ops = 0;
    weft__task_waiting(self, (enum weft__waiting)what, NULL);
    int reason = weft__wait_commit(self);
    weft__task_waiting(self, WEFT__WAITING_NOTHING, NULL);
    WEFT__ASSERT(weft__worker_self() == w);
    weft__watch_cancel(&wt.timer);
    for (int dir = 0; dir < 2; dir++) {
        if (dirs & (1u << dir))
            io->waiter[dir] = NULL;
    }
    weft__reactor_release(&w->reactor);
    self->armed_on = NULL;
    if (wt.released)
        return -EBADF;
    if (reason == WEFT__WAKE_TIMER)
        return -ETIMEDOUT;
    return weft__wake_error(reason);
}

int weft__io_wait(weft__task *self, struct weft__io *io, unsigned dirs,
                  uint64_t ticks, int64_t timeout_ms, unsigned flags,
                  unsigned what)
{
    struct weft__worker *w = weft__worker_self();
    struct weft__worker *back = NULL;
    int rc;

    /* Counted before the home is read: a release that comes while this
     * task is on its way home waits for it (see weft__io_release).
     * Pairs with the acquire of the release's loop. */
    weft__faa_u32(&io->inbound, 1);
    struct weft__worker *home = home_of(io, w, &rc);
    if (home == RELEASED) {
        rc = -EBADF;
    } else if (home != NULL) {
        if (home != w) {
            if (self->pinned)
                back = w;
            weft__sched_hop(self, home);
        }
        rc = wait_home(self, home, io, dirs, ticks, timeout_ms, flags, what);
    }
    /* The last touch of io: a release may end right after. */
    weft__faa_u32(&io->inbound, (uint32_t)-1);
    if (back != NULL)
        weft__sched_hop(self, back);
    return rc;
}

int weft__io_register(struct weft__io *io)
{
    struct weft__worker *w = weft__worker_self();
    int err;
    struct weft__worker *home = home_of(io, w, &err);

    return home == RELEASED ? -EBADF : err;
}

void weft__io_want_writable(struct weft__io *io, bool want)
{
    if (want && io->wanted == NULL) {
        struct weft__worker *home =
            weft__load_acquire_ptr((void *const *)&io->home);
        if (home == NULL || home == RELEASED)
            return;
        io->wanted = home;
        weft__reactor_want(&home->reactor, 1);
    } else if (!want && io->wanted != NULL) {
        weft__reactor_want(&io->wanted->reactor, -1);
        io->wanted = NULL;
    }
}

void weft__io_budget_spend(weft__task *self)
{
    if (++self->io_ops < WEFT__IO_BUDGET)
        return;
    self->io_ops = 0;
    weft__sched_yield(self);
}

void weft__io_release(weft__task *self, struct weft__io *io)
{
    struct weft__worker *w = weft__worker_self();
    struct weft__worker *home = weft__load_acquire_ptr((void *const *)&io->home);
    struct weft__worker *back = NULL;

    /* Never registered: make sure no wait does it from now on. A wait
     * that read NULL and is registering gets ahead of this CAS. */
    if (home == NULL && weft__cas_ptr((void **)&io->home, NULL, RELEASED))
        goto wait_inbound;
    home = weft__load_acquire_ptr((void *const *)&io->home);
    if (home == RELEASED)
        goto wait_inbound;
    if (home != w) {
        if (self->pinned)
            back = w;
        weft__sched_hop(self, home);
    }
    io->released = true;
    for (int dir = 0; dir < 2; dir++) {
        struct weft__io_waiter *wt = io->waiter[dir];
        if (wt != NULL) {
            wt->released = true; /* one waiter may hold both slots */
            (void)weft__wake(wt->task, wt->seq, WEFT__WAKE_DONE);
        }
    }
    weft__reactor_unregister(&io->reg);
    /* Later waits get -EBADF without coming here. */
    weft__store_release_ptr((void **)&io->home, RELEASED);
wait_inbound:
    /* The tasks woken above, and those on their way here, resume here
     * (their armed_on, or their hop) and see `released`; stay here too,
     * in home's own queue, until every one has left io. Pairs with the
     * FAAs of weft__io_wait. */
    while (weft__load_acquire_u32(&io->inbound) != 0) {
        if (home != NULL && home != RELEASED)
            self->armed_on = home;
        weft__sched_yield(self);
    }
    self->armed_on = NULL;
    if (back != NULL)
        weft__sched_hop(self, back);
}

void weft__io_reuse(struct weft__io *io)
{
    WEFT__ASSERT(weft__load_relaxed_ptr((void *const *)&io->home) == RELEASED);
    io->waiter[0] = io->waiter[1] = NULL;
    io->released = false;
    io->reg.reactor = NULL;
    io->wanted = NULL;
    io->rdhup = 0; /* the new descriptor's peer has shut nothing down */
    /* Pairs with the acquire of home_of: a wait that reads NULL sees the
     * rest fresh. */
    weft__store_release_ptr((void **)&io->home, NULL);
}
