/* task_group: seed 004's question 13, structured concurrency.
 *
 *     async with asyncio.TaskGroup() as tg:
 *         tg.create_task(task1())
 *         tg.create_task(task2())
 *     # waits for all; the first failure cancels the rest; errors are kept
 *
 * weft_group_wait is the end of the `async with` block: no child outlives
 * it.
 */
#include <stdio.h>
#include <weft.h>

struct job {
    const char *name;
    int ms;
    int err;
};

static void *work(void *arg)
{
    const struct job *j = arg;
    int rc = weft_sleep(j->ms);
    if (rc < 0) {
        printf("  %-8s cancelled by the group\n", j->name);
        return NULL;
    }
    if (j->err != 0)
        return weft_fail(j->err, "%s failed after %d ms", j->name, j->ms);
    printf("  %-8s done after %d ms\n", j->name, j->ms);
    return NULL;
}

static void run_group(const struct job *jobs, int n)
{
    weft_group *g;
    weft_group_create(&g);
    for (int i = 0; i < n; i++)
        weft_group_spawn(g, NULL, work, (void *)&jobs[i], NULL);
    int rc = weft_group_wait(g);
    ssize_t nerrors = weft_group_error_count(g);
    printf("  group: %s, %zd error(s)\n", weft_err_name(rc), nerrors);
    for (ssize_t i = 0; i < nerrors; i++) {
        weft_task *t;
        int err = weft_group_error(g, (size_t)i, &t);
        printf("    %s: %s\n", weft_err_name(err), weft_task_errmsg(t));
    }
    weft_group_destroy(g);
}

static void *amain(void *arg)
{
    static const struct job fine[] = { { "fetch", 20, 0 }, { "parse", 10, 0 } };
    static const struct job bad[] = { { "fetch", 50, 0 },
                                      { "parse", 10, WEFT_EINVAL },
                                      { "store", 60, 0 } };
    (void)arg;
    printf("all succeed:\n");
    run_group(fine, 2);
    printf("one fails:\n");
    run_group(bad, 3);
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    return weft_run(amain, NULL, NULL, NULL) == 0 ? 0 : 1;
}
