/* weft-bench: benchmarks of the weft runtime.
 *
 *   weft-bench spawn      [-n TASKS]             spawn N tasks, then await all
 *   weft-bench yield      [-t TASKS] [-y YIELDS] T tasks x Y yields
 *   weft-bench sleep-many [-n TASKS] [-m MS]     N tasks sleeping at once
 *   weft-bench ping-pong  [-n ROUNDS]            two tasks waking each other
 *   weft-bench cpu        [-f N]                 fib(N) twice in parallel vs once
 *   weft-bench ring       [-n ITEMS] [-b BATCH]  weft's run queue vs ck_ring
 *   weft-bench cancel     [-n TASKS]             cancel + await of a sleeping task
 *   weft-bench wait-for   [-n TASKS]             wait_for on a task finishing in time
 *   weft-bench gather     [-n TASKS]             gather's cost per task
 *   weft-bench lock       [-n PAIRS]             uncontended acquire + release
 *   weft-bench lock-handoff [-n ACQUIRES]        two tasks taking turns
 *   weft-bench queue-ping-pong [-n ROUNDS]       two one-slot queues
 *   weft-bench queue-throughput [-n ITEMS] [-b MAXSIZE] producer to consumer
 *   weft-bench offload    [-n CALLS] [-m MS] [-x THREADS] blocking calls offloaded
 *   weft-bench to-thread-latency [-n CALLS]      an empty to_thread round trip
 *   weft-bench process-call [-n CALLS] [-f N]   process-pool round trip; 2 vs 1 process
 *   weft-bench echo       [-c CONNS] [-n MSGS]   W5: echo server and client processes
 *   weft-bench stream     [-n BYTES]             bulk TCP: weft streams vs two threads
 *   weft-bench accept     [-n CONNS] [-c CLIENTS] connections accepted+closed per second
 *   weft-bench w1 | w2 | w3 | w4                  the peers' workloads (bench_scale.c)
 *
 * Common options: -r RUNS (repeat, report the median), -w/--workers N,
 * --stats (print each worker's counters after the last run).
 * Each subcommand prints one line of figures. See weft-bench(1).
 *
 * The lock and queue workloads are in bench_sync.c, offloading in
 * bench_offload.c, sockets and streams in bench_io.c. ping-pong and ring
 * measure internals (the scheduler's wait and wake, the
 * run queue), so this tool links the library's internal build.
 */
#include "config.h"

#include <ck_ring.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <weft.h>

#include "bench.h"
#include "sched/runq.h"
#include "sched/task.h"
#include "sched/wait.h"

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

    double t0 = now_seconds();
    for (long i = 0; i < o->tasks; i++) {
        int rc = weft_spawn(&tasks[i], yielder, &o->yields);
        if (rc < 0)
            return weft_fail(rc, "spawn: %s", weft_strerror(rc));
    }
    for (long i = 0; i < o->tasks; i++) {
        weft_await(tasks[i], NULL);
        weft_task_unref(tasks[i]);
    }
    s->seconds = now_seconds() - t0;
    free(tasks);
    return NULL;
}

/* --- sleep-many: N tasks sleeping at the same time ---------------------- */

/* Sleepers alive now, and the most alive at once: if starting them all
 * takes longer than their sleep, the first wake before the last start. */
static long sleeping, peak_sleeping;

static void *sleeper(void *arg)
{
    long now = __atomic_add_fetch(&sleeping, 1, __ATOMIC_RELAXED);
    long peak = __atomic_load_n(&peak_sleeping, __ATOMIC_RELAXED);
    while (now > peak &&
           !__atomic_compare_exchange_n(&peak_sleeping, &peak, now, 0,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
    weft_sleep(*(long *)arg);
    __atomic_sub_fetch(&sleeping, 1, __ATOMIC_RELAXED);
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
    sleeping = peak_sleeping = 0;
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
    s->peak_rss_kib = bench_peak_rss_kib();
    s->extra = (double)peak_sleeping;
    s->per_task_kib = (double)(s->peak_rss_kib - rss0) / (double)peak_sleeping;
    free(tasks);
    return NULL;
}

/* --- ping-pong: two tasks waking each other ----------------------------- */

/* Round r: player 0 wakes player 1's round-r suspension, player 1 wakes
 * player 0's round r-1 one. Each wakes a suspension the other published
 * before waking it, so no player ever waits for the other to publish. */
struct ping_pong {
    weft_task *player[2];
    uint32_t seq[2]; /* atomic */
    long rounds;
};

static void *player(void *arg)
{
    struct ping_pong *pp = ((void **)arg)[0];
    int me = (int)(intptr_t)((void **)arg)[1];
    weft__task *self = weft__task_self();

    for (long r = 0; r < pp->rounds; r++) {
        uint32_t seq;
        int rc = weft__wait_begin(self, 0, &seq);
        if (rc < 0)
            return weft_fail(rc, "round %ld: cannot suspend", r);
        __atomic_store_n(&pp->seq[me], seq, __ATOMIC_RELEASE);
        if (me == 0 || r > 0) {
            uint32_t other = __atomic_load_n(&pp->seq[!me], __ATOMIC_ACQUIRE);
            if (!weft__wake(weft__handle_record(pp->player[!me]), other,
                            WEFT__WAKE_DONE))
                return weft_fail(WEFT_EIO, "round %ld: wake failed", r);
        }
        if (me == 0 && r == pp->rounds - 1)
            (void)weft__wait_abort(self);
        else
            (void)weft__wait_commit(self);
    }
    return NULL;
}

static void *ping_pong_main(void *arg)
{
    struct bench_opts *o = ((void **)arg)[0];
    struct sample *s = ((void **)arg)[1];
    struct ping_pong pp = { .rounds = o->tasks };
    void *args[2][2] = { { &pp, (void *)0 }, { &pp, (void *)1 } };
    int rc;

    /* Player 1 first, and suspended, before player 0 starts waking it. */
    rc = weft_spawn(&pp.player[1], player, args[1]);
    while (rc == 0 && __atomic_load_n(&pp.seq[1], __ATOMIC_ACQUIRE) == 0)
        weft_yield();
    double t0 = now_seconds();
    if (rc == 0)
        rc = weft_spawn(&pp.player[0], player, args[0]);
    if (rc < 0)
        return weft_fail(rc, "spawn: %s", weft_strerror(rc));
    for (int i = 0; i < 2; i++) {
        int err = weft_await(pp.player[i], NULL);
        if (err < 0)
            return weft_fail(err, "player %d: %s", i,
                             weft_task_errmsg(pp.player[i]));
        weft_task_unref(pp.player[i]);
    }
    s->seconds = now_seconds() - t0;
    return NULL;
}

/* --- cpu: fib(N) in two tasks at once, against one alone ---------------- */

static long fib(long n)
{
    return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

static void *fib_task(void *arg)
{
    return (void *)(intptr_t)fib(*(long *)arg);
}

/* Time for `count` tasks computing fib(n) at once. */
static double fib_wall(long n, int count)
{
    weft_task *t[2];
    double t0 = now_seconds();
    for (int i = 0; i < count; i++)
        weft_spawn(&t[i], fib_task, &n);
    for (int i = 0; i < count; i++) {
        weft_await(t[i], NULL);
        weft_task_unref(t[i]);
    }
    return now_seconds() - t0;
}

static void *cpu_main(void *arg)
{
    struct bench_opts *o = ((void **)arg)[0];
    struct sample *s = ((void **)arg)[1];
    s->extra = fib_wall(o->fib_n, 1);   /* one alone */
    s->seconds = fib_wall(o->fib_n, 2); /* two at once */
    return NULL;
}

/* --- cancel: cancel + await of a sleeping task --------------------------- */

#define BATCH_TASKS 10000

/* Sleepers that have started; the benchmark times only cancels of
 * tasks asleep (one never started costs far less to cancel). */
static long started;

static void *long_sleeper(void *arg)
{
    (void)arg;
    __atomic_fetch_add(&started, 1, __ATOMIC_RELAXED);
    weft_sleep(3600000);
    return NULL;
}

static void *cancel_main(void *arg)
{
    struct bench_opts *o = ((void **)arg)[0];
    struct sample *s = ((void **)arg)[1];
    weft_task **t = malloc(BATCH_TASKS * sizeof *t);
    if (t == NULL)
        return weft_fail(WEFT_ENOMEM, "no memory");
    __atomic_store_n(&started, 0, __ATOMIC_RELAXED);
    for (long done = 0; done < o->tasks;) {
        long n = o->tasks - done < BATCH_TASKS ? o->tasks - done : BATCH_TASKS;
        for (long i = 0; i < n; i++)
            weft_spawn(&t[i], long_sleeper, NULL);
        /* Let them all start sleeping; only then time the cancels. The
         * last may still be on its way into weft_sleep: a millisecond
         * more. */
        while (__atomic_load_n(&started, __ATOMIC_RELAXED) < done + n)
            weft_sleep(1);
        weft_sleep(1);
        double t0 = now_seconds();
        for (long i = 0; i < n; i++)
            weft_cancel(t[i]);
        for (long i = 0; i < n; i++) {
            if (weft_await(t[i], NULL) != WEFT_ECANCELED)
                return weft_fail(WEFT_EIO, "a sleeper was not cancelled");
            weft_task_unref(t[i]);
        }
        s->seconds += now_seconds() - t0;
        done += n;
    }
    free(t);
    return NULL;
}

/* --- wait-for and gather: the cost over spawn + await ------------------- */

enum wait_how { PLAIN_AWAIT, WAIT_FOR, GATHER };

/* Spawns n trivial tasks and waits for them with `how`; returns seconds. */
static double spawn_and_wait(long n, enum wait_how how, weft_task **t,
                             weft_outcome *out)
{
    double t0 = now_seconds();
    for (long i = 0; i < n; i++)
        weft_spawn(&t[i], trivial, (void *)(intptr_t)i);
    if (how == GATHER) {
        weft_gather(t, (size_t)n, WEFT_GATHER_FAIL_FAST, out);
    } else {
        for (long i = 0; i < n; i++) {
            void *r;
            if (how == WAIT_FOR)
                weft_wait_for(t[i], &r, 60000);
            else
                weft_await(t[i], &r);
        }
    }
    for (long i = 0; i < n; i++)
        weft_task_unref(t[i]);
    return now_seconds() - t0;
}

/* Alternates spawn + await and the measured way in batches of 10,000, so
 * that both see the same machine; extra = spawn + await's seconds. */
static void *compare_main(void *arg, enum wait_how how)
{
    struct bench_opts *o = ((void **)arg)[0];
    struct sample *s = ((void **)arg)[1];
    weft_task **t = malloc(BATCH_TASKS * sizeof *t);
    weft_outcome *out = malloc(BATCH_TASKS * sizeof *out);
    if (t == NULL || out == NULL)
        return weft_fail(WEFT_ENOMEM, "no memory");
    for (long done = 0; done < o->tasks;) {
        long n = o->tasks - done < BATCH_TASKS ? o->tasks - done : BATCH_TASKS;
        s->extra += spawn_and_wait(n, PLAIN_AWAIT, t, out);
        s->seconds += spawn_and_wait(n, how, t, out);
        done += n;
    }
    free(t);
    free(out);
    return NULL;
}

static void *wait_for_main(void *arg)
{
    return compare_main(arg, WAIT_FOR);
}

static void *gather_main(void *arg)
{
    return compare_main(arg, GATHER);
}

/* --- ring: weft's run queue against ck_ring SPMC ------------------------ */

/* Items are small integers cast to task pointers: the queues never look
 * behind them. Item 0 is never used, so NULL means "none". */
#define ITEM(i) ((weft__task *)(uintptr_t)(i))

struct ring_race {
    int use_ck;
    long items;
    struct weft__runq *owner_q;
    ck_ring_t *ck;
    ck_ring_buffer_t *ck_buf;
    unsigned char *seen;   /* seen[i]: times item i was taken */
    long taken_by_thief;   /* atomic */
    int done;              /* atomic */
};

static void take(struct ring_race *rr, weft__task *t)
{
    __atomic_fetch_add(&rr->seen[(uintptr_t)t], 1, __ATOMIC_RELAXED);
}

/* The thief: steals half at a time (weft) or one at a time (ck_ring, which
 * has no batch dequeue), and backs off after a miss. */
static void *thief(void *arg)
{
    struct ring_race *rr = arg;
    struct weft__runq *mine = aligned_alloc(WEFT__CACHELINE, sizeof *mine);
    weft__runq_init(mine);
    while (!__atomic_load_n(&rr->done, __ATOMIC_ACQUIRE)) {
        long got = 0;
        if (rr->use_ck) {
            void *p;
            while (ck_ring_trydequeue_spmc(rr->ck, rr->ck_buf, &p)) {
                take(rr, p);
                got++;
            }
        } else if (weft__runq_steal_half(rr->owner_q, mine) > 0) {
            weft__task *t;
            while ((t = weft__runq_pop(mine)) != NULL) {
                take(rr, t);
                got++;
            }
        }
        if (got > 0)
            __atomic_fetch_add(&rr->taken_by_thief, got, __ATOMIC_RELAXED);
        else
            for (int i = 0; i < 100; i++)
                weft__cpu_relax();
    }
    free(mine);
    return NULL;
}

/* The owner pushes BATCH items, then pops until empty, as a worker does.
 * Returns seconds spent, and checks every item was taken exactly once. */
static double ring_race(struct bench_opts *o, int use_ck, int with_thief,
                        double *thief_share)
{
    struct ring_race rr = { .use_ck = use_ck, .items = o->tasks };
    ck_ring_t ck;
    ck_ring_buffer_t *ck_buf = aligned_alloc(WEFT__CACHELINE,
                                             WEFT__RUNQ_CAP * sizeof *ck_buf);
    struct weft__runq *q = aligned_alloc(WEFT__CACHELINE, sizeof *q);
    pthread_t th;

    rr.seen = calloc((size_t)o->tasks + 1, 1);
    weft__runq_init(q);
    ck_ring_init(&ck, WEFT__RUNQ_CAP);
    rr.owner_q = q;
    rr.ck = &ck;
    rr.ck_buf = ck_buf;
    if (with_thief)
        pthread_create(&th, NULL, thief, &rr);
    double t0 = now_seconds();
    for (long next = 1; next <= o->tasks;) {
        for (long i = 0; i < o->batch && next <= o->tasks; i++, next++) {
            bool ok = use_ck ? ck_ring_enqueue_spmc(&ck, ck_buf, ITEM(next))
                             : weft__runq_push(q, ITEM(next));
            if (!ok) {
                fprintf(stderr, "weft-bench: ring full\n");
                exit(1);
            }
        }
        for (;;) {
            void *p = NULL;
            if (use_ck) {
                if (!ck_ring_dequeue_spmc(&ck, ck_buf, &p))
                    break;
            } else if ((p = weft__runq_pop(q)) == NULL) {
                break;
            }
            take(&rr, p);
        }
    }
    double secs = now_seconds() - t0;
    __atomic_store_n(&rr.done, 1, __ATOMIC_RELEASE);
    if (with_thief)
        pthread_join(th, NULL);
    for (long i = 1; i <= o->tasks; i++) {
        if (rr.seen[i] != 1) {
            fprintf(stderr, "weft-bench: item %ld taken %d times\n", i,
                    rr.seen[i]);
            exit(1);
        }
    }
    *thief_share = (double)rr.taken_by_thief / (double)o->tasks;
    free(rr.seen);
    free(q);
    free(ck_buf);
    return secs;
}

/* --- driver ------------------------------------------------------------- */

static int run_once(weft_fn fn, struct bench_opts *o, struct sample *s)
{
    void *args[2] = { o, s };
    weft_run_opts ro = { .workers = o->workers,
                         .slow_task_ms = WEFT_SLOW_TASK_OFF };
    memset(s, 0, sizeof *s);
    int rc = weft_run(fn, args, NULL, &ro);
    if (rc < 0)
        fprintf(stderr, "weft-bench: run failed: %s\n", weft_strerror(rc));
    return rc;
}

void bench_print_stats(void)
{
    weft_worker_stats st[WEFT_WORKERS_MAX];
    unsigned n;

    if (weft_runtime_get_stats(st, WEFT_WORKERS_MAX, &n) < 0)
        return;
    for (unsigned i = 0; i < n; i++)
        printf("  worker %u: polled=%llu steals=%llu stolen_from=%llu "
               "tasks_stolen=%llu parks=%llu unparks=%llu global_pops=%llu "
               "lifo_hits=%llu max_queue=%llu io_visits=%llu\n",
               i, (unsigned long long)st[i].polled,
               (unsigned long long)st[i].steals,
               (unsigned long long)st[i].stolen_from,
               (unsigned long long)st[i].tasks_stolen,
               (unsigned long long)st[i].parks,
               (unsigned long long)st[i].unparks,
               (unsigned long long)st[i].global_pops,
               (unsigned long long)st[i].lifo_hits,
               (unsigned long long)st[i].max_queue_depth,
               (unsigned long long)st[i].io_visits);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: weft-bench spawn      [-n TASKS] [options]\n"
            "       weft-bench yield      [-t TASKS] [-y YIELDS] [options]\n"
            "       weft-bench sleep-many [-n TASKS] [-m MS] [options]\n"
            "       weft-bench ping-pong  [-n ROUNDS] [options]\n"
            "       weft-bench cpu        [-f N] [options]\n"
            "       weft-bench ring       [-n ITEMS] [-b BATCH] [-r RUNS]\n"
            "       weft-bench cancel     [-n TASKS] [options]\n"
            "       weft-bench wait-for   [-n TASKS] [options]\n"
            "       weft-bench gather     [-n TASKS] [options]\n"
            "       weft-bench lock       [-n PAIRS] [options]\n"
            "       weft-bench lock-handoff [-n ACQUISITIONS] [options]\n"
            "       weft-bench queue-ping-pong [-n ROUNDS] [options]\n"
            "       weft-bench queue-throughput [-n ITEMS] [-b MAXSIZE] [options]\n"
            "       weft-bench offload    [-n CALLS] [-m MS] [-x THREADS] [options]\n"
            "       weft-bench to-thread-latency [-n CALLS] [options]\n"
            "       weft-bench process-call [-n CALLS] [-f N] [options]\n"
            "       weft-bench echo       [-c CONNS] [-n MSGS] [options]\n"
            "       weft-bench stream     [-n BYTES] [options]\n"
            "       weft-bench accept     [-n CONNS] [-c CLIENTS] [options]\n"
            "       weft-bench w1 [-n TASKS]  w2 [-n TASKS] [-y YIELDS]  "
            "w3 [-n ROUNDS]  w4 [-n TASKS] [--compact] [options]\n"
            "       weft-bench spawn-process [-n CHILDREN] [-c TASKS] [options]\n"
            "options: -r RUNS  -w/--workers N  --stats\n");
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

/* Runs the ring comparison and prints its line. */
static int ring_main(struct bench_opts *o)
{
    static const char *names[2] = { "weft", "ck_ring" };
    double alone[2][1000], raced[2][1000], share[2][1000];

    for (int r = 0; r < o->runs; r++) {
        for (int k = 0; k < 2; k++) {
            double ignore;
            alone[k][r] = ring_race(o, k, 0, &ignore) / (double)o->tasks * 1e9;
            raced[k][r] = ring_race(o, k, 1, &share[k][r]) / (double)o->tasks * 1e9;
        }
    }
    printf("ring: items=%ld batch=%ld runs=%d", o->tasks, o->batch, o->runs);
    for (int k = 0; k < 2; k++) {
        qsort(alone[k], (size_t)o->runs, sizeof(double), bench_cmp_double);
        qsort(raced[k], (size_t)o->runs, sizeof(double), bench_cmp_double);
        qsort(share[k], (size_t)o->runs, sizeof(double), bench_cmp_double);
        printf(" | %s: owner alone %.1f ns/item, with a thief %.1f ns/item, "
               "thief took %.0f%%", names[k], alone[k][o->runs / 2],
               raced[k][o->runs / 2], share[k][o->runs / 2] * 100);
    }
    printf("\n");
    return 0;
}

int main(int argc, char **argv)
{
    struct bench_opts o = { .tasks = 0, .yields = 1000, .sleep_ms = 1000,
                            .fib_n = 32, .batch = 32, .runs = 1,
                            .workers = 1, .conns = 0 };
    static const struct option longopts[] = {
        { "workers", required_argument, NULL, 'w' },
        { "stats", no_argument, NULL, 'S' },
        { "compact", no_argument, NULL, 'C' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *cmd;
    int c;

    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    cmd = argv[1];
    if (strncmp(cmd, "__echo-", 7) == 0)
        return bench_echo_child(argc, argv);
    if (strcmp(cmd, "__w4") == 0)
        return bench_scale_w4_child(argc, argv);
    optind = 2;
    while ((c = getopt_long(argc, argv, "n:t:y:m:f:b:r:w:x:c:h", longopts, NULL)) != -1) {
        long v;
        const char *arg = optarg;
        switch (c) {
        case 'n':
        case 't':
            /* stream's byte count may go higher: checked below. */
            if (parse_long(arg, 0, 1L << 40, &o.tasks) < 0)
                goto bad;
            o.tasks_zero = o.tasks == 0;
            break;
        case 'c':
            if (parse_long(arg, 1, 100000, &o.conns) < 0)
                goto bad;
            break;
        case 'y':
            if (parse_long(arg, 1, 1000000000, &o.yields) < 0)
                goto bad;
            o.yields_set = 1;
            break;
        case 'm':
            if (parse_long(arg, 0, 3600000, &o.sleep_ms) < 0)
                goto bad;
            break;
        case 'f':
            if (parse_long(arg, 1, 50, &o.fib_n) < 0)
                goto bad;
            break;
        case 'b':
            if (parse_long(arg, 1, WEFT__RUNQ_CAP - 1, &o.batch) < 0)
                goto bad;
            break;
        case 'r':
            if (parse_long(arg, 1, 1000, &v) < 0)
                goto bad;
            o.runs = (int)v;
            break;
        case 'w':
            if (parse_long(arg, 1, WEFT_WORKERS_MAX, &v) < 0)
                goto bad;
            o.workers = (unsigned)v;
            o.workers_set = 1;
            break;
        case 'x':
            if (parse_long(arg, 1, WEFT_EXECUTOR_THREADS_MAX, &o.threads) < 0)
                goto bad;
            break;
        case 'S':
            o.stats = 1;
            break;
        case 'C':
            o.compact = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
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

    if (o.tasks > 100000000 && strcmp(cmd, "stream") != 0) {
        fprintf(stderr, "weft-bench: -n %ld is above 100000000\n", o.tasks);
        return 2;
    }
    int scale = strlen(cmd) == 2 && cmd[0] == 'w' && cmd[1] >= '1' &&
                cmd[1] <= '4';
    if (o.tasks_zero && strcmp(cmd, "w4") != 0) {
        fprintf(stderr, "weft-bench: -n 0 is for w4 only\n");
        return 2;
    }
    /* The I/O workloads and the peers' workloads run on two workers
     * unless told otherwise. */
    int io = strcmp(cmd, "echo") == 0 || strcmp(cmd, "stream") == 0 ||
             strcmp(cmd, "accept") == 0;
    if ((io || scale) && !o.workers_set)
        o.workers = 2;
    if (scale)
        return bench_scale(cmd, &o) == 0 ? 0 : 1;
    weft_fn fn;
    if (strcmp(cmd, "echo") == 0) {
        if (o.tasks == 0)
            o.tasks = 10000;
        if (o.conns == 0)
            o.conns = 100;
        return bench_echo(&o);
    } else if (strcmp(cmd, "stream") == 0) {
        if (o.tasks == 0)
            o.tasks = 1L << 30;
        return bench_stream(&o);
    } else if (strcmp(cmd, "accept") == 0) {
        if (o.tasks == 0)
            o.tasks = 20000;
        if (o.conns == 0)
            o.conns = 4;
        return bench_accept(&o);
    } else if (strcmp(cmd, "spawn-process") == 0) {
        if (o.tasks == 0)
            o.tasks = 2000;
        if (o.conns == 0)
            o.conns = 1;
        return bench_spawn_process(&o);
    } else if (strcmp(cmd, "spawn") == 0) {
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
    } else if (strcmp(cmd, "ping-pong") == 0) {
        fn = ping_pong_main;
        if (o.tasks == 0)
            o.tasks = 1000000;
    } else if (strcmp(cmd, "cpu") == 0) {
        fn = cpu_main;
        if (o.workers < 2 && o.workers == 1)
            o.workers = 2; /* the point is two tasks on two workers */
    } else if (strcmp(cmd, "cancel") == 0) {
        fn = cancel_main;
        if (o.tasks == 0)
            o.tasks = 100000;
    } else if (strcmp(cmd, "wait-for") == 0) {
        fn = wait_for_main;
        if (o.tasks == 0)
            o.tasks = 1000000;
    } else if (strcmp(cmd, "gather") == 0) {
        fn = gather_main;
        if (o.tasks == 0)
            o.tasks = 1000000;
    } else if (strcmp(cmd, "lock") == 0) {
        fn = lock_main;
        if (o.tasks == 0)
            o.tasks = 10000000;
    } else if (strcmp(cmd, "lock-handoff") == 0) {
        fn = lock_handoff_main;
        if (o.tasks == 0)
            o.tasks = 1000000;
    } else if (strcmp(cmd, "queue-ping-pong") == 0) {
        fn = queue_ping_pong_main;
        if (o.tasks == 0)
            o.tasks = 1000000;
    } else if (strcmp(cmd, "queue-throughput") == 0) {
        fn = queue_throughput_main;
        if (o.tasks == 0)
            o.tasks = 10000000;
    } else if (strcmp(cmd, "offload") == 0) {
        if (o.tasks == 0)
            o.tasks = 1000;
        if (o.sleep_ms == 1000)
            o.sleep_ms = 10;
        return bench_offload(&o);
    } else if (strcmp(cmd, "to-thread-latency") == 0) {
        if (o.tasks == 0)
            o.tasks = 100000;
        return bench_to_thread_latency(&o);
    } else if (strcmp(cmd, "process-call") == 0) {
        if (o.tasks == 0)
            o.tasks = 20000;
        if (o.fib_n == 32)
            o.fib_n = 38;
        return bench_process_call(&o);
    } else if (strcmp(cmd, "ring") == 0) {
        if (o.tasks == 0)
            o.tasks = 10000000;
        return ring_main(&o);
    } else {
        fprintf(stderr, "weft-bench: unknown subcommand '%s'\n", cmd);
        usage(stderr);
        return 2;
    }

    double *secs = calloc((size_t)o.runs, sizeof *secs);
    double *kib = calloc((size_t)o.runs, sizeof *kib);
    double *extra = calloc((size_t)o.runs, sizeof *extra);
    long peak = 0;
    if (secs == NULL || kib == NULL || extra == NULL)
        return 1;
    for (int r = 0; r < o.runs; r++) {
        struct sample s;
        if (run_once(fn, &o, &s) < 0)
            return 1;
        secs[r] = s.seconds;
        kib[r] = s.per_task_kib;
        extra[r] = s.extra;
        if (s.peak_rss_kib > peak)
            peak = s.peak_rss_kib;
    }
    if (fn == cpu_main) {
        /* Speed-up per run, then the median of those. */
        for (int r = 0; r < o.runs; r++)
            kib[r] = 2 * extra[r] / secs[r];
        qsort(extra, (size_t)o.runs, sizeof *extra, bench_cmp_double);
    } else if (fn == lock_main) {
        qsort(extra, (size_t)o.runs, sizeof *extra, bench_cmp_double);
    } else if (fn == wait_for_main || fn == gather_main) {
        /* ns per task over spawn + await, per run, then the median. */
        for (int r = 0; r < o.runs; r++)
            kib[r] = (secs[r] - extra[r]) / (double)o.tasks * 1e9;
        qsort(extra, (size_t)o.runs, sizeof *extra, bench_cmp_double);
    }
    qsort(secs, (size_t)o.runs, sizeof *secs, bench_cmp_double);
    qsort(kib, (size_t)o.runs, sizeof *kib, bench_cmp_double);
    double med = secs[o.runs / 2], lo = secs[0], hi = secs[o.runs - 1];

    if (fn == spawn_main) {
        printf("spawn: tasks=%ld workers=%u runs=%d median=%.4fs "
               "rate=%.2fM tasks/s (min %.2fM, max %.2fM)\n",
               o.tasks, o.workers, o.runs, med, o.tasks / med / 1e6,
               o.tasks / hi / 1e6, o.tasks / lo / 1e6);
    } else if (fn == yield_main) {
        double n = (double)o.tasks * (double)o.yields;
        printf("yield: tasks=%ld yields=%ld workers=%u runs=%d median=%.4fs "
               "%.1f ns/yield, %.1fM yields/s (min %.1fM, max %.1fM)\n",
               o.tasks, o.yields, o.workers, o.runs, med, med / n * 1e9,
               n / med / 1e6, n / hi / 1e6, n / lo / 1e6);
    } else if (fn == sleep_main) {
        qsort(extra, (size_t)o.runs, sizeof *extra, bench_cmp_double);
        printf("sleep-many: tasks=%ld sleep=%ldms workers=%u runs=%d "
               "median_wall=%.3fs peak_sleeping=%.0f peak_rss=%.1fMiB "
               "rss_per_sleeping_task=%.2fKiB\n",
               o.tasks, o.sleep_ms, o.workers, o.runs, med, extra[0],
               peak / 1024.0, kib[o.runs / 2]);
    } else if (fn == ping_pong_main) {
        printf("ping-pong: rounds=%ld workers=%u runs=%d median=%.4fs "
               "%.1f ns/round trip (min %.1f, max %.1f)\n",
               o.tasks, o.workers, o.runs, med, med / o.tasks * 1e9,
               lo / o.tasks * 1e9, hi / o.tasks * 1e9);
    } else if (fn == lock_main) {
        printf("lock: pairs=%ld runs=%d uncontended acquire+release "
               "%.1f ns (min %.1f, max %.1f); pthread_mutex %.1f ns\n",
               o.tasks, o.runs, med / o.tasks * 1e9, lo / o.tasks * 1e9,
               hi / o.tasks * 1e9, extra[o.runs / 2] / o.tasks * 1e9);
    } else if (fn == lock_handoff_main) {
        printf("lock-handoff: acquisitions=%ld workers=%u runs=%d "
               "median=%.4fs %.1f ns/acquisition (min %.1f, max %.1f)\n",
               o.tasks, o.workers, o.runs, med, med / o.tasks * 1e9,
               lo / o.tasks * 1e9, hi / o.tasks * 1e9);
    } else if (fn == queue_ping_pong_main) {
        printf("queue-ping-pong: rounds=%ld workers=%u runs=%d median=%.4fs "
               "%.1f ns/round trip (min %.1f, max %.1f)\n",
               o.tasks, o.workers, o.runs, med, med / o.tasks * 1e9,
               lo / o.tasks * 1e9, hi / o.tasks * 1e9);
    } else if (fn == queue_throughput_main) {
        printf("queue-throughput: items=%ld maxsize=%ld workers=%u runs=%d "
               "median=%.4fs %.2fM items/s, %.1f ns/item (min %.2fM, max %.2fM)\n",
               o.tasks, o.batch, o.workers, o.runs, med, o.tasks / med / 1e6,
               med / o.tasks * 1e9, o.tasks / hi / 1e6, o.tasks / lo / 1e6);
    } else if (fn == cancel_main) {
        printf("cancel: tasks=%ld workers=%u runs=%d median=%.4fs "
               "%.1f ns per cancel + await of a sleeping task "
               "(min %.1f, max %.1f)\n",
               o.tasks, o.workers, o.runs, med, med / o.tasks * 1e9,
               lo / o.tasks * 1e9, hi / o.tasks * 1e9);
    } else if (fn == wait_for_main || fn == gather_main) {
        printf("%s: tasks=%ld workers=%u runs=%d spawn+%s %.1f ns/task, "
               "spawn+await %.1f ns/task, overhead %.1f ns/task "
               "(min %.1f, max %.1f)\n",
               fn == gather_main ? "gather" : "wait-for", o.tasks, o.workers,
               o.runs, fn == gather_main ? "gather" : "wait_for",
               med / o.tasks * 1e9, extra[o.runs / 2] / o.tasks * 1e9,
               kib[o.runs / 2], kib[0], kib[o.runs - 1]);
    } else {
        printf("cpu: fib(%ld) workers=%u runs=%d one=%.4fs two=%.4fs "
               "speed-up=%.2fx (min %.2fx, max %.2fx)\n",
               o.fib_n, o.workers, o.runs, extra[o.runs / 2], med,
               kib[o.runs / 2], kib[0], kib[o.runs - 1]);
    }
    if (o.stats)
        bench_print_stats();
    free(secs);
    free(kib);
    free(extra);
    return 0;
}
