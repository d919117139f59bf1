/* Stream servers: echo on many workers, the connection limit, graceful
 * stop, running out of descriptors, Unix servers, bad arguments. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "testutil.h"

#ifdef TEST_UNDER_TSAN
#define CLIENTS 16
#define LINES 10
#else
#define CLIENTS 64
#define LINES 20
#endif

/* --- helpers --------------------------------------------------------------- */

static struct sockaddr_in loopback(int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

/* A connected client stream to 127.0.0.1:port. */
static weft_stream *dial(int port)
{
    struct sockaddr_in a = loopback(port);
    weft_socket *s;
    weft_stream *st;

    ck_assert_int_eq(weft_socket_open(&s, AF_INET, SOCK_STREAM, 0), 0);
    ck_assert_int_eq(weft_socket_connect(s, (struct sockaddr *)&a, sizeof a,
                                         WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_open(&st, s, NULL), 0);
    return st;
}

/* Sends a line and reads it back. */
static void echo_once(weft_stream *st, const char *line)
{
    char buf[256];
    size_t n = strlen(line);

    ck_assert_int_eq(weft_stream_write(st, line, n, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_read_line(st, buf, sizeof buf, WEFT_FOREVER),
                     (ssize_t)n);
    ck_assert(memcmp(buf, line, n) == 0);
}

/* Echoes lines until the end of the stream. */
static int echo_handler(weft_stream *conn, void *arg)
{
    char line[256];

    (void)arg;
    for (;;) {
        ssize_t n = weft_stream_read_line(conn, line, sizeof line, WEFT_FOREVER);
        if (n <= 0)
            return (int)n;
        int rc = weft_stream_write(conn, line, (size_t)n, WEFT_FOREVER);
        if (rc < 0)
            return rc;
    }
}

/* --- echo through the server, many clients, several workers ---------------- */

struct client {
    int port;
    int id;
};

static void *client_main(void *arg)
{
    struct client *c = arg;
    weft_stream *st = dial(c->port);
    char line[64];

    for (int i = 0; i < LINES; i++) {
        snprintf(line, sizeof line, "client %d line %d\n", c->id, i);
        echo_once(st, line);
    }
    ck_assert_int_eq(weft_stream_close(st, WEFT_FOREVER), 0);
    return NULL;
}

static void *waiter_main(void *arg)
{
    intptr_t rc = weft_server_wait(arg, WEFT_FOREVER);
    return (void *)rc;
}

static void echo_many(unsigned flags, size_t limit)
{
    weft_server *srv;
    weft_server_opts opts = { .flags = flags, .backlog = CLIENTS,
                              .max_connections = limit };
    struct client cl[CLIENTS];
    weft_task *t[CLIENTS], *waiter;
    weft_outcome out[CLIENTS];
    weft_server_stats st;

    ck_assert_int_eq(weft_server_start(&srv, "127.0.0.1", "0", echo_handler,
                                       NULL, &opts), 0);
    int port = weft_server_port(srv);
    ck_assert_int_gt(port, 0);
    ck_assert_int_eq(weft_spawn(&waiter, waiter_main, srv), 0);
    ck_assert_int_eq(weft_server_wait(srv, 0), -ETIMEDOUT);
    for (int i = 0; i < CLIENTS; i++) {
        cl[i] = (struct client){ .port = port, .id = i };
        ck_assert_int_eq(weft_spawn(&t[i], client_main, &cl[i]), 0);
    }
    ck_assert_int_eq(weft_gather(t, CLIENTS, WEFT_GATHER_FAIL_FAST, out),
                     0);
    for (int i = 0; i < CLIENTS; i++)
        weft_task_unref(t[i]);
    ck_assert_int_eq(weft_server_destroy(srv), -EBUSY); /* running */
    ck_assert_int_eq(weft_server_stop(srv, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_server_stop(srv, 0), -EALREADY);
    void *res;
    ck_assert_int_eq(weft_await(waiter, &res), 0);
    ck_assert_int_eq((intptr_t)res, 0);
    weft_task_unref(waiter);
    ck_assert_int_eq(weft_server_get_stats(srv, &st), 0);
    ck_assert_uint_eq(st.accepted, CLIENTS);
    ck_assert_uint_eq(st.dropped, 0);
    ck_assert_uint_eq(st.connections, 0);
    ck_assert_int_eq(weft_server_connections(srv), 0);
    ck_assert_int_eq(weft_server_wait(srv, 0), 0);
    ck_assert_int_eq(weft_server_destroy(srv), 0);
    /* Nothing listens there any more. */
    struct sockaddr_in a = loopback(port);
    weft_socket *s;
    ck_assert_int_eq(weft_socket_open(&s, AF_INET, SOCK_STREAM, 0), 0);
    ck_assert_int_eq(weft_socket_connect(s, (struct sockaddr *)&a, sizeof a,
                                         WEFT_FOREVER), -ECONNREFUSED);
    ck_assert_int_eq(weft_socket_close(s), 0);
}

static void *echo_main(void *arg)
{
    (void)arg;
    echo_many(0, 0);
    return NULL;
}

static void *echo_reuseport_main(void *arg)
{
    (void)arg;
    echo_many(WEFT_SERVER_REUSEPORT, 0);
    return NULL;
}

/* Four listeners, one place: a listener with no connection must not
 * keep the place from the others'. */
static void *echo_reuseport_limit_main(void *arg)
{
    (void)arg;
    echo_many(WEFT_SERVER_REUSEPORT, 1);
    return NULL;
}

START_TEST(test_echo_many_clients_on_four_workers)
{
    ck_assert_int_eq(run_on(4, echo_main, NULL), 0);
}
END_TEST

START_TEST(test_echo_with_a_listener_per_worker)
{
    ck_assert_int_eq(run_on(4, echo_reuseport_main, NULL), 0);
}
END_TEST

START_TEST(test_listeners_per_worker_share_a_limit)
{
    ck_assert_int_eq(run_on(4, echo_reuseport_limit_main, NULL), 0);
}
END_TEST

/* --- the connection limit -------------------------------------------------- */

#define LIMIT 3

struct limit_ctx {
    weft_semaphore started;
    int nstarted;
    int ended;
    int seen_ended[LIMIT + 1]; /* handlers ended when each one started */
};

static int limit_handler(weft_stream *conn, void *arg)
{
    struct limit_ctx *x = arg;
    char buf[16];
    ssize_t n;

    int i = COUNT(x->nstarted);
    ck_assert_int_le(i, LIMIT);
    x->seen_ended[i] = READ(x->ended);
    ck_assert_int_eq(weft_semaphore_release(&x->started), 0);
    while ((n = weft_stream_read(conn, buf, sizeof buf, WEFT_FOREVER)) > 0)
        ;
    COUNT(x->ended);
    return (int)n;
}

static void *limit_main(void *arg)
{
    struct limit_ctx x = { .nstarted = 0 };
    weft_server *srv;
    weft_server_opts opts = { .max_connections = LIMIT };
    weft_stream *c[LIMIT + 1];

    (void)arg;
    ck_assert_int_eq(weft_semaphore_init(&x.started, 0), 0);
    ck_assert_int_eq(weft_server_start(&srv, "127.0.0.1", "0", limit_handler,
                                       &x, &opts), 0);
    int port = weft_server_port(srv);
    for (int i = 0; i < LIMIT; i++) {
        c[i] = dial(port);
        ck_assert_int_eq(weft_semaphore_acquire(&x.started, WEFT_FOREVER), 0);
    }
    /* At the limit, the accept task waits for a place, not for a
     * connection: it cannot accept one. */
    while (!dump_shows_waiting(0, "accept-", "semaphore"))
        ck_assert_int_eq(weft_yield(), 0);
    c[LIMIT] = dial(port); /* completes in the kernel's backlog */
    ck_assert_int_eq(weft_stream_write(c[LIMIT], "x", 1, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_server_connections(srv), LIMIT);
    /* One connection ends: the waiting one gets its handler. */
    ck_assert_int_eq(weft_stream_close(c[0], WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_semaphore_acquire(&x.started, WEFT_FOREVER), 0);
    ck_assert_int_eq(READ(x.nstarted), LIMIT + 1);
    for (int i = 0; i < LIMIT; i++)
        ck_assert_int_eq(x.seen_ended[i], 0);
    ck_assert_int_ge(x.seen_ended[LIMIT], 1);
    for (int i = 1; i <= LIMIT; i++)
        ck_assert_int_eq(weft_stream_close(c[i], WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_server_stop(srv, WEFT_FOREVER), 0);
    ck_assert_int_eq(READ(x.ended), LIMIT + 1);
    weft_server_stats st;
    ck_assert_int_eq(weft_server_get_stats(srv, &st), 0);
    ck_assert_uint_eq(st.accepted, LIMIT + 1);
    ck_assert_int_eq(weft_server_destroy(srv), 0);
    ck_assert_int_eq(weft_semaphore_destroy(&x.started), 0);
    return NULL;
}

START_TEST(test_connection_limit_pauses_accepting)
{
    ck_assert_int_eq(run_on(2, limit_main, NULL), 0);
}
END_TEST

/* --- graceful stop --------------------------------------------------------- */

#define FINISHERS 3
#define HANGERS 3

struct stop_ctx {
    weft_semaphore started;
    int finished;       /* handlers that ended on their own */
    int cancelled;      /* handlers the server cancelled */
    weft_server *srv;
    int stop_rc;
};

/* "hang\n": sleeps until cancelled. "wait\n": ends when the client says
 * "bye\n", answering "ok\n". */
static int stop_handler(weft_stream *conn, void *arg)
{
    struct stop_ctx *x = arg;
    char line[16];

    ssize_t n = weft_stream_read_line(conn, line, sizeof line, WEFT_FOREVER);
    ck_assert_int_eq(n, 5);
    /* Started once it knows its kind: a stop that comes later finds a
     * hanger hanging (or about to: the sleep delivers the cancel). */
    ck_assert_int_eq(weft_semaphore_release(&x->started), 0);
    if (memcmp(line, "hang\n", 5) == 0) {
        int rc = weft_sleep(TEST_LONG_MS);
        ck_assert_int_eq(rc, -ECANCELED);
        COUNT(x->cancelled);
        return rc;
    }
    n = weft_stream_read_line(conn, line, sizeof line, WEFT_FOREVER);
    ck_assert_int_eq(n, 4);
    COUNT(x->finished);
    return weft_stream_write(conn, "ok\n", 3, WEFT_FOREVER);
}

static void *stopper_main(void *arg)
{
    struct stop_ctx *x = arg;
    x->stop_rc = weft_server_stop(x->srv, TEST_LONG_MS);
    return NULL;
}

/* Clients of both kinds, once their handlers have started. */
static void open_clients(struct stop_ctx *x, int port, weft_stream **fin,
                         int nfin, weft_stream **hang, int nhang)
{
    for (int i = 0; i < nfin; i++) {
        fin[i] = dial(port);
        ck_assert_int_eq(weft_stream_write(fin[i], "wait\n", 5, WEFT_FOREVER), 0);
    }
    for (int i = 0; i < nhang; i++) {
        hang[i] = dial(port);
        ck_assert_int_eq(weft_stream_write(hang[i], "hang\n", 5, WEFT_FOREVER), 0);
    }
    for (int i = 0; i < nfin + nhang; i++)
        ck_assert_int_eq(weft_semaphore_acquire(&x->started, WEFT_FOREVER), 0);
}

/* A connection the server closed: the client reads its end. */
static void expect_closed(weft_stream *st)
{
    char buf[8];
    ssize_t n = weft_stream_read(st, buf, sizeof buf, WEFT_FOREVER);
    ck_assert(n == 0 || n == -ECONNRESET);
    ck_assert_int_eq(weft_stream_close(st, WEFT_FOREVER), 0);
}

static void *stop_grace_main(void *arg)
{
    struct stop_ctx x = { .stop_rc = 1 };
    weft_stream *fin[FINISHERS], *hang[HANGERS];
    weft_task *stopper;
    char line[8];

    (void)arg;
    ck_assert_int_eq(weft_semaphore_init(&x.started, 0), 0);
    ck_assert_int_eq(weft_server_start(&x.srv, "127.0.0.1", "0", stop_handler,
                                       &x, NULL), 0);
    int port = weft_server_port(x.srv);
    open_clients(&x, port, fin, FINISHERS, hang, HANGERS);
    ck_assert_int_eq(weft_server_connections(x.srv), FINISHERS + HANGERS);

    /* The stop waits for the handlers (the grace period is an hour)... */
    ck_assert_int_eq(weft_spawn(&stopper, stopper_main, &x), 0);
    wait_until_waiting(stopper, "tasks");
    /* ... while those that can finish, finish. */
    for (int i = 0; i < FINISHERS; i++) {
        ck_assert_int_eq(weft_stream_write(fin[i], "bye\n", 4, WEFT_FOREVER), 0);
        ck_assert_int_eq(weft_stream_read_line(fin[i], line, sizeof line,
                                               WEFT_FOREVER), 3);
        expect_closed(fin[i]);
    }
    ck_assert_int_eq(READ(x.finished), FINISHERS);
    ck_assert_int_eq(READ(x.cancelled), 0);
    ck_assert_int_eq(x.stop_rc, 1); /* still waiting for the hangers */
    /* Cancelling the stop ends the grace period: the others are
     * cancelled, and the stop still waits for them to end. */
    ck_assert_int_eq(weft_cancel(stopper), 0);
    ck_assert_int_eq(weft_await(stopper, NULL), -ECANCELED);
    weft_task_unref(stopper);
    ck_assert_int_eq(x.stop_rc, -ECANCELED);
    ck_assert_int_eq(READ(x.cancelled), HANGERS);
    ck_assert_int_eq(weft_server_connections(x.srv), 0);
    for (int i = 0; i < HANGERS; i++)
        expect_closed(hang[i]);
    ck_assert_int_eq(weft_server_wait(x.srv, 0), 0);
    ck_assert_int_eq(weft_server_destroy(x.srv), 0);
    ck_assert_int_eq(weft_semaphore_destroy(&x.started), 0);
    return NULL;
}

START_TEST(test_stop_waits_for_handlers_during_the_grace_period)
{
    ck_assert_int_eq(run_on(2, stop_grace_main, NULL), 0);
}
END_TEST

#define GRACE_MS 100

static void *stop_expiry_main(void *arg)
{
    struct stop_ctx x = { .stop_rc = 1 };
    weft_stream *hang[HANGERS];

    (void)arg;
    ck_assert_int_eq(weft_semaphore_init(&x.started, 0), 0);
    ck_assert_int_eq(weft_server_start(&x.srv, "127.0.0.1", "0", stop_handler,
                                       &x, NULL), 0);
    open_clients(&x, weft_server_port(x.srv), NULL, 0, hang, HANGERS);
    int64_t t0 = weft_now();
    ck_assert_int_eq(weft_server_stop(x.srv, GRACE_MS), 0);
    ck_assert_int_ge(weft_now() - t0, GRACE_MS);
    ck_assert_int_eq(READ(x.cancelled), HANGERS);
    ck_assert_int_eq(weft_server_connections(x.srv), 0);
    for (int i = 0; i < HANGERS; i++)
        expect_closed(hang[i]);
    ck_assert_int_eq(weft_server_destroy(x.srv), 0);

    /* Grace 0: no wait at all, the handlers are cancelled at once. */
    ck_assert_int_eq(weft_server_start(&x.srv, "127.0.0.1", "0", stop_handler,
                                       &x, NULL), 0);
    open_clients(&x, weft_server_port(x.srv), NULL, 0, hang, HANGERS);
    ck_assert_int_eq(weft_server_stop(x.srv, 0), 0);
    ck_assert_int_eq(READ(x.cancelled), 2 * HANGERS);
    for (int i = 0; i < HANGERS; i++)
        expect_closed(hang[i]);
    ck_assert_int_eq(weft_server_destroy(x.srv), 0);
    ck_assert_int_eq(weft_semaphore_destroy(&x.started), 0);
    return NULL;
}

START_TEST(test_stop_cancels_handlers_after_the_grace_period)
{
    ck_assert_int_eq(run_on(2, stop_expiry_main, NULL), 0);
}
END_TEST

/* A handler that stops its own server would wait for itself. */
static int stopping_handler(weft_stream *conn, void *arg)
{
    struct stop_ctx *x = arg;
    (void)conn;
    SET(x->stop_rc, weft_server_stop(x->srv, 0));
    return 0;
}

static void *stop_from_handler_main(void *arg)
{
    struct stop_ctx x = { .stop_rc = 1 };

    (void)arg;
    ck_assert_int_eq(weft_server_start(&x.srv, "127.0.0.1", "0",
                                       stopping_handler, &x, NULL), 0);
    weft_stream *c = dial(weft_server_port(x.srv));
    expect_closed(c);
    /* Read once the stop has seen the handler gone: the end of stream
     * orders nothing a race detector can see. */
    ck_assert_int_eq(weft_server_stop(x.srv, WEFT_FOREVER), 0);
    ck_assert_int_eq(READ(x.stop_rc), -EDEADLK);
    ck_assert_int_eq(weft_server_destroy(x.srv), 0);
    return NULL;
}

START_TEST(test_stop_from_a_handler_is_refused)
{
    ck_assert_int_eq(run_on(2, stop_from_handler_main, NULL), 0);
}
END_TEST

/* --- handler errors ---------------------------------------------------------- */

static int failing_handler(weft_stream *conn, void *arg)
{
    (void)conn;
    (void)arg;
    return -EMSGSIZE;
}

static void *handler_error_main(void *arg)
{
    weft_server *srv;
    int *port = arg;

    ck_assert_int_eq(weft_server_start(&srv, "127.0.0.1", "0", failing_handler,
                                       NULL, NULL), 0);
    *port = weft_server_port(srv);
    expect_closed(dial(*port));
    ck_assert_int_eq(weft_server_stop(srv, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_server_destroy(srv), 0);
    return NULL;
}

START_TEST(test_a_failed_handler_is_reported)
{
    char err[4096], want[64];
    int port = 0;

    ck_assert_int_eq(run_capturing_stderr(2, handler_error_main, &port, err,
                                          sizeof err), 0);
    ck_assert_msg(strstr(err, "EMSGSIZE") != NULL, "stderr: %s", err);
    snprintf(want, sizeof want, "connection handler of the server on "
             "127.0.0.1:%d", port);
    ck_assert_ptr_nonnull(strstr(err, want));
}
END_TEST

/* --- out of descriptors -------------------------------------------------------- */

#define PENDING 8

/* The lowest descriptor number free now. */
static int lowest_free_fd(void)
{
    int fd = fcntl(STDERR_FILENO, F_DUPFD, 0);
    ck_assert_int_ge(fd, 0);
    close(fd);
    return fd;
}

/* Descriptors > 2 open on /dev/null, as a bit set (fds < 1024). */
static void dev_null_fds(unsigned char set[128])
{
    char path[64], target[64];

    memset(set, 0, 128);
    for (int fd = 3; fd < 1024; fd++) {
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n > 0) {
            target[n] = '\0';
            if (strcmp(target, "/dev/null") == 0)
                set[fd / 8] |= (unsigned char)(1u << (fd % 8));
        }
    }
}

/* The server's spare: the /dev/null descriptor in after and not in before. */
static int find_spare(const unsigned char before[128])
{
    unsigned char after[128];
    int spare = -1;

    dev_null_fds(after);
    for (int fd = 3; fd < 1024; fd++) {
        if ((after[fd / 8] & ~before[fd / 8]) & (1u << (fd % 8))) {
            ck_assert_int_eq(spare, -1);
            spare = fd;
        }
    }
    ck_assert_int_ge(spare, 0);
    return spare;
}

static void set_fd_limit(rlim_t cur)
{
    struct rlimit lim;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &lim), 0);
    lim.rlim_cur = cur;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &lim), 0);
}

static void server_stats(weft_server *srv, weft_server_stats *st)
{
    ck_assert_int_eq(weft_server_get_stats(srv, st), 0);
}

static void *emfile_main(void *arg)
{
    int *port_out = arg;
    unsigned char before[128];
    weft_server *srv;
    weft_server_opts opts = { .backlog = 64 };
    weft_server_stats st0, st;
    struct rlimit saved;
    weft_socket *c[PENDING];
    int filler[PENDING + 64];
    int nfill = 0;

    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
    dev_null_fds(before);
    ck_assert_int_eq(weft_server_start(&srv, "127.0.0.1", "0", echo_handler,
                                       NULL, &opts), 0);
    int port = *port_out = weft_server_port(srv);
    int spare = find_spare(before);
    weft_stream *a = dial(port);
    echo_once(a, "one\n");
    struct sockaddr_in addr = loopback(port);

    /* 1. No descriptor at all, not even through the spare (its number is
     * above the limit): accept fails while connections wait, and the
     * server backs off instead of spinning. */
    for (int i = 0; i < PENDING; i++)
        ck_assert_int_eq(weft_socket_open(&c[i], AF_INET, SOCK_STREAM, 0), 0);
    int low = lowest_free_fd();
    server_stats(srv, &st0);
    int64_t t0 = weft_now();
    set_fd_limit((rlim_t)(low < spare ? low : spare));
    for (int i = 0; i < PENDING; i++)
        ck_assert_int_eq(weft_socket_connect(c[i], (struct sockaddr *)&addr,
                                             sizeof addr, WEFT_FOREVER), 0);
    do {
        ck_assert_int_eq(weft_sleep(1), 0);
        server_stats(srv, &st);
    } while (st.fd_exhausted < st0.fd_exhausted + 6);
    int64_t elapsed = weft_now() - t0;
    set_fd_limit(saved.rlim_cur);
    /* Six failures are five back-offs of 10 ms apart at least. */
    ck_assert_int_ge(elapsed, 45);
    ck_assert_uint_eq(st.dropped, st0.dropped);

    /* 2. Descriptors again: the waiting connections are served. */
    for (int i = 0; i < PENDING; i++) {
        weft_stream *s;
        ck_assert_int_eq(weft_stream_open(&s, c[i], NULL), 0);
        echo_once(s, "two\n");
        ck_assert_int_eq(weft_stream_close(s, WEFT_FOREVER), 0);
    }

    /* 3. No descriptor but the spare: the pending connections are
     * accepted and closed at once. The spare is taken again after the
     * first accept that worked. */
    spare = find_spare(before);
    for (int i = 0; i < PENDING; i++)
        ck_assert_int_eq(weft_socket_open(&c[i], AF_INET, SOCK_STREAM, 0), 0);
    while ((low = lowest_free_fd()) < spare) {
        ck_assert_int_lt(nfill, PENDING + 64);
        filler[nfill++] = dup(STDERR_FILENO);
    }
    server_stats(srv, &st0);
    set_fd_limit((rlim_t)low);
    for (int i = 0; i < PENDING; i++)
        ck_assert_int_eq(weft_socket_connect(c[i], (struct sockaddr *)&addr,
                                             sizeof addr, WEFT_FOREVER), 0);
    do {
        ck_assert_int_eq(weft_sleep(1), 0);
        server_stats(srv, &st);
    } while (st.dropped < st0.dropped + PENDING);
    set_fd_limit(saved.rlim_cur);
    ck_assert_uint_ge(st.fd_exhausted, st0.fd_exhausted + 1);
    for (int i = 0; i < PENDING; i++) {
        char b;
        ssize_t n = weft_socket_recv(c[i], &b, 1, WEFT_FOREVER);
        ck_assert(n == 0 || n == -ECONNRESET);
        ck_assert_int_eq(weft_socket_close(c[i]), 0);
    }
    while (nfill > 0)
        close(filler[--nfill]);

    /* 4. And it works on. */
    echo_once(a, "three\n");
    weft_stream *b = dial(port);
    echo_once(b, "four\n");
    ck_assert_int_eq(weft_stream_close(b, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_close(a, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_server_stop(srv, WEFT_FOREVER), 0);
    server_stats(srv, &st);
    ck_assert_uint_eq(st.accepted, 2 + PENDING);
    ck_assert_int_eq(weft_server_destroy(srv), 0);
    return NULL;
}

START_TEST(test_out_of_descriptors_drops_and_backs_off)
{
    char err[4096], want[64];
    int port = 0;

    ck_assert_int_eq(run_capturing_stderr(1, emfile_main, &port, err,
                                          sizeof err), 0);
    snprintf(want, sizeof want, "server on 127.0.0.1:%d: out of file "
             "descriptors (EMFILE)", port);
    ck_assert_ptr_nonnull(strstr(err, want));
}
END_TEST

/* --- Unix servers ------------------------------------------------------------ */

static void *unix_main(void *arg)
{
    char path[64];
    weft_server *srv, *other;
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    weft_socket *s;
    weft_stream *st;

    (void)arg;
    snprintf(path, sizeof path, "/tmp/weft-check-server-%d.sock", (int)getpid());
    unlink(path);
    ck_assert_int_eq(weft_server_start_unix(&srv, path, echo_handler, NULL,
                                            NULL), 0);
    ck_assert_int_eq(weft_server_port(srv), -EINVAL);
    ck_assert_int_eq(access(path, F_OK), 0);
    ck_assert_int_eq(weft_server_start_unix(&other, path, echo_handler, NULL,
                                            NULL), -EADDRINUSE);
    ck_assert_ptr_null(other);
    memcpy(sun.sun_path, path, strlen(path) + 1);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(weft_socket_open(&s, AF_UNIX, SOCK_STREAM, 0), 0);
        ck_assert_int_eq(weft_socket_connect(s, (struct sockaddr *)&sun,
                                             sizeof sun, WEFT_FOREVER), 0);
        ck_assert_int_eq(weft_stream_open(&st, s, NULL), 0);
        echo_once(st, "over a unix socket\n");
        ck_assert_int_eq(weft_stream_close(st, WEFT_FOREVER), 0);
    }
    ck_assert_int_eq(weft_server_stop(srv, WEFT_FOREVER), 0);
    ck_assert_int_eq(access(path, F_OK), -1); /* removed */
    ck_assert_int_eq(weft_server_destroy(srv), 0);
    return NULL;
}

START_TEST(test_unix_server)
{
    ck_assert_int_eq(run_on(2, unix_main, NULL), 0);
}
END_TEST

/* A name in the abstract namespace ("@name"): no file, and the name is
 * free again once the server stops. */
static void *abstract_main(void *arg)
{
    char name[64];
    weft_server *srv, *other;
    weft_stream *st;

    (void)arg;
    snprintf(name, sizeof name, "@weft-check-server-%d", (int)getpid());
    ck_assert_int_eq(weft_server_start_unix(&srv, name, echo_handler, NULL,
                                            NULL), 0);
    ck_assert_int_eq(access(name + 1, F_OK), -1); /* nothing on disk */
    ck_assert_int_eq(weft_server_start_unix(&other, name, echo_handler, NULL,
                                            NULL), -EADDRINUSE);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(weft_open_unix_connection(&st, name, NULL,
                                                   WEFT_FOREVER), 0);
        echo_once(st, "over an abstract name\n");
        ck_assert_int_eq(weft_stream_close(st, WEFT_FOREVER), 0);
    }
    ck_assert_int_eq(weft_server_stop(srv, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_server_destroy(srv), 0);
    ck_assert_int_eq(weft_open_unix_connection(&st, name, NULL, WEFT_FOREVER),
                     -ECONNREFUSED);
    ck_assert_int_eq(weft_server_start_unix(&srv, name, echo_handler, NULL,
                                            NULL), 0);
    ck_assert_int_eq(weft_server_stop(srv, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_server_destroy(srv), 0);
    ck_assert_int_eq(weft_server_start_unix(&srv, "@", echo_handler, NULL,
                                            NULL), -EINVAL);
    ck_assert_int_eq(weft_open_unix_connection(&st, "@", NULL, WEFT_FOREVER),
                     -EINVAL);
    return NULL;
}

START_TEST(test_unix_abstract)
{
    ck_assert_int_eq(run_on(2, abstract_main, NULL), 0);
}
END_TEST

/* --- bad arguments ------------------------------------------------------------ */

static void *bad_args_main(void *arg)
{
    weft_server *srv = (weft_server *)&srv;
    weft_server_opts o;
    weft_server_stats st;
    char long_path[200];

    (void)arg;
    ck_assert_int_eq(weft_server_start(NULL, NULL, "0", echo_handler, NULL,
                                       NULL), -EINVAL);
    ck_assert_int_eq(weft_server_start(&srv, NULL, "0", NULL, NULL, NULL),
                     -EINVAL);
    ck_assert_ptr_null(srv);
    const char *ports[] = { NULL, "", "abc", "65536", "-1", "8o", "123456" };
    for (size_t i = 0; i < sizeof ports / sizeof ports[0]; i++)
        ck_assert_int_eq(weft_server_start(&srv, NULL, ports[i], echo_handler,
                                           NULL, NULL), -EINVAL);
    ck_assert_int_eq(weft_server_start(&srv, "localhost", "0", echo_handler,
                                       NULL, NULL), -EINVAL);
    o = (weft_server_opts){ .flags = 0x80 };
    ck_assert_int_eq(weft_server_start(&srv, NULL, "0", echo_handler, NULL, &o),
                     -EINVAL);
    o = (weft_server_opts){ .max_connections = (size_t)INT_MAX + 1 };
    ck_assert_int_eq(weft_server_start(&srv, NULL, "0", echo_handler, NULL, &o),
                     -EINVAL);
    o = (weft_server_opts){ .close_timeout_ms = -5 };
    ck_assert_int_eq(weft_server_start(&srv, NULL, "0", echo_handler, NULL, &o),
                     -EINVAL);
    o = (weft_server_opts){ .reserved = { &o } };
    ck_assert_int_eq(weft_server_start(&srv, NULL, "0", echo_handler, NULL, &o),
                     -EINVAL);
    o = (weft_server_opts){ .flags = WEFT_SERVER_REUSEPORT };
    ck_assert_int_eq(weft_server_start_unix(&srv, "/tmp/x.sock", echo_handler,
                                            NULL, &o), -EINVAL);
    memset(long_path, 'a', sizeof long_path - 1);
    long_path[sizeof long_path - 1] = '\0';
    ck_assert_int_eq(weft_server_start_unix(&srv, long_path, echo_handler,
                                            NULL, NULL), -EINVAL);
    ck_assert_int_eq(weft_server_start_unix(&srv, "", echo_handler, NULL,
                                            NULL), -EINVAL);
    ck_assert_int_eq(weft_server_start_unix(NULL, "/tmp/x.sock", echo_handler,
                                            NULL, NULL), -EINVAL);
    ck_assert_int_eq(weft_server_port(NULL), -EINVAL);
    ck_assert_int_eq(weft_server_connections(NULL), -EINVAL);
    ck_assert_int_eq(weft_server_get_stats(NULL, &st), -EINVAL);
    ck_assert_int_eq(weft_server_wait(NULL, 0), -EINVAL);
    ck_assert_int_eq(weft_server_stop(NULL, 0), -EINVAL);
    ck_assert_int_eq(weft_server_destroy(NULL), -EINVAL);

    /* An IPv6 address, where the machine has IPv6. */
    int rc = weft_server_start(&srv, "::1", "0", echo_handler, NULL, NULL);
    ck_assert(rc == 0 || rc == -EADDRNOTAVAIL || rc == -EAFNOSUPPORT);
    if (rc == 0) {
        ck_assert_int_gt(weft_server_port(srv), 0);
        ck_assert_int_eq(weft_server_stop(srv, 0), 0);
        ck_assert_int_eq(weft_server_destroy(srv), 0);
    }

    /* A server in use: a port taken, a bad grace, a bad timeout. */
    ck_assert_int_eq(weft_server_start(&srv, "127.0.0.1", "0", echo_handler,
                                       NULL, NULL), 0);
    char port[8];
    snprintf(port, sizeof port, "%d", weft_server_port(srv));
    weft_server *again;
    ck_assert_int_eq(weft_server_start(&again, "127.0.0.1", port, echo_handler,
                                       NULL, NULL), -EADDRINUSE);
    ck_assert_int_eq(weft_server_get_stats(srv, NULL), -EINVAL);
    ck_assert_int_eq(weft_server_stop(srv, -5), -EINVAL);
    ck_assert_int_eq(weft_server_wait(srv, -5), -EINVAL);
    ck_assert_int_eq(weft_server_stop(srv, 0), 0);
    ck_assert_int_eq(weft_server_destroy(srv), 0);
    return NULL;
}

START_TEST(test_bad_arguments)
{
    weft_server *srv;
    /* Outside a task. */
    ck_assert_int_eq(weft_server_start(&srv, "127.0.0.1", "0", echo_handler,
                                       NULL, NULL), -EPERM);
    ck_assert_int_eq(weft_server_start_unix(&srv, "/tmp/x.sock", echo_handler,
                                            NULL, NULL), -EPERM);
    ck_assert_int_eq(run_on(1, bad_args_main, NULL), 0);
}
END_TEST

static Suite *server_suite(void)
{
    Suite *s = suite_create("server");
    TCase *tc = tcase_create("server");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_echo_many_clients_on_four_workers);
    tcase_add_test(tc, test_echo_with_a_listener_per_worker);
    tcase_add_test(tc, test_listeners_per_worker_share_a_limit);
    tcase_add_test(tc, test_connection_limit_pauses_accepting);
    tcase_add_test(tc, test_stop_waits_for_handlers_during_the_grace_period);
    tcase_add_test(tc, test_stop_cancels_handlers_after_the_grace_period);
    tcase_add_test(tc, test_stop_from_a_handler_is_refused);
    tcase_add_test(tc, test_a_failed_handler_is_reported);
    tcase_add_test(tc, test_out_of_descriptors_drops_and_backs_off);
    tcase_add_test(tc, test_unix_server);
    tcase_add_test(tc, test_unix_abstract);
    tcase_add_test(tc, test_bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(server_suite)
