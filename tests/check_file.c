/* Streams over regular files: reads and writes on the blocking pool, in
 * order, with the calls and the cancel safety of socket streams; what an
 * interrupted call leaves running; errors, bad input, and many files at
 * once. To make "the pool has not got to it yet" certain rather than
 * likely, some tests run with a one-thread pool that a job of the test
 * holds until it lets go. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static char dir[64];

static void path_of(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", dir, name);
}

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/weft-check-file-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_dir(void)
{
    char path[128];
    const char *fixed[] = { "lines", "big", "poll", "slow", "ro", "wo", "rw" };

    /* Plain calls: the runtime is gone. */
    for (int i = 0; i < 64; i++) {
        snprintf(path, sizeof path, "%s/f%02d", dir, i);
        (void)unlink(path);
    }
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        path_of(path, sizeof path, fixed[i]);
        (void)unlink(path);
    }
    ck_assert_int_eq(rmdir(dir), 0);
}

/* Writes text to path plainly, then opens it as a file stream to read. */
static void open_with(weft_stream **st, const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    ck_assert_int_eq(close(fd), 0);
    ck_assert_int_eq(weft_stream_open_file(st, path, O_RDONLY, 0, NULL,
                                           WEFT_FOREVER), 0);
}

/* fn as weft's main on `workers` workers, in a new directory that is
 * removed after. */
static void run_in_dir(unsigned workers, weft_fn fn)
{
    make_dir();
    ck_assert_int_eq(run_on(workers, fn, NULL), 0);
    remove_dir();
}

static off_t size_of(const char *path)
{
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    return st.st_size;
}

/* --- round trip --------------------------------------------------------- */

#define LINES 500

static void *roundtrip_main(void *arg)
{
    char path[128], line[64], want[64];
    weft_stream *st;
    size_t nread;

    (void)arg;
    path_of(path, sizeof path, "lines");
    ck_assert_int_eq(weft_stream_open_file(&st, path,
                                           O_WRONLY | O_CREAT | O_TRUNC, 0600,
                                           NULL, WEFT_FOREVER), 0);
    ck_assert_ptr_null(weft_stream_socket(st));
    for (int i = 0; i < LINES; i++) {
        int len = snprintf(line, sizeof line, "line %d\n", i);
        ck_assert_int_eq(weft_stream_write(st, line, (size_t)len, 5000), 0);
    }
    ck_assert_int_eq(weft_stream_drain(st, WEFT_FOREVER), 0);
    ck_assert_uint_eq(weft_stream_unsent(st), 0);
    /* Written by the pool, not buffered: visible before the close. */
    struct stat sb;
    ck_assert_int_eq(weft_fs_stat(path, &sb, WEFT_FOREVER), 0);
    ck_assert_int_gt(sb.st_size, LINES * 7);
    ck_assert_int_eq(weft_stream_write(st, "tail", 4, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_close(st, WEFT_FOREVER), 0);

    ck_assert_int_eq(weft_stream_open_file(&st, path, O_RDONLY, 0, NULL,
                                           WEFT_FOREVER), 0);
    for (int i = 0; i < LINES; i++) {
        int len = snprintf(want, sizeof want, "line %d\n", i);
        ck_assert_int_eq(weft_stream_read_line(st, line, sizeof line,
                                               WEFT_FOREVER), len);
        ck_assert(memcmp(line, want, (size_t)len) == 0);
    }
    ck_assert_int_eq(weft_stream_is_at_eof(st), 0);
    /* The end without a newline: what is left, then 0. */
    ck_assert_int_eq(weft_stream_read_line(st, line, sizeof line, 1000), 4);
    ck_assert(memcmp(line, "tail", 4) == 0);
    ck_assert_int_eq(weft_stream_read_line(st, line, sizeof line, 1000), 0);
    ck_assert_int_eq(weft_stream_is_at_eof(st), 1);
    ck_assert_int_eq(weft_stream_read_exactly(st, line, 1, &nread, 1000),
                     -ENODATA);
    ck_assert_uint_eq(nread, 0);
    ck_assert_int_eq(weft_stream_close(st, WEFT_FOREVER), 0);

    /* read_exactly and read_all over the same file. */
    ck_assert_int_eq(weft_stream_open_file(&st, path, O_RDONLY, 0, NULL,
                                           WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_read_exactly(st, line, 7, &nread,
                                              WEFT_FOREVER), 0);
    ck_assert_uint_eq(nread, 7);
    ck_assert(memcmp(line, "line 0\n", 7) == 0);
    void *all;
    size_t len;
    ck_assert_int_eq(weft_stream_read_all(st, &all, &len, 1 << 20,
                                          WEFT_FOREVER), 0);
    ck_assert_uint_eq(len + 7, (size_t)size_of(path));
    ck_assert(memcmp(all, "line 1\n", 7) == 0);
    ck_assert(memcmp((char *)all + len - 4, "tail", 4) == 0);
    weft_free(all);
    ck_assert_int_eq(weft_stream_close(st, WEFT_FOREVER), 0);

    /* O_APPEND through weft_stream_open_fd, and read_until. */
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(weft_stream_open_fd(&st, fd, NULL), 0);
    ck_assert_int_eq(weft_stream_write(st, "|end|", 5, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_write_eof(st, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_write(st, "x", 1, WEFT_FOREVER), -ESHUTDOWN);
    ck_assert_int_eq(weft_stream_close(st, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_open_file(&st, path, O_RDONLY, 0, NULL,
                                           WEFT_FOREVER), 0);
    char *buf = malloc(1 << 16);
    ssize_t got = weft_stream_read_until(st, "|end|", 5, buf, 1 << 16,
                                         WEFT_FOREVER);
    ck_assert_int_eq(got, size_of(path));
    ck_assert(memcmp(buf + got - 9, "tail|end|", 9) == 0);
    free(buf);
    ck_assert_int_eq(weft_stream_close(st, WEFT_FOREVER), 0);
    return NULL;
}

START_TEST(test_roundtrip)
{
    run_in_dir(2, roundtrip_main);
}
END_TEST

/* --- 16 MiB in odd pieces --------------------------------------------------- */

#define BIG ((size_t)16 << 20)

static unsigned char pattern(size_t i)
{
    return (unsigned char)((i * 2654435761u) >> 13);
}

static void *big_main(void *arg)
{
    char path[128];
    weft_stream *st;
    unsigned char *buf = malloc(1 << 20);

    (void)arg;
    ck_assert_ptr_nonnull(buf);
    path_of(path, sizeof path, "big");
    ck_assert_int_eq(weft_stream_open_file(&st, path,
                                           O_WRONLY | O_CREAT | O_TRUNC, 0600,
                                           NULL, WEFT_FOREVER), 0);
    size_t off = 0, piece = 1;
    while (off < BIG) {
        size_t n = piece < BIG - off ? piece : BIG - off;
        for (size_t i = 0; i < n; i++)
            buf[i] = pattern(off + i);
        ck_assert_int_eq(weft_stream_write(st, buf, n, WEFT_FOREVER), 0);
        /* What is queued stays near the high-water mark: under it plus
         * this write, and what the pool is writing (as much, at most). */
        CHECK(weft_stream_unsent(st) <= 2 * ((64u << 10) + 300007));
        off += n;
        piece = piece * 7 % 300007 + 1;
    }
    ck_assert_int_eq(weft_stream_close(st, WEFT_FOREVER), 0);
    ck_assert_int_eq(size_of(path), (off_t)BIG);

    ck_assert_int_eq(weft_stream_open_file(&st, path, O_RDONLY, 0, NULL,
                                           WEFT_FOREVER), 0);
    off = 0;
    piece = 3;
    while (off < BIG) {
        size_t n = piece < BIG - off ? piece : BIG - off;
        if (piece % 2 == 0) {
            ssize_t got = weft_stream_read(st, buf, n, WEFT_FOREVER);
            ck_assert_int_gt(got, 0);
            n = (size_t)got;
        } else {
            ck_assert_int_eq(weft_stream_read_exactly(st, buf, n, NULL,
                                                      WEFT_FOREVER), 0);
        }
        for (size_t i = 0; i < n; i++)
            if (buf[i] != pattern(off + i))
                ck_abort_msg("byte %zu differs", off + i);
        off += n;
        piece = piece * 13 % (1 << 20) + 1;
    }
    ck_assert_int_eq(weft_stream_read(st, buf, 1, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_close(st, WEFT_FOREVER), 0);
    free(buf);
    return NULL;
}

START_TEST(test_big)
{
    run_in_dir(2, big_main);
}
END_TEST

/* --- reads that give up at once ------------------------------------------------ */

/* Timeout 0: each call takes what a read before it left, or starts one
 * and gives up; together the calls still see every byte, in order. */
static void *poll_main(void *arg)
{
    char path[128], buf[1000];
    weft_stream *st;
    size_t total = 0;

    (void)arg;
    path_of(path, sizeof path, "poll");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    unsigned char *all = malloc(300000);
    ck_assert_ptr_nonnull(all);
    for (size_t i = 0; i < 300000; i++)
        all[i] = pattern(i);
    ck_assert_int_eq(write(fd, all, 300000), 300000);
    free(all);
    close(fd);
    ck_assert_int_eq(weft_stream_open_file(&st, path, O_RDONLY, 0, NULL,
                                           WEFT_FOREVER), 0);
    for (int iter = 0; iter < 1000000; iter++) {
        ssize_t got = weft_stream_read(st, buf, sizeof buf, 0);
        if (got == -ETIMEDOUT) {
            ck_assert_int_eq(weft_sleep(0), 0);
            continue;
        }
        ck_assert_int_ge(got, 0);
        if (got == 0)
            break;
        for (ssize_t i = 0; i < got; i++)
            ck_assert_uint_eq((unsigned char)buf[i], pattern(total + (size_t)i));
        total += (size_t)got;
    }
    ck_assert_uint_eq(total, 300000);
    ck_assert_int_eq(weft_stream_close(st, WEFT_FOREVER), 0);
    return NULL;
}

START_TEST(test_poll)
{
    run_in_dir(2, poll_main);
}
END_TEST

/* --- a pool that is busy ------------------------------------------------------- */

/* A job that holds the only pool thread until a byte comes on a pipe. */
struct holder {
    int pipe[2];
    int started;
    weft_task *task;
};

static void *hold_job(void *arg)
{
    struct holder *h = arg;
    char c;

    SET(h->started, 1);
    ssize_t n;
    do {
        n = read(h->pipe[0], &c, 1);
    } while (n < 0 && errno == EINTR);
    return NULL;
}

static void *holder_task(void *arg)
{
    return (void *)(intptr_t)weft_to_thread(hold_job, arg, NULL);
}

static void hold_pool(struct holder *h)
{
    ck_assert_int_eq(pipe2(h->pipe, O_CLOEXEC), 0);
    h->started = 0;
    ck_assert_int_eq(weft_spawn(&h->task, holder_task, h), 0);
    for (int i = 0; i < 20000 && !READ(h->started); i++)
        ck_assert_int_eq(weft_sleep(1), 0);
    ck_assert(READ(h->started));
}

static void release_pool(struct holder *h)
{
    void *res;
    ck_assert_int_eq(write(h->pipe[1], "x", 1), 1);
    ck_assert_int_eq(weft_await(h->task, &res), 0);
    ck_assert_int_eq((int)(intptr_t)res, 0);
    weft_task_unref(h->task);
    close(h->pipe[0]);
    close(h->pipe[1]);
}

static void *blocked_reader(void *arg)
{
    char buf[16];
    return (void *)(intptr_t)weft_stream_read(arg, buf, sizeof buf,
                                              WEFT_FOREVER);
}

static int run_small_pool(weft_fn fn)
{
    struct leak_check lc;
    weft_run_opts opts = { .workers = 2, .blocking_threads = 1 };

    leak_check_begin(&lc);
    int rc = weft_run(fn, NULL, NULL, &opts);
    leak_check_end(&lc);
    return rc;
}

static void *busy_main(void *arg)
{
    char path[128], buf[16];
    weft_stream *st, *w;
    struct holder h;
    weft_task *t;
    void *res;

    (void)arg;
    path_of(path, sizeof path, "slow");
    open_with(&st, path, "0123456789abcdef");

    /* Reads whose pool call cannot start: a timeout, then a cancelled
     * reader. The call they left is the next read's. */
    hold_pool(&h);
    int64_t t0 = mono_ms();
    ck_assert_int_eq(weft_stream_read(st, buf, 4, 50), -ETIMEDOUT);
    ck_assert_int_ge(mono_ms() - t0, 50);
    ck_assert_int_eq(weft_spawn(&t, blocked_reader, st), 0);
    wait_until_waiting(t, NULL);
    ck_assert_int_eq(weft_cancel(t), 0);
    ck_assert_int_eq(weft_await(t, &res), -ECANCELED);
    weft_task_unref(t);
    ck_assert_uint_eq(weft_stream_buffered(st), 0);
    release_pool(&h);
    ck_assert_int_eq(weft_stream_read_exactly(st, buf, 4, NULL, WEFT_FOREVER), 0);
    ck_assert(memcmp(buf, "0123", 4) == 0);
    ck_assert_int_eq(weft_stream_read(st, buf, sizeof buf, WEFT_FOREVER), 12);
    ck_assert(memcmp(buf, "456789abcdef", 12) == 0);

    /* A close while a reader waits for the pool: the reader gets -EBADF;
     * the read still queued runs later and lets go of the file. */
    ck_assert_int_eq(weft_stream_close(st, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_open_file(&st, path, O_RDONLY, 0, NULL,
                                           WEFT_FOREVER), 0);
    hold_pool(&h);
    ck_assert_int_eq(weft_spawn(&t, blocked_reader, st), 0);
    wait_until_waiting(t, NULL);
    ck_assert_int_eq(weft_stream_close(st, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_await(t, &res), 0);
    ck_assert_int_eq((int)(intptr_t)res, -EBADF);
    weft_task_unref(t);
    release_pool(&h);

    /* Writes: the first is queued; with more than the high-water mark
     * unsent, the next waits for room, times out and queues nothing. */
    weft_stream_opts opts = { .write_high = 8 };
    ck_assert_int_eq(weft_stream_open_file(&w, path,
                                           O_WRONLY | O_CREAT | O_TRUNC, 0600,
                                           &opts, WEFT_FOREVER), 0);
    hold_pool(&h);
    ck_assert_int_eq(weft_stream_write(w, "first-part", 10, 0), 0);
    ck_assert_uint_eq(weft_stream_unsent(w), 10);
    ck_assert_int_eq(weft_stream_write(w, "second", 6, 30), -ETIMEDOUT);
    ck_assert_uint_eq(weft_stream_unsent(w), 10);
    ck_assert_int_eq(weft_stream_drain(w, 30), -ETIMEDOUT);
    release_pool(&h);
    ck_assert_int_eq(weft_stream_drain(w, WEFT_FOREVER), 0);
    ck_assert_int_eq(size_of(path), 10);
    /* A close that cannot drain drops what is queued. */
    hold_pool(&h);
    ck_assert_int_eq(weft_stream_write(w, "dropped", 7, 0), 0);
    ck_assert_int_eq(weft_stream_close(w, 20), -ETIMEDOUT);
    release_pool(&h);
    /* The dropped write's job is behind the holder's: once the pool is
     * idle again, it has run and written nothing. */
    weft_executor_stats s;
    for (int i = 0; i < 20000; i++) {
        ck_assert_int_eq(weft_executor_get_stats(NULL, &s), 0);
        if (s.running == 0 && s.queued == 0)
            break;
        ck_assert_int_eq(weft_sleep(1), 0);
    }
    ck_assert_uint_eq(s.running + s.queued, 0);
    ck_assert_int_eq(size_of(path), 10);
    return NULL;
}

START_TEST(test_busy_pool)
{
    make_dir();
    ck_assert_int_eq(run_small_pool(busy_main), 0);
    remove_dir();
}
END_TEST

/* --- errors and bad input -------------------------------------------------------- */

static void *errors_main(void *arg)
{
    char path[128], buf[8];
    weft_stream *st;

    (void)arg;
    path_of(path, sizeof path, "missing");
    ck_assert_int_eq(weft_stream_open_file(&st, path, O_RDONLY, 0, NULL,
                                           WEFT_FOREVER), -ENOENT);
    ck_assert_ptr_null(st);
    ck_assert_int_eq(weft_stream_open_file(&st, dir, O_RDONLY, 0, NULL,
                                           WEFT_FOREVER), -EISDIR);
    ck_assert_int_eq(weft_stream_open_file(&st, dir, O_WRONLY, 0, NULL,
                                           WEFT_FOREVER), -EISDIR);
    ck_assert_int_eq(weft_stream_open_file(NULL, path, O_RDONLY, 0, NULL, 0),
                     -EINVAL);
    ck_assert_int_eq(weft_stream_open_file(&st, NULL, O_RDONLY, 0, NULL, 0),
                     -EINVAL);
    ck_assert_int_eq(weft_stream_open_file(&st, path, O_RDONLY, 0, NULL, -7),
                     -EINVAL);
    weft_stream_opts bad = { .reserved = { &bad } };
    ck_assert_int_eq(weft_stream_open_file(&st, path, O_RDONLY, 0, &bad,
                                           WEFT_FOREVER), -EINVAL);
    ck_assert_int_eq(weft_stream_open_file(&st, path, O_RDONLY, 0, NULL, 0),
                     -ETIMEDOUT);

    /* Writing a file opened for reading: the pool's write fails, and the
     * stream gives that error from then on. */
    path_of(path, sizeof path, "ro");
    open_with(&st, path, "abc");
    ck_assert_int_eq(weft_stream_write(st, "xyz", 3, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_drain(st, WEFT_FOREVER), -EBADF);
    ck_assert_int_eq(weft_stream_write(st, "xyz", 3, WEFT_FOREVER), -EBADF);
    ck_assert_uint_eq(weft_stream_unsent(st), 0);
    /* Reads go on. */
    ck_assert_int_eq(weft_stream_read(st, buf, sizeof buf, WEFT_FOREVER), 3);
    ck_assert_int_eq(weft_stream_close(st, WEFT_FOREVER), -EBADF);

    /* Reading a file opened for writing: the read's error, for good. */
    path_of(path, sizeof path, "wo");
    ck_assert_int_eq(weft_stream_open_file(&st, path,
                                           O_WRONLY | O_CREAT | O_TRUNC, 0600,
                                           NULL, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_read(st, buf, sizeof buf, WEFT_FOREVER), -EBADF);
    ck_assert_int_eq(weft_stream_read_line(st, buf, sizeof buf, WEFT_FOREVER),
                     -EBADF);
    ck_assert_int_eq(weft_stream_write(st, "ok", 2, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_close(st, WEFT_FOREVER), 0);
    ck_assert_int_eq(size_of(path), 2);

    /* A directory's descriptor is refused, and closed. */
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(weft_stream_open_fd(&st, fd, NULL), -EISDIR);
    ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
    return NULL;
}

START_TEST(test_errors)
{
    weft_stream *st;

    make_dir();
    ck_assert_int_eq(run_on(2, errors_main, NULL), 0);
    ck_assert_int_eq(weft_stream_open_file(&st, "/", O_RDONLY, 0, NULL, 0),
                     -EPERM);
    remove_dir();
}
END_TEST

/* --- read and write on one file ------------------------------------------------ */

/* Opened for both, a write then a read with no drain between reach the
 * file in that order (they share its offset); and a close after a drain
 * has closed the descriptor when it returns. */
static void *rdwr_main(void *arg)
{
    char path[128], buf[8];
    weft_stream *st;

    (void)arg;
    path_of(path, sizeof path, "rw");
    for (int round = 0; round < 20; round++) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        for (int i = 0; i < 1000; i++)
            ck_assert_int_eq(write(fd, "0123456789", 10), 10);
        ck_assert_int_eq(close(fd), 0);
        int fds = count_dir_entries("/proc/self/fd");
        ck_assert_int_eq(weft_stream_open_file(&st, path, O_RDWR, 0, NULL,
                                               WEFT_FOREVER), 0);
        ck_assert_int_eq(weft_stream_write(st, "AB", 2, WEFT_FOREVER), 0);
        ck_assert_int_eq(weft_stream_read_exactly(st, buf, 8, NULL,
                                                  WEFT_FOREVER), 0);
        ck_assert(memcmp(buf, "23456789", 8) == 0);
        ck_assert_int_eq(weft_stream_close(st, WEFT_FOREVER), 0);
        ck_assert_int_eq(count_dir_entries("/proc/self/fd"), fds);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        ck_assert_int_eq(read(fd, buf, 4), 4);
        ck_assert(memcmp(buf, "AB23", 4) == 0);
        ck_assert_int_eq(close(fd), 0);
    }
    /* O_DIRECT would need aligned buffers: refused. */
    int rc = weft_stream_open_file(&st, path, O_RDONLY | O_DIRECT, 0, NULL,
                                   WEFT_FOREVER);
    ck_assert_int_eq(rc, -EINVAL);
    return NULL;
}

START_TEST(test_read_write)
{
    run_in_dir(2, rdwr_main);
}
END_TEST

/* --- many files at once ---------------------------------------------------------- */

#define FILES 32
#define FILE_LINES 200

static void *file_worker(void *arg)
{
    int k = (int)(intptr_t)arg;
    char path[128], line[64], want[64];
    weft_stream *st;

    snprintf(path, sizeof path, "%s/f%02d", dir, k);
    if (weft_stream_open_file(&st, path, O_RDWR | O_CREAT | O_TRUNC, 0600,
                              NULL, WEFT_FOREVER) < 0)
        return (void *)1;
    for (int i = 0; i < FILE_LINES; i++) {
        int len = snprintf(line, sizeof line, "%d:%d\n", k, i);
        CHECK(weft_stream_write(st, line, (size_t)len, WEFT_FOREVER) == 0);
        if (i % 50 == 0)
            CHECK(weft_yield() == 0);
    }
    CHECK(weft_stream_close(st, WEFT_FOREVER) == 0);
    CHECK(weft_stream_open_file(&st, path, O_RDONLY, 0, NULL, WEFT_FOREVER) == 0);
    for (int i = 0; i < FILE_LINES; i++) {
        int len = snprintf(want, sizeof want, "%d:%d\n", k, i);
        CHECK(weft_stream_read_line(st, line, sizeof line, WEFT_FOREVER) == len);
        CHECK(memcmp(line, want, (size_t)len) == 0);
    }
    CHECK(weft_stream_read_line(st, line, sizeof line, WEFT_FOREVER) == 0);
    CHECK(weft_stream_close(st, WEFT_FOREVER) == 0);
    return NULL;
}

static void *many_main(void *arg)
{
    weft_task *t[FILES];

    (void)arg;
    for (int i = 0; i < FILES; i++)
        ck_assert_int_eq(weft_spawn(&t[i], file_worker, (void *)(intptr_t)i), 0);
    for (int i = 0; i < FILES; i++) {
        void *res;
        ck_assert_int_eq(weft_await(t[i], &res), 0);
        ck_assert_ptr_null(res);
        weft_task_unref(t[i]);
    }
    return NULL;
}

START_TEST(test_many)
{
    run_in_dir(4, many_main);
}
END_TEST

static Suite *file_suite(void)
{
    Suite *s = suite_create("file");
    TCase *tc = tcase_create("file");

    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_big);
    tcase_add_test(tc, test_poll);
    tcase_add_test(tc, test_busy_pool);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_read_write);
    tcase_add_test(tc, test_many);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(file_suite)
