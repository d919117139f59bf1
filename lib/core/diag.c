/* Diagnostics: weft's messages on stderr and its invariant failures. */
#include "core/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void weft__log(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    int n = snprintf(line, sizeof line, "weft: ");

    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    /* One write, so concurrent lines never interleave. */
    ssize_t rc = write(STDERR_FILENO, line, (size_t)n);
    (void)rc;
}

void weft__assert_fail(const char *expr, const char *file, int line,
                       const char *func)
{
    weft__log("internal error: %s:%d: %s: assertion '%s' failed", file, line,
              func, expr);
    abort();
}
