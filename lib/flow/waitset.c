/* Waiting for many tasks (see waitset.h). */
#include "flow/waitset.h"

#include "core/atomic.h"
#include "sched/wait.h"

void weft__waitset_init(struct weft__waitset *set, weft__task *owner)
{
    set->owner = owner;
    set->seq = 0;
    set->done = NULL;
    set->delivering = 0;
}

void weft__waitset_fini(struct weft__waitset *set)
{
    /* Pairs with the decrement that ends weft__waitset_deliver. */
    weft__spin_until_u32(&set->delivering, 0);
}

static void push_done(struct weft__waitset *set, struct weft__wsnode *node)
{
    struct weft__wsnode *head;

    do {
        head = weft__load_acquire_ptr((void *const *)&set->done);
        node->done_next = head;
        /* Pairs with the exchange in weft__waitset_take: the owner that
         * takes the stack sees the node and its link. */
    } while (!weft__cas_ptr((void **)&set->done, head, node));
}

/* The on_finish hook of a node: run by the target's finisher, which owns
 * the node from then on. */
static void deliver(struct weft__waiter *w)
{
    struct weft__wsnode *node = WEFT__CONTAINER_OF(w, struct weft__wsnode, w);
    struct weft__waitset *set = node->set;

    /* A full barrier, before the push: the owner's wait in
     * weft__waitset_fini that sees 0 after taking this node cannot miss
     * the delivery still touching the set. */
    weft__faa_u32(&set->delivering, 1);
    /* The CAS is a full barrier: the seq read below is at least as new as
     * the one the owner published before checking the list (pairs with
     * the exchange in weft__waitset_wait). */
    push_done(set, node);
    uint32_t seq = weft__load_acquire_u32(&set->seq);
    if (seq != 0)
        weft__wake(set->owner, seq, WEFT__WAKE_DONE);
    weft__faa_u32(&set->delivering, (uint32_t)-1); /* the set may go now */
}

void weft__waitset_add(struct weft__waitset *set, struct weft__wsnode *node,
                       weft__task *target)
{
    node->w.target = target;
    node->w.on_finish = deliver;
    node->set = set;
    node->taken = false;
    if (!weft__waiter_add(target, &node->w))
        push_done(set, node); /* finished already */
}

struct weft__wsnode *weft__waitset_take(struct weft__waitset *set)
{
    struct weft__wsnode *list, *oldest_first = NULL;

    /* Both pair with the CAS of push_done. */
    if (weft__load_acquire_ptr((void *const *)&set->done) == NULL)
        return NULL;
    list = weft__fas_ptr((void **)&set->done, NULL);
    while (list != NULL) {
        struct weft__wsnode *next = list->done_next;
        list->done_next = oldest_first;
        oldest_first = list;
        list = next;
    }
    return oldest_first;
}

int weft__waitset_wait(struct weft__waitset *set, unsigned flags)
{
    weft__task *self = set->owner;

    for (;;) {
        uint32_t seq;
        /* Pairs with the CAS of push_done. */
        if (weft__load_acquire_ptr((void *const *)&set->done) != NULL)
            return 0;
        int rc = weft__wait_begin(self, flags, &seq);
        if (rc < 0)
            return rc;
        /* Publish; the exchange is a full barrier, paired with deliver's
         * CAS: either we see its node below or it sees our seq. */
        weft__fas_u32(&set->seq, seq);
        if (weft__load_acquire_ptr((void *const *)&set->done) != NULL) {
            /* Unpublished: pairs with the acquire in deliver. */
            weft__store_release_u32(&set->seq, 0);
            (void)weft__wait_abort(self);
            return 0;
        }
        weft__task_waiting(self, WEFT__WAITING_TASKS, NULL);
        int reason = weft__wait_commit(self);
        weft__task_waiting(self, WEFT__WAITING_NOTHING, NULL);
        /* Unpublished: pairs with the acquire in deliver. */
        weft__store_release_u32(&set->seq, 0);
        if (reason != WEFT__WAKE_DONE)
            return weft__wake_error(reason);
    }
}

void weft__waitset_withdraw(struct weft__waitset *set,
                            struct weft__wsnode *nodes, size_t n)
{
    size_t in_flight = 0;

    for (size_t i = 0; i < n; i++) {
        if (nodes[i].taken)
            continue;
        if (weft__waiter_remove(nodes[i].w.target, &nodes[i].w))
            nodes[i].taken = true;
        else
            in_flight++; /* its target finished: the node is on its way */
    }
    while (in_flight > 0) {
        struct weft__wsnode *node = weft__waitset_take(set);
        if (node == NULL) {
            (void)weft__waitset_wait(set, WEFT__WAIT_SHIELDED);
            continue;
        }
        for (; node != NULL; node = node->done_next) {
            if (!node->taken) {
                node->taken = true;
                in_flight--;
            }
        }
    }
    weft__waitset_fini(set);
}
