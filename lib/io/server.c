/* Stream servers (weft/server.h).
 *
 * A server is one or more listening sockets, an accept task for each, and
 * a handler task per connection.
 *
 * Ownership: the listeners and the spare descriptors are the server's,
 * opened by start and closed by stop once the accept tasks have ended (a
 * task cancelled before it first runs never runs its body, so it could
 * not be trusted to close anything). A handler owns its connection and
 * closes it when the user's function returns.
 *
 * Handlers: each live handler has a struct conn in the server's `live`
 * list, with the server's handle of its task, so that stop can wait for
 * it and cancel it. The accept task links it in under the server's lock,
 * around the spawn; the handler, at its very end, unlinks it under the
 * lock, and after that unlock touches nothing of the server: stop, which
 * waits until the list is empty, may return and the server be destroyed
 * at once. A handler's error is the task's own: the task is detached
 * once it has unlinked itself, so a failure nobody retrieves is reported
 * when it ends, as any task's is.
 *
 * Out of descriptors (EMFILE, ENFILE), accept(2) fails while the
 * listener stays readable: a plain loop would spin. Each accept task
 * keeps a spare descriptor (/dev/null); then it closes it, accepts and
 * closes what is pending, takes the spare again, and sleeps 10 ms
 * (libuv's trick, joyent/libuv#315; doc: shared io-notes §1.6).
 */
#include "core/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <weft.h>

#include "core/atomic.h"
#include "core/list.h"
#include "core/thread.h"
#include "io/socket.h"
#include "sched/loop.h"
#include "sched/runtime.h"
#include "sched/scope.h"
#include "sched/task.h"
#include "sched/wait.h"
#include "sched/worker.h"

#define SERVER_MAGIC 0x73727672u /* "srvr" */
#define BACKOFF_MS 10            /* after an accept that failed */
#define DROP_MAX 64              /* connections dropped per EMFILE */

enum { RUNNING, STOPPING, STOPPED };

/* A listener and its accept task. */
struct acceptor {
    weft_server *srv;
    weft_socket *listener;
    weft_task *task;            /* the server's handle */
    int spare;                  /* the spare descriptor, or -1 */
    int worker;                 /* the worker it accepts on, or -1: any */
    bool in_burst;              /* accept failures since the last success
                                   (the accept task's own) */
};

/* A running handler. */
struct conn {
    struct weft__list link;     /* in srv->live, under srv->lock */
    weft_server *srv;
    weft_stream *stream;
    weft_task *task;            /* the server's handle, until unlinked */
};

struct weft_server {
    uint32_t magic;
    uint32_t state;             /* atomic: RUNNING, STOPPING, STOPPED */
    weft_conn_fn fn;
    void *arg;
    weft_stream_opts stream_opts;
    const weft_stream_opts *stream; /* &stream_opts, or NULL */
    int64_t close_timeout_ms;
    bool limited;               /* slots counts free handler places */
    weft_semaphore slots;
    weft_event stopped;         /* set when stop has finished */
    int port;                   /* TCP, or -1 */
    char *path;                 /* Unix: the socket's path, else NULL */
    dev_t dev;                  /* ... and its identity as bound */
    ino_t ino;
    char label[sizeof(((struct sockaddr_un *)0)->sun_path) + 16];
    unsigned nacceptors;
    struct acceptor *acceptors;
    /* Guards live. Never held across a suspension. */
    pthread_mutex_t lock;
    struct weft__list live;     /* struct conn.link */
    uint32_t nlive;             /* atomic: written under lock */
    uint64_t accepted, dropped, fd_exhausted, accept_errors; /* atomic */
};

static bool valid(const weft_server *s)
{
    return s != NULL && s->magic == SERVER_MAGIC;
}

static void count(uint64_t *counter, uint64_t n)
{
    weft__faa_u64(counter, n);
}

/* --- descriptors, where errno is read ------------------------------------ */

/* These make system calls and read errno without suspending in between
 * (weft(7), "Migration"). */

static __attribute__((noinline)) int open_spare(void)
{
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* Out of descriptors: frees the spare, accepts and closes what is
 * pending (at most DROP_MAX), then takes a spare again (which may fail,
 * and is tried again later). Returns the count closed. */
static __attribute__((noinline)) unsigned drop_pending(struct acceptor *a)
{
    int lfd = weft_socket_fd(a->listener);
    unsigned n = 0;

    if (a->spare >= 0) {
        (void)close(a->spare);
        a->spare = -1;
    }
    while (n < DROP_MAX) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
            (void)close(fd);
            n++;
        } else if (errno != EINTR && errno != ECONNABORTED &&
                   errno != EPROTO) {
            break; /* EAGAIN: none left; EMFILE: the spare did not help */
        }
    }
    a->spare = open_spare();
    return n;
}

/* The identity of the file at path: 0 or -errno. */
static __attribute__((noinline)) int file_id(const char *path, dev_t *dev,
                                             ino_t *ino)
{
    struct stat st;

    if (stat(path, &st) < 0)
        return -errno;
    *dev = st.st_dev;
    *ino = st.st_ino;
    return 0;
}

/* Removes the server's socket file, unless another has replaced it. */
static void unlink_path(weft_server *s)
{
    dev_t dev;
    ino_t ino;

    if (file_id(s->path, &dev, &ino) == 0 && dev == s->dev && ino == s->ino)
        (void)unlink(s->path);
}

/* --- handlers ------------------------------------------------------------ */

static void *handler_main(void *arg)
{
    struct conn *c = arg;
    weft_server *s = c->srv;

    int rc = s->fn(c->stream, s->arg);
    if (rc < 0) {
        /* Recorded now: the server may be gone once c is unlinked. */
        (void)weft_fail(rc, "connection handler of the server on %s",
                        s->label);
    }
    /* Drains (a cancelled handler's drain ends at once), closes, frees. */
    (void)weft_stream_close(c->stream, s->close_timeout_ms);
    if (s->limited)
        (void)weft_semaphore_release(&s->slots);
    weft__mutex_lock(&s->lock);
    weft__list_remove(&c->link);
    weft__store_release_u32(&s->nlive, s->nlive - 1);
    weft__mutex_unlock(&s->lock);
    /* s may be freed from here on. The handle goes, detaching the task;
     * the runtime's own reference keeps it until it ends. */
    weft_task *h = c->task;
    weft__free(c);
    (void)weft_task_unref(h);
    return NULL;
}

/* Runs a handler for a new connection (owned from here on). */
static int start_handler(weft_server *s, weft_socket *sock)
{
    weft_stream *st;
    int rc = weft_stream_open(&st, sock, s->stream); /* closes on failure */

    if (rc < 0)
        return rc;
    struct conn *c = weft__malloc(sizeof *c);
    if (c == NULL) {
        (void)weft_stream_abort(st);
        return -ENOMEM;
    }
    c->srv = s;
    c->stream = st;
    /* Linked in under the lock around the spawn: the handler, which
     * unlinks itself under it, cannot end before it is in the list. */
    weft__mutex_lock(&s->lock);
    rc = weft_spawn(&c->task, handler_main, c);
    if (rc == 0) {
        weft__list_push_back(&s->live, &c->link);
        weft__store_release_u32(&s->nlive, s->nlive + 1);
    }
    weft__mutex_unlock(&s->lock);
    if (rc < 0) {
        weft__free(c);
        (void)weft_stream_abort(st);
        return rc;
    }
    count(&s->accepted, 1);
    return 0;
}

/* --- accepting ----------------------------------------------------------- */

/* With WEFT_SERVER_REUSEPORT: moves to the acceptor's worker and
 * registers the listener there, so that its edges, and so its accept
 * waits, are that worker's. */
static void settle(struct acceptor *a)
{
    weft__task *self = weft__task_self();
    struct weft__worker *w = weft__worker_self();

    if (a->worker < 0 || (unsigned)a->worker >= w->rt->nworkers)
        return;
    struct weft__worker *to = w->rt->workers[a->worker];
    if (to != w)
        weft__sched_hop(self, to);
    (void)weft__io_register(&a->listener->io);
}

/* Errors after which accepting cannot go on: the task was cancelled or
 * the runtime is ending, or the listener is unusable. */
static bool is_final(int err)
{
    return err == -ECANCELED || err == -ETIMEDOUT || err == -ESHUTDOWN ||
           err == -EBADF || err == -EINVAL || err == -ENOTSOCK ||
           err == -EOPNOTSUPP;
}

/* After `what` failed with err: counts it, says so once per burst of
 * failures, and sleeps BACKOFF_MS. Returns 0, or the sleep's -ECANCELED
 * (or -ESHUTDOWN). */
static int back_off(struct acceptor *a, int err, const char *what)
{
    weft_server *s = a->srv;

    if (err == -EMFILE || err == -ENFILE) {
        count(&s->fd_exhausted, 1);
        count(&s->dropped, drop_pending(a));
        if (!a->in_burst)
            weft__log("server on %s: out of file descriptors (%s): "
                      "dropping pending connections, retrying every %d ms",
                      s->label, weft_err_name(err), BACKOFF_MS);
    } else {
        count(&s->accept_errors, 1);
        if (!a->in_burst)
            weft__log("server on %s: %s failed (%s: %s), retrying every "
                      "%d ms", s->label, what, weft_err_name(err),
                      weft_strerror(err), BACKOFF_MS);
    }
    a->in_burst = true;
    return weft_sleep(BACKOFF_MS);
}

/* Accepts a connection, waiting for one. With a connection limit, a
 * place for the handler is taken first, and kept with the connection:
 * at the limit accepting pauses, and connections wait in the backlog.
 * The place is taken only once a connection is pending, and given back
 * while the listener has none: a listener with no connection must not
 * hold a place that another's (WEFT_SERVER_REUSEPORT) is waiting for. */
static int accept_one(struct acceptor *a, weft_socket **conn)
{
    weft_server *s = a->srv;
    weft_socket *l = a->listener;

    if (!s->limited)
        return weft_socket_accept(l, conn, NULL, NULL, WEFT_FOREVER);
    for (;;) {
        int rc = weft_semaphore_acquire(&s->slots, WEFT_FOREVER);
        if (rc < 0)
            return rc;
        /* Read before the try: a connection that comes after it is an
         * edge the wait below sees. */
        uint64_t ticks = weft__io_ticks(&l->io);
        rc = weft_socket_accept(l, conn, NULL, NULL, 0);
        if (rc == 0)
            return 0;
        (void)weft_semaphore_release(&s->slots);
        if (rc != -ETIMEDOUT) /* 0: only tried, nothing was pending */
            return rc;
        rc = weft__socket_wait(weft__task_self(), l, WEFT__IO_IN, ticks, -1);
        if (rc < 0)
            return rc;
    }
}

static void *accept_main(void *arg)
{
    struct acceptor *a = arg;
    weft_server *s = a->srv;
    int rc;

    settle(a);
    for (;;) {
        weft_socket *conn;
        rc = accept_one(a, &conn);
        if (rc < 0) {
            if (is_final(rc) || (rc = back_off(a, rc, "accept")) < 0)
                break;
            continue;
        }
        a->in_burst = false;
        if (a->spare < 0)
            a->spare = open_spare();
        rc = start_handler(s, conn);
        if (rc == 0)
            continue;
        if (s->limited)
            (void)weft_semaphore_release(&s->slots);
        if (rc == -ESHUTDOWN ||
            (rc = back_off(a, rc, "starting a handler")) < 0)
            break;
    }
    if (rc == -ECANCELED || rc == -ESHUTDOWN || rc == -ETIMEDOUT)
        return NULL;
    return weft_fail(rc, "accepting on %s", s->label);
}

/* --- starting ------------------------------------------------------------ */

#define KNOWN_FLAGS WEFT_SERVER_REUSEPORT

static int check_opts(const weft_server_opts *o)
{
    if (o == NULL)
        return 0;
    if ((o->flags & ~KNOWN_FLAGS) || o->max_connections > INT_MAX ||
        (o->close_timeout_ms < 0 && o->close_timeout_ms != WEFT_FOREVER))
        return -EINVAL;
    for (size_t i = 0; i < sizeof o->reserved / sizeof o->reserved[0]; i++) {
        if (o->reserved[i] != NULL)
            return -EINVAL;
    }
    return 0;
}

/* A new server with n acceptors, not yet listening. */
static int server_new(weft_server **out, weft_conn_fn fn, void *arg,
                      const weft_server_opts *o, unsigned n)
{
    weft_server *s = weft__calloc(1, sizeof *s);
    int rc;

    if (s == NULL)
        return -ENOMEM;
    s->acceptors = weft__calloc(n, sizeof *s->acceptors);
    if (s->acceptors == NULL)
        goto fail_acceptors;
    rc = pthread_mutex_init(&s->lock, NULL);
    if (rc != 0)
        goto fail_mutex;
    if (weft_event_init(&s->stopped) < 0)
        goto fail_event;
    if (o != NULL && o->max_connections > 0) {
        if (weft_semaphore_init(&s->slots, (unsigned)o->max_connections) < 0)
            goto fail_slots;
        s->limited = true;
    }
    s->magic = SERVER_MAGIC;
    s->state = RUNNING;
    s->fn = fn;
    s->arg = arg;
    if (o != NULL && o->stream != NULL) {
        s->stream_opts = *o->stream;
        s->stream = &s->stream_opts;
    }
    s->close_timeout_ms = o != NULL && o->close_timeout_ms > 0
                              ? o->close_timeout_ms
                              : WEFT_FOREVER;
    s->port = -1;
    weft__list_init(&s->live);
    s->nacceptors = n;
    for (unsigned i = 0; i < n; i++) {
        s->acceptors[i].srv = s;
        s->acceptors[i].spare = -1;
        s->acceptors[i].worker = -1;
    }
    *out = s;
    return 0;

fail_slots:
    (void)weft_event_destroy(&s->stopped);
fail_event:
    weft__mutex_destroy(&s->lock);
fail_mutex:
    weft__free(s->acceptors);
fail_acceptors:
    weft__free(s);
    return -ENOMEM;
}

/* Frees a server whose accept tasks have ended (or never started), and
 * whose event is retired already. */
static void server_free(weft_server *s)
{
    for (unsigned i = 0; i < s->nacceptors; i++) {
        struct acceptor *a = &s->acceptors[i];
        if (a->listener != NULL)
            (void)weft_socket_close(a->listener);
        if (a->spare >= 0)
            (void)close(a->spare);
    }
    if (s->limited)
        (void)weft_semaphore_destroy(&s->slots);
    weft__mutex_destroy(&s->lock);
    s->magic = 0;
    weft__free(s->path);
    weft__free(s->acceptors);
    weft__free(s);
}

/* Frees a server that failed to start. */
static void discard(weft_server *s)
{
    (void)weft_event_destroy(&s->stopped);
    server_free(s);
}

/* A listening socket bound to addr. */
static int listen_on(weft_socket **out, const struct sockaddr *addr,
                     socklen_t len, unsigned sflags, int backlog)
{
    weft_socket *sock;
    int rc = weft_socket_open(&sock, addr->sa_family, SOCK_STREAM, sflags);

    if (rc < 0)
        return rc;
    rc = weft_socket_bind(sock, addr, len);
    if (rc == 0)
        rc = weft_socket_listen(sock, backlog);
    if (rc < 0) {
        (void)weft_socket_close(sock);
        return rc;
    }
    *out = sock;
    return 0;
}

/* Spare descriptors and accept tasks. On failure the tasks started are
 * cancelled and awaited; the caller frees the server. */
static int launch(weft_server *s)
{
    weft__task *self = weft__task_self();
    unsigned i;
    int rc = 0;

    for (i = 0; i < s->nacceptors; i++) {
        struct acceptor *a = &s->acceptors[i];
        a->spare = open_spare();
        /* Short of descriptors already: the spare is taken later. */
        char name[WEFT_TASK_NAME_MAX + 1];
        snprintf(name, sizeof name, "accept-%.40s", s->label);
        weft_spawn_opts so = { .name = name };
        rc = weft_spawn_ex(&a->task, accept_main, a, &so);
        if (rc < 0)
            break;
    }
    if (rc == 0)
        return 0;
    while (i-- > 0) {
        (void)weft_cancel(s->acceptors[i].task);
        (void)weft__task_wait_done(self,
                                   weft__handle_record(s->acceptors[i].task),
                                   WEFT__WAIT_SHIELDED);
        (void)weft_task_unref(s->acceptors[i].task);
        s->acceptors[i].task = NULL;
    }
    return rc;
}

/* host (numeric, or NULL: 0.0.0.0) and port (decimal) as an address. */
static int parse_inet(const char *host, const char *port,
                      struct sockaddr_storage *ss, socklen_t *len)
{
    unsigned long p = 0;

    if (port == NULL || *port == '\0' || strlen(port) > 5)
        return -EINVAL;
    for (const char *c = port; *c != '\0'; c++) {
        if (*c < '0' || *c > '9')
            return -EINVAL;
        p = p * 10 + (unsigned long)(*c - '0');
    }
    if (p > 65535)
        return -EINVAL;
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (host == NULL) {
        v4->sin_family = AF_INET;
        v4->sin_addr.s_addr = htonl(INADDR_ANY);
    } else if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
    } else {
        return -EINVAL; /* not a numeric address */
    }
    if (ss->ss_family == AF_INET) {
        v4->sin_port = htons((uint16_t)p);
        *len = sizeof *v4;
    } else {
        v6->sin6_port = htons((uint16_t)p);
        *len = sizeof *v6;
    }
    return 0;
}

static void set_port(struct sockaddr_storage *ss, int port)
{
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

int weft_server_start(weft_server **srv, const char *host, const char *port,
                      weft_conn_fn fn, void *arg, const weft_server_opts *opts)
{
    struct sockaddr_storage ss;
    socklen_t len;
    weft_server *s;

    if (srv == NULL)
        return -EINVAL;
    *srv = NULL;
    if (fn == NULL || check_opts(opts) < 0 ||
        parse_inet(host, port, &ss, &len) < 0)
        return -EINVAL;
    if (weft__task_self() == NULL)
        return -EPERM;
    unsigned flags = opts != NULL ? opts->flags : 0;
    int backlog = opts != NULL ? opts->backlog : 0;
    unsigned n = 1;
    unsigned sflags = WEFT_SOCKET_REUSEADDR;
    if (flags & WEFT_SERVER_REUSEPORT) {
        n = weft__worker_self()->rt->nworkers;
        sflags |= WEFT_SOCKET_REUSEPORT;
    }
    int rc = server_new(&s, fn, arg, opts, n);
    if (rc < 0)
        return rc;
    for (unsigned i = 0; i < n && rc == 0; i++) {
        rc = listen_on(&s->acceptors[i].listener, (struct sockaddr *)&ss,
                       len, sflags, backlog);
        if (rc == 0 && i == 0) {
            /* Port "0": the others share the port the first was given. */
            s->port = weft_socket_port(s->acceptors[0].listener);
            set_port(&ss, s->port);
        }
        if (flags & WEFT_SERVER_REUSEPORT)
            s->acceptors[i].worker = (int)i;
    }
    if (rc == 0) {
        char addr[INET6_ADDRSTRLEN];
        const void *a = ss.ss_family == AF_INET
                            ? (const void *)&((struct sockaddr_in *)&ss)->sin_addr
                            : (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
        if (inet_ntop(ss.ss_family, a, addr, sizeof addr) == NULL)
            snprintf(addr, sizeof addr, "?");
        snprintf(s->label, sizeof s->label,
                 ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", addr, s->port);
        rc = launch(s);
    }
    if (rc < 0) {
        discard(s);
        return rc;
    }
    *srv = s;
    return 0;
}

int weft_server_start_unix(weft_server **srv, const char *path,
                           weft_conn_fn fn, void *arg,
                           const weft_server_opts *opts)
{
    struct sockaddr_un sun;
    socklen_t sun_len;
    weft_server *s;

    if (srv == NULL)
        return -EINVAL;
    *srv = NULL;
    if (fn == NULL || weft__unix_addr(&sun, &sun_len, path) < 0 ||
        check_opts(opts) < 0 ||
        (opts != NULL && (opts->flags & WEFT_SERVER_REUSEPORT)))
        return -EINVAL;
    if (weft__task_self() == NULL)
        return -EPERM;
    bool abstract = path[0] == '@'; /* no file to unlink */
    int rc = server_new(&s, fn, arg, opts, 1);
    if (rc < 0)
        return rc;
    s->path = abstract ? NULL : weft__strdup(path);
    if (!abstract && s->path == NULL) {
        discard(s);
        return -ENOMEM;
    }
    snprintf(s->label, sizeof s->label, "unix:%s", path);
    rc = listen_on(&s->acceptors[0].listener, (struct sockaddr *)&sun,
                   sun_len, 0, opts != NULL ? opts->backlog : 0);
    if (rc < 0) {
        discard(s);
        return rc;
    }
    rc = abstract ? 0 : file_id(path, &s->dev, &s->ino);
    if (rc == 0)
        rc = launch(s);
    if (rc < 0) {
        if (!abstract)
            unlink_path(s);
        discard(s);
        return rc;
    }
    *srv = s;
    return 0;
}

/* --- stopping ------------------------------------------------------------ */

/* Waits until no handler is left, or deadline (weft_now ms, -1: none)
 * passes. Returns 0 (none left), 1 (the deadline passed), or the
 * -ECANCELED or -ETIMEDOUT that interrupted the caller. Shielded: waits
 * for them all, uninterrupted. */
static int wait_handlers(weft_server *s, weft__task *self, int64_t deadline,
                         bool shielded)
{
    for (;;) {
        weft__mutex_lock(&s->lock);
        struct weft__list *first = weft__list_first(&s->live);
        /* A reference of our own: the handler drops the server's once it
         * has unlinked itself. */
        weft_task *t = first != NULL
                           ? weft_task_ref(weft__list_entry(first, struct conn,
                                                            link)->task)
                           : NULL;
        weft__mutex_unlock(&s->lock);
        if (t == NULL)
            return 0;
        int rc = 0;
        size_t ndone = 1;
        if (shielded) {
            (void)weft__task_wait_done(self, weft__handle_record(t),
                                       WEFT__WAIT_SHIELDED);
        } else {
            int64_t left = WEFT_FOREVER;
            if (deadline >= 0) {
                left = deadline - weft_now();
                if (left < 0)
                    left = 0;
            }
            rc = weft_wait(&t, 1, WEFT_WAIT_ALL_COMPLETED, &ndone, left);
        }
        (void)weft_task_unref(t);
        if (rc < 0)
            return rc;
        if (ndone == 0)
            return 1;
    }
}

/* 1 if self is one of s's handlers. */
static bool is_handler(weft_server *s, const weft__task *self)
{
    struct weft__list *it;
    bool found = false;

    weft__mutex_lock(&s->lock);
    weft__list_foreach(it, &s->live) {
        if (weft__handle_record(weft__list_entry(it, struct conn, link)->task) ==
            self)
            found = true;
    }
    weft__mutex_unlock(&s->lock);
    return found;
}

int weft_server_stop(weft_server *srv, int64_t grace_ms)
{
    weft__task *self = WEFT__TASK_ENTER();
    weft_server *s = srv;

    if (!valid(s) || (grace_ms < 0 && grace_ms != WEFT_FOREVER))
        return -EINVAL;
    if (self == NULL)
        return -EPERM;
    if (is_handler(s, self))
        return -EDEADLK; /* it would wait for itself */
    if (!weft__cas_u32(&s->state, RUNNING, STOPPING))
        return -EALREADY;
    int64_t deadline = grace_ms >= 0 ? weft__io_deadline(grace_ms) : -1;

    /* Stop accepting: the accept tasks end at their next suspension,
     * then the listeners close (the backlog's connections are reset). */
    for (unsigned i = 0; i < s->nacceptors; i++)
        (void)weft_cancel(s->acceptors[i].task);
    for (unsigned i = 0; i < s->nacceptors; i++) {
        struct acceptor *a = &s->acceptors[i];
        (void)weft__task_wait_done(self, weft__handle_record(a->task),
                                   WEFT__WAIT_SHIELDED);
        (void)weft_task_unref(a->task);
        a->task = NULL;
        (void)weft_socket_close(a->listener);
        a->listener = NULL;
        if (a->spare >= 0)
            (void)close(a->spare);
        a->spare = -1;
    }
    if (s->path != NULL)
        unlink_path(s);

    /* The grace period, then the cancellation of those left. */
    int rc = wait_handlers(s, self, deadline, false);
    if (rc != 0) {
        struct weft__list *it;
        weft__mutex_lock(&s->lock);
        weft__list_foreach(it, &s->live)
            (void)weft_cancel(weft__list_entry(it, struct conn, link)->task);
        weft__mutex_unlock(&s->lock);
        (void)wait_handlers(s, self, -1, true);
    }
    weft__store_release_u32(&s->state, STOPPED);
    (void)weft_event_set(&s->stopped);
    return rc < 0 ? rc : 0;
}

int weft_server_wait(weft_server *srv, int64_t timeout_ms)
{
    if (!valid(srv))
        return -EINVAL;
    /* Nothing of srv is touched after the wait: it may be destroyed as
     * soon as the event is set. */
    return weft_event_wait(&srv->stopped, timeout_ms);
}

int weft_server_destroy(weft_server *srv)
{
    if (!valid(srv))
        return -EINVAL;
    if (weft__load_acquire_u32(&srv->state) != STOPPED)
        return -EBUSY;
    /* A task still waiting in weft_server_wait keeps it. */
    int rc = weft_event_destroy(&srv->stopped);
    if (rc < 0)
        return rc;
    /* The last handler's unlock has returned once this lock is taken. */
    weft__mutex_lock(&srv->lock);
    weft__mutex_unlock(&srv->lock);
    server_free(srv);
    return 0;
}

/* --- reading ------------------------------------------------------------- */

int weft_server_port(const weft_server *srv)
{
    if (!valid(srv) || srv->port < 0)
        return -EINVAL;
    return srv->port;
}

int weft_server_connections(const weft_server *srv)
{
    if (!valid(srv))
        return -EINVAL;
    return (int)weft__load_acquire_u32(&srv->nlive);
}

int weft_server_get_stats(const weft_server *srv, weft_server_stats *stats)
{
    if (!valid(srv) || stats == NULL)
        return -EINVAL;
    memset(stats, 0, sizeof *stats);
    stats->accepted = weft__load_relaxed_u64(&srv->accepted);
    stats->dropped = weft__load_relaxed_u64(&srv->dropped);
    stats->fd_exhausted = weft__load_relaxed_u64(&srv->fd_exhausted);
    stats->accept_errors = weft__load_relaxed_u64(&srv->accept_errors);
    stats->connections = weft__load_acquire_u32(&srv->nlive);
    return 0;
}
