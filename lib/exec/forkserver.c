/* The fork server and the worker processes it forks (see procpool.h).
 * Both are single-threaded and block on their sockets; they leave with
 * _exit, so that nothing inherited from the program (stdio buffers,
 * atexit handlers) runs twice. */
#include "exec/procpool.h"

#include "core/clock.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* --- a worker ------------------------------------------------------------------ */

/* Reads exactly len bytes; false at end of file or on an error. */
static bool read_full(int fd, void *buf, size_t len)
{
    char *p = buf;

    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static bool write_full(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Waits up to SPIN_NS for the next call to start arriving, peeking
 * without blocking: a call that follows the last one closely then finds
 * the worker awake, not paying the 14-35 us of waking a parked vCPU. */
#define SPIN_NS 50000

static void spin_for_input(int fd)
{
    int64_t until = weft__now_ns() + SPIN_NS;
    char byte;

    for (;;) {
        ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n != -1 || (errno != EAGAIN && errno != EINTR))
            return; /* data, end of file or an error: read_full sees it */
        if (weft__now_ns() >= until)
            return;
    }
}

/* Serves calls on fd until the program closes it. */
__attribute__((noreturn)) static void worker_main(int fd)
{
    for (;;) {
        struct weft__call_header call;
        struct weft__reply_header reply = { 0 };
        void *in = NULL, *out = NULL;
        size_t out_len = 0;

        spin_for_input(fd);
        if (!read_full(fd, &call, sizeof call))
            _exit(0);
        if (call.len > WEFT_PROCESS_MSG_MAX)
            _exit(1); /* the program never sends this */
        if (call.len > 0 && (in = malloc(call.len)) == NULL) {
            /* Read and drop the input, and say why. */
            char sink[4096];
            for (uint64_t left = call.len; left > 0;) {
                size_t n = left < sizeof sink ? (size_t)left : sizeof sink;
                if (!read_full(fd, sink, n))
                    _exit(0);
                left -= n;
            }
            reply.status = -ENOMEM;
        } else if (!read_full(fd, in, (size_t)call.len)) {
            _exit(0);
        } else {
            weft_process_fn fn = weft__process_fn(call.fn);
            reply.status = fn != NULL
                               ? fn(in != NULL ? in : "", (size_t)call.len,
                                    &out, &out_len)
                               : -ENOENT;
            if (reply.status > 0)
                reply.status = -EINVAL;
            if (reply.status == 0 && out_len > WEFT_PROCESS_MSG_MAX)
                reply.status = -EMSGSIZE;
            if (reply.status == 0 && out == NULL && out_len > 0)
                reply.status = -EINVAL;
        }
        reply.len = reply.status == 0 ? out_len : 0;
        bool sent = write_full(fd, &reply, sizeof reply) &&
                    (reply.len == 0 || write_full(fd, out, (size_t)reply.len));
        free(in);
        free(out);
        if (!sent)
            _exit(0);
    }
}

/* --- the fork server --------------------------------------------------------------- */

struct children {
    pid_t *pids;
    size_t n;
    size_t cap;
};

static void reap_exited(struct children *c)
{
    for (size_t i = 0; i < c->n;) {
        if (waitpid(c->pids[i], NULL, WNOHANG) == c->pids[i])
            c->pids[i] = c->pids[--c->n];
        else
            i++;
    }
}

static bool is_child(const struct children *c, pid_t pid)
{
    for (size_t i = 0; i < c->n; i++) {
        if (c->pids[i] == pid)
            return true;
    }
    return false;
}

static void send_reply(int ctl, pid_t pid, int err, int fd)
{
    struct weft__fs_reply reply = { .pid = pid, .err = err };
    struct iovec iov = { .iov_base = &reply, .iov_len = sizeof reply };
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

    if (fd >= 0) {
        memset(&control, 0, sizeof control);
        msg.msg_control = control.buf;
        msg.msg_controllen = sizeof control.buf;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    }
    while (sendmsg(ctl, &msg, MSG_NOSIGNAL) < 0 && errno == EINTR)
        ;
}

static void spawn_worker(int ctl, struct children *c)
{
    int sv[2];
    pid_t pid;

    if (c->n == c->cap) {
        size_t cap = c->cap != 0 ? c->cap * 2 : 16;
        pid_t *grown = realloc(c->pids, cap * sizeof *grown);
        if (grown == NULL) {
            send_reply(ctl, 0, -ENOMEM, -1);
            return;
        }
        c->pids = grown;
        c->cap = cap;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        send_reply(ctl, 0, -errno, -1);
        return;
    }
    pid = fork();
    if (pid == 0) {
        close(ctl);
        close(sv[0]);
        worker_main(sv[1]);
    }
    int err = pid < 0 ? -errno : 0;
    close(sv[1]);
    if (pid > 0)
        c->pids[c->n++] = pid;
    send_reply(ctl, pid > 0 ? pid : 0, err, pid > 0 ? sv[0] : -1);
    close(sv[0]);
}

__attribute__((noreturn)) static void server_main(int ctl)
{
    struct children c = { 0 };

    /* The program's handlers are not ours; a worker's death must not
     * stop us either. */
    signal(SIGINT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    for (;;) {
        struct weft__fs_request req;
        ssize_t n = recv(ctl, &req, sizeof req, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n != (ssize_t)sizeof req)
            break; /* the program closed ctl, or is gone */
        reap_exited(&c);
        if (req.op == WEFT__FS_SPAWN) {
            spawn_worker(ctl, &c);
        } else if (req.op == WEFT__FS_KILL && is_child(&c, req.pid)) {
            /* Not yet reaped, so the pid is still this worker's. */
            kill(req.pid, SIGKILL);
        }
    }
    for (size_t i = 0; i < c.n; i++)
        kill(c.pids[i], SIGKILL);
    for (size_t i = 0; i < c.n; i++) {
        while (waitpid(c.pids[i], NULL, 0) < 0 && errno == EINTR)
            ;
    }
    free(c.pids);
    _exit(0);
}

int weft__forkserver_start(pid_t *pid_out, int *ctl_out)
{
    int sv[2];
    pid_t pid;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    pid = fork();
    if (pid < 0) {
        int err = -errno;
        close(sv[0]);
        close(sv[1]);
        return err == -ENOMEM ? -ENOMEM : -EAGAIN;
    }
    if (pid == 0) {
        close(sv[0]);
        server_main(sv[1]);
    }
    close(sv[1]);
    *pid_out = pid;
    *ctl_out = sv[0];
    return 0;
}
