/* The program's side of the process pool: starting and stopping it, and
 * weft_process_call (see procpool.h).
 *
 * Each worker is a slot. A semaphore counts the free slots, so callers
 * wait for one in FIFO order and can be cancelled while they wait. A slot
 * whose worker died (or was killed because its caller was cancelled in
 * the middle of a call, which leaves the socket mid-message) is marked
 * dead, and the next caller to take it asks the fork server for a new
 * worker first. The calling task does the socket I/O itself, suspending
 * on the worker's readiness whenever the socket would block.
 */
#include "exec/procpool.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/atomic.h"
#include "sched/iowait.h"
#include "sched/runtime.h"
#include "sched/wait.h"
#include "sched/scope.h"
#include "sched/task.h"

struct slot {
    int fd;                  /* the program's end of the socket; -1: dead */
    struct weft__io io;      /* fd's readiness */
    pid_t pid;
    struct slot *next_free;
};

struct weft__procpool {
    pid_t server;
    int ctl;                 /* SOCK_SEQPACKET to the fork server */
    struct weft__io ctl_io;  /* ctl's readiness, registered until the end */
    unsigned size;
    struct slot *slots;
    weft__spinlock spin;     /* guards free and the counters */
    struct slot *free;
    weft_semaphore available; /* free slots */
    weft_lock spawn_lock;    /* one SPAWN exchange on ctl at a time */
    weft_process_stats stats;
};

/* --- asking the fork server ------------------------------------------------------ */

/* Waits, shielded, for ctl to be ready in direction dir. An exchange
 * must not be torn, so if the task cannot wait (no memory to register
 * ctl), the worker blocks in poll(2) instead: the fork server answers
 * at once. */
static void ctl_wait(struct weft__procpool *pool, weft__task *self,
                     unsigned dir, uint64_t ticks)
{
    if (weft__io_wait(self, &pool->ctl_io, dir, ticks, WEFT_FOREVER,
                      WEFT__WAIT_SHIELDED, WEFT__WAITING_PROCESS) == 0)
        return;
    struct pollfd p = { .fd = pool->ctl,
                        .events = dir == WEFT__IO_IN ? POLLIN : POLLOUT };
    while (poll(&p, 1, -1) < 0 && errno == EINTR)
        ;
}

/* One SPAWN exchange on a blocking or non-blocking ctl. self: the task
 * doing it, which waits on ctl shielded (the exchange must not be torn),
 * or NULL before the workers start, when blocking is fine. */
static int spawn_worker(struct weft__procpool *pool, weft__task *self,
                        struct slot *slot)
{
    struct weft__fs_request req = { .op = WEFT__FS_SPAWN };
    struct weft__fs_reply reply;
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    struct iovec iov = { .iov_base = &reply, .iov_len = sizeof reply };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = control.buf,
                          .msg_controllen = sizeof control.buf };
    ssize_t n;

    for (;;) {
        uint64_t ticks = weft__io_ticks(&pool->ctl_io);
        n = send(pool->ctl, &req, sizeof req, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n == (ssize_t)sizeof req)
            break;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN && self != NULL) {
            ctl_wait(pool, self, WEFT__IO_OUT, ticks);
            continue;
        }
        return -EAGAIN; /* the fork server is gone */
    }
    for (;;) {
        uint64_t ticks = weft__io_ticks(&pool->ctl_io);
        n = recvmsg(pool->ctl, &msg, MSG_CMSG_CLOEXEC |
                                         (self != NULL ? MSG_DONTWAIT : 0));
        if (n == (ssize_t)sizeof reply)
            break;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN && self != NULL) {
            ctl_wait(pool, self, WEFT__IO_IN, ticks);
            continue;
        }
        return -EAGAIN;
    }
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    int fd = -1;
    if (cm != NULL && cm->cmsg_level == SOL_SOCKET &&
        cm->cmsg_type == SCM_RIGHTS)
        memcpy(&fd, CMSG_DATA(cm), sizeof fd);
    if (reply.pid <= 0 || fd < 0) {
        if (fd >= 0)
            close(fd);
        return reply.err < 0 ? reply.err : -EAGAIN;
    }
    slot->fd = fd;
    weft__io_init(&slot->io, fd);
    slot->pid = reply.pid;
    return 0;
}

/* Kills slot's worker (through the fork server, which knows whether the
 * pid is still its child) and marks the slot dead. */
static void bury(struct weft__procpool *pool, weft__task *self,
                 struct slot *slot, bool kill)
{
    if (kill) {
        struct weft__fs_request req = { .op = WEFT__FS_KILL,
                                        .pid = slot->pid };
        /* A lost request only delays the worker's end: with its socket
         * closed it exits at its next read or write. */
        (void)send(pool->ctl, &req, sizeof req, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    weft__io_release(self, &slot->io);
    close(slot->fd);
    slot->fd = -1;
    weft__spin_lock(&pool->spin);
    pool->stats.deaths++;
    weft__spin_unlock(&pool->spin);
}

/* --- a call ------------------------------------------------------------------------ */

/* Sends all of iov (advancing it), waiting for room as needed. */
static int send_all(weft__task *self, struct weft__io *io,
                    struct iovec *iov, int iovcnt)
{
    while (iovcnt > 0) {
        if (iov->iov_len == 0) {
            iov++;
            iovcnt--;
            continue;
        }
        struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)iovcnt };
        uint64_t ticks = weft__io_ticks(io);
        ssize_t n = sendmsg(io->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                return -ECHILD; /* the worker is gone */
            int rc = weft__io_wait(self, io, WEFT__IO_OUT, ticks,
                                   WEFT_FOREVER, 0, WEFT__WAITING_PROCESS);
            if (rc < 0)
                return rc;
            continue;
        }
        for (size_t done = (size_t)n; done > 0;) {
            if (done >= iov->iov_len) {
                done -= iov->iov_len;
                iov->iov_len = 0;
                iov++;
                iovcnt--;
            } else {
                iov->iov_base = (char *)iov->iov_base + done;
                iov->iov_len -= done;
                done = 0;
            }
        }
    }
    return 0;
}

/* Receives exactly len bytes, waiting for them as needed. */
static int recv_all(weft__task *self, struct weft__io *io, void *buf,
                    size_t len)
{
    char *p = buf;

    while (len > 0) {
        uint64_t ticks = weft__io_ticks(io);
        ssize_t n = recv(io->fd, p, len, MSG_DONTWAIT);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 || errno != EAGAIN)
            return -ECHILD; /* end of file: the worker died */
        int rc = weft__io_wait(self, io, WEFT__IO_IN, ticks, WEFT_FOREVER,
                               0, WEFT__WAITING_PROCESS);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* One call on a live slot. Returns the call's result (0, the function's
 * error, -ENOMEM), or with *broken set, -ECHILD or the interruption that
 * left the socket mid-message. */
static int exchange(weft__task *self, struct slot *slot, int fn,
                    const void *in, size_t in_len, void **out,
                    size_t *out_len, bool *broken)
{
    struct weft__call_header call = { .fn = (uint32_t)fn, .len = in_len };
    struct weft__reply_header reply;
    struct iovec iov[2] = {
        { .iov_base = &call, .iov_len = sizeof call },
        /* sendmsg only reads it; iovec has no const pointer. */
        { .iov_base = (void *)(uintptr_t)in, .iov_len = in_len },
    };
    int rc;

    *broken = true;
    rc = send_all(self, &slot->io, iov, 2);
    if (rc == 0)
        rc = recv_all(self, &slot->io, &reply, sizeof reply);
    if (rc < 0)
        return rc;
    if (reply.len > WEFT_PROCESS_MSG_MAX || (reply.status != 0 && reply.len))
        return -ECHILD; /* not a worker of ours speaking */
    void *buf = NULL;
    if (reply.len > 0) {
        buf = weft__malloc((size_t)reply.len);
        if (buf == NULL) {
            /* Drain the output to keep the stream in step. */
            char sink[4096];
            for (uint64_t left = reply.len; left > 0;) {
                size_t n = left < sizeof sink ? (size_t)left : sizeof sink;
                rc = recv_all(self, &slot->io, sink, n);
                if (rc < 0)
                    return rc;
                left -= n;
            }
            *broken = false;
            return -ENOMEM;
        }
        rc = recv_all(self, &slot->io, buf, (size_t)reply.len);
        if (rc < 0) {
            weft__free(buf);
            return rc;
        }
    }
    *broken = false;
    if (reply.status < 0) {
        return reply.status;
    }
    if (out != NULL)
        *out = buf;
    else
        weft__free(buf);
    if (out_len != NULL)
        *out_len = (size_t)reply.len;
    return 0;
}

static struct slot *take_slot(struct weft__procpool *pool)
{
    weft__spin_lock(&pool->spin);
    struct slot *slot = pool->free;
    WEFT__ASSERT(slot != NULL); /* the semaphore said one was free */
    pool->free = slot->next_free;
    pool->stats.busy++;
    weft__spin_unlock(&pool->spin);
    return slot;
}

static void put_slot(struct weft__procpool *pool, struct slot *slot,
                     bool answered)
{
    weft__spin_lock(&pool->spin);
    slot->next_free = pool->free;
    pool->free = slot;
    pool->stats.busy--;
    if (answered)
        pool->stats.calls++;
    weft__spin_unlock(&pool->spin);
    (void)weft_semaphore_release(&pool->available);
}

/* Gives a dead slot a new worker. */
static int revive(struct weft__procpool *pool, weft__task *self,
                  struct slot *slot)
{
    int rc = weft_lock_acquire(&pool->spawn_lock, WEFT_FOREVER);

    if (rc < 0)
        return rc;
    rc = spawn_worker(pool, self, slot);
    (void)weft_lock_release(&pool->spawn_lock);
    if (rc == 0) {
        weft__spin_lock(&pool->spin);
        pool->stats.respawns++;
        weft__spin_unlock(&pool->spin);
    }
    return rc;
}

int weft_process_call(const char *name, const void *in, size_t in_len,
                      void **out, size_t *out_len)
{
    weft__task *self = WEFT__TASK_ENTER();
    struct weft__procpool *pool;
    int fn, rc;

    if (out != NULL)
        *out = NULL;
    if (out_len != NULL)
        *out_len = 0;
    if (name == NULL || (in == NULL && in_len > 0))
        return -EINVAL;
    if (self == NULL)
        return -EPERM;
    pool = self->rt->procs;
    if (pool == NULL)
        return -ESRCH;
    fn = weft__process_fn_find(name);
    if (fn < 0)
        return fn;
    if (in_len > WEFT_PROCESS_MSG_MAX)
        return -EMSGSIZE;
    rc = weft_semaphore_acquire(&pool->available, WEFT_FOREVER);
    if (rc < 0)
        return rc;
    struct slot *slot = take_slot(pool);
    if (slot->fd < 0 && (rc = revive(pool, self, slot)) < 0) {
        put_slot(pool, slot, false);
        return rc;
    }
    bool broken;
    rc = exchange(self, slot, fn, in, in_len, out, out_len, &broken);
    if (broken) {
        /* An interrupted call leaves the worker mid-message: kill it. */
        bool died = rc == -ECHILD;
        if (died)
            weft__log("process-pool worker %ld died during a call of '%s'",
                      (long)slot->pid, name);
        bury(pool, self, slot, !died);
    }
    put_slot(pool, slot, !broken);
    return rc;
}

int weft_process_get_stats(weft_process_stats *stats)
{
    struct weft__runtime *rt;
    int rc = 0;

    if (stats == NULL)
        return -EINVAL;
    memset(stats, 0, sizeof *stats);
    rt = weft__runtime_acquire();
    if (rt == NULL || rt->procs == NULL) {
        rc = -ESRCH;
    } else {
        struct weft__procpool *pool = rt->procs;
        weft__spin_lock(&pool->spin);
        *stats = pool->stats;
        weft__spin_unlock(&pool->spin);
        stats->processes = pool->size;
    }
    weft__runtime_release();
    return rc;
}

/* --- starting and stopping -------------------------------------------------------- */

static void pool_free(struct weft__procpool *pool)
{
    for (unsigned i = 0; i < pool->size; i++) {
        if (pool->slots[i].fd >= 0)
            close(pool->slots[i].fd);
    }
    if (pool->ctl >= 0)
        close(pool->ctl); /* the fork server kills its workers and exits */
    if (pool->server > 0) {
        while (waitpid(pool->server, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    (void)weft_semaphore_destroy(&pool->available);
    (void)weft_lock_destroy(&pool->spawn_lock);
    weft__free(pool->slots);
    weft__free(pool);
}

int weft__procpool_start(struct weft__runtime *rt, unsigned size)
{
    struct weft__procpool *pool;
    int rc;

    weft__process_freeze();
    if (weft__process_fn_count() == 0)
        return 0;
    pool = weft__calloc(1, sizeof *pool);
    if (pool == NULL)
        return -ENOMEM;
    pool->ctl = -1;
    pool->slots = weft__calloc(size, sizeof *pool->slots);
    if (pool->slots == NULL) {
        weft__free(pool);
        return -ENOMEM;
    }
    pool->size = size;
    pool->spin = (weft__spinlock)WEFT__SPINLOCK_INIT;
    for (unsigned i = 0; i < size; i++)
        pool->slots[i].fd = -1;
    (void)weft_semaphore_init(&pool->available, size);
    (void)weft_lock_init(&pool->spawn_lock);
    rc = weft__forkserver_start(&pool->server, &pool->ctl);
    if (rc == 0)
        weft__io_init(&pool->ctl_io, pool->ctl);
    for (unsigned i = 0; rc == 0 && i < size; i++)
        rc = spawn_worker(pool, NULL, &pool->slots[i]);
    if (rc < 0) {
        pool_free(pool);
        return rc;
    }
    for (unsigned i = size; i-- > 0;) {
        pool->slots[i].next_free = pool->free;
        pool->free = &pool->slots[i];
    }
    rt->procs = pool;
    return 0;
}

void weft__procpool_stop(struct weft__runtime *rt)
{
    struct weft__procpool *pool;

    /* Under the lock weft_process_stats reads it with. */
    (void)weft__runtime_acquire();
    pool = rt->procs;
    rt->procs = NULL;
    weft__runtime_release();
    if (pool != NULL)
        pool_free(pool);
}
