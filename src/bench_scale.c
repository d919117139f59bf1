/* weft-bench w1..w4: the scale workloads, defined as the peers were
 * measured (Tokio, Go: bench/peers/), printing the peers' keys.
 *
 *   w1  spawn 1,000,000 tasks (task i returns i & 7), await each in spawn
 *       order, sum (3,500,000); tasks/s and the spawn loop's time
 *   w2  10,000 tasks x 100 yields; yields/s
 *   w3  ping-pong over two channels of capacity 1, then unbuffered;
 *       ns per round trip
 *   w4  N tasks each sleeping 1 s, N = 100,000 and 1,000,000 (or -n):
 *       bytes per task from the peak RSS of a fresh process against an
 *       N = 0 one
 *
 * Every body runs in a task main spawns (not in the pinned main task),
 * on two workers unless -w says otherwise. One line per run:
 * "w1 runtime=weft workers=2 tasks=... key=value ...".
 */
#include "config.h"

#include <errno.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <weft.h>

#include "bench.h"

extern char **environ;

struct scale {
    long n;           /* tasks (w1, w2, w4) or rounds (w3) */
    unsigned spawn_flags; /* w2, w4: weft_spawn_opts.flags */
    long yields;      /* w2 */
    size_t capacity;  /* w3 */
    double seconds;   /* first spawn to last await */
    double spawn_seconds;
    long sum;         /* w1 */
    weft_fn body;
};

/* main: the body in a task of its own, so that it is not the pinned
 * main task and may move between workers like the peers' bodies. */
static void *spawned_main(void *arg)
{
    struct scale *sc = arg;
    weft_task *t;
    void *res;

    int rc = weft_spawn(&t, sc->body, sc);
    if (rc < 0)
        return weft_fail(rc, "spawning the body");
    rc = weft_await(t, &res);
    if (rc < 0) {
        fprintf(stderr, "weft-bench: %s\n", weft_task_errmsg(t) != NULL
                                                ? weft_task_errmsg(t)
                                                : weft_strerror(rc));
        weft_task_unref(t);
        return weft_fail(rc, "the body failed");
    }
    weft_task_unref(t);
    return NULL;
}

static int run_body(weft_fn body, struct scale *sc, unsigned workers)
{
    /* No slow-task reports: a workload may hold a worker on purpose (a
     * spawn loop, a computation), and its figures are the output. */
    weft_run_opts ro = { .workers = workers,
                         .slow_task_ms = WEFT_SLOW_TASK_OFF };

    sc->body = body;
    int rc = weft_run(spawned_main, sc, NULL, &ro);
    if (rc < 0)
        fprintf(stderr, "weft-bench: run failed: %s\n", weft_strerror(rc));
    return rc;
}

/* --- w1: spawn and await ---------------------------------------------------- */

static void *low_bits(void *arg)
{
    return (void *)((intptr_t)arg & 7);
}

static void *w1_body(void *arg)
{
    struct scale *sc = arg;
    weft_task **t = malloc((size_t)sc->n * sizeof *t);

    if (t == NULL)
        return weft_fail(-ENOMEM, "no memory for %ld handles", sc->n);
    double t0 = now_seconds();
    for (long i = 0; i < sc->n; i++) {
        int rc = weft_spawn(&t[i], low_bits, (void *)(intptr_t)i);
        if (rc < 0)
            return weft_fail(rc, "spawn %ld", i);
    }
    sc->spawn_seconds = now_seconds() - t0;
    long sum = 0;
    for (long i = 0; i < sc->n; i++) {
        void *r;
        int rc = weft_await(t[i], &r);
        if (rc < 0)
            return weft_fail(rc, "await %ld", i);
        sum += (long)(intptr_t)r;
        weft_task_unref(t[i]);
    }
    sc->seconds = now_seconds() - t0;
    sc->sum = sum;
    free(t);
    long want = sc->n / 8 * 28;
    for (long i = sc->n / 8 * 8; i < sc->n; i++)
        want += i & 7;
    return sum == want ? NULL : weft_fail(-EIO, "sum %ld, not %ld", sum, want);
}

/* --- w2: yields ---------------------------------------------------------------- */

static void *yielder(void *arg)
{
    long n = *(const long *)arg;

    for (long i = 0; i < n; i++) {
        int rc = weft_yield();
        if (rc < 0)
            return weft_fail(rc, "yield");
    }
    return NULL;
}

/* Spawns sc->n tasks of fn(arg), then awaits each: w2's and w4's body.
 * The handle vector is touched before the clock starts, as the peers'
 * are (and so not counted in w4's memory). */
static void *spawn_await_all(struct scale *sc, weft_fn fn, void *arg)
{
    weft_task **t = NULL;
    weft_spawn_opts opts = { .flags = sc->spawn_flags };

    if (sc->n > 0 && (t = calloc((size_t)sc->n, sizeof *t)) == NULL)
        return weft_fail(-ENOMEM, "no memory for %ld handles", sc->n);
    double t0 = now_seconds();
    for (long i = 0; i < sc->n; i++) {
        int rc = weft_spawn_ex(&t[i], fn, arg, &opts);
        if (rc < 0)
            return weft_fail(rc, "spawn %ld", i);
    }
    sc->spawn_seconds = now_seconds() - t0;
    for (long i = 0; i < sc->n; i++) {
        int rc = weft_await(t[i], NULL);
        if (rc < 0)
            return weft_fail(rc, "task %ld", i);
        weft_task_unref(t[i]);
    }
    sc->seconds = now_seconds() - t0;
    free(t);
    return NULL;
}

static void *w2_body(void *arg)
{
    struct scale *sc = arg;
    return spawn_await_all(sc, yielder, &sc->yields);
}

/* --- w3: channel ping-pong -------------------------------------------------- */

struct w3 {
    weft_channel *to_pong, *to_ping;
    long rounds;
};

static void *ping(void *arg)
{
    struct w3 *w = arg;

    for (long i = 0; i < w->rounds; i++) {
        void *reply;
        int rc = weft_channel_send(w->to_pong, (void *)(intptr_t)i, WEFT_FOREVER);
        if (rc == 0)
            rc = weft_channel_recv(w->to_ping, &reply, WEFT_FOREVER);
        if (rc < 0)
            return weft_fail(rc, "round %ld", i);
        if ((intptr_t)reply != i + 1)
            return weft_fail(-EIO, "round %ld: reply %ld", i, (long)(intptr_t)reply);
    }
    return NULL;
}

static void *pong(void *arg)
{
    struct w3 *w = arg;

    for (long i = 0; i < w->rounds; i++) {
        void *x;
        int rc = weft_channel_recv(w->to_pong, &x, WEFT_FOREVER);
        if (rc == 0)
            rc = weft_channel_send(w->to_ping, (void *)((intptr_t)x + 1),
                                   WEFT_FOREVER);
        if (rc < 0)
            return weft_fail(rc, "round %ld", i);
    }
    return NULL;
}

static void *w3_body(void *arg)
{
    struct scale *sc = arg;
    struct w3 w = { .rounds = sc->n };
    weft_task *a, *b;
    int rc, rc2;

    rc = weft_channel_create(&w.to_pong, sc->capacity, NULL);
    if (rc == 0 && (rc = weft_channel_create(&w.to_ping, sc->capacity, NULL)) < 0)
        weft_channel_destroy(w.to_pong);
    if (rc < 0)
        return weft_fail(rc, "channels");
    double t0 = now_seconds();
    rc = weft_spawn(&a, ping, &w);
    if (rc == 0 && (rc = weft_spawn(&b, pong, &w)) < 0) {
        weft_cancel(a);
        weft_await(a, NULL);
        weft_task_unref(a);
    }
    if (rc < 0)
        return weft_fail(rc, "spawn");
    rc = weft_await(a, NULL);
    rc2 = weft_await(b, NULL);
    sc->seconds = now_seconds() - t0;
    weft_task_unref(a);
    weft_task_unref(b);
    weft_channel_destroy(w.to_pong);
    weft_channel_destroy(w.to_ping);
    if (rc < 0 || rc2 < 0)
        return weft_fail(rc < 0 ? rc : rc2, "ping-pong");
    return NULL;
}

/* --- w4: sleeping tasks -------------------------------------------------- */

static void *sleeper(void *arg)
{
    (void)arg;
    int rc = weft_sleep(1000);
    return rc < 0 ? weft_fail(rc, "sleep") : NULL;
}

static void *w4_body(void *arg)
{
    return spawn_await_all(arg, sleeper, NULL);
}

/* The child side: one w4 run of n tasks in this fresh process ("__w4 n
 * workers compact"); prints "seconds spawn_seconds peak_rss_kib". */
int bench_scale_w4_child(int argc, char **argv)
{
    struct scale sc = { 0 };

    if (argc != 5)
        return 2;
    sc.n = atol(argv[2]);
    unsigned workers = (unsigned)atoi(argv[3]);
    sc.spawn_flags = atoi(argv[4]) ? WEFT_SPAWN_COMPACT : 0;
    if (sc.n < 0 || workers < 1 || run_body(w4_body, &sc, workers) < 0)
        return 1;
    printf("%.4f %.4f %ld\n", sc.seconds, sc.spawn_seconds, bench_peak_rss_kib());
    return 0;
}

/* Runs "weft-bench __w4 n workers compact" and reads its line. */
static int w4_process(long n, unsigned workers, int compact, double *secs,
                      double *spawn, long *rss)
{
    char nbuf[32], wbuf[16];
    int pfd[2];
    pid_t pid;
    posix_spawn_file_actions_t fa;

    snprintf(nbuf, sizeof nbuf, "%ld", n);
    snprintf(wbuf, sizeof wbuf, "%u", workers);
    char *argv[] = { "weft-bench", "__w4", nbuf, wbuf, compact ? "1" : "0",
                     NULL };
    if (pipe(pfd) < 0)
        return -errno;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, pfd[0]);
    int rc = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[1]);
    if (rc != 0) {
        close(pfd[0]);
        return -rc;
    }
    FILE *f = fdopen(pfd[0], "r");
    int got = f != NULL ? fscanf(f, "%lf %lf %ld", secs, spawn, rss) : 0;
    if (f != NULL)
        fclose(f);
    else
        close(pfd[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (got != 3 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -EIO;
    return 0;
}

/* --- the subcommands ----------------------------------------------------------- */

static int w4(const struct bench_opts *o)
{
    long sizes[2] = { 100000, 1000000 };
    int nsizes = 2;

    if (o->tasks > 0 || o->tasks_zero) {
        sizes[0] = o->tasks;
        nsizes = 1;
    }
    for (int r = 0; r < o->runs; r++) {
        for (int i = 0; i < nsizes; i++) {
            double secs, spawn, s0, p0;
            long rss, base;
            int rc = w4_process(0, o->workers, o->compact, &s0, &p0, &base);
            if (rc == 0 && sizes[i] > 0)
                rc = w4_process(sizes[i], o->workers, o->compact, &secs,
                                &spawn, &rss);
            if (rc < 0) {
                fprintf(stderr, "weft-bench: w4 -n %ld: %s\n", sizes[i],
                        weft_strerror(rc));
                return 1;
            }
            if (sizes[i] == 0) {
                printf("w4 runtime=weft workers=%u tasks=0 compact=%d "
                       "seconds=%.4f spawn_seconds=%.4f peak_rss_kib=%ld\n",
                       o->workers, o->compact, s0, p0, base);
                continue;
            }
            printf("w4 runtime=weft workers=%u tasks=%ld compact=%d "
                   "seconds=%.4f spawn_seconds=%.4f peak_rss_kib=%ld "
                   "base_rss_kib=%ld bytes_per_task=%.0f\n",
                   o->workers, sizes[i], o->compact, secs, spawn, rss, base,
                   (double)(rss - base) * 1024.0 / (double)sizes[i]);
        }
        fflush(stdout);
    }
    return 0;
}

int bench_scale(const char *cmd, const struct bench_opts *o)
{
    struct scale sc = { 0 };
    unsigned w = o->workers;

    if (strcmp(cmd, "w4") == 0)
        return w4(o);
    for (int r = 0; r < o->runs; r++) {
        if (strcmp(cmd, "w1") == 0) {
            sc.n = o->tasks > 0 ? o->tasks : 1000000;
            if (run_body(w1_body, &sc, w) < 0)
                return 1;
            printf("w1 runtime=weft workers=%u tasks=%ld sum=%ld seconds=%.4f "
                   "tasks_per_s=%.0f spawn_seconds=%.4f\n",
                   w, sc.n, sc.sum, sc.seconds, (double)sc.n / sc.seconds,
                   sc.spawn_seconds);
        } else if (strcmp(cmd, "w2") == 0) {
            sc.n = o->tasks > 0 ? o->tasks : 10000;
            sc.yields = o->yields_set ? o->yields : 100;
            if (run_body(w2_body, &sc, w) < 0)
                return 1;
            printf("w2 runtime=weft workers=%u tasks=%ld yields=%ld "
                   "seconds=%.4f yields_per_s=%.0f\n",
                   w, sc.n, sc.yields, sc.seconds,
                   (double)sc.n * (double)sc.yields / sc.seconds);
        } else {
            sc.n = o->tasks > 0 ? o->tasks : 1000000;
            for (size_t cap = 1;; cap = 0) {
                sc.capacity = cap;
                if (run_body(w3_body, &sc, w) < 0)
                    return 1;
                printf("w3 runtime=weft workers=%u rounds=%ld capacity=%zu "
                       "seconds=%.4f ns_per_round_trip=%.1f\n",
                       w, sc.n, cap, sc.seconds, sc.seconds / (double)sc.n * 1e9);
                if (cap == 0)
                    break;
            }
        }
        fflush(stdout);
    }
    return 0;
}
