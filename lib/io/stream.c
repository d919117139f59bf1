/* Buffered streams (weft/stream.h).
 *
 * Input is one contiguous buffer, filled with recv(2) or read(2) (not
 * evbuffer_read, which issues an ioctl per read and reads 4 KiB at
 * most) and consumed only when a read succeeds: that is what makes every
 * read cancel-safe. Output is an evbuffer, sent with sendmsg(2) and
 * MSG_NOSIGNAL (evbuffer_write's writev raises SIGPIPE) or write(2) on a
 * pipe. Bytes a write leaves queued are sent by the reactor of the
 * stream's home worker at the next write edge (on_writable), under a
 * lock a writer task takes too.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/atomic.h"
#include "core/clock.h"
#include "io/file.h"
#include "io/fs.h"
#include "io/socket.h"
#include "io/stream.h"
#include "sched/loop.h"
#include "sched/scope.h"
#include "sched/task.h"
#include "sched/wait.h"

#define STREAM_MAGIC 0x7374726du /* "strm" */
#define DEFAULT_LIMIT (64u * 1024)
#define DEFAULT_HIGH (64u * 1024)
#define IN_START (16u * 1024)    /* the input buffer's first size */
#define IN_KEEP (256u * 1024)    /* an emptied buffer above this shrinks */
#define MAX_IOV 64

struct weft_stream {
    uint32_t magic;
    bool is_socket;             /* recv/sendmsg, else read/write */
    weft_socket *sock;          /* NULL for a file */
    struct weft__file *file;    /* a regular file's (io/file.c), or NULL */
    size_t limit, high, low;
    uint32_t users;             /* atomic: calls in progress */
    uint32_t closing;           /* atomic: CLOSING once weft_stream_close
                                   began, SHUT_DOWN after
                                   weft__stream_shut_down */

    /* The reader's (one at a time: `reading`). */
    uint32_t reading;           /* atomic flag */
    char *in;
    size_t in_cap, in_off, in_len; /* bytes in[in_off, in_off + in_len) */
    bool eof;                   /* the peer's end of stream was read */
    int rerr;                   /* a read error, given to every read */
    uint64_t avail;             /* atomic: in_len and eof (top bit), for
                                   weft_stream_buffered and _is_at_eof
                                   on other threads */
    bool empty;                 /* a recv came back short: the socket is
                                   empty until a read edge after ... */
    uint32_t empty_tick;        /* ... this read tick */

    /* The writer's (one at a time: `writing`), and on_writable's. */
    uint32_t writing;           /* atomic flag */
    weft__spinlock out_lock;    /* out, werr, and the io's wanted */
    struct evbuffer *out;
    uint64_t unsent;            /* atomic: out's length, for
                                   weft_stream_unsent on any thread */
    int werr;                   /* a send failed: the error, for good */
    bool shut;                  /* write_eof done */
};

enum { OPEN = 0, CLOSING = 1, SHUT_DOWN = 2 };

static bool valid(const weft_stream *st)
{
    return st != NULL && st->magic == STREAM_MAGIC;
}

static bool timeout_ok(int64_t t)
{
    return t >= 0 || t == WEFT_FOREVER;
}

/* --- output, shared with on_writable ---------------------------------- */

/* Sends what out holds, until it is empty or the socket is full. Under
 * out_lock. Returns 0 (all sent), -EAGAIN, or the send's error (kept in
 * werr; what was queued is dropped). */
static int flush_locked(weft_stream *st)
{
    while (evbuffer_get_length(st->out) > 0) {
        struct evbuffer_iovec v[MAX_IOV];
        int n = evbuffer_peek(st->out, -1, NULL, v, MAX_IOV);
        if (n > MAX_IOV)
            n = MAX_IOV;
        struct iovec iov[MAX_IOV];
        for (int i = 0; i < n; i++) {
            iov[i].iov_base = v[i].iov_base;
            iov[i].iov_len = v[i].iov_len;
        }
        ssize_t sent;
        if (st->is_socket) {
            struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)n };
            sent = sendmsg(st->sock->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        } else {
            sent = writev(st->sock->fd, iov, n);
        }
        if (sent < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return -EAGAIN;
            st->werr = -errno;
            evbuffer_drain(st->out, evbuffer_get_length(st->out));
            return st->werr;
        }
        evbuffer_drain(st->out, (size_t)sent);
    }
    return 0;
}

/* After out changed, under out_lock: tells other threads its length,
 * and has the home poll for write edges while bytes are queued. */
static void out_changed(weft_stream *st)
{
    size_t left = evbuffer_get_length(st->out);

    weft__store_relaxed_u64(&st->unsent, (uint64_t)left);
    weft__io_want_writable(&st->sock->io, left > 0);
}

/* A write edge, on home's thread or a visitor's: send what is queued,
 * unless another holds the lock. Whoever holds it looks at the tick
 * after letting go (here, and in queue_and_send), so an edge whose
 * on_writable found the lock taken is never lost: two edges may run
 * this at once, on home and on a visitor. */
static void on_writable(struct weft__io *io)
{
    weft_socket *sock = WEFT__CONTAINER_OF(io, weft_socket, io);
    weft_stream *st = sock->stream;

    for (;;) {
        uint32_t tick = (uint32_t)(weft__io_ticks(io) >> 32);
        if (!weft__spin_trylock(&st->out_lock))
            return;
        if (st->werr == 0)
            (void)flush_locked(st);
        out_changed(st);
        bool left = evbuffer_get_length(st->out) > 0 && st->werr == 0;
        weft__spin_unlock(&st->out_lock);
        if (!left)
            return;
        /* Pairs with the fence in the edge callback (sched/iowait.c), as
         * in queue_and_send. */
        weft__fence_full();
        if ((uint32_t)(weft__io_ticks(io) >> 32) == tick)
            return;
    }
}

/* Queues buf[0, n) behind what out holds (sending at once what the
 * socket takes, with no copy when nothing is queued), then sends what it
 * can. *unsent: what is left queued; *ticks: the ticks read before the
 * last send, for a wait. Returns 0, -ENOMEM (nothing of buf queued past
 * what was sent) or the stream's write error. */
static int queue_and_send(weft_stream *st, const char *buf, size_t n,
                          size_t *unsent, uint64_t *ticks)
{
    struct weft__io *io = &st->sock->io;

    for (;;) {
        *ticks = weft__io_ticks(io);
        weft__spin_lock(&st->out_lock);
        int rc = st->werr;
        if (rc == 0 && n > 0 && evbuffer_get_length(st->out) == 0) {
            while (n > 0) {
                ssize_t sent =
                    st->is_socket
                        ? send(st->sock->fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT)
                        : write(st->sock->fd, buf, n);
                if (sent < 0) {
                    if (errno == EINTR)
                        continue;
                    if (errno != EAGAIN)
                        rc = st->werr = -errno;
                    break;
                }
                buf += sent;
                n -= (size_t)sent;
            }
        }
        /* Out of memory after part of buf went: the stream is broken, as
         * after a failed send. */
        if (rc == 0 && n > 0 && evbuffer_add(st->out, buf, n) < 0)
            rc = st->werr = -ENOMEM;
        n = 0;
        if (rc == 0) {
            rc = flush_locked(st);
            if (rc == -EAGAIN)
                rc = 0;
        }
        size_t left = evbuffer_get_length(st->out);
        /* Bytes stay queued: the home's reactor sends them at the next
         * write edge, which needs a registration. */
        int reg = left > 0 ? weft__io_register(io) : 0;
        out_changed(st);
        weft__spin_unlock(&st->out_lock);
        *unsent = left;
        if (rc == 0)
            rc = reg;
        if (rc < 0 || left == 0)
            return rc;
        /* Pairs with the fence in the edge callback (sched/iowait.c): an
         * edge whose callback found the lock taken is seen here, and
         * this writer sends again; a later one finds the lock free. */
        weft__fence_full();
        if ((uint32_t)(weft__io_ticks(io) >> 32) == (uint32_t)(*ticks >> 32))
            return 0;
    }
}

/* --- calls: entering and leaving ---------------------------------------- */

enum side { READER, WRITER };

/* Checks st and takes its reader's or writer's turn. Returns 0 with
 * *self set, or -EINVAL, -EPERM, -EBUSY, -EBADF (closing), or the
 * interruption a checkpoint delivers. */
static int enter(weft__task **self, weft_stream *st, enum side side,
                 bool checkpoint)
{
    if (!valid(st))
        return -EINVAL;
    *self = weft__task_self();
    if (*self == NULL)
        return -EPERM;
    if (checkpoint) {
        int rc = weft__check_interrupt(*self);
        if (rc < 0)
            return rc;
    }
    uint32_t *turn = side == READER ? &st->reading : &st->writing;
    if (!weft__cas_u32(turn, 0, 1))
        return -EBUSY;
    /* The CAS and this FAA are full barriers: close, which sets closing
     * and then reads users, sees this call or is seen by it. */
    weft__faa_u32(&st->users, 1);
    if (weft__load_acquire_u32(&st->closing)) {
        weft__faa_u32(&st->users, (uint32_t)-1);
        weft__store_release_u32(turn, 0);
        return -EBADF;
    }
    return 0;
}

static void leave(weft_stream *st, enum side side)
{
    weft__store_release_u32(side == READER ? &st->reading : &st->writing, 0);
    /* The last touch of st: close may free it right after. */
    weft__faa_u32(&st->users, (uint32_t)-1);
}

/* --- input --------------------------------------------------------------- */

#define AVAIL_EOF ((uint64_t)1 << 63)

/* Tells other threads what in_len and eof are now. */
static void publish(weft_stream *st)
{
    weft__store_relaxed_u64(&st->avail, (uint64_t)st->in_len |
                                            (st->eof ? AVAIL_EOF : 0));
}

/* Drops the first n buffered bytes. */
static void consume(weft_stream *st, size_t n)
{
    st->in_off += n;
    st->in_len -= n;
    publish(st);
    if (st->in_len == 0) {
        st->in_off = 0;
        if (st->in_cap > IN_KEEP) {
            weft__free(st->in);
            st->in = NULL;
            st->in_cap = 0;
        }
    }
}

/* Room for at least want more bytes after the buffered ones. */
static int reserve(weft_stream *st, size_t want)
{
    if (st->in_cap - st->in_off - st->in_len >= want)
        return 0;
    if (st->in_off > 0) {
        memmove(st->in, st->in + st->in_off, st->in_len);
        st->in_off = 0;
        if (st->in_cap - st->in_len >= want)
            return 0;
    }
    size_t cap = st->in_cap > 0 ? st->in_cap * 2 : IN_START;
    if (cap < st->in_len + want)
        cap = st->in_len + want;
    char *p = weft__realloc(st->in, cap);
    if (p == NULL)
        return -ENOMEM;
    st->in = p;
    st->in_cap = cap;
    return 0;
}

/* One system call's worth of input, into buf (n bytes); ticks: read
 * before it. A socket's recv that comes back short has emptied it: until
 * an edge comes after that tick, another would only fail with EAGAIN, so
 * it fails here without the system call and the caller waits for the
 * edge (Tokio clears readiness on a short read, tokio#5866). In a
 * request-response exchange that is one recv in two. Not for pipes and
 * terminals, where a short read (a line) does not mean empty.
 *
 * A short recv also stops at the peer's FIN, whose edge may have come
 * with the bytes before it: once home has seen EPOLLRDHUP (rdhup, read
 * after the tick that came with it), every read makes the call, and
 * the end of stream is read. TCP urgent data is the one case left where
 * a short recv leaves bytes (after the mark) with no edge to come: they
 * wait for the next bytes. */
static ssize_t receive(weft_stream *st, void *buf, size_t n, uint64_t ticks)
{
    if (!st->is_socket)
        return read(st->sock->fd, buf, n);
    if (st->empty && st->empty_tick == (uint32_t)ticks &&
        !weft__load_relaxed_u32(&st->sock->io.rdhup)) {
        errno = EAGAIN;
        return -1;
    }
    ssize_t got = recv(st->sock->fd, buf, n, MSG_DONTWAIT);
    st->empty = got > 0 && (size_t)got < n;
    st->empty_tick = (uint32_t)ticks;
    return got;
}

/* fill for a file: the pool's read, copied in once it is done. */
static int fill_file(weft__task *self, weft_stream *st, size_t want,
                     int64_t timeout_ms, int64_t *deadline)
{
    const char *data;
    size_t len;

    if (*deadline == -2)
        *deadline = weft__io_deadline(timeout_ms);
    int rc = weft__file_read(self, st->file, want, *deadline, &data, &len);
    if (rc == 0) {
        st->eof = true;
        publish(st);
        return 0;
    }
    if (rc < 0) {
        /* An interruption leaves the read to the next call. */
        if (rc != -ETIMEDOUT && rc != -ECANCELED && rc != -EBADF &&
            rc != -ENOMEM)
            st->rerr = rc;
        return rc;
    }
    /* Out of memory here leaves the bytes with the file, for later. */
    rc = reserve(st, len);
    if (rc < 0)
        return rc;
    memcpy(st->in + st->in_off + st->in_len, data, len);
    weft__file_read_done(st->file);
    st->in_len += len;
    publish(st);
    return 1;
}

/* Reads more into the buffer (room for want more, at least), waiting
 * as needed. Returns 1 (more came), 0 (end of stream), or a negative
 * errno. *deadline: -2 until the first wait computes it. */
static int fill(weft__task *self, weft_stream *st, size_t want,
                int64_t timeout_ms, int64_t *deadline)
{
    if (want < IN_START / 4)
        want = IN_START / 4;
    for (;;) {
        if (st->rerr < 0)
            return st->rerr;
        if (st->eof)
            return 0;
        if (st->file != NULL)
            return fill_file(self, st, want, timeout_ms, deadline);
        int rc = reserve(st, want);
        if (rc < 0)
            return rc;
        uint64_t ticks = weft__io_ticks(&st->sock->io);
        char *end = st->in + st->in_off + st->in_len;
        ssize_t n = receive(st, end, st->in_cap - st->in_off - st->in_len,
                            ticks);
        if (n > 0) {
            st->in_len += (size_t)n;
            publish(st);
            return 1;
        }
        if (n == 0) {
            st->eof = true;
            publish(st);
            return 0;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN) {
            st->rerr = -errno;
            return st->rerr;
        }
        if (*deadline == -2)
            *deadline = weft__io_deadline(timeout_ms);
        rc = weft__socket_wait(self, st->sock, WEFT__IO_IN, ticks, *deadline);
        if (rc < 0)
            return rc;
    }
}

static ssize_t read_some(weft__task *self, weft_stream *st, void *buf,
                         size_t n, int64_t timeout_ms)
{
    int64_t deadline = -2;

    if (st->in_len == 0 && n >= IN_START && st->rerr == 0 && !st->eof &&
        st->file == NULL) {
        /* Nothing buffered and a big read: straight into buf. */
        for (;;) {
            uint64_t ticks = weft__io_ticks(&st->sock->io);
            ssize_t got = receive(st, buf, n, ticks);
            if (got > 0)
                return got;
            if (got == 0) {
                st->eof = true;
                publish(st);
                return 0;
            }
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                return st->rerr = -errno;
            if (deadline == -2)
                deadline = weft__io_deadline(timeout_ms);
            int rc = weft__socket_wait(self, st->sock, WEFT__IO_IN, ticks,
                                       deadline);
            if (rc < 0)
                return rc;
        }
    }
    if (st->in_len == 0) {
        int rc = fill(self, st, 0, timeout_ms, &deadline);
        if (rc <= 0)
            return rc;
    }
    size_t take = n < st->in_len ? n : st->in_len;
    memcpy(buf, st->in + st->in_off, take);
    consume(st, take);
    return (ssize_t)take;
}

ssize_t weft_stream_read(weft_stream *stream, void *buf, size_t n,
                         int64_t timeout_ms)
{
    weft__task *self;

    if (buf == NULL || n == 0 || n > SSIZE_MAX || !timeout_ok(timeout_ms))
        return -EINVAL;
    int rc = enter(&self, stream, READER, true);
    if (rc < 0)
        return rc;
    ssize_t got = read_some(self, stream, buf, n, timeout_ms);
    if (got > 0)
        weft__io_budget_spend(self);
    leave(stream, READER);
    return got;
}

int weft_stream_read_exactly(weft_stream *stream, void *buf, size_t n,
                             size_t *nread, int64_t timeout_ms)
{
    weft__task *self;
    int64_t deadline = -2;

    if (nread != NULL)
        *nread = 0;
    if ((buf == NULL && n > 0) || n > SSIZE_MAX || !timeout_ok(timeout_ms))
        return -EINVAL;
    int rc = enter(&self, stream, READER, true);
    if (rc < 0)
        return rc;
    weft_stream *st = stream;
    while (st->in_len < n) {
        rc = fill(self, st, n - st->in_len, timeout_ms, &deadline);
        if (rc < 0)
            goto out;
        if (rc == 0) {
            /* Ended first: hand over the partial bytes. */
            size_t got = st->in_len;
            memcpy(buf, st->in + st->in_off, got);
            consume(st, got);
            if (nread != NULL)
                *nread = got;
            rc = -ENODATA;
            goto out;
        }
    }
    memcpy(buf, st->in + st->in_off, n);
    consume(st, n);
    if (nread != NULL)
        *nread = n;
    weft__io_budget_spend(self);
    rc = 0;
out:
    leave(st, READER);
    return rc;
}

/* The read_until loop. Returns the length up to and including sep, or
 * 0 at end of stream with no separator (the bytes kept), or a negative
 * errno. Nothing is consumed. */
static ssize_t find_sep(weft__task *self, weft_stream *st, const char *sep,
                        size_t seplen, int64_t timeout_ms)
{
    int64_t deadline = -2;
    size_t scan = 0;

    for (;;) {
        if (st->in_len >= seplen) {
            const char *base = st->in + st->in_off;
            const char *hit = memmem(base + scan, st->in_len - scan, sep, seplen);
            if (hit != NULL) {
                size_t at = (size_t)(hit - base);
                if (at > st->limit)
                    return -EMSGSIZE;
                return (ssize_t)(at + seplen);
            }
            /* A separator starting further on would be past the limit. */
            if (st->in_len - seplen + 1 > st->limit)
                return -EMSGSIZE;
            /* Resume where a separator split across reads may start. */
            scan = st->in_len - seplen + 1;
        }
        int rc = fill(self, st, 0, timeout_ms, &deadline);
        if (rc <= 0)
            return rc;
    }
}

ssize_t weft_stream_read_until(weft_stream *stream, const void *sep,
                               size_t seplen, void *buf, size_t cap,
                               int64_t timeout_ms)
{
    weft__task *self;

    if (sep == NULL || seplen == 0 || (buf == NULL && cap > 0) ||
        cap > SSIZE_MAX || !timeout_ok(timeout_ms))
        return -EINVAL;
    int rc = enter(&self, stream, READER, true);
    if (rc < 0)
        return rc;
    ssize_t len = find_sep(self, stream, sep, seplen, timeout_ms);
    if (len == 0) {
        len = -ENODATA;
    } else if (len > 0 && (size_t)len > cap) {
        len = -EMSGSIZE;
    } else if (len > 0) {
        memcpy(buf, stream->in + stream->in_off, (size_t)len);
        consume(stream, (size_t)len);
        weft__io_budget_spend(self);
    }
    leave(stream, READER);
    return len;
}

ssize_t weft_stream_read_line(weft_stream *stream, void *buf, size_t cap,
                              int64_t timeout_ms)
{
    weft__task *self;

    if ((buf == NULL && cap > 0) || cap > SSIZE_MAX || !timeout_ok(timeout_ms))
        return -EINVAL;
    int rc = enter(&self, stream, READER, true);
    if (rc < 0)
        return rc;
    weft_stream *st = stream;
    ssize_t len = find_sep(self, st, "\n", 1, timeout_ms);
    if (len == 0)
        len = (ssize_t)st->in_len; /* the end: what is left, then 0 */
    if (len > 0 && (size_t)len > cap) {
        len = -EMSGSIZE;
    } else if (len > 0) {
        memcpy(buf, st->in + st->in_off, (size_t)len);
        consume(st, (size_t)len);
        weft__io_budget_spend(self);
    }
    leave(st, READER);
    return len;
}

int weft_stream_read_all(weft_stream *stream, void **buf, size_t *len,
                         size_t max, int64_t timeout_ms)
{
    weft__task *self;
    int64_t deadline = -2;

    if (buf != NULL)
        *buf = NULL;
    if (len != NULL)
        *len = 0;
    if (buf == NULL || len == NULL || !timeout_ok(timeout_ms))
        return -EINVAL;
    int rc = enter(&self, stream, READER, true);
    if (rc < 0)
        return rc;
    weft_stream *st = stream;
    while ((rc = fill(self, st, 0, timeout_ms, &deadline)) > 0 &&
           st->in_len <= max)
        ;
    if (rc >= 0 && st->in_len > max)
        rc = -EMSGSIZE;
    if (rc == 0) {
        /* One byte more, so that an empty stream still gives a buffer. */
        char *p = weft__malloc(st->in_len + 1);
        if (p == NULL) {
            rc = -ENOMEM;
        } else {
            memcpy(p, st->in + st->in_off, st->in_len);
            p[st->in_len] = '\0';
            *buf = p;
            *len = st->in_len;
            consume(st, st->in_len);
        }
    }
    leave(st, READER);
    return rc;
}

size_t weft_stream_buffered(const weft_stream *stream)
{
    return valid(stream)
               ? (size_t)(weft__load_relaxed_u64(&stream->avail) & ~AVAIL_EOF)
               : 0;
}

int weft_stream_is_at_eof(const weft_stream *stream)
{
    if (!valid(stream))
        return -EINVAL;
    return weft__load_relaxed_u64(&stream->avail) == AVAIL_EOF;
}

/* --- output -------------------------------------------------------------- */

/* Sends queued bytes until at most `target` are left, waiting for room. */
static int send_down_to(weft__task *self, weft_stream *st, size_t target,
                        size_t unsent, uint64_t ticks, int64_t timeout_ms)
{
    int64_t deadline = weft__io_deadline(timeout_ms);

    while (unsent > target) {
        int rc = weft__socket_wait(self, st->sock, WEFT__IO_OUT, ticks,
                                   deadline);
        if (rc < 0)
            return rc;
        rc = queue_and_send(st, NULL, 0, &unsent, &ticks);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int weft_stream_write(weft_stream *stream, const void *buf, size_t n,
                      int64_t timeout_ms)
{
    weft__task *self;
    size_t unsent;
    uint64_t ticks;

    if ((buf == NULL && n > 0) || !timeout_ok(timeout_ms))
        return -EINVAL;
    int rc = enter(&self, stream, WRITER, true);
    if (rc < 0)
        return rc;
    weft_stream *st = stream;
    if (st->shut) {
        rc = -ESHUTDOWN;
    } else {
        /* Room first, then the bytes: so a write cut short has queued
         * nothing, and what is queued stays under high + n. */
        if (st->file != NULL) {
            rc = weft__file_write(self, st->file, buf, n, st->high,
                                  weft__io_deadline(timeout_ms));
        } else if (weft_stream_unsent(st) > st->high) {
            rc = queue_and_send(st, NULL, 0, &unsent, &ticks);
            if (rc == 0 && unsent > st->high)
                rc = send_down_to(self, st, st->low, unsent, ticks,
                                  timeout_ms);
        }
        if (rc == 0 && st->file == NULL)
            rc = queue_and_send(st, buf, n, &unsent, &ticks);
        if (rc == 0)
            weft__io_budget_spend(self);
    }
    leave(st, WRITER);
    return rc;
}

static int drain(weft__task *self, weft_stream *st, int64_t timeout_ms)
{
    size_t unsent;
    uint64_t ticks;

    if (st->file != NULL)
        return weft__file_drain(st->file, weft__io_deadline(timeout_ms));
    int rc = queue_and_send(st, NULL, 0, &unsent, &ticks);

    if (rc == 0 && unsent > 0)
        rc = send_down_to(self, st, 0, unsent, ticks, timeout_ms);
    return rc;
}

int weft_stream_drain(weft_stream *stream, int64_t timeout_ms)
{
    weft__task *self;

    if (!timeout_ok(timeout_ms))
        return -EINVAL;
    int rc = enter(&self, stream, WRITER, true);
    if (rc < 0)
        return rc;
    rc = drain(self, stream, timeout_ms);
    leave(stream, WRITER);
    return rc;
}

/* The peer's end of stream: shutdown(2) of a socket's write side; a
 * pipe's write end is closed (its stream reads nothing anyway). */
static int shut_write(weft__task *self, weft_stream *st)
{
    if (st->file != NULL)
        return 0; /* a file has no end to give: the writes stop */
    if (st->is_socket)
        return shutdown(st->sock->fd, SHUT_WR) < 0 ? -errno : 0;
    int fl = fcntl(st->sock->fd, F_GETFL);
    if (fl < 0 || (fl & O_ACCMODE) != O_WRONLY)
        return 0; /* a terminal or the like: no end to give */
    weft__io_release(self, &st->sock->io);
    int rc = close(st->sock->fd) < 0 && errno != EINTR ? -errno : 0;
    st->sock->fd = -1;
    return rc;
}

int weft_stream_write_eof(weft_stream *stream, int64_t timeout_ms)
{
    weft__task *self;

    if (!timeout_ok(timeout_ms))
        return -EINVAL;
    int rc = enter(&self, stream, WRITER, true);
    if (rc < 0)
        return rc;
    if (!stream->shut) {
        rc = drain(self, stream, timeout_ms);
        if (rc == 0) {
            stream->shut = true;
            rc = shut_write(self, stream);
        }
    }
    leave(stream, WRITER);
    return rc;
}

size_t weft_stream_unsent(const weft_stream *stream)
{
    /* No lock: an edge whose callback found the lock taken would be
     * lost (only writers look at the tick after letting it go). */
    if (!valid(stream))
        return 0;
    if (stream->file != NULL)
        return weft__file_unsent(stream->file);
    return (size_t)weft__load_relaxed_u64(&stream->unsent);
}

/* --- opening and closing ------------------------------------------------- */

static bool opts_ok(const weft_stream_opts *opts)
{
    if (opts == NULL)
        return true;
    for (size_t i = 0; i < WEFT__ARRAY_SIZE(opts->reserved); i++)
        if (opts->reserved[i] != NULL)
            return false;
    return true;
}

/* A stream over sock, or over file when sock is NULL. */
static int make(weft_stream **stream, weft_socket *sock, struct weft__file *file,
                bool is_socket, const weft_stream_opts *opts)
{
    weft_stream *st = weft__calloc(1, sizeof *st);

    if (st == NULL)
        return -ENOMEM;
    st->out = evbuffer_new();
    if (st->out == NULL) {
        weft__free(st);
        return -ENOMEM;
    }
    st->magic = STREAM_MAGIC;
    st->is_socket = is_socket;
    st->sock = sock;
    st->file = file;
    st->limit = opts != NULL && opts->limit > 0 ? opts->limit : DEFAULT_LIMIT;
    st->high = opts != NULL && opts->write_high > 0 ? opts->write_high
                                                    : DEFAULT_HIGH;
    st->low = opts != NULL && opts->write_low > 0 ? opts->write_low
                                                  : st->high / 4;
    if (st->low > st->high)
        st->low = st->high;
    st->out_lock = (weft__spinlock)WEFT__SPINLOCK_INIT;
    if (sock != NULL) {
        sock->stream = st;
        /* The socket may be registered already (it waited to connect). */
        weft__io_set_on_writable(&sock->io, on_writable);
    }
    *stream = st;
    return 0;
}

int weft_stream_open(weft_stream **stream, weft_socket *sock,
                     const weft_stream_opts *opts)
{
    if (stream != NULL)
        *stream = NULL;
    if (!weft__socket_valid(sock) || sock->stream != NULL)
        return -EINVAL; /* not a socket to take */
    weft__task *self = weft__task_self();
    if (self == NULL && weft__load_acquire_ptr((void *const *)&sock->io.home) != NULL)
        return -EPERM; /* registered: only a task can close it */
    int rc = self == NULL ? -EPERM : 0;
    if (rc == 0 && (stream == NULL || sock->type != SOCK_STREAM || !opts_ok(opts)))
        rc = -EINVAL;
    if (rc == 0)
        rc = make(stream, sock, NULL, true, opts);
    if (rc < 0)
        weft__socket_free(self, sock);
    return rc;
}

/* weft_stream_open_fd for a regular file or a block device: no
 * readiness to wait for, so its reads and writes go to the pool. */
static int open_file_fd(weft_stream **stream, int fd,
                        const weft_stream_opts *opts)
{
    struct weft__file *file;
    int fl = fcntl(fd, F_GETFL);
    /* O_DIRECT wants aligned buffers, which the stream's are not. */
    int rc = fl < 0 ? -errno : (fl & O_DIRECT) ? -EINVAL : 0;

    if (rc == 0)
        rc = weft__file_new(&file, fd);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    rc = make(stream, NULL, file, false, opts);
    if (rc < 0)
        (void)weft__file_close(file);
    return rc;
}

int weft_stream_open_fd(weft_stream **stream, int fd,
                        const weft_stream_opts *opts)
{
    weft_socket *sock;
    int type = 0;
    socklen_t tlen = sizeof type;

    struct stat sb;

    if (stream != NULL)
        *stream = NULL;
    if (fd < 0)
        return -EINVAL; /* nothing to take */
    weft__task *self = weft__task_self();
    int rc = self == NULL ? -EPERM : 0;
    if (rc == 0 && (stream == NULL || !opts_ok(opts)))
        rc = -EINVAL;
    if (rc == 0 && fstat(fd, &sb) < 0)
        rc = -errno;
    if (rc == 0 && (S_ISREG(sb.st_mode) || S_ISBLK(sb.st_mode)))
        return open_file_fd(stream, fd, opts);
    if (rc == 0 && S_ISDIR(sb.st_mode))
        rc = -EISDIR;
    bool is_socket = rc == 0 &&
                     getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0;
    struct sockaddr_storage ss = { .ss_family = AF_UNSPEC };
    socklen_t sslen = sizeof ss;
    if (is_socket && getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0)
        rc = -errno;
    int fl = rc == 0 ? fcntl(fd, F_GETFL) : 0;
    if (rc == 0 && (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0))
        rc = -errno;
    if (rc == 0 && is_socket && type != SOCK_STREAM)
        rc = -EINVAL;
    if (rc == 0)
        rc = weft__socket_new(&sock, fd, ss.ss_family, is_socket ? type : 0);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    rc = make(stream, sock, NULL, is_socket, opts);
    if (rc < 0)
        weft__socket_free(self, sock);
    return rc;
}


int weft_stream_open_file(weft_stream **stream, const char *path, int flags,
                          mode_t mode, const weft_stream_opts *opts,
                          int64_t timeout_ms)
{
    if (stream != NULL)
        *stream = NULL;
    if (stream == NULL || path == NULL || !opts_ok(opts) ||
        !timeout_ok(timeout_ms))
        return -EINVAL;
    if (weft__task_self() == NULL)
        return -EPERM;
    int fd = weft__fs_open(path, flags, mode, timeout_ms);
    if (fd < 0)
        return fd;
    return weft_stream_open_fd(stream, fd, opts);
}

weft_socket *weft_stream_socket(weft_stream *stream)
{
    return valid(stream) && stream->is_socket ? stream->sock : NULL;
}

static int close_stream(weft_stream *st, bool reset, int64_t timeout_ms)
{
    if (!valid(st) || !timeout_ok(timeout_ms))
        return -EINVAL;
    weft__task *self = weft__task_self();
    if (self == NULL)
        return -EPERM;
    bool shut_down = false;
    if (!weft__cas_u32(&st->closing, OPEN, CLOSING)) {
        if (!weft__cas_u32(&st->closing, SHUT_DOWN, CLOSING))
            return -EINVAL; /* another close is under way */
        shut_down = true; /* no drain: its calls fail with -EBADF */
    }
    int rc = 0;
    /* Drain, unless a writer is at it: it gets -EBADF (below), and what
     * is queued is dropped. */
    if (!reset && !shut_down) {
        if (weft__cas_u32(&st->writing, 0, 1)) {
            rc = drain(self, st, timeout_ms);
            weft__store_release_u32(&st->writing, 0);
        } else {
            rc = -EBUSY;
        }
    }
    if (reset && st->sock != NULL) {
        struct linger lg = { .l_onoff = 1, .l_linger = 0 };
        (void)setsockopt(st->sock->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    /* Ends the waits on it with -EBADF; no edge (nor on_writable) comes
     * after this. */
    if (st->file != NULL)
        weft__file_shut_down(st->file);
    else
        weft__io_release(self, &st->sock->io);
    /* Calls that began before closing was set are on their way out.
     * Pairs with the FAA of enter. */
    while (weft__load_acquire_u32(&st->users) != 0)
        weft__sched_yield(self);
    /* Invalid from here: the file's close below may suspend. */
    st->magic = 0;
    if (st->file != NULL) {
        /* What is left queued is dropped; a write the pool has begun
         * ends, and the last of it closes the file. */
        int crc = weft__file_close(st->file);
        if (rc == 0)
            rc = crc;
    } else {
        /* What is left queued is dropped: the home stops polling for it. */
        weft__spin_lock(&st->out_lock);
        weft__io_want_writable(&st->sock->io, false);
        weft__spin_unlock(&st->out_lock);
    }
    evbuffer_free(st->out);
    weft__free(st->in);
    if (st->sock != NULL)
        weft__socket_free(self, st->sock);
    weft__free(st);
    return rc;
}

void weft__stream_shut_down(weft__task *self, weft_stream *st)
{
    if (!valid(st) || !weft__cas_u32(&st->closing, OPEN, SHUT_DOWN))
        return;
    /* Calls that enter from now on see closing (the CAS is a full
     * barrier, as is their FAA of users); the waits under way end. */
    if (st->file != NULL)
        weft__file_shut_down(st->file);
    else
        weft__io_release(self, &st->sock->io);
}

int weft_stream_close(weft_stream *stream, int64_t timeout_ms)
{
    return close_stream(stream, false, timeout_ms);
}

int weft_stream_abort(weft_stream *stream)
{
    return close_stream(stream, true, 0);
}
