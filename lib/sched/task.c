/* Tasks: spawn, await, failure, names and references. */
#include "sched/task.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/atomic.h"
#include "core/clock.h"
#include "core/thread.h"
#include "sched/runtime.h"
#include "sched/scope.h"
#include "sched/loop.h"
#include "sched/records.h"
#include "sched/wait.h"
#include "sched/worker.h"

/* Task structs a worker keeps for reuse before passing half of them to
 * the runtime's pool. */
#define TASK_CACHE_MAX 256u
#define TASK_REFILL_BATCH 64u
/* The live count a worker takes at once (weft__live_flush). */
#define LIVE_BATCH 64u

/* A heap copy of name, cut to WEFT_TASK_NAME_MAX bytes. */
static char *copy_name(const char *name)
{
    size_t n = strnlen(name, WEFT_TASK_NAME_MAX);
    char *copy = weft__malloc(n + 1);
    if (copy != NULL) {
        memcpy(copy, name, n);
        copy[n] = '\0';
    }
    return copy;
}

/* The task structs cached by a worker, and the runtime's pool behind
 * them, are stacks linked through qlink. */
static void stack_push(struct weft__slink **top, weft__task *t)
{
    t->qlink.next = *top;
    *top = &t->qlink;
}

static weft__task *stack_pop(struct weft__slink **top)
{
    struct weft__slink *link = *top;
    if (link == NULL)
        return NULL;
    *top = link->next;
    return weft__task_of_qlink(link);
}

static weft__task *task_alloc(struct weft__worker *w)
{
    struct weft__runtime *rt = w->rt;

    /* An unlocked peek, so an empty pool costs no lock; the pool's head is
     * stored atomically under the lock for this reason. */
    if (w->task_cache == NULL &&
        weft__load_relaxed_ptr((void *const *)&rt->task_pool) != NULL) {
        weft__mutex_lock(&rt->task_pool_lock);
        for (unsigned i = 0; i < TASK_REFILL_BATCH && rt->task_pool; i++) {
            struct weft__slink *top = rt->task_pool;
            weft__task *p = stack_pop(&top);
            weft__store_relaxed_ptr((void **)&rt->task_pool, top);
            stack_push(&w->task_cache, p);
            w->task_cache_n++;
        }
        weft__mutex_unlock(&rt->task_pool_lock);
    }
    weft__task *t = stack_pop(&w->task_cache);
    if (t != NULL) {
        w->task_cache_n--;
        return t;
    }
    return weft__record_new(w);
}

/* A record just freed keeps its name and message until it is reused, so
 * that a stale handle to it can still be reported with the task's name. */
static void record_clear(weft__task *t)
{
    weft__free(t->errmsg);
    weft__free(t->name);
    t->errmsg = NULL;
    t->name = NULL;
}

void weft__task_free(weft__task *t)
{
    struct weft__worker *w = weft__worker_self();

    if (w == NULL)
        weft__registry_remove_foreign(t);
    else if (t->reg_worker != WEFT__NO_REGISTRY)
        weft__registry_remove(t);
    /* From now on every handle to the task is stale. */
    weft__store_relaxed_u32(&t->magic, 0);
    weft__store_relaxed_u32(&t->gen, t->gen + 1);
    if (w == NULL) {
        /* Off the workers there is no cache to keep it in. */
        record_clear(t);
        weft__record_release(t);
        return;
    }
    stack_push(&w->task_cache, t);
    if (++w->task_cache_n > TASK_CACHE_MAX) {
        struct weft__runtime *rt = w->rt;
        weft__mutex_lock(&rt->task_pool_lock);
        struct weft__slink *top = rt->task_pool;
        while (w->task_cache_n > TASK_CACHE_MAX / 2) {
            weft__task *moved = stack_pop(&w->task_cache);
            if (moved == NULL)
                break; /* impossible: task_cache_n counts the stack */
            stack_push(&top, moved);
            w->task_cache_n--;
        }
        weft__store_relaxed_ptr((void **)&rt->task_pool, top);
        weft__mutex_unlock(&rt->task_pool_lock);
    }
}

/* Records no runtime will reuse: their names go, the records go back. */
static void release_stack(struct weft__slink **top)
{
    for (struct weft__slink *l = *top; l != NULL; l = l->next)
        record_clear(weft__task_of_qlink(l));
    weft__records_release_all(top);
}

void weft__task_cache_flush(struct weft__worker *w)
{
    release_stack(&w->task_cache);
    w->task_cache_n = 0;
}

void weft__task_pool_drain(struct weft__runtime *rt)
{
    release_stack(&rt->task_pool);
}

static int check_spawn_opts(const struct weft__runtime *rt,
                            const weft_spawn_opts *opts, unsigned *cls)
{
    *cls = rt->default_stack_cls;
    if (opts == NULL)
        return 0;
    if ((opts->flags & ~(WEFT_SPAWN_PINNED | WEFT_SPAWN_COMPACT)) != 0)
        return -EINVAL;
    for (size_t i = 0; i < WEFT__ARRAY_SIZE(opts->reserved); i++) {
        if (opts->reserved[i] != NULL)
            return -EINVAL;
    }
    if (opts->stack_size != 0) {
        int c = weft__stack_class(opts->stack_size);
        if (c < 0)
            return c;
        *cls = (unsigned)c;
    }
    return 0;
}

/* Undoes weft__task_init for a task that never went live. */
static void task_discard(weft__task *t)
{
    weft__stack_unreserve(&t->rt->stacks);
    weft__store_relaxed_u32(&t->magic, 0);
    record_clear(t);
    weft__record_release(t);
}

int weft__task_init(struct weft__runtime *rt, struct weft__worker *w,
                    weft_fn fn, void *arg, const weft_spawn_opts *opts,
                    bool handle, weft__task **out)
{
    unsigned cls;
    int rc;

    *out = NULL;
    if (fn == NULL)
        return -EINVAL;
    rc = check_spawn_opts(rt, opts, &cls);
    if (rc < 0)
        return rc;
    /* The workers are leaving: a new task would never run. */
    if (weft__runtime_stopping(rt))
        return -ESHUTDOWN;
    rc = weft__stack_reserve(&rt->stacks);
    if (rc < 0)
        return rc;
    char *name = NULL;
    if (opts != NULL && opts->name != NULL &&
        (name = copy_name(opts->name)) == NULL) {
        weft__stack_unreserve(&rt->stacks);
        return -ENOMEM;
    }
    /* Off the workers there is no cache: a fresh record. */
    weft__task *t = w != NULL ? task_alloc(w) : weft__record_new(NULL);
    if (t == NULL) {
        weft__free(name);
        weft__stack_unreserve(&rt->stacks);
        return -ENOMEM;
    }
    record_clear(t); /* what its previous task left for reports */
    /* Field by field: a ucontext backend's context is a kilobyte that the
     * first switch overwrites anyway. */
    weft__store_relaxed_u32(&t->magic, WEFT__TASK_MAGIC);
    t->qlink.next = NULL;
    t->stack = NULL;
    /* Suspension numbers go on from the struct's previous task, so that a
     * stale wake meant for that one cannot match a suspension of this. */
    t->wait &= ~(uint64_t)UINT32_MAX;
    t->cancel_requested = weft__runtime_draining(rt) ? 1 : 0;
    t->retrieved = 0;
    t->locks_held = 0;
    t->scopes = NULL;
    t->shields = 0;
    t->nscopes = 0;
    t->armed_scope = NULL;
    t->armed_on = NULL;
    t->io_ops = 0;
    t->waiting = WEFT__WAITING_NOTHING;
    t->last_worker = WEFT__NEVER_RAN;
    t->waiting_since = 0;
    t->waiting_on = 0;
    t->refs = handle ? 2 : 1;
    t->done = 0;
    t->lock = (weft__spinlock)WEFT__SPINLOCK_INIT;
    t->stack_cls = (uint16_t)cls; /* < WEFT__STACK_CLASSES */
    weft__list_init(&t->waiters);
    t->fn = fn;
    t->arg = arg;
    t->result = NULL;
    t->err = 0;
    t->errmsg = NULL;
    t->id = w != NULL ? weft__worker_next_id(w) : weft__next_id_shared();
    t->rt = rt;
    t->home = w != NULL ? w : rt->workers[0];
    t->pinned = opts != NULL && (opts->flags & WEFT_SPAWN_PINNED) != 0;
    t->compact = opts != NULL && (opts->flags & WEFT_SPAWN_COMPACT) != 0;
    t->compact_wait = false;
    t->compacted = false;
    t->reg_worker = WEFT__NO_REGISTRY;
    t->name = name;
#ifdef WEFT__ASAN
    t->asan_fake_stack = NULL;
#endif
#ifdef WEFT__TSAN
    t->tsan_fiber = NULL;
#endif
    *out = t;
    return 0;
}

/* Counts a task created by a thread outside the runtime as live, unless
 * the runtime is stopping: a count that was zero, or a stop already
 * called, means the workers are leaving. */
static bool live_enter_foreign(struct weft__runtime *rt)
{
    /* A full barrier, pairing with the FAA that hands back the last share
     * of the count (weft__live_flush), which then stops the runtime: one
     * of them sees the other. */
    if (weft__faa_u64(&rt->live, 1) == 0 || weft__runtime_stopping(rt)) {
        weft__faa_u64(&rt->live, (uint64_t)-1);
        return false;
    }
    return true;
}

int weft__task_publish(weft__task *t, struct weft__worker *w)
{
    struct weft__runtime *rt = t->rt;

    if (w != NULL) {
        /* From a task, which is itself live: the count cannot be 0. The
         * worker's share spares all but one spawn in LIVE_BATCH the
         * count's line, which the other workers' retires write. */
        if (w->live_share == 0) {
            weft__faa_u64(&rt->live, LIVE_BATCH);
            w->live_share = LIVE_BATCH;
        }
        w->live_share--;
    } else if (!live_enter_foreign(rt)) {
        task_discard(t);
        return -ESHUTDOWN;
    }
    weft__registry_add(w != NULL ? w : rt->workers[0], t);
    if (w == NULL)
        weft__sched_ready(t);
    else if (t->home == w)
        weft__sched_push(w, t);
    else
        weft__worker_inbox_push(t->home, t);
    return 0;
}

/* Creates and starts a task; the handle, if wanted, is stored before the
 * task can start elsewhere: queueing it publishes the store. */
static int create(struct weft__runtime *rt, struct weft__worker *w,
                  weft_fn fn, void *arg, const weft_spawn_opts *opts,
                  weft_task **out)
{
    weft__task *t;
    int rc = weft__task_init(rt, w, fn, arg, opts, out != NULL, &t);

    if (out != NULL)
        *out = NULL;
    if (rc < 0)
        return rc;
    if (out != NULL)
        *out = weft__task_handle(t);
    rc = weft__task_publish(t, w);
    if (rc < 0 && out != NULL)
        *out = NULL;
    return rc;
}

int weft__task_create(struct weft__worker *w, weft_fn fn, void *arg,
                      const weft_spawn_opts *opts, weft_task **out)
{
    return create(w->rt, w, fn, arg, opts, out);
}

int weft__task_create_foreign(struct weft__runtime *rt, weft_fn fn,
                              void *arg, const weft_spawn_opts *opts,
                              weft_task **out)
{
    return create(rt, NULL, fn, arg, opts, out);
}

int weft_spawn_ex(weft_task **task, weft_fn fn, void *arg,
                  const weft_spawn_opts *opts)
{
    struct weft__worker *w = weft__worker_self();

    if (task != NULL)
        *task = NULL;
    /* From a task, or from a callback on a worker (weft_call_soon). */
    if (w == NULL)
        return fn == NULL ? -EINVAL : -EPERM;
    return weft__task_create(w, fn, arg, opts, task);
}

int weft_spawn(weft_task **task, weft_fn fn, void *arg)
{
    return weft_spawn_ex(task, fn, arg, NULL);
}

/* The mistakes a task can end with, said as it ends. */
__attribute__((cold, noinline)) static void report_ended_holding(weft__task *t)
{
    char fallback[32];
    snprintf(fallback, sizeof fallback, "task-%" PRIu64, t->id);
    weft__log("task '%s' ended holding %u lock%s (weft_lock or a "
              "weft_rwlock's write side): %s locked, and tasks waiting "
              "for %s wait until their time-outs (release every lock "
              "before returning; WEFT_WITH_LOCK releases it on every way "
              "out)", t->name != NULL ? t->name : fallback, t->locks_held,
              t->locks_held == 1 ? "" : "s",
              t->locks_held == 1 ? "it stays" : "they stay",
              t->locks_held == 1 ? "it" : "them");
}

void weft__task_body(weft__task *t)
{
    void *result = t->fn(t->arg);
    /* Before any call that could reuse the dead frames' stack. */
    if (WEFT__UNLIKELY(t->scopes != NULL))
        weft__scopes_end(t);
    if (WEFT__UNLIKELY(t->locks_held != 0))
        report_ended_holding(t);
    /* A failed task's result is not kept: awaiters get NULL. */
    if (t->err == 0)
        t->result = result;
    if (t == t->rt->main)
        weft__runtime_main_ended(t->rt);
    weft__task_complete(t, 0, NULL);
}


bool weft__waiter_add(weft__task *target, struct weft__waiter *node)
{
    weft__spin_lock(&target->lock);
    if (target->done) {
        weft__spin_unlock(&target->lock);
        return false;
    }
    node->h.released = 0;
    /* FIFO: waiters learn of the end in the order they began to wait. */
    weft__list_push_back(&target->waiters, &node->link);
    weft__spin_unlock(&target->lock);
    return true;
}

bool weft__waiter_remove(weft__task *target, struct weft__waiter *node)
{
    weft__spin_lock(&target->lock);
    if (!target->done) {
        weft__list_remove(&node->link);
        weft__spin_unlock(&target->lock);
        return true;
    }
    weft__spin_unlock(&target->lock);
    /* The task finished and its finisher owns the node. A single wait's
     * node is released within a few instructions; one with on_finish is
     * that hook's, which tells its owner in its own way. */
    if (node->on_finish == NULL)
        weft__handoff_wait(&node->h);
    return false;
}

void weft__task_complete(weft__task *t, int err, const char *msg)
{
    struct weft__list waiters, *it, *next;

    if (err != 0) {
        t->err = err;
        t->errmsg = msg != NULL ? weft__strdup(msg) : NULL;
    }
    weft__list_init(&waiters);
    weft__spin_lock(&t->lock);
    /* Cancellation cannot be swallowed: a task whose cancellation was
     * requested before it finished ends cancelled, unless it failed. */
    if (t->err == 0 && t->cancel_requested) {
        t->err = -ECANCELED;
        t->result = NULL;
    }
    /* Release: whoever sees done (weft_task_is_done, waiter_add under the
     * lock) also sees result, err and errmsg. */
    weft__store_release_u32(&t->done, 1);
    weft__list_splice(&waiters, &t->waiters);
    weft__spin_unlock(&t->lock);
    /* A waiter may return and reuse the node's memory as soon as it is
     * released or woken, so the next link is read first. */
    weft__list_foreach_safe(it, next, &waiters) {
        struct weft__waiter *waiter = weft__list_entry(it, struct weft__waiter, link);
        if (waiter->on_finish != NULL) {
            waiter->on_finish(waiter);
        } else {
            weft__handoff_wake(&waiter->h, WEFT__WAKE_DONE);
        }
    }
}

void weft__task_retire(struct weft__worker *w, weft__task *t)
{
    struct weft__runtime *rt = t->rt;

    /* It stays in its registry until freed (weft__task_free). A task
     * with a handle is usually freed by the handle's holder, on the
     * worker that spawned it, so the worker that ran it takes no lock of
     * that worker's; one without is freed here. */
    weft__stack_unreserve(&rt->stacks);
    weft__task_unref(t);
    /* Its place in the count becomes w's share: the count stays above 0
     * while w holds a share, and the share stays at most two batches. */
    if (++w->live_share > 2 * LIVE_BATCH) {
        weft__faa_u64(&rt->live, -(uint64_t)LIVE_BATCH);
        w->live_share -= LIVE_BATCH;
    }
}

void weft__live_flush(struct weft__worker *w)
{
    uint64_t share = w->live_share;

    if (share == 0)
        return;
    w->live_share = 0;
    /* Pairs with the FAA of live_enter_foreign: see there. */
    if (weft__faa_u64(&w->rt->live, -share) == share)
        weft__runtime_stop(w->rt);
}

int weft__task_outcome(weft__task *t, void **result)
{
    if (t->err != 0) {
        /* Whoever is given the error has seen it: not reported unretrieved. */
        weft__store_relaxed_u32(&t->retrieved, 1);
        return t->err;
    }
    if (result != NULL)
        *result = t->result;
    return 0;
}

int weft__task_wait_done(weft__task *self, weft__task *target, unsigned flags)
{
    struct weft__waiter node = { .target = target, .h = { .task = self } };
    int rc;

    /* Pairs with the release of done in weft__task_complete. */
    if (weft__load_acquire_u32(&target->done))
        return 0;
    rc = weft__wait_begin(self, flags, &node.h.seq);
    if (rc < 0)
        return rc;
    if (!weft__waiter_add(target, &node)) {
        /* Finished meanwhile. A cancel racing in is not lost: it is
         * sticky, and the next suspension sees it. */
        (void)weft__wait_abort(self);
        return 0;
    }
    weft__task_waiting(self, WEFT__WAITING_TASK, target);
    int reason = weft__wait_commit(self);
    weft__task_waiting(self, WEFT__WAITING_NOTHING, NULL);
    if (reason == WEFT__WAKE_DONE) {
        weft__handoff_wait(&node.h);
        return 0;
    }
    (void)weft__waiter_remove(target, &node);
    return weft__wake_error(reason);
}

/* --- handles ------------------------------------------------------------- */

weft_task *weft_current(void)
{
    return weft__task_handle(weft__task_self());
}

/* Says that api was given a stale handle, naming the task if its record
 * still holds the name (it was released, and not reused since). */
__attribute__((cold, noinline)) static void report_stale(weft_task *h,
                                                         const char *api)
{
    weft__task *t = weft__handle_record(h);
    uint32_t gen = weft__load_relaxed_u32(&t->gen);
    char what[WEFT_TASK_NAME_MAX + 32];

    if (weft__load_relaxed_u32(&t->magic) == 0 &&
        gen == weft__handle_gen(h) + 1 && t->name != NULL)
        snprintf(what, sizeof what, "task '%s'", t->name);
    else
        snprintf(what, sizeof what, "a task");
    weft__log("%s: the handle of %s whose last reference was dropped "
              "(weft_task_unref) was used: a double release, or a use "
              "after release", api, what);
}

weft__task *weft__task_check(weft_task *h, const char *api)
{
    if (h == NULL)
        return NULL;
    weft__task *t = weft__handle_record(h);
    uint32_t want = weft__handle_gen(h);
    /* Relaxed: a live handle's record is stable while its holder has a
     * reference; for a stale one these are the facts the report needs. */
    if (WEFT__LIKELY(weft__load_relaxed_u32(&t->magic) == WEFT__TASK_MAGIC &&
                     (want == UINT32_MAX ||
                      (weft__load_relaxed_u32(&t->gen) & 0xffffu) == want)))
        return t;
    report_stale(h, api);
    return NULL;
}

/* --- awaiting -------------------------------------------------------------- */

/* weft_await and weft_await_shielded; propagate: pass the caller's
 * cancellation or timeout on to task. */
static int await_task(weft__task *self, weft_task *handle, void **result,
                      bool propagate, const char *api)
{
    if (result != NULL)
        *result = NULL;
    if (self == NULL)
        return handle == NULL ? -EINVAL : -EPERM;
    weft__task *task = weft__task_check(handle, api);
    if (task == NULL)
        return -EINVAL;
    if (task == self)
        return -EDEADLK;
    /* Every await delivers a pending cancellation or deadline, even of a
     * finished task: it is a checkpoint (weft(7), "API conventions"). */
    int rc = weft__check_interrupt(self);
    if (rc == 0)
        rc = weft__task_wait_done(self, task, 0);
    if (rc < 0) {
        if (!propagate)
            return rc;
        /* As asyncio's await does: the awaited task is cancelled too, and
         * awaited to its end, so nothing it does outlives the caller's
         * wait unnoticed. */
        (void)weft__task_cancel(task);
        (void)weft__task_wait_done(self, task, WEFT__WAIT_SHIELDED);
        return rc;
    }
    return weft__task_outcome(task, result);
}

int weft_await(weft_task *task, void **result)
{
    return await_task(WEFT__TASK_ENTER(), task, result, true, "weft_await");
}

int weft_await_shielded(weft_task *task, void **result)
{
    return await_task(WEFT__TASK_ENTER(), task, result, false,
                      "weft_await_shielded");
}

int weft_task_result(weft_task *handle, void **result)
{
    if (result != NULL)
        *result = NULL;
    weft__task *task = weft__task_check(handle, "weft_task_result");
    if (task == NULL)
        return -EINVAL;
    /* Acquire: pairs with the release of done in weft__task_complete. */
    if (!weft__load_acquire_u32(&task->done))
        return -EINPROGRESS;
    return weft__task_outcome(task, result);
}

void weft__task_waiting(weft__task *self, enum weft__waiting what,
                        const weft__task *on)
{
    weft__store_relaxed_u64(&self->waiting_on, on != NULL ? on->id : 0);
    weft__store_relaxed_u64((uint64_t *)&self->waiting_since,
                            what != WEFT__WAITING_NOTHING
                                ? (uint64_t)weft__coarse_now_ms() : 0);
    weft__store_relaxed_u32(&self->waiting, what);
}

/* --- cancellation ------------------------------------------------------- */

int weft__task_cancel(weft__task *task)
{
    /* Under the lock, against completion: a request made here is seen by
     * the task's completion, which then ends it cancelled. */
    weft__spin_lock(&task->lock);
    if (task->done) {
        weft__spin_unlock(&task->lock);
        return -EALREADY;
    }
    /* A full barrier (pairs with the exchange in weft__wait_begin): a
     * suspension begun before this is woken below, one begun after sees
     * the request. */
    weft__faa_u32(&task->cancel_requested, 1);
    weft__spin_unlock(&task->lock);
    weft__wake_for_cancel(task);
    return 0;
}

int weft_cancel(weft_task *handle)
{
    weft__task *task = weft__task_check(handle, "weft_cancel");

    if (task == NULL)
        return -EINVAL;
    return weft__task_cancel(task);
}

int weft_task_cancelling(weft_task *handle)
{
    weft__task *task = weft__task_check(handle, "weft_task_cancelling");

    if (task == NULL)
        return -EINVAL;
    /* Pairs with the FAA of weft__task_cancel. */
    return (int)weft__load_acquire_u32(&task->cancel_requested);
}

int weft__task_uncancel(weft__task *task)
{
    /* The CAS races other cancels' FAA; the loads pair with them. */
    uint32_t n = weft__load_acquire_u32(&task->cancel_requested);
    while (n > 0 && !weft__cas_u32(&task->cancel_requested, n, n - 1))
        n = weft__load_acquire_u32(&task->cancel_requested);
    return n > 0 ? (int)n - 1 : 0;
}

int weft_task_uncancel(weft_task *handle)
{
    weft__task *task = weft__task_check(handle, "weft_task_uncancel");

    if (task == NULL)
        return -EINVAL;
    return weft__task_uncancel(task);
}

int weft_yield(void)
{
    weft__task *self = WEFT__TASK_ENTER();
    if (self == NULL)
        return -EPERM;
    /* A suspension point like any other: cancellation and deadlines. */
    int rc = weft__check_interrupt(self);
    if (rc < 0)
        return rc;
    weft__sched_yield(self);
    return 0;
}

void *weft_fail(int err, const char *fmt, ...)
{
    weft__task *self = weft__task_self();
    char *msg = NULL;

    /* A blocking function on a pool thread fails its job; its message is
     * not kept. */
    if (self == NULL) {
        if (weft__thread_job_err != NULL)
            *weft__thread_job_err = err < 0 ? err : -EINVAL;
        return NULL;
    }
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n >= 0 && (msg = weft__malloc((size_t)n + 1)) != NULL) {
            va_start(ap, fmt);
            vsnprintf(msg, (size_t)n + 1, fmt, ap);
            va_end(ap);
        }
    }
    if (err >= 0) {
        weft__free(msg);
        msg = weft__malloc(64);
        if (msg != NULL)
            snprintf(msg, 64, "weft_fail() called with error %d, not < 0",
                     err);
        err = -EINVAL;
    }
    weft__free(self->errmsg);
    self->err = err;
    self->errmsg = msg;
    return NULL;
}

/* --- references and names ------------------------------------------------- */

/* asyncio's "Task exception was never retrieved": a task that failed and
 * whose error nobody was given is reported when it is freed. */
static void report_unretrieved(weft__task *t)
{
    if (!weft__load_acquire_u32(&t->done) || t->err == 0 ||
        t->err == -ECANCELED || weft__load_relaxed_u32(&t->retrieved))
        return;
    char fallback[32];
    snprintf(fallback, sizeof fallback, "task-%" PRIu64, t->id);
    weft__log("task '%s' failed with %s (%s)%s%s, and its error was never "
              "retrieved", t->name != NULL ? t->name : fallback,
              weft_err_name(t->err), weft_strerror(t->err),
              t->errmsg != NULL ? ": " : "",
              t->errmsg != NULL ? t->errmsg : "");
}

weft_task *weft_task_ref(weft_task *handle)
{
    weft__task *task = weft__task_check(handle, "weft_task_ref");

    if (task == NULL)
        return NULL;
    /* A reference taken by one who has one: no ordering is needed. */
    weft__faa_u32(&task->refs, 1);
    return handle;
}

void weft__task_unref(weft__task *task)
{
    /* A full barrier: every holder's use of the task comes before the
     * last one frees it. */
    uint32_t before = weft__faa_u32(&task->refs, (uint32_t)-1);
    WEFT__ASSERT(before > 0);
    if (before == 1) {
        report_unretrieved(task);
        weft__task_free(task);
    }
}

int weft_task_unref(weft_task *handle)
{
    if (handle == NULL)
        return 0;
    weft__task *task = weft__task_check(handle, "weft_task_unref");
    if (task == NULL)
        return -EINVAL;
    weft__task_unref(task);
    return 0;
}

const char *weft_task_name(weft_task *handle)
{
    const char *name;
    weft__task *task = weft__task_check(handle, "weft_task_name");

    if (task == NULL)
        return NULL;
    weft__spin_lock(&task->lock);
    if (task->name == NULL) {
        /* Made on first request: most tasks are never asked. */
        char fallback[WEFT_TASK_NAME_MAX + 1];
        snprintf(fallback, sizeof fallback, "task-%" PRIu64, task->id);
        task->name = copy_name(fallback);
    }
    name = task->name;
    weft__spin_unlock(&task->lock);
    /* Out of memory: a static string still names something. */
    return name != NULL ? name : "task";
}

int weft_task_set_name(weft_task *handle, const char *name)
{
    char *copy, *old;
    weft__task *task = weft__task_check(handle, "weft_task_set_name");

    if (task == NULL || name == NULL || name[0] == '\0')
        return -EINVAL;
    copy = copy_name(name);
    if (copy == NULL)
        return -ENOMEM;
    weft__spin_lock(&task->lock);
    old = task->name;
    task->name = copy;
    weft__spin_unlock(&task->lock);
    weft__free(old);
    return 0;
}

uint64_t weft_task_id(weft_task *handle)
{
    weft__task *task = weft__task_check(handle, "weft_task_id");
    return task != NULL ? task->id : 0;
}

int weft_task_is_done(weft_task *handle)
{
    weft__task *task = weft__task_check(handle, "weft_task_is_done");

    if (task == NULL)
        return -EINVAL;
    /* Pairs with the release of done in weft__task_complete. */
    return (int)weft__load_acquire_u32(&task->done);
}

int weft_task_is_cancelled(weft_task *handle)
{
    weft__task *task = weft__task_check(handle, "weft_task_is_cancelled");

    if (task == NULL)
        return -EINVAL;
    /* Acquire: pairs with the release of done in weft__task_complete. */
    return weft__load_acquire_u32(&task->done) && task->err == -ECANCELED;
}

const char *weft_task_errmsg(weft_task *handle)
{
    weft__task *task = weft__task_check(handle, "weft_task_errmsg");

    /* Pairs with the release of done in weft__task_complete. */
    if (task == NULL || !weft__load_acquire_u32(&task->done))
        return NULL;
    /* Whoever reads the message has seen the error. */
    weft__store_relaxed_u32(&task->retrieved, 1);
    return task->errmsg;
}

const char *weft__task_label(const weft__task *t, char *buf, size_t size)
{
    if (t->name != NULL)
        return t->name;
    snprintf(buf, size, "task-%" PRIu64, t->id);
    return buf;
}
