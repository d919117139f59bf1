/* The calling thread's worker, behind accessors the compiler cannot see
 * through.
 *
 * A task may suspend on one thread and resume on another. If the address
 * of a thread-local variable were computed inline, the compiler could keep
 * it in a callee-saved register across the switch and read the old
 * thread's copy (feasibility.md, section 5, saw exactly that). A call it
 * cannot inline or analyse forces a fresh read after every switch.
 */
#include "sched/worker.h"

#if defined(__GNUC__) && !defined(__clang__)
#define WEFT__OPAQUE __attribute__((noinline, noipa))
#else
#define WEFT__OPAQUE __attribute__((noinline))
#endif

/* initial-exec: a plain %fs-relative access, with no __tls_get_addr call
 * and nothing cached across calls. */
static __thread struct weft__worker *self_worker
    __attribute__((tls_model("initial-exec")));

WEFT__OPAQUE struct weft__worker *weft__worker_self(void)
{
    return self_worker;
}

WEFT__OPAQUE void weft__worker_set_self(struct weft__worker *w)
{
    self_worker = w;
}
