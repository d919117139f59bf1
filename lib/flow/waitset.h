/* Waiting for many tasks at once: the machinery of gather, wait and
 * as_completed (flow/gather.c).
 *
 * Each task waited for gets a node, linked to the task as a wait whose
 * on_finish hook delivers it: when the task finishes, its finisher pushes
 * the node onto the set's list of finished nodes (a lock-free stack) and
 * wakes the owner with the suspension seq the owner last published. The
 * owner publishes its seq (with a full barrier) before it checks the
 * list, and the finisher pushes (with a full barrier) before it reads the
 * seq, so at least one of them sees the other: no finish is missed.
 *
 * A finisher still reads the set and wakes the owner after its push, when
 * the owner may already have taken every node; so it counts itself in
 * `delivering` for that while, and the owner waits for the count to drop
 * to zero (weft__waitset_fini) before the set, or the owner, goes away.
 */
#ifndef WEFT_FLOW_WAITSET_H
#define WEFT_FLOW_WAITSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/internal.h"
#include "sched/task.h"

struct weft__waitset;

/* One task waited for. */
struct weft__wsnode {
    struct weft__waiter w;          /* in the target's list of waits */
    struct weft__waitset *set;
    struct weft__wsnode *done_next; /* in the set's list of finished */
    bool taken;                     /* the owner has accounted for it */
};

struct weft__waitset {
    weft__task *owner;          /* the task that waits */
    uint32_t seq;              /* atomic: its current suspension, or 0 */
    struct weft__wsnode *done; /* atomic: finished nodes, a stack */
    uint32_t delivering;       /* atomic: finishers still touching the set */
};

void weft__waitset_init(struct weft__waitset *set, weft__task *owner);

/* Registers node with target; a target that has already finished is
 * delivered at once. */
void weft__waitset_add(struct weft__waitset *set, struct weft__wsnode *node,
                       weft__task *target);

/* Takes the nodes delivered so far, oldest first, or NULL. */
struct weft__wsnode *weft__waitset_take(struct weft__waitset *set);

/* Waits until a node has been delivered. 0, or -ECANCELED or -ETIMEDOUT
 * (never with WEFT__WAIT_SHIELDED). */
int weft__waitset_wait(struct weft__waitset *set, unsigned flags);

/* Withdraws the nodes[i] (of n) not yet taken, waiting (shielded) for
 * those whose target finished meanwhile; then the set may go (it calls
 * weft__waitset_fini). */
void weft__waitset_withdraw(struct weft__waitset *set,
                            struct weft__wsnode *nodes, size_t n);

/* Waits until no finisher touches the set any more; then it may go.
 * Every node must have been delivered or withdrawn. */
void weft__waitset_fini(struct weft__waitset *set);

#endif /* WEFT_FLOW_WAITSET_H */
