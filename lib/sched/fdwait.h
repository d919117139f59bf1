/* Waiting in a task for a file descriptor to become readable or
 * writable, on the current worker's reactor. The building block of
 * the process pool's I/O. */
#ifndef WEFT_SCHED_FDWAIT_H
#define WEFT_SCHED_FDWAIT_H

#include "core/internal.h"

typedef struct weft__task weft__task; /* sched/task.h */

#define WEFT__FD_READ 0x02  /* EV_READ */
#define WEFT__FD_WRITE 0x04 /* EV_WRITE */

/* Suspends the calling task (self) until fd is ready for `events`.
 * flags: as weft__wait_begin's. what: the enum weft__waiting task dumps
 * show for the wait. Returns 0, -ECANCELED, -ETIMEDOUT or
 * -ENOMEM. The task resumes on the worker it suspended on. */
int weft__fd_wait(weft__task *self, int fd, short events, unsigned flags,
                  unsigned what);

#endif /* WEFT_SCHED_FDWAIT_H */
