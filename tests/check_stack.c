/* Task stacks: size classes, guard pages, reuse without system calls, no
 * huge pages, and the vm.max_map_count limit of mprotect guards. */
#include "config.h" /* first: _GNU_SOURCE */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/sys.h"
#include "sched/stack.h"
#include "testutil.h"
#include "sched/worker.h"
#include "sched/runtime.h"
#include "sched/task.h"
#include "sched/testhooks.h"

START_TEST(test_size_classes)
{
    ck_assert_int_eq(weft__stack_class(WEFT_STACK_MIN - 1), -EINVAL);
    ck_assert_int_eq(weft__stack_class(0), -EINVAL);
    ck_assert_int_eq(weft__stack_class(WEFT_STACK_MIN), 0);
    ck_assert_int_eq(weft__stack_class(WEFT_STACK_MIN + 1), 1);
    ck_assert_int_eq(weft__stack_class(64 << 10), 2);
    ck_assert_int_eq(weft__stack_class(100 << 10), 3);
    ck_assert_int_eq(weft__stack_class(WEFT_STACK_MAX), WEFT__STACK_CLASSES - 1);
    ck_assert_int_eq(weft__stack_class(WEFT_STACK_MAX + 1), -EINVAL);
    ck_assert_uint_eq(weft__stack_class_size(2), 64 << 10);
}
END_TEST

static void fill_and_check(struct weft__stack *st)
{
    char *p = st->lo;
    memset(p, 0xab, st->size);
    ck_assert_int_eq(p[0], (char)0xab);
    ck_assert_int_eq(p[st->size - 1], (char)0xab);
}

START_TEST(test_alloc_gives_distinct_usable_stacks)
{
    struct weft__stack_pool pool;
    struct weft__stack_cache cache = { 0 };
    struct weft__stack *st[300];

    ck_assert_int_eq(weft__stack_pool_init(&pool), 0);
    for (int i = 0; i < 300; i++) {
        ck_assert_int_eq(weft__stack_alloc(&cache, &pool, 0, &st[i]), 0);
        /* The class's size below the colour, whatever the colour. */
        ck_assert_uint_ge(st[i]->size - st[i]->colour, WEFT_STACK_MIN);
        ck_assert_uint_eq(st[i]->size, WEFT_STACK_MIN + weft__page_size());
        ck_assert_uint_eq((uintptr_t)st[i]->lo % weft__page_size(), 0);
        fill_and_check(st[i]);
        for (int j = 0; j < i; j++)
            ck_assert_ptr_ne(st[i]->lo, st[j]->lo);
    }
    /* 300 stacks of 16 KiB need more than one 256-slot slab. */
    ck_assert_uint_eq(pool.slabs_mapped, 2);
    for (int i = 0; i < 300; i++)
        weft__stack_free(&cache, &pool, st[i]);
    weft__stack_cache_flush(&cache, &pool);
    weft__stack_pool_destroy(&pool);
}
END_TEST

/* Stack tops a page multiple apart would share cache sets: each stack
 * starts a multiple of a cache line below its top, at most a sixteenth of
 * it, and 256 stacks of 64 KiB start at 16 different lines of a page. */
START_TEST(test_stack_tops_are_coloured)
{
    struct weft__stack_pool pool;
    struct weft__stack_cache cache = { 0 };
    struct weft__stack *st[256];
    bool seen[4096 / 64] = { false };
    unsigned kinds = 0;

    ck_assert_int_eq(weft__stack_pool_init(&pool), 0);
    for (int i = 0; i < 256; i++) {
        ck_assert_int_eq(weft__stack_alloc(&cache, &pool, 2, &st[i]), 0);
        ck_assert_uint_eq(st[i]->colour % 64, 0);
        ck_assert_uint_le(st[i]->colour, 15 * 64);
        ck_assert_uint_ge(st[i]->size - st[i]->colour,
                          weft__stack_class_size(2));
        uintptr_t top = ((uintptr_t)st[i]->lo + st[i]->size - st[i]->colour);
        unsigned line = (unsigned)(top % 4096) / 64;
        kinds += !seen[line];
        seen[line] = true;
    }
    ck_assert_uint_eq(kinds, 16);
    for (int i = 0; i < 256; i++)
        weft__stack_free(&cache, &pool, st[i]);
    weft__stack_cache_flush(&cache, &pool);
    weft__stack_pool_destroy(&pool);
}
END_TEST

/* Every task gets its class's whole size, whatever its stack's colour:
 * 64 tasks of WEFT_STACK_MIN at once each use 14 KiB of it, which leaves
 * less room than the largest colour plus the frames under a task's
 * function would take from a stack without its spare page. */
static void *deep(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)use_stack_kib(14);
}

static void *deep_main(void *arg)
{
    weft_task *t[64];
    weft_spawn_opts o = { .stack_size = WEFT_STACK_MIN };

    (void)arg;
    for (int i = 0; i < 64; i++)
        ck_assert_int_eq(weft_spawn_ex(&t[i], deep, NULL, &o), 0);
    for (int i = 0; i < 64; i++) {
        ck_assert_int_eq(weft_await(t[i], NULL), 0);
        weft_task_unref(t[i]);
    }
    return NULL;
}

START_TEST(test_every_colour_keeps_the_class_size)
{
    ck_assert_int_eq(run_on(2, deep_main, NULL), 0);
}
END_TEST

START_TEST(test_reuse_makes_no_new_mappings)
{
    struct weft__stack_pool pool;
    struct weft__stack_cache cache = { 0 };
    struct weft__stack *st[100];

    ck_assert_int_eq(weft__stack_pool_init(&pool), 0);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(weft__stack_alloc(&cache, &pool, 2, &st[i]), 0);
    for (int i = 0; i < 100; i++)
        weft__stack_free(&cache, &pool, st[i]);
    size_t slabs = pool.slabs_mapped, carved = pool.carved;
    /* Steady state: every stack comes from the cache or the pool. */
    for (int round = 0; round < 1000; round++) {
        for (int i = 0; i < 100; i++)
            ck_assert_int_eq(weft__stack_alloc(&cache, &pool, 2, &st[i]), 0);
        for (int i = 0; i < 100; i++)
            weft__stack_free(&cache, &pool, st[i]);
    }
    ck_assert_uint_eq(pool.slabs_mapped, slabs);
    ck_assert_uint_eq(pool.carved, carved);
    weft__stack_cache_flush(&cache, &pool);
    weft__stack_pool_destroy(&pool);
}
END_TEST

/* Writing just below a stack faults in its guard page. */
static void touch_guard_in_child(const char *mode)
{
    struct weft__stack_pool pool;
    struct weft__stack_cache cache = { 0 };
    struct weft__stack *st;
    int status;

    if (mode != NULL)
        ck_assert_int_eq(setenv("WEFT_STACK_GUARD", mode, 1), 0);
    ck_assert_int_eq(weft__stack_pool_init(&pool), 0);
    ck_assert_int_eq(weft__stack_alloc(&cache, &pool, 1, &st), 0);
    fill_and_check(st);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL);
        ((volatile char *)st->lo)[-1] = 1;
        _exit(0); /* not reached if the guard works */
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status));
    ck_assert_int_eq(WTERMSIG(status), SIGSEGV);
    weft__stack_free(&cache, &pool, st);
    weft__stack_cache_flush(&cache, &pool);
    weft__stack_pool_destroy(&pool);
}

START_TEST(test_guard_page_faults)
{
    touch_guard_in_child(NULL);
}
END_TEST

START_TEST(test_mprotect_guard_page_faults)
{
    touch_guard_in_child("mprotect");
}
END_TEST

/* The slab's mapping carries VmFlags "nh" (MADV_NOHUGEPAGE). */
START_TEST(test_slabs_refuse_huge_pages)
{
    struct weft__stack_pool pool;
    struct weft__stack_cache cache = { 0 };
    struct weft__stack *st;
    char line[512];
    int in_vma = 0, found = 0;

    ck_assert_int_eq(weft__stack_pool_init(&pool), 0);
    ck_assert_int_eq(weft__stack_alloc(&cache, &pool, 2, &st), 0);
    uintptr_t addr = (uintptr_t)st->lo;
    FILE *f = fopen("/proc/self/smaps", "r");
    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof line, f) != NULL) {
        uintptr_t lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
            in_vma = addr >= lo && addr < hi;
        } else if (in_vma && strncmp(line, "VmFlags:", 8) == 0) {
            found = strstr(line, " nh") != NULL;
            break;
        }
    }
    fclose(f);
    ck_assert_msg(found, "stack mapping lacks the nh (no huge page) flag");
    weft__stack_free(&cache, &pool, st);
    weft__stack_cache_flush(&cache, &pool);
    weft__stack_pool_destroy(&pool);
}
END_TEST

START_TEST(test_madvise_guards_cost_no_mappings)
{
    struct weft__stack_pool pool;
    struct weft__stack_cache cache = { 0 };
    static struct weft__stack *st[1000];

    ck_assert_int_eq(weft__stack_pool_init(&pool), 0);
    if (pool.mode != WEFT__GUARD_MADVISE) {
        weft__stack_pool_destroy(&pool);
        return; /* kernel before 6.13: the mprotect tests cover it */
    }
    int before = count_maps();
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(weft__stack_alloc(&cache, &pool, 0, &st[i]), 0);
    /* 1000 guarded stacks in 4 slabs: a handful of mappings (and some of
     * TSan's shadow), not the 2000 that mprotect guards would cost. */
    ck_assert_int_le(count_maps() - before, 50);
    for (int i = 0; i < 1000; i++)
        weft__stack_free(&cache, &pool, st[i]);
    weft__stack_cache_flush(&cache, &pool);
    weft__stack_pool_destroy(&pool);
}
END_TEST

/* Past its first 32 stacks a pool carves them in batches, and faults in
 * the top page of each, which its task touches first, in one call: the
 * tops of stacks carved one at a time stay untouched until used. */
static bool resident(const void *addr)
{
    unsigned char v = 0;
    ck_assert_int_eq(mincore((void *)addr, weft__page_size(), &v), 0);
    return (v & 1) != 0;
}

START_TEST(test_bulk_carving_faults_stack_tops_in)
{
    struct weft__stack_pool pool;
    struct weft__stack_cache cache = { 0 };
    struct weft__stack *st[100];
    size_t page = weft__page_size();

    ck_assert_int_eq(weft__stack_pool_init(&pool), 0);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(weft__stack_alloc(&cache, &pool, 0, &st[i]), 0);
    ck_assert_uint_ge(pool.carved, 100);
    ck_assert(!resident((char *)st[0]->lo + st[0]->size - page));
    /* Where the kernel cannot (before Linux 6.15, valgrind), they fault in
     * as used, as before. */
    if (pool.mode == WEFT__GUARD_MADVISE && !pool.no_populate) {
        for (int i = 40; i < 100; i++)
            ck_assert(resident((char *)st[i]->lo + st[i]->size - page));
    }
    for (int i = 0; i < 100; i++)
        weft__stack_free(&cache, &pool, st[i]);
    weft__stack_cache_flush(&cache, &pool);
    weft__stack_pool_destroy(&pool);
}
END_TEST

/* --- the map-count limit, through the public API ------------------------ */

static int hold;          /* atomic: tasks sleep while this is set */
static long started;      /* atomic */

static void *hold_stack(void *arg)
{
    (void)arg;
    __atomic_fetch_add(&started, 1, __ATOMIC_RELAXED);
    while (__atomic_load_n(&hold, __ATOMIC_ACQUIRE))
        weft_sleep(1);
    return NULL;
}

static void *exhaust_main(void *arg)
{
    long *spawned = arg;
    weft_spawn_opts o = { .stack_size = WEFT_STACK_MIN };
    int rc = 0;

    __atomic_store_n(&hold, 1, __ATOMIC_RELEASE);
    /* Bounded: 100,000 is three times the limit. */
    for (long i = 0; i < 100000; i++) {
        rc = weft_spawn_ex(NULL, hold_stack, NULL, &o);
        if (rc < 0)
            break;
        (*spawned)++;
        if (i % 1000 == 999)
            weft_yield(); /* let them start, so their stacks are mapped */
    }
    ck_assert_int_eq(rc, -ENOMEM);
    /* Once refused, still refused, and still no crash. */
    ck_assert_int_eq(weft_spawn_ex(NULL, hold_stack, NULL, &o), -ENOMEM);
    /* Every task spawned got its stack. */
    while (READ(started) < *spawned)
        weft_yield();
    __atomic_store_n(&hold, 0, __ATOMIC_RELEASE);
    return NULL;
}

START_TEST(test_map_count_limit_fails_spawn_with_enomem)
{
#ifdef TEST_UNDER_TSAN
    /* The limit is ~32,000 live tasks; TSan stops at 8128 fibers. The
     * other builds run this test. */
    return;
#endif
    long spawned = 0;
    int pipefd[2];
    char err[4096];

    ck_assert_int_eq(setenv("WEFT_STACK_GUARD", "mprotect", 1), 0);
    ck_assert_int_eq(pipe(pipefd), 0);
    int saved = dup(STDERR_FILENO);
    dup2(pipefd[1], STDERR_FILENO);
    started = 0;
    int rc = weft_run(exhaust_main, &spawned, NULL, NULL);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(pipefd[1]);
    ssize_t n = read(pipefd[0], err, sizeof err - 1);
    close(pipefd[0]);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_gt(n, 0);
    err[n] = '\0';
    /* vm.max_map_count is 65530 here: two entries per stack leave room
     * for a little under 32,768 tasks. */
    ck_assert_int_gt(spawned, 10000);
    ck_assert_int_lt(spawned, 32768);
    ck_assert_int_eq(started, spawned);
    /* One message, naming the sysctl. */
    ck_assert_ptr_nonnull(strstr(err, "vm.max_map_count"));
    ck_assert_ptr_null(strstr(strstr(err, "vm.max_map_count") + 1,
                              "cannot map more task stacks"));
}
END_TEST

/* --- at the limit, stacks cached by other workers are found ---------- */

/* A wave of tasks pinned to one worker, all holding their stacks until
 * released. */
struct wave {
    weft_event release;
    long started;        /* atomic */
};

static void *wave_task(void *arg)
{
    struct wave *wv = arg;
    COUNT(wv->started);
    CHECK(weft_event_wait(&wv->release, WEFT_FOREVER) == 0);
    return NULL;
}

/* Runs n tasks with stacks of stack_size pinned to worker `on`, holding
 * them all at once, and returns how many failed (-ENOMEM: no stack). */
static long run_wave(unsigned on, long n, size_t stack_size)
{
    struct weft__worker *self = weft__worker_self();
    weft_spawn_opts o = { .stack_size = stack_size };
    struct wave wv = { .started = 0 };
    weft_task *t[64];
    long failed = 0, done = 0;

    ck_assert_int_le(n, 64);
    /* The last wave's tasks give their reservations back a moment after
     * their awaiter has seen them end: wait for it (bounded: 10 s). */
    struct weft__stack_pool *pool = &self->rt->stacks;
    for (int k = 0; k < 10000 && __atomic_load_n(&pool->reserved,
                                                 __ATOMIC_ACQUIRE) > 1; k++)
        weft_sleep(1);
    ck_assert_int_eq(weft_event_init(&wv.release), 0);
    for (long i = 0; i < n; i++)
        ck_assert_int_eq(weft__task_create_on(self, self->rt->workers[on],
                                              wave_task, &wv, &o, &t[i]), 0);
    /* Each task starts, or fails for want of a stack: wait until all have
     * done one or the other (bounded: 10 s). */
    for (int k = 0; k < 10000 && READ(wv.started) + done < n; k++) {
        weft_sleep(1);
        done = 0;
        for (long i = 0; i < n; i++)
            done += weft_task_is_done(t[i]) == 1;
    }
    ck_assert_int_eq(READ(wv.started) + done, n);
    ck_assert_int_eq(weft_event_set(&wv.release), 0);
    for (long i = 0; i < n; i++) {
        int rc = weft_await(t[i], NULL);
        ck_assert(rc == 0 || rc == -ENOMEM);
        failed += rc == -ENOMEM;
        weft_task_unref(t[i]);
    }
    ck_assert_int_eq(READ(wv.started) + failed, n);
    weft_event_destroy(&wv.release);
    return failed;
}

#define WAVE_LIMIT 32

static size_t carved_now(struct weft__stack_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    size_t n = pool->carved;
    pthread_mutex_unlock(&pool->lock);
    return n;
}

static void *waves_main(void *arg)
{
    struct weft__stack_pool *pool = &weft__worker_self()->rt->stacks;
    (void)arg;

    ck_assert_uint_eq(pool->stack_limit, WAVE_LIMIT);
    /* main holds one reservation: the waves may hold the others. Each
     * wave leaves its stacks in its worker's cache. */
    ck_assert_int_eq(run_wave(1, WAVE_LIMIT - 1, 64 << 10), 0);
    ck_assert_uint_eq(carved_now(pool), WAVE_LIMIT);
    ck_assert_int_eq(run_wave(2, WAVE_LIMIT - 1, 64 << 10), 0);
    /* A size class none of the cached stacks has. */
    ck_assert_int_eq(run_wave(3, WAVE_LIMIT - 1, 256 << 10), 0);
    ck_assert_int_eq(run_wave(1, WAVE_LIMIT - 1, 16 << 10), 0);
    ck_assert_int_eq(run_wave(2, WAVE_LIMIT - 1, 64 << 10), 0);
    ck_assert_uint_le(carved_now(pool), WAVE_LIMIT);
    return NULL;
}

START_TEST(test_accepted_spawns_get_stacks_at_the_limit)
{
    ck_assert_int_eq(setenv("WEFT_STACK_GUARD", "mprotect", 1), 0);
    weft__stack_test_limit(WAVE_LIMIT);
    ck_assert_int_eq(run_on(4, waves_main, NULL), 0);
    weft__stack_test_limit(0);
}
END_TEST

static Suite *stack_suite(void)
{
    Suite *s = suite_create("stack");
    TCase *tc = tcase_create("stack");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_size_classes);
    tcase_add_test(tc, test_alloc_gives_distinct_usable_stacks);
    tcase_add_test(tc, test_stack_tops_are_coloured);
    tcase_add_test(tc, test_bulk_carving_faults_stack_tops_in);
    tcase_add_test(tc, test_every_colour_keeps_the_class_size);
    tcase_add_test(tc, test_reuse_makes_no_new_mappings);
    tcase_add_test(tc, test_guard_page_faults);
    tcase_add_test(tc, test_mprotect_guard_page_faults);
    tcase_add_test(tc, test_slabs_refuse_huge_pages);
    tcase_add_test(tc, test_madvise_guards_cost_no_mappings);
    tcase_add_test(tc, test_map_count_limit_fails_spawn_with_enomem);
    tcase_add_test(tc, test_accepted_spawns_get_stacks_at_the_limit);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(stack_suite)
