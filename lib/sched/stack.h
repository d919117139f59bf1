/* Task stacks: mmap'd slabs, a guard page under every stack, and a cache
 * per worker so that steady-state spawns make no system call.
 *
 * Sizes come in power-of-two classes from WEFT_STACK_MIN to WEFT_STACK_MAX.
 * A slab holds stacks of one class, each preceded by its guard page:
 *
 *   [guard][stack 0][guard][stack 1] ...
 *
 * The guard is installed with MADV_GUARD_INSTALL (Linux 6.13+), which costs
 * no extra mapping, or else with mprotect(PROT_NONE), which splits the
 * mapping: each stack then costs two entries of vm.max_map_count. In that
 * mode the pool counts its stacks against the limit and refuses more with
 * -ENOMEM instead of letting mmap fail somewhere else.
 *
 * The limit is enforced on spawns (weft__stack_reserve), so that a task
 * whose spawn was accepted always gets a stack: at the limit, every stack
 * is carved and at least one is free for each task holding a reservation
 * but no stack, perhaps in another worker's cache or of another size
 * class. So in this "limited" mode the caches carry a spinlock, which
 * their owners take too, and a worker at the limit takes a stack from
 * another's cache, or unmaps a free one of another class and carves one
 * of its own in its place. Without the limit (madvise guards) nobody but
 * its owner touches a cache, and the owner takes no lock.
 */
#ifndef WEFT_SCHED_STACK_H
#define WEFT_SCHED_STACK_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "core/atomic.h"
#include "core/internal.h"

#define WEFT__STACK_MIN_SHIFT 14 /* log2(WEFT_STACK_MIN) */
#define WEFT__STACK_MAX_SHIFT 30 /* log2(WEFT_STACK_MAX) */
#define WEFT__STACK_CLASSES (WEFT__STACK_MAX_SHIFT - WEFT__STACK_MIN_SHIFT + 1)

/* Describes one stack. Kept outside the stack memory so that a free stack
 * costs no resident page. */
struct weft__stack {
    union {
        struct weft__stack *next; /* free-list link, while free */
        void *saved;          /* while a compacted task holds it: its
                                 bytes (sched/compact.h) */
    };
    void *lo;                 /* lowest usable byte; the guard is below */
    size_t size;              /* usable bytes: the class's size and a
                                 page */
    unsigned colour;          /* bytes left unused at the top, < a page
                                 (see slab_carve) */
    unsigned cls;             /* size class */
    unsigned valgrind_id;     /* VALGRIND_STACK_REGISTER id, if enabled */
};

enum weft__guard_mode {
    WEFT__GUARD_MADVISE,  /* MADV_GUARD_INSTALL */
    WEFT__GUARD_MPROTECT, /* mprotect(PROT_NONE): two VMAs per stack */
};

struct weft__stack_slab;

struct weft__stack_pool {
    pthread_mutex_t lock;          /* guards everything below but counters */
    enum weft__guard_mode mode;
    bool no_batch;                 /* process_madvise cannot install guards
                                      (before Linux 6.15): one madvise each */
    uint32_t no_populate;          /* atomic: nor fault stack tops in */
    struct {
        struct weft__stack *free;  /* stacks returned by worker caches */
        size_t nfree;
        struct weft__stack_slab *open; /* slab still being carved */
    } cls[WEFT__STACK_CLASSES];
    struct weft__stack_slab *slabs; /* every slab, for unmapping */
    struct weft__stack_cache *caches; /* the workers', for the limit */
    size_t stack_limit;  /* stacks the map-count budget allows */
    size_t carved;       /* stacks given guards so far */
    size_t slabs_mapped; /* mmap calls made */
    uint64_t reserved;   /* atomic: live tasks holding a stack reservation */
};

struct weft__stack_cache {
    struct {
        struct weft__stack *head;
        unsigned n;
    } cls[WEFT__STACK_CLASSES];
    weft__spinlock lock;             /* limited mode: guards cls[] */
    struct weft__stack_cache *next;  /* in pool->caches, under pool->lock */
};

/* For tests: caps the stacks of the pools initialised from now on in
 * mprotect mode at limit (0: no cap but vm.max_map_count's). */
void weft__stack_test_limit(size_t limit);

/* Initialises pool and picks the guard mode: $WEFT_STACK_GUARD may force
 * "mprotect" or "madvise". Returns 0, -EINVAL or -ENOTSUP (madvise forced
 * on a kernel without it). */
int weft__stack_pool_init(struct weft__stack_pool *pool);

/* Unmaps every slab. Stacks still in caches become invalid. */
void weft__stack_pool_destroy(struct weft__stack_pool *pool);

/* The class holding at least size bytes, or -EINVAL if size is outside
 * WEFT_STACK_MIN..WEFT_STACK_MAX. */
int weft__stack_class(size_t size);

/* The usable size of class cls. */
size_t weft__stack_class_size(unsigned cls);

/* Reserves room for one more stack, for a spawn. Fails with -ENOMEM (and
 * says once on stderr which sysctl to raise) when the map-count budget is
 * spent. Free in madvise mode. */
int weft__stack_reserve(struct weft__stack_pool *pool);
void weft__stack_unreserve(struct weft__stack_pool *pool);

/* Takes a stack of class cls, from the cache if it has one. Returns 0 or
 * -ENOMEM. */
int weft__stack_alloc(struct weft__stack_cache *cache,
                      struct weft__stack_pool *pool, unsigned cls,
                      struct weft__stack **out);

/* Gives a stack back to the cache; a full cache passes half to the pool. */
void weft__stack_free(struct weft__stack_cache *cache,
                      struct weft__stack_pool *pool, struct weft__stack *st);

/* Lists a worker's cache in pool, whose other workers may then take its
 * stacks at the limit. A cache not attached is only its owner's. */
void weft__stack_cache_attach(struct weft__stack_cache *cache,
                              struct weft__stack_pool *pool);

/* Returns every cached stack to the pool, and takes the cache off the
 * pool's list. */
void weft__stack_cache_flush(struct weft__stack_cache *cache,
                             struct weft__stack_pool *pool);

#endif /* WEFT_SCHED_STACK_H */
