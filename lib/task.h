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

/* An awaiting task, linked into the awaited task's list. It lives on the
 * awaiter's stack, which stays put while the awaiter is suspended. */
struct weft__waiter {
    struct weft__waiter *next;
    weft_task *task;
    uint32_t seq; /* the awaiter's wait sequence number (scheduler.h) */
};

struct weft_task {
    weft_task *next;            /* run-queue link, owned by the queue */
    struct weft__ctx ctx;       /* saved registers while not running */
    struct weft__stack *stack;  /* NULL until the task first runs */
    uint64_t wait;              /* atomic wait word, see scheduler.h */
    uint32_t refs;              /* atomic reference count */
    uint32_t done;              /* atomic: 1 once the task has finished */
    weft__spinlock lock;        /* guards waiters and the move to done */
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

/* Runs in a new task's context: the body, then completion. */
void weft__task_body(weft_task *t);

/* Marks t finished and wakes its awaiters. err != 0 fails it first with
 * that error and message (for a task that could never start). */
void weft__task_complete(weft_task *t, int err, const char *msg);

/* Releases what a finished task held for running: its stack reservation,
 * its place in the live count and the runtime's reference. Its stack has
 * already been returned by the scheduler. */
void weft__task_retire(weft_task *t);

#endif /* WEFT_TASK_INTERNAL_H */
