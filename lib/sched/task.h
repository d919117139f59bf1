/* The task object. */
#ifndef WEFT_SCHED_TASK_H
#define WEFT_SCHED_TASK_H

#include <stdbool.h>
#include <stdint.h>

#include "core/atomic.h"
#include "arch/context.h"
#include "core/internal.h"
#include "core/list.h"
#include "sched/stack.h"
#include "sched/wait.h"
#include "sched/worker.h"

struct weft__runtime;
struct weft__worker;

/* A task record. Users hold handles (weft_task *), which name a record
 * and its generation; the library works on records. */
typedef struct weft__task weft__task;

struct weft__scope;

/* One wait for a task to finish, linked into that task's list. It lives
 * on the waiting task's stack (or in whatever embeds it), which stays put
 * while it waits. When the task finishes, its finisher calls on_finish if
 * there is one (waits on many tasks, task groups, threads joining), which
 * owns the node from then on; or else wakes `task`, a single wait, then
 * releases the node. */
struct weft__waiter {
    struct weft__list link;       /* in target's list, under its lock */
    weft__task *target;           /* the task waited for */
    struct weft__handoff h;       /* a single wait: the waiting task */
    void (*on_finish)(struct weft__waiter *node);
};

#define WEFT__TASK_MAGIC 0x7461736bu /* "task": the struct is a live task */
#define WEFT__NEVER_RAN UINT32_MAX  /* last_worker of a task not yet run */

/* What a suspended task waits on, for task dumps. */
enum weft__waiting {
    WEFT__WAITING_NOTHING = 0,
    WEFT__WAITING_SLEEP,   /* weft_sleep */
    WEFT__WAITING_TASK,    /* weft_await and its kin; obj: the task */
    WEFT__WAITING_TASKS,   /* gather, wait, as_completed */
    WEFT__WAITING_GROUP,   /* weft_group_wait */
    WEFT__WAITING_LOCK,    /* a lock or read-write lock */
    WEFT__WAITING_SEMAPHORE,
    WEFT__WAITING_EVENT,
    WEFT__WAITING_CONDITION,
    WEFT__WAITING_BARRIER,
    WEFT__WAITING_QUEUE,   /* a queue's get or put */
    WEFT__WAITING_CHANNEL,
    WEFT__WAITING_GENERATOR,
    WEFT__WAITING_LIMITER, /* a rate limiter's tokens */
    WEFT__WAITING_THREAD,  /* a job on a thread pool (weft_to_thread) */
    WEFT__WAITING_PROCESS, /* a call on the process pool */
    WEFT__WAITING_FD,      /* a file descriptor's readiness */
    WEFT__WAITING_FUTURE,  /* weft_future_await */
    WEFT__WAITING_CHILD,   /* a child process's end (weft_subprocess_*) */
    WEFT__WAITING_SIGNAL,  /* weft_signal_wait */
};

#define WEFT__NO_REGISTRY UINT32_MAX

struct weft__task {
    uint32_t magic;             /* WEFT__TASK_MAGIC while live (relaxed) */
    uint32_t gen;               /* generation, in every handle to it: one
                                   more each time the record is freed */
    struct weft__slink qlink;   /* in a run queue, an inbox or a cache:
                                   owned by whichever holds the task */
    struct weft__ctx ctx;       /* saved registers while not running */
    struct weft__stack *stack;  /* NULL until the task first runs */
    uint64_t wait;              /* atomic wait word, see scheduler.h */
    uint32_t refs;              /* atomic reference count */
    uint32_t done;              /* atomic: 1 once the task has finished */
    uint32_t cancel_requested;  /* atomic, sticky: weft_cancel() was called */
    uint32_t retrieved;         /* atomic: its error reached someone */
    uint32_t locks_held;        /* locks (and write locks) it holds; the
                                   task's own */
    weft__spinlock lock;        /* guards waiters, the move to done, and
                                   cancel_requested against it */
    /* (The fields above fill the first cache line; the rest are ordered
     * so that the record is 232 bytes, carved at that stride by
     * sched/records.c.) */
    int err;                    /* 0, or the error it failed with */
    uint32_t reg_worker;        /* whose registry lists it, or
                                   WEFT__NO_REGISTRY */
    struct weft__list waiters;  /* struct weft__waiter.link, oldest first */
    weft_fn fn;
    void *arg;
    void *result;
    char *errmsg;               /* weft_fail()'s message, or NULL */
    uint64_t id;
    struct weft__runtime *rt;
    struct weft__worker *home;  /* the worker a pinned task stays on */
    bool pinned;                /* WEFT_SPAWN_PINNED */
    bool compact;               /* WEFT_SPAWN_COMPACT */
    bool compact_wait;          /* the task's own: its current suspension
                                   keeps nothing on its stack that others
                                   use (sched/compact.h) */
    bool compacted;             /* its stack's bytes are copied out */
    uint16_t stack_cls;         /* stack size class to take at first run */
    uint16_t io_ops;            /* I/O calls done without waiting, in a
                                   row (sched/iowait.h's budget, < 2^16) */
    unsigned shields;           /* shield scopes open */
    unsigned nscopes;           /* scopes open, shields included */
    struct weft__scope *scopes; /* innermost open timeout or shield scope */
    struct weft__scope *armed_scope; /* whose deadline this suspension armed */
    /* The worker holding a timer of the current suspension (a sleep or a
     * deadline): a wake from elsewhere sends the task back there, since
     * only that worker may touch its event base. */
    struct weft__worker *armed_on;
    /* For task dumps, written by the task (relaxed), read by anyone. */
    uint32_t waiting;           /* enum weft__waiting */
    uint32_t last_worker;       /* index of the worker it last ran on */
    int64_t waiting_since;      /* weft__coarse_now_ms() when it suspended */
    uint64_t waiting_on;        /* the id of the task awaited, or 0 */
    struct weft__list reg_link; /* in its registry, under its lock */
    char *name;                 /* NULL until named or asked for */
#ifdef WEFT__ASAN
    void *asan_fake_stack;      /* ASan's fake stack while switched out */
#endif
#ifdef WEFT__TSAN
    void *tsan_fiber;
#endif
};

#if UINTPTR_MAX > 0xffffffffu && !defined(WEFT__ASAN) &&                     \
    !defined(WEFT__TSAN) && !defined(WEFT_CONTEXT_UCONTEXT)
/* W4's bytes per sleeping task count its record: keep it at 232. */
_Static_assert(sizeof(struct weft__task) <= 232, "task record grew");
#endif

static inline weft__task *weft__task_of_qlink(struct weft__slink *link)
{
    return WEFT__CONTAINER_OF(link, weft__task, qlink);
}

/* Handles. A handle is its record's address with the record's generation
 * in the top 16 bits, which no user-space address uses on x86_64 or
 * aarch64 Linux (47 and 48 bits). A handle kept after the task's last
 * reference was dropped (and its record reused, perhaps) no longer
 * matches and is reported, never taken for another task. Where pointers
 * have no spare bits, handles are plain addresses and only the magic
 * number tells a released task apart. */
#if UINTPTR_MAX > 0xffffffffu
#define WEFT__HANDLE_GEN_SHIFT 48
#define WEFT__HANDLE_ADDR_MASK (((uintptr_t)1 << WEFT__HANDLE_GEN_SHIFT) - 1)
static inline weft_task *weft__task_handle(const weft__task *t)
{
    if (t == NULL)
        return NULL;
    return (weft_task *)((uintptr_t)t | ((uintptr_t)(t->gen & 0xffffu)
                                         << WEFT__HANDLE_GEN_SHIFT));
}
static inline weft__task *weft__handle_record(const weft_task *h)
{
    return (weft__task *)((uintptr_t)h & WEFT__HANDLE_ADDR_MASK);
}
static inline uint32_t weft__handle_gen(const weft_task *h)
{
    return (uint32_t)((uintptr_t)h >> WEFT__HANDLE_GEN_SHIFT);
}
#else
static inline weft_task *weft__task_handle(const weft__task *t)
{
    return (weft_task *)(uintptr_t)t;
}
static inline weft__task *weft__handle_record(const weft_task *h)
{
    return (weft__task *)(uintptr_t)h;
}
static inline uint32_t weft__handle_gen(const weft_task *h)
{
    (void)h;
    return UINT32_MAX; /* "any": only the magic is checked */
}
#endif

/* The live record behind handle h, or NULL: for NULL, and for a stale
 * handle, which is reported on stderr as the caller's mistake, naming
 * api (the public function it was given to) and the task when its record
 * still holds the name. */
weft__task *weft__task_check(weft_task *h, const char *api);

/* t's name for a message: its name, or "task-<id>" written in buf. */
const char *weft__task_label(const weft__task *t, char *buf, size_t size);

/* The calling task's record, or NULL outside a task. Inline, as nearly
 * every call of the API starts with it: only the worker lookup stays a
 * call (worker_tls.c says why it must). */
static inline weft__task *weft__task_self(void)
{
    struct weft__worker *w = weft__worker_self();
    return w != NULL ? w->current : NULL;
}

/* Creates a task on worker w (the caller's worker) and makes it ready.
 * refs is 2 when the caller wants a handle, else 1: the runtime's own
 * reference is dropped when the task ends. */
int weft__task_create(struct weft__worker *w, weft_fn fn, void *arg,
                      const weft_spawn_opts *opts, weft_task **out);

/* Frees a task struct whose last reference is gone, taking it out of its
 * registry: into the calling worker's cache, or off the workers back to
 * where records come from (sched/records.h). */
void weft__task_free(weft__task *t);

/* Gives every struct cached by w, and then the runtime's pool, back to
 * where records come from (sched/records.h). */
void weft__task_cache_flush(struct weft__worker *w);
void weft__task_pool_drain(struct weft__runtime *rt);

/* The two halves of a create. init allocates a task record of rt and
 * fills it in, counting a handle in its references if asked: not yet
 * live, nor seen by anyone. w: the caller's worker (its caches and ids),
 * or NULL off the workers. publish makes it live (counted, registered)
 * and ready: queued on w, or on its home worker if that is another, or,
 * from a thread outside the runtime (w NULL), on the global queue; there
 * it fails with -ESHUTDOWN, and frees the task, once the runtime is
 * stopping. */
int weft__task_init(struct weft__runtime *rt, struct weft__worker *w,
                    weft_fn fn, void *arg, const weft_spawn_opts *opts,
                    bool handle, weft__task **out);
int weft__task_publish(weft__task *t, struct weft__worker *w);

/* Like weft__task_create, from a thread that is not a worker of rt: the
 * task goes to the global queue (a pinned one to worker 0). */
int weft__task_create_foreign(struct weft__runtime *rt, weft_fn fn,
                              void *arg, const weft_spawn_opts *opts,
                              weft_task **out);

/* Runs in a new task's context: the body, then completion. */
void weft__task_body(weft__task *t);

/* Marks t finished and wakes its awaiters. err != 0 fails it first with
 * that error and message (for a task that could never start). */
void weft__task_complete(weft__task *t, int err, const char *msg);

/* Links a wait to target, unless it has finished (then false). */
bool weft__waiter_add(weft__task *target, struct weft__waiter *node);

/* Unlinks a wait that ended otherwise than by target finishing. Returns
 * true if it was unlinked; false if target finished meanwhile, in which
 * case a single wait's node is released before this returns, and a node
 * with on_finish belongs to its finisher (and so to on_finish). */
bool weft__waiter_remove(weft__task *target, struct weft__waiter *node);

/* The outcome of t, which has finished: 0 and its result in *result (if
 * not NULL), or its error, which counts as retrieved. */
int weft__task_outcome(weft__task *t, void **result);

/* Waits until target has finished: 0, or the -ECANCELED or -ETIMEDOUT
 * that interrupted the wait (never with WEFT__WAIT_SHIELDED). */
int weft__task_wait_done(weft__task *self, weft__task *target, unsigned flags);

/* Adds t to / removes t from the registry of tasks (registry.c). */
void weft__registry_add(struct weft__worker *w, weft__task *t);
void weft__registry_remove(weft__task *t);
/* weft__registry_remove for a thread outside the runtime, which may be
 * ending: under the published runtime's lock. */
void weft__registry_remove_foreign(weft__task *t);
/* At the runtime's end, under the published runtime's lock: the finished
 * tasks still held by handles leave w's registry, so that their last
 * release, after weft_run, touches no runtime. */
void weft__registry_forget(struct weft__worker *w);

/* Notes what the calling task is about to wait on (and, with
 * WEFT__WAITING_NOTHING, that it has stopped). Cheap: a coarse clock. */
void weft__task_waiting(weft__task *self, enum weft__waiting what,
                        const weft__task *on);

/* weft_cancel, weft_task_uncancel and weft_task_unref on a record. */
int weft__task_cancel(weft__task *task);
int weft__task_uncancel(weft__task *task);
void weft__task_unref(weft__task *task);

/* Releases what a finished task held for running, on w, the worker that
 * ran it: its stack reservation, its place in the live count and the
 * runtime's reference. Its stack has already been returned by the
 * scheduler. */
void weft__task_retire(struct weft__worker *w, weft__task *t);

/* The live count (rt->live) is the live tasks plus the shares workers
 * hold: a worker takes a batch to spawn from, and a task it retires adds
 * one to its share. Its share goes back when it has nothing to run (this
 * call), which stops the runtime when the count reaches 0, or when the
 * share grows past two batches. */
void weft__live_flush(struct weft__worker *w);

#endif /* WEFT_SCHED_TASK_H */
