/* Debug mode: slow-task reports and task dumps on SIGUSR1 (debug.c). */
#ifndef WEFT_SCHED_DEBUG_H
#define WEFT_SCHED_DEBUG_H

#include <stdint.h>

#include "core/internal.h"

typedef struct weft__task weft__task; /* sched/task.h */

struct weft__runtime;
struct weft__worker;

/* Starts what debug mode needs (the SIGUSR1 handler and the thread that
 * writes dumps); stop undoes it. Returns 0 or -errno. */
int weft__debug_start(struct weft__runtime *rt);
void weft__debug_stop(struct weft__runtime *rt);

/* A task starts running on w / gives w up: in debug mode, a task that ran
 * longer than the threshold without suspending is reported. */
void weft__debug_slice_start(struct weft__worker *w);
void weft__debug_slice_end(struct weft__worker *w, weft__task *t);

#endif /* WEFT_SCHED_DEBUG_H */
