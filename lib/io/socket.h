/* A socket, or any descriptor the I/O layer drives (a pipe under a
 * stream), and the try-then-wait loop every call is made of. */
#ifndef WEFT_IO_SOCKET_H
#define WEFT_IO_SOCKET_H

#include <stdbool.h>
#include <stdint.h>

#include "core/atomic.h"
#include "core/internal.h"
#include "sched/iowait.h"

typedef struct weft__task weft__task; /* sched/task.h */

#define WEFT__SOCKET_MAGIC 0x736f636bu /* "sock" */

struct weft_socket {
    uint32_t magic;     /* WEFT__SOCKET_MAGIC while open */
    int fd;
    int family;         /* AF_*, or AF_UNSPEC for a descriptor that is
                           not a socket */
    int type;           /* SOCK_STREAM, SOCK_DGRAM, ... */
    struct weft_stream *stream; /* the stream that owns it, or NULL */
    uint32_t users;     /* atomic: calls under way that may wait */
    uint32_t closing;   /* atomic: weft_socket_close began */
    struct weft__io io;
};

static inline bool weft__socket_valid(const weft_socket *s)
{
    return s != NULL && s->magic == WEFT__SOCKET_MAGIC;
}

/* Wraps fd (already non-blocking) in a new socket. Returns 0 or
 * -ENOMEM (fd is then left open). */
int weft__socket_new(weft_socket **sock, int fd, int family, int type);

/* An absolute deadline for a call's timeout_ms (-1: none). */
int64_t weft__io_deadline(int64_t timeout_ms);

/* Fills *sun and *len with the Unix address of path: a file system path,
 * or with a leading '@' a name in Linux's abstract namespace (the rest of
 * path, without the '@'). Returns 0, -EINVAL (NULL, "" or "@") or
 * -ENAMETOOLONG. */
struct sockaddr_un;
int weft__unix_addr(struct sockaddr_un *sun, socklen_t *len, const char *path);

/* After a call failed with EAGAIN: waits for an edge in dirs after
 * ticks, until deadline (-1: none). Returns 0 (try again) or a negative
 * errno (-ETIMEDOUT once the deadline has passed). */
int weft__socket_wait(weft__task *self, weft_socket *s, unsigned dirs,
                      uint64_t ticks, int64_t deadline);

/* Closes and frees s (registration first). On a task, or with s never
 * registered. */
void weft__socket_free(weft__task *self, weft_socket *s);

#endif /* WEFT_IO_SOCKET_H */
