/* blocking_vs_to_thread: seed 002 Q2, seed 003 "Working with Synchronous
 * Code" and seed 004 "Blocking vs Non-Blocking".
 *
 *     async def heartbeat():            # ticks every 10 ms
 *         while True: await asyncio.sleep(0.01); ticks += 1
 *     time.sleep(0.2)                   # blocks the loop: no ticks
 *     await asyncio.to_thread(time.sleep, 0.2)   # the loop keeps ticking
 *
 * On one worker (asyncio's single loop), a heartbeat task ticks every
 * 10 ms while another task makes a 200 ms blocking call, first inline,
 * then offloaded with weft_to_thread. Inline, the heartbeat stalls for
 * the whole call; offloaded, it keeps its rhythm. The bounds checked are
 * loose, so a slow machine does not fail them, but a stall would.
 */
#include <stdio.h>
#include <time.h>
#include <weft.h>

#define CALL_MS 200

struct beat {
    int ticks;          /* during the call */
    int64_t last;       /* the previous tick */
    int64_t max_gap;    /* the longest gap between ticks during the call */
    int counting;
    weft_event stop;
};

static void *heartbeat(void *arg)
{
    struct beat *b = arg;

    b->last = weft_now();
    while (weft_event_wait(&b->stop, 10) == WEFT_ETIMEDOUT) {
        int64_t now = weft_now();
        if (b->counting) {
            b->ticks++;
            if (now - b->last > b->max_gap)
                b->max_gap = now - b->last;
        }
        b->last = now;
    }
    return NULL;
}

/* A blocking library call: it knows nothing of weft. */
static void *blocking_call(void *arg)
{
    struct timespec ts = { 0, CALL_MS * 1000000L };
    (void)arg;
    nanosleep(&ts, NULL);
    return NULL;
}

/* Runs the call one way with the heartbeat going; returns 0 or an error. */
static int trial(struct beat *b, int offload)
{
    weft_task *hb;
    int rc;

    *b = (struct beat){ 0 };
    weft_event_init(&b->stop);
    rc = weft_spawn(&hb, heartbeat, b);
    if (rc < 0)
        return rc;
    weft_sleep(30); /* let it settle into its rhythm */
    b->counting = 1;
    b->last = weft_now();
    if (offload)
        rc = weft_to_thread(blocking_call, NULL, NULL);
    else
        blocking_call(NULL); /* the mistake: the worker is stuck here */
    b->counting = 0;
    /* The gap still open when the call ended counts too. */
    if (weft_now() - b->last > b->max_gap)
        b->max_gap = weft_now() - b->last;
    weft_event_set(&b->stop);
    int hrc = weft_await(hb, NULL);
    weft_task_unref(hb);
    weft_event_destroy(&b->stop);
    return rc < 0 ? rc : hrc;
}

static void *amain(void *arg)
{
    struct beat inline_b, offload_b;
    int rc;
    (void)arg;

    if ((rc = trial(&inline_b, 0)) < 0 || (rc = trial(&offload_b, 1)) < 0)
        return weft_fail(rc, "trial");
    printf("a %d ms blocking call on one worker, heartbeat every 10 ms:\n",
           CALL_MS);
    printf("  %-26s %6s %14s\n", "", "ticks", "longest gap");
    printf("  %-26s %6d %11lld ms\n", "inline (blocks the loop)",
           inline_b.ticks, (long long)inline_b.max_gap);
    printf("  %-26s %6d %11lld ms\n", "weft_to_thread", offload_b.ticks,
           (long long)offload_b.max_gap);
    if (inline_b.max_gap < CALL_MS * 3 / 4)
        return weft_fail(WEFT_EIO, "the inline call did not stall the loop");
    if (offload_b.ticks < 5 || offload_b.max_gap > CALL_MS / 2)
        return weft_fail(WEFT_EIO, "the heartbeat stalled while offloaded");
    printf("offloaded, the other tasks kept running.\n");
    return NULL;
}

int main(void)
{
    weft_run_opts opts = { .workers = 1 };
    int rc = weft_run(amain, NULL, NULL, &opts);
    if (rc < 0)
        fprintf(stderr, "blocking_vs_to_thread: %s\n", weft_strerror(rc));
    return rc == 0 ? 0 : 1;
}
