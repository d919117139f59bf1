/* A task's wait for a descriptor's readiness (see iowait.h). */
#include "sched/iowait.h"

#include <errno.h>

#include "core/clock.h"
#include "sched/loop.h"
#include "sched/task.h"
#include "sched/wait.h"
#include "sched/worker.h"

/* The home of an io released before it ever had one: no wait may
 * register it any more. */
static char released_home;
#define RELEASED ((struct weft__worker *)(void *)&released_home)

/* On the waiting task's stack; linked in io->waiter under io->lock, and
 * unlinked under it before the wait returns, so whoever finds it there
 * under the lock may wake its task. */
struct weft__io_waiter {
    weft__task *task;
    uint32_t seq;
    int64_t deadline;            /* weft__now_ns() time, or NO_DEADLINE */
    bool released;               /* weft__io_release ended the wait */
};

#define NO_DEADLINE INT64_MAX

/* wait_on's answer when the wait needs home's thread: its direction's
 * timer must be armed (again) there. */
#define NEEDS_HOME 2

void weft__io_init(struct weft__io *io, int fd)
{
    io->fd = fd;
    io->home = NULL;
    io->tick[0] = io->tick[1] = 0;
    io->inbound = 0;
    io->rdhup = 0;
    io->lock.held = 0;
    io->waiter[0] = io->waiter[1] = NULL;
    io->released = false;
    io->timer_at[0] = io->timer_at[1] = 0;
    io->timer[0].armed = io->timer[1].armed = false;
    io->reg.reactor = NULL;
    io->wanted = NULL;
    io->on_writable = NULL;
    io->writable_set = 0;
}

/* An edge, on home's thread or a visitor's (weft__reactor_visit). */
static void edge(struct weft__reg *reg, short what)
{
    struct weft__io *io = WEFT__CONTAINER_OF(reg, struct weft__io, reg);
    static const short flag[2] = { WEFT__WATCH_READ, WEFT__WATCH_WRITE };

    /* Before the read tick's increment: a reader that sees the tick sees
     * this too. */
    if (what & WEFT__WATCH_CLOSED)
        weft__store_relaxed_u32(&io->rdhup, 1);
    /* Under the lock, so that a wait that links itself after reading the
     * tick is woken by this edge, or sees the tick move (wait_on). */
    weft__spin_lock(&io->lock);
    for (int dir = 0; dir < 2; dir++) {
        if (!(what & flag[dir]))
            continue;
        /* A full barrier: pairs with the acquire of weft__io_ticks. */
        weft__faa_u32(&io->tick[dir], 1);
        struct weft__io_waiter *wt = io->waiter[dir];
        if (wt != NULL && !io->released)
            (void)weft__wake(wt->task, wt->seq, WEFT__WAKE_DONE);
    }
    weft__spin_unlock(&io->lock);
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

static void read_timed_out(struct weft__watch *watch);
static void write_timed_out(struct weft__watch *watch);

static int arm_timer(struct weft__io *io, struct weft__reactor *r, int dir,
                     int64_t ms)
{
    /* Uncounted: left armed after the waits, it must not keep home
     * polling; a waiter that relies on it holds the reactor. */
    return weft__watch_timer_uncounted(r, &io->timer[dir], ms,
                                       dir == WEFT__IO_READ ? read_timed_out
                                                            : write_timed_out);
}

/* Direction dir's timer was cancelled and could not be armed again (no
 * memory): no timer fires at timer_at any more. The waiter there, if
 * any, tries its call again and waits again, arming it anew. */
static void lost_timer(struct weft__io *io, int dir)
{
    weft__spin_lock(&io->lock);
    io->timer_at[dir] = 0;
    struct weft__io_waiter *wt = io->waiter[dir];
    if (wt != NULL)
        (void)weft__wake(wt->task, wt->seq, WEFT__WAKE_DONE);
    weft__spin_unlock(&io->lock);
}

/* A direction's timer fired, on home's thread. Whoever waits there now
 * (maybe not the waiter it was armed for) times out if its deadline has
 * come; else the timer is armed again, for that deadline. */
static void timed_out(struct weft__io *io, int dir)
{
    struct weft__reactor *r = io->timer[dir].reactor;
    int64_t now = weft__now_ns();
    int64_t again = 0;

    weft__spin_lock(&io->lock);
    io->timer_at[dir] = 0;
    struct weft__io_waiter *wt = io->waiter[dir];
    if (wt != NULL && wt->deadline != NO_DEADLINE) {
        if (now >= wt->deadline) {
            (void)weft__wake(wt->task, wt->seq, WEFT__WAKE_TIMER);
        } else {
            /* Armed just below, by this thread, before it does anything
             * else: a waiter that relies on it meanwhile is served by
             * it, or by lost_timer. */
            again = wt->deadline;
            io->timer_at[dir] = again;
        }
    }
    weft__spin_unlock(&io->lock);
    if (again == 0)
        return;
    /* again > now: rounded up, so it never fires before the deadline. */
    int64_t ms = (again - now - 1) / 1000000 + 1;
    if (arm_timer(io, r, dir, ms) < 0)
        lost_timer(io, dir);
}

static void read_timed_out(struct weft__watch *watch)
{
    timed_out(WEFT__CONTAINER_OF(watch, struct weft__io, timer[0]), 0);
}

static void write_timed_out(struct weft__watch *watch)
{
    timed_out(WEFT__CONTAINER_OF(watch, struct weft__io, timer[1]), 1);
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

/* now + ms in weft__now_ns() time, or NO_DEADLINE for ms < 0. */
static int64_t deadline_after(int64_t ms)
{
    if (ms < 0)
        return NO_DEADLINE;
    int64_t now = weft__now_ns();
    /* Beyond the year 2262: as good as never, but a deadline. */
    if (ms >= (NO_DEADLINE - 1 - now) / 1000000)
        return NO_DEADLINE - 1;
    return now + ms * 1000000;
}

/* The timer of direction dir, armed to fire at `at` (0: not armed), is
 * of no use to a waiter whose deadline is `deadline`: it must be armed
 * (again) for it. */
static bool timer_short(int64_t at, int64_t deadline)
{
    return deadline != NO_DEADLINE && (at == 0 || at > deadline);
}

/* The wait itself, on the calling worker w, for io whose home is home.
 * Away from home it returns NEEDS_HOME, having waited for nothing, if
 * the wait's timer has to be armed (again): only home may. */
static int wait_on(weft__task *self, struct weft__worker *w,
                   struct weft__worker *home, struct weft__io *io,
                   unsigned dirs, uint64_t ticks, int64_t timeout_ms,
                   unsigned flags, unsigned what)
{
    struct weft__io_waiter wt;
    /* The direction whose timer this wait uses. */
    int tdir = (dirs & WEFT__IO_IN) ? WEFT__IO_READ : WEFT__IO_WRITE;
    bool at_home = w == home;

    /* Its registration failed, or it was released and made fresh
     * (io/fd.c), while this task came here: try again. */
    if (weft__load_relaxed_ptr((void *const *)&io->home) != home)
        return 0;
    int rc = weft__wait_begin(self, flags, &wt.seq);
    if (rc < 0)
        return rc;
    wt.task = self;
    wt.released = false;
    wt.deadline = deadline_after(timeout_ms);
    /* Home arms the timer first (outside the lock: libevent's call is
     * not short), unless it fires in time already. A timer armed for a
     * wait refused below fires later and finds nobody, or the next
     * waiter. Only this thread writes timer_at. */
    bool armed = false;
    if (at_home && timer_short(io->timer_at[tdir], wt.deadline)) {
        weft__watch_cancel(&io->timer[tdir]);
        if (arm_timer(io, &w->reactor, tdir, timeout_ms) < 0) {
            /* The waiter in that direction, if any, relied on the timer
             * just cancelled. */
            lost_timer(io, tdir);
            int reason = weft__wait_abort(self);
            return reason != WEFT__WAKE_NONE ? weft__wake_error(reason)
                                             : -ENOMEM;
        }
        armed = true;
    }
    /* Under the lock, as edges take it: an edge after this sees the
     * waiter; one before moved the tick. And as timed_out takes it: a
     * timer that fires after this sees the waiter, so a waiter away
     * from home may rely on a timer it sees armed in time. */
    rc = 1;
    weft__spin_lock(&io->lock);
    if (armed)
        io->timer_at[tdir] = wt.deadline;
    for (int dir = 0; dir < 2 && rc == 1; dir++) {
        if (!(dirs & (1u << dir)))
            continue;
        if (io->released)
            rc = -EBADF;
        /* An edge came after the call failed: try it again. */
        else if (weft__load_relaxed_u32(&io->tick[dir]) !=
                 (uint32_t)(ticks >> (32 * dir)))
            rc = 0;
        else if (io->waiter[dir] != NULL)
            rc = -EBUSY;
    }
    if (rc == 1 && !at_home && timer_short(io->timer_at[tdir], wt.deadline))
        rc = NEEDS_HOME;
    if (rc == 1) {
        for (int dir = 0; dir < 2; dir++) {
            if (dirs & (1u << dir))
                io->waiter[dir] = &wt;
        }
    }
    weft__spin_unlock(&io->lock);
    if (rc != 1) {
        int reason = weft__wait_abort(self);
        return reason != WEFT__WAKE_NONE ? weft__wake_error(reason) : rc;
    }
    weft__reactor_hold(&home->reactor);
    self->io_ops = 0;
    weft__task_waiting(self, (enum weft__waiting)what, NULL);
    int reason = weft__wait_commit(self);
    weft__task_waiting(self, WEFT__WAITING_NOTHING, NULL);
    /* Maybe on another worker now. The timer stays armed: the next wait
     * in this direction uses it, or it fires and finds nobody. */
    weft__spin_lock(&io->lock);
    for (int dir = 0; dir < 2; dir++) {
        if (dirs & (1u << dir))
            io->waiter[dir] = NULL;
    }
    bool released = wt.released;
    weft__spin_unlock(&io->lock);
    weft__reactor_release(&home->reactor);
    if (released)
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
        rc = wait_on(self, w, home, io, dirs, ticks, timeout_ms, flags, what);
        if (rc == NEEDS_HOME) {
            if (self->pinned)
                back = w;
            weft__sched_hop(self, home);
            rc = wait_on(self, home, home, io, dirs, ticks, timeout_ms,
                         flags, what);
        }
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
    weft__spin_lock(&io->lock);
    io->released = true;
    /* Disarmed below, on this thread (home's): no wait relies on them
     * from now on. */
    io->timer_at[0] = io->timer_at[1] = 0;
    for (int dir = 0; dir < 2; dir++) {
        struct weft__io_waiter *wt = io->waiter[dir];
        if (wt != NULL) {
            wt->released = true; /* one waiter may hold both slots */
            (void)weft__wake(wt->task, wt->seq, WEFT__WAKE_DONE);
        }
    }
    weft__spin_unlock(&io->lock);
    for (int dir = 0; dir < 2; dir++)
        weft__watch_cancel(&io->timer[dir]);
    weft__reactor_unregister(&io->reg);
    /* Later waits get -EBADF without coming here. */
    weft__store_release_ptr((void **)&io->home, RELEASED);
wait_inbound:
    /* The tasks woken above, and those on their way here, see `released`;
     * a visitor may still be running an edge it collected before the
     * registration went. Wait until every one has left io, in home's own
     * queue when there is one. Pairs with the FAAs of weft__io_wait. */
    while (weft__load_acquire_u32(&io->inbound) != 0 ||
           (home != NULL && home != RELEASED &&
            !weft__reactor_settled(&home->reactor))) {
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
    WEFT__ASSERT(!io->timer[0].armed && !io->timer[1].armed);
    io->waiter[0] = io->waiter[1] = NULL;
    io->released = false;
    io->reg.reactor = NULL;
    io->wanted = NULL;
    io->rdhup = 0; /* the new descriptor's peer has shut nothing down */
    /* Pairs with the acquire of home_of: a wait that reads NULL sees the
     * rest fresh. */
    weft__store_release_ptr((void **)&io->home, NULL);
}
