/* Switching tasks, and the scheduling loop of a worker.
 *
 * A task that gives up its worker switches straight to the next ready
 * task, not through the scheduler: one context switch per yield or wake
 * instead of two. The context that takes over then finishes the old one's
 * business (requeue it, publish its suspension, or free its stack), since
 * none of that is safe while the old task is still on its stack. The
 * worker's own stack (the scheduler loop) runs to search other workers,
 * to poll libevent and to park. doc/scheduler.md tells the whole story.
 */
#include "sched/loop.h"

#include <errno.h>
#include <sched.h>

#include "core/atomic.h"
#include "core/clock.h"
#include "sched/compact.h"
#include "sched/debug.h"
#include "sched/watchdog.h"
#include "sched/idle.h"
#include "sched/globalq.h"
#include "sched/runtime.h"
#include "sched/signal.h"
#include "sched/wait.h"
#include "sched/task.h"
#include "sched/worker.h"

#ifdef WEFT__ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef WEFT__TSAN
#include <sanitizer/tsan_interface.h>
#endif

/* Task switches between two polls of libevent while tasks keep the worker
 * busy, so timers and sockets are not starved; and the interval at which
 * the global queue is checked before the local one, so it is not starved
 * either. Both 61, as in Go and Tokio. */
#define POLL_INTERVAL 61
#define GLOBAL_INTERVAL 61
/* Tasks run from the LIFO slot in a row, so that two tasks waking each
 * other cannot starve the rest of the queue (Tokio's number). */
#define MAX_LIFO_POLLS 3
/* Most tasks taken from the global queue at once. */
#define GLOBAL_BATCH 32
/* Rounds over all victims before a searching worker gives up. */
#define STEAL_ROUNDS 2

/* --- queues of one worker ------------------------------------------------ */

static void own_push(struct weft__worker *w, weft__task *t)
{
    weft__fifo_push(&w->own, &t->qlink);
}

static weft__task *own_pop(struct weft__worker *w)
{
    struct weft__slink *link = weft__fifo_pop(&w->own);
    return link != NULL ? weft__task_of_qlink(link) : NULL;
}

/* Moves what other threads pushed to w's inbox into its own queue, in the
 * order they arrived. */
static void drain_inbox(struct weft__worker *w)
{
    struct weft__slink *list, *reversed = NULL;

    if (weft__load_relaxed_ptr((void *const *)&w->inbox) == NULL)
        return;
    /* Pairs with the CAS of weft__worker_inbox_push: the tasks' fields
     * written before their push are seen. */
    list = weft__fas_ptr((void **)&w->inbox, NULL);
    while (list != NULL) {
        struct weft__slink *next = list->next;
        list->next = reversed;
        reversed = list;
        list = next;
    }
    while (reversed != NULL) {
        struct weft__slink *next = reversed->next;
        weft__fifo_push(&w->own, reversed);
        reversed = next;
    }
}

static void note_depth(struct weft__worker *w)
{
    unsigned depth = weft__runq_len(&w->runq);
    if (depth > w->stats.max_queue_depth)
        WEFT__STAT_ADD(w, max_queue_depth, depth - w->stats.max_queue_depth);
}

/* Adds a ready, unpinned task to the back of w's ring; a full ring sends
 * its older half and t to the global queue. */
static void runq_push(struct weft__worker *w, weft__task *t)
{
    weft__task *batch[WEFT__RUNQ_CAP / 2 + 1];

    while (!weft__runq_push(&w->runq, t)) {
        unsigned n = weft__runq_claim_half(&w->runq, batch);
        if (n > 0) {
            batch[n++] = t;
            weft__globalq_push(&w->rt->globalq, batch, n);
            return;
        }
    }
    note_depth(w);
}

/* Queues a ready task that runs on w at the back: in the stealable ring
 * (telling a parked worker), unless it must run on w: a pinned task, or
 * one whose suspension armed a timer here that it has yet to disarm.
 * Those go to w's own queue, which only w takes from. */
static void enqueue(struct weft__worker *w, weft__task *t)
{
    /* Alone, a worker keeps every ready task in its own FIFO: nobody
     * steals, and one unbounded queue keeps asyncio's order (a bounded
     * ring would spill its older half to the global queue). */
    if (t->pinned || t->armed_on != NULL || w->alone) {
        WEFT__ASSERT(t->pinned ? t->home == w
                               : t->armed_on == NULL || t->armed_on == w);
        own_push(w, t);
        return;
    }
    runq_push(w, t);
    weft__idle_notify_local(w->rt);
}

/* Takes tasks from the global queue: one to run, and, if batch, up to
 * a fair share more into w's ring. */
static weft__task *global_pop(struct weft__worker *w, bool batch_too)
{
    struct weft__runtime *rt = w->rt;
    weft__task *batch[GLOBAL_BATCH];
    uint64_t len = weft__globalq_len(&rt->globalq);
    unsigned room = WEFT__RUNQ_CAP - weft__runq_len(&w->runq);

    if (len == 0)
        return NULL;
    uint64_t want = batch_too ? len / rt->nworkers + 1 : 1;
    if (want > GLOBAL_BATCH)
        want = GLOBAL_BATCH;
    if (want > (uint64_t)room + 1)
        want = (uint64_t)room + 1;
    unsigned n = weft__globalq_pop(&rt->globalq, batch, (unsigned)want);
    if (n == 0)
        return NULL;
    /* They fit: only this worker adds to its ring, and room was counted
     * above; thieves can only make more. */
    for (unsigned i = 1; i < n; i++) {
        bool pushed = weft__runq_push(&w->runq, batch[i]);
        WEFT__ASSERT(pushed);
    }
    note_depth(w);
    WEFT__STAT_ADD(w, global_pops, n);
    if (n > 1)
        weft__idle_notify_local(rt);
    return batch[0];
}

/* The next task from w's own sources, in the order of doc/scheduler.md:
 * the LIFO slot (a few in a row), every 61st pick the global queue, its
 * own queue and the ring in turn, then the global queue. */
static weft__task *next_local(struct weft__worker *w)
{
    weft__task *t;

    if (w->lifo != NULL) {
        if (w->lifo_polls < MAX_LIFO_POLLS) {
            t = w->lifo;
            w->lifo = NULL;
            w->lifo_polls++;
            WEFT__STAT_ADD(w, lifo_hits, 1);
            return t;
        }
        /* Its turn is over: to the back of the queue. */
        t = w->lifo;
        w->lifo = NULL;
        enqueue(w, t);
    }
    w->lifo_polls = 0;
    /* One task only: a batch would fill the ring, whose overflow sends
     * its older half straight back, so with more ready tasks than the
     * rings hold every 61st pick would move dozens of tasks through the
     * global queue's lock (W2, 10,000 tasks yielding: 43% of the picks,
     * and the other worker sleeping on the mutex). Tokio takes one too.
     * Alone, a worker has no ring to spill, and the global queue holds
     * only wakes from other threads: a batch, then. */
    if (++w->tick % GLOBAL_INTERVAL == 0 &&
        (t = global_pop(w, w->alone)) != NULL)
        return t;
    drain_inbox(w);
    /* Alternate between the two local queues so neither starves. */
    if (w->tick & 1) {
        if ((t = own_pop(w)) != NULL || (t = weft__runq_pop(&w->runq)) != NULL)
            return t;
    } else {
        if ((t = weft__runq_pop(&w->runq)) != NULL || (t = own_pop(w)) != NULL)
            return t;
    }
    return global_pop(w, true);
}

void weft__sched_push(struct weft__worker *w, weft__task *task)
{
    enqueue(w, task);
}

/* --- waking --------------------------------------------------------------- */

/* A wake from a thread outside the runtime: to the worker that must take
 * the task, or else to the global queue, waking a worker to take it. */
static void ready_from_outside(struct weft__runtime *rt, weft__task *task)
{
    struct weft__worker *to = task->armed_on;
    if (to == NULL && task->pinned)
        to = task->home;
    if (to != NULL) {
        weft__worker_inbox_push(to, task);
    } else {
        weft__globalq_push(&rt->globalq, &task, 1);
        weft__idle_notify(rt);
    }
}

void weft__sched_ready(weft__task *task)
{
    struct weft__worker *w = weft__worker_self();
    struct weft__runtime *rt = task->rt;

    if (w == NULL || w->rt != rt) {
        /* Once pushed, the task may run, finish and let weft_run() return;
         * so nothing is read from the task after the push, and weft_run()
         * waits for the count of such wakers to drop before it frees the
         * runtime and its workers. */
        weft__faa_u32(&rt->foreign_wakers, 1);
        ready_from_outside(rt, task);
        weft__faa_u32(&rt->foreign_wakers, (uint32_t)-1);
        return;
    }
    /* A suspension that armed a timer resumes on the worker holding it,
     * which alone may disarm it. The task may move again afterwards. */
    struct weft__worker *armed_on = task->armed_on;
    if (armed_on != NULL && armed_on != w) {
        weft__worker_inbox_push(armed_on, task);
        return;
    }
    if (task->pinned && task->home != w) {
        weft__worker_inbox_push(task->home, task);
        return;
    }
    /* Alone, a worker runs woken tasks in the order they were woken, as
     * asyncio's single loop does: at the back of its queue. */
    if (w->alone) {
        enqueue(w, task);
        return;
    }
    /* Otherwise a wake goes to the LIFO slot: the woken task runs next,
     * while what it needs is still in this core's cache. The task it
     * displaces goes to the back of the queue. */
    weft__task *displaced = w->lifo;
    w->lifo = task;
    if (displaced != NULL)
        enqueue(w, displaced);
}

/* --- switching ------------------------------------------------------------ */

/* Finishes the business of the context that just switched away. */
static void after_switch(struct weft__worker *w)
{
    weft__task *prev = w->prev;
    enum weft__switch_action action = w->prev_action;

    w->prev = NULL;
    w->prev_action = WEFT__SWITCH_NONE;
    switch (action) {
    case WEFT__SWITCH_NONE:
        break;
    case WEFT__SWITCH_YIELD:
        enqueue(w, prev);
        break;
    case WEFT__SWITCH_SUSPEND:
        /* Off its stack now, and nobody may resume it before the
         * publication: the time to copy a compact task's stack out. */
        if (WEFT__UNLIKELY(prev->compact_wait))
            weft__compact_out(prev, w->rt->debug);
        /* Publish the suspension, unless it was woken meanwhile, which
         * left the queueing to us. */
        if (!weft__wait_publish(prev))
            enqueue(w, prev);
        break;
    case WEFT__SWITCH_HOP:
        /* Off its stack: it may run on the other worker from now on, so
         * nothing of it is touched after the push. */
        weft__worker_inbox_push(prev->armed_on, prev);
        break;
    case WEFT__SWITCH_EXIT:
#ifdef WEFT__TSAN
        __tsan_destroy_fiber(prev->tsan_fiber);
        prev->tsan_fiber = NULL;
#endif
        if (prev->compact)
            weft__compact_drop(prev->stack);
        weft__stack_free(&w->stacks, &w->rt->stacks, prev->stack);
        prev->stack = NULL;
        weft__task_retire(w, prev);
        break;
    }
}

/* Switches from `from` (NULL: the scheduler) to `to` (NULL: the
 * scheduler), telling the sanitizers which stack is about to run. */
static void switch_to(struct weft__worker *w, weft__task *from, weft__task *to)
{
    struct weft__ctx *from_ctx = from != NULL ? &from->ctx : &w->sched_ctx;
    struct weft__ctx *to_ctx = to != NULL ? &to->ctx : &w->sched_ctx;

    if (from != NULL)
        weft__watchdog_slice_end(w, from);
    /* Relaxed stores: task dumps read these from other threads. */
    weft__store_relaxed_ptr((void **)&w->current, to);
    if (to != NULL) {
        if (WEFT__UNLIKELY(to->compacted))
            weft__compact_in(to);
        w->ticks++;
        WEFT__STAT_ADD(w, polled, 1);
        weft__store_relaxed_u32(&to->last_worker, w->index);
        if (w->rt->debug)
            weft__debug_slice_start(w);
    }
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
static void switched_in(struct weft__worker *w, weft__task *self)
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
    weft__task *t = arg;
    struct weft__worker *w = weft__worker_self();

#ifdef WEFT__ASAN
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
    after_switch(w);
    weft__task_body(t);
    weft__sched_exit(t);
}

/* Gives t a stack and a first frame if it has never run. A task whose
 * stack cannot be had fails with -ENOMEM without running, and one
 * cancelled before it started ends with -ECANCELED without running. */
static bool prepare(struct weft__worker *w, weft__task *t)
{
    struct weft__stack *st;

    if (t->stack != NULL)
        return true;
    /* Pairs with the FAA of weft__task_cancel: a task cancelled before
     * its first run never runs. */
    if (weft__load_acquire_u32(&t->cancel_requested)) {
        weft__task_complete(t, -ECANCELED, NULL);
        weft__task_retire(w, t);
        return false;
    }
    if (weft__stack_alloc(&w->stacks, &w->rt->stacks, t->stack_cls, &st) < 0) {
        weft__task_complete(t, -ENOMEM, "no memory for the task's stack");
        weft__task_retire(w, t);
        return false;
    }
    t->stack = st;
    weft__ctx_make(&t->ctx, st->lo, st->size - st->colour, task_entry, t);
#ifdef WEFT__TSAN
    t->tsan_fiber = __tsan_create_fiber(0);
#endif
    return true;
}

static bool poll_due(const struct weft__worker *w)
{
    return (w->ticks >= POLL_INTERVAL && weft__reactor_pending(&w->reactor)) ||
           weft__signals_caught();
}

/* Runs what is due on the reactor without blocking, if anything is armed
 * there: timers, descriptor watches. The count of task switches since the
 * last poll starts again. */
static void poll_reactor(struct weft__worker *w)
{
    w->ticks = 0;
    if (weft__reactor_pending(&w->reactor))
        weft__reactor_poll(&w->reactor);
}

/* The next task a task handing over may switch to directly, or NULL to go
 * to the scheduler (nothing local, or libevent is due a poll). */
static weft__task *next_from_task(struct weft__worker *w)
{
    for (;;) {
        /* Callbacks run on the worker's own stack: go there first. */
        if (poll_due(w) || !weft__list_empty(&w->soon))
            return NULL;
        weft__task *t = next_local(w);
        if (t == NULL || prepare(w, t))
            return t;
    }
}

static void switch_away(weft__task *self, enum weft__switch_action action)
{
    struct weft__worker *w = weft__worker_self();
    weft__task *next = next_from_task(w);

    w->prev = self;
    w->prev_action = action;
    switch_to(w, self, next);
    /* Resumed, perhaps by another worker: ask TLS again. */
    w = weft__worker_self();
    switched_in(w, self);
    after_switch(w);
}

static bool has_local_work(struct weft__worker *w)
{
    return w->lifo != NULL || !weft__fifo_empty(&w->own) || !weft__list_empty(&w->soon) ||
           weft__load_relaxed_ptr((void *const *)&w->inbox) != NULL ||
           weft__runq_len(&w->runq) > 0 ||
           weft__globalq_len(&w->rt->globalq) > 0;
}

void weft__sched_suspend(weft__task *self)
{
    switch_away(self, WEFT__SWITCH_SUSPEND);
}

void weft__sched_yield(weft__task *self)
{
    struct weft__worker *w = weft__worker_self();

    /* Alone and with nothing to poll, a yield has nobody to yield to. It
     * still counts as a tick, so a task spinning on yield lets libevent
     * run every POLL_INTERVAL yields. */
    if (!has_local_work(w)) {
        w->ticks++;
        if (!poll_due(w)) {
            /* A resumption all the same: the watchdog (watchdog.h) sees
             * the count move, and does not report a task that yields
             * as running without a break. */
            WEFT__STAT_ADD(w, polled, 1);
            return;
        }
    }
    switch_away(self, WEFT__SWITCH_YIELD);
}

void weft__sched_hop(weft__task *self, struct weft__worker *to)
{
    if (weft__worker_self() == to)
        return;
    /* armed_on routes it (after_switch), and keeps it in to's own queue
     * until it runs there. A pinned task's pin moves with it. */
    self->armed_on = to;
    if (self->pinned)
        self->home = to;
    switch_away(self, WEFT__SWITCH_HOP);
    WEFT__ASSERT(weft__worker_self() == to);
    self->armed_on = NULL;
}

void weft__sched_exit(weft__task *self)
{
    switch_away(self, WEFT__SWITCH_EXIT);
    WEFT__ASSERT(!"a finished task was resumed");
    __builtin_unreachable();
}

/* --- the scheduling loop --------------------------------------------------- */

static uint32_t next_random(struct weft__worker *w)
{
    uint32_t x = w->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    w->rng = x;
    return x;
}

/* Looks for work elsewhere: half the queue of another worker, or the
 * global queue. Only while fewer than half of the workers search. */
static weft__task *search(struct weft__worker *w)
{
    struct weft__runtime *rt = w->rt;
    unsigned n = rt->nworkers;

    if (!w->searching) {
        if (!weft__idle_start_search(&rt->idle))
            return NULL;
        w->searching = true;
    }
    for (unsigned round = 0; round < STEAL_ROUNDS; round++) {
        unsigned start = next_random(w) % n;
        for (unsigned i = 0; i < n; i++) {
            struct weft__worker *victim = rt->workers[(start + i) % n];
            if (victim == w)
                continue;
            unsigned got = weft__runq_steal_half(&victim->runq, &w->runq);
            if (got > 0) {
                WEFT__STAT_ADD(w, steals, 1);
                WEFT__STAT_ADD(w, tasks_stolen, got);
                /* A counter: no ordering pairs with it. */
                weft__faa_u64(&victim->stats.stolen_from, 1);
                note_depth(w);
                return weft__runq_pop(&w->runq);
            }
        }
        weft__task *t = global_pop(w, true);
        if (t != NULL)
            return t;
        /* Back off before the next round: a thief spinning on a victim's
         * queue slows its owner down. Work handed to this worker itself
         * (its inbox) ends the back-off at once. */
        for (unsigned spin = 0; spin < (64u << round); spin++) {
            weft__cpu_relax();
            if ((spin & 3) == 3 && has_local_work(w))
                return NULL;
        }
    }
    return NULL;
}

/* True if any queue a parking worker could take from holds a task. */
static bool work_anywhere(struct weft__worker *w)
{
    struct weft__runtime *rt = w->rt;

    if (has_local_work(w))
        return true;
    for (unsigned i = 0; i < rt->nworkers; i++) {
        if (weft__runq_len(&rt->workers[i]->runq) > 0)
            return true;
    }
    return false;
}

/* Before it parks, an idle worker watches the queues for a little while:
 * waking a parked vCPU costs 14-35 us here (feasibility.md, section 3),
 * catching the work in this window well under a microsecond, so tasks
 * that hand work to each other across workers do not pay a park each
 * time. Short, so an idle runtime costs next to no CPU. */
#define LINGER_NS 50000

/* How long a worker's registrations may go unpolled while tasks wait on
 * them before an idle worker collects their edges, and how often a
 * parked worker looks. doc/io.md ("Home workers") has the figures. */
#define VISIT_STALE_NS 250000
#define VISIT_TICK_US 1000
#define VISIT_IDLE_TICK_US 25000

static bool visit_others(struct weft__worker *w, int64_t now);

static bool linger(struct weft__worker *w)
{
    int64_t end = 0;

    for (unsigned round = 0;; round++) {
        /* One pause a check: a pause is ~25 ns here, and the check reads
         * lines the other workers write only when they have work. */
        weft__cpu_relax();
        if (work_anywhere(w) || weft__runtime_stopping(w->rt) ||
            weft__signals_caught())
            return true;
        if ((round & 63) == 0) {
            /* On a CPU with other threads ready (another process, or
             * more workers than CPUs), let them run: one of them may be
             * the one making this worker's work. Alone on its CPU, the
             * call returns at once. */
            if (round > 0)
                sched_yield();
            /* A reply on a socket (the process pool's) or a timer may be
             * what this worker waits for: look, without blocking. */
            if (weft__reactor_pending(&w->reactor) && round > 0) {
                poll_reactor(w);
                if (has_local_work(w))
                    return true;
            }
            int64_t now = weft__now_ns();
            if (visit_others(w, now))
                return true;
            if (end == 0)
                end = now + LINGER_NS;
            else if (now >= end)
                return false;
        }
    }
}

/* How long a parked worker may sleep before it looks after the other
 * workers' descriptors (weft__reactor_visit): VISIT_TICK_US while one
 * has tasks waiting on them and is not blocked in its reactor (it may
 * stop polling: a long task, no CPU); VISIT_IDLE_TICK_US while one has
 * registrations at all, since its tasks may start waiting on them, then
 * run long, while this one sleeps; else 0, no limit. */
static long park_tick_us(struct weft__worker *w)
{
    struct weft__runtime *rt = w->rt;
    long tick = 0;

    for (unsigned i = 0; i < rt->nworkers; i++) {
        struct weft__reactor *r = &rt->workers[i]->reactor;
        if (rt->workers[i] == w)
            continue;
        if (weft__load_relaxed_u32(&r->held) > 0 &&
            !weft__load_relaxed_u32(&r->blocked))
            return VISIT_TICK_US;
        if (weft__load_relaxed_u32(&r->registered) > 0)
            tick = VISIT_IDLE_TICK_US;
    }
    return tick;
}

/* Collects the edges of the workers that have not polled their
 * registrations for VISIT_STALE_NS while tasks wait on them; the tasks
 * woken come to w. True if any was. now: weft__now_ns(). */
static bool visit_others(struct weft__worker *w, int64_t now)
{
    struct weft__runtime *rt = w->rt;
    int n = 0;

    for (unsigned i = 0; i < rt->nworkers; i++) {
        if (rt->workers[i] != w)
            n += weft__reactor_visit(&rt->workers[i]->reactor, now,
                                     VISIT_STALE_NS);
    }
    WEFT__STAT_ADD(w, io_visits, (uint64_t)n);
    return n > 0 && has_local_work(w);
}

/* Blocks in the worker's event base until a timer, a socket or a wake-up
 * fd fires, unless work turned up while it was registering as parked.
 * While other workers have descriptors, it wakes now and then to look
 * after them (park_tick_us). */
static void park(struct weft__worker *w)
{
    struct weft__runtime *rt = w->rt;

    if (linger(w))
        return;
    weft__idle_park(&rt->idle, w);
    /* A signal caught before this look is delivered first; one caught
     * after writes this worker's wake fd (sched/signal.c). */
    if (!weft__runtime_stopping(rt) && !work_anywhere(w) &&
        !weft__signals_caught()) {
        WEFT__STAT_ADD(w, parks, 1);
        w->ticks = 0;
        for (long tick; (tick = park_tick_us(w)) > 0;) {
            weft__reactor_block_for(&w->reactor, tick);
            /* Still parked: neither a notifier nor a wake came. */
            if (!weft__idle_is_parked(w) || has_local_work(w) ||
                weft__runtime_stopping(rt) || weft__signals_caught() ||
                visit_others(w, weft__now_ns()) || work_anywhere(w))
                goto woken;
        }
        weft__reactor_block(&w->reactor);
    }
woken:
    if (weft__idle_unpark(&rt->idle, w))
        WEFT__STAT_ADD(w, unparks, 1);
}

static void run(struct weft__worker *w, weft__task *t)
{
    switch_to(w, NULL, t);
    switched_in(w, NULL);
    after_switch(w);
}

void weft__sched_loop(struct weft__worker *w)
{
    for (;;) {
        if (weft__signals_caught())
            weft__signals_dispatch();
        if (!weft__list_empty(&w->soon))
            weft__callbacks_run_soon(w);
        if (w->ticks >= POLL_INTERVAL)
            poll_reactor(w);
        weft__task *t = next_local(w);
        if (t == NULL)
            t = search(w);
        if (w->searching && t != NULL) {
            /* Found work: stop searching, and if nobody else searches,
             * wake another worker, since there may be more. */
            w->searching = false;
            if (weft__idle_end_search(&w->rt->idle))
                weft__idle_notify_local(w->rt);
        }
        if (t != NULL) {
            if (prepare(w, t))
                run(w, t);
            continue;
        }
        /* Timers that are due may make tasks ready without blocking. */
        if (weft__reactor_pending(&w->reactor)) {
            poll_reactor(w);
            if (has_local_work(w))
                continue;
        }
        /* Nothing to run: hand back this worker's share of the live
         * count, which stops the runtime if it was the last. */
        weft__live_flush(w);
        if (weft__runtime_stopping(w->rt))
            break;
        park(w);
    }
    if (w->searching) {
        w->searching = false;
        weft__idle_end_search(&w->rt->idle);
    }
}
