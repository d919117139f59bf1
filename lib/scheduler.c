/* Suspending, waking and switching tasks; the scheduling loop.
 *
 * A task that gives up its worker switches straight to the next ready
 * task, not through the scheduler: one context switch per yield or wake
 * instead of two. The context that takes over then finishes the old one's
 * business (requeue it, publish its suspension, or free its stack), since
 * none of that is safe while the old task is still on its stack. The
 * worker's own stack (the scheduler) runs only to poll libevent and to
 * park.
 */
#include "scheduler.h"

#include <errno.h>
#include <event2/event.h>

#include "atomic.h"
#include "runtime.h"
#include "task.h"
#include "worker.h"

#ifdef WEFT__ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef WEFT__TSAN
#include <sanitizer/tsan_interface.h>
#endif

/* Task switches between two polls of libevent while tasks keep the worker
 * busy, so timers and sockets are not starved (Go and Tokio use 61). */
#define POLL_INTERVAL 61

#define WAIT_WORD(seq, reason, state)                                         \
    (((uint64_t)(seq) << 32) | ((uint64_t)(reason) << 8) | (uint64_t)(state))
#define WAIT_SEQ(word) ((uint32_t)((word) >> 32))
#define WAIT_REASON(word) ((int)(((word) >> 8) & 0xff))
#define WAIT_STATE(word) ((int)((word) & 0xff))

static void runq_push(struct weft__worker *w, weft_task *t)
{
    t->next = NULL;
    if (w->runq_tail != NULL)
        w->runq_tail->next = t;
    else
        w->runq_head = t;
    w->runq_tail = t;
}

static weft_task *runq_pop(struct weft__worker *w)
{
    weft_task *t = w->runq_head;
    if (t != NULL) {
        w->runq_head = t->next;
        if (w->runq_head == NULL)
            w->runq_tail = NULL;
        t->next = NULL;
    }
    return t;
}

static bool poll_due(const struct weft__worker *w)
{
    return w->ticks >= POLL_INTERVAL && w->armed_timers > 0;
}

void weft__sched_ready(weft_task *task)
{
    struct weft__worker *w = weft__worker_self();
    /* Only worker threads can reach a task before the scheduler issue
     * adds the global queue for wakes from other threads. */
    WEFT__ASSERT(w != NULL);
    runq_push(w, task);
}

uint32_t weft__wait_begin(weft_task *self)
{
    /* Only the task itself changes its word while it runs. */
    uint64_t word = weft__load_relaxed_u64(&self->wait);
    uint32_t seq = WAIT_SEQ(word) + 1;

    weft__store_release_u64(&self->wait,
                            WAIT_WORD(seq, 0, WEFT__WAIT_SUSPENDING));
    return seq;
}

bool weft__wake(weft_task *task, uint32_t seq, int reason)
{
    uint64_t word = weft__load_acquire_u64(&task->wait);

    for (;;) {
        int state = WAIT_STATE(word);
        if (WAIT_SEQ(word) != seq ||
            (state != WEFT__WAIT_SUSPENDING && state != WEFT__WAIT_SUSPENDED))
            return false;
        if (weft__cas_u64(&task->wait, word,
                          WAIT_WORD(seq, reason, WEFT__WAIT_WOKEN))) {
            /* A SUSPENDING task is still on its stack: the context that
             * takes over from it will see WOKEN and queue it. */
            if (state == WEFT__WAIT_SUSPENDED)
                weft__sched_ready(task);
            return true;
        }
        word = weft__load_acquire_u64(&task->wait);
    }
}

/* Finishes the business of the context that just switched away. */
static void after_switch(struct weft__worker *w)
{
    weft_task *prev = w->prev;
    enum weft__switch_action action = w->prev_action;

    w->prev = NULL;
    w->prev_action = WEFT__SWITCH_NONE;
    switch (action) {
    case WEFT__SWITCH_NONE:
        break;
    case WEFT__SWITCH_YIELD:
        runq_push(w, prev);
        break;
    case WEFT__SWITCH_SUSPEND: {
        uint64_t word = weft__load_acquire_u64(&prev->wait);
        if (WAIT_STATE(word) == WEFT__WAIT_SUSPENDING &&
            weft__cas_u64(&prev->wait, word,
                          WAIT_WORD(WAIT_SEQ(word), 0,
                                    WEFT__WAIT_SUSPENDED)))
            break;
        /* Woken before it was off its stack; it is WOKEN now. */
        WEFT__ASSERT(WAIT_STATE(weft__load_acquire_u64(&prev->wait)) ==
                     WEFT__WAIT_WOKEN);
        runq_push(w, prev);
        break;
    }
    case WEFT__SWITCH_EXIT:
#ifdef WEFT__TSAN
        __tsan_destroy_fiber(prev->tsan_fiber);
        prev->tsan_fiber = NULL;
#endif
        weft__stack_free(&w->stacks, &w->rt->stacks, prev->stack);
        prev->stack = NULL;
        weft__task_retire(prev);
        break;
    }
}

/* Switches from `from` (NULL: the scheduler) to `to` (NULL: the
 * scheduler), telling the sanitizers which stack is about to run. */
static void switch_to(struct weft__worker *w, weft_task *from, weft_task *to)
{
    struct weft__ctx *from_ctx = from != NULL ? &from->ctx : &w->sched_ctx;
    struct weft__ctx *to_ctx = to != NULL ? &to->ctx : &w->sched_ctx;

    w->current = to;
    if (to != NULL)
        w->ticks++;
#ifdef WEFT__TSAN
    __tsan_switch_to_fiber(to != NULL ? to->tsan_fiber : w->tsan_fiber, 0);
#endif
#ifdef WEFT__ASAN
    {
        void **fake = &w->asan_fake_stack;
        if (from != NULL)
            fake = w->prev_action == WEFT__SWITCH_EXIT ? NULL
                                                       : &from->asan_fake_stack;
        if (to != NULL)
            __sanitizer_start_switch_fiber(fake, to->stack->lo, to->stack->size);
        else
            __sanitizer_start_switch_fiber(fake, w->sched_stack_lo,
                                           w->sched_stack_size);
    }
#endif
    weft__ctx_switch(from_ctx, to_ctx);
}

/* Called by a context right after it is switched back in. */
static void switched_in(struct weft__worker *w, weft_task *self)
{
#ifdef WEFT__ASAN
    __sanitizer_finish_switch_fiber(self != NULL ? self->asan_fake_stack
                                                 : w->asan_fake_stack,
                                    NULL, NULL);
#else
    (void)w;
    (void)self;
#endif
}

static void task_entry(void *arg)
{
    weft_task *t = arg;
    struct weft__worker *w = weft__worker_self();

#ifdef WEFT__ASAN
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
    after_switch(w);
    weft__task_body(t);
    weft__sched_exit(t);
}

/* Gives t a stack and a first frame if it has never run. A task whose
 * stack cannot be had fails with -ENOMEM without running. */
static bool prepare(struct weft__worker *w, weft_task *t)
{
    struct weft__stack *st;

    if (t->stack != NULL)
        return true;
    if (weft__stack_alloc(&w->stacks, &w->rt->stacks, t->stack_cls, &st) < 0) {
        weft__task_complete(t, -ENOMEM, "no memory for the task's stack");
        weft__task_retire(t);
        return false;
    }
    t->stack = st;
    weft__ctx_make(&t->ctx, st->lo, st->size, task_entry, t);
#ifdef WEFT__TSAN
    t->tsan_fiber = __tsan_create_fiber(0);
#endif
    return true;
}

/* The next task to run, or NULL if there is none or, for a task handing
 * over (in_task), if the scheduler is due to poll libevent first. */
static weft_task *next_ready(struct weft__worker *w, bool in_task)
{
    for (;;) {
        if (in_task && poll_due(w))
            return NULL;
        weft_task *t = runq_pop(w);
        if (t == NULL || prepare(w, t))
            return t;
    }
}

static void switch_away(weft_task *self, enum weft__switch_action action)
{
    struct weft__worker *w = weft__worker_self();
    weft_task *next = next_ready(w, true);

    w->prev = self;
    w->prev_action = action;
    switch_to(w, self, next);
    /* Resumed, perhaps by another worker: ask TLS again. */
    w = weft__worker_self();
    switched_in(w, self);
    after_switch(w);
}

int weft__wait_commit(weft_task *self)
{
    uint64_t word = weft__load_acquire_u64(&self->wait);

    if (WAIT_STATE(word) == WEFT__WAIT_SUSPENDING) {
        switch_away(self, WEFT__SWITCH_SUSPEND);
        word = weft__load_acquire_u64(&self->wait);
    }
    WEFT__ASSERT(WAIT_STATE(word) == WEFT__WAIT_WOKEN);
    weft__store_relaxed_u64(&self->wait,
                            WAIT_WORD(WAIT_SEQ(word), 0, WEFT__WAIT_RUNNING));
    return WAIT_REASON(word);
}

int weft__wait_abort(weft_task *self)
{
    uint64_t word = weft__load_acquire_u64(&self->wait);
    uint32_t seq = WAIT_SEQ(word);

    if (WAIT_STATE(word) == WEFT__WAIT_SUSPENDING &&
        weft__cas_u64(&self->wait, word,
                      WAIT_WORD(seq, 0, WEFT__WAIT_RUNNING)))
        return WEFT__WAKE_NONE;
    /* A waker won the race; it did not queue us, since we never left. */
    word = weft__load_acquire_u64(&self->wait);
    WEFT__ASSERT(WAIT_STATE(word) == WEFT__WAIT_WOKEN);
    weft__store_relaxed_u64(&self->wait, WAIT_WORD(seq, 0, WEFT__WAIT_RUNNING));
    return WAIT_REASON(word);
}

void weft__sched_yield(weft_task *self)
{
    struct weft__worker *w = weft__worker_self();

    /* Alone and with nothing to poll, a yield has nobody to yield to. It
     * still counts as a tick, so a task spinning on yield lets libevent
     * run every POLL_INTERVAL yields. */
    if (w->runq_head == NULL) {
        w->ticks++;
        if (!poll_due(w))
            return;
    }
    switch_away(self, WEFT__SWITCH_YIELD);
}

void weft__sched_exit(weft_task *self)
{
    switch_away(self, WEFT__SWITCH_EXIT);
    WEFT__ASSERT(!"a finished task was resumed");
    __builtin_unreachable();
}

void weft__sched_loop(struct weft__worker *w)
{
    for (;;) {
        if (w->ticks >= POLL_INTERVAL) {
            w->ticks = 0;
            if (w->armed_timers > 0)
                event_base_loop(w->base, EVLOOP_NONBLOCK);
        }
        weft_task *next = next_ready(w, false);
        if (next != NULL) {
            switch_to(w, NULL, next);
            switched_in(w, NULL);
            after_switch(w);
            continue;
        }
        if (weft__load_acquire_u64(&w->rt->live) == 0)
            break;
        /* Park: block in epoll until a timer, a socket or wake_fd fires. */
        w->ticks = 0;
        event_base_loop(w->base, EVLOOP_ONCE);
    }
}
