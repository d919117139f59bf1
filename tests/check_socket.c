/* Sockets and descriptor waits: TCP, UDP and Unix sockets, every call's
 * timeout and cancellation, errors, closing under a waiter, the
 * operation budget, and weft_fd_wait on descriptors weft does not own. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/un.h>

#include "netutil.h"

/* --- TCP ------------------------------------------------------------------ */

#define TCP_CLIENTS 12
#define TCP_ROUNDS 200

static void *tcp_echo(void *arg)
{
    weft_socket *c = arg;
    char buf[128];
    ssize_t n;

    while ((n = weft_socket_recv(c, buf, sizeof buf, WEFT_FOREVER)) > 0)
        for (ssize_t off = 0; off < n;) {
            ssize_t m = weft_socket_send(c, buf + off, (size_t)(n - off),
                                         WEFT_FOREVER);
            CHECK(m > 0);
            off += m;
        }
    CHECK(n == 0);
    CHECK(weft_socket_close(c) == 0);
    return NULL;
}

static void *tcp_client(void *arg)
{
    struct sockaddr_in *addr = arg;
    weft_socket *s;
    char msg[32], back[32];

    CHECK(weft_socket_open(&s, AF_INET, SOCK_STREAM, WEFT_SOCKET_KEEPALIVE) == 0);
    CHECK(weft_socket_connect(s, (struct sockaddr *)addr, sizeof *addr,
                              WEFT_FOREVER) == 0);
    struct sockaddr_storage peer;
    socklen_t plen;
    CHECK(weft_socket_peer_addr(s, &peer, &plen) == 0);
    CHECK(plen == sizeof(struct sockaddr_in) &&
          ((struct sockaddr_in *)&peer)->sin_port == addr->sin_port);
    for (int i = 0; i < TCP_ROUNDS; i++) {
        memset(msg, 'a' + i % 26, sizeof msg);
        CHECK(weft_socket_send(s, msg, sizeof msg, WEFT_FOREVER) == sizeof msg);
        size_t got = 0;
        while (got < sizeof back) {
            ssize_t n = weft_socket_recv(s, back + got, sizeof back - got,
                                         WEFT_FOREVER);
            CHECK(n > 0);
            got += (size_t)n;
        }
        CHECK(memcmp(msg, back, sizeof msg) == 0);
        if (i % 3 == 0)
            CHECK(weft_yield() == 0);
    }
    CHECK(weft_socket_shutdown(s, SHUT_WR) == 0);
    CHECK(weft_socket_recv(s, back, sizeof back, WEFT_FOREVER) == 0);
    CHECK(weft_socket_close(s) == 0);
    return NULL;
}

static void *tcp_main(void *arg)
{
    struct sockaddr_in addr;
    weft_socket *l = listen_loopback(&addr);
    weft_task *clients[TCP_CLIENTS], *servers[TCP_CLIENTS];

    (void)arg;
    for (int i = 0; i < TCP_CLIENTS; i++)
        ck_assert_int_eq(weft_spawn(&clients[i], tcp_client, &addr), 0);
    for (int i = 0; i < TCP_CLIENTS; i++) {
        weft_socket *c;
        struct sockaddr_storage peer;
        socklen_t plen = 0;
        ck_assert_int_eq(weft_socket_accept(l, &c, &peer, &plen, WEFT_FOREVER), 0);
        ck_assert_int_eq(plen, sizeof(struct sockaddr_in));
        ck_assert_int_eq(peer.ss_family, AF_INET);
        ck_assert_int_ge(weft_socket_fd(c), 0);
        ck_assert_int_eq(weft_spawn(&servers[i], tcp_echo, c), 0);
    }
    for (int i = 0; i < TCP_CLIENTS; i++) {
        ck_assert_int_eq(weft_await(clients[i], NULL), 0);
        ck_assert_int_eq(weft_await(servers[i], NULL), 0);
        weft_task_unref(clients[i]);
        weft_task_unref(servers[i]);
    }
    struct sockaddr_storage local;
    ck_assert_int_eq(weft_socket_local_addr(l, &local, NULL), 0);
    ck_assert_int_eq(((struct sockaddr_in *)&local)->sin_port, addr.sin_port);
    ck_assert_int_eq(weft_socket_close(l), 0);
    return NULL;
}

START_TEST(test_tcp_echo)
{
    ck_assert_int_eq(run_on(4, tcp_main, NULL), 0);
}
END_TEST

static void *ipv6_main(void *arg)
{
    weft_socket *l, *a, *b;
    struct sockaddr_in6 addr = { .sin6_family = AF_INET6,
                                 .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    char buf[4];

    (void)arg;
    ck_assert_int_eq(weft_socket_open(&l, AF_INET6, SOCK_STREAM,
                                      WEFT_SOCKET_V6ONLY | WEFT_SOCKET_REUSEADDR), 0);
    int rc = weft_socket_bind(l, (struct sockaddr *)&addr, sizeof addr);
    if (rc == -EADDRNOTAVAIL) { /* no IPv6 loopback here */
        ck_assert_int_eq(weft_socket_close(l), 0);
        return NULL;
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(weft_socket_listen(l, 16), 0);
    addr.sin6_port = htons((uint16_t)weft_socket_port(l));
    ck_assert_int_eq(weft_socket_open(&a, AF_INET6, SOCK_STREAM, 0), 0);
    ck_assert_int_eq(weft_socket_connect(a, (struct sockaddr *)&addr,
                                         sizeof addr, 1000 * 60), 0);
    ck_assert_int_eq(weft_socket_accept(l, &b, NULL, NULL, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_socket_send(a, "six", 3, WEFT_FOREVER), 3);
    ck_assert_int_eq(weft_socket_recv(b, buf, sizeof buf, WEFT_FOREVER), 3);
    ck_assert_int_eq(weft_socket_close(a), 0);
    ck_assert_int_eq(weft_socket_close(b), 0);
    ck_assert_int_eq(weft_socket_close(l), 0);
    return NULL;
}

START_TEST(test_tcp_ipv6)
{
    ck_assert_int_eq(run_on(2, ipv6_main, NULL), 0);
}
END_TEST

/* --- UDP and Unix sockets ----------------------------------------------- */

static void *udp_main(void *arg)
{
    weft_socket *a, *b;
    struct sockaddr_in addr = { .sin_family = AF_INET,
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    struct sockaddr_storage from;
    socklen_t from_len = 0;
    char buf[64];

    (void)arg;
    ck_assert_int_eq(weft_socket_open(&a, AF_INET, SOCK_DGRAM, 0), 0);
    ck_assert_int_eq(weft_socket_open(&b, AF_INET, SOCK_DGRAM, 0), 0);
    ck_assert_int_eq(weft_socket_bind(b, (struct sockaddr *)&addr, sizeof addr), 0);
    addr.sin_port = htons((uint16_t)weft_socket_port(b));
    /* Datagrams keep their boundaries. */
    ck_assert_int_eq(weft_socket_sendto(a, "one", 3, (struct sockaddr *)&addr,
                                        sizeof addr, WEFT_FOREVER), 3);
    ck_assert_int_eq(weft_socket_sendto(a, "three", 5, (struct sockaddr *)&addr,
                                        sizeof addr, WEFT_FOREVER), 5);
    ck_assert_int_eq(weft_socket_recvfrom(b, buf, sizeof buf, &from, &from_len,
                                          WEFT_FOREVER), 3);
    ck_assert_int_eq(from_len, sizeof(struct sockaddr_in));
    ck_assert_int_eq(((struct sockaddr_in *)&from)->sin_port,
                     htons((uint16_t)weft_socket_port(a)));
    ck_assert_int_eq(weft_socket_recvfrom(b, buf, sizeof buf, NULL, NULL,
                                          WEFT_FOREVER), 5);
    ck_assert(memcmp(buf, "three", 5) == 0);
    /* Nothing more: a time-out. */
    ck_assert_int_eq(weft_socket_recvfrom(b, buf, sizeof buf, NULL, NULL, 10),
                     -ETIMEDOUT);
    ck_assert_int_eq(weft_socket_close(a), 0);
    ck_assert_int_eq(weft_socket_close(b), 0);
    return NULL;
}

START_TEST(test_udp)
{
    ck_assert_int_eq(run_on(2, udp_main, NULL), 0);
}
END_TEST

static void *unix_main(void *arg)
{
    weft_socket *a, *b, *l, *c, *d;
    char buf[16];
    struct sockaddr_un un = { .sun_family = AF_UNIX };

    (void)arg;
    ck_assert_int_eq(weft_socket_pair(&a, &b, SOCK_STREAM), 0);
    ck_assert_int_eq(weft_socket_send(a, "unix", 4, WEFT_FOREVER), 4);
    ck_assert_int_eq(weft_socket_recv(b, buf, sizeof buf, WEFT_FOREVER), 4);
    ck_assert_int_eq(weft_socket_close(a), 0);
    ck_assert_int_eq(weft_socket_recv(b, buf, sizeof buf, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_socket_close(b), 0);
    ck_assert_int_eq(weft_socket_pair(&a, &b, SOCK_DGRAM), 0);
    ck_assert_int_eq(weft_socket_send(a, "dg", 2, WEFT_FOREVER), 2);
    ck_assert_int_eq(weft_socket_recv(b, buf, sizeof buf, WEFT_FOREVER), 2);
    ck_assert_int_eq(weft_socket_close(a), 0);
    ck_assert_int_eq(weft_socket_close(b), 0);
    /* A Unix listener at a path. */
    snprintf(un.sun_path, sizeof un.sun_path, "/tmp/weft-test-%d.sock",
             (int)getpid());
    unlink(un.sun_path);
    ck_assert_int_eq(weft_socket_open(&l, AF_UNIX, SOCK_STREAM, 0), 0);
    ck_assert_int_eq(weft_socket_bind(l, (struct sockaddr *)&un, sizeof un), 0);
    ck_assert_int_eq(weft_socket_listen(l, 4), 0);
    ck_assert_int_eq(weft_socket_port(l), -EAFNOSUPPORT);
    ck_assert_int_eq(weft_socket_open(&c, AF_UNIX, SOCK_STREAM, 0), 0);
    ck_assert_int_eq(weft_socket_connect(c, (struct sockaddr *)&un, sizeof un,
                                         WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_socket_accept(l, &d, NULL, NULL, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_socket_send(d, "path", 4, WEFT_FOREVER), 4);
    ck_assert_int_eq(weft_socket_recv(c, buf, sizeof buf, WEFT_FOREVER), 4);
    ck_assert_int_eq(weft_socket_close(c), 0);
    ck_assert_int_eq(weft_socket_close(d), 0);
    ck_assert_int_eq(weft_socket_close(l), 0);
    unlink(un.sun_path);
    return NULL;
}

START_TEST(test_unix)
{
    ck_assert_int_eq(run_on(2, unix_main, NULL), 0);
}
END_TEST

/* A Unix listener whose backlog is full refuses a non-blocking connect
 * with EAGAIN and no edge follows: the connect tries again until the
 * listener accepts, or its timeout. */
static void *unix_full_connect(void *arg)
{
    struct sockaddr_un *un = arg;
    weft_socket *s;

    CHECK(weft_socket_open(&s, AF_UNIX, SOCK_STREAM, 0) == 0);
    int rc = weft_socket_connect(s, (struct sockaddr *)un, sizeof *un,
                                 WEFT_FOREVER);
    CHECK(weft_socket_close(s) == 0);
    return (void *)(intptr_t)rc;
}

static void *unix_backlog_main(void *arg)
{
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    weft_socket *c[16];
    int n = 0, rc = 0;
    weft_task *t;
    void *res;

    (void)arg;
    snprintf(un.sun_path, sizeof un.sun_path, "/tmp/weft-backlog-%d.sock",
             (int)getpid());
    unlink(un.sun_path);
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(l, 0);
    ck_assert_int_eq(bind(l, (struct sockaddr *)&un, sizeof un), 0);
    ck_assert_int_eq(listen(l, 0), 0);
    /* Fill the backlog: connects succeed until one times out. */
    while (n < 16) {
        ck_assert_int_eq(weft_socket_open(&c[n], AF_UNIX, SOCK_STREAM, 0), 0);
        int64_t t0 = weft_now();
        rc = weft_socket_connect(c[n], (struct sockaddr *)&un, sizeof un, 20);
        if (rc == -ETIMEDOUT) {
            ck_assert_int_ge(weft_now() - t0, 20);
            ck_assert_int_eq(weft_socket_close(c[n]), 0);
            break;
        }
        ck_assert_int_eq(rc, 0);
        n++;
    }
    ck_assert_int_eq(rc, -ETIMEDOUT);
    ck_assert_int_ge(n, 1);
    /* A connect that waits for room, then an accept that makes it. */
    ck_assert_int_eq(weft_spawn(&t, unix_full_connect, &un), 0);
    wait_until_waiting(t, NULL);
    int a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    ck_assert_int_ge(a, 0);
    ck_assert_int_eq(weft_await(t, &res), 0);
    ck_assert_int_eq((int)(intptr_t)res, 0);
    weft_task_unref(t);
    close(a);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(weft_socket_close(c[i]), 0);
    close(l);
    unlink(un.sun_path);
    return NULL;
}

START_TEST(test_unix_backlog_full)
{
    ck_assert_int_eq(run_on(2, unix_backlog_main, NULL), 0);
}
END_TEST

/* --- timeouts, cancellation, errors -------------------------------------- */

static void *recv_forever(void *arg)
{
    char buf[4];
    return (void *)(intptr_t)weft_socket_recv(arg, buf, sizeof buf,
                                              WEFT_FOREVER);
}

static void *accept_forever(void *arg)
{
    weft_socket *c;
    return (void *)(intptr_t)weft_socket_accept(arg, &c, NULL, NULL,
                                                WEFT_FOREVER);
}

static void *timeouts_main(void *arg)
{
    weft_socket *a, *b, *l;
    struct sockaddr_in addr;
    char buf[4];
    weft_task *t;
    void *res;

    (void)arg;
    tcp_pair(&a, &b);
    int64_t t0 = mono_ms();
    ck_assert_int_eq(weft_socket_recv(a, buf, sizeof buf, 25), -ETIMEDOUT);
    ck_assert_int_ge(mono_ms() - t0, 25);
    ck_assert_int_eq(weft_socket_recv(a, buf, sizeof buf, 0), -ETIMEDOUT);
    l = listen_loopback(&addr);
    weft_socket *c;
    t0 = mono_ms();
    ck_assert_int_eq(weft_socket_accept(l, &c, NULL, NULL, 25), -ETIMEDOUT);
    ck_assert_ptr_null(c);
    ck_assert_int_ge(mono_ms() - t0, 25);
    /* A send into a full socket times out. */
    static char chunk[65536];
    ssize_t n;
    while ((n = weft_socket_send(a, chunk, sizeof chunk, 20)) > 0)
        ;
    ck_assert_int_eq(n, -ETIMEDOUT);
    /* Cancellation, of a recv and of an accept, once they wait. */
    ck_assert_int_eq(weft_spawn(&t, recv_forever, a), 0);
    wait_until_waiting(t, "fd");
    ck_assert_int_eq(weft_cancel(t), 0);
    ck_assert_int_eq(weft_await(t, &res), -ECANCELED);
    weft_task_unref(t);
    ck_assert_int_eq(weft_spawn(&t, accept_forever, l), 0);
    wait_until_waiting(t, "fd");
    ck_assert_int_eq(weft_cancel(t), 0);
    ck_assert_int_eq(weft_await(t, &res), -ECANCELED);
    weft_task_unref(t);
    /* The socket still works after. */
    ck_assert_int_eq(weft_socket_send(b, "ok", 2, WEFT_FOREVER), 2);
    ck_assert_int_eq(weft_socket_recv(a, buf, sizeof buf, WEFT_FOREVER), 2);
    /* A checkpoint: a pending cancellation is delivered even when data is
     * there. */
    ck_assert_int_eq(weft_socket_send(b, "ok", 2, WEFT_FOREVER), 2);
    ck_assert_int_eq(weft_cancel(weft_current()), 0);
    ck_assert_int_eq(weft_socket_recv(a, buf, sizeof buf, WEFT_FOREVER),
                     -ECANCELED);
    ck_assert_int_eq(weft_task_uncancel(weft_current()), 0);
    ck_assert_int_eq(weft_socket_recv(a, buf, sizeof buf, WEFT_FOREVER), 2);
    ck_assert_int_eq(weft_socket_close(a), 0);
    ck_assert_int_eq(weft_socket_close(b), 0);
    ck_assert_int_eq(weft_socket_close(l), 0);
    return NULL;
}

START_TEST(test_timeouts_and_cancel)
{
    ck_assert_int_eq(run_on(2, timeouts_main, NULL), 0);
}
END_TEST

static void *errors_main(void *arg)
{
    weft_socket *a, *b, *l;
    struct sockaddr_in addr;
    char buf[4];

    (void)arg;
    /* Refused: a port that was listening and is closed. */
    l = listen_loopback(&addr);
    ck_assert_int_eq(weft_socket_close(l), 0);
    ck_assert_int_eq(weft_socket_open(&a, AF_INET, SOCK_STREAM, 0), 0);
    ck_assert_int_eq(weft_socket_connect(a, (struct sockaddr *)&addr,
                                         sizeof addr, WEFT_FOREVER),
                     -ECONNREFUSED);
    ck_assert_int_eq(weft_socket_close(a), 0);
    /* In use. */
    l = listen_loopback(&addr);
    ck_assert_int_eq(weft_socket_open(&a, AF_INET, SOCK_STREAM, 0), 0);
    ck_assert_int_eq(weft_socket_bind(a, (struct sockaddr *)&addr, sizeof addr),
                     -EADDRINUSE);
    ck_assert_int_eq(weft_socket_close(a), 0);
    ck_assert_int_eq(weft_socket_close(l), 0);
    /* A peer that resets: the reader sees ECONNRESET; a writer to a
     * closed peer gets EPIPE or ECONNRESET, and no SIGPIPE. */
    tcp_pair(&a, &b);
    ck_assert_int_eq(weft_socket_send(a, "x", 1, WEFT_FOREVER), 1);
    ck_assert_int_eq(weft_socket_abort(b), 0);
    ck_assert_int_eq(weft_socket_recv(a, buf, sizeof buf, WEFT_FOREVER),
                     -ECONNRESET);
    ssize_t n = weft_socket_send(a, "x", 1, WEFT_FOREVER);
    ck_assert_msg(n == -EPIPE || n == -ECONNRESET, "send gave %zd", n);
    ck_assert_int_eq(weft_socket_close(a), 0);
    return NULL;
}

START_TEST(test_errors)
{
    ck_assert_int_eq(run_on(2, errors_main, NULL), 0);
}
END_TEST

static void *close_main(void *arg)
{
    weft_socket *a, *b;
    weft_task *t1, *t2;
    void *res;

    (void)arg;
    tcp_pair(&a, &b);
    ck_assert_int_eq(weft_spawn(&t1, recv_forever, a), 0);
    wait_until_waiting(t1, "fd");
    /* One reader at a time. */
    ck_assert_int_eq(weft_spawn(&t2, recv_forever, a), 0);
    ck_assert_int_eq(weft_await(t2, &res), 0);
    ck_assert_int_eq((intptr_t)res, -EBUSY);
    weft_task_unref(t2);
    /* Closed under the waiter: -EBADF, then it is freed. */
    ck_assert_int_eq(weft_socket_close(a), 0);
    ck_assert_int_eq(weft_await(t1, &res), 0);
    ck_assert_int_eq((intptr_t)res, -EBADF);
    weft_task_unref(t1);
    ck_assert_int_eq(weft_socket_close(b), 0);
    return NULL;
}

/* A close of a socket homed on main's worker while a recv, run on
 * whichever worker took it, waits there: the recv ends with -EBADF, and
 * the socket is freed only after it has left. Repeated, since where the
 * recv runs is up to the scheduler; ASan checks the memory. (A recv
 * still on its way home is counted too, by the io's inbound count; no
 * test can hold one there without a hook.) */
static void *recv_announced(void *arg)
{
    char buf[4];
    return (void *)(intptr_t)weft_socket_recv(arg, buf, sizeof buf,
                                              WEFT_FOREVER);
}

static void *close_hopping_main(void *arg)
{
    (void)arg;
    for (int round = 0; round < 20; round++) {
        weft_socket *a, *b;
        weft_task *t;
        void *res;
        char buf[4];
        tcp_pair(&a, &b);
        /* Homes a on this worker. */
        ck_assert_int_eq(weft_socket_recv(a, buf, sizeof buf, 1), -ETIMEDOUT);
        ck_assert_int_eq(weft_spawn(&t, recv_announced, a), 0);
        /* Only once the recv waits: before it has begun, a close would
         * free the socket under a call not yet made (the caller's
         * mistake). It waits on this worker, having hopped here if a
         * thief ran it. */
        wait_until_waiting(t, "fd");
        ck_assert_int_eq(weft_socket_close(a), 0);
        ck_assert_int_eq(weft_await(t, &res), 0);
        ck_assert_int_eq((intptr_t)res, -EBADF);
        weft_task_unref(t);
        ck_assert_int_eq(weft_socket_close(b), 0);
    }
    return NULL;
}

START_TEST(test_close_while_a_recv_hops_home)
{
    ck_assert_int_eq(run_on(2, close_hopping_main, NULL), 0);
}
END_TEST

/* The same for weft_fd_forget: the waiter gets -EBADF, and the number,
 * closed and reused by a socket, works. */
static void *fd_waiter(void *arg)
{
    return (void *)(intptr_t)weft_fd_wait((int)(intptr_t)arg, POLLIN,
                                          WEFT_FOREVER);
}

static void *forget_hopping_main(void *arg)
{
    (void)arg;
    for (int round = 0; round < 20; round++) {
        int fds[2];
        weft_task *t;
        void *res;
        ck_assert_int_eq(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
        ck_assert_int_eq(weft_fd_wait(fds[0], POLLIN, 1), -ETIMEDOUT);
        ck_assert_int_eq(weft_spawn(&t, fd_waiter, (void *)(intptr_t)fds[0]), 0);
        wait_until_waiting(t, "fd");
        ck_assert_int_eq(weft_fd_forget(fds[0]), 0);
        ck_assert_int_eq(weft_await(t, &res), 0);
        ck_assert_int_eq((intptr_t)res, -EBADF);
        weft_task_unref(t);
        close(fds[0]);
        close(fds[1]);
        /* A socket that takes the number hears its edges. */
        weft_socket *a, *b;
        char c;
        ck_assert_int_eq(weft_socket_pair(&a, &b, SOCK_STREAM), 0);
        ck_assert_int_eq(weft_socket_recv(a, &c, 1, 1), -ETIMEDOUT);
        ck_assert_int_eq(weft_socket_send(b, "z", 1, WEFT_FOREVER), 1);
        ck_assert_int_eq(weft_socket_recv(a, &c, 1, WEFT_FOREVER), 1);
        ck_assert_int_eq(weft_socket_close(a), 0);
        ck_assert_int_eq(weft_socket_close(b), 0);
    }
    return NULL;
}

START_TEST(test_forget_while_a_wait_hops_home)
{
    ck_assert_int_eq(run_on(2, forget_hopping_main, NULL), 0);
}
END_TEST

START_TEST(test_close_under_a_waiter)
{
    ck_assert_int_eq(run_on(2, close_main, NULL), 0);
}
END_TEST

static void *adopt_main(void *arg)
{
    weft_socket *s, *a, *b;
    int fds[2];
    char buf[4];

    (void)arg;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    /* Blocking descriptors become non-blocking. */
    ck_assert_int_eq(weft_socket_adopt(&a, fds[0]), 0);
    ck_assert_int_eq(weft_socket_adopt(&b, fds[1]), 0);
    ck_assert(fcntl(fds[0], F_GETFL) & O_NONBLOCK);
    ck_assert_int_eq(weft_socket_recv(a, buf, sizeof buf, 5), -ETIMEDOUT);
    ck_assert_int_eq(weft_socket_send(b, "ad", 2, WEFT_FOREVER), 2);
    ck_assert_int_eq(weft_socket_recv(a, buf, sizeof buf, WEFT_FOREVER), 2);
    ck_assert_int_eq(weft_socket_close(a), 0);
    ck_assert_int_eq(weft_socket_close(b), 0);
    ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
    ck_assert_int_eq(weft_socket_adopt(&s, fds[0]), -ENOTSOCK);
    ck_assert_ptr_null(s);
    close(fds[0]);
    close(fds[1]);
    return NULL;
}

START_TEST(test_adopt)
{
    ck_assert_int_eq(run_on(2, adopt_main, NULL), 0);
}
END_TEST

static void *bad_args_main(void *arg)
{
    weft_socket *s, *t;
    struct sockaddr_in addr = { .sin_family = AF_INET };
    char buf[4];

    (void)arg;
    ck_assert_int_eq(weft_socket_open(NULL, AF_INET, SOCK_STREAM, 0), -EINVAL);
    ck_assert_int_eq(weft_socket_open(&s, AF_PACKET, SOCK_STREAM, 0), -EINVAL);
    ck_assert_int_eq(weft_socket_open(&s, AF_INET, SOCK_RAW, 0), -EINVAL);
    ck_assert_int_eq(weft_socket_open(&s, AF_INET, SOCK_STREAM, 0x1000), -EINVAL);
    ck_assert_int_eq(weft_socket_adopt(&s, -1), -EINVAL);
    ck_assert_int_eq(weft_socket_pair(&s, NULL, SOCK_STREAM), -EINVAL);
    ck_assert_int_eq(weft_socket_pair(&s, &t, SOCK_RAW), -EINVAL);
    ck_assert_int_eq(weft_socket_fd(NULL), -EINVAL);
    ck_assert_int_eq(weft_socket_bind(NULL, (struct sockaddr *)&addr, sizeof addr),
                     -EINVAL);
    ck_assert_int_eq(weft_socket_listen(NULL, 1), -EINVAL);
    ck_assert_int_eq(weft_socket_accept(NULL, &t, NULL, NULL, 0), -EINVAL);
    ck_assert_int_eq(weft_socket_connect(NULL, (struct sockaddr *)&addr,
                                         sizeof addr, 0), -EINVAL);
    ck_assert_int_eq(weft_socket_send(NULL, buf, 1, 0), -EINVAL);
    ck_assert_int_eq(weft_socket_recv(NULL, buf, 1, 0), -EINVAL);
    ck_assert_int_eq(weft_socket_shutdown(NULL, SHUT_WR), -EINVAL);
    ck_assert_int_eq(weft_socket_port(NULL), -EINVAL);
    ck_assert_int_eq(weft_socket_close(NULL), -EINVAL);
    ck_assert_int_eq(weft_socket_abort(NULL), -EINVAL);
    ck_assert_int_eq(weft_socket_open(&s, AF_INET, SOCK_STREAM, 0), 0);
    ck_assert_int_eq(weft_socket_recv(s, NULL, 1, 0), -EINVAL);
    ck_assert_int_eq(weft_socket_recv(s, buf, 1, -7), -EINVAL);
    ck_assert_int_eq(weft_socket_sendto(s, buf, 1, NULL, 0, 0), -EINVAL);
    ck_assert_int_eq(weft_socket_shutdown(s, 42), -EINVAL);
    ck_assert_int_eq(weft_socket_connect(s, NULL, 0, 0), -EINVAL);
    ck_assert_int_eq(weft_socket_accept(s, NULL, NULL, NULL, 0), -EINVAL);
    ck_assert_int_eq(weft_socket_peer_addr(s, NULL, NULL), -EINVAL);
    ck_assert_int_eq(weft_socket_local_addr(s, NULL, NULL), -EINVAL);
    /* Not connected. */
    ck_assert_int_eq(weft_socket_recv(s, buf, 1, 0), -ENOTCONN);
    ck_assert_int_eq(weft_socket_close(s), 0);
    return NULL;
}

START_TEST(test_bad_args)
{
    weft_socket *s;

    ck_assert_int_eq(run_on(2, bad_args_main, NULL), 0);
    /* Outside a task. */
    ck_assert_int_eq(weft_socket_open(&s, AF_INET, SOCK_STREAM, 0), -EPERM);
    ck_assert_int_eq(weft_fd_wait(0, POLLIN, 0), -EPERM);
    ck_assert_int_eq(weft_fd_forget(0), -EPERM);
}
END_TEST

/* --- the budget ------------------------------------------------------------ */

static int ticks;

static void *ticker(void *arg)
{
    (void)arg;
    for (;;) {
        ticks++;
        if (weft_yield() != 0)
            return NULL;
    }
}

static void *budget_main(void *arg)
{
    weft_socket *a, *b;
    weft_task *t;
    static char data[4096];

    (void)arg;
    tcp_pair(&a, &b);
    ck_assert_int_eq(weft_socket_send(a, data, sizeof data, WEFT_FOREVER),
                     (ssize_t)sizeof data);
    /* The data is there before the ticker runs: every recv below
     * succeeds without waiting. */
    char c;
    ck_assert_int_eq(weft_socket_recv(b, &c, 1, WEFT_FOREVER), 1);
    ck_assert_int_eq(weft_spawn(&t, ticker, NULL), 0);
    ticks = 0;
    for (int i = 1; i < 4096; i++)
        ck_assert_int_eq(weft_socket_recv(b, &c, 1, WEFT_FOREVER), 1);
    /* One worker: the ticker ran only because the budget made the reader
     * yield, every 128 calls. */
    ck_assert_int_ge(ticks, 4095 / 128 - 1);
    ck_assert_int_eq(weft_cancel(t), 0);
    (void)weft_await(t, NULL);
    weft_task_unref(t);
    ck_assert_int_eq(weft_socket_close(a), 0);
    ck_assert_int_eq(weft_socket_close(b), 0);
    return NULL;
}

START_TEST(test_budget)
{
    ck_assert_int_eq(run_on(1, budget_main, NULL), 0);
}
END_TEST

/* --- weft_fd_wait --------------------------------------------------------- */

static void *fd_wait_main(void *arg)
{
    int fds[2];
    weft_task *t;
    char c;

    (void)arg;
    ck_assert_int_eq(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
    /* Writable at once; not readable yet. */
    ck_assert_int_eq(weft_fd_wait(fds[1], POLLOUT, 0) & POLLOUT, POLLOUT);
    ck_assert_int_eq(weft_fd_wait(fds[0], POLLIN, 0), -ETIMEDOUT);
    int64_t t0 = mono_ms();
    ck_assert_int_eq(weft_fd_wait(fds[0], POLLIN, 20), -ETIMEDOUT);
    ck_assert_int_ge(mono_ms() - t0, 20);
    /* Woken by a write from another task. */
    ck_assert_int_eq(weft_spawn(&t, write_one_byte, (void *)(intptr_t)fds[1]), 0);
    ck_assert_int_eq(weft_fd_wait(fds[0], POLLIN, WEFT_FOREVER), POLLIN);
    ck_assert_int_eq(read(fds[0], &c, 1), 1);
    ck_assert_int_eq(weft_await(t, NULL), 0);
    weft_task_unref(t);
    /* The end: POLLHUP. */
    ck_assert_int_eq(weft_fd_forget(fds[1]), 0);
    close(fds[1]);
    ck_assert(weft_fd_wait(fds[0], POLLIN, WEFT_FOREVER) & POLLHUP);
    ck_assert_int_eq(weft_fd_forget(fds[0]), 0);
    close(fds[0]);
    /* Not open. */
    ck_assert_int_eq(weft_fd_wait(fds[0], POLLIN, 0), -EBADF);
    ck_assert_int_eq(weft_fd_wait(-1, POLLIN, 0), -EINVAL);
    ck_assert_int_eq(weft_fd_wait(0, POLLPRI, 0), -EINVAL);
    ck_assert_int_eq(weft_fd_wait(0, 0, 0), -EINVAL);
    ck_assert_int_eq(weft_fd_wait(0, POLLIN, -3), -EINVAL);
    ck_assert_int_eq(weft_fd_forget(-1), -EINVAL);
    return NULL;
}

/* A wait's timeout is its own: a second waiter refused with -EBUSY, or
 * a waiter in the other direction with a timeout of its own, leaves it
 * alone (each direction's timer lives in the descriptor's record). */
#define HOLDER_MS 3000

struct timed_wait {
    int fd;
    short events;
    int64_t ms;
};

static void *timed_fd_wait(void *arg)
{
    const struct timed_wait *w = arg;
    return (void *)(intptr_t)weft_fd_wait(w->fd, w->events, w->ms);
}

static void *fd_wait_timers_main(void *arg)
{
    int fds[2];
    weft_task *r, *wr;
    void *res;
    char buf[4096];

    (void)arg;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
                                SOCK_CLOEXEC, 0, fds), 0);
    /* A refused second reader. */
    struct timed_wait rd = { fds[0], POLLIN, HOLDER_MS };
    ck_assert_int_eq(weft_spawn(&r, timed_fd_wait, &rd), 0);
    wait_until_waiting(r, "fd");
    ck_assert_int_eq(weft_fd_wait(fds[0], POLLIN, 20), -EBUSY);
    ck_assert_int_eq(weft_await(r, &res), 0);
    ck_assert_int_eq((intptr_t)res, -ETIMEDOUT);
    weft_task_unref(r);
    /* A writer that waits after the reader, with a longer timeout. */
    ck_assert_int_eq(weft_spawn(&r, timed_fd_wait, &rd), 0);
    wait_until_waiting(r, "fd");
    memset(buf, 'w', sizeof buf);
    while (write(fds[0], buf, sizeof buf) > 0)
        ;
    struct timed_wait wt = { fds[0], POLLOUT, 60000 };
    ck_assert_int_eq(weft_spawn(&wr, timed_fd_wait, &wt), 0);
    wait_until_waiting(wr, "fd");
    ck_assert_int_eq(weft_await(r, &res), 0);
    ck_assert_int_eq((intptr_t)res, -ETIMEDOUT);
    while (read(fds[1], buf, sizeof buf) > 0)
        ;
    ck_assert_int_eq(weft_await(wr, &res), 0);
    ck_assert_int_eq((intptr_t)res & POLLOUT, POLLOUT);
    weft_task_unref(r);
    weft_task_unref(wr);
    ck_assert_int_eq(weft_fd_forget(fds[0]), 0);
    close(fds[0]);
    close(fds[1]);
    return NULL;
}

/* Timeouts are lazy (sched/iowait.h): a wait served early leaves its
 * direction's timer armed for its deadline. A later wait with a later
 * deadline must not time out when that timer fires, and one with an
 * earlier deadline must not wait for it. */
#define LAZY_FIRST_MS 1000 /* room for a stalled main to write the byte */
#define LAZY_LATER_MS 1500
#define LAZY_HOUR_MS 3600000

/* A reader on fds[0] with a timeout of ms, served by a byte. */
static void served_read(int fds[2], int64_t ms)
{
    struct timed_wait rd = { fds[0], POLLIN, ms };
    weft_task *r;
    void *res;
    char c;

    ck_assert_int_eq(weft_spawn(&r, timed_fd_wait, &rd), 0);
    wait_until_waiting(r, "fd");
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    ck_assert_int_eq(weft_await(r, &res), 0);
    ck_assert_int_eq((intptr_t)res & POLLIN, POLLIN);
    ck_assert_int_eq(read(fds[0], &c, 1), 1);
    weft_task_unref(r);
}

static void *lazy_timers_main(void *arg)
{
    int fds[2];

    (void)arg;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
                                SOCK_CLOEXEC, 0, fds), 0);
    /* The timer stays armed for LAZY_FIRST_MS; it fires during the next
     * wait, which must go on until its own deadline. */
    served_read(fds, LAZY_FIRST_MS);
    int64_t t0 = mono_ms();
    ck_assert_int_eq(weft_fd_wait(fds[0], POLLIN, LAZY_LATER_MS), -ETIMEDOUT);
    ck_assert_int_ge(mono_ms() - t0, LAZY_LATER_MS);
    /* Armed for an hour: a short wait must arm it sooner (else Check's
     * timeout ends the test). */
    served_read(fds, LAZY_HOUR_MS);
    t0 = mono_ms();
    ck_assert_int_eq(weft_fd_wait(fds[0], POLLIN, 20), -ETIMEDOUT);
    ck_assert_int_ge(mono_ms() - t0, 20);
    /* And with no timeout at all, a wait is still woken by the byte. */
    served_read(fds, WEFT_FOREVER);
    ck_assert_int_eq(weft_fd_forget(fds[0]), 0);
    close(fds[0]);
    close(fds[1]);
    return NULL;
}

START_TEST(test_fd_wait_timeouts_are_lazy)
{
    ck_assert_int_eq(run_on(2, lazy_timers_main, NULL), 0);
}
END_TEST

START_TEST(test_fd_wait_timeouts_are_each_waiters_own)
{
    ck_assert_int_eq(run_on(2, fd_wait_timers_main, NULL), 0);
}
END_TEST

START_TEST(test_fd_wait)
{
    ck_assert_int_eq(run_on(2, fd_wait_main, NULL), 0);
}
END_TEST

static void *fd_reuse_main(void *arg)
{
    int fds[2], again[2];
    weft_task *t;

    char c;

    (void)arg;
    ck_assert_int_eq(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
    /* A wait that suspends registers the descriptor. One worker: the
     * writer runs only once main has suspended. (A wait timed out before
     * it could suspend, as a stalled thread's 5 ms one once did, would
     * register nothing, and the mistake below would go unseen.) */
    ck_assert_int_eq(weft_spawn(&t, write_one_byte, (void *)(intptr_t)fds[1]), 0);
    ck_assert_int_eq(weft_fd_wait(fds[0], POLLIN, WEFT_FOREVER), POLLIN);
    ck_assert_int_eq(weft_await(t, NULL), 0);
    weft_task_unref(t);
    ck_assert_int_eq(read(fds[0], &c, 1), 1);
    /* The mistake: closed without weft_fd_forget, and the number reused
     * for another pipe. */
    close(fds[0]);
    close(fds[1]);
    ck_assert_int_eq(pipe2(again, O_CLOEXEC | O_NONBLOCK), 0);
    ck_assert_int_eq(again[0], fds[0]);
    ck_assert_int_eq(weft_spawn(&t, write_one_byte, (void *)(intptr_t)again[1]), 0);
    ck_assert_int_eq(weft_fd_wait(again[0], POLLIN, WEFT_FOREVER), POLLIN);
    ck_assert_int_eq(weft_await(t, NULL), 0);
    weft_task_unref(t);
    ck_assert_int_eq(weft_fd_forget(again[0]), 0);
    close(again[0]);
    close(again[1]);
    return NULL;
}

START_TEST(test_fd_closed_without_forget)
{
    char err[1024];

    ck_assert_int_eq(run_capturing_stderr(1, fd_reuse_main, NULL, err,
                                          sizeof err), 0);
    ck_assert_msg(strstr(err, "closed without weft_fd_forget()") != NULL,
                  "stderr: %s", err);
}
END_TEST

static Suite *socket_suite(void)
{
    Suite *s = suite_create("socket");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_tcp_echo);
    tcase_add_test(tc, test_tcp_ipv6);
    tcase_add_test(tc, test_udp);
    tcase_add_test(tc, test_unix);
    tcase_add_test(tc, test_unix_backlog_full);
    tcase_add_test(tc, test_timeouts_and_cancel);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_close_under_a_waiter);
    tcase_add_test(tc, test_close_while_a_recv_hops_home);
    tcase_add_test(tc, test_forget_while_a_wait_hops_home);
    tcase_add_test(tc, test_adopt);
    tcase_add_test(tc, test_bad_args);
    tcase_add_test(tc, test_budget);
    tcase_add_test(tc, test_fd_wait);
    tcase_add_test(tc, test_fd_wait_timeouts_are_each_waiters_own);
    tcase_add_test(tc, test_fd_wait_timeouts_are_lazy);
    tcase_add_test(tc, test_fd_closed_without_forget);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(socket_suite)
