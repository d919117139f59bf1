/* async_file: seed 002 Q9, an `AsyncFile` async context manager.
 *
 *     class AsyncFile:
 *         async def __aenter__(self):
 *             self.file = await asyncio.to_thread(open, self.filename, "w")
 *             return self.file
 *         async def __aexit__(self, *exc):
 *             await asyncio.to_thread(self.file.close)
 *
 *     async with AsyncFile("test.txt") as f:
 *         await asyncio.to_thread(f.write, "Hello")
 *
 * weft's file streams are that class, built in: weft_stream_open_file
 * opens the file on the blocking pool, and the stream's reads and
 * writes go to the pool in order, so a task writing or reading a file
 * never holds up its worker. FILE_STREAM_WITH plays `async with`: the
 * stream is closed (drained first) on every way out of the block, an
 * error included.
 *
 * Eight tasks each write their own file, line by line, at the same
 * time; then eight more read them back with read_line and check every
 * line; the directory is listed and removed with weft's file system
 * calls.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <weft.h>

#define WRITERS 8
#define LINES 50

/* --- async with --------------------------------------------------------------- */

static void close_stream(weft_stream **st)
{
    if (*st != NULL)
        (void)weft_stream_close(*st, WEFT_FOREVER);
}

/* async with open(path, flags) as st: the block runs if the open
 * worked (rc 0), and the stream is closed however the block is left. */
#define FILE_STREAM_WITH(st, path, flags, rc)                                 \
    for (weft_stream *st __attribute__((cleanup(close_stream))) = NULL,       \
                     **st##_once = ((rc) = weft_stream_open_file(             \
                                        &st, (path), (flags), 0600, NULL,     \
                                        WEFT_FOREVER)) == 0                   \
                                       ? &st                                  \
                                       : NULL;                                \
         st##_once != NULL; st##_once = NULL)

/* Closes st inside the block, to see close's error (the last writes'),
 * which the cleanup would drop. */
static int close_now(weft_stream **st)
{
    int rc = weft_stream_close(*st, WEFT_FOREVER);
    *st = NULL;
    return rc;
}

/* --- the program ---------------------------------------------------------------- */

struct job {
    char path[256];
    int id;
};

static void *write_file(void *arg)
{
    const struct job *j = arg;
    int rc;

    FILE_STREAM_WITH(f, j->path, O_WRONLY | O_CREAT | O_TRUNC, rc) {
        for (int i = 0; i < LINES && rc == 0; i++) {
            char line[64];
            int n = snprintf(line, sizeof line, "writer %d line %d\n", j->id, i);
            rc = weft_stream_write(f, line, (size_t)n, WEFT_FOREVER);
        }
        if (rc == 0)
            rc = close_now(&f);
    }
    return rc < 0 ? weft_fail(rc, "writing %s", j->path) : NULL;
}

static void *check_file(void *arg)
{
    const struct job *j = arg;
    int rc, lines = 0;

    FILE_STREAM_WITH(f, j->path, O_RDONLY, rc) {
        char line[64], want[64];
        ssize_t n;
        while ((n = weft_stream_read_line(f, line, sizeof line,
                                          WEFT_FOREVER)) > 0) {
            int len = snprintf(want, sizeof want, "writer %d line %d\n",
                               j->id, lines);
            if (n != len || memcmp(line, want, (size_t)len) != 0)
                return weft_fail(-EILSEQ, "%s: line %d is wrong", j->path,
                                 lines);
            lines++;
        }
        rc = (int)n;
    }
    if (rc < 0)
        return weft_fail(rc, "reading %s", j->path);
    if (lines != LINES)
        return weft_fail(-ENODATA, "%s: %d lines", j->path, lines);
    return NULL;
}

/* Runs fn on every job at once; the first error, or 0. */
static int all_at_once(weft_fn fn, struct job *jobs)
{
    weft_task *tasks[WRITERS];
    weft_outcome out[WRITERS];
    int rc;

    for (int i = 0; i < WRITERS; i++) {
        rc = weft_spawn(&tasks[i], fn, &jobs[i]);
        if (rc < 0) {
            while (i-- > 0) {
                (void)weft_cancel(tasks[i]);
                (void)weft_await(tasks[i], NULL);
                weft_task_unref(tasks[i]);
            }
            return rc;
        }
    }
    rc = weft_gather(tasks, WRITERS, WEFT_GATHER_COLLECT, out);
    for (int i = 0; i < WRITERS; i++) {
        if (rc == 0 && out[i].err < 0) {
            fprintf(stderr, "async_file: %s\n", weft_task_errmsg(tasks[i]));
            rc = out[i].err;
        }
        weft_task_unref(tasks[i]);
    }
    return rc;
}

static void *amain(void *arg)
{
    const char *dir = arg;
    struct job jobs[WRITERS];
    char **names;
    size_t count;
    int rc;

    for (int i = 0; i < WRITERS; i++) {
        jobs[i].id = i;
        snprintf(jobs[i].path, sizeof jobs[i].path, "%s/out-%d.txt", dir, i);
    }
    rc = all_at_once(write_file, jobs);
    if (rc == 0)
        rc = all_at_once(check_file, jobs);
    if (rc < 0)
        return weft_fail(rc, "a task failed");
    /* The directory holds the eight files and nothing else. */
    rc = weft_fs_list_dir(dir, &names, &count, WEFT_FOREVER);
    if (rc < 0)
        return weft_fail(rc, "listing %s", dir);
    printf("%s holds %zu files:", dir, count);
    for (size_t i = 0; i < count; i++)
        printf(" %s", names[i]);
    printf("\n");
    weft_free(names);
    if (count != WRITERS)
        return weft_fail(-EEXIST, "%zu files, not %d", count, WRITERS);
    for (int i = 0; i < WRITERS; i++) {
        rc = weft_fs_unlink(jobs[i].path, WEFT_FOREVER);
        if (rc < 0)
            return weft_fail(rc, "unlink %s", jobs[i].path);
    }
    return NULL;
}

int main(void)
{
    char dir[] = "/tmp/weft-async-file-XXXXXX";

    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    int rc = weft_run(amain, dir, NULL, NULL);
    if (rmdir(dir) < 0) {
        perror(dir);
        rc = rc < 0 ? rc : -errno;
    }
    if (rc < 0) {
        fprintf(stderr, "async_file: %s\n", weft_strerror(rc));
        return 1;
    }
    printf("%d tasks each wrote %d lines to its own file through a file "
           "stream,\n%d more read them back line by line; every line "
           "checked, every file removed\n", WRITERS, LINES, WRITERS);
    return 0;
}
