/* Tasks: spawn, await, failure, names and references. */
#include "task.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "atomic.h"
#include "runtime.h"
#include "sched.h"
#include "worker.h"

static void set_name(weft_task *t, const char *name)
{
    size_t n = strlen(name);
    if (n > WEFT_TASK_NAME_MAX)
        n = WEFT_TASK_NAME_MAX;
    memcpy(t->name, name, n);
    t->name[n] = '\0';
}

static int check_spawn_opts(const struct weft__runtime *rt,
                            const weft_spawn_opts *opts, unsigned *cls)
{
    *cls = rt->default_stack_cls;
    if (opts == NULL)
        return 0;
    if (opts->flags != 0)
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

int weft__task_create(struct weft__worker *w, weft_fn fn, void *arg,
                      const weft_spawn_opts *opts, weft_task **out)
{
    struct weft__runtime *rt = w->rt;
    unsigned cls;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (fn == NULL)
        return -EINVAL;
    rc = check_spawn_opts(rt, opts, &cls);
    if (rc < 0)
        return rc;
    rc = weft__stack_reserve(&rt->stacks);
    if (rc < 0)
        return rc;
    weft_task *t = weft__malloc(sizeof *t);
    if (t == NULL) {
        weft__stack_unreserve(&rt->stacks);
        return -ENOMEM;
    }
    /* Field by field: zeroing the whole struct (its event, its name, a
     * ucontext) would cost more than the rest of spawn. */
    t->next = NULL;
    t->stack = NULL;
    t->wait = 0;
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
    t->id = weft__worker_next_id(w);
    t->rt = rt;
    t->timer_seq = 0;
#ifdef WEFT__ASAN
    t->asan_fake_stack = NULL;
#endif
#ifdef WEFT__TSAN
    t->tsan_fiber = NULL;
#endif
    t->name[0] = '\0';
    if (opts != NULL && opts->name != NULL)
        set_name(t, opts->name);
    weft__faa_u64(&rt->live, 1);
    weft__sched_ready(t);
    if (out != NULL)
        *out = t;
    return 0;
}

int weft_spawn_ex(weft_task **task, weft_fn fn, void *arg,
                  const weft_spawn_opts *opts)
{
    struct weft__worker *w = weft__worker_self();

    if (task != NULL)
        *task = NULL;
    if (w == NULL || w->current == NULL)
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
    weft__task_complete(t, 0, NULL);
}

void weft__task_complete(weft_task *t, int err, const char *msg)
{
    struct weft__waiter *waiter;

    if (err != 0) {
        t->err = err;
        t->errmsg = msg != NULL ? weft__strdup(msg) : NULL;
    }
    weft__spin_lock(&t->lock);
    /* Release: whoever sees done also sees result, err and errmsg. */
    weft__store_release_u32(&t->done, 1);
    waiter = t->waiters;
    t->waiters = NULL;
    weft__spin_unlock(&t->lock);
    while (waiter != NULL) {
        /* The node lives on the awaiter's stack; once woken it may return
         * and reuse that memory, so read next first. */
        struct weft__waiter *next = waiter->next;
        weft__wake(waiter->task, waiter->seq, WEFT__WAKE_DONE);
        waiter = next;
    }
}

void weft__task_retire(weft_task *t)
{
    struct weft__runtime *rt = t->rt;

    weft__stack_unreserve(&rt->stacks);
    weft__faa_u64(&rt->live, (uint64_t)-1);
    weft_task_unref(t);
}

int weft_await(weft_task *task, void **result)
{
    weft_task *self = weft_current();
    struct weft__waiter waiter;

    if (result != NULL)
        *result = NULL;
    if (task == NULL)
        return -EINVAL;
    if (self == NULL)
        return -EPERM;
    if (task == self)
        return -EDEADLK;
    if (!weft__load_acquire_u32(&task->done)) {
        weft__spin_lock(&task->lock);
        if (!task->done) {
            waiter.task = self;
            waiter.seq = weft__wait_begin(self);
            waiter.next = task->waiters;
            task->waiters = &waiter;
            weft__spin_unlock(&task->lock);
            int reason = weft__wait_commit(self);
            WEFT__ASSERT(reason == WEFT__WAKE_DONE);
        } else {
            weft__spin_unlock(&task->lock);
        }
    }
    if (task->err != 0)
        return task->err;
    if (result != NULL)
        *result = task->result;
    return 0;
}

int weft_yield(void)
{
    weft_task *self = weft_current();
    if (self == NULL)
        return -EPERM;
    weft__sched_yield(self);
    return 0;
}

void *weft_fail(int err, const char *fmt, ...)
{
    weft_task *self = weft_current();
    char *msg = NULL;

    if (self == NULL)
        return NULL;
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
        weft__free(task->errmsg);
        weft__free(task);
    }
}

const char *weft_task_name(weft_task *task)
{
    if (task == NULL)
        return NULL;
    weft__spin_lock(&task->lock);
    if (task->name[0] == '\0')
        snprintf(task->name, sizeof task->name, "task-%" PRIu64, task->id);
    weft__spin_unlock(&task->lock);
    return task->name;
}

int weft_task_set_name(weft_task *task, const char *name)
{
    if (task == NULL || name == NULL || name[0] == '\0')
        return -EINVAL;
    weft__spin_lock(&task->lock);
    set_name(task, name);
    weft__spin_unlock(&task->lock);
    return 0;
}

uint64_t weft_task_id(const weft_task *task)
{
    return task != NULL ? task->id : 0;
}

int weft_task_done(weft_task *task)
{
    if (task == NULL)
        return -EINVAL;
    return (int)weft__load_acquire_u32(&task->done);
}

const char *weft_task_errmsg(weft_task *task)
{
    if (task == NULL || !weft__load_acquire_u32(&task->done))
        return NULL;
    return task->errmsg;
}
