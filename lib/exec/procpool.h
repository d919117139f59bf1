/* The process pool (weft/process.h): the registry of functions, the fork
 * server and its worker processes, and the wire formats between them.
 *
 * Processes:
 *
 *   program --ctl (SOCK_SEQPACKET)--> fork server --fork--> workers
 *      \______________ one SOCK_STREAM socket per worker ______/
 *
 * The fork server is forked by weft_run before it starts any thread, and
 * stays single-threaded; it forks every worker, the first ones and the
 * replacements, so no fork ever happens in a threaded process. It sends
 * the program its end of each worker's socket over ctl (SCM_RIGHTS). On
 * ctl's end of file it kills and reaps its workers and exits, and the
 * program reaps it.
 */
#ifndef WEFT_EXEC_PROCPOOL_H
#define WEFT_EXEC_PROCPOOL_H

#include <stdint.h>
#include <sys/types.h>

#include "core/internal.h"

struct weft__runtime;

/* Requests on ctl, one record each. */
enum { WEFT__FS_SPAWN = 1, WEFT__FS_KILL = 2 };

struct weft__fs_request {
    uint32_t op;
    int32_t pid;         /* WEFT__FS_KILL: the worker to kill */
};

/* The fork server's answer to SPAWN, with the socket attached. */
struct weft__fs_reply {
    int32_t pid;         /* the new worker, or 0 */
    int32_t err;         /* 0, or the negative errno of the failure */
};

/* A call, program to worker: this header, then len bytes of input. */
struct weft__call_header {
    uint32_t fn;         /* index in the registry */
    uint32_t pad;
    uint64_t len;
};

/* Its answer: this header, then len bytes of output. */
struct weft__reply_header {
    int32_t status;      /* 0, or the function's error */
    uint32_t pad;
    uint64_t len;
};

/* The registry, frozen while a runtime runs (register refuses then);
 * freeze waits for a registration in progress as weft_run starts. */
void weft__process_freeze(void);
unsigned weft__process_fn_count(void);
weft_process_fn weft__process_fn(unsigned index);
/* The index of name, or -ENOENT. */
int weft__process_fn_find(const char *name);

/* Starts the fork server; it is the caller's child. Returns 0 and its
 * pid and the program's end of ctl, or -errno. */
int weft__forkserver_start(pid_t *pid, int *ctl);

/* Starts rt's pool if any function is registered, with `size` workers.
 * Called by weft_run before any thread starts. Returns 0 or -errno. */
int weft__procpool_start(struct weft__runtime *rt, unsigned size);

/* Stops rt's pool, if it has one: every worker and the fork server are
 * killed and reaped. Called by weft_run once every task has ended. */
void weft__procpool_stop(struct weft__runtime *rt);

#endif /* WEFT_EXEC_PROCPOOL_H */
