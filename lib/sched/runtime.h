/* The runtime: its workers, the global queue, the idle set, the stack and
 * task-record pools, and the count of live tasks. */
#ifndef WEFT_SCHED_RUNTIME_H
#define WEFT_SCHED_RUNTIME_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sched/idle.h"
#include "sched/globalq.h"
#include "core/internal.h"

typedef struct weft__task weft__task; /* sched/task.h */
#include "core/list.h"
#include "sched/stack.h"
#include "core/thread.h"

struct weft__worker;

struct weft__runtime {
    unsigned nworkers;
    struct weft__worker **workers;
    unsigned default_stack_cls;
    struct weft__globalq globalq; /* the global queue */
    struct weft__idle idle;       /* searching and parked workers */
    struct weft__stack_pool stacks;
    uint64_t live;        /* atomic: tasks created and not yet retired,
                             plus the workers' shares (weft__live_flush) */
    uint32_t stopping;    /* atomic: set once live fell to 0 */
    weft__task *main;      /* the task weft_run started */
    bool debug;           /* debug mode */
    int64_t slow_task_ms; /* tasks running this long are reported
                             (watchdog.c); 0: never */
    struct watchdog *watchdog;           /* or NULL */
    struct weft__thread watchdog_thread;
    struct weft__thread dump_thread; /* debug mode: dumps on SIGUSR1 */
    uint32_t draining;    /* atomic: main has returned; new tasks are
                             created cancelled */
    uint32_t foreign_wakers; /* atomic: threads outside the runtime in the
                                middle of waking one of its tasks */
    /* Task structs the worker caches overflowed into; kept until the
     * runtime ends (then for later runs: sched/records.h), so that a
     * burst of tasks is paid for once. */
    pthread_mutex_t task_pool_lock;
    struct weft__slink *task_pool; /* a stack, through weft__task.qlink */
    struct weft__procpool *procs;  /* the process pool, or NULL */
    unsigned blocking_threads;     /* the default pool's maximum */
    struct weft_executor *blocking; /* atomic: the default pool, made on
                                       first use */
};

/* Claims the process's one runtime slot for weft_run: false if another
 * runtime is running (weft_run then fails with -EBUSY). end gives it back. */
bool weft__runtime_begin(void);
void weft__runtime_end(void);

/* True while weft_run() is running anywhere in the process. */
bool weft__runtime_active(void);

/* Called when the live count falls to 0 (weft__live_flush): tells every
 * worker to leave its scheduling loop. */
void weft__runtime_stop(struct weft__runtime *rt);

/* True once weft__runtime_stop() has been called. */
bool weft__runtime_stopping(const struct weft__runtime *rt);

/* Called by the main task as it returns: cancels every other live task,
 * as asyncio.run() does, and says on stderr how many there were. */
void weft__runtime_main_ended(struct weft__runtime *rt);

/* The running runtime, or NULL, with the lock that keeps it from ending
 * held until weft__runtime_release (call it in both cases). */
struct weft__runtime *weft__runtime_acquire(void);
void weft__runtime_release(void);

/* Makes rt (or NULL) the runtime that weft__runtime_acquire returns;
 * called between acquire and release. */
void weft__runtime_publish(struct weft__runtime *rt);

/* The published runtime, without the lock: for the report of a fatal
 * signal, when the process is about to end anyway. */
struct weft__runtime *weft__runtime_peek(void);

/* True once main has returned. */
bool weft__runtime_draining(const struct weft__runtime *rt);

/* Default task stack in bytes when neither an option nor the environment
 * says otherwise. */
#define WEFT__DEFAULT_STACK_SIZE ((size_t)64 << 10)

#endif /* WEFT_SCHED_RUNTIME_H */
