/* echo_server_client: an echo server and its clients in one program.
 *
 *     async def echo(reader, writer):
 *         while line := await reader.readline():
 *             writer.write(line)
 *     server = await asyncio.start_server(echo, "127.0.0.1", 0)
 *     await asyncio.gather(*(client(i) for i in range(8)))
 *     server.close(); await server.wait_closed()
 *
 * The server listens on a free port of 127.0.0.1. Eight clients connect
 * at once, each sends five lines and checks that each comes back; then
 * the server is stopped (its handlers have ended with their clients) and
 * its counters are printed.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <weft.h>

#include "net.h"

#define CLIENTS 8
#define LINES 5
#define TIMEOUT_MS 10000 /* for every wait: nothing here takes that long */

/* The server's side of one connection: a task of its own. weft closes
 * conn once this returns. */
static int echo(weft_stream *conn, void *arg)
{
    char line[256];

    (void)arg;
    for (;;) {
        ssize_t n = weft_stream_read_line(conn, line, sizeof line, TIMEOUT_MS);
        if (n <= 0)
            return (int)n; /* 0: the client is done */
        int rc = weft_stream_write(conn, line, (size_t)n, TIMEOUT_MS);
        if (rc < 0)
            return rc;
    }
}

static void *client(void *arg)
{
    int port = client_port(arg), id = client_id(arg);
    char out[64], in[64];
    weft_stream *conn;

    int rc = dial_local(&conn, port, TIMEOUT_MS);
    if (rc < 0)
        return weft_fail(rc, "client %d: connect: %s", id, weft_strerror(rc));
    for (int i = 0; i < LINES && rc >= 0; i++) {
        int n = snprintf(out, sizeof out, "client %d says %d\n", id, i);
        rc = weft_stream_write(conn, out, (size_t)n, TIMEOUT_MS);
        ssize_t got = rc < 0 ? rc : weft_stream_read_line(conn, in, sizeof in,
                                                         TIMEOUT_MS);
        if (got != n || memcmp(in, out, (size_t)n) != 0)
            rc = got < 0 ? (int)got : WEFT_EPIPE;
    }
    weft_stream_close(conn, TIMEOUT_MS);
    if (rc < 0)
        return weft_fail(rc, "client %d: no echo", id);
    return NULL;
}

static void *amain(void *arg)
{
    weft_server *server;
    weft_server_stats stats;
    int rc;

    (void)arg;
    rc = weft_server_start(&server, "127.0.0.1", "0", echo, NULL, NULL);
    if (rc < 0)
        return weft_fail(rc, "start_server: %s", weft_strerror(rc));
    int port = weft_server_port(server);
    printf("echo server on 127.0.0.1:%d\n", port);
    rc = run_clients(client, port, CLIENTS);
    /* The clients have closed their connections, so the handlers end on
     * their own: a grace period of 5 s is never used up. */
    weft_server_stop(server, 5000);
    weft_server_get_stats(server, &stats);
    weft_server_destroy(server);
    printf("%d clients, %d lines each: %llu connections served\n", CLIENTS, LINES,
           (unsigned long long)stats.accepted);
    if (rc < 0)
        return weft_fail(rc, "echo failed");
    return NULL;
}

int main(void)
{
    int rc = weft_run(amain, NULL, NULL, NULL);
    if (rc < 0) {
        fprintf(stderr, "echo_server_client: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
