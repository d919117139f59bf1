/* The wait protocol: suspending a task and waking it exactly once (see
 * wait.h for the wait word).
 *
 * Memory order: every change of a task's wait word is a compare-and-swap
 * or an exchange, both full barriers, and every read of it is an acquire
 * that pairs with whichever of them wrote the value read. So a task that
 * reads WOKEN sees what its waker did before the CAS that woke it (an
 * item handed over, a grant), and a waker that reads SUSPENDED sees the
 * task off its stack. */
#include "sched/wait.h"

#include <errno.h>

#include "core/atomic.h"
#include "sched/loop.h"
#include "sched/scope.h"
#include "sched/task.h"

#define WAIT_WORD(seq, flags, reason, state)                                  \
    (((uint64_t)(seq) << 32) | ((uint64_t)(flags) << 16) |                    \
     ((uint64_t)(reason) << 8) | (uint64_t)(state))
#define WAIT_SEQ(word) ((uint32_t)((word) >> 32))
#define WAIT_FLAGS(word) ((unsigned)(((word) >> 16) & 0xff))
#define WAIT_REASON(word) ((int)(((word) >> 8) & 0xff))
#define WAIT_STATE(word) ((int)((word) & 0xff))
/* The same word in another state, keeping seq and flags. */
#define WAIT_WITH(word, reason, state)                                        \
    WAIT_WORD(WAIT_SEQ(word), WAIT_FLAGS(word), reason, state)

/* Wait-word flags. */
#define WORD_SHIELDED 0x1u /* cancellation may not wake this suspension */

/* -ETIMEDOUT if the deadline that applies to self now has passed (and
 * marks its scope), else 0 with that scope, if any, in *dl. */
static int deadline_check(weft__task *self, struct weft__scope **dl)
{
    struct weft__scope *s = weft__scope_deadline(self);

    if (s != NULL && s->deadline <= weft_now()) {
        s->expired = true;
        return -ETIMEDOUT;
    }
    if (dl != NULL)
        *dl = s;
    return 0;
}

int weft__check_interrupt(weft__task *self)
{
    /* Pairs with the FAA of weft__task_cancel. */
    if (self->shields == 0 && weft__load_acquire_u32(&self->cancel_requested))
        return -ECANCELED;
    return self->scopes != NULL ? deadline_check(self, NULL) : 0;
}

int weft__wait_begin(weft__task *self, unsigned flags, uint32_t *seq_out)
{
    bool shielded = (flags & WEFT__WAIT_SHIELDED) || self->shields > 0;
    struct weft__scope *dl = NULL;

    if (!(flags & WEFT__WAIT_SHIELDED)) {
        if (self->shields == 0 &&
            weft__load_acquire_u32(&self->cancel_requested))
            return -ECANCELED; /* pairs as in weft__check_interrupt */
        if (self->scopes != NULL) {
            int rc = deadline_check(self, &dl);
            if (rc < 0)
                return rc;
        }
    }
    /* Only the task itself changes its seq while it runs. */
    uint64_t word = weft__load_relaxed_u64(&self->wait);
    uint32_t seq = WAIT_SEQ(word) + 1;
    if (WEFT__UNLIKELY(seq == 0))
        seq = 1; /* 0 means "no suspension" to those that publish seqs */
    /* A full barrier (an exchange): a weft_cancel() that set the request
     * before this is seen below; one that sets it after sees SUSPENDING
     * and wakes this suspension. */
    weft__fas_u64(&self->wait, WAIT_WORD(seq, shielded ? WORD_SHIELDED : 0, 0,
                                         WEFT__WAIT_SUSPENDING));
    /* Pairs with the FAA of weft__task_cancel, as the comment above says. */
    if (!shielded && weft__load_acquire_u32(&self->cancel_requested)) {
        (void)weft__wait_abort(self);
        return -ECANCELED;
    }
    if (dl != NULL)
        weft__scope_arm(dl, seq);
    *seq_out = seq;
    return 0;
}

int weft__wake_error(int reason)
{
    switch (reason) {
    case WEFT__WAKE_CANCEL:
        return -ECANCELED;
    case WEFT__WAKE_DEADLINE:
        return -ETIMEDOUT;
    default:
        return 0;
    }
}

enum weft__wait_state weft__wait_state_of(const weft__task *task)
{
    /* Pairs with the CAS or exchange that last changed the word. */
    return (enum weft__wait_state)WAIT_STATE(weft__load_acquire_u64(&task->wait));
}

bool weft__wake(weft__task *task, uint32_t seq, int reason)
{
    /* Acquire: pairs with the task's exchange in weft__wait_begin and the
     * CAS of weft__wait_publish (see the top of this file). */
    uint64_t word = weft__load_acquire_u64(&task->wait);

    for (;;) {
        int state = WAIT_STATE(word);
        if (WAIT_SEQ(word) != seq ||
            (state != WEFT__WAIT_SUSPENDING && state != WEFT__WAIT_SUSPENDED))
            return false;
        /* Release (a full barrier): the task that reads WOKEN in
         * weft__wait_commit or weft__wait_abort sees what the waker did
         * before this. */
        if (weft__cas_u64(&task->wait, word,
                          WAIT_WITH(word, reason, WEFT__WAIT_WOKEN))) {
            /* A SUSPENDING task is still on its stack: the context that
             * takes over from it will see WOKEN and queue it. */
            if (state == WEFT__WAIT_SUSPENDED)
                weft__sched_ready(task);
            return true;
        }
        word = weft__load_acquire_u64(&task->wait);
    }
}

void weft__wake_for_cancel(weft__task *task)
{
    /* Pairs with the exchange in weft__wait_begin; see weft__task_cancel
     * for the other half of the Dekker argument. */
    uint64_t word = weft__load_acquire_u64(&task->wait);
    int state = WAIT_STATE(word);

    if ((state == WEFT__WAIT_SUSPENDING || state == WEFT__WAIT_SUSPENDED) &&
        !(WAIT_FLAGS(word) & WORD_SHIELDED))
        (void)weft__wake(task, WAIT_SEQ(word), WEFT__WAKE_CANCEL);
    /* Otherwise it is running or about to run, and sees the request at
     * its next suspension; or it is shielded, and sees it after. */
}

void weft__handoff_wake(struct weft__handoff *h, int reason)
{
    /* Read before the release: h may be gone right after it. */
    weft__task *task = h->task;
    uint32_t seq = h->seq;

    (void)weft__wake(task, seq, reason);
    /* Pairs with the acquire in weft__handoff_wait. */
    weft__store_release_u32(&h->released, 1);
}

void weft__handoff_wait(const struct weft__handoff *h)
{
    weft__spin_until_u32(&h->released, 1);
}

bool weft__wait_publish(weft__task *task)
{
    uint64_t word = weft__load_acquire_u64(&task->wait);

    /* Pairs with the acquire load in weft__wake: a waker that sees
     * SUSPENDED may queue the task, which is off its stack by now. */
    if (WAIT_STATE(word) == WEFT__WAIT_SUSPENDING &&
        weft__cas_u64(&task->wait, word, WAIT_WITH(word, 0, WEFT__WAIT_SUSPENDED)))
        return true;
    /* Woken before it was off its stack; it is WOKEN now. */
    WEFT__ASSERT(WAIT_STATE(weft__load_acquire_u64(&task->wait)) ==
                 WEFT__WAIT_WOKEN);
    return false;
}

/* The suspension is over: disarm its deadline, and note in the scope
 * that it expired if that is what ended it. */
static int end_wait(weft__task *self, uint64_t word)
{
    int reason = WAIT_REASON(word);

    weft__store_relaxed_u64(&self->wait,
                            WAIT_WORD(WAIT_SEQ(word), 0, 0, WEFT__WAIT_RUNNING));
    if (reason == WEFT__WAKE_DEADLINE && self->armed_scope != NULL)
        self->armed_scope->expired = true;
    weft__scope_disarm(self);
    return reason;
}

int weft__wait_commit(weft__task *self)
{
    /* Pairs with a waker's CAS to WOKEN (see the top of this file). */
    uint64_t word = weft__load_acquire_u64(&self->wait);

    if (WAIT_STATE(word) == WEFT__WAIT_SUSPENDING) {
        weft__sched_suspend(self);
        word = weft__load_acquire_u64(&self->wait);
    }
    WEFT__ASSERT(WAIT_STATE(word) == WEFT__WAIT_WOKEN);
    return end_wait(self, word);
}

int weft__wait_abort(weft__task *self)
{
    /* The CAS races a waker's: whichever wins decides (see the top of
     * this file for the pairing). */
    uint64_t word = weft__load_acquire_u64(&self->wait);

    if (WAIT_STATE(word) == WEFT__WAIT_SUSPENDING &&
        weft__cas_u64(&self->wait, word, WAIT_WITH(word, 0, WEFT__WAIT_RUNNING))) {
        weft__scope_disarm(self);
        return WEFT__WAKE_NONE;
    }
    /* A waker won the race; it did not queue us, since we never left. */
    word = weft__load_acquire_u64(&self->wait);
    WEFT__ASSERT(WAIT_STATE(word) == WEFT__WAIT_WOKEN);
    return end_wait(self, word);
}

