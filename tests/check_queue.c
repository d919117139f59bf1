/* Queues and channels (weft/queue.h): bad input, the three orders,
 * backpressure, first come first served for getters and putters,
 * task_done/join, shutdown, what an interrupted waiter leaves behind,
 * races on four workers, and channels down to a fan-out/fan-in pipeline.
 *
 * Ordering tests run on one worker, where a task spawned by main runs
 * when main yields, until it blocks: so waiters queue in spawn order, and
 * a waiter cancelled by main is still queued (woken, not yet run) when
 * main grants it something, which makes the "granted as it was
 * interrupted" case deterministic. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "testutil.h"

#define ITEM(n) ((void *)(intptr_t)(n))
#define NUM(p) ((intptr_t)(p))

/* --- helpers ---------------------------------------------------------------- */

/* Items disposed of, by number (items are ITEM(1..DISPOSE_MAX-1)). */
#define DISPOSE_MAX 256
static int disposed;                /* atomic */
static int disposed_item[DISPOSE_MAX];

static void count_dispose(void *item)
{
    intptr_t n = NUM(item);
    COUNT(disposed);
    if (n > 0 && n < DISPOSE_MAX)
        COUNT(disposed_item[n]);
}

static void reset_dispose(void)
{
    SET(disposed, 0);
    memset(disposed_item, 0, sizeof disposed_item);
}

/* A task blocked in one queue or channel call. */
enum op { OP_GET, OP_PUT, OP_PUT_PRIO, OP_JOIN, OP_RECV, OP_SEND, OP_SLEEP_PUT,
          OP_SLEEP_GET };

struct waiter {
    weft_queue *q;
    weft_channel *ch;
    enum op op;
    void *item;         /* put: offered; get: received */
    int64_t prio;
    int64_t timeout;    /* OP_SLEEP_*: sleep this long, then act at once */
    struct event_log *log;
    const char *name;   /* logged when the call returns */
    int started;        /* atomic: about to make the call */
    int finished;       /* atomic: the call returned */
    int rc;
    weft_task *task;
};

static void *waiter_body(void *arg)
{
    struct waiter *w = arg;
    int rc = -ENOSYS;

    SET(w->started, 1);
    switch (w->op) {
    case OP_GET:
        rc = weft_queue_get(w->q, &w->item, w->timeout);
        break;
    case OP_PUT:
        rc = weft_queue_put(w->q, w->item, w->timeout);
        break;
    case OP_PUT_PRIO:
        rc = weft_queue_put_prio(w->q, w->item, w->prio, w->timeout);
        break;
    case OP_JOIN:
        rc = weft_queue_join(w->q, w->timeout);
        break;
    case OP_RECV:
        rc = weft_channel_recv(w->ch, &w->item, w->timeout);
        break;
    case OP_SEND:
        rc = weft_channel_send(w->ch, w->item, w->timeout);
        break;
    case OP_SLEEP_PUT:
        ck_assert_int_eq(weft_sleep(w->timeout), 0);
        rc = weft_queue_put(w->q, w->item, 0);
        break;
    case OP_SLEEP_GET:
        ck_assert_int_eq(weft_sleep(w->timeout), 0);
        rc = weft_queue_get(w->q, &w->item, 0);
        break;
    }
    w->rc = rc;
    if (w->log != NULL)
        log_event(w->log, w->name);
    SET(w->finished, 1);
    return NULL;
}

/* Spawns w and lets it run until it blocks (one worker): it is queued
 * behind every waiter started before. */
static void start(struct waiter *w)
{
    w->started = w->finished = 0;
    w->rc = 1;
    ck_assert_int_eq(weft_spawn(&w->task, waiter_body, w), 0);
    while (!READ(w->started))
        ck_assert_int_eq(weft_yield(), 0);
    ck_assert_int_eq(READ(w->finished), 0);
}

/* Awaits and releases w's task; returns the await's status (-ECANCELED
 * for a task that was cancelled, whatever its call returned). */
static int finish(struct waiter *w)
{
    int rc = weft_await(w->task, NULL);
    ck_assert_int_eq(READ(w->finished), 1);
    weft_task_unref(w->task);
    w->task = NULL;
    return rc;
}

/* Takes n items without waiting and checks them, then that none is left. */
static void expect_items(weft_queue *q, const intptr_t *want, int n)
{
    void *v;
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(weft_queue_try_get(q, &v), 0);
        ck_assert_int_eq(NUM(v), want[i]);
    }
    ck_assert_int_eq(weft_queue_try_get(q, &v), -EAGAIN);
    ck_assert_ptr_null(v);
}

/* A small xorshift, seeded per test: the races are random but repeatable
 * in what main decides. */
static uint32_t rng_state;

static uint32_t rnd(uint32_t n)
{
    uint32_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    rng_state = x;
    return x % n;
}

/* --- 1. bad input ------------------------------------------------------------ */

static void *bad_input_main(void *arg)
{
    weft_queue *q = (weft_queue *)&q; /* garbage the call must overwrite */
    weft_channel *ch = (weft_channel *)&ch;
    void *v = &v;
    (void)arg;

    /* A NULL queue, in every function. */
    ck_assert_int_eq(weft_queue_create(NULL, NULL), -EINVAL);
    ck_assert_int_eq(weft_queue_destroy(NULL), -EINVAL);
    ck_assert_int_eq(weft_queue_put(NULL, ITEM(1), WEFT_FOREVER), -EINVAL);
    ck_assert_int_eq(weft_queue_put_prio(NULL, ITEM(1), 0, WEFT_FOREVER), -EINVAL);
    ck_assert_int_eq(weft_queue_try_put(NULL, ITEM(1)), -EINVAL);
    ck_assert_int_eq(weft_queue_try_put_prio(NULL, ITEM(1), 0), -EINVAL);
    ck_assert_int_eq(weft_queue_get(NULL, &v, WEFT_FOREVER), -EINVAL);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(weft_queue_try_get(NULL, &v), -EINVAL);
    ck_assert_int_eq(weft_queue_task_done(NULL), -EINVAL);
    ck_assert_int_eq(weft_queue_join(NULL, WEFT_FOREVER), -EINVAL);
    ck_assert_int_eq(weft_queue_shutdown(NULL, false), -EINVAL);
    ck_assert_int_eq(weft_queue_shutdown(NULL, true), -EINVAL);
    ck_assert_int_eq(weft_queue_size(NULL), -EINVAL);
    ck_assert_int_eq(weft_queue_is_empty(NULL), -EINVAL);
    ck_assert_int_eq(weft_queue_is_full(NULL), -EINVAL);

    /* A NULL channel, in every function. */
    ck_assert_int_eq(weft_channel_create(NULL, 0, NULL), -EINVAL);
    ck_assert_int_eq(weft_channel_destroy(NULL), -EINVAL);
    ck_assert_int_eq(weft_channel_send(NULL, ITEM(1), WEFT_FOREVER), -EINVAL);
    ck_assert_int_eq(weft_channel_try_send(NULL, ITEM(1)), -EINVAL);
    ck_assert_int_eq(weft_channel_recv(NULL, &v, WEFT_FOREVER), -EINVAL);
    ck_assert_int_eq(weft_channel_try_recv(NULL, &v), -EINVAL);
    ck_assert_int_eq(weft_channel_close(NULL), -EINVAL);

    /* Orders that do not exist. */
    ck_assert_int_eq(weft_queue_create(&q, &(weft_queue_opts){ .order = 3 }), -EINVAL);
    ck_assert_ptr_null(q);
    q = (weft_queue *)&q;
    ck_assert_int_eq(weft_queue_create(&q, &(weft_queue_opts){ .order = -1 }), -EINVAL);
    ck_assert_ptr_null(q);

    /* A capacity that is the queue's own "no limit". */
    ck_assert_int_eq(weft_channel_create(&ch, SIZE_MAX, NULL), -EINVAL);
    ck_assert_ptr_null(ch);

    /* Negative time-outs other than WEFT_FOREVER; NULL item pointers. */
    ck_assert_int_eq(weft_queue_create(&q, NULL), 0);
    ck_assert_int_eq(weft_queue_put(q, ITEM(1), -2), -EINVAL);
    ck_assert_int_eq(weft_queue_put_prio(q, ITEM(1), 0, -2), -EINVAL);
    ck_assert_int_eq(weft_queue_put(q, ITEM(1), INT64_MIN), -EINVAL);
    ck_assert_int_eq(weft_queue_size(q), 0); /* nothing was put */
    ck_assert_int_eq(weft_queue_try_put(q, ITEM(1)), 0);
    ck_assert_int_eq(weft_queue_get(q, &v, -2), -EINVAL);
    ck_assert_int_eq(weft_queue_join(q, -2), -EINVAL);
    ck_assert_int_eq(weft_queue_get(q, NULL, WEFT_FOREVER), -EINVAL);
    ck_assert_int_eq(weft_queue_get(q, NULL, 0), -EINVAL);
    ck_assert_int_eq(weft_queue_try_get(q, NULL), -EINVAL);
    ck_assert_int_eq(weft_queue_size(q), 1); /* still there */

    /* task_done more times than items were put. */
    ck_assert_int_eq(weft_queue_try_get(q, &v), 0);
    ck_assert_ptr_eq(v, ITEM(1));
    ck_assert_int_eq(weft_queue_task_done(q), 0);
    ck_assert_int_eq(weft_queue_task_done(q), -ERANGE);
    ck_assert_int_eq(weft_queue_put(q, ITEM(2), 0), 0);
    ck_assert_int_eq(weft_queue_put(q, ITEM(3), 0), 0);
    ck_assert_int_eq(weft_queue_task_done(q), 0);
    ck_assert_int_eq(weft_queue_task_done(q), 0);
    ck_assert_int_eq(weft_queue_task_done(q), -ERANGE);
    ck_assert_int_eq(weft_queue_join(q, 0), 0);
    ck_assert_int_eq(weft_queue_destroy(q), 0);

    ck_assert_int_eq(weft_channel_create(&ch, 1, NULL), 0);
    ck_assert_int_eq(weft_channel_send(ch, ITEM(1), -2), -EINVAL);
    ck_assert_int_eq(weft_channel_recv(ch, &v, -2), -EINVAL);
    ck_assert_int_eq(weft_channel_recv(ch, NULL, 0), -EINVAL);
    ck_assert_int_eq(weft_channel_try_recv(ch, NULL), -EINVAL);
    ck_assert_int_eq(weft_channel_destroy(ch), 0);
    return NULL;
}

START_TEST(test_bad_input)
{
    ck_assert_int_eq(run_on(1, bad_input_main, NULL), 0);
}
END_TEST

/* Destroying a queue or channel a task waits on is refused, and leaves
 * it working. */
static void *destroy_busy_main(void *arg)
{
    weft_queue *q;
    weft_channel *ch;
    (void)arg;

    ck_assert_int_eq(weft_queue_create(&q, &(weft_queue_opts){ .maxsize = 1 }), 0);
    struct waiter g = { .q = q, .op = OP_GET, .timeout = WEFT_FOREVER };
    start(&g);
    ck_assert_int_eq(weft_queue_destroy(q), -EBUSY);
    ck_assert_int_eq(weft_queue_put(q, ITEM(1), WEFT_FOREVER), 0);
    ck_assert_int_eq(finish(&g), 0);
    ck_assert_int_eq(g.rc, 0);
    ck_assert_ptr_eq(g.item, ITEM(1));

    /* A waiting putter, then a waiting joiner. */
    ck_assert_int_eq(weft_queue_put(q, ITEM(2), 0), 0);
    struct waiter p = { .q = q, .op = OP_PUT, .item = ITEM(3), .timeout = WEFT_FOREVER };
    start(&p);
    ck_assert_int_eq(weft_queue_destroy(q), -EBUSY);
    void *v;
    ck_assert_int_eq(weft_queue_get(q, &v, 0), 0);
    ck_assert_ptr_eq(v, ITEM(2));
    ck_assert_int_eq(finish(&p), 0);
    ck_assert_int_eq(p.rc, 0);
    struct waiter j = { .q = q, .op = OP_JOIN, .timeout = WEFT_FOREVER };
    start(&j);
    ck_assert_int_eq(weft_queue_destroy(q), -EBUSY);
    ck_assert_int_eq(weft_queue_get(q, &v, 0), 0);
    ck_assert_ptr_eq(v, ITEM(3));
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(weft_queue_task_done(q), 0);
    ck_assert_int_eq(finish(&j), 0);
    ck_assert_int_eq(j.rc, 0);
    ck_assert_int_eq(weft_queue_destroy(q), 0);

    ck_assert_int_eq(weft_channel_create(&ch, 0, NULL), 0);
    struct waiter r = { .ch = ch, .op = OP_RECV, .timeout = WEFT_FOREVER };
    start(&r);
    ck_assert_int_eq(weft_channel_destroy(ch), -EBUSY);
    ck_assert_int_eq(weft_channel_try_send(ch, ITEM(4)), 0);
    ck_assert_int_eq(finish(&r), 0);
    ck_assert_ptr_eq(r.item, ITEM(4));
    struct waiter s = { .ch = ch, .op = OP_SEND, .item = ITEM(5), .timeout = WEFT_FOREVER };
    start(&s);
    ck_assert_int_eq(weft_channel_destroy(ch), -EBUSY);
    ck_assert_int_eq(weft_channel_recv(ch, &v, 0), 0);
    ck_assert_ptr_eq(v, ITEM(5));
    ck_assert_int_eq(finish(&s), 0);
    ck_assert_int_eq(s.rc, 0);
    ck_assert_int_eq(weft_channel_destroy(ch), 0);
    return NULL;
}

START_TEST(test_destroy_while_waited_on_is_busy)
{
    ck_assert_int_eq(run_on(1, destroy_busy_main, NULL), 0);
}
END_TEST

/* Outside any task (the test's thread, no runtime): the waiting calls
 * refuse with -EPERM, even when they would not wait; the others work.
 * test_plain_thread_wakes_tasks does the same from a plain thread while
 * tasks wait on the queue. */
START_TEST(test_outside_a_task)
{
    weft_queue *q;
    weft_channel *ch;
    void *v;

    ck_assert_int_eq(weft_queue_create(&q, &(weft_queue_opts){ .maxsize = 2 }), 0);
    ck_assert_int_eq(weft_queue_put(q, ITEM(1), WEFT_FOREVER), -EPERM);
    ck_assert_int_eq(weft_queue_put(q, ITEM(1), 0), -EPERM);
    ck_assert_int_eq(weft_queue_put_prio(q, ITEM(1), 0, 0), -EPERM);
    ck_assert_int_eq(weft_queue_get(q, &v, WEFT_FOREVER), -EPERM);
    ck_assert_int_eq(weft_queue_join(q, WEFT_FOREVER), -EPERM);
    ck_assert_int_eq(weft_queue_join(q, 0), -EPERM);
    ck_assert_int_eq(weft_queue_try_put(q, ITEM(1)), 0);
    ck_assert_int_eq(weft_queue_try_put_prio(q, ITEM(2), 7), 0);
    ck_assert_int_eq(weft_queue_try_put(q, ITEM(3)), -EAGAIN);
    ck_assert_int_eq(weft_queue_size(q), 2);
    ck_assert_int_eq(weft_queue_is_full(q), 1);
    ck_assert_int_eq(weft_queue_get(q, &v, 0), -EPERM);
    ck_assert_int_eq(weft_queue_size(q), 2);
    ck_assert_int_eq(weft_queue_try_get(q, &v), 0);
    ck_assert_ptr_eq(v, ITEM(1));
    ck_assert_int_eq(weft_queue_try_get(q, &v), 0);
    ck_assert_ptr_eq(v, ITEM(2));
    ck_assert_int_eq(weft_queue_try_get(q, &v), -EAGAIN);
    ck_assert_int_eq(weft_queue_is_empty(q), 1);
    ck_assert_int_eq(weft_queue_task_done(q), 0);
    ck_assert_int_eq(weft_queue_task_done(q), 0);
    ck_assert_int_eq(weft_queue_task_done(q), -ERANGE);
    ck_assert_int_eq(weft_queue_try_put(q, ITEM(4)), 0);
    ck_assert_int_eq(weft_queue_shutdown(q, false), 0);
    ck_assert_int_eq(weft_queue_try_put(q, ITEM(5)), -ESHUTDOWN);
    ck_assert_int_eq(weft_queue_try_get(q, &v), 0);
    ck_assert_ptr_eq(v, ITEM(4));
    ck_assert_int_eq(weft_queue_try_get(q, &v), -ESHUTDOWN);
    ck_assert_int_eq(weft_queue_destroy(q), 0);

    ck_assert_int_eq(weft_channel_create(&ch, 1, NULL), 0);
    ck_assert_int_eq(weft_channel_send(ch, ITEM(1), 0), -EPERM);
    ck_assert_int_eq(weft_channel_recv(ch, &v, 0), -EPERM);
    ck_assert_int_eq(weft_channel_try_send(ch, ITEM(1)), 0);
    ck_assert_int_eq(weft_channel_try_send(ch, ITEM(2)), -EAGAIN);
    ck_assert_int_eq(weft_channel_try_recv(ch, &v), 0);
    ck_assert_ptr_eq(v, ITEM(1));
    ck_assert_int_eq(weft_channel_close(ch), 0);
    ck_assert_int_eq(weft_channel_try_recv(ch, &v), -ESHUTDOWN);
    ck_assert_int_eq(weft_channel_destroy(ch), 0);
}
END_TEST

/* A plain thread working a queue that tasks wait on: its try_puts hand
 * items to waiting getters, its task_done releases a joiner, its shutdown
 * fails the getter left. It records its results; main checks them once
 * it has joined it. */
struct plain {
    weft_queue *q;
    int rc[16];
    ssize_t size;
};

static void *plain_thread(void *arg)
{
    struct plain *p = arg;
    void *v;
    int i = 0;

    p->rc[i++] = weft_queue_try_put(p->q, ITEM(2));   /* to g1 */
    p->rc[i++] = weft_queue_try_put(p->q, ITEM(3));   /* to g2 */
    p->size = weft_queue_size(p->q);                  /* 0 */
    p->rc[i++] = weft_queue_try_get(p->q, &v);        /* -EAGAIN */
    p->rc[i++] = weft_queue_put(p->q, ITEM(9), 0);    /* -EPERM */
    p->rc[i++] = weft_queue_get(p->q, &v, 0);         /* -EPERM */
    p->rc[i++] = weft_queue_join(p->q, 0);            /* -EPERM */
    p->rc[i++] = weft_queue_task_done(p->q);          /* items 1, 2, 3 */
    p->rc[i++] = weft_queue_task_done(p->q);
    p->rc[i++] = weft_queue_task_done(p->q);          /* releases j */
    p->rc[i++] = weft_queue_task_done(p->q);          /* -ERANGE */
    p->rc[i++] = weft_queue_shutdown(p->q, false);    /* fails g3 */
    return NULL;
}

static void *plain_thread_main(void *arg)
{
    struct plain p = { 0 };
    struct test_thread th;
    void *v;
    (void)arg;

    ck_assert_int_eq(weft_queue_create(&p.q, NULL), 0);
    ck_assert_int_eq(weft_queue_put(p.q, ITEM(1), 0), 0);
    struct waiter j = { .q = p.q, .op = OP_JOIN, .timeout = WEFT_FOREVER };
    start(&j);
    ck_assert_int_eq(weft_queue_get(p.q, &v, 0), 0);
    struct waiter g[3];
    for (int i = 0; i < 3; i++) {
        g[i] = (struct waiter){ .q = p.q, .op = OP_GET, .timeout = WEFT_FOREVER };
        start(&g[i]);
    }
    /* The worker blocks in the join: the thread's wakes wait for it. */
    test_thread_start(&th, plain_thread, &p);
    test_thread_join(&th);
    const int want[] = { 0, 0, -EAGAIN, -EPERM, -EPERM, -EPERM, 0, 0, 0,
                         -ERANGE, 0 };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_int_eq(p.rc[i], want[i]);
    ck_assert_int_eq(p.size, 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(finish(&g[i]), 0);
    ck_assert_int_eq(g[0].rc, 0);
    ck_assert_ptr_eq(g[0].item, ITEM(2));
    ck_assert_int_eq(g[1].rc, 0);
    ck_assert_ptr_eq(g[1].item, ITEM(3));
    ck_assert_int_eq(g[2].rc, -ESHUTDOWN);
    ck_assert_ptr_null(g[2].item);
    ck_assert_int_eq(finish(&j), 0);
    ck_assert_int_eq(j.rc, 0);
    ck_assert_int_eq(weft_queue_destroy(p.q), 0);
    return NULL;
}

START_TEST(test_plain_thread_wakes_tasks)
{
    ck_assert_int_eq(run_on(1, plain_thread_main, NULL), 0);
}
END_TEST

/* Out of memory, with an allocator that fails on demand (replaceable
 * only while no runtime runs, so from the test's thread): creation fails
 * cleanly, a put that cannot grow the buffer fails and leaves the queue
 * as it was, and an immediate shutdown still drops and disposes of
 * everything. */
static int allocs_left = -1; /* -1: no limit */

static bool alloc_allowed(void)
{
    if (allocs_left == 0)
        return false;
    if (allocs_left > 0)
        allocs_left--;
    return true;
}

static void *limited_malloc(size_t size)
{
    return alloc_allowed() ? malloc(size) : NULL;
}

static void *limited_realloc(void *ptr, size_t size)
{
    return alloc_allowed() ? realloc(ptr, size) : NULL;
}

static void *limited_calloc(size_t count, size_t size)
{
    return alloc_allowed() ? calloc(count, size) : NULL;
}

START_TEST(test_out_of_memory)
{
    weft_queue *q = (weft_queue *)&q;
    weft_channel *ch = (weft_channel *)&ch;
    void *v;

    reset_dispose();
    ck_assert_int_eq(weft_replace_allocator(limited_malloc, limited_realloc,
                                            limited_calloc, free), 0);
    for (int n = 0; n <= 1; n++) { /* no memory; the struct but no buffer */
        allocs_left = n;
        ck_assert_int_eq(weft_queue_create(&q, NULL), -ENOMEM);
        ck_assert_ptr_null(q);
        allocs_left = n;
        ck_assert_int_eq(weft_channel_create(&ch, 4, NULL), -ENOMEM);
        ck_assert_ptr_null(ch);
    }

    for (int order = WEFT_QUEUE_FIFO; order <= WEFT_QUEUE_PRIORITY; order++) {
        static const intptr_t want[3][8] = { { 1, 2, 3, 4, 5, 6, 7, 8 },
                                             { 8, 7, 6, 5, 4, 3, 2, 1 },
                                             { 2, 4, 6, 8, 1, 3, 5, 7 } };
        allocs_left = -1;
        ck_assert_int_eq(weft_queue_create(&q, &(weft_queue_opts){
                             .order = order, .dispose = count_dispose }), 0);
        for (intptr_t i = 1; i <= 8; i++) /* the first buffer holds 8 */
            ck_assert_int_eq(weft_queue_try_put_prio(q, ITEM(i), i % 2), 0);
        allocs_left = 0;
        ck_assert_int_eq(weft_queue_try_put_prio(q, ITEM(9), -1), -ENOMEM);
        ck_assert_int_eq(weft_queue_size(q), 8);
        for (int i = 0; i < 8; i++) {
            ck_assert_int_eq(weft_queue_try_get(q, &v), 0);
            ck_assert_int_eq(NUM(v), want[order][i]);
        }
        ck_assert_int_eq(weft_queue_try_get(q, &v), -EAGAIN);
        /* The failed put was not counted for join. */
        for (int i = 0; i < 8; i++)
            ck_assert_int_eq(weft_queue_task_done(q), 0);
        ck_assert_int_eq(weft_queue_task_done(q), -ERANGE);
        allocs_left = -1;
        ck_assert_int_eq(weft_queue_destroy(q), 0);
    }
    ck_assert_int_eq(READ(disposed), 0);

    /* An immediate shutdown without memory for a fresh buffer. */
    allocs_left = -1;
    ck_assert_int_eq(weft_queue_create(&q, &(weft_queue_opts){ .dispose = count_dispose }), 0);
    for (intptr_t i = 1; i <= 20; i++)
        ck_assert_int_eq(weft_queue_try_put(q, ITEM(i)), 0);
    ck_assert_int_eq(weft_queue_try_get(q, &v), 0);
    allocs_left = 0;
    ck_assert_int_eq(weft_queue_shutdown(q, true), 0);
    ck_assert_int_eq(READ(disposed), 19);
    for (int i = 2; i <= 20; i++)
        ck_assert_int_eq(disposed_item[i], 1);
    ck_assert_int_eq(weft_queue_size(q), 0);
    ck_assert_int_eq(weft_queue_try_get(q, &v), -ESHUTDOWN);
    ck_assert_int_eq(weft_queue_task_done(q), 0); /* item 1 */
    ck_assert_int_eq(weft_queue_task_done(q), -ERANGE);
    allocs_left = -1;
    ck_assert_int_eq(weft_queue_destroy(q), 0);
    ck_assert_int_eq(READ(disposed), 19);
    ck_assert_int_eq(weft_replace_allocator(malloc, realloc, calloc, free), 0);
}
END_TEST

/* --- 2. orders ------------------------------------------------------------- */

/* The reference for priority order: the smallest key, the oldest among
 * equal keys. */
struct ref {
    int64_t key;
    int seq;
    intptr_t id;
    bool live;
};

static intptr_t ref_pop(struct ref *r, int n)
{
    int best = -1;
    for (int i = 0; i < n; i++) {
        if (r[i].live && (best < 0 || r[i].key < r[best].key ||
                          (r[i].key == r[best].key && r[i].seq < r[best].seq)))
            best = i;
    }
    ck_assert_int_ge(best, 0);
    r[best].live = false;
    return r[best].id;
}

struct keyed {
    int key;
    int id;
};

static int compare_keyed(const void *a, const void *b)
{
    const struct keyed *x = a, *y = b;
    return (x->key > y->key) - (x->key < y->key);
}

static void *orders_main(void *arg)
{
    weft_queue *q;
    void *v;
    (void)arg;

    /* FIFO, across the ring's wrap and growth. */
    ck_assert_int_eq(weft_queue_create(&q, NULL), 0);
    for (intptr_t i = 1; i <= 5; i++)
        ck_assert_int_eq(weft_queue_put(q, ITEM(i), WEFT_FOREVER), 0);
    for (intptr_t i = 1; i <= 3; i++) {
        ck_assert_int_eq(weft_queue_get(q, &v, WEFT_FOREVER), 0);
        ck_assert_int_eq(NUM(v), i);
    }
    for (intptr_t i = 6; i <= 40; i++)
        ck_assert_int_eq(weft_queue_put(q, ITEM(i), 0), 0);
    ck_assert_int_eq(weft_queue_size(q), 37);
    for (intptr_t i = 4; i <= 40; i++) {
        ck_assert_int_eq(weft_queue_get(q, &v, 0), 0);
        ck_assert_int_eq(NUM(v), i);
    }
    ck_assert_int_eq(weft_queue_is_empty(q), 1);
    /* Priorities mean nothing to a FIFO queue. */
    for (intptr_t i = 1; i <= 4; i++)
        ck_assert_int_eq(weft_queue_put_prio(q, ITEM(i), 10 - i, 0), 0);
    ck_assert_int_eq(weft_queue_try_put_prio(q, ITEM(5), -100), 0);
    expect_items(q, (const intptr_t[]){ 1, 2, 3, 4, 5 }, 5);
    ck_assert_int_eq(weft_queue_destroy(q), 0);

    /* LIFO: newest first, also across growth. */
    ck_assert_int_eq(weft_queue_create(&q, &(weft_queue_opts){ .order = WEFT_QUEUE_LIFO }), 0);
    for (intptr_t i = 1; i <= 5; i++)
        ck_assert_int_eq(weft_queue_put(q, ITEM(i), 0), 0);
    for (intptr_t i = 5; i >= 4; i--) {
        ck_assert_int_eq(weft_queue_get(q, &v, 0), 0);
        ck_assert_int_eq(NUM(v), i);
    }
    for (intptr_t i = 6; i <= 30; i++)
        ck_assert_int_eq(weft_queue_try_put_prio(q, ITEM(i), i % 3), 0);
    for (intptr_t i = 30; i >= 6; i--) {
        ck_assert_int_eq(weft_queue_get(q, &v, 0), 0);
        ck_assert_int_eq(NUM(v), i);
    }
    expect_items(q, (const intptr_t[]){ 3, 2, 1 }, 3);
    ck_assert_int_eq(weft_queue_destroy(q), 0);

    /* Priority by integer: smallest first, put order among equals; gets
     * interleaved with puts, so the heap is worked both ways. */
    struct ref ref[120];
    int nref = 0;
    ck_assert_int_eq(weft_queue_create(&q, &(weft_queue_opts){ .order = WEFT_QUEUE_PRIORITY }), 0);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 40; i++) {
            intptr_t id = nref + 1;
            int64_t prio = ((id * 7) % 5) - 2; /* -2..2, many ties */
            if (id % 10 == 0)
                prio = 0; /* weft_queue_put gives 0 */
            ref[nref] = (struct ref){ prio, nref, id, true };
            nref++;
            if (id % 10 == 0)
                ck_assert_int_eq(weft_queue_put(q, ITEM(id), 0), 0);
            else if (id % 3 == 0)
                ck_assert_int_eq(weft_queue_try_put_prio(q, ITEM(id), prio), 0);
            else
                ck_assert_int_eq(weft_queue_put_prio(q, ITEM(id), prio, WEFT_FOREVER), 0);
        }
        for (int i = 0; i < 25; i++) {
            ck_assert_int_eq(weft_queue_get(q, &v, 0), 0);
            ck_assert_int_eq(NUM(v), ref_pop(ref, nref));
        }
    }
    for (int i = 0; i < 3 * 15; i++) {
        ck_assert_int_eq(weft_queue_try_get(q, &v), 0);
        ck_assert_int_eq(NUM(v), ref_pop(ref, nref));
    }
    ck_assert_int_eq(weft_queue_try_get(q, &v), -EAGAIN);
    ck_assert_int_eq(weft_queue_destroy(q), 0);

    /* Priority by a compare function: items that compare equal come out
     * in put order; integer priorities are then ignored. */
    struct keyed items[60];
    nref = 0;
    ck_assert_int_eq(weft_queue_create(&q, &(weft_queue_opts){
                         .order = WEFT_QUEUE_PRIORITY, .compare = compare_keyed }), 0);
    for (int i = 0; i < 60; i++) {
        items[i] = (struct keyed){ (i * 11) % 4, i };
        ref[nref] = (struct ref){ items[i].key, nref, i, true };
        nref++;
        ck_assert_int_eq(weft_queue_put_prio(q, &items[i], -i, 0), 0);
        if (i % 4 == 3) { /* a get now and then */
            ck_assert_int_eq(weft_queue_get(q, &v, 0), 0);
            ck_assert_int_eq(((struct keyed *)v)->id, ref_pop(ref, nref));
        }
    }
    for (int i = 0; i < 45; i++) {
        ck_assert_int_eq(weft_queue_get(q, &v, 0), 0);
        ck_assert_int_eq(((struct keyed *)v)->id, ref_pop(ref, nref));
    }
    ck_assert_int_eq(weft_queue_is_empty(q), 1);
    ck_assert_int_eq(weft_queue_destroy(q), 0);
    return NULL;
}

START_TEST(test_orders)
{
    ck_assert_int_eq(run_on(1, orders_main, NULL), 0);
}
END_TEST

/* --- 3. maxsize --------------------------------------------------------------- */

static void *maxsize_main(void *arg)
{
    weft_queue *q;
    void *v;
    (void)arg;

    ck_assert_int_eq(weft_queue_create(&q, &(weft_queue_opts){ .maxsize = 2 }), 0);
    ck_assert_int_eq(weft_queue_is_empty(q), 1);
    ck_assert_int_eq(weft_queue_is_full(q), 0);
    ck_assert_int_eq(weft_queue_try_get(q, &v), -EAGAIN);
    ck_assert_int_eq(weft_queue_get(q, &v, 0), -ETIMEDOUT);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(weft_queue_put(q, ITEM(1), 0), 0); /* need not wait */
    ck_assert_int_eq(weft_queue_is_empty(q), 0);
    ck_assert_int_eq(weft_queue_is_full(q), 0);
    ck_assert_int_eq(weft_queue_put(q, ITEM(2), WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_queue_size(q), 2);
    ck_assert_int_eq(weft_queue_is_full(q), 1);
    ck_assert_int_eq(weft_queue_try_put(q, ITEM(99)), -EAGAIN);
    ck_assert_int_eq(weft_queue_try_put_prio(q, ITEM(99), 1), -EAGAIN);

    /* A putter blocks on the third put until main gets one. */
    struct waiter p = { .q = q, .op = OP_PUT, .item = ITEM(3), .timeout = WEFT_FOREVER };
    start(&p);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(weft_yield(), 0);
    ck_assert_int_eq(weft_task_is_done(p.task), 0);
    ck_assert_int_eq(weft_queue_size(q), 2);
    ck_assert_int_eq(weft_queue_get(q, &v, WEFT_FOREVER), 0);
    ck_assert_ptr_eq(v, ITEM(1));
    /* The freed slot went to the putter's item at once. */
    ck_assert_int_eq(weft_queue_size(q), 2);
    ck_assert_int_eq(weft_queue_is_full(q), 1);
    ck_assert_int_eq(finish(&p), 0);
    ck_assert_int_eq(p.rc, 0);

    /* Time-outs on a full queue leave nothing behind. */
    int64_t t0 = weft_now();
    ck_assert_int_eq(weft_queue_put(q, ITEM(98), 20), -ETIMEDOUT);
    ck_assert_int_ge(weft_now() - t0, 20);
    ck_assert_int_eq(weft_queue_put(q, ITEM(97), 0), -ETIMEDOUT);
    ck_assert_int_eq(weft_queue_put_prio(q, ITEM(96), 0, 0), -ETIMEDOUT);
    ck_assert_int_eq(weft_queue_size(q), 2);
    expect_items(q, (const intptr_t[]){ 2, 3 }, 2);
    ck_assert_int_eq(weft_queue_is_empty(q), 1);
    ck_assert_int_eq(weft_queue_is_full(q), 0);

    /* And on an empty one. */
    t0 = weft_now();
    ck_assert_int_eq(weft_queue_get(q, &v, 15), -ETIMEDOUT);
    ck_assert_int_ge(weft_now() - t0, 15);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(weft_queue_get(q, &v, 0), -ETIMEDOUT);
    ck_assert_int_eq(weft_queue_size(q), 0);

    /* A time-out too long to matter waits like WEFT_FOREVER. */
    struct waiter g = { .q = q, .op = OP_GET, .timeout = INT64_MAX };
    start(&g);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(weft_yield(), 0);
    ck_assert_int_eq(weft_task_is_done(g.task), 0);
    ck_assert_int_eq(weft_queue_put(q, ITEM(4), INT64_MAX), 0);
    ck_assert_int_eq(finish(&g), 0);
    ck_assert_int_eq(g.rc, 0);
    ck_assert_ptr_eq(g.item, ITEM(4));
    ck_assert_int_eq(weft_queue_destroy(q), 0);

    /* An unbounded queue is never full. */
    ck_assert_int_eq(weft_queue_create(&q, &(weft_queue_opts){ .maxsize = 0 }), 0);
    for (intptr_t i = 1; i <= 1000; i++)
        ck_assert_int_eq(weft_queue_try_put(q, ITEM(i)), 0);
    ck_assert_int_eq(weft_queue_is_full(q), 0);
    ck_assert_int_eq(weft_queue_size(q), 1000);
    ck_assert_int_eq(weft_queue_destroy(q), 0);
    return NULL;
}

START_TEST(test_maxsize_backpressure)
{
    ck_assert_int_eq(run_on(1, maxsize_main, NULL), 0);
}
END_TEST

/* --- 4. first come, first served ---------------------------------------------- */

static void *fcfs_main(void *arg)
{
    weft_queue *q;
    struct waiter w[3];
    void *v;
    (void)arg;

    /* Getters, served in the order they came. */
    ck_assert_int_eq(weft_queue_create(&q, &(weft_queue_opts){ .maxsize = 1 }), 0);
    for (int i = 0; i < 3; i++) {
        w[i] = (struct waiter){ .q = q, .op = OP_GET, .timeout = WEFT_FOREVER };
        start(&w[i]);
    }
    /* Each put hands its item to the next getter without waiting, even
     * on a queue of one slot. */
    for (intptr_t i = 0; i < 3; i++)
        ck_assert_int_eq(weft_queue_put(q, ITEM(i + 10), 0), 0);
    ck_assert_int_eq(weft_queue_size(q), 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(finish(&w[i]), 0);
        ck_assert_int_eq(w[i].rc, 0);
        ck_assert_ptr_eq(w[i].item, ITEM(i + 10));
    }

    /* Putters on a full queue, admitted in the order they came. */
    ck_assert_int_eq(weft_queue_put(q, ITEM(20), 0), 0);
    for (int i = 0; i < 3; i++) {
        w[i] = (struct waiter){ .q = q, .op = OP_PUT, .item = ITEM(21 + i),
                                .timeout = WEFT_FOREVER };
        start(&w[i]);
    }
    for (intptr_t i = 20; i <= 23; i++) {
        ck_assert_int_eq(weft_queue_get(q, &v, WEFT_FOREVER), 0);
        ck_assert_int_eq(NUM(v), i);
    }
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(finish(&w[i]), 0);
        ck_assert_int_eq(w[i].rc, 0);
    }
    /* No barging: a try_put while putters wait is refused. */
    ck_assert_int_eq(weft_queue_put(q, ITEM(30), 0), 0);
    w[0] = (struct waiter){ .q = q, .op = OP_PUT, .item = ITEM(31), .timeout = WEFT_FOREVER };
    start(&w[0]);
    ck_assert_int_eq(weft_queue_try_get(q, &v), 0);
    ck_assert_ptr_eq(v, ITEM(30));
    ck_assert_int_eq(weft_queue_try_put(q, ITEM(32)), -EAGAIN);
    ck_assert_int_eq(finish(&w[0]), 0);
    expect_items(q, (const intptr_t[]){ 31 }, 1);
    ck_assert_int_eq(weft_queue_destroy(q), 0);
    return NULL;
}

START_TEST(test_waiters_served_first_come_first_served)
{
    ck_assert_int_eq(run_on(1, fcfs_main, NULL), 0);
}
END_TEST

/* --- 5. task_done and join ---------------------------------------------------- */

static void *join_main(void *arg)
{
    weft_queue *q;
    void *v;
    (void)arg;

    ck_assert_int_eq(weft_queue_create(&q, NULL), 0);
    /* Nothing was put: nothing to wait for. */
    ck_assert_int_eq(weft_queue_join(q, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_queue_join(q, 0), 0);

    for (intptr_t i = 1; i <= 3; i++)
        ck_assert_int_eq(weft_queue_put(q, ITEM(i), 0), 0);
    ck_assert_int_eq(weft_queue_join(q, 0), -ETIMEDOUT);
    int64_t t0 = weft_now();
    ck_assert_int_eq(weft_queue_join(q, 15), -ETIMEDOUT);
    ck_assert_int_ge(weft_now() - t0, 15);

    /* Two joiners; gets alone release neither. */
    struct waiter j1 = { .q = q, .op = OP_JOIN, .timeout = WEFT_FOREVER };
    struct waiter j2 = { .q = q, .op = OP_JOIN, .timeout = WEFT_FOREVER };
    start(&j1);
    start(&j2);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(weft_queue_get(q, &v, 0), 0);
    ck_assert_int_eq(weft_queue_task_done(q), 0);
    ck_assert_int_eq(weft_queue_task_done(q), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(weft_yield(), 0);
    ck_assert_int_eq(weft_task_is_done(j1.task), 0);
    ck_assert_int_eq(weft_task_is_done(j2.task), 0);
    ck_assert_int_eq(READ(j1.finished), 0);
    ck_assert_int_eq(weft_queue_task_done(q), 0); /* the last one */
    ck_assert_int_eq(finish(&j1), 0);
    ck_assert_int_eq(j1.rc, 0);
    ck_assert_int_eq(finish(&j2), 0);
    ck_assert_int_eq(j2.rc, 0);
    ck_assert_int_eq(weft_queue_task_done(q), -ERANGE);
    ck_assert_int_eq(weft_queue_join(q, 0), 0);

    /* A joiner that times out, and one that is cancelled, leave the
     * others waiting. */
    ck_assert_int_eq(weft_queue_put(q, ITEM(4), 0), 0);
    struct waiter jt = { .q = q, .op = OP_JOIN, .timeout = 5 };
    struct waiter jc = { .q = q, .op = OP_JOIN, .timeout = WEFT_FOREVER };
    struct waiter jf = { .q = q, .op = OP_JOIN, .timeout = WEFT_FOREVER };
    start(&jt);
    start(&jc);
    start(&jf);
    ck_assert_int_eq(weft_cancel(jc.task), 0);
    ck_assert_int_eq(finish(&jt), 0);
    ck_assert_int_eq(jt.rc, -ETIMEDOUT);
    ck_assert_int_eq(finish(&jc), -ECANCELED);
    ck_assert_int_eq(jc.rc, -ECANCELED);
    ck_assert_int_eq(weft_task_is_done(jf.task), 0);
    ck_assert_int_eq(weft_queue_get(q, &v, 0), 0);
    ck_assert_int_eq(weft_queue_task_done(q), 0);
    ck_assert_int_eq(finish(&jf), 0);
    ck_assert_int_eq(jf.rc, 0);

    /* An item handed straight to a waiting getter counts too. */
    struct waiter g = { .q = q, .op = OP_GET, .timeout = WEFT_FOREVER };
    start(&g);
    ck_assert_int_eq(weft_queue_put(q, ITEM(5), 0), 0);
    ck_assert_int_eq(finish(&g), 0);
    ck_assert_int_eq(weft_queue_join(q, 0), -ETIMEDOUT);
    ck_assert_int_eq(weft_queue_task_done(q), 0);
    ck_assert_int_eq(weft_queue_join(q, 0), 0);
    ck_assert_int_eq(weft_queue_destroy(q), 0);
    return NULL;
}

START_TEST(test_task_done_and_join)
{
    ck_assert_int_eq(run_on(1, join_main, NULL), 0);
}
END_TEST

/* --- 6. shutdown ------------------------------------------------------------ */

static void *shutdown_main(void *arg)
{
    weft_queue *q;
    void *v;
    (void)arg;

    reset_dispose();
    ck_assert_int_eq(weft_queue_create(&q, &(weft_queue_opts){ .maxsize = 3,
                                                               .dispose = count_dispose }), 0);
    for (intptr_t i = 1; i <= 3; i++)
        ck_assert_int_eq(weft_queue_put(q, ITEM(i), 0), 0);
    struct waiter p4 = { .q = q, .op = OP_PUT, .item = ITEM(4), .timeout = WEFT_FOREVER };
    struct waiter p5 = { .q = q, .op = OP_PUT_PRIO, .item = ITEM(5),
                         .timeout = TEST_LONG_MS };
    start(&p4);
    start(&p5);
    ck_assert_int_eq(weft_queue_shutdown(q, false), 0);
    /* Waiting putters fail at once, keeping their items. */
    ck_assert_int_eq(finish(&p4), 0);
    ck_assert_int_eq(p4.rc, -ESHUTDOWN);
    ck_assert_int_eq(finish(&p5), 0);
    ck_assert_int_eq(p5.rc, -ESHUTDOWN);
    ck_assert_int_eq(READ(disposed), 0);
    /* Later puts fail, waiting or not. */
    ck_assert_int_eq(weft_queue_put(q, ITEM(6), WEFT_FOREVER), -ESHUTDOWN);
    ck_assert_int_eq(weft_queue_put(q, ITEM(6), 0), -ESHUTDOWN);
    ck_assert_int_eq(weft_queue_put_prio(q, ITEM(6), 1, 10), -ESHUTDOWN);
    ck_assert_int_eq(weft_queue_try_put(q, ITEM(6)), -ESHUTDOWN);
    ck_assert_int_eq(weft_queue_try_put_prio(q, ITEM(6), 1), -ESHUTDOWN);
    ck_assert_int_eq(weft_queue_size(q), 3);
    /* Getters drain what is left, in order, then fail. */
    for (intptr_t i = 1; i <= 3; i++) {
        ck_assert_int_eq(weft_queue_get(q, &v, WEFT_FOREVER), 0);
        ck_assert_int_eq(NUM(v), i);
    }
    ck_assert_int_eq(weft_queue_get(q, &v, WEFT_FOREVER), -ESHUTDOWN);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(weft_queue_get(q, &v, 0), -ESHUTDOWN);
    ck_assert_int_eq(weft_queue_try_get(q, &v), -ESHUTDOWN);
    /* task_done and join still work; shutting down again is harmless. */
    ck_assert_int_eq(weft_queue_join(q, 0), -ETIMEDOUT);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(weft_queue_task_done(q), 0);
    ck_assert_int_eq(weft_queue_join(q, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_queue_shutdown(q, false), 0);
    ck_assert_int_eq(weft_queue_destroy(q), 0);
    ck_assert_int_eq(READ(disposed), 0);

    /* Getters waiting on an empty queue fail. */
    ck_assert_int_eq(weft_queue_create(&q, NULL), 0);
    struct waiter g1 = { .q = q, .op = OP_GET, .timeout = WEFT_FOREVER };
    struct waiter g2 = { .q = q, .op = OP_GET, .timeout = TEST_LONG_MS };
    start(&g1);
    start(&g2);
    ck_assert_int_eq(weft_queue_shutdown(q, false), 0);
    ck_assert_int_eq(finish(&g1), 0);
    ck_assert_int_eq(g1.rc, -ESHUTDOWN);
    ck_assert_ptr_null(g1.item);
    ck_assert_int_eq(finish(&g2), 0);
    ck_assert_int_eq(g2.rc, -ESHUTDOWN);
    ck_assert_int_eq(weft_queue_destroy(q), 0);
    return NULL;
}

START_TEST(test_shutdown)
{
    ck_assert_int_eq(run_on(1, shutdown_main, NULL), 0);
}
END_TEST

static void *shutdown_immediate_main(void *arg)
{
    weft_queue *q;
    void *v;
    (void)arg;

    reset_dispose();
    ck_assert_int_eq(weft_queue_create(&q, &(weft_queue_opts){ .maxsize = 4,
                                                               .dispose = count_dispose }), 0);
    for (intptr_t i = 1; i <= 4; i++)
        ck_assert_int_eq(weft_queue_put(q, ITEM(i), 0), 0);
    ck_assert_int_eq(weft_queue_get(q, &v, 0), 0); /* 1, not task_done */
    ck_assert_int_eq(weft_queue_put(q, ITEM(5), 0), 0);
    struct waiter p = { .q = q, .op = OP_PUT, .item = ITEM(6), .timeout = WEFT_FOREVER };
    struct waiter j = { .q = q, .op = OP_JOIN, .timeout = WEFT_FOREVER };
    start(&p);
    start(&j);
    ck_assert_int_eq(weft_queue_shutdown(q, true), 0);
    /* Items 2..5 were dropped, and disposed of; the putter kept its own. */
    ck_assert_int_eq(READ(disposed), 4);
    for (int i = 2; i <= 5; i++)
        ck_assert_int_eq(disposed_item[i], 1);
    ck_assert_int_eq(finish(&p), 0);
    ck_assert_int_eq(p.rc, -ESHUTDOWN);
    ck_assert_int_eq(disposed_item[6], 0);
    ck_assert_int_eq(weft_queue_size(q), 0);
    ck_assert_int_eq(weft_queue_get(q, &v, WEFT_FOREVER), -ESHUTDOWN);
    /* The dropped items count as done; item 1 does not. */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(weft_yield(), 0);
    ck_assert_int_eq(weft_task_is_done(j.task), 0);
    ck_assert_int_eq(weft_queue_task_done(q), 0);
    ck_assert_int_eq(finish(&j), 0);
    ck_assert_int_eq(j.rc, 0);
    ck_assert_int_eq(weft_queue_task_done(q), -ERANGE);
    ck_assert_int_eq(weft_queue_destroy(q), 0);
    ck_assert_int_eq(READ(disposed), 4);

    /* Dropping every unfinished item releases joiners by itself. */
    reset_dispose();
    ck_assert_int_eq(weft_queue_create(&q, &(weft_queue_opts){ .dispose = count_dispose }), 0);
    ck_assert_int_eq(weft_queue_put(q, ITEM(1), 0), 0);
    ck_assert_int_eq(weft_queue_put(q, ITEM(2), 0), 0);
    j = (struct waiter){ .q = q, .op = OP_JOIN, .timeout = WEFT_FOREVER };
    start(&j);
    ck_assert_int_eq(weft_queue_shutdown(q, true), 0);
    ck_assert_int_eq(finish(&j), 0);
    ck_assert_int_eq(j.rc, 0);
    ck_assert_int_eq(READ(disposed), 2);
    ck_assert_int_eq(weft_queue_task_done(q), -ERANGE);
    ck_assert_int_eq(weft_queue_destroy(q), 0);

    /* Waiting getters fail at once. */
    ck_assert_int_eq(weft_queue_create(&q, NULL), 0);
    struct waiter g = { .q = q, .op = OP_GET, .timeout = WEFT_FOREVER };
    start(&g);
    ck_assert_int_eq(weft_queue_shutdown(q, true), 0);
    ck_assert_int_eq(finish(&g), 0);
    ck_assert_int_eq(g.rc, -ESHUTDOWN);
    ck_assert_int_eq(weft_queue_destroy(q), 0);

    /* A second call makes a shutdown immediate. */
    reset_dispose();
    ck_assert_int_eq(weft_queue_create(&q, &(weft_queue_opts){ .order = WEFT_QUEUE_LIFO,
                                                               .dispose = count_dispose }), 0);
    for (intptr_t i = 1; i <= 3; i++)
        ck_assert_int_eq(weft_queue_put(q, ITEM(i), 0), 0);
    ck_assert_int_eq(weft_queue_shutdown(q, false), 0);
    ck_assert_int_eq(weft_queue_get(q, &v, 0), 0);
    ck_assert_ptr_eq(v, ITEM(3));
    ck_assert_int_eq(READ(disposed), 0);
    ck_assert_int_eq(weft_queue_shutdown(q, true), 0);
    ck_assert_int_eq(READ(disposed), 2);
    ck_assert_int_eq(disposed_item[1], 1);
    ck_assert_int_eq(disposed_item[2], 1);
    ck_assert_int_eq(weft_queue_get(q, &v, 0), -ESHUTDOWN);
    ck_assert_int_eq(weft_queue_join(q, 0), -ETIMEDOUT); /* item 3 */
    ck_assert_int_eq(weft_queue_task_done(q), 0);
    ck_assert_int_eq(weft_queue_join(q, 0), 0);
    ck_assert_int_eq(weft_queue_destroy(q), 0);
    ck_assert_int_eq(READ(disposed), 2);

    /* An item handed to a getter as it was cancelled, and given back
     * after an immediate shutdown, goes the way of the items that were
     * left: disposed of and counted as done, never got. */
    reset_dispose();
    ck_assert_int_eq(weft_queue_create(&q, &(weft_queue_opts){ .dispose = count_dispose }), 0);
    g = (struct waiter){ .q = q, .op = OP_GET, .timeout = WEFT_FOREVER };
    start(&g);
    ck_assert_int_eq(weft_cancel(g.task), 0);
    ck_assert_int_eq(weft_queue_put(q, ITEM(7), 0), 0); /* to g */
    ck_assert_int_eq(weft_queue_shutdown(q, true), 0);
    ck_assert_int_eq(READ(disposed), 0);
    ck_assert_int_eq(finish(&g), -ECANCELED);
    ck_assert_int_eq(g.rc, -ECANCELED);
    ck_assert_ptr_null(g.item);
    ck_assert_int_eq(weft_queue_size(q), 0);
    ck_assert_int_eq(weft_queue_get(q, &v, 0), -ESHUTDOWN);
    ck_assert_int_eq(READ(disposed), 1);
    ck_assert_int_eq(disposed_item[7], 1);
    ck_assert_int_eq(weft_queue_join(q, 0), 0);
    ck_assert_int_eq(weft_queue_task_done(q), -ERANGE);
    ck_assert_int_eq(weft_queue_destroy(q), 0);
    ck_assert_int_eq(READ(disposed), 1);
    return NULL;
}

START_TEST(test_shutdown_immediate)
{
    ck_assert_int_eq(run_on(1, shutdown_immediate_main, NULL), 0);
}
END_TEST

/* Destroy disposes of each item left, once, whatever the order and the
 * buffer's layout; without dispose they are forgotten. */
static void *destroy_disposes_main(void *arg)
{
    weft_queue *q;
    void *v;
    (void)arg;

    for (int order = WEFT_QUEUE_FIFO; order <= WEFT_QUEUE_PRIORITY; order++) {
        reset_dispose();
        ck_assert_int_eq(weft_queue_create(&q, &(weft_queue_opts){
                             .order = order, .dispose = count_dispose }), 0);
        /* Put 1..20 with gets between, so a ring has wrapped and grown. */
        for (intptr_t i = 1; i <= 6; i++)
            ck_assert_int_eq(weft_queue_put_prio(q, ITEM(i), 30 - i, 0), 0);
        int taken[DISPOSE_MAX] = { 0 };
        for (int i = 0; i < 4; i++) {
            ck_assert_int_eq(weft_queue_get(q, &v, 0), 0);
            taken[NUM(v)]++;
        }
        for (intptr_t i = 7; i <= 20; i++)
            ck_assert_int_eq(weft_queue_put_prio(q, ITEM(i), i % 4, 0), 0);
        ck_assert_int_eq(weft_queue_size(q), 16);
        ck_assert_int_eq(weft_queue_destroy(q), 0);
        ck_assert_int_eq(READ(disposed), 16);
        for (int i = 1; i <= 20; i++)
            ck_assert_int_eq(disposed_item[i] + taken[i], 1);
    }

    reset_dispose();
    ck_assert_int_eq(weft_queue_create(&q, NULL), 0);
    ck_assert_int_eq(weft_queue_put(q, ITEM(1), 0), 0);
    ck_assert_int_eq(weft_queue_destroy(q), 0);
    ck_assert_int_eq(READ(disposed), 0);
    return NULL;
}

START_TEST(test_destroy_disposes_of_items_left)
{
    ck_assert_int_eq(run_on(1, destroy_disposes_main, NULL), 0);
}
END_TEST

/* --- 7. cancellation and time-outs lose nothing --------------------------- */

/* W then X wait; main cancels W, then puts: the item is handed to W as it
 * is already cancelled; W fails, and the item goes on to X. */
static void *cancelled_getter_main(void *arg)
{
    weft_queue *q;
    struct event_log log = { .len = 0 };
    (void)arg;

    ck_assert_int_eq(weft_queue_create(&q, NULL), 0);
    struct waiter w = { .q = q, .op = OP_GET, .timeout = WEFT_FOREVER, .log = &log, .name = "W" };
    struct waiter x = { .q = q, .op = OP_GET, .timeout = WEFT_FOREVER, .log = &log, .name = "X" };
    start(&w);
    start(&x);
    ck_assert_int_eq(weft_cancel(w.task), 0);
    ck_assert_int_eq(weft_queue_put(q, ITEM(1), 0), 0);
    ck_assert_int_eq(finish(&w), -ECANCELED);
    ck_assert_int_eq(w.rc, -ECANCELED);
    ck_assert_ptr_null(w.item);
    ck_assert_int_eq(finish(&x), 0);
    ck_assert_int_eq(x.rc, 0);
    ck_assert_ptr_eq(x.item, ITEM(1));
    ck_assert_str_eq(log.text, "W X");
    ck_assert_int_eq(weft_queue_size(q), 0);
    ck_assert_int_eq(weft_queue_task_done(q), 0); /* put once, got once */
    ck_assert_int_eq(weft_queue_task_done(q), -ERANGE);

    /* A getter cancelled before anything happens takes nothing. */
    w = (struct waiter){ .q = q, .op = OP_GET, .timeout = WEFT_FOREVER };
    start(&w);
    ck_assert_int_eq(weft_cancel(w.task), 0);
    ck_assert_int_eq(finish(&w), -ECANCELED);
    ck_assert_int_eq(w.rc, -ECANCELED);
    ck_assert_int_eq(weft_queue_put(q, ITEM(2), 0), 0);
    expect_items(q, (const intptr_t[]){ 2 }, 1);
    ck_assert_int_eq(weft_queue_destroy(q), 0);
    return NULL;
}

START_TEST(test_cancelled_getter_passes_the_item_on)
{
    ck_assert_int_eq(run_on(1, cancelled_getter_main, NULL), 0);
}
END_TEST

/* Main starts its waiters within `d` ms (so that no deadline of `d` ms or
 * more can pass before all are waiting), then spins without suspending
 * until the deadlines of up to 2d + 5 ms are well past, so the worker
 * fires those timers in one go, in deadline order, when main next
 * suspends; one worker runs what they wake in that order. A deadline of
 * d ms set by the last waiter started is then always earlier than one of
 * 2d + 5 ms set by the first. A round whose start took too long decides
 * nothing (its checks allow every order): its caller runs it again with
 * twice the d. Every waiter suspends as it starts, whatever the delays. */
struct window {
    int64_t d;
    int64_t t0, t1;
};

static void window_open(struct window *win)
{
    win->t0 = mono_ms();
}

/* The waiters are started: spin, and say whether the round counts
 * (mono_ms truncates: one more ms for each reading). */
static bool window_close(struct window *win)
{
    win->t1 = mono_ms();
    while (mono_ms() - win->t1 < 2 * win->d + 10)
        ;
    return win->t1 - win->t0 + 1 < win->d;
}

/* The same with a time-out: H's sleep (d, started last) and W's deadline
 * (2d + 5, started first) both pass while main spins without suspending;
 * the worker then fires both timers in one go and runs H, woken first,
 * first: H's put grants W, whose wait has already timed out, and W passes
 * the item on to X. */
static bool timed_out_getter_round(int64_t d)
{
    weft_queue *q;
    struct event_log log = { .len = 0 };
    struct window win = { .d = d };

    ck_assert_int_eq(weft_queue_create(&q, NULL), 0);
    struct waiter w = { .q = q, .op = OP_GET, .timeout = 2 * d + 5,
                        .log = &log, .name = "W" };
    struct waiter x = { .q = q, .op = OP_GET, .timeout = WEFT_FOREVER,
                        .log = &log, .name = "X" };
    struct waiter h = { .q = q, .op = OP_SLEEP_PUT, .item = ITEM(1),
                        .timeout = d, .log = &log, .name = "H" };
    window_open(&win);
    start(&w);
    start(&x);
    start(&h);
    bool decided = window_close(&win);
    ck_assert_int_eq(finish(&w), 0);
    ck_assert_int_eq(finish(&h), 0);
    ck_assert_int_eq(h.rc, 0);
    if (w.rc == 0) {
        /* H put before W's deadline: only when a stall decided nothing.
         * W took the item; X gets another. */
        ck_assert(!decided);
        ck_assert_ptr_eq(w.item, ITEM(1));
        ck_assert_int_eq(weft_queue_put(q, ITEM(2), 0), 0);
        ck_assert_int_eq(finish(&x), 0);
        ck_assert_int_eq(x.rc, 0);
        ck_assert_ptr_eq(x.item, ITEM(2));
    } else {
        ck_assert_int_eq(w.rc, -ETIMEDOUT);
        ck_assert_ptr_null(w.item);
        ck_assert_int_eq(finish(&x), 0);
        ck_assert_int_eq(x.rc, 0);
        ck_assert_ptr_eq(x.item, ITEM(1));
    }
    /* H put before W returned: W had been granted the item. */
    if (decided)
        ck_assert_str_eq(log.text, "H W X");
    ck_assert_int_eq(weft_queue_size(q), 0);
    ck_assert_int_eq(weft_queue_destroy(q), 0);
    return decided;
}

static void *timed_out_getter_main(void *arg)
{
    (void)arg;
    for (int64_t d = 5; !timed_out_getter_round(d); d *= 2)
        ;
    return NULL;
}

START_TEST(test_timed_out_getter_passes_the_item_on)
{
    ck_assert_int_eq(run_on(1, timed_out_getter_main, NULL), 0);
}
END_TEST

/* An item handed back by an interrupted getter goes where it was: the
 * head of a FIFO queue, under the items put since in a LIFO one, its
 * place by priority; even past maxsize. */
static void *given_back_main(void *arg)
{
    static const intptr_t want[3][3] = { { 1, 2, 3 }, { 3, 2, 1 }, { 2, 1, 3 } };
    weft_queue *q;
    void *v;
    (void)arg;

    for (int order = WEFT_QUEUE_FIFO; order <= WEFT_QUEUE_PRIORITY; order++) {
        ck_assert_int_eq(weft_queue_create(&q, &(weft_queue_opts){ .order = order,
                                                                   .maxsize = 2 }), 0);
        struct waiter w = { .q = q, .op = OP_GET, .timeout = WEFT_FOREVER };
        start(&w);
        ck_assert_int_eq(weft_cancel(w.task), 0);
        ck_assert_int_eq(weft_queue_put_prio(q, ITEM(1), 5, 0), 0); /* to W */
        ck_assert_int_eq(weft_queue_put_prio(q, ITEM(2), 1, 0), 0);
        ck_assert_int_eq(weft_queue_put_prio(q, ITEM(3), 9, 0), 0);
        ck_assert_int_eq(weft_queue_size(q), 2);
        ck_assert_int_eq(finish(&w), -ECANCELED);
        ck_assert_int_eq(w.rc, -ECANCELED);
        /* One more than maxsize, for now: still full. */
        ck_assert_int_eq(weft_queue_size(q), 3);
        ck_assert_int_eq(weft_queue_is_full(q), 1);
        ck_assert_int_eq(weft_queue_try_put(q, ITEM(4)), -EAGAIN);
        ck_assert_int_eq(weft_queue_get(q, &v, 0), 0);
        ck_assert_int_eq(NUM(v), want[order][0]);
        ck_assert_int_eq(weft_queue_is_full(q), 1);
        ck_assert_int_eq(weft_queue_try_put(q, ITEM(4)), -EAGAIN);
        expect_items(q, &want[order][1], 2);
        for (int i = 0; i < 3; i++)
            ck_assert_int_eq(weft_queue_task_done(q), 0);
        ck_assert_int_eq(weft_queue_task_done(q), -ERANGE);
        ck_assert_int_eq(weft_queue_destroy(q), 0);
    }
    return NULL;
}

START_TEST(test_item_given_back_goes_where_it_was)
{
    ck_assert_int_eq(run_on(1, given_back_main, NULL), 0);
}
END_TEST

/* On a full queue of one, a putter P1 times out as H's get makes room
 * (see window_close): H's sleep (d, started last) ends before P1's
 * deadline (2d + 5, started first), so H runs first and admits P1's item,
 * whose put then counts as done. False if the round decided nothing. */
static bool timed_out_putter_round(weft_queue *q, int64_t d)
{
    struct event_log log = { .len = 0 };
    struct window win = { .d = d };

    ck_assert_int_eq(weft_queue_put(q, ITEM(7), 0), 0);
    struct waiter p1 = { .q = q, .op = OP_PUT, .item = ITEM(8),
                         .timeout = 2 * d + 5, .log = &log, .name = "P1" };
    struct waiter h = { .q = q, .op = OP_SLEEP_GET, .timeout = d,
                        .log = &log, .name = "H" };
    window_open(&win);
    start(&p1);
    start(&h);
    bool decided = window_close(&win);
    ck_assert_int_eq(finish(&p1), 0);
    ck_assert_int_eq(finish(&h), 0);
    ck_assert_int_eq(h.rc, 0);
    ck_assert_ptr_eq(h.item, ITEM(7));
    if (p1.rc == 0) {
        ck_assert_str_eq(log.text, "H P1");
        expect_items(q, (const intptr_t[]){ 8 }, 1);
    } else {
        /* Timed out and run before H's get: only when undecided. */
        ck_assert(!decided);
        ck_assert_int_eq(p1.rc, -ETIMEDOUT);
        ck_assert_int_eq(weft_queue_size(q), 0);
    }
    return decided;
}

/* Putters P1 then P2 wait on a full queue; main cancels P1, then gets:
 * P1's item is admitted as it is cancelled, so its put happened. */
static void *cancelled_putter_main(void *arg)
{
    weft_queue *q;
    struct event_log log = { .len = 0 };
    void *v;
    (void)arg;

    ck_assert_int_eq(weft_queue_create(&q, &(weft_queue_opts){ .maxsize = 1 }), 0);
    ck_assert_int_eq(weft_queue_put(q, ITEM(1), 0), 0);
    struct waiter p1 = { .q = q, .op = OP_PUT, .item = ITEM(2), .timeout = WEFT_FOREVER,
                         .log = &log, .name = "P1" };
    struct waiter p2 = { .q = q, .op = OP_PUT, .item = ITEM(3), .timeout = WEFT_FOREVER,
                         .log = &log, .name = "P2" };
    start(&p1);
    start(&p2);
    ck_assert_int_eq(weft_cancel(p1.task), 0);
    ck_assert_int_eq(weft_queue_get(q, &v, 0), 0);
    ck_assert_ptr_eq(v, ITEM(1));
    ck_assert_int_eq(weft_queue_size(q), 1); /* P1's item */
    /* The put happened; the cancellation stays pending and ends P1. */
    ck_assert_int_eq(finish(&p1), -ECANCELED);
    ck_assert_int_eq(p1.rc, 0);
    ck_assert_int_eq(weft_task_is_done(p2.task), 0);
    ck_assert_int_eq(weft_queue_get(q, &v, 0), 0);
    ck_assert_ptr_eq(v, ITEM(2));
    ck_assert_int_eq(finish(&p2), 0);
    ck_assert_int_eq(p2.rc, 0);
    expect_items(q, (const intptr_t[]){ 3 }, 1);
    ck_assert_str_eq(log.text, "P1 P2");
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(weft_queue_task_done(q), 0);
    ck_assert_int_eq(weft_queue_task_done(q), -ERANGE);

    /* A putter cancelled before anything happens fails, and its item
     * never appears; the one behind it takes its turn. */
    ck_assert_int_eq(weft_queue_put(q, ITEM(4), 0), 0);
    p1 = (struct waiter){ .q = q, .op = OP_PUT, .item = ITEM(5), .timeout = WEFT_FOREVER };
    p2 = (struct waiter){ .q = q, .op = OP_PUT, .item = ITEM(6), .timeout = WEFT_FOREVER };
    start(&p1);
    start(&p2);
    ck_assert_int_eq(weft_cancel(p1.task), 0);
    ck_assert_int_eq(finish(&p1), -ECANCELED);
    ck_assert_int_eq(p1.rc, -ECANCELED);
    ck_assert_int_eq(weft_queue_size(q), 1);
    ck_assert_int_eq(weft_queue_get(q, &v, 0), 0);
    ck_assert_ptr_eq(v, ITEM(4));
    ck_assert_int_eq(finish(&p2), 0);
    ck_assert_int_eq(p2.rc, 0);
    expect_items(q, (const intptr_t[]){ 6 }, 1);

    /* A time-out the same way: P1's deadline passes, then H's get admits
     * it before it has run (see timed_out_getter_round): put happened. */
    for (int64_t d = 5; !timed_out_putter_round(q, d); d *= 2)
        ;
    ck_assert_int_eq(weft_queue_destroy(q), 0);
    return NULL;
}

START_TEST(test_cancelled_putter)
{
    ck_assert_int_eq(run_on(1, cancelled_putter_main, NULL), 0);
}
END_TEST

/* An unbuffered channel: a getter takes the item from a sender's hands as
 * that sender is cancelled; the send happened. And a receiver cancelled
 * as it is handed an item leaves it buffered, for the next receiver. */
static void *cancelled_chan_main(void *arg)
{
    weft_channel *ch;
    void *v;
    (void)arg;

    ck_assert_int_eq(weft_channel_create(&ch, 0, NULL), 0);
    struct waiter s = { .ch = ch, .op = OP_SEND, .item = ITEM(1), .timeout = WEFT_FOREVER };
    start(&s);
    ck_assert_int_eq(weft_cancel(s.task), 0);
    ck_assert_int_eq(weft_channel_try_recv(ch, &v), 0);
    ck_assert_ptr_eq(v, ITEM(1));
    ck_assert_int_eq(finish(&s), -ECANCELED);
    ck_assert_int_eq(s.rc, 0);

    struct waiter r = { .ch = ch, .op = OP_RECV, .timeout = WEFT_FOREVER };
    start(&r);
    ck_assert_int_eq(weft_cancel(r.task), 0);
    ck_assert_int_eq(weft_channel_try_send(ch, ITEM(2)), 0); /* to r */
    ck_assert_int_eq(finish(&r), -ECANCELED);
    ck_assert_int_eq(r.rc, -ECANCELED);
    ck_assert_ptr_null(r.item);
    /* Given back: one item in a channel of no capacity. */
    ck_assert_int_eq(weft_channel_try_send(ch, ITEM(3)), -EAGAIN);
    ck_assert_int_eq(weft_channel_recv(ch, &v, 0), 0);
    ck_assert_ptr_eq(v, ITEM(2));
    ck_assert_int_eq(weft_channel_try_recv(ch, &v), -EAGAIN);
    ck_assert_int_eq(weft_channel_destroy(ch), 0);
    return NULL;
}

START_TEST(test_cancelled_channel_waiters)
{
    ck_assert_int_eq(run_on(1, cancelled_chan_main, NULL), 0);
}
END_TEST

/* --- 8. races on four workers ---------------------------------------------- */

/* Each round, putters and getters with time-outs of 0 to 2 ms or none
 * race on a small queue (FIFO, LIFO, priority) or an unbuffered channel,
 * while main cancels them, makes moves of its own, and in some rounds
 * shuts the queue down (at once or not) or closes the channel. At the
 * end, every item whose put returned 0 was received exactly once or, if
 * an immediate shutdown dropped it, disposed of exactly once; no item of
 * a failed put appears; and join finds nothing unfinished. */
#ifdef TEST_UNDER_TSAN
#define RACE_ROUNDS 300
#else
#define RACE_ROUNDS 3000
#endif
#define RACE_PAIRS 6    /* putters, and as many getters, per round */
/* Item ids per round: the putters', then main's own try_puts. */
#define RACE_IDS (3 * RACE_PAIRS)

struct race {
    weft_queue *q;
    weft_channel *ch;
    uint8_t *put_ok;    /* per item: its put returned 0 */
    uint8_t *got;       /* per item: times received */
    uint8_t *dropped;   /* per item: times disposed of */
    long puts_ok, gets_ok, fails, drops, shutdowns;
};

static struct race *race_now; /* for race_dispose */

static void race_dispose(void *item)
{
    CHECK(item != NULL);
    COUNT(race_now->dropped[NUM(item) - 1]);
    COUNT(race_now->drops);
}

struct racer {
    struct race *r;
    bool put;
    intptr_t id;
    int64_t timeout;
    weft_task *task;
};

static void received(struct race *r, void *v)
{
    CHECK(v != NULL);
    COUNT(r->got[NUM(v) - 1]);
    COUNT(r->gets_ok);
    if (r->q != NULL)
        CHECK(weft_queue_task_done(r->q) == 0);
}

static bool race_error(int rc)
{
    return rc == -ETIMEDOUT || rc == -ECANCELED || rc == -ESHUTDOWN;
}

static void *racer_body(void *arg)
{
    struct racer *x = arg;
    struct race *r = x->r;
    void *v = ITEM(-1);
    int rc;

    if (x->put) {
        if (r->ch != NULL)
            rc = weft_channel_send(r->ch, ITEM(x->id + 1), x->timeout);
        else
            rc = weft_queue_put_prio(r->q, ITEM(x->id + 1), x->id % 3, x->timeout);
        if (rc == 0) {
            SET(r->put_ok[x->id], 1);
            COUNT(r->puts_ok);
        } else {
            CHECK(race_error(rc));
            COUNT(r->fails);
        }
    } else {
        if (r->ch != NULL)
            rc = weft_channel_recv(r->ch, &v, x->timeout);
        else
            rc = weft_queue_get(r->q, &v, x->timeout);
        if (rc == 0) {
            received(r, v);
        } else {
            CHECK(race_error(rc));
            CHECK(v == NULL);
            COUNT(r->fails);
        }
    }
    return NULL;
}

/* main's own moves between cancellations: a try_put of a fresh item
 * (move 1) or a try_get (2). A task main has just cancelled is often
 * still queued, so these grant it an item or a slot as it is
 * interrupted; move is what would grant it, made 3 times in 4. */
static void race_poke(struct race *r, intptr_t *next_id, unsigned move)
{
    void *v;
    int rc;

    switch (rnd(4) != 0 ? move : rnd(3)) {
    case 0:
        break;
    case 1:
        if (r->ch != NULL)
            rc = weft_channel_try_send(r->ch, ITEM(*next_id + 1));
        else
            rc = weft_queue_try_put(r->q, ITEM(*next_id + 1));
        if (rc == 0) {
            SET(r->put_ok[*next_id], 1);
            COUNT(r->puts_ok);
        } else {
            CHECK(rc == -EAGAIN || rc == -ESHUTDOWN);
        }
        (*next_id)++;
        break;
    default:
        rc = r->ch != NULL ? weft_channel_try_recv(r->ch, &v) : weft_queue_try_get(r->q, &v);
        if (rc == 0)
            received(r, v);
        else
            CHECK((rc == -EAGAIN || rc == -ESHUTDOWN) && v == NULL);
        break;
    }
}

static void *race_main(void *arg)
{
    struct race *r = arg;
    struct racer x[2 * RACE_PAIRS];
    static const int64_t timeouts[] = { 0, 1, 2, WEFT_FOREVER, WEFT_FOREVER };

    race_now = r;
    rng_state = 2463534242u;
    for (int round = 0; round < RACE_ROUNDS; round++) {
        int kind = round % 4;
        intptr_t base = (intptr_t)round * RACE_IDS;
        intptr_t next_id = base + RACE_PAIRS;
        /* Shut down (or close) after main's shut_at-th move, or never. */
        int shut_at = rnd(3) == 0 ? (int)rnd(2 * RACE_PAIRS) : -1;
        bool immediate = kind != 3 && rnd(2) == 0;
        r->q = NULL;
        r->ch = NULL;
        if (kind == 3)
            ck_assert_int_eq(weft_channel_create(&r->ch, 0, &(weft_channel_opts){ .dispose = race_dispose }), 0);
        else
            ck_assert_int_eq(weft_queue_create(&r->q, &(weft_queue_opts){
                                 .order = kind, .maxsize = 2,
                                 .dispose = race_dispose }), 0);
        for (int i = 0; i < 2 * RACE_PAIRS; i++) {
            x[i] = (struct racer){ .r = r, .put = i < RACE_PAIRS,
                                   .id = base + i % RACE_PAIRS,
                                   .timeout = timeouts[rnd(5)] };
        }
        /* Spawned in a random order. */
        for (int i = 2 * RACE_PAIRS - 1; i > 0; i--) {
            int k = (int)rnd((uint32_t)i + 1);
            struct racer t = x[i];
            x[i] = x[k];
            x[k] = t;
        }
        for (int i = 0; i < 2 * RACE_PAIRS; i++)
            ck_assert_int_eq(weft_spawn(&x[i].task, racer_body, &x[i]), 0);
        /* Let them race a while, then cancel the ones that would wait
         * forever, and a few others, with main's own moves between. */
        switch (rnd(4)) {
        case 0:
            break;
        case 1:
            ck_assert_int_eq(weft_yield(), 0);
            break;
        case 2:
            for (volatile int spin = (int)rnd(20000); spin > 0; spin--)
                ;
            break;
        default:
            ck_assert_int_eq(weft_sleep(1), 0);
            break;
        }
        for (int i = 0; i < 2 * RACE_PAIRS; i++) {
            if (x[i].timeout == WEFT_FOREVER || rnd(4) == 0) {
                int rc = weft_cancel(x[i].task);
                CHECK(rc == 0 || rc == -EALREADY);
            }
            race_poke(r, &next_id, x[i].put ? 2 : 1);
            if (i == shut_at) {
                if (r->ch != NULL)
                    ck_assert_int_eq(weft_channel_close(r->ch), 0);
                else
                    ck_assert_int_eq(weft_queue_shutdown(r->q, immediate), 0);
                COUNT(r->shutdowns);
            }
        }
        CHECK(next_id <= base + RACE_IDS);
        for (int i = 0; i < 2 * RACE_PAIRS; i++) {
            int rc = weft_await(x[i].task, NULL);
            CHECK(rc == 0 || rc == -ECANCELED);
            weft_task_unref(x[i].task);
        }
        /* What the getters left is received here; nothing, after an
         * immediate shutdown. */
        void *v;
        int rc, drained = 0;
        while ((rc = r->ch != NULL ? weft_channel_try_recv(r->ch, &v)
                                   : weft_queue_try_get(r->q, &v)) == 0) {
            received(r, v);
            drained++;
        }
        if (shut_at < 0)
            CHECK(rc == -EAGAIN);
        else
            CHECK(rc == -ESHUTDOWN);
        if (shut_at >= 0 && immediate)
            CHECK(drained == 0);
        if (r->ch != NULL) {
            ck_assert_int_eq(weft_channel_destroy(r->ch), 0);
        } else {
            CHECK(weft_queue_join(r->q, 0) == 0);
            ck_assert_int_eq(weft_queue_destroy(r->q), 0);
        }
    }
    return NULL;
}

START_TEST(test_races_lose_and_duplicate_nothing)
{
    size_t n = (size_t)RACE_ROUNDS * RACE_IDS;
    struct race r = { 0 };
    r.put_ok = calloc(n, 1);
    r.got = calloc(n, 1);
    r.dropped = calloc(n, 1);
    ck_assert_ptr_nonnull(r.put_ok);
    ck_assert_ptr_nonnull(r.got);
    ck_assert_ptr_nonnull(r.dropped);
    ck_assert_int_eq(run_on(4, race_main, &r), 0);
    long ok = 0, got = 0, dropped = 0;
    for (size_t i = 0; i < n; i++) {
        if (r.got[i] + r.dropped[i] != (r.put_ok[i] ? 1 : 0))
            ck_abort_msg("item %zu: put %s, received %d times, disposed of %d times",
                         i, r.put_ok[i] ? "succeeded" : "failed", r.got[i],
                         r.dropped[i]);
        ok += r.put_ok[i];
        got += r.got[i];
        dropped += r.dropped[i];
    }
    ck_assert_int_eq(ok, r.puts_ok);
    ck_assert_int_eq(got, r.gets_ok);
    ck_assert_int_eq(dropped, r.drops);
    /* The races happened: puts and gets both succeeded and failed, and
     * shutdowns dropped items. */
    ck_assert_int_gt(r.puts_ok, 0);
    ck_assert_int_gt(r.gets_ok, 0);
    ck_assert_int_gt(r.fails, 0);
    ck_assert_int_gt(r.shutdowns, 0);
    ck_assert_int_gt(r.drops, 0);
    free(r.put_ok);
    free(r.got);
    free(r.dropped);
}
END_TEST

/* --- 9. producers and consumers ------------------------------------------ */

#ifdef TEST_UNDER_TSAN
#define PC_ITEMS 20000
#else
#define PC_ITEMS 200000
#endif
#define PC_PRODUCERS 8
#define PC_CONSUMERS 8

struct pc {
    weft_queue *q;
    uint8_t *seen;
    int next;           /* atomic: the next producer's index */
};

static void *producer(void *arg)
{
    struct pc *pc = arg;
    intptr_t p = COUNT(pc->next);
    for (intptr_t i = p; i < PC_ITEMS; i += PC_PRODUCERS)
        CHECK(weft_queue_put(pc->q, ITEM(i + 1), WEFT_FOREVER) == 0);
    return NULL;
}

static void *consumer(void *arg)
{
    struct pc *pc = arg;
    intptr_t n = 0;
    void *v;
    int rc;

    while ((rc = weft_queue_get(pc->q, &v, WEFT_FOREVER)) == 0) {
        CHECK(NUM(v) >= 1 && NUM(v) <= PC_ITEMS);
        COUNT(pc->seen[NUM(v) - 1]);
        n++;
        CHECK(weft_queue_task_done(pc->q) == 0);
    }
    CHECK(rc == -ESHUTDOWN);
    return ITEM(n);
}

static void *pc_main(void *arg)
{
    struct pc *pc = arg;
    weft_task *prod[PC_PRODUCERS], *cons[PC_CONSUMERS];
    void *r;
    intptr_t total = 0;

    ck_assert_int_eq(weft_queue_create(&pc->q, &(weft_queue_opts){ .maxsize = 16 }), 0);
    for (int i = 0; i < PC_CONSUMERS; i++)
        ck_assert_int_eq(weft_spawn(&cons[i], consumer, pc), 0);
    for (int i = 0; i < PC_PRODUCERS; i++)
        ck_assert_int_eq(weft_spawn(&prod[i], producer, pc), 0);
    for (int i = 0; i < PC_PRODUCERS; i++) {
        ck_assert_int_eq(weft_await(prod[i], NULL), 0);
        weft_task_unref(prod[i]);
    }
    /* Every item is put; the consumers drain what is left, then stop. */
    ck_assert_int_eq(weft_queue_shutdown(pc->q, false), 0);
    for (int i = 0; i < PC_CONSUMERS; i++) {
        ck_assert_int_eq(weft_await(cons[i], &r), 0);
        total += NUM(r);
        weft_task_unref(cons[i]);
    }
    ck_assert_int_eq(total, PC_ITEMS);
    ck_assert_int_eq(weft_queue_size(pc->q), 0);
    ck_assert_int_eq(weft_queue_join(pc->q, 0), 0);
    ck_assert_int_eq(weft_queue_destroy(pc->q), 0);
    return NULL;
}

START_TEST(test_producers_and_consumers)
{
    struct pc pc = { 0 };
    pc.seen = calloc(PC_ITEMS, 1);
    ck_assert_ptr_nonnull(pc.seen);
    ck_assert_int_eq(run_on(4, pc_main, &pc), 0);
    for (size_t i = 0; i < PC_ITEMS; i++) {
        if (pc.seen[i] != 1)
            ck_abort_msg("item %zu received %d times", i + 1, pc.seen[i]);
    }
    free(pc.seen);
}
END_TEST

/* --- 10. channels ----------------------------------------------------------- */

static void *unbuffered_main(void *arg)
{
    weft_channel *ch;
    void *v;
    (void)arg;

    ck_assert_int_eq(weft_channel_create(&ch, 0, NULL), 0);
    /* Nobody on the other side. */
    ck_assert_int_eq(weft_channel_try_send(ch, ITEM(1)), -EAGAIN);
    ck_assert_int_eq(weft_channel_try_recv(ch, &v), -EAGAIN);
    ck_assert_int_eq(weft_channel_send(ch, ITEM(1), 0), -ETIMEDOUT);
    ck_assert_int_eq(weft_channel_recv(ch, &v, 0), -ETIMEDOUT);
    int64_t t0 = weft_now();
    ck_assert_int_eq(weft_channel_send(ch, ITEM(1), 10), -ETIMEDOUT);
    ck_assert_int_ge(weft_now() - t0, 10);
    ck_assert_int_eq(weft_channel_try_recv(ch, &v), -EAGAIN); /* not left in it */

    /* send waits until a receiver takes the item. */
    struct waiter s = { .ch = ch, .op = OP_SEND, .item = ITEM(2), .timeout = WEFT_FOREVER };
    start(&s);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(weft_yield(), 0);
    ck_assert_int_eq(weft_task_is_done(s.task), 0);
    ck_assert_int_eq(weft_channel_recv(ch, &v, WEFT_FOREVER), 0);
    ck_assert_ptr_eq(v, ITEM(2));
    ck_assert_int_eq(finish(&s), 0);
    ck_assert_int_eq(s.rc, 0);

    /* try_recv takes from a waiting sender; try_send gives to a waiting
     * receiver; so does send, without waiting. */
    s = (struct waiter){ .ch = ch, .op = OP_SEND, .item = ITEM(3), .timeout = WEFT_FOREVER };
    start(&s);
    ck_assert_int_eq(weft_channel_try_recv(ch, &v), 0);
    ck_assert_ptr_eq(v, ITEM(3));
    ck_assert_int_eq(finish(&s), 0);
    ck_assert_int_eq(s.rc, 0);
    struct waiter r = { .ch = ch, .op = OP_RECV, .timeout = WEFT_FOREVER };
    start(&r);
    ck_assert_int_eq(weft_channel_try_send(ch, ITEM(4)), 0);
    ck_assert_int_eq(finish(&r), 0);
    ck_assert_int_eq(r.rc, 0);
    ck_assert_ptr_eq(r.item, ITEM(4));
    r = (struct waiter){ .ch = ch, .op = OP_RECV, .timeout = WEFT_FOREVER };
    start(&r);
    ck_assert_int_eq(weft_channel_send(ch, ITEM(5), 0), 0);
    ck_assert_int_eq(finish(&r), 0);
    ck_assert_ptr_eq(r.item, ITEM(5));

    /* Senders, then receivers, served in the order they came. */
    struct waiter w[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (struct waiter){ .ch = ch, .op = OP_SEND, .item = ITEM(10 + i),
                                .timeout = WEFT_FOREVER };
        start(&w[i]);
    }
    for (intptr_t i = 10; i < 13; i++) {
        ck_assert_int_eq(weft_channel_recv(ch, &v, WEFT_FOREVER), 0);
        ck_assert_int_eq(NUM(v), i);
    }
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(finish(&w[i]), 0);
        ck_assert_int_eq(w[i].rc, 0);
    }
    for (int i = 0; i < 3; i++) {
        w[i] = (struct waiter){ .ch = ch, .op = OP_RECV, .timeout = WEFT_FOREVER };
        start(&w[i]);
    }
    for (intptr_t i = 20; i < 23; i++)
        ck_assert_int_eq(weft_channel_send(ch, ITEM(i), WEFT_FOREVER), 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(finish(&w[i]), 0);
        ck_assert_ptr_eq(w[i].item, ITEM(20 + i));
    }
    ck_assert_int_eq(weft_channel_destroy(ch), 0);
    return NULL;
}

START_TEST(test_chan_unbuffered)
{
    ck_assert_int_eq(run_on(1, unbuffered_main, NULL), 0);
}
END_TEST

static void *buffered_close_main(void *arg)
{
    weft_channel *ch;
    void *v;
    (void)arg;

    reset_dispose();
    ck_assert_int_eq(weft_channel_create(&ch, 3, &(weft_channel_opts){ .dispose = count_dispose }), 0);
    for (intptr_t i = 1; i <= 3; i++)
        ck_assert_int_eq(weft_channel_try_send(ch, ITEM(i)), 0);
    ck_assert_int_eq(weft_channel_try_send(ch, ITEM(4)), -EAGAIN);
    ck_assert_int_eq(weft_channel_send(ch, ITEM(4), 0), -ETIMEDOUT);
    struct waiter s = { .ch = ch, .op = OP_SEND, .item = ITEM(4), .timeout = WEFT_FOREVER };
    start(&s);
    ck_assert_int_eq(weft_channel_recv(ch, &v, WEFT_FOREVER), 0);
    ck_assert_ptr_eq(v, ITEM(1));
    ck_assert_int_eq(finish(&s), 0);
    ck_assert_int_eq(s.rc, 0);
    for (intptr_t i = 2; i <= 4; i++) {
        ck_assert_int_eq(weft_channel_recv(ch, &v, 0), 0);
        ck_assert_int_eq(NUM(v), i);
    }
    ck_assert_int_eq(weft_channel_try_recv(ch, &v), -EAGAIN);

    /* Closed with items buffered and a sender waiting on the full
     * channel: the sender fails, keeping its item; receivers drain the
     * buffer, then are told it is closed. */
    for (intptr_t i = 5; i <= 7; i++)
        ck_assert_int_eq(weft_channel_send(ch, ITEM(i), WEFT_FOREVER), 0);
    s = (struct waiter){ .ch = ch, .op = OP_SEND, .item = ITEM(8), .timeout = WEFT_FOREVER };
    start(&s);
    ck_assert_int_eq(weft_channel_close(ch), 0);
    ck_assert_int_eq(weft_channel_close(ch), 0);
    ck_assert_int_eq(finish(&s), 0);
    ck_assert_int_eq(s.rc, -ESHUTDOWN);
    ck_assert_int_eq(weft_channel_send(ch, ITEM(9), WEFT_FOREVER), -ESHUTDOWN);
    ck_assert_int_eq(weft_channel_send(ch, ITEM(9), 0), -ESHUTDOWN);
    ck_assert_int_eq(weft_channel_try_send(ch, ITEM(9)), -ESHUTDOWN);
    for (intptr_t i = 5; i <= 7; i++) {
        ck_assert_int_eq(weft_channel_recv(ch, &v, WEFT_FOREVER), 0);
        ck_assert_int_eq(NUM(v), i);
    }
    ck_assert_int_eq(weft_channel_recv(ch, &v, WEFT_FOREVER), -ESHUTDOWN);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(weft_channel_recv(ch, &v, 0), -ESHUTDOWN);
    ck_assert_int_eq(weft_channel_try_recv(ch, &v), -ESHUTDOWN);
    ck_assert_int_eq(weft_channel_close(ch), 0);
    ck_assert_int_eq(weft_channel_destroy(ch), 0);
    ck_assert_int_eq(READ(disposed), 0);

    /* Receivers waiting at close are told at once. */
    ck_assert_int_eq(weft_channel_create(&ch, 2, NULL), 0);
    struct waiter r1 = { .ch = ch, .op = OP_RECV, .timeout = WEFT_FOREVER };
    struct waiter r2 = { .ch = ch, .op = OP_RECV, .timeout = TEST_LONG_MS };
    start(&r1);
    start(&r2);
    ck_assert_int_eq(weft_channel_close(ch), 0);
    ck_assert_int_eq(finish(&r1), 0);
    ck_assert_int_eq(r1.rc, -ESHUTDOWN);
    ck_assert_int_eq(finish(&r2), 0);
    ck_assert_int_eq(r2.rc, -ESHUTDOWN);
    ck_assert_int_eq(weft_channel_destroy(ch), 0);

    /* An unbuffered sender waiting at close: its item is not received. */
    ck_assert_int_eq(weft_channel_create(&ch, 0, &(weft_channel_opts){ .dispose = count_dispose }), 0);
    s = (struct waiter){ .ch = ch, .op = OP_SEND, .item = ITEM(10), .timeout = WEFT_FOREVER };
    start(&s);
    ck_assert_int_eq(weft_channel_close(ch), 0);
    ck_assert_int_eq(finish(&s), 0);
    ck_assert_int_eq(s.rc, -ESHUTDOWN);
    ck_assert_int_eq(weft_channel_recv(ch, &v, WEFT_FOREVER), -ESHUTDOWN);
    ck_assert_int_eq(weft_channel_destroy(ch), 0);
    ck_assert_int_eq(READ(disposed), 0);

    /* Items left at destroy go to dispose. */
    ck_assert_int_eq(weft_channel_create(&ch, 4, &(weft_channel_opts){ .dispose = count_dispose }), 0);
    for (intptr_t i = 11; i <= 13; i++)
        ck_assert_int_eq(weft_channel_send(ch, ITEM(i), 0), 0);
    ck_assert_int_eq(weft_channel_close(ch), 0);
    ck_assert_int_eq(weft_channel_destroy(ch), 0);
    ck_assert_int_eq(READ(disposed), 3);
    for (int i = 11; i <= 13; i++)
        ck_assert_int_eq(disposed_item[i], 1);
    return NULL;
}

START_TEST(test_chan_buffered_and_close)
{
    ck_assert_int_eq(run_on(1, buffered_close_main, NULL), 0);
}
END_TEST

/* A source sends 1..N into ch1; four workers double each and send it into
 * ch2; a sink sums. The source closes ch1; the last worker out closes
 * ch2, which ends the sink. */
#ifdef TEST_UNDER_TSAN
#define PIPE_N 10000
#else
#define PIPE_N 100000
#endif
#define PIPE_WORKERS 4

struct pipeline {
    weft_channel *ch1, *ch2;
    int workers_done;   /* atomic */
    int64_t sum, count;
};

static void *source(void *arg)
{
    struct pipeline *p = arg;
    for (intptr_t i = 1; i <= PIPE_N; i++)
        CHECK(weft_channel_send(p->ch1, ITEM(i), WEFT_FOREVER) == 0);
    CHECK(weft_channel_close(p->ch1) == 0);
    return NULL;
}

static void *doubler(void *arg)
{
    struct pipeline *p = arg;
    void *v;
    int rc;

    while ((rc = weft_channel_recv(p->ch1, &v, WEFT_FOREVER)) == 0)
        CHECK(weft_channel_send(p->ch2, ITEM(NUM(v) * 2), WEFT_FOREVER) == 0);
    CHECK(rc == -ESHUTDOWN);
    if (__atomic_add_fetch(&p->workers_done, 1, __ATOMIC_ACQ_REL) == PIPE_WORKERS)
        CHECK(weft_channel_close(p->ch2) == 0);
    return NULL;
}

static void *sink(void *arg)
{
    struct pipeline *p = arg;
    void *v;
    int rc;

    while ((rc = weft_channel_recv(p->ch2, &v, WEFT_FOREVER)) == 0) {
        p->sum += NUM(v);
        p->count++;
    }
    CHECK(rc == -ESHUTDOWN);
    return NULL;
}

static void *pipeline_main(void *arg)
{
    struct pipeline *p = arg;
    weft_task *t[PIPE_WORKERS + 2];

    ck_assert_int_eq(weft_channel_create(&p->ch1, 0, NULL), 0);
    ck_assert_int_eq(weft_channel_create(&p->ch2, 8, NULL), 0);
    ck_assert_int_eq(weft_spawn(&t[0], sink, p), 0);
    for (int i = 0; i < PIPE_WORKERS; i++)
        ck_assert_int_eq(weft_spawn(&t[1 + i], doubler, p), 0);
    ck_assert_int_eq(weft_spawn(&t[PIPE_WORKERS + 1], source, p), 0);
    for (int i = 0; i < PIPE_WORKERS + 2; i++) {
        ck_assert_int_eq(weft_await(t[i], NULL), 0);
        weft_task_unref(t[i]);
    }
    ck_assert_int_eq(READ(p->workers_done), PIPE_WORKERS);
    ck_assert_int_eq(weft_channel_destroy(p->ch1), 0);
    ck_assert_int_eq(weft_channel_destroy(p->ch2), 0);
    return NULL;
}

START_TEST(test_chan_pipeline)
{
    struct pipeline p = { 0 };
    ck_assert_int_eq(run_on(4, pipeline_main, &p), 0);
    ck_assert_int_eq(p.count, PIPE_N);
    ck_assert_int_eq(p.sum, (int64_t)PIPE_N * (PIPE_N + 1));
}
END_TEST

static Suite *queue_suite(void)
{
    Suite *s = suite_create("queue");
    TCase *tc = tcase_create("queue");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_destroy_while_waited_on_is_busy);
    tcase_add_test(tc, test_outside_a_task);
    tcase_add_test(tc, test_plain_thread_wakes_tasks);
    tcase_add_test(tc, test_out_of_memory);
    tcase_add_test(tc, test_orders);
    tcase_add_test(tc, test_maxsize_backpressure);
    tcase_add_test(tc, test_waiters_served_first_come_first_served);
    tcase_add_test(tc, test_task_done_and_join);
    tcase_add_test(tc, test_shutdown);
    tcase_add_test(tc, test_shutdown_immediate);
    tcase_add_test(tc, test_destroy_disposes_of_items_left);
    tcase_add_test(tc, test_cancelled_getter_passes_the_item_on);
    tcase_add_test(tc, test_timed_out_getter_passes_the_item_on);
    tcase_add_test(tc, test_item_given_back_goes_where_it_was);
    tcase_add_test(tc, test_cancelled_putter);
    tcase_add_test(tc, test_cancelled_channel_waiters);
    tcase_add_test(tc, test_races_lose_and_duplicate_nothing);
    tcase_add_test(tc, test_producers_and_consumers);
    tcase_add_test(tc, test_chan_unbuffered);
    tcase_add_test(tc, test_chan_buffered_and_close);
    tcase_add_test(tc, test_chan_pipeline);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(queue_suite)
