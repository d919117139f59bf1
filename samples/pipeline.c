/* pipeline: seed 000's questions 4 and 11, async iterators and a
 * streaming pipeline with backpressure.
 *
 *     async def records():                   # an async generator
 *         for i in range(30): yield Record(i)
 *     async for r in records(): await work.put(parse(r))    # the stage
 *     workers (x3): r = await work.get(); await results.put(compute(r))
 *     sink: async for r in results: store(r)
 *
 * The generator runs only when the stage asks for a record; the stage and
 * the workers wait when the channel ahead of them is full. So however
 * slow the sink (the slowest step here), the records in flight are
 * bounded: at most 4 in each channel, one in each worker's hands, one in
 * the stage's, one in the sink's, and the one being made. Closing a
 * channel ends the stage after it: the workers see -ESHUTDOWN once `work` is
 * closed and drained, the sink once `results` is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <weft.h>

#define RECORDS 30
#define WORKERS 3
#define CAP 4                                 /* each channel's buffer */
#define BOUND (CAP + WORKERS + CAP + 2)       /* + the sink's, the new one */

struct record {
    int id;
    int64_t value;
};

static weft_channel *work, *results;

static weft_lock stats_lock;   /* protects what follows */
static int produced, taken, consumed;
static int max_in_flight;      /* made by the generator, not yet stored */
static int max_lead;           /* made, not yet taken by the stage */

/* Counts under the lock: made (+1 produced), taken, stored. */
static int count(int *counter)
{
    int rc;
    WEFT_WITH_LOCK(&stats_lock, rc) {
        (*counter)++;
        if (produced - consumed > max_in_flight)
            max_in_flight = produced - consumed;
        if (produced - taken > max_lead)
            max_lead = produced - taken;
    }
    return rc;
}

/* The generator: makes a record each time one is asked for. */
static void *records(weft_generator *gen, void *arg)
{
    (void)arg;
    for (int i = 0; i < RECORDS; i++) {
        struct record *r = malloc(sizeof *r);
        if (r == NULL)
            return weft_fail(WEFT_ENOMEM, "records: out of memory");
        r->id = i;
        r->value = i;
        int rc = count(&produced);
        if (rc == 0)
            rc = weft_generator_yield(gen, r); /* r is the consumer's if 0 */
        if (rc < 0) {
            free(r); /* closed early: clean up and return */
            return NULL;
        }
    }
    return NULL;
}

/* The stage: iterates over the generator, parses each record and sends it
 * on; closes `work` when the records end, or it fails. */
static void *parse_stage(void *arg)
{
    weft_generator *gen;
    int rc, err = WEFT_ERANGE; /* unless the generator ends in time */
    (void)arg;

    rc = weft_generator_create(&gen, records, NULL, &(weft_spawn_opts){ .name = "records" });
    if (rc < 0) {
        weft_channel_close(work);
        return weft_fail(rc, "stage: generator: %s", weft_strerror(rc));
    }
    for (int i = 0; i <= RECORDS; i++) {
        void *v;
        rc = weft_generator_next(gen, &v);
        if (rc == WEFT_ENODATA) {
            err = 0; /* the generator returned: no more records */
            break;
        }
        if (rc == 0)
            rc = count(&taken);
        if (rc < 0) {
            free(v); /* NULL unless count failed */
            err = rc;
            break;
        }
        struct record *r = v;
        r->value = 3 * r->value + 1; /* parse */
        rc = weft_channel_send(work, r, 2000);
        if (rc < 0) {
            free(r); /* a failed send leaves the item with us */
            err = rc;
            break;
        }
    }
    weft_channel_close(work);
    rc = weft_generator_destroy(gen);
    if (err == 0)
        err = rc;
    if (err < 0)
        return weft_fail(err, "stage: %s", weft_strerror(err));
    return NULL;
}

/* A worker (fan-out from `work`, fan-in to `results`). */
static void *worker(void *arg)
{
    for (int i = 0; i <= RECORDS; i++) {
        void *v;
        int rc = weft_channel_recv(work, &v, 2000);
        if (rc == WEFT_ESHUTDOWN)
            return NULL; /* closed and drained */
        if (rc < 0)
            return weft_fail(rc, "worker %d: recv: %s", (int)(intptr_t)arg,
                             weft_strerror(rc));
        struct record *r = v;
        if ((rc = weft_sleep(2)) == 0) { /* compute */
            r->value *= r->value;
            rc = weft_channel_send(results, r, 2000);
        }
        if (rc < 0) {
            free(r);
            return weft_fail(rc, "worker %d: %s", (int)(intptr_t)arg,
                             weft_strerror(rc));
        }
    }
    return weft_fail(WEFT_ERANGE, "worker: more records than were made");
}

struct totals {
    int records;
    int64_t sum;
};

/* The sink: stores each result (slowly), until `results` is closed. */
static void *sink(void *arg)
{
    struct totals *t = arg;

    for (int i = 0; i <= RECORDS; i++) {
        void *v;
        int rc = weft_channel_recv(results, &v, 2000);
        if (rc == WEFT_ESHUTDOWN)
            return t;
        if (rc < 0)
            return weft_fail(rc, "sink: recv: %s", weft_strerror(rc));
        struct record *r = v;
        rc = weft_sleep(4); /* store */
        t->records++;
        t->sum += r->value;
        free(r);
        if (rc == 0)
            rc = count(&consumed);
        if (rc < 0)
            return weft_fail(rc, "sink: %s", weft_strerror(rc));
    }
    return weft_fail(WEFT_ERANGE, "sink: more results than were made");
}

/* Awaits and drops a task; keeps the first error in *err. */
static void finish(weft_task *t, int *err)
{
    if (t == NULL)
        return;
    int rc = weft_await(t, NULL);
    if (rc < 0) {
        fprintf(stderr, "%s\n", weft_task_errmsg(t));
        if (*err == 0)
            *err = rc;
    }
    weft_task_unref(t);
}

static void *amain(void *arg)
{
    weft_task *stage = NULL, *workers[WORKERS] = { 0 }, *store = NULL;
    struct totals totals = { 0 };
    int rc, err;
    (void)arg;

    if ((rc = weft_lock_init(&stats_lock)) < 0)
        return weft_fail(rc, "lock: %s", weft_strerror(rc));
    if ((rc = weft_channel_create(&work, CAP, &(weft_channel_opts){ .dispose = free })) < 0)
        return weft_fail(rc, "channel: %s", weft_strerror(rc));
    if ((rc = weft_channel_create(&results, CAP, &(weft_channel_opts){ .dispose = free })) < 0) {
        weft_channel_destroy(work);
        return weft_fail(rc, "channel: %s", weft_strerror(rc));
    }
    err = weft_spawn(&store, sink, &totals);
    for (int i = 0; i < WORKERS && err == 0; i++)
        err = weft_spawn(&workers[i], worker, (void *)(intptr_t)i);
    if (err == 0)
        err = weft_spawn(&stage, parse_stage, NULL);
    if (err < 0)
        weft_channel_close(work); /* the stage never ran: end the workers */

    finish(stage, &err);       /* closed `work` */
    for (int i = 0; i < WORKERS; i++)
        finish(workers[i], &err);
    weft_channel_close(results);  /* no more senders */
    finish(store, &err);

    if ((rc = weft_channel_destroy(work)) < 0 && err == 0)
        err = rc;
    if ((rc = weft_channel_destroy(results)) < 0 && err == 0)
        err = rc;
    if ((rc = weft_lock_destroy(&stats_lock)) < 0 && err == 0)
        err = rc;
    if (err < 0)
        return weft_fail(err, "pipeline: %s", weft_strerror(err));

    int64_t expected = 0;
    for (int i = 0; i < RECORDS; i++)
        expected += (int64_t)(3 * i + 1) * (3 * i + 1);
    printf("records made: %d, parsed: %d, stored: %d (by %d workers)\n",
           produced, taken, totals.records, WORKERS);
    printf("sum of results: %lld (expected %lld)\n", (long long)totals.sum,
           (long long)expected);
    printf("generator ahead of the stage by at most: %d\n", max_lead);
    printf("records in flight at most: %d (bound: %d + %d workers + %d "
           "+ 2)\n", max_in_flight, CAP, WORKERS, CAP);
    if (produced != RECORDS || taken != RECORDS || totals.records != RECORDS ||
        totals.sum != expected || max_lead > 1 || max_in_flight > BOUND)
        return weft_fail(WEFT_EIO, "the pipeline lost or overran records");
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    return weft_run(amain, NULL, NULL, NULL) == 0 ? 0 : 1;
}
