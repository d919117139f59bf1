/* weft: version numbers.
 *
 * The version follows semantic versioning. MAJOR changes break the API or
 * ABI, MINOR adds to them, PATCH fixes bugs. The library's soname is set by
 * the -version-info in Makefile.am, whose comment says when to bump it.
 */
#ifndef WEFT_VERSION_H
#define WEFT_VERSION_H

#include "common.h"

#define WEFT_VERSION_MAJOR 0
#define WEFT_VERSION_MINOR 6
#define WEFT_VERSION_PATCH 2

#define WEFT__STR2(x) #x
#define WEFT__STR(x) WEFT__STR2(x)

/* One number that compares in version order: 0x00MMmmpp. */
#define WEFT_VERSION_HEX                                                      \
    ((WEFT_VERSION_MAJOR << 16) | (WEFT_VERSION_MINOR << 8) | WEFT_VERSION_PATCH)

#define WEFT_VERSION_STRING                                                   \
    WEFT__STR(WEFT_VERSION_MAJOR) "." WEFT__STR(WEFT_VERSION_MINOR) "."       \
    WEFT__STR(WEFT_VERSION_PATCH)

#ifdef __cplusplus
extern "C" {
#endif

/* The version of the library actually linked, as WEFT_VERSION_HEX. */
WEFT_EXPORT unsigned weft_version(void);

/* The same, as "MAJOR.MINOR.PATCH". */
WEFT_EXPORT const char *weft_version_string(void);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_VERSION_H */
