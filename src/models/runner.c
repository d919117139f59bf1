/* weft-models: the parent side. Runs each selected workload under each
 * selected model, every measurement in a child of its own (a __run of
 * this program, or the Python script), checks what the child reports
 * against what the workload must produce, and keeps the median of the
 * repeats.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runner.h"

extern char **environ;

#define CHILD_TIMEOUT_S 300

const char *const mr_workload_names[MR_NWORKLOADS] = { "io", "wait", "cpu",
                                                       "blocking" };
const char *const mr_model_names[MR_NMODELS] = { "loop", "steal", "threads",
                                                 "procs", "loop+pool",
                                                 "python" };

/* The sizes: a default run takes well under a minute on 2 CPUs, --quick
 * a few seconds. Python computes fib about 70 times slower than C, so
 * its cpu batch has fewer jobs of the same sizes. */
/* A sanitizer runs weft several times slower, and TSan's shadow memory
 * makes each of thousands of task stacks costly: --quick, which the tests
 * run, shrinks further there so that it stays a quick run. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define QUICK_DIV 8
#else
#define QUICK_DIV 1
#endif

static struct mr_spec spec_for(int w, int quick, int python)
{
    struct mr_spec s = { .workload = w };
    switch (w) {
    case MR_IO:
        s.n = quick ? 200 / QUICK_DIV : 1000;
        s.m = quick ? 20 : 50;
        break;
    case MR_WAIT:
        s.n = quick ? 2000 / QUICK_DIV : 10000;
        s.m = 100;
        break;
    case MR_CPU:
        s.n = python ? (quick ? 16 : 60) : (quick ? 1000 / QUICK_DIV : 4000);
        s.m = 27;
        break;
    default:
        s.n = quick ? 20 : 50;
        s.m = 10;
        break;
    }
    return s;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- how many CPUs are free ------------------------------------------------
 *
 * A thread per CPU spins for 100 ms; the CPU time each gets over the time
 * it spun, added up, is the CPUs this program could have used. The load
 * average would count this program's own earlier runs too. */

#define PROBE_S 0.1

static void *spin(void *arg)
{
    double *share = arg, t0 = now_s(), t;
    struct timespec cpu;

    while ((t = now_s()) - t0 < PROBE_S)
        ;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
    *share = ((double)cpu.tv_sec + (double)cpu.tv_nsec / 1e9) / (t - t0);
    return NULL;
}

static double cpus_free(int cpus)
{
    pthread_t t[64];
    double share[64], sum = 0;
    int n = cpus < 1 ? 1 : cpus > 64 ? 64 : cpus, started = 0;

    for (; started < n; started++) {
        if (pthread_create(&t[started], NULL, spin, &share[started]) != 0)
            break;
    }
    for (int i = 0; i < started; i++) {
        pthread_join(t[i], NULL);
        sum += share[i] > 1 ? 1 : share[i];
    }
    return started == n ? sum : -1;
}

/* --- progress, on a terminal only -------------------------------------- */

static void progress(const struct mr_config *c, int done, int total,
                     const char *what)
{
    if (!c->progress)
        return;
    int width = 30, fill = total > 0 ? done * width / total : width;
    fprintf(stderr, "\r[%.*s%*s] %3d/%d %-32.32s", fill,
            "##############################", width - fill, "", done, total,
            what);
    if (done == total)
        fprintf(stderr, "\r%*s\r", width + 50, "");
    fflush(stderr);
}

/* --- one child ---------------------------------------------------------- */

/* Runs argv with descriptor fd kept open for its report; reads the line.
 * Returns 0, or -1 (a message is printed). */
static int run_child(char *const argv[], const char *path, int rfd, int wfd,
                     char *line, size_t cap)
{
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int status;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, wfd, wfd); /* clears CLOEXEC */
    int e = posix_spawnp(&pid, path, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(wfd);
    if (e != 0) {
        close(rfd);
        fprintf(stderr, "weft-models: cannot start %s: %s\n", path,
                strerror(e));
        return -1;
    }
    size_t len = 0;
    double deadline = now_s() + CHILD_TIMEOUT_S;
    int timed_out = 0;
    while (len < cap - 1) {
        struct pollfd p = { .fd = rfd, .events = POLLIN };
        int left = (int)((deadline - now_s()) * 1000);
        if (left <= 0 || poll(&p, 1, left) == 0) {
            timed_out = 1;
            kill(pid, SIGKILL);
            break;
        }
        ssize_t n = read(rfd, line + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    line[len] = '\0';
    close(rfd);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (timed_out) {
        fprintf(stderr, "weft-models: %s %s %s: no report in %d s\n", argv[0],
                argv[1], argv[2], CHILD_TIMEOUT_S);
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "weft-models: child for %s failed (%s %d)\n", path,
                WIFEXITED(status) ? "exit status" : "signal",
                WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        return -1;
    }
    return 0;
}

/* What one measurement is: a C model or a Python one. */
struct job {
    int workload;
    const char *model;     /* for __run, or the script's --model */
    int python;
    int offload;
    const char *label;     /* row model name */
    const char *variant;
};

static int measure(const struct mr_config *c, const struct job *j,
                   const struct mr_spec *s, struct mr_report *r)
{
    char line[512], w[8], n[24], m[24], off[8], fd[16];
    int p[2];

    if (pipe2(p, O_CLOEXEC) < 0) {
        perror("weft-models: pipe");
        return -1;
    }
    snprintf(w, sizeof w, "%d", s->workload);
    snprintf(n, sizeof n, "%ld", s->n);
    snprintf(m, sizeof m, "%ld", s->m);
    snprintf(off, sizeof off, "%d", s->offload);
    snprintf(fd, sizeof fd, "%d", p[1]);
    int rc;
    if (j->python) {
        char *argv[] = { "python3", (char *)c->script, "--workload",
                         (char *)mr_workload_names[s->workload], "--model",
                         (char *)j->model, "--n", n, "--m", m, "--offload",
                         off, "--fd", fd, NULL };
        rc = run_child(argv, c->python, p[0], p[1], line, sizeof line);
    } else {
        char *argv[] = { "weft-models", "__run", w, (char *)j->model, n, m,
                         "0", off, fd, NULL };
        rc = run_child(argv, "/proc/self/exe", p[0], p[1], line, sizeof line);
    }
    if (rc < 0)
        return -1;
    if (mr_report_parse(line, r) < 0) {
        fprintf(stderr, "weft-models: %s %s: bad report: %s\n",
                mr_workload_names[s->workload], j->label, line);
        return -1;
    }
    if (r->skip[0] != '\0')
        return 0;
    long items = mr_expected_items(s);
    long long sum = mr_expected_checksum(s);
    if (r->items != items || r->checksum != sum) {
        fprintf(stderr,
                "weft-models: %s under %s%s%s: wrong result: %ld items "
                "(expected %ld), checksum %lld (expected %lld)\n",
                mr_workload_names[s->workload], j->label,
                j->variant[0] ? " " : "", j->variant, r->items, items,
                r->checksum, sum);
        return -1;
    }
    return 0;
}

static double median(double *v, int n)
{
    for (int i = 1; i < n; i++) { /* insertion sort: n is small */
        double x = v[i];
        int k = i - 1;
        while (k >= 0 && v[k] > x) {
            v[k + 1] = v[k];
            k--;
        }
        v[k + 1] = x;
    }
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void set_skip(struct mr_row *row, const char *model,
                     const char *variant, const char *why)
{
    memset(row, 0, sizeof *row);
    snprintf(row->model, sizeof row->model, "%s", model);
    snprintf(row->variant, sizeof row->variant, "%s", variant);
    row->status = MR_SKIP;
    snprintf(row->reason, sizeof row->reason, "%s", why);
    row->worst_ms = -1;
    row->speedup = -1;
}

/* Runs one job c->repeat times into row. Returns 0 or -1. */
static int run_job(const struct mr_config *c, const struct job *j,
                   struct mr_row *row, int *done, int total)
{
    struct mr_spec s = spec_for(j->workload, c->quick, j->python);
    double wall[MR_REPEAT_MAX], cpu[MR_REPEAT_MAX], rss[MR_REPEAT_MAX],
        worst[MR_REPEAT_MAX];
    char what[64];

    s.offload = j->offload;
    snprintf(what, sizeof what, "%s: %s%s%s", mr_workload_names[j->workload],
             j->label, j->variant[0] ? " " : "", j->variant);
    for (int i = 0; i < c->repeat; i++) {
        struct mr_report r;
        progress(c, *done, total, what);
        if (measure(c, j, &s, &r) < 0)
            return -1;
        (*done)++;
        if (r.skip[0] != '\0') {
            set_skip(row, j->label, j->variant, r.skip);
            *done += c->repeat - 1 - i;
            return 0;
        }
        wall[i] = r.wall_s;
        cpu[i] = r.cpu_s;
        rss[i] = (double)r.maxrss_kib;
        worst[i] = r.worst_ms;
    }
    memset(row, 0, sizeof *row);
    snprintf(row->model, sizeof row->model, "%s", j->label);
    snprintf(row->variant, sizeof row->variant, "%s", j->variant);
    row->status = MR_OK;
    row->wall_s = median(wall, c->repeat);
    row->cpu_s = median(cpu, c->repeat);
    row->maxrss_kib = (long)median(rss, c->repeat);
    row->worst_ms = median(worst, c->repeat);
    row->rate = (double)mr_expected_items(&s) / row->wall_s;
    row->speedup = -1;
    snprintf(row->check, sizeof row->check, "%ld %s ok",
             mr_expected_items(&s),
             j->workload == MR_IO     ? "trips"
             : j->workload == MR_WAIT ? "waits"
             : j->workload == MR_CPU  ? "sums"
                                      : "calls");
    return 0;
}

/* The jobs of one workload under the selected models. */
static int jobs_for(const struct mr_config *c, int w, struct job *jobs,
                    struct mr_row *skips, int *nskips)
{
    int n = 0;
    int blocking = w == MR_BLOCKING;
    *nskips = 0;

#define ADD(mod, py, off, lab, var)                                          \
    jobs[n++] = (struct job){ w, mod, py, off, lab, var }
    if (c->models & (1u << MR_M_LOOP)) {
        ADD("loop", 0, 0, "loop", blocking ? "inline" : "");
        if (blocking)
            ADD("loop", 0, 1, "loop", "to_thread");
    }
    if (c->models & (1u << MR_M_STEAL)) {
        ADD("steal", 0, 0, "steal", blocking ? "inline" : "");
        if (blocking)
            ADD("steal", 0, 1, "steal", "to_thread");
    }
    if (c->models & (1u << MR_M_THREADS))
        ADD("threads", 0, 0, "threads", "");
    if (c->models & (1u << MR_M_PROCS))
        ADD("procs", 0, 0, "procs", blocking ? "inline" : "");
    if (c->models & (1u << MR_M_POOL)) {
        if (w == MR_CPU)
            ADD("pool", 0, 0, "loop+pool", "");
        else
            set_skip(&skips[(*nskips)++], "loop+pool", "",
                     w == MR_BLOCKING
                         ? "a blocking call waits, it does not compute: "
                           "offload it to a thread (to_thread rows)"
                         : "nothing to compute: the pool helps CPU-bound "
                           "work only");
    }
    if (c->models & (1u << MR_M_PYTHON)) {
        if (c->python == NULL) {
            set_skip(&skips[(*nskips)++], "python", "",
                     "no python3 (not on PATH, or $WEFT_MODELS_PYTHON "
                     "is not executable)");
        } else if (c->script == NULL) {
            set_skip(&skips[(*nskips)++], "python", "",
                     "weft-models.py not found (--script, "
                     "WEFT_MODELS_SCRIPT)");
        } else {
            ADD("asyncio", 1, 0, "py-asyncio", blocking ? "inline" : "");
            if (blocking)
                ADD("asyncio", 1, 1, "py-asyncio", "to_thread");
            ADD("threads", 1, 0, "py-threads", "");
            ADD("procs", 1, 0, "py-procs", blocking ? "inline" : "");
            if (w == MR_CPU)
                ADD("pool", 1, 0, "py-asyncio+pool", "");
        }
    }
#undef ADD
    return n;
}

static void describe(struct mr_workload_result *wr, int w, int quick)
{
    struct mr_spec s = spec_for(w, quick, 0), p = spec_for(w, quick, 1);

    snprintf(wr->name, sizeof wr->name, "%s", mr_workload_names[w]);
    switch (w) {
    case MR_IO:
        snprintf(wr->desc, sizeof wr->desc,
                 "%ld connections x %ld round trips of 64 bytes on "
                 "127.0.0.1, echo server and clients in the model's "
                 "process(es)",
                 s.n, s.m);
        snprintf(wr->unit, sizeof wr->unit, "trips/s");
        snprintf(wr->worst, sizeof wr->worst, "max round trip");
        break;
    case MR_WAIT:
        snprintf(wr->desc, sizeof wr->desc, "%ld concurrent waits of %ld ms",
                 s.n, s.m);
        snprintf(wr->unit, sizeof wr->unit, "waits/s");
        snprintf(wr->worst, sizeof wr->worst, "max lateness");
        break;
    case MR_CPU:
        snprintf(wr->desc, sizeof wr->desc,
                 "%ld jobs of recursive fib(%ld..%ld) (Python rows: %ld "
                 "jobs)",
                 s.n, s.m - 2, s.m, p.n);
        snprintf(wr->unit, sizeof wr->unit, "jobs/s");
        wr->worst[0] = '\0'; /* no latency to speak of */
        break;
    default:
        snprintf(wr->desc, sizeof wr->desc,
                 "%ld tasks each making a %ld ms blocking call, beside a "
                 "1 ms heartbeat",
                 s.n, s.m);
        snprintf(wr->unit, sizeof wr->unit, "calls/s");
        snprintf(wr->worst, sizeof wr->worst, "heartbeat max delay");
        break;
    }
}

/* Speed-up against the single loop of the same kind: loop for weft's rows
 * (and threads, procs), py-asyncio for Python's; blocking's inline row. */
static void speedups(struct mr_workload_result *wr)
{
    const struct mr_row *base_c = NULL, *base_py = NULL;

    for (int i = 0; i < wr->nrows; i++) {
        const struct mr_row *r = &wr->rows[i];
        if (r->status != MR_OK ||
            (r->variant[0] != '\0' && strcmp(r->variant, "inline") != 0))
            continue;
        if (strcmp(r->model, "loop") == 0)
            base_c = r;
        else if (strcmp(r->model, "py-asyncio") == 0)
            base_py = r;
    }
    for (int i = 0; i < wr->nrows; i++) {
        struct mr_row *r = &wr->rows[i];
        const struct mr_row *b =
            strncmp(r->model, "py-", 3) == 0 ? base_py : base_c;
        if (r->status == MR_OK && b != NULL)
            r->speedup = b->wall_s / r->wall_s;
    }
}

int mr_run_all(const struct mr_config *c, struct mr_results *res)
{
    struct job jobs[MR_NWORKLOADS][MR_ROWS_MAX];
    struct mr_row skips[MR_NWORKLOADS][MR_ROWS_MAX];
    int njobs[MR_NWORKLOADS], nskips[MR_NWORKLOADS];
    int total = 0, done = 0;

    memset(res, 0, sizeof *res);
    res->cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
    res->quick = c->quick;
    res->repeat = c->repeat;
    for (int w = 0; w < MR_NWORKLOADS; w++) {
        njobs[w] = 0;
        if (c->workloads & (1u << w)) {
            njobs[w] = jobs_for(c, w, jobs[w], skips[w], &nskips[w]);
            total += njobs[w] * c->repeat;
        }
    }
    for (int w = 0; w < MR_NWORKLOADS; w++) {
        if (!(c->workloads & (1u << w)))
            continue;
        struct mr_workload_result *wr = &res->w[res->nw++];
        describe(wr, w, c->quick);
        wr->cpus_free = cpus_free(res->cpus);
        for (int i = 0; i < njobs[w]; i++) {
            if (run_job(c, &jobs[w][i], &wr->rows[wr->nrows], &done, total) < 0) {
                progress(c, total, total, "");
                return -1;
            }
            wr->nrows++;
        }
        for (int i = 0; i < nskips[w]; i++)
            wr->rows[wr->nrows++] = skips[w][i];
        speedups(wr);
        mr_verdict(wr, res->cpus);
    }
    progress(c, total, total, "");
    return 0;
}
