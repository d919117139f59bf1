/* weft-bench: micro-benchmarks of the weft runtime.
 *
 *   weft-bench spawn      [-n TASKS]            spawn N tasks, then await all
 *   weft-bench yield      [-t TASKS] [-y YIELDS] T tasks x Y yields
 *   weft-bench sleep-many [-n TASKS] [-m MS]    N tasks sleeping at once
 *
 * Common options: -r RUNS (repeat and report the median), -w WORKERS.
 * Each subcommand prints one line of figures. See weft-bench(1).
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <weft.h>

struct bench_opts {
    long tasks;
    long yields;
    long sleep_ms;
    int runs;
    unsigned workers;
};

/* What one run measured. */
struct sample {
    double seconds;
    double per_task_kib;
    long peak_rss_kib;
};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long current_rss_kib(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static long peak_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* --- spawn: spawn N trivial tasks, then await them all ----------------- */

static void *trivial(void *arg)
{
    return arg;
}

static void *spawn_main(void *arg)
{
    struct bench_opts *o = ((void **)arg)[0];
    struct sample *s = ((void **)arg)[1];
    weft_task **tasks = malloc((size_t)o->tasks * sizeof *tasks);
    if (tasks == NULL)
        return weft_fail(WEFT_ENOMEM, "no memory for %ld handles", o->tasks);

    double t0 = now_seconds();
    for (long i = 0; i < o->tasks; i++) {
        int rc = weft_spawn(&tasks[i], trivial, (void *)(intptr_t)i);
        if (rc < 0)
            return weft_fail(rc, "spawn %ld: %s", i, weft_strerror(rc));
    }
    for (long i = 0; i < o->tasks; i++) {
        void *r;
        int rc = weft_await(tasks[i], &r);
        if (rc < 0 || r != (void *)(intptr_t)i)
            return weft_fail(rc < 0 ? rc : WEFT_EIO, "task %ld: wrong result", i);
        weft_task_unref(tasks[i]);
    }
    s->seconds = now_seconds() - t0;
    free(tasks);
    return NULL;
}

/* --- yield: T tasks each yield Y times ---------------------------------- */

static void *yielder(void *arg)
{
    long n = *(long *)arg;
    for (long i = 0; i < n; i++)
        weft_yield();
    return NULL;
}

static void *yield_main(void *arg)
{
    struct bench_opts *o = ((void **)arg)[0];
    struct sample *s = ((void **)arg)[1];
    weft_task **tasks = malloc((size_t)o->tasks * sizeof *tasks);
    if (tasks == NULL)
        return weft_fail(WEFT_ENOMEM, "no memory");

    for (long i = 0; i < o->tasks; i++) {
        int rc = weft_spawn(&tasks[i], yielder, &o->yields);
        if (rc < 0)
            return weft_fail(rc, "spawn: %s", weft_strerror(rc));
    }
    /* Let every task start (and touch its stack) before timing. */
    weft_yield();
    double t0 = now_seconds();
    for (long i = 0; i < o->tasks; i++) {
        weft_await(tasks[i], NULL);
        weft_task_unref(tasks[i]);
    }
    s->seconds = now_seconds() - t0;
    free(tasks);
    return NULL;
}

/* --- sleep-many: N tasks sleeping at the same time ---------------------- */

static void *sleeper(void *arg)
{
    weft_sleep(*(long *)arg);
    return NULL;
}

static void *sleep_main(void *arg)
{
    struct bench_opts *o = ((void **)arg)[0];
    struct sample *s = ((void **)arg)[1];
    weft_task **tasks = malloc((size_t)o->tasks * sizeof *tasks);
    if (tasks == NULL)
        return weft_fail(WEFT_ENOMEM, "no memory");
    /* Touch the handle array first so it is not counted per task. */
    memset(tasks, 0, (size_t)o->tasks * sizeof *tasks);

    long rss0 = current_rss_kib();
    double t0 = now_seconds();
    for (long i = 0; i < o->tasks; i++) {
        int rc = weft_spawn(&tasks[i], sleeper, &o->sleep_ms);
        if (rc < 0)
            return weft_fail(rc, "spawn %ld: %s", i, weft_strerror(rc));
    }
    for (long i = 0; i < o->tasks; i++) {
        weft_await(tasks[i], NULL);
        weft_task_unref(tasks[i]);
    }
    s->seconds = now_seconds() - t0;
    s->peak_rss_kib = peak_rss_kib();
    s->per_task_kib = (double)(s->peak_rss_kib - rss0) / (double)o->tasks;
    free(tasks);
    return NULL;
}

/* --- driver ------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int run_once(weft_fn fn, struct bench_opts *o, struct sample *s)
{
    void *args[2] = { o, s };
    weft_run_opts ro = { .workers = o->workers };
    memset(s, 0, sizeof *s);
    int rc = weft_run(fn, args, &ro);
    if (rc < 0)
        fprintf(stderr, "weft-bench: run failed: %s\n", weft_strerror(rc));
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: weft-bench spawn      [-n TASKS] [-r RUNS] [-w WORKERS]\n"
            "       weft-bench yield      [-t TASKS] [-y YIELDS] [-r RUNS] [-w WORKERS]\n"
            "       weft-bench sleep-many [-n TASKS] [-m MS] [-r RUNS] [-w WORKERS]\n");
}

static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || end == s || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    struct bench_opts o = { .tasks = 0, .yields = 1000, .sleep_ms = 1000,
                            .runs = 1, .workers = 1 };
    const char *cmd;
    int c;

    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    cmd = argv[1];
    optind = 2;
    while ((c = getopt(argc, argv, "n:t:y:m:r:w:")) != -1) {
        long v;
        const char *arg = optarg;
        switch (c) {
        case 'n':
        case 't':
            if (parse_long(arg, 1, 100000000, &o.tasks) < 0)
                goto bad;
            break;
        case 'y':
            if (parse_long(arg, 1, 1000000000, &o.yields) < 0)
                goto bad;
            break;
        case 'm':
            if (parse_long(arg, 0, 3600000, &o.sleep_ms) < 0)
                goto bad;
            break;
        case 'r':
            if (parse_long(arg, 1, 1000, &v) < 0)
                goto bad;
            o.runs = (int)v;
            break;
        case 'w':
            if (parse_long(arg, 1, 1024, &v) < 0)
                goto bad;
            o.workers = (unsigned)v;
            break;
        default:
            usage(stderr);
            return 2;
        }
        continue;
bad:
        fprintf(stderr, "weft-bench: bad value '%s' for -%c\n", arg, c);
        return 2;
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }

    weft_fn fn;
    if (strcmp(cmd, "spawn") == 0) {
        fn = spawn_main;
        if (o.tasks == 0)
            o.tasks = 1000000;
    } else if (strcmp(cmd, "yield") == 0) {
        fn = yield_main;
        if (o.tasks == 0)
            o.tasks = 100;
    } else if (strcmp(cmd, "sleep-many") == 0) {
        fn = sleep_main;
        if (o.tasks == 0)
            o.tasks = 100000;
    } else {
        fprintf(stderr, "weft-bench: unknown subcommand '%s'\n", cmd);
        usage(stderr);
        return 2;
    }

    double *secs = calloc((size_t)o.runs, sizeof *secs);
    double *kib = calloc((size_t)o.runs, sizeof *kib);
    long peak = 0;
    if (secs == NULL || kib == NULL)
        return 1;
    for (int r = 0; r < o.runs; r++) {
        struct sample s;
        if (run_once(fn, &o, &s) < 0)
            return 1;
        secs[r] = s.seconds;
        kib[r] = s.per_task_kib;
        if (s.peak_rss_kib > peak)
            peak = s.peak_rss_kib;
    }
    qsort(secs, (size_t)o.runs, sizeof *secs, cmp_double);
    qsort(kib, (size_t)o.runs, sizeof *kib, cmp_double);
    double med = secs[o.runs / 2], lo = secs[0], hi = secs[o.runs - 1];

    if (fn == spawn_main) {
        printf("spawn: tasks=%ld workers=%u runs=%d median=%.4fs "
               "rate=%.2fM tasks/s (min %.2fM, max %.2fM)\n",
               o.tasks, o.workers, o.runs, med, o.tasks / med / 1e6,
               o.tasks / hi / 1e6, o.tasks / lo / 1e6);
    } else if (fn == yield_main) {
        double n = (double)o.tasks * (double)o.yields;
        printf("yield: tasks=%ld yields=%ld workers=%u runs=%d median=%.4fs "
               "%.1f ns/yield (min %.1f, max %.1f)\n",
               o.tasks, o.yields, o.workers, o.runs, med, med / n * 1e9,
               lo / n * 1e9, hi / n * 1e9);
    } else {
        printf("sleep-many: tasks=%ld sleep=%ldms workers=%u runs=%d "
               "median_wall=%.3fs peak_rss=%.1fMiB rss_per_task=%.2fKiB\n",
               o.tasks, o.sleep_ms, o.workers, o.runs, med, peak / 1024.0,
               kib[o.runs / 2]);
    }
    free(secs);
    free(kib);
    return 0;
}
