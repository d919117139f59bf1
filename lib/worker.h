/* A worker: one thread, its libevent base, its run queue and stack cache.
 *
 * Everything here is owned by the worker's thread; nothing else touches a
 * worker's fields but through the functions that say otherwise.
 */
#ifndef WEFT_WORKER_H
#define WEFT_WORKER_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>

#include "context.h"
#include "internal.h"
#include "stack.h"

struct event_base;
struct event;
struct weft__runtime;

/* What the context that just switched away asked the next one to do with
 * it, once it is safely off its stack. */
enum weft__switch_action {
    WEFT__SWITCH_NONE,    /* the scheduler left; nothing to do */
    WEFT__SWITCH_YIELD,   /* requeue it at the back */
    WEFT__SWITCH_SUSPEND, /* publish its suspension; requeue if woken */
    WEFT__SWITCH_EXIT,    /* it finished: free its stack, retire it */
};

struct weft__worker {
    struct weft__runtime *rt;
    unsigned index;
    struct event_base *base;        /* dispatched by this thread only */
    struct event *wake_event;       /* persistent read on wake_fd */
    int wake_fd;                    /* eventfd other threads write */
    struct weft__ctx sched_ctx;     /* the thread's own stack */
    weft_task *current;             /* running task, or NULL */
    weft_task *runq_head;           /* ready tasks, FIFO */
    weft_task *runq_tail;
    weft_task *prev;                /* context left by the last switch */
    enum weft__switch_action prev_action;
    unsigned ticks;                 /* task switches since the last poll */
    unsigned armed_timers;          /* timers pending on base */
    uint64_t next_id;               /* task ids, taken in blocks */
    uint64_t id_limit;
    struct weft__stack_cache stacks;
    weft_task *task_cache;          /* free task structs */
    unsigned task_cache_n;
    void *altstack;                 /* sigaltstack for the overflow handler */
    stack_t old_altstack;
    int altstack_on;
#ifdef WEFT__ASAN
    void *asan_fake_stack;          /* the scheduler's, while switched out */
    void *sched_stack_lo;
    size_t sched_stack_size;
#endif
#ifdef WEFT__TSAN
    void *tsan_fiber;               /* the thread's own fiber */
#endif
};

/* Builds worker index of rt for the calling thread. On failure the worker
 * is left safe to pass to weft__worker_destroy(). */
int weft__worker_init(struct weft__worker *w, struct weft__runtime *rt,
                      unsigned index);

/* Frees what init built; accepts a half-built worker. Its caches go back
 * to the runtime's pools. */
void weft__worker_destroy(struct weft__worker *w);

/* Binds the calling thread to w: TLS, the overflow handler's altstack and
 * the sanitizers' idea of the thread's stack. unbind undoes it. */
int weft__worker_bind(struct weft__worker *w);
void weft__worker_unbind(struct weft__worker *w);

/* The calling thread's worker, or NULL. Never inlined, so that a caller
 * that resumes on another thread after a switch reads its new worker
 * rather than a cached TLS address (feasibility.md, section 5). */
struct weft__worker *weft__worker_self(void);
void weft__worker_set_self(struct weft__worker *w);

/* Next task id for a task created on w. */
uint64_t weft__worker_next_id(struct weft__worker *w);

#endif /* WEFT_WORKER_H */
