/* Functions for the internal test suites (tests/check_scheduler.c) only:
 * the library never calls them. */
#ifndef WEFT_SCHED_TESTHOOKS_H
#define WEFT_SCHED_TESTHOOKS_H

#include "core/internal.h"

struct weft__worker;

/* weft__task_create, but the task is pinned to worker home of the same
 * runtime and delivered through its inbox, as a wake from another worker
 * would be. */
int weft__task_create_on(struct weft__worker *w, struct weft__worker *home,
                         weft_fn fn, void *arg, const weft_spawn_opts *opts,
                         weft_task **out);

#endif /* WEFT_SCHED_TESTHOOKS_H */
