/* weft: macros shared by every public header. */
#ifndef WEFT_COMMON_H
#define WEFT_COMMON_H

/* The library is built with -fvisibility=hidden; only what carries
 * WEFT_EXPORT is part of the ABI. */
#if defined(WEFT_BUILDING) && defined(__GNUC__)
#define WEFT_EXPORT __attribute__((visibility("default")))
#else
#define WEFT_EXPORT
#endif

#if defined(__GNUC__)
#define WEFT_PRINTF_LIKE(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define WEFT_PRINTF_LIKE(fmt, args)
#endif

/* No time limit: a timeout that never expires, or a deadline that never
 * comes. */
#define WEFT_FOREVER (-1)

#endif /* WEFT_COMMON_H */
