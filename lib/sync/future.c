/* weft_future: a bare awaitable result (weft/future.h).
 *
 * A spinlock guards the state and the FIFO of awaiting tasks. Completion
 * (from any thread, a task or not) stores the outcome, publishes the
 * state, and wakes every awaiter; an awaiter that was interrupted in the
 * same moment still gets the outcome, and its interruption stays pending.
 */
#include "core/internal.h"

#include <errno.h>

#include "core/atomic.h"
#include "sched/task.h"
#include "sched/wait.h"
#include "sync/sync.h"
#include "sync/waitq.h"

#include "weft/future.h"

#define FUTURE_MAGIC 0x66757475u /* "futu" */

enum { PENDING, DONE, CANCELLED };

struct weft_future {
    uint32_t magic;
    weft__spinlock spin;
    uint32_t refs;            /* atomic */
    uint32_t state;           /* atomic; changed once, under spin */
    void *value;              /* set before state leaves PENDING */
    int err;
    struct weft__waitq waiters;
};

static struct weft_future *future_of(weft_future *f)
{
    return f != NULL && f->magic == FUTURE_MAGIC ? f : NULL;
}

int weft_future_create(weft_future **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    struct weft_future *f = weft__malloc(sizeof *f);
    if (f == NULL)
        return -ENOMEM;
    f->spin = (weft__spinlock)WEFT__SPINLOCK_INIT;
    f->refs = 1;
    f->state = PENDING;
    f->value = NULL;
    f->err = 0;
    weft__waitq_init(&f->waiters, WEFT__WAITING_FUTURE);
    f->magic = FUTURE_MAGIC;
    *out = f;
    return 0;
}

weft_future *weft_future_ref(weft_future *pub)
{
    struct weft_future *f = future_of(pub);

    /* A reference taken by one who has one: no ordering is needed. */
    if (f != NULL)
        weft__faa_u32(&f->refs, 1);
    return f;
}

void weft_future_unref(weft_future *pub)
{
    struct weft_future *f = future_of(pub);

    /* A full barrier: every holder's use comes before the last frees it. */
    if (f == NULL || weft__faa_u32(&f->refs, (uint32_t)-1) != 1)
        return;
    /* An awaiter holds a reference: with none left, nobody waits. */
    WEFT__ASSERT(weft__waitq_empty(&f->waiters));
    f->magic = 0;
    weft__free(f);
}

/* Moves a pending future to state with its outcome and wakes every
 * awaiter. Spinlock held. */
static void complete_locked(struct weft_future *f, uint32_t state,
                            void *value, int err)
{
    f->value = value;
    f->err = err;
    /* Pairs with the acquire loads of weft_future_result and
     * weft_future_is_done: the outcome is seen with the state. */
    weft__store_release_u32(&f->state, state);
    weft__waitq_wake_all(&f->waiters, 0);
}

static int complete(weft_future *pub, void *value, int err)
{
    struct weft_future *f = future_of(pub);
    int rc = 0;

    if (f == NULL)
        return -EINVAL;
    weft__spin_lock(&f->spin);
    if (f->state == PENDING)
        complete_locked(f, DONE, value, err);
    else
        rc = f->state == CANCELLED ? -ECANCELED : -EALREADY;
    weft__spin_unlock(&f->spin);
    return rc;
}

int weft_future_set_result(weft_future *f, void *value)
{
    return complete(f, value, 0);
}

int weft_future_set_error(weft_future *f, int err)
{
    if (err >= 0)
        return -EINVAL;
    return complete(f, NULL, err);
}

int weft_future_cancel(weft_future *pub)
{
    struct weft_future *f = future_of(pub);
    int rc = 0;

    if (f == NULL)
        return -EINVAL;
    weft__spin_lock(&f->spin);
    if (f->state == PENDING)
        complete_locked(f, CANCELLED, NULL, -ECANCELED);
    else
        rc = -EALREADY;
    weft__spin_unlock(&f->spin);
    return rc;
}

/* The outcome of a completed future. */
static int outcome(const struct weft_future *f, void **value)
{
    if (f->err != 0)
        return f->err;
    if (value != NULL)
        *value = f->value;
    return 0;
}

int weft_future_await(weft_future *pub, void **value, int64_t timeout_ms)
{
    struct weft_future *f = future_of(pub);
    struct weft__wqnode node;
    weft__task *self;
    bool late;

    if (value != NULL)
        *value = NULL;
    int rc = weft__wait_checks(f, timeout_ms, &self);
    if (rc < 0)
        return rc;
    /* Pairs with the release in complete_locked. */
    if (weft__load_acquire_u32(&f->state) != PENDING)
        return outcome(f, value);
    /* The wait holds a reference of its own: the caller may drop its
     * last one meanwhile (from a callback, say). */
    weft_future_ref(f);
    weft__spin_lock(&f->spin);
    if (f->state == PENDING) {
        rc = weft__waitq_wait(&f->waiters, &f->spin, &node, timeout_ms, 0,
                              &late);
        if (rc == 0) {
            /* Woken by the completion; the spinlock is free. */
            rc = outcome(f, value);
            weft_future_unref(f);
            return rc;
        }
        if (!late) {
            /* As asyncio's await of a future: giving up on it cancels it,
             * for the other awaiters too, and tells its completer. */
            complete_locked(f, CANCELLED, NULL, -ECANCELED);
            weft__spin_unlock(&f->spin);
            weft_future_unref(f);
            return rc;
        }
        /* Completed as the wait was interrupted: the outcome is
         * delivered, and the interruption stays pending for the next
         * suspension. */
    }
    weft__spin_unlock(&f->spin);
    rc = outcome(f, value);
    weft_future_unref(f);
    return rc;
}

int weft_future_result(weft_future *pub, void **value)
{
    struct weft_future *f = future_of(pub);

    if (value != NULL)
        *value = NULL;
    if (f == NULL)
        return -EINVAL;
    /* Pairs with the release in complete_locked. */
    if (weft__load_acquire_u32(&f->state) == PENDING)
        return -EINPROGRESS;
    return outcome(f, value);
}

int weft_future_is_done(weft_future *pub)
{
    struct weft_future *f = future_of(pub);

    if (f == NULL)
        return -EINVAL;
    /* Pairs with the release in complete_locked. */
    return weft__load_acquire_u32(&f->state) != PENDING;
}
