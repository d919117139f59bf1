/* weft_event: a flag that tasks wait to see set (see sync.h). */
#include "core/internal.h"

#include <errno.h>

#include "sched/wait.h"
#include "sync/sync.h"
#include "sched/task.h"

_Static_assert(sizeof(struct weft__event) <= sizeof(weft_event),
               "weft_event is too small");
_Static_assert(_Alignof(struct weft__event) <= _Alignof(weft_event),
               "weft_event is not aligned enough");

static struct weft__event *event_of(weft_event *pub)
{
    struct weft__event *ev = (struct weft__event *)(void *)pub;

    if (pub == NULL || ev->magic != WEFT__EVENT_MAGIC)
        return NULL;
    return ev;
}

int weft_event_init(weft_event *pub)
{
    struct weft__event *ev = (struct weft__event *)(void *)pub;

    if (pub == NULL)
        return -EINVAL;
    ev->spin = (weft__spinlock)WEFT__SPINLOCK_INIT;
    ev->set = 0;
    weft__waitq_init(&ev->q, WEFT__WAITING_EVENT);
    ev->magic = WEFT__EVENT_MAGIC;
    return 0;
}

int weft_event_destroy(weft_event *pub)
{
    struct weft__event *ev = event_of(pub);

    if (ev == NULL)
        return -EINVAL;
    return weft__sync_retire(&ev->magic, &ev->spin, &ev->q);
}

int weft_event_set(weft_event *pub)
{
    struct weft__event *ev = event_of(pub);

    if (ev == NULL)
        return -EINVAL;
    weft__spin_lock(&ev->spin);
    /* Pairs with the acquire loads of weft_event_wait and is_set: who
     * sees the flag sees what the setter did before setting it. */
    weft__store_release_u32(&ev->set, 1);
    weft__waitq_wake_all(&ev->q, 0);
    weft__spin_unlock(&ev->spin);
    return 0;
}

int weft_event_clear(weft_event *pub)
{
    struct weft__event *ev = event_of(pub);

    if (ev == NULL)
        return -EINVAL;
    /* Pairs with the acquire loads of weft_event_wait and is_set. */
    weft__store_release_u32(&ev->set, 0);
    return 0;
}

int weft_event_is_set(weft_event *pub)
{
    struct weft__event *ev = event_of(pub);

    if (ev == NULL)
        return -EINVAL;
    /* Pairs with the release stores of set and clear. */
    return weft__load_acquire_u32(&ev->set) != 0;
}

int weft_event_wait(weft_event *pub, int64_t timeout_ms)
{
    struct weft__event *ev = event_of(pub);
    weft__task *self;
    struct weft__wqnode node;
    bool late;
    int rc;

    rc = weft__wait_checks(ev, timeout_ms, &self);
    if (rc < 0)
        return rc;
    /* Pairs with the release store of weft_event_set. */
    if (weft__load_acquire_u32(&ev->set))
        return 0;
    weft__spin_lock(&ev->spin);
    if (weft__load_relaxed_u32(&ev->set)) {
        weft__spin_unlock(&ev->spin);
        return 0;
    }
    /* Interrupted as it was set: the flag stays set for everyone else, so
     * nothing is lost; this waiter reports its interruption. */
    rc = weft__waitq_wait(&ev->q, &ev->spin, &node, timeout_ms, 0, &late);
    if (rc < 0)
        weft__spin_unlock(&ev->spin);
    return rc;
}
