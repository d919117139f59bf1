/* Workers: building one, binding it to its thread, and task ids. */
#include "sched/worker.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/atomic.h"
#include "sched/idle.h"
#include "sched/records.h"
#include "sched/stack_guard.h"
#include "sched/runtime.h"
#include "sched/loop.h"
#include "sched/wait.h"
#include "sched/task.h"
#include "core/thread.h"

#ifdef WEFT__TSAN
#include <sanitizer/tsan_interface.h>
#endif

#define ID_BLOCK 1024 /* task ids a worker takes from the global counter */

static uint64_t next_id_block = 1; /* atomic; ids are never 0 */

uint64_t weft__worker_next_id(struct weft__worker *w)
{
    if (w->next_id == w->id_limit) {
        /* Only uniqueness matters: no ordering pairs with this. */
        w->next_id = weft__faa_u64(&next_id_block, ID_BLOCK);
        w->id_limit = w->next_id + ID_BLOCK;
    }
    return w->next_id++;
}

uint64_t weft__next_id_shared(void)
{
    /* Only uniqueness matters, as in weft__worker_next_id. */
    return weft__faa_u64(&next_id_block, 1);
}

int weft__worker_init(struct weft__worker *w, struct weft__runtime *rt,
                      unsigned index)
{
    memset(w, 0, sizeof *w);
    w->rt = rt;
    w->index = index;
    w->alone = rt->nworkers == 1;
    w->slow_seq = UINT64_MAX; /* nothing flagged */
    w->rng = 0x9e3779b9u * (index + 1); /* any non-zero seed */
    w->registry.lock = (weft__spinlock)WEFT__SPINLOCK_INIT;
    weft__list_init(&w->registry.tasks);
    weft__list_init(&w->soon);
    weft__list_init(&w->later);
    weft__runq_init(&w->runq);
    weft__stack_cache_attach(&w->stacks, &rt->stacks);
    return weft__reactor_init(&w->reactor);
}

void weft__worker_destroy(struct weft__worker *w)
{
    if (w->rt != NULL) {
        if (w->reactor.base != NULL)
            weft__callbacks_drop(w);
        weft__stack_cache_flush(&w->stacks, &w->rt->stacks);
        weft__task_cache_flush(w);
        weft__records_worker_end(w);
    }
    weft__reactor_destroy(&w->reactor);
    memset(w, 0, sizeof *w);
}

int weft__worker_bind(struct weft__worker *w)
{
    size_t size = weft__overflow_altstack_size();
    stack_t ss;

    w->altstack = mmap(NULL, size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (w->altstack == MAP_FAILED) {
        w->altstack = NULL;
        return -ENOMEM;
    }
    ss.ss_sp = w->altstack;
    ss.ss_size = size;
    ss.ss_flags = 0;
    if (sigaltstack(&ss, &w->old_altstack) < 0) {
        int err = -errno;
        munmap(w->altstack, size);
        w->altstack = NULL;
        return err;
    }
    w->altstack_on = 1;
#ifdef WEFT__ASAN
    {
        pthread_attr_t attr;
        if (pthread_getattr_np(pthread_self(), &attr) == 0) {
            pthread_attr_getstack(&attr, &w->sched_stack_lo,
                                  &w->sched_stack_size);
            pthread_attr_destroy(&attr);
        }
    }
#endif
#ifdef WEFT__TSAN
    w->tsan_fiber = __tsan_get_current_fiber();
#endif
    weft__worker_set_self(w);
    return 0;
}

static void *worker_thread(void *arg)
{
    struct weft__worker *w = arg;

    if (weft__worker_bind(w) < 0) {
        /* Without an altstack it cannot report overflows; it runs anyway
         * rather than strand the tasks other workers queue for it. */
        weft__worker_set_self(w);
    }
    weft__sched_loop(w);
    weft__worker_unbind(w);
    return NULL;
}

/* A worker thread's own stack runs only the scheduler and libevent's
 * callbacks (tasks have stacks of their own), so it is small. */
#define THREAD_STACK_SIZE ((size_t)1 << 20)

int weft__worker_start(struct weft__worker *w)
{
    return weft__thread_start(&w->thread, THREAD_STACK_SIZE, worker_thread, w);
}

void weft__worker_join(struct weft__worker *w)
{
    weft__thread_join(&w->thread);
}

void weft__worker_wake(struct weft__worker *w)
{
    weft__reactor_wake(&w->reactor);
}

void weft__worker_inbox_push(struct weft__worker *w, weft__task *t)
{
    struct weft__slink *head;

    do {
        head = weft__load_acquire_ptr((void *const *)&w->inbox);
        t->qlink.next = head;
        /* Pairs with the exchange in drain_inbox (loop.c): the owner that
         * takes the list sees the task and its link. */
    } while (!weft__cas_ptr((void **)&w->inbox, head, &t->qlink));
    /* The CAS is a full barrier: if w parked before it, w is seen parked
     * here; if after, w's re-check of its inbox sees t. */
    if (weft__idle_is_parked(w))
        weft__worker_wake(w);
}

void weft__worker_unbind(struct weft__worker *w)
{
    weft__worker_set_self(NULL);
    if (w->altstack_on) {
        sigaltstack(&w->old_altstack, NULL);
        w->altstack_on = 0;
    }
    if (w->altstack != NULL) {
        munmap(w->altstack, weft__overflow_altstack_size());
        w->altstack = NULL;
    }
}
