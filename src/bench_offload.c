/* weft-bench's offloading workloads:
 *
 *   offload            N tasks each offload a blocking call (nanosleep MS)
 *                      to the default pool, or to an executor of -x threads
 *   to-thread-latency  one task's round trips of an empty weft_to_thread
 *   process-call       round trips of an empty process-pool call, and two
 *                      CPU-bound jobs on two processes against one
 *
 * Each run is a fresh weft_run, so pools start cold, as a program's do.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft.h>

#include "bench.h"

static int run(weft_fn fn, void *arg, const struct bench_opts *o,
               unsigned processes)
{
    weft_run_opts ro = { .workers = o->workers, .processes = processes,
                         .slow_task_ms = WEFT_SLOW_TASK_OFF };
    int rc = weft_run(fn, arg, NULL, &ro);
    if (rc < 0)
        fprintf(stderr, "weft-bench: run failed: %s\n", weft_strerror(rc));
    return rc;
}

/* --- offload --------------------------------------------------------------------- */

struct offload {
    const struct bench_opts *o;
    weft_executor *ex;
    double seconds;
    unsigned peak_threads;
};

static void *nap(void *arg)
{
    long ms = (long)(intptr_t)arg;
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    return NULL;
}

static void *offload_one(void *arg)
{
    struct offload *w = arg;
    int rc = weft_run_in_executor(w->ex, nap,
                                  (void *)(intptr_t)w->o->sleep_ms, NULL,
                                  NULL);
    return rc < 0 ? weft_fail(rc, "offload") : NULL;
}

static void *offload_main(void *arg)
{
    struct offload *w = arg;
    long n = w->o->tasks;
    weft_task **tasks = calloc((size_t)n, sizeof *tasks);
    weft_executor_stats st;
    int rc = 0;

    if (tasks == NULL)
        return weft_fail(-ENOMEM, "tasks");
    double t0 = now_seconds();
    for (long i = 0; i < n && rc == 0; i++)
        rc = weft_spawn(&tasks[i], offload_one, w);
    for (long i = 0; i < n; i++) {
        if (tasks[i] != NULL) {
            int r = weft_await(tasks[i], NULL);
            if (rc == 0)
                rc = r;
            weft_task_unref(tasks[i]);
        }
    }
    w->seconds = now_seconds() - t0;
    free(tasks);
    if (weft_executor_get_stats(w->ex, &st) == 0)
        w->peak_threads = st.peak_threads;
    return rc < 0 ? weft_fail(rc, "offload") : NULL;
}

int bench_offload(const struct bench_opts *o)
{
    double wall[1000];
    unsigned peak = 0;

    for (int r = 0; r < o->runs; r++) {
        struct offload w = { .o = o };
        weft_executor_opts eo = { .max_threads = (unsigned)o->threads };
        if (o->threads > 0 && weft_executor_create(&w.ex, &eo) < 0)
            return 1;
        int rc = run(offload_main, &w, o, 0);
        if (w.ex != NULL)
            weft_executor_destroy(w.ex);
        if (rc < 0)
            return 1;
        wall[r] = w.seconds;
        peak = w.peak_threads;
    }
    double med = bench_median(wall, o->runs);
    unsigned threads = o->threads > 0 ? (unsigned)o->threads
                                      : WEFT_BLOCKING_THREADS_DEFAULT;
    long rounds = (o->tasks + threads - 1) / threads;
    double ideal = (double)rounds * (double)o->sleep_ms / 1000.0;
    printf("offload: calls=%ld sleep=%ldms pool=%s%u workers=%u runs=%d "
           "median_wall=%.1fms ideal=%.1fms (+%.1f%%) min=%.1fms max=%.1fms "
           "peak_threads=%u\n",
           o->tasks, o->sleep_ms, o->threads > 0 ? "" : "default/", threads,
           o->workers, o->runs, med * 1e3, ideal * 1e3,
           (med / ideal - 1) * 100, wall[0] * 1e3, wall[o->runs - 1] * 1e3,
           peak);
    return 0;
}

/* --- to-thread-latency ----------------------------------------------------------- */

struct latency {
    const struct bench_opts *o;
    double *trips;
    double first;
};

static void *nothing(void *arg)
{
    return arg;
}

static void *latency_main(void *arg)
{
    struct latency *l = arg;

    for (long i = 0; i < l->o->tasks; i++) {
        double t0 = now_seconds();
        int rc = weft_to_thread(nothing, NULL, NULL);
        double dt = now_seconds() - t0;
        if (rc < 0)
            return weft_fail(rc, "to_thread");
        if (i == 0)
            l->first = dt;
        l->trips[i] = dt;
    }
    return NULL;
}

int bench_to_thread_latency(const struct bench_opts *o)
{
    double med[1000], p99[1000], first[1000];
    struct latency l = { .o = o };

    l.trips = calloc((size_t)o->tasks, sizeof *l.trips);
    if (l.trips == NULL)
        return 1;
    for (int r = 0; r < o->runs; r++) {
        if (run(latency_main, &l, o, 0) < 0) {
            free(l.trips);
            return 1;
        }
        qsort(l.trips, (size_t)o->tasks, sizeof *l.trips, bench_cmp_double);
        med[r] = l.trips[o->tasks / 2];
        p99[r] = l.trips[o->tasks * 99 / 100];
        first[r] = l.first;
    }
    free(l.trips);
    double m = bench_median(med, o->runs);
    printf("to-thread-latency: calls=%ld workers=%u runs=%d "
           "median=%.2fus p99=%.2fus first_call=%.1fus "
           "(median of runs' medians; min %.2f, max %.2f)\n",
           o->tasks, o->workers, o->runs, m * 1e6,
           bench_median(p99, o->runs) * 1e6, bench_median(first, o->runs) * 1e6,
           med[0] * 1e6, med[o->runs - 1] * 1e6);
    return 0;
}

/* --- process-call ----------------------------------------------------------------- */

static int echo_fn(const void *in, size_t len, void **out, size_t *out_len)
{
    (void)in;
    (void)len;
    *out = NULL;
    *out_len = 0;
    return 0;
}

static long fib(long n)
{
    return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

static int fib_fn(const void *in, size_t len, void **out, size_t *out_len)
{
    long n, v;

    if (len != sizeof n)
        return -EINVAL;
    memcpy(&n, in, sizeof n);
    v = fib(n);
    if ((*out = malloc(sizeof v)) == NULL)
        return -ENOMEM;
    memcpy(*out, &v, sizeof v);
    *out_len = sizeof v;
    return 0;
}

struct proc_bench {
    const struct bench_opts *o;
    double *trips;
    long jobs;
    double seconds;
};

static void *echo_main(void *arg)
{
    struct proc_bench *p = arg;

    for (long i = 0; i < p->o->tasks; i++) {
        double t0 = now_seconds();
        int rc = weft_process_call("bench-empty", NULL, 0, NULL, NULL);
        p->trips[i] = now_seconds() - t0;
        if (rc < 0)
            return weft_fail(rc, "process call");
    }
    return NULL;
}

static void *fib_one(void *arg)
{
    long n = *(long *)arg;
    void *out = NULL;
    size_t len;
    int rc = weft_process_call("bench-fib", &n, sizeof n, &out, &len);
    weft_free(out);
    return rc < 0 ? weft_fail(rc, "fib") : NULL;
}

static void *fib_main(void *arg)
{
    struct proc_bench *p = arg;
    weft_task *tasks[64];
    long n = p->o->fib_n;
    int rc = 0;

    double t0 = now_seconds();
    for (long i = 0; i < p->jobs; i++)
        rc = rc < 0 ? rc : weft_spawn(&tasks[i], fib_one, &n);
    for (long i = 0; i < p->jobs; i++) {
        int r = weft_await(tasks[i], NULL);
        rc = rc < 0 ? rc : r;
        weft_task_unref(tasks[i]);
    }
    p->seconds = now_seconds() - t0;
    return rc < 0 ? weft_fail(rc, "fib jobs") : NULL;
}

int bench_process_call(const struct bench_opts *o)
{
    double med[1000], one[1000], two[1000], speedup[1000];
    struct proc_bench p = { .o = o, .jobs = 2 };
    int rc;

    if ((rc = weft_process_register("bench-empty", echo_fn)) < 0 ||
        (rc = weft_process_register("bench-fib", fib_fn)) < 0) {
        fprintf(stderr, "weft-bench: register: %s\n", weft_strerror(rc));
        return 1;
    }
    p.trips = calloc((size_t)o->tasks, sizeof *p.trips);
    if (p.trips == NULL)
        return 1;
    for (int r = 0; r < o->runs && rc == 0; r++) {
        rc = run(echo_main, &p, o, 1);
        if (rc < 0)
            break;
        qsort(p.trips, (size_t)o->tasks, sizeof *p.trips, bench_cmp_double);
        med[r] = p.trips[o->tasks / 2];
        rc = run(fib_main, &p, o, 1);
        one[r] = p.seconds;
        if (rc == 0)
            rc = run(fib_main, &p, o, 2);
        two[r] = p.seconds;
        speedup[r] = one[r] / two[r];
    }
    free(p.trips);
    weft_process_unregister("bench-empty");
    weft_process_unregister("bench-fib");
    if (rc < 0)
        return 1;
    double trip = bench_median(med, o->runs), t1 = bench_median(one, o->runs),
           t2 = bench_median(two, o->runs), x = bench_median(speedup, o->runs);
    printf("process-call: calls=%ld workers=%u runs=%d empty round trip "
           "median=%.1fus | 2 x fib(%ld): 1 process %.3fs, 2 processes "
           "%.3fs, throughput x%.2f (min x%.2f, max x%.2f)\n",
           o->tasks, o->workers, o->runs, trip * 1e6, o->fib_n, t1, t2, x,
           speedup[0], speedup[o->runs - 1]);
    return 0;
}
