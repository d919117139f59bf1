/* The scheduling loop of a worker, and the switches it makes between
 * tasks (loop.c; doc/scheduler.md tells the whole story). */
#ifndef WEFT_SCHED_LOOP_H
#define WEFT_SCHED_LOOP_H

#include "core/internal.h"

typedef struct weft__task weft__task; /* sched/task.h */

struct weft__worker;

/* Switches away from the calling task, which has begun a suspension
 * (weft__wait_begin); returns when it has been woken and runs again. */
void weft__sched_suspend(weft__task *self);

/* Puts the calling task at the back of the run queue and runs others. */
void weft__sched_yield(weft__task *self);

/* Moves the calling task to worker `to`: returns running there. Not a
 * suspension: neither cancellation nor deadlines interrupt it. Used to
 * reach the one thread that may touch a reactor. A pinned task stays
 * pinned, to `to`, until it hops back. */
void weft__sched_hop(weft__task *self, struct weft__worker *to);

/* Leaves a finished task's stack for good. */
__attribute__((noreturn)) void weft__sched_exit(weft__task *self);

/* Makes a task that is not running ready to run: a wake. On a worker it
 * goes to that worker's LIFO slot; from any other thread to the global
 * queue (or a pinned task's own worker). */
void weft__sched_ready(weft__task *task);

/* Queues a new task at the back of w's queue; w is the caller's worker. */
void weft__sched_push(struct weft__worker *w, weft__task *task);

/* The scheduling loop of worker w, on the thread's own stack. Returns once
 * the runtime is stopping (no task is left). */
void weft__sched_loop(struct weft__worker *w);

#endif /* WEFT_SCHED_LOOP_H */
