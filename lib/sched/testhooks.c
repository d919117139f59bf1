/* Functions for the internal test suites (see testhooks.h). */
#include "sched/testhooks.h"

#include "sched/task.h"
#include "sched/worker.h"

int weft__task_create_on(struct weft__worker *w, struct weft__worker *home,
                         weft_fn fn, void *arg, const weft_spawn_opts *opts,
                         weft_task **out)
{
    weft__task *t;
    int rc = weft__task_init(w->rt, w, fn, arg, opts, out != NULL, &t);

    if (out != NULL)
        *out = NULL;
    if (rc < 0)
        return rc;
    t->home = home;
    t->pinned = true;
    if (out != NULL)
        *out = weft__task_handle(t);
    return weft__task_publish(t, w);
}
