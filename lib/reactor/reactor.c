/* The reactor (see reactor.h). */
#include "reactor/reactor.h"

#include <errno.h>
#include <fcntl.h>
#include <event2/event.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

_Static_assert(WEFT__WATCH_READ == EV_READ && WEFT__WATCH_WRITE == EV_WRITE &&
                   WEFT__WATCH_CLOSED == EV_CLOSED,
               "watch flags must be libevent's");

/* Descriptors an epoll base takes: the epoll fd, the timerfd of a precise
 * timer, and the socketpair of its signal handling. */
#define BASE_FDS 4

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

int weft__reactor_init(struct weft__reactor *r)
{
    memset(r, 0, sizeof *r);
    r->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (r->wake_fd < 0)
        return errno == EMFILE || errno == ENFILE ? -errno : -ENOMEM;
    int rc = new_base(r);
    if (rc < 0)
        return rc;
    /* Persistent, so the base is never empty and blocking always blocks. */
    r->wake_event = event_new(r->base, r->wake_fd, EV_READ | EV_PERSIST,
                              drain_wake_fd, r);
    if (r->wake_event == NULL || event_add(r->wake_event, NULL) < 0)
        return -ENOMEM;
    return 0;
}

void weft__reactor_destroy(struct weft__reactor *r)
{
    WEFT__ASSERT(r->pending == 0);
    if (r->wake_event != NULL)
        event_free(r->wake_event);
    if (r->base != NULL)
        event_base_free(r->base);
    if (r->wake_fd >= 0)
        close(r->wake_fd);
    memset(r, 0, sizeof *r);
    r->wake_fd = -1;
}

void weft__reactor_poll(struct weft__reactor *r)
{
    event_base_loop(r->base, EVLOOP_NONBLOCK);
}

void weft__reactor_block(struct weft__reactor *r)
{
    event_base_loop(r->base, EVLOOP_ONCE);
}

void weft__reactor_wake(struct weft__reactor *r)
{
    uint64_t one = 1;
    /* EAGAIN means the counter is already non-zero: it wakes anyway. */
    ssize_t rc = write(r->wake_fd, &one, sizeof one);
    (void)rc;
}

static void fired(evutil_socket_t fd, short what, void *arg)
{
    struct weft__watch *w = arg;

    (void)fd;
    (void)what;
    w->armed = false;
    w->reactor->pending--;
    w->fn(w);
}

static int arm(struct weft__reactor *r, struct weft__watch *w, int fd,
               short events, const struct timeval *tv, weft__watch_fn fn)
{
    w->reactor = r;
    w->fn = fn;
    w->armed = false;
    event_assign(&w->ev, r->base, fd, events, fired, w);
    if (event_add(&w->ev, tv) < 0)
        return -ENOMEM;
    w->armed = true;
    r->pending++;
    return 0;
}

int weft__watch_timer(struct weft__reactor *r, struct weft__watch *w,
                      int64_t ms, weft__watch_fn fn)
{
    /* 2^31 s is 68 years: as good as never, and far from overflowing
     * libevent's sum with the time now. */
    const int64_t max_s = INT32_MAX;
    struct timeval tv;

    if (ms < 0)
        ms = 0;
    if (ms / 1000 >= max_s) {
        tv.tv_sec = (time_t)max_s;
        tv.tv_usec = 0;
    } else {
        tv.tv_sec = (time_t)(ms / 1000);
        tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
    }
    return arm(r, w, -1, 0, &tv, fn);
}

int weft__watch_fd(struct weft__reactor *r, struct weft__watch *w, int fd,
                   short events, weft__watch_fn fn)
{
    return arm(r, w, fd, events, NULL, fn);
}

void weft__watch_cancel(struct weft__watch *w)
{
    if (!w->armed)
        return;
    event_del(&w->ev);
    w->armed = false;
    w->reactor->pending--;
}

static void reg_fired(evutil_socket_t fd, short what, void *arg)
{
    struct weft__reg *reg = arg;

    (void)fd;
    reg->fn(reg, (short)(what & (EV_READ | EV_WRITE | EV_CLOSED)));
}

int weft__reactor_register(struct weft__reactor *r, struct weft__reg *reg,
                           int fd, weft__reg_fn fn)
{
    reg->reactor = NULL;
    reg->fn = fn;
    if (event_assign(&reg->ev, r->base, fd,
                     EV_READ | EV_WRITE | EV_CLOSED | EV_ET | EV_PERSIST,
                     reg_fired,
                     reg) < 0)
        return -EINVAL;
    errno = 0;
    if (event_add(&reg->ev, NULL) < 0) {
        /* epoll_ctl's own error, where libevent left it. */
        int err = errno;
        return err == EBADF || err == EPERM || err == ENOSPC ? -err : -ENOMEM;
    }
    reg->reactor = r;
    return 0;
}

void weft__reactor_unregister(struct weft__reg *reg)
{
    if (reg->reactor == NULL)
        return;
    event_del(&reg->ev);
    reg->reactor = NULL;
}
