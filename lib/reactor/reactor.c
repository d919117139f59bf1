/* The reactor (see reactor.h). */
#include "reactor/reactor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <event2/event.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/clock.h"

_Static_assert(WEFT__WATCH_READ == EV_READ && WEFT__WATCH_WRITE == EV_WRITE &&
                   WEFT__WATCH_CLOSED == EV_CLOSED,
               "watch flags must be libevent's");

/* Descriptors an epoll base takes: the epoll fd, the timerfd of a precise
 * timer, and the socketpair of its signal handling. */
#define BASE_FDS 4

/* Edges collected by one epoll_wait on the registrations' set. */
#define IO_EVENTS 64

/* How late a busy worker's timers may fire (weft__reactor_poll). */
#define TIMER_SLACK_NS 200000

/* Another thread wrote wake_fd to get this one out of epoll; being awake
 * is all it wanted. */
static void drain_wake_fd(evutil_socket_t fd, short what, void *arg)
{
    uint64_t count;
    (void)what;
    (void)arg;
    ssize_t rc = read(fd, &count, sizeof count);
    (void)rc;
}

/* libevent ends the process (exit(1)) when its signal handling cannot get
 * a socketpair, which a low RLIMIT_NOFILE provokes. So the descriptors it
 * needs are claimed first, and given back just before it takes them: a
 * shortage becomes -EMFILE here instead. */
static int check_fds_free(int model)
{
    int fds[BASE_FDS];
    int n, err = 0;

    for (n = 0; n < BASE_FDS; n++) {
        fds[n] = fcntl(model, F_DUPFD_CLOEXEC, 0);
        if (fds[n] < 0) {
            err = -errno;
            break;
        }
    }
    while (n-- > 0)
        close(fds[n]);
    return err;
}

static int new_base(struct weft__reactor *r)
{
    struct event_config *cfg = event_config_new();

    if (cfg == NULL)
        return -ENOMEM;
    /* NOLOCK: only this worker's thread ever touches its base.
     * PRECISE_TIMER: the default coarse clock overshoots timers by ~2 ms. */
    event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    int rc = check_fds_free(r->wake_fd);
    if (rc == 0) {
        errno = 0;
        r->base = event_base_new_with_config(cfg);
        if (r->base == NULL)
            rc = errno == EMFILE || errno == ENFILE ? -errno : -ENOMEM;
    }
    event_config_free(cfg);
    return rc;
}

/* Runs the fns of the edges waiting in r's registrations' set; on the
 * owner's thread, or a visitor's. Returns how many there were. */
static int collect(struct weft__reactor *r)
{
    struct epoll_event ev[IO_EVENTS];
    int n = epoll_wait(r->io_fd, ev, IO_EVENTS, 0);

    for (int i = 0; i < n; i++) {
        struct weft__reg *reg = ev[i].data.ptr;
        uint32_t e = ev[i].events;
        short what = 0;
        /* As libevent maps them: a hang-up or an error wakes both. */
        if (e & (EPOLLHUP | EPOLLERR)) {
            what = WEFT__WATCH_READ | WEFT__WATCH_WRITE;
        } else {
            if (e & EPOLLIN)
                what |= WEFT__WATCH_READ;
            if (e & EPOLLOUT)
                what |= WEFT__WATCH_WRITE;
        }
        if (e & EPOLLRDHUP)
            what |= WEFT__WATCH_CLOSED;
        /* Acquire: pairs with the release in weft__reactor_register. The
         * kernel already orders the registration before this edge; the
         * pair tells ThreadSanitizer so, for a visitor's thread. */
        (void)weft__load_acquire_u32(&reg->published);
        reg->fn(reg, what);
    }
    return n < 0 ? 0 : n;
}

/* The end of a weft__reactor_block_for: being awake is all it wants. */
static void tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

static void io_ready(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)collect(arg);
}

int weft__reactor_init(struct weft__reactor *r)
{
    memset(r, 0, sizeof *r);
    r->io_fd = -1;
    r->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (r->wake_fd < 0)
        return errno == EMFILE || errno == ENFILE ? -errno : -ENOMEM;
    r->io_fd = epoll_create1(EPOLL_CLOEXEC);
    if (r->io_fd < 0)
        return errno == EMFILE || errno == ENFILE ? -errno : -ENOMEM;
    int rc = new_base(r);
    if (rc < 0)
        return rc;
    /* Persistent, so the base is never empty and blocking always blocks. */
    r->wake_event = event_new(r->base, r->wake_fd, EV_READ | EV_PERSIST,
                              drain_wake_fd, r);
    if (r->wake_event == NULL || event_add(r->wake_event, NULL) < 0)
        return -ENOMEM;
    /* Level-triggered: edges a visitor left behind wake the owner too. */
    r->io_event = event_new(r->base, r->io_fd, EV_READ | EV_PERSIST,
                            io_ready, r);
    if (r->io_event == NULL || event_add(r->io_event, NULL) < 0)
        return -ENOMEM;
    r->tick_event = evtimer_new(r->base, tick, r);
    if (r->tick_event == NULL)
        return -ENOMEM;
    return 0;
}

void weft__reactor_destroy(struct weft__reactor *r)
{
    /* A descriptor's timeout timer (sched/iowait.h) stays armed, not
     * counted in r->pending, until the descriptor is released, and a
     * program may end without closing it. The base drops it. */
    if (r->tick_event != NULL)
        event_free(r->tick_event);
    if (r->io_event != NULL)
        event_free(r->io_event);
    if (r->wake_event != NULL)
        event_free(r->wake_event);
    if (r->base != NULL)
        event_base_free(r->base);
    weft__free(r->due);
    if (r->io_fd >= 0)
        close(r->io_fd);
    if (r->wake_fd >= 0)
        close(r->wake_fd);
    memset(r, 0, sizeof *r);
    r->wake_fd = -1;
    r->io_fd = -1;
}

static void run_due(struct weft__reactor *r);

/* The owner has polled: visitors see its count move (the only writer). */
static void polled(struct weft__reactor *r)
{
    weft__store_relaxed_u32(&r->polls, weft__load_relaxed_u32(&r->polls) + 1);
}

void weft__reactor_poll(struct weft__reactor *r)
{
    int64_t now = weft__now_ns();

    /* The base's loop costs two system calls (its epoll_wait, and the
     * re-arming of its timerfd) besides the registrations' own
     * epoll_wait. A busy worker polls every few switches: let its timers
     * be up to TIMER_SLACK_NS late, and collect edges alone in between. */
    if (now - r->loop_at >= TIMER_SLACK_NS) {
        r->loop_at = now;
        event_base_loop(r->base, EVLOOP_NONBLOCK);
        run_due(r);
    } else if (weft__load_relaxed_u32(&r->held) > 0 ||
               weft__load_relaxed_u32(&r->wanted) > 0) {
        (void)collect(r);
    }
    polled(r);
}

void weft__reactor_block(struct weft__reactor *r)
{
    weft__store_relaxed_u32(&r->blocked, 1);
    event_base_loop(r->base, EVLOOP_ONCE);
    /* Awake: visitors may look after this worker's descriptors while
     * the timers' fns run. */
    weft__store_relaxed_u32(&r->blocked, 0);
    run_due(r);
    r->loop_at = weft__now_ns();
    polled(r);
}

void weft__reactor_block_for(struct weft__reactor *r, long us)
{
    struct timeval tv = { .tv_sec = us / 1000000, .tv_usec = us % 1000000 };

    /* Without room in the timer heap, a plain poll: the caller loops. */
    if (evtimer_add(r->tick_event, &tv) < 0) {
        weft__reactor_poll(r);
        return;
    }
    weft__reactor_block(r);
    evtimer_del(r->tick_event);
}

int weft__reactor_visit(struct weft__reactor *r, int64_t now, int64_t stale_ns)
{
    /* Nothing waits here, or the owner sleeps in epoll_wait and the
     * kernel wakes it for these edges itself. */
    if (weft__load_relaxed_u32(&r->held) == 0 ||
        weft__load_relaxed_u32(&r->blocked))
        return 0;
    uint32_t polls = weft__load_relaxed_u32(&r->polls);
    if (polls != weft__load_relaxed_u32(&r->seen_polls)) {
        /* The owner polled since the last look. Visitors race on these
         * two stamps; the worst a race does is one visit early or late. */
        weft__store_relaxed_u32(&r->seen_polls, polls);
        weft__store_relaxed_u64(&r->seen_at, (uint64_t)now);
        return 0;
    }
    if (now - (int64_t)weft__load_relaxed_u64(&r->seen_at) < stale_ns)
        return 0;
    /* A full barrier: weft__reactor_settled either sees this visitor, or
     * its registration was removed before this epoll_wait could
     * collect its edges. Pairs with the fence there. */
    weft__faa_u32(&r->visitors, 1);
    int n = collect(r);
    /* Release: the fns' effects before the count drops. */
    weft__faa_u32(&r->visitors, (uint32_t)-1);
    return n;
}

bool weft__reactor_settled(struct weft__reactor *r)
{
    /* After the caller's epoll_ctl(EPOLL_CTL_DEL); pairs with the FAA of
     * weft__reactor_visit. */
    weft__fence_full();
    return weft__load_acquire_u32(&r->visitors) == 0;
}

void weft__reactor_wake(struct weft__reactor *r)
{
    uint64_t one = 1;
    /* EAGAIN means the counter is already non-zero: it wakes anyway. */
    ssize_t rc = write(r->wake_fd, &one, sizeof one);
    (void)rc;
}

static void run_watch(struct weft__watch *w)
{
    w->armed = false;
    w->due = false;
    w->reactor->pending -= w->counted;
    w->fn(w);
}

/* Keeps a timer that fired for run_due; false if there is no room. */
static bool defer(struct weft__reactor *r, struct weft__watch *w)
{
    if (r->ndue == r->due_cap) {
        unsigned cap = r->due_cap == 0 ? 16 : r->due_cap * 2;
        struct weft__due *due =
            cap > r->due_cap ? weft__realloc(r->due, cap * sizeof *due) : NULL;
        if (due == NULL)
            return false;
        r->due = due;
        r->due_cap = cap;
    }
    r->due[r->ndue] = (struct weft__due){ w, w->at, r->ndue };
    r->ndue++;
    w->due = true;
    return true;
}

/* libevent runs the timers of a common timeout (weft__watch_timer_common)
 * after the heap's timers that are due in the same loop, whatever their
 * deadlines. So a timer's fn waits here until the loop returns, and the
 * fns of the timers due together run in the order of their deadlines,
 * as asyncio runs its due timers: a sleep that ends before another
 * task's deadline wakes first. Without room to wait, a fn runs at once. */
static void fired(evutil_socket_t fd, short what, void *arg)
{
    struct weft__watch *w = arg;

    (void)fd;
    (void)what;
    if (w->at < 0 || !defer(w->reactor, w))
        run_watch(w);
}

static int due_order(const void *a, const void *b)
{
    const struct weft__due *x = a, *y = b;

    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* After a loop of the base: the fns of the timers it fired. */
static void run_due(struct weft__reactor *r)
{
    if (r->ndue == 0)
        return;
    if (r->ndue > 1)
        qsort(r->due, r->ndue, sizeof *r->due, due_order);
    /* A fn may cancel a timer further on (weft__watch_cancel clears its
     * entry), but not fire one: no loop runs meanwhile. */
    for (unsigned i = 0; i < r->ndue; i++) {
        struct weft__watch *w = r->due[i].watch;
        if (w != NULL) {
            r->due[i].watch = NULL;
            run_watch(w);
        }
    }
    r->ndue = 0;
}

/* w is new, or fired and its fn ran, or cancelled: never armed (nor
 * due) here, so none of its fields is read. */
static int arm(struct weft__reactor *r, struct weft__watch *w, int fd,
               short events, const struct timeval *tv, int64_t at,
               weft__watch_fn fn, bool counted)
{
    w->reactor = r;
    w->fn = fn;
    w->at = at;
    w->armed = false;
    w->due = false;
    w->counted = counted;
    event_assign(&w->ev, r->base, fd, events, fired, w);
    if (event_add(&w->ev, tv) < 0)
        return -ENOMEM;
    w->armed = true;
    r->pending += counted;
    return 0;
}

/* The libevent timeval naming the common timeout of ms (> 0) on r's base,
 * made on first use while the table has room; NULL: use the heap. */
static const struct timeval *common_timeout(struct weft__reactor *r,
                                            const struct timeval *tv,
                                            int64_t ms)
{
    /* Fibonacci hashing: durations are often round numbers, whose low
     * bits alone would crowd a few slots. */
    unsigned at = (unsigned)(((uint64_t)ms * 0x9E3779B97F4A7C15ull) >> 58);

    _Static_assert(WEFT__COMMON_SLOTS == 64, "the shift above takes 6 bits");
    for (unsigned i = 0; i < WEFT__COMMON_SLOTS; i++) {
        unsigned k = (at + i) % WEFT__COMMON_SLOTS;
        if (r->common[k].tv == NULL) {
            if (r->ncommon == WEFT__COMMON_MAX)
                return NULL;
            /* libevent's own cap is 256 queues a base; NULL also for no
             * memory, and the heap serves then. */
            const struct timeval *c = event_base_init_common_timeout(r->base, tv);
            if (c == NULL)
                return NULL;
            r->common[k].ms = ms;
            r->common[k].tv = c;
            r->ncommon++;
            return c;
        }
        if (r->common[k].ms == ms)
            return r->common[k].tv;
    }
    return NULL;
}

static int arm_timer(struct weft__reactor *r, struct weft__watch *w,
                     int64_t ms, weft__watch_fn fn, bool counted, bool common)
{
    /* 2^31 s is 68 years: as good as never, and far from overflowing
     * libevent's sum with the time now. */
    const int64_t max_s = INT32_MAX;
    struct timeval tv;

    int64_t at = weft__now_ns();

    if (ms < 0)
        ms = 0;
    if (ms / 1000 >= max_s) {
        tv.tv_sec = (time_t)max_s;
        tv.tv_usec = 0;
        common = false;
        at = INT64_MAX;
    } else {
        tv.tv_sec = (time_t)(ms / 1000);
        tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
        at += ms * 1000000; /* below 2^31 s: no overflow */
    }
    const struct timeval *c = common && ms > 0 ? common_timeout(r, &tv, ms)
                                               : NULL;
    return arm(r, w, -1, 0, c != NULL ? c : &tv, at, fn, counted);
}

int weft__watch_timer(struct weft__reactor *r, struct weft__watch *w,
                      int64_t ms, weft__watch_fn fn)
{
    return arm_timer(r, w, ms, fn, true, false);
}

int weft__watch_timer_common(struct weft__reactor *r, struct weft__watch *w,
                             int64_t ms, weft__watch_fn fn)
{
    return arm_timer(r, w, ms, fn, true, true);
}

int weft__watch_timer_uncounted(struct weft__reactor *r, struct weft__watch *w,
                                int64_t ms, weft__watch_fn fn)
{
    return arm_timer(r, w, ms, fn, false, false);
}

int weft__watch_fd(struct weft__reactor *r, struct weft__watch *w, int fd,
                   short events, weft__watch_fn fn)
{
    return arm(r, w, fd, events, NULL, -1, fn, true);
}

void weft__watch_cancel(struct weft__watch *w)
{
    if (!w->armed)
        return;
    struct weft__reactor *r = w->reactor;
    if (w->due) {
        /* Fired, and cancelled by the fn of a timer due with it before
         * its own fn ran: it must not run. */
        for (unsigned i = 0; i < r->ndue; i++) {
            if (r->due[i].watch == w)
                r->due[i].watch = NULL;
        }
        w->due = false;
    } else {
        event_del(&w->ev);
    }
    w->armed = false;
    r->pending -= w->counted;
}

int weft__reactor_register(struct weft__reactor *r, struct weft__reg *reg,
                           int fd, weft__reg_fn fn)
{
    struct epoll_event ev = {
        .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
        .data.ptr = reg,
    };

    reg->reactor = NULL;
    reg->fn = fn;
    reg->fd = fd;
    /* Pairs with the acquire in collect. */
    weft__store_release_u32(&reg->published, 1);
    if (fd < 0)
        return -EBADF;
    if (epoll_ctl(r->io_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int err = errno;
        return err == EBADF || err == EPERM || err == ENOSPC || err == EEXIST
                   ? -err
                   : -ENOMEM;
    }
    reg->reactor = r;
    weft__faa_u32(&r->registered, 1);
    return 0;
}

void weft__reactor_unregister(struct weft__reg *reg)
{
    if (reg->reactor == NULL)
        return;
    (void)epoll_ctl(reg->reactor->io_fd, EPOLL_CTL_DEL, reg->fd, NULL);
    weft__faa_u32(&reg->reactor->registered, (uint32_t)-1);
    reg->reactor = NULL;
}
