/* Threads with stacks of weft's own (see thread.h). */
#include "core/thread.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/sys.h"

__thread int *weft__thread_job_err;

int weft__thread_start(struct weft__thread *t, size_t size,
                       void *(*fn)(void *), void *arg)
{
    size_t page = weft__page_size();
    pthread_attr_t attr;
    int rc;

    t->size = size;
    t->stack = mmap(NULL, size + page, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                    -1, 0);
    if (t->stack == MAP_FAILED) {
        t->stack = NULL;
        return -ENOMEM;
    }
    /* A guard page below, as glibc would give it. */
    (void)mprotect(t->stack, page, PROT_NONE);
    rc = pthread_attr_init(&attr);
    if (rc == 0) {
        rc = pthread_attr_setstack(&attr, (char *)t->stack + page, size);
        if (rc == 0)
            rc = pthread_create(&t->id, &attr, fn, arg);
        pthread_attr_destroy(&attr);
    }
    if (rc != 0) {
        munmap(t->stack, size + page);
        t->stack = NULL;
        return -rc;
    }
    return 0;
}

void weft__thread_join(struct weft__thread *t)
{
    if (t->stack == NULL)
        return;
    pthread_join(t->id, NULL);
    munmap(t->stack, t->size + weft__page_size());
    t->stack = NULL;
}

/* --- locks ------------------------------------------------------------------- */

__attribute__((noreturn, cold)) static void lock_failed(const char *call,
                                                         int rc)
{
    weft__log("internal error: %s failed: %s (a destroyed or corrupted "
              "object)", call, strerror(rc));
    abort();
}

#define CHECKED(call, expr)                                                   \
    do {                                                                      \
        int rc_ = (expr);                                                     \
        if (WEFT__UNLIKELY(rc_ != 0))                                         \
            lock_failed(call, rc_);                                           \
    } while (0)

void weft__mutex_lock(pthread_mutex_t *m)
{
    CHECKED("pthread_mutex_lock", pthread_mutex_lock(m));
}

void weft__mutex_unlock(pthread_mutex_t *m)
{
    CHECKED("pthread_mutex_unlock", pthread_mutex_unlock(m));
}

void weft__mutex_destroy(pthread_mutex_t *m)
{
    CHECKED("pthread_mutex_destroy", pthread_mutex_destroy(m));
}

int weft__cond_init(pthread_cond_t *c)
{
    pthread_condattr_t attr;
    int rc = pthread_condattr_init(&attr);

    if (rc != 0)
        return -rc;
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(c, &attr);
    pthread_condattr_destroy(&attr);
    return -rc;
}

void weft__cond_destroy(pthread_cond_t *c)
{
    CHECKED("pthread_cond_destroy", pthread_cond_destroy(c));
}

void weft__cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
    CHECKED("pthread_cond_wait", pthread_cond_wait(c, m));
}

int weft__cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
                         const struct timespec *abstime)
{
    int rc = pthread_cond_timedwait(c, m, abstime);
    if (rc == ETIMEDOUT)
        return -ETIMEDOUT;
    CHECKED("pthread_cond_timedwait", rc);
    return 0;
}

void weft__cond_signal(pthread_cond_t *c)
{
    CHECKED("pthread_cond_signal", pthread_cond_signal(c));
}

void weft__cond_broadcast(pthread_cond_t *c)
{
    CHECKED("pthread_cond_broadcast", pthread_cond_broadcast(c));
}
