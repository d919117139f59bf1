/* The runtime object's own life, shared with the files that make it run:
 * the one runtime of the process and its publication to other threads,
 * stopping, and the drain when main returns (see runtime.h). weft_run,
 * which builds and tears it down, is in run.c. */
#include "sched/runtime.h"

#include <inttypes.h>

#include "core/atomic.h"
#include "sched/task.h"
#include "sched/worker.h"

/* One runtime at a time: the stack-overflow handler and the process pool
 * are process-wide. */
static uint32_t active;

/* The runtime other threads may reach, under a lock that keeps it from
 * ending while they use it. */
static pthread_mutex_t published_lock = PTHREAD_MUTEX_INITIALIZER;
static struct weft__runtime *published;

bool weft__runtime_begin(void)
{
    /* The CAS pairs with the release in weft__runtime_end: a new runtime
     * starts after everything the last one did. */
    return weft__cas_u32(&active, 0, 1);
}

void weft__runtime_end(void)
{
    weft__store_release_u32(&active, 0);
}

bool weft__runtime_active(void)
{
    /* Pairs with the CAS of begin and the release of end. */
    return weft__load_acquire_u32(&active) != 0;
}

struct weft__runtime *weft__runtime_acquire(void)
{
    weft__mutex_lock(&published_lock);
    return published;
}

void weft__runtime_release(void)
{
    weft__mutex_unlock(&published_lock);
}

void weft__runtime_publish(struct weft__runtime *rt)
{
    /* Release: pairs with weft__runtime_peek's acquire. */
    weft__store_release_ptr((void **)&published, rt);
}

struct weft__runtime *weft__runtime_peek(void)
{
    return weft__load_acquire_ptr((void *const *)&published);
}

bool weft__runtime_stopping(const struct weft__runtime *rt)
{
    /* Pairs with the release in weft__runtime_stop. */
    return weft__load_acquire_u32(&rt->stopping) != 0;
}

void weft__runtime_stop(struct weft__runtime *rt)
{
    weft__store_release_u32(&rt->stopping, 1);
    /* Pairs with the full barrier of a parking worker (weft__idle_park):
     * it either sees stopping, or is parked and woken below. */
    weft__fence_full();
    for (unsigned i = 0; i < rt->nworkers; i++)
        weft__worker_wake(rt->workers[i]);
}

bool weft__runtime_draining(const struct weft__runtime *rt)
{
    /* Pairs with the release in weft__runtime_main_ended. */
    return weft__load_acquire_u32(&rt->draining) != 0;
}

void weft__runtime_main_ended(struct weft__runtime *rt)
{
    uint64_t cancelled = 0;

    /* From here on, new tasks are created cancelled and never run, so
     * the tasks being cancelled cannot keep the runtime alive by
     * spawning more. */
    weft__store_release_u32(&rt->draining, 1);
    for (unsigned i = 0; i < rt->nworkers; i++) {
        struct weft__registry *reg = &rt->workers[i]->registry;
        weft__spin_lock(&reg->lock);
        struct weft__list *it;
        weft__list_foreach(it, &reg->tasks) {
            weft__task *t = weft__list_entry(it, weft__task, reg_link);
            /* Lock order: registry, then task (in weft_cancel). */
            if (t != rt->main && weft__task_cancel(t) == 0)
                cancelled++;
        }
        weft__spin_unlock(&reg->lock);
    }
    if (cancelled > 0)
        weft__log("main returned while %" PRIu64 " task%s still running; "
                  "cancelled %s", cancelled, cancelled == 1 ? " was" : "s were",
                  cancelled == 1 ? "it" : "them");
}
