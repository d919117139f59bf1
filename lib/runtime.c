/* weft_run(): options, start-up and teardown of the runtime; weft_stats. */
#include "runtime.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic.h"
#include "debug.h"
#include "executor.h"
#include "overflow.h"
#include "procpool.h"
#include "scheduler.h"
#include "task.h"
#include "worker.h"

/* One runtime at a time: the stack-overflow handler and (later) the
 * process pool are process-wide. */
static uint32_t active;

/* The running runtime, and the counters of the last one, for weft_stats.
 * The lock orders weft_stats against a runtime's start and end. */
static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static struct weft__runtime *stats_runtime;
static weft_worker_stats *last_stats;
static unsigned last_nworkers;

struct weft__runtime *weft__runtime_acquire(void)
{
    pthread_mutex_lock(&stats_lock);
    return stats_runtime;
}

void weft__runtime_release(void)
{
    pthread_mutex_unlock(&stats_lock);
}

bool weft__runtime_active(void)
{
    return weft__load_acquire_u32(&active) != 0;
}

bool weft__runtime_stopping(const struct weft__runtime *rt)
{
    return weft__load_acquire_u32(&rt->stopping) != 0;
}

void weft__runtime_stop(struct weft__runtime *rt)
{
    weft__store_release_u32(&rt->stopping, 1);
    weft__fence_full();
    for (unsigned i = 0; i < rt->nworkers; i++)
        weft__worker_wake(rt->workers[i]);
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

/* Parses a decimal number from 1 to max. */
static int parse_count(const char *s, unsigned long max, unsigned *out)
{
    char *end;
    unsigned long v;

    if (s[0] < '0' || s[0] > '9')
        return -EINVAL;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 1 || v > max)
        return -EINVAL;
    *out = (unsigned)v;
    return 0;
}

static unsigned online_cpus(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus < 1 ? 1 : cpus > WEFT_WORKERS_MAX ? WEFT_WORKERS_MAX
                                                  : (unsigned)cpus;
}

static int choose_workers(const weft_run_opts *opts, unsigned *n)
{
    const char *env = getenv("WEFT_WORKERS");

    if (opts != NULL && opts->workers != 0) {
        *n = opts->workers;
    } else if (env != NULL && env[0] != '\0') {
        if (parse_count(env, WEFT_WORKERS_MAX, n) < 0) {
            weft__log("WEFT_WORKERS='%s' is not a number from 1 to %d", env,
                      WEFT_WORKERS_MAX);
            return -EINVAL;
        }
    } else {
        *n = online_cpus();
    }
    return 0;
}

/* A count from an option, else from the environment variable env (1 to
 * max), else fallback. */
static int choose_count(unsigned opt, const char *env_name, unsigned max,
                        unsigned fallback, unsigned *out)
{
    const char *env = getenv(env_name);

    if (opt != 0) {
        *out = opt;
    } else if (env != NULL && env[0] != '\0') {
        if (parse_count(env, max, out) < 0) {
            weft__log("%s='%s' is not a number from 1 to %u", env_name, env,
                      max);
            return -EINVAL;
        }
    } else {
        *out = fallback;
    }
    return 0;
}

/* Debug mode: the option, or WEFT_DEBUG=1. */
static int choose_debug(const weft_run_opts *opts, struct weft__runtime *rt)
{
    const char *env = getenv("WEFT_DEBUG");
    unsigned ms = opts != NULL && opts->slow_task_ms != 0 ? opts->slow_task_ms
                                                          : 100;

    rt->debug = opts != NULL && opts->debug != 0;
    if (!rt->debug && env != NULL && env[0] != '\0') {
        if (strcmp(env, "1") != 0 && strcmp(env, "0") != 0) {
            weft__log("WEFT_DEBUG='%s' is neither 0 nor 1", env);
            return -EINVAL;
        }
        rt->debug = env[0] == '1';
    }
    rt->slow_task_ns = (int64_t)ms * 1000000;
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
    if (opts->workers > WEFT_WORKERS_MAX || opts->debug > 1 ||
        opts->blocking_threads > WEFT_EXECUTOR_THREADS_MAX ||
        opts->processes > WEFT_PROCESSES_MAX)
        return -EINVAL;
    return 0;
}

/* Workers are cache-line aligned, so that no two share a line. */
static struct weft__worker *worker_alloc(void **raw)
{
    *raw = weft__malloc(sizeof(struct weft__worker) + WEFT__CACHELINE);
    if (*raw == NULL)
        return NULL;
    uintptr_t p = ((uintptr_t)*raw + WEFT__CACHELINE) &
                  ~(uintptr_t)(WEFT__CACHELINE - 1);
    return (struct weft__worker *)p;
}

/* Keeps the counters of a runtime whose threads have all been joined. The
 * copy uses the C allocator, not weft's: it outlives the runtime, and the
 * allocator may be replaced before the next one. */
static void save_stats(struct weft__runtime *rt)
{
    weft_worker_stats *copy = calloc(rt->nworkers, sizeof *copy);

    if (copy != NULL) {
        for (unsigned i = 0; i < rt->nworkers; i++)
            copy[i] = rt->workers[i]->stats;
    }
    pthread_mutex_lock(&stats_lock);
    stats_runtime = NULL;
    free(last_stats);
    last_stats = copy;
    last_nworkers = copy != NULL ? rt->nworkers : 0;
    pthread_mutex_unlock(&stats_lock);
}

/* At unload or exit, so that leak checkers see every block freed. */
__attribute__((destructor)) static void free_last_stats(void)
{
    pthread_mutex_lock(&stats_lock);
    free(last_stats);
    last_stats = NULL;
    last_nworkers = 0;
    pthread_mutex_unlock(&stats_lock);
}

int weft_stats(weft_worker_stats *stats, unsigned max, unsigned *workers)
{
    int rc = 0;

    if ((max > 0 && stats == NULL) || (max > 0 && workers == NULL))
        return -EINVAL;
    pthread_mutex_lock(&stats_lock);
    if (stats_runtime != NULL) {
        struct weft__runtime *rt = stats_runtime;
        unsigned n = rt->nworkers < max ? rt->nworkers : max;
        for (unsigned i = 0; i < n; i++) {
            const weft_worker_stats *src = &rt->workers[i]->stats;
            memset(&stats[i], 0, sizeof stats[i]);
            /* Each counter is written by one thread; read it atomically. */
#define WEFT__READ_STAT(field) \
            stats[i].field = weft__load_relaxed_u64(&src->field);
            WEFT__READ_STAT(polled) WEFT__READ_STAT(steals)
            WEFT__READ_STAT(stolen_from) WEFT__READ_STAT(tasks_stolen)
            WEFT__READ_STAT(parks) WEFT__READ_STAT(unparks)
            WEFT__READ_STAT(global_pops) WEFT__READ_STAT(lifo_hits)
            WEFT__READ_STAT(max_queue_depth)
#undef WEFT__READ_STAT
        }
        if (workers != NULL)
            *workers = rt->nworkers;
    } else if (last_stats != NULL) {
        unsigned n = last_nworkers < max ? last_nworkers : max;
        if (n > 0)
            memcpy(stats, last_stats, n * sizeof *stats);
        if (workers != NULL)
            *workers = last_nworkers;
    } else {
        rc = -ESRCH;
    }
    pthread_mutex_unlock(&stats_lock);
    return rc;
}

static void destroy_workers(struct weft__runtime *rt, void **raw)
{
    for (unsigned i = 0; i < rt->nworkers; i++) {
        if (rt->workers[i] != NULL)
            weft__worker_destroy(rt->workers[i]);
        weft__free(raw[i]);
    }
}

int weft_run(weft_fn main_fn, void *arg, const weft_run_opts *opts)
{
    struct weft__runtime rt;
    weft_task *main_task = NULL;
    void **raw = NULL;
    unsigned started = 1;
    unsigned nprocs;
    int rc;

    if (main_fn == NULL)
        return -EINVAL;
    rc = check_run_opts(opts);
    if (rc < 0)
        return rc;
    if (!weft__cas_u32(&active, 0, 1))
        return -EBUSY;

    memset(&rt, 0, sizeof rt);
    rc = choose_workers(opts, &rt.nworkers);
    if (rc < 0)
        goto fail_options;
    rc = choose_stack_class(opts, &rt.default_stack_cls);
    if (rc < 0)
        goto fail_options;
    rc = choose_debug(opts, &rt);
    if (rc < 0)
        goto fail_options;
    rc = choose_count(opts != NULL ? opts->blocking_threads : 0,
                      "WEFT_BLOCKING_THREADS", WEFT_EXECUTOR_THREADS_MAX,
                      WEFT_BLOCKING_THREADS_DEFAULT, &rt.blocking_threads);
    if (rc < 0)
        goto fail_options;
    rc = choose_count(opts != NULL ? opts->processes : 0, "WEFT_PROCESSES",
                      WEFT_PROCESSES_MAX, online_cpus(), &nprocs);
    if (rc < 0)
        goto fail_options;
    /* Before any thread of ours exists, and before the event bases, whose
     * descriptors the fork server would inherit. */
    rc = weft__procpool_start(&rt, nprocs);
    if (rc < 0)
        goto fail_options;
    rc = weft__stack_pool_init(&rt.stacks);
    if (rc < 0)
        goto fail_stacks;
    rc = -pthread_mutex_init(&rt.task_pool_lock, NULL);
    if (rc < 0)
        goto fail_task_pool;
    rc = weft__inject_init(&rt.inject);
    if (rc < 0)
        goto fail_inject;
    rc = weft__idle_init(&rt.idle, rt.nworkers);
    if (rc < 0)
        goto fail_idle;
    rt.workers = weft__calloc(rt.nworkers, sizeof *rt.workers);
    raw = weft__calloc(rt.nworkers, sizeof *raw);
    if (rt.workers == NULL || raw == NULL) {
        rc = -ENOMEM;
        goto fail_workers;
    }
    for (unsigned i = 0; i < rt.nworkers; i++) {
        rt.workers[i] = worker_alloc(&raw[i]);
        if (rt.workers[i] == NULL) {
            rc = -ENOMEM;
            goto fail_workers;
        }
        rc = weft__worker_init(rt.workers[i], &rt, i);
        if (rc < 0)
            goto fail_workers;
    }
    rc = weft__overflow_install();
    if (rc < 0)
        goto fail_workers;
    rc = weft__worker_bind(rt.workers[0]);
    if (rc < 0)
        goto fail_bind;
    /* The other workers start with nothing to do and park. */
    for (; started < rt.nworkers; started++) {
        rc = weft__worker_start(rt.workers[started]);
        if (rc < 0)
            break;
    }
    if (rc == 0 && rt.debug)
        rc = weft__debug_start(&rt);
    if (rc == 0) {
        /* main stays on the calling thread, as asyncio.run's does. */
        rc = weft__task_create(rt.workers[0], main_fn, arg,
                               &(weft_spawn_opts){ .name = "main",
                                                   .flags = WEFT_SPAWN_PINNED },
                               &main_task);
        rt.main = main_task;
    }
    if (main_task != NULL) {
        /* Published once a task is live: a thread outside that spawns
         * into a runtime with no live task finds it stopping. */
        pthread_mutex_lock(&stats_lock);
        stats_runtime = &rt;
        pthread_mutex_unlock(&stats_lock);
        weft__sched_loop(rt.workers[0]);
        /* weft_run returns main's error: it is retrieved. */
        weft__store_relaxed_u32(&main_task->retrieved, 1);
        /* Every task has been retired; only our handle on main is left. */
        rc = main_task->err;
        weft_task_unref(main_task);
    } else {
        weft__runtime_stop(&rt); /* release the workers that started */
    }
    for (unsigned i = 1; i < started; i++)
        weft__worker_join(rt.workers[i]);
    /* As asyncio.run does, wait for the default pool's jobs, abandoned
     * ones included. */
    weft__executor_default_destroy(&rt);
    /* A plain thread that woke a task may still be pushing it. */
    while (weft__load_acquire_u32(&rt.foreign_wakers) != 0)
        sched_yield();
    weft__debug_stop(&rt);
    if (started == rt.nworkers)
        save_stats(&rt);
    weft__worker_unbind(rt.workers[0]);
fail_bind:
    weft__overflow_uninstall();
fail_workers:
    if (rt.workers != NULL && raw != NULL)
        destroy_workers(&rt, raw);
    weft__free(raw);
    weft__free(rt.workers);
    weft__idle_destroy(&rt.idle);
fail_idle:
    weft__inject_destroy(&rt.inject);
fail_inject:
    weft__task_pool_drain(&rt);
    pthread_mutex_destroy(&rt.task_pool_lock);
fail_task_pool:
    weft__stack_pool_destroy(&rt.stacks);
fail_stacks:
    weft__procpool_stop(&rt);
fail_options:
    weft__store_release_u32(&active, 0);
    return rc;
}
