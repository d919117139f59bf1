/* Threads with stacks of weft's own (see thread.h). */
#include "core/thread.h"

#include <errno.h>
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
