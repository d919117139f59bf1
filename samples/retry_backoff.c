/* retry_backoff: seed 003's "async retry mechanism for failed operations"
 * (and seed 000's retry with exponential backoff).
 *
 *     for attempt in range(1, attempts + 1):
 *         try: return await op()
 *         except PermanentError: raise               # not worth retrying
 *         except TransientError:
 *             if attempt == attempts: raise
 *             await asyncio.sleep(min(cap, base * 2 ** (attempt - 1))
 *                                 * (1 - random() * jitter))
 *     # all of it under asyncio.timeout(deadline)
 *
 * weft_retry does the loop: the attempts, exponential delays with a cap
 * and jitter, an overall deadline, a retry_if predicate that tells
 * transient errors from permanent ones, and an on_retry hook that logs.
 * Three simulated servers: one that recovers, one that refuses for good,
 * and one that is down past the deadline. The jittered delays are checked,
 * not printed, so the output is the same on every run.
 */
#include <stdio.h>
#include <weft.h>

/* A simulated operation: each call takes 10 ms and fails with errors[i]
 * on the i-th call while i < failures, then succeeds. */
struct flaky {
    const char *name;
    int failures;
    int errors[3];      /* used in turn */
    int calls;
};

static int call_flaky(void *arg)
{
    struct flaky *op = arg;
    int rc = weft_sleep(10);
    if (rc < 0)
        return rc; /* cancelled, or the deadline passed */
    int i = op->calls++;
    return i < op->failures ? op->errors[i % 3] : 0;
}

/* Connection trouble is worth another attempt; anything else (a refused
 * password, a bad request) will fail the same way again. */
static bool is_transient(int err, void *arg)
{
    (void)arg;
    return err == WEFT_ECONNREFUSED || err == WEFT_ECONNRESET ||
           err == WEFT_ETIMEDOUT || err == WEFT_EHOSTUNREACH;
}

/* What on_retry needs to log and check each delay. */
struct log {
    const weft_retry_opts *opts;
    int bad_delays;     /* delays outside what the options allow */
};

static void log_retry(unsigned attempt, int err, int64_t delay_ms, void *arg)
{
    struct log *log = arg;
    const weft_retry_opts *o = log->opts;

    /* The nominal delay: initial x multiplier^(attempt-1), capped. */
    double nominal = (double)o->initial_ms;
    for (unsigned i = 1; i < attempt; i++)
        nominal *= o->multiplier;
    if (o->max_ms > 0 && nominal > (double)o->max_ms)
        nominal = (double)o->max_ms;
    /* Jitter takes up to jitter x nominal off (rounded up to a ms). */
    if ((double)delay_ms > nominal ||
        (double)delay_ms < nominal * (1 - o->jitter))
        log->bad_delays++;
    if (o->jitter == 0)
        printf("  attempt %u: %s, retrying in %lld ms\n", attempt,
               weft_err_name(err), (long long)delay_ms);
    else
        printf("  attempt %u: %s, retrying in at most %.0f ms\n", attempt,
               weft_err_name(err), nominal);
}

struct scenario {
    const char *title;
    struct flaky op;
    weft_retry_opts opts;
    int expect_rc;
    int expect_calls;
};

static int run(struct scenario *s)
{
    struct log log = { &s->opts, 0 };

    s->opts.retry_if = is_transient;
    s->opts.on_retry = log_retry;
    s->opts.arg = &log;
    printf("%s\n", s->title);
    int64_t t0 = weft_now();
    int rc = weft_retry(call_flaky, &s->op, &s->opts);
    int64_t elapsed = weft_now() - t0;
    printf("  -> %s after %d attempt(s)", weft_err_name(rc), s->op.calls);
    if (rc == WEFT_ETIMEDOUT && s->opts.timeout_ms > 0 &&
        elapsed >= s->opts.timeout_ms)
        printf(": the %lld ms deadline passed\n", (long long)s->opts.timeout_ms);
    else if (rc < 0 && !is_transient(rc, NULL))
        printf(": permanent, not retried\n");
    else
        printf("\n");
    if (rc != s->expect_rc || s->op.calls != s->expect_calls ||
        log.bad_delays > 0) {
        fprintf(stderr, "%s: expected %s after %d attempts, %d bad delays\n",
                s->op.name, weft_err_name(s->expect_rc), s->expect_calls,
                log.bad_delays);
        return WEFT_EIO;
    }
    return 0;
}

static void *amain(void *arg)
{
    struct scenario scenarios[] = {
        { "GET /orders: refused or timed out 3 times, then answers",
          { "orders", 3, { WEFT_ECONNREFUSED, WEFT_ETIMEDOUT, WEFT_ECONNREFUSED }, 0 },
          { .attempts = 5, .initial_ms = 20, .max_ms = 100, .multiplier = 2,
            .jitter = 0.5, .timeout_ms = 1000 },
          0, 4 },
        { "POST /login: times out, then rejects the password for good",
          { "login", 3, { WEFT_ETIMEDOUT, WEFT_EACCES, WEFT_EACCES }, 0 },
          { .attempts = 5, .initial_ms = 20, .max_ms = 100, .multiplier = 2,
            .jitter = 0.5, .timeout_ms = 1000 },
          WEFT_EACCES, 2 },
        { "GET /status: always refused, 250 ms deadline (no jitter)",
          { "status", 1000, { WEFT_ECONNREFUSED, WEFT_ECONNREFUSED, WEFT_ECONNREFUSED }, 0 },
          { .attempts = 10, .initial_ms = 40, .max_ms = 1000, .multiplier = 2,
            .jitter = 0, .timeout_ms = 250 },
          WEFT_ETIMEDOUT, 3 },
    };
    int failed = 0;
    (void)arg;

    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
        if (run(&scenarios[i]) < 0)
            failed++;
    if (failed > 0)
        return weft_fail(WEFT_EIO, "%d scenario(s) went wrong", failed);
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    return weft_run(amain, NULL, NULL, NULL) == 0 ? 0 : 1;
}
