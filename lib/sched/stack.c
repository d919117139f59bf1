/* Task stacks: slabs, guard pages and per-worker caches (see stack.h). */
#include "sched/stack.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/atomic.h"
#include "core/sys.h"
#include "core/thread.h"

#ifdef WEFT_VALGRIND
#include <valgrind/valgrind.h>
#endif
#ifdef WEFT__ASAN
#include <sanitizer/asan_interface.h>
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102 /* Linux 6.13; glibc headers may lack it */
#endif

#ifndef PIDFD_SELF_PROCESS
#define PIDFD_SELF_PROCESS (-10001) /* Linux 6.15: this process, no pidfd */
#endif

#define SLAB_BYTES ((size_t)16 << 20) /* aim for 16 MiB slabs */
#define SLAB_MAX_SLOTS 256u
#define CACHE_MAX 64u   /* stacks a worker keeps per class */
#define REFILL_BATCH 16u /* stacks moved from the pool at once */
/* Map entries left for everything else in the process (malloc arenas,
 * thread stacks, libraries) when stacks are guarded with mprotect. */
#define MAP_COUNT_HEADROOM 4096

struct weft__stack_slab {
    struct weft__stack_slab *next;
    char *base;
    size_t len;
    size_t slot;      /* guard + stack */
    unsigned cls;
    unsigned nslots;
    unsigned carved;  /* slots handed out so far */
    unsigned unmapped; /* slots unmapped by take_at_limit */
    bool guarded;     /* every slot's guard is installed already */
    struct weft__stack desc[];
};

int weft__stack_class(size_t size)
{
    if (size < WEFT_STACK_MIN || size > WEFT_STACK_MAX)
        return -EINVAL;
    int shift = WEFT__STACK_MIN_SHIFT;
    while (((size_t)1 << shift) < size)
        shift++;
    return shift - WEFT__STACK_MIN_SHIFT;
}

size_t weft__stack_class_size(unsigned cls)
{
    return (size_t)1 << (cls + WEFT__STACK_MIN_SHIFT);
}

static int guard_install(enum weft__guard_mode mode, void *addr, size_t len)
{
    int rc = mode == WEFT__GUARD_MADVISE ? madvise(addr, len, MADV_GUARD_INSTALL)
                                         : mprotect(addr, len, PROT_NONE);
    return rc == 0 ? 0 : -errno;
}

static int madvise_guard_supported(void)
{
    size_t page = weft__page_size();
    void *p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 0;
    int ok = guard_install(WEFT__GUARD_MADVISE, p, page) == 0;
    munmap(p, 2 * page);
    return ok;
}

static long read_long_file(const char *path)
{
    FILE *f = fopen(path, "re");
    long v = -1;
    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld", &v) != 1)
        v = -1;
    fclose(f);
    return v;
}

static long count_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "re");
    long n = 0;
    int c;
    if (f == NULL)
        return -1;
    while ((c = getc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* How many mprotect-guarded stacks fit under vm.max_map_count: each one
 * splits the slab mapping into two entries. */
static size_t mprotect_stack_limit(void)
{
    long max = read_long_file("/proc/sys/vm/max_map_count");
    long used = count_maps();
    if (max <= 0 || used < 0)
        return SIZE_MAX; /* no procfs: rely on mprotect's ENOMEM alone */
    long room = max - used - MAP_COUNT_HEADROOM;
    return room > 0 ? (size_t)room / 2 : 0;
}

static uint64_t test_limit; /* atomic: weft__stack_test_limit's */

void weft__stack_test_limit(size_t limit)
{
    /* Relaxed: set by a test before it calls weft_run, which reads it on
     * the same thread (runtime_init): program order orders the two. */
    weft__store_relaxed_u64(&test_limit, limit);
}

int weft__stack_pool_init(struct weft__stack_pool *pool)
{
    const char *force = getenv("WEFT_STACK_GUARD");

    memset(pool, 0, sizeof *pool);
    if (force == NULL || force[0] == '\0') {
        pool->mode = madvise_guard_supported() ? WEFT__GUARD_MADVISE
                                               : WEFT__GUARD_MPROTECT;
    } else if (strcmp(force, "mprotect") == 0) {
        pool->mode = WEFT__GUARD_MPROTECT;
    } else if (strcmp(force, "madvise") == 0) {
        if (!madvise_guard_supported()) {
            weft__log("WEFT_STACK_GUARD=madvise, but this kernel has no "
                      "MADV_GUARD_INSTALL (Linux 6.13 or later)");
            return -ENOTSUP;
        }
        pool->mode = WEFT__GUARD_MADVISE;
    } else {
        weft__log("WEFT_STACK_GUARD='%s' is neither 'madvise' nor "
                  "'mprotect'", force);
        return -EINVAL;
    }
    pool->stack_limit =
        pool->mode == WEFT__GUARD_MPROTECT ? mprotect_stack_limit() : SIZE_MAX;
    size_t cap = (size_t)weft__load_relaxed_u64(&test_limit);
    if (pool->mode == WEFT__GUARD_MPROTECT && cap != 0 && cap < pool->stack_limit)
        pool->stack_limit = cap;
    int rc = pthread_mutex_init(&pool->lock, NULL);
    return rc == 0 ? 0 : -rc;
}

void weft__stack_pool_destroy(struct weft__stack_pool *pool)
{
    struct weft__stack_slab *slab = pool->slabs;
    while (slab != NULL) {
        struct weft__stack_slab *next = slab->next;
#ifdef WEFT_VALGRIND
        for (unsigned i = 0; i < slab->carved; i++) {
            if (slab->desc[i].lo != NULL) /* not unmapped by recycle */
                VALGRIND_STACK_DEREGISTER(slab->desc[i].valgrind_id);
        }
#endif
        munmap(slab->base, slab->len);
        weft__free(slab);
        slab = next;
    }
    weft__mutex_destroy(&pool->lock);
    memset(pool, 0, sizeof *pool);
}

static void say_map_limit_once(const struct weft__stack_pool *pool)
{
    static uint32_t said;
    /* Only picks the one thread that logs; orders nothing. */
    if (weft__fas_u32(&said, 1) != 0)
        return;
    weft__log("cannot map more task stacks: guard pages made with mprotect "
              "cost two entries of vm.max_map_count (%ld) each, which allows "
              "about %zu live tasks; raise it with "
              "'sysctl -w vm.max_map_count=1048576', or run Linux 6.13 or "
              "later, whose MADV_GUARD_INSTALL has no such limit",
              read_long_file("/proc/sys/vm/max_map_count"), pool->stack_limit);
}

int weft__stack_reserve(struct weft__stack_pool *pool)
{
    if (pool->stack_limit == SIZE_MAX)
        return 0;
    /* A counter only: the add orders nothing else, the stack itself is
     * taken under the pool lock. */
    uint64_t n = weft__faa_u64(&pool->reserved, 1);
    if (n < pool->stack_limit)
        return 0;
    weft__faa_u64(&pool->reserved, (uint64_t)-1); /* a count, as above */
    say_map_limit_once(pool);
    return -ENOMEM;
}

void weft__stack_unreserve(struct weft__stack_pool *pool)
{
    if (pool->stack_limit != SIZE_MAX)
        weft__faa_u64(&pool->reserved, (uint64_t)-1);
}

/* Installs the guards of every slot of a fresh slab, a batch of them per
 * system call (process_madvise on this very process): a madvise per
 * stack costs 0.65 us here, a batch 0.38 us a slot, and W2 carves
 * 10,000 stacks in a fresh process. False if the kernel cannot (before
 * Linux 6.15, or under valgrind): carving then installs each guard
 * itself, as again over a partial batch does no harm. Pool locked. */
static bool slab_guard_all(struct weft__stack_pool *pool,
                           struct weft__stack_slab *slab)
{
#ifdef SYS_process_madvise
    /* Small: this may run on a task's stack (prepare, from a switch). */
    struct iovec iov[32];
    size_t page = weft__page_size();

    if (pool->mode != WEFT__GUARD_MADVISE || pool->no_batch)
        return false;
    for (unsigned i = 0; i < slab->nslots;) {
        unsigned n = 0;
        for (; n < 32 && i < slab->nslots; n++, i++) {
            iov[n].iov_base = slab->base + (size_t)i * slab->slot;
            iov[n].iov_len = page;
        }
        long done = syscall(SYS_process_madvise, PIDFD_SELF_PROCESS, iov,
                            (size_t)n, MADV_GUARD_INSTALL, 0u);
        if (done != (long)(n * page)) {
            pool->no_batch = true;
            return false;
        }
    }
    return true;
#else
    (void)pool;
    (void)slab;
    return false;
#endif
}

/* Maps a slab for class cls. Called with the pool locked. */
static struct weft__stack_slab *slab_map(struct weft__stack_pool *pool,
                                         unsigned cls)
{
    size_t page = weft__page_size();
    /* The guard, the stack, and a page of room for the colour (see
     * slab_carve), so a task has its class's size whatever its colour;
     * pages never touched cost no memory. */
    size_t slot = weft__stack_class_size(cls) + 2 * page;
    size_t nslots = SLAB_BYTES / slot;

    if (nslots < 1)
        nslots = 1;
    if (nslots > SLAB_MAX_SLOTS)
        nslots = SLAB_MAX_SLOTS;
    if (pool->stack_limit != SIZE_MAX) {
        size_t room = pool->stack_limit > pool->carved
                          ? pool->stack_limit - pool->carved : 0;
        if (room == 0)
            return NULL;
        if (nslots > room)
            nslots = room;
    }

    struct weft__stack_slab *slab =
        weft__calloc(1, sizeof *slab + nslots * sizeof slab->desc[0]);
    if (slab == NULL)
        return NULL;
    slab->len = nslots * slot;
    slab->slot = slot;
    slab->cls = cls;
    slab->nslots = (unsigned)nslots;
    /* MAP_NORESERVE: a stack costs memory only for the pages it touches. */
    slab->base = mmap(NULL, slab->len, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                      -1, 0);
    if (slab->base == MAP_FAILED) {
        weft__free(slab);
        return NULL;
    }
    /* A transparent huge page would turn a few KiB of stack into 2 MiB. */
    (void)madvise(slab->base, slab->len, MADV_NOHUGEPAGE);
    slab->guarded = slab_guard_all(pool, slab);
    slab->next = pool->slabs;
    pool->slabs = slab;
    pool->slabs_mapped++;
    return slab;
}

/* Carves the next stack of slab, installing its guard. Called with the
 * pool locked. */
static int slab_carve(struct weft__stack_pool *pool,
                      struct weft__stack_slab *slab, struct weft__stack **out)
{
    size_t page = weft__page_size();
    char *guard = slab->base + (size_t)slab->carved * slab->slot;
    int rc = slab->guarded ? 0 : guard_install(pool->mode, guard, page);

    if (rc < 0) {
        /* ENOMEM from mprotect is the map-count limit biting early. */
        if (rc == -ENOMEM && pool->mode == WEFT__GUARD_MPROTECT)
            say_map_limit_once(pool);
        return -ENOMEM;
    }
    unsigned index = slab->carved;
    struct weft__stack *st = &slab->desc[slab->carved++];
    st->lo = guard + page;
    st->size = slab->slot - page;
    /* Stack tops a page multiple apart share the same cache sets: every
     * switch of 10,000 tasks would evict the last one's frame. Starting
     * each stack a different number of cache lines below its top (into
     * the slot's spare page) spreads them over the sets; consecutive
     * slots also differ in the address bits above the page, and a colour
     * of index + index / 16 lines, mod 16, varies against those too. At
     * most 16 lines (960 bytes): a larger colour would push a sleeping
     * task's few hundred bytes of frames across into a second page more
     * often (W4 measured 5,043 bytes per sleeping task with 64 colours,
     * against 4,413 with none). */
    st->colour = (unsigned)((index + index / 16) % 16) * 64;
    st->cls = slab->cls;
    st->next = NULL;
#ifdef WEFT_VALGRIND
    st->valgrind_id = VALGRIND_STACK_REGISTER(st->lo, (char *)st->lo + st->size);
#endif
    pool->carved++;
    *out = st;
    return 0;
}

static bool limited(const struct weft__stack_pool *pool)
{
    return pool->stack_limit != SIZE_MAX;
}

static struct weft__stack *cache_pop(struct weft__stack_cache *cache,
                                     unsigned cls)
{
    struct weft__stack *st = cache->cls[cls].head;
    if (st != NULL) {
        cache->cls[cls].head = st->next;
        cache->cls[cls].n--;
    }
    return st;
}

/* A free stack of class cls from another worker's cache, if any has one.
 * Pool locked; each cache's lock is taken after it (the order is always
 * pool, then cache). */
static struct weft__stack *take_from_caches(struct weft__stack_pool *pool,
                                            const struct weft__stack_cache *mine,
                                            unsigned cls)
{
    for (struct weft__stack_cache *c = pool->caches; c != NULL; c = c->next) {
        if (c == mine)
            continue;
        weft__spin_lock(&c->lock);
        struct weft__stack *st = cache_pop(c, cls);
        weft__spin_unlock(&c->lock);
        if (st != NULL)
            return st;
    }
    return NULL;
}

static struct weft__stack *cache_pop_other(struct weft__stack_cache *c,
                                           unsigned cls)
{
    struct weft__stack *st = NULL;

    weft__spin_lock(&c->lock);
    for (unsigned k = 0; k < WEFT__STACK_CLASSES && st == NULL; k++) {
        if (k != cls)
            st = cache_pop(c, k);
    }
    weft__spin_unlock(&c->lock);
    return st;
}

/* A free stack of any class but cls: from the pool, or from any cache,
 * the caller's own included (listed or not). Pool locked. */
static struct weft__stack *take_other_class(struct weft__stack_pool *pool,
                                            struct weft__stack_cache *mine,
                                            unsigned cls)
{
    struct weft__stack *st;
    bool mine_listed = false;

    for (unsigned k = 0; k < WEFT__STACK_CLASSES; k++) {
        st = pool->cls[k].free;
        if (k != cls && st != NULL) {
            pool->cls[k].free = st->next;
            pool->cls[k].nfree--;
            return st;
        }
    }
    for (struct weft__stack_cache *c = pool->caches; c != NULL; c = c->next) {
        mine_listed |= c == mine;
        if ((st = cache_pop_other(c, cls)) != NULL)
            return st;
    }
    return mine_listed ? NULL : cache_pop_other(mine, cls);
}

/* Unmaps a free stack and its guard, which gives back its two map
 * entries: room to carve one of another class. Pool locked. */
static int uncarve(struct weft__stack_pool *pool, struct weft__stack *st)
{
    size_t page = weft__page_size();

    if (munmap((char *)st->lo - page, st->size + page) < 0)
        return -ENOMEM;
#ifdef WEFT_VALGRIND
    VALGRIND_STACK_DEREGISTER(st->valgrind_id);
#endif
    st->lo = NULL; /* its slab slot stays unmapped */
    pool->carved--;
    /* A slab whose every slot is gone goes too. */
    for (struct weft__stack_slab **p = &pool->slabs; *p != NULL;
         p = &(*p)->next) {
        struct weft__stack_slab *slab = *p;
        if (st >= slab->desc && st < slab->desc + slab->nslots) {
            if (++slab->unmapped == slab->nslots) {
                *p = slab->next;
                if (pool->cls[slab->cls].open == slab)
                    pool->cls[slab->cls].open = NULL;
                weft__free(slab);
            }
            break;
        }
    }
    return 0;
}

static int carve(struct weft__stack_pool *pool, unsigned cls,
                 struct weft__stack **out);

/* Passes over the caches before take_at_limit gives up: far more than a
 * stack can dodge (see there), yet no hang if a caller holds no
 * reservation. */
#define LIMIT_PASSES 100000u

/* At the limit every stack is carved, and the caller, which holds a
 * reservation but no stack, is owed a free one (see stack.h): one of its
 * class from another worker's cache, or one of another class unmapped
 * and replaced. The free ones may move while the caches are searched (a
 * worker takes one from its cache as a task ending elsewhere puts one in
 * a cache already searched), hence the passes. Pool locked; it may be
 * dropped and taken again. */
static int take_at_limit(struct weft__stack_cache *cache,
                         struct weft__stack_pool *pool, unsigned cls,
                         struct weft__stack **out)
{
    for (unsigned pass = 0; pass < LIMIT_PASSES; pass++) {
        struct weft__stack *st = pool->cls[cls].free;
        if (st != NULL) {
            pool->cls[cls].free = st->next;
            pool->cls[cls].nfree--;
            *out = st;
            return 0;
        }
        if (pool->carved < pool->stack_limit)
            return carve(pool, cls, out);
        st = take_from_caches(pool, cache, cls);
        if (st != NULL) {
            *out = st;
            return 0;
        }
        st = take_other_class(pool, cache, cls);
        if (st != NULL) {
            int rc = uncarve(pool, st);
            if (rc < 0) {
                /* Keep it, free, in the pool. */
                st->next = pool->cls[st->cls].free;
                pool->cls[st->cls].free = st;
                pool->cls[st->cls].nfree++;
                return rc;
            }
            return carve(pool, cls, out);
        }
        weft__mutex_unlock(&pool->lock);
        if (pass < 1000)
            weft__cpu_relax();
        else
            sched_yield();
        weft__mutex_lock(&pool->lock);
    }
    say_map_limit_once(pool);
    return -ENOMEM;
}

/* Carves a new stack of class cls. Pool locked. */
static int carve(struct weft__stack_pool *pool, unsigned cls,
                 struct weft__stack **out)
{
    struct weft__stack_slab *slab = pool->cls[cls].open;
    if (slab == NULL || slab->carved == slab->nslots) {
        slab = slab_map(pool, cls);
        pool->cls[cls].open = slab;
    }
    if (slab == NULL) {
        if (limited(pool) && pool->carved >= pool->stack_limit)
            say_map_limit_once(pool);
        return -ENOMEM;
    }
    return slab_carve(pool, slab, out);
}

/* Once a pool has carved a batch, it carves the rest a batch at a time:
 * one lock for CARVE_BATCH stacks, and their top pages, which their
 * tasks touch first, faulted in with one system call after the lock
 * (W2 starts 10,000 tasks in a fresh process: a fault each was 10,000
 * traps). A program with a few tasks touches no page it does not use. */
#define CARVE_BATCH 32u

struct carved {
    struct iovec tops[CARVE_BATCH];
    unsigned n;
};

/* After carving *out (pool locked): up to CARVE_BATCH - 1 more stacks of
 * the same slab into cache, their tops and *out's noted in c. */
static void carve_more(struct weft__stack_cache *cache,
                       struct weft__stack_pool *pool, unsigned cls,
                       struct weft__stack *first, struct carved *c)
{
    size_t page = weft__page_size();
    struct weft__stack_slab *slab = pool->cls[cls].open;

    c->n = 0;
    if (limited(pool) || weft__load_relaxed_u32(&pool->no_populate) ||
        pool->carved <= CARVE_BATCH)
        return;
    struct weft__stack *st = first;
    weft__spin_lock(&cache->lock);
    for (;;) {
        c->tops[c->n].iov_base = (char *)st->lo + st->size - page;
        c->tops[c->n].iov_len = page;
        c->n++;
        if (c->n == CARVE_BATCH || slab->carved == slab->nslots ||
            slab_carve(pool, slab, &st) < 0)
            break;
        st->next = cache->cls[cls].head;
        cache->cls[cls].head = st;
        cache->cls[cls].n++;
    }
    weft__spin_unlock(&cache->lock);
}

/* Faults in the tops c noted, without the pool's lock. */
static void populate_tops(struct weft__stack_pool *pool, struct carved *c)
{
#if defined(SYS_process_madvise) && defined(MADV_POPULATE_WRITE)
    if (c->n == 0)
        return;
    long done = syscall(SYS_process_madvise, PIDFD_SELF_PROCESS, c->tops,
                        (size_t)c->n, MADV_POPULATE_WRITE, 0u);
    /* Before Linux 6.15, or under valgrind: the pages fault in as used.
     * Relaxed: a carver that misses the flag makes one failing call more. */
    if (done < 0 && errno != ENOMEM && errno != EINTR)
        weft__store_relaxed_u32(&pool->no_populate, 1);
#else
    (void)pool;
    (void)c;
#endif
}

static int pool_take(struct weft__stack_cache *cache,
                     struct weft__stack_pool *pool, unsigned cls,
                     struct weft__stack **out)
{
    int rc = 0;
    struct carved c;

    c.n = 0;

    weft__mutex_lock(&pool->lock);
    if (pool->cls[cls].free != NULL) {
        /* Move a batch into the cache; return one of them. */
        weft__spin_lock(&cache->lock);
        for (unsigned i = 0; i < REFILL_BATCH && pool->cls[cls].free; i++) {
            struct weft__stack *st = pool->cls[cls].free;
            pool->cls[cls].free = st->next;
            pool->cls[cls].nfree--;
            st->next = cache->cls[cls].head;
            cache->cls[cls].head = st;
            cache->cls[cls].n++;
        }
        *out = cache_pop(cache, cls);
        weft__spin_unlock(&cache->lock);
    } else if (limited(pool) && pool->carved >= pool->stack_limit) {
        rc = take_at_limit(cache, pool, cls, out);
    } else {
        rc = carve(pool, cls, out);
        if (rc == 0)
            carve_more(cache, pool, cls, *out, &c);
    }
    weft__mutex_unlock(&pool->lock);
    populate_tops(pool, &c);
    return rc;
}

int weft__stack_alloc(struct weft__stack_cache *cache,
                      struct weft__stack_pool *pool, unsigned cls,
                      struct weft__stack **out)
{
    if (WEFT__UNLIKELY(limited(pool))) {
        /* Other workers may take from this cache: see stack.h. */
        weft__spin_lock(&cache->lock);
        *out = cache_pop(cache, cls);
        weft__spin_unlock(&cache->lock);
        return *out != NULL ? 0 : pool_take(cache, pool, cls, out);
    }
    struct weft__stack *st = cache->cls[cls].head;
    if (WEFT__LIKELY(st != NULL)) {
        cache->cls[cls].head = st->next;
        cache->cls[cls].n--;
        *out = st;
        return 0;
    }
    return pool_take(cache, pool, cls, out);
}

/* Moves up to n stacks of class cls from cache to pool. */
static void pool_give(struct weft__stack_cache *cache,
                      struct weft__stack_pool *pool, unsigned cls, unsigned n)
{
    weft__mutex_lock(&pool->lock);
    weft__spin_lock(&cache->lock);
    for (; n > 0 && cache->cls[cls].head != NULL; n--) {
        struct weft__stack *st = cache->cls[cls].head;
        cache->cls[cls].head = st->next;
        cache->cls[cls].n--;
        st->next = pool->cls[cls].free;
        pool->cls[cls].free = st;
        pool->cls[cls].nfree++;
    }
    weft__spin_unlock(&cache->lock);
    weft__mutex_unlock(&pool->lock);
}

void weft__stack_free(struct weft__stack_cache *cache,
                      struct weft__stack_pool *pool, struct weft__stack *st)
{
#ifdef WEFT__ASAN
    /* A task that ended left the redzones of its abandoned frames
     * poisoned; the next task on this stack must not trip over them. */
    __asan_unpoison_memory_region(st->lo, st->size);
#endif
    unsigned cls = st->cls;
    if (WEFT__UNLIKELY(limited(pool))) {
        weft__spin_lock(&cache->lock);
        st->next = cache->cls[cls].head;
        cache->cls[cls].head = st;
        unsigned n = ++cache->cls[cls].n;
        weft__spin_unlock(&cache->lock);
        if (n > CACHE_MAX)
            pool_give(cache, pool, cls, CACHE_MAX / 2);
        return;
    }
    st->next = cache->cls[cls].head;
    cache->cls[cls].head = st;
    if (++cache->cls[cls].n > CACHE_MAX)
        pool_give(cache, pool, cls, CACHE_MAX / 2);
}

void weft__stack_cache_attach(struct weft__stack_cache *cache,
                              struct weft__stack_pool *pool)
{
    weft__mutex_lock(&pool->lock);
    cache->next = pool->caches;
    pool->caches = cache;
    weft__mutex_unlock(&pool->lock);
}

void weft__stack_cache_flush(struct weft__stack_cache *cache,
                             struct weft__stack_pool *pool)
{
    weft__mutex_lock(&pool->lock);
    for (struct weft__stack_cache **p = &pool->caches; *p != NULL;
         p = &(*p)->next) {
        if (*p == cache) {
            *p = cache->next;
            break;
        }
    }
    weft__mutex_unlock(&pool->lock);
    for (unsigned cls = 0; cls < WEFT__STACK_CLASSES; cls++) {
        if (cache->cls[cls].head != NULL)
            pool_give(cache, pool, cls, UINT_MAX);
    }
}
