/* net.h: what the network samples share: a connect to 127.0.0.1, and
 * running a batch of client tasks.
 */
#ifndef WEFT_SAMPLES_NET_H
#define WEFT_SAMPLES_NET_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <weft.h>

/* Connects to 127.0.0.1:port and makes a stream of it.
 * weft_open_connection (host names, Happy Eyeballs) does this for any
 * host; the samples need only the loopback address, so they connect a
 * socket by hand: weft_socket_open, weft_socket_connect, then
 * weft_stream_open, which owns the socket from there on. */
static inline int dial_local(weft_stream **stream, int port,
                             int64_t timeout_ms)
{
    struct sockaddr_in addr = { .sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port) };
    weft_socket *sock;
    int rc;

    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rc = weft_socket_open(&sock, AF_INET, SOCK_STREAM, 0);
    if (rc < 0)
        return rc;
    rc = weft_socket_connect(sock, (struct sockaddr *)&addr, sizeof addr,
                             timeout_ms);
    if (rc < 0) {
        weft_socket_close(sock);
        return rc;
    }
    return weft_stream_open(stream, sock, NULL);
}

/* A client task's argument: the server's port and the client's index. */
#define CLIENT_ARG(port, i) ((void *)(((intptr_t)(port) << 16) | (i)))
static inline int client_port(void *arg)
{
    return (int)((intptr_t)arg >> 16);
}
static inline int client_id(void *arg)
{
    return (int)((intptr_t)arg & 0xffff);
}

/* Runs fn as n client tasks (at most 64) at once and waits for them all;
 * prints the message of each that failed. Returns 0, or the error of a
 * client that failed. */
static inline int run_clients(weft_fn fn, int port, int n)
{
    weft_task *clients[64];
    weft_outcome out[64];
    int rc = 0, started = 0;

    while (started < n && started < 64 && rc == 0) {
        rc = weft_spawn(&clients[started], fn, CLIENT_ARG(port, started));
        started += rc == 0;
    }
    int gathered = weft_gather(clients, (size_t)started, WEFT_GATHER_COLLECT,
                               out);
    for (int i = 0; i < started; i++) {
        if (out[i].err < 0) {
            printf("%s\n", weft_task_errmsg(clients[i]));
            rc = out[i].err;
        }
        weft_task_unref(clients[i]);
    }
    return gathered < 0 ? gathered : rc;
}

#endif /* WEFT_SAMPLES_NET_H */
