/* Compact tasks (see compact.h). */
#include "core/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "arch/context.h"
#include "core/sys.h"
#include "sched/compact.h"
#include "sched/runtime.h"
#include "sched/stack.h"
#include "sched/task.h"
#include "sched/worker.h"

/* The heap copy: its length, then the bytes. */
struct saved {
    size_t len;
    unsigned char bytes[];
};

bool weft__compact_supported(void)
{
#ifdef WEFT__ASAN
    return false;
#else
    return true;
#endif
}

/* The bytes in use on t's stack, [*lo, *hi), and the pages under them,
 * [*plo, *phi); false if they cannot be told. */
static bool extent(const weft__task *t, uintptr_t *lo, uintptr_t *hi,
                   uintptr_t *plo, uintptr_t *phi)
{
    const struct weft__stack *st = t->stack;
    uintptr_t page = weft__page_size();

    *lo = (uintptr_t)weft__ctx_sp(&t->ctx);
    *hi = (uintptr_t)st->lo + st->size - st->colour;
    if (*lo <= (uintptr_t)st->lo || *lo >= *hi)
        return false;
    *plo = *lo & ~(page - 1);
    *phi = (*hi + page - 1) & ~(page - 1);
    return true;
}

void weft__compact_out(weft__task *t, bool protect)
{
    uintptr_t lo, hi, plo, phi;

#ifdef WEFT__ASAN
    (void)protect;
    return;
#endif
    if (t->stack == NULL || !extent(t, &lo, &hi, &plo, &phi))
        return;
    struct saved *s = malloc(sizeof *s + (hi - lo));
    if (s == NULL)
        return;
    s->len = hi - lo;
    memcpy(s->bytes, (const void *)lo, s->len);
    if (madvise((void *)plo, phi - plo, MADV_DONTNEED) < 0 ||
        (protect && mprotect((void *)plo, phi - plo, PROT_NONE) < 0)) {
        /* Nothing was lost: the pages still hold the bytes, or read
         * back as zeros and get them back at once. */
        memcpy((void *)lo, s->bytes, s->len);
        free(s);
        return;
    }
    t->stack->saved = s;
    t->compacted = true;
}

void weft__compact_in(weft__task *t)
{
    uintptr_t lo, hi, plo, phi;
    struct saved *s = t->stack->saved;
    bool ok = extent(t, &lo, &hi, &plo, &phi);

    WEFT__ASSERT(ok && s->len == hi - lo);
    (void)ok;
    if (t->rt->debug &&
        mprotect((void *)plo, phi - plo, PROT_READ | PROT_WRITE) < 0) {
        /* The task cannot run without its stack, and the copy would
         * fault and read as a misuse: say what happened instead. */
        char buf[32];
        weft__log("debug mode: the stack of compact task '%s' cannot be "
                  "made accessible again (mprotect: %s; vm.max_map_count "
                  "may be too low for this many compact tasks)",
                  weft__task_label(t, buf, sizeof buf), strerror(errno));
        abort();
    }
    memcpy((void *)lo, s->bytes, s->len);
    free(s);
    t->stack->saved = NULL;
    t->compacted = false;
}

void weft__compact_drop(struct weft__stack *st)
{
#ifndef WEFT__ASAN
    (void)madvise(st->lo, st->size, MADV_DONTNEED);
#else
    (void)st;
#endif
}

/* Reads other threads' tasks without their locks, on purpose (see
 * compact.h): not a race for ThreadSanitizer to report on the way to
 * abort(). */
#ifdef WEFT__TSAN
__attribute__((no_sanitize("thread")))
#endif
const weft__task *weft__compact_owner(struct weft__runtime *rt, uintptr_t addr)
{
    for (unsigned i = 0; rt != NULL && i < rt->nworkers; i++) {
        struct weft__registry *reg = &rt->workers[i]->registry;
        for (struct weft__list *l = reg->tasks.next; l != &reg->tasks;
             l = l->next) {
            const weft__task *t = WEFT__CONTAINER_OF(l, weft__task, reg_link);
            uintptr_t lo, hi, plo, phi;
            if (t->compacted && extent(t, &lo, &hi, &plo, &phi) &&
                addr >= plo && addr < phi)
                return t;
        }
    }
    return NULL;
}
