/* weft: replacing the memory allocator. */
#ifndef WEFT_ALLOC_H
#define WEFT_ALLOC_H

#include <stddef.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef void *(*weft_malloc_fn)(size_t size);
typedef void *(*weft_realloc_fn)(void *ptr, size_t size);
typedef void *(*weft_calloc_fn)(size_t count, size_t size);
typedef void (*weft_free_fn)(void *ptr);

/* Routes weft's own heap allocations (tasks, messages, queues; not task
 * stacks, which are mmap'd, nor libevent's) through these functions. A
 * failed allocation makes the weft call that needed it return -ENOMEM.
 * Returns 0, -EINVAL if any function is NULL, or -EBUSY while a runtime is
 * running. */
WEFT_EXPORT int weft_replace_allocator(weft_malloc_fn malloc_fn,
                                       weft_realloc_fn realloc_fn,
                                       weft_calloc_fn calloc_fn,
                                       weft_free_fn free_fn);

/* Frees memory that weft allocated and handed to the caller (the output
 * of weft_process_call), through the allocator in use. NULL is ignored. */
WEFT_EXPORT void weft_free(void *ptr);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_ALLOC_H */
