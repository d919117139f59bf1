/* Cancellation scopes: timeouts (deadlines) and shields.
 *
 * A task's open scopes form a stack (task->scopes, innermost first), each
 * record living in the caller's weft_scope storage on the task's stack.
 * A suspension is refused, or woken, by the earliest deadline among the
 * scopes above the innermost shield, and by the task's cancellation if no
 * shield is open. Only one timer is armed per suspension: that of the
 * scope with the earliest deadline, on the worker the task suspends on.
 */
#ifndef WEFT_SCHED_SCOPE_H
#define WEFT_SCHED_SCOPE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/internal.h"

#include "reactor/reactor.h"
#include "sched/task.h"

#define WEFT__SCOPE_MAGIC 0x73636f70u /* "scop": the record is open */
#define WEFT__NO_DEADLINE INT64_MAX

struct weft__scope {
    uint32_t magic;             /* WEFT__SCOPE_MAGIC while open */
    const struct weft__scope *self; /* its own address, while open: a
                                   record overwritten since is told */
    bool shield;                /* a shield, not a timeout */
    bool expired;               /* its deadline passed while it was open */
    struct weft__scope *outer;  /* the enclosing scope of the same task */
    weft__task *task;            /* the task that opened it */
    int64_t deadline;           /* weft_now() milliseconds */
    uint32_t seq;               /* the suspension its timer wakes */
    struct weft__watch timer;   /* the deadline, while a suspension waits */
};

/* The timeout scope whose deadline applies to a suspension of t now: the
 * earliest among those above the innermost shield, or NULL. If a scope
 * of t has gone without being left (the function that entered it has
 * returned), says so and closes all of t's scopes. */
struct weft__scope *weft__scope_deadline(weft__task *t);

/* The calling task, at the entry of a public function that may suspend,
 * with its open scopes checked against that function's frame: a scope
 * record on the task's stack below the frame was left by a function that
 * has returned, and would be overwritten by the calls to come. Such a
 * scope is reported and the task's scopes are closed before anything
 * reads them. A macro, so that the frame is the public function's. */
#define WEFT__TASK_ENTER() weft__task_enter(__builtin_frame_address(0))

/* The check itself, for a task with open scopes (the rare case). */
void weft__scopes_check(weft__task *t, const void *frame);

/* Inline, as it runs at every await-like call: only the worker lookup
 * stays a call (worker_tls.c says why it must). */
static inline weft__task *weft__task_enter(const void *frame)
{
    weft__task *t = weft__task_self();

    if (t != NULL && WEFT__UNLIKELY(t->scopes != NULL))
        weft__scopes_check(t, frame);
    return t;
}

/* Called as t's body returns: closes the scopes it left open, saying
 * which. Their records are in frames that have returned: none is read. */
void weft__scopes_end(weft__task *t);

/* Arms scope's deadline for suspension seq of its task, on the calling
 * worker. */
void weft__scope_arm(struct weft__scope *scope, uint32_t seq);

/* Disarms the timer of t's current suspension, if one was armed. On the
 * worker that armed it. */
void weft__scope_disarm(weft__task *t);

#endif /* WEFT_SCHED_SCOPE_H */
