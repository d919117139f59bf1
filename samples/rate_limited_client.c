/* rate_limited_client: seed 000's question 9 and seed 003's "rate limiter
 * using Semaphore".
 *
 *     sem = asyncio.Semaphore(3)            # at most 3 calls at a time
 *     async with sem:
 *         await bucket.acquire()            # at most 20 calls a second
 *         await call_api(i)
 *
 * A Semaphore bounds how many requests are in flight; it does not bound
 * how many start per second: fast replies would let the next ones start
 * at once. A token bucket (weft_limiter) bounds the rate: a burst of 5,
 * then 20 a second. A Lock protects the shared statistics, which tasks
 * on different worker threads update.
 *
 * 20 simulated requests (60 to 100 ms each): the first 5 use the burst,
 * the other 15 come at 20 a second, so the last starts after 750 ms.
 */
#include <stdio.h>
#include <stdlib.h>
#include <weft.h>

#define REQUESTS 20
#define CONCURRENCY 3
#define RATE 20.0   /* requests a second */
#define BURST 5

static weft_semaphore slots;
static weft_limiter *bucket;

static weft_lock stats_lock;   /* protects what follows */
static int in_flight, max_in_flight, started;
static int64_t start_ms[REQUESTS]; /* since t0, in the order they started */
static int64_t t0;

/* The statistics, under the lock: a request starts (at `at`, when the
 * bucket let it), and ends. */
static int note_start(int64_t at)
{
    int rc;
    WEFT_WITH_LOCK(&stats_lock, rc) {
        start_ms[started++] = at;
        if (++in_flight > max_in_flight)
            max_in_flight = in_flight;
    }
    return rc;
}

static int note_end(void)
{
    int rc;
    WEFT_WITH_LOCK(&stats_lock, rc) {
        in_flight--;
    }
    return rc;
}

static void *request(void *arg)
{
    int id = (int)(intptr_t)arg;
    int rc, err = 0;

    WEFT_WITH_SEMAPHORE(&slots, rc) {
        /* A slot is ours; now wait until the bucket allows one more. */
        if ((err = weft_limiter_acquire(bucket, 1, 2000)) < 0 ||
            (err = note_start(weft_now() - t0)) < 0)
            break; /* leaves the block, which releases the slot */
        err = weft_sleep(60 + (id * 7 % 5) * 10); /* the API answers */
        int end = note_end();
        if (err == 0)
            err = end;
    }
    if (rc < 0)
        err = rc; /* no slot: the block did not run */
    if (err < 0)
        return weft_fail(err, "request %d: %s", id, weft_strerror(err));
    return NULL;
}

/* True if, in every stretch of time, no more requests started than the
 * bucket allows: BURST + RATE x its length. A start is stamped a moment
 * after the bucket let it, and that moment grows when the machine is
 * busy (under valgrind, tens of ms): a late stamp of an early request
 * makes a stretch look shorter than it was. So the stretch gets SLACK_MS
 * more, besides 1 ms of clock rounding. */
#define SLACK_MS 25

static int by_time(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static bool rate_respected(void)
{
    /* Stamped before the lock that orders them: sort by time. */
    qsort(start_ms, REQUESTS, sizeof start_ms[0], by_time);
    for (int i = 0; i < REQUESTS; i++)
        for (int j = i; j < REQUESTS; j++)
            if (j - i + 1 > BURST + RATE * (double)(start_ms[j] - start_ms[i] +
                                                    1 + SLACK_MS) / 1000)
                return false;
    return true;
}

static void *amain(void *arg)
{
    weft_task *tasks[REQUESTS] = { 0 };
    int rc, err = 0;
    (void)arg;

    if ((rc = weft_semaphore_init(&slots, CONCURRENCY)) < 0 ||
        (rc = weft_lock_init(&stats_lock)) < 0 ||
        (rc = weft_limiter_create(&bucket, RATE, BURST)) < 0)
        return weft_fail(rc, "setup: %s", weft_strerror(rc));
    t0 = weft_now();
    for (int i = 0; i < REQUESTS && err == 0; i++)
        err = weft_spawn(&tasks[i], request, (void *)(intptr_t)i);
    for (int i = 0; i < REQUESTS; i++) {
        if (tasks[i] == NULL)
            continue;
        rc = weft_await(tasks[i], NULL);
        if (rc < 0) {
            fprintf(stderr, "%s\n", weft_task_errmsg(tasks[i]));
            if (err == 0)
                err = rc;
        }
        weft_task_unref(tasks[i]);
    }
    if ((rc = weft_limiter_destroy(bucket)) < 0 && err == 0)
        err = rc;
    if ((rc = weft_lock_destroy(&stats_lock)) < 0 && err == 0)
        err = rc;
    if ((rc = weft_semaphore_destroy(&slots)) < 0 && err == 0)
        err = rc;
    if (err < 0)
        return weft_fail(err, "rate_limited_client: %s", weft_strerror(err));

    bool ok = started == REQUESTS && max_in_flight <= CONCURRENCY &&
              rate_respected(); /* sorts start_ms */
    /* The requests after the burst came at the bucket's rate. */
    double rate = (REQUESTS - BURST) * 1000.0 / (double)start_ms[REQUESTS - 1];
    printf("%d requests, at most %d at a time, at most %.0f a second after "
           "a burst of %d\n", REQUESTS, CONCURRENCY, RATE, BURST);
    printf("requests started: %d\n", started);
    printf("max concurrency observed: %d\n", max_in_flight);
    printf("achieved rate after the burst: %.0f requests/s\n", rate);
    printf("limits respected: %s\n", ok ? "yes" : "NO");
    return ok ? NULL : weft_fail(WEFT_EIO, "a limit was exceeded");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    return weft_run(amain, NULL, NULL, NULL) == 0 ? 0 : 1;
}
