/* Facts about the machine (see sys.h). */
#include "core/sys.h"

#include <unistd.h>

#include "core/atomic.h"

size_t weft__page_size(void)
{
    static uint64_t page; /* relaxed: every thread computes the same value */
    uint64_t p = weft__load_relaxed_u64(&page);
    if (p == 0) {
        p = (uint64_t)sysconf(_SC_PAGESIZE);
        weft__store_relaxed_u64(&page, p);
    }
    return (size_t)p;
}

unsigned weft__online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 65536 ? 65536 : (unsigned)n;
}
