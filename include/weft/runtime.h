/* weft: starting and stopping the runtime. */
#ifndef WEFT_RUNTIME_H
#define WEFT_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most worker threads a runtime may have. */
#define WEFT_WORKERS_MAX 1024

/* Options for weft_run(). Zero-initialise it: every zero field means "the
 * default", and a NULL opts means all defaults. */
typedef struct weft_run_opts {
    unsigned workers;   /* worker threads, 1..WEFT_WORKERS_MAX; 0:
                           $WEFT_WORKERS, else the online CPUs */
    size_t stack_size;  /* default task stack in bytes; 0: $WEFT_STACK_SIZE,
                           else 64 KiB */
    unsigned debug;     /* 1: debug mode (also $WEFT_DEBUG=1): dump the
                           tasks on SIGUSR1, with how long each has run */
    int64_t slow_task_ms; /* a task that runs this long without suspending
                             is reported on stderr, in any mode: ms, 1 to
                             WEFT_SLOW_TASK_MS_MAX;
                             0: $WEFT_SLOW_TASK_MS (ms, or "off"), else
                             WEFT_SLOW_TASK_MS_DEFAULT; WEFT_SLOW_TASK_OFF:
                             never */
    unsigned blocking_threads; /* the default blocking pool's most threads
                                  (weft_to_thread), 1..4096; 0:
                                  $WEFT_BLOCKING_THREADS, else 512 */
    unsigned processes; /* process pool size, 1..1024, started only if a
                           function is registered (weft_process_register);
                           0: $WEFT_PROCESSES, else the online CPUs */
    unsigned flags;     /* WEFT_RUN_* */
    void *reserved[5];  /* must be zero */
} weft_run_opts;

/* weft_run_opts.slow_task_ms: the default, the largest (a day), and no
 * reports at all. */
#define WEFT_SLOW_TASK_MS_DEFAULT 100
#define WEFT_SLOW_TASK_MS_MAX 86400000
#define WEFT_SLOW_TASK_OFF (-1)

/* weft_run_opts flags. */
#define WEFT_RUN_KEEP_SIGPIPE 0x1u /* leave SIGPIPE's disposition alone; by
                                      default weft_run ignores it while it
                                      runs (as Python, Go and Rust do), so
                                      that a write to a closed pipe fails
                                      with -EPIPE instead of killing the
                                      process */
#define WEFT_RUN_NO_SIGINT 0x2u    /* leave SIGINT alone; by default the
                                      first SIGINT cancels main (Ctrl-C,
                                      as asyncio.run) and a second one,
                                      while main is still running, ends
                                      the process as SIGINT does */
#define WEFT_RUN_SIGTERM 0x4u      /* SIGTERM cancels main too, as SIGINT */

/* Starts the workers, runs main(arg) as the first task, and returns when
 * main and every task it left running have finished (asyncio.run). The
 * calling thread is worker 0, and main is pinned to it. Returns main's
 * status, 0 if it returned, with its result in *result (if result is not
 * NULL), or its error if it failed (*result is then NULL). Before main
 * runs it may also return -EINVAL (bad option or environment variable),
 * -EBUSY (a runtime is already running in this process), -EAGAIN (a
 * thread could not be started), -EMFILE or -ENFILE (no file descriptor
 * for a worker), -ENOTSUP or -ENOMEM. Once it has returned it can be
 * called again. Unless opts has WEFT_RUN_KEEP_SIGPIPE, SIGPIPE is ignored
 * while it runs, if it had its default action. Unless it has
 * WEFT_RUN_NO_SIGINT, SIGINT cancels main if it had its default action,
 * and weft_run returns -EINTR if main then ended cancelled. */
WEFT_EXPORT int weft_run(weft_fn main, void *arg, void **result,
                         const weft_run_opts *opts);

/* One worker's counters, all since its runtime started. */
typedef struct weft_worker_stats {
    uint64_t polled;          /* times a task was resumed on this worker */
    uint64_t steals;          /* steals this worker made */
    uint64_t stolen_from;     /* steals other workers made from it */
    uint64_t tasks_stolen;    /* tasks this worker took by stealing */
    uint64_t parks;           /* times it blocked, out of work */
    uint64_t unparks;         /* times another thread woke it to work */
    uint64_t global_pops;     /* tasks it took from the global queue */
    uint64_t lifo_hits;       /* tasks it ran from its LIFO slot */
    uint64_t max_queue_depth; /* most tasks its local queue held */
    uint64_t io_visits;       /* edges it collected for other workers'
                                 descriptors while they did not poll */
    uint64_t reserved[6];     /* zero; room for more counters */
} weft_worker_stats;

/* Copies the counters of up to max workers into stats[] and stores the
 * number of workers in *workers (either may be NULL if max is 0): those of
 * the running runtime, read while it runs, or else those the last runtime
 * had when it ended. Returns 0, -EINVAL, or -ESRCH if no runtime has run
 * yet in this process. */
WEFT_EXPORT int weft_runtime_get_stats(weft_worker_stats *stats,
                                       unsigned max, unsigned *workers);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_RUNTIME_H */
