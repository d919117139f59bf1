/* A worker's local run queue: a 256-slot ring, single producer (the
 * owning worker), many consumers (the owner and thieves).
 *
 * head counts tasks taken, tail tasks added; both only grow, and a slot is
 * index & 255. The owner adds at tail (a plain store of tail, released)
 * and takes at head with a compare-and-swap, as thieves do, so the owner
 * and thieves agree through head alone. A thief takes half of the queue in
 * one go: it copies the tasks into its own ring, then claims them with one
 * CAS on head; if another consumer moved head meanwhile, it drops the
 * copies and tries again. The copies are safe to drop because the owner
 * never overwrites a slot between head and tail: it adds only while
 * tail - head < 256, and head only grows. head and tail are 32-bit
 * counters, so an ABA on head would take 2^32 operations between a
 * thief's read and its CAS.
 *
 * This is Tokio's queue design on concurrencykit's atomics. ck_ring's SPMC
 * ring has the same shape but no batch dequeue, so a thief would pay one
 * CAS per task; weft-bench's "ring" subcommand measures both (see
 * doc/scheduler.md).
 */
#ifndef WEFT_SCHED_RUNQ_H
#define WEFT_SCHED_RUNQ_H

#include <stdbool.h>
#include <stdint.h>

#include "core/atomic.h"
#include "core/internal.h"

typedef struct weft__task weft__task; /* sched/task.h */

#define WEFT__RUNQ_CAP 256u
#define WEFT__RUNQ_MASK (WEFT__RUNQ_CAP - 1)
#define WEFT__CACHELINE 64

struct weft__runq {
    /* Written by every consumer: a line of its own. */
    uint32_t head __attribute__((aligned(WEFT__CACHELINE)));
    /* Written by the owner only. */
    uint32_t tail __attribute__((aligned(WEFT__CACHELINE)));
    /* Read and written with relaxed atomics: a thief may read a slot the
     * owner is refilling, then drop what it read when its CAS fails. */
    weft__task *slot[WEFT__RUNQ_CAP] __attribute__((aligned(WEFT__CACHELINE)));
};

static inline void weft__runq_init(struct weft__runq *q)
{
    q->head = 0;
    q->tail = 0;
}

/* Tasks in the queue; exact for the owner, a hint for anyone else. */
static inline unsigned weft__runq_len(const struct weft__runq *q)
{
    /* Pair with the CAS of head by consumers and the release of tail by
     * the owner; read at different moments, so only a hint. */
    uint32_t head = weft__load_acquire_u32(&q->head);
    uint32_t tail = weft__load_acquire_u32(&q->tail);
    uint32_t n = tail - head;
    return n > WEFT__RUNQ_CAP ? 0 : n;
}

/* Owner only. Adds t at the back; false if the queue is full. */
static inline bool weft__runq_push(struct weft__runq *q, weft__task *t)
{
    uint32_t tail = weft__load_relaxed_u32(&q->tail);
    /* Acquire, pairing with a consumer's CAS of head: the slot about to
     * be reused has been read by whoever took it. */
    uint32_t head = weft__load_acquire_u32(&q->head);

    if (tail - head >= WEFT__RUNQ_CAP)
        return false;
    weft__store_relaxed_ptr((void **)&q->slot[tail & WEFT__RUNQ_MASK], t);
    /* Release, pairing with the acquire of tail in weft__runq_steal_half
     * and weft__runq_len: a consumer that sees the new tail sees the slot. */
    weft__store_release_u32(&q->tail, tail + 1);
    return true;
}

/* Owner only. Takes the task at the front, or NULL. */
static inline weft__task *weft__runq_pop(struct weft__runq *q)
{
    /* Pairs with thieves' CAS of head. The owner wrote tail itself. */
    uint32_t head = weft__load_acquire_u32(&q->head);

    for (;;) {
        uint32_t tail = weft__load_relaxed_u32(&q->tail);
        if (head == tail)
            return NULL;
        weft__task *t =
            weft__load_relaxed_ptr((void *const *)&q->slot[head & WEFT__RUNQ_MASK]);
        /* A full barrier: claims the slot against thieves, whose own CAS
         * of head it races; the loser retries. */
        if (weft__cas_u32(&q->head, head, head + 1))
            return t;
        head = weft__load_acquire_u32(&q->head); /* a thief took some */
    }
}

/* Owner only, when the queue is full: claims exactly half of it (the
 * oldest tasks) into out[] for the global queue. Returns the count, or 0
 * if thieves made room meanwhile (then push again). */
static inline unsigned weft__runq_claim_half(struct weft__runq *q,
                                             weft__task **out)
{
    const unsigned n = WEFT__RUNQ_CAP / 2;
    /* Pairs with thieves' CAS of head, as in weft__runq_pop. */
    uint32_t head = weft__load_acquire_u32(&q->head);
    uint32_t tail = weft__load_relaxed_u32(&q->tail);

    if (tail - head != WEFT__RUNQ_CAP)
        return 0;
    for (unsigned i = 0; i < n; i++)
        out[i] = weft__load_relaxed_ptr(
            (void *const *)&q->slot[(head + i) & WEFT__RUNQ_MASK]);
    /* The claim races thieves' CAS of head; the copies are dropped if it
     * loses (see the essay above). */
    return weft__cas_u32(&q->head, head, head + n) ? n : 0;
}

/* Called by dst's owner: moves half of src's tasks (rounded up) to the
 * back of dst. Returns how many moved; 0 if src was empty or dst full. */
static inline unsigned weft__runq_steal_half(struct weft__runq *src,
                                             struct weft__runq *dst)
{
    uint32_t dtail = weft__load_relaxed_u32(&dst->tail);
    /* dst is the caller's own ring: its head pairs with the CAS of other
     * thieves that took from it. */
    uint32_t room = WEFT__RUNQ_CAP - (dtail - weft__load_acquire_u32(&dst->head));

    for (;;) {
        /* head pairs with other consumers' CAS; tail with the owner's
         * release in weft__runq_push, so the slots up to it are written. */
        uint32_t head = weft__load_acquire_u32(&src->head);
        uint32_t tail = weft__load_acquire_u32(&src->tail);
        uint32_t n = tail - head;
        if (n == 0 || room == 0)
            return 0;
        if (n > WEFT__RUNQ_CAP)
            continue; /* head and tail read at different times */
        n -= n / 2;
        if (n > room)
            n = room;
        for (uint32_t i = 0; i < n; i++) {
            weft__task *t = weft__load_relaxed_ptr(
                (void *const *)&src->slot[(head + i) & WEFT__RUNQ_MASK]);
            weft__store_relaxed_ptr(
                (void **)&dst->slot[(dtail + i) & WEFT__RUNQ_MASK], t);
        }
        /* The CAS is a full barrier: the copies above are complete before
         * the owner can reuse those slots. */
        if (weft__cas_u32(&src->head, head, head + n)) {
            weft__store_release_u32(&dst->tail, dtail + n);
            return n;
        }
    }
}

#endif /* WEFT_SCHED_RUNQ_H */
