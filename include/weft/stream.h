/* weft: buffered streams, asyncio's StreamReader and StreamWriter in one.
 *
 * A stream reads and writes a connected socket or a pipe through its own
 * buffers. Reads are pull-based and cancel-safe: a read that times out,
 * is cancelled or fails leaves every byte it had received in the stream
 * for the next read. Writes are buffered with backpressure: a write
 * returns once the bytes are queued, and waits first while more than the
 * high-water mark is unsent; queued bytes go out in the background, on
 * the stream's home worker, with no drain needed. No weft write raises
 * SIGPIPE.
 *
 * One task may read and another write at the same time, on any workers;
 * a second concurrent reader (or writer) gets -EBUSY. Every call that may
 * wait is a checkpoint and takes a timeout (WEFT_FOREVER, 0, or ms).
 */
#ifndef WEFT_STREAM_H
#define WEFT_STREAM_H

#include <stdint.h>
#include <sys/types.h>

#include "common.h"
#include "socket.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_stream weft_stream;

/* Zero fields take the defaults. */
typedef struct weft_stream_opts {
    size_t limit;      /* longest line or separator search: 64 KiB */
    size_t write_high; /* a write waits above this much unsent: 64 KiB */
    size_t write_low;  /* ... until at most this is: write_high / 4 */
    void *reserved[4]; /* must be zero */
} weft_stream_opts;

/* Makes a stream of a connected stream socket, which it owns from then
 * on, also when it fails (the socket is closed then), except when sock
 * is not a valid socket (-EINVAL) or is called outside a task on a socket
 * a task has waited on (-EPERM). Returns 0, -EINVAL (also for a datagram
 * socket, non-zero reserved fields), -ENOMEM, -EPERM. */
WEFT_EXPORT int weft_stream_open(weft_stream **stream, weft_socket *sock,
                                 const weft_stream_opts *opts);

/* The same over any descriptor epoll can watch: a pipe, a terminal, a
 * stream socket (made non-blocking here); and over a regular file or a
 * block device, whose reads and writes run on the blocking pool (see
 * weft_stream_open_file). fd is the stream's from then on: closed on any
 * failure but fd < 0. -EISDIR for a directory. */
WEFT_EXPORT int weft_stream_open_fd(weft_stream **stream, int fd,
                                    const weft_stream_opts *opts);

/* Opens path with open(2)'s flags (O_RDONLY, O_WRONLY | O_CREAT |
 * O_TRUNC, O_APPEND, ...; O_CLOEXEC is added) and mode, on the blocking
 * pool, and makes a stream of it: aiofiles.open. Over a regular file the
 * stream's reads and writes run on the blocking pool, in order, with the
 * same calls and the same cancel safety as over a socket (a read or
 * write cut short leaves its pool call to finish, and the next call
 * takes what it did). A FIFO or a terminal is driven by readiness
 * instead. Returns 0, open's error (-ENOENT, -EACCES, -EISDIR, ...),
 * -ETIMEDOUT, -ECANCELED, -EINVAL, -EPERM, -ENOMEM. */
WEFT_EXPORT int weft_stream_open_file(weft_stream **stream, const char *path,
                                      int flags, mode_t mode,
                                      const weft_stream_opts *opts,
                                      int64_t timeout_ms);

/* Connects to host:port (weft_tcp_connect, with Happy Eyeballs) and
 * makes a stream of it: asyncio's open_connection. */
WEFT_EXPORT int weft_open_connection(weft_stream **stream, const char *host,
                                     const char *port,
                                     const weft_stream_opts *opts,
                                     int64_t timeout_ms);

/* Connects to a Unix stream socket at path. Returns 0, -ENOENT,
 * -ECONNREFUSED, -ENAMETOOLONG (path does not fit a sockaddr_un),
 * -EAGAIN (the listener's backlog is full), -ETIMEDOUT, -ECANCELED,
 * -EINVAL, -EPERM, ... */
WEFT_EXPORT int weft_open_unix_connection(weft_stream **stream,
                                          const char *path,
                                          const weft_stream_opts *opts,
                                          int64_t timeout_ms);

/* The stream's socket (for its addresses or options), or NULL. */
WEFT_EXPORT weft_socket *weft_stream_socket(weft_stream *stream);

/* Reads up to n bytes (n > 0), waiting for at least one. Returns the
 * count, 0 at end of stream, or -ETIMEDOUT, -ECANCELED, -ECONNRESET,
 * -EBUSY (another task is reading), -EINVAL, ... Cancel-safe. */
WEFT_EXPORT ssize_t weft_stream_read(weft_stream *stream, void *buf, size_t n,
                                     int64_t timeout_ms);

/* Reads exactly n bytes. Returns 0 with *nread = n; or -ENODATA when the
 * stream ends first: the *nread bytes that came are in buf and consumed
 * (asyncio's IncompleteReadError.partial). On a timeout, cancellation or
 * other error *nread is 0 and every byte received stays in the stream.
 * nread may be NULL. The stream's buffer grows to n while waiting. */
WEFT_EXPORT int weft_stream_read_exactly(weft_stream *stream, void *buf,
                                         size_t n, size_t *nread,
                                         int64_t timeout_ms);

/* Reads up to and including the separator sep (seplen >= 1) into buf
 * (cap bytes). Returns the length, separator included; or -EMSGSIZE when
 * the separator is not within the stream's limit, or the bytes up to it
 * do not fit in cap; or -ENODATA when the stream ends before it. In
 * each of these cases, and on a timeout or cancellation, nothing is
 * consumed: the bytes stay in the stream (weft_stream_buffered says how
 * many, weft_stream_read takes them). */
WEFT_EXPORT ssize_t weft_stream_read_until(weft_stream *stream,
                                           const void *sep, size_t seplen,
                                           void *buf, size_t cap,
                                           int64_t timeout_ms);

/* weft_stream_read_until with "\n", except at end of stream, where it
 * returns what is left (without a newline), then 0, as asyncio's
 * readline does. */
WEFT_EXPORT ssize_t weft_stream_read_line(weft_stream *stream, void *buf,
                                          size_t cap, int64_t timeout_ms);

/* Reads to end of stream into a new buffer (*buf, *len; free it with
 * weft_free), at most max bytes: -EMSGSIZE beyond, with nothing
 * consumed. On any error nothing is consumed and *buf is NULL. */
WEFT_EXPORT int weft_stream_read_all(weft_stream *stream, void **buf,
                                     size_t *len, size_t max,
                                     int64_t timeout_ms);

/* Bytes a read would return without waiting. */
WEFT_EXPORT size_t weft_stream_buffered(const weft_stream *stream);

/* 1 once a read has seen the end of the stream and nothing is buffered,
 * 0 before, or -EINVAL. */
WEFT_EXPORT int weft_stream_is_at_eof(const weft_stream *stream);

/* Queues n bytes, sending what the socket takes at once. While more than
 * the high-water mark is unsent it first waits, until at most the
 * low-water mark is: what is queued stays under high + n. Returns 0 (the
 * bytes are queued), or, with none of them queued: -EPIPE, -ECONNRESET (a
 * send failed, now or in the background; given from then on),
 * -ESHUTDOWN (after weft_stream_write_eof), -ETIMEDOUT, -ECANCELED,
 * -EBUSY (another task is writing), -ENOMEM. */
WEFT_EXPORT int weft_stream_write(weft_stream *stream, const void *buf,
                                  size_t n, int64_t timeout_ms);

/* Waits until every queued byte is sent (to the kernel). Returns 0, the
 * error of a failed send, -ETIMEDOUT, -ECANCELED, -EBUSY. */
WEFT_EXPORT int weft_stream_drain(weft_stream *stream, int64_t timeout_ms);

/* Drains, then shuts down the write side (the peer reads end of
 * stream): shutdown(2) of a socket; a pipe's write end is closed. Reads
 * go on. */
WEFT_EXPORT int weft_stream_write_eof(weft_stream *stream,
                                      int64_t timeout_ms);

/* Unsent bytes queued. */
WEFT_EXPORT size_t weft_stream_unsent(const weft_stream *stream);

/* Drains for at most timeout_ms, then closes and frees the stream
 * (always, whatever the drain gave). Tasks still reading or writing it
 * get -EBADF first. Returns 0 or the drain's error (-ETIMEDOUT: unsent
 * bytes were dropped), -EBUSY (a write was under way: what was queued
 * is dropped), or -EPERM outside a task, -EINVAL (a stream being closed
 * already): nothing done then. */
WEFT_EXPORT int weft_stream_close(weft_stream *stream, int64_t timeout_ms);

/* Closes at once with a reset, dropping unsent bytes. */
WEFT_EXPORT int weft_stream_abort(weft_stream *stream);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_STREAM_H */
