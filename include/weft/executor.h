/* weft: running blocking functions on thread pools, asyncio's to_thread
 * and run_in_executor.
 *
 * A blocking call (a file read, getaddrinfo, a library with no async API)
 * made inside a task holds up its worker and every task queued there.
 * Offloaded, it runs on a pool thread while the calling task alone waits
 * and the worker goes on with other tasks. See doc/blocking.md.
 */
#ifndef WEFT_EXECUTOR_H
#define WEFT_EXECUTOR_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A pool of threads that run blocking functions for tasks. */
typedef struct weft_executor weft_executor;

/* The most threads an executor may have. */
#define WEFT_EXECUTOR_THREADS_MAX 4096u

/* The default pool's size when neither weft_run_opts.blocking_threads nor
 * $WEFT_BLOCKING_THREADS says otherwise (Tokio's figure: threads parked in
 * blocking calls cost little, and too few of them queue the calls). */
#define WEFT_BLOCKING_THREADS_DEFAULT 512u

/* Options for weft_executor_create(). Zero-initialise it: every zero
 * field means "the default", and a NULL opts means all defaults. */
typedef struct weft_executor_opts {
    unsigned max_threads; /* 1..WEFT_EXECUTOR_THREADS_MAX; 0: min(32, CPUs
                             + 4), asyncio's ThreadPoolExecutor default */
    unsigned max_slow;    /* threads that may run WEFT_JOB_SLOW jobs at
                             once, 1..max_threads; 0: half of max_threads,
                             rounded up (libuv's rule) */
    int64_t idle_ms;      /* a thread idle this long exits, >= 0; 0: 10000 */
    size_t stack_size;    /* each thread's stack, 64 KiB..1 GiB; 0: 2 MiB */
    void *reserved[4];    /* must be zero */
} weft_executor_opts;

/* weft_job_opts.flags: the job may block for long (a DNS lookup, a slow
 * disk). Slow jobs may hold at most max_slow threads at once, so that
 * they cannot starve quick jobs of threads; beyond that they wait. */
#define WEFT_JOB_SLOW 0x1u

/* Called on the pool thread when a job ends after its caller stopped
 * waiting for it (the caller was cancelled, or its deadline passed), with
 * the job's argument, its result and its error. Called, on the caller's
 * thread, with result NULL and err the caller's error, when such a job is
 * dropped before it started. Either way, exactly once: free arg and
 * result there. */
typedef void (*weft_job_cleanup)(void *arg, void *result, int err);

/* Options for one job; zero-initialise; NULL means all defaults. */
typedef struct weft_job_opts {
    unsigned flags;           /* WEFT_JOB_SLOW, or 0 */
    weft_job_cleanup cleanup; /* or NULL */
    void *reserved[4];        /* must be zero */
} weft_job_opts;

/* Runs fn(arg) on the runtime's default blocking pool and suspends the
 * calling task until it returns; the worker runs other tasks meanwhile.
 * Stores fn's return value in *result (if result is not NULL). fn fails
 * the call by returning weft_fail(err, ...), whose err is returned here
 * (the message is not kept). Returns 0, fn's error, -EINVAL (fn NULL),
 * -EPERM (not in a task), -ECANCELED or -ETIMEDOUT (the caller was
 * cancelled or its deadline passed: a queued job is dropped, a running
 * one finishes on its thread and its result is discarded; see
 * weft_run_in_executor for the ownership of arg), -ENOMEM or -EAGAIN (no
 * thread could be started). */
WEFT_EXPORT int weft_to_thread(weft_fn fn, void *arg, void **result);

/* weft_to_thread() on executor ex (NULL: the runtime's default pool),
 * with options (may be NULL). If the call fails with -ECANCELED or
 * -ETIMEDOUT while the job is running, the job still owns arg until it
 * ends: give a cleanup to free arg and the result then, and never pass
 * memory that the caller's return frees (its stack) to a job that may be
 * interrupted. Returns as weft_to_thread, and -ESHUTDOWN once ex is shut
 * down, or when the job was still queued at a shutdown that dropped
 * queued jobs. */
WEFT_EXPORT int weft_run_in_executor(weft_executor *ex, weft_fn fn,
                                     void *arg, void **result,
                                     const weft_job_opts *opts);

/* Creates an executor; no thread starts until a job needs one. Callable
 * from any thread, with or without a running runtime. Returns 0, -EINVAL
 * or -ENOMEM. */
WEFT_EXPORT int weft_executor_create(weft_executor **ex,
                                     const weft_executor_opts *opts);

/* weft_executor_shutdown flags: fail the jobs still queued with
 * -ESHUTDOWN instead of running them (cancel_futures=True). */
#define WEFT_EXECUTOR_CANCEL_QUEUED 0x1u

/* Refuses new jobs, runs the queued ones (or drops them, see flags), and
 * waits until every thread has exited: in a task by suspending (not
 * interruptible), elsewhere by blocking. Jobs already running finish.
 * Calling it again waits again. Returns 0 or -EINVAL. */
WEFT_EXPORT int weft_executor_shutdown(weft_executor *ex, unsigned flags);

/* Frees ex, shutting it down first if that was not done: its idle threads
 * exit and are joined. Never waits for a job: -EBUSY (and nothing done)
 * while a job is queued or running, abandoned ones included; call
 * weft_executor_shutdown first to wait for them. Not for the default
 * pool, which weft_run shuts down as it ends. Returns 0, -EINVAL or
 * -EBUSY. */
WEFT_EXPORT int weft_executor_destroy(weft_executor *ex);

/* A snapshot of an executor. */
typedef struct weft_executor_stats {
    unsigned threads;      /* started and not yet exited */
    unsigned idle;         /* of those, waiting for a job */
    unsigned running;      /* jobs running now */
    unsigned running_slow; /* of those, WEFT_JOB_SLOW ones */
    unsigned queued;       /* jobs waiting for a thread */
    unsigned peak_threads; /* most threads at once */
    unsigned shutdown;     /* 1 once weft_executor_shutdown was called:
                              new jobs are refused */
    uint64_t started;      /* threads ever started */
    uint64_t retired;      /* threads that exited after idle_ms idle */
    uint64_t completed;    /* jobs run to their end */
    uint64_t abandoned;    /* of those, ended after their caller left */
    uint64_t dropped;      /* removed from the queue unrun */
    uint64_t reserved[3];  /* zero */
} weft_executor_stats;

/* Fills *stats for ex, or with ex NULL for the running runtime's default
 * pool (all zero until its first job). Returns 0, -EINVAL, or -ESRCH (ex
 * NULL and no runtime is running). */
WEFT_EXPORT int weft_executor_get_stats(weft_executor *ex,
                                    weft_executor_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_EXECUTOR_H */
