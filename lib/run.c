/* weft_run: the composition root. It reads the options, builds the
 * runtime (the process pool before any thread, then stacks, queues and
 * workers), runs main on the calling thread, and takes it all down again
 * in reverse order; weft_runtime_get_stats reads the counters it leaves. Only this
 * file may include every layer. */
#include "core/internal.h"

#include <errno.h>
#include <signal.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic.h"
#include "core/sys.h"
#include "core/thread.h"
#include "exec/executor.h"
#include "exec/procpool.h"
#include "io/fd.h"
#include "io/subprocess.h"
#include "sched/debug.h"
#include "sched/loop.h"
#include "sched/runtime.h"
#include "sched/signal.h"
#include "sched/stack_guard.h"
#include "sched/task.h"
#include "sched/watchdog.h"
#include "sched/worker.h"

/* --- options ---------------------------------------------------------------- */

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
    unsigned cpus = weft__online_cpus();
    return cpus > WEFT_WORKERS_MAX ? WEFT_WORKERS_MAX : cpus;
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

/* The slow-task threshold: the option, else WEFT_SLOW_TASK_MS (a number
 * of ms, or "off"), else 100 ms; 0 for off. */
static int choose_slow_task(const weft_run_opts *opts, int64_t *ms)
{
    const char *env = getenv("WEFT_SLOW_TASK_MS");
    int64_t opt = opts != NULL ? opts->slow_task_ms : 0;

    if (opt != 0) {
        *ms = opt == WEFT_SLOW_TASK_OFF ? 0 : opt;
        return 0;
    }
    *ms = WEFT_SLOW_TASK_MS_DEFAULT;
    if (env == NULL || env[0] == '\0')
        return 0;
    if (strcmp(env, "off") == 0) {
        *ms = 0;
        return 0;
    }
    char *end;
    errno = 0;
    long long v = strtoll(env, &end, 10);
    if (errno != 0 || *end != '\0' || v < 1 || v > WEFT_SLOW_TASK_MS_MAX) {
        weft__log("WEFT_SLOW_TASK_MS='%s' is neither 'off' nor a number of "
                  "milliseconds from 1 to 86400000", env);
        return -EINVAL;
    }
    *ms = v;
    return 0;
}

/* Debug mode: the option, or WEFT_DEBUG=1; and the slow-task threshold. */
static int choose_debug(const weft_run_opts *opts, struct weft__runtime *rt)
{
    const char *env = getenv("WEFT_DEBUG");
    int rc = choose_slow_task(opts, &rt->slow_task_ms);

    if (rc < 0)
        return rc;
    rt->debug = opts != NULL && opts->debug != 0;
    if (!rt->debug && env != NULL && env[0] != '\0') {
        if (strcmp(env, "1") != 0 && strcmp(env, "0") != 0) {
            weft__log("WEFT_DEBUG='%s' is neither 0 nor 1", env);
            return -EINVAL;
        }
        rt->debug = env[0] == '1';
    }
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
        opts->processes > WEFT_PROCESSES_MAX ||
        (opts->slow_task_ms < 0 && opts->slow_task_ms != WEFT_SLOW_TASK_OFF) ||
        opts->slow_task_ms > WEFT_SLOW_TASK_MS_MAX ||
        (opts->flags & ~(WEFT_RUN_KEEP_SIGPIPE | WEFT_RUN_NO_SIGINT |
                         WEFT_RUN_SIGTERM)))
        return -EINVAL;
    return 0;
}

/* SIGPIPE is ignored while the runtime runs, if it had its default
 * action: a write(2) to a pipe whose reader is gone then fails with
 * EPIPE (sockets use MSG_NOSIGNAL anyway). Returns whether it changed. */
static bool sigpipe_ignore(const weft_run_opts *opts)
{
    struct sigaction old, ign = { .sa_handler = SIG_IGN };

    if (opts != NULL && (opts->flags & WEFT_RUN_KEEP_SIGPIPE))
        return false;
    if (sigaction(SIGPIPE, NULL, &old) < 0 || old.sa_handler != SIG_DFL)
        return false;
    sigemptyset(&ign.sa_mask);
    return sigaction(SIGPIPE, &ign, NULL) == 0;
}

static void sigpipe_restore(bool changed)
{
    struct sigaction dfl = { .sa_handler = SIG_DFL };

    if (!changed)
        return;
    sigemptyset(&dfl.sa_mask);
    (void)sigaction(SIGPIPE, &dfl, NULL);
}

/* --- statistics --------------------------------------------------------------- */

/* The counters of the last runtime, once it has ended; under the runtime
 * lock (weft__runtime_acquire), as the published runtime is. */
static weft_worker_stats *last_stats;
static unsigned last_nworkers;

/* Keeps the counters of a runtime whose threads have all been joined, and
 * unpublishes it. The copy uses the C allocator, not weft's: it outlives
 * the runtime, and the allocator may be replaced before the next one. */
static void save_stats(struct weft__runtime *rt, bool complete)
{
    weft_worker_stats *copy = complete ? calloc(rt->nworkers, sizeof *copy)
                                       : NULL;

    if (copy != NULL) {
        for (unsigned i = 0; i < rt->nworkers; i++)
            copy[i] = rt->workers[i]->stats;
    }
    (void)weft__runtime_acquire();
    weft__runtime_publish(NULL);
    if (complete) {
        free(last_stats);
        last_stats = copy;
        last_nworkers = copy != NULL ? rt->nworkers : 0;
    }
    weft__runtime_release();
}

/* At unload or exit, so that leak checkers see every block freed. */
__attribute__((destructor)) static void free_last_stats(void)
{
    (void)weft__runtime_acquire();
    free(last_stats);
    last_stats = NULL;
    last_nworkers = 0;
    weft__runtime_release();
}

int weft_runtime_get_stats(weft_worker_stats *stats, unsigned max, unsigned *workers)
{
    int rc = 0;

    if ((max > 0 && stats == NULL) || (max > 0 && workers == NULL))
        return -EINVAL;
    struct weft__runtime *rt = weft__runtime_acquire();
    if (rt != NULL) {
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
            WEFT__READ_STAT(max_queue_depth) WEFT__READ_STAT(io_visits)
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
    weft__runtime_release();
    return rc;
}

/* --- building and taking down ---------------------------------------------------- */

/* What a runtime under construction has, so that teardown undoes exactly
 * that (libevent's event_base_free takes half-built bases the same way). */
struct build {
    bool procs, stacks, task_pool, globalq, idle, overflow, bound;
    void **raw;               /* each worker's allocation */
    unsigned started;         /* worker threads started, worker 0 included */
};

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

static int choose_options(struct weft__runtime *rt, const weft_run_opts *opts,
                          unsigned *nprocs)
{
    int rc = choose_workers(opts, &rt->nworkers);
    if (rc == 0)
        rc = choose_stack_class(opts, &rt->default_stack_cls);
    if (rc == 0)
        rc = choose_debug(opts, rt);
    if (rc == 0)
        rc = choose_count(opts != NULL ? opts->blocking_threads : 0,
                          "WEFT_BLOCKING_THREADS", WEFT_EXECUTOR_THREADS_MAX,
                          WEFT_BLOCKING_THREADS_DEFAULT, &rt->blocking_threads);
    if (rc == 0)
        rc = choose_count(opts != NULL ? opts->processes : 0, "WEFT_PROCESSES",
                          WEFT_PROCESSES_MAX, online_cpus(), nprocs);
    return rc;
}

/* Builds the runtime up to worker 0 bound to the calling thread; b says
 * how far it got, failed or not. */
static int runtime_init(struct weft__runtime *rt, const weft_run_opts *opts,
                        struct build *b)
{
    unsigned nprocs;
    int rc = choose_options(rt, opts, &nprocs);

    if (rc < 0)
        return rc;
    /* Before any thread of ours exists, and before the event bases, whose
     * descriptors the fork server would inherit. */
    if ((rc = weft__procpool_start(rt, nprocs)) < 0)
        return rc;
    b->procs = true;
    if ((rc = weft__stack_pool_init(&rt->stacks)) < 0)
        return rc;
    b->stacks = true;
    if ((rc = -pthread_mutex_init(&rt->task_pool_lock, NULL)) < 0)
        return rc;
    b->task_pool = true;
    if ((rc = weft__globalq_init(&rt->globalq)) < 0)
        return rc;
    b->globalq = true;
    if ((rc = weft__idle_init(&rt->idle, rt->nworkers)) < 0)
        return rc;
    b->idle = true;
    rt->workers = weft__calloc(rt->nworkers, sizeof *rt->workers);
    b->raw = weft__calloc(rt->nworkers, sizeof *b->raw);
    if (rt->workers == NULL || b->raw == NULL)
        return -ENOMEM;
    for (unsigned i = 0; i < rt->nworkers; i++) {
        rt->workers[i] = worker_alloc(&b->raw[i]);
        if (rt->workers[i] == NULL)
            return -ENOMEM;
        if ((rc = weft__worker_init(rt->workers[i], rt, i)) < 0)
            return rc;
    }
    if ((rc = weft__overflow_install()) < 0)
        return rc;
    b->overflow = true;
    if ((rc = weft__worker_bind(rt->workers[0])) < 0)
        return rc;
    b->bound = true;
    b->started = 1;
    return 0;
}

/* Starts the other workers (they park with nothing to do) and debug
 * mode's thread. */
static int runtime_start(struct weft__runtime *rt, struct build *b)
{
    for (; b->started < rt->nworkers; b->started++) {
        int rc = weft__worker_start(rt->workers[b->started]);
        if (rc < 0)
            return rc;
    }
    /* A diagnostic: the run goes on without it. */
    int rc = weft__watchdog_start(rt);
    if (rc < 0)
        weft__log("slow-task reports are off: the watchdog thread could not "
                  "be started (%s)", weft_strerror(rc));
    return rt->debug ? weft__debug_start(rt) : 0;
}

/* Runs main on worker 0 until every task has ended; main's status, and
 * its result in *result. */
static int run_main(struct weft__runtime *rt, weft_fn main_fn, void *arg,
                    void **result, unsigned flags)
{
    weft_task *handle;
    /* main stays on the calling thread, as asyncio.run's does. It cannot
     * run before this thread enters the loop, so rt->main is set in time. */
    int rc = weft__task_create(rt->workers[0], main_fn, arg,
                               &(weft_spawn_opts){ .name = "main",
                                                   .flags = WEFT_SPAWN_PINNED },
                               &handle);
    if (rc < 0)
        return rc;
    weft__task *main_task = weft__handle_record(handle);
    rt->main = main_task;
    rc = weft__signals_start(rt, flags);
    if (rc < 0) {
        /* main has not run: it ends cancelled, and the loop retires it. */
        (void)weft__task_cancel(main_task);
    }
    /* Published once a task is live: a thread outside that spawns into a
     * runtime with no live task finds it stopping. */
    (void)weft__runtime_acquire();
    weft__runtime_publish(rt);
    weft__runtime_release();
    weft__sched_loop(rt->workers[0]);
    bool interrupted = weft__signals_stop();
    /* weft_run returns main's error: it is retrieved. */
    weft__store_relaxed_u32(&main_task->retrieved, 1);
    /* Every task has been retired; only our handle on main is left. */
    if (rc == 0) {
        rc = main_task->err;
        /* Ctrl-C, as asyncio.run's KeyboardInterrupt. */
        if (rc == -ECANCELED && interrupted)
            rc = -EINTR;
    }
    if (rc == 0 && result != NULL)
        *result = main_task->result;
    weft__task_unref(main_task);
    return rc;
}

/* Takes down what b says was built, in reverse order. */
static void runtime_fini(struct weft__runtime *rt, struct build *b)
{
    if (rt->main == NULL && b->started > 0)
        weft__runtime_stop(rt); /* release the workers that started */
    for (unsigned i = 1; i < b->started; i++)
        weft__worker_join(rt->workers[i]);
    /* As asyncio.run does, wait for the default pool's jobs, abandoned
     * ones included. */
    weft__executor_default_destroy(rt);
    /* A plain thread that woke a task may still be pushing it. */
    while (weft__load_acquire_u32(&rt->foreign_wakers) != 0)
        sched_yield();
    weft__debug_stop(rt);
    weft__watchdog_stop(rt);
    save_stats(rt, rt->main != NULL && b->started == rt->nworkers);
    if (b->bound)
        weft__worker_unbind(rt->workers[0]);
    if (b->overflow)
        weft__overflow_uninstall();
    /* Finished tasks still held by handles leave the registries, under
     * the lock a release from outside takes (weft__registry_remove_foreign). */
    (void)weft__runtime_acquire();
    for (unsigned i = 0; rt->workers != NULL && i < rt->nworkers; i++) {
        if (rt->workers[i] != NULL && rt->workers[i]->rt != NULL)
            weft__registry_forget(rt->workers[i]);
    }
    weft__runtime_release();
    for (unsigned i = 0; rt->workers != NULL && b->raw != NULL &&
                         i < rt->nworkers; i++) {
        if (rt->workers[i] != NULL)
            weft__worker_destroy(rt->workers[i]);
        weft__free(b->raw[i]);
    }
    weft__free(b->raw);
    weft__free(rt->workers);
    weft__fdtab_destroy(); /* after the reactors, which held its records */
    weft__subprocess_orphans_end(); /* no task is left to wait for them */
    if (b->idle)
        weft__idle_destroy(&rt->idle);
    if (b->globalq)
        weft__globalq_destroy(&rt->globalq);
    if (b->task_pool) {
        weft__task_pool_drain(rt);
        weft__mutex_destroy(&rt->task_pool_lock);
    }
    if (b->stacks)
        weft__stack_pool_destroy(&rt->stacks);
    if (b->procs)
        weft__procpool_stop(rt);
}

int weft_run(weft_fn main_fn, void *arg, void **result,
             const weft_run_opts *opts)
{
    struct weft__runtime rt;
    struct build b;
    int rc;

    if (result != NULL)
        *result = NULL;
    if (main_fn == NULL)
        return -EINVAL;
    rc = check_run_opts(opts);
    if (rc < 0)
        return rc;
    if (!weft__runtime_begin())
        return -EBUSY;
    weft__alloc_freeze(true);
    bool sigpipe = sigpipe_ignore(opts);
    memset(&rt, 0, sizeof rt);
    memset(&b, 0, sizeof b);
    rc = runtime_init(&rt, opts, &b);
    if (rc == 0)
        rc = runtime_start(&rt, &b);
    if (rc == 0)
        rc = run_main(&rt, main_fn, arg, result,
                      opts != NULL ? opts->flags : 0);
    runtime_fini(&rt, &b);
    sigpipe_restore(sigpipe);
    weft__alloc_freeze(false);
    weft__runtime_end();
    return rc;
}
