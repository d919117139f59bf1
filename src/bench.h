/* What weft-bench's subcommands share: options, one run's figures, the
 * clock. Each workload file defines weft_fn mains taking { opts, sample }. */
#ifndef WEFT_BENCH_H
#define WEFT_BENCH_H

#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

struct bench_opts {
    long tasks;
    long yields;
    long sleep_ms;
    long fib_n;
    long batch;
    int runs;
    unsigned workers;
    int stats;
    long threads;   /* -x: an executor's size (offload); 0: default pool */
    long conns;     /* -c: connections (echo) or client tasks (accept) */
    int workers_set; /* -w was given */
    int tasks_zero;  /* -n 0 was given (w4's baseline) */
    int yields_set;  /* -y was given */
    int compact;     /* --compact: w4's tasks are WEFT_SPAWN_COMPACT */
};

/* What one run measured. */
struct sample {
    double seconds;
    double per_task_kib;
    long peak_rss_kib;
    double extra;       /* a second figure, if the workload has one */
};

/* This process's peak resident set, in KiB (getrusage). */
static inline long bench_peak_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static inline double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Nanoseconds since t0 (CLOCK_MONOTONIC), saturated to 32 bits. */
static inline uint32_t bench_ns_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int64_t ns = (int64_t)(t1.tv_sec - t0->tv_sec) * 1000000000 +
                 (t1.tv_nsec - t0->tv_nsec);
    return ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

/* For qsort: doubles in ascending order. */
static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v[0, n) and returns its median. */
static inline double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return v[n / 2];
}

/* bench_sync.c: locks and queues. */
void *lock_main(void *arg);
void *lock_handoff_main(void *arg);
void *queue_ping_pong_main(void *arg);
void *queue_throughput_main(void *arg);

/* bench_offload.c: to_thread, executors and the process pool; each runs
 * its runtimes itself and prints its line. Return an exit status. */
int bench_offload(const struct bench_opts *o);
int bench_to_thread_latency(const struct bench_opts *o);
int bench_process_call(const struct bench_opts *o);

/* bench_io.c: TCP on 127.0.0.1; each prints its line. Return an exit
 * status. bench_echo_child runs the hidden subcommands __echo-server and
 * __echo-client, the two processes echo starts. */
int bench_echo(const struct bench_opts *o);
/* Prints each worker's weft_worker_stats of the last runtime. */
void bench_print_stats(void);
int bench_echo_child(int argc, char **argv);
int bench_stream(const struct bench_opts *o);
int bench_spawn_process(const struct bench_opts *o);

/* bench_echo_plain.c: echo's baseline, a bare epoll loop per process. */
int echo_plain_server(int listen_fd, long conns, int threads);
int echo_plain_client(int port, long conns, long msgs, int threads,
                      uint32_t *trips, double *secs);
int bench_accept(const struct bench_opts *o);

/* bench_scale.c: w1..w4, the workloads the peers were measured on; and
 * the fresh process w4 runs each size in ("weft-bench __w4 N WORKERS"). */
int bench_scale(const char *cmd, const struct bench_opts *o);
int bench_scale_w4_child(int argc, char **argv);

#endif /* WEFT_BENCH_H */
