/* dashboard: seed 000's question 7 and seed 002's question 6.
 *
 * A dashboard fetches user data, orders and analytics at once. With
 * asyncio.gather(..., return_exceptions=True) one failing service does not
 * sink the others (partial success); without it, the first failure cancels
 * the rest. weft_gather does both, by mode.
 */
#include <stdio.h>
#include <weft.h>

struct service {
    const char *name;
    int latency_ms;
    int fails;      /* the analytics service is down today */
};

static void *fetch(void *arg)
{
    const struct service *s = arg;
    int rc = weft_sleep(s->latency_ms);  /* the network round trip */
    if (rc < 0)
        return weft_fail(rc, "%s: interrupted", s->name);
    if (s->fails)
        return weft_fail(WEFT_ECONNREFUSED, "%s: service unavailable", s->name);
    return (void *)s->name;
}

static const struct service services[] = {
    { "user data", 30, 0 }, { "orders", 50, 0 }, { "analytics", 20, 1 },
};
#define N 3

static int show(int mode)
{
    weft_task *t[N];
    weft_outcome out[N];
    int rc;

    for (int i = 0; i < N; i++) {
        rc = weft_spawn(&t[i], fetch, (void *)&services[i]);
        if (rc < 0)
            return rc;
    }
    int64_t t0 = weft_now();
    rc = weft_gather(t, N, mode, out);
    printf("  gather returned %s after %lld ms\n", weft_err_name(rc),
           (long long)(weft_now() - t0));
    for (int i = 0; i < N; i++) {
        if (out[i].err == 0)
            printf("  %-10s ok\n", (const char *)out[i].result);
        else
            printf("  %-10s %s%s%s\n", services[i].name,
                   weft_err_name(out[i].err),
                   weft_task_errmsg(t[i]) != NULL ? ": " : "",
                   weft_task_errmsg(t[i]) != NULL ? weft_task_errmsg(t[i]) : "");
        weft_task_unref(t[i]);
    }
    return 0;
}

static void *amain(void *arg)
{
    (void)arg;
    printf("partial success (return_exceptions=True):\n");
    show(WEFT_GATHER_COLLECT);
    printf("fail fast (the first failure cancels the others):\n");
    show(WEFT_GATHER_FAIL_FAST);
    return NULL;
}

int main(void)
{
    return weft_run(amain, NULL, NULL, NULL) == 0 ? 0 : 1;
}
