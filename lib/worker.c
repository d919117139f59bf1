/* Workers: building one, binding it to its thread, and task ids. */
#include "worker.h"

#include <errno.h>
#include <event2/event.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "atomic.h"
#include "idle.h"
#include "overflow.h"
#include "runtime.h"
#include "scheduler.h"
#include "task.h"
#include "thread.h"

#ifdef WEFT__TSAN
#include <sanitizer/tsan_interface.h>
#endif

#define ID_BLOCK 1024 /* task ids a worker takes from the global counter */

static uint64_t next_id_block = 1; /* atomic; ids are never 0 */

uint64_t weft__worker_next_id(struct weft__worker *w)
{
    if (w->next_id == w->id_limit) {
        w->next_id = weft__faa_u64(&next_id_block, ID_BLOCK);
        w->id_limit = w->next_id + ID_BLOCK;
    }
    return w->next_id++;
}

/* Another thread wrote wake_fd to get this worker out of epoll; being
 * awake is all it wanted. */
static void drain_wake_fd(evutil_socket_t fd, short what, void *arg)
{
    uint64_t count;
    (void)what;
    (void)arg;
    ssize_t rc = read(fd, &count, sizeof count);
    (void)rc;
}

uint64_t weft__next_id_shared(void)
{
    return weft__faa_u64(&next_id_block, 1);
}

/* Descriptors a new event base takes: epoll, its timerfd and the pipe of
 * its signal handling. */
#define BASE_FDS 4

/* libevent ends the process (exit(1)) if it cannot make a base's signal
 * pipe, so the descriptors are checked first: held, then released just
 * before the base takes them. (Another thread of the program could take
 * them in between; weft's own threads are not started yet.) */
static int check_fds_for_base(void)
{
    int fds[BASE_FDS];
    int rc = 0, n;

    for (n = 0; n < BASE_FDS; n++) {
        fds[n] = eventfd(0, EFD_CLOEXEC);
        if (fds[n] < 0) {
            rc = -errno;
            break;
        }
    }
    while (n > 0)
        close(fds[--n]);
    return rc;
}

int weft__worker_init(struct weft__worker *w, struct weft__runtime *rt,
                      unsigned index)
{
    struct event_config *cfg;

    memset(w, 0, sizeof *w);
    w->rt = rt;
    w->index = index;
    w->wake_fd = -1;
    w->rng = 0x9e3779b9u * (index + 1); /* any non-zero seed */
    w->registry.lock = (weft__spinlock)WEFT__SPINLOCK_INIT;
    weft__runq_init(&w->runq);
    weft__stack_cache_attach(&w->stacks, &rt->stacks);

    w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->wake_fd < 0)
        return -errno;
    int rc = check_fds_for_base();
    if (rc < 0)
        return rc;
    cfg = event_config_new();
    if (cfg == NULL)
        return -ENOMEM;
    /* NOLOCK: only this worker's thread ever touches its base.
     * PRECISE_TIMER: the default coarse clock overshoots timers by ~2 ms. */
    event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    w->base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (w->base == NULL)
        return -ENOMEM;

    /* Persistent, so the base is never empty and EVLOOP_ONCE blocks. */
    w->wake_event = event_new(w->base, w->wake_fd, EV_READ | EV_PERSIST,
                              drain_wake_fd, w);
    if (w->wake_event == NULL || event_add(w->wake_event, NULL) < 0)
        return -ENOMEM;
    return 0;
}

void weft__worker_destroy(struct weft__worker *w)
{
    if (w->rt != NULL) {
        if (w->base != NULL)
            weft__callbacks_drop(w);
        weft__stack_cache_flush(&w->stacks, &w->rt->stacks);
        weft__task_cache_flush(w);
    }
    if (w->wake_event != NULL)
        event_free(w->wake_event);
    if (w->wake_fd >= 0)
        close(w->wake_fd);
    if (w->base != NULL)
        event_base_free(w->base);
    memset(w, 0, sizeof *w);
    w->wake_fd = -1;
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
    uint64_t one = 1;
    /* EAGAIN means the counter is already non-zero: it is awake anyway. */
    ssize_t rc = write(w->wake_fd, &one, sizeof one);
    (void)rc;
}

void weft__worker_inbox_push(struct weft__worker *w, weft_task *t)
{
    weft_task *head;

    do {
        head = weft__load_acquire_ptr((void *const *)&w->inbox);
        t->next = head;
    } while (!weft__cas_ptr((void **)&w->inbox, head, t));
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
