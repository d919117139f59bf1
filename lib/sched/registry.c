/* The registry of live tasks, one list per worker (see worker.h). */
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
