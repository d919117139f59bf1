/* Regular files under a stream (see file.h).
 *
 * One spinlock guards what the pool threads share with the stream's
 * tasks: the queued bytes, the state of the read job and of the write
 * job, and a queue of waiting tasks. Jobs are detached
 * (weft__executor_detach): no call waits on a job itself, so a read or
 * write cut short by a timeout or a cancellation leaves its job running,
 * and the next call waits on the queue for its end and takes its
 * outcome. Each running job holds a reference, as the stream does; the
 * last one closes the descriptor, so it is never closed (and its number
 * reused) under a read(2) or write(2) in progress. A job lets go of its
 * reference in the same locked section that tells the waiters it is
 * done, so a close that has seen every write finish holds the last one,
 * and closes the descriptor itself (on the pool) and reports its error.
 *
 * A file opened for reading and writing shares one offset between the
 * two directions: its read waits for the queued writes to be written,
 * and a write waits for a running read, so the calls reach the file in
 * the order they were made.
 *
 * The write job takes everything queued at once and writes it, then
 * looks again, and ends when nothing is left: a writer that goes on
 * queueing while it writes keeps one job running, with one pool round
 * trip per burst rather than per write.
 */
#include "core/internal.h"

#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/atomic.h"
#include "core/clock.h"
#include "exec/executor.h"
#include "io/file.h"
#include "io/fs.h"
#include "sched/task.h"
#include "sync/waitq.h"

#define READ_MIN (64u * 1024)  /* asked of read(2) at least */
#define READ_MAX (1024u * 1024) /* ... and at most */
#define MAX_IOV 64

enum rstate { R_IDLE, R_RUNNING, R_DONE };

struct weft__file {
    int fd;
    bool rdwr;               /* O_RDWR: one job at a time */
    weft__spinlock lock;     /* everything below but unsent, stage, wbuf */
    uint32_t refs;           /* the stream's and each running job's */
    struct weft__waitq q;    /* tasks waiting for a job to make progress */
    bool shut;               /* shut down or closed: calls get -EBADF */

    /* Reading. The buffer is the job's while R_RUNNING, the reader's
     * otherwise. */
    enum rstate rstate;
    char *rbuf;
    size_t rcap;
    size_t rgot;             /* R_DONE: bytes read, 0 at the end */
    int rerr;                /* R_DONE: the read's error */

    /* Writing. */
    struct evbuffer *stage;  /* the writer's: bytes on their way to out */
    struct evbuffer *out;    /* queued, not yet taken by the job */
    struct evbuffer *wbuf;   /* the write job's: what it is writing */
    size_t inflight;         /* wbuf's length */
    bool wrunning;           /* a write job runs (or is queued) */
    bool dropping;           /* closed: what is queued goes */
    int werr;                /* a write failed: the error, for good */
    uint64_t unsent;         /* atomic: out + inflight, for any thread */
};

int weft__file_new(struct weft__file **out, int fd)
{
    struct weft__file *f = weft__calloc(1, sizeof *f);

    if (f == NULL)
        return -ENOMEM;
    f->stage = evbuffer_new();
    f->out = evbuffer_new();
    f->wbuf = evbuffer_new();
    if (f->stage == NULL || f->out == NULL || f->wbuf == NULL) {
        if (f->stage != NULL)
            evbuffer_free(f->stage);
        if (f->out != NULL)
            evbuffer_free(f->out);
        if (f->wbuf != NULL)
            evbuffer_free(f->wbuf);
        weft__free(f);
        return -ENOMEM;
    }
    int fl = fcntl(fd, F_GETFL);
    f->refs = 1;
    f->fd = fd;
    f->rdwr = fl >= 0 && (fl & O_ACCMODE) == O_RDWR;
    f->lock = (weft__spinlock)WEFT__SPINLOCK_INIT;
    weft__waitq_init(&f->q, WEFT__WAITING_THREAD);
    *out = f;
    return 0;
}

/* Lock held: drops a reference. Returns true for the last one: the
 * caller frees f (destroy) once it has unlocked. */
static bool unref_locked(struct weft__file *f)
{
    return --f->refs == 0;
}

/* Closes the descriptor, on the pool when on_task (a close may flush to
 * a slow disk or a network file system), and frees f. Returns close's
 * error. */
static int destroy(struct weft__file *f, bool on_task)
{
    int rc;

    if (on_task)
        rc = weft__fs_close(f->fd);
    else
        rc = close(f->fd) < 0 && errno != EINTR ? -errno : 0;
    evbuffer_free(f->stage);
    evbuffer_free(f->out);
    evbuffer_free(f->wbuf);
    weft__free(f->rbuf);
    weft__free(f);
    return rc;
}

/* Under the lock: tells other threads how much is unsent. */
static void publish(struct weft__file *f)
{
    weft__store_relaxed_u64(&f->unsent,
                            (uint64_t)(evbuffer_get_length(f->out) + f->inflight));
}

/* Lock held: waits for a job to make progress (or for a shut down), or
 * until deadline (ms, -1: none). Returns 0 or -ETIMEDOUT / -ECANCELED,
 * with the lock held again either way. */
static int wait_locked(struct weft__file *f, int64_t deadline)
{
    int64_t left = WEFT_FOREVER;
    struct weft__wqnode node;
    bool late;

    if (deadline >= 0) {
        left = deadline - weft__now_ms();
        if (left <= 0)
            return -ETIMEDOUT;
    }
    /* A grant is a wake-up and nothing more: one that came late with an
     * interruption has nothing to give back. */
    int rc = weft__waitq_wait(&f->q, &f->lock, &node, left, 0, &late);
    if (rc == 0)
        weft__spin_lock(&f->lock);
    return rc;
}

/* Queues fn(f) on the default pool, as a slow job (a stalled disk must
 * not take every thread). */
static int start_job(weft__task *self, weft_fn fn, struct weft__file *f,
                     weft_job_cleanup end)
{
    struct weft_executor *ex = weft__executor_default(self->rt);

    return ex != NULL ? weft__executor_detach(ex, fn, f, end, true) : -ENOMEM;
}

/* --- reading ----------------------------------------------------------------- */

/* The read job's outcome, for the reader; the job's reference goes. */
static void read_over(struct weft__file *f, size_t got, int err)
{
    weft__spin_lock(&f->lock);
    f->rgot = got;
    f->rerr = err;
    f->rstate = R_DONE;
    weft__waitq_wake_all(&f->q, 0);
    bool last = unref_locked(f);
    weft__spin_unlock(&f->lock);
    if (last)
        (void)destroy(f, false);
}

static void *read_job(void *arg)
{
    struct weft__file *f = arg;
    ssize_t n;

    do {
        n = read(f->fd, f->rbuf, f->rcap);
    } while (n < 0 && errno == EINTR);
    read_over(f, n > 0 ? (size_t)n : 0, n < 0 ? -errno : 0);
    return f;
}

/* A job's end: it ran (err 0: its function never fails, and has let
 * go already) or was dropped unrun (a shutdown, or no thread). */
static void read_end(void *arg, void *result, int err)
{
    (void)result;
    if (err < 0)
        read_over(arg, 0, err);
}

int weft__file_read(weft__task *self, struct weft__file *f, size_t want,
                    int64_t deadline, const char **data, size_t *len)
{
    int rc;

    weft__spin_lock(&f->lock);
    for (;;) {
        if (f->shut) {
            rc = -EBADF;
            break;
        }
        if (f->rstate == R_DONE) {
            if (f->rerr < 0 || f->rgot == 0) {
                rc = f->rerr; /* or 0: the end */
                f->rstate = R_IDLE;
                break;
            }
            *data = f->rbuf;
            *len = f->rgot;
            rc = 1; /* R_DONE until weft__file_read_done */
            break;
        }
        if (f->rstate == R_IDLE && f->rdwr && f->wrunning) {
            /* The queued writes first: they were made before. */
            rc = wait_locked(f, deadline);
            if (rc < 0)
                break;
            continue;
        }
        if (f->rstate == R_IDLE) {
            size_t cap = want < READ_MIN ? READ_MIN
                         : want > READ_MAX ? READ_MAX : want;
            /* The buffer is ours while no job runs. */
            if (f->rcap < cap) {
                char *p = weft__realloc(f->rbuf, cap);
                if (p == NULL) {
                    rc = -ENOMEM;
                    break;
                }
                f->rbuf = p;
                f->rcap = cap;
            }
            f->rstate = R_RUNNING;
            f->refs++; /* the job's */
            weft__spin_unlock(&f->lock);
            rc = start_job(self, read_job, f, read_end);
            weft__spin_lock(&f->lock);
            if (rc < 0) {
                f->rstate = R_IDLE;
                (void)unref_locked(f); /* never the last: the stream's */
                break;
            }
            continue; /* it may be done already */
        }
        rc = wait_locked(f, deadline);
        if (rc < 0)
            break; /* the job goes on: the next call takes its bytes */
    }
    weft__spin_unlock(&f->lock);
    return rc;
}

void weft__file_read_done(struct weft__file *f)
{
    weft__spin_lock(&f->lock);
    f->rstate = R_IDLE;
    weft__spin_unlock(&f->lock);
}

/* --- writing ----------------------------------------------------------------- */

/* Writes all of b to fd; what was written is drained from b. Returns 0
 * or a negative errno (b emptied then). */
static int write_all(int fd, struct evbuffer *b)
{
    while (evbuffer_get_length(b) > 0) {
        struct evbuffer_iovec v[MAX_IOV];
        struct iovec iov[MAX_IOV];
        int n = evbuffer_peek(b, -1, NULL, v, MAX_IOV);
        if (n > MAX_IOV)
            n = MAX_IOV;
        for (int i = 0; i < n; i++) {
            iov[i].iov_base = v[i].iov_base;
            iov[i].iov_len = v[i].iov_len;
        }
        ssize_t sent = writev(fd, iov, n);
        if (sent < 0 && errno == EINTR)
            continue;
        if (sent <= 0) {
            int err = sent < 0 ? -errno : -EIO;
            evbuffer_drain(b, evbuffer_get_length(b));
            return err;
        }
        evbuffer_drain(b, (size_t)sent);
    }
    return 0;
}

/* Lock held: drops what is queued after a failure or a close. */
static void drop_queued(struct weft__file *f)
{
    evbuffer_drain(f->out, evbuffer_get_length(f->out));
    publish(f);
}

/* Lock held: the write job is over; err < 0 if it failed (or never
 * ran), and what is queued goes then. The job's reference goes too:
 * returns true if it was the last (destroy f after unlocking). */
static bool write_over(struct weft__file *f, int err)
{
    if (err < 0)
        f->werr = err;
    if (f->dropping || f->werr < 0)
        drop_queued(f);
    f->wrunning = false;
    weft__waitq_wake_all(&f->q, 0);
    return unref_locked(f);
}

static void *write_job(void *arg)
{
    struct weft__file *f = arg;

    weft__spin_lock(&f->lock);
    for (;;) {
        size_t n = evbuffer_get_length(f->out);
        if (n == 0 || f->dropping || f->werr < 0)
            break;
        /* Moves the chains, no copy: the lock is held for pointers. */
        evbuffer_add_buffer(f->wbuf, f->out);
        f->inflight = n;
        /* A writer waiting for room has it now. */
        weft__waitq_wake_all(&f->q, 0);
        weft__spin_unlock(&f->lock);
        int err = write_all(f->fd, f->wbuf);
        weft__spin_lock(&f->lock);
        f->inflight = 0;
        if (err < 0)
            f->werr = err;
        publish(f);
    }
    bool last = write_over(f, 0);
    weft__spin_unlock(&f->lock);
    if (last)
        (void)destroy(f, false);
    return f;
}

/* As read_end. */
static void write_end(void *arg, void *result, int err)
{
    struct weft__file *f = arg;

    (void)result;
    if (err < 0) {
        weft__spin_lock(&f->lock);
        bool last = write_over(f, err);
        weft__spin_unlock(&f->lock);
        if (last)
            (void)destroy(f, false);
    }
}

/* Lock held: waits until the write job has written everything (all), or
 * has taken what is queued down to at most high bytes. Returns 0, or
 * -EBADF, the write error, -ETIMEDOUT, -ECANCELED; the lock is held on
 * return. */
static int wait_writes(struct weft__file *f, bool all, size_t high,
                       int64_t deadline)
{
    for (;;) {
        if (f->shut)
            return -EBADF;
        if (f->werr < 0)
            return f->werr;
        /* A writer starts a job whenever it queues: none running means
         * nothing queued. */
        if (all ? !f->wrunning : evbuffer_get_length(f->out) <= high)
            return 0;
        int rc = wait_locked(f, deadline);
        if (rc < 0)
            return rc;
    }
}

int weft__file_write(weft__task *self, struct weft__file *f, const void *buf,
                     size_t n, size_t high, int64_t deadline)
{
    int rc = 0;

    /* Copied outside the lock, which a pool thread may be waiting for;
     * the stage is the writer's alone. */
    if (n > 0 && evbuffer_add(f->stage, buf, n) < 0)
        return -ENOMEM;
    weft__spin_lock(&f->lock);
    rc = wait_writes(f, false, high, deadline);
    /* Opened for both: a read running now was asked for first. */
    while (rc == 0 && f->rdwr && f->rstate == R_RUNNING)
        rc = wait_locked(f, deadline);
    if (rc < 0) {
        weft__spin_unlock(&f->lock);
        evbuffer_drain(f->stage, evbuffer_get_length(f->stage));
        return rc; /* nothing of buf queued */
    }
    evbuffer_add_buffer(f->out, f->stage);
    publish(f);
    bool start = !f->wrunning && evbuffer_get_length(f->out) > 0;
    if (start) {
        f->wrunning = true;
        f->refs++; /* the job's */
    }
    weft__spin_unlock(&f->lock);
    if (!start)
        return 0;
    rc = start_job(self, write_job, f, write_end);
    if (rc < 0) {
        /* No job to write them: the stream is broken, as after a failed
         * write. Never the last reference: the stream holds one. */
        weft__spin_lock(&f->lock);
        (void)write_over(f, rc);
        weft__spin_unlock(&f->lock);
    }
    return rc;
}

int weft__file_drain(struct weft__file *f, int64_t deadline)
{
    weft__spin_lock(&f->lock);
    int rc = wait_writes(f, true, 0, deadline);
    weft__spin_unlock(&f->lock);
    return rc;
}

size_t weft__file_unsent(const struct weft__file *f)
{
    return (size_t)weft__load_relaxed_u64(&f->unsent);
}

void weft__file_shut_down(struct weft__file *f)
{
    weft__spin_lock(&f->lock);
    f->shut = true;
    weft__waitq_wake_all(&f->q, 0);
    weft__spin_unlock(&f->lock);
}

int weft__file_close(struct weft__file *f)
{
    weft__spin_lock(&f->lock);
    f->shut = true;
    f->dropping = true;
    drop_queued(f);
    weft__waitq_wake_all(&f->q, 0);
    bool last = unref_locked(f);
    weft__spin_unlock(&f->lock);
    return last ? destroy(f, true) : 0;
}
