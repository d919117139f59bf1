/* Debug mode: task dumps on SIGUSR1, with how long each running task
 * has run (debug.c). Slow tasks are reported in every mode (watchdog.h). */
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

/* A task starts running on w: in debug mode, the time, for dumps. */
void weft__debug_slice_start(struct weft__worker *w);

#endif /* WEFT_SCHED_DEBUG_H */
