/* Signals caught while weft_run runs: waits for them (weft_signal_wait),
 * and the signals that cancel main (SIGINT, by default).
 *
 * The handler (on the worker's alternate stack) only records the signal
 * in a mask, with lock-free atomics, and writes every worker's wake
 * eventfd, so that a parked worker wakes up even while worker 0 is busy.
 * Every worker looks at the mask (one relaxed load) each time round its
 * loop and between direct task switches; the first that finds it set
 * takes it whole and delivers it: to every task waiting for that signal,
 * kept pending for the next wait if none does, or as a cancellation of
 * main. A signalfd would need the signals blocked in every thread of the
 * process, threads weft did not start included; libevent's signal events
 * are seen only when their base is polled, which a busy worker does only
 * while something is armed there.
 */
#ifndef WEFT_SCHED_SIGNAL_H
#define WEFT_SCHED_SIGNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/atomic.h"

struct weft__runtime;

/* Signals caught and not yet delivered, bit signo - 1. */
extern uint64_t weft__signals_caught_mask;

static inline bool weft__signals_caught(void)
{
    return weft__load_relaxed_u64(&weft__signals_caught_mask) != 0;
}

/* Delivers what was caught; on a worker's thread, in its loop or in a
 * task. */
void weft__signals_dispatch(void);

/* Starts catching the signals that cancel rt's main (run flags
 * WEFT_RUN_NO_SIGINT and WEFT_RUN_SIGTERM), those of them that have
 * their default action, once rt->main is set. Returns 0 or a negative
 * errno from sigaction. */
int weft__signals_start(struct weft__runtime *rt, unsigned run_flags);

/* Puts back every disposition changed since start, and returns true if
 * a signal cancelled main meanwhile. */
bool weft__signals_stop(void);

#endif /* WEFT_SCHED_SIGNAL_H */
