/* Waiting for many tasks at once: the shared machinery of gather, wait,
 * as_completed and task groups.
 *
 * Each task waited for gets a node (struct weft__waiter with `set`). When
 * it finishes, its finisher pushes the node onto the set's list of
 * finished nodes (a lock-free stack) and wakes the owner with the
 * suspension seq the owner last published. The owner publishes its seq
 * (with a full barrier) before it checks the list, and the finisher
 * pushes (with a full barrier) before it reads the seq, so at least one
 * of them sees the other: no finish is missed.
 *
 * A finisher still reads the set and wakes the owner after its push, when
 * the owner may already have taken every node; so it counts itself in
 * `delivering` for that while, and the owner waits for the count to drop
 * to zero (weft__waitset_fini) before the set, or the owner, goes away.
 */
#ifndef WEFT_WAITSET_H
#define WEFT_WAITSET_H

#include <stddef.h>
#include <stdint.h>

#include "core/internal.h"
#include "sched/task.h"

struct weft__waitset {
    weft_task *owner;          /* the task that waits */
    uint32_t seq;              /* atomic: its current suspension, or 0 */
    struct weft__waiter *done; /* atomic: finished nodes, a stack */
    uint32_t delivering;       /* atomic: finishers still touching the set */
};

void weft__waitset_init(struct weft__waitset *set, weft_task *owner);

/* Registers node (its target set) with its target; a target that has
 * already finished is delivered at once. */
void weft__waitset_add(struct weft__waitset *set, struct weft__waiter *node,
                       weft_task *target);

/* Takes the nodes delivered so far, oldest first, or NULL. */
struct weft__waiter *weft__waitset_take(struct weft__waitset *set);

/* Waits until a node has been delivered. 0, or -ECANCELED or -ETIMEDOUT
 * (never with WEFT__WAIT_SHIELDED). */
int weft__waitset_wait(struct weft__waitset *set, unsigned flags);

/* Withdraws the nodes[i] (of n) that have not been delivered, waiting
 * (shielded) for those whose target finished meanwhile. A node counts as
 * delivered once its `released` field is set, as weft__waitset_take's
 * callers do. */
void weft__waitset_withdraw(struct weft__waitset *set,
                            struct weft__waiter *nodes, size_t n);

/* Waits until no finisher touches the set any more; then it may go.
 * Every node must have been delivered or withdrawn. (withdraw does it.) */
void weft__waitset_fini(struct weft__waitset *set);

#endif /* WEFT_WAITSET_H */
