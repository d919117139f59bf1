/* weft: stream servers, asyncio's start_server.
 *
 * A server listens on a TCP port or a Unix socket path and runs a handler
 * task per connection, which gets the connection as a buffered stream
 * (weft/stream.h). Accept tasks loop on accept(2); a connection limit
 * pauses them while that many handlers run; running out of descriptors
 * (EMFILE, ENFILE) drops the pending connections and backs off instead
 * of spinning. weft_server_stop stops accepting, gives the handlers a
 * grace period, then cancels those still running and waits for them.
 */
#ifndef WEFT_SERVER_H
#define WEFT_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "stream.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_server weft_server;

/* A connection handler. It runs as a task of its own and owns conn until
 * it returns; weft then closes conn (draining what is queued, see
 * close_timeout_ms), also when the handler failed or was cancelled. It
 * must not close conn itself. A negative return fails the task with that
 * error, which is reported as any unretrieved task error is. */
typedef int (*weft_conn_fn)(weft_stream *conn, void *arg);

/* weft_server_opts.flags: one listening socket (SO_REUSEPORT) and accept
 * task per worker, each registered on its own worker; the kernel spreads
 * the connections among them. TCP only. */
#define WEFT_SERVER_REUSEPORT 0x1u

/* Zero-initialise it: zero fields take the defaults. */
typedef struct weft_server_opts {
    int backlog;            /* listen(2) backlog; <= 0: SOMAXCONN */
    unsigned flags;         /* WEFT_SERVER_REUSEPORT, or 0 */
    size_t max_connections; /* handlers at once, at most INT_MAX;
                               0: no limit */
    const weft_stream_opts *stream; /* for each connection; NULL: defaults */
    int64_t close_timeout_ms; /* how long weft's close of a connection
                                 drains it; 0: no limit */
    void *reserved[4];      /* must be zero */
} weft_server_opts;

/* Counters since the server started. */
typedef struct weft_server_stats {
    uint64_t accepted;      /* connections handed to a handler */
    uint64_t dropped;       /* connections accepted and closed at once,
                               for want of a descriptor */
    uint64_t fd_exhausted;  /* accepts that failed with EMFILE or ENFILE
                               (each followed by a back-off) */
    uint64_t accept_errors; /* accepts that failed otherwise */
    size_t connections;     /* handlers running now */
    uint64_t reserved[3];   /* zero */
} weft_server_stats;

/* Starts a TCP server on host:port and returns at once: host is a
 * numeric IPv4 or IPv6 address, or NULL for every IPv4 address
 * (0.0.0.0); port is a decimal number, "0" for any free port
 * (weft_server_port says which). SO_REUSEADDR is set. fn(conn, arg) runs
 * for each connection. opts may be NULL. Returns 0, -EINVAL, -EPERM (not
 * in a task), -EADDRINUSE, -EACCES, -EADDRNOTAVAIL, -EMFILE, -ENFILE,
 * -ENOMEM. */
WEFT_EXPORT int weft_server_start(weft_server **srv, const char *host,
                                  const char *port, weft_conn_fn fn,
                                  void *arg, const weft_server_opts *opts);

/* The same on a Unix stream socket at path, which must not exist; the
 * server removes it when it stops. */
WEFT_EXPORT int weft_server_start_unix(weft_server **srv, const char *path,
                                       weft_conn_fn fn, void *arg,
                                       const weft_server_opts *opts);

/* The TCP port the server listens on, or -EINVAL (a Unix server, or a
 * bad srv). */
WEFT_EXPORT int weft_server_port(const weft_server *srv);

/* asyncio's serve_forever: waits until the server has stopped
 * (weft_server_stop returned). Returns 0, -ETIMEDOUT, -ECANCELED (the
 * server keeps running), -EINVAL, -EPERM. */
WEFT_EXPORT int weft_server_wait(weft_server *srv, int64_t timeout_ms);

/* Stops accepting (the listeners are closed), waits up to grace_ms
 * (WEFT_FOREVER: no limit; 0: none) for the running handlers, then
 * cancels those left and waits for them to end. When it returns the
 * server has stopped and runs nothing; it frees nothing. Returns 0, or
 * -ECANCELED or -ETIMEDOUT if the caller was interrupted during the
 * grace period (which ended there: the server stopped all the same), or
 * -EINVAL, -EPERM, -EALREADY (stopped or stopping already). */
WEFT_EXPORT int weft_server_stop(weft_server *srv, int64_t grace_ms);

/* Frees a stopped server. Returns 0, -EINVAL, or -EBUSY (it has not
 * stopped, or a task waits in weft_server_wait: nothing is freed). */
WEFT_EXPORT int weft_server_destroy(weft_server *srv);

/* Handlers running now, or -EINVAL. */
WEFT_EXPORT int weft_server_connections(const weft_server *srv);

/* Copies the server's counters into *stats. Returns 0 or -EINVAL. */
WEFT_EXPORT int weft_server_get_stats(const weft_server *srv,
                                      weft_server_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_SERVER_H */
