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
    struct weft_handle *prev;     /* in the worker's soon or later list */
    struct weft_handle *next;
};

static void unref(struct weft_handle *h)
{
    if (weft__faa_u32(&h->refs, (uint32_t)-1) == 1)
        weft__free(h);
}

static struct weft_handle **list_of(struct weft_handle *h)
{
    return h->timed ? &h->worker->later : &h->worker->soon;
}

static void link_into(struct weft_handle *h)
{
    struct weft_handle **head = list_of(h);
    struct weft__worker *w = h->worker;

    h->prev = NULL;
    h->next = NULL;
    if (h->timed) {
        h->next = *head;
        if (h->next != NULL)
            h->next->prev = h;
        *head = h;
    } else {
        /* FIFO: append. */
        h->seq = w->soon_seq++;
        h->prev = w->soon_tail;
        if (w->soon_tail != NULL)
            w->soon_tail->next = h;
        else
            *head = h;
        w->soon_tail = h;
    }
}

/* Takes h off its worker's list. On that worker. */
static void retire(struct weft_handle *h)
{
    struct weft_handle **head = list_of(h);
    struct weft__worker *w = h->worker;

    if (h->prev != NULL)
        h->prev->next = h->next;
    else
        *head = h->next;
    if (h->next != NULL)
        h->next->prev = h->prev;
    else if (!h->timed)
        w->soon_tail = h->prev;
    unref(h);
}

static void run(struct weft_handle *h)
{
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
    while (w->soon != NULL && w->soon->seq < end) {
        struct weft_handle *h = w->soon;
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
    if (timed && weft__watch_timer(&w->reactor, &h->timer, delay_ms, fire) < 0) {
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
    if (!weft__cas_u32(&h->state, PENDING, CANCELLED)) {
        /* Cancelled before, or dropped with its runtime: it will not
         * run either way. */
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
    while (w->later != NULL) {
        struct weft_handle *h = w->later;
        weft__watch_cancel(&h->timer);
        weft__store_relaxed_u32(&h->state, CANCELLED);
        retire(h);
    }
    while (w->soon != NULL) {
        weft__store_relaxed_u32(&w->soon->state, CANCELLED);
        retire(w->soon);
    }
}
