/* Compact tasks (WEFT_SPAWN_COMPACT).
 *
 * A compact task that suspends in a wait whose records all live off its
 * stack (its compact_wait: weft_sleep's) has the bytes in use on its
 * stack, from its saved stack pointer to the top, copied to the heap, and
 * the pages under them given back to the kernel (MADV_DONTNEED). The
 * stack's addresses stay the task's. Before it runs again, on whatever
 * worker, the bytes are copied back to the same addresses, so every
 * pointer into its stack is good again.
 *
 * The rule for user code: while a compact task waits, nothing may use a
 * pointer into its stack. In debug mode its pages are also made
 * inaccessible while it waits, so that a use faults and is reported
 * (sched/stack_guard.c) rather than reading zeros or losing a write.
 *
 * Off in AddressSanitizer builds: the copy would read ASan's poisoned
 * red zones.
 */
#ifndef WEFT_SCHED_COMPACT_H
#define WEFT_SCHED_COMPACT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/internal.h"

typedef struct weft__task weft__task; /* sched/task.h */
struct weft__runtime;

/* True if this build compacts at all. */
bool weft__compact_supported(void);

/* t switched away from a suspension with compact_wait set, and the
 * suspension is not yet published: copies its stack out. Out of memory,
 * or a madvise that fails, leaves it as it is. On the worker t ran on;
 * protect: debug mode's inaccessible pages. */
void weft__compact_out(weft__task *t, bool protect);

/* Before t, compacted, runs again: copies its stack back. Any worker. */
void weft__compact_in(weft__task *t);

/* A compact task ended: gives its stack's pages back before the stack
 * goes to a cache, so that many compact tasks waking and ending one
 * after the other do not each leave a resident page behind. */
struct weft__stack;
void weft__compact_drop(struct weft__stack *st);

/* The compacted task of rt whose stack holds addr, or NULL: for the
 * SIGSEGV handler, in debug mode. Best effort: it reads the task lists
 * without their locks, as the process is about to end. */
const weft__task *weft__compact_owner(struct weft__runtime *rt, uintptr_t addr);

#endif /* WEFT_SCHED_COMPACT_H */
