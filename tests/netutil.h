/* Helpers of the I/O suites: connected sockets and streams on loopback. */
#ifndef WEFT_TEST_NETUTIL_H
#define WEFT_TEST_NETUTIL_H

#include <arpa/inet.h>
#include <netinet/in.h>

#include "testutil.h"

/* A TCP listener on 127.0.0.1, any free port. */
static inline weft_socket *listen_loopback(struct sockaddr_in *addr)
{
    weft_socket *l;
    socklen_t len = sizeof *addr;

    ck_assert_int_eq(weft_socket_open(&l, AF_INET, SOCK_STREAM,
                                      WEFT_SOCKET_REUSEADDR), 0);
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(weft_socket_bind(l, (struct sockaddr *)addr, len), 0);
    ck_assert_int_eq(weft_socket_listen(l, 0), 0);
    addr->sin_port = htons((uint16_t)weft_socket_port(l));
    return l;
}

/* A connected TCP pair on loopback: *a connected, *b accepted. */
static inline void tcp_pair(weft_socket **a, weft_socket **b)
{
    struct sockaddr_in addr;
    weft_socket *l = listen_loopback(&addr);

    ck_assert_int_eq(weft_socket_open(a, AF_INET, SOCK_STREAM, 0), 0);
    ck_assert_int_eq(weft_socket_connect(*a, (struct sockaddr *)&addr,
                                         sizeof addr, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_socket_accept(l, b, NULL, NULL, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_socket_close(l), 0);
}

/* The same as two streams. */
static inline void stream_pair(weft_stream **a, weft_stream **b,
                               const weft_stream_opts *opts)
{
    weft_socket *sa, *sb;

    tcp_pair(&sa, &sb);
    ck_assert_int_eq(weft_stream_open(a, sa, opts), 0);
    ck_assert_int_eq(weft_stream_open(b, sb, opts), 0);
}

/* A byte of a known sequence: position i of stream `seed`. */
static inline unsigned char seq_byte(uint64_t seed, uint64_t i)
{
    uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ull ^ seed;
    x ^= x >> 29;
    return (unsigned char)(x * 0xbf58476d1ce4e5b9ull >> 56);
}

/* xorshift64*, for the tests' random choices (seeded: reproducible). */
static inline uint64_t test_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

#endif /* WEFT_TEST_NETUTIL_H */
