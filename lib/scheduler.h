/* Suspending and waking tasks, and the scheduling loop.
 *
 * Every suspension has a sequence number. A task's wait word packs
 *
 *   bits 63..32  seq     incremented by each weft__wait_begin()
 *   bits 15..8   reason  why it was woken (enum weft__wake_reason)
 *   bits  7..0   state   enum weft__wait_state
 *
 * A waker names the suspension it means with (task, seq) and wins only by
 * a compare-and-swap from SUSPENDING or SUSPENDED to WOKEN with that seq.
 * So a task is resumed exactly once per suspension whatever races (a timer
 * against a wake, two wakes, a wake from another thread), and a late wake
 * meant for an earlier suspension does nothing.
 *
 * SUSPENDING covers the window between the task deciding to wait and its
 * registers being saved. A wake in that window only marks it WOKEN; the
 * context that takes over from the task after the switch sees that and
 * queues it. A wake of a SUSPENDED task queues it at once. Either way the
 * task is never queued while it is still running on its stack.
 */
#ifndef WEFT_SCHEDULER_H
#define WEFT_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

#include "internal.h"

struct weft__worker;

enum weft__wait_state {
    WEFT__WAIT_RUNNING = 0,
    WEFT__WAIT_SUSPENDING = 1,
    WEFT__WAIT_SUSPENDED = 2,
    WEFT__WAIT_WOKEN = 3,
};

enum weft__wake_reason {
    WEFT__WAKE_NONE = 0,
    WEFT__WAKE_TIMER = 1,   /* its sleep timer fired */
    WEFT__WAKE_DONE = 2,    /* the task it awaited finished */
};

/* Starts a suspension of self, the calling task, and returns its seq.
 * Register (self, seq) with whatever will wake it, then call commit. */
uint32_t weft__wait_begin(weft_task *self);

/* Suspends until woken; returns the reason. */
int weft__wait_commit(weft_task *self);

/* Ends a suspension that was begun but is no longer needed. Returns the
 * reason of a wake that arrived meanwhile (the waker believes it woke the
 * task, so the caller must honour it), or WEFT__WAKE_NONE. */
int weft__wait_abort(weft_task *self);

/* True if task is suspended and off its stack (not merely about to
 * suspend). For tests and diagnostics: the answer may be stale at once. */
bool weft__wait_suspended(weft_task *task);

/* Wakes task if it is still in suspension seq. Returns true if this call
 * woke it, false if it was woken already or has moved on. */
bool weft__wake(weft_task *task, uint32_t seq, int reason);

/* Puts the calling task at the back of the run queue and runs others. */
void weft__sched_yield(weft_task *self);

/* Leaves a finished task's stack for good. */
__attribute__((noreturn)) void weft__sched_exit(weft_task *self);

/* Makes a task that is not running ready to run: a wake. On a worker it
 * goes to that worker's LIFO slot; from any other thread to the global
 * queue (or a pinned task's own worker). */
void weft__sched_ready(weft_task *task);

/* Queues a new task at the back of w's queue; w is the caller's worker. */
void weft__sched_push(struct weft__worker *w, weft_task *task);

/* The scheduling loop of worker w, on the thread's own stack. Returns once
 * the runtime is stopping (no task is left). */
void weft__sched_loop(struct weft__worker *w);

#endif /* WEFT_SCHEDULER_H */
