/* parallel_xargs: run a list of commands, at most four at once, each with
 * a time limit, and report each one's output and exit status in order
 * (a parallel `xargs -P 4`).
 *
 *     sem = asyncio.Semaphore(4)
 *     async def run(cmd):
 *         async with sem:
 *             p = await asyncio.create_subprocess_exec(*cmd, stdout=PIPE)
 *             try:
 *                 out, _ = await asyncio.wait_for(p.communicate(), 0.5)
 *             except TimeoutError:
 *                 p.terminate(); await p.wait(); return "timed out"
 *             return out
 *     results = await asyncio.gather(*(run(c) for c in commands))
 *
 * One command sleeps past its limit: it is sent SIGTERM, given 100 ms,
 * and reported as stopped by the signal (status -15). The program checks
 * that no more than four ran at once and that every status is what the
 * command must give.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <weft.h>

#define AT_ONCE 4
#define LIMIT_MS 500
#define GRACE_MS 100

struct job {
    char *argv[4];
    int want_status;      /* what the command must end with */
    int status;
    char out[64];
    int timed_out;
};

static struct job jobs[] = {
    { { "sh", "-c", "echo one", NULL }, 0, 0, "", 0 },
    { { "sh", "-c", "sleep 0.1; echo two", NULL }, 0, 0, "", 0 },
    { { "sh", "-c", "echo three; exit 3", NULL }, 3, 0, "", 0 },
    { { "sleep", "5", NULL }, -SIGTERM, 0, "", 0 }, /* past the limit */
    { { "sh", "-c", "sleep 0.05; echo five", NULL }, 0, 0, "", 0 },
    { { "sh", "-c", "echo six >&2; echo six", NULL }, 0, 0, "", 0 },
    { { "true", NULL }, 0, 0, "", 0 },
    { { "sh", "-c", "kill -KILL $$", NULL }, -SIGKILL, 0, "", 0 },
};
#define NJOBS (sizeof jobs / sizeof jobs[0])

static weft_semaphore slots;
static int running, most_running;

static int run(struct job *j)
{
    weft_subprocess_opts o = { .stdout_mode = WEFT_STDIO_PIPE,
                               .stderr_mode = WEFT_STDIO_DEVNULL };
    weft_subprocess *p;
    void *out = NULL;
    size_t len = 0;
    int rc = weft_subprocess_exec(&p, j->argv, &o);

    if (rc < 0)
        return rc;
    rc = weft_subprocess_communicate(p, NULL, 0, &out, &len, NULL, NULL,
                                     LIMIT_MS);
    if (rc == -ETIMEDOUT) {
        j->timed_out = 1;
        rc = weft_subprocess_terminate(p, GRACE_MS);
    }
    if (rc == 0)
        rc = weft_subprocess_wait(p, &j->status, WEFT_FOREVER);
    if (out != NULL) {
        snprintf(j->out, sizeof j->out, "%.*s", (int)strcspn(out, "\n"),
                 (char *)out);
        weft_free(out);
    }
    int crc = weft_subprocess_close(p);
    return rc < 0 ? rc : crc;
}

static void *worker(void *arg)
{
    struct job *j = arg;
    int rc = weft_semaphore_acquire(&slots, WEFT_FOREVER);

    if (rc < 0)
        return weft_fail(rc, "semaphore: %s", weft_strerror(rc));
    if (++running > most_running) /* one worker at a time: see main */
        most_running = running;
    rc = run(j);
    running--;
    weft_semaphore_release(&slots);
    return rc < 0 ? weft_fail(rc, "%s: %s", j->argv[0], weft_strerror(rc))
                  : NULL;
}

static void *amain(void *arg)
{
    weft_task *t[NJOBS];
    int failures = 0;

    (void)arg;
    weft_semaphore_init(&slots, AT_ONCE);
    for (size_t i = 0; i < NJOBS; i++) {
        if (weft_spawn(&t[i], worker, &jobs[i]) < 0)
            return weft_fail(WEFT_ENOMEM, "spawn failed");
    }
    for (size_t i = 0; i < NJOBS; i++) {
        int rc = weft_await(t[i], NULL);
        struct job *j = &jobs[i];
        if (rc < 0)
            printf("job %zu: %s\n", i + 1, weft_task_errmsg(t[i]));
        else if (j->timed_out)
            printf("job %zu: timed out after %d ms, stopped (status %d)\n",
                   i + 1, LIMIT_MS, j->status);
        else
            printf("job %zu: \"%s\" (status %d)\n", i + 1, j->out, j->status);
        if (rc < 0 || j->status != j->want_status)
            failures++;
        weft_task_unref(t[i]);
    }
    weft_semaphore_destroy(&slots);
    printf("at most %d ran at once\n", most_running);
    if (most_running > AT_ONCE)
        failures++;
    return failures == 0 ? NULL
                         : weft_fail(WEFT_EIO, "%d job(s) went wrong", failures);
}

int main(void)
{
    /* One worker, so that running and most_running need no atomics. */
    weft_run_opts o = { .workers = 1 };
    int rc = weft_run(amain, NULL, NULL, &o);
    if (rc != 0)
        fprintf(stderr, "parallel_xargs: %s\n", weft_strerror(rc));
    return rc == 0 ? 0 : 1;
}
