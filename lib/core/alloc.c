/* The replaceable heap allocator behind every weft__malloc(). */
#include "core/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/atomic.h"

static struct {
    weft_malloc_fn malloc_fn;
    weft_realloc_fn realloc_fn;
    weft_calloc_fn calloc_fn;
    weft_free_fn free_fn;
} allocator = { malloc, realloc, calloc, free };

/* Set while a runtime runs (weft__alloc_freeze): memory from one
 * allocator must never reach the other's free. */
static uint32_t frozen;

void weft__alloc_freeze(bool on)
{
    /* Pairs with the acquire in weft_replace_allocator. */
    weft__store_release_u32(&frozen, on ? 1 : 0);
}

int weft_replace_allocator(weft_malloc_fn malloc_fn, weft_realloc_fn realloc_fn,
                           weft_calloc_fn calloc_fn, weft_free_fn free_fn)
{
    if (malloc_fn == NULL || realloc_fn == NULL || calloc_fn == NULL ||
        free_fn == NULL)
        return -EINVAL;
    /* Pairs with the release in weft__alloc_freeze. A replace racing a
     * weft_run start is the caller's mistake; this only refuses one made
     * while a runtime is known to run. */
    if (weft__load_acquire_u32(&frozen))
        return -EBUSY;
    allocator.malloc_fn = malloc_fn;
    allocator.realloc_fn = realloc_fn;
    allocator.calloc_fn = calloc_fn;
    allocator.free_fn = free_fn;
    return 0;
}

bool weft__alloc_is_default(void)
{
    return allocator.malloc_fn == malloc && allocator.free_fn == free;
}

void *weft__malloc(size_t size)
{
    return allocator.malloc_fn(size);
}

void *weft__calloc(size_t count, size_t size)
{
    return allocator.calloc_fn(count, size);
}

void *weft__realloc(void *ptr, size_t size)
{
    return allocator.realloc_fn(ptr, size);
}

void weft__free(void *ptr)
{
    /* A user's free may clobber errno; callers may be reporting one. */
    int saved = errno;
    allocator.free_fn(ptr);
    errno = saved;
}

char *weft__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = weft__malloc(n);
    if (copy != NULL)
        memcpy(copy, s, n);
    return copy;
}

void weft_free(void *ptr)
{
    if (ptr != NULL)
        weft__free(ptr);
}
