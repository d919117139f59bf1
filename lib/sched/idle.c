/* Searching and parked workers (see idle.h). */
#include "sched/idle.h"

#include <errno.h>
#include <unistd.h>

#include "core/atomic.h"
#include "core/thread.h"
#include "sched/runtime.h"
#include "sched/worker.h"

#define SEARCHING(state) ((uint32_t)(state))
#define UNPARKED(state) ((uint32_t)((state) >> 32))
#define ONE_UNPARKED ((uint64_t)1 << 32)

int weft__idle_init(struct weft__idle *idle, unsigned nworkers)
{
    idle->state = (uint64_t)nworkers << 32; /* all unparked, none searching */
    idle->nsleepers = 0;
    idle->nworkers = nworkers;
    idle->sleepers = weft__calloc(nworkers, sizeof *idle->sleepers);
    if (idle->sleepers == NULL)
        return -ENOMEM;
    int rc = pthread_mutex_init(&idle->lock, NULL);
    if (rc != 0) {
        weft__free(idle->sleepers);
        idle->sleepers = NULL;
        return -rc;
    }
    return 0;
}

void weft__idle_destroy(struct weft__idle *idle)
{
    if (idle->sleepers == NULL)
        return;
    weft__mutex_destroy(&idle->lock);
    weft__free(idle->sleepers);
    idle->sleepers = NULL;
}

/* The state word is only ever changed by read-modify-writes (full
 * barriers); the loads below need no partner beyond them. */
bool weft__idle_start_search(struct weft__idle *idle)
{
    uint64_t state = weft__load_acquire_u64(&idle->state);

    for (;;) {
        /* At most half of the workers search: more thieves only slow the
         * owners down (feasibility.md measured 10-40x). */
        if (2 * SEARCHING(state) >= idle->nworkers && idle->nworkers > 1)
            return false;
        if (weft__cas_u64(&idle->state, state, state + 1))
            return true;
        /* Reload after a lost CAS; the CAS above is what orders. */
        state = weft__load_acquire_u64(&idle->state);
    }
}

bool weft__idle_end_search(struct weft__idle *idle)
{
    /* A count: the add orders nothing the caller relies on. */
    uint64_t before = weft__faa_u64(&idle->state, (uint64_t)-1);
    WEFT__ASSERT(SEARCHING(before) > 0);
    return SEARCHING(before) == 1;
}

/* Wakes one parked worker, as a searcher, unless somebody searches. */
static void wake_one(struct weft__runtime *rt)
{
    struct weft__idle *idle = &rt->idle;
    struct weft__worker *w;
    uint64_t state;

    weft__mutex_lock(&idle->lock);
    state = weft__load_acquire_u64(&idle->state);
    if (SEARCHING(state) != 0 || idle->nsleepers == 0) {
        weft__mutex_unlock(&idle->lock);
        return;
    }
    w = idle->sleepers[--idle->nsleepers];
    weft__store_relaxed_u32(&w->parked, 0);
    w->notified = 1;
    /* It wakes up as a searcher, so the next notify does not wake a
     * second worker for the same work. */
    weft__faa_u64(&idle->state, ONE_UNPARKED + 1);
    weft__mutex_unlock(&idle->lock);
    weft__worker_wake(w);
}

static bool should_wake(const struct weft__idle *idle)
{
    /* After weft__idle_notify's fence, ordered with the parkers' (see
     * there); from weft__idle_notify_local, unordered on purpose (see
     * idle.h). Acquire is only for TSan. */
    uint64_t state = weft__load_acquire_u64(&idle->state);
    return SEARCHING(state) == 0 && UNPARKED(state) < idle->nworkers;
}

void weft__idle_notify(struct weft__runtime *rt)
{
    /* The caller has just published work; read the counts only after:
     * pairs with the fence at the end of weft__idle_park. */
    weft__fence_full();
    if (should_wake(&rt->idle))
        wake_one(rt);
}

void weft__idle_notify_local(struct weft__runtime *rt)
{
    if (should_wake(&rt->idle))
        wake_one(rt);
}

void weft__idle_park(struct weft__idle *idle, struct weft__worker *w)
{
    uint64_t delta = ONE_UNPARKED + (w->searching ? 1 : 0);

    weft__mutex_lock(&idle->lock);
    /* A full barrier (a locked instruction): the caller's re-check of the
     * queues that follows cannot be reordered before it. */
    weft__faa_u64(&idle->state, (uint64_t)0 - delta);
    idle->sleepers[idle->nsleepers++] = w;
    weft__store_relaxed_u32(&w->parked, 1);
    w->notified = 0;
    weft__mutex_unlock(&idle->lock);
    w->searching = false;
    /* Orders the store of parked above before the caller's re-check of
     * the queues (Dekker): pairs with the CAS of weft__worker_inbox_push,
     * which pushes before it reads parked, and with the fence of
     * weft__idle_notify, which publishes before it reads the counts. The
     * FAA above came before the store, so it cannot serve. */
    weft__fence_full();
}

bool weft__idle_unpark(struct weft__idle *idle, struct weft__worker *w)
{
    bool notified;

    weft__mutex_lock(&idle->lock);
    notified = w->notified != 0;
    if (!notified) {
        /* Woken by its own timer or socket, or never blocked: leave the
         * set by itself. */
        for (unsigned i = 0; i < idle->nsleepers; i++) {
            if (idle->sleepers[i] == w) {
                idle->sleepers[i] = idle->sleepers[--idle->nsleepers];
                break;
            }
        }
        /* Under the lock, which orders it with wake_one. */
        weft__faa_u64(&idle->state, ONE_UNPARKED);
    }
    weft__store_relaxed_u32(&w->parked, 0);
    w->notified = 0;
    weft__mutex_unlock(&idle->lock);
    if (notified)
        w->searching = true;
    return notified;
}

bool weft__idle_is_parked(const struct weft__worker *w)
{
    /* Callers order it after their push with a full barrier of their
     * own (see weft__worker_inbox_push). */
    return weft__load_acquire_u32(&w->parked) != 0;
}
