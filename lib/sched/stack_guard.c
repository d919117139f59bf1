/* The stack-overflow handler (see overflow.h). */
#include "core/internal.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sched/stack_guard.h"
#include "core/sys.h"
#include "sched/compact.h"
#include "sched/runtime.h"
#include "sched/stack.h"
#include "sched/task.h"
#include "sched/worker.h"

static struct sigaction previous;

/* Appends s to buf at *len, within cap; async-signal-safe. */
static void append(char *buf, size_t *len, size_t cap, const char *s)
{
    while (*s != '\0' && *len < cap)
        buf[(*len)++] = *s++;
}

static void append_u64(char *buf, size_t *len, size_t cap, uint64_t v)
{
    char digits[21];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0 && *len < cap)
        buf[(*len)++] = digits[--n];
}

static void append_task(char *buf, size_t *len, size_t cap,
                        const weft__task *t)
{
    append(buf, len, cap, "'");
    if (t->name != NULL) {
        append(buf, len, cap, t->name);
    } else {
        append(buf, len, cap, "task-");
        append_u64(buf, len, cap, t->id);
    }
    append(buf, len, cap, "'");
}

static void report_overflow(const weft__task *t)
{
    char line[128];
    size_t len = 0;

    append(line, &len, sizeof line - 1, "weft: stack overflow in task ");
    append_task(line, &len, sizeof line - 1, t);
    append(line, &len, sizeof line, "\n");
    ssize_t rc = write(STDERR_FILENO, line, len);
    (void)rc;
}

/* Debug mode: something used a pointer into the stack of a compact task
 * while it slept (sched/compact.h). */
static void report_compact(const weft__task *owner, const weft__task *t)
{
    char line[320];
    size_t len = 0;

    append(line, &len, sizeof line - 1,
           "weft: a pointer into the stack of compact task ");
    append_task(line, &len, sizeof line - 1, owner);
    append(line, &len, sizeof line - 1, " was used while it slept, by ");
    if (t != NULL) {
        append(line, &len, sizeof line - 1, "task ");
        append_task(line, &len, sizeof line - 1, t);
    } else {
        append(line, &len, sizeof line - 1, "a thread outside its tasks");
    }
    append(line, &len, sizeof line - 1,
           " (WEFT_SPAWN_COMPACT: nothing may use its stack while it "
           "waits)");
    append(line, &len, sizeof line, "\n");
    ssize_t rc = write(STDERR_FILENO, line, len);
    (void)rc;
}

static void on_segv(int sig, siginfo_t *info, void *uctx)
{
    struct weft__worker *w = weft__worker_self();
    const weft__task *t = w != NULL ? w->current : NULL;

    uintptr_t addr = (uintptr_t)info->si_addr;
    if (t != NULL && t->stack != NULL) {
        uintptr_t lo = (uintptr_t)t->stack->lo;
        if (addr < lo && addr >= lo - weft__page_size()) {
            report_overflow(t);
            abort();
        }
    }
    struct weft__runtime *rt = w != NULL ? w->rt : weft__runtime_peek();
    if (rt != NULL && rt->debug) {
        const weft__task *owner = weft__compact_owner(rt, addr);
        if (owner != NULL) {
            report_compact(owner, t);
            abort();
        }
    }
    /* Not ours: let the previous disposition have it. */
    if ((previous.sa_flags & SA_SIGINFO) && previous.sa_sigaction != NULL) {
        previous.sa_sigaction(sig, info, uctx);
    } else if (previous.sa_handler != SIG_DFL &&
               previous.sa_handler != SIG_IGN) {
        previous.sa_handler(sig);
    } else {
        /* Returning re-executes the faulting access, which now meets the
         * default action and dumps core where it happened. */
        signal(sig, SIG_DFL);
    }
}

size_t weft__overflow_altstack_size(void)
{
    long min = sysconf(_SC_SIGSTKSZ);
    size_t size = 64 << 10;
    if (min > 0 && (size_t)min > size)
        size = (size_t)min;
    return size;
}

int weft__overflow_install(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, &previous) < 0)
        return -errno;
    return 0;
}

void weft__overflow_uninstall(void)
{
    sigaction(SIGSEGV, &previous, NULL);
}
