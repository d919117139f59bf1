/* Tasks: spawn, await, failure, names and references. */
#include "task.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "atomic.h"
#include "executor.h"
#include "runtime.h"
#include "scheduler.h"
#include "worker.h"

/* Task structs a worker keeps for reuse before passing half of them to
 * the runtime's pool. */
#define TASK_CACHE_MAX 256u
#define TASK_REFILL_BATCH 64u

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

static weft_task *task_alloc(struct weft__worker *w)
{
    struct weft__runtime *rt = w->rt;
    weft_task *t = w->task_cache;

    /* An unlocked peek, so an empty pool costs no lock; the pool's head is
     * stored atomically under the lock for this reason. */
    if (t == NULL && weft__load_relaxed_ptr((void *const *)&rt->task_pool)) {
        pthread_mutex_lock(&rt->task_pool_lock);
        for (unsigned i = 0; i < TASK_REFILL_BATCH && rt->task_pool; i++) {
            weft_task *p = rt->task_pool;
            weft__store_relaxed_ptr((void **)&rt->task_pool, p->next);
            p->next = w->task_cache;
            w->task_cache = p;
            w->task_cache_n++;
        }
        pthread_mutex_unlock(&rt->task_pool_lock);
        t = w->task_cache;
    }
    if (t == NULL) {
        t = weft__malloc(sizeof *t);
        if (t != NULL)
            t->wait = 0;
        return t;
    }
    w->task_cache = t->next;
    w->task_cache_n--;
    return t;
}

void weft__task_free(weft_task *t)
{
    struct weft__worker *w = weft__worker_self();

    weft__free(t->errmsg);
    weft__free(t->name);
    t->magic = 0; /* a released handle is told apart, while not reused */
#ifdef WEFT__ASAN
    /* Reuse would hide a use after free from ASan. */
    w = NULL;
#endif
    if (w == NULL) {
        weft__free(t);
        return;
    }
    t->next = w->task_cache;
    w->task_cache = t;
    if (++w->task_cache_n > TASK_CACHE_MAX) {
        struct weft__runtime *rt = w->rt;
        pthread_mutex_lock(&rt->task_pool_lock);
        while (w->task_cache_n > TASK_CACHE_MAX / 2) {
            weft_task *p = w->task_cache;
            w->task_cache = p->next;
            w->task_cache_n--;
            p->next = rt->task_pool;
            weft__store_relaxed_ptr((void **)&rt->task_pool, p);
        }
        pthread_mutex_unlock(&rt->task_pool_lock);
    }
}

void weft__task_cache_flush(struct weft__worker *w)
{
    while (w->task_cache != NULL) {
        weft_task *t = w->task_cache;
        w->task_cache = t->next;
        weft__free(t);
    }
    w->task_cache_n = 0;
}

void weft__task_pool_drain(struct weft__runtime *rt)
{
    while (rt->task_pool != NULL) {
        weft_task *t = rt->task_pool;
        rt->task_pool = t->next;
        weft__free(t);
    }
}

static int check_spawn_opts(const struct weft__runtime *rt,
                            const weft_spawn_opts *opts, unsigned *cls)
{
    *cls = rt->default_stack_cls;
    if (opts == NULL)
        return 0;
    if ((opts->flags & ~WEFT_SPAWN_PINNED) != 0)
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

/* Counts a task created by a thread outside the runtime as live, unless
 * the runtime is stopping: a count that was zero, or a stop already
 * called, means the workers are leaving. */
static bool live_enter_foreign(struct weft__runtime *rt)
{
    if (weft__faa_u64(&rt->live, 1) == 0 || weft__runtime_stopping(rt)) {
        weft__faa_u64(&rt->live, (uint64_t)-1);
        return false;
    }
    return true;
}

/* Creates a task on rt and queues it: on w itself (the caller's worker),
 * or, if `home` is given, pinned to home and through home's inbox. With w
 * NULL the caller is a thread outside the runtime, and the task goes to
 * the global queue. */
static int create(struct weft__runtime *rt, struct weft__worker *w,
                  struct weft__worker *home, weft_fn fn, void *arg,
                  const weft_spawn_opts *opts, weft_task **out)
{
    unsigned cls;
    int rc;

    if (out != NULL)
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
    weft_task *t = w != NULL ? task_alloc(w) : weft__malloc(sizeof *t);
    if (t != NULL && w == NULL)
        t->wait = 0;
    if (t == NULL || (w == NULL && !live_enter_foreign(rt))) {
        rc = t == NULL ? -ENOMEM : -ESHUTDOWN;
        weft__free(t);
        weft__free(name);
        weft__stack_unreserve(&rt->stacks);
        return rc;
    }
    /* Field by field: a ucontext backend's context is a kilobyte that the
     * first switch overwrites anyway. */
    t->magic = WEFT__TASK_MAGIC;
    t->next = NULL;
    t->stack = NULL;
    /* Suspension numbers go on from the struct's previous task, so that a
     * stale wake meant for that one cannot match a suspension of this. */
    t->wait &= ~(uint64_t)UINT32_MAX;
    t->cancel_requested = weft__runtime_draining(rt) ? 1 : 0;
    t->retrieved = 0;
    t->scopes = NULL;
    t->shields = 0;
    t->armed_scope = NULL;
    t->armed_on = NULL;
    t->waiting = WEFT__WAITING_NOTHING;
    t->last_worker = WEFT__NEVER_RAN;
    t->waiting_since = 0;
    t->waiting_on = 0;
    t->refs = out != NULL ? 2 : 1;
    t->done = 0;
    t->lock = (weft__spinlock)WEFT__SPINLOCK_INIT;
    t->stack_cls = cls;
    t->waiters = NULL;
    t->fn = fn;
    t->arg = arg;
    t->result = NULL;
    t->err = 0;
    t->errmsg = NULL;
    t->id = w != NULL ? weft__worker_next_id(w) : weft__next_id_shared();
    t->rt = rt;
    t->home = home != NULL ? home : w != NULL ? w : rt->workers[0];
    t->pinned = home != NULL ||
                (opts != NULL && (opts->flags & WEFT_SPAWN_PINNED) != 0);
    t->name = name;
#ifdef WEFT__ASAN
    t->asan_fake_stack = NULL;
#endif
#ifdef WEFT__TSAN
    t->tsan_fiber = NULL;
#endif
    if (w != NULL)
        weft__faa_u64(&rt->live, 1);
    weft__registry_add(w != NULL ? w : rt->workers[0], t);
    /* Before the task can start elsewhere: queueing it publishes this. */
    if (out != NULL)
        *out = t;
    if (w == NULL)
        weft__sched_ready(t);
    else if (t->home == w)
        weft__sched_push(w, t);
    else
        weft__worker_inbox_push(t->home, t);
    return 0;
}

int weft__task_create(struct weft__worker *w, weft_fn fn, void *arg,
                      const weft_spawn_opts *opts, weft_task **out)
{
    return create(w->rt, w, NULL, fn, arg, opts, out);
}

int weft__task_create_on(struct weft__worker *w, struct weft__worker *home,
                         weft_fn fn, void *arg, const weft_spawn_opts *opts,
                         weft_task **out)
{
    return create(w->rt, w, home, fn, arg, opts, out);
}

int weft__task_create_foreign(struct weft__runtime *rt, weft_fn fn,
                              void *arg, const weft_spawn_opts *opts,
                              weft_task **out)
{
    return create(rt, NULL, NULL, fn, arg, opts, out);
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

void weft__task_body(weft_task *t)
{
    void *result = t->fn(t->arg);
    /* A failed task's result is not kept: awaiters get NULL. */
    if (t->err == 0)
        t->result = result;
    if (t == t->rt->main)
        weft__runtime_main_ended(t->rt);
    weft__task_complete(t, 0, NULL);
}

/* A single wait's finisher is a few instructions from releasing the node,
 * unless its thread was preempted there. */
static void wait_released(struct weft__waiter *node)
{
    for (unsigned spins = 0; !weft__load_acquire_u32(&node->released); spins++) {
        if (spins < 1000)
            weft__cpu_relax();
        else
            sched_yield();
    }
}

bool weft__waiter_add(weft_task *target, struct weft__waiter *node)
{
    weft__spin_lock(&target->lock);
    if (target->done) {
        weft__spin_unlock(&target->lock);
        return false;
    }
    node->released = 0;
    node->prev = NULL;
    node->next = target->waiters;
    if (node->next != NULL)
        node->next->prev = node;
    target->waiters = node;
    weft__spin_unlock(&target->lock);
    return true;
}

bool weft__waiter_remove(weft_task *target, struct weft__waiter *node)
{
    weft__spin_lock(&target->lock);
    if (!target->done) {
        if (node->prev != NULL)
            node->prev->next = node->next;
        else
            target->waiters = node->next;
        if (node->next != NULL)
            node->next->prev = node->prev;
        weft__spin_unlock(&target->lock);
        return true;
    }
    weft__spin_unlock(&target->lock);
    /* The task finished and its finisher owns the node. A single wait's
     * node is released within a few instructions; a set's is handed to
     * the set, which counts it in; an on_finish node goes to its hook,
     * which may free it, so nothing marks it released: its owner waits
     * for the hook's own signal. */
    if (node->set == NULL && node->on_finish == NULL)
        wait_released(node);
    return false;
}

void weft__task_complete(weft_task *t, int err, const char *msg)
{
    struct weft__waiter *waiter;

    if (err != 0) {
        t->err = err;
        t->errmsg = msg != NULL ? weft__strdup(msg) : NULL;
    }
    weft__spin_lock(&t->lock);
    /* Cancellation cannot be swallowed: a task whose cancellation was
     * requested before it finished ends cancelled, unless it failed. */
    if (t->err == 0 && t->cancel_requested) {
        t->err = -ECANCELED;
        t->result = NULL;
    }
    /* Release: whoever sees done also sees result, err and errmsg. */
    weft__store_release_u32(&t->done, 1);
    waiter = t->waiters;
    t->waiters = NULL;
    weft__spin_unlock(&t->lock);
    while (waiter != NULL) {
        /* A waiter may return and reuse the node's memory as soon as it
         * is released or woken, so read what is needed first. */
        struct weft__waiter *next = waiter->next;
        if (waiter->on_finish != NULL) {
            waiter->on_finish(waiter);
        } else if (waiter->set != NULL) {
            weft__waitset_deliver(waiter);
        } else {
            /* Wake, then release: until released the waiter waits, so
             * neither the node nor the waiting task can go away under
             * the wake, even if something else woke the task first. */
            weft__wake(waiter->task, waiter->seq, WEFT__WAKE_DONE);
            weft__store_release_u32(&waiter->released, 1);
        }
        waiter = next;
    }
}

void weft__task_retire(weft_task *t)
{
    struct weft__runtime *rt = t->rt;

    weft__registry_remove(t);
    weft__stack_unreserve(&rt->stacks);
    weft_task_unref(t);
    if (weft__faa_u64(&rt->live, (uint64_t)-1) == 1)
        weft__runtime_stop(rt);
}

int weft__task_wait_done(weft_task *self, weft_task *target, unsigned flags)
{
    struct weft__waiter node = { .target = target, .task = self };
    int rc;

    if (weft__load_acquire_u32(&target->done))
        return 0;
    rc = weft__wait_begin(self, flags, &node.seq);
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
        wait_released(&node);
        return 0;
    }
    (void)weft__waiter_remove(target, &node);
    return weft__wake_error(reason);
}

/* weft_await and weft_await_shielded; propagate: pass the caller's
 * cancellation or timeout on to task. */
static int await_task(weft_task *task, void **result, bool propagate)
{
    weft_task *self = weft_current();

    if (result != NULL)
        *result = NULL;
    if (task == NULL)
        return -EINVAL;
    if (self == NULL)
        return -EPERM;
    /* A released handle is caught while its memory is not reused. */
    if (task->magic != WEFT__TASK_MAGIC)
        return -EINVAL;
    if (task == self)
        return -EDEADLK;
    /* Every await delivers a pending cancellation or deadline, even of a
     * finished task: cancellation cannot be swallowed by accident. */
    int rc = weft__check_interrupt(self);
    if (rc == 0)
        rc = weft__task_wait_done(self, task, 0);
    if (rc < 0) {
        if (!propagate)
            return rc;
        /* As asyncio's await does: the awaited task is cancelled too, and
         * awaited to its end, so nothing it does outlives the caller's
         * wait unnoticed. */
        (void)weft_cancel(task);
        (void)weft__task_wait_done(self, task, WEFT__WAIT_SHIELDED);
        return rc;
    }
    if (task->err != 0) {
        weft__store_relaxed_u32(&task->retrieved, 1);
        return task->err;
    }
    if (result != NULL)
        *result = task->result;
    return 0;
}

int weft_await(weft_task *task, void **result)
{
    return await_task(task, result, true);
}

int weft_await_shielded(weft_task *task, void **result)
{
    return await_task(task, result, false);
}

int weft_yield(void)
{
    weft_task *self = weft_current();
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
    weft_task *self = weft_current();
    char *msg = NULL;

    /* A blocking function on a pool thread fails its job; its message is
     * not kept. */
    if (self == NULL) {
        (void)weft__job_fail(err < 0 ? err : -EINVAL);
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

weft_task *weft_current(void)
{
    struct weft__worker *w = weft__worker_self();
    return w != NULL ? w->current : NULL;
}

/* asyncio's "Task exception was never retrieved": a task that failed and
 * whose error nobody was given is reported when it is freed. */
static void report_unretrieved(weft_task *t)
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

weft_task *weft_task_ref(weft_task *task)
{
    if (task != NULL)
        weft__faa_u32(&task->refs, 1);
    return task;
}

void weft_task_unref(weft_task *task)
{
    if (task == NULL)
        return;
    uint32_t before = weft__faa_u32(&task->refs, (uint32_t)-1);
    WEFT__ASSERT(before > 0);
    if (before == 1) {
        report_unretrieved(task);
        weft__task_free(task);
    }
}

const char *weft_task_name(weft_task *task)
{
    char fallback[WEFT_TASK_NAME_MAX + 1];
    const char *name;

    if (task == NULL)
        return NULL;
    /* Formatted on first request: most tasks are never asked. */
    snprintf(fallback, sizeof fallback, "task-%" PRIu64, task->id);
    weft__spin_lock(&task->lock);
    if (task->name == NULL)
        task->name = copy_name(fallback);
    name = task->name;
    weft__spin_unlock(&task->lock);
    /* Out of memory: a static string still names something. */
    return name != NULL ? name : "task";
}

int weft_task_set_name(weft_task *task, const char *name)
{
    char *copy, *old;

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

uint64_t weft_task_id(const weft_task *task)
{
    return task != NULL ? task->id : 0;
}

int weft_task_done(weft_task *task)
{
    if (task == NULL || task->magic != WEFT__TASK_MAGIC)
        return -EINVAL;
    return (int)weft__load_acquire_u32(&task->done);
}

const char *weft_task_errmsg(weft_task *task)
{
    if (task == NULL || !weft__load_acquire_u32(&task->done))
        return NULL;
    /* Whoever reads the message has seen the error. */
    weft__store_relaxed_u32(&task->retrieved, 1);
    return task->errmsg;
}
