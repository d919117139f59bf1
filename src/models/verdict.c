/* weft-models: one line under each workload saying what its numbers show,
 * and whether that agrees with the seeds' table (asyncio for many
 * connections, threads for blocking libraries, processes for CPU-bound
 * work). Everything in it is computed from the rows. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "models.h"

/* A measured row by model and variant ("" matches "" or "inline"). */
static const struct mr_row *row_of(const struct mr_workload_result *w,
                                   const char *model, const char *variant)
{
    for (int i = 0; i < w->nrows; i++) {
        const struct mr_row *r = &w->rows[i];
        if (r->status != MR_OK || strcmp(r->model, model) != 0)
            continue;
        if (strcmp(r->variant, variant) == 0 ||
            (variant[0] == '\0' && strcmp(r->variant, "inline") == 0))
            return r;
    }
    return NULL;
}

/* The fastest measured row, weft's (python 0) or Python's (1). */
static const struct mr_row *fastest(const struct mr_workload_result *w,
                                    int python)
{
    const struct mr_row *best = NULL;
    for (int i = 0; i < w->nrows; i++) {
        const struct mr_row *r = &w->rows[i];
        if (r->status != MR_OK ||
            (strncmp(r->model, "py-", 3) == 0) != (python != 0))
            continue;
        if (best == NULL || r->wall_s < best->wall_s)
            best = r;
    }
    return best;
}

struct buf {
    char *p;
    size_t cap, len;
};

static void add(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void add(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    if (b->len >= b->cap)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        b->len += (size_t)n;
}

/* Starts the Python half of a verdict. */
static void py_prefix(struct buf *b)
{
    add(b, b->len > 0 ? ". Python: " : "Python: ");
}

static void label(const struct mr_row *r, char *s, size_t cap)
{
    mr_row_label(r, s, cap);
}

/* "X was fastest, N.NNx the single loop" for one side. */
static void winner(struct buf *b, const struct mr_workload_result *w,
                   int python)
{
    const struct mr_row *best = fastest(w, python);
    char l[48];
    if (best == NULL)
        return;
    label(best, l, sizeof l);
    if (best->speedup > 0 && best->speedup < 1.05)
        add(b, "no model beat %s by 5%% or more (best %s %.2fx)",
            python ? "py-asyncio" : "the single loop", l, best->speedup);
    else if (best->speedup > 0)
        add(b, "%s fastest (%.2fx %s)", l, best->speedup,
            python ? "py-asyncio" : "the single loop");
    else
        add(b, "%s fastest", l);
}

/* io and wait: thread-per-task against the event loop. In C, threads
 * run on every CPU, so the fair event loop to set them against is the
 * fastest one on every CPU too (steal or procs); Python's threads share
 * one interpreter, and meet py-asyncio. */
static void loop_vs_threads(struct buf *b, const struct mr_workload_result *w,
                            int python, int cpus, const char *what)
{
    const struct mr_row *loop = row_of(w, python ? "py-asyncio" : "loop", "");
    const struct mr_row *thr = row_of(w, python ? "py-threads" : "threads", "");
    if (!python && cpus > 1) {
        const struct mr_row *st = row_of(w, "steal", "");
        const struct mr_row *pr = row_of(w, "procs", "");
        if (pr != NULL && (st == NULL || pr->wall_s < st->wall_s))
            st = pr;
        if (st != NULL)
            loop = st;
    }
    if (loop == NULL || thr == NULL)
        return;
    double t = thr->wall_s / loop->wall_s;
    double c = loop->cpu_s > 0 ? thr->cpu_s / loop->cpu_s : 0;
    double m = loop->maxrss_kib > 0
                   ? (double)thr->maxrss_kib / (double)loop->maxrss_kib
                   : 0;
    add(b, "; %s took %.2fx the time of %s, %.1fx its CPU and %.1fx its "
           "memory",
        thr->model, t, loop->model, c, m);
    if (t >= 1 || m >= 2 || c >= 2)
        add(b, ": agrees with the seeds (asyncio for %s)", what);
    else
        add(b, ": contradicts the seeds (threads beat %s on %s)", loop->model,
            what);
}

static void io_wait(struct buf *b, const struct mr_workload_result *w,
                    int cpus, const char *what)
{
    winner(b, w, 0);
    loop_vs_threads(b, w, 0, cpus, what);
    const struct mr_row *steal = row_of(w, "steal", "");
    if (steal != NULL && cpus == 1)
        add(b, "; 1 CPU, so steal cannot run in parallel (%.2fx)",
            steal->speedup);
    if (fastest(w, 1) != NULL) {
        py_prefix(b);
        winner(b, w, 1);
        loop_vs_threads(b, w, 1, cpus, what);
    }
}

/* The CPUs a row kept busy on average: its CPU time over its wall time.
 * Unlike a speed-up it does not depend on how the baseline fared, so it
 * is what shows the GIL. */
static double busy(const struct mr_row *r)
{
    return r->wall_s > 0 ? r->cpu_s / r->wall_s : 0;
}

/* How a parallel model's speed-up compares with the seeds' "processes
 * for CPU-bound work". */
static void parallel(struct buf *b, const struct mr_workload_result *w,
                     const struct mr_row *par, int cpus)
{
    if (cpus < 2) {
        add(b, "; 1 CPU: no model can compute in parallel (%s %.2fx), "
               "contrary to the seeds' advice, which assumes more cores",
            par->model, par->speedup);
        return;
    }
    if (par->speedup >= 1.3 && busy(par) >= 1.3) {
        add(b, "; %s computed %.2fx faster, keeping %.1f of %d CPUs busy: "
               "agrees with the seeds (processes for CPU-bound work)",
            par->model, par->speedup, busy(par), cpus);
        return;
    }
    add(b, "; %s only %.2fx, keeping %.1f of %d CPUs busy: contradicts the "
           "seeds",
        par->model, par->speedup, busy(par), cpus);
    if (w->cpus_free >= 0 && w->cpus_free < cpus - 0.5)
        add(b, ", but other work held the CPUs (%.1f free as the workload "
               "began)",
            w->cpus_free);
}

/* A CPU-bound baseline that got less CPU than wall time was held up by
 * other work: every speed-up over it is inflated. */
static void baseline_check(struct buf *b, const struct mr_row *base)
{
    if (base != NULL && base->cpu_s < 0.9 * base->wall_s)
        add(b, "; %s had the CPU only %.0f%% of its wall time (other work), "
               "which inflates the speed-ups over it",
            base->model, 100 * base->cpu_s / base->wall_s);
}

static void cpu(struct buf *b, const struct mr_workload_result *w, int cpus)
{
    const struct mr_row *procs = row_of(w, "procs", "");
    const struct mr_row *pool = row_of(w, "loop+pool", "");
    const struct mr_row *thr = row_of(w, "threads", "");
    const struct mr_row *par = procs;

    if (pool != NULL && (par == NULL || pool->speedup > par->speedup))
        par = pool;
    winner(b, w, 0);
    if (par != NULL && par->speedup > 0)
        parallel(b, w, par, cpus);
    if (thr != NULL && cpus >= 2)
        add(b, "; C threads kept %.1f CPUs busy%s", busy(thr),
            busy(thr) >= 1.3 ? " (no GIL in C, unlike the seeds' threads)"
                             : "");
    if (par == NULL && cpus >= 2 && w->cpus_free >= 0 &&
        w->cpus_free < cpus - 0.5)
        add(b, "; only %.1f of %d CPUs were free as the workload began",
            w->cpus_free, cpus);
    baseline_check(b, row_of(w, "loop", ""));
    const struct mr_row *pa = row_of(w, "py-asyncio", "");
    const struct mr_row *pt = row_of(w, "py-threads", "");
    const struct mr_row *pp = row_of(w, "py-procs", "");
    if (pa != NULL) {
        py_prefix(b);
        winner(b, w, 1);
        if (pt != NULL && cpus >= 2)
            add(b, "; py-threads kept %.1f CPUs busy (%s)", busy(pt),
                busy(pt) < 1.3 ? "the GIL: agrees with the seeds"
                               : "contradicts the seeds' GIL");
        if (pp != NULL && pp->speedup > 0)
            parallel(b, w, pp, cpus);
        baseline_check(b, pa);
        double ratio = pa->rate > 0 && row_of(w, "loop", "") != NULL
                           ? row_of(w, "loop", "")->rate / pa->rate
                           : 0;
        if (ratio > 0)
            add(b, "; weft's loop ran %.0fx more jobs/s than py-asyncio",
                ratio);
    }
}

static void blocking(struct buf *b, const struct mr_workload_result *w,
                     int python)
{
    const char *lm = python ? "py-asyncio" : "loop";
    const struct mr_row *in = row_of(w, lm, "inline");
    const struct mr_row *off = row_of(w, lm, "to_thread");
    const struct mr_row *thr = row_of(w, python ? "py-threads" : "threads", "");

    if (python)
        py_prefix(b);
    if (in == NULL || off == NULL) {
        winner(b, w, python);
        return;
    }
    add(b, "%s inline held the heartbeat up to %.1f ms, to_thread %.1f ms",
        lm, in->worst_ms, off->worst_ms);
    if (thr != NULL)
        add(b, ", %s %.1f ms", thr->model, thr->worst_ms);
    add(b, "; to_thread ran the calls %.1fx faster", in->wall_s / off->wall_s);
    if (in->worst_ms > 4 * (off->worst_ms > 1 ? off->worst_ms : 1))
        add(b, ": agrees with the seeds (never block the loop; threads "
               "for blocking libraries)");
    else
        add(b, ": does not show the stall the seeds warn of");
}

void mr_verdict(struct mr_workload_result *w, int cpus)
{
    struct buf b = { w->verdict, sizeof w->verdict, 0 };

    w->verdict[0] = '\0';
    if (fastest(w, 0) == NULL && fastest(w, 1) == NULL) {
        add(&b, "nothing measured");
        return;
    }
    if (strcmp(w->name, "io") == 0)
        io_wait(&b, w, cpus, "many connections");
    else if (strcmp(w->name, "wait") == 0)
        io_wait(&b, w, cpus, "many waits");
    else if (strcmp(w->name, "cpu") == 0)
        cpu(&b, w, cpus);
    else {
        if (fastest(w, 0) != NULL)
            blocking(&b, w, 0);
        if (fastest(w, 1) != NULL)
            blocking(&b, w, 1);
    }
    if (b.len > 0 && b.len < b.cap - 1 && w->verdict[b.len - 1] != '.')
        add(&b, ".");
}
