/* What atomic.h's inline operations need a definition of. */
#include "core/atomic.h"

#ifdef WEFT__TSAN
uint32_t weft__tsan_fence_word; /* see weft__fence_full */
#endif
