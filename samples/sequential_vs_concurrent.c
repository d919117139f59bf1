/* sequential_vs_concurrent: seed 004's first lesson.
 *
 * Three tasks sleep 1 s, 2 s and 1 s. Awaited one after another they take
 * the sum, about 4 s; started together and then gathered they take the
 * longest, about 2 s. The asyncio original:
 *
 *     await task1(); await task2(); await task3()          # ~4 s
 *     await asyncio.gather(task1(), task2(), task3())      # ~2 s
 *
 * Usage: sequential_vs_concurrent [SCALE_MS]   (default 1000: 1 s units)
 */
#include <stdio.h>
#include <stdlib.h>
#include <weft.h>

struct job {
    const char *name;
    int units; /* how many SCALE_MS it sleeps */
};

static const struct job jobs[] = {
    { "task1", 1 }, { "task2", 2 }, { "task3", 1 },
};
#define NJOBS (sizeof jobs / sizeof jobs[0])

static int64_t scale_ms = 1000;
static int64_t start_ms;

static void *run_job(void *arg)
{
    const struct job *job = arg;
    printf("  %6.3f s  %s starts, sleeps %d unit(s)\n",
           (double)(weft_now() - start_ms) / 1000, job->name, job->units);
    weft_sleep(job->units * scale_ms);
    printf("  %6.3f s  %s done\n", (double)(weft_now() - start_ms) / 1000,
           job->name);
    return NULL;
}

/* Awaits each task before starting the next: total = sum. */
static int sequential(void)
{
    for (size_t i = 0; i < NJOBS; i++) {
        weft_task *t;
        int rc = weft_spawn_ex(&t, run_job, (void *)&jobs[i],
                               &(weft_spawn_opts){ .name = jobs[i].name });
        if (rc < 0)
            return rc;
        rc = weft_await(t, NULL);
        weft_task_unref(t);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Starts all, then awaits all (a gather): total = max. */
static int concurrent(void)
{
    weft_task *t[NJOBS] = { 0 };
    int rc = 0;

    for (size_t i = 0; i < NJOBS && rc == 0; i++)
        rc = weft_spawn_ex(&t[i], run_job, (void *)&jobs[i],
                           &(weft_spawn_opts){ .name = jobs[i].name });
    for (size_t i = 0; i < NJOBS; i++) {
        if (t[i] != NULL) {
            int err = weft_await(t[i], NULL);
            if (rc == 0)
                rc = err;
            weft_task_unref(t[i]);
        }
    }
    return rc;
}

static void *amain(void *arg)
{
    int rc;
    (void)arg;

    printf("sequential: await each task in turn\n");
    start_ms = weft_now();
    rc = sequential();
    if (rc < 0)
        return weft_fail(rc, "sequential: %s", weft_strerror(rc));
    int64_t seq_ms = weft_now() - start_ms;
    printf("sequential took %.3f s\n\n", (double)seq_ms / 1000);

    printf("concurrent: start all three, then await them all\n");
    start_ms = weft_now();
    rc = concurrent();
    if (rc < 0)
        return weft_fail(rc, "concurrent: %s", weft_strerror(rc));
    int64_t con_ms = weft_now() - start_ms;
    printf("concurrent took %.3f s\n\n", (double)con_ms / 1000);

    printf("%-12s %10s\n", "model", "seconds");
    printf("%-12s %10.3f\n", "sequential", (double)seq_ms / 1000);
    printf("%-12s %10.3f\n", "concurrent", (double)con_ms / 1000);
    printf("speed-up    %10.2fx\n", (double)seq_ms / (double)con_ms);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        char *end;
        long v = strtol(argv[1], &end, 10);
        if (*end != '\0' || v < 1 || v > 60000) {
            fprintf(stderr, "usage: %s [SCALE_MS 1..60000]\n", argv[0]);
            return 2;
        }
        scale_ms = v;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rc = weft_run(amain, NULL, NULL, NULL);
    if (rc < 0) {
        fprintf(stderr, "sequential_vs_concurrent: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
