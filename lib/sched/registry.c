/* The registry of live tasks, one list per worker (see worker.h). */
#include "core/internal.h"

#include "core/atomic.h"
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
