/* A blocking call made on the default pool for a task, as a slow job,
 * under a timeout and the task's scopes: the pattern of weft_getaddrinfo
 * (io/dns.c) and the file system calls (io/fs.c). */
#ifndef WEFT_IO_OFFLOAD_H
#define WEFT_IO_OFFLOAD_H

#include <stdint.h>
#include <weft.h>

/* Runs fn(job) on the default pool as a WEFT_JOB_SLOW job, for at most
 * timeout_ms (0: not at all, -ETIMEDOUT). fn must return job and keep
 * its own outcome inside it, so that the errors here are the pool's.
 * Returns 0 with the job done (the caller owns and frees it), or an
 * error with the job freed by cleanup, at once or, if it is running,
 * when it ends (cleanup(job, result, err), on whichever thread). */
int weft__offload_slow(weft_fn fn, void *job, weft_job_cleanup cleanup,
                       int64_t timeout_ms);

#endif /* WEFT_IO_OFFLOAD_H */
