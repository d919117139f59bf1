/* A seeded random driver for the stream's line and separator readers.
 *
 * Each round makes an input over a small alphabet (so separators are
 * frequent, split across chunks and overlapping), writes it through a
 * socket pair in random chunks with random yields, and reads it back with
 * a random mix of read_line, read_until, read and read_exactly, under
 * random limits and buffer sizes. A reference model computed from the
 * input checks every result: where the separator is, what -EMSGSIZE and
 * -ENODATA mean, and that the bytes taken, end to end, are the input.
 *
 * Usage: fuzz_readers [seconds [seed]]; WEFT_FUZZ_SECONDS sets the
 * seconds too (default 3). Exits non-zero with the seed and round of the
 * first failure, so it can be replayed. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <weft.h>

#define MAX_INPUT 4096

static uint64_t rng;
static long round_no;
static const char *failure;

static uint64_t next_of(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* The reader's (and the round's) choices. */
static uint64_t next(void)
{
    return next_of(&rng);
}

#define FAIL_IF(cond)                                                         \
    do {                                                                      \
        if (cond) {                                                           \
            failure = #cond;                                                  \
            return -1;                                                        \
        }                                                                     \
    } while (0)

struct round {
    uint64_t wrng;          /* the writer's choices, seeded per round */
    char input[MAX_INPUT];
    size_t len;
    weft_stream *w, *r;
};

static void *writer(void *arg)
{
    struct round *rd = arg;
    size_t off = 0;

    while (off < rd->len) {
        size_t n = 1 + next_of(&rd->wrng) % 64;
        if (n > rd->len - off)
            n = rd->len - off;
        if (weft_stream_write(rd->w, rd->input + off, n, WEFT_FOREVER) != 0)
            return (void *)1;
        off += n;
        if (next_of(&rd->wrng) % 3 == 0 && weft_yield() != 0)
            return (void *)2;
    }
    return weft_stream_write_eof(rd->w, WEFT_FOREVER) == 0 ? NULL : (void *)3;
}

/* Where sep first starts in in[from, len), or -1. */
static long find(const char *in, size_t len, size_t from, const char *sep,
                 size_t seplen)
{
    for (size_t i = from; i + seplen <= len; i++)
        if (memcmp(in + i, sep, seplen) == 0)
            return (long)i;
    return -1;
}

/* Reads the whole input back, checking each result against the model.
 * pos: bytes taken so far. */
static int read_back(struct round *rd, size_t limit)
{
    static const char *seps[] = { "\n", "\r\n", "ab", "aba", "\n\n" };
    char buf[MAX_INPUT + 8];
    size_t pos = 0;

    for (int guard = 0; guard < 100000; guard++) {
        size_t cap = 1 + next() % (MAX_INPUT / 4);
        int op = (int)(next() % 4);
        if (op <= 1) {
            const char *sep = op == 0 ? "\n" : seps[next() % 5];
            size_t seplen = strlen(sep);
            long at = find(rd->input, rd->len, pos, sep, seplen);
            ssize_t n = op == 0
                            ? weft_stream_read_line(rd->r, buf, cap, WEFT_FOREVER)
                            : weft_stream_read_until(rd->r, sep, seplen, buf,
                                                     cap, WEFT_FOREVER);
            if (at >= 0 && (size_t)at - pos <= limit) {
                size_t want = (size_t)at + seplen - pos;
                if (want > cap) {
                    FAIL_IF(n != -EMSGSIZE);
                    continue;
                }
                FAIL_IF(n != (ssize_t)want);
                FAIL_IF(memcmp(buf, rd->input + pos, want) != 0);
                pos += want;
            } else if (at >= 0 || rd->len - pos > limit + seplen - 1) {
                /* The separator, if any, starts past the limit. */
                FAIL_IF(n != -EMSGSIZE);
            } else if (op == 0) {
                /* read_line at the end: the rest, then 0. */
                size_t rest = rd->len - pos;
                if (rest > cap) {
                    FAIL_IF(n != -EMSGSIZE);
                    continue;
                }
                FAIL_IF(n != (ssize_t)rest);
                FAIL_IF(memcmp(buf, rd->input + pos, rest) != 0);
                pos += rest;
                if (rest == 0)
                    return 0;
            } else {
                FAIL_IF(n != -ENODATA);
            }
        } else if (op == 2) {
            ssize_t n = weft_stream_read(rd->r, buf, cap, WEFT_FOREVER);
            FAIL_IF(n < 0);
            FAIL_IF((size_t)n > cap);
            if (n == 0) {
                FAIL_IF(pos != rd->len);
                return 0;
            }
            FAIL_IF(memcmp(buf, rd->input + pos, (size_t)n) != 0);
            pos += (size_t)n;
        } else {
            size_t got;
            int rc = weft_stream_read_exactly(rd->r, buf, cap, &got, WEFT_FOREVER);
            if (rd->len - pos >= cap) {
                FAIL_IF(rc != 0 || got != cap);
            } else {
                FAIL_IF(rc != -ENODATA || got != rd->len - pos);
            }
            FAIL_IF(memcmp(buf, rd->input + pos, got) != 0);
            pos += got;
        }
        FAIL_IF(pos > rd->len);
    }
    failure = "too many reads";
    return -1;
}

static void *fuzz_main(void *arg)
{
    int64_t seconds = *(int64_t *)arg;
    int64_t end = weft_now() + seconds * 1000;
    static const char alphabet[] = "ab\n\r\nxab";

    for (round_no = 0; weft_now() < end; round_no++) {
        struct round rd;
        weft_socket *a, *b;
        weft_stream_opts opts = { .limit = 1 + next() % 600 };
        weft_task *t;
        void *res;

        rd.wrng = next() | 1;
        rd.len = next() % MAX_INPUT;
        for (size_t i = 0; i < rd.len; i++)
            rd.input[i] = alphabet[next() % (sizeof alphabet - 1)];
        if (weft_socket_pair(&a, &b, SOCK_STREAM) != 0 ||
            weft_stream_open(&rd.w, a, &opts) != 0 ||
            weft_stream_open(&rd.r, b, &opts) != 0 ||
            weft_spawn(&t, writer, &rd) != 0)
            return weft_fail(-EIO, "setting up round %ld", round_no);
        int rc = read_back(&rd, opts.limit);
        if (weft_await(t, &res) != 0 || res != NULL)
            return weft_fail(-EIO, "the writer of round %ld failed", round_no);
        weft_task_unref(t);
        weft_stream_close(rd.w, WEFT_FOREVER);
        weft_stream_close(rd.r, WEFT_FOREVER);
        if (rc < 0) {
            fprintf(stderr, "fuzz_readers: round %ld: check '%s' failed\n",
                    round_no, failure);
            return weft_fail(-EIO, "round %ld failed", round_no);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *env = getenv("WEFT_FUZZ_SECONDS");
    int64_t seconds = argc > 1 ? atoll(argv[1]) : env != NULL ? atoll(env) : 3;
    uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) : (uint64_t)time(NULL);
    weft_run_opts opts = { .workers = 2 };

    rng = seed | 1;
    int rc = weft_run(fuzz_main, &seconds, NULL, &opts);
    if (rc != 0) {
        fprintf(stderr, "fuzz_readers: FAILED (seed %llu): %s\n",
                (unsigned long long)seed, weft_strerror(rc));
        return 1;
    }
    printf("fuzz_readers: %ld rounds in %lld s, seed %llu: all passed\n",
           round_no, (long long)seconds, (unsigned long long)seed);
    return 0;
}
