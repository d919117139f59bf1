/* Facts about the machine that weft asks the system once. */
#ifndef WEFT_CORE_SYS_H
#define WEFT_CORE_SYS_H

#include <stddef.h>

#include "core/internal.h"

/* Bytes of a page. */
size_t weft__page_size(void);

/* Online CPUs, at least 1. */
unsigned weft__online_cpus(void);

#endif /* WEFT_CORE_SYS_H */
