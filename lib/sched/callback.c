/* call_soon and call_later (weft/callback.h).
 *
 * call_soon appends to the calling worker's FIFO of ready callbacks,
 * which its scheduling loop runs, in order, before it picks the next task.
 * call_later is a timer on the worker's reactor. Either way the
 * callback runs on that worker's own stack. Only that worker may touch
 * its reactor and lists, so a cancel from another thread only marks the
 * callback, which is then skipped. Callbacks still pending when the
 * runtime ends are freed with the worker.
 */
#include "core/internal.h"

#include <errno.h>

#include "core/atomic.h"
#include "core/list.h"
#include "sched/worker.h"

enum { PENDING, RAN, CANCELLED };

struct weft_handle {
    struct weft__watch timer;     /* call_later's */
    bool timed;                   /* call_later, not call_soon */
    weft_callback fn;
    void *arg;
    struct weft__worker *worker;  /* where it runs */
    uint32_t state;               /* atomic: PENDING, RAN or CANCELLED */
    uint32_t refs;                /* atomic: the worker's, and the handle's */
    uint64_t seq;                 /* call_soon: its number on the worker */
    struct weft__list link;       /* in the worker's soon or later list */
};

/* The add is a full barrier pairing with every other holder's: whoever
 * drops the last reference sees the others' writes. */
static void unref(struct weft_handle *h)
{
    if (weft__faa_u32(&h->refs, (uint32_t)-1) == 1)
        weft__free(h);
}

static void link_into(struct weft_handle *h)
{
    struct weft__worker *w = h->worker;

    if (h->timed) {
        weft__list_push_back(&w->later, &h->link);
    } else {
        h->seq = w->soon_seq++;
        weft__list_push_back(&w->soon, &h->link);
    }
}

/* Takes h off its worker's list and drops the worker's reference. On
 * that worker. */
static void retire(struct weft_handle *h)
{
    weft__list_remove(&h->link);
    unref(h);
}

static struct weft_handle *first_of(struct weft__list *list)
{
    struct weft__list *link = weft__list_first(list);
    return link != NULL ? weft__list_entry(link, struct weft_handle, link)
                        : NULL;
}

static void run(struct weft_handle *h)
{
    /* The CAS decides the race with weft_handle_cancel's. */
    if (weft__cas_u32(&h->state, PENDING, RAN))
        h->fn(h->arg);
}

static void fire(struct weft__watch *timer)
{
    struct weft_handle *h = WEFT__CONTAINER_OF(timer, struct weft_handle, timer);

    run(h);
    retire(h);
}

void weft__callbacks_run_soon(struct weft__worker *w)
{
    /* Only those queued so far, told by their numbers: a callback that
     * queues another does not keep the worker here forever, whatever the
     * callbacks cancel meanwhile (a pointer to the last one would go
     * stale if that one were cancelled). */
    uint64_t end = w->soon_seq;
    struct weft_handle *h;
    while ((h = first_of(&w->soon)) != NULL && h->seq < end) {
        run(h);
        retire(h);
    }
}

static int schedule(weft_handle **handle, bool timed, int64_t delay_ms,
                    weft_callback fn, void *arg)
{
    struct weft__worker *w = weft__worker_self();
    struct weft_handle *h;

    if (handle != NULL)
        *handle = NULL;
    if (fn == NULL || delay_ms < 0)
        return -EINVAL;
    if (w == NULL)
        return -EPERM;
    h = weft__malloc(sizeof *h);
    if (h == NULL)
        return -ENOMEM;
    h->timed = timed;
    h->fn = fn;
    h->arg = arg;
    h->worker = w;
    h->state = PENDING;
    h->refs = handle != NULL ? 2 : 1;
    /* An armed timer makes the worker poll its reactor even while busy. */
    if (timed &&
        weft__watch_timer_common(&w->reactor, &h->timer, delay_ms, fire) < 0) {
        weft__free(h);
        return -ENOMEM;
    }
    link_into(h);
    if (handle != NULL)
        *handle = h;
    return 0;
}

int weft_call_soon(weft_handle **handle, weft_callback fn, void *arg)
{
    return schedule(handle, false, 0, fn, arg);
}

int weft_call_later(weft_handle **handle, int64_t delay_ms, weft_callback fn,
                    void *arg)
{
    return schedule(handle, true, delay_ms, fn, arg);
}

int weft_handle_cancel(weft_handle *h)
{
    if (h == NULL)
        return -EINVAL;
    /* The CAS decides the race with run's. */
    if (!weft__cas_u32(&h->state, PENDING, CANCELLED)) {
        /* Cancelled before, or dropped with its runtime: it will not
         * run either way. */
        /* Relaxed: a state that left PENDING never changes again. */
        return weft__load_relaxed_u32(&h->state) == CANCELLED ? 0 : -EALREADY;
    }
    /* On its own worker, free it now rather than when its turn comes. */
    if (weft__worker_self() == h->worker) {
        if (h->timed)
            weft__watch_cancel(&h->timer);
        retire(h);
    }
    return 0;
}

weft_handle *weft_handle_ref(weft_handle *h)
{
    /* The caller holds a reference already, so nothing to order. */
    if (h != NULL)
        weft__faa_u32(&h->refs, 1);
    return h;
}

void weft_handle_unref(weft_handle *h)
{
    if (h != NULL)
        unref(h);
}

void weft__callbacks_drop(struct weft__worker *w)
{
    struct weft_handle *h;

    /* Relaxed stores: the workers have stopped, so no run races them; a
     * handle's holder reads the state after the join that follows. */
    while ((h = first_of(&w->later)) != NULL) {
        weft__watch_cancel(&h->timer);
        weft__store_relaxed_u32(&h->state, CANCELLED);
        retire(h);
    }
    while ((h = first_of(&w->soon)) != NULL) {
        weft__store_relaxed_u32(&h->state, CANCELLED);
        retire(h);
    }
}
