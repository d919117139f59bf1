/* The registry of live tasks, one list per worker (see worker.h), and the
 * cancellation of every task left when main returns. */
#include "core/internal.h"

#include <inttypes.h>

#include "core/atomic.h"
#include "sched/runtime.h"
#include "sched/task.h"
#include "sched/worker.h"

void weft__registry_add(struct weft__worker *w, weft_task *t)
{
    struct weft__registry *reg = &w->registry;

    t->registry = reg;
    t->reg_prev = NULL;
    weft__spin_lock(&reg->lock);
    t->reg_next = reg->head;
    if (reg->head != NULL)
        reg->head->reg_prev = t;
    reg->head = t;
    reg->count++;
    weft__spin_unlock(&reg->lock);
}

void weft__registry_remove(weft_task *t)
{
    struct weft__registry *reg = t->registry;

    weft__spin_lock(&reg->lock);
    if (t->reg_prev != NULL)
        t->reg_prev->reg_next = t->reg_next;
    else
        reg->head = t->reg_next;
    if (t->reg_next != NULL)
        t->reg_next->reg_prev = t->reg_prev;
    reg->count--;
    weft__spin_unlock(&reg->lock);
    t->registry = NULL;
}

bool weft__runtime_draining(const struct weft__runtime *rt)
{
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
        for (weft_task *t = reg->head; t != NULL; t = t->reg_next) {
            /* Lock order: registry, then task (in weft_cancel). */
            if (t != rt->main && weft_cancel(t) == 0)
                cancelled++;
        }
        weft__spin_unlock(&reg->lock);
    }
    if (cancelled > 0)
        weft__log("main returned while %" PRIu64 " task%s still running; "
                  "cancelled %s", cancelled, cancelled == 1 ? " was" : "s were",
                  cancelled == 1 ? "it" : "them");
}
