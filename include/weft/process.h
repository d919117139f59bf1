/* weft: a pool of worker processes for CPU-bound work, asyncio's
 * run_in_executor with a ProcessPoolExecutor.
 *
 * Functions are registered by name before weft_run(). If any is, weft_run
 * starts the pool before its first thread: a fork server process, which
 * forks the workers (at once, and later to replace one that died), so
 * that no fork ever happens in a process with threads. A call sends a
 * byte buffer to an idle worker over a socket, and the calling task waits
 * for the reply as it would for anything else. See doc/blocking.md.
 */
#ifndef WEFT_PROCESS_H
#define WEFT_PROCESS_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most worker processes a pool may have. */
#define WEFT_PROCESSES_MAX 1024u

/* The longest registered name, in bytes. */
#define WEFT_PROCESS_NAME_MAX 63u

/* The largest input or output of one call, in bytes. */
#define WEFT_PROCESS_MSG_MAX ((size_t)64 << 20)

/* A function run in a worker process. It reads in_len bytes at in, and
 * may store a buffer from malloc(3) in *out and its length in *out_len
 * (the worker frees it after sending). Returns 0, or a negative error
 * code that becomes the call's result. It runs in another process: it
 * sees the memory of the program as it was at weft_run's start, and what
 * it changes there stays there. */
typedef int (*weft_process_fn)(const void *in, size_t in_len, void **out,
                               size_t *out_len);

/* Registers fn under name for the pools of the runtimes started after
 * this. Returns 0, -EINVAL (fn NULL, name NULL, empty or longer than
 * WEFT_PROCESS_NAME_MAX), -EEXIST, -EBUSY (a runtime is running) or
 * -ENOMEM. */
WEFT_EXPORT int weft_process_register(const char *name, weft_process_fn fn);

/* Removes a registration. Returns 0, -EINVAL, -ENOENT or -EBUSY (a
 * runtime is running). */
WEFT_EXPORT int weft_process_unregister(const char *name);

/* Runs the function registered as name on the input in a worker process,
 * suspending the calling task until it answers, waiting first (in FIFO
 * order) for an idle worker if all are busy. On success stores the
 * output in *out (NULL when it is empty; free it with weft_free) and its
 * length in *out_len. Returns 0, the function's error, or:
 * -EINVAL (bad arguments), -EPERM (not in a task), -ENOENT (no such
 * function), -EMSGSIZE (input or output larger than WEFT_PROCESS_MSG_MAX),
 * -ECHILD (the worker died during the call: it crashed, was killed or
 * exited; it is replaced), -ESRCH (this runtime has no process pool: no
 * function was registered before weft_run), -ECANCELED or -ETIMEDOUT
 * (the caller was cancelled or its deadline passed; a worker in the
 * middle of the call is killed and replaced), -ENOMEM, -EAGAIN (no worker
 * could be started). */
WEFT_EXPORT int weft_process_call(const char *name, const void *in,
                                  size_t in_len, void **out,
                                  size_t *out_len);

/* A snapshot of the running runtime's process pool. */
typedef struct weft_process_stats {
    unsigned processes;    /* the pool's size */
    unsigned busy;         /* workers running a call now */
    uint64_t calls;        /* calls answered */
    uint64_t deaths;       /* workers that died during a call or were
                              killed by a cancelled call */
    uint64_t respawns;     /* workers started to replace one */
    uint64_t reserved[4];  /* zero */
} weft_process_stats;

/* Fills *stats. Returns 0, -EINVAL, or -ESRCH (no runtime is running, or
 * it has no process pool). */
WEFT_EXPORT int weft_process_get_stats(weft_process_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_PROCESS_H */
