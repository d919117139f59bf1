/* producer_consumer: seed 000's question 8, a job system on a queue.
 *
 *     q = asyncio.Queue(maxsize=5)          # put waits while 5 are queued
 *     producers: await q.put(job)
 *     consumers: job = await q.get(); ...; q.task_done()
 *     await q.join(); q.shutdown()          # consumers' get then raises
 *
 * Three producers put 8 jobs each into a queue of at most 5, faster than
 * four consumers can take them, so the producers are held back
 * (backpressure). main waits for the producers, then for every job to be
 * marked done (join), then shuts the queue down: each consumer's next get
 * fails with -ESHUTDOWN and it returns its tally.
 */
#include <stdint.h>
#include <stdio.h>
#include <weft.h>

#define PRODUCERS 3
#define CONSUMERS 4
#define JOBS_EACH 8
#define MAXSIZE 5
#define TOTAL (PRODUCERS * JOBS_EACH)

struct job {
    int producer;
    int seq;
    int64_t value;
};

/* What one producer or consumer did; written by that task only, read by
 * main after awaiting it. */
struct tally {
    int id;
    int jobs;
    int64_t checksum;   /* consumers: the sum of value * value */
    int waited;         /* producers: puts that found the queue full */
    ssize_t max_size;   /* producers: the most items seen queued */
};

static weft_queue *queue;
static struct job jobs[PRODUCERS][JOBS_EACH];

static void *producer(void *arg)
{
    struct tally *t = arg;

    for (int i = 0; i < JOBS_EACH; i++) {
        struct job *j = &jobs[t->id][i];
        j->producer = t->id;
        j->seq = i;
        j->value = t->id * 100 + i;
        int rc = weft_sleep(1); /* making a job is quick */
        if (rc < 0)
            return weft_fail(rc, "producer %d: sleep", t->id);
        /* Try first, only to count the times backpressure held us back. */
        rc = weft_queue_try_put(queue, j);
        if (rc == WEFT_EAGAIN) {
            t->waited++;
            rc = weft_queue_put(queue, j, 1000);
        }
        if (rc < 0)
            return weft_fail(rc, "producer %d: put: %s", t->id,
                             weft_strerror(rc));
        ssize_t size = weft_queue_size(queue);
        if (size > t->max_size)
            t->max_size = size;
        t->jobs++;
    }
    return t;
}

static void *consumer(void *arg)
{
    struct tally *t = arg;

    /* A consumer cannot get more than TOTAL jobs: the loop ends by
     * -ESHUTDOWN long before its bound. */
    for (int i = 0; i <= TOTAL; i++) {
        void *item;
        int rc = weft_queue_get(queue, &item, 1000);
        if (rc == WEFT_ESHUTDOWN)
            return t; /* shut down and drained: the work is over */
        if (rc < 0)
            return weft_fail(rc, "consumer %d: get: %s", t->id,
                             weft_strerror(rc));
        struct job *j = item;
        rc = weft_sleep(5); /* processing a job is slow */
        if (rc < 0)
            return weft_fail(rc, "consumer %d: sleep", t->id);
        t->jobs++;
        t->checksum += j->value * j->value;
        rc = weft_queue_task_done(queue);
        if (rc < 0)
            return weft_fail(rc, "consumer %d: task_done: %s", t->id,
                             weft_strerror(rc));
    }
    return weft_fail(WEFT_ERANGE, "consumer %d: more jobs than were made",
                     t->id);
}

/* Awaits n tasks and drops them; returns the first error. */
static int await_all(weft_task **tasks, int n)
{
    int first = 0;
    for (int i = 0; i < n; i++) {
        if (tasks[i] == NULL)
            continue;
        int rc = weft_await(tasks[i], NULL);
        if (rc < 0) {
            fprintf(stderr, "%s: %s\n", weft_task_name(tasks[i]),
                    weft_task_errmsg(tasks[i]));
            if (first == 0)
                first = rc;
        }
        weft_task_unref(tasks[i]);
        tasks[i] = NULL;
    }
    return first;
}

static void *amain(void *arg)
{
    struct tally prod[PRODUCERS] = { 0 }, cons[CONSUMERS] = { 0 };
    weft_task *ptasks[PRODUCERS] = { 0 }, *ctasks[CONSUMERS] = { 0 };
    int rc, err = 0;
    (void)arg;

    rc = weft_queue_create(&queue, &(weft_queue_opts){ .maxsize = MAXSIZE });
    if (rc < 0)
        return weft_fail(rc, "queue: %s", weft_strerror(rc));

    for (int i = 0; i < CONSUMERS && err == 0; i++) {
        cons[i].id = i;
        err = weft_spawn(&ctasks[i], consumer, &cons[i]);
    }
    for (int i = 0; i < PRODUCERS && err == 0; i++) {
        prod[i].id = i;
        err = weft_spawn(&ptasks[i], producer, &prod[i]);
    }
    if (err == 0)
        err = await_all(ptasks, PRODUCERS); /* every job is queued */
    if (err == 0)
        err = weft_queue_join(queue, 2000); /* every job is done */
    /* Also on an error: consumers must not wait forever. */
    rc = weft_queue_shutdown(queue, err != 0);
    if (err == 0)
        err = rc;
    rc = await_all(ptasks, PRODUCERS);
    if (err == 0)
        err = rc;
    rc = await_all(ctasks, CONSUMERS);
    if (err == 0)
        err = rc;
    rc = weft_queue_destroy(queue);
    if (err == 0)
        err = rc;
    if (err < 0)
        return weft_fail(err, "producer_consumer: %s", weft_strerror(err));

    int produced = 0, consumed = 0, waited = 0;
    ssize_t max_size = 0;
    int64_t checksum = 0, expected = 0;
    for (int i = 0; i < PRODUCERS; i++) {
        produced += prod[i].jobs;
        waited += prod[i].waited;
        if (prod[i].max_size > max_size)
            max_size = prod[i].max_size;
        for (int k = 0; k < JOBS_EACH; k++)
            expected += jobs[i][k].value * jobs[i][k].value;
    }
    /* How the jobs spread over the consumers depends on scheduling. */
    printf("per consumer (varies):");
    for (int i = 0; i < CONSUMERS; i++) {
        printf(" c%d=%d", i, cons[i].jobs);
        consumed += cons[i].jobs;
        checksum += cons[i].checksum;
    }
    printf("\n");
    printf("producers: %d, consumers: %d, queue maxsize: %d\n", PRODUCERS,
           CONSUMERS, MAXSIZE);
    printf("backpressure: producers waited for room: %s; queue never held "
           "more than %d: %s\n", waited > 0 ? "yes" : "no", MAXSIZE,
           max_size <= MAXSIZE ? "yes" : "no");
    printf("jobs produced: %d, consumed: %d\n", produced, consumed);
    printf("checksum: %lld (expected %lld)\n", (long long)checksum,
           (long long)expected);
    if (produced != TOTAL || consumed != TOTAL || checksum != expected ||
        max_size > MAXSIZE)
        return weft_fail(WEFT_EIO, "the tallies do not add up");
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    return weft_run(amain, NULL, NULL, NULL) == 0 ? 0 : 1;
}
