/* graceful_server: a line-echo server that stops cleanly on Ctrl-C or
 * SIGTERM: it stops accepting, lets the connections in progress finish
 * (up to a grace period), then cancels what is left.
 *
 *     server = await asyncio.start_server(handle, "127.0.0.1", 0)
 *     stop = asyncio.Event()
 *     for sig in (SIGINT, SIGTERM):
 *         loop.add_signal_handler(sig, stop.set)
 *     await stop.wait()
 *     server.close(); await server.wait_closed()
 *
 * A task waits for the signals with weft_signal_wait, which also takes
 * SIGINT over from weft_run's default (cancel main). So that the sample
 * runs by itself, a client task talks to the server and then sends the
 * process the SIGINT that Ctrl-C would; run it and press Ctrl-C instead
 * with `graceful_server --wait`.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <weft.h>

#define GRACE_MS 2000

static int handle(weft_stream *conn, void *arg)
{
    char line[256];
    ssize_t n;

    (void)arg;
    while ((n = weft_stream_read_line(conn, line, sizeof line, 10000)) > 0) {
        int rc = weft_stream_write(conn, line, (size_t)n, 10000);
        if (rc < 0)
            return rc;
    }
    return n < 0 && n != -ECANCELED ? (int)n : 0;
}

/* Talks to the server, then plays the user pressing Ctrl-C. */
static void *client(void *arg)
{
    int port = *(int *)arg;
    char portstr[16], back[64];
    weft_stream *st;

    snprintf(portstr, sizeof portstr, "%d", port);
    int rc = weft_open_connection(&st, "127.0.0.1", portstr, NULL, 5000);
    if (rc < 0)
        return weft_fail(rc, "connect: %s", weft_strerror(rc));
    const char *msg = "hello, server\n";
    rc = weft_stream_write(st, msg, strlen(msg), 5000);
    ssize_t n = rc < 0 ? rc : weft_stream_read_line(st, back, sizeof back, 5000);
    weft_stream_close(st, 5000);
    if (n < 0)
        return weft_fail((int)n, "echo: %s", weft_strerror((int)n));
    printf("client got back: %.*s", (int)n, back);
    kill(getpid(), SIGINT); /* Ctrl-C */
    return NULL;
}

static void *amain(void *arg)
{
    int wait_for_user = *(int *)arg;
    weft_server *srv;
    weft_task *c = NULL;
    sigset_t stop;

    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    int rc = weft_server_start(&srv, "127.0.0.1", "0", handle, NULL, NULL);
    if (rc < 0)
        return weft_fail(rc, "server: %s", weft_strerror(rc));
    int port = weft_server_port(srv);
    /* The first wait installs the handlers: before anyone is told to
     * send a signal. */
    rc = weft_signal_wait(&stop, 0);
    printf("serving on 127.0.0.1:%d; Ctrl-C or SIGTERM stops it\n", port);
    fflush(stdout);
    if (rc == -ETIMEDOUT && !wait_for_user)
        rc = weft_spawn(&c, client, &port);
    int sig = rc < 0 && rc != -ETIMEDOUT ? rc
                                          : weft_signal_wait(&stop, WEFT_FOREVER);
    if (sig > 0)
        printf("got %s: stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    /* Stop accepting; the handlers have GRACE_MS to finish. */
    rc = weft_server_stop(srv, GRACE_MS);
    weft_server_stats stats;
    weft_server_get_stats(srv, &stats);
    printf("stopped after %llu connection(s)\n",
           (unsigned long long)stats.accepted);
    weft_server_destroy(srv);
    if (c != NULL) {
        int crc = weft_await(c, NULL);
        weft_task_unref(c);
        if (crc < 0)
            return weft_fail(crc, "client failed");
    }
    if (sig < 0)
        return weft_fail(sig, "signal wait: %s", weft_strerror(sig));
    return rc < 0 ? weft_fail(rc, "stop: %s", weft_strerror(rc)) : NULL;
}

int main(int argc, char **argv)
{
    int wait_for_user = argc > 1 && strcmp(argv[1], "--wait") == 0;
    int rc = weft_run(amain, &wait_for_user, NULL, NULL);
    if (rc != 0)
        fprintf(stderr, "graceful_server: %s\n", weft_strerror(rc));
    return rc == 0 ? 0 : 1;
}
