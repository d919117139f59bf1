/* weft-bench's lock and queue workloads:
 *
 *   lock              uncontended acquire + release (against a pthread mutex)
 *   lock-handoff      two tasks taking turns with one lock
 *   queue-ping-pong   two tasks exchanging messages over two one-slot queues
 *   queue-throughput  one producer, one consumer, a bounded queue
 *
 * With two workers or more, the two tasks of the last three are pinned to
 * different workers, so every hand-over crosses threads; with one, both
 * share it.
 */
#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <weft.h>

#include "bench.h"
#include "sched/task.h"
#include "sched/worker.h"

#define BENCH_ARGS(arg, o, s)                                                 \
    struct bench_opts *o = ((void **)(arg))[0];                               \
    struct sample *s = ((void **)(arg))[1]

/* --- placement ------------------------------------------------------------ */

struct placed {
    weft_fn fn;
    void *arg;
    weft_task *task;   /* the pinned task it started */
    int rc;
};

static unsigned worker_index(void)
{
    return weft__worker_self()->index;
}

/* Runs on any worker; once stolen by one other than worker 0, starts the
 * real task pinned there. */
static void *launcher(void *arg)
{
    struct placed *p = arg;
    weft_spawn_opts pin = { .name = "pinned", .flags = WEFT_SPAWN_PINNED };
    p->rc = weft_spawn_ex(&p->task, p->fn, p->arg, &pin);
    return NULL;
}

/* Starts fn(arg) pinned to a worker other than the caller's (worker 0's),
 * if there is one; else on the caller's. */
static int spawn_elsewhere(struct bench_opts *o, weft_task **task, weft_fn fn,
                           void *arg)
{
    struct placed p = { fn, arg, NULL, 0 };
    weft_spawn_opts pin = { .name = "pinned", .flags = WEFT_SPAWN_PINNED };

    if (o->workers < 2)
        return weft_spawn_ex(task, fn, arg, &pin);
    /* Keep worker 0 busy, without suspending, until another worker has
     * stolen the launcher and started the task there. */
    for (int attempt = 0; attempt < 100; attempt++) {
        weft_task *l;
        int rc = weft_spawn(&l, launcher, &p);
        if (rc < 0)
            return rc;
        double deadline = now_seconds() + 0.05;
        while (!weft_task_is_done(l) && now_seconds() < deadline)
            ;
        rc = weft_await(l, NULL);
        weft_task_unref(l);
        if (rc < 0 || p.rc < 0)
            return rc < 0 ? rc : p.rc;
        if (p.task != NULL &&
            weft__handle_record(p.task)->home->index != worker_index()) {
            *task = p.task;
            return 0;
        }
        /* It ran here: that task is discarded, and another try made. */
        if (p.task != NULL) {
            weft_cancel(p.task);
            (void)weft_await(p.task, NULL);
            weft_task_unref(p.task);
            p.task = NULL;
        }
    }
    return WEFT_EAGAIN;
}

/* Starts a on worker 0 (the caller's) and b elsewhere, both pinned. */
static int spawn_pair(struct bench_opts *o, weft_task *t[2], weft_fn a,
                      void *arg_a, weft_fn b, void *arg_b)
{
    weft_spawn_opts pin = { .name = "pinned", .flags = WEFT_SPAWN_PINNED };
    int rc = spawn_elsewhere(o, &t[1], b, arg_b);
    if (rc < 0)
        return rc;
    rc = weft_spawn_ex(&t[0], a, arg_a, &pin);
    if (rc < 0) {
        weft_cancel(t[1]);
        (void)weft_await(t[1], NULL);
        weft_task_unref(t[1]);
    }
    return rc;
}

static int await_pair(weft_task *t[2])
{
    int first = 0;
    for (int i = 0; i < 2; i++) {
        int rc = weft_await(t[i], NULL);
        if (rc < 0 && first == 0)
            first = rc;
        weft_task_unref(t[i]);
    }
    return first;
}

/* --- lock: uncontended ----------------------------------------------------- */

void *lock_main(void *arg)
{
    BENCH_ARGS(arg, o, s);
    weft_lock lock;
    pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
    volatile long counter = 0;

    weft_lock_init(&lock);
    double t0 = now_seconds();
    for (long i = 0; i < o->tasks; i++) {
        if (weft_lock_acquire(&lock, WEFT_FOREVER) < 0)
            return weft_fail(WEFT_EIO, "acquire failed");
        counter++;
        weft_lock_release(&lock);
    }
    s->seconds = now_seconds() - t0;
    t0 = now_seconds();
    for (long i = 0; i < o->tasks; i++) {
        pthread_mutex_lock(&mutex);
        counter++;
        pthread_mutex_unlock(&mutex);
    }
    s->extra = now_seconds() - t0;
    weft_lock_destroy(&lock);
    return counter == 2 * o->tasks ? NULL : weft_fail(WEFT_EIO, "lost counts");
}

/* --- lock-handoff: two tasks, one lock ------------------------------------- */

struct handoff {
    weft_lock lock;
    long per_task;
    long counter;
};

static void *lock_taker(void *arg)
{
    struct handoff *h = arg;
    for (long i = 0; i < h->per_task; i++) {
        int rc = weft_lock_acquire(&h->lock, WEFT_FOREVER);
        if (rc < 0)
            return weft_fail(rc, "acquire: %s", weft_strerror(rc));
        h->counter++;
        weft_lock_release(&h->lock);
    }
    return NULL;
}

void *lock_handoff_main(void *arg)
{
    BENCH_ARGS(arg, o, s);
    struct handoff h = { .per_task = o->tasks / 2, .counter = 0 };
    weft_task *t[2];

    weft_lock_init(&h.lock);
    /* Hold the lock while both start, so that both contend from the first. */
    weft_lock_acquire(&h.lock, WEFT_FOREVER);
    int rc = spawn_pair(o, t, lock_taker, &h, lock_taker, &h);
    if (rc < 0)
        return weft_fail(rc, "spawn: %s", weft_strerror(rc));
    double t0 = now_seconds();
    weft_lock_release(&h.lock);
    rc = await_pair(t);
    s->seconds = now_seconds() - t0;
    weft_lock_destroy(&h.lock);
    if (rc < 0)
        return weft_fail(rc, "taker failed");
    return h.counter == 2 * h.per_task ? NULL : weft_fail(WEFT_EIO, "lost counts");
}

/* --- queue-ping-pong: two one-slot queues ------------------------------- */

struct ping {
    weft_queue *to_b, *to_a;
    long rounds;
};

static void *ping_a(void *arg)
{
    struct ping *p = arg;
    for (long r = 0; r < p->rounds; r++) {
        void *v;
        int rc = weft_queue_put(p->to_b, (void *)(intptr_t)(r + 1), WEFT_FOREVER);
        if (rc == 0)
            rc = weft_queue_get(p->to_a, &v, WEFT_FOREVER);
        if (rc < 0)
            return weft_fail(rc, "round %ld: %s", r, weft_strerror(rc));
        if (v != (void *)(intptr_t)(r + 1))
            return weft_fail(WEFT_EIO, "round %ld: wrong reply", r);
    }
    return NULL;
}

static void *ping_b(void *arg)
{
    struct ping *p = arg;
    for (long r = 0; r < p->rounds; r++) {
        void *v;
        int rc = weft_queue_get(p->to_b, &v, WEFT_FOREVER);
        if (rc == 0)
            rc = weft_queue_put(p->to_a, v, WEFT_FOREVER);
        if (rc < 0)
            return weft_fail(rc, "round %ld: %s", r, weft_strerror(rc));
    }
    return NULL;
}

void *queue_ping_pong_main(void *arg)
{
    BENCH_ARGS(arg, o, s);
    weft_queue_opts one = { .maxsize = 1 };
    struct ping p = { .rounds = o->tasks };
    weft_task *t[2];

    if (weft_queue_create(&p.to_b, &one) < 0 || weft_queue_create(&p.to_a, &one) < 0)
        return weft_fail(WEFT_ENOMEM, "queues");
    double t0 = now_seconds();
    int rc = spawn_pair(o, t, ping_a, &p, ping_b, &p);
    if (rc == 0)
        rc = await_pair(t);
    s->seconds = now_seconds() - t0;
    weft_queue_destroy(p.to_a);
    weft_queue_destroy(p.to_b);
    return rc < 0 ? weft_fail(rc, "ping-pong failed") : NULL;
}

/* --- queue-throughput: producer to consumer ------------------------------- */

struct flow {
    weft_queue *q;
    long items;
    long sum;
};

static void *producer(void *arg)
{
    struct flow *f = arg;
    for (long i = 1; i <= f->items; i++) {
        int rc = weft_queue_put(f->q, (void *)(intptr_t)i, WEFT_FOREVER);
        if (rc < 0)
            return weft_fail(rc, "put %ld: %s", i, weft_strerror(rc));
    }
    return NULL;
}

static void *consumer(void *arg)
{
    struct flow *f = arg;
    for (long i = 1; i <= f->items; i++) {
        void *v;
        int rc = weft_queue_get(f->q, &v, WEFT_FOREVER);
        if (rc < 0)
            return weft_fail(rc, "get %ld: %s", i, weft_strerror(rc));
        f->sum += (long)(intptr_t)v;
    }
    return NULL;
}

void *queue_throughput_main(void *arg)
{
    BENCH_ARGS(arg, o, s);
    weft_queue_opts bounded = { .maxsize = (size_t)o->batch };
    struct flow f = { .items = o->tasks, .sum = 0 };
    weft_task *t[2];

    if (weft_queue_create(&f.q, &bounded) < 0)
        return weft_fail(WEFT_ENOMEM, "queue");
    double t0 = now_seconds();
    int rc = spawn_pair(o, t, producer, &f, consumer, &f);
    if (rc == 0)
        rc = await_pair(t);
    s->seconds = now_seconds() - t0;
    weft_queue_destroy(f.q);
    if (rc < 0)
        return weft_fail(rc, "flow failed");
    return f.sum == f.items * (f.items + 1) / 2 ? NULL
                                                : weft_fail(WEFT_EIO, "lost items");
}
