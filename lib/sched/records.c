/* Task records, carved from 2 MiB chunks of a reserved space.
 *
 * Spawning a million tasks from malloc faulted in 60,000 pages, one per
 * 17 records (doc/scheduler.md). A worker carves records from a chunk of
 * its own without a lock; once it spawns in bulk (past its first
 * window), it faults in 256 KiB at a time with one system call, while a
 * program that spawns a few tasks touches a few pages. Records are never
 * unmapped: a task handle may outlive weft_run, and a later run reuses
 * them. */
#include "sched/records.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#ifdef WEFT_VALGRIND
#include <valgrind/valgrind.h>
#endif

#include "core/atomic.h"
#include "core/internal.h"
#include "core/sys.h"
#include "core/thread.h"
#include "sched/worker.h"

#define CHUNK_SIZE ((size_t)2 << 20)
/* Room for 148 million records (1.1 million where pointers have 32
 * bits). */
#if UINTPTR_MAX > 0xffffffffu
#define SPACE_SIZE ((size_t)32 << 30)
#else
#define SPACE_SIZE ((size_t)256 << 20)
#endif
/* What a worker that spawns in bulk faults in at once. */
#define WINDOW ((size_t)256 << 10)
/* 8-aligned, for the 64-bit atomics, where structs are 4-aligned. */
#define STRIDE ((sizeof(struct weft__task) + 7) & ~(size_t)7)
/* Spare records a worker takes at once from the global stack. */
#define SPARE_BATCH 64u

/* What is left of a chunk, kept in its first bytes. */
struct range {
    struct range *next;
    char *end;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct weft__slink *spare;  /* freed records, a stack, under lock */
static size_t spare_n;
static size_t chunks_n;            /* chunks cut or mapped, under lock */
static struct range *ranges;       /* uncarved tails, under lock */
static char *shared_next;          /* carving off the workers, under lock */
static char *shared_end;

/* Generations for malloc'd records, so that one at a freed one's address
 * does not start where that one ended. A carved record's address was
 * never a record's before: it starts at 0. */
static uint32_t gen_seed; /* atomic */

/* A child forked while another thread held the lock would find it held
 * for ever: fork takes it first. */
static void before_fork(void)
{
    weft__mutex_lock(&lock);
}

static void after_fork(void)
{
    weft__mutex_unlock(&lock);
}

__attribute__((constructor)) static void records_init(void)
{
    (void)pthread_atfork(before_fork, after_fork, after_fork);
}

bool weft__records_mapped(void)
{
#ifdef WEFT__ASAN
    return false;
#else
#ifdef WEFT_VALGRIND
    /* Heap blocks, so that memcheck sees a record used after its run. */
    if (RUNNING_ON_VALGRIND)
        return false;
#endif
    return weft__alloc_is_default();
#endif
}

static weft__task *fresh(void *p)
{
    weft__task *t = p;
    if (t != NULL) {
        t->wait = 0;
        t->name = NULL;
        t->errmsg = NULL;
        t->gen = 0;
    }
    return t;
}

static weft__task *fresh_malloc(void)
{
    weft__task *t = fresh(weft__malloc(STRIDE));
    /* Only spread matters: no ordering pairs with this. */
    if (t != NULL)
        t->gen = weft__faa_u32(&gen_seed, 0x9e37u);
    return t;
}

/* The space chunks are cut from: address space only, reserved at the
 * first need, so that a million tasks' records are one mapping, not 116,
 * and the chunks cost no system call. Where it cannot be had (a strict
 * overcommit policy, an address-space limit), chunks are mapped one by
 * one. Under lock. */
static char *space_next, *space_end;
static bool space_tried;

static void reserve_space(void)
{
    size_t size = SPACE_SIZE;
    struct rlimit as;

    space_tried = true;
    /* Under an address-space limit, leave most of it to the rest. */
    if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY &&
        as.rlim_cur / 4 < size)
        size = (size_t)(as.rlim_cur / 4) & ~(CHUNK_SIZE - 1);
    if (size < CHUNK_SIZE)
        return;
    char *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return;
#ifdef MADV_NOHUGEPAGE
    /* Where transparent huge pages are on for all, a worker's first
     * record would make 2 MiB resident (and see doc/scheduler.md). */
    (void)madvise(p, size, MADV_NOHUGEPAGE);
#endif
#ifdef PR_SET_VMA_ANON_NAME
    /* Named in /proc/self/maps where the kernel can (Linux 5.17 with
     * CONFIG_ANON_VMA_NAME), for whoever reads it. */
    (void)prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)p, size,
                (unsigned long)"weft-tasks");
#endif
    space_next = p;
    space_end = p + size;
}

/* A new chunk, or NULL for lack of memory. */
static char *map_chunk(void)
{
    char *base = NULL;

    weft__mutex_lock(&lock);
    if (!space_tried)
        reserve_space();
    if (space_end - space_next >= (ptrdiff_t)CHUNK_SIZE) {
        base = space_next;
        space_next += CHUNK_SIZE;
    }
    chunks_n++;
    weft__mutex_unlock(&lock);
    if (base != NULL)
        return base;
    base = mmap(NULL, CHUNK_SIZE, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED)
        return NULL;
#ifdef MADV_NOHUGEPAGE
    (void)madvise(base, CHUNK_SIZE, MADV_NOHUGEPAGE);
#endif
    return base;
}

/* A kept tail as [*next, *end), under lock; false if none. */
static bool take_range(char **next, char **end)
{
    struct range *r = ranges;
    if (r == NULL)
        return false;
    ranges = r->next;
    *next = (char *)r;
    *end = r->end;
    return true;
}

static void keep_range(char *next, char *end)
{
    if ((size_t)(end - next) < STRIDE)
        return;
    struct range *r = (struct range *)(void *)next;
    r->end = end;
    r->next = ranges;
    ranges = r;
}

static weft__task *pop_spare(void)
{
    struct weft__slink *link = spare;
    if (link == NULL)
        return NULL;
    spare = link->next;
    spare_n--;
    return weft__task_of_qlink(link);
}

static weft__task *new_off_workers(void)
{
    weft__mutex_lock(&lock);
    weft__task *t = pop_spare();
    if (t == NULL && shared_end - shared_next < (ptrdiff_t)STRIDE)
        (void)take_range(&shared_next, &shared_end);
    if (t == NULL && shared_end - shared_next >= (ptrdiff_t)STRIDE) {
        t = fresh(shared_next);
        shared_next += STRIDE;
    }
    weft__mutex_unlock(&lock);
    if (t != NULL)
        return t;
    char *base = map_chunk();
    if (base == NULL)
        return NULL;
    weft__mutex_lock(&lock);
    keep_range(shared_next, shared_end);
    shared_next = base + STRIDE;
    shared_end = base + CHUNK_SIZE;
    weft__mutex_unlock(&lock);
    return fresh(base);
}

/* Makes [from, to) w's window to carve from, faulting [fault, to) in at
 * once when w spawns in bulk. */
static void open_window(struct weft__worker *w, char *from, char *fault,
                        char *to, bool bulk)
{
#ifdef MADV_POPULATE_WRITE
    /* One system call instead of a fault per page; where the kernel
     * lacks it (before Linux 5.14), the pages fault in one by one. A
     * record straddling the last window's end has its first page. */
    if (bulk) {
        char *page = (char *)((uintptr_t)fault &
                              ~(uintptr_t)(weft__page_size() - 1));
        (void)madvise(page, (size_t)(to - page), MADV_POPULATE_WRITE);
    }
#else
    (void)bulk;
#endif
    w->rec_next = from;
    w->rec_end = to;
}

/* The window ends where w's chunk ends or its next window starts. */
static char *window_end(const struct weft__worker *w, char *from)
{
    char *end = (char *)(((uintptr_t)from + WINDOW) & ~(uintptr_t)(WINDOW - 1));
    return end < w->rec_limit ? end : w->rec_limit;
}

/* w's window is used up: its chunk's next window, then spare records (a
 * batch of them into w's cache), then a kept tail, then a new chunk. */
static weft__task *new_on_worker(struct weft__worker *w)
{
    if (w->rec_end < w->rec_limit) {
        /* A record may straddle the windows' boundary. */
        open_window(w, w->rec_next, w->rec_end, window_end(w, w->rec_end),
                    true);
    } else {
        weft__mutex_lock(&lock);
        weft__task *t = pop_spare();
        for (unsigned i = 1; t != NULL && i < SPARE_BATCH; i++) {
            weft__task *more = pop_spare();
            if (more == NULL)
                break;
            more->qlink.next = w->task_cache;
            w->task_cache = &more->qlink;
            w->task_cache_n++;
        }
        char *from = NULL, *end = NULL;
        bool ranged = t == NULL && take_range(&from, &end);
        weft__mutex_unlock(&lock);
        if (t != NULL)
            return t;
        if (!ranged) {
            if ((from = map_chunk()) == NULL)
                return NULL;
            end = from + CHUNK_SIZE;
        }
        w->rec_limit = end;
        /* A worker on its second chunk spawns in bulk. */
        open_window(w, from, from, window_end(w, from), w->rec_chunks++ > 0);
    }
    if (w->rec_end - w->rec_next < (ptrdiff_t)STRIDE)
        return new_on_worker(w); /* a kept tail's last window is short */
    weft__task *t = fresh(w->rec_next);
    w->rec_next += STRIDE;
    return t;
}

weft__task *weft__record_new(struct weft__worker *w)
{
    if (!weft__records_mapped())
        return fresh_malloc();
    if (w == NULL)
        return new_off_workers();
    if (WEFT__LIKELY(w->rec_end - w->rec_next >= (ptrdiff_t)STRIDE)) {
        weft__task *t = fresh(w->rec_next);
        w->rec_next += STRIDE;
        return t;
    }
    return new_on_worker(w);
}

void weft__record_release(weft__task *t)
{
    if (!weft__records_mapped()) {
        weft__free(t);
        return;
    }
    weft__mutex_lock(&lock);
    t->qlink.next = spare;
    spare = &t->qlink;
    spare_n++;
    weft__mutex_unlock(&lock);
}

void weft__records_release_all(struct weft__slink **top)
{
    struct weft__slink *link = *top;
    *top = NULL;
    if (link == NULL)
        return;
    if (!weft__records_mapped()) {
        while (link != NULL) {
            struct weft__slink *next = link->next;
            weft__free(weft__task_of_qlink(link));
            link = next;
        }
        return;
    }
    struct weft__slink *last = link;
    size_t n = 1;
    for (; last->next != NULL; last = last->next)
        n++;
    weft__mutex_lock(&lock);
    last->next = spare;
    spare = link;
    spare_n += n;
    weft__mutex_unlock(&lock);
}

void weft__records_worker_end(struct weft__worker *w)
{
    if (w->rec_limit - w->rec_next >= (ptrdiff_t)STRIDE) {
        weft__mutex_lock(&lock);
        keep_range(w->rec_next, w->rec_limit);
        weft__mutex_unlock(&lock);
    }
    w->rec_next = w->rec_end = w->rec_limit = NULL;
}

void weft__records_counts(size_t *chunks, size_t *spares)
{
    weft__mutex_lock(&lock);
    *chunks = chunks_n;
    *spares = spare_n;
    weft__mutex_unlock(&lock);
}
