/* weft_fd_wait and weft_fd_forget (weft/fd.h).
 *
 * A descriptor the program owns has a record in a table indexed by its
 * number: chunks of records made on demand and kept until the runtime
 * ends, since an edge may name a record after its descriptor was
 * forgotten. A record is registered at the first wait that suspends, on
 * that worker, and stays so until weft_fd_forget.
 *
 * The caller did not read a tick before its own failed call, so each
 * wait starts with a poll(2) of timeout 0: ready events are returned at
 * once, and the tick read before that poll stands for the call.
 */
#include "io/fd.h"

#include <errno.h>
#include <poll.h>
#include <sys/stat.h>

#include "core/atomic.h"
#include "core/clock.h"
#include "io/socket.h"
#include "sched/iowait.h"
#include "sched/scope.h"
#include "sched/task.h"
#include "sched/wait.h"

#define CHUNK_BITS 10
#define CHUNK_SIZE (1u << CHUNK_BITS)
#define NCHUNKS 1024u /* descriptors below 2^20 */

struct fdent {
    struct weft__io io;
    /* The file registered (st_dev, st_ino), to tell a descriptor closed
     * and reused without weft_fd_forget; atomic, 0 while unknown. */
    uint64_t dev, ino;
};

static struct fdent *chunks[NCHUNKS];

/* fd's record, made if `make` and missing; NULL without memory (or
 * when missing and not made). */
static struct fdent *lookup(int fd, bool make)
{
    unsigned c = (unsigned)fd >> CHUNK_BITS;
    /* Pairs with the CAS below: the chunk's records are seen set up. */
    struct fdent *chunk = weft__load_acquire_ptr((void *const *)&chunks[c]);

    if (chunk == NULL) {
        if (!make)
            return NULL;
        struct fdent *fresh = weft__calloc(CHUNK_SIZE, sizeof *fresh);
        if (fresh == NULL)
            return NULL;
        for (unsigned i = 0; i < CHUNK_SIZE; i++)
            weft__io_init(&fresh[i].io, (int)((c << CHUNK_BITS) | i));
        if (weft__cas_ptr((void **)&chunks[c], NULL, fresh)) {
            chunk = fresh;
        } else {
            weft__free(fresh);
            chunk = weft__load_acquire_ptr((void *const *)&chunks[c]);
        }
    }
    return &chunk[(unsigned)fd & (CHUNK_SIZE - 1)];
}

void weft__fdtab_destroy(void)
{
    for (unsigned c = 0; c < NCHUNKS; c++) {
        weft__free(chunks[c]);
        chunks[c] = NULL;
    }
}

/* Drops e's registration, ending its waits, and makes it fresh. */
static void forget(weft__task *self, struct fdent *e)
{
    weft__io_release(self, &e->io);
    weft__store_relaxed_u64(&e->dev, 0);
    weft__store_relaxed_u64(&e->ino, 0);
    weft__io_reuse(&e->io);
}

/* A record registered for another file than fd's now was closed without
 * weft_fd_forget: say so, and start again. */
static int check_file(weft__task *self, struct fdent *e, int fd)
{
    struct stat st;

    if (fstat(fd, &st) < 0)
        return -errno;
    uint64_t dev = (uint64_t)st.st_dev, ino = (uint64_t)st.st_ino;
    if (weft__load_acquire_ptr((void *const *)&e->io.home) == NULL) {
        weft__store_relaxed_u64(&e->dev, dev);
        weft__store_relaxed_u64(&e->ino, ino);
        return 0;
    }
    if (weft__load_relaxed_u64(&e->dev) == dev &&
        weft__load_relaxed_u64(&e->ino) == ino)
        return 0;
    char buf[32];
    weft__log("task '%s': weft_fd_wait: descriptor %d was closed without "
              "weft_fd_forget() and now names another file; its old "
              "registration is dropped",
              weft__task_label(self, buf, sizeof buf), fd);
    forget(self, e);
    weft__store_relaxed_u64(&e->dev, dev);
    weft__store_relaxed_u64(&e->ino, ino);
    return 0;
}

int weft_fd_wait(int fd, short events, int64_t timeout_ms)
{
    weft__task *self = WEFT__TASK_ENTER();

    if (fd < 0 || (events & ~(POLLIN | POLLOUT)) || events == 0 ||
        (timeout_ms < 0 && timeout_ms != WEFT_FOREVER))
        return -EINVAL;
    if (self == NULL)
        return -EPERM;
    if ((unsigned)fd >= NCHUNKS * CHUNK_SIZE)
        return -ENOTSUP; /* beyond the table */
    int rc = weft__check_interrupt(self);
    if (rc < 0)
        return rc;
    struct fdent *e = lookup(fd, true);
    if (e == NULL)
        return -ENOMEM;
    unsigned dirs = ((events & POLLIN) ? WEFT__IO_IN : 0) |
                    ((events & POLLOUT) ? WEFT__IO_OUT : 0);
    int64_t deadline = weft__io_deadline(timeout_ms);
    bool checked = false;
    for (;;) {
        uint64_t ticks = weft__io_ticks(&e->io);
        struct pollfd p = { .fd = fd, .events = events };
        if (events & POLLIN)
            p.events |= POLLRDHUP; /* a peer's half-close ends a read */
        int n = poll(&p, 1, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n > 0) {
            if (p.revents & POLLNVAL)
                return -EBADF;
            return p.revents;
        }
        if (!checked) {
            if ((rc = check_file(self, e, fd)) < 0)
                return rc;
            checked = true;
        }
        int64_t left = WEFT_FOREVER;
        if (deadline >= 0 && (left = deadline - weft__now_ms()) <= 0)
            return -ETIMEDOUT;
        rc = weft__io_wait(self, &e->io, dirs, ticks, left, 0,
                           WEFT__WAITING_FD);
        if (rc < 0)
            return rc;
    }
}

int weft_fd_forget(int fd)
{
    weft__task *self = WEFT__TASK_ENTER();

    if (fd < 0)
        return -EINVAL;
    if (self == NULL)
        return -EPERM;
    if ((unsigned)fd >= NCHUNKS * CHUNK_SIZE)
        return 0;
    struct fdent *e = lookup(fd, false);
    if (e != NULL)
        forget(self, e);
    return 0;
}
