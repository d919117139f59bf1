/* Child processes (weft/subprocess.h).
 *
 * posix_spawnp starts the child, pidfd_open gives a descriptor for it,
 * and from then on the child is a descriptor like any other to the I/O
 * layer (sched/iowait.h): the pidfd becomes readable when the child
 * ends, so a wait reads the tick, tries waitid(P_PIDFD, WNOHANG), and
 * suspends for an edge after that tick while the child runs. No SIGCHLD
 * handler, no waitpid(-1), no fork.
 *
 * Between posix_spawnp and pidfd_open the child is known by its pid
 * alone. The pid cannot be reused meanwhile: it stays the child's (a
 * zombie, if it has ended) until its parent, this process, reaps it, and
 * weft reaps only through the pidfd. A program that reaps with
 * waitpid(-1), or sets SIGCHLD to SIG_IGN, breaks that; weft then reports
 * -ECHILD.
 *
 * glibc's posix_spawn runs the child with CLONE_VM | CLONE_VFORK: the
 * calling thread waits until the child has called execve, and an execve
 * that failed is reported by posix_spawn's return value (glibc reaps the
 * failed child). So a missing program is an error of
 * weft_subprocess_exec, not an exit status 127.
 *
 * The I/O layer lets one task at a time wait on a descriptor; several
 * tasks waiting for one child take turns under a weft lock.
 *
 * A child closed before it was reaped goes on a list of orphans (the
 * record, with its pidfd), swept with waitid(WNOHANG) at each exec and
 * close, and once more at the runtime's end, when those still running
 * are let go: Python's subprocess module does the same (_cleanup).
 */
#include "io/subprocess.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/atomic.h"
#include "core/clock.h"
#include "io/socket.h"
#include "io/stream.h"
#include "sched/iowait.h"
#include "sched/loop.h"
#include "sched/scope.h"
#include "sched/task.h"
#include "sched/wait.h"

extern char **environ;

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define PROC_MAGIC 0x7370726fu /* "spro" */

struct weft_subprocess {
    uint32_t magic;
    pid_t pid;
    int pidfd;
    struct weft__io io;       /* the pidfd's: readable once the child ended */
    weft_lock turn;           /* held by the task that waits on io */
    uint32_t reaped;          /* atomic: status is set */
    int status;               /* exit code, or minus the signal */
    uint32_t users;           /* atomic: calls under way */
    uint32_t closing;         /* atomic: weft_subprocess_close began */
    weft_stream *std[3];      /* the pipes' streams (stdin, stdout,
                                 stderr), or NULL */
    struct weft_subprocess *next_orphan;
};

static bool valid(const weft_subprocess *p)
{
    return p != NULL && p->magic == PROC_MAGIC;
}

static bool timeout_ok(int64_t t)
{
    return t >= 0 || t == WEFT_FOREVER;
}

/* What is left of a deadline (-1: none) as a timeout. */
static int64_t left_ms(int64_t deadline)
{
    if (deadline < 0)
        return WEFT_FOREVER;
    int64_t left = deadline - weft__now_ms();
    return left > 0 ? left : 0;
}

/* --- system calls (errno is read next to each: see weft(7)) ------------- */

/* Reaps p's child if it has ended. Returns 1 (reaped: status is set), 0
 * (it runs on), or a negative errno (-ECHILD: reaped by someone else). */
static __attribute__((noinline)) int try_reap(weft_subprocess *p)
{
    siginfo_t si;

    for (;;) {
        memset(&si, 0, sizeof si);
        if (waitid((idtype_t)P_PIDFD, (id_t)p->pidfd, &si,
                   WEXITED | WNOHANG) == 0)
            break;
        if (errno != EINTR)
            return -errno;
    }
    if (si.si_pid == 0)
        return 0;
    p->status = si.si_code == CLD_EXITED ? si.si_status : -si.si_status;
    /* Pairs with the acquire loads of reaped: status is seen set. */
    weft__store_release_u32(&p->reaped, 1);
    return 1;
}

static __attribute__((noinline)) int send_signal(weft_subprocess *p, int sig)
{
    if (weft__load_acquire_u32(&p->reaped))
        return 0; /* gone: nothing to signal, as Python's send_signal */
    if (syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0) == 0)
        return 0;
    /* Reaped by a waiter in the meantime. */
    return errno == ESRCH ? 0 : -errno;
}

static __attribute__((noinline)) int open_pidfd(pid_t pid)
{
    long fd = syscall(SYS_pidfd_open, pid, 0);
    siginfo_t si;

    if (fd < 0) {
        if (errno == ESRCH)
            return -ECHILD; /* no longer ours to watch: someone reaped it */
        return errno == ENOSYS ? -ENOTSUP : -errno;
    }
    /* Someone else reaped the child before pidfd_open (waitpid(-1), or
     * SIGCHLD ignored) and the pid went to another process: then it is
     * not our child, and must never be signalled. WNOWAIT leaves ours
     * to be reaped. */
    memset(&si, 0, sizeof si);
    if (waitid((idtype_t)P_PIDFD, (id_t)fd, &si,
               WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD) {
        (void)close((int)fd);
        return -ECHILD;
    }
    return (int)fd;
}

/* A child that cannot be watched: killed and reaped at once (SIGKILL is
 * not delayed, so the worker blocks for a moment only). */
static void kill_and_reap(pid_t pid)
{
    (void)kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

/* --- orphans --------------------------------------------------------------- */

static weft__spinlock orphans_lock = WEFT__SPINLOCK_INIT;
static weft_subprocess *orphans;

static void proc_free(weft_subprocess *p)
{
    p->magic = 0;
    (void)weft_lock_destroy(&p->turn);
    if (p->pidfd >= 0)
        (void)close(p->pidfd);
    weft__free(p);
}

/* Reaps the orphans that have ended; at_end, lets go of the others too. */
static void sweep(bool at_end)
{
    weft__spin_lock(&orphans_lock);
    weft_subprocess *list = orphans;
    orphans = NULL;
    weft__spin_unlock(&orphans_lock);
    if (list == NULL)
        return;
    weft_subprocess *keep = NULL, *last = NULL;
    while (list != NULL) {
        weft_subprocess *p = list;
        list = p->next_orphan;
        if (try_reap(p) != 0 || at_end) {
            proc_free(p);
        } else {
            p->next_orphan = keep;
            if (keep == NULL)
                last = p;
            keep = p;
        }
    }
    if (keep != NULL) {
        weft__spin_lock(&orphans_lock);
        last->next_orphan = orphans;
        orphans = keep;
        weft__spin_unlock(&orphans_lock);
    }
}

static void orphan(weft_subprocess *p)
{
    weft__spin_lock(&orphans_lock);
    p->next_orphan = orphans;
    orphans = p;
    weft__spin_unlock(&orphans_lock);
}

void weft__subprocess_orphans_end(void)
{
    sweep(true);
}

/* --- starting -------------------------------------------------------------- */

static bool opts_ok(const weft_subprocess_opts *o)
{
    if (o == NULL)
        return true;
    for (size_t i = 0; i < WEFT__ARRAY_SIZE(o->reserved); i++)
        if (o->reserved[i] != NULL)
            return false;
    const weft_stdio_mode mode[3] = { o->stdin_mode, o->stdout_mode,
                                      o->stderr_mode };
    const int fd[3] = { o->stdin_fd, o->stdout_fd, o->stderr_fd };
    for (int i = 0; i < 3; i++) {
        unsigned m = (unsigned)mode[i];
        if (m > (unsigned)WEFT_STDIO_STDOUT ||
            (m == (unsigned)WEFT_STDIO_STDOUT && i != 2) ||
            (m == (unsigned)WEFT_STDIO_FD && fd[i] < 0))
            return false;
    }
    return true;
}

/* The child's side of its three descriptors, made ready in the parent:
 * pipes (both ends close-on-exec; the child gets its end through dup2,
 * which clears the flag on the copy) and given descriptors. An end below
 * 3 that is not the child's descriptor of that number is moved above 2
 * first, so that the dup2s in the child cannot overwrite each other's
 * sources. */
struct ends {
    int child[3];  /* what the child gets as 0, 1, 2, or -1 */
    bool own[3];   /* child[i] is ours to close after the spawn */
    int parent[3]; /* the pipes' other ends, or -1 */
};

static __attribute__((noinline)) int make_ends(struct ends *e,
                                               const weft_stdio_mode mode[3],
                                               const int fd[3])
{
    for (int i = 0; i < 3; i++) {
        if (mode[i] == WEFT_STDIO_PIPE) {
            int fds[2];
            if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
            e->child[i] = i == 0 ? fds[0] : fds[1];
            e->parent[i] = i == 0 ? fds[1] : fds[0];
            e->own[i] = true;
        } else if (mode[i] == WEFT_STDIO_FD) {
            if (fcntl(fd[i], F_GETFD) < 0)
                return -errno; /* -EBADF: not open */
            e->child[i] = fd[i];
        }
        if (e->child[i] >= 0 && e->child[i] < 3 && e->child[i] != i) {
            int moved = fcntl(e->child[i], F_DUPFD_CLOEXEC, 3);
            if (moved < 0)
                return -errno;
            if (e->own[i])
                (void)close(e->child[i]);
            e->child[i] = moved;
            e->own[i] = true;
        }
    }
    return 0;
}

static void close_child_ends(struct ends *e)
{
    for (int i = 0; i < 3; i++) {
        if (e->own[i])
            (void)close(e->child[i]);
        e->own[i] = false;
        e->child[i] = -1;
    }
}

/* posix_spawnp with the child's descriptors, directory and signals set
 * up. Returns 0 or a negative errno. */
static int spawn(pid_t *pid, char *const argv[], const weft_subprocess_opts *o,
                 const weft_stdio_mode mode[3], const struct ends *e)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t all, none;
    int rc;

    if ((rc = posix_spawn_file_actions_init(&fa)) != 0)
        return -rc;
    if ((rc = posix_spawnattr_init(&attr)) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        return -rc;
    }
    for (int i = 0; i < 3 && rc == 0; i++) {
        switch (mode[i]) {
        case WEFT_STDIO_PIPE:
        case WEFT_STDIO_FD:
            rc = posix_spawn_file_actions_adddup2(&fa, e->child[i], i);
            break;
        case WEFT_STDIO_DEVNULL:
            rc = posix_spawn_file_actions_addopen(&fa, i, "/dev/null",
                                                  i == 0 ? O_RDONLY : O_WRONLY,
                                                  0);
            break;
        case WEFT_STDIO_STDOUT:
            rc = posix_spawn_file_actions_adddup2(&fa, 1, 2);
            break;
        case WEFT_STDIO_INHERIT:
            break;
        }
    }
    if (rc == 0 && o != NULL && o->cwd != NULL) {
#ifdef HAVE_POSIX_SPAWN_FILE_ACTIONS_ADDCHDIR_NP
        rc = posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
#else
        rc = ENOTSUP;
#endif
    }
    /* Every signal at its default action (an ignored one would stay
     * ignored across execve: SIGPIPE, which weft_run ignores, above all),
     * and none blocked. */
    sigfillset(&all);
    /* glibc's sigfillset leaves out its two internal signals (32 and 33,
     * for thread cancellation and set*id), and its posix_spawn sets them
     * to SIG_IGN in the child, which execve keeps; fork and exec would
     * leave them at their defaults. Asking for those too (the child's
     * spawn code tests the raw bits) gives the program what fork and
     * exec give. A sigset_t is a bit array: signal n is bit n - 1. */
    if (SIGRTMIN > 33) {
        unsigned long *word = (unsigned long *)(void *)&all;
        const unsigned bits = 8 * sizeof *word;
        for (unsigned n = 32; n <= 33; n++)
            word[(n - 1) / bits] |= 1ul << ((n - 1) % bits);
    }
    sigemptyset(&none);
    if (rc == 0)
        rc = posix_spawnattr_setsigdefault(&attr, &all);
    if (rc == 0)
        rc = posix_spawnattr_setsigmask(&attr, &none);
    if (rc == 0)
        rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF |
                                                 POSIX_SPAWN_SETSIGMASK);
    if (rc == 0)
        rc = posix_spawnp(pid, argv[0], &fa, &attr, argv,
                          o != NULL && o->envp != NULL ? o->envp : environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    return -rc;
}

int weft_subprocess_exec(weft_subprocess **proc, char *const argv[],
                         const weft_subprocess_opts *opts)
{
    if (proc != NULL)
        *proc = NULL;
    if (proc == NULL || argv == NULL || argv[0] == NULL ||
        argv[0][0] == '\0' || !opts_ok(opts))
        return -EINVAL;
    weft__task *self = weft__task_self();
    if (self == NULL)
        return -EPERM;
    sweep(false);

    const weft_stdio_mode mode[3] = {
        opts != NULL ? opts->stdin_mode : WEFT_STDIO_INHERIT,
        opts != NULL ? opts->stdout_mode : WEFT_STDIO_INHERIT,
        opts != NULL ? opts->stderr_mode : WEFT_STDIO_INHERIT,
    };
    const int fd[3] = { opts != NULL ? opts->stdin_fd : -1,
                        opts != NULL ? opts->stdout_fd : -1,
                        opts != NULL ? opts->stderr_fd : -1 };
    struct ends e = { { -1, -1, -1 }, { false, false, false }, { -1, -1, -1 } };
    weft_subprocess *p = weft__calloc(1, sizeof *p);
    if (p == NULL)
        return -ENOMEM;
    p->pidfd = -1;
    int rc = weft_lock_init(&p->turn);
    if (rc < 0) {
        weft__free(p);
        return rc;
    }
    rc = make_ends(&e, mode, fd);
    /* The caller's ends become streams before the child starts, so that
     * nothing can fail once it runs but the pidfd. */
    for (int i = 0; i < 3 && rc == 0; i++) {
        if (e.parent[i] < 0)
            continue;
        rc = weft_stream_open_fd(&p->std[i], e.parent[i],
                                 opts != NULL ? opts->stream : NULL);
        e.parent[i] = -1; /* the stream's, or closed */
    }
    pid_t pid = -1;
    if (rc == 0)
        rc = spawn(&pid, argv, opts, mode, &e);
    close_child_ends(&e);
    if (rc == 0) {
        p->pid = pid;
        p->pidfd = open_pidfd(pid);
        if (p->pidfd < 0) {
            rc = p->pidfd;
            if (rc != -ECHILD)
                kill_and_reap(pid);
        }
    }
    if (rc < 0) {
        for (int i = 0; i < 3; i++) {
            if (e.parent[i] >= 0)
                (void)close(e.parent[i]);
            if (p->std[i] != NULL)
                (void)weft_stream_abort(p->std[i]);
        }
        p->pidfd = -1;
        proc_free(p);
        return rc;
    }
    weft__io_init(&p->io, p->pidfd);
    p->magic = PROC_MAGIC;
    *proc = p;
    return 0;
}

/* --- calls: entering and leaving ------------------------------------------ */

/* Checks p and counts the call in its users. Returns 0 with *self set,
 * or -EINVAL, -EPERM, -EBADF (closing), or the interruption a checkpoint
 * delivers. */
static int enter(weft__task **self, weft_subprocess *p, bool checkpoint)
{
    if (!valid(p))
        return -EINVAL;
    *self = weft__task_self();
    if (*self == NULL)
        return -EPERM;
    if (checkpoint) {
        int rc = weft__check_interrupt(*self);
        if (rc < 0)
            return rc;
    }
    /* A full barrier, as is close's CAS of closing before it reads
     * users: close sees this call, or this call sees closing. */
    weft__faa_u32(&p->users, 1);
    if (weft__load_acquire_u32(&p->closing)) {
        weft__faa_u32(&p->users, (uint32_t)-1);
        return -EBADF;
    }
    return 0;
}

static void leave(weft_subprocess *p)
{
    /* The last touch of p: close may free it right after. */
    weft__faa_u32(&p->users, (uint32_t)-1);
}

/* --- waiting ----------------------------------------------------------------- */

/* Waits until the child is reaped, until deadline (-1: none). */
static int wait_child(weft__task *self, weft_subprocess *p, int64_t deadline)
{
    if (weft__load_acquire_u32(&p->reaped))
        return 0;
    int rc = weft_lock_acquire(&p->turn, left_ms(deadline));
    if (rc < 0)
        return rc;
    for (;;) {
        if (weft__load_acquire_u32(&p->reaped)) {
            rc = 0;
            break;
        }
        if (weft__load_acquire_u32(&p->closing)) {
            rc = -EBADF;
            break;
        }
        /* Read before waitid: an end that comes after it is an edge
         * after this tick, and the wait returns at once. */
        uint64_t ticks = weft__io_ticks(&p->io);
        rc = try_reap(p);
        if (rc != 0) {
            rc = rc > 0 ? 0 : rc;
            break;
        }
        int64_t left = WEFT_FOREVER;
        if (deadline >= 0 && (left = deadline - weft__now_ms()) <= 0) {
            rc = -ETIMEDOUT;
            break;
        }
        rc = weft__io_wait(self, &p->io, WEFT__IO_IN, ticks, left, 0,
                           WEFT__WAITING_CHILD);
        if (rc < 0)
            break;
    }
    (void)weft_lock_release(&p->turn);
    return rc;
}

int weft_subprocess_wait(weft_subprocess *proc, int *status,
                         int64_t timeout_ms)
{
    weft__task *self;

    if (!timeout_ok(timeout_ms))
        return -EINVAL;
    int rc = enter(&self, proc, true);
    if (rc < 0)
        return rc;
    rc = wait_child(self, proc, weft__io_deadline(timeout_ms));
    if (rc == 0 && status != NULL)
        *status = proc->status;
    leave(proc);
    return rc;
}

int weft_subprocess_signal(weft_subprocess *proc, int sig)
{
    if (!valid(proc) || sig < 0 || sig >= NSIG)
        return -EINVAL;
    /* Counted in users, as enter() does, though it needs no task: a
     * close cannot free proc, or close its pidfd for another child to
     * get the number, under the signal. */
    weft__faa_u32(&proc->users, 1);
    int rc = weft__load_acquire_u32(&proc->closing) ? -EBADF
                                                    : send_signal(proc, sig);
    leave(proc);
    return rc;
}

int weft_subprocess_terminate(weft_subprocess *proc, int64_t grace_ms)
{
    weft__task *self;

    if (!timeout_ok(grace_ms))
        return -EINVAL;
    int rc = enter(&self, proc, true);
    if (rc < 0)
        return rc;
    if (!weft__load_acquire_u32(&proc->reaped)) {
        rc = send_signal(proc, SIGTERM);
        if (rc == 0)
            rc = wait_child(self, proc, weft__io_deadline(grace_ms));
        if (rc == -ETIMEDOUT) {
            rc = send_signal(proc, SIGKILL);
            if (rc == 0)
                rc = wait_child(self, proc, -1);
        }
    }
    leave(proc);
    return rc;
}

pid_t weft_subprocess_pid(const weft_subprocess *proc)
{
    return valid(proc) ? proc->pid : -EINVAL;
}

static weft_stream *std_stream(weft_subprocess *proc, int i)
{
    if (!valid(proc) || weft__load_acquire_u32(&proc->closing))
        return NULL;
    return proc->std[i];
}

weft_stream *weft_subprocess_stdin(weft_subprocess *proc)
{
    return std_stream(proc, 0);
}

weft_stream *weft_subprocess_stdout(weft_subprocess *proc)
{
    return std_stream(proc, 1);
}

weft_stream *weft_subprocess_stderr(weft_subprocess *proc)
{
    return std_stream(proc, 2);
}

/* --- communicate ------------------------------------------------------------ */

/* One stream's share of a communicate, run by a task of its own or by
 * the caller. */
struct pump {
    weft_stream *st;
    const void *in;
    size_t in_len;
    void *buf;     /* what was read (weft__malloc'd) */
    size_t len;
    int64_t deadline;
    int rc;        /* -ECANCELED until the pump has run */
};

/* Writes the input, then closes stdin. A child that does not read it
 * all and closes its end is not an error (asyncio ignores the
 * BrokenPipeError too). */
static void *pump_in(void *arg)
{
    struct pump *pm = arg;
    int rc = 0;

    if (pm->in_len > 0)
        rc = weft_stream_write(pm->st, pm->in, pm->in_len,
                               left_ms(pm->deadline));
    if (rc == 0)
        rc = weft_stream_write_eof(pm->st, left_ms(pm->deadline));
    if (rc == -EPIPE || rc == -ECONNRESET)
        rc = 0;
    pm->rc = rc;
    return NULL;
}

static void *pump_out(void *arg)
{
    struct pump *pm = arg;

    pm->rc = weft_stream_read_all(pm->st, &pm->buf, &pm->len, SIZE_MAX,
                                  left_ms(pm->deadline));
    return NULL;
}

/* Awaits a pump task (cancelling it first if asked); NULL is none. */
static void pump_end(weft_task *t, bool cancel)
{
    if (t == NULL)
        return;
    if (cancel)
        (void)weft_cancel(t);
    /* A caller cancelled meanwhile has the task cancelled and awaited to
     * its end by weft_await itself: the pump never outlives the call,
     * whose frame holds its struct. */
    (void)weft_await(t, NULL);
    (void)weft_task_unref(t);
}

int weft_subprocess_communicate(weft_subprocess *proc, const void *in,
                                size_t in_len, void **out, size_t *out_len,
                                void **err, size_t *err_len,
                                int64_t timeout_ms)
{
    weft__task *self;

    if (out != NULL)
        *out = NULL;
    if (out_len != NULL)
        *out_len = 0;
    if (err != NULL)
        *err = NULL;
    if (err_len != NULL)
        *err_len = 0;
    if ((in == NULL && in_len > 0) || (out == NULL) != (out_len == NULL) ||
        (err == NULL) != (err_len == NULL) || !timeout_ok(timeout_ms))
        return -EINVAL;
    int rc = enter(&self, proc, true);
    if (rc < 0)
        return rc;
    if (in_len > 0 && proc->std[0] == NULL) {
        leave(proc);
        return -EINVAL;
    }
    int64_t deadline = weft__io_deadline(timeout_ms);
    struct pump pin = { .st = proc->std[0], .in = in, .in_len = in_len,
                        .deadline = deadline, .rc = -ECANCELED };
    struct pump pout = { .st = proc->std[1], .deadline = deadline };
    struct pump perr = { .st = proc->std[2], .deadline = deadline,
                         .rc = -ECANCELED };
    weft_task *tin = NULL, *terr = NULL;

    /* Input and stderr in tasks of their own, stdout here: none of the
     * three pipes waits for another, so none can fill up and stall the
     * child. */
    if (pin.st != NULL)
        rc = weft_spawn(&tin, pump_in, &pin);
    else
        pin.rc = 0;
    if (rc == 0 && perr.st != NULL)
        rc = weft_spawn(&terr, pump_out, &perr);
    else
        perr.rc = 0;
    if (rc == 0 && pout.st != NULL) {
        pump_out(&pout);
        rc = pout.rc;
    }
    pump_end(tin, rc < 0);
    pump_end(terr, rc < 0);
    if (rc == 0)
        rc = pin.rc;
    if (rc == 0)
        rc = perr.rc;
    if (rc == 0)
        rc = wait_child(self, proc, deadline);
    if (rc == 0 && out != NULL) {
        *out = pout.buf;
        *out_len = pout.len;
        pout.buf = NULL;
    }
    if (rc == 0 && err != NULL) {
        *err = perr.buf;
        *err_len = perr.len;
        perr.buf = NULL;
    }
    weft__free(pout.buf);
    weft__free(perr.buf);
    leave(proc);
    return rc;
}

/* --- closing ----------------------------------------------------------------- */

int weft_subprocess_close(weft_subprocess *proc)
{
    if (!valid(proc))
        return -EINVAL;
    weft__task *self = weft__task_self();
    if (self == NULL)
        return -EPERM;
    if (!weft__cas_u32(&proc->closing, 0, 1))
        return -EINVAL; /* another close is under way */
    /* End every wait: on the streams (their calls get -EBADF, and so do
     * those on their way in, since the streams stay allocated until the
     * users have left), and on the pidfd. */
    for (int i = 0; i < 3; i++)
        if (proc->std[i] != NULL)
            weft__stream_shut_down(self, proc->std[i]);
    weft__io_release(self, &proc->io);
    /* Pairs with the FAA of enter. A waiter queued for the turn gets it,
     * sees closing, and leaves. */
    while (weft__load_acquire_u32(&proc->users) != 0)
        weft__sched_yield(self);
    for (int i = 0; i < 3; i++) {
        if (proc->std[i] != NULL)
            (void)weft_stream_abort(proc->std[i]);
        proc->std[i] = NULL;
    }
    proc->magic = 0;
    if (weft__load_acquire_u32(&proc->reaped) || try_reap(proc) != 0)
        proc_free(proc);
    else
        orphan(proc);
    sweep(false);
    return 0;
}
