/* Connecting and listening by name: weft_tcp_connect (Happy Eyeballs),
 * weft_tcp_listen, weft_open_connection, weft_open_unix_connection.
 *
 * Happy Eyeballs (RFC 8305) races the addresses of a name so that one
 * that does not answer (an IPv6 route that black-holes, a dead server of
 * several) costs 250 ms rather than a whole connect timeout. The
 * addresses are put in order with the families interleaved, IPv6 first;
 * each attempt is a task of its own, which opens a socket and connects
 * it. The caller starts the first, then waits for any attempt to end: a
 * failure starts the next address at once, and 250 ms without news
 * starts it too, so several attempts may be pending. The first to
 * connect wins; the others are cancelled and awaited, and a socket any
 * of them connected meanwhile is closed.
 *
 * An attempt never fails as a task: it leaves its socket or its error in
 * its record, which the caller reads once it has ended, so that a socket
 * connected just as its attempt was cancelled is still seen and closed
 * (a task's result is dropped when a cancellation request arrived
 * before it ended). The caller's cancellation and deadline (its timeout
 * is a scope over the lookup and the race) end the race the same way,
 * shielded, so no attempt outlives the call.
 */
#include "core/internal.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "io/socket.h"
#include "io/dns.h"
#include "sched/task.h"
#include "sched/wait.h"

/* RFC 8305's recommended Connection Attempt Delay. */
#define ATTEMPT_DELAY_MS 250

#define SOCKET_FLAGS                                                          \
    (WEFT_SOCKET_REUSEADDR | WEFT_SOCKET_REUSEPORT | WEFT_SOCKET_KEEPALIVE |  \
     WEFT_SOCKET_DELAY | WEFT_SOCKET_V6ONLY)

static bool timeout_ok(int64_t timeout_ms)
{
    return timeout_ms >= 0 || timeout_ms == WEFT_FOREVER;
}

/* The calling task, past a checkpoint: 0, or -EPERM, -ECANCELED,
 * -ETIMEDOUT. */
static int enter(void)
{
    weft__task *self = weft__task_self();

    return self != NULL ? weft__check_interrupt(self) : -EPERM;
}

/* --- Happy Eyeballs ------------------------------------------------------- */

struct attempt {
    const struct addrinfo *ai;  /* the address, in the caller's list */
    unsigned flags;             /* weft_socket_open's */
    weft_task *task;            /* NULL until started */
    bool ended;                 /* the caller has seen the task end */
    /* Written by the task, read by the caller once it has ended: */
    weft_socket *sock;          /* connected, or NULL */
    int err;                    /* why not */
};

static void *attempt_main(void *arg)
{
    struct attempt *a = arg;
    weft_socket *s;
    int rc = weft_socket_open(&s, a->ai->ai_family, SOCK_STREAM, a->flags);

    if (rc == 0) {
        rc = weft_socket_connect(s, a->ai->ai_addr, a->ai->ai_addrlen,
                                 WEFT_FOREVER);
        if (rc == 0)
            a->sock = s;
        else
            (void)weft_socket_close(s);
    }
    a->err = rc;
    return NULL;
}

/* Puts the TCP addresses of res into at[] (room for all of res), IPv6
 * and IPv4 alternating, IPv6 first, each family in getaddrinfo's order
 * (RFC 8305, section 4). Returns how many. */
static size_t order_addresses(const struct addrinfo *res, struct attempt *at,
                              unsigned flags)
{
    const struct addrinfo *next[2] = { res, res }; /* IPv6, IPv4 */
    static const int family[2] = { AF_INET6, AF_INET };
    size_t n = 0;

    for (int turn = 0;; turn ^= 1) {
        /* The next address of this turn's family, or of the other. */
        int f = turn;
        for (int tries = 0; tries < 2; tries++, f ^= 1) {
            while (next[f] != NULL && next[f]->ai_family != family[f])
                next[f] = next[f]->ai_next;
            if (next[f] != NULL)
                break;
        }
        if (next[f] == NULL)
            return n;
        at[n++] = (struct attempt){ .ai = next[f], .flags = flags };
        next[f] = next[f]->ai_next;
    }
}

/* Cancels the attempts still running and waits for them all, shielded;
 * closes every socket they connected but the winner's. */
static void race_end(struct attempt *at, size_t n, const struct attempt *winner)
{
    weft_scope shield;
    bool shielded = weft_shield_enter(&shield) == 0;

    for (size_t i = 0; i < n; i++) {
        if (at[i].task != NULL && !at[i].ended)
            (void)weft_cancel(at[i].task);
    }
    for (size_t i = 0; i < n; i++) {
        if (at[i].task == NULL)
            continue;
        (void)weft_await(at[i].task, NULL);
        (void)weft_task_unref(at[i].task);
        if (at[i].sock != NULL && &at[i] != winner)
            (void)weft_socket_close(at[i].sock);
    }
    if (shielded)
        (void)weft_scope_leave(&shield);
}

/* Races at[0..n) (n > 0). pending[] has room for n tasks. */
static int race(weft_socket **sock, struct attempt *at, size_t n,
                weft_task **pending)
{
    struct attempt *winner = NULL;
    size_t started = 0, npending = 0;
    int rc = 0;

    for (;;) {
        /* Each round starts the next address: after a failure, or after
         * the delay passed with every attempt still pending. */
        if (started < n) {
            struct attempt *a = &at[started];
            rc = weft_spawn(&a->task, attempt_main, a);
            if (rc < 0)
                break;
            started++;
            pending[npending++] = a->task;
        }
        if (npending == 0)
            break; /* rc: the last attempt's error */
        size_t ndone = 0;
        rc = weft_wait(pending, npending, WEFT_WAIT_FIRST_COMPLETED, &ndone,
                       started < n ? ATTEMPT_DELAY_MS : WEFT_FOREVER);
        if (rc < 0)
            break;
        /* Takes in the attempts that ended; the others stay pending. */
        npending = 0;
        for (size_t i = 0; i < started; i++) {
            struct attempt *a = &at[i];
            if (a->ended)
                continue;
            if (weft_task_is_done(a->task) != 1) {
                pending[npending++] = a->task;
                continue;
            }
            a->ended = true;
            if (a->sock != NULL && winner == NULL)
                winner = a;
            rc = a->err;
        }
        if (winner != NULL) {
            rc = 0;
            break;
        }
    }
    race_end(at, n, winner);
    if (rc == 0 && winner != NULL)
        *sock = winner->sock;
    return winner != NULL ? rc : (rc < 0 ? rc : -ECONNREFUSED);
}

static int happy_eyeballs(weft_socket **sock, const struct addrinfo *res,
                          unsigned flags)
{
    size_t total = 0;

    for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next)
        total++;
    struct attempt *at = weft__calloc(total, sizeof *at);
    weft_task **pending = weft__calloc(total, sizeof *pending);
    int rc = -ENOMEM;
    if (at != NULL && pending != NULL) {
        size_t n = order_addresses(res, at, flags);
        rc = n > 0 ? race(sock, at, n, pending) : -ENXIO;
    }
    weft__free(pending);
    weft__free(at);
    return rc;
}

int weft_tcp_connect(weft_socket **sock, const char *host, const char *port,
                     unsigned flags, int64_t timeout_ms)
{
    const struct addrinfo hints = { .ai_family = AF_UNSPEC,
                                    .ai_socktype = SOCK_STREAM,
                                    .ai_protocol = IPPROTO_TCP };
    struct addrinfo *res = NULL;
    weft_scope scope;

    if (sock != NULL)
        *sock = NULL;
    if (sock == NULL || host == NULL || port == NULL ||
        (flags & ~SOCKET_FLAGS) || !timeout_ok(timeout_ms))
        return -EINVAL;
    int p = weft__service_port(port);
    if (p == 0 || p == -EINVAL)
        return -EINVAL;
    int rc = enter();
    if (rc < 0)
        return rc;
    /* One deadline for the lookup and the race. */
    if ((rc = weft_timeout_enter(&scope, timeout_ms)) < 0)
        return rc;
    rc = weft_getaddrinfo(host, port, &hints, &res, WEFT_FOREVER);
    if (rc == 0) {
        rc = happy_eyeballs(sock, res, flags);
        weft_freeaddrinfo(res);
    }
    (void)weft_scope_leave(&scope);
    return rc;
}

/* --- listening ------------------------------------------------------------- */

/* A socket listening on ai's address. dual: the wildcard of every
 * family, so IPv6 takes IPv4 too unless flags ask for V6ONLY. */
static int listen_on(weft_socket **sock, const struct addrinfo *ai,
                     unsigned flags, int backlog, bool dual)
{
    weft_socket *s;
    int rc = weft_socket_open(&s, ai->ai_family, SOCK_STREAM, flags);

    if (rc < 0)
        return rc;
    if (dual && ai->ai_family == AF_INET6 && !(flags & WEFT_SOCKET_V6ONLY)) {
        int off = 0;
        if (setsockopt(weft_socket_fd(s), IPPROTO_IPV6, IPV6_V6ONLY, &off,
                       sizeof off) < 0)
            rc = -errno;
    }
    if (rc == 0)
        rc = weft_socket_bind(s, ai->ai_addr, ai->ai_addrlen);
    if (rc == 0)
        rc = weft_socket_listen(s, backlog);
    if (rc < 0)
        (void)weft_socket_close(s);
    else
        *sock = s;
    return rc;
}

/* Resolves host:port for a listener and listens on the first address
 * that takes it. Returns 0, or the error of the last address tried. */
static int listen_resolved(weft_socket **sock, const char *host,
                           const char *port, int family, unsigned flags,
                           int backlog)
{
    const struct addrinfo hints = { .ai_flags = AI_PASSIVE,
                                    .ai_family = family,
                                    .ai_socktype = SOCK_STREAM,
                                    .ai_protocol = IPPROTO_TCP };
    struct addrinfo *res = NULL;
    int rc = weft_getaddrinfo(host, port, &hints, &res, WEFT_FOREVER);

    if (rc < 0)
        return rc;
    rc = -ENXIO;
    for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        rc = listen_on(sock, ai, flags, backlog, host == NULL);
        if (rc == 0)
            break;
    }
    weft_freeaddrinfo(res);
    return rc;
}

int weft_tcp_listen(weft_socket **sock, const char *host, const char *port,
                    unsigned flags, int backlog)
{
    if (sock != NULL)
        *sock = NULL;
    if (sock == NULL || port == NULL || (flags & ~SOCKET_FLAGS) ||
        weft__service_port(port) == -EINVAL)
        return -EINVAL;
    int rc = enter();
    if (rc < 0)
        return rc;
    flags |= WEFT_SOCKET_REUSEADDR;
    if (host != NULL)
        return listen_resolved(sock, host, port, AF_UNSPEC, flags, backlog);
    /* Every address: IPv6's wildcard takes IPv4 as well (dual stack);
     * without IPv6, IPv4's. */
    rc = listen_resolved(sock, NULL, port, AF_INET6, flags, backlog);
    if (rc == -EAFNOSUPPORT)
        rc = listen_resolved(sock, NULL, port, AF_INET, flags, backlog);
    return rc;
}

/* --- streams ----------------------------------------------------------------- */

int weft_open_connection(weft_stream **stream, const char *host,
                         const char *port, const weft_stream_opts *opts,
                         int64_t timeout_ms)
{
    weft_socket *sock;

    if (stream != NULL)
        *stream = NULL;
    if (stream == NULL)
        return -EINVAL;
    int rc = weft_tcp_connect(&sock, host, port, 0, timeout_ms);
    if (rc < 0)
        return rc;
    return weft_stream_open(stream, sock, opts);
}

int weft_open_unix_connection(weft_stream **stream, const char *path,
                              const weft_stream_opts *opts,
                              int64_t timeout_ms)
{
    struct sockaddr_un sa;
    socklen_t len;
    weft_socket *sock;

    if (stream != NULL)
        *stream = NULL;
    if (stream == NULL || !timeout_ok(timeout_ms))
        return -EINVAL;
    int rc = weft__unix_addr(&sa, &len, path);
    if (rc < 0)
        return rc;
    if ((rc = enter()) < 0)
        return rc;
    if ((rc = weft_socket_open(&sock, AF_UNIX, SOCK_STREAM, 0)) < 0)
        return rc;
    rc = weft_socket_connect(sock, (const struct sockaddr *)&sa, len,
                             timeout_ms);
    if (rc < 0) {
        (void)weft_socket_close(sock);
        return rc;
    }
    return weft_stream_open(stream, sock, opts);
}
