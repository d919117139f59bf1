/* weft: sockets whose waits suspend the task, not its worker.
 *
 * TCP (IPv4 and IPv6), UDP and Unix stream and datagram sockets. Every
 * call first tries the system call and suspends only when it would
 * block; the socket is then registered, once, with the event loop of
 * the worker where it first waited (its home). A task may move between
 * workers between calls. Every call that may wait is a checkpoint and
 * takes a timeout (WEFT_FOREVER, 0 or more milliseconds; 0: do not
 * wait); deadline scopes apply too.
 *
 * A socket may be used by one reading and one writing task at once; a
 * second task waiting to read (or to write) gets -EBUSY.
 */
#ifndef WEFT_SOCKET_H
#define WEFT_SOCKET_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_socket weft_socket;

/* weft_socket_open flags. */
#define WEFT_SOCKET_REUSEADDR 0x1u  /* SO_REUSEADDR */
#define WEFT_SOCKET_REUSEPORT 0x2u  /* SO_REUSEPORT */
#define WEFT_SOCKET_KEEPALIVE 0x4u  /* SO_KEEPALIVE */
#define WEFT_SOCKET_DELAY 0x8u      /* leave Nagle on: TCP_NODELAY is set
                                       by default on TCP streams */
#define WEFT_SOCKET_V6ONLY 0x10u    /* IPV6_V6ONLY */

/* Opens a non-blocking, close-on-exec socket: family AF_INET, AF_INET6
 * or AF_UNIX; type SOCK_STREAM or SOCK_DGRAM. Returns 0, -EINVAL,
 * -EAFNOSUPPORT, -EMFILE, -ENFILE, -ENOMEM, -EPERM (not in a task). */
WEFT_EXPORT int weft_socket_open(weft_socket **sock, int family, int type,
                                 unsigned flags);

/* Wraps a socket the program already has (made non-blocking here);
 * weft_socket_close closes it. Returns 0, -EINVAL (fd < 0), -ENOTSOCK,
 * -ENOMEM, -EPERM. */
WEFT_EXPORT int weft_socket_adopt(weft_socket **sock, int fd);

/* A connected pair (socketpair(2)), type SOCK_STREAM or SOCK_DGRAM. */
WEFT_EXPORT int weft_socket_pair(weft_socket **a, weft_socket **b, int type);

/* The descriptor, for setsockopt(2) and the like; never close it. */
WEFT_EXPORT int weft_socket_fd(const weft_socket *sock);

WEFT_EXPORT int weft_socket_bind(weft_socket *sock, const struct sockaddr *addr,
                                 socklen_t addr_len);
/* backlog <= 0: SOMAXCONN. */
WEFT_EXPORT int weft_socket_listen(weft_socket *sock, int backlog);

/* Accepts a connection, waiting for one; peer and peer_len may be NULL.
 * EMFILE and ENFILE are returned as they are: the caller backs off
 * (weft_server does). */
WEFT_EXPORT int weft_socket_accept(weft_socket *sock, weft_socket **conn,
                                   struct sockaddr_storage *peer,
                                   socklen_t *peer_len, int64_t timeout_ms);

/* Connects, waiting for the handshake. Returns 0, -ECONNREFUSED,
 * -ETIMEDOUT, -ECANCELED, -ENETUNREACH, -EHOSTUNREACH, -EAGAIN (a Unix
 * listener's queue is full: try again later), ... A connect that timed
 * out or was cancelled leaves the socket unusable: close it. */
WEFT_EXPORT int weft_socket_connect(weft_socket *sock,
                                    const struct sockaddr *addr,
                                    socklen_t addr_len, int64_t timeout_ms);

/* Sends up to len bytes, waiting until at least one can go. Returns the
 * count sent (> 0; 0 only for len 0), or -EPIPE, -ECONNRESET, -ETIMEDOUT,
 * -ECANCELED, ... Never raises SIGPIPE. */
WEFT_EXPORT ssize_t weft_socket_send(weft_socket *sock, const void *buf,
                                     size_t len, int64_t timeout_ms);
/* Receives up to len bytes, waiting for some. Returns the count (> 0),
 * 0 at end of stream (or an empty datagram), or a negative errno. */
WEFT_EXPORT ssize_t weft_socket_recv(weft_socket *sock, void *buf, size_t len,
                                     int64_t timeout_ms);
WEFT_EXPORT ssize_t weft_socket_sendto(weft_socket *sock, const void *buf,
                                       size_t len, const struct sockaddr *to,
                                       socklen_t to_len, int64_t timeout_ms);
/* from and from_len may be NULL. */
WEFT_EXPORT ssize_t weft_socket_recvfrom(weft_socket *sock, void *buf,
                                         size_t len,
                                         struct sockaddr_storage *from,
                                         socklen_t *from_len,
                                         int64_t timeout_ms);

/* shutdown(2): how is SHUT_RD, SHUT_WR or SHUT_RDWR. */
WEFT_EXPORT int weft_socket_shutdown(weft_socket *sock, int how);

WEFT_EXPORT int weft_socket_local_addr(const weft_socket *sock,
                                       struct sockaddr_storage *addr,
                                       socklen_t *addr_len);
WEFT_EXPORT int weft_socket_peer_addr(const weft_socket *sock,
                                      struct sockaddr_storage *addr,
                                      socklen_t *addr_len);
/* The local port of an AF_INET or AF_INET6 socket (after binding port 0),
 * or a negative errno. */
WEFT_EXPORT int weft_socket_port(const weft_socket *sock);

/* Closes and frees the socket. Calls under way on it that may wait end
 * with -EBADF first, and it returns once they have left. Returns 0,
 * -EINVAL (not an open socket, a stream's socket, a close under way),
 * or -EPERM outside a task for a socket a task has waited on (it is
 * left as it was: only a task reaches its home). */
WEFT_EXPORT int weft_socket_close(weft_socket *sock);

/* Closes with a reset (SO_LINGER 0): the peer reads ECONNRESET. */
WEFT_EXPORT int weft_socket_abort(weft_socket *sock);

/* Resolves host and service (either may be NULL, not both) off the
 * workers, on the default executor, with at most half of its threads
 * doing it at once; numeric addresses are parsed inline. hints may be
 * NULL (any family, SOCK_STREAM). *res: free it with weft_freeaddrinfo.
 * A call cancelled or timed out returns at once; its lookup ends on its
 * thread, where its result is freed. Returns 0, -ENXIO (no such host or
 * service), -EAGAIN (temporary failure), -ENOMEM, -EAFNOSUPPORT,
 * -ETIMEDOUT, -ECANCELED, -EINVAL (also a numeric service beyond 65535,
 * bad hints flags), -EPERM (not in a task), -EIO (other failures). */
struct addrinfo;
WEFT_EXPORT int weft_getaddrinfo(const char *host, const char *service,
                                 const struct addrinfo *hints,
                                 struct addrinfo **res, int64_t timeout_ms);
WEFT_EXPORT void weft_freeaddrinfo(struct addrinfo *res);

/* Connects a TCP socket to host:port: resolves it, then tries the
 * addresses with Happy Eyeballs (RFC 8305: families interleaved, a new
 * attempt every 250 ms while earlier ones are pending; the first to
 * connect wins, the others are closed). flags: weft_socket_open's.
 * timeout_ms bounds the lookup and the attempts together. Returns 0, or
 * the error of the last attempt (-ECONNREFUSED, ...), -ENXIO,
 * -ETIMEDOUT, -ECANCELED, -EINVAL (a port not 1..65535, bad flags),
 * -EPERM, ... */
WEFT_EXPORT int weft_tcp_connect(weft_socket **sock, const char *host,
                                 const char *port, unsigned flags,
                                 int64_t timeout_ms);

/* Opens a TCP socket listening on host:port (host NULL: every address,
 * one dual-stack IPv6 socket, or IPv4 without IPv6; else the first of
 * host's addresses that can be bound; port "0": any free port, see
 * weft_socket_port). SO_REUSEADDR is set; backlog <= 0: SOMAXCONN.
 * Returns 0, -EADDRINUSE, -ENXIO, -EINVAL, -EPERM, ... */
WEFT_EXPORT int weft_tcp_listen(weft_socket **sock, const char *host,
                                const char *port, unsigned flags,
                                int backlog);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_SOCKET_H */
