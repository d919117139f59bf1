/* Waiting for many tasks (waitset.h), and what is built on it: gather,
 * wait and as_completed. */
#include "waitset.h"

#include <sched.h>

#include <errno.h>
#include <string.h>

#include "atomic.h"
#include "scheduler.h"
#include "worker.h"

#include "weft/cancel.h"
#include "weft/gather.h"

void weft__waitset_init(struct weft__waitset *set, weft_task *owner)
{
    set->owner = owner;
    set->seq = 0;
    set->done = NULL;
    set->delivering = 0;
}

void weft__waitset_fini(struct weft__waitset *set)
{
    for (unsigned spins = 0; weft__load_acquire_u32(&set->delivering) != 0;
         spins++) {
        if (spins < 1000)
            weft__cpu_relax();
        else
            sched_yield(); /* its thread was preempted mid-delivery */
    }
}

static void push_done(struct weft__waitset *set, struct weft__waiter *node)
{
    struct weft__waiter *head;

    do {
        head = weft__load_acquire_ptr((void *const *)&set->done);
        node->done_next = head;
    } while (!weft__cas_ptr((void **)&set->done, head, node));
}

void weft__waitset_deliver(struct weft__waiter *node)
{
    struct weft__waitset *set = node->set;

    weft__faa_u32(&set->delivering, 1);
    /* The CAS is a full barrier: the seq read below is at least as new as
     * the one the owner published before checking the list. */
    push_done(set, node);
    uint32_t seq = weft__load_acquire_u32(&set->seq);
    if (seq != 0)
        weft__wake(set->owner, seq, WEFT__WAKE_DONE);
    weft__faa_u32(&set->delivering, (uint32_t)-1); /* the set may go now */
}

void weft__waitset_add(struct weft__waitset *set, struct weft__waiter *node,
                       weft_task *target)
{
    node->target = target;
    node->set = set;
    node->task = NULL;
    node->released = 0;
    if (!weft__waiter_add(target, node))
        push_done(set, node); /* finished already */
}

struct weft__waiter *weft__waitset_take(struct weft__waitset *set)
{
    struct weft__waiter *list, *oldest_first = NULL;

    if (weft__load_acquire_ptr((void *const *)&set->done) == NULL)
        return NULL;
    list = weft__fas_ptr((void **)&set->done, NULL);
    while (list != NULL) {
        struct weft__waiter *next = list->done_next;
        list->done_next = oldest_first;
        oldest_first = list;
        list = next;
    }
    return oldest_first;
}

int weft__waitset_wait(struct weft__waitset *set, unsigned flags)
{
    weft_task *self = set->owner;

    for (;;) {
        uint32_t seq;
        if (weft__load_acquire_ptr((void *const *)&set->done) != NULL)
            return 0;
        int rc = weft__wait_begin(self, flags, &seq);
        if (rc < 0)
            return rc;
        weft__fas_u32(&set->seq, seq); /* publish; a full barrier */
        if (weft__load_acquire_ptr((void *const *)&set->done) != NULL) {
            weft__store_release_u32(&set->seq, 0);
            (void)weft__wait_abort(self);
            return 0;
        }
        weft__task_waiting(self, WEFT__WAITING_TASKS, NULL);
        int reason = weft__wait_commit(self);
        weft__task_waiting(self, WEFT__WAITING_NOTHING, NULL);
        weft__store_release_u32(&set->seq, 0);
        if (reason != WEFT__WAKE_DONE)
            return weft__wake_error(reason);
    }
}

void weft__waitset_withdraw(struct weft__waitset *set,
                            struct weft__waiter *nodes, size_t n)
{
    size_t in_flight = 0;

    for (size_t i = 0; i < n; i++) {
        if (nodes[i].released)
            continue;
        if (weft__waiter_remove(nodes[i].target, &nodes[i]))
            nodes[i].released = 1;
        else
            in_flight++; /* its target finished: the node is on its way */
    }
    while (in_flight > 0) {
        struct weft__waiter *node = weft__waitset_take(set);
        if (node == NULL) {
            (void)weft__waitset_wait(set, WEFT__WAIT_SHIELDED);
            continue;
        }
        for (; node != NULL; node = node->done_next) {
            if (!node->released) {
                node->released = 1;
                in_flight--;
            }
        }
    }
    weft__waitset_fini(set);
}

/* --- argument checks shared by gather, wait and as_completed --------------- */

static int check_tasks(const weft_task *self, weft_task *const *tasks,
                       size_t n)
{
    if (n > 0 && tasks == NULL)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (tasks[i] == NULL || tasks[i]->magic != WEFT__TASK_MAGIC)
            return -EINVAL;
        if (tasks[i] == self)
            return -EDEADLK;
    }
    return 0;
}

static void record(weft_outcome *out, weft_task *t)
{
    if (t->err != 0) {
        weft__store_relaxed_u32(&t->retrieved, 1);
        out->result = NULL;
        out->err = t->err;
    } else {
        out->result = t->result;
        out->err = 0;
    }
}

/* --- gather ---------------------------------------------------------------- */

int weft_gather(weft_task *const *tasks, size_t n, int mode, weft_outcome *out)
{
    weft_task *self = weft_current();
    struct weft__waitset set;
    struct weft__waiter *nodes;
    int interrupted = 0, first_err = 0;
    unsigned flags = 0;

    if (mode != WEFT_GATHER_FAIL_FAST && mode != WEFT_GATHER_COLLECT)
        return -EINVAL;
    if (n > 0 && out == NULL)
        return -EINVAL;
    if (self == NULL)
        return -EPERM;
    int rc = check_tasks(self, tasks, n);
    if (rc < 0)
        return rc;
    if (n == 0)
        return 0;
    nodes = weft__calloc(n, sizeof *nodes);
    if (nodes == NULL)
        return -ENOMEM;
    weft__waitset_init(&set, self);
    for (size_t i = 0; i < n; i++)
        weft__waitset_add(&set, &nodes[i], tasks[i]);

    for (size_t remaining = n; remaining > 0;) {
        struct weft__waiter *node = weft__waitset_take(&set);
        if (node == NULL) {
            rc = weft__waitset_wait(&set, flags);
            if (rc < 0) {
                /* The gatherer was cancelled or timed out: so are the
                 * tasks, which are then awaited to their end. */
                interrupted = rc;
                flags = WEFT__WAIT_SHIELDED;
                for (size_t i = 0; i < n; i++)
                    (void)weft_cancel(tasks[i]);
            }
            continue;
        }
        for (; node != NULL; node = node->done_next) {
            size_t i = (size_t)(node - nodes);
            remaining--;
            record(&out[i], tasks[i]);
            if (mode == WEFT_GATHER_FAIL_FAST && out[i].err != 0 &&
                first_err == 0 && !interrupted) {
                first_err = out[i].err;
                flags = WEFT__WAIT_SHIELDED;
                for (size_t j = 0; j < n; j++)
                    (void)weft_cancel(tasks[j]);
            }
        }
    }
    weft__waitset_fini(&set);
    weft__free(nodes);
    return interrupted != 0 ? interrupted : first_err;
}

/* --- wait ------------------------------------------------------------------ */

int weft_wait(weft_task **tasks, size_t n, int mode, int64_t timeout_ms,
              size_t *ndone)
{
    weft_task *self = weft_current();
    struct weft__waitset set;
    struct weft__waiter *nodes;
    weft_scope scope;
    size_t done = 0;
    bool failed = false;
    int rc;

    if (ndone != NULL)
        *ndone = 0;
    if (ndone == NULL || (mode != WEFT_FIRST_COMPLETED &&
                          mode != WEFT_FIRST_EXCEPTION &&
                          mode != WEFT_ALL_COMPLETED) ||
        (timeout_ms < 0 && timeout_ms != WEFT_FOREVER))
        return -EINVAL;
    if (self == NULL)
        return -EPERM;
    rc = check_tasks(self, tasks, n);
    if (rc < 0 || n == 0)
        return rc;
    nodes = weft__calloc(n, sizeof *nodes);
    if (nodes == NULL)
        return -ENOMEM;
    if (timeout_ms != WEFT_FOREVER)
        (void)weft_timeout_enter(&scope, timeout_ms);
    weft__waitset_init(&set, self);
    for (size_t i = 0; i < n; i++)
        weft__waitset_add(&set, &nodes[i], tasks[i]);

    rc = 0;
    while (done < n && !(mode == WEFT_FIRST_COMPLETED && done > 0) &&
           !(mode == WEFT_FIRST_EXCEPTION && failed)) {
        struct weft__waiter *node = weft__waitset_take(&set);
        if (node == NULL) {
            rc = weft__waitset_wait(&set, 0);
            if (rc < 0)
                break;
            continue;
        }
        for (; node != NULL; node = node->done_next) {
            node->released = 1;
            done++;
            if (node->target->err != 0)
                failed = true;
        }
    }
    /* The pending tasks keep running; only our nodes go. */
    weft__waitset_withdraw(&set, nodes, n);
    if (timeout_ms != WEFT_FOREVER && weft_scope_leave(&scope) == 1 &&
        rc == -ETIMEDOUT)
        rc = 0; /* our own time-out is not an error, as in asyncio */
    weft__free(nodes);

    /* Done first, pending after, each in their original order. */
    size_t k = 0;
    for (size_t pass = 0; pass < 2; pass++) {
        for (size_t i = k; i < n; i++) {
            bool is_done = weft__load_acquire_u32(&tasks[i]->done) != 0;
            if (is_done == (pass == 0)) {
                weft_task *t = tasks[i];
                memmove(&tasks[k + 1], &tasks[k], (i - k) * sizeof *tasks);
                tasks[k++] = t;
            }
        }
        if (pass == 0)
            *ndone = k;
    }
    return rc;
}

/* --- as_completed ------------------------------------------------------------ */

struct weft_as_completed {
    struct weft__waitset set;
    size_t n;
    size_t handed;                 /* tasks handed out so far */
    struct weft__waiter *ready;    /* delivered, not yet handed out */
    struct weft__waiter nodes[];
};

int weft_as_completed_start(weft_as_completed **out, weft_task *const *tasks,
                            size_t n)
{
    weft_task *self = weft_current();
    weft_as_completed *it;

    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (self == NULL)
        return -EPERM;
    int rc = check_tasks(self, tasks, n);
    if (rc < 0)
        return rc;
    it = weft__calloc(1, sizeof *it + n * sizeof it->nodes[0]);
    if (it == NULL)
        return -ENOMEM;
    it->n = n;
    weft__waitset_init(&it->set, self);
    for (size_t i = 0; i < n; i++)
        weft__waitset_add(&it->set, &it->nodes[i], tasks[i]);
    *out = it;
    return 0;
}

int weft_as_completed_next(weft_as_completed *it, weft_task **task,
                           int64_t timeout_ms)
{
    weft_scope scope;
    int rc = 0;

    if (task != NULL)
        *task = NULL;
    if (it == NULL || task == NULL ||
        (timeout_ms < 0 && timeout_ms != WEFT_FOREVER))
        return -EINVAL;
    if (weft_current() != it->set.owner)
        return -EPERM;
    if (it->handed == it->n)
        return -EPIPE;
    if (timeout_ms != WEFT_FOREVER)
        (void)weft_timeout_enter(&scope, timeout_ms);
    while (it->ready == NULL) {
        it->ready = weft__waitset_take(&it->set);
        if (it->ready == NULL && (rc = weft__waitset_wait(&it->set, 0)) < 0)
            break;
    }
    if (timeout_ms != WEFT_FOREVER)
        (void)weft_scope_leave(&scope);
    if (it->ready == NULL)
        return rc;
    struct weft__waiter *node = it->ready;
    it->ready = node->done_next;
    node->released = 1;
    it->handed++;
    *task = node->target;
    return 0;
}

void weft_as_completed_end(weft_as_completed *it)
{
    if (it == NULL)
        return;
    /* Nodes already delivered but not handed out count as withdrawn. */
    for (struct weft__waiter *node = it->ready; node != NULL;
         node = node->done_next)
        node->released = 1;
    weft__waitset_withdraw(&it->set, it->nodes, it->n);
    weft__free(it);
}
