/* Atomic operations used by libweft, with the memory order in the name.
 *
 * They are concurrencykit's ck_pr operations. Under ThreadSanitizer they
 * are the compiler's __atomic builtins instead: ck_pr's loads and stores
 * are volatile accesses ordered by fences, which TSan cannot see, so it
 * would report every one of them as a race.
 */
#ifndef WEFT_CORE_ATOMIC_H
#define WEFT_CORE_ATOMIC_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/internal.h"

#ifndef WEFT__TSAN
#include <ck_pr.h>
#endif

#ifdef WEFT__TSAN

#define WEFT__ATOMIC_OPS(sfx, T)                                              \
    static inline T weft__load_relaxed_##sfx(const T *p)                      \
    { return __atomic_load_n(p, __ATOMIC_RELAXED); }                          \
    static inline T weft__load_acquire_##sfx(const T *p)                      \
    { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }                          \
    static inline void weft__store_relaxed_##sfx(T *p, T v)                   \
    { __atomic_store_n(p, v, __ATOMIC_RELAXED); }                             \
    static inline void weft__store_release_##sfx(T *p, T v)                   \
    { __atomic_store_n(p, v, __ATOMIC_RELEASE); }                             \
    /* Full barrier, acquire and release on success. */                       \
    static inline bool weft__cas_##sfx(T *p, T expect, T desired)             \
    { return __atomic_compare_exchange_n(p, &expect, desired, false,          \
                                         __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE); } \
    static inline T weft__faa_##sfx(T *p, T delta)                            \
    { return __atomic_fetch_add(p, delta, __ATOMIC_SEQ_CST); }                \
    static inline T weft__fas_##sfx(T *p, T v)                                \
    { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }

WEFT__ATOMIC_OPS(u32, uint32_t)
WEFT__ATOMIC_OPS(u64, uint64_t)

static inline void *weft__load_relaxed_ptr(void *const *p)
{ return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void weft__store_relaxed_ptr(void **p, void *v)
{ __atomic_store_n(p, v, __ATOMIC_RELAXED); }
static inline void *weft__load_acquire_ptr(void *const *p)
{ return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void weft__store_release_ptr(void **p, void *v)
{ __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline bool weft__cas_ptr(void **p, void *expect, void *desired)
{ return __atomic_compare_exchange_n(p, &expect, desired, false,
                                     __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE); }
static inline void *weft__fas_ptr(void **p, void *v)
{ return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
/* A full barrier: orders a store before a later load (Dekker). TSan
 * does not model fences, and GCC warns so (-Wtsan): the fence still
 * orders the hardware, and what TSan misses can only make it report a
 * race that is not there, never hide one (the suite shows none). A
 * stand-in RMW on a shared word would be worse: TSan would take every
 * two fences as synchronising and hide real races between their users. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wtsan"
#endif
static inline void weft__fence_full(void)
{ __atomic_thread_fence(__ATOMIC_SEQ_CST); }
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic pop
#endif

#else /* ck_pr */

/* Every read-modify-write here is a full barrier, as the callers rely on.
 * x86's locked instructions are; ck_pr's aarch64 ones (ldxr/stxr loops)
 * order nothing, so there a dmb goes on either side. ck_pr's plain loads
 * and stores need the acquire and release fences on every architecture. */
#if defined(__x86_64__) || defined(__i386__)
#define WEFT__RMW_FENCE() ((void)0)
#else
#define WEFT__RMW_FENCE() ck_pr_fence_memory()
#endif
#define WEFT__RMW(expr)                                                       \
    ({ WEFT__RMW_FENCE(); __typeof__(expr) r_ = (expr); WEFT__RMW_FENCE(); r_; })

#define WEFT__ATOMIC_OPS(sfx, T, ck)                                          \
    static inline T weft__load_relaxed_##sfx(const T *p)                      \
    { return ck_pr_load_##ck(p); }                                            \
    static inline T weft__load_acquire_##sfx(const T *p)                      \
    { T v = ck_pr_load_##ck(p); ck_pr_fence_acquire(); return v; }           \
    static inline void weft__store_relaxed_##sfx(T *p, T v)                   \
    { ck_pr_store_##ck(p, v); }                                               \
    static inline void weft__store_release_##sfx(T *p, T v)                   \
    { ck_pr_fence_release(); ck_pr_store_##ck(p, v); }                       \
    static inline bool weft__cas_##sfx(T *p, T expect, T desired)             \
    { return WEFT__RMW(ck_pr_cas_##ck(p, expect, desired)); }                 \
    static inline T weft__faa_##sfx(T *p, T delta)                            \
    { return WEFT__RMW(ck_pr_faa_##ck(p, delta)); }                           \
    static inline T weft__fas_##sfx(T *p, T v)                                \
    { return WEFT__RMW(ck_pr_fas_##ck(p, v)); }

WEFT__ATOMIC_OPS(u32, uint32_t, 32)
WEFT__ATOMIC_OPS(u64, uint64_t, 64)

static inline void *weft__load_relaxed_ptr(void *const *p)
{ return ck_pr_load_ptr(p); }
static inline void weft__store_relaxed_ptr(void **p, void *v)
{ ck_pr_store_ptr(p, v); }
static inline void *weft__load_acquire_ptr(void *const *p)
{ void *v = ck_pr_load_ptr(p); ck_pr_fence_acquire(); return v; }
static inline void weft__store_release_ptr(void **p, void *v)
{ ck_pr_fence_release(); ck_pr_store_ptr(p, v); }
static inline bool weft__cas_ptr(void **p, void *expect, void *desired)
{ return WEFT__RMW(ck_pr_cas_ptr(p, expect, desired)); }
static inline void *weft__fas_ptr(void **p, void *v)
{ return WEFT__RMW(ck_pr_fas_ptr(p, v)); }
/* A full barrier: orders a store before a later load (Dekker). On x86_64
 * a locked no-op on the stack does it, as Linux's smp_mb does: 2.0 ns here
 * against 16.4 ns for ck_pr_fence_memory's mfence. */
static inline void weft__fence_full(void)
{
#if defined(__x86_64__)
    __asm__ __volatile__("lock orq $0, (%%rsp)" ::: "memory", "cc");
#else
    ck_pr_fence_memory();
#endif
}

#endif

static inline void weft__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

/* Spins until *p == want (an acquire load), for a peer that is a few
 * instructions from storing it; after 1000 spins it yields the CPU at
 * each look, in case that peer's thread was preempted there. */
static inline void weft__spin_until_u32(const uint32_t *p, uint32_t want)
{
    for (unsigned spins = 0; weft__load_acquire_u32(p) != want; spins++) {
        if (spins < 1000)
            weft__cpu_relax();
        else
            sched_yield();
    }
}

/* A test-and-test-and-set spinlock for very short critical sections (a
 * few pointer updates). 4 bytes, so every task can carry one. */
typedef struct { uint32_t held; } weft__spinlock;

#define WEFT__SPINLOCK_INIT { 0 }

static inline void weft__spin_lock(weft__spinlock *l)
{
    while (weft__fas_u32(&l->held, 1) != 0) {
        while (weft__load_relaxed_u32(&l->held) != 0)
            weft__cpu_relax();
    }
}

/* Takes l if it is free; never spins. */
static inline bool weft__spin_trylock(weft__spinlock *l)
{
    return weft__load_relaxed_u32(&l->held) == 0 &&
           weft__fas_u32(&l->held, 1) == 0;
}

static inline void weft__spin_unlock(weft__spinlock *l)
{
    weft__store_release_u32(&l->held, 0);
}

#endif /* WEFT_CORE_ATOMIC_H */
