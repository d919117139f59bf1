/* Introspection and debug mode: task dumps (weft_dump, and on SIGUSR1),
 * and reports of tasks that hold a worker too long. */
#include "sched/debug.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/atomic.h"
#include "core/clock.h"
#include "sched/runtime.h"
#include "sched/task.h"
#include "sched/wait.h"
#include "sched/worker.h"

/* --- how long the running task has run (for dumps) ------------------------- */

void weft__debug_slice_start(struct weft__worker *w)
{
    weft__store_relaxed_u64((uint64_t *)&w->slice_start,
                            (uint64_t)weft__now_ns());
}


/* --- task dumps ----------------------------------------------------------------- */

struct row {
    uint64_t id;
    char name[WEFT_TASK_NAME_MAX + 1];
    const char *state;
    uint32_t worker;
    uint32_t waiting;
    uint64_t waiting_on;
    int64_t since;       /* ms, or 0 */
    int64_t running_ns;  /* how long it has run without suspending, or 0 */
};

static const char *waiting_name(uint32_t what)
{
    switch (what) {
    case WEFT__WAITING_SLEEP: return "sleep";
    case WEFT__WAITING_TASK: return "task";
    case WEFT__WAITING_TASKS: return "tasks";
    case WEFT__WAITING_GROUP: return "group";
    case WEFT__WAITING_LOCK: return "lock";
    case WEFT__WAITING_SEMAPHORE: return "semaphore";
    case WEFT__WAITING_EVENT: return "event";
    case WEFT__WAITING_CONDITION: return "condition";
    case WEFT__WAITING_BARRIER: return "barrier";
    case WEFT__WAITING_QUEUE: return "queue";
    case WEFT__WAITING_CHANNEL: return "channel";
    case WEFT__WAITING_GENERATOR: return "generator";
    case WEFT__WAITING_LIMITER: return "rate limiter";
    case WEFT__WAITING_THREAD: return "to_thread";
    case WEFT__WAITING_PROCESS: return "process";
    case WEFT__WAITING_FD: return "fd";
    case WEFT__WAITING_FUTURE: return "future";
    case WEFT__WAITING_CHILD: return "child";
    case WEFT__WAITING_SIGNAL: return "signal";
    default: return "-";
    }
}

/* Copies what the dump shows of t; called with its registry locked, which
 * keeps it alive. */
static void snapshot(struct weft__runtime *rt, weft__task *t, struct row *r,
                     int64_t now_ns)
{
    r->id = t->id;
    weft__spin_lock(&t->lock); /* the name may be changing */
    if (t->name != NULL)
        snprintf(r->name, sizeof r->name, "%s", t->name);
    else
        snprintf(r->name, sizeof r->name, "task-%" PRIu64, t->id);
    weft__spin_unlock(&t->lock);
    r->worker = weft__load_relaxed_u32(&t->last_worker);
    r->waiting = weft__load_relaxed_u32(&t->waiting);
    r->waiting_on = weft__load_relaxed_u64(&t->waiting_on);
    r->since = (int64_t)weft__load_relaxed_u64((const uint64_t *)&t->waiting_since);
    r->running_ns = 0;
    enum weft__wait_state state = weft__wait_state_of(t);
    if (r->worker == WEFT__NEVER_RAN) {
        r->state = "pending";
    } else if (weft__load_relaxed_ptr((void *const *)&rt->workers[r->worker]->current) == t) {
        struct weft__worker *w = rt->workers[r->worker];
        r->state = "running";
        int64_t start = (int64_t)weft__load_relaxed_u64((const uint64_t *)&w->slice_start);
        r->running_ns = start != 0 ? now_ns - start : 0;
    } else if (state == WEFT__WAIT_SUSPENDING ||
               state == WEFT__WAIT_SUSPENDED) {
        r->state = "waiting";
    } else {
        r->state = "ready";
    }
}

static void print_row(FILE *out, const struct row *r, int64_t now_ms)
{
    char worker[16], on[40], since[32];

    if (r->worker == WEFT__NEVER_RAN)
        snprintf(worker, sizeof worker, "-");
    else
        snprintf(worker, sizeof worker, "%u", r->worker);
    if (r->waiting == WEFT__WAITING_TASK)
        snprintf(on, sizeof on, "task %" PRIu64, r->waiting_on);
    else
        snprintf(on, sizeof on, "%s",
                 strcmp(r->state, "waiting") == 0 ? waiting_name(r->waiting) : "-");
    if (r->running_ns > 0)
        snprintf(since, sizeof since, "running %.3f s", (double)r->running_ns / 1e9);
    else if (strcmp(r->state, "waiting") == 0 && r->since != 0)
        snprintf(since, sizeof since, "%.3f s", (double)(now_ms - r->since) / 1e3);
    else
        snprintf(since, sizeof since, "-");
    fprintf(out, "%8" PRIu64 "  %-8s %-6s %-24s %-16s %s\n", r->id, r->state,
            worker, r->name, on, since);
}

int weft_dump(FILE *out)
{
    struct weft__runtime *rt;
    int total = 0;

    if (out == NULL)
        return -EINVAL;
    rt = weft__runtime_acquire();
    if (rt == NULL) {
        weft__runtime_release();
        return -ESRCH;
    }
    int64_t now_ns = weft__now_ns(), now_ms = weft__coarse_now_ms();
    fprintf(out, "weft: tasks of a runtime with %u worker%s\n", rt->nworkers,
            rt->nworkers == 1 ? "" : "s");
    fprintf(out, "%8s  %-8s %-6s %-24s %-16s %s\n", "id", "state", "worker",
            "name", "waiting on", "for");
    for (unsigned i = 0; i < rt->nworkers; i++) {
        struct weft__registry *reg = &rt->workers[i]->registry;
        /* Copy the rows under the lock, print them after it: a slow FILE
         * must not hold up the workers spawning on this registry. */
        weft__spin_lock(&reg->lock);
        uint64_t want = reg->count + 16;
        weft__spin_unlock(&reg->lock);
        struct row *rows = weft__malloc(want * sizeof *rows);
        if (rows == NULL) {
            fprintf(out, "  (no memory to list the tasks of worker %u)\n", i);
            continue;
        }
        uint64_t n = 0;
        weft__spin_lock(&reg->lock);
        struct weft__list *it;
        weft__list_foreach(it, &reg->tasks) {
            if (n == want)
                break;
            weft__task *t = weft__list_entry(it, weft__task, reg_link);
            /* Finished, kept only by a handle: no longer a task to show. */
            if (weft__load_acquire_u32(&t->done))
                continue;
            snapshot(rt, t, &rows[n++], now_ns);
        }
        weft__spin_unlock(&reg->lock);
        for (uint64_t k = 0; k < n; k++)
            print_row(out, &rows[k], now_ms);
        total += (int)n;
        weft__free(rows);
    }
    fflush(out);
    weft__runtime_release();
    return total;
}

/* --- SIGUSR1 ----------------------------------------------------------------------- */

/* The handler only writes a byte to a pipe; a thread of its own reads it
 * and writes the dump, taking no lock a stuck worker could hold: the
 * registries' locks are held for a few instructions at a time. */
static int dump_pipe[2] = { -1, -1 };
static struct sigaction previous_usr1;

static void on_usr1(int sig)
{
    char c = 'd';
    (void)sig;
    ssize_t rc = write(dump_pipe[1], &c, 1);
    (void)rc;
}

static void *dump_thread(void *arg)
{
    (void)arg;
    for (;;) {
        char c;
        ssize_t n = read(dump_pipe[0], &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || c == 'q')
            return NULL;
        (void)weft_dump(stderr);
    }
}

int weft__debug_start(struct weft__runtime *rt)
{
    struct sigaction sa;
    int rc;

    /* Close-on-exec, as every descriptor of weft's: a child started
     * meanwhile (weft_subprocess_exec) must not inherit it. */
    if (pipe2(dump_pipe, O_CLOEXEC) < 0)
        return -errno;
    /* fprintf on a FILE needs more stack than the scheduler does. */
    rc = weft__thread_start(&rt->dump_thread, (size_t)1 << 20, dump_thread, NULL);
    if (rc < 0) {
        close(dump_pipe[0]);
        close(dump_pipe[1]);
        dump_pipe[0] = dump_pipe[1] = -1;
        return rc;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, &previous_usr1);
    return 0;
}

void weft__debug_stop(struct weft__runtime *rt)
{
    char q = 'q';

    if (rt->dump_thread.stack == NULL)
        return;
    sigaction(SIGUSR1, &previous_usr1, NULL);
    ssize_t rc = write(dump_pipe[1], &q, 1);
    (void)rc;
    weft__thread_join(&rt->dump_thread);
    close(dump_pipe[0]);
    close(dump_pipe[1]);
    dump_pipe[0] = dump_pipe[1] = -1;
}
