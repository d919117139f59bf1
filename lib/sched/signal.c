/* Signals caught while weft_run runs (see signal.h). */
#include "core/internal.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "core/list.h"
#include "core/thread.h"
#include "reactor/reactor.h"
#include "sched/runtime.h"
#include "sched/scope.h"
#include "sched/signal.h"
#include "sched/task.h"
#include "sched/wait.h"
#include "sched/worker.h"

#define NSIG_MASK 64 /* signals 1..64, bit signo - 1 */
#define BIT(signo) ((uint64_t)1 << ((signo) - 1))

/* The handler's: caught signals, the fd that wakes worker 0 (-1 when no
 * runtime runs), the signals that cancel main and how many of those came,
 * and how many handlers are running (stop waits for them). */
uint64_t weft__signals_caught_mask;
static uint32_t wake_fd1[WEFT_WORKERS_MAX]; /* each worker's, + 1 */
static uint32_t wake_count;                  /* 0: no runtime */
static uint64_t cancel_mask;
static uint32_t cancels;
static uint32_t in_handler;

/* The rest, under `lock`: the runtime, the handlers installed and the
 * dispositions they replaced, the signals caught with nobody waiting,
 * the waiting tasks, and whether a signal cancelled main. */
static weft__spinlock lock;
static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;
static struct weft__runtime *runtime;
static uint64_t installed;
static struct sigaction previous[NSIG_MASK + 1];
static uint64_t pending;
static struct weft__list waiters = { &waiters, &waiters };
static bool interrupted;
static uint32_t dispatching; /* atomic: dispatches past the lock */

/* A task in weft_signal_wait, on its stack. */
struct sig_waiter {
    struct weft__list link;       /* in `waiters` while linked */
    bool linked;
    uint64_t mask;
    int signo;                    /* set by the dispatch that unlinked it */
    struct weft__handoff handoff; /* that dispatch's wake */
    struct weft__watch timer;     /* its timeout, if any */
};

static void on_signal(int signo)
{
    int saved = errno;
    uint64_t bit = BIT(signo);

    weft__faa_u32(&in_handler, 1);
    if ((weft__load_relaxed_u64(&cancel_mask) & bit) &&
        weft__faa_u32(&cancels, 1) > 0) {
        /* A second one while main still runs: end the process as the
         * signal does. It is blocked in its own handler, so the raise is
         * delivered, to the default action, when the handler returns. */
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigemptyset(&dfl.sa_mask);
        (void)sigaction(signo, &dfl, NULL);
        (void)raise(signo);
    }
    /* Pairs with the exchange in weft__signals_dispatch. */
    uint64_t old = weft__load_relaxed_u64(&weft__signals_caught_mask);
    while (!weft__cas_u64(&weft__signals_caught_mask, old, old | bit))
        old = weft__load_relaxed_u64(&weft__signals_caught_mask);
    /* Every worker: the one a waiter parks on may be the first free to
     * deliver (worker 0 runs main, and may be busy). Signals are rare. */
    uint32_t n = weft__load_acquire_u32(&wake_count);
    for (uint32_t i = 0; i < n; i++) {
        int fd = (int)weft__load_relaxed_u32(&wake_fd1[i]) - 1;
        uint64_t one = 1;
        if (fd >= 0 && write(fd, &one, sizeof one) < 0)
            continue; /* EAGAIN: it is awake already */
    }
    weft__faa_u32(&in_handler, (uint32_t)-1);
    errno = saved;
}

/* Installs on_signal for the signals of mask that do not have it yet.
 * Under install_lock. */
static int install(uint64_t mask)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    /* On the worker's alternate stack: a task's own stack may have too
     * little room left for the kernel's signal frame (about 3.4 KiB). */
    sa.sa_flags = SA_RESTART | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    for (int signo = 1; signo <= NSIG_MASK; signo++) {
        if (!(mask & BIT(signo)) || (installed & BIT(signo)))
            continue;
        if (sigaction(signo, &sa, &previous[signo]) < 0)
            return -errno;
        installed |= BIT(signo);
    }
    return 0;
}

static void restore_all(void)
{
    for (int signo = 1; signo <= NSIG_MASK; signo++) {
        if (installed & BIT(signo))
            (void)sigaction(signo, &previous[signo], NULL);
    }
    installed = 0;
}

void weft__signals_dispatch(void)
{
    /* Pairs with the CAS of the handler: what it recorded is seen. */
    uint64_t got = weft__fas_u64(&weft__signals_caught_mask, 0);
    struct weft__list woken;
    bool cancel_main = false;

    if (got == 0)
        return;
    weft__list_init(&woken);
    weft__spin_lock(&lock);
    for (int signo = 1; signo <= NSIG_MASK; signo++) {
        uint64_t bit = BIT(signo);
        if (!(got & bit))
            continue;
        if (weft__load_relaxed_u64(&cancel_mask) & bit) {
            if (!interrupted)
                cancel_main = true;
            interrupted = true;
            continue;
        }
        bool delivered = false;
        struct weft__list *it, *next;
        for (it = waiters.next; it != &waiters; it = next) {
            next = it->next;
            struct sig_waiter *wt = WEFT__CONTAINER_OF(it, struct sig_waiter, link);
            if (!(wt->mask & bit))
                continue;
            weft__list_remove(&wt->link);
            wt->linked = false;
            wt->signo = signo;
            weft__list_push_back(&woken, &wt->link);
            delivered = true;
        }
        if (!delivered)
            pending |= bit;
    }
    struct weft__runtime *rt = runtime;
    if (rt != NULL)
        weft__faa_u32(&dispatching, 1); /* stop waits for it */
    weft__spin_unlock(&lock);
    if (cancel_main && rt != NULL && rt->main != NULL)
        (void)weft__task_cancel(rt->main);
    /* Outside the lock: a woken waiter takes it to see it was unlinked.
     * After the handoff the waiter's frame may go, link and all. */
    while (!weft__list_empty(&woken)) {
        struct weft__list *it = weft__list_first(&woken);
        struct sig_waiter *wt = WEFT__CONTAINER_OF(it, struct sig_waiter, link);
        weft__list_remove(it);
        weft__handoff_wake(&wt->handoff, WEFT__WAKE_DONE);
    }
    if (rt != NULL)
        weft__faa_u32(&dispatching, (uint32_t)-1);
}

/* True if signo has its default action: a program that ignores it, or
 * handles it itself, keeps it (asyncio.run installs its SIGINT handler
 * only over the default one). */
static bool at_default(int signo)
{
    struct sigaction sa;
    return sigaction(signo, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL &&
           !(sa.sa_flags & SA_SIGINFO);
}

int weft__signals_start(struct weft__runtime *rt, unsigned run_flags)
{
    uint64_t mask = 0;

    if (!(run_flags & WEFT_RUN_NO_SIGINT) && at_default(SIGINT))
        mask |= BIT(SIGINT);
    if ((run_flags & WEFT_RUN_SIGTERM) && at_default(SIGTERM))
        mask |= BIT(SIGTERM);
    weft__spin_lock(&lock);
    runtime = rt;
    pending = 0;
    interrupted = false;
    weft__spin_unlock(&lock);
    weft__store_relaxed_u32(&cancels, 0);
    weft__store_relaxed_u64(&cancel_mask, mask);
    weft__store_relaxed_u64(&weft__signals_caught_mask, 0);
    for (unsigned i = 0; i < rt->nworkers; i++) {
        weft__store_relaxed_u32(&wake_fd1[i],
                                (uint32_t)rt->workers[i]->reactor.wake_fd + 1);
    }
    /* Pairs with the handler's acquire: it sees the fds stored above. */
    weft__store_release_u32(&wake_count, rt->nworkers);
    weft__mutex_lock(&install_lock);
    int rc = install(mask);
    weft__mutex_unlock(&install_lock);
    return rc;
}

bool weft__signals_stop(void)
{
    weft__mutex_lock(&install_lock);
    restore_all();
    weft__mutex_unlock(&install_lock);
    weft__store_relaxed_u64(&cancel_mask, 0);
    /* An exchange, a full barrier: a handler that counts itself in after
     * it sees no fds; one counted in before is waited for below (the
     * store-buffering pattern needs the barrier on both sides). A
     * handler that read an old fd may still be writing to it: the
     * reactors close their fds only after this. */
    (void)weft__fas_u32(&wake_count, 0);
    while (weft__load_acquire_u32(&in_handler) != 0)
        sched_yield();
    weft__spin_lock(&lock);
    bool was = interrupted;
    runtime = NULL;
    pending = 0;
    weft__spin_unlock(&lock);
    /* A dispatch that took the runtime before may still cancel main,
     * whose record the caller frees next. */
    while (weft__load_acquire_u32(&dispatching) != 0)
        sched_yield();
    weft__store_relaxed_u64(&weft__signals_caught_mask, 0);
    return was;
}

/* The signals of set as a mask; -EINVAL for an empty set or one that
 * cannot be waited for, -EBUSY for SIGUSR1 while debug mode has it. */
static int mask_of(const sigset_t *set, const struct weft__runtime *rt,
                   uint64_t *mask)
{
    static const int refused[] = { SIGKILL, SIGSTOP, SIGSEGV, SIGBUS,
                                   SIGILL,  SIGFPE,  SIGTRAP, SIGSYS };

    *mask = 0;
    for (int signo = 1; signo <= NSIG_MASK; signo++) {
        if (sigismember(set, signo) == 1)
            *mask |= BIT(signo);
    }
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        if (*mask & BIT(refused[i]))
            return -EINVAL;
    }
    if (*mask == 0)
        return -EINVAL;
    if (rt->debug && (*mask & BIT(SIGUSR1)))
        return -EBUSY;
    return 0;
}

/* A pending signal of mask, taken; 0 if none. Under lock. */
static int take_pending(uint64_t mask)
{
    uint64_t hit = pending & mask;

    if (hit == 0)
        return 0;
    int signo = __builtin_ctzll(hit) + 1;
    pending &= ~BIT(signo);
    return signo;
}

static void timed_out(struct weft__watch *watch)
{
    struct sig_waiter *wt = WEFT__CONTAINER_OF(watch, struct sig_waiter, timer);

    (void)weft__wake(wt->handoff.task, wt->handoff.seq, WEFT__WAKE_TIMER);
}

int weft_signal_wait(const sigset_t *set, int64_t timeout_ms)
{
    weft__task *self = WEFT__TASK_ENTER();
    struct sig_waiter wt;
    uint64_t mask;
    int rc;

    if (set == NULL || (timeout_ms < 0 && timeout_ms != WEFT_FOREVER))
        return -EINVAL;
    if (self == NULL)
        return -EPERM;
    struct weft__runtime *rt = weft__worker_self()->rt;
    if ((rc = mask_of(set, rt, &mask)) < 0)
        return rc;
    /* Waited for, a signal no longer cancels main (asyncio's
     * add_signal_handler replaces the default too). */
    weft__mutex_lock(&install_lock);
    weft__store_relaxed_u64(&cancel_mask,
                            weft__load_relaxed_u64(&cancel_mask) & ~mask);
    rc = install(mask);
    weft__mutex_unlock(&install_lock);
    if (rc < 0)
        return rc;
    /* Caught and not yet delivered: deliver it now, so that a look
     * without waiting sees it. */
    if (weft__signals_caught())
        weft__signals_dispatch();
    weft__spin_lock(&lock);
    int signo = take_pending(mask);
    weft__spin_unlock(&lock);
    if (signo > 0)
        return signo;
    if (timeout_ms == 0)
        return -ETIMEDOUT;
    uint32_t seq;
    if ((rc = weft__wait_begin(self, 0, &seq)) < 0)
        return rc;
    struct weft__worker *w = weft__worker_self();
    weft__handoff_init(&wt.handoff, self, seq);
    wt.mask = mask;
    wt.signo = 0;
    wt.timer.armed = false;
    if (timeout_ms > 0 &&
        weft__watch_timer(&w->reactor, &wt.timer, timeout_ms, timed_out) < 0) {
        int reason = weft__wait_abort(self);
        return reason != WEFT__WAKE_NONE ? weft__wake_error(reason) : -ENOMEM;
    }
    weft__spin_lock(&lock);
    signo = take_pending(mask); /* caught since the first look */
    if (signo == 0) {
        weft__list_push_back(&waiters, &wt.link);
        wt.linked = true;
    }
    weft__spin_unlock(&lock);
    int reason;
    self->armed_on = w; /* the timer is w's: wakes come back here */
    if (signo == 0) {
        weft__task_waiting(self, WEFT__WAITING_SIGNAL, NULL);
        reason = weft__wait_commit(self);
        weft__task_waiting(self, WEFT__WAITING_NOTHING, NULL);
    } else {
        reason = weft__wait_abort(self);
    }
    WEFT__ASSERT(weft__worker_self() == w);
    weft__watch_cancel(&wt.timer);
    self->armed_on = NULL;
    if (signo > 0)
        return signo; /* a wake that came meanwhile loses to the signal */
    weft__spin_lock(&lock);
    bool linked = wt.linked;
    if (linked)
        weft__list_remove(&wt.link);
    weft__spin_unlock(&lock);
    if (!linked) {
        /* A dispatch gave it a signal: never lost, whatever woke it. */
        weft__handoff_wait(&wt.handoff);
        return wt.signo;
    }
    return reason == WEFT__WAKE_TIMER ? -ETIMEDOUT : weft__wake_error(reason);
}
