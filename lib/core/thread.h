/* Threads that weft starts: the workers, and debug mode's dump thread.
 *
 * Their stacks are weft's own (mapped here, unmapped after the join), not
 * glibc's, which keeps the stacks of joined threads cached and mapped: a
 * finished runtime leaves no mapping behind.
 */
#ifndef WEFT_THREAD_H
#define WEFT_THREAD_H

#include <pthread.h>
#include <stddef.h>

#include "core/internal.h"

struct weft__thread {
    pthread_t id;
    void *stack;       /* guard page and stack, mapped by start */
    size_t size;       /* the stack's usable size */
};

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

#endif /* WEFT_THREAD_H */
