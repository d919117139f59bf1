/* Slow-task detection, on by default (watchdog.c): a thread that notices
 * a worker running one task for longer than the threshold, and a check
 * the worker makes as each task gives up its worker, which names it.
 *
 * The switch itself pays one load and one compare: the watchdog reads
 * each worker's count of task switches (stats.polled, kept anyway) and
 * its current task, and, when both stood still for the threshold, flags
 * that switch count in the worker's slow_seq. The worker, leaving the
 * task, finds its count equal to slow_seq and reports the task by name
 * (only the worker may read the task safely: it is running it). */
#ifndef WEFT_SCHED_WATCHDOG_H
#define WEFT_SCHED_WATCHDOG_H

#include "core/atomic.h"
#include "sched/worker.h"

struct weft__runtime;
typedef struct weft__task weft__task; /* sched/task.h */

/* Starts the watchdog if rt->slow_task_ms > 0. Returns 0 or -errno. */
int weft__watchdog_start(struct weft__runtime *rt);

/* Stops and joins it (nothing if it was not started). */
void weft__watchdog_stop(struct weft__runtime *rt);

/* Reports t, which ran from the watchdog's first sight of it until now. */
void weft__watchdog_report(struct weft__worker *w, weft__task *t);

/* On w's thread, as t gives up the worker. */
static inline void weft__watchdog_slice_end(struct weft__worker *w,
                                            weft__task *t)
{
    if (WEFT__UNLIKELY(weft__load_relaxed_u64(&w->slow_seq) ==
                       w->stats.polled))
        weft__watchdog_report(w, t);
}

#endif /* WEFT_SCHED_WATCHDOG_H */
