/* Blocking calls offloaded for a task (see offload.h). */
#include "core/internal.h"

#include <errno.h>

#include "io/offload.h"

int weft__offload_slow(weft_fn fn, void *job, weft_job_cleanup cleanup,
                       int64_t timeout_ms)
{
    weft_job_opts opts = { .flags = WEFT_JOB_SLOW, .cleanup = cleanup };
    weft_scope scope;

    if (timeout_ms == 0) {
        cleanup(job, NULL, -ETIMEDOUT); /* it cannot be done yet */
        return -ETIMEDOUT;
    }
    int rc = weft_timeout_enter(&scope, timeout_ms);
    if (rc < 0) {
        cleanup(job, NULL, rc);
        return rc;
    }
    rc = weft_run_in_executor(NULL, fn, job, NULL, &opts);
    (void)weft_scope_leave(&scope);
    /* Interrupted: the cleanup has the job, now or when it ends. */
    if (rc == -ECANCELED || rc == -ETIMEDOUT)
        return rc;
    if (rc < 0)
        cleanup(job, NULL, rc); /* not run: shut down, or no thread */
    return rc;
}
