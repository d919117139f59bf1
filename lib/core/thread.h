/* Threads that weft starts: the workers, and debug mode's dump thread.
 *
 * Their stacks are weft's own (mapped here, unmapped after the join), not
 * glibc's, which keeps the stacks of joined threads cached and mapped: a
 * finished runtime leaves no mapping behind.
 */
#ifndef WEFT_CORE_THREAD_H
#define WEFT_CORE_THREAD_H

#include <pthread.h>
#include <stddef.h>
#include <time.h>

#include "core/internal.h"

struct weft__thread {
    pthread_t id;
    void *stack;       /* guard page and stack, mapped by start */
    size_t size;       /* the stack's usable size */
};

/* pthread locks and condition variables with every result checked. A
 * lock, unlock, wait or wake of a valid object cannot fail; if it does,
 * an invariant is broken (a destroyed or corrupted object), so these
 * abort with a message naming the call, as libuv's uv_mutex_lock does.
 * What can fail for want of resources (init) returns 0 or -errno. */
void weft__mutex_lock(pthread_mutex_t *m);
void weft__mutex_unlock(pthread_mutex_t *m);
void weft__mutex_destroy(pthread_mutex_t *m);
/* A condition variable on CLOCK_MONOTONIC, for weft__abstime_after. */
int weft__cond_init(pthread_cond_t *c);
void weft__cond_destroy(pthread_cond_t *c);
void weft__cond_wait(pthread_cond_t *c, pthread_mutex_t *m);
/* 0, or -ETIMEDOUT once abstime has passed. */
int weft__cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
                         const struct timespec *abstime);
void weft__cond_signal(pthread_cond_t *c);
void weft__cond_broadcast(pthread_cond_t *c);

/* On a pool thread running a blocking function for a task, where
 * weft_fail() records the function's error (set by the executor around
 * each job); NULL on every other thread. It lets weft_fail fail a job
 * without the task code knowing about executors. */
extern __thread int *weft__thread_job_err;

/* Starts fn(arg) on a thread with a stack of size bytes (plus a guard
 * page). Returns 0 or -errno. */
int weft__thread_start(struct weft__thread *t, size_t size,
                       void *(*fn)(void *), void *arg);

/* Joins a started thread and unmaps its stack; a thread never started
 * (stack NULL) is ignored. */
void weft__thread_join(struct weft__thread *t);

#endif /* WEFT_CORE_THREAD_H */
