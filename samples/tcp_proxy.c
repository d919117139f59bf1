/* tcp_proxy: a proxy that copies two streams both ways, half-close
 * included.
 *
 *     async def pipe(reader, writer):
 *         while data := await reader.read(16384):
 *             writer.write(data); await writer.drain()
 *         writer.write_eof()
 *     async def proxy(client_r, client_w):
 *         backend_r, backend_w = await asyncio.open_connection(host, port)
 *         await asyncio.gather(pipe(client_r, backend_w),
 *                              pipe(backend_r, client_w))
 *
 * Three parts in one program, all on 127.0.0.1: an echo backend, which
 * sends back what it reads until its client's end of stream; the proxy,
 * which for each client connects to the backend and copies both ways,
 * passing each end of stream on with weft_stream_write_eof; and four
 * clients, each of which sends 256 KiB through the proxy, ends its
 * sending side, and reads everything back until the end of stream,
 * checking every byte. A client reads in a task of its own while it
 * sends, or both sides would stop once the buffers on the way are full.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <weft.h>

#include "net.h"

#define CLIENTS 4
#define PAYLOAD (256 * 1024)
#define TIMEOUT_MS 10000

static int backend_port;

/* Copies from one stream to the other until the end of stream, then
 * ends the other's sending side. */
static int pipe_streams(weft_stream *from, weft_stream *to)
{
    char buf[16384];

    for (;;) {
        ssize_t n = weft_stream_read(from, buf, sizeof buf, TIMEOUT_MS);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return weft_stream_write_eof(to, TIMEOUT_MS);
        int rc = weft_stream_write(to, buf, (size_t)n, TIMEOUT_MS);
        if (rc < 0)
            return rc;
    }
}

/* The backend: echoes until the end of stream (weft then closes). */
static int echo(weft_stream *conn, void *arg)
{
    (void)arg;
    return pipe_streams(conn, conn);
}

struct pipe_args {
    weft_stream *from, *to;
};

static void *pipe_task(void *arg)
{
    struct pipe_args *p = arg;
    int rc = pipe_streams(p->from, p->to);
    return rc < 0 ? weft_fail(rc, "backend to client") : NULL;
}

/* The proxy's side of one client. */
static int proxy(weft_stream *client, void *arg)
{
    weft_stream *backend;
    weft_task *back;

    (void)arg;
    int rc = dial_local(&backend, backend_port, TIMEOUT_MS);
    if (rc < 0)
        return rc;
    /* Backend to client in a task, client to backend here: each stream
     * has one reader and one writer at a time. */
    struct pipe_args p = { backend, client };
    rc = weft_spawn(&back, pipe_task, &p);
    if (rc == 0) {
        rc = pipe_streams(client, backend);
        /* Awaited even if this side failed: p lives on this stack. */
        int brc = weft_await(back, NULL);
        weft_task_unref(back);
        if (rc == 0)
            rc = brc;
    }
    weft_stream_close(backend, TIMEOUT_MS);
    return rc;
}

struct reply {
    weft_stream *conn;
    void *data;
    size_t len;
};

static void *read_reply(void *arg)
{
    struct reply *r = arg;
    int rc = weft_stream_read_all(r->conn, &r->data, &r->len, 2 * PAYLOAD,
                                  TIMEOUT_MS);
    return rc < 0 ? weft_fail(rc, "reading the echo") : NULL;
}

static void *client(void *arg)
{
    int port = client_port(arg), id = client_id(arg);
    static unsigned char payload[CLIENTS][PAYLOAD];
    unsigned char *mine = payload[id];
    struct reply r = { .data = NULL };
    weft_task *reader;

    for (size_t i = 0; i < PAYLOAD; i++)
        mine[i] = (unsigned char)(i * 31 + (size_t)id);
    int rc = dial_local(&r.conn, port, TIMEOUT_MS);
    if (rc < 0)
        return weft_fail(rc, "client %d: connect", id);
    rc = weft_spawn(&reader, read_reply, &r);
    if (rc == 0) {
        for (size_t off = 0; off < PAYLOAD && rc == 0; off += 4096)
            rc = weft_stream_write(r.conn, mine + off, 4096, TIMEOUT_MS);
        /* Half-close: the proxy passes it to the backend, whose end of
         * stream comes back the same way. */
        if (rc == 0)
            rc = weft_stream_write_eof(r.conn, TIMEOUT_MS);
        int rrc = weft_await(reader, NULL);
        weft_task_unref(reader);
        if (rc == 0)
            rc = rrc;
    }
    weft_stream_close(r.conn, TIMEOUT_MS);
    if (rc == 0 && (r.len != PAYLOAD || memcmp(r.data, mine, PAYLOAD) != 0))
        rc = WEFT_EPIPE;
    weft_free(r.data);
    if (rc < 0)
        return weft_fail(rc, "client %d: the echo differs", id);
    return NULL;
}

static void *amain(void *arg)
{
    weft_server *backend, *front;
    int rc;

    (void)arg;
    rc = weft_server_start(&backend, "127.0.0.1", "0", echo, NULL, NULL);
    if (rc < 0)
        return weft_fail(rc, "backend: %s", weft_strerror(rc));
    backend_port = weft_server_port(backend);
    rc = weft_server_start(&front, "127.0.0.1", "0", proxy, NULL, NULL);
    if (rc < 0) {
        weft_server_stop(backend, 0);
        weft_server_destroy(backend);
        return weft_fail(rc, "proxy: %s", weft_strerror(rc));
    }
    int port = weft_server_port(front);
    printf("backend on 127.0.0.1:%d, proxy on 127.0.0.1:%d\n", backend_port,
           port);
    rc = run_clients(client, port, CLIENTS);
    /* The proxy first, whose handlers close their backend connections. */
    weft_server_stop(front, 5000);
    weft_server_stop(backend, 5000);
    weft_server_destroy(front);
    weft_server_destroy(backend);
    if (rc < 0)
        return weft_fail(rc, "proxy failed");
    printf("%d clients sent %d KiB each through the proxy and read it back\n",
           CLIENTS, PAYLOAD / 1024);
    return NULL;
}

int main(void)
{
    int rc = weft_run(amain, NULL, NULL, NULL);
    if (rc < 0) {
        fprintf(stderr, "tcp_proxy: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
