/* weft-bench's I/O workloads, all over TCP on 127.0.0.1:
 *
 *   echo    W5: a server process and a client process, each a weft
 *           runtime; C connections at once, each N round trips of a
 *           64-byte message; messages/s and the round trip's p50, p99
 *   stream  bulk bytes through one connection, weft streams against a
 *           blocking read/write loop between two threads
 *   accept  connections accepted and closed per second
 *   spawn-process
 *           child processes (/bin/true) started and reaped per second
 *           with weft_subprocess_exec and _wait, against posix_spawn and
 *           waitpid in a plain loop
 *
 * echo starts both processes with posix_spawn(3) from a parent that runs
 * no runtime (weft-bench itself, with a hidden subcommand): the server
 * inherits a listening socket, the client writes its figures to a pipe.
 * Every wait has a time limit, and every process an alarm(2) watchdog,
 * so a stuck run ends with an error instead of hanging.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <weft.h>

#include "bench.h"

extern char **environ;

#define MSG_SIZE 64
#define CHUNK (64 * 1024)
#define OP_TIMEOUT_MS 30000 /* any one read, write, connect or accept */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Seconds a run may take before its watchdog ends it: a minute, plus a
 * second per `per_s` units of work (a rate far below any real one). */
static unsigned watchdog_s(double work, double per_s)
{
    double s = 60 + work / per_s;
    return s > 3600 ? 3600 : (unsigned)s;
}

static struct sockaddr_in loopback(int port)
{
    struct sockaddr_in sin;

    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons((uint16_t)port);
    return sin;
}

/* A weft socket listening on 127.0.0.1, any port. */
static int weft_listener(weft_socket **l)
{
    struct sockaddr_in sin = loopback(0);
    int rc = weft_socket_open(l, AF_INET, SOCK_STREAM, WEFT_SOCKET_REUSEADDR);

    if (rc == 0)
        rc = weft_socket_bind(*l, (struct sockaddr *)&sin, sizeof sin);
    if (rc == 0)
        rc = weft_socket_listen(*l, 0);
    if (rc < 0 && *l != NULL) {
        weft_socket_close(*l);
        *l = NULL;
    }
    return rc;
}

/* A weft stream connected to 127.0.0.1:port. */
static int weft_dial(weft_stream **st, int port)
{
    struct sockaddr_in sin = loopback(port);
    weft_socket *s;
    int rc = weft_socket_open(&s, AF_INET, SOCK_STREAM, 0);

    if (rc < 0)
        return rc;
    rc = weft_socket_connect(s, (struct sockaddr *)&sin, sizeof sin,
                             OP_TIMEOUT_MS);
    if (rc < 0) {
        weft_socket_close(s);
        return rc;
    }
    return weft_stream_open(st, s, NULL);
}

/* A plain (blocking) socket listening on 127.0.0.1, any port; *port gets
 * it. cloexec 0: a child inherits it. */
static int plain_listener(int *port, int cloexec)
{
    struct sockaddr_in sin = loopback(0);
    socklen_t len = sizeof sin;
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | (cloexec ? SOCK_CLOEXEC : 0), 0);

    if (fd < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0 ||
        listen(fd, SOMAXCONN) < 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    *port = ntohs(sin.sin_port);
    return fd;
}

static int run_weft(weft_fn fn, void *arg, unsigned workers)
{
    /* No slow-task reports: a workload may hold a worker on purpose (a
     * spawn loop, a computation), and its figures are the output. */
    weft_run_opts ro = { .workers = workers,
                         .slow_task_ms = WEFT_SLOW_TASK_OFF };
    int rc = weft_run(fn, arg, NULL, &ro);
    if (rc < 0)
        fprintf(stderr, "weft-bench: run failed: %s\n", weft_strerror(rc));
    return rc;
}

/* Awaits and releases t[0, n) (NULL slots skipped). Returns rc if it is
 * an error already, else the first task's error (its message printed). */
static int await_all(weft_task **t, long n, int rc)
{
    for (long i = 0; i < n; i++) {
        if (t[i] == NULL)
            continue;
        int r = weft_await(t[i], NULL);
        if (r < 0 && rc >= 0) {
            fprintf(stderr, "weft-bench: %s\n", weft_task_errmsg(t[i]));
            rc = r;
        }
        weft_task_unref(t[i]);
    }
    return rc;
}

/* === echo: the server process ============================================= */

struct echo_server {
    int listen_fd;
    long conns, msgs;
};

struct echo_conn_srv {
    weft_stream *st;
    long msgs;
};

static void *echo_handler(void *arg)
{
    struct echo_conn_srv *c = arg;
    char buf[4096];
    /* Each read brings a byte at least: msgs * 64 of them, then the end. */
    long reads = c->msgs * MSG_SIZE + 1;
    int rc = 0;

    for (long i = 0; i < reads; i++) {
        ssize_t n = weft_stream_read(c->st, buf, sizeof buf, OP_TIMEOUT_MS);
        if (n <= 0) {
            rc = (int)n;
            break;
        }
        if ((rc = weft_stream_write(c->st, buf, (size_t)n, OP_TIMEOUT_MS)) < 0)
            break;
    }
    int crc = weft_stream_close(c->st, OP_TIMEOUT_MS);
    if (rc == 0)
        rc = crc;
    return rc < 0 ? weft_fail(rc, "echo server: %s", weft_strerror(rc)) : NULL;
}

/* The accept task: a handler task per connection, then awaits them. */
static void *echo_server_main(void *arg)
{
    struct echo_server *es = arg;
    struct echo_conn_srv *c = calloc((size_t)es->conns, sizeof *c);
    weft_task **t = calloc((size_t)es->conns, sizeof *t);
    weft_socket *l;
    int rc = 0;

    if (c == NULL || t == NULL)
        return weft_fail(-ENOMEM, "echo server: no memory");
    if ((rc = weft_socket_adopt(&l, es->listen_fd)) < 0)
        return weft_fail(rc, "echo server: adopt: %s", weft_strerror(rc));
    long n = 0;
    for (; n < es->conns; n++) {
        weft_socket *s;
        if ((rc = weft_socket_accept(l, &s, NULL, NULL, OP_TIMEOUT_MS)) < 0 ||
            (rc = weft_stream_open(&c[n].st, s, NULL)) < 0)
            break;
        c[n].msgs = es->msgs;
        if ((rc = weft_spawn(&t[n], echo_handler, &c[n])) < 0) {
            weft_stream_abort(c[n].st);
            break;
        }
    }
    weft_socket_close(l);
    rc = await_all(t, n, rc);
    free(t);
    free(c);
    return rc < 0 ? weft_fail(rc, "echo server: %s", weft_strerror(rc)) : NULL;
}

/* === echo: the client process ============================================= */

struct echo_client {
    int port;
    long conns, msgs;
    weft_barrier start;    /* the connections and main */
    uint32_t *trips;       /* conns x msgs round trips, ns */
};

struct echo_conn_cli {
    struct echo_client *ec;
    long index;
};

static void *echo_conn(void *arg)
{
    struct echo_conn_cli *cc = arg;
    struct echo_client *ec = cc->ec;
    uint32_t *trips = ec->trips + cc->index * ec->msgs;
    char out[MSG_SIZE], in[MSG_SIZE];
    weft_stream *st;
    int rc = weft_dial(&st, ec->port);

    if (rc < 0) {
        weft_barrier_abort(&ec->start);
        return weft_fail(rc, "echo client: connect: %s", weft_strerror(rc));
    }
    if ((rc = weft_barrier_wait(&ec->start, OP_TIMEOUT_MS)) < 0) {
        weft_stream_abort(st);
        return weft_fail(rc, "echo client: start: %s", weft_strerror(rc));
    }
    rc = 0; /* the barrier gave an arrival index */
    memset(out, 'a' + (int)(cc->index % 26), sizeof out);
    for (long i = 0; i < ec->msgs && rc == 0; i++) {
        struct timespec t0;
        memcpy(out, &i, sizeof i); /* each message differs */
        clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = weft_stream_write(st, out, sizeof out, OP_TIMEOUT_MS);
        if (rc == 0)
            rc = weft_stream_read_exactly(st, in, sizeof in, NULL,
                                          OP_TIMEOUT_MS);
        trips[i] = bench_ns_since(&t0);
        if (rc == 0 && memcmp(in, out, sizeof in) != 0)
            rc = -EIO;
    }
    int crc = weft_stream_close(st, OP_TIMEOUT_MS);
    if (rc == 0)
        rc = crc;
    return rc < 0 ? weft_fail(rc, "echo client: %s", weft_strerror(rc)) : NULL;
}

/* Figures of one client run; cpu_us: the CPU time both processes took
 * (user and system), per message, measured by the parent. */
struct echo_result {
    double msgs_per_s, p50_us, p99_us, max_us, cpu_us;
};

/* The figures of total round trips (ns, sorted here) made in secs. */
static void trip_figures(uint32_t *trips, size_t total, double secs,
                         struct echo_result *res)
{
    qsort(trips, total, sizeof *trips, cmp_u32);
    res->msgs_per_s = (double)total / secs;
    res->p50_us = trips[total / 2] / 1e3;
    res->p99_us = trips[total * 99 / 100] / 1e3;
    res->max_us = trips[total - 1] / 1e3;
}

static void *echo_client_main(void *arg)
{
    void **a = arg;
    struct echo_client *ec = a[0];
    struct echo_result *res = a[1];
    struct echo_conn_cli *cc = calloc((size_t)ec->conns, sizeof *cc);
    weft_task **t = calloc((size_t)ec->conns, sizeof *t);
    long n = 0;
    int rc = 0;

    if (cc == NULL || t == NULL)
        return weft_fail(-ENOMEM, "echo client: no memory");
    weft_barrier_init(&ec->start, (unsigned)ec->conns + 1);
    for (; n < ec->conns; n++) {
        cc[n].ec = ec;
        cc[n].index = n;
        if ((rc = weft_spawn(&t[n], echo_conn, &cc[n])) < 0) {
            weft_barrier_abort(&ec->start);
            break;
        }
    }
    /* Every connection is open: go. */
    int brc = rc == 0 ? weft_barrier_wait(&ec->start, OP_TIMEOUT_MS) : 0;
    if (brc > 0)
        brc = 0; /* an arrival index */
    double t0 = now_seconds();
    rc = await_all(t, n, rc);
    double secs = now_seconds() - t0;
    weft_barrier_destroy(&ec->start);
    free(t);
    free(cc);
    if (rc == 0 && brc < 0)
        rc = brc;
    if (rc < 0)
        return weft_fail(rc, "echo client: %s", weft_strerror(rc));
    trip_figures(ec->trips, (size_t)ec->conns * (size_t)ec->msgs, secs, res);
    return NULL;
}

static int arg_long(const char *s, long *out)
{
    char *end;
    errno = 0;
    *out = strtol(s, &end, 10);
    return errno != 0 || *end != '\0' || end == s || *out < 0 ? -1 : 0;
}

/* weft-bench __echo-server WORKERS CONNS MSGS LISTEN_FD
 * weft-bench __echo-client WORKERS CONNS MSGS PORT RESULT_FD
 * and the same with __echo-plain-: the baseline (bench_echo_plain.c). */
int bench_echo_child(int argc, char **argv)
{
    int plain = strncmp(argv[1], "__echo-plain-", 13) == 0;
    int server = strcmp(argv[1] + (plain ? 13 : 7), "server") == 0;
    long v[5];

    if (argc != (server ? 6 : 7))
        return 2;
    for (int i = 2; i < argc; i++) {
        if (arg_long(argv[i], &v[i - 2]) < 0)
            return 2;
    }
    if (v[0] < 1 || v[1] < 1 || v[2] < 1 || (plain && v[0] > 64))
        return 2;
    alarm(watchdog_s((double)v[1] * (double)v[2], 2000));
    if (plain && server)
        return echo_plain_server((int)v[3], v[1], (int)v[0]) < 0;
    if (server) {
        struct echo_server es = { .listen_fd = (int)v[3], .conns = v[1],
                                  .msgs = v[2] };
        int rc = run_weft(echo_server_main, &es, (unsigned)v[0]);
        if (getenv("WEFT_BENCH_STATS") != NULL) {
            printf("server:\n");
            bench_print_stats();
        }
        return rc < 0;
    }
    struct echo_client ec = { .port = (int)v[3], .conns = v[1], .msgs = v[2] };
    struct echo_result res;
    void *a[2] = { &ec, &res };
    ec.trips = calloc((size_t)v[1] * (size_t)v[2], sizeof *ec.trips);
    if (ec.trips == NULL)
        return 1;
    int rc;
    if (plain) {
        double secs;
        rc = echo_plain_client(ec.port, ec.conns, ec.msgs, (int)v[0],
                               ec.trips, &secs);
        if (rc < 0)
            fprintf(stderr, "weft-bench: plain echo client: %s\n",
                    strerror(-rc));
        else
            trip_figures(ec.trips, (size_t)ec.conns * (size_t)ec.msgs, secs,
                         &res);
    } else {
        rc = run_weft(echo_client_main, a, (unsigned)v[0]);
        if (getenv("WEFT_BENCH_STATS") != NULL) {
            printf("client:\n");
            bench_print_stats();
        }
    }
    free(ec.trips);
    if (rc < 0)
        return 1;
    FILE *f = fdopen((int)v[4], "w");
    if (f == NULL)
        return 1;
    fprintf(f, "%.17g %.17g %.17g %.17g\n", res.msgs_per_s, res.p50_us,
            res.p99_us, res.max_us);
    return fclose(f) != 0;
}

/* === echo: the parent ===================================================== */

static pid_t spawn_self(char *const argv[], int close_fd)
{
    posix_spawn_file_actions_t fa;
    pid_t pid;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addclose(&fa, close_fd);
    int rc = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        fprintf(stderr, "weft-bench: posix_spawn: %s\n", strerror(rc));
        return -1;
    }
    return pid;
}

/* Waits for pid until deadline (now_seconds()), then kills it. Returns
 * its exit status, or -1 (killed, or died of a signal). */
static int reap(pid_t pid, double deadline)
{
    int status;

    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR)
            return -1;
        if (now_seconds() > deadline) {
            fprintf(stderr, "weft-bench: child %d timed out\n", (int)pid);
            kill(pid, SIGKILL);
            (void)waitpid(pid, &status, 0);
            return -1;
        }
        struct timespec ts = { 0, 10000000 };
        nanosleep(&ts, NULL);
    }
    if (WIFSIGNALED(status)) {
        fprintf(stderr, "weft-bench: child %d: %s\n", (int)pid,
                strsignal(WTERMSIG(status)));
        return -1;
    }
    return WEXITSTATUS(status);
}

/* Reads the client's line from fd until deadline. */
static int read_result(int fd, struct echo_result *res, double deadline)
{
    char line[256];
    size_t len = 0;

    while (len < sizeof line - 1) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int left_ms = (int)((deadline - now_seconds()) * 1000);
        if (left_ms <= 0 || poll(&p, 1, left_ms) == 0)
            return -ETIMEDOUT;
        ssize_t n = read(fd, line + len, sizeof line - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    line[len] = '\0';
    return sscanf(line, "%lf %lf %lf %lf", &res->msgs_per_s, &res->p50_us,
                  &res->p99_us, &res->max_us) == 4
               ? 0
               : -EIO;
}

/* CPU seconds the reaped children have used so far. */
static double children_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static int echo_once(const struct bench_opts *o, int plain,
                     struct echo_result *res)
{
    double cpu0 = children_cpu();
    int port, pipefd[2];
    int lfd = plain_listener(&port, 0);

    if (lfd < 0) {
        fprintf(stderr, "weft-bench: listen: %s\n", strerror(-lfd));
        return -1;
    }
    if (pipe(pipefd) < 0) {
        close(lfd);
        return -1;
    }
    (void)fcntl(pipefd[0], F_SETFD, FD_CLOEXEC);
    char w[24], c[24], n[24], fd[24], p[24], rfd[24];
    snprintf(w, sizeof w, "%u", o->workers);
    snprintf(c, sizeof c, "%ld", o->conns);
    snprintf(n, sizeof n, "%ld", o->tasks);
    snprintf(fd, sizeof fd, "%d", lfd);
    snprintf(p, sizeof p, "%d", port);
    snprintf(rfd, sizeof rfd, "%d", pipefd[1]);
    char *sargv[] = { "weft-bench", plain ? "__echo-plain-server" : "__echo-server",
                      w, c, n, fd, NULL };
    char *cargv[] = { "weft-bench", plain ? "__echo-plain-client" : "__echo-client",
                      w, c, n, p, rfd, NULL };
    pid_t server = spawn_self(sargv, pipefd[1]);
    pid_t client = server > 0 ? spawn_self(cargv, lfd) : -1;
    close(lfd);
    close(pipefd[1]);
    double deadline =
        now_seconds() + watchdog_s((double)o->conns * (double)o->tasks, 2000) + 5;
    int rc = client > 0 ? read_result(pipefd[0], res, deadline) : -1;
    close(pipefd[0]);
    int cs = client > 0 ? reap(client, deadline) : -1;
    int ss = server > 0 ? reap(server, deadline) : -1;
    if (rc == 0 && (cs != 0 || ss != 0))
        rc = -1;
    res->cpu_us = (children_cpu() - cpu0) / ((double)o->conns * o->tasks) * 1e6;
    if (rc < 0)
        fprintf(stderr, "weft-bench: echo run failed (client %d, server %d)\n",
                cs, ss);
    return rc;
}

/* Medians of one kind of run's figures. */
struct echo_runs {
    double rate[1000], p50[1000], p99[1000], max[1000], cpu[1000];
};

static int echo_run(const struct bench_opts *o, int plain, struct echo_runs *e,
                    int r)
{
    struct echo_result res;

    if (echo_once(o, plain, &res) < 0)
        return -1;
    e->rate[r] = res.msgs_per_s;
    e->p50[r] = res.p50_us;
    e->p99[r] = res.p99_us;
    e->max[r] = res.max_us;
    e->cpu[r] = res.cpu_us;
    return 0;
}

/* weft's runs alternate with the plain epoll loop's, so both see the same
 * machine; the line ends with the plain loop's figures and the ratio. */
int bench_echo(const struct bench_opts *o)
{
    static struct echo_runs weft, plain;
    int n = o->runs;

    /* --stats: each weft child prints its workers' counters. */
    if (o->stats && setenv("WEFT_BENCH_STATS", "1", 1) < 0)
        return 1;

    for (int r = 0; r < n; r++) {
        if (echo_run(o, 0, &weft, r) < 0 || echo_run(o, 1, &plain, r) < 0)
            return 1;
    }
    double m = bench_median(weft.rate, n), pm = bench_median(plain.rate, n);
    printf("echo: conns=%ld msgs=%ld size=%d workers=%u+%u runs=%d "
           "%.0f msgs/s (min %.0f, max %.0f) round trip p50=%.0fus "
           "p99=%.0fus max=%.0fus cpu=%.2fus/msg; plain epoll %u+%u threads "
           "%.0f msgs/s p50=%.0fus p99=%.0fus cpu=%.2fus/msg; "
           "weft/plain=%.2f (medians of runs)\n",
           o->conns, o->tasks, MSG_SIZE, o->workers, o->workers, n, m,
           weft.rate[0], weft.rate[n - 1], bench_median(weft.p50, n),
           bench_median(weft.p99, n), bench_median(weft.max, n),
           bench_median(weft.cpu, n), o->workers, o->workers, pm,
           bench_median(plain.p50, n),
           bench_median(plain.p99, n), bench_median(plain.cpu, n), m / pm);
    return 0;
}

/* === stream: bulk bytes, weft against two threads ========================= */

struct bulk {
    long bytes;
    int port;
    weft_socket *listener;
    long received;
};

static void *bulk_reader(void *arg)
{
    struct bulk *b = arg;
    char *buf = malloc(CHUNK);
    weft_socket *s;
    weft_stream *st;
    int rc = weft_socket_accept(b->listener, &s, NULL, NULL, OP_TIMEOUT_MS);

    if (buf == NULL)
        return weft_fail(-ENOMEM, "reader: no memory");
    if (rc == 0)
        rc = weft_stream_open(&st, s, NULL);
    if (rc < 0) {
        free(buf);
        return weft_fail(rc, "reader: accept: %s", weft_strerror(rc));
    }
    /* Each read brings a byte at least. */
    for (long i = 0; i <= b->bytes; i++) {
        ssize_t n = weft_stream_read(st, buf, CHUNK, OP_TIMEOUT_MS);
        if (n <= 0) {
            rc = (int)n;
            break;
        }
        b->received += n;
    }
    free(buf);
    weft_stream_close(st, 0);
    return rc < 0 ? weft_fail(rc, "reader: %s", weft_strerror(rc)) : NULL;
}

static void *bulk_writer(void *arg)
{
    struct bulk *b = arg;
    char *buf = calloc(1, CHUNK);
    weft_stream *st;
    int rc = buf == NULL ? -ENOMEM : weft_dial(&st, b->port);

    if (rc < 0) {
        free(buf);
        return weft_fail(rc, "writer: connect: %s", weft_strerror(rc));
    }
    for (long left = b->bytes; left > 0 && rc == 0;) {
        size_t n = left < CHUNK ? (size_t)left : CHUNK;
        rc = weft_stream_write(st, buf, n, OP_TIMEOUT_MS);
        left -= (long)n;
    }
    int crc = weft_stream_close(st, OP_TIMEOUT_MS); /* drains, then FIN */
    free(buf);
    if (rc == 0)
        rc = crc;
    return rc < 0 ? weft_fail(rc, "writer: %s", weft_strerror(rc)) : NULL;
}

static void *bulk_weft_main(void *arg)
{
    void **a = arg;
    struct bulk *b = a[0];
    double *secs = a[1];
    int rc = weft_listener(&b->listener);

    if (rc < 0)
        return weft_fail(rc, "listen: %s", weft_strerror(rc));
    b->port = weft_socket_port(b->listener);
    b->received = 0;
    double t0 = now_seconds();
    /* Slot 0 the reader, slot 1 the writer: one struct for both. */
    weft_task *t[2] = { NULL, NULL };
    rc = weft_spawn(&t[0], bulk_reader, b);
    if (rc == 0)
        rc = weft_spawn(&t[1], bulk_writer, b);
    rc = await_all(t, 2, rc);
    *secs = now_seconds() - t0;
    weft_socket_close(b->listener);
    if (rc == 0 && b->received != b->bytes)
        rc = -EIO;
    return rc < 0 ? weft_fail(rc, "stream: %s", weft_strerror(rc)) : NULL;
}

/* The same with blocking calls on two threads. */
static int set_timeouts(int fd)
{
    struct timeval tv = { OP_TIMEOUT_MS / 1000, 0 };
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
        return -errno;
    return 0;
}

static void *plain_writer(void *arg)
{
    struct bulk *b = arg;
    struct sockaddr_in sin = loopback(b->port);
    char *buf = calloc(1, CHUNK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    intptr_t err = 0;

    if (buf == NULL || fd < 0 || set_timeouts(fd) < 0 ||
        connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0)
        err = errno != 0 ? errno : ENOMEM;
    for (long left = b->bytes; left > 0 && err == 0;) {
        size_t n = left < CHUNK ? (size_t)left : CHUNK;
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno != EINTR)
            err = errno;
        else if (w > 0)
            left -= w;
    }
    if (fd >= 0)
        close(fd);
    free(buf);
    return (void *)err;
}

static int bulk_threads(struct bulk *b, double *secs)
{
    char *buf = malloc(CHUNK);
    pthread_t th;
    void *werr = NULL;
    int rc = 0;
    int lfd = plain_listener(&b->port, 1);

    if (lfd < 0 || buf == NULL) {
        free(buf);
        if (lfd >= 0)
            close(lfd);
        return lfd < 0 ? lfd : -ENOMEM;
    }
    b->received = 0;
    double t0 = now_seconds();
    if ((rc = pthread_create(&th, NULL, plain_writer, b)) != 0) {
        free(buf);
        close(lfd);
        return -rc;
    }
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0 || set_timeouts(fd) < 0)
        rc = -errno;
    for (long i = 0; i <= b->bytes && rc == 0; i++) {
        ssize_t n = read(fd, buf, CHUNK);
        if (n < 0 && errno != EINTR)
            rc = -errno;
        else if (n == 0)
            break;
        else if (n > 0)
            b->received += n;
    }
    pthread_join(th, &werr);
    *secs = now_seconds() - t0;
    if (fd >= 0)
        close(fd);
    close(lfd);
    free(buf);
    if (rc == 0 && werr != NULL)
        rc = -(int)(intptr_t)werr;
    if (rc == 0 && b->received != b->bytes)
        rc = -EIO;
    return rc;
}

int bench_stream(const struct bench_opts *o)
{
    double w[1000], th[1000], ratio[1000];

    alarm(watchdog_s((double)o->tasks * 2 * o->runs, 50e6));
    for (int r = 0; r < o->runs; r++) {
        struct bulk b = { .bytes = o->tasks };
        void *a[2] = { &b, &w[r] };
        if (run_weft(bulk_weft_main, a, o->workers) < 0)
            return 1;
        int rc = bulk_threads(&b, &th[r]);
        if (rc < 0) {
            fprintf(stderr, "weft-bench: threads: %s\n", strerror(-rc));
            return 1;
        }
        w[r] = (double)o->tasks / w[r] / 1e9;
        th[r] = (double)o->tasks / th[r] / 1e9;
        ratio[r] = w[r] / th[r];
    }
    double x = bench_median(ratio, o->runs);
    printf("stream: bytes=%ld chunk=%d workers=%u runs=%d weft %.2f GB/s, "
           "two threads %.2f GB/s, weft/threads %.0f%% (min %.0f%%, "
           "max %.0f%%)\n",
           o->tasks, CHUNK, o->workers, o->runs, bench_median(w, o->runs),
           bench_median(th, o->runs), x * 100, ratio[0] * 100,
           ratio[o->runs - 1] * 100);
    return 0;
}

/* === accept: connections accepted and closed per second =================== */

struct churn {
    weft_socket *listener;
    int port;
    long per_client;
};

/* Connects, waits for the server's close (so the TIME_WAIT is on the
 * server's side, and the client's ports never run out), closes. */
static void *churn_client(void *arg)
{
    struct churn *ch = arg;
    struct sockaddr_in sin = loopback(ch->port);
    int rc = 0;

    for (long i = 0; i < ch->per_client && rc == 0; i++) {
        weft_socket *s;
        char byte;
        if ((rc = weft_socket_open(&s, AF_INET, SOCK_STREAM, 0)) < 0)
            break;
        rc = weft_socket_connect(s, (struct sockaddr *)&sin, sizeof sin,
                                 OP_TIMEOUT_MS);
        if (rc == 0) {
            ssize_t n = weft_socket_recv(s, &byte, 1, OP_TIMEOUT_MS);
            rc = n == 0 ? 0 : n < 0 ? (int)n : -EPROTO;
        }
        weft_socket_close(s);
    }
    return rc < 0 ? weft_fail(rc, "client: %s", weft_strerror(rc)) : NULL;
}

static void *churn_main(void *arg)
{
    void **a = arg;
    const struct bench_opts *o = a[0];
    double *secs = a[1];
    struct churn ch = { .per_client = o->tasks / o->conns };
    long total = ch.per_client * o->conns;
    weft_task **t = calloc((size_t)o->conns, sizeof *t);
    int rc = t == NULL ? -ENOMEM : weft_listener(&ch.listener);

    if (rc < 0) {
        free(t);
        return weft_fail(rc, "listen: %s", weft_strerror(rc));
    }
    ch.port = weft_socket_port(ch.listener);
    double t0 = now_seconds();
    long spawned = 0;
    for (; spawned < o->conns && rc == 0; spawned++)
        rc = weft_spawn(&t[spawned], churn_client, &ch);
    /* The server: this task accepts and closes. */
    for (long i = 0; i < total && rc == 0; i++) {
        weft_socket *s;
        rc = weft_socket_accept(ch.listener, &s, NULL, NULL, OP_TIMEOUT_MS);
        if (rc == 0)
            weft_socket_close(s);
    }
    rc = await_all(t, spawned, rc);
    *secs = now_seconds() - t0;
    free(t);
    weft_socket_close(ch.listener);
    return rc < 0 ? weft_fail(rc, "accept: %s", weft_strerror(rc)) : NULL;
}

int bench_accept(const struct bench_opts *o)
{
    double rate[1000];
    long total = o->tasks / o->conns * o->conns;

    if (total == 0) {
        fprintf(stderr, "weft-bench: accept: -n is below -c\n");
        return 2;
    }
    alarm(watchdog_s((double)total * o->runs, 500));
    for (int r = 0; r < o->runs; r++) {
        double secs;
        void *a[2] = { (void *)o, &secs };
        if (run_weft(churn_main, a, o->workers) < 0)
            return 1;
        rate[r] = (double)total / secs;
    }
    double m = bench_median(rate, o->runs);
    printf("accept: conns=%ld clients=%ld workers=%u runs=%d %.0f "
           "connections/s accepted and closed (min %.0f, max %.0f)\n",
           total, o->conns, o->workers, o->runs, m, rate[0],
           rate[o->runs - 1]);
    return 0;
}

/* === spawn-process: children started and reaped per second ============= */

static char *const true_argv[] = { "/bin/true", NULL };

struct spawner {
    long count;
};

/* Starts and reaps its count of children, one after another. */
static void *spawner_task(void *arg)
{
    struct spawner *sp = arg;
    int rc = 0;

    for (long i = 0; i < sp->count && rc == 0; i++) {
        weft_subprocess *p;
        int status = 0;
        if ((rc = weft_subprocess_exec(&p, true_argv, NULL)) < 0)
            break;
        rc = weft_subprocess_wait(p, &status, OP_TIMEOUT_MS);
        weft_subprocess_close(p);
        if (rc == 0 && status != 0)
            rc = -EPROTO;
    }
    return rc < 0 ? weft_fail(rc, "child: %s", weft_strerror(rc)) : NULL;
}

static void *spawn_process_main(void *arg)
{
    void **a = arg;
    const struct bench_opts *o = a[0];
    double *secs = a[1];
    weft_task **t = calloc((size_t)o->conns, sizeof *t);
    struct spawner sp = { .count = o->tasks / o->conns };
    int rc = t == NULL ? -ENOMEM : 0;
    long spawned = 0;

    double t0 = now_seconds();
    for (; spawned < o->conns && rc == 0; spawned++)
        rc = weft_spawn(&t[spawned], spawner_task, &sp);
    rc = t == NULL ? rc : await_all(t, spawned, rc);
    *secs = now_seconds() - t0;
    free(t);
    return rc < 0 ? weft_fail(rc, "spawn-process: %s", weft_strerror(rc))
                  : NULL;
}

/* The baseline: the same children, posix_spawn and waitpid in a loop. */
static double plain_spawn_seconds(long total)
{
    extern char **environ;
    double t0 = now_seconds();

    for (long i = 0; i < total; i++) {
        pid_t pid;
        int status;
        if (posix_spawn(&pid, true_argv[0], NULL, NULL, true_argv, environ) != 0 ||
            waitpid(pid, &status, 0) != pid || status != 0) {
            fprintf(stderr, "weft-bench: spawn-process: plain loop failed\n");
            return -1;
        }
    }
    return now_seconds() - t0;
}

int bench_spawn_process(const struct bench_opts *o)
{
    double rate[1000], plain[1000];
    long total = o->tasks / o->conns * o->conns;

    if (total == 0) {
        fprintf(stderr, "weft-bench: spawn-process: -n is below -c\n");
        return 2;
    }
    alarm(watchdog_s((double)total * 2 * o->runs, 100));
    for (int r = 0; r < o->runs; r++) {
        double secs;
        void *a[2] = { (void *)o, &secs };
        if (run_weft(spawn_process_main, a, o->workers) < 0)
            return 1;
        rate[r] = (double)total / secs;
        double ps = plain_spawn_seconds(total);
        if (ps < 0)
            return 1;
        plain[r] = (double)total / ps;
    }
    double m = bench_median(rate, o->runs), pm = bench_median(plain, o->runs);
    printf("spawn-process: children=%ld tasks=%ld workers=%u runs=%d %.0f "
           "children/s started and reaped (min %.0f, max %.0f); "
           "posix_spawn+waitpid loop %.0f/s; weft %.0f%% of it\n",
           total, o->conns, o->workers, o->runs, m, rate[0],
           rate[o->runs - 1], pm, m / pm * 100);
    return 0;
}
