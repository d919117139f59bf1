/* A worker: one thread, its reactor (libevent base), its queues and
 * caches.
 *
 * The fields up to `shared` belong to the worker's thread alone. The rest
 * are reached by other threads through the functions that say so.
 */
#ifndef WEFT_SCHED_WORKER_H
#define WEFT_SCHED_WORKER_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "arch/context.h"
#include "reactor/reactor.h"
#include "core/internal.h"

typedef struct weft__task weft__task; /* sched/task.h */
#include "core/list.h"
#include "sched/runq.h"
#include "sched/stack.h"
#include "core/thread.h"

struct weft__runtime;

/* The tasks created on one worker, for cancelling them all when main
 * returns and for task dumps: the live ones, and finished ones that a
 * handle still holds (their done is set). Tasks are added by the worker
 * that creates them and removed by whichever thread frees them, hence
 * the lock; at the runtime's end the rest are let go. */
struct weft__registry {
    weft__spinlock lock;
    struct weft__list tasks;        /* weft__task.reg_link */
    uint64_t count;
};

/* What the context that just switched away asked the next one to do with
 * it, once it is safely off its stack. */
enum weft__switch_action {
    WEFT__SWITCH_NONE,    /* the scheduler left; nothing to do */
    WEFT__SWITCH_YIELD,   /* requeue it at the back */
    WEFT__SWITCH_SUSPEND, /* publish its suspension; requeue if woken */
    WEFT__SWITCH_EXIT,    /* it finished: free its stack, retire it */
    WEFT__SWITCH_HOP,     /* hand it to the inbox of its armed_on worker */
};

struct weft__worker {
    /* --- owned by the worker's thread --------------------------------- */
    struct weft__runtime *rt;
    unsigned index;
    weft__task *current;             /* running task, or NULL; stored
                                       relaxed, as task dumps read it */
    int64_t slice_start;            /* debug mode: when current started
                                       running, in ns (relaxed) */
    weft__task *lifo;                /* LIFO slot: the task woken last */
    unsigned lifo_polls;            /* LIFO tasks run in a row */
    struct weft__fifo own;          /* ready tasks that must run here (pinned,
                                       or holding a timer here) */
    weft__task *prev;                /* context left by the last switch */
    enum weft__switch_action prev_action;
    unsigned ticks;                 /* task switches since the last poll */
    uint64_t tick;                  /* task picks, for the 61st-tick rule */
    struct weft__list soon;         /* call_soon callbacks to run, FIFO */
    uint64_t soon_seq;              /* call_soon callbacks queued so far */
    struct weft__list later;        /* call_later callbacks pending */
    bool searching;                 /* counted as a searcher in rt->idle */
    bool alone;                     /* the runtime's only worker */
    uint32_t rng;                   /* xorshift state for victim choice */
    uint64_t next_id;               /* task ids, taken in blocks */
    uint64_t id_limit;
    struct weft__reactor reactor;   /* its libevent base; wake_fd is read
                                       by the threads that wake it */
    struct weft__ctx sched_ctx;     /* the thread's own stack */
    struct weft__stack_cache stacks; /* with mprotect guards, reached by
                                        other workers at the limit, under
                                        its lock (stack.h) */
    struct weft__slink *task_cache; /* free task structs, a stack */
    unsigned task_cache_n;
    uint64_t live_share;            /* of rt->live (weft__live_flush) */
    char *rec_next;                 /* task records left to carve: */
    char *rec_end;                  /* the window faulted in, */
    char *rec_limit;                /* its chunk (sched/records.c) */
    unsigned rec_chunks;            /* chunks it has mapped */
    void *altstack;                 /* sigaltstack for the overflow handler */
    stack_t old_altstack;
    int altstack_on;
    struct weft__thread thread;      /* not for worker 0 (weft_run's) */
#ifdef WEFT__ASAN
    void *asan_fake_stack;          /* the scheduler's, while switched out */
    void *sched_stack_lo;
    size_t sched_stack_size;
#endif
#ifdef WEFT__TSAN
    void *tsan_fiber;               /* the thread's own fiber */
#endif

    /* --- shared with other threads ------------------------------------ */
    /* Tasks woken elsewhere that must run here (pinned, or holding a
     * timer here): a lock-free stack other threads push on
     * (weft__worker_inbox_push), taken whole by the owner. */
    struct weft__slink *inbox __attribute__((aligned(WEFT__CACHELINE)));
    uint32_t parked;                /* atomic; set under rt->idle.lock */
    uint32_t notified;              /* under rt->idle.lock */
    struct weft__runq runq;         /* its stealable local queue */
    weft_worker_stats stats;        /* written by the owner, but
                                       stolen_from by thieves (atomic) */
    uint64_t slow_seq;              /* atomic: a stats.polled the watchdog
                                       saw run too long (watchdog.h), or
                                       UINT64_MAX */
    int64_t slow_since_ms;          /* atomic: when it first saw it */
    struct weft__registry registry; /* the tasks created here, until
                                       freed */
} __attribute__((aligned(WEFT__CACHELINE)));

/* Builds worker index of rt. On failure the worker is left safe to pass
 * to weft__worker_destroy(). */
int weft__worker_init(struct weft__worker *w, struct weft__runtime *rt,
                      unsigned index);

/* Frees what init built; accepts a half-built worker. Its caches go back
 * to the runtime's pools. */
void weft__worker_destroy(struct weft__worker *w);

/* Binds the calling thread to w: TLS, the overflow handler's altstack and
 * the sanitizers' idea of the thread's stack. unbind undoes it. */
int weft__worker_bind(struct weft__worker *w);
void weft__worker_unbind(struct weft__worker *w);

/* Starts worker w (not worker 0, which is weft_run's own thread) on a new
 * thread running the scheduling loop. Returns 0 or -errno. */
int weft__worker_start(struct weft__worker *w);

/* Waits for a started worker's thread to end. */
void weft__worker_join(struct weft__worker *w);

/* Gets w out of epoll if it is blocked there. Any thread. */
void weft__worker_wake(struct weft__worker *w);

/* Hands over a ready task that must run on w. Any thread. */
void weft__worker_inbox_push(struct weft__worker *w, weft__task *t);

/* The calling thread's worker, or NULL. Never inlined, so that a caller
 * that resumes on another thread after a switch reads its new worker
 * rather than a cached TLS address (feasibility.md, section 5). */
struct weft__worker *weft__worker_self(void);
void weft__worker_set_self(struct weft__worker *w);

/* Runs the call_soon callbacks queued on w so far (callback.c). */
void weft__callbacks_run_soon(struct weft__worker *w);

/* Drops w's pending callbacks, at the end of the runtime. */
void weft__callbacks_drop(struct weft__worker *w);

/* Next task id for a task created on w. */
uint64_t weft__worker_next_id(struct weft__worker *w);

/* A task id for a task created off the workers. */
uint64_t weft__next_id_shared(void);

/* Counts an event in one of the owner's counters; relaxed, so that
 * weft_runtime_get_stats() may read it from another thread. */
#define WEFT__STAT_ADD(w, field, n)                                           \
    weft__store_relaxed_u64(&(w)->stats.field, (w)->stats.field + (n))

#endif /* WEFT_SCHED_WORKER_H */
