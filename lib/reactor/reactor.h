/* The reactor: one worker's libevent base, and the one-shot timers and
 * descriptor watches that tasks and callbacks arm on it.
 *
 * Every use of libevent goes through here. A base belongs to one worker
 * thread: only that thread arms, cancels or polls it (the base is built
 * without locks). Other threads reach it only through weft__reactor_wake,
 * which writes an eventfd the base watches, and through
 * weft__reactor_visit, which collects edges from the registrations' own
 * epoll set, nested in the base.
 *
 * A watch is caller storage (usually on the stack of the task that
 * waits), armed once and fired or cancelled once. The reactor counts the
 * watches armed on it, so the scheduler knows when polling is due: a
 * worker with nothing armed never polls while it has tasks to run.
 * (A descriptor's timeout timer is not counted: its waiters are.)
 */
#ifndef WEFT_REACTOR_REACTOR_H
#define WEFT_REACTOR_REACTOR_H

#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/atomic.h"
#include "core/internal.h"

/* Slots of a reactor's table of common timeouts (weft__watch_timer_common),
 * and the most durations it holds: half full, so a probe stays short. */
#define WEFT__COMMON_SLOTS 64
#define WEFT__COMMON_MAX 32

struct weft__reactor {
    struct event_base *base; /* NULL until built */
    unsigned pending;        /* watches armed, not yet fired or cancelled */
    uint32_t wanted;         /* atomic: registrations whose edges matter
                                with no waiter (queued output) */
    uint32_t held;           /* atomic: waiters on registrations */
    uint32_t registered;     /* atomic: registrations (written by the
                                owner, read by idle workers) */
    int wake_fd;             /* eventfd; -1 until built */
    struct event *wake_event; /* persistent read on wake_fd */
    /* Registrations live in an epoll set of their own, nested in the
     * base, so that another worker may collect their edges while this
     * one is busy or off its CPU (weft__reactor_visit). */
    int io_fd;               /* that epoll set; -1 until built */
    struct event *io_event;  /* persistent read on io_fd */
    struct event *tick_event; /* timer of weft__reactor_block_for */
    int64_t loop_at;         /* when the base's loop last ran (ns) */
    uint32_t polls;          /* atomic: times the owner has polled */
    uint32_t blocked;        /* atomic: the owner is in weft__reactor_block */
    uint32_t visitors;       /* atomic: other threads collecting edges */
    uint32_t seen_polls;     /* atomic: polls when a visitor last looked */
    uint64_t seen_at;        /* atomic: when that count last changed (ns) */
    /* Durations (ms) given a queue of their own in the base, and the
     * libevent timeval that names it; tv NULL in an empty slot. */
    struct {
        int64_t ms;
        const struct timeval *tv;
    } common[WEFT__COMMON_SLOTS];
    unsigned ncommon;        /* slots in use */
    /* Timers that fired in the loop running now, whose fns run once it
     * returns, in the order of their deadlines (see fired in reactor.c). */
    struct weft__due *due;
    unsigned ndue, due_cap;
};

struct weft__watch;
typedef void (*weft__watch_fn)(struct weft__watch *watch);

/* A one-shot timer or descriptor watch. */
struct weft__watch {
    struct event ev;
    struct weft__reactor *reactor; /* where it is armed */
    int64_t at;                    /* a timer's deadline (weft__now_ns);
                                      -1 for a descriptor watch */
    bool armed;                    /* ev is in the base, or it fired and
                                      its fn is still due */
    bool counted;                  /* in reactor->pending while armed */
    bool due;                      /* fired; in reactor->due */
    weft__watch_fn fn;             /* called once, when it fires */
};

/* A timer that fired, and the order it fired in among those of one loop. */
struct weft__due {
    struct weft__watch *watch;     /* NULL once cancelled by another fn */
    int64_t at;
    unsigned seq;
};

/* Builds r. Returns 0, -ENOMEM, -EMFILE or -ENFILE; r is then safe to
 * give to weft__reactor_destroy. */
int weft__reactor_init(struct weft__reactor *r);

/* Frees what init built; accepts a half-built reactor. Watches still
 * armed must have been cancelled. */
void weft__reactor_destroy(struct weft__reactor *r);

/* True while a watch is armed, or a registration wants its edges:
 * polling may make something ready, or send something. */
static inline bool weft__reactor_pending(const struct weft__reactor *r)
{
    return r->pending > 0 || weft__load_relaxed_u32(&r->wanted) > 0 ||
           weft__load_relaxed_u32(&r->held) > 0;
}

/* A registration starts (+1) or stops (-1) wanting its edges without a
 * waiter. Any thread. */
static inline void weft__reactor_want(struct weft__reactor *r, int delta)
{
    weft__faa_u32(&r->wanted, (uint32_t)delta);
}

/* Runs the callbacks of whatever is due, without blocking. */
void weft__reactor_poll(struct weft__reactor *r);

/* Blocks until a watch fires or another thread calls weft__reactor_wake,
 * then runs what is due. */
void weft__reactor_block(struct weft__reactor *r);

/* weft__reactor_block for at most us microseconds. */
void weft__reactor_block_for(struct weft__reactor *r, long us);

/* Gets r's thread out of weft__reactor_block, now or at its next call.
 * Any thread; async-signal-safe. */
void weft__reactor_wake(struct weft__reactor *r);

/* Arms w to call fn(w) once, ms milliseconds from now (ms >= 0; a time
 * beyond what libevent holds is clamped to decades). Returns 0 or -ENOMEM
 * (libevent's timer heap could not grow); not armed then. */
int weft__watch_timer(struct weft__reactor *r, struct weft__watch *w,
                      int64_t ms, weft__watch_fn fn);

/* weft__watch_timer for a duration that tends to come back (a task's
 * sleep, a call_later delay). The first WEFT__COMMON_MAX durations a
 * reactor sees each get a queue of their own in the base, libevent's
 * "common timeouts": arming and cancelling there is a list operation,
 * where the timer heap costs a logarithmic number of cache misses with
 * thousands armed. Other durations go to the heap. A cancelled timer
 * that was first in its queue still wakes the base once, at its old
 * time. Timers due in one poll run their fns in deadline order, queue
 * or heap (reactor.c, fired). Same returns. */
int weft__watch_timer_common(struct weft__reactor *r, struct weft__watch *w,
                             int64_t ms, weft__watch_fn fn);

/* Durations that have a queue of their own on r (tests). */
static inline unsigned weft__reactor_common_count(const struct weft__reactor *r)
{
    return r->ncommon;
}

/* weft__watch_timer, but the timer does not make polling due by itself
 * (weft__reactor_pending): for a timer that only matters while a waiter
 * holds the reactor (weft__reactor_hold), such as a descriptor's lazy
 * timeout (sched/iowait.h), left armed when its waits end. */
int weft__watch_timer_uncounted(struct weft__reactor *r, struct weft__watch *w,
                                int64_t ms, weft__watch_fn fn);

/* Arms w to call fn(w) once fd is ready for events (WEFT__WATCH_READ,
 * WEFT__WATCH_WRITE or both). Returns 0 or -ENOMEM. */
#define WEFT__WATCH_READ 0x02  /* EV_READ */
#define WEFT__WATCH_WRITE 0x04 /* EV_WRITE */
#define WEFT__WATCH_CLOSED 0x80 /* EV_CLOSED: registrations only */
int weft__watch_fd(struct weft__reactor *r, struct weft__watch *w, int fd,
                   short events, weft__watch_fn fn);

/* A descriptor registered for good: edge-triggered, persistent, read and
 * write, so it costs one epoll_ctl when added and one when removed, and
 * none per wait. fn runs at each edge, with what became ready
 * (WEFT__WATCH_READ and/or WEFT__WATCH_WRITE; a hang-up or an error
 * reports both), plus WEFT__WATCH_CLOSED once the peer has shut down its
 * side (EPOLLRDHUP: the end of stream is queued). fn usually runs on the
 * reactor's thread, but a visitor may run it on its own (see
 * weft__reactor_visit), so it must be thread-safe. A registration does
 * not count as pending: the waiters it serves do (weft__reactor_hold). */
struct weft__reg;
typedef void (*weft__reg_fn)(struct weft__reg *reg, short what);
struct weft__reg {
    struct weft__reactor *reactor; /* where it is added, or NULL */
    weft__reg_fn fn;
    int fd;
    uint32_t published;            /* atomic: fn and fd are set */
};

/* Adds fd to r for good. Returns 0, or -ENOMEM (-EBADF, -EPERM for a
 * descriptor epoll refuses, such as a regular file, -EEXIST if fd is
 * registered on r already); not added then. On r's thread. */
int weft__reactor_register(struct weft__reactor *r, struct weft__reg *reg,
                           int fd, weft__reg_fn fn);

/* Removes a registration, before its descriptor is closed. On the
 * reactor's thread. A visitor may still be running its fn: see
 * weft__reactor_settled. */
void weft__reactor_unregister(struct weft__reg *reg);

/* True once no visitor that may have collected an edge of a
 * registration removed before this call is still running its fn. */
bool weft__reactor_settled(struct weft__reactor *r);

/* A waiter on a registration came or went: the scheduler polls while
 * any is there. Any thread. */
static inline void weft__reactor_hold(struct weft__reactor *r)
{
    weft__faa_u32(&r->held, 1);
}
static inline void weft__reactor_release(struct weft__reactor *r)
{
    weft__faa_u32(&r->held, (uint32_t)-1);
}

/* Called by another worker's thread, idle: if r's owner has waiters on
 * its registrations and has not polled for stale_ns, collects the edges
 * waiting in r's set and runs their fns here, so that a worker that is
 * busy in a long task, or waiting for a CPU, does not hold up the tasks
 * waiting on its descriptors. Returns the number of edges run. now: the
 * caller's weft__now_ns(). */
int weft__reactor_visit(struct weft__reactor *r, int64_t now, int64_t stale_ns);

/* Disarms w if it has not fired. On the reactor's thread. */
void weft__watch_cancel(struct weft__watch *w);

static inline bool weft__watch_armed(const struct weft__watch *w)
{
    return w->armed;
}

#endif /* WEFT_REACTOR_REACTOR_H */
