/* echo's baseline: the same two processes, each with as many threads as
 * weft has workers, every thread a hand-written epoll loop over its share
 * of the connections with no runtime at all (level-triggered, one recv
 * per readiness, no timers, no stealing): as small as a C event loop
 * gets. It shows what the kernel's loopback TCP and the threads' sharing
 * of the CPUs cost by themselves, so weft's echo figure reads as a ratio
 * to it, measured in the same run. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define MSG_SIZE 64
#define WAIT_MS 30000 /* any one wait, as the weft processes' */
#define EVENTS 128

/* Writes all of buf on a non-blocking socket, waiting for room if the
 * kernel takes less (64 bytes never should). */
static int send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return -errno;
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        if (poll(&p, 1, WAIT_MS) == 0)
            return -ETIMEDOUT;
    }
    return 0;
}

static int watch(int ep, int fd, long index)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)index };
    int one = 1;

    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0 ||
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -errno;
    return 0;
}

struct plain_conn;

struct plain_loop {
    int ep;
    long open;      /* connections in this loop */
    int rc;
    /* the client's */
    struct plain_conn *c;
    long first, msgs;
    uint32_t *trips;
};

/* epoll_wait on ep: the number of events (0 on EINTR), or 0 with *rc set
 * on a time-out or an error. */
static int wait_events(int ep, struct epoll_event *ev, int *rc)
{
    int n = epoll_wait(ep, ev, EVENTS, WAIT_MS);

    if (n < 0 && errno != EINTR)
        *rc = -errno;
    else if (n == 0)
        *rc = -ETIMEDOUT;
    return n < 0 ? 0 : n;
}

static void *server_loop(void *arg)
{
    struct plain_loop *l = arg;
    char buf[4096];
    int rc = 0;

    while (rc == 0 && l->open > 0) {
        struct epoll_event ev[EVENTS];
        int n = wait_events(l->ep, ev, &rc);
        for (int k = 0; k < n && rc == 0; k++) {
            int fd = (int)ev[k].data.u64;
            ssize_t got = recv(fd, buf, sizeof buf, 0);
            if (got > 0) {
                rc = send_all(fd, buf, (size_t)got);
            } else if (got == 0) {
                close(fd); /* also leaves the epoll set */
                l->open--;
            } else if (errno != EAGAIN && errno != EINTR) {
                rc = -errno;
            }
        }
    }
    l->rc = rc;
    return NULL;
}

/* Runs fn on each of the loops l[0, n), one a thread (the caller's the
 * last), and gives the first error. */
static int run_loops(void *(*fn)(void *), struct plain_loop *l, int n)
{
    pthread_t tid[64];
    int started = 0, rc = 0;

    for (; started < n - 1; started++) {
        if (pthread_create(&tid[started], NULL, fn, &l[started]) != 0) {
            l[started].rc = -EAGAIN;
            break;
        }
    }
    if (started == n - 1)
        fn(&l[n - 1]);
    for (int i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    for (int i = 0; i < n && rc == 0; i++)
        rc = l[i].rc;
    return started == n - 1 ? rc : -EAGAIN;
}

static int open_loops(struct plain_loop *l, int n)
{
    memset(l, 0, (size_t)n * sizeof *l);
    for (int i = 0; i < n; i++)
        l[i].ep = -1;
    for (int i = 0; i < n; i++) {
        if ((l[i].ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
            return -errno;
    }
    return 0;
}

static void close_loops(struct plain_loop *l, int n)
{
    for (int i = 0; i < n; i++) {
        if (l[i].ep >= 0)
            close(l[i].ep);
    }
}

int echo_plain_server(int listen_fd, long conns, int threads)
{
    struct plain_loop l[64];
    int rc = open_loops(l, threads);

    /* Connection i goes to loop i % threads. */
    for (long i = 0; i < conns && rc == 0; i++) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        struct plain_loop *t = &l[i % threads];
        if (fd < 0 || (rc = watch(t->ep, fd, fd)) < 0) {
            rc = fd < 0 ? -errno : rc;
            if (fd >= 0)
                close(fd);
            break;
        }
        t->open++;
    }
    close(listen_fd);
    if (rc == 0)
        rc = run_loops(server_loop, l, threads);
    close_loops(l, threads);
    return rc;
}

struct plain_conn {
    int fd;
    long sent;      /* messages written */
    size_t got;     /* bytes of the reply read */
    char out[MSG_SIZE], in[MSG_SIZE];
    struct timespec t0;
};

static int send_next(struct plain_conn *c, long index)
{
    memset(c->out, 'a' + (int)(index % 26), sizeof c->out);
    memcpy(c->out, &c->sent, sizeof c->sent); /* each message differs */
    c->got = 0;
    clock_gettime(CLOCK_MONOTONIC, &c->t0);
    c->sent++;
    return send_all(c->fd, c->out, sizeof c->out);
}

static int dial(int port)
{
    struct sockaddr_in sin;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -errno;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons((uint16_t)port);
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0 ||
        fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

static void *client_loop(void *arg)
{
    struct plain_loop *l = arg;
    long msgs = l->msgs, done = 0, i;
    int rc = 0;

    for (i = 0; i < l->open && rc == 0; i++)
        rc = send_next(&l->c[i], l->first + i);
    while (rc == 0 && done < l->open) {
        struct epoll_event ev[EVENTS];
        int n = wait_events(l->ep, ev, &rc);
        for (int k = 0; k < n && rc == 0; k++) {
            long idx = (long)ev[k].data.u64; /* within this loop */
            struct plain_conn *p = &l->c[idx];
            ssize_t got = recv(p->fd, p->in + p->got, MSG_SIZE - p->got, 0);
            if (got <= 0) {
                if (got < 0 && (errno == EAGAIN || errno == EINTR))
                    continue;
                rc = got == 0 ? -ECONNRESET : -errno;
                break;
            }
            p->got += (size_t)got;
            if (p->got < MSG_SIZE)
                continue;
            l->trips[(l->first + idx) * msgs + p->sent - 1] = bench_ns_since(&p->t0);
            if (memcmp(p->in, p->out, MSG_SIZE) != 0)
                rc = -EIO;
            else if (p->sent < msgs)
                rc = send_next(p, l->first + idx);
            else if (epoll_ctl(l->ep, EPOLL_CTL_DEL, p->fd, NULL) == 0 &&
                     shutdown(p->fd, SHUT_WR) == 0)
                done++; /* the server's close is not an error */
            else
                rc = -errno;
        }
    }
    l->rc = rc;
    return NULL;
}

int echo_plain_client(int port, long conns, long msgs, int threads,
                      uint32_t *trips, double *secs)
{
    struct plain_conn *c = calloc((size_t)conns, sizeof *c);
    struct plain_loop l[64];
    long opened = 0, i;
    int rc = c == NULL ? -ENOMEM : open_loops(l, threads);

    /* Loop t has the connections [first, first + open). */
    for (int t = 0; t < threads && rc == 0; t++) {
        l[t].c = c + conns * t / threads;
        l[t].first = conns * t / threads;
        l[t].msgs = msgs;
        l[t].trips = trips;
        long end = conns * (t + 1) / threads;
        for (i = l[t].first; i < end && rc == 0; i++) {
            c[i].fd = dial(port);
            if (c[i].fd < 0) {
                rc = c[i].fd;
                break;
            }
            opened++;
            l[t].open++;
            rc = watch(l[t].ep, c[i].fd, i - l[t].first);
        }
    }
    double t0 = now_seconds();
    if (rc == 0)
        rc = run_loops(client_loop, l, threads);
    *secs = now_seconds() - t0;
    for (i = 0; i < opened; i++)
        close(c[i].fd);
    if (c != NULL)
        close_loops(l, threads);
    free(c);
    return rc;
}
