/* Buffered streams: reads of every kind, their limits and end of stream,
 * cancel-safety under random timeouts and cancellations, backpressure and
 * background sending, half-close, resets, 1 GiB through one connection,
 * and 10,000 connections at once. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "netutil.h"

#if defined(TEST_UNDER_ASAN) || defined(TEST_UNDER_TSAN)
#define SANITIZED 1
#endif

/* --- echo across workers ------------------------------------------------ */

#define ECHO_CONNS 16
#define ECHO_ROUNDS 300

static int echo_handlers_done;

static void *echo_handler(void *arg)
{
    weft_stream *st = arg;
    char buf[256];
    ssize_t n;

    while ((n = weft_stream_read(st, buf, sizeof buf, WEFT_FOREVER)) > 0)
        CHECK(weft_stream_write(st, buf, (size_t)n, WEFT_FOREVER) == 0);
    CHECK(n == 0);
    CHECK(weft_stream_close(st, WEFT_FOREVER) == 0);
    COUNT(echo_handlers_done);
    return NULL;
}

static void *echo_client(void *arg)
{
    struct sockaddr_in *addr = arg;
    weft_socket *s;
    weft_stream *st;
    char msg[64], back[64];
    uint64_t rng = (uint64_t)(uintptr_t)&s | 1;

    CHECK(weft_socket_open(&s, AF_INET, SOCK_STREAM, 0) == 0);
    CHECK(weft_socket_connect(s, (struct sockaddr *)addr, sizeof *addr,
                              WEFT_FOREVER) == 0);
    CHECK(weft_stream_open(&st, s, NULL) == 0);
    for (int i = 0; i < ECHO_ROUNDS; i++) {
        memset(msg, (char)i, sizeof msg);
        CHECK(weft_stream_write(st, msg, sizeof msg, WEFT_FOREVER) == 0);
        size_t got;
        CHECK(weft_stream_read_exactly(st, back, sizeof back, &got,
                                       WEFT_FOREVER) == 0);
        CHECK(got == sizeof back && memcmp(msg, back, sizeof msg) == 0);
        /* Give thieves a chance: the task resumes wherever it is taken. */
        if (test_rand(&rng) % 4 == 0)
            CHECK(weft_yield() == 0);
    }
    CHECK(weft_stream_close(st, WEFT_FOREVER) == 0);
    return NULL;
}

static void *echo_main(void *arg)
{
    struct sockaddr_in addr;
    weft_socket *l = listen_loopback(&addr);
    weft_task *clients[ECHO_CONNS], *handlers[ECHO_CONNS];

    (void)arg;
    for (int i = 0; i < ECHO_CONNS; i++)
        ck_assert_int_eq(weft_spawn(&clients[i], echo_client, &addr), 0);
    for (int i = 0; i < ECHO_CONNS; i++) {
        weft_socket *c;
        weft_stream *st;
        weft_task *h;
        ck_assert_int_eq(weft_socket_accept(l, &c, NULL, NULL, WEFT_FOREVER), 0);
        ck_assert_int_eq(weft_stream_open(&st, c, NULL), 0);
        ck_assert_int_eq(weft_spawn(&h, echo_handler, st), 0);
        handlers[i] = h;
    }
    for (int i = 0; i < ECHO_CONNS; i++) {
        ck_assert_int_eq(weft_await(clients[i], NULL), 0);
        weft_task_unref(clients[i]);
    }
    for (int i = 0; i < ECHO_CONNS; i++) {
        ck_assert_int_eq(weft_await(handlers[i], NULL), 0);
        weft_task_unref(handlers[i]);
    }
    ck_assert_int_eq(weft_socket_close(l), 0);
    return NULL;
}

START_TEST(test_echo_across_workers)
{
    echo_handlers_done = 0;
    ck_assert_int_eq(run_on(4, echo_main, NULL), 0);
    ck_assert_int_eq(READ(echo_handlers_done), ECHO_CONNS);
}
END_TEST

/* --- lines, separators, limits and the end ------------------------------ */

static void *lines_main(void *arg)
{
    weft_stream *a, *b;
    char buf[64];
    const char *text = "hello\nworld\r\nfoo";

    (void)arg;
    stream_pair(&a, &b, NULL);
    ck_assert_int_eq(weft_stream_write(a, text, strlen(text), WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_write_eof(a, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_read_line(b, buf, sizeof buf, WEFT_FOREVER), 6);
    ck_assert(memcmp(buf, "hello\n", 6) == 0);
    ck_assert_int_eq(weft_stream_read_until(b, "\r\n", 2, buf, sizeof buf,
                                            WEFT_FOREVER), 7);
    ck_assert(memcmp(buf, "world\r\n", 7) == 0);
    /* No separator before the end: -ENODATA, the bytes kept. */
    ck_assert_int_eq(weft_stream_read_until(b, "\n", 1, buf, sizeof buf,
                                            WEFT_FOREVER), -ENODATA);
    ck_assert_uint_eq(weft_stream_buffered(b), 3);
    /* read_line gives the rest at the end, then 0, as asyncio's does. */
    ck_assert_int_eq(weft_stream_read_line(b, buf, sizeof buf, WEFT_FOREVER), 3);
    ck_assert(memcmp(buf, "foo", 3) == 0);
    ck_assert_int_eq(weft_stream_read_line(b, buf, sizeof buf, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_read(b, buf, sizeof buf, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_is_at_eof(b), 1);
    ck_assert_int_eq(weft_stream_is_at_eof(a), 0);
    ck_assert_int_eq(weft_stream_close(a, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_close(b, WEFT_FOREVER), 0);
    return NULL;
}

START_TEST(test_lines_and_separators)
{
    ck_assert_int_eq(run_on(2, lines_main, NULL), 0);
}
END_TEST

static void *limit_main(void *arg)
{
    weft_stream *a, *b;
    weft_stream_opts opts = { .limit = 16 };
    char buf[64], big[40];

    (void)arg;
    stream_pair(&a, &b, &opts);
    /* 40 bytes and no newline: past the limit, kept whole. */
    memset(big, 'x', sizeof big);
    ck_assert_int_eq(weft_stream_write(a, big, sizeof big, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_read_line(b, buf, sizeof buf, WEFT_FOREVER),
                     -EMSGSIZE);
    size_t got;
    ck_assert_int_eq(weft_stream_read_exactly(b, buf, sizeof big, &got,
                                              WEFT_FOREVER), 0);
    ck_assert(memcmp(buf, big, sizeof big) == 0);
    /* A separator that starts past the limit. */
    memset(big, 'y', 20);
    big[20] = '\n';
    ck_assert_int_eq(weft_stream_write(a, big, 21, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_read_line(b, buf, sizeof buf, WEFT_FOREVER),
                     -EMSGSIZE);
    ck_assert_int_eq(weft_stream_read_exactly(b, buf, 21, &got, WEFT_FOREVER), 0);
    ck_assert_int_eq(buf[20], '\n');
    /* A line within the limit but longer than the caller's buffer. */
    ck_assert_int_eq(weft_stream_write(a, "hello\n", 6, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_read_line(b, buf, 3, WEFT_FOREVER), -EMSGSIZE);
    ck_assert_int_eq(weft_stream_read_line(b, buf, sizeof buf, WEFT_FOREVER), 6);
    ck_assert(memcmp(buf, "hello\n", 6) == 0);
    ck_assert_int_eq(weft_stream_close(a, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_close(b, WEFT_FOREVER), 0);
    return NULL;
}

START_TEST(test_limits_keep_data)
{
    ck_assert_int_eq(run_on(1, limit_main, NULL), 0);
}
END_TEST

static void *exactly_eof_main(void *arg)
{
    weft_stream *a, *b;
    char buf[16];
    size_t got = 99;

    (void)arg;
    stream_pair(&a, &b, NULL);
    ck_assert_int_eq(weft_stream_write(a, "0123456789", 10, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_close(a, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_read_exactly(b, buf, 16, &got, WEFT_FOREVER),
                     -ENODATA);
    ck_assert_uint_eq(got, 10);
    ck_assert(memcmp(buf, "0123456789", 10) == 0);
    ck_assert_uint_eq(weft_stream_buffered(b), 0);
    ck_assert_int_eq(weft_stream_read(b, buf, sizeof buf, WEFT_FOREVER), 0);
    void *all;
    size_t len;
    ck_assert_int_eq(weft_stream_read_all(b, &all, &len, 100, WEFT_FOREVER), 0);
    ck_assert_uint_eq(len, 0);
    weft_free(all);
    ck_assert_int_eq(weft_stream_close(b, WEFT_FOREVER), 0);
    return NULL;
}

START_TEST(test_read_exactly_at_end)
{
    ck_assert_int_eq(run_on(2, exactly_eof_main, NULL), 0);
}
END_TEST

static void *read_all_main(void *arg)
{
    weft_stream *a, *b;
    void *all;
    size_t len;
    char data[3000];

    (void)arg;
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)seq_byte(7, i);
    stream_pair(&a, &b, NULL);
    ck_assert_int_eq(weft_stream_write(a, data, sizeof data, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_write_eof(a, WEFT_FOREVER), 0);
    /* Over max: nothing consumed. */
    ck_assert_int_eq(weft_stream_read_all(b, &all, &len, 1000, WEFT_FOREVER),
                     -EMSGSIZE);
    ck_assert_ptr_null(all);
    ck_assert_uint_eq(weft_stream_buffered(b), sizeof data);
    ck_assert_int_eq(weft_stream_read_all(b, &all, &len, sizeof data,
                                          WEFT_FOREVER), 0);
    ck_assert_uint_eq(len, sizeof data);
    ck_assert(memcmp(all, data, sizeof data) == 0);
    weft_free(all);
    ck_assert_int_eq(weft_stream_close(a, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_close(b, WEFT_FOREVER), 0);
    return NULL;
}

START_TEST(test_read_all)
{
    ck_assert_int_eq(run_on(2, read_all_main, NULL), 0);
}
END_TEST

/* --- timeouts and cancellation ------------------------------------------ */

static void *timeouts_main(void *arg)
{
    weft_stream *a, *b;
    char buf[16];
    size_t got = 99;

    (void)arg;
    stream_pair(&a, &b, NULL);
    int64_t t0 = mono_ms();
    ck_assert_int_eq(weft_stream_read(b, buf, sizeof buf, 30), -ETIMEDOUT);
    ck_assert_int_ge(mono_ms() - t0, 30);
    ck_assert_int_eq(weft_stream_read(b, buf, sizeof buf, 0), -ETIMEDOUT);
    /* Half of what read_exactly wants, then its time-out: kept. */
    ck_assert_int_eq(weft_stream_write(a, "01234", 5, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_read_exactly(b, buf, 10, &got, 30), -ETIMEDOUT);
    ck_assert_uint_eq(got, 0);
    ck_assert_int_eq(weft_stream_read_line(b, buf, sizeof buf, 10), -ETIMEDOUT);
    ck_assert_int_eq(weft_stream_write(a, "56789", 5, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_read_exactly(b, buf, 10, &got, WEFT_FOREVER), 0);
    ck_assert(memcmp(buf, "0123456789", 10) == 0);
    /* A deadline scope applies as a timeout does. */
    int rc;
    WEFT_WITH_TIMEOUT(20, rc) {
        ck_assert_int_eq(weft_stream_read(b, buf, sizeof buf, WEFT_FOREVER),
                         -ETIMEDOUT);
    }
    ck_assert_int_eq(rc, 0); /* the scope was entered */
    ck_assert_int_eq(weft_stream_close(a, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_close(b, WEFT_FOREVER), 0);
    return NULL;
}

START_TEST(test_timeouts_keep_data)
{
    ck_assert_int_eq(run_on(2, timeouts_main, NULL), 0);
}
END_TEST

static void *line_reader(void *arg)
{
    char buf[64];
    return (void *)(intptr_t)weft_stream_read_line(arg, buf, sizeof buf,
                                                   WEFT_FOREVER);
}

static void *cancel_main(void *arg)
{
    weft_stream *a, *b;
    weft_task *t;
    void *res;
    char buf[64];

    (void)arg;
    stream_pair(&a, &b, NULL);
    ck_assert_int_eq(weft_spawn(&t, line_reader, b), 0);
    wait_until_waiting(t, "fd");
    ck_assert_int_eq(weft_stream_write(a, "abc", 3, WEFT_FOREVER), 0);
    /* The reader takes "abc" in and waits again for the rest. */
    while (weft_stream_buffered(b) < 3 || !task_is_waiting(t, "fd"))
        ck_assert_int_eq(weft_yield(), 0);
    ck_assert_int_eq(weft_cancel(t), 0);
    ck_assert_int_eq(weft_await(t, &res), -ECANCELED);
    weft_task_unref(t);
    ck_assert_int_eq(weft_stream_write(a, "def\n", 4, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_read_line(b, buf, sizeof buf, WEFT_FOREVER), 7);
    ck_assert(memcmp(buf, "abcdef\n", 7) == 0);
    ck_assert_int_eq(weft_stream_close(a, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_close(b, WEFT_FOREVER), 0);
    return NULL;
}

START_TEST(test_cancelled_read_keeps_data)
{
    ck_assert_int_eq(run_on(2, cancel_main, NULL), 0);
}
END_TEST

/* Cancel-safety at random: a writer sends a known sequence in chunks of
 * 1 byte to 64 KiB; the reader takes it with every kind of read, each
 * with a random short timeout, while a third task cancels it at random.
 * Whatever ends a read, the bytes the reads return, end to end, must be
 * the sequence: none lost, none twice. */
#ifdef SANITIZED
#define CS_TOTAL (1u << 20)
#else
#define CS_TOTAL (8u << 20)
#endif
#define CS_SEED 0x5eedu

struct cs {
    weft_stream *w, *r;
    uint64_t pos;           /* bytes the reader has checked */
    int done;               /* the reader has finished */
    unsigned timeouts, cancels, reads, overruns;
};

static void *cs_writer(void *arg)
{
    struct cs *cs = arg;
    static unsigned char chunk[65536];
    uint64_t rng = 0x1234567;

    for (uint64_t sent = 0; sent < CS_TOTAL;) {
        size_t n = 1 + test_rand(&rng) % 65536;
        if (test_rand(&rng) % 2)
            n = 1 + n % 300; /* small ones too */
        if (n > CS_TOTAL - sent)
            n = CS_TOTAL - sent;
        for (size_t i = 0; i < n; i++)
            chunk[i] = seq_byte(CS_SEED, sent + i);
        CHECK(weft_stream_write(cs->w, chunk, n, WEFT_FOREVER) == 0);
        sent += n;
        if (test_rand(&rng) % 8 == 0)
            CHECK(weft_sleep((int64_t)(test_rand(&rng) % 2)) == 0);
    }
    CHECK(weft_stream_write_eof(cs->w, WEFT_FOREVER) == 0);
    return NULL;
}

static void cs_check(struct cs *cs, const unsigned char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        CHECK(buf[i] == seq_byte(CS_SEED, cs->pos + i));
    cs->pos += n;
    cs->reads++;
}

static void *cs_reader(void *arg)
{
    struct cs *cs = arg;
    static unsigned char buf[70000];
    uint64_t rng = 0xabcdef;
    static const int64_t timeouts[] = { 0, 1, 2, 5, WEFT_FOREVER };

    while (cs->pos < CS_TOTAL) {
        int64_t to = timeouts[test_rand(&rng) % (sizeof timeouts / sizeof timeouts[0])];
        ssize_t n;
        size_t got = 0;
        int rc = 0;
        switch (test_rand(&rng) % 4) {
        case 0:
            n = weft_stream_read(cs->r, buf, 1 + test_rand(&rng) % sizeof buf, to);
            if (n > 0)
                cs_check(cs, buf, (size_t)n);
            rc = n < 0 ? (int)n : 0;
            CHECK(n != 0); /* the end comes after CS_TOTAL only */
            break;
        case 1: {
            size_t want = 1 + test_rand(&rng) % 20000;
            if (want > CS_TOTAL - cs->pos)
                want = CS_TOTAL - cs->pos;
            rc = weft_stream_read_exactly(cs->r, buf, want, &got, to);
            if (rc == 0)
                cs_check(cs, buf, got);
            else
                CHECK(got == 0);
            break;
        }
        case 2:
            n = weft_stream_read_line(cs->r, buf, sizeof buf, to);
            if (n > 0)
                cs_check(cs, buf, (size_t)n);
            rc = n < 0 ? (int)n : 0;
            break;
        default:
            n = weft_stream_read_until(cs->r, "\n\n", 2, buf, sizeof buf, to);
            if (n > 0)
                cs_check(cs, buf, (size_t)n);
            rc = n < 0 ? (int)n : 0;
            break;
        }
        if (rc == -ETIMEDOUT) {
            cs->timeouts++;
        } else if (rc == -ECANCELED) {
            cs->cancels++;
            while (weft_task_uncancel(weft_current()) > 0)
                ;
        } else if (rc == -EMSGSIZE || rc == -ENODATA) {
            cs->overruns++; /* no separator in reach: the bytes stay */
        } else {
            CHECK(rc == 0);
        }
    }
    /* Then the end, and nothing more (the canceller is still at it). */
    ssize_t end;
    while ((end = weft_stream_read(cs->r, buf, 1, WEFT_FOREVER)) == -ECANCELED)
        while (weft_task_uncancel(weft_current()) > 0)
            ;
    CHECK(end == 0);
    SET(cs->done, 1);
    return NULL;
}

static void *cs_canceller(void *arg)
{
    weft_task *reader = arg;
    uint64_t rng = 0x777;

    while (!weft_task_is_done(reader)) {
        CHECK(weft_sleep((int64_t)(test_rand(&rng) % 3)) == 0);
        (void)weft_cancel(reader);
    }
    return NULL;
}

static void *cs_main(void *arg)
{
    struct cs cs = { 0 };
    weft_task *w, *r, *c;

    (void)arg;
    stream_pair(&cs.w, &cs.r, NULL);
    ck_assert_int_eq(weft_spawn(&w, cs_writer, &cs), 0);
    ck_assert_int_eq(weft_spawn(&r, cs_reader, &cs), 0);
    ck_assert_int_eq(weft_spawn(&c, cs_canceller, r), 0);
    ck_assert_int_eq(weft_await(w, NULL), 0);
    /* The reader may end cancelled, if the last cancel lands after its
     * final read: its checks ran either way. */
    (void)weft_await(r, NULL);
    ck_assert_int_eq(weft_await(c, NULL), 0);
    ck_assert_uint_eq(cs.pos, CS_TOTAL);
    ck_assert_int_eq(cs.done, 1);
    ck_assert_uint_gt(cs.reads, 0);
    weft_task_unref(w);
    weft_task_unref(r);
    weft_task_unref(c);
    ck_assert_int_eq(weft_stream_close(cs.w, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_close(cs.r, WEFT_FOREVER), 0);
    return NULL;
}

START_TEST(test_cancel_safety_random)
{
    ck_assert_int_eq(run_on(2, cs_main, NULL), 0);
}
END_TEST

/* --- writing: backpressure, background sending, drain ------------------- */

static void *backpressure_main(void *arg)
{
    weft_stream *a, *b;
    weft_stream_opts opts = { .write_high = 65536 };
    static char chunk[16384];
    uint64_t accepted = 0;
    int rc;

    (void)arg;
    stream_pair(&a, &b, &opts);
    /* b never reads: the kernel's buffers fill, then the stream's past
     * the high-water mark, then a write waits for room, and times out
     * having queued nothing. */
    for (int i = 0; i < 100000; i++) {
        rc = weft_stream_write(a, chunk, sizeof chunk, 20);
        if (rc == -ETIMEDOUT)
            break;
        ck_assert_int_eq(rc, 0);
        accepted += sizeof chunk;
    }
    ck_assert_int_eq(rc, -ETIMEDOUT);
    /* Bounded: the mark plus one write. */
    ck_assert_uint_le(weft_stream_unsent(a), 65536 + sizeof chunk);
    ck_assert_uint_gt(weft_stream_unsent(a), 65536);
    /* Every byte accepted arrives. */
    uint64_t got = 0;
    static char buf[65536];
    while (got < accepted) {
        ssize_t n = weft_stream_read(b, buf, sizeof buf, WEFT_FOREVER);
        ck_assert_int_gt(n, 0);
        got += (uint64_t)n;
    }
    ck_assert_uint_eq(got, accepted);
    ck_assert_int_eq(weft_stream_drain(a, WEFT_FOREVER), 0);
    ck_assert_uint_eq(weft_stream_unsent(a), 0);
    ck_assert_int_eq(weft_stream_close(a, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_close(b, WEFT_FOREVER), 0);
    return NULL;
}

START_TEST(test_backpressure)
{
    ck_assert_int_eq(run_on(2, backpressure_main, NULL), 0);
}
END_TEST

#define BG_BYTES (16u << 20)

static void *bg_reader(void *arg)
{
    static unsigned char buf[65536];
    uint64_t got = 0;
    ssize_t n;

    while ((n = weft_stream_read(arg, buf, sizeof buf, WEFT_FOREVER)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            CHECK(buf[i] == seq_byte(3, got + (uint64_t)i));
        got += (uint64_t)n;
        if (got == BG_BYTES)
            break;
    }
    return (void *)(uintptr_t)got;
}

static void *background_main(void *arg)
{
    weft_stream *a, *b;
    weft_stream_opts opts = { .write_high = 64u << 20 };
    unsigned char *data = malloc(BG_BYTES);
    weft_task *r;
    void *got;

    (void)arg;
    ck_assert_ptr_nonnull(data);
    for (size_t i = 0; i < BG_BYTES; i++)
        data[i] = seq_byte(3, i);
    stream_pair(&a, &b, &opts);
    /* More than the kernel holds, less than the high-water mark: queued,
     * and the write returns at once. */
    ck_assert_int_eq(weft_stream_write(a, data, BG_BYTES, WEFT_FOREVER), 0);
    ck_assert_uint_gt(weft_stream_unsent(a), 0);
    free(data);
    /* Nobody drains: the home worker's reactor sends the rest. */
    ck_assert_int_eq(weft_spawn(&r, bg_reader, b), 0);
    ck_assert_int_eq(weft_await(r, &got), 0);
    ck_assert_uint_eq((uintptr_t)got, BG_BYTES);
    weft_task_unref(r);
    ck_assert_uint_eq(weft_stream_unsent(a), 0);
    ck_assert_int_eq(weft_stream_close(a, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_close(b, WEFT_FOREVER), 0);
    return NULL;
}

START_TEST(test_background_send)
{
    ck_assert_int_eq(run_on(2, background_main, NULL), 0);
}
END_TEST

/* Queued bytes go out while the home worker never parks and no task of
 * it waits on I/O or a timer: the worker polls for write edges while a
 * stream has output queued. A plain thread reads the other end, and
 * another asks the stream how much is unsent all along (that lock-free
 * look must not swallow a write edge). */
#define BUSY_BYTES (4u << 20)

struct busy {
    int fd;               /* the plain threads' end */
    weft_stream *st;
    uint64_t got;         /* atomic */
    int stop;             /* atomic */
};

static void *busy_reader(void *arg)
{
    struct busy *b = arg;
    static unsigned char buf[65536];

    while (READ(b->got) < BUSY_BYTES) {
        ssize_t n = read(b->fd, buf, sizeof buf);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != seq_byte(5, READ(b->got) + (uint64_t)i))
                return (void *)1;
        __atomic_fetch_add(&b->got, (uint64_t)n, __ATOMIC_RELEASE);
    }
    return NULL;
}

static void *busy_monitor(void *arg)
{
    struct busy *b = arg;
    size_t sum = 0;

    while (!READ(b->stop))
        sum += weft_stream_unsent(b->st);
    return (void *)(uintptr_t)(sum & 1);
}

static void *busy_main(void *arg)
{
    struct busy *b = arg;
    weft_socket *s;
    weft_stream_opts opts = { .write_high = 64u << 20 };
    unsigned char *data = malloc(BUSY_BYTES);
    struct test_thread reader, monitor;

    ck_assert_ptr_nonnull(data);
    for (size_t i = 0; i < BUSY_BYTES; i++)
        data[i] = seq_byte(5, i);
    int fds[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    b->fd = fds[1];
    ck_assert_int_eq(weft_socket_adopt(&s, fds[0]), 0);
    ck_assert_int_eq(weft_stream_open(&b->st, s, &opts), 0);
    test_thread_start(&monitor, busy_monitor, b);
    test_thread_start(&reader, busy_reader, b);
    ck_assert_int_eq(weft_stream_write(b->st, data, BUSY_BYTES, WEFT_FOREVER), 0);
    free(data);
    /* Busy: yields only, never waits. */
    while (READ(b->got) < BUSY_BYTES)
        ck_assert_int_eq(weft_yield(), 0);
    SET(b->stop, 1);
    test_thread_join(&reader);
    test_thread_join(&monitor);
    ck_assert_uint_eq(weft_stream_unsent(b->st), 0);
    ck_assert_int_eq(weft_stream_close(b->st, WEFT_FOREVER), 0);
    close(fds[1]);
    return NULL;
}

START_TEST(test_background_send_busy_home)
{
    struct busy b = { 0 };
    ck_assert_int_eq(run_on(1, busy_main, &b), 0);
    ck_assert_int_eq(run_on(2, busy_main, &(struct busy){ 0 }), 0);
}
END_TEST

/* --- half-close, resets, closing under a waiter ------------------------- */

static void *half_server(void *arg)
{
    weft_stream *st = arg;
    void *req;
    size_t len;

    /* Reads the request to its end, then answers. */
    CHECK(weft_stream_read_all(st, &req, &len, 1024, WEFT_FOREVER) == 0);
    CHECK(len == 5 && memcmp(req, "ping!", 5) == 0);
    weft_free(req);
    CHECK(weft_stream_write(st, "pong!", 5, WEFT_FOREVER) == 0);
    CHECK(weft_stream_write_eof(st, WEFT_FOREVER) == 0);
    /* Writing after write_eof is refused. */
    CHECK(weft_stream_write(st, "x", 1, WEFT_FOREVER) == -ESHUTDOWN);
    return NULL;
}

static void *half_main(void *arg)
{
    weft_stream *a, *b;
    weft_task *t;
    void *resp;
    size_t len;

    (void)arg;
    stream_pair(&a, &b, NULL);
    ck_assert_int_eq(weft_spawn(&t, half_server, b), 0);
    ck_assert_int_eq(weft_stream_write(a, "ping!", 5, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_write_eof(a, WEFT_FOREVER), 0);
    /* Our write side is shut; reading goes on. */
    ck_assert_int_eq(weft_stream_read_all(a, &resp, &len, 1024, WEFT_FOREVER), 0);
    ck_assert_uint_eq(len, 5);
    ck_assert(memcmp(resp, "pong!", 5) == 0);
    weft_free(resp);
    ck_assert_int_eq(weft_await(t, NULL), 0);
    weft_task_unref(t);
    ck_assert_int_eq(weft_stream_close(a, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_close(b, WEFT_FOREVER), 0);
    return NULL;
}

START_TEST(test_half_close)
{
    ck_assert_int_eq(run_on(2, half_main, NULL), 0);
}
END_TEST

static void *resetter(void *arg)
{
    static char buf[4096];

    /* Takes a little, then resets the connection. */
    CHECK(weft_stream_read(arg, buf, sizeof buf, WEFT_FOREVER) > 0);
    CHECK(weft_stream_abort(arg) == 0);
    return NULL;
}

static void *reset_main(void *arg)
{
    weft_stream *a, *b;
    weft_task *t;
    static char chunk[65536];
    int rc = 0;

    (void)arg;
    stream_pair(&a, &b, NULL);
    ck_assert_int_eq(weft_spawn(&t, resetter, b), 0);
    for (int i = 0; i < 100000 && rc == 0; i++)
        rc = weft_stream_write(a, chunk, sizeof chunk, WEFT_FOREVER);
    ck_assert_msg(rc == -ECONNRESET || rc == -EPIPE, "write gave %d", rc);
    /* The error stays. */
    ck_assert_int_eq(weft_stream_write(a, chunk, 1, WEFT_FOREVER), rc);
    char buf[16];
    ssize_t n = weft_stream_read(a, buf, sizeof buf, WEFT_FOREVER);
    ck_assert_msg(n == -ECONNRESET || n == 0, "read gave %zd", n);
    ck_assert_int_eq(weft_await(t, NULL), 0);
    weft_task_unref(t);
    ck_assert_int_eq(weft_stream_close(a, WEFT_FOREVER), rc);
    return NULL;
}

START_TEST(test_reset_mid_write)
{
    ck_assert_int_eq(run_on(2, reset_main, NULL), 0);
}
END_TEST

static void *plain_reader(void *arg)
{
    char buf[16];
    return (void *)(intptr_t)weft_stream_read(arg, buf, sizeof buf,
                                              WEFT_FOREVER);
}

static void *close_waiter_main(void *arg)
{
    weft_stream *a, *b;
    weft_task *t1, *t2;
    void *res;

    (void)arg;
    stream_pair(&a, &b, NULL);
    ck_assert_int_eq(weft_spawn(&t1, plain_reader, b), 0);
    wait_until_waiting(t1, "fd");
    /* One reader at a time. */
    ck_assert_int_eq(weft_spawn(&t2, plain_reader, b), 0);
    ck_assert_int_eq(weft_await(t2, &res), 0);
    ck_assert_int_eq((intptr_t)res, -EBUSY);
    weft_task_unref(t2);
    /* Closing ends the wait with -EBADF, then frees. */
    ck_assert_int_eq(weft_stream_close(b, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_await(t1, &res), 0);
    ck_assert_int_eq((intptr_t)res, -EBADF);
    weft_task_unref(t1);
    ck_assert_int_eq(weft_stream_close(a, WEFT_FOREVER), 0);
    return NULL;
}

START_TEST(test_close_under_a_reader)
{
    ck_assert_int_eq(run_on(2, close_waiter_main, NULL), 0);
}
END_TEST

/* --- pipes ---------------------------------------------------------------- */

static void *pipe_main(void *arg)
{
    int fds[2];
    weft_stream *r, *w;
    char buf[8];

    (void)arg;
    ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
    ck_assert_int_eq(weft_stream_open_fd(&r, fds[0], NULL), 0);
    ck_assert_int_eq(weft_stream_open_fd(&w, fds[1], NULL), 0);
    ck_assert_ptr_null(weft_stream_socket(r));
    ck_assert_int_eq(weft_stream_write(w, "pipe\n", 5, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_read_line(r, buf, sizeof buf, WEFT_FOREVER), 5);
    ck_assert_int_eq(weft_stream_close(r, WEFT_FOREVER), 0);
    /* The reader is gone: -EPIPE, and no SIGPIPE kills us. */
    ck_assert_int_eq(weft_stream_write(w, "x", 1, WEFT_FOREVER), -EPIPE);
    ck_assert_int_eq(weft_stream_close(w, WEFT_FOREVER), -EPIPE);
    /* write_eof closes a pipe's write end: the reader sees the end. */
    ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
    ck_assert_int_eq(weft_stream_open_fd(&r, fds[0], NULL), 0);
    ck_assert_int_eq(weft_stream_open_fd(&w, fds[1], NULL), 0);
    ck_assert_int_eq(weft_stream_write(w, "last", 4, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_write_eof(w, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_read_line(r, buf, sizeof buf, WEFT_FOREVER), 4);
    ck_assert_int_eq(weft_stream_read(r, buf, sizeof buf, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_write(w, "x", 1, WEFT_FOREVER), -ESHUTDOWN);
    ck_assert_int_eq(weft_stream_close(w, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_close(r, WEFT_FOREVER), 0);
    return NULL;
}

START_TEST(test_pipe_stream)
{
    ck_assert_int_eq(run_on(2, pipe_main, NULL), 0);
    /* weft_run gave SIGPIPE's default back. */
    struct sigaction sa;
    ck_assert_int_eq(sigaction(SIGPIPE, NULL, &sa), 0);
    ck_assert_ptr_eq((void *)sa.sa_handler, (void *)SIG_DFL);
}
END_TEST

/* --- bad arguments -------------------------------------------------------- */

static void *bad_args_main(void *arg)
{
    weft_stream *a, *b, *c;
    char buf[4];
    size_t got;

    (void)arg;
    stream_pair(&a, &b, NULL);
    ck_assert_int_eq(weft_stream_close(b, 0), 0);
    ck_assert_int_eq(weft_stream_read(NULL, buf, 1, 0), -EINVAL);
    ck_assert_int_eq(weft_stream_read(a, buf, 0, 0), -EINVAL);
    ck_assert_int_eq(weft_stream_read(a, NULL, 1, 0), -EINVAL);
    ck_assert_int_eq(weft_stream_read(a, buf, 1, -2), -EINVAL);
    ck_assert_int_eq(weft_stream_read_exactly(a, NULL, 1, &got, 0), -EINVAL);
    ck_assert_int_eq(weft_stream_read_until(a, NULL, 1, buf, 4, 0), -EINVAL);
    ck_assert_int_eq(weft_stream_read_until(a, "\n", 0, buf, 4, 0), -EINVAL);
    ck_assert_int_eq(weft_stream_read_line(a, NULL, 4, 0), -EINVAL);
    ck_assert_int_eq(weft_stream_read_all(a, NULL, &got, 4, 0), -EINVAL);
    ck_assert_int_eq(weft_stream_write(a, NULL, 1, 0), -EINVAL);
    ck_assert_int_eq(weft_stream_write(NULL, buf, 1, 0), -EINVAL);
    ck_assert_int_eq(weft_stream_drain(a, -5), -EINVAL);
    ck_assert_int_eq(weft_stream_write_eof(NULL, 0), -EINVAL);
    ck_assert_int_eq(weft_stream_close(NULL, 0), -EINVAL);
    ck_assert_int_eq(weft_stream_abort(NULL), -EINVAL);
    ck_assert_int_eq(weft_stream_is_at_eof(NULL), -EINVAL);
    ck_assert_uint_eq(weft_stream_buffered(NULL), 0);
    ck_assert_uint_eq(weft_stream_unsent(NULL), 0);
    ck_assert_ptr_null(weft_stream_socket(NULL));
    /* A stream's socket is closed by the stream. */
    ck_assert_int_eq(weft_socket_close(weft_stream_socket(a)), -EINVAL);
    ck_assert_int_eq(weft_stream_open(NULL, NULL, NULL), -EINVAL);
    ck_assert_int_eq(weft_stream_open_fd(&c, -1, NULL), -EINVAL);
    /* The descriptor is the stream's even when that fails: closed. */
    int fds[2];
    ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
    ck_assert_int_eq(weft_stream_open_fd(NULL, fds[0], NULL), -EINVAL);
    weft_stream_opts bad = { .reserved = { &bad } };
    ck_assert_int_eq(weft_stream_open_fd(&c, fds[1], &bad), -EINVAL);
    ck_assert_int_eq(fcntl(fds[0], F_GETFD), -1);
    ck_assert_int_eq(fcntl(fds[1], F_GETFD), -1);
    /* A datagram socket makes no stream (and is closed). */
    weft_socket *u;
    ck_assert_int_eq(weft_socket_open(&u, AF_INET, SOCK_DGRAM, 0), 0);
    ck_assert_int_eq(weft_stream_open(&c, u, NULL), -EINVAL);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(weft_stream_close(a, 0), 0);
    return NULL;
}

START_TEST(test_bad_args)
{
    weft_stream *st = NULL;
    char buf[4];
    int fds[2];

    ck_assert_int_eq(run_on(2, bad_args_main, NULL), 0);
    /* Outside a task (the descriptor is closed all the same). */
    ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
    ck_assert_int_eq(weft_stream_open_fd(&st, fds[0], NULL), -EPERM);
    ck_assert_int_eq(fcntl(fds[0], F_GETFD), -1);
    close(fds[1]);
    ck_assert_int_eq(weft_stream_read(st, buf, 1, 0), -EINVAL);
}
END_TEST

/* --- a gigabyte through one connection ----------------------------------- */

#ifdef SANITIZED
#define BIG_BYTES (128ull << 20)
#else
#define BIG_BYTES (1ull << 30)
#endif

/* FNV-1a over what passes, on both sides. */
static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static void *big_writer(void *arg)
{
    static unsigned char chunk[65536];
    uint64_t h = 0xcbf29ce484222325ull;

    for (uint64_t sent = 0; sent < BIG_BYTES; sent += sizeof chunk) {
        for (size_t i = 0; i < sizeof chunk; i += 8)
            memcpy(chunk + i, &sent, 8); /* varies with the position */
        chunk[0] ^= (unsigned char)(sent >> 16);
        h = fnv(h, chunk, sizeof chunk);
        CHECK(weft_stream_write(arg, chunk, sizeof chunk, WEFT_FOREVER) == 0);
    }
    CHECK(weft_stream_write_eof(arg, WEFT_FOREVER) == 0);
    return (void *)(uintptr_t)h;
}

static void *big_reader(void *arg)
{
    static unsigned char buf[65536];
    uint64_t h = 0xcbf29ce484222325ull, got = 0;
    ssize_t n;

    while ((n = weft_stream_read(arg, buf, sizeof buf, WEFT_FOREVER)) > 0) {
        h = fnv(h, buf, (size_t)n);
        got += (uint64_t)n;
    }
    CHECK(n == 0 && got == BIG_BYTES);
    return (void *)(uintptr_t)h;
}

static void *big_main(void *arg)
{
    weft_stream *a, *b;
    weft_task *w, *r;
    void *hw, *hr;

    (void)arg;
    stream_pair(&a, &b, NULL);
    ck_assert_int_eq(weft_spawn(&w, big_writer, a), 0);
    ck_assert_int_eq(weft_spawn(&r, big_reader, b), 0);
    ck_assert_int_eq(weft_await(w, &hw), 0);
    ck_assert_int_eq(weft_await(r, &hr), 0);
    ck_assert_ptr_eq(hw, hr);
    weft_task_unref(w);
    weft_task_unref(r);
    ck_assert_int_eq(weft_stream_close(a, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_close(b, WEFT_FOREVER), 0);
    return NULL;
}

START_TEST(test_gigabyte)
{
    ck_assert_int_eq(run_on(2, big_main, NULL), 0);
}
END_TEST

/* --- 10,000 connections at once ------------------------------------------ */

#ifdef SANITIZED
#define MANY 1000
#else
#define MANY 10000
#endif
#define MANY_PER_TASK 50

static int many_listen_fd;
static struct sockaddr_in many_addr;
static int many_served;

static void *many_handler(void *arg)
{
    char buf[8];
    size_t got;

    CHECK(weft_stream_read_exactly(arg, buf, sizeof buf, &got,
                                   WEFT_FOREVER) == 0);
    CHECK(weft_stream_write(arg, buf, sizeof buf, WEFT_FOREVER) == 0);
    /* Held open until the client closes. */
    CHECK(weft_stream_read(arg, buf, 1, WEFT_FOREVER) == 0);
    CHECK(weft_stream_close(arg, WEFT_FOREVER) == 0);
    COUNT(many_served);
    return NULL;
}

static weft_task *many_handlers[MANY];

static void *many_server(void *arg)
{
    weft_socket *l;

    (void)arg;
    /* A copy: the original outlives the runtime's leak check. */
    ck_assert_int_eq(weft_socket_adopt(&l, fcntl(many_listen_fd,
                                                 F_DUPFD_CLOEXEC, 0)), 0);
    for (int i = 0; i < MANY; i++) {
        weft_socket *c;
        weft_stream *st;
        weft_task *t;
        ck_assert_int_eq(weft_socket_accept(l, &c, NULL, NULL, WEFT_FOREVER), 0);
        ck_assert_int_eq(weft_stream_open(&st, c, NULL), 0);
        ck_assert_int_eq(weft_spawn(&t, many_handler, st), 0);
        many_handlers[i] = t;
    }
    ck_assert_int_eq(weft_socket_close(l), 0);
    for (int i = 0; i < MANY; i++) {
        ck_assert_int_eq(weft_await(many_handlers[i], NULL), 0);
        weft_task_unref(many_handlers[i]);
    }
    return NULL;
}

/* In the child: MANY connections, MANY_PER_TASK to a task; each task
 * opens all of its own, exchanges a message on each, and closes them
 * only when every task has opened all of its (a count). */
static int many_open;

static void *many_client(void *arg)
{
    weft_stream *st[MANY_PER_TASK];
    char buf[8];
    size_t got;

    (void)arg;
    for (int i = 0; i < MANY_PER_TASK; i++) {
        weft_socket *s;
        if (weft_socket_open(&s, AF_INET, SOCK_STREAM, 0) != 0 ||
            weft_socket_connect(s, (struct sockaddr *)&many_addr,
                                sizeof many_addr, WEFT_FOREVER) != 0 ||
            weft_stream_open(&st[i], s, NULL) != 0)
            return (void *)1;
        memcpy(buf, &i, sizeof i);
        memset(buf + sizeof i, 'm', sizeof buf - sizeof i);
        if (weft_stream_write(st[i], buf, sizeof buf, WEFT_FOREVER) != 0)
            return (void *)2;
    }
    for (int i = 0; i < MANY_PER_TASK; i++) {
        if (weft_stream_read_exactly(st[i], buf, sizeof buf, &got,
                                     WEFT_FOREVER) != 0 ||
            memcmp(buf, &i, sizeof i) != 0)
            return (void *)3;
    }
    COUNT(many_open);
    while (READ(many_open) < MANY / MANY_PER_TASK)
        if (weft_sleep(1) != 0)
            return (void *)4;
    for (int i = 0; i < MANY_PER_TASK; i++)
        if (weft_stream_close(st[i], WEFT_FOREVER) != 0)
            return (void *)5;
    return NULL;
}

static void *many_client_main(void *arg)
{
    weft_task *t[MANY / MANY_PER_TASK];
    intptr_t bad = 0;

    (void)arg;
    for (int i = 0; i < MANY / MANY_PER_TASK; i++)
        if (weft_spawn(&t[i], many_client, NULL) != 0)
            return (void *)10;
    for (int i = 0; i < MANY / MANY_PER_TASK; i++) {
        void *res;
        if (weft_await(t[i], &res) != 0 || res != NULL)
            bad = (intptr_t)res + 100;
        weft_task_unref(t[i]);
    }
    return (void *)bad;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    ck_assert_msg(rl.rlim_max >= MANY + 200,
                  "RLIMIT_NOFILE's hard limit %lu is under %d",
                  (unsigned long)rl.rlim_max, MANY + 200);
    rl.rlim_cur = rl.rlim_max;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

START_TEST(test_ten_thousand_connections)
{
    socklen_t len = sizeof many_addr;

    raise_nofile();
    many_listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(many_listen_fd, 0);
    memset(&many_addr, 0, sizeof many_addr);
    many_addr.sin_family = AF_INET;
    many_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(many_listen_fd, (struct sockaddr *)&many_addr, len), 0);
    ck_assert_int_eq(listen(many_listen_fd, 4096), 0);
    ck_assert_int_eq(getsockname(many_listen_fd, (struct sockaddr *)&many_addr,
                                 &len), 0);
    /* The clients in a child process: one process has too few
     * descriptors for both ends of 10,000 connections. */
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(many_listen_fd);
        void *res = (void *)99;
        int rc = weft_run(many_client_main, NULL, &res, NULL);
        _exit(rc == 0 && res == NULL ? 0 : 1);
    }
    many_served = 0;
    ck_assert_int_eq(run_on(2, many_server, NULL), 0);
    close(many_listen_fd);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_int_eq(many_served, MANY);
}
END_TEST

static Suite *stream_suite(void)
{
    Suite *s = suite_create("stream");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_echo_across_workers);
    tcase_add_test(tc, test_lines_and_separators);
    tcase_add_test(tc, test_limits_keep_data);
    tcase_add_test(tc, test_read_exactly_at_end);
    tcase_add_test(tc, test_read_all);
    tcase_add_test(tc, test_timeouts_keep_data);
    tcase_add_test(tc, test_cancelled_read_keeps_data);
    tcase_add_test(tc, test_cancel_safety_random);
    tcase_add_test(tc, test_backpressure);
    tcase_add_test(tc, test_background_send);
    tcase_add_test(tc, test_background_send_busy_home);
    tcase_add_test(tc, test_half_close);
    tcase_add_test(tc, test_reset_mid_write);
    tcase_add_test(tc, test_close_under_a_reader);
    tcase_add_test(tc, test_pipe_stream);
    tcase_add_test(tc, test_bad_args);
    tcase_add_test(tc, test_gigabyte);
    tcase_add_test(tc, test_ten_thousand_connections);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(stream_suite)
