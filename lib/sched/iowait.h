/* A task's wait for a descriptor's readiness.
 *
 * A descriptor weft manages has a struct weft__io. It is registered once,
 * edge-triggered and persistent, with the reactor of the worker where a
 * task first has to wait on it (its home), and stays registered until
 * released, just before the descriptor is closed: one epoll_ctl to add,
 * one to remove, none per wait.
 *
 * Each direction (read, write) counts the edges seen. The protocol: read
 * the tick, try the system call, and only on EAGAIN call weft__io_wait
 * with the tick read before. If an edge came after the tick, the wait
 * returns at once and the call is tried again, so an edge that raced
 * with the call is never lost. An edge for bytes already read costs one
 * EAGAIN, never a loop.
 *
 * Edges usually run on home's thread, but an idle worker collects them
 * when home has not polled for a while (weft__reactor_visit): home may be
 * stuck in a long task, or waiting for a CPU. A waiter woken so runs on
 * the worker that woke it, unless its wait armed a scope's deadline
 * there. So the waiter slots are under a lock.
 *
 * Timeouts are lazy. Each direction has one timer in the io, on home's
 * reactor, and each waiter its own deadline. A wait arms the timer only
 * if it is not armed, or armed to fire after the waiter's deadline; a
 * wait that ends leaves it armed. When it fires, it times out the waiter
 * it finds if that one's deadline has come, or else arms itself again
 * for that deadline. So a connection whose reads keep a 30 s timeout and
 * are each served in a millisecond touches its timer once in 30 s, not
 * twice per read. Only home's thread touches the timer: a task on
 * another worker waits where it is when the timer needs nothing from it
 * (no timeout, or one the armed timer comes before), and else hops home
 * first.
 *
 * One task may wait per direction at a time (a second gets -EBUSY), as
 * in libdill and asyncio's streams.
 */
#ifndef WEFT_SCHED_IOWAIT_H
#define WEFT_SCHED_IOWAIT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/atomic.h"
#include "core/internal.h"
#include "reactor/reactor.h"

typedef struct weft__task weft__task; /* sched/task.h */

struct weft__worker;
struct weft__io_waiter; /* on the waiting task's stack (iowait.c) */

/* Directions, as indexes and as bits of a mask. */
enum { WEFT__IO_READ = 0, WEFT__IO_WRITE = 1 };
#define WEFT__IO_IN (1u << WEFT__IO_READ)
#define WEFT__IO_OUT (1u << WEFT__IO_WRITE)

struct weft__io {
    int fd;
    /* atomic: NULL until the first wait registers it; then the worker
     * whose reactor holds it; a sentinel once released */
    struct weft__worker *home;
    uint32_t tick[2];              /* atomic: edges seen, per direction */
    uint32_t inbound;              /* atomic: tasks in weft__io_wait on it
                                      (hopping home, or waiting there) */
    uint32_t rdhup;                /* atomic: an edge has seen the peer
                                      shut down its side (EPOLLRDHUP);
                                      stored before the read tick that
                                      came with it, and never cleared */
    weft__spinlock lock;           /* guards waiter, released, and
                                      timer_at for threads but home's */
    struct weft__io_waiter *waiter[2];
    bool released;
    int64_t timer_at[2];           /* when timer[dir] fires (weft__now_ns),
                                      or 0 while it is not armed; written
                                      by home's thread under lock */
    struct weft__watch timer[2];   /* home's thread only: the timeouts of
                                      the waits, per direction (lazy, see
                                      above) */
    struct weft__reg reg;          /* on home's reactor */
    struct weft__worker *wanted;   /* whose reactor polls for its output
                                      (weft__io_want_writable), or NULL */
    /* Called at each write edge, after waking a writer, on home's thread
     * or a visitor's: a stream sends what it queued from there. Set
     * once, with weft__io_set_on_writable, which publishes it in
     * writable_set. */
    void (*on_writable)(struct weft__io *io);
    uint32_t writable_set;         /* atomic */
};

/* Sets io's on_writable, which an edge on another thread may call from
 * then on. */
static inline void weft__io_set_on_writable(struct weft__io *io,
                                            void (*fn)(struct weft__io *io))
{
    io->on_writable = fn;
    /* Pairs with the acquire in the edge callback (iowait.c). */
    weft__store_release_u32(&io->writable_set, 1);
}

/* Starts managing fd (not yet registered anywhere). */
void weft__io_init(struct weft__io *io, int fd);

/* The ticks to pass to weft__io_wait: read them before the system call.
 * Both directions, packed (read in the low half). */
static inline uint64_t weft__io_ticks(const struct weft__io *io)
{
    /* Pairs with the increment in the edge callback (iowait.c): an edge
     * counted before this load was for bytes the next call will see. */
    return (uint64_t)weft__load_acquire_u32(&io->tick[WEFT__IO_READ]) |
           (uint64_t)weft__load_acquire_u32(&io->tick[WEFT__IO_WRITE]) << 32;
}

/* After a call on io->fd failed with EAGAIN: suspends the calling task
 * (self) until an edge in a direction of `dirs` (WEFT__IO_IN,
 * WEFT__IO_OUT or both) comes after `ticks`, for at most
 * timeout_ms (WEFT_FOREVER: no limit). Returns 0 (try the call again),
 * -ETIMEDOUT (its own timeout or a scope's deadline), -ECANCELED,
 * -EBUSY (another task waits in one of the directions), -EBADF (released
 * meanwhile), -ENOMEM, or -EPERM (epoll refuses the descriptor: a
 * regular file, -EEXIST: registered already by another io on the same
 * worker). flags: as weft__wait_begin's; what: the enum weft__waiting
 * task dumps show. The task resumes on the worker that woke it (home, or
 * a visitor), or where a scope's deadline was armed; a pinned task goes
 * back to its own worker. */
int weft__io_wait(weft__task *self, struct weft__io *io, unsigned dirs,
                  uint64_t ticks, int64_t timeout_ms, unsigned flags,
                  unsigned what);

/* Registers io on the calling worker unless it has a home already, so
 * that its edges (and on_writable) come without a wait. Returns 0, or
 * the error that kept it from being registered (-EBADF once released).
 * On a worker. */
int weft__io_register(struct weft__io *io);

/* Output is queued on io (want) or no longer (!want): while it is, its
 * home polls its reactor as it runs tasks, so that write edges reach
 * on_writable even on a worker that never parks. io must be registered.
 * Serialised by the caller (a stream's output lock). */
void weft__io_want_writable(struct weft__io *io, bool want);

/* Counts a call that completed without waiting; every
 * WEFT__IO_BUDGET of them in a row, yields, so that a task whose
 * socket is always ready cannot starve the others. */
#define WEFT__IO_BUDGET 128
void weft__io_budget_spend(weft__task *self);

/* Stops managing io, before its descriptor is closed: removes its
 * registration (on home), ends any wait on it with -EBADF (a task on its
 * way home to wait gets it on arrival), and returns once every such
 * task has left it. Later waits get -EBADF. A second release does
 * nothing. On a task; shielded. */
void weft__io_release(weft__task *self, struct weft__io *io);

/* Makes a released io fresh, for its descriptor number to be waited on
 * again (io/fd.c): the next wait registers it anew. Ticks go on. */
void weft__io_reuse(struct weft__io *io);

#endif /* WEFT_SCHED_IOWAIT_H */
