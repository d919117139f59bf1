/* weft-models: the workloads as plain pthreads making blocking calls,
 * Python's threading model without its GIL.
 *
 *   io        a thread per client connection and a thread per server
 *             connection, blocking sockets
 *   wait      a thread per wait, in nanosleep(2)
 *   cpu       one thread per CPU taking jobs from a shared counter (a
 *             ThreadPoolExecutor): a thread per job would measure thread
 *             creation, not computing
 *   blocking  a thread per call, and a heartbeat thread
 *
 * Threads get small stacks, so that 10,000 fit; if one cannot start
 * (RLIMIT_NPROC, memory), the run ends and reports a skip saying so.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "models.h"

#define MSG 64
#define OP_TIMEOUT_S 30

/* Sanitizers put larger frames on the stack. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define STACK_SIZE ((size_t)256 << 10)
#else
#define STACK_SIZE ((size_t)64 << 10)
#endif

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

struct tslot {
    struct trun *run;
    long index;
    long long sum;
    long done;
    double worst_ms;
    int err;           /* an errno, 0 */
    int fd;            /* io: the connection */
};

struct trun {
    const struct mr_spec *s;
    struct tslot *slots;
    pthread_attr_t attr;
    /* io */
    int lfd, port;
    pthread_t *servers;
    long accepted;
    int abort;         /* io: give up, a thread could not start */
    /* cpu */
    long next_job;
    /* blocking */
    int stop;
    double beat_worst_ms;
    long beats;
};

/* Makes room for the threads: the soft process limit up to the hard one. */
static int ensure_nproc(long threads, char *why, size_t cap)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NPROC, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
        return 0;
    if (rl.rlim_cur < (rlim_t)threads + 64 && rl.rlim_max > rl.rlim_cur) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NPROC, &rl);
        (void)getrlimit(RLIMIT_NPROC, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)threads + 64) {
        snprintf(why, cap, "%ld threads needed, RLIMIT_NPROC is %llu", threads,
                 (unsigned long long)rl.rlim_cur);
        return -1;
    }
    return 0;
}

/* === io ================================================================ */

static int set_opts(int fd)
{
    struct timeval tv = { OP_TIMEOUT_S, 0 };
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
        return errno;
    return 0;
}

/* Reads exactly n bytes: 0, or an errno (EPIPE: the peer closed first;
 * ENODATA: it closed before the first byte). */
static int read_exactly(int fd, char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, buf + got, n - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return errno;
        if (r == 0)
            return got == 0 ? ENODATA : EPIPE;
        got += (size_t)r;
    }
    return 0;
}

static int write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return errno;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

static void *echo_thread(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[MSG];
    int err;

    while ((err = read_exactly(fd, buf, MSG)) == 0 &&
           (err = write_all(fd, buf, MSG)) == 0)
        ;
    close(fd);
    return (void *)(intptr_t)(err == ENODATA ? 0 : err);
}

/* Ends an io run that lacks a thread: the clients started would wait for
 * echoes that no server thread will send. Clients check the flag after
 * publishing their descriptor, so none is missed. */
static void abort_io(struct trun *run)
{
    __atomic_store_n(&run->abort, 1, __ATOMIC_SEQ_CST);
    shutdown(run->lfd, SHUT_RDWR);
    for (long i = 0; i < run->s->n; i++) {
        int fd = __atomic_load_n(&run->slots[i].fd, __ATOMIC_SEQ_CST);
        if (fd >= 0)
            shutdown(fd, SHUT_RDWR);
    }
}

/* Accepts the n connections, a server thread for each. */
static void *acceptor(void *arg)
{
    struct trun *run = arg;
    int err = 0;

    for (long i = 0; i < run->s->n && !__atomic_load_n(&run->abort, __ATOMIC_ACQUIRE); i++) {
        int fd = accept4(run->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            err = errno;
            break;
        }
        if ((err = set_opts(fd)) != 0 ||
            (err = pthread_create(&run->servers[i], &run->attr, echo_thread,
                                  (void *)(intptr_t)fd)) != 0) {
            close(fd);
            break;
        }
        run->accepted = i + 1;
    }
    if (err != 0)
        abort_io(run);
    return (void *)(intptr_t)err;
}

static void *io_client(void *arg)
{
    struct tslot *sl = arg;
    struct trun *run = sl->run;
    struct sockaddr_in sin;
    char out[MSG], in[MSG];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        sl->err = errno;
        return NULL;
    }
    __atomic_store_n(&sl->fd, fd, __ATOMIC_SEQ_CST);
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons((uint16_t)run->port);
    if ((sl->err = set_opts(fd)) == 0 &&
        connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0)
        sl->err = errno;
    memset(out, (int)('a' + sl->index % 26), sizeof out);
    for (long i = 0; i < run->s->m && sl->err == 0; i++) {
        if (__atomic_load_n(&run->abort, __ATOMIC_SEQ_CST)) {
            sl->err = ECANCELED;
            break;
        }
        memcpy(out, &sl->index, sizeof sl->index);
        memcpy(out + 8, &i, sizeof i);
        int64_t t0 = now_ns();
        if ((sl->err = write_all(fd, out, MSG)) != 0 ||
            (sl->err = read_exactly(fd, in, MSG)) != 0)
            break;
        double ms = (double)(now_ns() - t0) / 1e6;
        if (memcmp(in, out, MSG) != 0) {
            sl->err = EIO;
            break;
        }
        sl->done++;
        sl->sum += sl->index + 1;
        if (ms > sl->worst_ms)
            sl->worst_ms = ms;
    }
    shutdown(fd, SHUT_RDWR); /* the server thread reads the end */
    return NULL;
}

static int listen_loopback(struct trun *run)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    int one = 1;

    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    run->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (run->lfd < 0)
        return errno;
    if (setsockopt(run->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(run->lfd, (struct sockaddr *)&sin, sizeof sin) < 0 ||
        listen(run->lfd, SOMAXCONN) < 0 ||
        getsockname(run->lfd, (struct sockaddr *)&sin, &len) < 0)
        return errno;
    /* accept(2) honours SO_RCVTIMEO: a lost client cannot hang it. */
    struct timeval tv = { OP_TIMEOUT_S, 0 };
    (void)setsockopt(run->lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    run->port = ntohs(sin.sin_port);
    return 0;
}

/* === wait, cpu, blocking =============================================== */

static void *wait_thread(void *arg)
{
    struct tslot *sl = arg;
    int64_t t0 = now_ns();

    sleep_ms(sl->run->s->m);
    double late = (double)(now_ns() - t0) / 1e6 - (double)sl->run->s->m;
    if (late < 0) {
        sl->err = EIO; /* nanosleep never wakes early */
        return NULL;
    }
    sl->done = 1;
    sl->sum = sl->index + 1;
    sl->worst_ms = late;
    return NULL;
}

static void *cpu_thread(void *arg)
{
    struct trun *run = arg;

    for (;;) {
        long j = __atomic_fetch_add(&run->next_job, 1, __ATOMIC_RELAXED);
        if (j >= run->s->n)
            return NULL;
        struct tslot *sl = &run->slots[j];
        sl->sum = mr_fib(mr_fib_arg(run->s->m, sl->index));
        sl->done = 1;
    }
}

static void *blocking_thread(void *arg)
{
    struct tslot *sl = arg;

    sleep_ms(sl->run->s->m); /* the blocking call: fine on its own thread */
    sl->done = 1;
    sl->sum = sl->index + 1;
    return NULL;
}

static void *heartbeat_thread(void *arg)
{
    struct trun *run = arg;

    while (!__atomic_load_n(&run->stop, __ATOMIC_ACQUIRE)) {
        int64_t t0 = now_ns();
        sleep_ms(1);
        double late = (double)(now_ns() - t0) / 1e6 - 1;
        if (late > run->beat_worst_ms)
            run->beat_worst_ms = late;
        run->beats++;
    }
    return NULL;
}

/* === the runner ======================================================== */

/* Starts fn on slots [0, n) (or n copies of fn(run) with per_slot 0) and
 * joins them. Returns the number that could not start (0: all did) and
 * stores pthread_create's error in *err. */
static long start_join(struct trun *run, long n, void *(*fn)(void *),
                       int per_slot, int *err)
{
    pthread_t *t = calloc((size_t)n, sizeof *t);
    long started = 0;

    *err = t == NULL ? ENOMEM : 0;
    for (; t != NULL && started < n; started++) {
        void *arg = per_slot ? (void *)&run->slots[started] : (void *)run;
        if ((*err = pthread_create(&t[started], &run->attr, fn, arg)) != 0)
            break;
    }
    if (*err != 0 && run->s->workload == MR_IO)
        abort_io(run);
    for (long i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    free(t);
    return n - started;
}

static int run_threads(struct trun *run, struct mr_report *r)
{
    const struct mr_spec *s = run->s;
    long missing = 0;
    int err = 0;

    switch (s->workload) {
    case MR_IO: {
        pthread_t acc;
        void *aerr = NULL;
        run->servers = calloc((size_t)s->n, sizeof *run->servers);
        if (run->servers == NULL)
            return -ENOMEM;
        if ((err = listen_loopback(run)) != 0 ||
            (err = pthread_create(&acc, &run->attr, acceptor, run)) != 0) {
            free(run->servers);
            return -err;
        }
        missing = start_join(run, s->n, io_client, 1, &err);
        if (missing > 0)
            shutdown(run->lfd, SHUT_RDWR);
        pthread_join(acc, &aerr);
        for (long i = 0; i < run->accepted; i++)
            pthread_join(run->servers[i], NULL);
        for (long i = 0; i < s->n; i++) {
            if (run->slots[i].fd >= 0)
                close(run->slots[i].fd);
        }
        free(run->servers);
        if (missing == 0 && aerr != NULL && (intptr_t)aerr == EAGAIN) {
            missing = s->n - run->accepted;
            err = EAGAIN;
        } else if (missing == 0 && aerr != NULL) {
            fprintf(stderr, "weft-models: io: accept: %s\n",
                    strerror((int)(intptr_t)aerr));
            return -(int)(intptr_t)aerr;
        }
        break;
    }
    case MR_WAIT:
        missing = start_join(run, s->n, wait_thread, 1, &err);
        break;
    case MR_CPU: {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        missing = start_join(run, cpus < 1 ? 1 : cpus, cpu_thread, 0, &err);
        break;
    }
    default: {
        pthread_t hb;
        if ((err = pthread_create(&hb, &run->attr, heartbeat_thread, run)) != 0)
            return -err;
        sleep_ms(5);
        missing = start_join(run, s->n, blocking_thread, 1, &err);
        __atomic_store_n(&run->stop, 1, __ATOMIC_RELEASE);
        pthread_join(hb, NULL);
        break;
    }
    }
    if (missing > 0) {
        snprintf(r->skip, sizeof r->skip,
                 "a thread could not start (%s) with %ld of %ld running: "
                 "RLIMIT_NPROC or memory",
                 strerror(err), s->n - missing, s->n);
        return 1;
    }
    return 0;
}

int mr_threads_run(const struct mr_spec *s, struct mr_report *r)
{
    struct trun run = { .s = s, .lfd = -1 };
    long threads = s->workload == MR_IO ? 2 * s->n + 1 : s->n + 1;
    int rc;

    if (s->workload != MR_CPU &&
        ensure_nproc(threads, r->skip, sizeof r->skip) < 0)
        return 1;
    run.slots = calloc((size_t)s->n, sizeof *run.slots);
    if (run.slots == NULL)
        return -ENOMEM;
    for (long i = 0; i < s->n; i++) {
        run.slots[i].run = &run;
        run.slots[i].index = s->first + i;
        run.slots[i].fd = -1;
    }
    pthread_attr_init(&run.attr);
    pthread_attr_setstacksize(&run.attr, STACK_SIZE);
    rc = run_threads(&run, r);
    pthread_attr_destroy(&run.attr);
    if (run.lfd >= 0)
        close(run.lfd);
    if (rc == 0) {
        r->worst_ms = s->workload == MR_CPU ? -1 : 0;
        for (long i = 0; i < s->n; i++) {
            struct tslot *sl = &run.slots[i];
            if (sl->err != 0 && rc == 0) {
                fprintf(stderr, "weft-models: threads: item %ld: %s\n",
                        sl->index, strerror(sl->err));
                rc = -sl->err;
            }
            r->items += sl->done;
            r->checksum += sl->sum;
            if (s->workload != MR_CPU && sl->worst_ms > r->worst_ms)
                r->worst_ms = sl->worst_ms;
        }
        if (s->workload == MR_BLOCKING)
            r->worst_ms = run.beat_worst_ms;
    }
    free(run.slots);
    return rc;
}
