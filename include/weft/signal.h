/* Signals: waiting for one from a task, and Ctrl-C.
 *
 * weft_signal_wait is asyncio's loop.add_signal_handler turned into a
 * wait: a task suspends until one of a set of signals is caught. While
 * weft_run runs, SIGINT cancels main, as asyncio.run does on Ctrl-C (see
 * weft_run(3) and its WEFT_RUN_NO_SIGINT and WEFT_RUN_SIGTERM flags).
 */
#ifndef WEFT_SIGNAL_H
#define WEFT_SIGNAL_H

#include <signal.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Suspends the calling task until a signal of set is caught, for at most
 * timeout_ms (WEFT_FOREVER: no limit). Returns the signal's number, or
 * -ETIMEDOUT, -ECANCELED, -EINVAL, -EBUSY or -EPERM. */
WEFT_EXPORT int weft_signal_wait(const sigset_t *set, int64_t timeout_ms);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_SIGNAL_H */
