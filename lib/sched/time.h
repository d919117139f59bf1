/* Sleeping: weft_sleep, and the same wait for the library's own users
 * that show it as something else in task dumps. */
#ifndef WEFT_SCHED_TIME_H
#define WEFT_SCHED_TIME_H

#include <stdint.h>

#include "core/internal.h"

typedef struct weft__task weft__task; /* sched/task.h */

/* weft_sleep(ms) for self (ms > 0), shown in task dumps as waiting on
 * `what` (an enum weft__waiting). Returns as weft_sleep. */
int weft__sleep(weft__task *self, int64_t ms, unsigned what);

#endif /* WEFT_SCHED_TIME_H */
