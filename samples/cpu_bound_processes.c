/* cpu_bound_processes: seed 002 Q5 (multiprocessing for CPU-bound work)
 * and seed 004's asyncio vs multiprocessing comparison.
 *
 *     results = [count_primes(r) for r in ranges]          # on the loop
 *     with ProcessPoolExecutor() as pool:                   # in processes
 *         results = await asyncio.gather(*(loop.run_in_executor(
 *             pool, count_primes, r) for r in ranges))
 *
 * Counts the primes in four ranges twice: inline on the one worker, which
 * computes them one after the other and serves no other task meanwhile;
 * then as four weft_process_call()s on a pool of two processes, which
 * compute in parallel while the task waits. The results must agree; the
 * times are printed, not checked (the machine may be busy).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft.h>

#define JOBS 4
#define SPAN 600000L

static long count_primes(long lo, long hi)
{
    long n = 0;
    for (long i = lo < 2 ? 2 : lo; i < hi; i++) {
        int prime = 1;
        for (long d = 2; d * d <= i; d++) {
            if (i % d == 0) {
                prime = 0;
                break;
            }
        }
        n += prime;
    }
    return n;
}

/* The pool's side: a range in, a count out, as bytes. */
static int count_primes_bytes(const void *in, size_t len, void **out,
                              size_t *out_len)
{
    long range[2], n;

    if (len != sizeof range)
        return WEFT_EINVAL;
    memcpy(range, in, sizeof range);
    n = count_primes(range[0], range[1]);
    if ((*out = malloc(sizeof n)) == NULL)
        return WEFT_ENOMEM;
    memcpy(*out, &n, sizeof n);
    *out_len = sizeof n;
    return 0;
}

struct job {
    long range[2];
    long count;
};

static void *in_process(void *arg)
{
    struct job *j = arg;
    void *out;
    size_t len;
    int rc = weft_process_call("count_primes", j->range, sizeof j->range,
                               &out, &len);
    if (rc < 0)
        return weft_fail(rc, "count_primes");
    if (len != sizeof j->count) {
        weft_free(out);
        return weft_fail(WEFT_EIO, "bad reply");
    }
    memcpy(&j->count, out, sizeof j->count);
    weft_free(out);
    return NULL;
}

static void *amain(void *arg)
{
    struct job inline_jobs[JOBS], pool_jobs[JOBS];
    weft_task *tasks[JOBS];
    weft_outcome outcomes[JOBS];
    int rc;
    (void)arg;

    for (int i = 0; i < JOBS; i++) {
        long lo = i * SPAN, hi = (i + 1) * SPAN;
        inline_jobs[i] = (struct job){ { lo, hi }, 0 };
        pool_jobs[i] = inline_jobs[i];
    }
    int64_t t0 = weft_now();
    for (int i = 0; i < JOBS; i++)
        inline_jobs[i].count = count_primes(inline_jobs[i].range[0],
                                            inline_jobs[i].range[1]);
    int64_t inline_ms = weft_now() - t0;

    t0 = weft_now();
    for (int i = 0; i < JOBS; i++) {
        rc = weft_spawn(&tasks[i], in_process, &pool_jobs[i]);
        if (rc < 0)
            return weft_fail(rc, "spawn");
    }
    rc = weft_gather(tasks, JOBS, WEFT_GATHER_FAIL_FAST, outcomes);
    for (int i = 0; i < JOBS; i++)
        weft_task_unref(tasks[i]);
    if (rc < 0)
        return weft_fail(rc, "a process call failed");
    int64_t pool_ms = weft_now() - t0;

    long total = 0;
    for (int i = 0; i < JOBS; i++) {
        if (pool_jobs[i].count != inline_jobs[i].count)
            return weft_fail(WEFT_EIO, "range %d: %ld vs %ld primes", i,
                             pool_jobs[i].count, inline_jobs[i].count);
        total += pool_jobs[i].count;
    }
    weft_process_stats st;
    if ((rc = weft_process_get_stats(&st)) < 0)
        return weft_fail(rc, "process stats");
    printf("primes below %ld: %ld, counted in %d ranges\n", JOBS * SPAN,
           total, JOBS);
    printf("  on the event loop (one after another): %5lld ms\n",
           (long long)inline_ms);
    printf("  on %u processes (in parallel):          %5lld ms\n",
           st.processes, (long long)pool_ms);
    printf("  speed-up: %.1fx (results agree)\n",
           pool_ms > 0 ? (double)inline_ms / (double)pool_ms : 0.0);
    return NULL;
}

int main(void)
{
    weft_run_opts opts = { .workers = 1, .processes = 2 };
    int rc = weft_process_register("count_primes", count_primes_bytes);
    if (rc == 0)
        rc = weft_run(amain, NULL, NULL, &opts);
    if (rc < 0)
        fprintf(stderr, "cpu_bound_processes: %s\n", weft_strerror(rc));
    weft_process_unregister("count_primes");
    return rc == 0 ? 0 : 1;
}
