/* Which workers are searching for work and which are parked, so that a
 * new task wakes a parked worker only when nobody is looking already.
 *
 * This follows Tokio (and Go before it). One atomic word counts the
 * workers that are unparked and those of them that are searching (trying
 * to steal). A worker may start searching only while fewer than half are.
 * Making work available calls weft__idle_notify(): if somebody searches
 * already, or nobody is parked, that is one load and nothing else. If not,
 * it pops one parked worker, counts it as searching, and writes its
 * eventfd. A searcher that finds work stops searching, and if it was the
 * last searcher it notifies again, so that waking ramps up one worker at
 * a time.
 *
 * No wake-up is lost: a worker about to park first registers as parked,
 * then checks every queue once more (work_anywhere in loop.c); a producer
 * first publishes its task, then reads the counts. With a full barrier
 * between the write and the read on both sides, at least one of them sees
 * the other.
 */
#ifndef WEFT_SCHED_IDLE_H
#define WEFT_SCHED_IDLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/internal.h"

struct weft__runtime;
struct weft__worker;

struct weft__idle {
    uint64_t state;            /* atomic: unparked << 32 | searching */
    pthread_mutex_t lock;      /* guards sleepers and every w->parked */
    struct weft__worker **sleepers; /* parked workers, a stack */
    unsigned nsleepers;
    unsigned nworkers;
};

int weft__idle_init(struct weft__idle *idle, unsigned nworkers);
void weft__idle_destroy(struct weft__idle *idle);

/* Called by a worker that has run out of local work: true if it may
 * search (fewer than half of the workers do). */
bool weft__idle_start_search(struct weft__idle *idle);

/* Called by a searching worker that found work: stops searching. Returns
 * true if it was the last searcher, in which case it should notify. */
bool weft__idle_end_search(struct weft__idle *idle);

/* Work was made available where any worker may take it (the global
 * queue): wake a parked worker if nobody is searching. Cheap when nobody
 * is parked. Called by any thread. */
void weft__idle_notify(struct weft__runtime *rt);

/* The same for work a running worker put in its own queue. It skips the
 * full barrier: if a worker parking at that moment is missed, no work is
 * lost, since the caller runs the task itself, and its next push sees the
 * parked worker (Go's runqput and wakep reason the same way). */
void weft__idle_notify_local(struct weft__runtime *rt);

/* Registers w as parked (dropping its searching state). After this, the
 * caller checks every queue again before it blocks. */
void weft__idle_park(struct weft__idle *idle, struct weft__worker *w);

/* Called by w after it wakes up or decides not to block: leaves the
 * parked set if a notifier has not already taken it out. Returns true if
 * a notifier woke it, which makes it a searcher. */
bool weft__idle_unpark(struct weft__idle *idle, struct weft__worker *w);

/* True if w is registered as parked; any thread may ask. */
bool weft__idle_is_parked(const struct weft__worker *w);

#endif /* WEFT_SCHED_IDLE_H */
