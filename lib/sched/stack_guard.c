/* The stack-overflow handler (see overflow.h). */
#include "core/internal.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sched/stack_guard.h"
#include "core/sys.h"
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

static void report_overflow(const weft__task *t)
{
    char line[128];
    size_t len = 0;

    append(line, &len, sizeof line - 2, "weft: stack overflow in task '");
    if (t->name != NULL) {
        append(line, &len, sizeof line - 2, t->name);
    } else {
        append(line, &len, sizeof line - 2, "task-");
        append_u64(line, &len, sizeof line - 2, t->id);
    }
    append(line, &len, sizeof line - 1, "'\n");
    ssize_t rc = write(STDERR_FILENO, line, len);
    (void)rc;
}

static void on_segv(int sig, siginfo_t *info, void *uctx)
{
    struct weft__worker *w = weft__worker_self();
    const weft__task *t = w != NULL ? w->current : NULL;

    if (t != NULL && t->stack != NULL) {
        uintptr_t addr = (uintptr_t)info->si_addr;
        uintptr_t lo = (uintptr_t)t->stack->lo;
        if (addr < lo && addr >= lo - weft__page_size()) {
            report_overflow(t);
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
