/* The wait protocol: suspending a task and waking it exactly once.
 *
 * Every suspension has a sequence number. A task's wait word packs
 *
 *   bits 63..32  seq     incremented by each weft__wait_begin()
 *   bits 23..16  flags   WORD_SHIELDED: cancellation may not wake it
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
#ifndef WEFT_SCHED_WAIT_H
#define WEFT_SCHED_WAIT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/internal.h"

typedef struct weft__task weft__task; /* sched/task.h */

struct weft__worker;

enum weft__wait_state {
    WEFT__WAIT_RUNNING = 0,
    WEFT__WAIT_SUSPENDING = 1,
    WEFT__WAIT_SUSPENDED = 2,
    WEFT__WAIT_WOKEN = 3,
};

enum weft__wake_reason {
    WEFT__WAKE_NONE = 0,
    WEFT__WAKE_TIMER = 1,    /* its sleep timer fired */
    WEFT__WAKE_DONE = 2,     /* what it waited for happened */
    WEFT__WAKE_CANCEL = 3,   /* weft_cancel() */
    WEFT__WAKE_DEADLINE = 4, /* the deadline of an enclosing timeout scope */
};

/* weft__wait_begin flags. */
#define WEFT__WAIT_SHIELDED 0x1u /* neither cancellation nor deadlines apply */

/* Starts a suspension of self, the calling task, and stores its seq.
 * Register (self, seq) with whatever will wake it, then call commit, or
 * abort if it turns out not to be needed. Unless shielded, a suspension
 * is refused with -ECANCELED once the task's cancellation was requested,
 * and with -ETIMEDOUT once the deadline of an enclosing timeout scope has
 * passed; in both cases nothing was begun. If a timeout scope is open,
 * begin arms its deadline on the current worker, and the task will resume
 * on that worker to disarm it. */
int weft__wait_begin(weft__task *self, unsigned flags, uint32_t *seq);

/* Suspends until woken; returns the reason. */
int weft__wait_commit(weft__task *self);

/* A hand-off: how whatever a task waits for tells it "done" when the
 * record of the wait lives on the waiter's stack, or is freed by it (a
 * wait for a task, a grant of a lock, a job of a thread pool). The waker
 * wakes (task, seq), then releases the record; the waiter, woken for
 * that, waits for the release before its frame or the record may go. So
 * neither the record nor the task can vanish under the wake, even if
 * something else woke the task first. */
struct weft__handoff {
    weft__task *task;       /* the waiting task */
    uint32_t seq;           /* its suspension */
    uint32_t released;      /* atomic: the waker is done with the record */
};

static inline void weft__handoff_init(struct weft__handoff *h, weft__task *task,
                                      uint32_t seq)
{
    h->task = task;
    h->seq = seq;
    h->released = 0;
}

/* Wakes h's task for reason, then lets go of h. */
void weft__handoff_wake(struct weft__handoff *h, int reason);

/* Waits until the waker has let go of h: a few instructions away, unless
 * its thread was preempted there. */
void weft__handoff_wait(const struct weft__handoff *h);

/* The error a suspension that ended for `reason` reports: 0 for the
 * event it waited for, -ECANCELED, or -ETIMEDOUT. */
int weft__wake_error(int reason);

/* Ends a suspension that was begun but is no longer needed. Returns the
 * reason of a wake that arrived meanwhile (the waker believes it woke the
 * task, so the caller must honour it), or WEFT__WAKE_NONE. */
int weft__wait_abort(weft__task *self);

/* Where task is in the protocol (SUSPENDED: off its stack, not merely
 * about to suspend). For task dumps and tests: it may be stale at once. */
enum weft__wait_state weft__wait_state_of(const weft__task *task);

/* Wakes task if it is still in suspension seq. Returns true if this call
 * woke it, false if it was woken already or has moved on. */
bool weft__wake(weft__task *task, uint32_t seq, int reason);

/* Called by the context that took over from a task that suspended, once
 * the task is off its stack: marks the suspension SUSPENDED. Returns false
 * if the task was woken meanwhile, which leaves queueing it to the
 * caller. */
bool weft__wait_publish(weft__task *task);

/* Wakes task with WEFT__WAKE_CANCEL from whatever suspension it is in,
 * unless that suspension is shielded. */
void weft__wake_for_cancel(weft__task *task);

/* The cancellation or deadline that would refuse a suspension of self
 * now, as weft__wait_begin does, without suspending: 0, -ECANCELED or
 * -ETIMEDOUT. For suspension points that do not wait (weft_yield). */
int weft__check_interrupt(weft__task *self);

#endif /* WEFT_SCHED_WAIT_H */
