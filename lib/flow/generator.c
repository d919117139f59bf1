/* weft_generator: a producer task handing values to consumers on request (see
 * weft/generator.h). Consumers queue for values; the producer, after each
 * value, waits until a consumer queues again: that is the backpressure. */
#include "core/internal.h"

#include <errno.h>
#include <string.h>

#include "sched/wait.h"
#include "sync/sync.h"
#include "sched/scope.h"
#include "sched/task.h"
#include "sync/waitq.h"

#include "weft/generator.h"

#define GEN_MAGIC 0x67656e65u /* "gene" */

struct weft_generator {
    uint32_t magic;
    weft__spinlock spin;
    weft_generator_fn fn;
    void *arg;
    weft_spawn_opts opts;
    char *name;                  /* opts.name's copy */
    weft_task *producer;         /* set (by spawn) before it starts */
    bool started;
    bool finished;               /* the producer has returned */
    bool end_seen;               /* a consumer was told how it ended */
    bool closing;                /* weft_generator_destroy has begun */
    int end_err;                 /* -ENODATA, or the producer's error */
    bool has_value;              /* a value no consumer was there to take */
    void *value;
    struct weft__waitq consumers;
    struct weft__waitq producer_q; /* the producer, waiting for a request */
};

static weft_generator *gen_of(weft_generator *gen)
{
    return gen != NULL && gen->magic == GEN_MAGIC ? gen : NULL;
}

int weft_generator_create(weft_generator **out, weft_generator_fn fn, void *arg,
                    const weft_spawn_opts *opts)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (fn == NULL)
        return -EINVAL;
    weft_generator *gen = weft__calloc(1, sizeof *gen);
    if (gen == NULL)
        return -ENOMEM;
    if (opts != NULL) {
        gen->opts = *opts;
        /* The task starts later: the name must outlive the caller's. */
        if (opts->name != NULL) {
            gen->name = weft__malloc(strlen(opts->name) + 1);
            if (gen->name == NULL) {
                weft__free(gen);
                return -ENOMEM;
            }
            strcpy(gen->name, opts->name);
            gen->opts.name = gen->name;
        }
    }
    gen->spin = (weft__spinlock)WEFT__SPINLOCK_INIT;
    gen->fn = fn;
    gen->arg = arg;
    weft__waitq_init(&gen->consumers, WEFT__WAITING_GENERATOR);
    weft__waitq_init(&gen->producer_q, WEFT__WAITING_GENERATOR);
    gen->magic = GEN_MAGIC;
    *out = gen;
    return 0;
}

/* The producer task: runs fn, then tells every waiting consumer, and every
 * later one, how it ended. */
static void *produce(void *arg)
{
    weft_generator *gen = arg;
    void *result = gen->fn(gen, gen->arg);
    const weft__task *self = weft__task_self();
    int err = self != NULL ? self->err : 0; /* in a task, always */

    weft__spin_lock(&gen->spin);
    gen->finished = true;
    gen->end_err = err < 0 ? err : -ENODATA;
    if (!weft__waitq_empty(&gen->consumers))
        gen->end_seen = true;
    weft__waitq_wake_all(&gen->consumers, gen->end_err);
    weft__spin_unlock(&gen->spin);
    return result;
}

/* Starts the producer at the first request. Spinlock held, and dropped
 * while spawning. */
static int start(weft_generator *gen)
{
    gen->started = true;
    weft__spin_unlock(&gen->spin);
    int rc = weft_spawn_ex(&gen->producer, produce, gen, &gen->opts);
    weft__spin_lock(&gen->spin);
    if (rc < 0)
        gen->started = false;
    return rc;
}

int weft_generator_next(weft_generator *pub, void **value)
{
    weft_generator *gen = gen_of(pub);
    weft__task *self = WEFT__TASK_ENTER();
    struct weft__wqnode node;
    struct weft__grant g = { NULL };
    void *got = NULL;
    bool late;
    int rc;

    if (value != NULL)
        *value = NULL;
    if (gen == NULL || value == NULL)
        return -EINVAL;
    if (self == NULL)
        return -EPERM;
    rc = weft__check_interrupt(self);
    if (rc < 0)
        return rc;
    weft__spin_lock(&gen->spin);
    if (self == weft__handle_record(gen->producer) || gen->closing) {
        weft__spin_unlock(&gen->spin);
        return self == weft__handle_record(gen->producer) ? -EDEADLK : -ESHUTDOWN;
    }
    if (gen->has_value) {
        gen->has_value = false;
        *value = gen->value;
        weft__spin_unlock(&gen->spin);
        return 0;
    }
    if (gen->finished) {
        gen->end_seen = true;
        weft__spin_unlock(&gen->spin);
        return gen->end_err;
    }
    if (!gen->started) {
        rc = start(gen);
        if (rc < 0) {
            weft__spin_unlock(&gen->spin);
            return rc;
        }
        if (gen->finished || gen->has_value) { /* it ran meanwhile */
            weft__spin_unlock(&gen->spin);
            return weft_generator_next(pub, value);
        }
    }
    node.item = &got;
    rc = weft__waitq_prepare(&gen->consumers, &node, 0);
    if (rc < 0) {
        weft__spin_unlock(&gen->spin);
        return rc;
    }
    /* A request: the producer may go on. */
    if (!weft__waitq_empty(&gen->producer_q))
        weft__waitq_wake_locked(&gen->producer_q,
                                weft__waitq_first(&gen->producer_q));
    rc = weft__waitq_sleep(&gen->consumers, &gen->spin, &node, &late);
    if (rc == 0) {
        if (node.result != 0)
            return node.result;
        *value = got;
        return 0;
    }
    if (late && node.result == 0) {
        /* Handed a value as it was interrupted: the next consumer's, or
         * kept for the next call. With one kept already, it is returned
         * after all: values are never dropped. */
        if (!weft__waitq_empty(&gen->consumers)) {
            struct weft__wqnode *next = weft__waitq_first(&gen->consumers);
            *(void **)next->item = got;
            next->result = 0;
            (void)weft__waitq_grant(&gen->consumers, &g);
        } else if (!gen->has_value) {
            gen->has_value = true;
            gen->value = got;
        } else {
            weft__spin_unlock(&gen->spin);
            *value = got;
            return 0;
        }
    }
    weft__spin_unlock(&gen->spin);
    weft__grant_send(&g);
    return rc;
}

int weft_generator_yield(weft_generator *pub, void *value)
{
    weft_generator *gen = gen_of(pub);
    weft__task *self = WEFT__TASK_ENTER();
    struct weft__grant g = { NULL };
    struct weft__wqnode node;
    bool late;
    int rc;

    if (gen == NULL)
        return -EINVAL;
    if (self == NULL)
        return -EPERM;
    weft__spin_lock(&gen->spin);
    if (self != weft__handle_record(gen->producer)) {
        weft__spin_unlock(&gen->spin);
        return -EPERM;
    }
    rc = weft__check_interrupt(self);
    if (rc < 0) {
        weft__spin_unlock(&gen->spin);
        return rc;
    }
    if (!weft__waitq_empty(&gen->consumers)) {
        struct weft__wqnode *next = weft__waitq_first(&gen->consumers);
        *(void **)next->item = value;
        next->result = 0;
        (void)weft__waitq_grant(&gen->consumers, &g);
    } else {
        /* The consumer that asked was interrupted: keep it for the next. */
        gen->has_value = true;
        gen->value = value;
    }
    /* Wait for the next request: a consumer waiting with nothing kept. */
    while (weft__waitq_empty(&gen->consumers) || gen->has_value) {
        weft__spin_unlock(&gen->spin);
        weft__grant_send(&g);
        g.node = NULL;
        weft__spin_lock(&gen->spin);
        if (!weft__waitq_empty(&gen->consumers) && !gen->has_value)
            break;
        rc = weft__waitq_wait(&gen->producer_q, &gen->spin, &node, WEFT_FOREVER,
                              0, &late);
        if (rc < 0) {
            /* The value is the consumer's already: say so. The
             * cancellation stays pending, and the next yield reports it
             * before taking anything. */
            weft__spin_unlock(&gen->spin);
            return 0;
        }
        weft__spin_lock(&gen->spin);
    }
    weft__spin_unlock(&gen->spin);
    weft__grant_send(&g);
    return 0;
}

int weft_generator_destroy(weft_generator *pub)
{
    weft_generator *gen = gen_of(pub);
    weft__task *self = WEFT__TASK_ENTER();

    if (gen == NULL)
        return -EINVAL;
    if (self == NULL)
        return -EPERM;
    weft__spin_lock(&gen->spin);
    if (self == weft__handle_record(gen->producer) || gen->closing ||
        !weft__waitq_empty(&gen->consumers)) {
        int rc = self == weft__handle_record(gen->producer) ? -EDEADLK
                 : gen->closing        ? -EINVAL
                                       : -EBUSY;
        weft__spin_unlock(&gen->spin);
        return rc;
    }
    gen->closing = true;
    weft__task *producer = weft__handle_record(gen->producer);
    weft__spin_unlock(&gen->spin);
    if (producer != NULL) {
        (void)weft__task_cancel(producer);
        (void)weft__task_wait_done(self, producer, WEFT__WAIT_SHIELDED);
        /* Its error went to a consumer, or the consumer chose to stop. */
        if (gen->end_seen || producer->err == -ECANCELED)
            weft__store_relaxed_u32(&producer->retrieved, 1);
        weft__task_unref(producer);
    }
    gen->magic = 0;
    weft__free(gen->name);
    weft__free(gen);
    return 0;
}
