/* Resolving and connecting by name: weft_getaddrinfo, weft_tcp_connect
 * (Happy Eyeballs), weft_tcp_listen, weft_open_connection and
 * weft_open_unix_connection.
 *
 * The machine the tests run on may have no network and no name server,
 * so they use loopback addresses, "localhost", and a resolver of their
 * own for two reserved names: this program defines getaddrinfo and
 * freeaddrinfo, which take the place of libc's for libweft (the
 * executable's definitions come first in symbol lookup), answer those
 * names, pass every other call on to libc, and count the lists given out
 * and freed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "testutil.h"

/* --- the test's resolver ------------------------------------------------------ */

/* Answered with the addresses of fake_addr[] (each with its own port). */
#define NAME_LIST "list.weft-test.invalid"
/* Blocks until fake_open_gate, then answers 127.0.0.1. */
#define NAME_BLOCK "block.weft-test.invalid"

#define FAKE_MAX 4
static struct {
    const char *addr[FAKE_MAX];
    char port[FAKE_MAX][12];
    int n;
} fake_list;

static pthread_mutex_t fake_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fake_cv = PTHREAD_COND_INITIALIZER;
static int fake_gate_open;   /* under fake_mu */
static int fake_blocked;     /* threads blocked in NAME_BLOCK, atomic */
static int fake_max_blocked; /* the most at once, under fake_mu */
static long lists_made;      /* lists getaddrinfo gave out, atomic */
static long lists_freed;     /* lists freed, atomic */

typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *,
                      struct addrinfo **);
typedef void (*fai_fn)(struct addrinfo *);

static int real_getaddrinfo(const char *host, const char *service,
                            const struct addrinfo *hints,
                            struct addrinfo **res)
{
    gai_fn fn = (gai_fn)dlsym(RTLD_NEXT, "getaddrinfo");
    return fn(host, service, hints, res);
}

static void real_freeaddrinfo(struct addrinfo *res)
{
    fai_fn fn = (fai_fn)dlsym(RTLD_NEXT, "freeaddrinfo");
    fn(res);
}

/* The fake list: libc's own answers for each numeric address, chained
 * (libc's freeaddrinfo walks the chain and frees entry by entry). */
static int answer_list(const struct addrinfo *hints, struct addrinfo **res)
{
    struct addrinfo h = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
                          .ai_socktype = hints != NULL ? hints->ai_socktype
                                                       : SOCK_STREAM };
    struct addrinfo *head = NULL, **tail = &head;

    for (int i = 0; i < fake_list.n; i++) {
        struct addrinfo *one;
        int rc = real_getaddrinfo(fake_list.addr[i], fake_list.port[i], &h,
                                  &one);
        if (rc != 0)
            return rc;
        *tail = one;
        while (*tail != NULL)
            tail = &(*tail)->ai_next;
    }
    *res = head;
    return 0;
}

static int answer_block(const char *service, const struct addrinfo *hints,
                        struct addrinfo **res)
{
    struct addrinfo h = { .ai_flags = AI_NUMERICHOST,
                          .ai_socktype = hints != NULL ? hints->ai_socktype
                                                       : SOCK_STREAM };

    pthread_mutex_lock(&fake_mu);
    int now = COUNT(fake_blocked) + 1;
    if (now > fake_max_blocked)
        fake_max_blocked = now;
    while (!fake_gate_open)
        pthread_cond_wait(&fake_cv, &fake_mu);
    __atomic_fetch_sub(&fake_blocked, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&fake_mu);
    return real_getaddrinfo("127.0.0.1", service, &h, res);
}

int getaddrinfo(const char *restrict host, const char *restrict service,
                const struct addrinfo *restrict hints,
                struct addrinfo **restrict res)
{
    int rc;

    if (host != NULL && strcmp(host, NAME_LIST) == 0)
        rc = answer_list(hints, res);
    else if (host != NULL && strcmp(host, NAME_BLOCK) == 0)
        rc = answer_block(service, hints, res);
    else
        rc = real_getaddrinfo(host, service, hints, res);
    if (rc == 0)
        COUNT(lists_made);
    return rc;
}

void freeaddrinfo(struct addrinfo *res)
{
    if (res != NULL)
        COUNT(lists_freed);
    real_freeaddrinfo(res);
}

static void fake_open_gate(void)
{
    pthread_mutex_lock(&fake_mu);
    fake_gate_open = 1;
    pthread_cond_broadcast(&fake_cv);
    pthread_mutex_unlock(&fake_mu);
}

static void fake_set(int i, const char *addr, int port)
{
    fake_list.addr[i] = addr;
    snprintf(fake_list.port[i], sizeof fake_list.port[i], "%d", port);
    if (i + 1 > fake_list.n)
        fake_list.n = i + 1;
}

/* Sleeps a millisecond at a time until fn() holds. The Check time-out
 * bounds it. */
#define AWAIT_TRUE(cond)                                                      \
    do {                                                                      \
        while (!(cond))                                                       \
            ck_assert_int_eq(weft_sleep(1), 0);                               \
    } while (0)

/* --- helpers ----------------------------------------------------------------------- */

static int ipv6_available(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 sa = { .sin6_family = AF_INET6,
                               .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    int ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static const char *port_str(int port, char buf[12])
{
    snprintf(buf, 12, "%d", port);
    return buf;
}

static int family_of(weft_socket *s, int peer)
{
    struct sockaddr_storage ss;
    int rc = peer ? weft_socket_peer_addr(s, &ss, NULL)
                  : weft_socket_local_addr(s, &ss, NULL);
    ck_assert_int_eq(rc, 0);
    return ss.ss_family;
}

/* A port on addr that refuses connections: bound, not listening; close
 * *holder at the end. */
static int refusing_port(const char *addr, weft_socket **holder)
{
    struct addrinfo *ai;
    int family = strchr(addr, ':') != NULL ? AF_INET6 : AF_INET;

    ck_assert_int_eq(weft_getaddrinfo(addr, "0", NULL, &ai, 0), 0);
    ck_assert_int_eq(weft_socket_open(holder, family, SOCK_STREAM, 0), 0);
    ck_assert_int_eq(weft_socket_bind(*holder, ai->ai_addr, ai->ai_addrlen),
                     0);
    weft_freeaddrinfo(ai);
    return weft_socket_port(*holder);
}

/* A listener on addr whose accept queue is full (backlog 0 and one
 * connection queued, *filler): the kernel drops the SYNs of any other
 * connection, so connecting to it hangs. Close both at the end. */
static int hanging_port(const char *addr, weft_socket **listener,
                        weft_socket **filler)
{
    char buf[12];

    ck_assert_int_eq(weft_tcp_listen(listener, addr, "0", 0, 1), 0);
    int port = weft_socket_port(*listener);
    ck_assert_int_eq(listen(weft_socket_fd(*listener), 0), 0);
    ck_assert_int_eq(weft_tcp_connect(filler, addr, port_str(port, buf), 0,
                                      WEFT_FOREVER),
                     0);
    /* Until the listener has it queued (the client may have its
     * SYN-ACK before the listener has its ACK). */
    struct pollfd pfd = { .fd = weft_socket_fd(*listener), .events = POLLIN };
    AWAIT_TRUE(poll(&pfd, 1, 0) == 1);
    return port;
}

/* Accepts one connection and checks that it came from family. */
static void accept_one(weft_socket *listener, int family)
{
    weft_socket *conn;
    ck_assert_int_eq(weft_socket_accept(listener, &conn, NULL, NULL,
                                        WEFT_FOREVER),
                     0);
    ck_assert_int_eq(family_of(conn, 1), family);
    ck_assert_int_eq(weft_socket_close(conn), 0);
}

/* Every list given out was freed (the runtime has ended: abandoned
 * lookups too). */
static void assert_no_list_leaked(void)
{
    ck_assert_int_eq(READ(lists_freed), READ(lists_made));
}

/* Runs fn as main on two workers with a default pool of
 * blocking_threads, as run_on (nothing left behind), and checks that it
 * made `lists` lists and freed them all. */
static void run_with_pool(unsigned blocking_threads, weft_fn fn, long lists)
{
    struct leak_check lc;
    weft_run_opts opts = { .workers = 2,
                           .blocking_threads = blocking_threads };
    leak_check_begin(&lc);
    ck_assert_int_eq(weft_run(fn, NULL, NULL, &opts), 0);
    leak_check_end(&lc);
    ck_assert_int_eq(READ(lists_made), lists);
    assert_no_list_leaked();
}

/* A test that runs main on two workers, then checks that the runtime
 * left nothing behind and that every list was freed. */
#define LOOPBACK_TEST(name, main)                                             \
    START_TEST(name)                                                          \
    {                                                                         \
        ck_assert_int_eq(run_on(2, main, NULL), 0);                           \
        assert_no_list_leaked();                                              \
    }                                                                         \
    END_TEST

/* --- weft_getaddrinfo ---------------------------------------------------------------- */

static void *numeric_main(void *arg)
{
    struct addrinfo *res;
    weft_executor_stats st;
    (void)arg;

    /* Numeric hosts are parsed inline: timeout 0 is enough. */
    ck_assert_int_eq(weft_getaddrinfo("127.0.0.1", "80", NULL, &res, 0), 0);
    ck_assert_ptr_nonnull(res);
    ck_assert_int_eq(res->ai_family, AF_INET);
    ck_assert_int_eq(res->ai_socktype, SOCK_STREAM);
    ck_assert_int_eq(ntohs(((struct sockaddr_in *)res->ai_addr)->sin_port),
                     80);
    weft_freeaddrinfo(res);

    ck_assert_int_eq(weft_getaddrinfo("::1", "443", NULL, &res, 0), 0);
    ck_assert_int_eq(res->ai_family, AF_INET6);
    ck_assert(IN6_IS_ADDR_LOOPBACK(
        &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr));
    weft_freeaddrinfo(res);

    struct addrinfo hints = { .ai_family = AF_INET,
                              .ai_socktype = SOCK_DGRAM,
                              .ai_flags = AI_PASSIVE };
    ck_assert_int_eq(weft_getaddrinfo(NULL, "53", &hints, &res, 0), 0);
    ck_assert_int_eq(res->ai_family, AF_INET);
    ck_assert_int_eq(res->ai_socktype, SOCK_DGRAM);
    ck_assert_uint_eq(((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr,
                      htonl(INADDR_ANY));
    weft_freeaddrinfo(res);

    /* An IPv4 address asked for as IPv6: no such address. */
    hints = (struct addrinfo){ .ai_family = AF_INET6 };
    ck_assert_int_eq(weft_getaddrinfo("127.0.0.1", NULL, &hints, &res, 0),
                     -ENXIO);
    ck_assert_ptr_null(res);

    /* None of it went to the blocking pool. */
    ck_assert_int_eq(weft_executor_get_stats(NULL, &st), 0);
    ck_assert_uint_eq(st.completed, 0);
    return NULL;
}

LOOPBACK_TEST(test_numeric_addresses_resolve_inline, numeric_main)

static void *localhost_main(void *arg)
{
    struct addrinfo *res;
    weft_executor_stats st;
    (void)arg;

    ck_assert_int_eq(weft_getaddrinfo("localhost", "8080", NULL, &res,
                                      WEFT_FOREVER),
                     0);
    int loopback = 0;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        ck_assert_int_eq(ai->ai_socktype, SOCK_STREAM);
        if (ai->ai_family == AF_INET)
            loopback += ntohl(((struct sockaddr_in *)ai->ai_addr)
                                  ->sin_addr.s_addr) >> 24 == 127;
        else if (ai->ai_family == AF_INET6)
            loopback += IN6_IS_ADDR_LOOPBACK(
                &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr);
    }
    ck_assert_int_ge(loopback, 1);
    weft_freeaddrinfo(res);

    /* A name went to the pool, as a slow job. */
    ck_assert_int_eq(weft_executor_get_stats(NULL, &st), 0);
    ck_assert_uint_eq(st.completed, 1);

    /* A service by name, and one that does not exist. */
    ck_assert_int_eq(weft_getaddrinfo("127.0.0.1", "no-such-service-weft",
                                      NULL, &res, WEFT_FOREVER),
                     -ENXIO);
    ck_assert_ptr_null(res);
    return NULL;
}

LOOPBACK_TEST(test_localhost_resolves_on_the_pool, localhost_main)

static void *unresolvable_main(void *arg)
{
    struct addrinfo *res = (struct addrinfo *)&res;
    (void)arg;

    /* No name server here: "not found" or "try again". */
    int rc = weft_getaddrinfo("no-such-host.invalid", "80", NULL, &res,
                              WEFT_FOREVER);
    ck_assert_msg(rc == -ENXIO || rc == -EAGAIN, "rc %d (%s)", rc,
                  weft_err_name(rc));
    ck_assert_ptr_null(res);
    return NULL;
}

START_TEST(test_unresolvable_name)
{
    ck_assert_int_eq(run_on(1, unresolvable_main, NULL), 0);
    ck_assert_str_eq(weft_err_name(-ENXIO), "ENXIO");
    ck_assert_str_eq(weft_strerror(-ENXIO), "no such host or service");
    assert_no_list_leaked();
}
END_TEST

static void *bad_args_main(void *arg)
{
    struct addrinfo *res;
    weft_socket *sock = (weft_socket *)&sock;
    weft_stream *stream = (weft_stream *)&stream;
    char long_path[sizeof ((struct sockaddr_un *)0)->sun_path + 1];
    (void)arg;

    ck_assert_int_eq(weft_getaddrinfo("localhost", "80", NULL, NULL, 0),
                     -EINVAL);
    ck_assert_int_eq(weft_getaddrinfo(NULL, NULL, NULL, &res, 0), -EINVAL);
    ck_assert_int_eq(weft_getaddrinfo("localhost", "80", NULL, &res, -2),
                     -EINVAL);
    ck_assert_int_eq(weft_getaddrinfo("127.0.0.1", "65536", NULL, &res, 0),
                     -EINVAL);
    ck_assert_int_eq(weft_getaddrinfo("127.0.0.1", "", NULL, &res, 0),
                     -EINVAL);
    struct addrinfo hints = { .ai_flags = ~0 };
    ck_assert_int_eq(weft_getaddrinfo("127.0.0.1", "1", &hints, &res, 0),
                     -EINVAL);
    hints = (struct addrinfo){ .ai_family = 12345 };
    ck_assert_int_eq(weft_getaddrinfo("127.0.0.1", "1", &hints, &res, 0),
                     -EAFNOSUPPORT);
    weft_freeaddrinfo(NULL);

    ck_assert_int_eq(weft_tcp_connect(NULL, "127.0.0.1", "80", 0, 0),
                     -EINVAL);
    ck_assert_int_eq(weft_tcp_connect(&sock, NULL, "80", 0, 0), -EINVAL);
    ck_assert_ptr_null(sock);
    ck_assert_int_eq(weft_tcp_connect(&sock, "127.0.0.1", NULL, 0, 0),
                     -EINVAL);
    ck_assert_int_eq(weft_tcp_connect(&sock, "127.0.0.1", "0", 0, 0),
                     -EINVAL);
    ck_assert_int_eq(weft_tcp_connect(&sock, "127.0.0.1", "65536", 0, 0),
                     -EINVAL);
    ck_assert_int_eq(weft_tcp_connect(&sock, "127.0.0.1", "", 0, 0),
                     -EINVAL);
    ck_assert_int_eq(weft_tcp_connect(&sock, "127.0.0.1", "80", 0x1000, 0),
                     -EINVAL);
    ck_assert_int_eq(weft_tcp_connect(&sock, "127.0.0.1", "80", 0, -5),
                     -EINVAL);

    ck_assert_int_eq(weft_tcp_listen(NULL, NULL, "0", 0, 0), -EINVAL);
    ck_assert_int_eq(weft_tcp_listen(&sock, NULL, NULL, 0, 0), -EINVAL);
    ck_assert_int_eq(weft_tcp_listen(&sock, NULL, "65536", 0, 0), -EINVAL);
    ck_assert_int_eq(weft_tcp_listen(&sock, NULL, "0", 0x1000, 0), -EINVAL);

    ck_assert_int_eq(weft_open_connection(NULL, "127.0.0.1", "80", NULL, 0),
                     -EINVAL);
    ck_assert_int_eq(weft_open_connection(&stream, "127.0.0.1", "0", NULL, 0),
                     -EINVAL);
    ck_assert_ptr_null(stream);
    ck_assert_int_eq(weft_open_unix_connection(NULL, "/x", NULL, 0), -EINVAL);
    ck_assert_int_eq(weft_open_unix_connection(&stream, NULL, NULL, 0),
                     -EINVAL);
    ck_assert_int_eq(weft_open_unix_connection(&stream, "", NULL, 0),
                     -EINVAL);
    ck_assert_int_eq(weft_open_unix_connection(&stream, "/x", NULL, -2),
                     -EINVAL);
    memset(long_path, 'a', sizeof long_path - 1);
    long_path[sizeof long_path - 1] = '\0';
    ck_assert_int_eq(weft_open_unix_connection(&stream, long_path, NULL,
                                               WEFT_FOREVER),
                     -ENAMETOOLONG);
    return NULL;
}

START_TEST(test_bad_arguments)
{
    struct addrinfo *res;
    weft_socket *sock;
    weft_stream *stream;

    ck_assert_int_eq(run_on(1, bad_args_main, NULL), 0);
    /* Outside a task. */
    ck_assert_int_eq(weft_getaddrinfo("127.0.0.1", "80", NULL, &res, 0),
                     -EPERM);
    ck_assert_int_eq(weft_tcp_connect(&sock, "127.0.0.1", "80", 0, 0),
                     -EPERM);
    ck_assert_int_eq(weft_tcp_listen(&sock, NULL, "0", 0, 0), -EPERM);
    ck_assert_int_eq(weft_open_connection(&stream, "127.0.0.1", "80", NULL,
                                          0),
                     -EPERM);
    ck_assert_int_eq(weft_open_unix_connection(&stream, "/x", NULL, 0),
                     -EPERM);
    assert_no_list_leaked();
}
END_TEST

/* --- time-outs, cancellation, the slow lane ------------------------------------------- */

/* A task that resolves the name arg. */
static void *resolve_task(void *arg)
{
    struct addrinfo *res = (struct addrinfo *)&res;

    int rc = weft_getaddrinfo(arg, "80", NULL, &res, WEFT_FOREVER);
    if (rc < 0) {
        ck_assert_ptr_null(res);
        return weft_fail(rc, "resolving %s", (const char *)arg);
    }
    ck_assert_ptr_nonnull(res);
    weft_freeaddrinfo(res);
    return NULL;
}

static void *timeout_main(void *arg)
{
    struct addrinfo *res;
    weft_task *t;
    weft_executor_stats st;
    (void)arg;

    /* 0: do not wait; a name is never there at once. */
    ck_assert_int_eq(weft_getaddrinfo("localhost", "80", NULL, &res, 0),
                     -ETIMEDOUT);
    ck_assert_ptr_null(res);
    ck_assert_int_eq(weft_executor_get_stats(NULL, &st), 0);
    ck_assert_uint_eq(st.completed + st.queued + st.running, 0);

    /* A lookup that times out returns then, the resolver still busy
     * (nothing can finish while the gate is closed). */
    int64_t t0 = weft_now();
    ck_assert_int_eq(weft_getaddrinfo(NAME_BLOCK, "80", NULL, &res, 50),
                     -ETIMEDOUT);
    ck_assert_int_ge(weft_now() - t0, 50);

    /* So does one that is cancelled. */
    ck_assert_int_eq(weft_spawn(&t, resolve_task, NAME_BLOCK), 0);
    wait_until_waiting(t, NULL);
    ck_assert_int_eq(weft_cancel(t), 0);
    ck_assert_int_eq(weft_await(t, NULL), -ECANCELED);
    ck_assert_int_eq(weft_task_unref(t), 0);

    /* A deadline scope applies too. */
    int rc;
    WEFT_WITH_TIMEOUT(20, rc) {
        rc = weft_getaddrinfo(NAME_BLOCK, "80", NULL, &res, WEFT_FOREVER);
    }
    ck_assert_int_eq(rc, -ETIMEDOUT);

    /* The abandoned lookups end after this; weft_run waits for them, and
     * their cleanups free their lists. */
    ck_assert_int_eq(READ(lists_made), 0);
    fake_open_gate();
    return NULL;
}

START_TEST(test_timeout_and_cancel_free_the_lookup)
{
    ck_assert_int_eq(run_on(2, timeout_main, NULL), 0);
    /* Lookups dropped before they started made none. */
    ck_assert_int_le(READ(lists_made), 3);
    assert_no_list_leaked();
}
END_TEST

static int quick_ran;

static void *quick_job(void *arg)
{
    COUNT(quick_ran);
    return arg;
}

/* A pool of 4 threads lets 2 of them resolve at once ((4 + 1) / 2). */
static void *cap_main(void *arg)
{
    enum { N = 5 };
    weft_task *t[N];
    weft_executor_stats st;
    void *out;
    (void)arg;

    for (int i = 0; i < N; i++)
        ck_assert_int_eq(weft_spawn(&t[i], resolve_task, NAME_BLOCK), 0);
    AWAIT_TRUE(READ(fake_blocked) == 2 &&
               (weft_executor_get_stats(NULL, &st) == 0 && st.queued == 3));
    ck_assert_uint_eq(st.running_slow, 2);
    /* The other threads still take quick jobs. */
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(weft_to_thread(quick_job, &out, &out), 0);
        ck_assert_ptr_eq(out, &out);
    }
    ck_assert_int_eq(READ(quick_ran), 3);
    ck_assert_int_eq(weft_executor_get_stats(NULL, &st), 0);
    ck_assert_uint_eq(st.queued, 3);
    ck_assert_int_eq(READ(fake_blocked), 2);

    fake_open_gate();
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(weft_await(t[i], NULL), 0);
        ck_assert_int_eq(weft_task_unref(t[i]), 0);
    }
    pthread_mutex_lock(&fake_mu);
    ck_assert_int_eq(fake_max_blocked, 2);
    pthread_mutex_unlock(&fake_mu);
    return NULL;
}

START_TEST(test_lookups_take_at_most_half_the_pool)
{
    run_with_pool(4, cap_main, 5);
}
END_TEST

/* Many at once, through a lane of one thread. */
static void *many_main(void *arg)
{
    enum { N = 40 };
    weft_task *t[N];
    weft_outcome out[N];
    (void)arg;

    for (int i = 0; i < N; i++)
        ck_assert_int_eq(weft_spawn(&t[i], resolve_task, "localhost"), 0);
    ck_assert_int_eq(weft_gather(t, N, WEFT_GATHER_FAIL_FAST, out), 0);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(weft_task_unref(t[i]), 0);
    return NULL;
}

START_TEST(test_many_concurrent_lookups)
{
    run_with_pool(2, many_main, 40);
}
END_TEST

/* --- tcp_listen and tcp_connect ------------------------------------------------------- */

static void connect_to(const char *listen_host, const char *connect_host,
                       int family)
{
    weft_socket *l, *c;
    char buf[12];

    ck_assert_int_eq(weft_tcp_listen(&l, listen_host, "0", 0, 0), 0);
    int port = weft_socket_port(l);
    ck_assert_int_gt(port, 0);
    ck_assert_int_eq(weft_tcp_connect(&c, connect_host, port_str(port, buf),
                                      0, WEFT_FOREVER),
                     0);
    ck_assert_int_eq(family_of(c, 1), family);
    accept_one(l, family);
    ck_assert_int_eq(weft_socket_close(c), 0);
    ck_assert_int_eq(weft_socket_close(l), 0);
}

static void *connect_main(void *arg)
{
    weft_socket *l, *l2;
    char buf[12];
    (void)arg;

    connect_to("127.0.0.1", "127.0.0.1", AF_INET);
    connect_to("127.0.0.1", "localhost", AF_INET);
    if (ipv6_available())
        connect_to("::1", "::1", AF_INET6);

    /* Every address: dual stack where there is IPv6. */
    ck_assert_int_eq(weft_tcp_listen(&l, NULL, "0", 0, 0), 0);
    ck_assert_int_eq(family_of(l, 0), ipv6_available() ? AF_INET6 : AF_INET);
    int port = weft_socket_port(l);
    weft_socket *c;
    ck_assert_int_eq(weft_tcp_connect(&c, "127.0.0.1", port_str(port, buf),
                                      WEFT_SOCKET_KEEPALIVE, WEFT_FOREVER),
                     0);
    accept_one(l, ipv6_available() ? AF_INET6 : AF_INET); /* v4-mapped */
    ck_assert_int_eq(weft_socket_close(c), 0);
    ck_assert_int_eq(weft_socket_close(l), 0);

    /* A port in use. */
    ck_assert_int_eq(weft_tcp_listen(&l2, "127.0.0.1", "0", 0, 0), 0);
    port_str(weft_socket_port(l2), buf);
    ck_assert_int_eq(weft_tcp_listen(&l, "127.0.0.1", buf, 0, 0),
                     -EADDRINUSE);
    ck_assert_ptr_null(l);
    ck_assert_int_eq(weft_socket_close(l2), 0);
    return NULL;
}

LOOPBACK_TEST(test_listen_and_connect, connect_main)

static void *refused_main(void *arg)
{
    weft_socket *h1, *h2, *c = (weft_socket *)&c;
    char buf[12];
    (void)arg;

    int port = refusing_port("127.0.0.1", &h1);
    ck_assert_int_eq(weft_tcp_connect(&c, "127.0.0.1", port_str(port, buf), 0,
                                      WEFT_FOREVER),
                     -ECONNREFUSED);
    ck_assert_ptr_null(c);

    /* Every address refuses: the last error. */
    fake_set(0, "127.0.0.1", port);
    fake_set(1, "127.0.0.1", refusing_port("127.0.0.1", &h2));
    ck_assert_int_eq(weft_tcp_connect(&c, NAME_LIST, "1", 0, WEFT_FOREVER),
                     -ECONNREFUSED);
    ck_assert_int_eq(weft_socket_close(h1), 0);
    ck_assert_int_eq(weft_socket_close(h2), 0);
    return NULL;
}

LOOPBACK_TEST(test_connection_refused, refused_main)

/* Connects to NAME_LIST, which must end at listener l, on IPv4. */
static void connect_list_to(weft_socket *l)
{
    weft_socket *c;

    ck_assert_int_eq(weft_tcp_connect(&c, NAME_LIST, "1", 0, WEFT_FOREVER),
                     0);
    ck_assert_int_eq(family_of(c, 1), AF_INET);
    accept_one(l, AF_INET);
    ck_assert_int_eq(weft_socket_close(c), 0);
}

/* The first address refuses: the next is tried at once. */
static void *fallback_main(void *arg)
{
    weft_socket *hold, *l;
    (void)arg;

    ck_assert_int_eq(weft_tcp_listen(&l, "127.0.0.1", "0", 0, 0), 0);
    fake_set(0, "127.0.0.1", refusing_port("127.0.0.1", &hold));
    fake_set(1, "127.0.0.1", weft_socket_port(l));
    connect_list_to(l);

    if (ipv6_available()) {
        /* IPv6 first whatever the order given: ::1 refuses. */
        weft_socket *hold6;
        fake_set(0, "127.0.0.1", weft_socket_port(l));
        fake_set(1, "::1", refusing_port("::1", &hold6));
        connect_list_to(l);
        ck_assert_int_eq(weft_socket_close(hold6), 0);
    }
    ck_assert_int_eq(weft_socket_close(hold), 0);
    ck_assert_int_eq(weft_socket_close(l), 0);
    return NULL;
}

LOOPBACK_TEST(test_happy_eyeballs_falls_back, fallback_main)

/* Addresses that do not answer: the next starts after 250 ms, with the
 * first still pending; the families alternate, IPv6 first. */
static void *stagger_main(void *arg)
{
    weft_socket *hl4, *hf4, *hl6 = NULL, *hf6 = NULL, *l;
    int v6 = ipv6_available();
    (void)arg;

    ck_assert_int_eq(weft_tcp_listen(&l, "127.0.0.1", "0", 0, 0), 0);
    fake_set(0, "127.0.0.1", hanging_port("127.0.0.1", &hl4, &hf4));
    fake_set(1, "127.0.0.1", weft_socket_port(l));
    if (v6) /* tried first, then 127.0.0.1 (hangs), then the listener */
        fake_set(2, "::1", hanging_port("::1", &hl6, &hf6));
    int64_t t0 = weft_now();
    connect_list_to(l);
    ck_assert_int_ge(weft_now() - t0, v6 ? 500 : 250);
    ck_assert_int_eq(weft_socket_close(l), 0);
    ck_assert_int_eq(weft_socket_close(hf4), 0);
    ck_assert_int_eq(weft_socket_close(hl4), 0);
    if (v6) {
        ck_assert_int_eq(weft_socket_close(hf6), 0);
        ck_assert_int_eq(weft_socket_close(hl6), 0);
    }
    return NULL;
}

LOOPBACK_TEST(test_happy_eyeballs_staggers_attempts, stagger_main)

struct connect_call {
    const char *host;
    const char *port;
    int rc;
};

static void *connect_task(void *arg)
{
    struct connect_call *cc = arg;
    weft_socket *s;

    cc->rc = weft_tcp_connect(&s, cc->host, cc->port, 0, WEFT_FOREVER);
    if (cc->rc == 0)
        weft_socket_close(s);
    return NULL;
}

static void *cancel_connect_main(void *arg)
{
    weft_socket *hl, *hf, *c;
    weft_task *t;
    char buf[12];
    (void)arg;

    int port = hanging_port("127.0.0.1", &hl, &hf);
    struct connect_call cc = { "127.0.0.1", port_str(port, buf), 1 };

    /* Cancelled while its attempt waits: the attempt is cancelled and
     * its socket closed (run_on counts the descriptors). */
    ck_assert_int_eq(weft_spawn(&t, connect_task, &cc), 0);
    wait_until_waiting(t, NULL);
    ck_assert_int_eq(weft_cancel(t), 0);
    ck_assert_int_eq(weft_await(t, NULL), -ECANCELED);
    ck_assert_int_eq(cc.rc, -ECANCELED);
    ck_assert_int_eq(weft_task_unref(t), 0);

    /* Its own timeout. */
    int64_t t0 = weft_now();
    ck_assert_int_eq(weft_tcp_connect(&c, "127.0.0.1", buf, 0, 100),
                     -ETIMEDOUT);
    ck_assert_int_ge(weft_now() - t0, 100);
    /* 0: do not wait. */
    ck_assert_int_eq(weft_tcp_connect(&c, "127.0.0.1", buf, 0, 0),
                     -ETIMEDOUT);
    ck_assert_ptr_null(c);

    ck_assert_int_eq(weft_socket_close(hf), 0);
    ck_assert_int_eq(weft_socket_close(hl), 0);
    return NULL;
}

LOOPBACK_TEST(test_cancel_mid_connect, cancel_connect_main)

/* --- streams ----------------------------------------------------------------------------- */

/* Accepts one connection and echoes one line back. */
static void *echo_server(void *arg)
{
    weft_socket *l = arg, *conn;
    weft_stream *s;
    char line[64];

    int rc = weft_socket_accept(l, &conn, NULL, NULL, WEFT_FOREVER);
    if (rc < 0)
        return weft_fail(rc, "accept");
    ck_assert_int_eq(weft_stream_open(&s, conn, NULL), 0);
    ssize_t n = weft_stream_read_line(s, line, sizeof line, WEFT_FOREVER);
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(weft_stream_write(s, line, (size_t)n, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_close(s, WEFT_FOREVER), 0);
    return NULL;
}

static void round_trip(weft_stream *s)
{
    char line[64];

    ck_assert_int_eq(weft_stream_write(s, "hello\n", 6, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_read_line(s, line, sizeof line,
                                           WEFT_FOREVER),
                     6);
    ck_assert(memcmp(line, "hello\n", 6) == 0);
    ck_assert_int_eq(weft_stream_read(s, line, sizeof line, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_close(s, WEFT_FOREVER), 0);
}

static void *open_connection_main(void *arg)
{
    weft_socket *l;
    weft_stream *s;
    weft_task *t;
    char buf[12];
    (void)arg;

    ck_assert_int_eq(weft_tcp_listen(&l, "localhost", "0", 0, 0), 0);
    ck_assert_int_eq(weft_spawn(&t, echo_server, l), 0);
    ck_assert_int_eq(weft_open_connection(&s, "localhost",
                                          port_str(weft_socket_port(l), buf),
                                          NULL, WEFT_FOREVER),
                     0);
    ck_assert_ptr_nonnull(weft_stream_socket(s));
    round_trip(s);
    ck_assert_int_eq(weft_await(t, NULL), 0);
    ck_assert_int_eq(weft_task_unref(t), 0);
    ck_assert_int_eq(weft_socket_close(l), 0);
    return NULL;
}

LOOPBACK_TEST(test_open_connection_round_trip, open_connection_main)

static void *open_unix_main(void *arg)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    weft_socket *l;
    weft_stream *s = (weft_stream *)&s;
    weft_task *t;
    (void)arg;

    snprintf(sa.sun_path, sizeof sa.sun_path, "/tmp/weft-check-dns-%d",
             (int)getpid());
    unlink(sa.sun_path);
    ck_assert_int_eq(weft_open_unix_connection(&s, sa.sun_path, NULL,
                                               WEFT_FOREVER),
                     -ENOENT);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(weft_socket_open(&l, AF_UNIX, SOCK_STREAM, 0), 0);
    ck_assert_int_eq(weft_socket_bind(l, (struct sockaddr *)&sa, sizeof sa),
                     0);
    ck_assert_int_eq(weft_socket_listen(l, 0), 0);
    ck_assert_int_eq(weft_spawn(&t, echo_server, l), 0);
    ck_assert_int_eq(weft_open_unix_connection(&s, sa.sun_path, NULL,
                                               WEFT_FOREVER),
                     0);
    round_trip(s);
    ck_assert_int_eq(weft_await(t, NULL), 0);
    ck_assert_int_eq(weft_task_unref(t), 0);
    ck_assert_int_eq(weft_socket_close(l), 0);
    /* Nobody listens any more. */
    ck_assert_int_eq(weft_open_unix_connection(&s, sa.sun_path, NULL,
                                               WEFT_FOREVER),
                     -ECONNREFUSED);
    unlink(sa.sun_path);
    return NULL;
}

START_TEST(test_open_unix_connection)
{
    ck_assert_int_eq(run_on(2, open_unix_main, NULL), 0);
}
END_TEST

static Suite *dns_suite(void)
{
    Suite *s = suite_create("dns");
    TCase *tc = tcase_create("resolve");

    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_numeric_addresses_resolve_inline);
    tcase_add_test(tc, test_localhost_resolves_on_the_pool);
    tcase_add_test(tc, test_unresolvable_name);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_timeout_and_cancel_free_the_lookup);
    tcase_add_test(tc, test_lookups_take_at_most_half_the_pool);
    tcase_add_test(tc, test_many_concurrent_lookups);
    suite_add_tcase(s, tc);

    tc = tcase_create("connect");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_listen_and_connect);
    tcase_add_test(tc, test_connection_refused);
    tcase_add_test(tc, test_happy_eyeballs_falls_back);
    tcase_add_test(tc, test_happy_eyeballs_staggers_attempts);
    tcase_add_test(tc, test_cancel_mid_connect);
    tcase_add_test(tc, test_open_connection_round_trip);
    tcase_add_test(tc, test_open_unix_connection);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(dns_suite)
