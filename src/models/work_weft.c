/* weft-models: the four workloads as weft tasks, for the models loop (one
 * worker), steal (a worker per CPU), procs (each process runs these on
 * one worker) and loop+pool (cpu jobs sent to weft's process pool).
 *
 * Each item task records what it did in its own slot; main adds the slots
 * up after awaiting, so no counter is shared between workers.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <weft.h>

#include "models.h"

#define MSG 64
#define OP_TIMEOUT_MS 30000 /* any one socket wait: a stuck run fails */
#define POOL_FN "weft-models-fib"

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct run;

/* One item's outcome. */
struct slot {
    const struct mr_spec *s;
    struct run *run;
    long index;         /* in the whole batch */
    long long sum;      /* its share of the checksum */
    long done;          /* items it completed */
    double worst_ms;    /* its worst latency */
    long pid, rss_kib;  /* loop+pool: the process that ran it */
};

struct run {
    const struct mr_spec *s;
    int pool;
    struct slot *slots;
    int port;
    int stop;           /* blocking: the heartbeat's stop (atomic) */
    double beat_worst_ms;
    long beats;
};

/* Spawns fn over every slot, then awaits them all. */
static int spawn_all(struct run *run, weft_fn fn)
{
    long n = run->s->n;
    weft_task **t = calloc((size_t)n, sizeof *t);
    int rc = 0;
    long spawned = 0;

    if (t == NULL)
        return -ENOMEM;
    for (; spawned < n && rc == 0; spawned++)
        rc = weft_spawn(&t[spawned], fn, &run->slots[spawned]);
    if (rc < 0)
        spawned--;
    for (long i = 0; i < spawned; i++) {
        int r = weft_await(t[i], NULL);
        if (r < 0 && rc == 0) {
            fprintf(stderr, "weft-models: %s\n", weft_task_errmsg(t[i]));
            rc = r;
        }
        weft_task_unref(t[i]);
    }
    free(t);
    return rc;
}

/* === io: an echo server and its clients, all tasks of one runtime ===== */

static int echo_conn(weft_stream *conn, void *arg)
{
    char buf[MSG];
    size_t got;
    (void)arg;

    for (;;) {
        int rc = weft_stream_read_exactly(conn, buf, MSG, &got, OP_TIMEOUT_MS);
        if (rc == WEFT_ENODATA && got == 0)
            return 0; /* the client closed after its last trip */
        if (rc < 0)
            return rc;
        if ((rc = weft_stream_write(conn, buf, MSG, OP_TIMEOUT_MS)) < 0)
            return rc;
    }
}

static void *io_client(void *arg)
{
    struct slot *sl = arg;
    struct run *run = sl->run;
    char port[16], out[MSG], in[MSG];
    weft_stream *st;

    snprintf(port, sizeof port, "%d", run->port);
    int rc = weft_open_connection(&st, "127.0.0.1", port, NULL, OP_TIMEOUT_MS);
    if (rc < 0)
        return weft_fail(rc, "io: connect: %s", weft_strerror(rc));
    memset(out, (int)('a' + sl->index % 26), sizeof out);
    for (long i = 0; i < run->s->m && rc == 0; i++) {
        memcpy(out, &sl->index, sizeof sl->index);
        memcpy(out + 8, &i, sizeof i); /* every message differs */
        int64_t t0 = now_ns();
        rc = weft_stream_write(st, out, MSG, OP_TIMEOUT_MS);
        if (rc == 0)
            rc = weft_stream_read_exactly(st, in, MSG, NULL, OP_TIMEOUT_MS);
        if (rc == 0 && memcmp(in, out, MSG) != 0)
            rc = WEFT_EIO;
        double ms = (double)(now_ns() - t0) / 1e6;
        if (rc == 0) {
            sl->done++;
            sl->sum += sl->index + 1;
            if (ms > sl->worst_ms)
                sl->worst_ms = ms;
        }
    }
    int crc = weft_stream_close(st, OP_TIMEOUT_MS);
    if (rc == 0)
        rc = crc;
    return rc < 0 ? weft_fail(rc, "io: echo: %s", weft_strerror(rc)) : NULL;
}

static int io_main(struct run *run)
{
    weft_server *srv;
    int rc = weft_server_start(&srv, "127.0.0.1", "0", echo_conn, NULL, NULL);

    if (rc < 0) {
        fprintf(stderr, "weft-models: io: listen: %s\n", weft_strerror(rc));
        return rc;
    }
    run->port = weft_server_port(srv);
    rc = spawn_all(run, io_client);
    int src = weft_server_stop(srv, OP_TIMEOUT_MS);
    weft_server_destroy(srv);
    return rc < 0 ? rc : src;
}

/* === wait: n tasks asleep at once ====================================== */

static void *wait_item(void *arg)
{
    struct slot *sl = arg;
    int64_t t0 = now_ns();
    int rc = weft_sleep(sl->s->m);

    if (rc < 0)
        return weft_fail(rc, "wait: %s", weft_strerror(rc));
    /* A millisecond clock may round a sleep down by under 1 ms. */
    double late = (double)(now_ns() - t0) / 1e6 - (double)sl->s->m;
    if (late < -1)
        return weft_fail(WEFT_EIO, "wait: woke %.3f ms early", -late);
    sl->done = 1;
    sl->sum = sl->index + 1;
    sl->worst_ms = late < 0 ? 0 : late;
    return NULL;
}

/* === cpu: fib jobs, inline or in the process pool ====================== */

/* The pool's side: n in; fib(n), this process's pid and peak RSS out. */
static int pool_fib(const void *in, size_t len, void **out, size_t *out_len)
{
    long n, reply[3];
    struct rusage ru;

    if (len != sizeof n)
        return WEFT_EINVAL;
    memcpy(&n, in, sizeof n);
    getrusage(RUSAGE_SELF, &ru);
    reply[0] = (long)mr_fib(n);
    reply[1] = (long)getpid();
    reply[2] = ru.ru_maxrss;
    if ((*out = malloc(sizeof reply)) == NULL)
        return WEFT_ENOMEM;
    memcpy(*out, reply, sizeof reply);
    *out_len = sizeof reply;
    return 0;
}

int mr_weft_register_pool(void)
{
    return weft_process_register(POOL_FN, pool_fib);
}

static void *cpu_item(void *arg)
{
    struct slot *sl = arg;
    long n = mr_fib_arg(sl->s->m, sl->index);
    if (!sl->run->pool) {
        sl->sum = mr_fib(n);
        sl->done = 1;
        return NULL;
    }
    void *out;
    size_t len;
    int rc = weft_process_call(POOL_FN, &n, sizeof n, &out, &len);
    if (rc < 0)
        return weft_fail(rc, "cpu: pool: %s", weft_strerror(rc));
    if (len != 3 * sizeof(long)) {
        weft_free(out);
        return weft_fail(WEFT_EIO, "cpu: pool: bad reply");
    }
    long reply[3];
    memcpy(reply, out, sizeof reply);
    weft_free(out);
    sl->sum = reply[0];
    sl->pid = reply[1];
    sl->rss_kib = reply[2];
    sl->done = 1;
    return NULL;
}

/* === blocking: calls that block, beside a 1 ms heartbeat ================ */

static void *blocking_sleep(void *arg)
{
    long ms = (long)(intptr_t)arg;
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ; /* EINTR: sleep the rest */
    return NULL;
}

static void *blocking_item(void *arg)
{
    struct slot *sl = arg;
    void *ms = (void *)(intptr_t)sl->s->m;

    if (sl->s->offload) {
        int rc = weft_to_thread(blocking_sleep, ms, NULL);
        if (rc < 0)
            return weft_fail(rc, "blocking: to_thread: %s", weft_strerror(rc));
    } else {
        blocking_sleep(ms); /* the pitfall: the worker is stuck here */
    }
    sl->done = 1;
    sl->sum = sl->index + 1;
    return NULL;
}

static void *heartbeat(void *arg)
{
    struct run *run = arg;

    while (!__atomic_load_n(&run->stop, __ATOMIC_ACQUIRE)) {
        int64_t t0 = now_ns();
        int rc = weft_sleep(1);
        if (rc < 0)
            return weft_fail(rc, "heartbeat: %s", weft_strerror(rc));
        double late = (double)(now_ns() - t0) / 1e6 - 1;
        if (late > run->beat_worst_ms)
            run->beat_worst_ms = late;
        run->beats++;
    }
    return NULL;
}

static int blocking_main(struct run *run)
{
    weft_task *hb;
    int rc = weft_spawn(&hb, heartbeat, run);

    if (rc < 0)
        return rc;
    rc = weft_sleep(5); /* the heartbeat is in its rhythm */
    if (rc == 0)
        rc = spawn_all(run, blocking_item);
    __atomic_store_n(&run->stop, 1, __ATOMIC_RELEASE);
    int hrc = weft_await(hb, NULL);
    if (hrc < 0)
        fprintf(stderr, "weft-models: %s\n", weft_task_errmsg(hb));
    weft_task_unref(hb);
    if (rc == 0 && run->beats == 0)
        rc = WEFT_EIO; /* the heartbeat never ran: nothing measured */
    return rc < 0 ? rc : hrc;
}

/* === the runtime's main ================================================ */

static void *run_main(void *arg)
{
    struct run *run = arg;
    int rc;

    switch (run->s->workload) {
    case MR_IO:
        rc = io_main(run);
        break;
    case MR_WAIT:
        rc = spawn_all(run, wait_item);
        break;
    case MR_CPU:
        rc = spawn_all(run, cpu_item);
        break;
    default:
        rc = blocking_main(run);
        break;
    }
    return rc < 0 ? weft_fail(rc, "%s", weft_strerror(rc)) : NULL;
}

/* Adds the peak RSS of each pool process once (its largest report). */
static long pool_rss(const struct slot *slots, long n)
{
    long pids[WEFT_PROCESSES_MAX], rss[WEFT_PROCESSES_MAX];
    unsigned np = 0;
    long total = 0;

    for (long i = 0; i < n; i++) {
        if (slots[i].pid == 0)
            continue;
        unsigned j = 0;
        while (j < np && pids[j] != slots[i].pid)
            j++;
        if (j == np && np < WEFT_PROCESSES_MAX) {
            pids[np] = slots[i].pid;
            rss[np++] = 0;
        }
        if (j < np && slots[i].rss_kib > rss[j])
            rss[j] = slots[i].rss_kib;
    }
    for (unsigned j = 0; j < np; j++)
        total += rss[j];
    return total;
}

int mr_weft_run(const struct mr_spec *s, unsigned workers, int pool,
                struct mr_report *r, long *extra_rss_kib)
{
    struct run run = { .s = s, .pool = pool };
    /* No slow-task reports: a workload may hold a worker on purpose (a
     * spawn loop, a computation), and its figures are the output. */
    weft_run_opts ro = { .workers = workers,
                         .slow_task_ms = WEFT_SLOW_TASK_OFF };
    int rc;

    run.slots = calloc((size_t)s->n, sizeof *run.slots);
    if (run.slots == NULL)
        return -ENOMEM;
    for (long i = 0; i < s->n; i++) {
        run.slots[i].s = s;
        run.slots[i].run = &run;
        run.slots[i].index = s->first + i;
    }
    rc = weft_run(run_main, &run, NULL, &ro);
    if (rc < 0) {
        fprintf(stderr, "weft-models: weft_run: %s\n", weft_strerror(rc));
    } else {
        r->worst_ms = s->workload == MR_CPU ? -1 : 0;
        for (long i = 0; i < s->n; i++) {
            r->items += run.slots[i].done;
            r->checksum += run.slots[i].sum;
            if (s->workload != MR_CPU && run.slots[i].worst_ms > r->worst_ms)
                r->worst_ms = run.slots[i].worst_ms;
        }
        if (s->workload == MR_BLOCKING)
            r->worst_ms = run.beat_worst_ms;
        *extra_rss_kib = pool ? pool_rss(run.slots, s->n) : 0;
    }
    free(run.slots);
    return rc;
}
