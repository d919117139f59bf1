/* Queues, channels, generators, the rate limiter and retry: orders,
 * backpressure, shutdown, hand-over, laziness, and bad input. */
#include <errno.h>
#include <math.h>
#include <stdint.h>

#include "testutil.h"

/* --- queues ------------------------------------------------------------------ */

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static void *orders_main(void *arg)
{
    weft_queue *q;
    void *v;
    int vals[6] = { 5, 1, 3, 1, 9, 3 };
    (void)arg;

    /* FIFO */
    ck_assert_int_eq(weft_queue_create(&q, NULL), 0);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(weft_queue_put(q, &vals[i], WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_queue_size(q), 6);
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(weft_queue_get(q, &v, WEFT_FOREVER), 0);
        ck_assert_ptr_eq(v, &vals[i]);
    }
    ck_assert_int_eq(weft_queue_is_empty(q), 1);
    ck_assert_int_eq(weft_queue_destroy(q), 0);

    /* LIFO */
    ck_assert_int_eq(weft_queue_create(&q, &(weft_queue_opts){ .order = WEFT_QUEUE_LIFO }), 0);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(weft_queue_try_put(q, &vals[i]), 0);
    for (int i = 5; i >= 0; i--) {
        ck_assert_int_eq(weft_queue_try_get(q, &v), 0);
        ck_assert_ptr_eq(v, &vals[i]);
    }
    ck_assert_int_eq(weft_queue_try_get(q, &v), -EAGAIN);
    ck_assert_int_eq(weft_queue_destroy(q), 0);

    /* Priority by compare, FIFO among equals: 1(i1) 1(i3) 3(i2) 3(i5) 5 9 */
    static const int by_cmp[6] = { 1, 3, 2, 5, 0, 4 };
    ck_assert_int_eq(weft_queue_create(&q, &(weft_queue_opts){
                         .order = WEFT_QUEUE_PRIORITY, .compare = cmp_int }), 0);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(weft_queue_put(q, &vals[i], WEFT_FOREVER), 0);
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(weft_queue_get(q, &v, 0), 0);
        ck_assert_ptr_eq(v, &vals[by_cmp[i]]);
    }
    ck_assert_int_eq(weft_queue_destroy(q), 0);

    /* Priority by integer, FIFO among equals. */
    ck_assert_int_eq(weft_queue_create(&q, &(weft_queue_opts){
                         .order = WEFT_QUEUE_PRIORITY }), 0);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(weft_queue_put_prio(q, &vals[i], vals[i], WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_queue_try_put_prio(q, &vals[0], -1), 0);
    ck_assert_int_eq(weft_queue_get(q, &v, 0), 0);
    ck_assert_ptr_eq(v, &vals[0]); /* priority -1 first */
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(weft_queue_get(q, &v, 0), 0);
        ck_assert_ptr_eq(v, &vals[by_cmp[i]]);
    }
    ck_assert_int_eq(weft_queue_destroy(q), 0);
    return NULL;
}

START_TEST(test_queue_orders)
{
    ck_assert_int_eq(run_on(1, orders_main, NULL), 0);
}
END_TEST

struct putter {
    weft_queue *q;
    int n;
    int done;
    int rc;
};

static void *put_n(void *arg)
{
    struct putter *p = arg;
    for (int i = 0; i < p->n; i++) {
        p->rc = weft_queue_put(p->q, (void *)(intptr_t)(i + 1), WEFT_FOREVER);
        if (p->rc < 0)
            return NULL;
        p->done++;
    }
    return NULL;
}

static void *backpressure_main(void *arg)
{
    weft_queue *q;
    weft_task *t;
    void *v;
    (void)arg;

    ck_assert_int_eq(weft_queue_create(&q, &(weft_queue_opts){ .maxsize = 2 }), 0);
    struct putter p = { q, 3, 0, 0 };
    ck_assert_int_eq(weft_spawn(&t, put_n, &p), 0);
    ck_assert_int_eq(weft_yield(), 0);
    /* Two fit; the third waits for room. */
    ck_assert_int_eq(p.done, 2);
    ck_assert_int_eq(weft_queue_is_full(q), 1);
    ck_assert_int_eq(weft_queue_try_put(q, &p), -EAGAIN);
    int64_t t0 = weft_now();
    ck_assert_int_eq(weft_queue_put(q, &p, 20), -ETIMEDOUT);
    ck_assert_int_ge(weft_now() - t0, 20);
    ck_assert_int_eq(weft_queue_put(q, &p, 0), -ETIMEDOUT);
    ck_assert_int_eq(weft_queue_get(q, &v, WEFT_FOREVER), 0);
    ck_assert_ptr_eq(v, (void *)1);
    ck_assert_int_eq(weft_await(t, NULL), 0);
    weft_task_unref(t);
    ck_assert_int_eq(p.done, 3);
    /* The timed-out puts left nothing behind. */
    for (int i = 2; i <= 3; i++) {
        ck_assert_int_eq(weft_queue_get(q, &v, 0), 0);
        ck_assert_ptr_eq(v, (void *)(intptr_t)i);
    }
    ck_assert_int_eq(weft_queue_get(q, &v, 0), -ETIMEDOUT);
    ck_assert_int_eq(weft_queue_is_full(q), 0);
    ck_assert_int_eq(weft_queue_destroy(q), 0);
    return NULL;
}

START_TEST(test_queue_backpressure)
{
    ck_assert_int_eq(run_on(1, backpressure_main, NULL), 0);
}
END_TEST

static int disposed;

static void dispose(void *item)
{
    (void)item;
    disposed++;
}

static void *joiner(void *arg)
{
    return weft_queue_join(arg, WEFT_FOREVER) == 0 ? NULL : weft_fail(WEFT_EIO, "join");
}

static void *shutdown_main(void *arg)
{
    weft_queue *q;
    weft_task *t, *j;
    void *v;
    (void)arg;

    disposed = 0;
    ck_assert_int_eq(weft_queue_create(&q, &(weft_queue_opts){ .maxsize = 2,
                                                               .dispose = dispose }), 0);
    ck_assert_int_eq(weft_queue_join(q, 0), 0); /* nothing put */
    struct putter p = { q, 3, 0, 0 };
    ck_assert_int_eq(weft_spawn(&t, put_n, &p), 0);
    ck_assert_int_eq(weft_spawn(&j, joiner, q), 0);
    ck_assert_int_eq(weft_yield(), 0);
    ck_assert_int_eq(weft_queue_join(q, 10), -ETIMEDOUT);
    ck_assert_int_eq(weft_queue_shutdown(q, false), 0);
    ck_assert_int_eq(weft_await(t, NULL), 0);
    weft_task_unref(t);
    /* The waiting putter failed at once, keeping its item. */
    ck_assert_int_eq(p.rc, -ESHUTDOWN);
    ck_assert_int_eq(p.done, 2);
    ck_assert_int_eq(weft_queue_put(q, &p, 0), -ESHUTDOWN);
    /* Getters drain, then fail. */
    ck_assert_int_eq(weft_queue_get(q, &v, WEFT_FOREVER), 0);
    ck_assert_ptr_eq(v, (void *)1);
    ck_assert_int_eq(weft_queue_task_done(q), 0);
    ck_assert_int_eq(weft_task_is_done(j), 0);
    ck_assert_int_eq(weft_queue_shutdown(q, true), 0); /* drops item 2 */
    ck_assert_int_eq(disposed, 1);
    ck_assert_int_eq(weft_queue_get(q, &v, WEFT_FOREVER), -ESHUTDOWN);
    ck_assert_int_eq(weft_await(j, NULL), 0); /* join released */
    weft_task_unref(j);
    ck_assert_int_eq(weft_queue_task_done(q), -ERANGE);
    ck_assert_int_eq(weft_queue_destroy(q), 0);

    /* Items left at destroy go to dispose. */
    ck_assert_int_eq(weft_queue_create(&q, &(weft_queue_opts){ .dispose = dispose }), 0);
    ck_assert_int_eq(weft_queue_put(q, &p, 0), 0);
    ck_assert_int_eq(weft_queue_put(q, &p, 0), 0);
    ck_assert_int_eq(weft_queue_destroy(q), 0);
    ck_assert_int_eq(disposed, 3);
    return NULL;
}

START_TEST(test_queue_join_and_shutdown)
{
    ck_assert_int_eq(run_on(1, shutdown_main, NULL), 0);
}
END_TEST

/* N producers, M consumers, bounded queue, four workers: every item once. */
enum { PRODUCERS = 8, CONSUMERS = 8, PER_PRODUCER = 2000 };

struct mpmc {
    weft_queue *q;
    unsigned char seen[PRODUCERS * PER_PRODUCER];
    long received;
    int next_producer;
};

static void *mp_producer(void *arg)
{
    struct mpmc *m = arg;
    int p = __atomic_fetch_add(&m->next_producer, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < PER_PRODUCER; i++) {
        intptr_t item = (intptr_t)p * PER_PRODUCER + i + 1;
        CHECK(weft_queue_put(m->q, (void *)item, WEFT_FOREVER) == 0);
    }
    return NULL;
}

static void *mp_consumer(void *arg)
{
    struct mpmc *m = arg;
    void *v;
    int rc;
    while ((rc = weft_queue_get(m->q, &v, WEFT_FOREVER)) == 0) {
        intptr_t item = (intptr_t)v - 1;
        CHECK(item >= 0 && item < PRODUCERS * PER_PRODUCER);
        CHECK(__atomic_fetch_add(&m->seen[item], 1, __ATOMIC_RELAXED) == 0);
        __atomic_fetch_add(&m->received, 1, __ATOMIC_RELAXED);
    }
    CHECK(rc == -ESHUTDOWN);
    return NULL;
}

static void *mpmc_main(void *arg)
{
    struct mpmc *m = arg;
    weft_task *p[PRODUCERS], *c[CONSUMERS];

    ck_assert_int_eq(weft_queue_create(&m->q, &(weft_queue_opts){ .maxsize = 16 }), 0);
    for (int i = 0; i < CONSUMERS; i++)
        ck_assert_int_eq(weft_spawn(&c[i], mp_consumer, m), 0);
    for (int i = 0; i < PRODUCERS; i++)
        ck_assert_int_eq(weft_spawn(&p[i], mp_producer, m), 0);
    for (int i = 0; i < PRODUCERS; i++) {
        ck_assert_int_eq(weft_await(p[i], NULL), 0);
        weft_task_unref(p[i]);
    }
    ck_assert_int_eq(weft_queue_shutdown(m->q, false), 0);
    for (int i = 0; i < CONSUMERS; i++) {
        ck_assert_int_eq(weft_await(c[i], NULL), 0);
        weft_task_unref(c[i]);
    }
    ck_assert_int_eq(m->received, PRODUCERS * PER_PRODUCER);
    for (int i = 0; i < PRODUCERS * PER_PRODUCER; i++)
        CHECK(m->seen[i] == 1);
    ck_assert_int_eq(weft_queue_destroy(m->q), 0);
    return NULL;
}

START_TEST(test_queue_producers_consumers)
{
    static struct mpmc m;
    memset(&m, 0, sizeof m);
    ck_assert_int_eq(run_on(4, mpmc_main, &m), 0);
}
END_TEST

static void *outside_thread(void *arg)
{
    weft_queue *q = arg;
    void *v;
    /* The non-waiting calls work from any thread. */
    CHECK(weft_queue_try_put(q, q) == 0);
    CHECK(weft_queue_size(q) == 1);
    CHECK(weft_queue_try_get(q, &v) == 0 && v == q);
    CHECK(weft_queue_task_done(q) == 0);
    CHECK(weft_queue_put(q, q, 0) == -EPERM);
    CHECK(weft_queue_get(q, &v, 0) == -EPERM);
    CHECK(weft_queue_join(q, 0) == -EPERM);
    return NULL;
}

START_TEST(test_queue_bad_input)
{
    weft_queue *q;
    weft_channel *ch;
    void *v;
    struct test_thread th;

    ck_assert_int_eq(weft_queue_create(NULL, NULL), -EINVAL);
    ck_assert_int_eq(weft_queue_create(&q, &(weft_queue_opts){ .order = 7 }), -EINVAL);
    ck_assert_ptr_null(q);
    ck_assert_int_eq(weft_queue_destroy(NULL), -EINVAL);
    ck_assert_int_eq(weft_queue_put(NULL, NULL, 0), -EINVAL);
    ck_assert_int_eq(weft_queue_put_prio(NULL, NULL, 0, 0), -EINVAL);
    ck_assert_int_eq(weft_queue_try_put(NULL, NULL), -EINVAL);
    ck_assert_int_eq(weft_queue_try_put_prio(NULL, NULL, 0), -EINVAL);
    ck_assert_int_eq(weft_queue_get(NULL, &v, 0), -EINVAL);
    ck_assert_int_eq(weft_queue_try_get(NULL, &v), -EINVAL);
    ck_assert_int_eq(weft_queue_task_done(NULL), -EINVAL);
    ck_assert_int_eq(weft_queue_join(NULL, 0), -EINVAL);
    ck_assert_int_eq(weft_queue_shutdown(NULL, false), -EINVAL);
    ck_assert_int_eq(weft_queue_size(NULL), -EINVAL);
    ck_assert_int_eq(weft_queue_is_empty(NULL), -EINVAL);
    ck_assert_int_eq(weft_queue_is_full(NULL), -EINVAL);
    ck_assert_int_eq(weft_queue_create(&q, NULL), 0);
    ck_assert_int_eq(weft_queue_put(q, NULL, -2), -EINVAL);
    ck_assert_int_eq(weft_queue_try_get(q, NULL), -EINVAL);
    test_thread_start(&th, outside_thread, q);
    test_thread_join(&th);
    ck_assert_int_eq(weft_queue_destroy(q), 0);

    ck_assert_int_eq(weft_channel_create(NULL, 0, NULL), -EINVAL);
    ck_assert_int_eq(weft_channel_create(&ch, SIZE_MAX, NULL), -EINVAL);
    ck_assert_int_eq(weft_channel_destroy(NULL), -EINVAL);
    ck_assert_int_eq(weft_channel_send(NULL, NULL, 0), -EINVAL);
    ck_assert_int_eq(weft_channel_try_send(NULL, NULL), -EINVAL);
    ck_assert_int_eq(weft_channel_recv(NULL, &v, 0), -EINVAL);
    ck_assert_int_eq(weft_channel_try_recv(NULL, &v), -EINVAL);
    ck_assert_int_eq(weft_channel_close(NULL), -EINVAL);
}
END_TEST

/* --- channels ---------------------------------------------------------------- */

struct sender {
    weft_channel *ch;
    int rc;
    int sent;
};

static void *send_one(void *arg)
{
    struct sender *s = arg;
    s->rc = weft_channel_send(s->ch, s, WEFT_FOREVER);
    s->sent = 1;
    return NULL;
}

static void *busy_destroy(void *arg)
{
    /* Called while a sender waits: refused, and the channel still works. */
    return weft_channel_destroy(arg) == -EBUSY ? NULL : weft_fail(WEFT_EIO, "destroy");
}

static void *channel_main(void *arg)
{
    weft_channel *ch;
    weft_task *t, *d;
    void *v;
    (void)arg;

    /* Unbuffered: send waits for a receiver. */
    ck_assert_int_eq(weft_channel_create(&ch, 0, NULL), 0);
    ck_assert_int_eq(weft_channel_try_send(ch, ch), -EAGAIN);
    struct sender s = { ch, 1, 0 };
    ck_assert_int_eq(weft_spawn(&t, send_one, &s), 0);
    ck_assert_int_eq(weft_yield(), 0);
    ck_assert_int_eq(s.sent, 0);
    ck_assert_int_eq(weft_spawn(&d, busy_destroy, ch), 0);
    ck_assert_int_eq(weft_await(d, NULL), 0);
    weft_task_unref(d);
    ck_assert_int_eq(weft_channel_try_recv(ch, &v), 0);
    ck_assert_ptr_eq(v, &s);
    ck_assert_int_eq(weft_await(t, NULL), 0);
    weft_task_unref(t);
    ck_assert_int_eq(s.rc, 0);
    /* A sender waiting at close fails and keeps its item. */
    s = (struct sender){ ch, 1, 0 };
    ck_assert_int_eq(weft_spawn(&t, send_one, &s), 0);
    ck_assert_int_eq(weft_yield(), 0);
    ck_assert_int_eq(weft_channel_close(ch), 0);
    ck_assert_int_eq(weft_channel_close(ch), 0);
    ck_assert_int_eq(weft_await(t, NULL), 0);
    weft_task_unref(t);
    ck_assert_int_eq(s.rc, -ESHUTDOWN);
    ck_assert_int_eq(weft_channel_recv(ch, &v, WEFT_FOREVER), -ESHUTDOWN);
    ck_assert_int_eq(weft_channel_destroy(ch), 0);

    /* Buffered: receivers drain after close. */
    ck_assert_int_eq(weft_channel_create(&ch, 3, NULL), 0);
    for (intptr_t i = 1; i <= 3; i++)
        ck_assert_int_eq(weft_channel_send(ch, (void *)i, 0), 0);
    ck_assert_int_eq(weft_channel_send(ch, NULL, 0), -ETIMEDOUT);
    ck_assert_int_eq(weft_channel_close(ch), 0);
    ck_assert_int_eq(weft_channel_send(ch, NULL, 0), -ESHUTDOWN);
    for (intptr_t i = 1; i <= 3; i++) {
        ck_assert_int_eq(weft_channel_recv(ch, &v, 0), 0);
        ck_assert_ptr_eq(v, (void *)i);
    }
    ck_assert_int_eq(weft_channel_recv(ch, &v, WEFT_FOREVER), -ESHUTDOWN);
    ck_assert_int_eq(weft_channel_destroy(ch), 0);
    return NULL;
}

START_TEST(test_channel)
{
    ck_assert_int_eq(run_on(1, channel_main, NULL), 0);
}
END_TEST

/* Fan-out, fan-in over channels on four workers. */
struct fan {
    weft_channel *in, *out;
    int workers_left;
};

static void *fan_worker(void *arg)
{
    struct fan *f = arg;
    void *v;
    while (weft_channel_recv(f->in, &v, WEFT_FOREVER) == 0)
        CHECK(weft_channel_send(f->out, (void *)((intptr_t)v * 2), WEFT_FOREVER) == 0);
    if (__atomic_sub_fetch(&f->workers_left, 1, __ATOMIC_ACQ_REL) == 0)
        CHECK(weft_channel_close(f->out) == 0);
    return NULL;
}

static void *fan_source(void *arg)
{
    struct fan *f = arg;
    for (intptr_t i = 1; i <= 5000; i++)
        CHECK(weft_channel_send(f->in, (void *)i, WEFT_FOREVER) == 0);
    CHECK(weft_channel_close(f->in) == 0);
    return NULL;
}

static void *fan_main(void *arg)
{
    struct fan f = { NULL, NULL, 4 };
    weft_task *t[5];
    void *v;
    long sum = 0;
    (void)arg;

    ck_assert_int_eq(weft_channel_create(&f.in, 8, NULL), 0);
    ck_assert_int_eq(weft_channel_create(&f.out, 0, NULL), 0);
    ck_assert_int_eq(weft_spawn(&t[0], fan_source, &f), 0);
    for (int i = 1; i < 5; i++)
        ck_assert_int_eq(weft_spawn(&t[i], fan_worker, &f), 0);
    while (weft_channel_recv(f.out, &v, WEFT_FOREVER) == 0)
        sum += (long)(intptr_t)v;
    ck_assert_int_eq(sum, 5000L * 5001);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(weft_await(t[i], NULL), 0);
        weft_task_unref(t[i]);
    }
    ck_assert_int_eq(weft_channel_destroy(f.in), 0);
    ck_assert_int_eq(weft_channel_destroy(f.out), 0);
    return NULL;
}

START_TEST(test_channel_fan_out_fan_in)
{
    ck_assert_int_eq(run_on(4, fan_main, NULL), 0);
}
END_TEST

/* --- generators -------------------------------------------------------------- */

struct counter {
    int produced;
    int limit;          /* 0: forever */
    int fail_after;     /* fail with EIO after this many, if > 0 */
    int yield_rc;
    int cleaned;
};

static void *numbers(weft_generator *g, void *arg)
{
    struct counter *c = arg;
    for (intptr_t i = 1; c->limit == 0 || i <= c->limit; i++) {
        if (c->fail_after > 0 && i > c->fail_after)
            return weft_fail(WEFT_EIO, "no more numbers");
        c->produced++;
        c->yield_rc = weft_generator_yield(g, (void *)i);
        if (c->yield_rc < 0)
            break;
    }
    c->cleaned = 1;
    return NULL;
}

static void *not_producer(void *arg)
{
    return weft_generator_yield(arg, NULL) == -EPERM ? NULL : weft_fail(WEFT_EIO, "yield");
}

static void *generator_main(void *arg)
{
    weft_generator *g;
    weft_task *t;
    void *v;
    (void)arg;

    struct counter c = { 0, 10, 0, 0, 0 };
    ck_assert_int_eq(weft_generator_create(&g, numbers, &c, NULL), 0);
    ck_assert_int_eq(weft_yield(), 0);
    ck_assert_int_eq(c.produced, 0); /* lazy */
    for (intptr_t i = 1; i <= 10; i++) {
        ck_assert_int_eq(weft_generator_next(g, &v), 0);
        ck_assert_ptr_eq(v, (void *)i);
        ck_assert_int_eq(weft_yield(), 0);
        ck_assert_int_eq(c.produced, i); /* never ahead */
    }
    ck_assert_int_eq(weft_generator_next(g, &v), -ENODATA);
    ck_assert_int_eq(weft_generator_next(g, &v), -ENODATA);
    ck_assert_int_eq(weft_spawn(&t, not_producer, g), 0);
    ck_assert_int_eq(weft_await(t, NULL), 0);
    weft_task_unref(t);
    ck_assert_int_eq(weft_generator_destroy(g), 0);

    /* The producer's error ends the stream. */
    c = (struct counter){ 0, 0, 3, 0, 0 };
    ck_assert_int_eq(weft_generator_create(&g, numbers, &c, NULL), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(weft_generator_next(g, &v), 0);
    ck_assert_int_eq(weft_generator_next(g, &v), WEFT_EIO);
    ck_assert_int_eq(weft_generator_destroy(g), 0);

    /* Closing early cancels the producer, which cleans up. */
    c = (struct counter){ 0, 0, 0, 0, 0 };
    ck_assert_int_eq(weft_generator_create(&g, numbers, &c, &(weft_spawn_opts){ .name = "n" }), 0);
    ck_assert_int_eq(weft_generator_next(g, &v), 0);
    ck_assert_int_eq(weft_generator_next(g, &v), 0);
    ck_assert_int_eq(weft_generator_destroy(g), 0);
    ck_assert_int_eq(c.cleaned, 1);
    ck_assert_int_eq(c.yield_rc, -ECANCELED);
    ck_assert_int_le(c.produced, 3);

    ck_assert_int_eq(weft_generator_create(NULL, numbers, &c, NULL), -EINVAL);
    ck_assert_int_eq(weft_generator_create(&g, NULL, &c, NULL), -EINVAL);
    ck_assert_int_eq(weft_generator_next(NULL, &v), -EINVAL);
    ck_assert_int_eq(weft_generator_yield(NULL, NULL), -EINVAL);
    ck_assert_int_eq(weft_generator_destroy(NULL), -EINVAL);
    return NULL;
}

START_TEST(test_generator)
{
    ck_assert_int_eq(run_on(1, generator_main, NULL), 0);
}
END_TEST

/* --- rate limiter ------------------------------------------------------------ */

static void *limiter_main(void *arg)
{
    weft_limiter *l;
    (void)arg;

    /* A token each 1000 s: nothing refills while the test looks. */
    ck_assert_int_eq(weft_limiter_create(&l, 0.001, 5), 0);
    ck_assert_int_eq(weft_limiter_available(l), 5);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(weft_limiter_try_acquire(l, 1), 0);
    ck_assert_int_eq(weft_limiter_try_acquire(l, 1), -EAGAIN);
    ck_assert_int_eq(weft_limiter_available(l), 0);
    /* Tokens further away than the time-out: refused at once. */
    ck_assert_int_eq(weft_limiter_acquire(l, 3, 1), -ETIMEDOUT);
    ck_assert_int_eq(weft_limiter_destroy(l), 0);

    /* 25 tokens at 200/s with a burst of 5: the 20 not in the bucket
     * take 5 ms each, counted from its creation. */
    int64_t t0 = weft_now();
    ck_assert_int_eq(weft_limiter_create(&l, 200, 5), 0);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(weft_limiter_try_acquire(l, 1), 0);
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(weft_limiter_acquire(l, 1, WEFT_FOREVER), 0);
    ck_assert_int_ge(weft_now() - t0, 100);
    ck_assert_int_eq(weft_limiter_acquire(l, 0, 0), -EINVAL);
    ck_assert_int_eq(weft_limiter_acquire(l, 6, 0), -EINVAL);
    ck_assert_int_eq(weft_limiter_acquire(l, 1, -2), -EINVAL);
    ck_assert_int_eq(weft_limiter_destroy(l), 0);
    return NULL;
}

START_TEST(test_limiter)
{
    weft_limiter *l;
    ck_assert_int_eq(weft_limiter_create(NULL, 1, 1), -EINVAL);
    ck_assert_int_eq(weft_limiter_create(&l, 0, 1), -EINVAL);
    ck_assert_int_eq(weft_limiter_create(&l, NAN, 1), -EINVAL);
    ck_assert_int_eq(weft_limiter_create(&l, 2e9, 1), -EINVAL);
    ck_assert_int_eq(weft_limiter_create(&l, 1, 0), -EINVAL);
    ck_assert_int_eq(weft_limiter_destroy(NULL), -EINVAL);
    ck_assert_int_eq(weft_limiter_available(NULL), -EINVAL);
    ck_assert_int_eq(weft_limiter_try_acquire(NULL, 1), -EINVAL);
    ck_assert_int_eq(weft_limiter_create(&l, 1, 1), 0);
    ck_assert_int_eq(weft_limiter_acquire(l, 1, 0), -EPERM);
    ck_assert_int_eq(weft_limiter_destroy(l), 0);
    ck_assert_int_eq(run_on(1, limiter_main, NULL), 0);
}
END_TEST

struct limited {
    weft_limiter *l;
    int64_t timeout;
    int rc;
};

static void *limited_wait(void *arg)
{
    struct limited *x = arg;
    x->rc = weft_limiter_acquire(x->l, 1, x->timeout);
    return NULL;
}

/* A cancelled wait gives its token back: the next asker is not pushed
 * behind it. A token each 1000 s (TOKEN_MS), so that where the next
 * token lies, not the clock, decides whether an asker may wait for it
 * (and one that may is found waiting, then cancelled). */
#define TOKEN_MS 1000000

static void *limiter_cancel_main(void *arg)
{
    weft_limiter *l;
    weft_task *t, *p;
    (void)arg;

    ck_assert_int_eq(weft_limiter_create(&l, 0.001, 1), 0);
    ck_assert_int_eq(weft_limiter_try_acquire(l, 1), 0);
    struct limited x = { l, WEFT_FOREVER, 1 };
    ck_assert_int_eq(weft_spawn(&t, limited_wait, &x), 0);
    wait_until_waiting(t, "rate limiter"); /* on its reservation */
    ck_assert_int_eq(weft_limiter_destroy(l), -EBUSY);
    /* With the sleeper's reservation, the next token is 2 intervals
     * away: more than 1.5 intervals, so refused at once. */
    ck_assert_int_eq(weft_limiter_acquire(l, 1, TOKEN_MS * 3 / 2), -ETIMEDOUT);
    ck_assert_int_eq(weft_cancel(t), 0);
    ck_assert_int_eq(weft_await(t, NULL), -ECANCELED);
    weft_task_unref(t);
    ck_assert_int_eq(x.rc, -ECANCELED);
    /* Given back: the next token is 1 interval away again, so an asker
     * with the same time-out waits for it. */
    struct limited y = { l, TOKEN_MS * 3 / 2, 1 };
    ck_assert_int_eq(weft_spawn(&p, limited_wait, &y), 0);
    while (!weft_task_is_done(p) && !task_is_waiting(p, "rate limiter"))
        ck_assert_int_eq(weft_yield(), 0);
    ck_assert_int_eq(y.rc, 1); /* not refused */
    ck_assert_int_eq(weft_cancel(p), 0);
    ck_assert_int_eq(weft_await(p, NULL), -ECANCELED);
    weft_task_unref(p);
    ck_assert_int_eq(y.rc, -ECANCELED);
    ck_assert_int_eq(weft_limiter_destroy(l), 0);
    return NULL;
}

START_TEST(test_limiter_cancel_gives_tokens_back)
{
    ck_assert_int_eq(run_on(1, limiter_cancel_main, NULL), 0);
}
END_TEST

/* Timeouts too large to count in nanoseconds are not hopeless: the
 * token is 10 ms away, within any of them. */
static void *limiter_huge_timeout_main(void *arg)
{
    static const int64_t timeouts[] = { INT64_MAX / 1000000 + 1,
                                        INT64_MAX / 1000, INT64_MAX - 1,
                                        INT64_MAX };
    weft_limiter *l;
    (void)arg;

    ck_assert_int_eq(weft_limiter_create(&l, 100, 1), 0);
    for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++) {
        ck_assert_int_eq(weft_limiter_try_acquire(l, 1), 0);
        ck_assert_int_eq(weft_limiter_acquire(l, 1, timeouts[i]), 0);
        ck_assert_int_eq(weft_sleep(20), 0); /* full again */
    }
    ck_assert_int_eq(weft_limiter_destroy(l), 0);
    return NULL;
}

START_TEST(test_limiter_huge_timeouts)
{
    ck_assert_int_eq(run_on(1, limiter_huge_timeout_main, NULL), 0);
}
END_TEST

/* Rates and bursts whose refill time does not fit the limiter's clock
 * arithmetic are refused: a full bucket must refill within 1e9 s. */
START_TEST(test_limiter_extreme_parameters)
{
    weft_limiter *l;

    ck_assert_int_eq(weft_limiter_create(&l, 1e-10, 1), -EINVAL);
    ck_assert_int_eq(weft_limiter_create(&l, 1e-300, 1), -EINVAL);
    ck_assert_int_eq(weft_limiter_create(&l, 1e-3, 10000000), -EINVAL);
    ck_assert_int_eq(weft_limiter_create(&l, 1e-3, 1000001), -EINVAL);
    ck_assert_int_eq(weft_limiter_create(&l, 1.0, INT32_MAX), -EINVAL);
    ck_assert_int_eq(weft_limiter_create(&l, 1e-9 * 1.0000001, 1), 0);
    ck_assert_int_eq(weft_limiter_available(l), 1);
    ck_assert_int_eq(weft_limiter_try_acquire(l, 1), 0);
    ck_assert_int_eq(weft_limiter_available(l), 0);
    ck_assert_int_eq(weft_limiter_try_acquire(l, 1), -EAGAIN);
    ck_assert_int_eq(weft_limiter_destroy(l), 0);
    /* At the limit: a million tokens, one every 1000 s. */
    ck_assert_int_eq(weft_limiter_create(&l, 1e-3, 1000000), 0);
    ck_assert_int_eq(weft_limiter_available(l), 1000000);
    ck_assert_int_eq(weft_limiter_try_acquire(l, 1000000), 0);
    ck_assert_int_eq(weft_limiter_available(l), 0);
    ck_assert_int_eq(weft_limiter_try_acquire(l, 1), -EAGAIN);
    ck_assert_int_eq(weft_limiter_destroy(l), 0);
    ck_assert_int_eq(weft_limiter_create(&l, 1e9, INT32_MAX), 0);
    ck_assert_int_eq(weft_limiter_available(l), INT32_MAX);
    ck_assert_int_eq(weft_limiter_destroy(l), 0);
}
END_TEST

/* Waits piled up on a very slow limiter: one that would end beyond the
 * limiter's horizon (2^62 ns, about 146 years) fails with -EOVERFLOW and
 * takes nothing, rather than wrapping round to "now". */
static void *limiter_pile_up_main(void *arg)
{
    enum { WAITERS = 12 };
    weft_limiter *l;
    weft_task *t[WAITERS];
    struct limited x[WAITERS];
    int waiting = 0, overflowed = 0;
    (void)arg;

    /* A token every 1e9 s (31.7 years): 4 reservations reach 146 years. */
    ck_assert_int_eq(weft_limiter_create(&l, 1e-9, 1), 0);
    ck_assert_int_eq(weft_limiter_try_acquire(l, 1), 0);
    for (int i = 0; i < WAITERS; i++) {
        x[i] = (struct limited){ .l = l, .timeout = WEFT_FOREVER, .rc = 1 };
        ck_assert_int_eq(weft_spawn(&t[i], limited_wait, &x[i]), 0);
        ck_assert_int_eq(weft_yield(), 0); /* it reserves, or fails */
        if (weft_task_is_done(t[i]))
            overflowed++;
        else
            waiting++;
    }
    ck_assert_int_eq(waiting, 3);
    ck_assert_int_eq(overflowed, WAITERS - 3);
    ck_assert_int_eq(weft_limiter_acquire(l, 1, WEFT_FOREVER), -EOVERFLOW);
    ck_assert_int_eq(weft_limiter_acquire(l, 1, 1000), -EOVERFLOW);
    ck_assert_int_eq(weft_limiter_try_acquire(l, 1), -EAGAIN);
    ck_assert_int_eq(weft_limiter_available(l), 0);
    for (int i = 0; i < WAITERS; i++) {
        if (!weft_task_is_done(t[i]))
            ck_assert_int_eq(weft_cancel(t[i]), 0);
        ck_assert_int_eq(weft_await(t[i], NULL), i < 3 ? -ECANCELED : 0);
        ck_assert_int_eq(x[i].rc, i < 3 ? -ECANCELED : -EOVERFLOW);
        weft_task_unref(t[i]);
    }
    /* Every reservation given back: one token is 1e9 s away again. */
    ck_assert_int_eq(weft_limiter_acquire(l, 1, 1000), -ETIMEDOUT);
    ck_assert_int_eq(weft_limiter_destroy(l), 0);
    return NULL;
}

START_TEST(test_limiter_pile_up_beyond_its_horizon)
{
    ck_assert_int_eq(run_on(1, limiter_pile_up_main, NULL), 0);
}
END_TEST

/* --- retry ------------------------------------------------------------------- */

struct flaky {
    int calls;
    int fail_times;
    int err;
    unsigned retries;
    int64_t delays[8];
    int errs[8];
};

static int flaky_attempt(void *arg)
{
    struct flaky *f = arg;
    return f->calls++ < f->fail_times ? f->err : 0;
}

static void note_retry(unsigned attempt, int err, int64_t delay_ms, void *arg)
{
    struct flaky *f = arg;
    ck_assert_uint_eq(attempt, f->retries + 1);
    f->delays[f->retries] = delay_ms;
    f->errs[f->retries++] = err;
}

static bool not_eacces(int err, void *arg)
{
    (void)arg;
    return err != WEFT_EACCES;
}

static void *retry_main(void *arg)
{
    (void)arg;
    struct flaky f = { 0, 3, WEFT_ECONNREFUSED, 0, { 0 }, { 0 } };
    weft_retry_opts o = { .attempts = 5, .initial_ms = 10, .max_ms = 25,
                          .on_retry = note_retry, .arg = &f };
    int64_t t0 = weft_now();
    ck_assert_int_eq(weft_retry(flaky_attempt, &f, &o), 0);
    ck_assert_int_ge(weft_now() - t0, 10 + 20 + 25);
    ck_assert_int_eq(f.calls, 4);
    ck_assert_uint_eq(f.retries, 3);
    ck_assert_int_eq(f.delays[0], 10);
    ck_assert_int_eq(f.delays[1], 20);
    ck_assert_int_eq(f.delays[2], 25); /* capped */
    ck_assert_int_eq(f.errs[2], WEFT_ECONNREFUSED);

    /* Attempts run out: the last error. Jitter shortens each delay. */
    f = (struct flaky){ 0, 100, WEFT_EIO, 0, { 0 }, { 0 } };
    o = (weft_retry_opts){ .attempts = 4, .initial_ms = 8, .jitter = 0.5,
                           .on_retry = note_retry, .arg = &f };
    ck_assert_int_eq(weft_retry(flaky_attempt, &f, &o), WEFT_EIO);
    ck_assert_int_eq(f.calls, 4);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_ge(f.delays[i], (8 << i) / 2);
        ck_assert_int_le(f.delays[i], 8 << i);
    }

    /* An error not to be retried stops at once. */
    f = (struct flaky){ 0, 100, WEFT_EACCES, 0, { 0 }, { 0 } };
    o = (weft_retry_opts){ .attempts = 4, .initial_ms = 1, .retry_if = not_eacces };
    ck_assert_int_eq(weft_retry(flaky_attempt, &f, &o), WEFT_EACCES);
    ck_assert_int_eq(f.calls, 1);

    /* The deadline ends it. */
    f = (struct flaky){ 0, 100, WEFT_EIO, 0, { 0 }, { 0 } };
    o = (weft_retry_opts){ .attempts = 100, .initial_ms = 30, .multiplier = 1,
                           .timeout_ms = 70 };
    t0 = weft_now();
    ck_assert_int_eq(weft_retry(flaky_attempt, &f, &o), -ETIMEDOUT);
    ck_assert_int_ge(weft_now() - t0, 70);

    ck_assert_int_eq(weft_retry(NULL, NULL, NULL), -EINVAL);
    ck_assert_int_eq(weft_retry(flaky_attempt, &f, &(weft_retry_opts){ .multiplier = 0.5 }), -EINVAL);
    ck_assert_int_eq(weft_retry(flaky_attempt, &f, &(weft_retry_opts){ .jitter = 1.5 }), -EINVAL);
    ck_assert_int_eq(weft_retry(flaky_attempt, &f, &(weft_retry_opts){ .timeout_ms = -2 }), -EINVAL);
    return NULL;
}

/* Delays too long for int64_t milliseconds once they are doubles: the
 * delay is as long as can be said, and the retry waits it (here until
 * its task is cancelled, by the on_retry hook). One task per case: a
 * cancellation is for good. */
static void cancel_me(unsigned attempt, int err, int64_t delay_ms, void *arg)
{
    note_retry(attempt, err, delay_ms, arg);
    ck_assert_int_eq(weft_cancel(weft_current()), 0);
}

struct huge_retry {
    int64_t initial_ms;
    int64_t max_ms;
    struct flaky f;
    int rc;
};

static void *retry_with_huge_delay(void *arg)
{
    struct huge_retry *h = arg;
    weft_retry_opts o = { .attempts = 3, .initial_ms = h->initial_ms,
                          .max_ms = h->max_ms, .on_retry = cancel_me,
                          .arg = &h->f };
    h->f = (struct flaky){ 0, 100, WEFT_EIO, 0, { 0 }, { 0 } };
    h->rc = weft_retry(flaky_attempt, &h->f, &o);
    return NULL;
}

static void *huge_delay_main(void *arg)
{
    struct huge_retry cases[] = {
        { .initial_ms = INT64_MAX }, { .initial_ms = INT64_MAX - 1 },
        { .initial_ms = INT64_MAX / 2 + 1 },
        /* A cap that caps nothing. */
        { .initial_ms = (int64_t)1 << 62, .max_ms = INT64_MAX },
    };
    (void)arg;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        weft_task *t;
        ck_assert_int_eq(weft_spawn(&t, retry_with_huge_delay, &cases[i]), 0);
        ck_assert_int_eq(weft_await(t, NULL), -ECANCELED);
        weft_task_unref(t);
        ck_assert_int_eq(cases[i].rc, -ECANCELED);
        ck_assert_int_eq(cases[i].f.calls, 1);
        ck_assert_uint_eq(cases[i].f.retries, 1);
        ck_assert_int_ge(cases[i].f.delays[0], cases[i].initial_ms / 2);
    }
    return NULL;
}

START_TEST(test_retry_huge_delays)
{
    ck_assert_int_eq(run_on(1, huge_delay_main, NULL), 0);
}
END_TEST

START_TEST(test_retry)
{
    ck_assert_int_eq(weft_retry(flaky_attempt, NULL, NULL), -EPERM);
    ck_assert_int_eq(run_on(1, retry_main, NULL), 0);
}
END_TEST

static Suite *flow_suite(void)
{
    Suite *s = suite_create("flow");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_queue_orders);
    tcase_add_test(tc, test_queue_backpressure);
    tcase_add_test(tc, test_queue_join_and_shutdown);
    tcase_add_test(tc, test_queue_producers_consumers);
    tcase_add_test(tc, test_queue_bad_input);
    tcase_add_test(tc, test_channel);
    tcase_add_test(tc, test_channel_fan_out_fan_in);
    tcase_add_test(tc, test_generator);
    tcase_add_test(tc, test_limiter);
    tcase_add_test(tc, test_limiter_cancel_gives_tokens_back);
    tcase_add_test(tc, test_limiter_huge_timeouts);
    tcase_add_test(tc, test_limiter_extreme_parameters);
    tcase_add_test(tc, test_limiter_pile_up_beyond_its_horizon);
    tcase_add_test(tc, test_retry);
    tcase_add_test(tc, test_retry_huge_delays);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(flow_suite)
