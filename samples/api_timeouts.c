/* api_timeouts: seed 000's question 6.
 *
 * An API client that never hangs: each request gets a time-out
 * (asyncio.wait_for), a timed-out request is retried with exponential
 * backoff, and different operations get different time-outs. A time-out
 * scope (asyncio.timeout) bounds the whole exchange.
 */
#include <stdio.h>
#include <weft.h>

/* A flaky server: the first two attempts hang, the third answers. */
static int attempts;

static void *request(void *arg)
{
    int latency = ++attempts < 3 ? 10000 : 20;
    if (weft_sleep(latency) < 0)
        return weft_fail(WEFT_ECANCELED, "request abandoned");
    return arg;
}

/* One request with a time-out, retried with backoff (25, 50, 100 ms...). */
static int call_with_retries(const char *what, int64_t timeout_ms,
                             int tries, void **reply)
{
    int64_t backoff = 25;
    int rc = WEFT_ETIMEDOUT;

    for (int i = 1; i <= tries; i++) {
        weft_task *t;
        rc = weft_spawn(&t, request, (void *)what);
        if (rc < 0)
            return rc;
        rc = weft_wait_for(t, reply, timeout_ms);
        weft_task_unref(t);
        printf("  %s, attempt %d: %s\n", what, i,
               rc == 0 ? "ok" : weft_strerror(rc));
        if (rc != WEFT_ETIMEDOUT)
            return rc;
        if ((rc = weft_sleep(backoff)) < 0)
            return rc;
        backoff *= 2;
    }
    return WEFT_ETIMEDOUT;
}

static void *amain(void *arg)
{
    weft_scope whole;
    void *reply;
    (void)arg;

    /* The whole exchange may take 2 s at most. */
    weft_timeout_enter(&whole, 2000);
    int rc = call_with_retries("GET /profile", 100, 5, &reply);
    if (rc == 0)
        printf("  got %s\n", (const char *)reply);
    attempts = 0;
    /* A search may take longer than a profile lookup. */
    rc = call_with_retries("GET /search", 300, 2, &reply);
    printf("  search: %s\n", weft_strerror(rc));
    if (weft_scope_leave(&whole) == 1)
        printf("  the 2 s budget ran out\n");
    return NULL;
}

int main(void)
{
    return weft_run(amain, NULL, NULL, NULL) == 0 ? 0 : 1;
}
