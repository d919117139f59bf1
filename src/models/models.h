/* weft-models: the same workloads under each concurrency model.
 *
 * The parent (runner.c) runs every measurement in a fresh child process,
 * so that each model's peak memory is its own: the child is weft-models
 * itself with the hidden subcommand __run (measure.c), or the Python
 * script. The child prints one report line; the parent checks it against
 * the result it expects, takes the median of the repeats, and hands the
 * results to the writers (report.c) and the verdicts (verdict.c), which
 * are pure functions of a results struct so that they can be tested.
 */
#ifndef WEFT_MODELS_H
#define WEFT_MODELS_H

#include <stdint.h>
#include <stdio.h>

/* --- workloads ------------------------------------------------------- */

enum mr_workload { MR_IO, MR_WAIT, MR_CPU, MR_BLOCKING, MR_NWORKLOADS };

/* One run's parameters, as passed to a child on its command line. */
struct mr_spec {
    int workload;    /* enum mr_workload */
    long n;          /* io: connections; wait: waits; cpu: jobs;
                        blocking: calls */
    long m;          /* io: round trips per connection; wait: ms; cpu:
                        fib's n; blocking: ms per call */
    long first;      /* the index of the first item (a process's share) */
    int offload;     /* blocking: 1 to offload the calls (to_thread) */
};

/* What a child reports: one line of key=value words. */
struct mr_report {
    long items;        /* items done and checked */
    long long checksum;
    double wall_s;     /* the run, start to end */
    double cpu_s;      /* user + system, children included */
    long maxrss_kib;   /* peak RSS, summed over the processes used */
    double worst_ms;   /* the workload's worst latency; < 0: none */
    char skip[160];    /* not empty: the model cannot run here, why */
};

/* The fib job i of a batch: its size varies a little, as real jobs do. */
static inline long mr_fib_arg(long m, long i)
{
    return m - i % 3;
}

long long mr_fib(long n);
/* The checksum a spec must produce. */
long long mr_expected_checksum(const struct mr_spec *s);
/* The number of items a spec must produce. */
long mr_expected_items(const struct mr_spec *s);

int mr_report_format(char *buf, size_t cap, const struct mr_report *r);
int mr_report_parse(const char *line, struct mr_report *r);

/* --- measure.c: the child side ------------------------------------------ */

/* weft-models __run WORKLOAD MODEL N M FIRST OFFLOAD FD: runs one
 * measurement and writes its report line to FD. */
int mr_child_main(int argc, char **argv);

/* The weft workloads (work_weft.c), for 1 worker (loop), one per CPU
 * (steal, workers 0) or the loop with the process pool (pool != 0).
 * They fill items, checksum and worst_ms; extra_rss_kib gets the pool's
 * processes' peak RSS. Return 0, a negative errno (message printed). */
int mr_weft_run(const struct mr_spec *s, unsigned workers, int pool,
                struct mr_report *r, long *extra_rss_kib);
/* Registers the pool's function; before weft_run. */
int mr_weft_register_pool(void);

/* The thread-per-task workloads (work_threads.c). Return 0, a negative
 * errno, or 1 with r->skip set (not enough threads here). */
int mr_threads_run(const struct mr_spec *s, struct mr_report *r);

/* --- results, writers and verdicts -------------------------------------- */

#define MR_ROWS_MAX 16

enum mr_status { MR_OK, MR_SKIP };

struct mr_row {
    char model[24];    /* loop, steal, threads, procs, loop+pool, py-... */
    char variant[16];  /* "", or blocking's "inline" / "to_thread" */
    int status;        /* enum mr_status */
    char reason[200];  /* why skipped */
    double wall_s, rate, cpu_s;
    long maxrss_kib;
    double worst_ms;   /* < 0: the workload has none */
    double speedup;    /* baseline wall / wall; < 0: no baseline */
    char check[48];    /* what was verified, e.g. "100000 trips ok" */
};

struct mr_workload_result {
    char name[16];     /* io, wait, cpu, blocking */
    char desc[200];    /* what was run, with its sizes */
    char unit[24];     /* of rate, e.g. "trips/s" */
    char worst[32];    /* what worst_ms is, e.g. "max round trip" */
    struct mr_row rows[MR_ROWS_MAX];
    int nrows;
    char verdict[1000];
    double cpus_free;  /* CPUs this program could use as the workload
                          began (a spin of a thread per CPU); < 0: unknown.
                          Other work on the machine takes the rest. */
};

struct mr_results {
    int cpus, quick, repeat;
    struct mr_workload_result w[MR_NWORKLOADS];
    int nw;
};

/* A row's label: model, and variant in parentheses if any. */
void mr_row_label(const struct mr_row *row, char *buf, size_t cap);

/* report.c. Each returns 0, or -1 if writing failed. */
int mr_write_table(FILE *f, const struct mr_results *res);
int mr_write_csv(FILE *f, const struct mr_results *res);
int mr_write_json(FILE *f, const struct mr_results *res);
int mr_write_svg(FILE *f, const struct mr_results *res);

/* verdict.c: fills w->verdict from its rows. */
void mr_verdict(struct mr_workload_result *w, int cpus);

#endif /* WEFT_MODELS_H */
