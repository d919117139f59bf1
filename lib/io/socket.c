/* Sockets (weft/socket.h): each call tries the system call first and
 * suspends only on EAGAIN (sched/iowait.h). */
#include "io/socket.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/clock.h"
#include "sched/loop.h"
#include "sched/scope.h"
#include "sched/task.h"
#include "sched/wait.h"

int weft__socket_new(weft_socket **sock, int fd, int family, int type)
{
    weft_socket *s = weft__malloc(sizeof *s);

    if (s == NULL)
        return -ENOMEM;
    s->magic = WEFT__SOCKET_MAGIC;
    s->fd = fd;
    s->family = family;
    s->type = type;
    s->stream = NULL;
    s->users = 0;
    s->closing = 0;
    weft__io_init(&s->io, fd);
    *sock = s;
    return 0;
}

int64_t weft__io_deadline(int64_t timeout_ms)
{
    if (timeout_ms < 0)
        return -1;
    int64_t now = weft__now_ms();
    return timeout_ms > INT64_MAX - now ? INT64_MAX : now + timeout_ms;
}

int weft__socket_wait(weft__task *self, weft_socket *s, unsigned dirs,
                      uint64_t ticks, int64_t deadline)
{
    int64_t left = WEFT_FOREVER;

    if (deadline >= 0) {
        left = deadline - weft__now_ms();
        if (left <= 0)
            return -ETIMEDOUT;
    }
    return weft__io_wait(self, &s->io, dirs, ticks, left, 0,
                         WEFT__WAITING_FD);
}

void weft__socket_free(weft__task *self, weft_socket *s)
{
    /* A second release, after close's, does nothing. */
    if (self != NULL)
        weft__io_release(self, &s->io);
    s->magic = 0;
    if (s->fd >= 0) /* a stream's write_eof may have closed a pipe */
        (void)close(s->fd);
    weft__free(s);
}

/* Begins a call on s that may wait: the calling task, counted in s's
 * users, or an error: -EINVAL for a bad socket, -EPERM outside a task,
 * -EBADF once closing, or the interruption a checkpoint delivers. */
static int enter(weft__task **self, weft_socket *s)
{
    if (!weft__socket_valid(s))
        return -EINVAL;
    *self = weft__task_self();
    if (*self == NULL)
        return -EPERM;
    /* A full barrier, as is close's store then load: close sees this
     * call, or this call sees closing. */
    weft__faa_u32(&s->users, 1);
    int rc = weft__load_acquire_u32(&s->closing) ? -EBADF
                                                  : weft__check_interrupt(*self);
    if (rc < 0)
        weft__faa_u32(&s->users, (uint32_t)-1);
    return rc;
}

/* Ends it: the last touch of s, which close may free right after. */
static void leave(weft_socket *s)
{
    weft__faa_u32(&s->users, (uint32_t)-1);
}

static bool timeout_ok(int64_t timeout_ms)
{
    return timeout_ms >= 0 || timeout_ms == WEFT_FOREVER;
}

static int set_flags(int fd, int family, int type, unsigned flags)
{
    int one = 1;

    if ((flags & WEFT_SOCKET_REUSEADDR) &&
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        return -errno;
    if ((flags & WEFT_SOCKET_REUSEPORT) &&
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
        return -errno;
    if ((flags & WEFT_SOCKET_KEEPALIVE) &&
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one) < 0)
        return -errno;
    if (family == AF_INET6 && (flags & WEFT_SOCKET_V6ONLY) &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)
        return -errno;
    if ((family == AF_INET || family == AF_INET6) && type == SOCK_STREAM &&
        !(flags & WEFT_SOCKET_DELAY) &&
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
        return -errno;
    return 0;
}

#define SOCKET_FLAGS                                                          \
    (WEFT_SOCKET_REUSEADDR | WEFT_SOCKET_REUSEPORT | WEFT_SOCKET_KEEPALIVE |  \
     WEFT_SOCKET_DELAY | WEFT_SOCKET_V6ONLY)

int weft_socket_open(weft_socket **sock, int family, int type, unsigned flags)
{
    if (sock == NULL)
        return -EINVAL;
    *sock = NULL;
    if ((family != AF_INET && family != AF_INET6 && family != AF_UNIX) ||
        (type != SOCK_STREAM && type != SOCK_DGRAM) || (flags & ~SOCKET_FLAGS))
        return -EINVAL;
    if (weft__task_self() == NULL)
        return -EPERM;
    int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int rc = set_flags(fd, family, type, flags);
    if (rc == 0)
        rc = weft__socket_new(sock, fd, family, type);
    if (rc < 0)
        close(fd);
    return rc;
}

int weft_socket_adopt(weft_socket **sock, int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int type;
    socklen_t tlen = sizeof type;

    if (sock == NULL)
        return -EINVAL;
    *sock = NULL;
    if (fd < 0)
        return -EINVAL;
    if (weft__task_self() == NULL)
        return -EPERM;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0)
        return errno == ENOTSOCK ? -ENOTSOCK : -errno;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -errno;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    return weft__socket_new(sock, fd, ss.ss_family, type);
}

int weft_socket_pair(weft_socket **a, weft_socket **b, int type)
{
    int fds[2];

    if (a == NULL || b == NULL)
        return -EINVAL;
    *a = *b = NULL;
    if (type != SOCK_STREAM && type != SOCK_DGRAM)
        return -EINVAL;
    if (weft__task_self() == NULL)
        return -EPERM;
    if (socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0)
        return -errno;
    int rc = weft__socket_new(a, fds[0], AF_UNIX, type);
    if (rc == 0 && (rc = weft__socket_new(b, fds[1], AF_UNIX, type)) < 0) {
        weft__free(*a);
        *a = NULL;
    }
    if (rc < 0) {
        close(fds[0]);
        close(fds[1]);
    }
    return rc;
}

int weft_socket_fd(const weft_socket *sock)
{
    return weft__socket_valid(sock) ? sock->fd : -EINVAL;
}

int weft_socket_bind(weft_socket *sock, const struct sockaddr *addr,
                     socklen_t addr_len)
{
    if (!weft__socket_valid(sock) || addr == NULL)
        return -EINVAL;
    return bind(sock->fd, addr, addr_len) < 0 ? -errno : 0;
}

int weft_socket_listen(weft_socket *sock, int backlog)
{
    if (!weft__socket_valid(sock))
        return -EINVAL;
    return listen(sock->fd, backlog > 0 ? backlog : SOMAXCONN) < 0 ? -errno
                                                                   : 0;
}

static int accept_one(weft__task *self, weft_socket *sock, weft_socket **conn,
                      struct sockaddr_storage *peer, socklen_t *peer_len,
                      int64_t timeout_ms)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int rc;
    int64_t deadline = weft__io_deadline(timeout_ms);
    for (;;) {
        uint64_t ticks = weft__io_ticks(&sock->io);
        int fd = accept4(sock->fd, (struct sockaddr *)&ss, &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            rc = set_flags(fd, sock->family, sock->type, 0);
            if (rc == 0)
                rc = weft__socket_new(conn, fd, sock->family, sock->type);
            if (rc < 0) {
                close(fd);
                return rc;
            }
            if (peer != NULL)
                memcpy(peer, &ss, len < sizeof ss ? len : sizeof ss);
            if (peer_len != NULL)
                *peer_len = len;
            weft__io_budget_spend(self);
            return 0;
        }
        /* A connection that died in the backlog: take the next. */
        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
            continue;
        if (errno != EAGAIN)
            return -errno;
        if ((rc = weft__socket_wait(self, sock, WEFT__IO_IN, ticks,
                                    deadline)) < 0)
            return rc;
    }
}

int weft_socket_accept(weft_socket *sock, weft_socket **conn,
                       struct sockaddr_storage *peer, socklen_t *peer_len,
                       int64_t timeout_ms)
{
    weft__task *self;

    if (conn == NULL)
        return -EINVAL;
    *conn = NULL;
    if (!timeout_ok(timeout_ms))
        return -EINVAL;
    int rc = enter(&self, sock);
    if (rc == 0) {
        rc = accept_one(self, sock, conn, peer, peer_len, timeout_ms);
        leave(sock);
    }
    return rc;
}

int weft__unix_addr(struct sockaddr_un *sun, socklen_t *len, const char *path)
{
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    if (path == NULL || path[0] == '\0' || (path[0] == '@' && path[1] == '\0'))
        return -EINVAL;
    size_t n = strlen(path);
    if (path[0] == '@') {
        /* Abstract: sun_path[0] is NUL, the name is the rest, measured
         * by the length and not NUL-terminated. */
        if (n > sizeof sun->sun_path)
            return -ENAMETOOLONG;
        memcpy(sun->sun_path + 1, path + 1, n - 1);
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
        return 0;
    }
    if (n >= sizeof sun->sun_path)
        return -ENAMETOOLONG;
    memcpy(sun->sun_path, path, n + 1);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return 0;
}

/* A Unix stream socket's connect fails with EAGAIN while the listener's
 * backlog is full, and no edge tells when it has room: try again after a
 * pause that doubles from 1 ms to 64 ms, until the deadline. */
#define UNIX_RETRY_MIN_MS 1
#define UNIX_RETRY_MAX_MS 64

static int unix_backlog_pause(int64_t deadline, int64_t *pause_ms)
{
    int64_t ms = *pause_ms;

    if (deadline >= 0) {
        int64_t left = deadline - weft__now_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        if (ms > left)
            ms = left;
    }
    *pause_ms = *pause_ms * 2 > UNIX_RETRY_MAX_MS ? UNIX_RETRY_MAX_MS
                                                  : *pause_ms * 2;
    return weft_sleep(ms);
}

static int connect_to(weft__task *self, weft_socket *sock,
                      const struct sockaddr *addr, socklen_t addr_len,
                      int64_t timeout_ms)
{
    int64_t deadline = weft__io_deadline(timeout_ms);
    int64_t pause_ms = UNIX_RETRY_MIN_MS;
    uint64_t ticks;

    for (;;) {
        ticks = weft__io_ticks(&sock->io);
        if (connect(sock->fd, addr, addr_len) == 0)
            return 0;
        if (errno != EAGAIN || sock->family != AF_UNIX)
            break;
        int rc = unix_backlog_pause(deadline, &pause_ms);
        if (rc < 0)
            return rc;
    }
    if (errno != EINPROGRESS && errno != EINTR)
        return -errno;
    for (;;) {
        int err = 0;
        socklen_t len = sizeof err;
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof ss;
        /* Connected once it has a peer; SO_ERROR says why not. */
        if (getsockopt(sock->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            return -errno;
        if (err != 0)
            return -err;
        if (getpeername(sock->fd, (struct sockaddr *)&ss, &sslen) == 0)
            return 0;
        if (errno != ENOTCONN)
            return -errno;
        int rc = weft__socket_wait(self, sock, WEFT__IO_OUT, ticks, deadline);
        if (rc < 0)
            return rc;
        ticks = weft__io_ticks(&sock->io);
    }
}

int weft_socket_connect(weft_socket *sock, const struct sockaddr *addr,
                        socklen_t addr_len, int64_t timeout_ms)
{
    weft__task *self;

    if (addr == NULL || !timeout_ok(timeout_ms))
        return -EINVAL;
    int rc = enter(&self, sock);
    if (rc == 0) {
        rc = connect_to(self, sock, addr, addr_len, timeout_ms);
        leave(sock);
    }
    return rc;
}

/* The try-then-wait loop of the data calls. */
enum op { OP_SEND, OP_RECV, OP_SENDTO, OP_RECVFROM };

struct call {
    enum op op;
    void *buf;
    size_t len;
    const struct sockaddr *to;
    socklen_t to_len;
    struct sockaddr_storage *from;
    socklen_t *from_len;
};

static ssize_t try_call(weft_socket *s, struct call *c)
{
    struct sockaddr_storage scratch;
    socklen_t flen;
    ssize_t n;

    switch (c->op) {
    case OP_SEND:
        return send(s->fd, c->buf, c->len, MSG_NOSIGNAL | MSG_DONTWAIT);
    case OP_RECV:
        return recv(s->fd, c->buf, c->len, MSG_DONTWAIT);
    case OP_SENDTO:
        return sendto(s->fd, c->buf, c->len, MSG_NOSIGNAL | MSG_DONTWAIT,
                      c->to, c->to_len);
    case OP_RECVFROM:
        flen = sizeof scratch;
        n = recvfrom(s->fd, c->buf, c->len, MSG_DONTWAIT,
                     (struct sockaddr *)(c->from != NULL ? c->from : &scratch),
                     &flen);
        if (n >= 0 && c->from_len != NULL)
            *c->from_len = flen;
        return n;
    }
    return -1;
}

static ssize_t data_loop(weft__task *self, weft_socket *s, struct call *c,
                         int64_t timeout_ms)
{
    int rc;
    unsigned dir = c->op == OP_SEND || c->op == OP_SENDTO ? WEFT__IO_OUT
                                                          : WEFT__IO_IN;
    int64_t deadline = -2; /* computed at the first wait */
    for (;;) {
        uint64_t ticks = weft__io_ticks(&s->io);
        ssize_t n = try_call(s, c);
        if (n >= 0) {
            weft__io_budget_spend(self);
            return n;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return -errno;
        if (deadline == -2)
            deadline = weft__io_deadline(timeout_ms);
        if ((rc = weft__socket_wait(self, s, dir, ticks, deadline)) < 0)
            return rc;
    }
}

static ssize_t data_call(weft_socket *s, struct call *c, int64_t timeout_ms)
{
    weft__task *self;

    if ((c->buf == NULL && c->len > 0) || !timeout_ok(timeout_ms))
        return -EINVAL;
    int rc = enter(&self, s);
    if (rc < 0)
        return rc;
    ssize_t n = data_loop(self, s, c, timeout_ms);
    leave(s);
    return n;
}

ssize_t weft_socket_send(weft_socket *sock, const void *buf, size_t len,
                         int64_t timeout_ms)
{
    struct call c = { .op = OP_SEND, .buf = (void *)(uintptr_t)buf,
                      .len = len };
    return data_call(sock, &c, timeout_ms);
}

ssize_t weft_socket_recv(weft_socket *sock, void *buf, size_t len,
                         int64_t timeout_ms)
{
    struct call c = { .op = OP_RECV, .buf = buf, .len = len };
    return data_call(sock, &c, timeout_ms);
}

ssize_t weft_socket_sendto(weft_socket *sock, const void *buf, size_t len,
                           const struct sockaddr *to, socklen_t to_len,
                           int64_t timeout_ms)
{
    struct call c = { .op = OP_SENDTO, .buf = (void *)(uintptr_t)buf,
                      .len = len, .to = to, .to_len = to_len };
    if (to == NULL)
        return -EINVAL;
    return data_call(sock, &c, timeout_ms);
}

ssize_t weft_socket_recvfrom(weft_socket *sock, void *buf, size_t len,
                             struct sockaddr_storage *from,
                             socklen_t *from_len, int64_t timeout_ms)
{
    struct call c = { .op = OP_RECVFROM, .buf = buf, .len = len,
                      .from = from, .from_len = from_len };
    return data_call(sock, &c, timeout_ms);
}

int weft_socket_shutdown(weft_socket *sock, int how)
{
    if (!weft__socket_valid(sock) ||
        (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR))
        return -EINVAL;
    return shutdown(sock->fd, how) < 0 ? -errno : 0;
}

int weft_socket_local_addr(const weft_socket *sock,
                           struct sockaddr_storage *addr, socklen_t *addr_len)
{
    socklen_t len = sizeof *addr;

    if (!weft__socket_valid(sock) || addr == NULL)
        return -EINVAL;
    if (getsockname(sock->fd, (struct sockaddr *)addr, &len) < 0)
        return -errno;
    if (addr_len != NULL)
        *addr_len = len;
    return 0;
}

int weft_socket_peer_addr(const weft_socket *sock,
                          struct sockaddr_storage *addr, socklen_t *addr_len)
{
    socklen_t len = sizeof *addr;

    if (!weft__socket_valid(sock) || addr == NULL)
        return -EINVAL;
    if (getpeername(sock->fd, (struct sockaddr *)addr, &len) < 0)
        return -errno;
    if (addr_len != NULL)
        *addr_len = len;
    return 0;
}

int weft_socket_port(const weft_socket *sock)
{
    struct sockaddr_storage ss;
    int rc = weft_socket_local_addr(sock, &ss, NULL);

    if (rc < 0)
        return rc;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -EAFNOSUPPORT;
}

static int close_socket(weft_socket *sock, bool reset)
{
    if (!weft__socket_valid(sock) || sock->stream != NULL)
        return -EINVAL; /* a stream's: weft_stream_close closes it */
    weft__task *self = weft__task_self();
    if (self == NULL &&
        weft__load_acquire_ptr((void *const *)&sock->io.home) != NULL)
        return -EPERM; /* registered: only a task can reach its home */
    if (!weft__cas_u32(&sock->closing, 0, 1))
        return -EINVAL; /* another close is under way */
    if (self != NULL) {
        /* Ends the waits with -EBADF, then lets the calls under way
         * leave. Pairs with the FAA of enter. */
        weft__io_release(self, &sock->io);
        while (weft__load_acquire_u32(&sock->users) != 0)
            weft__sched_yield(self);
    }
    if (reset) {
        struct linger lg = { .l_onoff = 1, .l_linger = 0 };
        (void)setsockopt(sock->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    weft__socket_free(self, sock);
    return 0;
}

int weft_socket_close(weft_socket *sock)
{
    return close_socket(sock, false);
}

int weft_socket_abort(weft_socket *sock)
{
    return close_socket(sock, true);
}
