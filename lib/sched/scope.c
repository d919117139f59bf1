/* Cancellation scopes: timeouts and shields (see scope.h). */
#include "sched/scope.h"

#include <errno.h>

#include "core/clock.h"
#include "sched/task.h"
#include "sched/wait.h"
#include "sched/worker.h"

_Static_assert(sizeof(struct weft__scope) <= sizeof(weft_scope),
               "weft_scope is too small for a scope record");
_Static_assert(_Alignof(struct weft__scope) <= _Alignof(weft_scope),
               "weft_scope is not aligned enough for a scope record");

struct weft__scope *weft__scope_deadline(weft__task *t)
{
    struct weft__scope *best = NULL;

    for (struct weft__scope *s = t->scopes; s != NULL && !s->shield;
         s = s->outer) {
        if (s->deadline != WEFT__NO_DEADLINE &&
            (best == NULL || s->deadline < best->deadline))
            best = s;
    }
    return best;
}

static void deadline_fired(struct weft__watch *watch)
{
    struct weft__scope *scope =
        WEFT__CONTAINER_OF(watch, struct weft__scope, timer);

    weft__wake(scope->task, scope->seq, WEFT__WAKE_DEADLINE);
}

void weft__scope_arm(struct weft__scope *scope, uint32_t seq)
{
    struct weft__worker *w = weft__worker_self();
    weft__task *t = scope->task;
    int64_t left = scope->deadline - weft__now_ms();

    scope->seq = seq;
    /* Without the timer (no memory in libevent's heap) the deadline still
     * holds at the next suspension, just not during this one. */
    if (weft__watch_timer(&w->reactor, &scope->timer, left,
                          deadline_fired) < 0)
        return;
    t->armed_scope = scope;
    t->armed_on = w;
}

void weft__scope_disarm(weft__task *t)
{
    struct weft__scope *scope = t->armed_scope;

    if (scope != NULL) {
        if (weft__watch_armed(&scope->timer)) {
            WEFT__ASSERT(weft__worker_self() == t->armed_on);
            weft__watch_cancel(&scope->timer);
        }
        t->armed_scope = NULL;
    }
    t->armed_on = NULL;
}

/* Validates and links a new scope of the calling task. */
static int scope_open(weft_scope *storage, bool shield, int64_t deadline)
{
    weft__task *self = weft__task_self();
    struct weft__scope *scope = (struct weft__scope *)(void *)storage;

    if (storage == NULL)
        return -EINVAL;
    if (self == NULL)
        return -EPERM;
    scope->magic = WEFT__SCOPE_MAGIC;
    scope->shield = shield;
    scope->expired = false;
    scope->timer.armed = false;
    scope->task = self;
    scope->deadline = deadline;
    scope->seq = 0;
    scope->outer = self->scopes;
    self->scopes = scope;
    if (shield)
        self->shields++;
    return 0;
}

/* A deadline argument as the scope keeps it: WEFT_FOREVER is none. */
static int64_t deadline_of(int64_t deadline_ms)
{
    return deadline_ms == WEFT_FOREVER ? WEFT__NO_DEADLINE : deadline_ms;
}

int weft_timeout_enter(weft_scope *scope, int64_t timeout_ms)
{
    if (timeout_ms < 0 && timeout_ms != WEFT_FOREVER)
        return -EINVAL;
    int64_t deadline = timeout_ms == WEFT_FOREVER
                           ? WEFT__NO_DEADLINE
                           : weft__deadline_after(weft__now_ms(), timeout_ms);
    return scope_open(scope, false, deadline);
}

int weft_timeout_enter_at(weft_scope *scope, int64_t deadline_ms)
{
    if (deadline_ms < 0 && deadline_ms != WEFT_FOREVER)
        return -EINVAL;
    return scope_open(scope, false, deadline_of(deadline_ms));
}

int weft_shield_enter(weft_scope *scope)
{
    return scope_open(scope, true, WEFT__NO_DEADLINE);
}

/* The open scope behind storage, owned by the calling task, or an error. */
static int scope_of_caller(weft_scope *storage, struct weft__scope **out)
{
    weft__task *self = weft__task_self();
    struct weft__scope *scope = (struct weft__scope *)(void *)storage;

    if (storage == NULL || scope->magic != WEFT__SCOPE_MAGIC)
        return -EINVAL;
    if (self == NULL || scope->task != self)
        return -EPERM;
    *out = scope;
    return 0;
}

int weft_timeout_reschedule(weft_scope *storage, int64_t deadline_ms)
{
    struct weft__scope *scope;
    int rc = scope_of_caller(storage, &scope);

    if (rc < 0)
        return rc;
    if (scope->shield || (deadline_ms < 0 && deadline_ms != WEFT_FOREVER))
        return -EINVAL;
    /* The caller is running, so no suspension has its timer armed: the
     * new deadline applies from the next suspension on. */
    scope->deadline = deadline_of(deadline_ms);
    return 0;
}

int weft_scope_leave(weft_scope *storage)
{
    struct weft__scope *scope;
    int rc = scope_of_caller(storage, &scope);

    if (rc < 0)
        return rc;
    if (scope->task->scopes != scope)
        return -EINVAL; /* scopes are left innermost first */
    scope->task->scopes = scope->outer;
    if (scope->shield)
        scope->task->shields--;
    scope->magic = 0;
    return scope->expired ? 1 : 0;
}
