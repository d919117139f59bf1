/* The task object. */
#ifndef WEFT_TASK_INTERNAL_H
#define WEFT_TASK_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "atomic.h"
#include "context.h"
#include "internal.h"
#include "stack.h"

struct weft__runtime;
struct weft__worker;

struct weft__waitset;
struct weft__scope;

/* One wait for a task to finish, linked into that task's list. It lives
 * on the waiting task's stack (or in a waitset or a group), which stays
 * put while it waits. When the task finishes, its finisher calls
 * on_finish, or hands the node to `set` (a wait on many tasks), or wakes
 * `task` (a single wait). */
struct weft__waiter {
    struct weft__waiter *next;    /* in target's list, under its lock */
    struct weft__waiter *prev;
    weft_task *target;            /* the task waited for */
    weft_task *task;              /* a single wait: the waiting task */
    uint32_t seq;                 /* ... and its suspension */
    uint32_t released;            /* atomic: the finisher is done with it
                                     (single waits; sets use it for their
                                     own count, hooks not at all) */
    struct weft__waitset *set;    /* a wait on many tasks, or NULL */
    struct weft__waiter *done_next; /* in the set's list of finished */
    /* Or else, run by the finisher instead (task groups). It owns the
     * node from then on. */
    void (*on_finish)(struct weft__waiter *node);
};

#define WEFT__TASK_MAGIC 0x7461736bu /* "task": the struct is a live task */
#define WEFT__NEVER_RAN UINT32_MAX  /* last_worker of a task not yet run */

/* What a suspended task waits on, for task dumps. */
enum weft__waiting {
    WEFT__WAITING_NOTHING = 0,
    WEFT__WAITING_SLEEP,   /* weft_sleep */
    WEFT__WAITING_TASK,    /* weft_await and its kin; obj: the task */
    WEFT__WAITING_TASKS,   /* gather, wait, as_completed */
    WEFT__WAITING_GROUP,   /* weft_group_wait */
    WEFT__WAITING_OTHER,   /* a wait of the scheduler's own */
    WEFT__WAITING_LOCK,    /* a lock or read-write lock */
    WEFT__WAITING_SEMAPHORE,
    WEFT__WAITING_EVENT,
    WEFT__WAITING_CONDITION,
    WEFT__WAITING_BARRIER,
    WEFT__WAITING_QUEUE,   /* a queue's get or put */
    WEFT__WAITING_CHANNEL,
    WEFT__WAITING_GENERATOR,
    WEFT__WAITING_LIMITER, /* a rate limiter's tokens */
    WEFT__WAITING_THREAD,  /* a job on a thread pool (weft_to_thread) */
    WEFT__WAITING_PROCESS, /* a call on the process pool */
    WEFT__WAITING_FD,      /* a file descriptor's readiness */
};

struct weft_task {
    uint32_t magic;             /* WEFT__TASK_MAGIC until freed */
    weft_task *next;            /* run-queue link, owned by the queue */
    struct weft__ctx ctx;       /* saved registers while not running */
    struct weft__stack *stack;  /* NULL until the task first runs */
    uint64_t wait;              /* atomic wait word, see scheduler.h */
    uint32_t refs;              /* atomic reference count */
    uint32_t done;              /* atomic: 1 once the task has finished */
    uint32_t cancel_requested;  /* atomic, sticky: weft_cancel() was called */
    uint32_t retrieved;         /* atomic: its error reached someone */
    weft__spinlock lock;        /* guards waiters, the move to done, and
                                   cancel_requested against it */
    unsigned stack_cls;         /* stack size class to take at first run */
    struct weft__waiter *waiters;
    weft_fn fn;
    void *arg;
    void *result;
    int err;                    /* 0, or the error it failed with */
    char *errmsg;               /* weft_fail()'s message, or NULL */
    uint64_t id;
    struct weft__runtime *rt;
    struct weft__worker *home;  /* the worker a pinned task stays on */
    bool pinned;                /* WEFT_SPAWN_PINNED */
    struct weft__scope *scopes; /* innermost open timeout or shield scope */
    unsigned shields;           /* shield scopes open */
    struct weft__scope *armed_scope; /* whose deadline this suspension armed */
    /* The worker holding a timer of the current suspension (a sleep or a
     * deadline): a wake from elsewhere sends the task back there, since
     * only that worker may touch its event base. */
    struct weft__worker *armed_on;
    /* For task dumps, written by the task (relaxed), read by anyone. */
    uint32_t waiting;           /* enum weft__waiting */
    uint32_t last_worker;       /* index of the worker it last ran on */
    int64_t waiting_since;      /* weft__coarse_now() when it suspended */
    uint64_t waiting_on;        /* the id of the task awaited, or 0 */
    struct weft__registry *registry; /* the list it is registered in */
    weft_task *reg_next;        /* in registry, under its lock */
    weft_task *reg_prev;
    char *name;                 /* NULL until named or asked for */
#ifdef WEFT__ASAN
    void *asan_fake_stack;      /* ASan's fake stack while switched out */
#endif
#ifdef WEFT__TSAN
    void *tsan_fiber;
#endif
};

/* Creates a task on worker w (the caller's worker) and makes it ready.
 * refs is 2 when the caller wants a handle, else 1: the runtime's own
 * reference is dropped when the task ends. */
int weft__task_create(struct weft__worker *w, weft_fn fn, void *arg,
                      const weft_spawn_opts *opts, weft_task **out);

/* Frees a task struct whose last reference is gone: into the calling
 * worker's cache, or to the allocator off the workers. */
void weft__task_free(weft_task *t);

/* Gives every struct cached by w, and then the runtime's pool, back to the
 * allocator. */
void weft__task_cache_flush(struct weft__worker *w);
void weft__task_pool_drain(struct weft__runtime *rt);

/* Like weft__task_create, but the task is pinned to worker home of the
 * same runtime and delivered through its inbox. */
int weft__task_create_on(struct weft__worker *w, struct weft__worker *home,
                         weft_fn fn, void *arg, const weft_spawn_opts *opts,
                         weft_task **out);

/* Like weft__task_create, from a thread that is not a worker of rt: the
 * task goes to the global queue (a pinned one to worker 0). */
int weft__task_create_foreign(struct weft__runtime *rt, weft_fn fn,
                              void *arg, const weft_spawn_opts *opts,
                              weft_task **out);

/* Runs in a new task's context: the body, then completion. */
void weft__task_body(weft_task *t);

/* Marks t finished and wakes its awaiters. err != 0 fails it first with
 * that error and message (for a task that could never start). */
void weft__task_complete(weft_task *t, int err, const char *msg);

/* Links a wait to target, unless it has finished (then false). */
bool weft__waiter_add(weft_task *target, struct weft__waiter *node);

/* Unlinks a wait that ended otherwise than by target finishing. Returns
 * true if it was unlinked; false if target finished meanwhile, in which
 * case a single wait's node is released before this returns, a set's
 * node is on its way to the set, and an on_finish node is its hook's:
 * the caller must wait for the hook to have run before reusing it. */
bool weft__waiter_remove(weft_task *target, struct weft__waiter *node);

/* Waits until target has finished: 0, or the -ECANCELED or -ETIMEDOUT
 * that interrupted the wait (never with WEFT__WAIT_SHIELDED). */
int weft__task_wait_done(weft_task *self, weft_task *target, unsigned flags);

/* Hands a finished target's node to its waitset (waitset.c). */
void weft__waitset_deliver(struct weft__waiter *node);

/* Adds t to / removes t from the registry of live tasks (registry.c). */
void weft__registry_add(struct weft__worker *w, weft_task *t);
void weft__registry_remove(weft_task *t);

/* Notes what the calling task is about to wait on (and, with
 * WEFT__WAITING_NOTHING, that it has stopped). Cheap: a coarse clock. */
void weft__task_waiting(weft_task *self, enum weft__waiting what,
                        const weft_task *on);

/* Milliseconds on CLOCK_MONOTONIC_COARSE: a few ms of resolution, a few
 * ns to read. */
int64_t weft__coarse_now(void);

/* Releases what a finished task held for running: its stack reservation,
 * its place in the live count and the runtime's reference. Its stack has
 * already been returned by the scheduler. */
void weft__task_retire(weft_task *t);

#endif /* WEFT_TASK_INTERNAL_H */
