/* weft_run(): option handling, start-up and teardown of the runtime. */
#include "runtime.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "atomic.h"
#include "overflow.h"
#include "scheduler.h"
#include "task.h"
#include "worker.h"

/* One runtime at a time: the stack-overflow handler and (later) the
 * process pool are process-wide. */
static uint32_t active;

bool weft__runtime_active(void)
{
    return weft__load_acquire_u32(&active) != 0;
}

/* Parses "<digits>[k|m|g]" (binary units) into *out. */
static int parse_size(const char *s, size_t *out)
{
    char *end;
    unsigned long long v;

    if (s[0] < '0' || s[0] > '9')
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0)
        return -EINVAL;
    unsigned shift = 0;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default: return -EINVAL;
    }
    if (*end != '\0' || v > (SIZE_MAX >> shift))
        return -EINVAL;
    *out = (size_t)v << shift;
    return 0;
}

static int choose_stack_class(const weft_run_opts *opts, unsigned *cls)
{
    size_t size = WEFT__DEFAULT_STACK_SIZE;
    const char *env = getenv("WEFT_STACK_SIZE");
    int c;

    if (opts != NULL && opts->stack_size != 0) {
        size = opts->stack_size;
    } else if (env != NULL && env[0] != '\0') {
        if (parse_size(env, &size) < 0 || weft__stack_class(size) < 0) {
            weft__log("WEFT_STACK_SIZE='%s' is not a size from 16k to 1g",
                      env);
            return -EINVAL;
        }
    }
    c = weft__stack_class(size);
    if (c < 0)
        return c;
    *cls = (unsigned)c;
    return 0;
}

static int check_run_opts(const weft_run_opts *opts)
{
    if (opts == NULL)
        return 0;
    for (size_t i = 0; i < WEFT__ARRAY_SIZE(opts->reserved); i++) {
        if (opts->reserved[i] != NULL)
            return -EINVAL;
    }
    /* Several workers arrive with the work-stealing scheduler. */
    if (opts->workers > 1)
        return -ENOTSUP;
    return 0;
}

int weft_run(weft_fn main_fn, void *arg, const weft_run_opts *opts)
{
    struct weft__runtime rt;
    weft_task *main_task = NULL;
    int rc;

    if (main_fn == NULL)
        return -EINVAL;
    rc = check_run_opts(opts);
    if (rc < 0)
        return rc;
    if (!weft__cas_u32(&active, 0, 1))
        return -EBUSY;

    memset(&rt, 0, sizeof rt);
    rt.nworkers = 1;
    rc = choose_stack_class(opts, &rt.default_stack_cls);
    if (rc < 0)
        goto fail_options;
    rc = weft__stack_pool_init(&rt.stacks);
    if (rc < 0)
        goto fail_options;
    rc = -pthread_mutex_init(&rt.task_pool_lock, NULL);
    if (rc < 0)
        goto fail_task_pool;
    rt.workers = weft__calloc(rt.nworkers, sizeof *rt.workers);
    if (rt.workers == NULL) {
        rc = -ENOMEM;
        goto fail_workers_alloc;
    }
    rc = weft__worker_init(&rt.workers[0], &rt, 0);
    if (rc < 0)
        goto fail_worker_init;
    rc = weft__overflow_install();
    if (rc < 0)
        goto fail_worker_init;
    rc = weft__worker_bind(&rt.workers[0]);
    if (rc < 0)
        goto fail_bind;
    rc = weft__task_create(&rt.workers[0], main_fn, arg,
                           &(weft_spawn_opts){ .name = "main" }, &main_task);
    if (rc < 0)
        goto fail_main;

    weft__sched_loop(&rt.workers[0]);

    /* Every task has been retired; only our handle on main is left. */
    rc = main_task->err;
    weft_task_unref(main_task);
fail_main:
    weft__worker_unbind(&rt.workers[0]);
fail_bind:
    weft__overflow_uninstall();
fail_worker_init:
    weft__worker_destroy(&rt.workers[0]);
    weft__free(rt.workers);
fail_workers_alloc:
    weft__task_pool_drain(&rt);
    pthread_mutex_destroy(&rt.task_pool_lock);
fail_task_pool:
    weft__stack_pool_destroy(&rt.stacks);
fail_options:
    weft__store_release_u32(&active, 0);
    return rc;
}
