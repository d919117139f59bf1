/* Workers: building one, binding it to its thread, and task ids. */
#include "worker.h"

#include <errno.h>
#include <event2/event.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "atomic.h"
#include "overflow.h"
#include "runtime.h"
#include "task.h"

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

int weft__worker_init(struct weft__worker *w, struct weft__runtime *rt,
                      unsigned index)
{
    struct event_config *cfg;

    memset(w, 0, sizeof *w);
    w->rt = rt;
    w->index = index;
    w->wake_fd = -1;

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

    w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->wake_fd < 0)
        return -errno;
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
