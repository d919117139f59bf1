/* The registry of tasks, one list per worker (see worker.h). */
#include "core/internal.h"

#include "core/atomic.h"
#include "sched/runtime.h"
#include "sched/task.h"
#include "sched/worker.h"

void weft__registry_add(struct weft__worker *w, weft__task *t)
{
    struct weft__registry *reg = &w->registry;

    t->reg_worker = w->index;
    weft__spin_lock(&reg->lock);
    weft__list_push_back(&reg->tasks, &t->reg_link);
    reg->count++;
    weft__spin_unlock(&reg->lock);
}

void weft__registry_remove(weft__task *t)
{
    struct weft__registry *reg = &t->rt->workers[t->reg_worker]->registry;

    weft__spin_lock(&reg->lock);
    weft__list_remove(&t->reg_link);
    reg->count--;
    weft__spin_unlock(&reg->lock);
    t->reg_worker = WEFT__NO_REGISTRY;
}

void weft__registry_forget(struct weft__worker *w)
{
    struct weft__registry *reg = &w->registry;

    weft__spin_lock(&reg->lock);
    while (!weft__list_empty(&reg->tasks)) {
        struct weft__list *first = weft__list_first(&reg->tasks);
        weft__task *t = weft__list_entry(first, weft__task, reg_link);
        weft__list_remove(first);
        t->reg_worker = WEFT__NO_REGISTRY;
    }
    reg->count = 0;
    weft__spin_unlock(&reg->lock);
}

void weft__registry_remove_foreign(weft__task *t)
{
    /* The runtime's end lets go of the registries under this lock
     * (weft__registry_forget): either t is still listed and the workers
     * still exist, or it was let go. */
    (void)weft__runtime_acquire();
    if (t->reg_worker != WEFT__NO_REGISTRY)
        weft__registry_remove(t);
    weft__runtime_release();
}
