/* Internal helpers shared by every file of libweft. */
#ifndef WEFT_CORE_INTERNAL_H
#define WEFT_CORE_INTERNAL_H

#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft.h"

#define WEFT__LIKELY(x) __builtin_expect(!!(x), 1)
#define WEFT__UNLIKELY(x) __builtin_expect(!!(x), 0)

#define WEFT__CONTAINER_OF(ptr, type, member)                                 \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#define WEFT__ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Invariant checks stay in release builds: a broken invariant is a bug, and
 * carrying on would corrupt more state. Recoverable errors never use it. */
#define WEFT__ASSERT(cond)                                                    \
    do {                                                                      \
        if (WEFT__UNLIKELY(!(cond)))                                          \
            weft__assert_fail(#cond, __FILE__, __LINE__, __func__);           \
    } while (0)

__attribute__((noreturn, cold)) void weft__assert_fail(const char *expr,
                                                        const char *file,
                                                        int line,
                                                        const char *func);

/* Heap allocation, through the replaceable allocator (weft/alloc.h). */
void *weft__malloc(size_t size);
void *weft__calloc(size_t count, size_t size);
void *weft__realloc(void *ptr, size_t size);
void weft__free(void *ptr);
char *weft__strdup(const char *s);

/* While frozen (from a runtime's start to its end), the allocator cannot
 * be replaced: weft_replace_allocator fails with -EBUSY. */
void weft__alloc_freeze(bool on);

/* Whether the C library's malloc and free are in place. */
bool weft__alloc_is_default(void);

/* Prints "weft: <message>\n" on stderr with a single write(2), so that
 * lines from several threads do not interleave. Async-signal-safe when
 * fmt has no conversions. */
void weft__log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Sanitizer detection, for gcc and clang alike. */
#if defined(__SANITIZE_ADDRESS__)
#define WEFT__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT__ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define WEFT__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WEFT__TSAN 1
#endif
#endif

#endif /* WEFT_CORE_INTERNAL_H */
